//! The `document.ingest` job: an uploaded lab report becomes FHIR results.
//!
//! - [`DocumentIngest::submit`] is the upload side. It writes the `DocumentReference` through
//!   the store it is given — the server passes its consent-guarded store, so the uploader's
//!   right to write into the patient's compartment is decided there, never here — then puts
//!   the file in the blob store and enqueues the job. A refused upload stores nothing; a
//!   failure after the `DocumentReference` is written undoes what was done.
//! - [`DocumentIngest::run`] is the job (the worker and the in-process worker both run it): it
//!   loads the blob, runs the [`Pipeline`], and either publishes the results as one FHIR
//!   transaction on the platform's store (authorization happened at upload) and completes with
//!   counts, or completes as `needs_review` with the [`Analysis`] stored in the job result and
//!   nothing published.
//! - [`DocumentIngest::accept`] publishes a reviewed analysis (with corrections) and completes
//!   the job.
//!
//! - [`DocumentIngest::job`] and [`DocumentIngest::cancel`] (module `owner`) are the
//!   uploader's view of a job and its cancellation, while the uploader may still read the
//!   document through the guarded store.
//! - The uploader ([`UPLOADER_EXTENSION`]) and ingest status ([`INGEST_EXTENSION`]) of a
//!   document are the server's: [`ServerOwnedExtensions`] (module `owned`), a write hook inside
//!   the server's consent guard, refuses them from clients on every write path; `submit` marks
//!   its own write so that the upload passes.
//! - Notices (issue #14, through the [`Notify`] seam given by [`DocumentIngest::with_notify`]):
//!   the uploader (the job's owner) is told when the document was processed, needs a review,
//!   or failed for good (a permanent error, or the last attempt); the patient whose record
//!   received results is told they were filed (automatically or by an accepted review). Each
//!   is told at most once per job (the notice's once-only key names the job), so a job run
//!   twice tells nobody twice. Notices carry no parameters: nothing about the document or its
//!   results leaves the record.
//!
//! Every resource the job writes has an id derived from the job id and is written with `PUT`,
//! so running a job twice (a worker killed mid-job, a lease that ran out) writes new versions
//! of the same resources, never duplicates.

use std::sync::Arc;

use base64::Engine;
use medilink_fhir::blob::BlobStore;
use medilink_fhir::clock::format_instant;
use medilink_fhir::jobs::JobKind;
use medilink_fhir::jobs::{Job, JobQueue, JobStatus, NewJob};
use medilink_fhir::{
    Accessed, Clock, ErrorKind, FhirError, FhirResult, IdGen, Interaction, Issue, IssueCode,
    RequestContext, ResourceId, ResourceStore, ResourceType, ServiceError,
};
use medilink_platform::Action;
use medilink_platform::job_kind::result_json;
use medilink_platform::notifications::{Event, NoNotify, NotificationKind, Notify, Recipient};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome};
use medilink_platform::{AuditEntry, AuditLog};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha1::{Digest, Sha1};
use uuid::Uuid;

use crate::detect::DocumentKind;
use crate::fhir::{FhirContext, transaction_bundle};
use crate::loinc::{LoincMatch, LoincTable, MatchKind};
use crate::pipeline::{Analysis, Pipeline};

/// The job kind.
pub const KIND: &str = "document.ingest";

/// The extension of an uploaded `DocumentReference` naming its uploader (a user id, the job's
/// owner): what the relay needs, besides the document, to queue its job again.
pub const UPLOADER_EXTENSION: &str = "https://medilink.dev/fhir/StructureDefinition/uploaded-by";

/// The namespace of document job ids ([`DocumentIngest::job_id`]).
const JOB_NAMESPACE: Uuid = Uuid::from_u128(0x6d65_6469_6c69_6e6b_2400_646f_6320_6a6f);

/// Attempts before a job whose errors are all retryable is given up.
pub const MAX_ATTEMPTS: u32 = 5;

/// Longest file name kept (longer names are cut).
const MAX_FILE_NAME: usize = 200;

