//! [`WriteHook`] and [`Hooked`]: work that layers above the store do around writes, without
//! each re-implementing [`ResourceStore`]. A hook sees every write of a request — a create, an
//! update, a delete, each entry of a transaction (a batch entry is a single write) — before it
//! lands, and may change the resource or refuse the write; after the request's writes landed
//! it sees the versions written. Reads, history, search and the change feed pass through.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult};
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::search::{SearchPage, SearchQuery};
use crate::store::{
    HistoryPage, HistoryQuery, ResourceStore, StoredResource, WriteOp, WriteOutcome,
};

/// Work around the writes of a store (see the module documentation).
#[async_trait]
pub trait WriteHook: Send + Sync + Debug {
    /// Before `op` lands; `earlier` are the writes before it in the same transaction (empty
    /// for a single write). An error refuses the whole request (in a transaction it is
    /// reported as the entry's).
    async fn before(
        &self,
        _ctx: &RequestContext,
        _op: &mut WriteOp,
        _earlier: &[WriteOp],
    ) -> FhirResult<()> {
        Ok(())
    }

    /// Writes to add to the request, in its transaction (after every `before`): records the
    /// hook derives from the request's writes that must land with them or not at all — an
    /// outbox row that the change feed then carries. A single write with companions runs as a
    /// transaction of the write and its companions (the caller still sees a single write).
    async fn companions(
        &self,
        _ctx: &RequestContext,
        _ops: &[WriteOp],
    ) -> FhirResult<Vec<WriteOp>> {
        Ok(Vec::new())
    }

    /// After the request's writes landed, with the versions written (companions included).
    /// Cannot fail the request (what it does is the hook's to log).
    async fn after(&self, _ctx: &RequestContext, _written: &[&StoredResource]) {}
}

/// A store with [`WriteHook`]s around its writes (run in order).
#[derive(Debug, Clone)]
pub struct Hooked<S> {
    inner: S,
    hooks: Vec<Arc<dyn WriteHook>>,
}

impl<S: ResourceStore> Hooked<S> {
    /// `inner` with `hooks` around its writes.
    pub fn new(inner: S, hooks: Vec<Arc<dyn WriteHook>>) -> Self {
        Hooked { inner, hooks }
    }

    async fn before(&self, ctx: &RequestContext, op: &mut WriteOp) -> FhirResult<()> {
        for hook in &self.hooks {
            hook.before(ctx, op, &[]).await?;
        }
        Ok(())
    }

    async fn after(&self, ctx: &RequestContext, written: &[&StoredResource]) {
        for hook in &self.hooks {
            hook.after(ctx, written).await;
        }
    }

    async fn companions(&self, ctx: &RequestContext, ops: &[WriteOp]) -> FhirResult<Vec<WriteOp>> {
        let mut companions = Vec::new();
        for hook in &self.hooks {
            companions.extend(hook.companions(ctx, ops).await?);
        }
        Ok(companions)
    }

    /// Runs the single write `op` with its companions, if it has any (`None`: it has none and
    /// the caller writes it alone). The outcome is the write's; an error of the transaction's
    /// first entry is the write's own error.
    async fn with_companions(
        &self,
        ctx: &RequestContext,
        op: &WriteOp,
    ) -> FhirResult<Option<Option<WriteOutcome>>> {
        let companions = self.companions(ctx, std::slice::from_ref(op)).await?;
        if companions.is_empty() {
            return Ok(None);
        }
        let mut ops = vec![op.clone()];
        ops.extend(companions);
        let outcomes = match self.inner.transaction(ctx, ops).await {
            Ok(outcomes) => outcomes,
            Err(FhirError::BundleEntry { index: 0, source }) => return Err(*source),
            Err(err) => return Err(err),
        };
        let written: Vec<&StoredResource> = outcomes
            .iter()
            .flatten()
            .map(|outcome| &outcome.stored)
            .collect();
        self.after(ctx, &written).await;
        Ok(Some(outcomes.into_iter().next().flatten()))
    }
}

/// The resource of a create or update op.
fn resource_of(op: WriteOp) -> Value {
    match op {
        WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => resource,
        WriteOp::Delete { .. } => Value::Null,
    }
}

#[async_trait]
impl<S: ResourceStore> ResourceStore for Hooked<S> {
    async fn create(&self, ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource> {
        let mut op = WriteOp::Create { resource, id: None };
        self.before(ctx, &mut op).await?;
        if let Some(outcome) = self.with_companions(ctx, &op).await? {
            return outcome
                .map(|outcome| outcome.stored)
                .ok_or_else(|| FhirError::Internal {
                    source: "a create wrote nothing".into(),
                });
        }
        let created = self.inner.create(ctx, resource_of(op)).await?;
        self.after(ctx, &[&created]).await;
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
        let mut op = WriteOp::Update {
            resource_type,
            id: id.clone(),
            resource,
            if_match,
        };
        self.before(ctx, &mut op).await?;
        if let Some(outcome) = self.with_companions(ctx, &op).await? {
            return outcome.ok_or_else(|| FhirError::Internal {
                source: "an update wrote nothing".into(),
            });
        }
        let outcome = self
            .inner
            .update(ctx, resource_type, id, resource_of(op), if_match)
            .await?;
        self.after(ctx, &[&outcome.stored]).await;
        Ok(outcome)
    }

    async fn delete(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> FhirResult<Option<WriteOutcome>> {
        let mut op = WriteOp::Delete {
            resource_type,
            id: id.clone(),
            if_match,
        };
        self.before(ctx, &mut op).await?;
        if let Some(outcome) = self.with_companions(ctx, &op).await? {
            return Ok(outcome);
        }
        let outcome = self.inner.delete(ctx, resource_type, id, if_match).await?;
        if let Some(outcome) = &outcome {
            self.after(ctx, &[&outcome.stored]).await;
        }
        Ok(outcome)
    }

    async fn history(&self, ctx: &RequestContext, query: &HistoryQuery) -> FhirResult<HistoryPage> {
        self.inner.history(ctx, query).await
    }

    async fn transaction(
        &self,
        ctx: &RequestContext,
        mut ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        for index in 0..ops.len() {
            let (earlier, rest) = ops.split_at_mut(index);
            for hook in &self.hooks {
                hook.before(ctx, &mut rest[0], earlier)
                    .await
                    .map_err(|err| FhirError::BundleEntry {
                        index,
                        source: Box::new(err),
                    })?;
            }
        }
        let companions = self.companions(ctx, &ops).await?;
        let requested = ops.len();
        ops.extend(companions);
        let mut outcomes = self.inner.transaction(ctx, ops).await?;
        let written: Vec<&StoredResource> = outcomes
            .iter()
            .flatten()
            .map(|outcome| &outcome.stored)
            .collect();
        self.after(ctx, &written).await;
        outcomes.truncate(requested);
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

    async fn changes_of_type_since(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        self.inner
            .changes_of_type_since(ctx, resource_type, after, limit)
            .await
    }

    async fn close(&self) -> FhirResult<()> {
        self.inner.close().await
    }
}
