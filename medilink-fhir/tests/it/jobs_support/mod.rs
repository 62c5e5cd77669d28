//! Fresh databases for the job-queue tests: a SQLite file in a temporary directory, or a new
//! PostgreSQL database (dropped afterwards) when `MEDILINK_TEST_POSTGRES_URL` is set. The
//! clock is a [`FixedClock`] the test moves.

use std::sync::Arc;

use medilink_fhir::jobs::JobQueue;
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{Clock, FixedClock, IdGen, ResourceStore, SeqIdGen, SqlOptions};
use time::OffsetDateTime;

/// An open database with its stores.
#[derive(Debug)]
pub(crate) struct TestDb {
    #[allow(dead_code, reason = "used by the cancel-safety tests")]
    pub(crate) store: Arc<dyn ResourceStore>,
    pub(crate) platform: Platform,
    pub(crate) jobs: Arc<dyn JobQueue>,
    pub(crate) clock: Arc<FixedClock>,
}

impl TestDb {
    /// The clock's current instant.
    #[allow(dead_code, reason = "not every test binary reads it")]
    pub(crate) fn clock_now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// The SQL store's job queue and key-value store (what `medilink_platform::Platform` takes
/// from it).
#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) jobs: Arc<dyn JobQueue>,
    pub(crate) kv: Arc<dyn KeyValue>,
}

/// Opens the SQL store the URL names with its job queue and key-value store.
pub(crate) async fn open_store_and_platform(
    options: &SqlOptions,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
) -> medilink_fhir::FhirResult<(Arc<dyn ResourceStore>, Platform)> {
    let store = medilink_fhir::open_sql_store(options, clock, ids).await?;
    let platform = Platform {
        jobs: Arc::new(store.job_queue()),
        kv: Arc::new(store.key_value()),
    };
    Ok((store, platform))
}

/// What to do after a test.
pub(crate) enum Cleanup {
    Dir(#[allow(dead_code, reason = "held until the test ends")] tempfile::TempDir),
    /// Drops the test database ([`medilink_fhir::testsuite::postgres_database`]).
    Postgres(Box<dyn FnOnce() -> medilink_fhir::testsuite::Cleanup + Send>),
}

impl Cleanup {
    pub(crate) async fn run(self) {
        if let Cleanup::Postgres(drop_database) = self {
            drop_database().await;
        }
    }
}

/// Runs `case` on the database `open` gives (nothing when it gives none: that backend is not
/// configured), always cleans up, and re-raises the case's panic.
pub(crate) async fn run_on<F, Fut>(
    open: impl std::future::Future<Output = Option<(TestDb, Cleanup)>>,
    case: F,
) where
    F: FnOnce(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some((db, cleanup)) = open.await else {
        return;
    };
    let outcome = tokio::spawn(case(db)).await;
    cleanup.run().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn open(url: String, cleanup: Cleanup) -> Option<(TestDb, Cleanup)> {
    let clock = Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ));
    let (store, platform) = open_store_and_platform(
        &SqlOptions::new(url),
        clock.clone(),
        Arc::new(SeqIdGen::new("job")),
    )
    .await
    .expect("open store");
    let jobs = platform.jobs.clone();
    Some((
        TestDb {
            store,
            platform,
            jobs,
            clock,
        },
        cleanup,
    ))
}

/// A SQLite database file in a new temporary directory.
pub(crate) async fn sqlite() -> Option<(TestDb, Cleanup)> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    open(url, Cleanup::Dir(dir)).await
}

/// An in-memory SQLite database (one connection: the database lives as long as it does).
pub(crate) async fn sqlite_memory() -> Option<(TestDb, Cleanup)> {
    let dir = tempfile::tempdir().expect("temporary directory");
    open("sqlite::memory:".to_owned(), Cleanup::Dir(dir)).await
}

/// A new PostgreSQL database, or `None` (skip) when `MEDILINK_TEST_POSTGRES_URL` is unset.
pub(crate) async fn postgres() -> Option<(TestDb, Cleanup)> {
    let Ok(base_url) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping the PostgreSQL job-queue tests");
        return None;
    };
    let (url, drop_database) = medilink_fhir::testsuite::postgres_database(base_url).await;
    open(url, Cleanup::Postgres(drop_database)).await
}
