//! Research exports: the only way researchers see patient data. A researcher asks for types
//! (default: every type [`Deidentifier`] exports); the `research.export` job reads **every**
//! patient's resources of those types with the platform's unguarded store (as the system, not
//! as the researcher, who may read no record directly) and writes each one through the
//! [`Deidentifier`], so the job's only output is de-identified NDJSON, one blob per type
//! (`exports/{job}/{Type}.ndjson`, the same keys, paging and blob writer as
//! [`crate::export`]'s Bulk Data `$export`).
//!
//! Resources the de-identifier refuses are never written; they are counted per type and
//! reason in the result's `skipped`. `as_of` (the instant ages are computed at) is the start of
//! the run. Pseudonyms come from the deployment's research key: the same key gives the same
//! pseudonym for a resource in every export, another key unlinks them.
//!
//! Only researchers may start one; a job is visible to the researcher who asked only (not to
//! admins either: an admin reads identified data directly and has no use for a researcher's
//! files); to anyone else it does not exist.
//!
//! A finished export is told to the researcher who asked (issue #14,
//! [`NotificationKind::ResearchExportReady`] through the [`Notify`] seam given by
//! [`ResearchExport::with_notify`]), at most once per job.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::blob::BlobStore;
use medilink_fhir::jobs::JobKind;
use medilink_fhir::jobs::{Job, JobQueue, NewJob};
use medilink_fhir::{Clock, FhirError, IssueCode, RequestContext, ResourceType};
use medilink_platform::notifications::{Event, NoNotify, NotificationKind, Notify, Recipient};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome};
use medilink_platform::{Action, AuditEntry, AuditLog, Role, UserId};
use medilink_platform::{Caller, CallerContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::deid::{DeidError, DeidOptions, Deidentifier};
use crate::error::{ConsentError, ConsentResult};
use crate::export::{
    ExportFile, cancel_job, cancelled, delete_files, file_key, listed_file, page_query,
    visible_job, write_ndjson,
};

/// The job kind.
pub const KIND: &str = "research.export";

/// A validated research export request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchRequest {
    /// The types, in order, without duplicates (all exportable).
    pub types: Vec<String>,
    /// Only resources changed after this instant.
    pub since: Option<String>,
    /// Keep the first three digits of US ZIP codes.
    pub keep_zip3: bool,
}

fn bad(element: &str, diagnostics: String) -> FhirError {
    FhirError::invalid(IssueCode::Value, Some(element.to_owned()), diagnostics)
}

impl ResearchRequest {
    /// Validates a request: `types` (default: every exportable type) must be types the
    /// de-identifier exports, `since` an instant.
    pub fn parse(
        types: Option<Vec<String>>,
        since: Option<String>,
        keep_zip3: bool,
    ) -> Result<ResearchRequest, FhirError> {
        let exportable: Vec<&str> = Deidentifier::exported_types()
            .filter(|name| ResourceType::from_name(name).is_some())
            .collect();
        let types = match types {
            None => exportable.iter().map(|name| (*name).to_owned()).collect(),
            Some(types) if types.is_empty() => {
                return Err(bad("types", "types is empty".to_owned()));
            }
            Some(types) => {
                let mut unique: Vec<String> = Vec::new();
                for name in types {
                    if ResourceType::from_name(&name).is_none() {
                        return Err(bad("types", format!("{name:?} is not a resource type")));
                    }
                    if !exportable.contains(&name.as_str()) {
                        return Err(bad(
                            "types",
                            format!(
                                "{name} is not exported for research (exportable: {})",
                                exportable.join(", ")
                            ),
                        ));
                    }
                    if !unique.contains(&name) {
                        unique.push(name);
                    }
                }
                unique
            }
        };
        if let Some(since) = &since {
            OffsetDateTime::parse(since, &Rfc3339)
                .map_err(|_| bad("since", format!("since {since:?} is not an instant")))?;
        }
        Ok(ResearchRequest {
            types,
            since,
            keep_zip3,
        })
    }

    /// The types as resource types.
    pub fn resource_types(&self) -> Vec<ResourceType> {
        self.types
            .iter()
            .filter_map(|name| ResourceType::from_name(name))
            .collect()
    }
}

/// The payload of a `research.export` job (no key, no identity beyond the owner on the job
/// itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchPayload {
    /// The validated request.
    pub request: ResearchRequest,
}

