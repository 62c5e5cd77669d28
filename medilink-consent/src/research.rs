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
//! `NotificationKind::ResearchExportReady` through the [`Notify`] seam given by
//! [`ResearchExport::with_notify`]), at most once per job.
//!
//! Issue #15: every export states its **purpose** (20 to 1,000 characters), kept in the job's
//! request and in the kick-off's audit record (`detail`); a researcher lists their own
//! exports ([`ResearchExport::list`]); an export and its files **expire** a time to live after
//! the kick-off ([`ResearchExport::with_ttl`], default [`DEFAULT_TTL`]): from then on it does
//! not exist for anyone, and the periodic `research.expiry` job (`expiry.rs`) deletes its
//! files and its job. With **k** (2 to 100) the export is k-anonymous over the patients'
//! quasi-identifiers ([`crate::deid::kanon`]): patients are generalised, those still in
//! groups smaller than k suppressed with all their resources, and the result's `anonymity`
//! says what was done. The run reports its progress (types written of all) and a cancelled
//! run leaves no file behind (see [`crate::export`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

mod expiry;
mod job;
#[cfg(test)]
mod tests;

pub use expiry::{EXPIRY_INTERVAL, EXPIRY_KIND, ExpiryResult, ResearchExpiry, register_expiry};

use async_trait::async_trait;
use medilink_fhir::blob::BlobStore;
use medilink_fhir::jobs::JobKind;
use medilink_fhir::jobs::{Job, JobFilter, JobQueue, JobStatus, NewJob};
use medilink_fhir::{Clock, FhirError, IssueCode, RequestContext, ResourceType};
use medilink_platform::notifications::{NoNotify, Notify};
use medilink_platform::{Action, AuditEntry, AuditLog, Role};
use medilink_platform::{Caller, CallerContext};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::deid::kanon::K_RANGE;
use crate::deid::{DeidError, Deidentifier};
use crate::error::{ConsentError, ConsentResult};
use crate::export::{ExportFile, cancel_job, listed_file, visible_job};

/// The job kind.
pub const KIND: &str = "research.export";
/// How long an export and its files are kept after the kick-off, unless the host says.
pub const DEFAULT_TTL: time::Duration = time::Duration::hours(168);
/// The shortest and longest purpose, in characters (trimmed).
pub const PURPOSE_CHARS: std::ops::RangeInclusive<usize> = 20..=1000;
/// Exports listed at most (newest first).
const LISTED: u32 = 1000;

/// A research export request as asked (the host's parsed body), before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResearchParams {
    /// The types (default: every exportable type).
    pub types: Option<Vec<String>>,
    /// Only resources changed after this instant.
    pub since: Option<String>,
    /// Only resources changed at or before this instant.
    pub until: Option<String>,
    /// Keep the first three digits of US ZIP codes.
    pub keep_zip3: bool,
    /// What the data is for (required).
    pub purpose: Option<String>,
    /// The k of k-anonymity, if asked.
    pub k: Option<i64>,
}

/// A validated research export request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchRequest {
    /// The types, in order, without duplicates (all exportable).
    pub types: Vec<String>,
    /// Only resources changed after this instant.
    pub since: Option<String>,
    /// Only resources changed at or before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Keep the first three digits of US ZIP codes.
    pub keep_zip3: bool,
    /// What the data is for, trimmed (empty only in exports queued before issue #15).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub purpose: String,
    /// The k of k-anonymity (none: not asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
}

fn bad(element: &str, diagnostics: String) -> FhirError {
    FhirError::invalid(IssueCode::Value, Some(element.to_owned()), diagnostics)
}

