//! FHIR `capabilities`: `GET [base]/metadata`, a CapabilityStatement that lists exactly the
//! interactions this server implements, with each type's search parameters (every registry
//! parameter the planner serves: all but `special` ones and `_query`), `_include` /
//! `_revinclude` values and `_list`, the conditional interactions, the patch formats, the
//! SMART App Launch security (`rest.security`, issue #17) and the operations with their
//! OperationDefinition canonicals (Bulk Data `export`, `Patient/$everything`,
//! `Observation/$lastn` and `$stats`, `$validate` on every type).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::ResourceType;
use medilink_fhir::clock::format_instant;
use medilink_fhir::search::{ParamType, SearchParam, registry};
use serde_json::{Value, json};

use crate::fhir::extract::Base;
use crate::fhir::response::FhirResponse;
use crate::state::AppState;

/// The interactions every resource type supports.
const TYPE_INTERACTIONS: [&str; 9] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// The system-level interactions.
const SYSTEM_INTERACTIONS: [&str; 4] = ["transaction", "batch", "history-system", "search-system"];

/// `GET [base]/metadata`.
pub(crate) async fn capabilities(State(app): State<AppState>, Base(base): Base) -> FhirResponse {
    FhirResponse::json(StatusCode::OK, statement(&app, &base))
}

/// The CapabilityStatement (also of a `GET metadata` entry of a batch or transaction).
pub(crate) fn statement(app: &AppState, base: &str) -> Value {
    let date = format_instant(app.clock.now());
    capability_statement(base, &date)
}

fn codes(codes: &[&str]) -> Vec<Value> {
    codes.iter().map(|code| json!({"code": code})).collect()
}

/// Whether the search planner serves `param` (full text goes through the index).
fn served(param: &SearchParam) -> bool {
    param.kind != ParamType::Special && param.code != "_query"
}

fn search_params(resource_type: ResourceType) -> Vec<Value> {
    let mut params: Vec<&SearchParam> = registry()
        .params(resource_type)
        .map(|param| param.as_ref())
        .filter(|param| served(param))
        .collect();
    params.sort_by(|a, b| a.code.cmp(&b.code));
    params
        .into_iter()
        .map(|p| json!({"name": p.code, "definition": p.url, "type": p.kind.as_str()}))
        .collect()
}

fn reference_codes(resource_type: ResourceType) -> Vec<String> {
    let mut codes: Vec<String> = registry()
        .params(resource_type)
        .filter(|param| param.kind == ParamType::Reference)
        .map(|param| param.code.clone())
        .collect();
    codes.sort();
    codes
}

/// Per target type, the `Source:param` values `_revinclude` accepts.
static REV_INCLUDES: LazyLock<BTreeMap<ResourceType, Vec<String>>> = LazyLock::new(|| {
    let mut by_target: BTreeMap<ResourceType, Vec<String>> = BTreeMap::new();
    for source in ResourceType::ALL {
        for code in reference_codes(source) {
            let Some(param) = registry().param(source, &code) else {
                continue;
            };
            let targets: &[ResourceType] = match param.targets.is_empty() {
                true => &ResourceType::ALL,
                false => &param.targets,
            };
            for target in targets {
                by_target
                    .entry(*target)
                    .or_default()
                    .push(format!("{source}:{code}"));
            }
        }
    }
    by_target
});

/// The search parameters of a system-level search (`_type` and `_count` are not search
/// parameters of the registry).
const SYSTEM_SEARCH: [&str; 7] = [
    "_text",
    "_content",
    "_id",
    "_lastUpdated",
    "_tag",
    "_profile",
    "_security",
];

/// The Bulk Data export operations (Bulk Data Access IG 2.0.0).
const EXPORT: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export";
/// Patient-level export.
const PATIENT_EXPORT: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export";