/// Resources of one type refused by the de-identification for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The resource type's name.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The stable reason code (`unsupported-type`, `modifier-extension`, …).
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// The result of a finished `research.export` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchResult {
    /// The instant ages were computed at (the run's start).
    pub as_of: String,
    /// The requested types.
    pub types: Vec<String>,
    /// The files written.
    pub output: Vec<ExportFile>,
    /// What was refused, per type and reason.
    pub skipped: Vec<Skipped>,
}

impl JobKind for ResearchExport {
    const KIND: &'static str = KIND;
    type Payload = ResearchPayload;
    type Result = ResearchResult;
}

/// Why a resource was skipped, as a stable code (never resource content).
fn reason(err: &DeidError) -> &'static str {
    match err {
        DeidError::NotAResource => "not-a-resource",
        DeidError::UnsupportedType { .. } => "unsupported-type",
        DeidError::ModifierExtension { .. } => "modifier-extension",
        DeidError::ImplicitRules { .. } => "implicit-rules",
        DeidError::InvalidOutput { .. } => "invalid-output",
    }
}

/// Where the kick-offs and downloads of research exports are recorded: the host's audit
/// trail (the server's queue in front of the [`AuditLog`], or the log itself).
#[async_trait]
pub trait AuditRecorder: Send + Sync {
    /// Stores `entry`; `false` when that failed (the answer is then withheld).
    async fn record(&self, entry: AuditEntry) -> bool;
}

#[async_trait]
impl AuditRecorder for Arc<dyn AuditLog> {
    async fn record(&self, entry: AuditEntry) -> bool {
        self.append(&[entry]).await.is_ok()
    }
}

/// Research exports: kick-off, status, cancel, files, and the `research.export` job handler.
#[derive(Clone)]
pub struct ResearchExport {
    store: Arc<dyn medilink_fhir::ResourceStore>,
    blobs: Arc<dyn BlobStore>,
    jobs: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    key: [u8; 32],
    notify: Arc<dyn Notify>,
}

impl std::fmt::Debug for ResearchExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResearchExport { key: <redacted>, .. }")
    }
}

fn not_found(id: &str) -> ConsentError {
    ConsentError::ExportNotFound { id: id.to_owned() }
}

impl ResearchExport {
    /// Exports from the platform's unguarded `store` into `blobs`, queued on `jobs`,
    /// pseudonymised with the deployment's research `key`.
    pub fn new(
        store: Arc<dyn medilink_fhir::ResourceStore>,
        blobs: Arc<dyn BlobStore>,
        jobs: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        key: [u8; 32],
    ) -> Self {
        ResearchExport {
            store,
            blobs,
            jobs,
            clock,
            key,
            notify: Arc::new(NoNotify),
        }
    }

    /// Also tell the researcher who asked when an export is ready, through `notify`.
    pub fn with_notify(mut self, notify: Arc<dyn Notify>) -> Self {
        self.notify = notify;
        self
    }

    /// The kick-off use case: the role first — a caller who is not a researcher learns nothing
    /// about the request or the exportable types: refused, and audited with outcome 403 —
    /// then `request` (the host's parsing of the body; its error is returned as is), then
    /// [`Self::start`], audited with outcome 202 (action `research-export`, the types, the
    /// job). An answer whose audit record is not stored is withheld (unavailable).
    pub async fn create<E: From<ConsentError>>(
        &self,
        ctx: &RequestContext,
        audit: &dyn AuditRecorder,
        client_ip: Option<String>,
        request: impl Future<Output = Result<ResearchRequest, E>>,
    ) -> Result<Job, E> {
        if !matches!(
            ctx.caller(),
            Caller::User {
                role: Role::Researcher,
                ..
            }
        ) {
            self.audit(ctx, audit, client_ip, &[], "", 403).await?;
            return Err(ConsentError::RoleRequired {
                reason: "research exports are for researchers only",
            }
            .into());
        }
        let request = request.await?;
        let types = request.types.clone();
        let job = self.start(ctx, request).await?;
        self.audit(ctx, audit, client_ip, &types, &job.id.to_string(), 202)
            .await?;
        Ok(job)
    }

    /// The download use case: [`Self::file`], audited with the type and outcome 200, or 404
    /// when there is no such file for the caller.
    pub async fn download(
        &self,
        ctx: &RequestContext,
        audit: &dyn AuditRecorder,
        client_ip: Option<String>,
        id: &str,
        type_name: &str,
    ) -> ConsentResult<(String, u64)> {
        let found = self.file(ctx, id, type_name).await;
        let outcome = if found.is_ok() { 200 } else { 404 };
        let types = [type_name.to_owned()];
        self.audit(ctx, audit, client_ip, &types, id, outcome)
            .await?;
        found
    }

