//! [`PrescriptionGate`]: a [`WriteHook`] that refuses a signed-in user's prescription with
//! an unacknowledged blocking finding ([`crate::record::blocks`]), on every write path (create,
//! update, conditional and JSON Patch writes, batch entries, transaction entries).
//!
//! It sits inside the consent guard (the guard decides first whether the caller may write for
//! the patient at all), around the platform's store, and reads the patient's current
//! medications, allergies and acknowledgements from that store as the platform: the prescriber
//! already may write the patient's record, and the answer names only the finding. A refused
//! write is [`FhirError::Refused`] (HTTP 409, `business-rule`) naming the finding's key,
//! severity and summary; a write whose blocking findings are all acknowledged lands with a
//! `detectedIssue` reference to each acknowledgement, so the record says why it was allowed.
//!
//! Checked: `MedicationRequest`s with status active, on-hold or draft (others — stopped,
//! completed, cancelled, entered-in-error — cannot harm), written by a [`Caller::User`]; the
//! platform's own writes (imports, ingest) are not prescriptions. In a transaction, the
//! prescriptions of the bundle are also checked against each other.

use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::{
    Clock, FhirError, FhirResult, RequestContext, ResourceId, ResourceStore, WriteHook, WriteOp,
};
use medilink_platform::{Caller, CallerContext};
use serde_json::{Value, json};

use crate::record::{self, blocks};
use crate::{ActiveMedication, Checker, Finding, KnowledgeBase};

/// Refuses prescriptions with unacknowledged blocking findings (a [`WriteHook`] of the
/// platform's store).
#[derive(Debug, Clone)]
pub struct PrescriptionGate {
    /// The platform's store, to read the patient's record and acknowledgements from.
    store: Arc<dyn ResourceStore>,
    checker: Arc<Checker>,
    clock: Arc<dyn Clock>,
}

/// A prescription about to be written: its patient and its drug.
struct Prescription {
    patient: Option<String>,
    active: ActiveMedication,
}

fn prescription(kb: &KnowledgeBase, resource: &Value) -> Option<Prescription> {
    if resource["resourceType"] != "MedicationRequest" {
        return None;
    }
    let active = crate::fhir::active_medication(kb, resource)?;
    let patient = resource["subject"]["reference"]
        .as_str()
        .and_then(|reference| reference.strip_prefix("Patient/"))
        .filter(|id| ResourceId::new(*id).is_ok())
        .map(str::to_owned);
    Some(Prescription { patient, active })
}

fn refused(finding: &Finding) -> FhirError {
    FhirError::Refused {
        message: format!(
            "prescription refused: {} finding {} ({}): {}; acknowledge it with a reason \
             (POST /api/clinical/acknowledgements) or choose another drug",
            finding.severity.as_str(),
            finding.key,
            finding.conflicting.display,
            finding.summary
        ),
    }
}

impl PrescriptionGate {
    /// Guards the prescriptions written to `store` with `checker`'s findings.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        checker: Arc<Checker>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        PrescriptionGate {
            store,
            checker,
            clock,
        }
    }

    /// Checks the prescription `resource` (replacing `replacing`, if an update) against its
    /// patient's record and `siblings` (the other prescriptions of the same transaction), and
    /// returns it with the acknowledgements that allow it referenced.
    async fn admit(
        &self,
        ctx: &RequestContext,
        mut resource: Value,
        replacing: Option<&ResourceId>,
        siblings: &[ActiveMedication],
    ) -> FhirResult<Value> {
        if !matches!(ctx.caller(), Caller::User { .. }) {
            return Ok(resource);
        }
        let kb = KnowledgeBase::offline();
        let Some(prescription) = prescription(kb, &resource) else {
            return Ok(resource);
        };
        if !prescription.active.drug.recognised() {
            return Ok(resource);
        }
        let platform = RequestContext::system();
        let mut current = match &prescription.patient {
            Some(patient) => record::load(kb, &self.store, &platform, patient).await?,
            None => record::MedicationRecord::default(),
        };
        // The version being replaced is not a second drug.
        let own = replacing.map(|id| format!("MedicationRequest/{id}"));
        current
            .medications
            .retain(|medication| medication.reference.is_none() || medication.reference != own);
        current.medications.extend(siblings.iter().cloned());
        let findings = self
            .checker
            .check(
                std::slice::from_ref(&prescription.active.drug),
                &current.medications,
                &current.allergies,
            )
            .await
            .map_err(|err| FhirError::Unavailable {
                source: Box::new(err),
            })?;
        let blocking: Vec<&Finding> = findings.iter().filter(|finding| blocks(finding)).collect();
        if blocking.is_empty() {
            return Ok(resource);
        }
        let Some(patient) = &prescription.patient else {
            return Err(refused(blocking[0]));
        };
        let now = self.clock.now();
        let acknowledged = record::acknowledgements(&self.store, &platform, patient, None).await?;
        let mut references = Vec::new();
        for finding in blocking {
            let Some(ack) = acknowledged
                .iter()
                .find(|ack| ack.finding == finding.key && ack.active(now))
            else {
                return Err(refused(finding));
            };
            references.push(json!({ "reference": format!("DetectedIssue/{}", ack.id) }));
        }
        let issues = resource
            .as_object_mut()
            .map(|object| object.entry("detectedIssue").or_insert_with(|| json!([])));
        if let Some(Value::Array(issues)) = issues {
            for reference in references {
                if !issues.contains(&reference) {
                    issues.push(reference);
                }
            }
        }
        Ok(resource)
    }
}

#[async_trait]
impl WriteHook for PrescriptionGate {
    async fn before(
        &self,
        ctx: &RequestContext,
        op: &mut WriteOp,
        earlier: &[WriteOp],
    ) -> FhirResult<()> {
        let (resource, replacing) = match op {
            WriteOp::Create { resource, .. } => (resource, None),
            WriteOp::Update { resource, id, .. } => (resource, Some(id.clone())),
            WriteOp::Delete { .. } => return Ok(()),
        };
        // The prescriptions before it in the same transaction count as current ones.
        let kb = KnowledgeBase::offline();
        let siblings: Vec<ActiveMedication> = earlier
            .iter()
            .filter_map(|other| match other {
                WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => {
                    prescription(kb, resource).map(|found| found.active)
                }
                WriteOp::Delete { .. } => None,
            })
            .collect();
        *resource = self
            .admit(ctx, resource.take(), replacing.as_ref(), &siblings)
            .await?;
        Ok(())
    }
}
