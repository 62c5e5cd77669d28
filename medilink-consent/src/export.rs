//! FHIR Bulk Data `$export` (Bulk Data Access IG 2.0.0): the kick-off request, the
//! `fhir.export` job that writes one NDJSON blob per type, and the requester's view of it.
//!
//! The job runs **as the caller**: its payload holds the caller's identity, and the handler
//! rebuilds the consent-guarded store around it, so every page it reads is a guarded search
//! (the guard restricts the query itself; nothing is filtered afterwards). A physician's
//! export therefore holds only the consented patients' data of the types the grants cover, a
//! patient's only their own compartment, an admin's everything; researchers are refused at
//! kick-off (they get de-identified research exports instead). Grants are read afresh for
//! every run (a key-value cache of the run's own), so a revocation before the run counts.
//!
//! A finished run appends one audit record (action `export-job`, request id `export-{job}`,
//! when [`BulkExport::with_audit`] gave it the trail) naming every patient whose data went
//! into the files and the types exported: the run's guarded searches fill a summarizing
//! [`Accessed`] sink. A run whose record cannot be stored fails (and is retried).
//!
//! Files are `exports/{job}/{Type}.ndjson` in the [`BlobStore`], written page by page through
//! a [`medilink_fhir::blob::BlobWriter`]: current versions only, no tombstones, and never
//! more than one page in memory. A job is visible to its owner and to admins only; to anyone
//! else it does not exist.
//!
//! The manifest's `transactionTime` is when the run began reading (issue #15), not the
//! kick-off. A cancelled export leaves no file: the writer looks at the job after every page
//! and, once it is cancelled, stops and deletes what it wrote; the run then deletes every
//! file of the job (a `DELETE` racing a file being written would otherwise leave that file).

use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::blob::{BlobStore, BlobWriter};
use medilink_fhir::jobs::JobKind;
use medilink_fhir::jobs::{Job, JobQueue, JobStatus, NewJob};
use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::search::{Criterion, SearchQuery};
use medilink_fhir::{
    Accessed, Clock, FhirError, IssueCode, RequestContext, ResourceId, ResourceStore, ResourceType,
};
use medilink_platform::Action;
use medilink_platform::worker::{JobError, JobHandler, JobOutcome};
use medilink_platform::{AuditEntry, AuditLog, Role, UserId};
use medilink_platform::{Caller, CallerContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::compartment::is_compartment_type;
use crate::error::{ConsentError, ConsentResult};
use crate::guard::ConsentGuard;
use crate::mail::LogMailer;
use crate::policy::{Access, access};
use crate::service::ConsentService;

/// The job kind.
pub const KIND: &str = "fhir.export";
/// The accepted `_outputFormat` values (all mean NDJSON).
pub const OUTPUT_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];
/// Resources read per guarded search page.
pub(crate) const PAGE: usize = 1000;
/// Lines buffered before they are handed to the blob writer.
const FLUSH_BYTES: usize = 64 * 1024;

/// Which resources an export covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "level", content = "patient", rename_all = "snake_case")]
pub enum ExportLevel {
    /// `GET [base]/$export`: every type the caller may see.
    System,
    /// `GET [base]/Patient/$export`: the Patient compartments the caller may see.
    Patients,
    /// `GET [base]/Patient/{id}/$export`: one patient's compartment.
    Patient(String),
}

/// A validated kick-off request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// The level.
    pub level: ExportLevel,
    /// `_type` (names; empty: every type of the level).
    pub types: Vec<String>,
    /// `_since`, as given (a valid instant).
    pub since: Option<String>,
    /// The kick-off URL (the manifest's `request`).
    pub request_url: String,
}

fn bad(param: &str, diagnostics: String) -> FhirError {
    FhirError::invalid(IssueCode::Value, Some(param.to_owned()), diagnostics)
}