    /// Records a kick-off or download (`types`: the types concerned; de-identified data names
    /// no patient).
    async fn audit(
        &self,
        ctx: &RequestContext,
        audit: &dyn AuditRecorder,
        client_ip: Option<String>,
        types: &[String],
        id: &str,
        outcome: u16,
    ) -> ConsentResult<()> {
        let (actor, role) = match ctx.caller() {
            Caller::User { user_id, role, .. } => {
                (Some(user_id.0.clone()), Some(role.as_str().to_owned()))
            }
            _ => (None, None),
        };
        let entry = AuditEntry {
            at: self.clock.now(),
            actor,
            role,
            action: Action::ResearchExport.into(),
            resource_type: (!types.is_empty()).then(|| types.join(",")),
            resource_ids: [id]
                .into_iter()
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect(),
            patients: Default::default(),
            resource_types: types.to_vec(),
            outcome,
            client_ip,
            request_id: ctx.request_id.clone(),
        };
        if audit.record(entry).await {
            return Ok(());
        }
        tracing::error!("research export audit record not stored: response withheld");
        Err(ConsentError::Store(FhirError::Unavailable {
            source: "audit trail unavailable".into(),
        }))
    }

    /// Kick-off: queues `request` for the researcher of `ctx`; every other caller is refused.
    pub async fn start(
        &self,
        ctx: &RequestContext,
        request: ResearchRequest,
    ) -> ConsentResult<Job> {
        let Caller::User { user_id, role, .. } = ctx.caller() else {
            return Err(ConsentError::Forbidden {
                reason: "not signed in",
            });
        };
        if *role != Role::Researcher {
            return Err(ConsentError::Forbidden {
                reason: "research exports are for researchers only",
            });
        }
        let mut job = NewJob::of::<Self>(&ResearchPayload { request })?;
        job.owner = Some(user_id.0.clone());
        job.max_attempts = 3;
        Ok(self.jobs.enqueue(job).await?)
    }

    /// The research export `id` if the caller of `ctx` asked for it and it was not cancelled;
    /// otherwise it does not exist.
    pub async fn job(&self, ctx: &RequestContext, id: &str) -> ConsentResult<Job> {
        visible_job(self.jobs.as_ref(), ctx, id, KIND, false).await
    }

    /// The request of a research export job.
    pub fn request(job: &Job) -> ConsentResult<ResearchRequest> {
        let payload = job
            .payload_of::<Self>()
            .map_err(|_| not_found(&job.id.to_string()))?;
        Ok(payload.request)
    }

    /// Cancels the export `id` (whatever its state) and deletes its files.
    pub async fn cancel(&self, ctx: &RequestContext, id: &str) -> ConsentResult<()> {
        let job = self.job(ctx, id).await?;
        let types = Self::request(&job)?.resource_types();
        cancel_job(self.jobs.as_ref(), self.blobs.as_ref(), &job, &types).await
    }

    /// The blob key and size of the completed export `id`'s file for `type_name`.
    pub async fn file(
        &self,
        ctx: &RequestContext,
        id: &str,
        type_name: &str,
    ) -> ConsentResult<(String, u64)> {
        let job = self.job(ctx, id).await?;
        let output = job.result_of::<Self>().map(|result| result.output);
        listed_file(self.blobs.as_ref(), &job, output, type_name).await
    }

    /// Writes the de-identified file of one type; its line count, and the refusals counted
    /// into `skipped` (reason → count).
    async fn export_type(
        &self,
        deid: &Deidentifier,
        job: Uuid,
        request: &ResearchRequest,
        resource_type: ResourceType,
        skipped: &mut BTreeMap<&'static str, u64>,
    ) -> Result<u64, FhirError> {
        let query = page_query(resource_type, request.since.as_deref())?;
        let ctx = RequestContext::system();
        let key = file_key(job, resource_type);
        write_ndjson(
            self.blobs.as_ref(),
            self.store.as_ref(),
            &ctx,
            query,
            &key,
            |json| {
                let value: Value = serde_json::from_str(json)
                    .map_err(|err| FhirError::Internal { source: err.into() })?;
                match deid.deidentify(&value) {
                    Ok(out) => Ok(Some(out.to_string())),
                    Err(err) => {
                        *skipped.entry(reason(&err)).or_default() += 1;
                        Ok(None)
                    }
                }
            },
        )
        .await
    }
}

