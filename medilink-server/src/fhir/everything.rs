//! `GET [base]/Patient/{id}/$everything`: the patient and every resource in their Patient
//! compartment, as a `searchset` Bundle, with the R4 parameters `_since`, `_type` and
//! `_count` (pages of `_count` resources linked by `next`/`previous`; issue #18).
//!
//! The use case is [`FhirAccess::everything_filtered`]: everything goes through the
//! consent-guarded store (a patient the caller may not see is `404`, exactly like a missing
//! one), capped at `EVERYTHING_LIMIT` resources; a capped Bundle says so in an `outcome`
//! entry. A page is an offset into that (deterministic) list.

use axum::extract::State;
use axum::http::StatusCode;
use medilink_consent::FhirAccess;
use medilink_consent::fhir_access::{Everything, EverythingFilter};
use medilink_fhir::search::normalize::date_range;
use medilink_fhir::search::query::MAX_COUNT;
use medilink_fhir::{ErrorKind, FhirResult, IssueCode, ResourceId, ResourceType};
use serde_json::{Value, json};

use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::{Base, InstancePath};
use crate::fhir::response::FhirResponse;
use crate::fhir::search::{SearchParams, entry, outcome_entry, parse_stored};
use crate::state::AppState;

/// `GET [base]/Patient/{id}/$everything`.
pub(crate) async fn everything(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    InstancePath(resource_type, id): InstancePath,
    params: SearchParams,
) -> Result<FhirResponse, ApiError> {
    if resource_type != ResourceType::Patient {
        return Err(ApiError::with_kind(
            ErrorKind::NotFound,
            IssueCode::NotSupported,
            "$everything is defined on Patient only",
        ));
    }
    let request = EverythingRequest::parse(&params.pairs)?;
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let everything = (access.everything_filtered(caller.context(), &id, &request.filter)).await?;
    let bundle = render(&base, &id, &request, everything, app.ids.new_id())?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// The parameters of one `$everything` request.
#[derive(Debug, Default)]
struct EverythingRequest {
    filter: EverythingFilter,
    /// `_count`: the page size (`None`: one page with everything).
    count: Option<usize>,
    /// `_cursor`: the offset of the page.
    offset: usize,
}

impl EverythingRequest {
    fn parse(pairs: &[(String, String)]) -> Result<EverythingRequest, ApiError> {
        let mut request = EverythingRequest::default();
        let invalid = |name: &str, why: &str| {
            ApiError::bad_request(IssueCode::Invalid, format!("$everything {name}: {why}"))
        };
        for (name, value) in pairs {
            match name.as_str() {
                "_since" => {
                    date_range(value).ok_or_else(|| invalid(name, "not a valid instant"))?;
                    request.filter.since = Some(value.clone());
                }
                "_type" => {
                    for name in value.split(',').map(str::trim) {
                        let resource_type = ResourceType::from_name(name).ok_or_else(|| {
                            ApiError::bad_request(
                                IssueCode::NotSupported,
                                "$everything _type: not an R4 resource type",
                            )
                        })?;
                        request.filter.types.push(resource_type);
                    }
                }
                "_count" => {
                    let count: usize = value
                        .parse()
                        .map_err(|_| invalid(name, "not a non-negative integer"))?;
                    request.count = Some(count.clamp(1, MAX_COUNT));
                }
                "_cursor" => {
                    request.offset = value.parse().map_err(|_| invalid(name, "not a cursor"))?;
                }
                _ => {
                    let name: String = name.chars().take(64).collect();
                    return Err(ApiError::bad_request(
                        IssueCode::NotSupported,
                        format!("$everything takes _since, _type and _count, not {name}"),
                    ));
                }
            }
        }
        Ok(request)
    }

    /// The URL of the page at `offset`.
    fn url(&self, path: &str, offset: usize) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(since) = &self.filter.since {
            query.append_pair("_since", since);
        }
        if !self.filter.types.is_empty() {
            let types: Vec<&str> = self.filter.types.iter().map(|t| t.as_str()).collect();
            query.append_pair("_type", &types.join(","));
        }
        if let Some(count) = self.count {
            query.append_pair("_count", &count.to_string());
            if offset > 0 {
                query.append_pair("_cursor", &offset.to_string());
            }
        }
        let query = query.finish();
        match query.is_empty() {
            true => path.to_owned(),
            false => format!("{path}?{query}"),
        }
    }
}

/// The `searchset` Bundle of (a page of) a patient's compartment; `total` counts every
/// resource of the result, the page's `entry` holds at most `_count` of them.
fn render(
    base: &str,
    id: &ResourceId,
    request: &EverythingRequest,
    everything: Everything,
    bundle_id: String,
) -> FhirResult<Value> {
    let warning = everything.warning();
    let total = everything.resources.len();
    let count = request.count.unwrap_or(total.max(1));
    let offset = request.offset.min(total);
    let path = format!("{base}/Patient/{id}/$everything");
    let mut link = vec![json!({"relation": "self", "url": request.url(&path, offset)})];
    if offset + count < total {
        let next = request.url(&path, offset + count);
        link.push(json!({"relation": "next", "url": next}));
    }
    if offset > 0 {
        let previous = request.url(&path, offset.saturating_sub(count));
        link.push(json!({"relation": "previous", "url": previous}));
    }
    let mut entries = Vec::with_capacity(count.min(total) + 1);
    for stored in everything.resources.iter().skip(offset).take(count) {
        if let Some(resource) = parse_stored(stored)? {
            entries.push(entry(base, stored, resource, "match"));
        }
    }
    if let Some(warning) = warning {
        entries.push(outcome_entry(&[warning]));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "searchset",
        "total": total,
        "link": link,
        "entry": entries,
    }))
}
