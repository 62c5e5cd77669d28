//! FHIR `capabilities`: `GET [base]/metadata`, a CapabilityStatement that lists exactly the
//! interactions this server implements.

use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::ResourceType;
use medilink_fhir::clock::format_instant;
use serde_json::{Value, json};

use crate::extract::Base;
use crate::fhir_response::FhirResponse;
use crate::state::AppState;

/// The interactions every resource type supports.
const TYPE_INTERACTIONS: [&str; 8] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
];

/// The system-level interactions.
const SYSTEM_INTERACTIONS: [&str; 3] = ["transaction", "batch", "history-system"];

/// `GET [base]/metadata`.
pub(crate) async fn capabilities(State(app): State<AppState>, Base(base): Base) -> FhirResponse {
    let date = format_instant(app.clock.now());
    FhirResponse::json(StatusCode::OK, capability_statement(&base, &date))
}

fn codes(codes: &[&str]) -> Vec<Value> {
    codes.iter().map(|code| json!({"code": code})).collect()
}

fn capability_statement(base: &str, date: &str) -> Value {
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|resource_type| {
            json!({
                "type": resource_type.as_str(),
                "interaction": codes(&TYPE_INTERACTIONS),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": false,
                "conditionalRead": "not-supported",
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "MediLink",
        "kind": "instance",
        "software": {"name": "MediLink", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "MediLink FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": codes(&SYSTEM_INTERACTIONS),
        }],
    })
}