#[async_trait]
impl JobHandler for ResearchExport {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let request = Self::request(job)
            .map_err(|_| JobError::permanent("invalid research export payload"))?;
        let as_of = self.clock.now();
        let options = DeidOptions {
            as_of,
            keep_zip3: request.keep_zip3,
        };
        let deid = Deidentifier::new(&self.key, options);
        let types = request.resource_types();
        let mut output = Vec::new();
        let mut skipped = Vec::new();
        for resource_type in &types {
            let mut reasons = BTreeMap::new();
            let count = self
                .export_type(&deid, job.id, &request, *resource_type, &mut reasons)
                .await?;
            if count > 0 {
                output.push(ExportFile {
                    resource_type: resource_type.as_str().to_owned(),
                    count,
                });
            }
            for (reason, count) in reasons {
                skipped.push(Skipped {
                    resource_type: resource_type.as_str().to_owned(),
                    reason: reason.to_owned(),
                    count,
                });
            }
            if cancelled(self.jobs.as_ref(), job.id).await? {
                let _ = delete_files(self.blobs.as_ref(), job.id, &types).await;
                return Err(JobError::permanent("cancelled"));
            }
        }
        let outcome = JobOutcome::completed_as::<Self>(&ResearchResult {
            as_of: medilink_fhir::clock::format_instant(as_of),
            types: request.types,
            output,
            skipped,
        })?;
        if let Some(owner) = &job.owner {
            let kind = NotificationKind::ResearchExportReady;
            let event = Event::new(kind).once(format!("{kind}:{}", job.id));
            let researcher = [Recipient::User(UserId(owner.clone()))];
            if let Err(err) = self.notify.notify(&researcher, &event).await {
                tracing::warn!(error = %err, job = %job.id, "notice not stored");
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use medilink_fhir::blob::MemoryBlobStore;
    use medilink_fhir::{FixedClock, IdGen, SeqIdGen, SqlOptions};
    use medilink_platform::{UserId, open_store_and_platform};
    use time::macros::datetime;

    use super::*;

    /// Keeps the records, or refuses them all.
    #[derive(Default)]
    struct Recorder {
        refuse: bool,
        entries: Mutex<Vec<AuditEntry>>,
    }

    #[async_trait]
    impl AuditRecorder for Recorder {
        async fn record(&self, entry: AuditEntry) -> bool {
            self.entries.lock().expect("lock").push(entry);
            !self.refuse
        }
    }

    async fn exports() -> ResearchExport {
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
        let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
        let (store, platform) =
            open_store_and_platform(&SqlOptions::new("sqlite::memory:"), clock.clone(), ids)
                .await
                .expect("store");
        ResearchExport::new(
            store,
            Arc::new(MemoryBlobStore::default()),
            platform.jobs,
            clock,
            [7; 32],
        )
    }

    fn as_user(role: Role) -> RequestContext {
        RequestContext::for_caller(Caller::user(UserId("u1".into()), role, true, None), "req")
    }

    #[tokio::test]
    async fn only_researchers_start_and_a_refusal_is_audited_before_the_body_is_read() {
        let exports = exports().await;
        let recorder = Recorder::default();
        let read = AtomicBool::new(false);
        let body = async {
            read.store(true, Ordering::SeqCst);
            Ok::<_, ConsentError>(ResearchRequest::parse(None, None, false)?)
        };
        let ctx = as_user(Role::Physician);
        let err = exports
            .create(&ctx, &recorder, Some("10.0.0.1".into()), body)
            .await
            .expect_err("physicians are refused");
        assert_eq!(err.to_string(), "research exports are for researchers only");
        assert!(!read.load(Ordering::SeqCst));
        let entries = recorder.entries.lock().expect("lock").clone();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(
            (entry.outcome, entry.action()),
            (403, Some(Action::ResearchExport))
        );
        assert_eq!(entry.actor.as_deref(), Some("u1"));
        assert_eq!(entry.role.as_deref(), Some("physician"));
        assert!(entry.resource_ids.is_empty() && entry.resource_type.is_none());
        assert_eq!(entry.client_ip.as_deref(), Some("10.0.0.1"));
    }

    #[tokio::test]
    async fn a_kick_off_is_queued_for_the_researcher_and_audited_with_its_types() {
        let exports = exports().await;
        let recorder = Recorder::default();
        let types = Some(vec!["Patient".to_owned(), "Observation".to_owned()]);
        let body = async { Ok::<_, ConsentError>(ResearchRequest::parse(types, None, false)?) };
        let ctx = as_user(Role::Researcher);
        let job = exports
            .create(&ctx, &recorder, None, body)
            .await
            .expect("queued");
        assert_eq!(job.owner.as_deref(), Some("u1"));
        let entries = recorder.entries.lock().expect("lock").clone();
        assert_eq!(entries[0].outcome, 202);
        assert_eq!(
            entries[0].resource_type.as_deref(),
            Some("Patient,Observation")
        );
        assert_eq!(entries[0].resource_ids, [job.id.to_string()]);
        assert_eq!(entries[0].request_id, "req");
        assert!(entries[0].patients.is_empty());
        // A download of a file that does not exist is audited as 404.
        let err = exports
            .download(&ctx, &recorder, None, "nonsense", "Patient")
            .await
            .expect_err("no such export");
        assert_eq!(err.kind(), medilink_fhir::ErrorKind::NotFound);
        let entries = recorder.entries.lock().expect("lock").clone();
        assert_eq!(
            (entries[1].outcome, entries[1].resource_types.clone()),
            (404, vec!["Patient".to_owned()])
        );
    }

    #[tokio::test]
    async fn an_answer_whose_record_is_not_stored_is_withheld() {
        let exports = exports().await;
        let recorder = Recorder {
            refuse: true,
            ..Recorder::default()
        };
        let body = async { Ok::<_, ConsentError>(ResearchRequest::parse(None, None, false)?) };
        let err = exports
            .create(&as_user(Role::Researcher), &recorder, None, body)
            .await
            .expect_err("withheld");
        assert_eq!(err.kind(), medilink_fhir::ErrorKind::Unavailable);
    }

    /// Remembers who was told what.
    #[derive(Debug, Default)]
    struct RecordingNotify(Mutex<Vec<(Vec<Recipient>, Event)>>);

    #[async_trait]
    impl Notify for RecordingNotify {
        async fn notify(
            &self,
            recipients: &[Recipient],
            event: &Event,
        ) -> medilink_fhir::FhirResult<usize> {
            let mut told = self.0.lock().expect("lock");
            told.push((recipients.to_vec(), event.clone()));
            Ok(recipients.len())
        }
    }

    // Issue #14: a finished export is told to the researcher who asked, once per job.
    #[tokio::test]
    async fn a_finished_export_is_told_to_its_researcher() {
        let notify = Arc::new(RecordingNotify::default());
        let exports = exports().await.with_notify(notify.clone());
        let request = ResearchRequest::parse(None, None, false).expect("request");
        let job = exports
            .start(&as_user(Role::Researcher), request)
            .await
            .expect("queued");
        exports.run(&job).await.expect("export runs");
        let told = notify.0.lock().expect("lock").clone();
        assert_eq!(told.len(), 1);
        let (recipients, event) = &told[0];
        assert_eq!(recipients, &[Recipient::User(UserId("u1".into()))]);
        assert_eq!(event.kind, NotificationKind::ResearchExportReady);
        assert!(event.parameters.is_empty(), "no content in the notice");
        assert_eq!(
            event.dedup_key.as_deref(),
            Some(format!("research.export_ready:{}", job.id).as_str())
        );
    }

    #[test]
    fn requests_are_validated() {
        let all = ResearchRequest::parse(None, None, false).expect("default");
        assert!(all.types.contains(&"Patient".to_owned()));
        assert!(!all.types.contains(&"Practitioner".to_owned()));
        let some = ResearchRequest::parse(
            Some(vec![
                "Observation".into(),
                "Patient".into(),
                "Observation".into(),
            ]),
            Some("2024-01-01T00:00:00Z".into()),
            true,
        )
        .expect("valid");
        assert_eq!(some.types, ["Observation", "Patient"]);
        for (types, since) in [
            (Some(vec!["Nonsense".to_owned()]), None),
            (Some(vec!["Practitioner".to_owned()]), None),
            (Some(vec![]), None),
            (None, Some("yesterday".to_owned())),
        ] {
            assert!(ResearchRequest::parse(types, since, false).is_err());
        }
    }
}
