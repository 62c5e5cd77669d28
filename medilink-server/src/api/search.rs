//! `GET /api/search?q=…[&limit=…]`: cross-resource full text, restricted by consent.
//!
//! The use case is [`FhirAccess::search_everywhere`]: the full-text index only proposes
//! candidates, the consent-guarded store decides what the caller sees, and `total` counts the
//! permitted matches among the best `FULLTEXT_LIMIT` candidates; `results` holds the best
//! `limit` of them (default 20, at most 100), best first.

use axum::Json;
use axum::extract::{Query, State};
use medilink_consent::FhirAccess;
use medilink_consent::fhir_access::{DEFAULT_TEXT_RESULTS, TextMatches};
use medilink_fhir::IssueCode;
use serde::Deserialize;

use crate::context::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Query of `/api/search`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/search?q=`.
pub(crate) async fn search(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<SearchParams>,
) -> Result<Json<TextMatches>, ApiError> {
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return Err(ApiError::bad_request(IssueCode::Required, "q is required"));
    }
    let limit = params.limit.unwrap_or(DEFAULT_TEXT_RESULTS);
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    Ok(Json(
        access.search_everywhere(caller.context(), q, limit).await?,
    ))
}