/// How old a claimed, unpublished review must be before another accept publishes it: a live
/// accept publishes within seconds, so an older claim belongs to one that died.
pub const STALE_CLAIM: time::Duration = time::Duration::minutes(2);

/// The input of a `document.ingest` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestPayload {
    /// Where the file is in the blob store.
    pub blob_key: String,
    /// The patient's id.
    pub patient: String,
    /// The id of the `DocumentReference` describing the file.
    pub document_reference: String,
    /// The uploader's user id.
    pub uploader: String,
    /// The file name as uploaded (without directories).
    pub file_name: String,
    /// The detected MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// Result counts of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestCounts {
    /// Results found (each becomes an Observation once published).
    pub observations: usize,
    /// Results without a LOINC code (published coded by text only).
    pub unmapped: usize,
    /// Results a person must look at before anything is published.
    pub needs_review: usize,
}

impl IngestCounts {
    fn of(analysis: &Analysis) -> IngestCounts {
        IngestCounts {
            observations: analysis.results.len(),
            unmapped: analysis
                .results
                .iter()
                .filter(|r| r.loinc.is_none())
                .count(),
            needs_review: analysis
                .results
                .iter()
                .filter(|r| r.review_reason.is_some())
                .count(),
        }
    }
}

/// The result stored with a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Counts.
    pub counts: IngestCounts,
    /// The analysis awaiting review (`needs_review` jobs), or claimed by an accept and not
    /// yet published (`completed` jobs without `resources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// The published resources (`Observation/…`, `DiagnosticReport/…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Who accepted a reviewed analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
}

/// A reviewer's correction of one result of an analysis (by its position).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// Position of the result in the analysis.
    pub index: usize,
    /// Drop the result (misread line, not a lab result).
    #[serde(default)]
    pub remove: bool,
    /// The right LOINC code.
    pub loinc: Option<String>,
    /// Its display (when absent: the LOINC table's, or the old coding's for the same code).
    pub display: Option<String>,
    /// The right numeric value.
    pub value: Option<f64>,
    /// The right UCUM unit.
    pub unit: Option<String>,
}

/// A document to submit.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The patient the document belongs to.
    pub patient: ResourceId,
    /// File name as sent by the client.
    pub file_name: String,
    /// The file.
    pub bytes: Vec<u8>,
    /// The uploader's user id (the job's owner).
    pub uploader: String,
}

/// What [`DocumentIngest::submit`] created.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The pending job.
    pub job: Job,
    /// The `DocumentReference` id.
    pub document_reference: ResourceId,
}

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The bytes are not a PDF, PNG or JPEG.
    #[error("unsupported document type: only PDF, PNG and JPEG files are accepted")]
    Unsupported,
    /// No such document job.
    #[error("document job not found")]
    JobNotFound,
    /// The job is not in a state that allows this.
    #[error("the job is {status}")]
    WrongStatus {
        /// Its status.
        status: &'static str,
    },
    /// The job is running or completed: it can no longer be cancelled.
    #[error("the job is {status}: it can no longer be cancelled")]
    NotCancellable {
        /// Its status.
        status: &'static str,
    },
    /// A correction does not fit the analysis.
    #[error("correction {index}: {reason}")]
    InvalidCorrection {
        /// Position of the corrected result.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The job's stored payload or result is not what this module wrote.
    #[error("the job's stored data is damaged")]
    Damaged,
    /// The store, blob store or queue failed.
    #[error(transparent)]
    Store(#[from] FhirError),
}

impl DocumentError {
    /// The transport-agnostic kind. An upload whose content is not an accepted type is an
    /// unsupported *media type* (HTTP 415), not an unoffered feature.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DocumentError::Unsupported => ErrorKind::UnsupportedMediaType,
            DocumentError::JobNotFound => ErrorKind::NotFound,
            DocumentError::WrongStatus { .. } | DocumentError::NotCancellable { .. } => {
                ErrorKind::Conflict
            }
            DocumentError::InvalidCorrection { .. } => ErrorKind::Invalid,
            DocumentError::Damaged => ErrorKind::Internal,
            DocumentError::Store(err) => err.kind(),
        }
    }
}