impl ResearchRequest {
    /// Validates a request: `types` (default: every exportable type) must be types the
    /// de-identifier exports, `since` and `until` instants (`since` before `until`), the
    /// purpose 20 to 1,000 characters once trimmed (no control characters but line breaks and
    /// tabs), `k` from 2 to 100.
    pub fn parse(params: ResearchParams) -> Result<ResearchRequest, FhirError> {
        let ResearchParams {
            types,
            since,
            until,
            keep_zip3,
            purpose,
            k,
        } = params;
        let purpose = parse_purpose(purpose)?;
        let k = match k {
            None => None,
            Some(k) => Some(
                u32::try_from(k)
                    .ok()
                    .filter(|k| K_RANGE.contains(k))
                    .ok_or_else(|| {
                        bad(
                            "k",
                            format!(
                                "k {k} is out of range ({} to {})",
                                K_RANGE.start(),
                                K_RANGE.end()
                            ),
                        )
                    })?,
            ),
        };
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
        let instant = |name: &str, value: &Option<String>| match value {
            None => Ok(None),
            Some(text) => OffsetDateTime::parse(text, &Rfc3339)
                .map(Some)
                .map_err(|_| bad(name, format!("{name} {text:?} is not an instant"))),
        };
        if let (Some(from), Some(to)) = (instant("since", &since)?, instant("until", &until)?)
            && to <= from
        {
            return Err(bad("until", "until must be after since".to_owned()));
        }
        Ok(ResearchRequest {
            types,
            since,
            until,
            keep_zip3,
            purpose,
            k,
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

/// The purpose, trimmed and checked.
fn parse_purpose(purpose: Option<String>) -> Result<String, FhirError> {
    let Some(purpose) = purpose.map(|text| text.trim().to_owned()) else {
        return Err(FhirError::invalid(
            IssueCode::Required,
            Some("purpose".to_owned()),
            "purpose is required: what the data is for (20 to 1000 characters)",
        ));
    };
    let chars = purpose.chars().count();
    if !PURPOSE_CHARS.contains(&chars) {
        return Err(bad(
            "purpose",
            format!("purpose has {chars} characters: give 20 to 1000"),
        ));
    }
    if purpose
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(bad(
            "purpose",
            "purpose holds control characters".to_owned(),
        ));
    }
    Ok(purpose)
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

/// What k-anonymity did to an export (its manifest's `anonymity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anonymity {
    /// The k asked for.
    pub k: u32,
    /// The quasi-identifiers the patients were grouped by.
    pub quasi_identifiers: Vec<String>,
    /// The generalisations applied, in order.
    pub generalisation: Vec<String>,
    /// Resources left out because they belong to a suppressed patient, per requested type
    /// (`Patient`: the patients suppressed).
    pub suppressed: BTreeMap<String, u64>,
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
    /// What k-anonymity did (none: not asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymity: Option<Anonymity>,
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

/// Research exports: kick-off, list, status, cancel, files, and the `research.export` job
/// handler.
#[derive(Clone)]
pub struct ResearchExport {
    store: Arc<dyn medilink_fhir::ResourceStore>,
    blobs: Arc<dyn BlobStore>,
    jobs: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    key: [u8; 32],
    notify: Arc<dyn Notify>,
    ttl: time::Duration,
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
            ttl: DEFAULT_TTL,
        }
    }

    /// Exports expire `ttl` after their kick-off (default [`DEFAULT_TTL`]).
    pub fn with_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.ttl = time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX);
        self
    }

    /// When the export `job` expires (and is deleted with its files).
    pub fn expires_at(&self, job: &Job) -> OffsetDateTime {
        job.created_at + self.ttl
    }

    /// Whether the export `job` has expired.
    fn expired(&self, job: &Job) -> bool {
        self.expires_at(job) <= self.clock.now()
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
    /// job, the purpose as the record's `detail`). An answer whose audit record is not stored
    /// is withheld (unavailable).
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
            self.audit(ctx, audit, client_ip, &[], "", 403, None)
                .await?;
            return Err(ConsentError::RoleRequired {
                reason: "research exports are for researchers only",
            }
            .into());
        }
        let request = request.await?;
        let types = request.types.clone();
        let purpose = request.purpose.clone();
        let job = self.start(ctx, request).await?;
        let id = job.id.to_string();
        self.audit(ctx, audit, client_ip, &types, &id, 202, Some(purpose))
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
        self.audit(ctx, audit, client_ip, &types, id, outcome, None)
            .await?;
        found
    }

    /// The cancel use case: [`Self::cancel`], audited with outcome 204, or 404 when there is
    /// no such export for the caller.
    pub async fn withdraw(
        &self,
        ctx: &RequestContext,
        audit: &dyn AuditRecorder,
        client_ip: Option<String>,
        id: &str,
    ) -> ConsentResult<()> {
        let cancelled = self.cancel(ctx, id).await;
        let outcome = if cancelled.is_ok() { 204 } else { 404 };
        self.audit(ctx, audit, client_ip, &[], id, outcome, None)
            .await?;
        cancelled
    }

    /// Records a kick-off, download or cancel (`types`: the types concerned; de-identified
    /// data names no patient; `purpose`: the kick-off's).
    #[allow(
        clippy::too_many_arguments,
        reason = "one record's fields, each from another source"
    )]
    async fn audit(
        &self,
        ctx: &RequestContext,
        audit: &dyn AuditRecorder,
        client_ip: Option<String>,
        types: &[String],
        id: &str,
        outcome: u16,
        purpose: Option<String>,
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
            detail: purpose,
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

    /// The research export `id` if the caller of `ctx` asked for it and it was neither
    /// cancelled nor expired; otherwise it does not exist.
    pub async fn job(&self, ctx: &RequestContext, id: &str) -> ConsentResult<Job> {
        let job = visible_job(self.jobs.as_ref(), ctx, id, KIND, false).await?;
        if self.expired(&job) {
            return Err(not_found(id));
        }
        Ok(job)
    }

    /// The research exports of the researcher of `ctx`, newest first (at most 1,000), without
    /// the cancelled and the expired ones; anyone else is refused.
    pub async fn list(&self, ctx: &RequestContext) -> ConsentResult<Vec<Job>> {
        let Caller::User {
            user_id,
            role: Role::Researcher,
            ..
        } = ctx.caller()
        else {
            return Err(ConsentError::RoleRequired {
                reason: "research exports are for researchers only",
            });
        };
        let filter = JobFilter {
            owner: Some(user_id.0.clone()),
            kind: Some(KIND.to_owned()),
            statuses: vec![
                JobStatus::Pending,
                JobStatus::Processing,
                JobStatus::Completed,
                JobStatus::Failed,
            ],
            limit: Some(LISTED),
            ..JobFilter::default()
        };
        let mut jobs = self.jobs.list(&filter).await?;
        jobs.retain(|job| !self.expired(job));
        Ok(jobs)
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
}
