//! FHIR search: the parameter registry built from the official R4 definitions, index
//! extraction at write time, the parsed query model, and result shaping.
//!
//! Planning a [`SearchQuery`] into SQL over the index tables is the SQL backend's job
//! (`backend/sql/search.rs`).

pub mod compartment;
#[cfg_attr(
    not(feature = "sql"),
    allow(
        dead_code,
        reason = "the index rows are written by the SQL backends only"
    )
)]
pub(crate) mod extract;
pub mod limits;
pub mod normalize;
pub mod query;
pub mod registry;

pub use query::{
    Criterion, Include, Modifier, Prefix, Restriction, SearchQuery, SearchValue, SortKey, Summary,
    TokenValue, TotalMode, Visibility,
};
pub use registry::{ParamType, SearchParam, registry};

use crate::error::Issue;
use crate::store::StoredResource;

/// One page of search results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The matches on this page, in order.
    pub matches: Vec<StoredResource>,
    /// Resources added by `_include` / `_revinclude`.
    pub includes: Vec<StoredResource>,
    /// Number of matches over all pages, when asked for.
    pub total: Option<u64>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
    /// Cursor of the previous page.
    pub previous_cursor: Option<String>,
    /// Warnings (ignored parameters) for the result Bundle's OperationOutcome.
    pub warnings: Vec<Issue>,
}

pub mod shape;