impl ServiceError for DocumentError {
    fn kind(&self) -> ErrorKind {
        DocumentError::kind(self)
    }

    fn issue_code(&self) -> IssueCode {
        match self {
            DocumentError::InvalidCorrection { .. } => IssueCode::Value,
            DocumentError::Store(err) => err.issue_code(),
            other => other.kind().issue_code(),
        }
    }

    fn issues(&self) -> Vec<Issue> {
        match self {
            DocumentError::Store(err) => err.issues(),
            other => vec![Issue::error(other.issue_code(), None, other.to_string())],
        }
    }
}

/// A failed storage step as a job error: transient kinds are retried, the rest fail the job
/// with a message that names the step (never resource content).
/// `DiagnosticReport/{id}` of the job `job_id`.
fn report_of(job_id: Uuid) -> String {
    format!(
        "DiagnosticReport/{}",
        crate::fhir::diagnostic_report_id(job_id)
    )
}

fn storage_error(what: &str, err: &FhirError) -> JobError {
    let retryable = matches!(
        err.kind(),
        ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Internal | ErrorKind::Conflict
    );
    tracing::warn!(error = %err, retryable, "{what} failed");
    if retryable {
        JobError::retryable(format!("{what} failed temporarily; it will be retried"))
    } else {
        JobError::permanent(format!("{what} failed: {err}"))
    }
}

/// The ingest service: submits documents and runs their jobs.
#[derive(Debug, Clone)]
pub struct DocumentIngest {
    /// The platform's (unguarded) store the results are published to.
    store: Arc<dyn ResourceStore>,
    blobs: Arc<dyn BlobStore>,
    queue: Arc<dyn JobQueue>,
    ids: Arc<dyn IdGen>,
    clock: Arc<dyn Clock>,
    pipeline: Pipeline,
    /// Where a publication is recorded (naming the patient and the resources filed).
    audit: Option<Arc<dyn AuditLog>>,
    /// Where the uploader's and the patient's notices go.
    notify: Arc<dyn Notify>,
}

/// The file name without directories, control characters or excess length.
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "document".to_owned()
    } else {
        cleaned.to_owned()
    }
}

