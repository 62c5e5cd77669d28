//! `GET /api/search?q=…[&limit=…]`: cross-resource full text, restricted by consent.
//!
//! The full-text index (caught up first, so the caller's own writes are found) only proposes
//! candidates `Type/id`; each type's candidates then go through the consent-guarded store's
//! search as a [`Criterion::Ids`] criterion, so the guard's restriction is part of the query
//! and nothing the caller may not see is returned or counted. Types the caller's role never
//! sees contribute nothing. `total` counts the permitted matches among the best
//! [`FULLTEXT_LIMIT`] candidates; `results` holds the best `limit` of them (default 20, at
//! most 100), best first.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Query, State};
use medilink_fhir::fulltext::{FullTextQuery, catch_up};
use medilink_fhir::search::query::MAX_COUNT;
use medilink_fhir::search::{Criterion, SearchQuery};
use medilink_fhir::{FhirError, IssueCode, ResourceType, StoredResource};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Candidates taken from the full-text index at most.
const FULLTEXT_LIMIT: usize = 10_000;
/// Default and largest number of results returned.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// Query of `/api/search`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
}

/// A short label for a result: a name, a code's text, or nothing.
fn display(resource: &Value) -> Option<String> {
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(name) = resource["name"].as_array().and_then(|names| names.first()) {
        if let Some(text) = text(&name["text"]) {
            return Some(text);
        }
        let mut parts: Vec<String> = name["given"]
            .as_array()
            .map(|given| given.iter().filter_map(text).collect())
            .unwrap_or_default();
        parts.extend(text(&name["family"]));
        if !parts.is_empty() {
            return Some(parts.join(" "));
        }
    }
    text(&resource["name"])
        .or_else(|| text(&resource["code"]["text"]))
        .or_else(|| text(&resource["code"]["coding"][0]["display"]))
        .or_else(|| text(&resource["title"]))
}

/// `GET /api/search?q=`.
pub(crate) async fn search(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return Err(ApiError::bad_request(IssueCode::Required, "q is required"));
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let index = app.search_index.as_ref();
    catch_up(&app.store, index).await?;
    let hits = index
        .query(&FullTextQuery {
            text: None,
            content: Some(q.to_owned()),
            resource_types: Vec::new(),
            limit: FULLTEXT_LIMIT,
        })
        .await?;
    let mut by_type: HashMap<ResourceType, Vec<String>> = HashMap::new();
    for hit in &hits {
        by_type
            .entry(hit.resource_type)
            .or_default()
            .push(hit.id.as_str().to_owned());
    }
    let ctx = caller.context();
    let mut permitted: HashMap<(ResourceType, String), StoredResource> = HashMap::new();
    for (resource_type, ids) in by_type {
        for chunk in ids.chunks(MAX_COUNT) {
            let mut query = SearchQuery::parse(resource_type, &[], false)?;
            query.criteria.push(Criterion::Ids(chunk.to_vec()));
            query.count = MAX_COUNT;
            let page = match app.store.search(ctx, &query).await {
                Ok(page) => page,
                // The role never sees this type: it contributes nothing.
                Err(FhirError::Forbidden { .. }) => break,
                Err(err) => return Err(err.into()),
            };
            for stored in page.matches {
                permitted.insert((resource_type, stored.id.as_str().to_owned()), stored);
            }
        }
    }
    let mut seen = HashSet::new();
    let mut results = Vec::new();
    for hit in &hits {
        let key = (hit.resource_type, hit.id.as_str().to_owned());
        if results.len() >= limit || seen.contains(&key) {
            continue;
        }
        let Some(stored) = permitted.get(&key) else {
            continue;
        };
        let resource: Option<Value> = stored
            .json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok());
        let mut result = json!({
            "resourceType": hit.resource_type.as_str(),
            "id": hit.id.as_str(),
        });
        if let Some(label) = resource.as_ref().and_then(display) {
            result["display"] = json!(label);
        }
        results.push(result);
        seen.insert(key);
    }
    Ok(Json(
        json!({ "results": results, "total": permitted.len() }),
    ))
}
