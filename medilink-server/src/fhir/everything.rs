//! `GET [base]/Patient/{id}/$everything`: the patient and every resource in their Patient
//! compartment, as one `searchset` Bundle.
//!
//! The use case is [`FhirAccess::everything`]: everything goes through the consent-guarded
//! store (a patient the caller may not see is `404`, exactly like a missing one), capped at
//! `EVERYTHING_LIMIT` resources; a capped Bundle says so in an `outcome` entry.

use axum::extract::State;
use axum::http::StatusCode;
use medilink_consent::FhirAccess;
use medilink_consent::fhir_access::Everything;
use medilink_fhir::{ErrorKind, FhirResult, IssueCode, ResourceId, ResourceType};
use serde_json::{Value, json};

use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::{Base, InstancePath};
use crate::fhir::response::FhirResponse;
use crate::fhir::search::{entry, outcome_entry, parse_stored};
use crate::state::AppState;

/// `GET [base]/Patient/{id}/$everything`.
pub(crate) async fn everything(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    InstancePath(resource_type, id): InstancePath,
) -> Result<FhirResponse, ApiError> {
    if resource_type != ResourceType::Patient {
        return Err(ApiError::with_kind(
            ErrorKind::NotFound,
            IssueCode::NotSupported,
            "$everything is defined on Patient only",
        ));
    }
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let everything = access.everything(caller.context(), &id).await?;
    let bundle = render(&base, &id, everything, app.ids.new_id())?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// The `searchset` Bundle of a patient's compartment.
fn render(
    base: &str,
    id: &ResourceId,
    everything: Everything,
    bundle_id: String,
) -> FhirResult<Value> {
    let warning = everything.warning();
    let mut entries = Vec::with_capacity(everything.resources.len() + 1);
    for stored in &everything.resources {
        if let Some(resource) = parse_stored(stored)? {
            entries.push(entry(base, stored, resource, "match"));
        }
    }
    let total = entries.len();
    if let Some(warning) = warning {
        entries.push(outcome_entry(&[warning]));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": format!("{base}/Patient/{id}/$everything")}],
        "entry": entries,
    }))
}