impl DocumentIngest {
    /// The service over the platform's `store` (results are written there without a consent
    /// check), `blobs`, `queue` and the `pipeline`.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        blobs: Arc<dyn BlobStore>,
        queue: Arc<dyn JobQueue>,
        ids: Arc<dyn IdGen>,
        clock: Arc<dyn Clock>,
        pipeline: Pipeline,
    ) -> Self {
        DocumentIngest {
            store,
            blobs,
            queue,
            ids,
            clock,
            pipeline,
            audit: None,
            notify: Arc::new(NoNotify),
        }
    }

    /// Also tell the uploader and the patient what became of a document through `notify`
    /// (see the module documentation).
    pub fn with_notify(mut self, notify: Arc<dyn Notify>) -> Self {
        self.notify = notify;
        self
    }

    /// Tells `recipients` about `kind` of the job `job_id`, at most once per job; a failure
    /// is logged (a notice never undoes the work it reports).
    async fn tell(&self, recipients: &[Recipient], kind: NotificationKind, job_id: Uuid) {
        if recipients.is_empty() {
            return;
        }
        let event = Event::new(kind).once(format!("{kind}:{job_id}"));
        if let Err(err) = self.notify.notify(recipients, &event).await {
            tracing::warn!(error = %err, %kind, job = %job_id, "notice not stored");
        }
    }

    /// The uploader of `job` (its owner) as a recipient.
    fn uploader(job: &Job) -> Vec<Recipient> {
        job.owner
            .iter()
            .map(|owner| Recipient::User(medilink_platform::UserId(owner.clone())))
            .collect()
    }

    /// Also append one audit record per publication to `audit` (action `document-publish`,
    /// no actor: the platform files the results), naming the patient and every resource
    /// written, so the patient's access log shows what was filed into their record.
    pub fn with_audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The job queue.
    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.queue
    }

    /// Submits `upload`: checks the type by content, reads the patient through `guarded` (a
    /// patient the caller may not see is not found), writes the `DocumentReference` through
    /// `guarded` (the write decision), stores the file and enqueues the job.
    pub async fn submit(
        &self,
        guarded: &dyn ResourceStore,
        ctx: &RequestContext,
        upload: Upload,
    ) -> Result<Submitted, DocumentError> {
        let kind = DocumentKind::sniff(&upload.bytes).ok_or(DocumentError::Unsupported)?;
        guarded
            .read(ctx, ResourceType::Patient, &upload.patient)
            .await
            .map_err(|err| match err {
                FhirError::Gone { .. } => FhirError::NotFound {
                    resource_type: ResourceType::Patient,
                    id: upload.patient.clone(),
                },
                other => other,
            })?;
        let file_name = clean_file_name(&upload.file_name);
        let blob_key = format!("documents/{}", self.ids.new_id());
        let size = upload.bytes.len() as u64;
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(&upload.bytes));
        let document = json!({
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {"coding": [{
                "system": "http://loinc.org",
                "code": "11502-2",
                "display": "Laboratory report"
            }]},
            "subject": {"reference": format!("Patient/{}", upload.patient)},
            "date": format_instant(self.clock.now()),
            "extension": [
                Progress::Pending.extension(),
                {"url": UPLOADER_EXTENSION, "valueString": upload.uploader},
            ],
            "content": [{"attachment": {
                "contentType": kind.mime(),
                "url": blob_key,
                "size": size,
                "hash": hash,
                "title": file_name,
            }}],
        });
        // The bytes first: a crash at any point leaves either nothing visible or a
        // `DocumentReference` whose blob is whole (an unreferenced blob is invisible).
        self.blobs.put(&blob_key, upload.bytes).await?;
        // Marked as the upload's own write: the extensions above are the server's
        // (`owned::ServerOwnedExtensions` refuses them from anyone else).
        let marked = ctx.clone().with_mark(owned::UploadWrite::of(&document));
        let stored = match guarded.create(&marked, document).await {
            Ok(stored) => stored,
            Err(err) => {
                // Refused (or the store failed): the bytes do not stay.
                let _ = self.blobs.delete(&blob_key).await;
                return Err(err.into());
            }
        };
        let document_reference = stored.id.clone();
        let payload = IngestPayload {
            blob_key: blob_key.clone(),
            patient: upload.patient.to_string(),
            document_reference: document_reference.to_string(),
            uploader: upload.uploader,
            file_name,
            content_type: kind.mime().to_owned(),
            size,
        };
        // A crash here leaves the document without its job until the relay (module `relay`)
        // reads it in the change feed and queues the same job: one id per document, so
        // whichever comes first queues it and the other finds it (issue #24).
        match self.enqueue_for(&payload).await {
            Ok((job, _)) => Ok(Submitted {
                job,
                document_reference,
            }),
            Err(err) => {
                // Undo: the document is not accepted, so neither its record nor its bytes stay.
                let system = RequestContext::system();
                let _ = self
                    .store
                    .delete(
                        &system,
                        ResourceType::DocumentReference,
                        &document_reference,
                        None,
                    )
                    .await;
                let _ = self.blobs.delete(&blob_key).await;
                Err(err.into())
            }
        }
    }

    /// The id of the job of the `DocumentReference` `document_reference`: derived from it, so
    /// that a document has at most one job however often it is queued.
    pub fn job_id(document_reference: &str) -> Uuid {
        Uuid::new_v5(&JOB_NAMESPACE, document_reference.as_bytes())
    }

    /// Queues the job of `payload` under its document's job id ([`Self::job_id`]); the job
    /// already queued when there is one.
    async fn enqueue_for(&self, payload: &IngestPayload) -> FhirResult<(Job, bool)> {
        let mut job = NewJob::of::<Self>(payload)?;
        job.owner = Some(payload.uploader.clone());
        job.max_attempts = MAX_ATTEMPTS;
        let id = Self::job_id(&payload.document_reference);
        self.queue.enqueue_with_id(job, id).await
    }

    /// Runs a `document.ingest` job (what [`JobHandler::run`] does), telling the uploader
    /// when it fails for good (a permanent error, or its last attempt).
    pub async fn ingest(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let outcome = self.process(job).await;
        if let Err(err) = &outcome
            && (!err.retryable || job.attempts >= job.max_attempts)
        {
            if let Ok(payload) = job.payload_of::<Self>()
                && let Err(err) = self.mark(&payload, Progress::Failed, None).await
            {
                // The job's own state says failed; the document keeps its last mark.
                tracing::warn!(error = %err, "the document's failure not recorded");
            }
            self.tell(
                &Self::uploader(job),
                NotificationKind::DocumentFailed,
                job.id,
            )
            .await;
        }
        outcome
    }

    /// One attempt at a job: analyse, then publish or hold for review, telling the uploader
    /// (and the patient when results are filed).
    async fn process(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let payload = job
            .payload_of::<Self>()
            .map_err(|_| JobError::permanent("the job's input is damaged"))?;
        let bytes = match self.blobs.get(&payload.blob_key).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(JobError::permanent("the uploaded file is no longer stored")),
            Err(err) => return Err(storage_error("reading the uploaded file", &err)),
        };
        let analysis = self
            .pipeline
            .analyse(&bytes)
            .await
            .map_err(|err| JobError {
                message: err.to_string(),
                retryable: err.is_retryable(),
            })?;
        let counts = IngestCounts::of(&analysis);
        if analysis.needs_review() {
            let report = IngestReport {
                counts,
                analysis: Some(analysis),
                resources: Vec::new(),
                reviewed_by: None,
            };
            let outcome = JobOutcome::needs_review(result_json::<Self>(&report)?);
            self.mark(&payload, Progress::NeedsReview, None)
                .await
                .map_err(|err| storage_error("recording the document's review", &err))?;
            self.tell(
                &Self::uploader(job),
                NotificationKind::DocumentNeedsReview,
                job.id,
            )
            .await;
            return Ok(outcome);
        }
        let resources = self
            .publish(job.id, &payload, &analysis)
            .await
            .map_err(|err| storage_error("storing the results", &err))?;
        self.mark(&payload, Progress::Completed, Some(&report_of(job.id)))
            .await
            .map_err(|err| storage_error("recording the document's results", &err))?;
        self.tell(
            &Self::uploader(job),
            NotificationKind::DocumentProcessed,
            job.id,
        )
        .await;
        self.filed(&payload, job.id).await;
        let report = IngestReport {
            counts,
            analysis: None,
            resources,
            reviewed_by: None,
        };
        JobOutcome::completed_as::<Self>(&report)
    }

    /// Publishes the reviewed analysis of the `needs_review` job `id` with `corrections`
    /// applied, and completes the job. `guarded` and `ctx` are the reviewer's: a reviewer who
    /// can no longer see the document (consent revoked) is told the job does not exist.
    ///
    /// The job is claimed before anything is written: it moves to `completed` holding the
    /// corrected analysis, so of two reviewers accepting at once exactly one wins and only
    /// its corrections are published; the other gets [`DocumentError::WrongStatus`]. If the
    /// publication fails the claim is undone (the job needs review again). If the process dies
    /// in between, the job stays `completed` with its analysis unpublished, and accepting it
    /// again after [`STALE_CLAIM`] publishes that analysis (the writes are idempotent `PUT`s).
    pub async fn accept(
        &self,
        guarded: &dyn ResourceStore,
        ctx: &RequestContext,
        id: Uuid,
        reviewer: &str,
        corrections: &[Correction],
    ) -> Result<IngestReport, DocumentError> {
        let job = self
            .queue
            .get(id)
            .await?
            .filter(Job::is::<Self>)
            .ok_or(DocumentError::JobNotFound)?;
        let payload = job
            .payload_of::<Self>()
            .map_err(|_| DocumentError::Damaged)?;
        let document = ResourceId::new(payload.document_reference.clone())?;
        if guarded
            .read(ctx, ResourceType::DocumentReference, &document)
            .await
            .is_err()
        {
            return Err(DocumentError::JobNotFound);
        }
        let stored = job.result_of::<Self>();
        let (analysis, reviewed_by) = match (job.status, stored) {
            (JobStatus::NeedsReview, Some(report)) => {
                let analysis =
                    corrected(report.analysis.ok_or(DocumentError::Damaged)?, corrections)?;
                let claim = IngestReport {
                    counts: IngestCounts::of(&analysis),
                    analysis: Some(analysis.clone()),
                    resources: Vec::new(),
                    reviewed_by: Some(reviewer.to_owned()),
                };
                if !self
                    .move_job(&job, JobStatus::NeedsReview, JobStatus::Completed, &claim)
                    .await?
                {
                    return Err(self.status_now(job.id).await?);
                }
                (analysis, reviewer.to_owned())
            }
            // Claimed by an accept that died before it published (a live one publishes within
            // seconds): publish what it claimed.
            (
                JobStatus::Completed,
                Some(IngestReport {
                    analysis: Some(analysis),
                    reviewed_by: Some(reviewed_by),
                    ..
                }),
            ) if self.clock.now() - job.updated_at > STALE_CLAIM => (analysis, reviewed_by),
            (JobStatus::NeedsReview, None) => return Err(DocumentError::Damaged),
            (status, _) => {
                return Err(DocumentError::WrongStatus {
                    status: status.as_str(),
                });
            }
        };
        let resources = match self.publish(job.id, &payload, &analysis).await {
            Ok(resources) => resources,
            Err(err) => {
                if job.status == JobStatus::NeedsReview
                    && let Some(result) = job.result.clone()
                {
                    // Undo the claim: the job needs review again, with its own analysis.
                    self.queue
                        .transition(
                            job.id,
                            &[JobStatus::Completed],
                            JobStatus::NeedsReview,
                            Some(result),
                        )
                        .await?;
                }
                return Err(err.into());
            }
        };
        let report = IngestReport {
            counts: IngestCounts::of(&analysis),
            analysis: None,
            resources,
            reviewed_by: Some(reviewed_by),
        };
        self.move_job(&job, JobStatus::Completed, JobStatus::Completed, &report)
            .await?;
        if let Err(err) = self
            .mark(&payload, Progress::Completed, Some(&report_of(job.id)))
            .await
        {
            // The results are filed and the job completed: the reviewer is not told otherwise.
            tracing::warn!(error = %err, "the document's results not recorded on it");
        }
        self.filed(&payload, job.id).await;
        Ok(report)
    }

    /// Tells the patient of `payload` that the job `job_id` filed results into their record.
    async fn filed(&self, payload: &IngestPayload, job_id: Uuid) {
        let patient = [Recipient::Patient(payload.patient.clone())];
        self.tell(&patient, NotificationKind::ResultsFiled, job_id)
            .await;
    }

    /// Moves `job` from `from` to `to` recording `report`; false if it was not in `from`.
    async fn move_job(
        &self,
        job: &Job,
        from: JobStatus,
        to: JobStatus,
        report: &IngestReport,
    ) -> Result<bool, DocumentError> {
        let result = result_json::<Self>(report).map_err(|_| DocumentError::Damaged)?;
        Ok(self
            .queue
            .transition(job.id, &[from], to, Some(result))
            .await?)
    }

    /// The error for a job that another request moved first (accepted or cancelled).
    async fn status_now(&self, id: Uuid) -> Result<DocumentError, DocumentError> {
        let now = self.queue.get(id).await?.map(|job| job.status);
        Ok(DocumentError::WrongStatus {
            status: now.map_or("gone", JobStatus::as_str),
        })
    }

    /// Writes the analysis as one transaction ([`crate::fhir::transaction_bundle`]); returns
    /// the references written.
    async fn publish(
        &self,
        job_id: Uuid,
        payload: &IngestPayload,
        analysis: &Analysis,
    ) -> Result<Vec<String>, FhirError> {
        let context = FhirContext {
            patient: ResourceId::new(payload.patient.clone())?,
            document: ResourceId::new(payload.document_reference.clone())?,
            job_id,
            issued: self.clock.now(),
        };
        let bundle =
            transaction_bundle(analysis, &context).map_err(|err| FhirError::Unprocessable {
                message: err.to_string(),
            })?;
        let outcome = medilink_fhir::bundle::process(
            self.store.as_ref(),
            &RequestContext::system(),
            self.ids.as_ref(),
            bundle,
        )
        .await?;
        let mut references = Vec::new();
        let filed = Accessed::collecting();
        let patients = [payload.patient.clone()];
        for entry in outcome.entries {
            if let Some(stored) = entry?.stored {
                references.push(stored.reference());
                filed.record(
                    Interaction::Update,
                    stored.resource_type,
                    &stored.id,
                    &patients,
                );
            }
        }
        if let Some(audit) = &self.audit {
            let entry = AuditEntry {
                at: self.clock.now(),
                actor: None,
                role: None,
                action: Action::DocumentPublish.into(),
                resource_type: None,
                resource_ids: Vec::new(),
                patients: Default::default(),
                resource_types: Vec::new(),
                outcome: 200,
                client_ip: None,
                request_id: format!("document-{job_id}"),
                detail: None,
            }
            .disclosing(&filed.summary());
            // Not stored: the job fails and runs again (the writes are idempotent `PUT`s).
            audit.append(&[entry]).await?;
        }
        Ok(references)
    }
}

