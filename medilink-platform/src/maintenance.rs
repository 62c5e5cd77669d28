//! The periodic maintenance jobs, as [`JobHandler`]s for the [`Worker`](super::worker::Worker):
//!
//! | kind | does | default interval |
//! |---|---|---|
//! | `maintenance.tokens` | deletes expired refresh tokens | 1 h |
//! | `maintenance.stale_jobs` | requeues (or dead-letters) jobs whose lease ran out | 1 min |
//! | `maintenance.fulltext` | applies the change feed to the full-text index | 1 min |
//! | `maintenance.statistics` | counts resources by type and jobs by status (its result) | 24 h |
//!
//! Each is idempotent: running one twice changes nothing the first run did not. The full-text
//! index is per node (each node's index follows the feed on its own); the catch-up job is the
//! safety net of the process that registered it, next to the follower task.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::AccountStore;
use crate::worker::{JobError, JobHandler, JobOutcome, Registry};
use medilink_fhir::clock::{Clock, format_instant};
use medilink_fhir::context::RequestContext;
use medilink_fhir::error::FhirResult;
use medilink_fhir::jobs::{Job, JobQueue, LeaseRecovery};
use medilink_fhir::jobs::{JobKind, NoPayload};
use medilink_fhir::model::ResourceType;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::store::ResourceStore;

/// Kind of the expired-token clean-up.
pub const TOKENS: &str = "maintenance.tokens";
/// Kind of the stale-lease recovery.
pub const STALE_JOBS: &str = "maintenance.stale_jobs";
/// Kind of the full-text index catch-up.
pub const FULLTEXT: &str = "maintenance.fulltext";
/// Kind of the daily statistics.
pub const STATISTICS: &str = "maintenance.statistics";

/// The result of a [`TokenCleanup`] run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensResult {
    /// Expired refresh tokens deleted.
    pub deleted: u64,
}

/// The result of a `FullTextCatchUp` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullTextResult {
    /// Changes applied to the index.
    pub applied: u64,
    /// The change-feed position the index is at afterwards.
    pub position: u64,
}

/// The result of a [`Statistics`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatisticsResult {
    /// When the counts were taken.
    pub at: String,
    /// Current, not deleted resources by type (types without any left out).
    pub resources: BTreeMap<String, u64>,
    /// Their sum.
    pub resources_total: u64,
    /// Jobs by status.
    pub jobs: BTreeMap<String, u64>,
}

impl JobKind for TokenCleanup {
    const KIND: &'static str = TOKENS;
    type Payload = NoPayload;
    type Result = TokensResult;
}

impl JobKind for StaleJobRecovery {
    const KIND: &'static str = STALE_JOBS;
    type Payload = NoPayload;
    type Result = LeaseRecovery;
}

#[cfg(feature = "tantivy")]
impl JobKind for FullTextCatchUp {
    const KIND: &'static str = FULLTEXT;
    type Payload = NoPayload;
    type Result = FullTextResult;
}

impl JobKind for Statistics {
    const KIND: &'static str = STATISTICS;
    type Payload = NoPayload;
    type Result = StatisticsResult;
}

/// Registers the token clean-up, stale-lease recovery and daily statistics with their default
/// intervals.
pub fn register_maintenance(
    registry: &mut Registry,
    store: Arc<dyn ResourceStore>,
    accounts: Arc<dyn AccountStore>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
) {
    registry
        .register_periodic(
            TOKENS,
            Duration::from_secs(3600),
            Arc::new(TokenCleanup {
                accounts,
                clock: clock.clone(),
            }),
        )
        .register_periodic(
            STALE_JOBS,
            Duration::from_secs(60),
            Arc::new(StaleJobRecovery {
                queue: queue.clone(),
            }),
        )
        .register_periodic(
            STATISTICS,
            Duration::from_secs(24 * 3600),
            Arc::new(Statistics {
                store,
                queue,
                clock,
            }),
        );
}

/// Registers the full-text catch-up of this process's `index` (every minute).
#[cfg(feature = "tantivy")]
pub fn register_fulltext(
    registry: &mut Registry,
    store: Arc<dyn ResourceStore>,
    index: Arc<dyn medilink_fhir::fulltext::SearchIndex>,
) {
    registry.register_periodic(
        FULLTEXT,
        Duration::from_secs(60),
        Arc::new(FullTextCatchUp { store, index }),
    );
}

/// Deletes expired refresh tokens.
#[derive(Debug)]
pub struct TokenCleanup {
    /// Where the tokens are.
    pub accounts: Arc<dyn AccountStore>,
    /// What "expired" is measured against.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for TokenCleanup {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let deleted = self
            .accounts
            .delete_expired_refresh(self.clock.now())
            .await?;
        JobOutcome::completed_as::<Self>(&TokensResult { deleted })
    }
}

/// Puts jobs whose lease ran out back in the queue (or fails them on their last attempt).
#[derive(Debug)]
pub struct StaleJobRecovery {
    /// The queue.
    pub queue: Arc<dyn JobQueue>,
}

#[async_trait]
impl JobHandler for StaleJobRecovery {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let recovered = self.queue.recover_expired().await?;
        if recovered.requeued + recovered.failed > 0 {
            tracing::warn!(
                requeued = recovered.requeued,
                failed = recovered.failed,
                "recovered jobs whose lease ran out"
            );
        }
        JobOutcome::completed_as::<Self>(&recovered)
    }
}

/// Applies the change feed to a full-text index.
#[cfg(feature = "tantivy")]
#[derive(Debug)]
pub struct FullTextCatchUp {
    /// The store whose feed is followed.
    pub store: Arc<dyn ResourceStore>,
    /// This process's index.
    pub index: Arc<dyn medilink_fhir::fulltext::SearchIndex>,
}

#[cfg(feature = "tantivy")]
#[async_trait]
impl JobHandler for FullTextCatchUp {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let applied =
            medilink_fhir::fulltext::catch_up(self.store.as_ref(), self.index.as_ref()).await?;
        JobOutcome::completed_as::<Self>(&FullTextResult {
            applied,
            position: self.index.position(),
        })
    }
}

/// Counts resources by type (current, not deleted) and jobs by status.
#[derive(Debug)]
pub struct Statistics {
    /// The resource store (a system-context read).
    pub store: Arc<dyn ResourceStore>,
    /// The queue.
    pub queue: Arc<dyn JobQueue>,
    /// For the `at` stamp.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for Statistics {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        JobOutcome::completed_as::<Self>(&self.count().await?)
    }
}

impl Statistics {
    /// The counts now (what a run stores; the admin statistics take them from the last run,
    /// or from here before the first).
    pub async fn count(&self) -> FhirResult<StatisticsResult> {
        let ctx = RequestContext::system();
        let count = [("_summary".to_owned(), "count".to_owned())];
        let mut resources = BTreeMap::new();
        let mut total = 0;
        for resource_type in ResourceType::ALL {
            let query = SearchQuery::parse(resource_type, &count, true)?;
            let n = self.store.search(&ctx, &query).await?.total.unwrap_or(0);
            if n > 0 {
                resources.insert(resource_type.as_str().to_owned(), n);
                total += n;
            }
        }
        let jobs = self
            .queue
            .count_by_status()
            .await?
            .into_iter()
            .map(|(status, n)| (status.as_str().to_owned(), n))
            .collect();
        Ok(StatisticsResult {
            at: format_instant(self.clock.now()),
            resources,
            resources_total: total,
            jobs,
        })
    }
}