impl ExportRequest {
    /// Validates the kick-off parameters: `_outputFormat` (NDJSON only), `_since` (an
    /// instant), `_type` (known types); `_typeFilter`, `_elements`, `patient` and
    /// `includeAssociatedData` are not supported, and unknown parameters are refused.
    pub fn parse(
        level: ExportLevel,
        params: &[(String, String)],
        request_url: String,
    ) -> Result<ExportRequest, FhirError> {
        let mut request = ExportRequest {
            level,
            types: Vec::new(),
            since: None,
            request_url,
        };
        for (name, value) in params {
            match name.as_str() {
                "_format" | "_pretty" => {}
                "_outputFormat" => {
                    if !OUTPUT_FORMATS.contains(&value.as_str()) {
                        return Err(bad(
                            name,
                            format!(
                                "_outputFormat {value:?} is not supported: use application/fhir+ndjson"
                            ),
                        ));
                    }
                }
                "_since" => {
                    time::OffsetDateTime::parse(
                        value,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| bad(name, format!("_since {value:?} is not an instant")))?;
                    request.since = Some(value.clone());
                }
                "_type" => {
                    for type_name in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        if ResourceType::from_name(type_name).is_none() {
                            return Err(bad(
                                name,
                                format!("_type {type_name:?} is not a resource type"),
                            ));
                        }
                        request.types.push(type_name.to_owned());
                    }
                }
                "_typeFilter" | "_elements" | "includeAssociatedData" | "patient" => {
                    return Err(FhirError::invalid(
                        IssueCode::NotSupported,
                        Some(name.clone()),
                        format!("{name} is not supported by this server's $export"),
                    ));
                }
                _ => {
                    return Err(FhirError::invalid(
                        IssueCode::NotSupported,
                        Some(name.clone()),
                        format!("unknown $export parameter {name:?}"),
                    ));
                }
            }
        }
        Ok(request)
    }

    /// The types the export reads, in order: `_type`, else every type; at the patient levels
    /// only types of the Patient compartment.
    pub fn resource_types(&self) -> Vec<ResourceType> {
        let mut types: Vec<ResourceType> = if self.types.is_empty() {
            ResourceType::ALL.to_vec()
        } else {
            self.types
                .iter()
                .filter_map(|name| ResourceType::from_name(name))
                .collect()
        };
        if self.level != ExportLevel::System {
            types.retain(|resource_type| is_compartment_type(*resource_type));
        }
        types.dedup();
        types
    }
}

/// The caller an export runs as (in the job payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    /// The requester's user id.
    pub user_id: String,
    /// Their role's name.
    pub role: String,
    /// Whether they had passed MFA.
    pub mfa: bool,
    /// A patient user's own `Patient` id.
    pub patient_id: Option<String>,
    /// The SMART app the kick-off came through, with its scopes (issue #17): the run is
    /// narrowed exactly as the kick-off's requests were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<medilink_platform::smart::scopes::AppAccess>,
}

/// The payload of a `fhir.export` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPayload {
    /// Whom the job runs as.
    pub run_as: RunAs,
    /// The validated kick-off request.
    pub request: ExportRequest,
    /// The kick-off instant (kept for the record; the manifest's `transactionTime` is the
    /// run's start).
    pub transaction_time: String,
}

/// One file of a finished export (of either kind): a type and its line count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFile {
    /// The resource type's name.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Lines (resources) in the file.
    pub count: u64,
}

/// The result of a finished `fhir.export` job (the manifest without URLs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportResult {
    /// The instant the run began reading the data.
    #[serde(rename = "transactionTime")]
    pub transaction_time: String,
    /// The kick-off URL.
    pub request: String,
    /// The files written, in type order (types without lines have none).
    pub output: Vec<ExportFile>,
}

/// A file of an export manifest: its type, where to download it and its line count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestFile {
    /// The resource type's name.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The download URL.
    pub url: String,
    /// Lines (resources) in the file.
    pub count: u64,
}

/// The manifest entries of `files` (of either kind of export), each with the URL `file_url`
/// gives for its type name.
pub fn manifest_files(
    files: &[ExportFile],
    file_url: impl Fn(&str) -> String,
) -> Vec<ManifestFile> {
    files
        .iter()
        .map(|file| ManifestFile {
            resource_type: file.resource_type.clone(),
            url: file_url(&file.resource_type),
            count: file.count,
        })
        .collect()
}

/// The Bulk Data manifest of a completed export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The instant the data was read (the run's start).
    #[serde(rename = "transactionTime")]
    pub transaction_time: Option<String>,
    /// The kick-off URL.
    pub request: Option<String>,
    /// Always `true`: the files need the requester's token.
    #[serde(rename = "requiresAccessToken")]
    pub requires_access_token: bool,
    /// The files.
    pub output: Vec<ManifestFile>,
    /// Error files (none are written).
    pub error: Vec<ManifestFile>,
}

/// Where a bulk export stands ([`BulkExport::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportStatus {
    /// Waiting for a worker.
    Queued,
    /// Running.
    InProgress,
    /// Done: the manifest.
    Completed(Manifest),
    /// Failed, with the job's last error.
    Failed(String),
}