impl JobKind for DocumentIngest {
    const KIND: &'static str = KIND;
    type Payload = IngestPayload;
    type Result = IngestReport;
}

#[async_trait::async_trait]
impl JobHandler for DocumentIngest {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        self.ingest(job).await
    }
}

/// `analysis` with `corrections` applied and every result marked reviewed.
fn corrected(
    mut analysis: Analysis,
    corrections: &[Correction],
) -> Result<Analysis, DocumentError> {
    let mut remove = vec![false; analysis.results.len()];
    for correction in corrections {
        let index = correction.index;
        let Some(result) = analysis.results.get_mut(index) else {
            return Err(DocumentError::InvalidCorrection {
                index,
                reason: "no result at this position",
            });
        };
        if correction.remove {
            remove[index] = true;
            continue;
        }
        if let Some(code) = &correction.loinc {
            let valid = !code.is_empty()
                && code.len() <= 10
                && code.chars().all(|c| c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(DocumentError::InvalidCorrection {
                    index,
                    reason: "a LOINC code is digits and a check digit, like 718-7",
                });
            }
            // The reviewer's display, else the table's, else the old one if the code is
            // unchanged; a code outside the table may stay without one (FHIR forbids "").
            let display = correction
                .display
                .as_deref()
                .map(str::trim)
                .filter(|display| !display.is_empty())
                .map(str::to_owned)
                .or_else(|| LoincTable::builtin().entry(code).map(|e| e.display.clone()))
                .or_else(|| {
                    result
                        .loinc
                        .as_ref()
                        .filter(|old| old.code == *code)
                        .map(|old| old.display.clone())
                })
                .unwrap_or_default();
            result.loinc = Some(LoincMatch {
                code: code.clone(),
                display,
                kind: MatchKind::Exact,
                confidence: 1.0,
            });
        }
        if let Some(value) = correction.value {
            if !value.is_finite() {
                return Err(DocumentError::InvalidCorrection {
                    index,
                    reason: "the value must be a finite number",
                });
            }
            result.extracted.value = Some(value);
            result.extracted.value_text = value.to_string();
        }
        if let Some(unit) = &correction.unit {
            result.ucum_unit = Some(unit.clone());
        }
        // A person checked this line.
        result.confidence = 1.0;
    }
    let mut index = 0;
    analysis.results.retain(|_| {
        let keep = !remove[index];
        index += 1;
        keep
    });
    for result in &mut analysis.results {
        result.review_reason = None;
    }
    Ok(analysis)
}

