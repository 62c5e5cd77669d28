//! Test-only job kinds, registered with the hidden `--enable-test-handlers` flag: the
//! multi-process tests enqueue them and count what they wrote.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::platform::Job;
use medilink_fhir::platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use medilink_fhir::{RequestContext, ResourceStore};
use serde_json::json;

/// Kind of [`RecordRun`].
pub const RECORD: &str = "test.record";

/// Identifier system of the job number a [`RecordRun`] writes.
pub const RECORD_SYSTEM: &str = "urn:medilink:test:record";
/// Identifier system of the worker that ran it.
pub const WORKER_SYSTEM: &str = "urn:medilink:test:worker";

/// Registers the test kinds.
pub fn register(registry: &mut Registry, store: Arc<dyn ResourceStore>, worker_id: &str) {
    registry.register(
        RECORD,
        Arc::new(RecordRun {
            store,
            worker_id: worker_id.to_owned(),
        }),
    );
}

/// Writes one `Basic` resource per run, naming the job's `n` and this worker (a job run twice
/// leaves two); waits `sleep_ms` from the payload first, so runs overlap.
#[derive(Debug)]
pub struct RecordRun {
    store: Arc<dyn ResourceStore>,
    worker_id: String,
}

#[async_trait]
impl JobHandler for RecordRun {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let n = job.payload["n"]
            .as_u64()
            .ok_or_else(|| JobError::permanent("payload.n must be a number"))?;
        if let Some(ms) = job.payload["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
        }
        let resource = json!({
            "resourceType": "Basic",
            "code": {"coding": [{"system": "urn:medilink:test", "code": RECORD}]},
            "identifier": [
                {"system": RECORD_SYSTEM, "value": n.to_string()},
                {"system": WORKER_SYSTEM, "value": self.worker_id},
            ],
        });
        let stored = self
            .store
            .create(&RequestContext::system(), resource)
            .await?;
        Ok(JobOutcome::completed(json!({
            "worker": self.worker_id,
            "resource": format!("Basic/{}", stored.id),
        })))
    }
}
