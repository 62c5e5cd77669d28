//! The [`JobQueue`] seam: a durable queue of background jobs (document ingest, exports,
//! e-mail, periodic maintenance), at-least-once with leases.
//!
//! A worker [`lease`](JobQueue::lease)s a job for a time; while it holds the lease nobody else
//! gets the job. It then [`complete`](JobQueue::complete)s it, or
//! [`fail`](JobQueue::fail)s it (retried with backoff until `max_attempts`, then `failed` with
//! the reason: the dead letter). A worker that dies loses its lease when it runs out, and the
//! job becomes leasable again. Handlers must therefore be idempotent.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{FhirError, FhirResult};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting to be leased (also after a failed attempt that will be retried).
    Pending,
    /// Leased by a worker.
    Processing,
    /// Done.
    Completed,
    /// Done, but its output waits for a person's review before it is published.
    NeedsReview,
    /// Given up: attempts exhausted or a permanent error.
    Failed,
    /// Cancelled by its owner before it completed.
    Cancelled,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::NeedsReview,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::NeedsReview => "needs_review",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the job is done for good (no lease, retry or transition out of it by a worker).
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Pending | JobStatus::Processing)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl NewJob {
    /// A job of `kind` with `payload`, no owner, 5 attempts, runnable now.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            owner: None,
            max_attempts: 5,
            run_at: None,
        }
    }
}

/// What [`JobQueue::recover_expired`] did with jobs whose lease ran out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecovery {
    /// Put back to `pending` (attempts remained).
    pub requeued: u64,
    /// Marked `failed` (the lost attempt was the last one).
    pub failed: u64,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The handler that runs it (`document.ingest`, `maintenance.tokens`, …).
    pub kind: String,
    /// Handler input.
    pub payload: serde_json::Value,
    /// On whose behalf it runs (the owner: an opaque id of the crates above), if any.
    pub owner: Option<String>,
    /// Attempts before the job is `failed`.
    pub max_attempts: u32,
    /// Not leased before this instant (`None`: now).
    pub run_at: Option<OffsetDateTime>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Job id.
    pub id: Uuid,
    /// Handler kind.
    pub kind: String,
    /// Handler input.
    pub payload: serde_json::Value,
    /// Owner.
    pub owner: Option<String>,
    /// Status.
    pub status: JobStatus,
    /// Attempts started so far (a lease is an attempt).
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Earliest next lease.
    pub run_at: OffsetDateTime,
    /// While processing: when the lease runs out.
    pub lease_until: Option<OffsetDateTime>,
    /// While processing: the worker holding the lease.
    pub leased_by: Option<String>,
    /// The last error, readable by a person.
    pub last_error: Option<String>,
    /// Handler output (counts, analysis, …).
    pub result: Option<serde_json::Value>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// The W3C `traceparent` of the trace that enqueued the job (see
    /// [`set_trace_context_source`]), so that its run continues that trace; `None` when
    /// tracing was off.
    pub trace_context: Option<String>,
}

/// Where [`trace_context_now`] reads the current trace context from: set once by a host that
/// exports traces (`medilink_platform::telemetry`), never otherwise.
static TRACE_CONTEXT_SOURCE: std::sync::OnceLock<fn() -> Option<String>> =
    std::sync::OnceLock::new();

/// Makes every job enqueued from now on carry the trace context `source` returns at the time
/// (a W3C `traceparent`). A host calls it once when it turns tracing on; `false` when a source
/// was already set. This crate knows nothing of the tracing system: the source is opaque.
pub fn set_trace_context_source(source: fn() -> Option<String>) -> bool {
    TRACE_CONTEXT_SOURCE.set(source).is_ok()
}

/// The trace context to store with a job enqueued now: `None` (at the cost of one atomic load)
/// unless a host set a source.
pub fn trace_context_now() -> Option<String> {
    TRACE_CONTEXT_SOURCE.get().and_then(|source| source())
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    /// Only this owner's.
    pub owner: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<JobStatus>,
    /// Only jobs created before this instant.
    pub created_before: Option<OffsetDateTime>,
    /// At most this many, newest first (`None`: 100).
    pub limit: Option<u32>,
}

