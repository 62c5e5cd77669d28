//! Test-only job kinds, registered with the hidden `--enable-test-handlers` flag: the
//! multi-process tests enqueue them and count what they wrote.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::jobs::Job;
use medilink_fhir::jobs::JobKind;
use medilink_fhir::{RequestContext, ResourceStore};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Kind of [`RecordRun`].
pub const RECORD: &str = "test.record";

/// Identifier system of the job number a [`RecordRun`] writes.
pub const RECORD_SYSTEM: &str = "urn:medilink:test:record";
/// Identifier system of the worker that ran it.
pub const WORKER_SYSTEM: &str = "urn:medilink:test:worker";

/// The payload of a [`RecordRun`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPayload {
    /// The job's number, written into the `Basic` resource.
    pub n: u64,
    /// Milliseconds to wait first (at most 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_ms: Option<u64>,
}

/// The result of a [`RecordRun`] job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    /// The worker that ran it.
    pub worker: String,
    /// The `Basic/{id}` it wrote.
    pub resource: String,
}

impl JobKind for RecordRun {
    const KIND: &'static str = RECORD;
    type Payload = RecordPayload;
    type Result = RecordResult;
}

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
        let RecordPayload { n, sleep_ms } = job
            .payload_of::<Self>()
            .map_err(|_| JobError::permanent("payload.n must be a number"))?;
        if let Some(ms) = sleep_ms {
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
        JobOutcome::completed_as::<Self>(&RecordResult {
            worker: self.worker_id.clone(),
            resource: format!("Basic/{}", stored.id),
        })
    }
}
