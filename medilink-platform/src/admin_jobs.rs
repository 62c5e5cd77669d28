//! The jobs an admin starts (`POST /api/admin/reindex`, `POST /api/admin/audit/verify`), each
//! reporting its progress ([`JobQueue::report_progress`]) while it runs and keeping the final
//! numbers under `progress` in its result:
//!
//! | kind | does | registered by |
//! |---|---|---|
//! | `audit.verify` | recomputes the audit hash chain in steps, naming the first broken record and why | [`register_admin_jobs`]: every host (`medilink_jobs::register_jobs`) |
//! | `maintenance.reindex` | empties this process's full-text index and refills it from the whole change feed | [`register_reindex`]: a process holding an index (the server), next to `maintenance.fulltext` |
//!
//! The full-text index is per node (see [`crate::maintenance`]), so a reindex job rebuilds the
//! index of the server process that leases it; a `medilink-worker` holds no index and does not
//! take these jobs.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::AuditFilter;
use crate::audit::{AuditLog, GENESIS_HASH, check_records};
use crate::worker::{JobError, JobHandler, JobOutcome, Registry};
use medilink_fhir::jobs::{Job, JobKind, JobProgress, JobQueue, NoPayload};

/// Kind of the audit chain verification.
pub const AUDIT_VERIFY: &str = "audit.verify";
/// Kind of the full-text rebuild.
pub const REINDEX: &str = "maintenance.reindex";

/// Audit records read and checked per step.
const VERIFY_STEP: usize = 1000;

/// The first record that does not verify, as a job result keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenAt {
    /// Its position in the chain.
    pub seq: u64,
    /// What does not match.
    pub reason: String,
}

/// The result of an `audit.verify` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerifyResult {
    /// Records checked (up to the first broken one).
    pub records: u64,
    /// Whether the whole chain verified.
    pub ok: bool,
    /// The first broken record, if any.
    pub first_broken: Option<BrokenAt>,
    /// The final progress (`done` records of `total`).
    pub progress: JobProgress,
}

/// The result of a `maintenance.reindex` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReindexResult {
    /// Change-feed entries applied.
    pub applied: u64,
    /// The feed position the index is at afterwards.
    pub position: u64,
    /// The final progress (`done` feed positions of `total`).
    pub progress: JobProgress,
}

impl JobKind for AuditVerify {
    const KIND: &'static str = AUDIT_VERIFY;
    type Payload = NoPayload;
    type Result = AuditVerifyResult;
}

#[cfg(feature = "tantivy")]
impl JobKind for Reindex {
    const KIND: &'static str = REINDEX;
    type Payload = NoPayload;
    type Result = ReindexResult;
}

/// Registers `audit.verify` (every host).
pub fn register_admin_jobs(
    registry: &mut Registry,
    audit: Arc<dyn AuditLog>,
    queue: Arc<dyn JobQueue>,
) {
    registry.register(AUDIT_VERIFY, Arc::new(AuditVerify { audit, queue }));
}

/// Registers `maintenance.reindex` of this process's `index`.
#[cfg(feature = "tantivy")]
pub fn register_reindex(
    registry: &mut Registry,
    store: Arc<dyn medilink_fhir::store::ResourceStore>,
    index: Arc<dyn medilink_fhir::fulltext::SearchIndex>,
    queue: Arc<dyn JobQueue>,
) {
    registry.register(
        REINDEX,
        Arc::new(Reindex {
            store,
            index,
            queue,
        }),
    );
}

/// Stores `progress` on the running `job` (a failure is logged: progress is advisory).
async fn report(queue: &dyn JobQueue, job: &Job, progress: JobProgress) {
    let Some(worker) = job.leased_by.as_deref() else {
        return;
    };
    if let Err(err) = queue.report_progress(job.id, worker, progress).await {
        tracing::warn!(job = %job.id, error = %err, "progress not stored");
    }
}

/// Verifies the audit hash chain from the first record, in steps.
#[derive(Debug)]
pub struct AuditVerify {
    /// The trail.
    pub audit: Arc<dyn AuditLog>,
    /// Where the progress goes.
    pub queue: Arc<dyn JobQueue>,
}

#[async_trait]
impl JobHandler for AuditVerify {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let total = self.audit.count(&AuditFilter::default()).await?;
        let mut progress = JobProgress { done: 0, total };
        report(self.queue.as_ref(), job, progress).await;
        let (mut expected_seq, mut expected_prev) = (1, GENESIS_HASH.to_owned());
        let broken = loop {
            let records = self.audit.records_from(expected_seq, VERIFY_STEP).await?;
            let first = records.first().map(|record| record.seq);
            if let Some(broken) = check_records(&records, &mut expected_seq, &mut expected_prev) {
                progress.done += broken.seq - first.unwrap_or(broken.seq);
                break Some(broken);
            }
            progress.done += records.len() as u64;
            progress.total = progress.total.max(progress.done);
            if records.len() < VERIFY_STEP {
                break None;
            }
            report(self.queue.as_ref(), job, progress).await;
        };
        JobOutcome::completed_as::<Self>(&AuditVerifyResult {
            records: progress.done,
            ok: broken.is_none(),
            first_broken: broken.map(|broken| BrokenAt {
                seq: broken.seq,
                reason: broken.reason.to_owned(),
            }),
            progress,
        })
    }
}

/// Rebuilds this process's full-text index from the whole change feed.
#[cfg(feature = "tantivy")]
#[derive(Debug)]
pub struct Reindex {
    /// The store whose feed fills the index.
    pub store: Arc<dyn medilink_fhir::store::ResourceStore>,
    /// This process's index.
    pub index: Arc<dyn medilink_fhir::fulltext::SearchIndex>,
    /// Where the progress goes.
    pub queue: Arc<dyn JobQueue>,
}

/// The newest change-feed position (the feed is gapless: the number of versions written).
#[cfg(feature = "tantivy")]
async fn feed_head(
    store: &dyn medilink_fhir::store::ResourceStore,
    ctx: &medilink_fhir::context::RequestContext,
) -> Result<u64, JobError> {
    use medilink_fhir::store::{HistoryQuery, HistoryScope};
    let newest = store
        .history(
            ctx,
            &HistoryQuery {
                scope: HistoryScope::System,
                since: None,
                at: None,
                count: 1,
                before_seq: None,
            },
        )
        .await?;
    Ok(newest.entries.first().map_or(0, |entry| entry.seq))
}

#[cfg(feature = "tantivy")]
#[async_trait]
impl JobHandler for Reindex {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let ctx = medilink_fhir::context::RequestContext::system();
        let total = feed_head(self.store.as_ref(), &ctx).await?;
        report(self.queue.as_ref(), job, JobProgress { done: 0, total }).await;
        let (positions, mut reached) = tokio::sync::watch::channel(0u64);
        let rebuild = async move {
            let progress = move |position: u64| {
                let _ = positions.send(position);
            };
            self.index
                .rebuild(self.store.as_ref(), &ctx, &progress)
                .await
        };
        let reporter = async {
            while reached.changed().await.is_ok() {
                let done = *reached.borrow_and_update();
                let progress = JobProgress {
                    done,
                    total: total.max(done),
                };
                report(self.queue.as_ref(), job, progress).await;
            }
        };
        let (applied, ()) = tokio::join!(rebuild, reporter);
        let applied = applied?;
        let position = self.index.position();
        JobOutcome::completed_as::<Self>(&ReindexResult {
            applied,
            position,
            progress: JobProgress {
                done: position,
                total: total.max(position),
            },
        })
    }
}