/// The durable job queue.
#[async_trait]
pub trait JobQueue: Send + Sync + Debug {
    /// Stores a pending job and returns it.
    async fn enqueue(&self, job: NewJob) -> FhirResult<Job>;
    /// Stores a pending job unless a job with the same `unique_key` is pending or processing
    /// (then `None`): at most one live instance per key, across every process sharing the
    /// queue (periodic jobs).
    async fn enqueue_unique(&self, job: NewJob, unique_key: &str) -> FhirResult<Option<Job>>;
    /// Stores a pending job with the id `id` unless a job with that id exists, whatever its
    /// status; returns the stored job either way, and whether this call stored it. A job whose
    /// id is derived from what it works on (the `DocumentReference` of a `document.ingest`)
    /// is then queued at most once, however many callers race to queue it (issue #24).
    async fn enqueue_with_id(&self, job: NewJob, id: Uuid) -> FhirResult<(Job, bool)>;
    /// Leases the oldest runnable job of one of `kinds` (pending with `run_at` due, or
    /// processing with an expired lease and attempts left) to `worker` for `lease`, counting
    /// an attempt. Two callers never get the same job while a lease holds. An empty `kinds`
    /// leases nothing.
    async fn lease(&self, worker: &str, kinds: &[&str], lease: Duration)
    -> FhirResult<Option<Job>>;
    /// Extends the lease `worker` holds on `id`; `false` when it no longer holds it (another
    /// worker leased the job, or the lease ran out: a worker that hung past its lease stops).
    async fn heartbeat(&self, id: Uuid, worker: &str, lease: Duration) -> FhirResult<bool>;
    /// Finishes a leased job with `status` (`Completed` or `NeedsReview`) and `result`;
    /// `false` when `worker` no longer holds the lease (nothing changes).
    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        status: JobStatus,
        result: serde_json::Value,
    ) -> FhirResult<bool>;
    /// Records a failed attempt: back to `pending` after `retry_after` when attempts remain and
    /// `retryable`, else `failed`. `false` when `worker` no longer holds the lease.
    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retryable: bool,
        retry_after: Duration,
    ) -> FhirResult<bool>;
    /// Gives a leased job back without counting the attempt (the worker is shutting down
    /// before the handler finished); `false` when `worker` no longer holds the lease.
    async fn release(&self, id: Uuid, worker: &str) -> FhirResult<bool>;
    /// Releases the jobs whose lease ran out (their worker died or hung): back to `pending`
    /// when attempts remain, else `failed` with the reason. Such jobs are leasable again even
    /// without this; it makes the dead letter and the counts exact.
    async fn recover_expired(&self) -> FhirResult<LeaseRecovery>;
    /// Deletes the finished jobs (completed, needs review, failed, cancelled) of `kind` last
    /// changed before `before`; returns how many (periodic jobs keep a bounded history).
    async fn delete_finished(&self, kind: &str, before: OffsetDateTime) -> FhirResult<u64>;
    /// Deletes the finished job `id` (not pending or processing); `false` when there is no
    /// such job or it is not finished (exports expired after their time to live).
    async fn delete(&self, id: Uuid) -> FhirResult<bool>;
    /// How many jobs are in each status (statuses with none left out).
    async fn count_by_status(&self) -> FhirResult<Vec<(JobStatus, u64)>>;
    /// How many jobs of each kind are in each status, and when the oldest pending job was
    /// queued (the admin statistics and health: one grouped count).
    async fn summary(&self) -> FhirResult<QueueSummary>;
    /// Stores `progress` as the result of the job `worker` holds, until the outcome's result
    /// replaces it (read back with [`Job::progress`]); `false` when `worker` no longer holds
    /// the lease (nothing changes).
    async fn report_progress(
        &self,
        id: Uuid,
        worker: &str,
        progress: JobProgress,
    ) -> FhirResult<bool>;
    /// The job `id`.
    async fn get(&self, id: Uuid) -> FhirResult<Option<Job>>;
    /// Jobs matching `filter`, newest first.
    async fn list(&self, filter: &JobFilter) -> FhirResult<Vec<Job>>;
    /// Sets a job's status and result outside a lease (cancel a pending job, accept a reviewed
    /// one); only from one of `from`. `false` when the job's status is not in `from`.
    async fn transition(
        &self,
        id: Uuid,
        from: &[JobStatus],
        to: JobStatus,
        result: Option<serde_json::Value>,
    ) -> FhirResult<bool>;
}

