//! `medilink-worker --metrics-listen ADDR` serves `GET /metrics`: jobs run, succeeded and failed
//! by kind, their durations and the queue's jobs by status, scraped from the running binary.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::jobs::{JobQueue, JobStatus, NewJob};
use medilink_fhir::{SeqIdGen, SqlOptions, SystemClock};
use serde_json::json;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The value of the series `series` (name and labels exactly as rendered), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().expect("a number"))
}

#[tokio::test]
async fn a_worker_serves_its_job_metrics() {
    let data = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}/medilink.db", data.path().display());
    let (_store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(&database_url),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("t")),
    )
    .await
    .expect("open");
    let queue: Arc<dyn JobQueue> = platform.jobs.clone();
    for n in 0..3 {
        let mut job = NewJob::new("test.record", json!({"n": n}));
        job.max_attempts = 1;
        queue.enqueue(job).await.expect("enqueue");
    }
    // No `n`: the handler fails it permanently.
    let mut bad = NewJob::new("test.record", json!({}));
    bad.max_attempts = 1;
    queue.enqueue(bad).await.expect("enqueue");

    let port = free_port();
    let mut worker = Running(
        Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
            .args(["--database-url", &database_url, "--poll-ms", "50"])
            .args(["--no-schedule", "--worker-id", "metrics-worker"])
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data.path())
            .env("MEDILINK_WORKER_TEST_HANDLERS", "true")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start medilink-worker"),
    );

    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (content_type, text) = loop {
        assert!(
            worker.0.try_wait().expect("poll child").is_none(),
            "the worker exited early"
        );
        if let Ok(response) = client.get(&url).send().await {
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = response.text().await.expect("body");
            let done = sample(&text, "medilink_jobs{status=\"completed\"}") == 3.0
                && sample(&text, "medilink_jobs{status=\"failed\"}") == 1.0;
            if done {
                break (content_type, text);
            }
        }
        assert!(Instant::now() < deadline, "jobs not done in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let kind = "{kind=\"test.record\"}";
    assert_eq!(
        sample(&text, &format!("medilink_worker_jobs_run_total{kind}")),
        4.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("medilink_worker_jobs_succeeded_total{kind}")
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("medilink_worker_jobs_failed_total{kind}")),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("medilink_worker_job_duration_seconds_count{kind}")
        ),
        4.0,
        "{text}"
    );
    assert!(
        text.contains(
            "medilink_worker_job_duration_seconds_bucket{kind=\"test.record\",le=\"0.01\"}"
        ),
        "{text}"
    );
    assert_eq!(sample(&text, "medilink_worker_jobs_running"), 0.0, "{text}");
    assert_eq!(
        sample(&text, "medilink_jobs{status=\"pending\"}"),
        0.0,
        "{text}"
    );
    let counts = queue.count_by_status().await.expect("counts");
    assert!(counts.contains(&(JobStatus::Completed, 3)), "{counts:?}");

    let status = Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = worker.0.wait().expect("wait");
    assert!(exit.success(), "worker exit on SIGTERM: {exit}");
}