mod owned;
mod owner;
mod progress;

pub use owned::{SERVER_OWNED_EXTENSIONS, ServerOwnedExtensions};
pub use progress::{INGEST_EXTENSION, Progress};
pub mod relay;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ExtractedResult;
    use crate::pipeline::MappedResult;
    use crate::text::TextOrigin;

    fn result(name: &str, value: Option<f64>, review: Option<&str>) -> MappedResult {
        MappedResult {
            extracted: ExtractedResult {
                name: name.into(),
                value_text: value.map_or("Positive".into(), |v| v.to_string()),
                value,
                comparator: None,
                unit: Some("g/dL".into()),
                range_low: Some(13.0),
                range_high: Some(17.0),
                range_text: None,
                flag: None,
                confidence: 0.5,
                calculated: false,
            },
            loinc: None,
            ucum_unit: Some("g/dL".into()),
            confidence: 0.5,
            review_reason: review.map(Into::into),
        }
    }

    fn analysis() -> Analysis {
        Analysis {
            kind: DocumentKind::Pdf,
            origin: TextOrigin::TextLayer,
            report_date: Some("2026-03-14".into()),
            issued: None,
            results: vec![
                result("Hemoglobin", Some(13.5), Some("low confidence")),
                result("Culture", None, None),
                result("Noise", Some(1.0), Some("not a test")),
            ],
        }
    }

    #[test]
    fn file_names_lose_directories_and_control_characters() {
        assert_eq!(clean_file_name("../../etc/report.pdf"), "report.pdf");
        assert_eq!(clean_file_name("C:\\scans\\lab\u{0}.png"), "lab.png");
        assert_eq!(clean_file_name("  "), "document");
        assert_eq!(clean_file_name(&"a".repeat(500)).len(), MAX_FILE_NAME);
    }

    #[test]
    fn counts_follow_the_analysis() {
        let counts = IngestCounts::of(&analysis());
        assert_eq!(
            counts,
            IngestCounts {
                observations: 3,
                unmapped: 3,
                needs_review: 2
            }
        );
    }

    #[test]
    fn corrections_recode_revalue_remove_and_mark_reviewed() {
        let corrections = [
            Correction {
                index: 0,
                loinc: Some("718-7".into()),
                display: Some("Hemoglobin [Mass/volume] in Blood".into()),
                value: Some(12.9),
                ..Correction::default()
            },
            Correction {
                index: 2,
                remove: true,
                ..Correction::default()
            },
        ];
        let fixed = corrected(analysis(), &corrections).expect("valid corrections");
        assert_eq!(fixed.results.len(), 2);
        assert_eq!(
            fixed.results[0].loinc.as_ref().map(|l| l.code.as_str()),
            Some("718-7")
        );
        assert_eq!(fixed.results[0].extracted.value, Some(12.9));
        assert_eq!(fixed.results[0].confidence, 1.0);
        assert_eq!(fixed.results[1].extracted.name, "Culture");
        assert!(!fixed.needs_review());
    }

    #[test]
    fn a_recode_without_display_takes_the_tables_or_none() {
        let recode = |code: &str, display: Option<&str>| Correction {
            index: 0,
            loinc: Some(code.into()),
            display: display.map(str::to_owned),
            ..Correction::default()
        };
        let display_of = |correction: Correction| {
            corrected(analysis(), &[correction]).expect("valid").results[0]
                .loinc
                .clone()
                .map(|loinc| loinc.display)
        };
        assert_eq!(
            display_of(recode("2823-3", None)).as_deref(),
            Some("Potassium [Moles/volume] in Serum or Plasma")
        );
        assert_eq!(
            display_of(recode("2823-3", Some("  "))).as_deref(),
            Some("Potassium [Moles/volume] in Serum or Plasma")
        );
        assert_eq!(
            display_of(recode("2823-3", Some("K+"))).as_deref(),
            Some("K+")
        );
        // Not in the table: no display (the Observation's coding then has none).
        assert_eq!(display_of(recode("99999-9", None)).as_deref(), Some(""));
    }

    #[test]
    fn bad_corrections_are_refused() {
        let out_of_range = Correction {
            index: 9,
            ..Correction::default()
        };
        assert!(matches!(
            corrected(analysis(), &[out_of_range]),
            Err(DocumentError::InvalidCorrection { index: 9, .. })
        ));
        let bad_code = Correction {
            index: 0,
            loinc: Some("DROP TABLE".into()),
            ..Correction::default()
        };
        assert!(corrected(analysis(), &[bad_code]).is_err());
    }
}