/// How far a running job is (`done` of `total` units, the kind's own: feed entries, records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Units done.
    pub done: u64,
    /// Units in all (at least `done`).
    pub total: u64,
}

/// What [`JobQueue::summary`] counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// `(kind, status, jobs)`, kinds and statuses without jobs left out.
    pub counts: Vec<(String, JobStatus, u64)>,
    /// When the oldest pending job was created (`None`: none pending).
    pub oldest_pending: Option<OffsetDateTime>,
}

impl QueueSummary {
    /// Jobs per status name, of the kinds `kinds` accepts.
    pub fn by_status(
        &self,
        kinds: impl Fn(&str) -> bool,
    ) -> std::collections::BTreeMap<String, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for (kind, status, n) in &self.counts {
            if kinds(kind) {
                *counts.entry(status.as_str().to_owned()).or_default() += n;
            }
        }
        counts
    }

    /// Jobs waiting to run.
    pub fn pending(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(_, status, _)| *status == JobStatus::Pending)
            .map(|(_, _, n)| n)
            .sum()
    }
}

/// How many jobs `queue` holds in every status, in [`JobStatus::ALL`]'s order, zero where it
/// holds none and saturated to `i64`: what both hosts' `medilink_jobs{status}` gauges show at
/// scrape time, so a status that empties reads 0 instead of keeping its last count.
pub async fn jobs_per_status(queue: &dyn JobQueue) -> FhirResult<[(JobStatus, i64); 6]> {
    let counts = queue.count_by_status().await?;
    Ok(JobStatus::ALL.map(|status| {
        let count = counts
            .iter()
            .find(|(counted, _)| *counted == status)
            .map_or(0, |(_, count)| *count);
        (status, i64::try_from(count).unwrap_or(i64::MAX))
    }))
}

// --- Job kinds -------------------------------------------------------------------------------
//
// [`JobKind`]: a job kind's name with the types of its payload and result, so jobs are
// enqueued and read through serde structs instead of JSON looked up by key. The stored form
// is unchanged: `jobs.payload` and `jobs.result` hold the JSON of these structs
// (`serde_json::to_value`), and a row written before a kind became typed decodes because each
// struct serializes exactly as the `json!` literal it replaced.

/// One job kind: its name (the `jobs.kind` column) and the shapes of its payload and result.
pub trait JobKind {
    /// The kind's name, as stored and as registered with the worker.
    const KIND: &'static str;
    /// What the job is given.
    type Payload: Serialize + DeserializeOwned;
    /// What a finished run stores.
    type Result: Serialize + DeserializeOwned;
}

/// The payload of the periodic (maintenance) kinds: an empty object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoPayload {}

fn internal(err: serde_json::Error) -> FhirError {
    FhirError::Internal { source: err.into() }
}

impl NewJob {
    /// A job of kind `K` with `payload` (no owner, 5 attempts, runnable now).
    pub fn of<K: JobKind>(payload: &K::Payload) -> Result<NewJob, FhirError> {
        Ok(NewJob::new(
            K::KIND,
            serde_json::to_value(payload).map_err(internal)?,
        ))
    }
}

impl Job {
    /// Whether this job is of kind `K`.
    pub fn is<K: JobKind>(&self) -> bool {
        self.kind == K::KIND
    }

    /// The payload as kind `K`'s (an error if the job is of another kind or the JSON does
    /// not decode).
    pub fn payload_of<K: JobKind>(&self) -> Result<K::Payload, FhirError> {
        if !self.is::<K>() {
            return Err(FhirError::Internal {
                source: format!("a {} job is not a {}", self.kind, K::KIND).into(),
            });
        }
        K::Payload::deserialize(&self.payload).map_err(internal)
    }

    /// The progress its handler last reported ([`JobQueue::report_progress`]), or that its
    /// final result keeps under `progress`; `None` when there is none.
    pub fn progress(&self) -> Option<JobProgress> {
        self.result
            .as_ref()
            .and_then(|result| result.get("progress"))
            .and_then(|progress| JobProgress::deserialize(progress).ok())
    }

    /// The result as kind `K`'s: `None` while there is none (or it does not decode, or the
    /// job is of another kind).
    pub fn result_of<K: JobKind>(&self) -> Option<K::Result> {
        self.result
            .as_ref()
            .filter(|_| self.is::<K>())
            .and_then(|result| K::Result::deserialize(result).ok())
    }
}
