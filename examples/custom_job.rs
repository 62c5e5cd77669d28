//! Runs a job kind of the embedder's own on MediLink's shared, durable job queue: a typed
//! kind ([`JobKind`]), its handler ([`JobHandler`]) registered with a [`Registry`], and a
//! [`Worker`] that leases and runs the jobs until shutdown.
//!
//! Run with `cargo run -p medilink-examples --example custom_job`.
//!
//! The queue is a table of the store's database, shared with MediLink's own kinds: a worker
//! leases only the kinds registered with it, so the server's worker and this one can work the
//! same queue side by side. Jobs are delivered at least once, so handlers are idempotent.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::jobs::{Job, JobKind, JobQueue, JobStatus, NewJob};
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{
    Clock, IdGen, RequestContext, ResourceStore, ResourceType, SqlOptions, SystemClock, UuidIdGen,
};
use medilink_platform::open_store_and_platform;
use medilink_platform::worker::{
    JobError, JobHandler, JobOutcome, Registry, Worker, WorkerOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

/// The kind: counts a patient's Observations (what a nightly report would do per patient).
#[derive(Debug)]
struct CountObservations {
    store: Arc<dyn ResourceStore>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    patient: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    observations: u64,
}

impl JobKind for CountObservations {
    const KIND: &'static str = "example.count_observations";
    type Payload = Payload;
    type Result = Counted;
}

#[async_trait]
impl JobHandler for CountObservations {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        // A payload that does not decode will never run: fail for good, no retries.
        let payload = job
            .payload_of::<Self>()
            .map_err(|_| JobError::permanent("bad payload"))?;
        let params = vec![
            ("subject".to_owned(), format!("Patient/{}", payload.patient)),
            ("_summary".to_owned(), "count".to_owned()),
            ("_total".to_owned(), "accurate".to_owned()),
        ];
        let query = SearchQuery::parse(ResourceType::Observation, &params, true)?;
        // Store errors convert to `JobError`: unavailable or timed-out stores are retried.
        let page = self.store.search(&RequestContext::system(), &query).await?;
        let result = Counted {
            observations: page.total.unwrap_or_default(),
        };
        Ok(JobOutcome::completed(json!(result)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new("sqlite::memory:"), clock.clone(), ids).await?;
    let ctx = RequestContext::system();
    for value in [70, 72] {
        let observation = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "heart rate"}, "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": value}});
        store.create(&ctx, observation).await?;
    }

    // The worker: this process's kinds only, polling often for the example's sake.
    let mut registry = Registry::new();
    registry.register(
        CountObservations::KIND,
        Arc::new(CountObservations {
            store: store.clone(),
        }),
    );
    let mut options = WorkerOptions::new("example-worker");
    options.poll = Duration::from_millis(20);
    options.schedule_every = None;
    let worker = Worker::new(platform.jobs.clone(), registry, clock, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    // Enqueue a typed job, and one whose payload is wrong.
    let queue = platform.jobs.as_ref();
    let counted = queue
        .enqueue(NewJob::of::<CountObservations>(&Payload {
            patient: "p1".into(),
        })?)
        .await?;
    let broken = queue
        .enqueue(NewJob::new(CountObservations::KIND, json!({"patient": 7})))
        .await?;

    let counted = finished(queue, counted.id).await?;
    assert_eq!(counted.status, JobStatus::Completed);
    let result = counted
        .result_of::<CountObservations>()
        .ok_or("a typed result")?;
    assert_eq!(result.observations, 2);
    let broken = finished(queue, broken.id).await?;
    assert_eq!(
        broken.status,
        JobStatus::Failed,
        "a permanent error is not retried"
    );
    assert_eq!(broken.attempts, 1);

    let _ = stop.send(());
    let report = running.await?;
    eprintln!(
        "custom_job: {} jobs ran ({} observations counted, the bad payload failed once)",
        report.ran, result.observations
    );
    Ok(())
}

/// Waits (up to 10 s) until the job reaches a final status.
async fn finished(queue: &dyn JobQueue, id: uuid::Uuid) -> Result<Job, Error> {
    for _ in 0..500 {
        let job = queue.get(id).await?.ok_or("the job exists")?;
        if job.status.is_final() {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("the job did not finish within 10 s".into())
}
