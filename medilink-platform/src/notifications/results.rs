//! [`ResultNotices`]: a [`WriteHook`] that tells a patient when a physician files results
//! into their record — a final, amended or corrected `Observation` or `DiagnosticReport` whose
//! subject is the patient, written by a signed-in physician (create, update, or an entry of a
//! transaction; batch entries are single writes). One `results.filed` notice per patient and
//! request, after the write succeeded (read from the versions written). The platform's own writes are not told here: ingest
//! tells its own (once per document job), and imports tell nobody.
//!
//! It hooks the store inside the consent guard (the guard decided the write first); a notice
//! that cannot be stored is logged and never undoes the write.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::{RequestContext, ResourceId, ResourceType, StoredResource, WriteHook};
use serde_json::Value;

use super::{Event, NotificationKind, Notify, Recipient};
use crate::{Caller, CallerContext, Role};

/// Tells patients about results physicians file into their record (a [`WriteHook`] of the
/// platform's store).
#[derive(Debug, Clone)]
pub struct ResultNotices {
    notify: Arc<dyn Notify>,
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

impl ResultNotices {
    /// Tells patients through `notify` about results written to the store it hooks.
    pub fn new(notify: Arc<dyn Notify>) -> Self {
        ResultNotices { notify }
    }
}

#[async_trait]
impl WriteHook for ResultNotices {
    async fn after(&self, ctx: &RequestContext, written: &[&StoredResource]) {
        if !by_physician(ctx) {
            return;
        }
        let patients: BTreeSet<String> = written
            .iter()
            .filter(|stored| {
                matches!(
                    stored.resource_type,
                    ResourceType::Observation | ResourceType::DiagnosticReport
                )
            })
            .filter_map(|stored| serde_json::from_str(stored.json.as_deref()?).ok())
            .filter_map(|resource: Value| filed_for(&resource))
            .collect();
        for patient in patients {
            let event = Event::new(NotificationKind::ResultsFiled).once(format!(
                "{}:{}:{patient}",
                NotificationKind::ResultsFiled,
                ctx.request_id
            ));
            if let Err(err) = self
                .notify
                .notify(&[Recipient::Patient(patient)], &event)
                .await
            {
                tracing::warn!(error = %err, "results notice not stored");
            }
        }
    }
}
