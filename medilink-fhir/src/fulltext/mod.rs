//! Full-text search for `_text` (narrative) and `_content` (all string content): the
//! [`SearchIndex`] seam, its Tantivy implementation and the follower that feeds it.
//!
//! The index is derived data. It is filled only from the store's change feed
//! ([`ResourceStore::changes_since`]) and remembers, durably with each commit, the highest
//! feed position it has applied ([`SearchIndex::position`]). So:
//! - a restart continues where the index left off, without reindexing;
//! - an index directory that is deleted or unreadable is recreated empty at position 0 and
//!   refilled from the whole feed by the next [`catch_up`] or [`follow`] step;
//! - every server process follows the feed into its own index directory, so several servers
//!   on one PostgreSQL database converge without coordinating.
//!
//! Queries return keys and scores, never resources: the caller reads the resources from the
//! store (and applies consent there).
//!
//! The seam ([`SearchIndex`], [`FullTextQuery`], [`catch_up`], [`follow`]) is always compiled,
//! so the use cases over it (`medilink_consent::fhir_access`) need no backend; the Tantivy
//! implementation is the feature `tantivy`.

mod extract;
mod follow;
#[cfg(feature = "tantivy")]
mod query;
#[cfg(feature = "tantivy")]
mod tantivy_index;

use std::fmt::Debug;

use async_trait::async_trait;

use crate::context::RequestContext;
use crate::error::FhirResult;
use crate::model::{ResourceId, ResourceType};
use crate::store::{ResourceStore, StoredResource};

pub use extract::{content_strings, narrative_text, strip_xhtml};
pub use follow::{FEED_BATCH, catch_up, follow, realign};
#[cfg(feature = "tantivy")]
pub use tantivy_index::TantivySearchIndex;

/// A full-text search request. When both `text` and `content` are given, a hit must match
/// both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullTextQuery {
    /// `_text`: words and `"quoted phrases"` that must all occur in the narrative.
    pub text: Option<String>,
    /// `_content`: words and `"quoted phrases"` that must all occur in the resource's string
    /// content (narrative included).
    pub content: Option<String>,
    /// Only these resource types; empty means all.
    pub resource_types: Vec<ResourceType>,
    /// At most this many hits, best first.
    pub limit: usize,
}

/// One matching resource.
#[derive(Debug, Clone, PartialEq)]
pub struct FullTextHit {
    /// The resource's type.
    pub resource_type: ResourceType,
    /// The resource's logical id.
    pub id: ResourceId,
    /// Relevance (BM25); only meaningful for ordering hits of one query.
    pub score: f32,
}

/// A full-text index over the current versions of the store's resources.
#[async_trait]
pub trait SearchIndex: Send + Sync + Debug {
    /// Applies change-feed entries in feed order: indexes each live version under its
    /// `Type/id` (replacing the previous one) and removes tombstoned resources, then commits
    /// together with the new position. Entries at or below [`position`](Self::position) are
    /// already reflected and skipped, so applying the same changes twice gives the same index.
    async fn apply(&self, changes: &[StoredResource]) -> FhirResult<()>;

    /// The highest feed position applied and committed (0 for an empty index).
    fn position(&self) -> u64;

    /// The best hits for `query`. A query with neither `text` nor `content` is a bad
    /// request; one whose words are all punctuation matches nothing.
    async fn query(&self, query: &FullTextQuery) -> FhirResult<Vec<FullTextHit>>;

    /// Empties the index (position 0) and re-applies the whole feed of `store`; returns how
    /// many feed entries were applied. Searches see a partial index until it returns.
    /// `progress` is called after each committed batch with the feed position reached (the
    /// `maintenance.reindex` job reports it).
    async fn rebuild(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> FhirResult<u64>;
}
