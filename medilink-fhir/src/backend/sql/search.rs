//! Planning a [`SearchQuery`] into SQL over the index tables, and running it.

use super::SqlResourceStore;
use crate::error::{FhirError, FhirResult};
use crate::search::{SearchPage, SearchQuery};

/// Runs one page of `query`.
pub(super) async fn run(store: &SqlResourceStore, query: &SearchQuery) -> FhirResult<SearchPage> {
    let _ = (store, query);
    Err(FhirError::Unsupported { feature: "search (in progress)".to_owned() })
}
