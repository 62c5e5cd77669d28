//! A `medilink-worker` process SIGKILLed while it OCRs a scanned lab report: the next worker
//! process takes the job over when its lease expires and completes it once, with no duplicate
//! Observations (results are written with idempotent `PUT`s). The document is submitted through
//! the library, as the server does, on the same data directory (SQLite file and blob store).
//! Needs tesseract: runs when `MEDILINK_TEST_OCR` is set (`.ci/run` sets it).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::jobs::{Job, JobQueue, JobStatus};
use medilink_fhir::{
    BlobOptions, RequestContext, ResourceStore, SeqIdGen, SqlOptions, SystemClock, open_blob_store,
};
use medilink_ingest::Pipeline;
use medilink_ingest::job::{DocumentIngest, Upload};
use medilink_platform::open_store_and_platform;
use serde_json::json;

/// A worker process, SIGKILLed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `medilink-worker` on `data_dir`: one job at a time, 3 s leases (the shortest allowed), no periodic jobs.
fn worker(data_dir: &std::path::Path, name: &str) -> Worker {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("worker.log"))
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--concurrency", "1", "--lease-secs", "3", "--poll-ms", "50"])
        .args(["--worker-id", name, "--no-schedule"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start medilink-worker");
    Worker(child)
}

/// Polls the job until `done` holds for it (at most 3 minutes) while `worker` runs.
async fn wait_for(
    queue: &dyn JobQueue,
    job: &Job,
    worker: &mut Worker,
    log: &std::path::Path,
    done: impl Fn(&Job) -> bool,
) -> Job {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = queue.get(job.id).await.expect("get").expect("job");
        if done(&now) {
            return now;
        }
        if let Some(status) = worker.0.try_wait().expect("poll worker") {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("the worker exited ({status}): {log}");
        }
        assert!(Instant::now() < deadline, "job stuck: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_document_leaves_it_to_the_next_which_completes_it_once() {
    if std::env::var_os("MEDILINK_TEST_OCR").is_none() {
        eprintln!("MEDILINK_TEST_OCR is unset: skipping the OCR worker test");
        return;
    }
    let data = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/medilink.db", data.path().display());
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(SeqIdGen::new("w"));
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new(url), clock.clone(), ids.clone())
            .await
            .expect("open");
    let blobs = open_blob_store(&BlobOptions::new(format!(
        "fs://{}",
        data.path().join("blobs").display()
    )))
    .await
    .expect("blobs");
    let documents = DocumentIngest::new(
        store.clone(),
        blobs,
        platform.jobs.clone(),
        ids,
        clock,
        Pipeline::offline_default(),
    );
    let ctx = RequestContext::system();
    let patient = store
        .create(&ctx, json!({"resourceType": "Patient", "active": true}))
        .await
        .expect("patient");
    let scan = std::fs::read(format!(
        "{}/../medilink-ingest/tests/fixtures/report-scan-b-002.pdf",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let submitted = documents
        .submit(
            store.as_ref(),
            &ctx,
            Upload {
                patient: patient.id.clone(),
                file_name: "scan.pdf".to_owned(),
                bytes: scan,
                uploader: "uploader".to_owned(),
            },
        )
        .await
        .expect("submit");
    let queue = platform.jobs.as_ref();

    // The first worker leases the job and is killed while it reads the scan.
    let mut first = worker(data.path(), "worker-1");
    let log = data.path().join("worker.log");
    let job = wait_for(queue, &submitted.job, &mut first, &log, |job| {
        job.status == JobStatus::Processing
    })
    .await;
    assert_eq!(job.attempts, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.0.kill().expect("SIGKILL");
    first.0.wait().expect("reaped");
    let job = queue.get(job.id).await.expect("get").expect("job");
    assert_eq!(job.status, JobStatus::Processing, "killed mid-job: {job:?}");

    // The second takes it over once the lease expires, and finishes it.
    let mut second = worker(data.path(), "worker-2");
    let done = wait_for(queue, &job, &mut second, &log, |job| {
        matches!(
            job.status,
            JobStatus::Completed | JobStatus::NeedsReview | JobStatus::Failed
        )
    })
    .await;
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_ne!(done.status, JobStatus::Failed, "{done:?}\n{log}");
    assert_eq!(done.attempts, 2, "{done:?}");
    assert_eq!(done.leased_by, None);

    // Once: one DiagnosticReport, and one Observation per result, each at version 1 unless
    // the first worker got as far as writing it (then the rewrite is version 2, same id).
    let feed = store.changes_since(&ctx, 0, 10_000).await.expect("feed");
    let count = |kind: &str| {
        let mut ids: Vec<&str> = feed
            .iter()
            .filter(|stored| stored.resource_type.as_str() == kind)
            .map(|stored| stored.id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let report: serde_json::Value = done.result.clone().expect("result");
    let observations = report["counts"]["observations"].as_u64().expect("count") as usize;
    assert!(observations > 5, "{report}");
    if done.status == JobStatus::Completed {
        assert_eq!(count("Observation"), observations, "{report}");
        assert_eq!(count("DiagnosticReport"), 1);
    } else {
        // Held for review: nothing published yet by either worker.
        assert_eq!(count("Observation"), 0);
    }
    store.close().await.expect("close");
}
