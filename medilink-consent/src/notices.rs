//! The consent lifecycle's notices (issue #14), derived from the `Consent` versions the store
//! wrote: the change feed is the outbox. A grant's change and its `resource_versions` row are
//! one transaction, so every change that landed is in the feed; [`ConsentNotices::follow`]
//! reads the feed after a cursor and turns each version into at most one notice:
//!
//! | before → after                     | notice                  | to             |
//! |------------------------------------|-------------------------|----------------|
//! | — → proposed                       | `consent.requested`     | the patient    |
//! | — → active (patient's grant)       | `consent.granted`       | the physician  |
//! | — → active (break-glass)           | `security.break_glass`  | the patient    |
//! | proposed → active                  | `consent.granted`       | the physician  |
//! | proposed → rejected                | `consent.declined`      | the physician  |
//! | proposed or active → revoked       | `consent.revoked`       | the physician, unless they revoked it themselves |
//!
//! Each notice is a once-only event keyed by the `Consent` id and version, so following the
//! feed twice (a crash before the cursor moved, two workers at once, the service following
//! right after its own change and the periodic job) tells nobody twice: exactly one notice per
//! change, however often it is read. The cursor lives in the key-value store; without one
//! (first start, lost) the feed is read from the start but versions older than [`LOOKBACK`]
//! are not told (a week-old request is no news).
//!
//! [`ConsentService`](crate::ConsentService) follows the feed right after each change it
//! makes, so notices normally appear before its answer; the periodic `consent.notices` job
//! ([`register_notices`], every [`INTERVAL`]) tells what a crash between the change and that
//! follow left behind, and what other writers (a `Consent` written through `/fhir`) changed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::jobs::{Job, JobKind, NoPayload};
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{
    Clock, FhirResult, RequestContext, ResourceStore, ResourceType, StoredResource, VersionId,
};
use medilink_platform::UserId;
use medilink_platform::notifications::feed::{FeedEvents, FeedRelay, FeedResult};
use medilink_platform::notifications::{
    Event, NotificationKind, Notify, Recipient, readable_instant,
};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use serde_json::Value;

use crate::grant::{Grant, GrantState};

/// Kind of the periodic job.
pub const KIND: &str = "consent.notices";
/// How often the job runs.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Versions older than this are not told when the feed is read without a cursor.
pub const LOOKBACK: time::Duration = time::Duration::days(7);
/// The extension on a revoked `Consent` naming who revoked it (`grantee`, `patient` or
/// `other`): the physician is not told of their own withdrawal.
pub const REVOKED_BY_URL: &str =
    "https://medilink.example/fhir/StructureDefinition/consent-revoked-by";
/// The key-value key of the cursor (the last feed position told).
const CURSOR_KEY: &str = "consent:notices:cursor";

/// Who revoked a grant, as [`REVOKED_BY_URL`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// The physician it was granted to.
    Grantee,
    /// The patient.
    Patient,
    /// Anyone else (an admin).
    Other,
}

impl RevokedBy {
    /// The extension's code.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedBy::Grantee => "grantee",
            RevokedBy::Patient => "patient",
            RevokedBy::Other => "other",
        }
    }

    /// `resource` with the revoker recorded.
    pub fn record(self, mut resource: Value) -> Value {
        if let Some(extensions) = resource["extension"].as_array_mut() {
            extensions.push(serde_json::json!({"url": REVOKED_BY_URL, "valueCode": self.as_str()}));
        }
        resource
    }

    /// The revoker recorded on `resource`, if any.
    fn of(resource: &Value) -> Option<RevokedBy> {
        let code = resource["extension"]
            .as_array()?
            .iter()
            .find(|extension| extension["url"].as_str() == Some(REVOKED_BY_URL))?["valueCode"]
            .as_str()?;
        Some(match code {
            "grantee" => RevokedBy::Grantee,
            "patient" => RevokedBy::Patient,
            _ => RevokedBy::Other,
        })
    }
}

