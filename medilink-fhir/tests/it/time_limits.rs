//! The statement time limit on both SQL backends: an endless statement is stopped soon after
//! a tiny limit and answers `TimedOut`; the store keeps working. And a statement whose future
//! is dropped (the HTTP client left) stops on the database at once, not at the limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::backend::sql::SqlResourceStore;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{ResourceStore as _, ResourceType, SeqIdGen, SqlOptions, SystemClock};
use sea_orm::sqlx::{self, Connection as _, PgConnection};

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

/// Generous: far longer than any observation below, so that only the drop guard can stop the
/// statement in time.
const LONG_LIMIT: Duration = Duration::from_secs(60);
/// A dropped statement must be gone from the database within this.
const GONE_WITHIN: Duration = Duration::from_secs(2);

async fn open(url: &str, limit: Duration) -> Arc<SqlResourceStore> {
    open_with(url, limit, SqlOptions::new(url).max_connections).await
}

async fn open_with(url: &str, limit: Duration, connections: u32) -> Arc<SqlResourceStore> {
    let mut options = SqlOptions::new(url);
    options.statement_timeout = Some(limit);
    options.max_connections = connections;
    let store = SqlResourceStore::connect(
        &options,
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("id")),
    )
    .await
    .expect("open store");
    Arc::new(store)
}

/// The endless statements running on the test's database (by any connection but `admin`).
async fn running(admin: &mut PgConnection) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE 'WITH RECURSIVE c(x)%'",
    )
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity")
}

/// Polls until `running` is `expected` (non-empty or empty) or `within` has passed; how long
/// it took, if it got there.
async fn until_running(
    admin: &mut PgConnection,
    expected: bool,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if running(admin).await.is_empty() != expected {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Starts the endless statement (`guarded`: as searches run, else straight on the pool), waits
/// until PostgreSQL runs it, drops its future, and says whether it is still running after
/// [`GONE_WITHIN`] (`None`: it stopped, after how long).
async fn drop_endless_statement(
    store: &Arc<SqlResourceStore>,
    admin: &mut PgConnection,
    guarded: bool,
) -> Option<Duration> {
    let task = {
        let store = store.clone();
        tokio::spawn(async move {
            if guarded {
                store.run_endless_statement().await
            } else {
                store.run_endless_statement_unguarded().await
            }
        })
    };
    until_running(admin, true, Duration::from_secs(10))
        .await
        .expect("the endless statement starts");
    // Let it run a little, as a search does before its client leaves.
    tokio::time::sleep(Duration::from_millis(200)).await;
    task.abort();
    let _ = task.await;
    until_running(admin, false, GONE_WITHIN).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_stop_when_their_future_is_dropped() {
    let Ok(base) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping");
        return;
    };
    let (url, cleanup) = medilink_fhir::testsuite::postgres_database(base).await;
    let outcome = tokio::spawn({
        let url = url.clone();
        async move {
            let store = open(&url, LONG_LIMIT).await;
            let mut admin = PgConnection::connect(&url).await.expect("admin connection");

            let stopped = drop_endless_statement(&store, &mut admin, true).await;
            assert!(
                stopped.is_some(),
                "the guarded statement still runs {GONE_WITHIN:?} after its future was dropped"
            );
            eprintln!("guarded statement gone {stopped:?} after the drop");
            // The store works on: the cancelled connection was closed, not pooled.
            let ctx = medilink_fhir::RequestContext::system();
            let created = store
                .create(&ctx, serde_json::json!({"resourceType": "Patient"}))
                .await
                .expect("create after a cancel");
            let query = SearchQuery::parse(ResourceType::Patient, &[], true).expect("query");
            let page = store
                .search(&ctx, &query)
                .await
                .expect("search after a cancel");
            assert_eq!(page.matches.len(), 1);
            assert_eq!(page.matches[0].id, created.id);

            // A pool of one connection, taken by the statement: the cancel goes over a new
            // connection instead of waiting for the pool.
            let single = open_with(&url, LONG_LIMIT, 1).await;
            let stopped = drop_endless_statement(&single, &mut admin, true).await;
            assert!(
                stopped.is_some(),
                "the guarded statement of a full pool still runs {GONE_WITHIN:?} after the drop"
            );
            let page = single
                .search(&ctx, &query)
                .await
                .expect("search after a cancel");
            assert_eq!(page.matches.len(), 1);
            single.close().await.expect("close");

            // Control: the same statement without the guard runs on after its future is gone
            // (until `statement_timeout`).
            let stopped = drop_endless_statement(&store, &mut admin, false).await;
            assert_eq!(
                stopped, None,
                "without the guard the statement runs on after its future was dropped"
            );
            for pid in running(&mut admin).await {
                sqlx::query("SELECT pg_cancel_backend($1)")
                    .bind(pid)
                    .execute(&mut admin)
                    .await
                    .expect("cancel the control's statement");
            }
            store.close().await.expect("close");
        }
    })
    .await;
    cleanup().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// SQLite: an in-memory database has one pooled connection; while a dropped statement runs on,
/// the next operation waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_statements_stop_when_their_future_is_dropped() {
    async fn next_operation_after_drop(store: &Arc<SqlResourceStore>, guarded: bool) -> bool {
        let task = {
            let store = store.clone();
            tokio::spawn(async move {
                if guarded {
                    store.run_endless_statement().await
                } else {
                    store.run_endless_statement_unguarded().await
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!task.is_finished(), "the endless statement runs");
        task.abort();
        let _ = task.await;
        let ctx = medilink_fhir::RequestContext::system();
        let create = store.create(&ctx, serde_json::json!({"resourceType": "Patient"}));
        tokio::time::timeout(GONE_WITHIN, create).await.is_ok()
    }

    let store = open("sqlite::memory:", LONG_LIMIT).await;
    assert!(
        next_operation_after_drop(&store, true).await,
        "the guarded statement still holds the connection {GONE_WITHIN:?} after the drop"
    );
    // Control (a limit short enough for the test to end soon after): without the guard the
    // statement runs on, and the next operation waits.
    let store = open("sqlite::memory:", Duration::from_secs(5)).await;
    assert!(
        !next_operation_after_drop(&store, false).await,
        "without the guard the statement runs on after its future was dropped"
    );
}
