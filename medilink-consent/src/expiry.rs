//! The periodic `consent.expiry` job (issue #14): tells the patient and the grantee of every
//! active grant that it ends within [`NOTICE_AHEAD`] (3 days), and that it ended (within the
//! last [`LOOKBACK`], so a first run does not dig up grants that ended long ago).
//!
//! Idempotent across runs and across workers running it at once: each notice is a once-only
//! event of the notifications service, keyed by the kind, the `Consent` id and its end, so a
//! recipient is told at most once per grant, kind and end (a grant whose end is moved is told
//! again about the new end). Revoked, declined and pending grants are never told: a
//! revocation has its own notice. The notice carries the end instant only.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::clock::format_instant;
use medilink_fhir::jobs::{Job, JobKind, NoPayload};
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{Clock, ResourceId, ResourceStore, ResourceType};
use medilink_fhir::{FhirError, RequestContext};
use medilink_platform::UserId;
use medilink_platform::notifications::{Event, NotificationKind, Notify, Recipient};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::grant::{Grant, GrantState};

/// Kind of the periodic expiry job.
pub const KIND: &str = "consent.expiry";
/// How long before its end a grant is told to be expiring.
pub const NOTICE_AHEAD: time::Duration = time::Duration::days(3);
/// How long after its end a grant is still told to have expired.
pub const LOOKBACK: time::Duration = time::Duration::days(7);
/// How often the job runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);
/// Grants read per page.
const PAGE: usize = 200;

/// The result of a `consent.expiry` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryResult {
    /// Grants found ending within the notice window.
    pub expiring: u64,
    /// Grants found ended within the lookback.
    pub expired: u64,
    /// Notices written this run (0 when every recipient was told before).
    pub told: u64,
}

/// The `consent.expiry` job over the platform's store.
#[derive(Debug, Clone)]
pub struct ConsentExpiry {
    /// The platform's (unguarded) store, read as the system.
    pub store: Arc<dyn ResourceStore>,
    /// Where the notices go.
    pub notify: Arc<dyn Notify>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl JobKind for ConsentExpiry {
    const KIND: &'static str = KIND;
    type Payload = NoPayload;
    type Result = ExpiryResult;
}

impl ConsentExpiry {
    /// Every stored active grant.
    async fn active_grants(&self) -> Result<Vec<Grant>, FhirError> {
        let ctx = RequestContext::system();
        let params = [
            ("status".to_owned(), "active".to_owned()),
            ("_count".to_owned(), PAGE.to_string()),
        ];
        let mut query = SearchQuery::parse(ResourceType::Consent, &params, true)?;
        let mut grants = Vec::new();
        loop {
            let page = self.store.search(&ctx, &query).await?;
            for stored in &page.matches {
                let Some(json) = &stored.json else { continue };
                let Ok(resource) = serde_json::from_str::<Value>(json) else {
                    continue;
                };
                let id = ResourceId::new(stored.id.as_str().to_owned())?;
                if let Some(grant) = Grant::from_fhir(&id, &resource) {
                    grants.push(grant);
                }
            }
            match page.next_cursor {
                Some(cursor) if !page.matches.is_empty() => query.cursor = Some(cursor),
                _ => return Ok(grants),
            }
        }
    }

    /// Finds the grants to tell about and tells them.
    pub async fn sweep(&self) -> Result<ExpiryResult, FhirError> {
        let now = self.clock.now();
        let mut result = ExpiryResult::default();
        for grant in self.active_grants().await? {
            let (Some(end), Some(id), GrantState::Active) = (grant.end, &grant.id, grant.state)
            else {
                continue;
            };
            let kind = if end <= now {
                if now - end > LOOKBACK {
                    continue;
                }
                result.expired += 1;
                NotificationKind::ConsentExpired
            } else if end - now <= NOTICE_AHEAD {
                result.expiring += 1;
                NotificationKind::ConsentExpiring
            } else {
                continue;
            };
            let shown = medilink_platform::notifications::readable_instant(end);
            let end = format_instant(end);
            let event = Event::new(kind)
                .with("end", shown)
                .once(format!("{kind}:{id}:{end}"));
            let recipients = [
                Recipient::Patient(grant.patient.clone()),
                Recipient::User(UserId(grant.grantee.clone())),
            ];
            result.told += self.notify.notify(&recipients, &event).await? as u64;
        }
        Ok(result)
    }
}

#[async_trait]
impl JobHandler for ConsentExpiry {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let result = self.sweep().await?;
        JobOutcome::completed_as::<Self>(&result)
    }
}

/// Registers `consent.expiry` (every hour).
pub fn register_expiry(registry: &mut Registry, expiry: ConsentExpiry) {
    registry.register_periodic(KIND, INTERVAL, Arc::new(expiry));
}

#[cfg(test)]
mod tests;
