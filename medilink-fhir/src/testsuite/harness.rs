//! Ready-made [`Harness`] factories for the SQL backends: a SQLite file in a temporary
//! directory, and a freshly created PostgreSQL database that is dropped afterwards.

use std::sync::Arc;

use super::Harness;
use crate::backend::SqlOptions;
use crate::clock::{FixedClock, SeqIdGen};

fn test_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ))
}

/// A store on a SQLite file (WAL, a real connection pool) in a temporary directory.
#[cfg(feature = "sql-sqlite")]
pub async fn sqlite_harness() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = SqlOptions::new(format!("sqlite://{}/medilink.db", dir.path().display()));
    let store = crate::backend::open_store(&options, test_clock(), Arc::new(SeqIdGen::new("id")))
        .await
        .expect("open sqlite store");
    Some(Harness {
        store,
        cleanup: Some(Box::new(move || Box::pin(async move { drop(dir) }))),
    })
}

/// A store on a new PostgreSQL database created next to the one `base_url` names, or `None`
/// when `base_url` is `None` (the suite is skipped).
#[cfg(feature = "sql-postgres")]
pub async fn postgres_harness(base_url: Option<String>) -> Option<Harness> {
    let (url, cleanup) = postgres_database(base_url?).await;
    let options = SqlOptions::new(url);
    let store = crate::backend::open_store(&options, test_clock(), Arc::new(SeqIdGen::new("id")))
        .await
        .expect("open postgres store");
    Some(Harness {
        store,
        cleanup: Some(cleanup),
    })
}

/// Creates a new PostgreSQL database next to the one `base_url` names: its url, and the
/// cleanup that drops it.
#[cfg(feature = "sql-postgres")]
pub async fn postgres_database(
    base_url: String,
) -> (String, Box<dyn FnOnce() -> super::Cleanup + Send>) {
    use sea_orm::{ConnectionTrait, Database};

    let admin = Database::connect(base_url.as_str())
        .await
        .expect("connect to postgres");
    #[allow(
        clippy::disallowed_methods,
        reason = "test databases need unique names"
    )]
    let name = format!("medilink_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (prefix, _) = base_url
        .rsplit_once('/')
        .expect("postgres url has a database path");
    let url = format!("{prefix}/{name}");
    let cleanup: Box<dyn FnOnce() -> super::Cleanup + Send> = Box::new(move || {
        Box::pin(async move {
            let dropped = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            if let Err(err) = dropped {
                tracing::warn!(%err, database = %name, "could not drop test database");
            }
            let _ = admin.close().await;
        })
    });
    (url, cleanup)
}

/// Checks the statement time limit of a SQL store on the database `url` names: with a limit
/// of `limit`, an endless statement is stopped with [`crate::FhirError::TimedOut`] soon after
/// the limit, and the store keeps working afterwards. Returns how long the statement ran.
#[cfg(feature = "sql")]
pub async fn check_statement_time_limit(
    url: &str,
    limit: std::time::Duration,
) -> std::time::Duration {
    use crate::ResourceStore as _;

    let mut options = SqlOptions::new(url);
    options.statement_timeout = Some(limit);
    let store = crate::backend::sql::SqlResourceStore::connect(
        &options,
        test_clock(),
        Arc::new(SeqIdGen::new("id")),
    )
    .await
    .expect("open store");
    let started = std::time::Instant::now();
    let err = store
        .run_endless_statement()
        .await
        .expect_err("an endless statement is stopped");
    let took = started.elapsed();
    assert!(
        matches!(err, crate::FhirError::TimedOut),
        "stopped by the time limit: {err:?}"
    );
    assert_eq!(err.kind(), crate::ErrorKind::Unavailable);
    // The connection is usable again.
    let ctx = crate::RequestContext::system();
    store
        .create(&ctx, serde_json::json!({"resourceType": "Patient"}))
        .await
        .expect("the store works after a timeout");
    store.close().await.expect("close");
    took
}
