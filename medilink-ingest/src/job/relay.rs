//! [`DocumentRelay`]: no uploaded document is left without its `document.ingest` job (issue
//! #24).
//!
//! An upload writes its blob, then its `DocumentReference`, then its job; the job cannot be in
//! the `DocumentReference`'s transaction (the write goes through the consent-guarded store,
//! which knows nothing of jobs), so a crash between the last two would leave a document never
//! ingested. The `DocumentReference`'s first version is the outbox row instead: it lands in
//! the change feed in the same transaction as the document, and names everything the job
//! needs (blob, patient, file name, type, size, and the uploader in [`UPLOADER_EXTENSION`]).
//! The relay reads the `DocumentReference` feed after a cursor in the key-value store — at
//! start-up, and as the periodic `document.relay` job every [`INTERVAL`] — and queues the job
//! of every live uploaded document.
//!
//! Why it cannot run a job twice: a document's job has an id derived from the document
//! ([`DocumentIngest::job_id`]) and [`JobQueue::enqueue_with_id`](medilink_fhir::jobs::JobQueue::enqueue_with_id)
//! stores a job once per id, whatever its status. The upload and the relay (or two relays, or
//! one reading the feed twice after a crash before its cursor moved) queue the same id: the
//! first stores the job, the others find it, pending, running or finished.
//!
//! What it trusts: the first version of a `DocumentReference` with both server-owned
//! extensions — the uploader ([`UPLOADER_EXTENSION`]) and the ingest status `pending`
//! ([`INGEST_EXTENSION`]) — and a `documents/…` URL is the upload's own write. A client cannot
//! write one: [`ServerOwnedExtensions`](super::ServerOwnedExtensions), a write hook inside the
//! server's consent guard, refuses either extension on every FHIR write path but the upload's
//! (issue: a client naming another user as uploader made the relay queue a job that user
//! owned, telling them of and showing them a document they had no consent for). As a second
//! line, the relay queues nothing for a document whose blob is missing or of another size than
//! the document says, and the job's owner sees the job only while they may read the document
//! (module `owner`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::jobs::{Job, JobKind, NoPayload};
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{
    FhirError, FhirResult, RequestContext, ResourceStore, ResourceType, StoredResource,
};
use medilink_platform::notifications::feed::{FeedEvents, FeedRelay, FeedResult};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use serde_json::Value;

use super::{DocumentIngest, INGEST_EXTENSION, IngestPayload, Progress, UPLOADER_EXTENSION};

/// Kind of the periodic relay job.
pub const KIND: &str = "document.relay";
/// How often the relay job runs (the longest a document waits for its job after a crash,
/// once a worker runs; a server also runs the relay at start-up).
pub const INTERVAL: Duration = Duration::from_secs(30);
/// The relay's cursor key.
const CURSOR_KEY: &str = "documents:relay:cursor";
/// Without a cursor, documents older than this are not queued.
const LOOKBACK: time::Duration = time::Duration::days(7);

/// Queues the job of every uploaded document in the `DocumentReference` feed (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct DocumentRelay {
    ingest: DocumentIngest,
    relay: FeedRelay,
}

/// The job input an uploaded `DocumentReference` (`id`, its first version) names; `None` when
/// it is not an upload (the upload writes its uploader and the status `pending`).
fn payload_of(resource: &Value, id: &str) -> Option<IngestPayload> {
    let extensions = resource["extension"].as_array()?;
    let uploader = extensions
        .iter()
        .find(|extension| extension["url"] == UPLOADER_EXTENSION)?["valueString"]
        .as_str()?;
    extensions.iter().find(|extension| {
        extension["url"] == INGEST_EXTENSION && extension["valueCode"] == Progress::Pending.code()
    })?;
    let attachment = &resource["content"][0]["attachment"];
    let blob_key = attachment["url"].as_str()?;
    if !blob_key.starts_with("documents/") {
        return None;
    }
    let patient = resource["subject"]["reference"]
        .as_str()?
        .strip_prefix("Patient/")?;
    Some(IngestPayload {
        blob_key: blob_key.to_owned(),
        patient: patient.to_owned(),
        document_reference: id.to_owned(),
        uploader: uploader.to_owned(),
        file_name: attachment["title"]
            .as_str()
            .unwrap_or("document")
            .to_owned(),
        content_type: attachment["contentType"].as_str()?.to_owned(),
        size: attachment["size"].as_u64()?,
    })
}