/// `Patient/{id}/$everything` (R4), with `_since`, `_type` and `_count`.
const PATIENT_EVERYTHING: &str = "http://hl7.org/fhir/OperationDefinition/Patient-everything";
/// `Observation/$lastn` (R4).
const OBSERVATION_LASTN: &str = "http://hl7.org/fhir/OperationDefinition/Observation-lastn";
/// `Observation/$stats` (R4).
const OBSERVATION_STATS: &str = "http://hl7.org/fhir/OperationDefinition/Observation-stats";

/// `[type]/$validate` and `[type]/{id}/$validate` (R4), on every type but `Subscription`.
const RESOURCE_VALIDATE: &str = "http://hl7.org/fhir/OperationDefinition/Resource-validate";

/// The compartments served (`[compartment]/{id}/[type]` searches).
const COMPARTMENTS: [&str; 5] = [
    "http://hl7.org/fhir/CompartmentDefinition/patient",
    "http://hl7.org/fhir/CompartmentDefinition/encounter",
    "http://hl7.org/fhir/CompartmentDefinition/relatedPerson",
    "http://hl7.org/fhir/CompartmentDefinition/practitioner",
    "http://hl7.org/fhir/CompartmentDefinition/device",
];

/// The `_list` parameter (issue #18), on every type and at the system level.
fn list_param() -> Value {
    json!({"name": "_list", "type": "special",
        "documentation": "Only resources that are entries of the List with this id (the List \
        and its entries as the caller may see them)."})
}

/// Why `updateCreate` is not for everyone (issue #11: no write outcome may tell a hidden
/// resource from a missing one).
const UPDATE_CREATE_NOTE: &str = "Update as create (PUT to an id that does not exist) is for \
administrators and the platform. For any other caller a PUT or DELETE of a missing id answers \
404, exactly like one the caller may not see; create with POST instead.";

fn resource_entry(resource_type: ResourceType) -> Value {
    let mut includes: Vec<String> = vec!["*".to_owned()];
    includes.extend(
        reference_codes(resource_type)
            .into_iter()
            .map(|code| format!("{resource_type}:{code}")),
    );
    let rev_includes = REV_INCLUDES
        .get(&resource_type)
        .cloned()
        .unwrap_or_default();
    let mut entry = json!({
        "type": resource_type.as_str(),
        "interaction": codes(&TYPE_INTERACTIONS),
        "versioning": "versioned-update",
        "readHistory": true,
        "updateCreate": true,
        "documentation": UPDATE_CREATE_NOTE,
        "conditionalCreate": true,
        "conditionalRead": "not-match",
        "conditionalUpdate": true,
        "conditionalDelete": "single",
        "searchInclude": includes,
        "searchRevInclude": rev_includes,
        "searchParam": search_params(resource_type),
    });
    if let Some(params) = entry["searchParam"].as_array_mut() {
        params.push(list_param());
    }
    match resource_type {
        ResourceType::Patient => {
            entry["operation"] = json!([
                {"name": "export", "definition": PATIENT_EXPORT},
                {"name": "everything", "definition": PATIENT_EVERYTHING},
            ]);
        }
        ResourceType::Observation => {
            entry["operation"] = json!([
                {"name": "lastn", "definition": OBSERVATION_LASTN},
                {"name": "stats", "definition": OBSERVATION_STATS},
            ]);
        }
        _ => entry["operation"] = json!([]),
    }
    if let Some(operations) = entry["operation"].as_array_mut() {
        operations.push(json!({"name": "validate", "definition": RESOURCE_VALIDATE}));
    }
    entry
}

/// `rest.security`: SMART App Launch (issue #17) — the `oauth-uris` extension naming the
/// authorization server's endpoints and the `SMART-on-FHIR` service code.
fn security(base: &str) -> Value {
    let origin = base.strip_suffix("/fhir/R4").unwrap_or(base);
    let uri = |name: &str, path: &str| json!({"url": name, "valueUri": format!("{origin}{path}")});
    json!({
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                uri("authorize", "/oauth/authorize"),
                uri("token", "/oauth/token"),
                uri("register", "/oauth/register"),
                uri("manage", "/patient/settings"),
                uri("introspect", "/oauth/introspect"),
                uri("revoke", "/oauth/revoke"),
            ],
        }],
        "service": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                "code": "SMART-on-FHIR",
                "display": "SMART-on-FHIR",
            }],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
        }],
        "description": "SMART App Launch 2.2 and Backend Services: discovery at \
            [base]/.well-known/smart-configuration. Portal sessions use /api/auth/login.",
    })
}

