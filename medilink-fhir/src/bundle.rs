//! Batch and transaction Bundles (`POST [base]` with a Bundle of type `batch`/`transaction`).
//!
//! The outcome is structured ([`BundleOutcome`]); turning it into a response Bundle with HTTP
//! status lines is the server's job.

use serde_json::Value;

use crate::clock::IdGen;
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult};
use crate::store::{ResourceStore, StoredResource};

/// Which kind of Bundle was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleType {
    /// Entries succeed or fail independently.
    Batch,
    /// All entries or none.
    Transaction,
}

/// What an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    /// A resource was created (201).
    Created,
    /// An existing resource was updated (200).
    Updated,
    /// A resource was deleted (204).
    Deleted,
    /// A delete found nothing live to delete (204).
    NothingDeleted,
    /// A conditional create matched an existing resource (200, nothing written).
    Matched,
    /// A read (200).
    Read,
}

/// The successful result of one entry.
#[derive(Debug, Clone)]
pub struct EntryResult {
    /// What happened.
    pub action: EntryAction,
    /// The version written, matched or read (`None` for deletes of nothing).
    pub stored: Option<StoredResource>,
}

/// The result of processing a Bundle, one outcome per entry in the order of the request.
#[derive(Debug)]
pub struct BundleOutcome {
    /// Batch or transaction.
    pub bundle_type: BundleType,
    /// Per entry: its result, or (batch only) its error.
    pub entries: Vec<FhirResult<EntryResult>>,
}

/// Processes a batch or transaction Bundle against `store`.
pub async fn process(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ids: &dyn IdGen,
    bundle: Value,
) -> FhirResult<BundleOutcome> {
    let _ = (store, ctx, ids, bundle);
    Err(FhirError::Unsupported {
        feature: "bundles".to_owned(),
    })
}
