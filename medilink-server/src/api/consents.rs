//! `/api/consents`: list, grant or request, revoke, accept/decline, break-glass, and a
//! patient's access log. The lifecycle rules live in `medilink_consent::ConsentService`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medilink_consent::access_log::{AccessLog, AccessLogEntry, LogPage};
use medilink_consent::{BreakGlass, Grant, GrantRequest, Scope};
use medilink_fhir::clock::format_instant;
use medilink_platform::CallerContext;
use medilink_platform::UserId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::Body;
use super::Query;
use super::schema::{ConsentInitiator, ConsentState};
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::state::AppState;

fn principal(caller: &RequestCaller) -> medilink_platform::Caller {
    caller.context().caller().clone()
}

/// `"*"`: every resource type.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub(crate) enum AllTypes {
    #[serde(rename = "*")]
    All,
}

/// `"*"` (everything) or resource type names.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum GrantScope {
    All(AllTypes),
    Types(Vec<String>),
}

/// A consent as `/api/consents` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Grant)]
pub(crate) struct GrantView {
    /// The consent's id (every grant the API returns is stored).
    id: String,
    patient: String,
    grantee: String,
    /// Who the grantee is, for people: their display name, else their e-mail address
    /// (`null` when the account is unknown).
    #[schema(required = true)]
    grantee_name: Option<String>,
    scope: GrantScope,
    purpose: String,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    #[schema(required = true)]
    end: Option<String>,
    status: ConsentState,
    initiator: ConsentInitiator,
    break_glass: bool,
    #[schema(required = true)]
    reason: Option<String>,
}

fn view(grant: &Grant, now: OffsetDateTime, names: &HashMap<String, String>) -> GrantView {
    let scope = match &grant.scope {
        Scope::All => GrantScope::All(AllTypes::All),
        Scope::Types(types) => {
            GrantScope::Types(types.iter().map(|ty| ty.as_str().into()).collect())
        }
    };
    GrantView {
        id: grant.id.clone().unwrap_or_default(),
        patient: grant.patient.clone(),
        grantee: grant.grantee.clone(),
        grantee_name: names.get(&grant.grantee).cloned(),
        scope,
        purpose: grant.purpose.clone(),
        start: format_instant(grant.start),
        end: grant.end.map(format_instant),
        status: grant.status(now).into(),
        initiator: grant.initiator.into(),
        break_glass: grant.is_break_glass(),
        reason: grant.reason.clone(),
    }
}

/// `grants` as the API shows them, each grantee named ([`crate::auth::Auth::names_or_emails`]).
async fn views(app: &AppState, grants: &[Grant]) -> Result<Vec<GrantView>, ApiError> {
    let names = app
        .auth
        .names_or_emails(grants.iter().map(|grant| grant.grantee.as_str()))
        .await?;
    let now = app.store.consents().now();
    Ok(grants
        .iter()
        .map(|grant| view(grant, now, &names))
        .collect())
}

/// One grant as the API shows it.
async fn one(app: &AppState, grant: Grant) -> Result<GrantView, ApiError> {
    let mut views = views(app, std::slice::from_ref(&grant)).await?;
    Ok(views.remove(0))
}

/// A patient's grants, or a physician's grants and pending requests.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantList {
    consents: Vec<GrantView>,
}

/// `GET /api/consents`: a patient's grants, or a physician's grants and pending requests.
pub(crate) async fn list(
    State(app): State<AppState>,
    caller: RequestCaller,
) -> Result<Json<GrantList>, ApiError> {
    let consents = app.store.consents();
    let grants = consents.list(&principal(&caller)).await?;
    let consents = views(&app, &grants).await?;
    Ok(Json(GrantList { consents }))
}

/// Body of `POST /api/consents`: what a patient grants (or a physician requests).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewGrant)]
pub(crate) struct NewConsent {
    /// The physician's user id (patients granting).
    grantee: Option<String>,
    /// The patient id (physicians requesting).
    patient: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    purpose: Option<String>,
    /// RFC 3339 instant.
    #[schema(format = DateTime)]
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
    caller: RequestCaller,
    Body(body): Body<NewConsent>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let request = body.into_request(&app).await?;
    let consents = app.store.consents();
    let grant = consents.create(&principal(&caller), request).await?;
    Ok((StatusCode::CREATED, Json(one(&app, grant).await?)))
}

