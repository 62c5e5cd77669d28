//! The [`ResourceStore`] seam: versioned FHIR resources with optimistic locking, history,
//! all-or-nothing transactions and a change feed.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use crate::context::RequestContext;
use crate::error::FhirResult;
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::search::{SearchPage, SearchQuery};

mod hooks;

pub use hooks::{Hooked, WriteHook};

/// One stored version of a resource.
#[derive(Debug, Clone)]
pub struct StoredResource {
    /// The resource's type.
    pub resource_type: ResourceType,
    /// The logical id.
    pub id: ResourceId,
    /// The version this row holds.
    pub version_id: VersionId,
    /// When this version was written.
    pub last_updated: OffsetDateTime,
    /// The global sequence number of the write (the change feed position).
    pub seq: u64,
    /// The resource as JSON text with `meta.versionId`/`meta.lastUpdated` set; `None` for a
    /// deletion (tombstone) version.
    pub json: Option<Arc<str>>,
}

impl StoredResource {
    /// Whether this version is a deletion.
    pub fn is_deleted(&self) -> bool {
        self.json.is_none()
    }

    /// The interaction that produced this version, as a FHIR `Bundle.entry.request.method`.
    pub fn method(&self) -> &'static str {
        if self.is_deleted() {
            "DELETE"
        } else if self.version_id.get() == 1 {
            "POST"
        } else {
            "PUT"
        }
    }

    /// `Type/id`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.resource_type, self.id)
    }
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The version written (for a delete: the tombstone).
    pub stored: StoredResource,
    /// Whether the write created the resource (no live version existed before).
    pub created: bool,
}

/// A write inside a [`ResourceStore::transaction`].
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Create a new resource; the store assigns an id unless one is given (bundles assign ids
    /// up front so that `urn:uuid:` references can be resolved). Fails if the id exists.
    Create {
        /// The resource (must carry `resourceType`).
        resource: Value,
        /// A pre-assigned id.
        id: Option<ResourceId>,
    },
    /// Update, or create with a client-chosen id.
    Update {
        /// Type in the URL.
        resource_type: ResourceType,
        /// Id in the URL.
        id: ResourceId,
        /// The new content.
        resource: Value,
        /// `If-Match` version.
        if_match: Option<VersionId>,
    },
    /// Delete (writes a tombstone; deleting a missing or deleted resource writes nothing).
    Delete {
        /// Type in the URL.
        resource_type: ResourceType,
        /// Id in the URL.
        id: ResourceId,
        /// `If-Match` version.
        if_match: Option<VersionId>,
    },
}

/// Which resources a history request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    /// `GET [base]/_history`.
    System,
    /// `GET [base]/[type]/_history`.
    Type(ResourceType),
    /// `GET [base]/[type]/[id]/_history`.
    Instance(ResourceType, ResourceId),
}

/// Parameters of a history request.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// What to list.
    pub scope: HistoryScope,
    /// `_since`: only versions written at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// `_at`: only versions that were current at some time from this instant on.
    pub at: Option<OffsetDateTime>,
    /// Page size.
    pub count: usize,
    /// Paging cursor: only versions with a sequence number below this one.
    pub before_seq: Option<u64>,
}

/// One page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The versions on this page.
    pub entries: Vec<StoredResource>,
    /// Total number of versions matching the query (all pages).
    pub total: u64,
    /// Cursor of the next (older) page, when there is one.
    pub next_before_seq: Option<u64>,
}

