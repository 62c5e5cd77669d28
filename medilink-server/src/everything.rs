//! `GET [base]/Patient/{id}/$everything`: the patient and every resource in their Patient
//! compartment, as one `searchset` Bundle.
//!
//! Everything goes through the consent-guarded store: the patient is read first (a patient
//! the caller may not see is `404`, exactly like a missing one), then each compartment type
//! is searched with [`Criterion::PatientCompartment`] of that one patient, to which the guard
//! adds the caller's own restriction. The Bundle is capped at [`EVERYTHING_LIMIT`] resources;
//! a capped Bundle says so in an `outcome` entry.

use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::search::compartment::patient_compartment_params;
use medilink_fhir::search::query::MAX_COUNT;
use medilink_fhir::search::{Criterion, SearchQuery};
use medilink_fhir::{
    ErrorKind, FhirError, Issue, IssueCode, ResourceType, Severity, StoredResource,
};
use serde_json::{Value, json};

use crate::context::Caller;
use crate::error::{ApiError, operation_outcome};
use crate::extract::{Base, InstancePath};
use crate::fhir_response::FhirResponse;
use crate::state::AppState;

/// Most resources one `$everything` Bundle holds (the patient included).
pub(crate) const EVERYTHING_LIMIT: usize = 5000;

fn entry(base: &str, stored: &StoredResource) -> Result<Option<Value>, FhirError> {
    let Some(json) = stored.json.as_deref() else {
        return Ok(None);
    };
    let resource: Value = serde_json::from_str(json).map_err(|err| FhirError::Internal {
        source: Box::new(err),
    })?;
    Ok(Some(json!({
        "fullUrl": format!("{base}/{}", stored.reference()),
        "resource": resource,
        "search": {"mode": "match"},
    })))
}

/// `GET [base]/Patient/{id}/$everything`.
pub(crate) async fn everything(
    State(app): State<AppState>,
    caller: Caller,
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
    let ctx = caller.context();
    let patient = app.store.read(ctx, ResourceType::Patient, &id).await?;
    let mut entries: Vec<Value> = entry(&base, &patient)?.into_iter().collect();
    let mut capped = false;
    'types: for resource_type in ResourceType::ALL {
        if resource_type == ResourceType::Patient
            || patient_compartment_params(resource_type).is_empty()
        {
            continue;
        }
        let mut query = SearchQuery::parse(resource_type, &[], false)?;
        query
            .criteria
            .push(Criterion::PatientCompartment(vec![id.as_str().to_owned()]));
        query.count = MAX_COUNT;
        loop {
            let page = app.store.search(ctx, &query).await?;
            for stored in &page.matches {
                if entries.len() >= EVERYTHING_LIMIT {
                    capped = true;
                    break 'types;
                }
                entries.extend(entry(&base, stored)?);
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
    }
    let total = entries.len();
    if capped {
        let warning = Issue {
            severity: Severity::Warning,
            code: IssueCode::TooLong,
            expression: None,
            diagnostics: format!(
                "only the first {EVERYTHING_LIMIT} resources of the compartment are returned"
            ),
        };
        entries.push(json!({
            "resource": operation_outcome(&[warning]),
            "search": {"mode": "outcome"},
        }));
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "id": app.ids.new_id(),
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": format!("{base}/Patient/{id}/$everything")}],
        "entry": entries,
    });
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}