/// `DELETE /api/consents/{id}`: revoke (harmless when already revoked).
pub(crate) async fn revoke(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<Json<GrantView>, ApiError> {
    let consents = app.store.consents();
    let grant = consents.revoke(&principal(&caller), &id).await?;
    Ok(Json(one(&app, grant).await?))
}

/// `POST /api/consents/{id}/accept|decline`: the patient answers a request.
pub(crate) async fn answer(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<GrantView>, ApiError> {
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
    Ok(Json(one(&app, grant).await?))
}

/// Body of `POST /api/consents/break-glass`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = BreakGlass)]
pub(crate) struct BreakGlassBody {
    patient: String,
    reason: String,
}

/// `POST /api/consents/break-glass`: emergency access for 24 hours.
pub(crate) async fn break_glass(
    State(app): State<AppState>,
    caller: RequestCaller,
    Body(body): Body<BreakGlassBody>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let consents = app.store.consents();
    let request = BreakGlass {
        patient: body.patient,
        reason: body.reason,
    };
    let grant = consents.break_glass(&principal(&caller), request).await?;
    Ok((StatusCode::CREATED, Json(one(&app, grant).await?)))
}

/// Query of the access log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// At most this many (0: the default page).
    #[serde(default)]
    limit: usize,
    /// Only accesses before this sequence number (the next page).
    before: Option<u64>,
}

/// One access to the calling patient's data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AccessLogEntry)]
pub(crate) struct AccessLogEntryView {
    seq: u64,
    #[schema(format = DateTime)]
    at: String,
    #[schema(required = true)]
    actor: Option<String>,
    /// Who the `actor` account is: its display name, else its e-mail address (null when
    /// the account is unknown).
    #[schema(required = true)]
    actor_name: Option<String>,
    /// The role as audited.
    #[schema(value_type = Option<super::RoleName>)]
    #[schema(required = true)]
    role: Option<String>,
    action: String,
    #[schema(required = true)]
    resource_type: Option<String>,
    /// This patient's resources the access returned or changed, as `Type/id`.
    resource_ids: Vec<String>,
    /// Their types.
    resource_types: Vec<String>,
    outcome: u16,
    #[schema(required = true)]
    grant: Option<String>,
    break_glass: bool,
    /// The SMART app (`client_id`) the access came through, if any.
    #[schema(required = true)]
    app: Option<String>,
}

impl From<AccessLogEntry> for AccessLogEntryView {
    fn from(entry: AccessLogEntry) -> Self {
        let AccessLogEntry {
            seq,
            at,
            actor,
            actor_name,
            role,
            action,
            resource_type,
            resource_ids,
            resource_types,
            outcome,
            grant,
            break_glass,
            app,
        } = entry;
        AccessLogEntryView {
            seq,
            at,
            actor,
            actor_name,
            role,
            action,
            resource_type,
            resource_ids,
            resource_types,
            outcome,
            grant,
            break_glass,
            app,
        }
    }
}

/// A page of a patient's access log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AccessLog)]
pub(crate) struct AccessLogView {
    entries: Vec<AccessLogEntryView>,
}

impl From<AccessLog> for AccessLogView {
    fn from(log: AccessLog) -> Self {
        let entries = log.entries.into_iter().map(Into::into).collect();
        AccessLogView { entries }
    }
}

/// `GET /api/consents/access-log`: who accessed the calling patient's data (account id and
/// display name, else e-mail), when, which of their resources and under which grant
/// ([`ConsentService::access_log`](medilink_consent::ConsentService::access_log)).
pub(crate) async fn access_log(
    State(app): State<AppState>,
    caller: RequestCaller,
    Query(query): Query<LogQuery>,
) -> Result<Json<AccessLogView>, ApiError> {
    let page = LogPage {
        limit: query.limit,
        before: query.before,
    };
    let consents = app.store.consents();
    let log = consents
        .access_log(caller.context(), app.audit_log.as_ref(), page)
        .await?;
    let names = app.auth.names_or_emails(log.actors()).await?;
    Ok(Json(log.name_actors(&names).into()))
}
