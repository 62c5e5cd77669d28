//! `/api/consents`: list, grant or request, revoke, accept/decline, break-glass, and a
//! patient's access log. The lifecycle rules live in `medilink_consent::ConsentService`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use medilink_consent::{BreakGlass, Grant, GrantRequest, Scope};
use medilink_fhir::clock::format_instant;
use medilink_platform::CallerContext;
use medilink_platform::{AuditFilter, Role, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Body;
use crate::context::Caller;
use crate::error::ApiError;
use crate::state::AppState;

fn principal(caller: &Caller) -> medilink_platform::Caller {
    caller.context().caller().clone()
}

/// The linked patient and the account of a signed-in patient.
fn patient_user(caller: &Caller) -> Option<(String, String)> {
    match caller.context().caller() {
        medilink_platform::Caller::User {
            role: Role::Patient,
            patient_id: Some(patient),
            user_id,
            ..
        } => Some((patient.as_str().to_owned(), user_id.as_str().to_owned())),
        _ => None,
    }
}

fn view(grant: &Grant, now: OffsetDateTime) -> Value {
    let scope = match &grant.scope {
        Scope::All => json!("*"),
        Scope::Types(types) => json!(types.iter().map(|ty| ty.as_str()).collect::<Vec<_>>()),
    };
    json!({
        "id": grant.id,
        "patient": grant.patient,
        "grantee": grant.grantee,
        "scope": scope,
        "purpose": grant.purpose,
        "start": format_instant(grant.start),
        "end": grant.end.map(format_instant),
        "status": grant.status(now).as_str(),
        "initiator": match grant.initiator {
            medilink_consent::Initiator::Patient => "patient",
            medilink_consent::Initiator::Physician => "physician",
        },
        "break_glass": grant.is_break_glass(),
        "reason": grant.reason,
    })
}

/// `GET /api/consents`: a patient's grants, or a physician's grants and pending requests.
pub(crate) async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let consents = app.store.consents();
    let grants = consents.list(&principal(&caller)).await?;
    let now = consents.now();
    let views: Vec<Value> = grants.iter().map(|grant| view(grant, now)).collect();
    Ok(Json(json!({ "consents": views })))
}

/// Body of `POST /api/consents`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewConsent {
    /// The physician's user id (patients granting).
    grantee: Option<String>,
    /// The patient id (physicians requesting).
    patient: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    purpose: Option<String>,
    end: Option<String>,
}

/// `POST /api/consents`: a patient grants, a physician requests.
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Body(body): Body<NewConsent>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let end = body
        .end
        .as_deref()
        .map(|text| OffsetDateTime::parse(text, &Rfc3339))
        .transpose()
        .map_err(|_| ApiError::bad_request(medilink_fhir::IssueCode::Value, "invalid end"))?;
    let grantee_role = match &body.grantee {
        Some(grantee) => app
            .auth
            .accounts
            .user(&UserId(grantee.clone()))
            .await?
            .map(|user| user.role),
        None => None,
    };
    let request = GrantRequest {
        patient: body.patient,
        grantee: body.grantee,
        grantee_role,
        scope: body.scope,
        purpose: body.purpose,
        end,
    };
    let consents = app.store.consents();
    let grant = consents.create(&principal(&caller), request).await?;
    Ok((StatusCode::CREATED, Json(view(&grant, consents.now()))))
}

/// `DELETE /api/consents/{id}`: revoke (harmless when already revoked).
pub(crate) async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let consents = app.store.consents();
    let grant = consents.revoke(&principal(&caller), &id).await?;
    Ok(Json(view(&grant, consents.now())))
}

/// `POST /api/consents/{id}/accept|decline`: the patient answers a request.
pub(crate) async fn answer(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let accept = match action.as_str() {
        "accept" => true,
        "decline" => false,
        _ => {
            return Err(ApiError::with_kind(
                medilink_fhir::ErrorKind::NotFound,
                medilink_fhir::IssueCode::NotFound,
                "unknown consent action",
            ));
        }
    };
    let consents = app.store.consents();
    let grant = consents.answer(&principal(&caller), &id, accept).await?;
    Ok(Json(view(&grant, consents.now())))
}

/// Body of `POST /api/consents/break-glass`.
#[derive(Debug, Deserialize)]
pub(crate) struct BreakGlassBody {
    patient: String,
    reason: String,
}

/// `POST /api/consents/break-glass`: emergency access for 24 hours.
pub(crate) async fn break_glass(
    State(app): State<AppState>,
    caller: Caller,
    Body(body): Body<BreakGlassBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let consents = app.store.consents();
    let request = BreakGlass {
        patient: body.patient,
        reason: body.reason,
    };
    let grant = consents.break_glass(&principal(&caller), request).await?;
    Ok((StatusCode::CREATED, Json(view(&grant, consents.now()))))
}

/// Query of the access log.
#[derive(Debug, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    limit: usize,
    before: Option<u64>,
}

/// `GET /api/consents/access-log`: who accessed the calling patient's data (account id and,
/// when it has one, display name), when, which of their resources (`Type/id`) and types, and
/// under which grant: one in force at that instant, break-glass first (and then marked).
///
/// Every audit record naming the patient counts — the patients of a record are those of what
/// the consent guard returned or changed, so a physician's search or batch read of the
/// patient's Observations is here. The patient's own accesses are left out (by the query, so
/// paging stays exact); a record naming other patients too shows only this patient's
/// resources.
pub(crate) async fn access_log(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let Some((patient, user_id)) = patient_user(&caller) else {
        return Err(ApiError::forbidden("only patients have an access log"));
    };
    let records = app
        .audit_log
        .list(&AuditFilter {
            patient_id: Some(patient.clone()),
            not_actor: Some(user_id),
            before_seq: query.before,
            limit: query.limit,
            ..AuditFilter::default()
        })
        .await?;
    let grants = app.store.consents().grants_of_patient(&patient).await?;
    let names = app
        .auth
        .display_names(records.iter().filter_map(|r| r.entry.actor.as_deref()))
        .await?;
    let entries: Vec<Value> = records
        .iter()
        .map(|record| {
            let entry = &record.entry;
            // Only grants in force at the read instant (a revoked grant's period ends at its
            // revocation); a break-glass grant wins over an ordinary one.
            let mut in_force = grants.iter().filter(|grant| {
                entry.actor.as_deref() == Some(grant.grantee.as_str())
                    && grant.in_force_at(entry.at)
            });
            let grant = in_force
                .clone()
                .find(|grant| grant.is_break_glass())
                .or_else(|| in_force.next());
            // Only this patient's resources, and their types (a record may name others').
            let theirs = entry.patients.get(&patient).cloned().unwrap_or_default();
            let mut types: Vec<&str> = theirs
                .iter()
                .filter_map(|reference| reference.split_once('/').map(|(ty, _)| ty))
                .collect();
            if types.is_empty() && entry.patients.len() == 1 {
                // Resources not kept (bulk export, older records): the record's types.
                types = entry.resource_types.iter().map(String::as_str).collect();
            }
            types.sort_unstable();
            types.dedup();
            json!({
                "seq": record.seq,
                "at": format_instant(entry.at),
                "actor": entry.actor,
                "actor_name": entry.actor.as_ref().and_then(|actor| names.get(actor)),
                "role": entry.role,
                "action": entry.action,
                "resource_type": entry.resource_type,
                "resource_ids": theirs,
                "resource_types": types,
                "outcome": entry.outcome,
                "grant": grant.and_then(|grant| grant.id.clone()),
                "break_glass": entry.action == "break-glass"
                    || grant.is_some_and(Grant::is_break_glass),
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
