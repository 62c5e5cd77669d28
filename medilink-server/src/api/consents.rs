//! `/api/consents`: list, grant or request, revoke, accept/decline, break-glass, and a
//! patient's access log. The lifecycle rules live in `medilink_consent::ConsentService`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use medilink_consent::access_log::{AccessLog, LogPage};
use medilink_consent::{BreakGlass, Grant, GrantRequest, Scope};
use medilink_fhir::clock::format_instant;
use medilink_platform::CallerContext;
use medilink_platform::UserId;
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

impl NewConsent {
    /// The request: `end` parsed, and the grantee's role looked up (the service checks it).
    async fn into_request(self, app: &AppState) -> Result<GrantRequest, ApiError> {
        let end = self
            .end
            .as_deref()
            .map(|text| OffsetDateTime::parse(text, &Rfc3339))
            .transpose()
            .map_err(|_| ApiError::bad_request(medilink_fhir::IssueCode::Value, "invalid end"))?;
        let grantee_role = match &self.grantee {
            Some(grantee) => app
                .auth
                .accounts
                .user(&UserId(grantee.clone()))
                .await?
                .map(|user| user.role),
            None => None,
        };
        Ok(GrantRequest {
            patient: self.patient,
            grantee: self.grantee,
            grantee_role,
            scope: self.scope,
            purpose: self.purpose,
            end,
        })
    }
}

/// `POST /api/consents`: a patient grants, a physician requests.
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Body(body): Body<NewConsent>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body.into_request(&app).await?;
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
/// when it has one, display name), when, which of their resources and under which grant
/// ([`ConsentService::access_log`](medilink_consent::ConsentService::access_log)).
pub(crate) async fn access_log(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<LogQuery>,
) -> Result<Json<AccessLog>, ApiError> {
    let page = LogPage {
        limit: query.limit,
        before: query.before,
    };
    let consents = app.store.consents();
    let log = consents
        .access_log(caller.context(), app.audit_log.as_ref(), page)
        .await?;
    let names = app.auth.display_names(log.actors()).await?;
    Ok(Json(log.name_actors(&names)))
}