/// The Backport IG's operations and topic extension (issue #21).
const BACKPORT_OPERATIONS: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/";
/// The Subscriptions Backport IG's canonical URL, at the version served (1.1.0).
const BACKPORT_IG: &str = "http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/hl7.fhir.uv.subscriptions-backport|1.1.0";
/// The IG's "R4 Topic-Based Subscription Server" CapabilityStatement.
const BACKPORT_SERVER_R4: &str = "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4|1.1.0";
const TOPIC_CANONICAL: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical";

/// `Subscription`: the caller's own, in the Backport IG's profile, with the topics served
/// (issue #21).
fn subscription_entry() -> Value {
    use medilink_consent::subscriptions::{spec::SUBSCRIPTION_PROFILE, topics::TOPICS};
    let topics: Vec<Value> = TOPICS
        .iter()
        .map(|topic| json!({"url": TOPIC_CANONICAL, "valueCanonical": topic.url}))
        .collect();
    let operation = |name: &str, definition: &str| json!({"name": name, "definition": format!("{BACKPORT_OPERATIONS}{definition}")});
    json!({
        "extension": topics,
        "type": "Subscription",
        "supportedProfile": [SUBSCRIPTION_PROFILE],
        "documentation": "Topic-based subscriptions (Subscriptions R5 Backport IG 1.1.0): \
    criteria is a topic's canonical URL, filters are backport-filter-criteria extensions; channels \
    rest-hook and websocket (/fhir/R4/$subscription-ws, bind-with-token); payload empty, id-only or \
    full-resource. A subscription is its owner's; each notification is decided for the owner by \
    consent when it is sent.",
        "interaction": codes(&["create", "read", "update", "delete", "search-type"]),
        "versioning": "versioned",
        "searchParam": [
            {"name": "url", "type": "uri", "definition": "http://hl7.org/fhir/SearchParameter/Subscription-url",
             "documentation": "The channel's endpoint, compared whole."},
            {"name": "status", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Subscription-status"},
            {"name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id"},
        ],
        "operation": [
            operation("status", "backport-subscription-status"),
            operation("events", "backport-subscription-events"),
            operation("get-ws-binding-token", "backport-subscription-get-ws-binding-token"),
        ],
    })
}

fn capability_statement(base: &str, date: &str) -> Value {
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .copied()
        .map(|resource_type| match resource_type {
            ResourceType::Subscription => subscription_entry(),
            other => resource_entry(other),
        })
        .collect();
    let full_text = |code: &str| {
        registry()
            .param(ResourceType::Patient, code)
            .map(|p| json!({"name": p.code, "definition": p.url, "type": p.kind.as_str()}))
    };
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "MediLink",
        "kind": "instance",
        "software": {"name": "MediLink", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "MediLink FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        // The Backport IG 1.1.0's canonical and its R4 server CapabilityStatement (issue #21).
        "instantiates": [BACKPORT_SERVER_R4],
        "implementationGuide": [BACKPORT_IG],
        "format": ["application/fhir+json", "json"],
        // JSON Patch and FHIRPath Patch (a Parameters resource, issue #18).
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": security(base),
            "resource": resources,
            "interaction": codes(&SYSTEM_INTERACTIONS),
            // The parameters of `GET [base]?…` (issue #18), full text included.
            "searchParam": SYSTEM_SEARCH
                .iter()
                .map(|code| full_text(code).unwrap_or(Value::Null))
                .chain([list_param()])
                .collect::<Vec<_>>(),
            "compartment": COMPARTMENTS,
            "operation": [{"name": "export", "definition": EXPORT}],
        }],
    })
}
