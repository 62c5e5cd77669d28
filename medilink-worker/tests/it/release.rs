//! Issue #24: SIGTERM releases a running job's lease. A `medilink-worker` process (6 s leases,
//! 1 s shutdown grace) runs a `test.record` job that sleeps 8 s; a second process polls the
//! same queue. On SIGTERM the first gives the job its grace, releases it, and the second
//! leases it at once (well before the lease would run out); the control SIGKILLs the first
//! instead, and the second gets the job only when the lease expires. Either way the job
//! writes exactly one record, the second worker's. On a SQLite file and on a fresh
//! PostgreSQL database when `MEDILINK_TEST_POSTGRES_URL` is set. About 25 s per backend.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::jobs::{JobQueue, JobStatus, NewJob};
use medilink_fhir::{RequestContext, ResourceStore, SeqIdGen, SqlOptions, SystemClock};
use serde_json::json;

/// The lease of both workers, in seconds (heartbeats renew it every 2 s).
const LEASE_SECS: u64 = 6;

/// A worker process, SIGKILLed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(database_url: &str, data_dir: &std::path::Path, name: &str) -> Worker {
    let child = Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
        .args(["--database-url", database_url, "--poll-ms", "50"])
        .args(["--lease-secs", &LEASE_SECS.to_string()])
        .args(["--shutdown-grace-secs", "1", "--concurrency", "1"])
        .args(["--worker-id", name, "--no-schedule"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("MEDILINK_WORKER_TEST_HANDLERS", "true")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start medilink-worker");
    Worker(child)
}

/// Runs the job on a first worker, stops it (SIGTERM, or SIGKILL when `kill`) mid-job, and
/// returns how long after the signal the second worker held the job.
async fn taken_over_after(database_url: &str, kill: bool) -> Duration {
    let data = tempfile::tempdir().expect("dir");
    let (store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(database_url),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("t")),
    )
    .await
    .expect("open");
    let queue: Arc<dyn JobQueue> = platform.jobs.clone();
    let mut job = NewJob::new("test.record", json!({"n": 1, "sleep_ms": 8000}));
    job.max_attempts = 3;
    let id = queue.enqueue(job).await.expect("enqueue").id;
    let holder = |name: &'static str| {
        let queue = queue.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let job = queue.get(id).await.expect("get").expect("the job");
                if job.status == JobStatus::Processing && job.leased_by.as_deref() == Some(name) {
                    return;
                }
                assert!(Instant::now() < deadline, "{name} never leased it: {job:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let mut first = worker(database_url, &data.path().join("a"), "worker-a");
    holder("worker-a").await;
    let _second = worker(database_url, &data.path().join("b"), "worker-b");
    // The second worker is up and polling (the job stays leased by the first meanwhile).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signalled = Instant::now();
    if kill {
        first.0.kill().expect("SIGKILL");
    } else {
        let status = Command::new("kill")
            .args(["-TERM", &first.0.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }
    holder("worker-b").await;
    let taken = signalled.elapsed();
    let exit = first.0.wait().expect("wait");
    if !kill {
        assert!(exit.success(), "worker exit on SIGTERM: {exit}");
    }
    // The job completes once, and only the second worker's run wrote its record.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = queue.get(id).await.expect("get").expect("the job");
        if job.status == JobStatus::Completed {
            break;
        }
        assert!(Instant::now() < deadline, "not completed: {job:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records = store
        .changes_since(&RequestContext::system(), 0, 100)
        .await
        .expect("feed");
    assert_eq!(records.len(), 1, "one record: {records:?}");
    let written = records[0].json.as_deref().expect("a record");
    assert!(written.contains("worker-b"), "{written}");
    store.close().await.expect("close");
    taken
}

async fn release_then_control(database_url: &str, control_url: &str) {
    let released = taken_over_after(database_url, false).await;
    // SIGTERM: the grace (1 s), the release, one poll: far less than a lease.
    assert!(
        released < Duration::from_secs(LEASE_SECS / 2),
        "taken over {released:?} after SIGTERM"
    );
    // Control: after SIGKILL nothing releases; the lease (renewed at most 2 s before the
    // kill) runs out first.
    let expired = taken_over_after(control_url, true).await;
    assert!(
        expired >= Duration::from_secs(LEASE_SECS * 2 / 3 - 1),
        "taken over {expired:?} after SIGKILL"
    );
    assert!(expired > released, "{expired:?} vs {released:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_a_running_job_at_once_sigkill_leaves_it_to_expire_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    release_then_control(
        &format!("sqlite://{}/term.db", dir.path().display()),
        &format!("sqlite://{}/kill.db", dir.path().display()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_a_running_job_at_once_sigkill_leaves_it_to_expire_on_postgres() {
    let Ok(base_url) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping the PostgreSQL release test");
        return;
    };
    let (term, drop_term) = medilink_fhir::testsuite::postgres_database(base_url.clone()).await;
    let (kill, drop_kill) = medilink_fhir::testsuite::postgres_database(base_url).await;
    let outcome = tokio::spawn(async move { release_then_control(&term, &kill).await }).await;
    drop_term().await;
    drop_kill().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