impl JobKind for BulkExport {
    const KIND: &'static str = KIND;
    type Payload = ExportPayload;
    type Result = ExportResult;
}

/// The blob key of a job's file for `resource_type`.
pub fn file_key(job: Uuid, resource_type: ResourceType) -> String {
    format!("exports/{job}/{resource_type}.ndjson")
}

/// Bulk export: kick-off, status, cancel, files, and the `fhir.export` job handler.
#[derive(Debug, Clone)]
pub struct BulkExport {
    store: Arc<dyn ResourceStore>,
    blobs: Arc<dyn BlobStore>,
    jobs: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<dyn AuditLog>>,
}

fn not_found(id: &str) -> ConsentError {
    ConsentError::ExportNotFound { id: id.to_owned() }
}

/// The types a `fhir.export` job's payload reads.
fn payload_types(job: &Job) -> ConsentResult<Vec<ResourceType>> {
    Ok(job.payload_of::<BulkExport>()?.request.resource_types())
}

impl BulkExport {
    /// Exports from the platform's `store` (guarded per job) into `blobs`, queued on `jobs`.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        blobs: Arc<dyn BlobStore>,
        jobs: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        BulkExport {
            store,
            blobs,
            jobs,
            clock,
            audit: None,
        }
    }

    /// Also append one record per finished export to `audit`, naming the patients exported.
    pub fn with_audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The record of a finished run of `job` as `ctx`, from its disclosure sink.
    async fn audit_run(&self, ctx: &RequestContext, job: &Job) -> Result<(), JobError> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let (actor, role) = match ctx.caller() {
            Caller::User { user_id, role, .. } => {
                (Some(user_id.to_string()), Some(role.as_str().to_owned()))
            }
            _ => (None, None),
        };
        let entry = AuditEntry {
            at: self.clock.now(),
            actor,
            role,
            action: Action::ExportJob.into(),
            resource_type: None,
            resource_ids: Vec::new(),
            patients: Default::default(),
            resource_types: Vec::new(),
            outcome: 200,
            client_ip: None,
            request_id: ctx.request_id.clone(),
            detail: None,
        }
        .disclosing(&ctx.accessed.summary());
        audit.append(&[entry]).await.map_err(|err| {
            tracing::error!(error = %err, job = %job.id, "export audit record not stored");
            JobError::retryable("audit trail unavailable")
        })
    }

    /// The store guarded for one run: grants read afresh (a cache of the run's own).
    fn guard(&self) -> ConsentGuard<Arc<dyn ResourceStore>> {
        let consents = ConsentService::new(
            self.store.clone(),
            Arc::new(LocalKeyValue::new(self.clock.clone())),
            self.clock.clone(),
            Arc::new(LogMailer),
        );
        ConsentGuard::new(self.store.clone(), Arc::new(consents))
    }

    /// Kick-off: queues the export of `request` for the caller of `ctx`. Researchers (and
    /// anyone not signed in) are refused; a patient the caller may not see is not found.
    pub async fn start(&self, ctx: &RequestContext, request: ExportRequest) -> ConsentResult<Job> {
        let Caller::User {
            user_id,
            role,
            mfa,
            patient_id,
            ..
        } = ctx.caller()
        else {
            return Err(ConsentError::Forbidden {
                reason: "not signed in",
            });
        };
        if *role == Role::Researcher {
            return Err(ConsentError::Forbidden {
                reason: "researchers receive de-identified research exports only",
            });
        }
        if let ExportLevel::Patient(id) = &request.level {
            self.check_patient(ctx, &request, id).await?;
        }
        let payload = ExportPayload {
            run_as: RunAs {
                user_id: user_id.0.clone(),
                role: role.as_str().to_owned(),
                mfa: *mfa,
                patient_id: patient_id.as_ref().map(|id| id.as_str().to_owned()),
                app: ctx.caller().app().cloned(),
            },
            request,
            transaction_time: medilink_fhir::clock::format_instant(self.clock.now()),
        };
        let mut job = NewJob::of::<Self>(&payload)?;
        job.owner = Some(user_id.0.clone());
        job.max_attempts = 3;
        Ok(self.jobs.enqueue(job).await?)
    }

    /// A one-patient export is for a patient some of whose requested data the caller may see
    /// (else the patient is not found, like a missing one): the same restriction the guard
    /// puts on the job's queries.
    async fn check_patient(
        &self,
        ctx: &RequestContext,
        request: &ExportRequest,
        id: &str,
    ) -> ConsentResult<()> {
        let principal = ctx.caller().clone();
        let guard = self.guard();
        let grants = match &principal {
            Caller::User {
                role: Role::Physician,
                user_id,
                ..
            } => guard.consents().grants_of_grantee(user_id.as_str()).await?,
            _ => Arc::from(Vec::new()),
        };
        let now = self.clock.now();
        let visible = request.resource_types().into_iter().any(|resource_type| {
            match access(&principal, resource_type, &grants, now) {
                Access::All => true,
                Access::Patients { permitted, .. } => permitted.iter().any(|patient| patient == id),
                Access::Denied(_) => false,
            }
        });
        if visible {
            Ok(())
        } else {
            Err(FhirError::NotFound {
                resource_type: ResourceType::Patient,
                id: ResourceId::new(id.to_owned())?,
            }
            .into())
        }
    }

    /// The export job `id` if the caller of `ctx` requested it (or is an admin) and it was not
    /// cancelled; otherwise it does not exist.
    pub async fn job(&self, ctx: &RequestContext, id: &str) -> ConsentResult<Job> {
        visible_job(self.jobs.as_ref(), ctx, id, KIND, true).await
    }

    /// The status of the export `id` (visible as [`Self::job`]); a completed one's manifest
    /// names its files under `base` (`{base}/$export-file/{id}/{Type}.ndjson`).
    pub async fn status(
        &self,
        ctx: &RequestContext,
        id: &str,
        base: &str,
    ) -> ConsentResult<ExportStatus> {
        let job = self.job(ctx, id).await?;
        Ok(match job.status {
            JobStatus::Pending => ExportStatus::Queued,
            JobStatus::Processing => ExportStatus::InProgress,
            JobStatus::Completed => {
                let result = job.result_of::<Self>();
                let output = result.as_ref().map_or(&[][..], |result| &result.output);
                let url =
                    |type_name: &str| format!("{base}/$export-file/{}/{type_name}.ndjson", job.id);
                ExportStatus::Completed(Manifest {
                    transaction_time: result.as_ref().map(|r| r.transaction_time.clone()),
                    request: result.as_ref().map(|r| r.request.clone()),
                    requires_access_token: true,
                    output: manifest_files(output, url),
                    error: Vec::new(),
                })
            }
            _ => ExportStatus::Failed(job.last_error.unwrap_or_else(|| "unknown error".to_owned())),
        })
    }

    /// Cancels the export `id` (whatever its state) and deletes its files.
    pub async fn cancel(&self, ctx: &RequestContext, id: &str) -> ConsentResult<()> {
        let job = self.job(ctx, id).await?;
        let types = payload_types(&job)?;
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

    /// Writes the file of one type; its line count (`0`: no file, the caller may not see the
    /// type, or nothing matched).
    async fn export_type(
        &self,
        store: &ConsentGuard<Arc<dyn ResourceStore>>,
        ctx: &RequestContext,
        job: Uuid,
        payload: &ExportPayload,
        resource_type: ResourceType,
    ) -> Result<Option<u64>, FhirError> {
        let mut query = page_query(resource_type, payload.request.since.as_deref())?;
        if let ExportLevel::Patient(id) = &payload.request.level {
            query
                .criteria
                .push(Criterion::PatientCompartment(vec![id.clone()]));
        }
        let key = file_key(job, resource_type);
        let watch = Some((self.jobs.as_ref(), job));
        write_ndjson(
            self.blobs.as_ref(),
            store,
            ctx,
            query,
            &key,
            watch,
            |json| Ok(Some(one_line(json)?)),
        )
        .await
    }
}