/// The notice a change from `before` to `after` (the stored `after` resource) deserves, and
/// who gets it (see the module documentation's table).
pub fn notice_of(
    before: Option<&Grant>,
    after: &Grant,
    resource: &Value,
) -> Option<(NotificationKind, Recipient)> {
    let physician = || Recipient::User(UserId(after.grantee.clone()));
    let patient = || Recipient::Patient(after.patient.clone());
    let before = before.map(|grant| grant.state);
    match (before, after.state) {
        (None, GrantState::Proposed) => Some((NotificationKind::ConsentRequested, patient())),
        (None, GrantState::Active) if after.is_break_glass() => {
            Some((NotificationKind::BreakGlass, patient()))
        }
        (None, GrantState::Active) => Some((NotificationKind::ConsentGranted, physician())),
        (Some(GrantState::Proposed), GrantState::Active) => {
            Some((NotificationKind::ConsentGranted, physician()))
        }
        (Some(GrantState::Proposed), GrantState::Rejected) => {
            Some((NotificationKind::ConsentDeclined, physician()))
        }
        (Some(GrantState::Proposed | GrantState::Active), GrantState::Revoked)
            if RevokedBy::of(resource) != Some(RevokedBy::Grantee) =>
        {
            Some((NotificationKind::ConsentRevoked, physician()))
        }
        _ => None,
    }
}

/// Follows the `Consent` change feed and tells each change (see the module documentation).
#[derive(Debug, Clone)]
pub struct ConsentNotices {
    /// The platform's (unguarded) store, read as the system.
    pub store: Arc<dyn ResourceStore>,
    /// Where the notices go.
    pub notify: Arc<dyn Notify>,
    /// Where the cursor is kept.
    pub kv: Arc<dyn KeyValue>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl JobKind for ConsentNotices {
    const KIND: &'static str = KIND;
    type Payload = NoPayload;
    type Result = FeedResult;
}

fn grant_of(stored: &StoredResource) -> Option<(Grant, Value)> {
    let resource: Value = serde_json::from_str(stored.json.as_deref()?).ok()?;
    let grant = Grant::from_fhir(&stored.id, &resource)?;
    Some((grant, resource))
}

impl ConsentNotices {
    /// The grant of the version before `stored`, if there is one and it was ours.
    async fn before(&self, stored: &StoredResource) -> FhirResult<Option<Grant>> {
        let Some(previous) = stored.version_id.get().checked_sub(1).filter(|v| *v > 0) else {
            return Ok(None);
        };
        let ctx = RequestContext::system();
        let version = VersionId(previous);
        let previous = match self
            .store
            .vread(&ctx, ResourceType::Consent, &stored.id, version)
            .await
        {
            Ok(previous) => previous,
            Err(
                medilink_fhir::FhirError::NotFound { .. } | medilink_fhir::FhirError::Gone { .. },
            ) => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        Ok(grant_of(&previous).map(|(grant, _)| grant))
    }

    /// Tells every `Consent` change after the cursor and moves it.
    pub async fn follow(&self) -> FhirResult<FeedResult> {
        let relay = FeedRelay {
            store: self.store.clone(),
            kv: self.kv.clone(),
            clock: self.clock.clone(),
            resource_type: ResourceType::Consent,
            cursor_key: CURSOR_KEY,
            lookback: LOOKBACK,
        };
        relay.follow(self).await
    }
}

#[async_trait]
impl FeedEvents for ConsentNotices {
    /// Tells one version's change; the number of notices written.
    async fn tell(&self, stored: &StoredResource) -> FhirResult<u64> {
        let Some((after, resource)) = grant_of(stored) else {
            return Ok(0);
        };
        let before = self.before(stored).await?;
        let Some((kind, recipient)) = notice_of(before.as_ref(), &after, &resource) else {
            return Ok(0);
        };
        let mut event = Event::new(kind).once(format!(
            "{kind}:Consent/{}/_history/{}",
            stored.id, stored.version_id
        ));
        if kind == NotificationKind::BreakGlass {
            event = event.with("at", readable_instant(after.start));
        }
        Ok(self.notify.notify(&[recipient], &event).await? as u64)
    }
}

#[async_trait]
impl JobHandler for ConsentNotices {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let result = self.follow().await?;
        JobOutcome::completed_as::<Self>(&result)
    }
}

/// Registers `consent.notices` (every [`INTERVAL`]).
pub fn register_notices(registry: &mut Registry, notices: ConsentNotices) {
    registry.register_periodic(KIND, INTERVAL, Arc::new(notices));
}

#[cfg(test)]
mod tests;
