//! [`PrescriptionGate`]: a [`ResourceStore`] that refuses a signed-in user's prescription with
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
use medilink_fhir::search::{SearchPage, SearchQuery};
use medilink_fhir::{
    Clock, FhirError, FhirResult, HistoryPage, HistoryQuery, RequestContext, ResourceId,
    ResourceStore, ResourceType, StoredResource, VersionId, WriteOp, WriteOutcome,
};
use medilink_platform::{Caller, CallerContext};
use serde_json::{Value, json};

use crate::record::{self, blocks};
use crate::{ActiveMedication, Checker, Finding, KnowledgeBase};

/// Wraps a store and refuses prescriptions with unacknowledged blocking findings.
#[derive(Debug, Clone)]
pub struct PrescriptionGate<S> {
    inner: S,
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

impl<S: ResourceStore> PrescriptionGate<S> {
    /// Guards the prescriptions written to `inner` with `checker`'s findings.
    pub fn new(inner: S, checker: Arc<Checker>, clock: Arc<dyn Clock>) -> Self {
        PrescriptionGate {
            inner,
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
            Some(patient) => record::load(kb, &self.inner, &platform, patient).await?,
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
        let acknowledged = record::acknowledgements(&self.inner, &platform, patient, None).await?;
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
impl<S: ResourceStore> ResourceStore for PrescriptionGate<S> {
    async fn create(&self, ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource> {
        let resource = self.admit(ctx, resource, None, &[]).await?;
        self.inner.create(ctx, resource).await
    }

    async fn read(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource> {
        self.inner.read(ctx, resource_type, id).await
    }

    async fn vread(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> FhirResult<StoredResource> {
        self.inner.vread(ctx, resource_type, id, version).await
    }

    async fn update(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        resource: Value,
        if_match: Option<VersionId>,
    ) -> FhirResult<WriteOutcome> {
        let resource = self.admit(ctx, resource, Some(id), &[]).await?;
        self.inner
            .update(ctx, resource_type, id, resource, if_match)
            .await
    }

    async fn delete(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> FhirResult<Option<WriteOutcome>> {
        self.inner.delete(ctx, resource_type, id, if_match).await
    }

    async fn history(&self, ctx: &RequestContext, query: &HistoryQuery) -> FhirResult<HistoryPage> {
        self.inner.history(ctx, query).await
    }

    async fn transaction(
        &self,
        ctx: &RequestContext,
        mut ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        let kb = KnowledgeBase::offline();
        // Every prescription of the bundle, for checking each against the others.
        let drafted: Vec<(usize, ActiveMedication)> = ops
            .iter()
            .enumerate()
            .filter_map(|(index, op)| match op {
                WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => {
                    prescription(kb, resource).map(|found| (index, found.active))
                }
                WriteOp::Delete { .. } => None,
            })
            .collect();
        for (index, _) in &drafted {
            let siblings: Vec<ActiveMedication> = drafted
                .iter()
                .filter(|(other, _)| other < index)
                .map(|(_, medication)| medication.clone())
                .collect();
            let op = &mut ops[*index];
            let (resource, replacing) = match op {
                WriteOp::Create { resource, .. } => (resource, None),
                WriteOp::Update { resource, id, .. } => (resource, Some(id.clone())),
                WriteOp::Delete { .. } => continue,
            };
            let admitted = self
                .admit(ctx, resource.take(), replacing.as_ref(), &siblings)
                .await
                .map_err(|err| FhirError::BundleEntry {
                    index: *index,
                    source: Box::new(err),
                })?;
            *resource = admitted;
        }
        self.inner.transaction(ctx, ops).await
    }

    async fn find_by_identifier(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        system: Option<&str>,
        value: &str,
    ) -> FhirResult<Vec<ResourceId>> {
        self.inner
            .find_by_identifier(ctx, resource_type, system, value)
            .await
    }

    async fn search(&self, ctx: &RequestContext, query: &SearchQuery) -> FhirResult<SearchPage> {
        self.inner.search(ctx, query).await
    }

    async fn changes_since(
        &self,
        ctx: &RequestContext,
        after_seq: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        self.inner.changes_since(ctx, after_seq, limit).await
    }

    async fn close(&self) -> FhirResult<()> {
        self.inner.close().await
    }
}
