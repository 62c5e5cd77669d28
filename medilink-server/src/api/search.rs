//! `GET /api/search?q=…[&limit=…]`: cross-resource full text, restricted by consent.
//!
//! The use case is [`FhirAccess::search_everywhere`]: the full-text index only proposes
//! candidates, the consent-guarded store decides what the caller sees, and `total` counts the
//! permitted matches among the best `FULLTEXT_LIMIT` candidates; `results` holds the best
//! `limit` of them (default 20, at most 100), best first.

use axum::Json;
use axum::extract::State;
use medilink_consent::FhirAccess;
use medilink_consent::fhir_access::{DEFAULT_TEXT_RESULTS, TextMatch, TextMatches};
use medilink_fhir::IssueCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Query;
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// Query of `/api/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// The text to find (required).
    q: Option<String>,
    /// At most this many results (default 20, at most 100).
    limit: Option<usize>,
}

/// One resource found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchHit {
    #[serde(rename = "resourceType")]
    resource_type: String,
    id: String,
    /// A short label: a name, a code's text or a title, when the resource has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<String>,
}

/// The permitted matches, best first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchResults {
    results: Vec<SearchHit>,
    /// Permitted matches among the best 10 000 candidates.
    total: usize,
}

impl From<TextMatches> for SearchResults {
    fn from(matches: TextMatches) -> Self {
        let TextMatches { results, total } = matches;
        let results = results
            .into_iter()
            .map(
                |TextMatch {
                     resource_type,
                     id,
                     display,
                 }| SearchHit {
                    resource_type: resource_type.as_str().to_owned(),
                    id,
                    display,
                },
            )
            .collect();
        SearchResults { results, total }
    }
}

/// `GET /api/search?q=`.
pub(crate) async fn search(
    State(app): State<AppState>,
    caller: RequestCaller,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return Err(ApiError::bad_request(IssueCode::Required, "q is required"));
    }
    let limit = params.limit.unwrap_or(DEFAULT_TEXT_RESULTS);
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let matches = access.search_everywhere(caller.context(), q, limit).await?;
    Ok(Json(matches.into()))
}