impl DocumentRelay {
    /// The relay of `ingest`'s documents, its cursor in `kv`.
    pub fn new(ingest: DocumentIngest, kv: Arc<dyn KeyValue>) -> Self {
        let relay = FeedRelay {
            store: ingest.store.clone(),
            kv,
            clock: ingest.clock.clone(),
            resource_type: ResourceType::DocumentReference,
            cursor_key: CURSOR_KEY,
            lookback: LOOKBACK,
        };
        DocumentRelay { ingest, relay }
    }

    /// Queues the job of every uploaded document written since the last follow; `told` in the
    /// result counts the jobs this follow queued (0 when every document had its job).
    pub async fn follow(&self) -> FhirResult<FeedResult> {
        self.relay.follow(self).await
    }
}

#[async_trait]
impl FeedEvents for DocumentRelay {
    async fn tell(&self, stored: &StoredResource) -> FhirResult<u64> {
        if stored.version_id.get() != 1 {
            return Ok(0);
        }
        let Some(json) = stored.json.as_deref() else {
            return Ok(0);
        };
        let Ok(resource) = serde_json::from_str::<Value>(json) else {
            return Ok(0);
        };
        let Some(payload) = payload_of(&resource, stored.id.as_str()) else {
            return Ok(0);
        };
        // An upload whose job could not be queued deleted its document: it was refused.
        let system = RequestContext::system();
        match self
            .ingest
            .store
            .read(&system, ResourceType::DocumentReference, &stored.id)
            .await
        {
            Ok(_) => {}
            Err(FhirError::Gone { .. } | FhirError::NotFound { .. }) => return Ok(0),
            Err(err) => return Err(err),
        }
        // The upload stored the whole blob before its document: anything else is no upload.
        if self.ingest.blobs.size(&payload.blob_key).await? != Some(payload.size) {
            tracing::warn!(document = %stored.id, "document not queued: its blob is not the one it names");
            return Ok(0);
        }
        let (job, queued) = self.ingest.enqueue_for(&payload).await?;
        if queued {
            tracing::info!(job = %job.id, document = %stored.id, "document job queued by the relay");
        }
        Ok(u64::from(queued))
    }
}

#[async_trait]
impl JobHandler for DocumentRelay {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let result = self.follow().await?;
        JobOutcome::completed_as::<Self>(&result)
    }
}

impl JobKind for DocumentRelay {
    const KIND: &'static str = KIND;
    type Payload = NoPayload;
    type Result = FeedResult;
}

/// Registers `document.relay` (every [`INTERVAL`]).
pub fn register_relay(registry: &mut Registry, relay: DocumentRelay) {
    registry.register_periodic(KIND, INTERVAL, Arc::new(relay));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::payload_of;

    #[test]
    fn an_upload_names_its_job_and_anything_else_does_not() {
        let upload = json!({
            "resourceType": "DocumentReference",
            "subject": {"reference": "Patient/p1"},
            "content": [{"attachment": {
                "contentType": "application/pdf", "url": "documents/b1", "size": 12,
                "title": "report.pdf"
            }}],
            "extension": [
                {"url": super::UPLOADER_EXTENSION, "valueString": "u1"},
                super::Progress::Pending.extension(),
            ],
        });
        let payload = payload_of(&upload, "d1").expect("an upload");
        assert_eq!(
            (
                payload.blob_key.as_str(),
                payload.patient.as_str(),
                payload.uploader.as_str(),
                payload.size
            ),
            ("documents/b1", "p1", "u1", 12)
        );
        let mut plain = upload.clone();
        plain["extension"] = json!([]);
        assert!(
            payload_of(&plain, "d1").is_none(),
            "no uploader: not an upload"
        );
        let mut no_status = upload.clone();
        no_status["extension"] = json!([upload["extension"][0]]);
        assert!(
            payload_of(&no_status, "d1").is_none(),
            "no pending status: not an upload's first version"
        );
        let mut elsewhere = upload;
        elsewhere["content"][0]["attachment"]["url"] = json!("exports/x");
        assert!(
            payload_of(&elsewhere, "d1").is_none(),
            "not a document blob"
        );
    }
}