/// Storage of versioned FHIR resources.
///
/// Every method takes the caller's [`RequestContext`] first, so that a consent guard can wrap
/// any store and implement the same trait.
#[async_trait]
pub trait ResourceStore: Send + Sync + Debug {
    /// Creates a resource with a server-assigned id (version 1).
    async fn create(&self, ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource>;

    /// The current version; [`crate::FhirError::Gone`] when it is deleted.
    async fn read(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource>;

    /// A specific version (a tombstone version reads as [`crate::FhirError::Gone`]).
    async fn vread(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> FhirResult<StoredResource>;

    /// Updates (or creates, with the client's id) a resource; `if_match` enforces the current
    /// version.
    async fn update(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        resource: Value,
        if_match: Option<VersionId>,
    ) -> FhirResult<WriteOutcome>;

    /// Deletes a resource by writing a tombstone version. Returns `None` when there was no
    /// live resource to delete (nothing is written).
    async fn delete(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> FhirResult<Option<WriteOutcome>>;

    /// A page of history, newest first.
    async fn history(&self, ctx: &RequestContext, query: &HistoryQuery) -> FhirResult<HistoryPage>;

    /// Applies all writes or none. The outcomes are in the order of `ops`; a delete of a
    /// missing resource yields `None`.
    async fn transaction(
        &self,
        ctx: &RequestContext,
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>>;

    /// Ids of the live resources of `resource_type` carrying an `identifier` with this value
    /// (and system, when given). Serves conditional create and conditional references until
    /// general search lands.
    async fn find_by_identifier(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        system: Option<&str>,
        value: &str,
    ) -> FhirResult<Vec<ResourceId>>;

    /// One page of a search: matches (current versions of live resources) in the query's
    /// sort order, plus `_include`/`_revinclude` resources, the total and paging cursors.
    async fn search(&self, ctx: &RequestContext, query: &SearchQuery) -> FhirResult<SearchPage>;

    /// Versions written after sequence number `after`, in sequence order (the change feed).
    async fn changes_since(
        &self,
        ctx: &RequestContext,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>>;

    /// Versions of `resource_type` written after sequence number `after`, in sequence order:
    /// the change feed of one type (a relay following one type reads only its rows). The
    /// default filters [`ResourceStore::changes_since`].
    async fn changes_of_type_since(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        let limit = limit.max(1);
        let mut found = Vec::new();
        let mut after = after;
        loop {
            let page = self.changes_since(ctx, after, 500).await?;
            let Some(last) = page.last() else {
                return Ok(found);
            };
            after = last.seq;
            for stored in page {
                if stored.resource_type == resource_type {
                    found.push(stored);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
        }
    }

    /// Closes the store cleanly (connection pools drained, SQLite checkpointed). Later calls
    /// fail with [`crate::FhirError::Unavailable`].
    async fn close(&self) -> FhirResult<()>;
}

#[async_trait]
impl<S: ResourceStore + ?Sized> ResourceStore for Arc<S> {
    async fn create(&self, ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource> {
        (**self).create(ctx, resource).await
    }
    async fn read(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource> {
        (**self).read(ctx, resource_type, id).await
    }
    async fn vread(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> FhirResult<StoredResource> {
        (**self).vread(ctx, resource_type, id, version).await
    }
    async fn update(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        resource: Value,
        if_match: Option<VersionId>,
    ) -> FhirResult<WriteOutcome> {
        (**self)
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
        (**self).delete(ctx, resource_type, id, if_match).await
    }
    async fn history(&self, ctx: &RequestContext, query: &HistoryQuery) -> FhirResult<HistoryPage> {
        (**self).history(ctx, query).await
    }
    async fn transaction(
        &self,
        ctx: &RequestContext,
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        (**self).transaction(ctx, ops).await
    }
    async fn find_by_identifier(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        system: Option<&str>,
        value: &str,
    ) -> FhirResult<Vec<ResourceId>> {
        (**self)
            .find_by_identifier(ctx, resource_type, system, value)
            .await
    }
    async fn search(&self, ctx: &RequestContext, query: &SearchQuery) -> FhirResult<SearchPage> {
        (**self).search(ctx, query).await
    }
    async fn changes_since(
        &self,
        ctx: &RequestContext,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        (**self).changes_since(ctx, after, limit).await
    }
    async fn changes_of_type_since(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        (**self)
            .changes_of_type_since(ctx, resource_type, after, limit)
            .await
    }
    async fn close(&self) -> FhirResult<()> {
        (**self).close().await
    }
}
