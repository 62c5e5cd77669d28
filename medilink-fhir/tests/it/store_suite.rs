//! The resource-store conformance suite on every SQL backend: SQLite always, PostgreSQL when
//! `MEDILINK_TEST_POSTGRES_URL` names a server (`.ci/run` sets it).

mod sqlite {
    async fn make() -> Option<medilink_fhir::testsuite::Harness> {
        medilink_fhir::testsuite::sqlite_harness().await
    }
    medilink_fhir::resource_store_suite!(make);
}

mod postgres {
    async fn make() -> Option<medilink_fhir::testsuite::Harness> {
        let url = std::env::var("MEDILINK_TEST_POSTGRES_URL").ok();
        if url.is_none() {
            eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping the PostgreSQL suite");
        }
        medilink_fhir::testsuite::postgres_harness(url).await
    }
    medilink_fhir::resource_store_suite!(make);
}
