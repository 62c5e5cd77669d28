//! Test-only crash point (issue #24): with the hidden `--test-crash-before-document-job`, the
//! process aborts when the first `document.ingest` job is about to be queued — after the
//! upload's `DocumentReference` was written, before its job — the gap that the document relay
//! closes (`medilink-server/tests/it/restart.rs`). Every other call passes through.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::FhirResult;
use medilink_fhir::jobs::{
    Job, JobFilter, JobProgress, JobQueue, JobStatus, LeaseRecovery, NewJob, QueueSummary,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// `inner`, aborting the process before it queues a `document.ingest` job.
#[derive(Debug)]
pub(crate) struct CrashBeforeDocumentJob(pub(crate) Arc<dyn JobQueue>);

impl CrashBeforeDocumentJob {
    fn crash_if_document(job: &NewJob) {
        if job.kind == medilink_ingest::job::KIND {
            tracing::error!("test crash point: aborting before the document job is queued");
            std::process::abort();
        }
    }
}

#[async_trait]
impl JobQueue for CrashBeforeDocumentJob {
    async fn enqueue(&self, job: NewJob) -> FhirResult<Job> {
        Self::crash_if_document(&job);
        self.0.enqueue(job).await
    }
    async fn enqueue_unique(&self, job: NewJob, unique_key: &str) -> FhirResult<Option<Job>> {
        Self::crash_if_document(&job);
        self.0.enqueue_unique(job, unique_key).await
    }
    async fn enqueue_with_id(&self, job: NewJob, id: Uuid) -> FhirResult<(Job, bool)> {
        Self::crash_if_document(&job);
        self.0.enqueue_with_id(job, id).await
    }
    async fn lease(
        &self,
        worker: &str,
        kinds: &[&str],
        lease: Duration,
    ) -> FhirResult<Option<Job>> {
        self.0.lease(worker, kinds, lease).await
    }
    async fn heartbeat(&self, id: Uuid, worker: &str, lease: Duration) -> FhirResult<bool> {
        self.0.heartbeat(id, worker, lease).await
    }
    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        status: JobStatus,
        result: serde_json::Value,
    ) -> FhirResult<bool> {
        self.0.complete(id, worker, status, result).await
    }
    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retryable: bool,
        retry_after: Duration,
    ) -> FhirResult<bool> {
        self.0.fail(id, worker, error, retryable, retry_after).await
    }
    async fn release(&self, id: Uuid, worker: &str) -> FhirResult<bool> {
        self.0.release(id, worker).await
    }
    async fn recover_expired(&self) -> FhirResult<LeaseRecovery> {
        self.0.recover_expired().await
    }
    async fn delete_finished(&self, kind: &str, before: OffsetDateTime) -> FhirResult<u64> {
        self.0.delete_finished(kind, before).await
    }
    async fn delete(&self, id: Uuid) -> FhirResult<bool> {
        self.0.delete(id).await
    }
    async fn count_by_status(&self) -> FhirResult<Vec<(JobStatus, u64)>> {
        self.0.count_by_status().await
    }
    async fn summary(&self) -> FhirResult<QueueSummary> {
        self.0.summary().await
    }
    async fn report_progress(
        &self,
        id: Uuid,
        worker: &str,
        progress: JobProgress,
    ) -> FhirResult<bool> {
        self.0.report_progress(id, worker, progress).await
    }
    async fn get(&self, id: Uuid) -> FhirResult<Option<Job>> {
        self.0.get(id).await
    }
    async fn list(&self, filter: &JobFilter) -> FhirResult<Vec<Job>> {
        self.0.list(filter).await
    }
    async fn transition(
        &self,
        id: Uuid,
        from: &[JobStatus],
        to: JobStatus,
        result: Option<serde_json::Value>,
    ) -> FhirResult<bool> {
        self.0.transition(id, from, to, result).await
    }
}
