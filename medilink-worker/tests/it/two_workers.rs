//! Two `medilink-worker` processes on one database (a SQLite file; a PostgreSQL database when
//! `MEDILINK_TEST_POSTGRES_URL` is set): every enqueued job runs exactly once, both processes
//! take part, and both stop cleanly on SIGTERM.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::jobs::{JobQueue, JobStatus, NewJob};
use medilink_fhir::{RequestContext, ResourceStore, SeqIdGen, SqlOptions, SystemClock};
use serde_json::json;

const JOBS: u64 = 60;

struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_worker(database_url: &str, data_dir: &std::path::Path, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
        .args(["--database-url", database_url, "--concurrency", "3"])
        .args(["--poll-ms", "50", "--worker-id", name, "--no-schedule"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("MEDILINK_WORKER_TEST_HANDLERS", "true")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start medilink-worker")
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
}

/// Enqueues the jobs, runs two workers until they are done, stops them and checks the record.
async fn exactly_once(database_url: &str) {
    let data = tempfile::tempdir().expect("dir");
    let (store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(database_url),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("t")),
    )
    .await
    .expect("open");
    let queue: Arc<dyn JobQueue> = platform.jobs.clone();
    for n in 0..JOBS {
        let mut job = NewJob::new("test.record", json!({"n": n, "sleep_ms": 20}));
        job.max_attempts = 1;
        queue.enqueue(job).await.expect("enqueue");
    }
    let mut running = Running(vec![
        spawn_worker(database_url, &data.path().join("a"), "worker-a"),
        spawn_worker(database_url, &data.path().join("b"), "worker-b"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let counts = queue.count_by_status().await.expect("counts");
        if counts == vec![(JobStatus::Completed, JOBS)] {
            break;
        }
        assert!(
            !counts
                .iter()
                .any(|(status, _)| *status == JobStatus::Failed),
            "a job failed: {counts:?}"
        );
        assert!(
            Instant::now() < deadline,
            "jobs not done in time: {counts:?}"
        );
        for child in &mut running.0 {
            assert!(
                child.try_wait().expect("poll child").is_none(),
                "a worker exited early"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for child in &running.0 {
        terminate(child);
    }
    for child in &mut running.0 {
        let status = child.wait().expect("wait");
        assert!(status.success(), "worker exit on SIGTERM: {status}");
    }

    let records = store
        .changes_since(&RequestContext::system(), 0, 10_000)
        .await
        .expect("feed");
    let mut runs: BTreeMap<u64, u32> = BTreeMap::new();
    let mut by_worker: BTreeMap<String, u32> = BTreeMap::new();
    for record in &records {
        let resource: serde_json::Value =
            serde_json::from_str(record.json.as_deref().expect("not a deletion")).expect("json");
        let identifiers = resource["identifier"].as_array().expect("identifiers");
        let value = |system: &str| {
            identifiers
                .iter()
                .find(|i| i["system"] == system)
                .and_then(|i| i["value"].as_str())
                .expect("identifier")
                .to_owned()
        };
        *runs
            .entry(value("urn:medilink:test:record").parse().expect("n"))
            .or_default() += 1;
        *by_worker
            .entry(value("urn:medilink:test:worker"))
            .or_default() += 1;
    }
    assert_eq!(records.len() as u64, JOBS, "one record per job");
    assert_eq!(runs.len() as u64, JOBS, "every job ran");
    assert!(runs.values().all(|&n| n == 1), "a job ran twice: {runs:?}");
    assert_eq!(by_worker.len(), 2, "both workers took jobs: {by_worker:?}");
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_sqlite_file_run_each_job_once() {
    let dir = tempfile::tempdir().expect("dir");
    exactly_once(&format!("sqlite://{}/medilink.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_database_run_each_job_once() {
    let Ok(base_url) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping the PostgreSQL worker test");
        return;
    };
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base_url)
        .await
        .expect("connect");
    let name = format!("medilink_workers_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop old");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let (prefix, _) = base_url.rsplit_once('/').expect("database path");
    let url = format!("{prefix}/{name}");
    let outcome = tokio::spawn(async move { exactly_once(&url).await }).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop database");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
