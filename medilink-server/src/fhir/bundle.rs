//! FHIR `batch` and `transaction`: `POST [base]` with a Bundle, processed by
//! [`medilink_fhir::bundle::process`] and rendered as a `batch-response` /
//! `transaction-response` Bundle.
//!
//! Entry bodies follow `Prefer: return=…`; without it an entry carries only its `response`
//! (as HAPI does), except reads, which always carry the resource. Search entries (`GET
//! Type?…`, also in a transaction, after its writes) carry their `searchset` Bundle, searched
//! through the consent guard like `GET [base]/Type?…`, and `GET metadata` the
//! CapabilityStatement.

use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::bundle::{BundleType, DeferredRead, EntryAction, EntryResult};
use medilink_fhir::clock::format_instant;
use medilink_fhir::{FhirError, FhirResult, ResourceType};
use serde_json::{Map, Value, json};

use crate::context::RequestCaller;
use crate::error::{ApiError, information};
use crate::fhir::extract::{Base, FhirJson, expect_type};
use crate::fhir::response::{FhirResponse, Prefer, ReturnPreference, etag, version_url};
use crate::fhir::{metadata, search};
use crate::state::AppState;

/// `POST [base]`: a batch or transaction Bundle.
pub(crate) async fn bundle(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    FhirJson(body): FhirJson,
) -> Result<FhirResponse, ApiError> {
    expect_type(&body, ResourceType::Bundle)?;
    let (store, ids) = (app.store.as_ref(), app.ids.as_ref());
    let outcome = medilink_fhir::bundle::process(store, caller.context(), ids, body).await?;
    let prefer = prefer.or(ReturnPreference::Minimal);
    let bundle_type = outcome.bundle_type;
    let mut answered = Vec::with_capacity(outcome.entries.len());
    for result in outcome.entries {
        answered.push(match result {
            Ok(EntryResult {
                deferred: Some(read),
                ..
            }) => Answered::Inline(answer(&app, &caller, &base, read).await),
            other => Answered::Stored(other),
        });
    }
    let response = render(&base, bundle_type, answered, prefer, app.ids.new_id())?;
    Ok(FhirResponse::json(StatusCode::OK, response))
}

/// An entry's result: as the library gave it, or a read answered here.
enum Answered {
    Stored(FhirResult<EntryResult>),
    Inline(Result<Value, ApiError>),
}

/// A search entry (the `searchset` Bundle, consent-gated like `GET Type?…`) or `metadata`.
async fn answer(
    app: &AppState,
    caller: &RequestCaller,
    base: &str,
    read: DeferredRead,
) -> Result<Value, ApiError> {
    match read {
        DeferredRead::Search {
            resource_type,
            query,
        } => {
            let pairs = search::query_pairs(&query);
            search::searchset(app, caller.context(), base, resource_type, &pairs, false).await
        }
        DeferredRead::Capabilities => Ok(metadata::statement(app, base)),
    }
}

/// `"201 Created"`.
fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

fn render(
    base: &str,
    bundle_type: BundleType,
    entries: Vec<Answered>,
    prefer: ReturnPreference,
    id: String,
) -> FhirResult<Value> {
    let bundle_type = match bundle_type {
        BundleType::Batch => "batch-response",
        BundleType::Transaction => "transaction-response",
    };
    let entries = entries
        .into_iter()
        .map(|answered| match answered {
            Answered::Stored(result) => entry(base, result, prefer),
            Answered::Inline(Ok(resource)) => Ok(json!({
                "resource": resource,
                "response": {"status": status_line(StatusCode::OK)},
            })),
            Answered::Inline(Err(error)) => Ok(failed(&error)),
        })
        .collect::<FhirResult<Vec<_>>>()?;
    Ok(json!({"resourceType": "Bundle", "id": id, "type": bundle_type, "entry": entries}))
}

/// The entry of a failed batch entry (or read of a transaction).
fn failed(error: &ApiError) -> Value {
    let response = json!({"status": status_line(error.status()), "outcome": error.outcome()});
    json!({"response": response})
}

fn entry(
    base: &str,
    result: FhirResult<EntryResult>,
    prefer: ReturnPreference,
) -> FhirResult<Value> {
    let EntryResult { action, stored, .. } = match result {
        Ok(result) => result,
        Err(err) => return Ok(failed(&ApiError::from(err))),
    };
    let status = match action {
        EntryAction::Created => StatusCode::CREATED,
        EntryAction::Updated | EntryAction::Matched | EntryAction::Read | EntryAction::Deferred => {
            StatusCode::OK
        }
        EntryAction::Deleted | EntryAction::NothingDeleted => StatusCode::NO_CONTENT,
    };
    let mut entry = Map::new();
    let mut response = Map::new();
    response.insert("status".into(), json!(status_line(status)));
    if let Some(stored) = stored {
        entry.insert(
            "fullUrl".into(),
            json!(format!("{base}/{}", stored.reference())),
        );
        if !stored.is_deleted() {
            response.insert("location".into(), json!(version_url(base, &stored)));
        }
        response.insert("etag".into(), json!(etag(stored.version_id)));
        response.insert(
            "lastModified".into(),
            json!(format_instant(stored.last_updated)),
        );
        let wants_resource =
            action == EntryAction::Read || prefer == ReturnPreference::Representation;
        if let Some(text) = stored.json.as_deref().filter(|_| wants_resource) {
            let resource: Value =
                serde_json::from_str(text).map_err(|err| FhirError::Internal {
                    source: Box::new(err),
                })?;
            entry.insert("resource".into(), resource);
        }
        if prefer == ReturnPreference::OperationOutcome && action != EntryAction::Read {
            let message = format!("{} {}", status_line(status), stored.reference());
            response.insert("outcome".into(), information(message));
        }
    }
    entry.insert("response".into(), Value::Object(response));
    Ok(Value::Object(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_carry_the_reason_phrase() {
        assert_eq!(status_line(StatusCode::CREATED), "201 Created");
        assert_eq!(status_line(StatusCode::NO_CONTENT), "204 No Content");
        assert_eq!(
            status_line(StatusCode::PRECONDITION_FAILED),
            "412 Precondition Failed"
        );
    }
}
