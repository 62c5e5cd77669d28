//! The statement time limit on both SQL backends: an endless statement is stopped soon after
//! a tiny limit and answers `TimedOut`; the store keeps working.

use std::time::Duration;

const LIMIT: Duration = Duration::from_millis(300);
/// Generous: the statement must stop long before this, not run on.
const STOPPED_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_statements_are_interrupted_past_the_limit() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/limit.db", dir.path().display());
    let took = medilink_fhir::testsuite::check_statement_time_limit(&url, LIMIT).await;
    assert!(
        took >= LIMIT && took < STOPPED_WITHIN,
        "stopped after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_are_cancelled_past_the_limit() {
    let Ok(base) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping");
        return;
    };
    let (url, cleanup) = medilink_fhir::testsuite::postgres_database(base).await;
    let took = medilink_fhir::testsuite::check_statement_time_limit(&url, LIMIT).await;
    cleanup().await;
    assert!(
        took >= LIMIT && took < STOPPED_WITHIN,
        "stopped after {took:?}"
    );
}
