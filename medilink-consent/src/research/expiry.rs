//! The periodic `research.expiry` job (issue #15): deletes the research exports whose time to
//! live has passed — their files first, then their jobs. An export still running at its
//! expiry is cancelled first (its writer then stops and deletes what it wrote). Idempotent:
//! a run that stops half-way leaves the rest to the next one, and two hosts running it at once
//! only delete the same things twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::ResourceType;
use medilink_fhir::jobs::{Job, JobFilter, JobKind, JobStatus, NoPayload};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use serde::{Deserialize, Serialize};

use super::{KIND, ResearchExport};
use crate::deid::Deidentifier;
use crate::error::ConsentResult;
use crate::export::delete_files;

/// Kind of the periodic expiry job.
pub const EXPIRY_KIND: &str = "research.expiry";
/// How often it runs.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Exports looked at per round.
const ROUND: u32 = 200;

/// The result of a `research.expiry` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryResult {
    /// Expired exports deleted (with their files).
    pub deleted: u64,
}

/// The `research.expiry` job over the research exports' queue and blobs.
#[derive(Debug, Clone)]
pub struct ResearchExpiry(pub ResearchExport);

impl JobKind for ResearchExpiry {
    const KIND: &'static str = EXPIRY_KIND;
    type Payload = NoPayload;
    type Result = ExpiryResult;
}

impl ResearchExport {
    /// Deletes every export created a time to live ago or earlier: cancels it if it still
    /// runs, deletes its files, then its job. How many were deleted.
    pub async fn delete_expired(&self) -> ConsentResult<u64> {
        let filter = JobFilter {
            kind: Some(KIND.to_owned()),
            created_before: Some(self.clock.now() - self.ttl + time::Duration::microseconds(1)),
            limit: Some(ROUND),
            ..JobFilter::default()
        };
        let mut seen = HashSet::new();
        let mut deleted = 0;
        loop {
            let round = self.jobs.list(&filter).await?;
            let full = round.len() == ROUND as usize;
            let fresh: Vec<Job> = round
                .into_iter()
                .filter(|job| seen.insert(job.id))
                .collect();
            if fresh.is_empty() {
                return Ok(deleted);
            }
            for job in &fresh {
                deleted += u64::from(self.delete_export(job).await?);
            }
            if !full {
                return Ok(deleted);
            }
        }
    }

    /// Deletes one expired export: cancelled if running, files, job.
    async fn delete_export(&self, job: &Job) -> ConsentResult<bool> {
        if !job.status.is_final() {
            let running = [JobStatus::Pending, JobStatus::Processing];
            self.jobs
                .transition(job.id, &running, JobStatus::Cancelled, None)
                .await?;
        }
        // Every type it may have written (all exportable ones when its request is unreadable).
        let types = Self::request(job).map_or_else(
            |_| {
                Deidentifier::exported_types()
                    .filter_map(ResourceType::from_name)
                    .collect()
            },
            |request| request.resource_types(),
        );
        delete_files(self.blobs.as_ref(), job.id, &types).await?;
        Ok(self.jobs.delete(job.id).await?)
    }
}

#[async_trait]
impl JobHandler for ResearchExpiry {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let deleted = self
            .0
            .delete_expired()
            .await
            .map_err(|err| JobError::retryable(err.to_string()))?;
        JobOutcome::completed_as::<Self>(&ExpiryResult { deleted })
    }
}

/// Registers `research.expiry` (every 15 minutes).
pub fn register_expiry(registry: &mut Registry, exports: ResearchExport) {
    registry.register_periodic(
        EXPIRY_KIND,
        EXPIRY_INTERVAL,
        Arc::new(ResearchExpiry(exports)),
    );
}