/// The first page query of an export of `resource_type`: current versions, [`PAGE`] at a
/// time, no total, changed after `since` when given.
pub(crate) fn page_query(
    resource_type: ResourceType,
    since: Option<&str>,
) -> Result<SearchQuery, FhirError> {
    let mut params = vec![
        ("_count".to_owned(), PAGE.to_string()),
        ("_total".to_owned(), "none".to_owned()),
    ];
    if let Some(since) = since {
        params.push(("_lastUpdated".to_owned(), format!("gt{since}")));
    }
    SearchQuery::parse(resource_type, &params, true)
}

/// A stored resource's JSON as one NDJSON line (without the newline).
fn one_line(json: &str) -> Result<String, FhirError> {
    if json.contains('\n') {
        let value: Value =
            serde_json::from_str(json).map_err(|err| FhirError::Internal { source: err.into() })?;
        Ok(value.to_string())
    } else {
        Ok(json.to_owned())
    }
}

/// Pages through `query` on `store` as `ctx` and writes the line `line` makes of each match
/// (`None`: skip it) to the blob `key`, never more than one page in memory; the line count.
/// No lines, no blob. A search the caller's role may never make (`Forbidden` on the first
/// page) counts as no lines. With `watch` (the queue and the job), the job is looked at after
/// every page: once it is cancelled (or gone) the writing stops, what was written of `key` is
/// deleted and the answer is `None`.
pub(crate) async fn write_ndjson<S, F>(
    blobs: &dyn BlobStore,
    store: &S,
    ctx: &RequestContext,
    mut query: SearchQuery,
    key: &str,
    watch: Option<(&dyn JobQueue, Uuid)>,
    mut line: F,
) -> Result<Option<u64>, FhirError>
where
    S: ResourceStore + ?Sized,
    F: FnMut(&str) -> Result<Option<String>, FhirError> + Send,
{
    let mut writer: Option<Box<dyn BlobWriter>> = None;
    let mut buffer = Vec::new();
    let mut count = 0u64;
    loop {
        let page = match store.search(ctx, &query).await {
            Ok(page) => page,
            // The caller's role never sees this type: no file.
            Err(FhirError::Forbidden { .. }) if count == 0 => return Ok(Some(0)),
            Err(err) => return Err(err),
        };
        for stored in &page.matches {
            let Some(json) = stored.json.as_deref() else {
                continue;
            };
            let Some(text) = line(json)? else {
                continue;
            };
            buffer.extend_from_slice(text.as_bytes());
            buffer.push(b'\n');
            count += 1;
            if buffer.len() >= FLUSH_BYTES {
                let open = match writer.as_mut() {
                    Some(open) => open,
                    None => writer.insert(blobs.writer(key).await?),
                };
                open.write(std::mem::take(&mut buffer)).await?;
            }
        }
        if let Some((jobs, job)) = watch
            && cancelled(jobs, job).await?
        {
            // Never closed: nothing complete was written; remove whatever part was.
            drop(writer);
            blobs.delete(key).await?;
            return Ok(None);
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    if count > 0 {
        let mut open = match writer {
            Some(open) => open,
            None => blobs.writer(key).await?,
        };
        if !buffer.is_empty() {
            open.write(buffer).await?;
        }
        open.close().await?;
    }
    Ok(Some(count))
}

/// The job `id` of `kind` if the caller of `ctx` requested it (or is an admin in their own
/// session and `admins` may see such jobs) and it was not cancelled; otherwise it does not
/// exist. A job is seen through the SMART app it was kicked off through only (issue #17),
/// and a job of the requester's own session through no app; a Backend Services client (an
/// admin through its app) sees its own jobs only.
pub(crate) async fn visible_job(
    jobs: &dyn JobQueue,
    ctx: &RequestContext,
    id: &str,
    kind: &str,
    admins: bool,
) -> ConsentResult<Job> {
    let Caller::User { user_id, role, .. } = ctx.caller() else {
        return Err(not_found(id));
    };
    let uuid = Uuid::parse_str(id).map_err(|_| not_found(id))?;
    let job = jobs.get(uuid).await?.ok_or_else(|| not_found(id))?;
    let job_app = job.payload["run_as"]["app"]["client_id"].as_str();
    let caller_app = ctx.caller().app().map(|app| app.client_id.as_str());
    let owner = job.owner.as_deref() == Some(user_id.0.as_str()) && job_app == caller_app;
    let admin = admins && *role == Role::Admin && caller_app.is_none();
    if job.kind != kind || job.status == JobStatus::Cancelled || !(owner || admin) {
        return Err(not_found(id));
    }
    Ok(job)
}

/// Cancels `job` (whatever its state) and deletes its files of `types`.
pub(crate) async fn cancel_job(
    jobs: &dyn JobQueue,
    blobs: &dyn BlobStore,
    job: &Job,
    types: &[ResourceType],
) -> ConsentResult<()> {
    let from = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
    ];
    if !jobs
        .transition(job.id, &from, JobStatus::Cancelled, None)
        .await?
    {
        return Err(not_found(&job.id.to_string()));
    }
    delete_files(blobs, job.id, types).await
}

/// Deletes the files of `types` of the export `job`.
pub(crate) async fn delete_files(
    blobs: &dyn BlobStore,
    job: Uuid,
    types: &[ResourceType],
) -> ConsentResult<()> {
    for resource_type in types {
        blobs.delete(&file_key(job, *resource_type)).await?;
    }
    Ok(())
}

/// The blob key and size of the completed `job`'s file for `type_name`, when its result's
/// `output` lists that type.
pub(crate) async fn listed_file(
    blobs: &dyn BlobStore,
    job: &Job,
    output: Option<Vec<ExportFile>>,
    type_name: &str,
) -> ConsentResult<(String, u64)> {
    let id = job.id.to_string();
    let listed = job.status == JobStatus::Completed
        && output.is_some_and(|files| files.iter().any(|file| file.resource_type == type_name));
    let resource_type = ResourceType::from_name(type_name).filter(|_| listed);
    let Some(resource_type) = resource_type else {
        return Err(not_found(&id));
    };
    let key = file_key(job.id, resource_type);
    let size = blobs.size(&key).await?.ok_or_else(|| not_found(&id))?;
    Ok((key, size))
}

/// A run that found its job cancelled: deletes every file of `types` it may have written and
/// ends (permanently: the job is not run again).
pub(crate) async fn discard(blobs: &dyn BlobStore, job: Uuid, types: &[ResourceType]) -> JobError {
    if let Err(err) = delete_files(blobs, job, types).await {
        tracing::error!(error = %err, %job, "files of a cancelled export not deleted");
        return JobError::retryable("files of a cancelled export not deleted");
    }
    JobError::permanent("cancelled")
}

/// Whether `job` was cancelled (or removed) while it ran.
pub(crate) async fn cancelled(jobs: &dyn JobQueue, job: Uuid) -> Result<bool, FhirError> {
    Ok(jobs
        .get(job)
        .await?
        .is_none_or(|now| now.status == JobStatus::Cancelled))
}

/// The request context of the export's caller.
fn context(job: &Job, run_as: &RunAs) -> Result<RequestContext, JobError> {
    let role = Role::parse(&run_as.role).ok_or_else(|| JobError::permanent("unknown role"))?;
    let caller = Caller::user(
        UserId(run_as.user_id.clone()),
        role,
        run_as.mfa,
        run_as
            .patient_id
            .as_ref()
            .and_then(|id| ResourceId::new(id.clone()).ok()),
    );
    let caller = match &run_as.app {
        Some(app) => caller.through_app(app.clone()),
        None => caller,
    };
    let mut context = RequestContext::for_caller(caller, format!("export-{}", job.id));
    // Patients and types only: an export may hold millions of resources.
    context.accessed = Accessed::summarizing();
    Ok(context)
}

#[async_trait]
impl JobHandler for BulkExport {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let payload = job
            .payload_of::<Self>()
            .map_err(|_| JobError::permanent("invalid export payload"))?;
        let ctx = context(job, &payload.run_as)?;
        if ctx.caller().role() == Some(Role::Researcher) {
            return Err(JobError::permanent(
                "researchers may not export patient data",
            ));
        }
        let store = self.guard();
        // Issue #15: `transactionTime` is when the data is read, i.e. now, before the first page.
        let transaction_time = medilink_fhir::clock::format_instant(self.clock.now());
        // Through a SMART app: the types its scopes let it read (issue #17).
        let types: Vec<ResourceType> = payload
            .request
            .resource_types()
            .into_iter()
            .filter(|resource_type| {
                ctx.caller()
                    .app()
                    .is_none_or(|app| app.permits(*resource_type, false))
            })
            .collect();
        let mut output = Vec::new();
        for resource_type in &types {
            let written = self
                .export_type(&store, &ctx, job.id, &payload, *resource_type)
                .await;
            let count = match written {
                Ok(Some(count)) => count,
                Ok(None) => return Err(discard(self.blobs.as_ref(), job.id, &types).await),
                Err(err) => {
                    let _ = delete_files(self.blobs.as_ref(), job.id, &types).await;
                    return Err(err.into());
                }
            };
            if count > 0 {
                output.push(ExportFile {
                    resource_type: resource_type.as_str().to_owned(),
                    count,
                });
            }
            if cancelled(self.jobs.as_ref(), job.id).await? {
                return Err(discard(self.blobs.as_ref(), job.id, &types).await);
            }
        }
        self.audit_run(&ctx, job).await?;
        JobOutcome::completed_as::<Self>(&ExportResult {
            transaction_time,
            request: payload.request.request_url,
            output,
        })
    }
}

#[cfg(test)]
mod tests;
