//! [`ResultNotices`]: a [`ResourceStore`] that tells a patient when a physician files results
//! into their record — a final, amended or corrected `Observation` or `DiagnosticReport` whose
//! subject is the patient, written by a signed-in physician (create, update, or an entry of a
//! transaction; batch entries are single writes). One `results.filed` notice per patient and
//! request, after the write succeeded. The platform's own writes are not told here: ingest
//! tells its own (once per document job), and imports tell nobody.
//!
//! It wraps the store inside the consent guard (the guard decided the write first); a notice
//! that cannot be stored is logged and never undoes the write.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::search::{SearchPage, SearchQuery};
use medilink_fhir::{
    FhirResult, HistoryPage, HistoryQuery, RequestContext, ResourceId, ResourceStore, ResourceType,
    StoredResource, VersionId, WriteOp, WriteOutcome,
};
use serde_json::Value;

use super::{Event, NotificationKind, Notify, Recipient};
use crate::{Caller, CallerContext, Role};

/// Wraps a store and tells patients about results physicians file into their record.
#[derive(Debug, Clone)]
pub struct ResultNotices<S> {
    inner: S,
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

impl<S: ResourceStore> ResultNotices<S> {
    /// Tells patients through `notify` about results written to `inner`.
    pub fn new(inner: S, notify: Arc<dyn Notify>) -> Self {
        ResultNotices { inner, notify }
    }

    async fn tell(&self, ctx: &RequestContext, patients: BTreeSet<String>) {
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

    /// The patients `resources` file results for, when a physician writes them.
    fn patients<'a>(
        ctx: &RequestContext,
        resources: impl IntoIterator<Item = &'a Value>,
    ) -> BTreeSet<String> {
        if !by_physician(ctx) {
            return BTreeSet::new();
        }
        resources.into_iter().filter_map(filed_for).collect()
    }
}

#[async_trait]
impl<S: ResourceStore> ResourceStore for ResultNotices<S> {
    async fn create(&self, ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource> {
        let patients = Self::patients(ctx, [&resource]);
        let created = self.inner.create(ctx, resource).await?;
        self.tell(ctx, patients).await;
        Ok(created)
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
        let patients = Self::patients(ctx, [&resource]);
        let outcome = self
            .inner
            .update(ctx, resource_type, id, resource, if_match)
            .await?;
        self.tell(ctx, patients).await;
        Ok(outcome)
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
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        let written = ops.iter().filter_map(|op| match op {
            WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => Some(resource),
            WriteOp::Delete { .. } => None,
        });
        let patients = Self::patients(ctx, written);
        let outcomes = self.inner.transaction(ctx, ops).await?;
        self.tell(ctx, patients).await;
        Ok(outcomes)
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
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        self.inner.changes_since(ctx, after, limit).await
    }

    async fn close(&self) -> FhirResult<()> {
        self.inner.close().await
    }
}
