//! [`ResultNotices`]: a [`WriteHook`] that tells a patient when a physician files results
//! into their record — a final, amended or corrected `Observation` or `DiagnosticReport` whose
//! subject is the patient, written by a signed-in physician (create, update, or an entry of a
//! transaction; batch entries are single writes). One `results.filed` notice per patient and
//! request. The platform's own writes are not told here: ingest tells its own (once per
//! document job), and imports tell nobody.
//!
//! The outbox is a FHIR `Communication` (category [`NOTICE_SYSTEM`]`#results.filed`, subject
//! and recipient the patient, the request id as its identifier) that the hook adds to the
//! request's writes as a companion, so it lands in the same transaction as the results or not
//! at all. The notices are derived from the `Communication` feed by [`FeedRelay`]: right
//! after the request (`after`) and by the periodic `results.notices` job, once per
//! `Communication` however often it is read — a crash between the write and its notice loses
//! nothing. The `Communication` stays in the patient's record: who was told what, and when.
//!
//! It hooks the store inside the consent guard (the guard decided the write first).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::jobs::{Job, JobKind, NoPayload};
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{
    Clock, FhirResult, RequestContext, ResourceId, ResourceStore, ResourceType, StoredResource,
    WriteHook, WriteOp,
};
use serde_json::{Value, json};

use super::feed::{FeedEvents, FeedRelay, FeedResult};
use super::{Event, NotificationKind, Notify, Recipient};
use crate::worker::{JobError, JobHandler, JobOutcome};
use crate::{Caller, CallerContext, Role};

/// The `Communication.category` system of MediLink's notices.
pub const NOTICE_SYSTEM: &str = "urn:medilink:notice";
/// The identifier system of the request a `Communication` was written in.
pub const REQUEST_SYSTEM: &str = "urn:medilink:request";
/// Kind of the periodic relay job.
pub const KIND: &str = "results.notices";
/// How often the job runs.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// The relay's cursor key.
const CURSOR_KEY: &str = "results:notices:cursor";

/// Tells patients about results physicians file into their record (a [`WriteHook`] of the
/// platform's store, and the [`FeedEvents`] of its `Communication` relay).
#[derive(Debug, Clone)]
pub struct ResultNotices {
    notify: Arc<dyn Notify>,
    relay: FeedRelay,
}

/// The patient a resource files results for, if it is a result at all.
fn filed_for(resource: &Value) -> Option<String> {
    let result = matches!(
        resource["resourceType"].as_str(),
        Some("Observation" | "DiagnosticReport")
    );
    let reportable = matches!(
        resource["status"].as_str(),
        Some("final" | "amended" | "corrected")
    );
    if !(result && reportable) {
        return None;
    }
    let patient = resource["subject"]["reference"]
        .as_str()?
        .strip_prefix("Patient/")?;
    ResourceId::new(patient)
        .ok()
        .map(|id| id.as_str().to_owned())
}

fn by_physician(ctx: &RequestContext) -> bool {
    matches!(
        ctx.caller(),
        Caller::User {
            role: Role::Physician,
            ..
        }
    )
}

/// The patient a stored `Communication` announces results to, if it is one of ours.
fn announced_to(resource: &Value) -> Option<String> {
    let ours = resource["category"].as_array()?.iter().any(|category| {
        category["coding"].as_array().is_some_and(|codings| {
            codings.iter().any(|coding| {
                coding["system"].as_str() == Some(NOTICE_SYSTEM)
                    && coding["code"].as_str() == Some(NotificationKind::ResultsFiled.as_str())
            })
        })
    });
    if !ours {
        return None;
    }
    let patient = resource["recipient"][0]["reference"]
        .as_str()?
        .strip_prefix("Patient/")?;
    Some(patient.to_owned())
}

impl ResultNotices {
    /// Tells patients through `notify` about results written to the store it hooks; `store`
    /// (unguarded), `kv` (the relay's cursor) and `clock` serve the `Communication` relay.
    pub fn new(
        notify: Arc<dyn Notify>,
        store: Arc<dyn ResourceStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let relay = FeedRelay {
            store,
            kv,
            clock,
            resource_type: ResourceType::Communication,
            cursor_key: CURSOR_KEY,
            lookback: time::Duration::days(7),
        };
        ResultNotices { notify, relay }
    }

    /// Tells every announcement written since the last follow.
    pub async fn follow(&self) -> FhirResult<FeedResult> {
        self.relay.follow(self).await
    }

    /// The announcement of results filed for `patient` in the request `ctx`.
    fn announcement(&self, ctx: &RequestContext, patient: &str) -> Value {
        let kind = NotificationKind::ResultsFiled;
        json!({
            "resourceType": "Communication",
            "identifier": [{"system": REQUEST_SYSTEM, "value": ctx.request_id}],
            "status": "completed",
            "category": [{"coding": [{
                "system": NOTICE_SYSTEM,
                "code": kind.as_str(),
                "display": "New results filed"
            }]}],
            "subject": {"reference": format!("Patient/{patient}")},
            "recipient": [{"reference": format!("Patient/{patient}")}],
            "sent": medilink_fhir::clock::format_instant(self.relay.clock.now()),
            "payload": [{"contentString": "New results were filed into your record."}]
        })
    }
}

#[async_trait]
impl WriteHook for ResultNotices {
    async fn companions(&self, ctx: &RequestContext, ops: &[WriteOp]) -> FhirResult<Vec<WriteOp>> {
        if !by_physician(ctx) {
            return Ok(Vec::new());
        }
        let patients: BTreeSet<String> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => {
                    filed_for(resource)
                }
                WriteOp::Delete { .. } => None,
            })
            .collect();
        Ok(patients
            .iter()
            .map(|patient| WriteOp::Create {
                resource: self.announcement(ctx, patient),
                id: None,
            })
            .collect())
    }

    async fn after(&self, _ctx: &RequestContext, written: &[&StoredResource]) {
        if !written
            .iter()
            .any(|stored| stored.resource_type == ResourceType::Communication)
        {
            return;
        }
        if let Err(err) = self.follow().await {
            tracing::warn!(error = %err, "results notices not written yet (the job tells them)");
        }
    }
}

#[async_trait]
impl FeedEvents for ResultNotices {
    async fn tell(&self, stored: &StoredResource) -> FhirResult<u64> {
        if stored.version_id.get() != 1 {
            return Ok(0);
        }
        let Some(json) = stored.json.as_deref() else {
            return Ok(0);
        };
        let Ok(resource) = serde_json::from_str::<Value>(json) else {
            return Ok(0);
        };
        let Some(patient) = announced_to(&resource) else {
            return Ok(0);
        };
        let kind = NotificationKind::ResultsFiled;
        let event = Event::new(kind).once(format!("{kind}:Communication/{}", stored.id));
        Ok(self
            .notify
            .notify(&[Recipient::Patient(patient)], &event)
            .await? as u64)
    }
}

#[async_trait]
impl JobHandler for ResultNotices {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let result = self.follow().await?;
        JobOutcome::completed_as::<Self>(&result)
    }
}

impl JobKind for ResultNotices {
    const KIND: &'static str = KIND;
    type Payload = NoPayload;
    type Result = FeedResult;
}

/// Registers `results.notices` (every [`INTERVAL`]).
pub fn register_result_notices(registry: &mut crate::worker::Registry, notices: ResultNotices) {
    registry.register_periodic(KIND, INTERVAL, Arc::new(notices));
}
