//! `/api/admin/*`: users (list/search, approve, suspend, unlock) and the audit log.

use axum::Json;
use axum::extract::{Path, Query, State};
use medilink_fhir::IssueCode;
use medilink_platform::{AccountStatus, Action, AuditFilter, AuditRecord, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::service::AdminAction;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct UserQuery {
    role: Option<String>,
    status: Option<String>,
    email: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn invalid(what: &str) -> ApiError {
    ApiError::bad_request(IssueCode::Value, format!("invalid {what}"))
}

/// `GET /api/admin/users?role=&status=&email=&limit=&offset=`.
pub(crate) async fn users(
    State(app): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<Json<Value>, ApiError> {
    let role = query
        .role
        .map(|role| Role::parse(&role).ok_or_else(|| invalid("role")))
        .transpose()?;
    let status = query
        .status
        .map(|status| AccountStatus::parse(&status).ok_or_else(|| invalid("status")))
        .transpose()?;
    let users = app
        .auth
        .list_users(
            role,
            status,
            query.email.as_deref(),
            query.limit,
            query.offset,
        )
        .await?;
    Ok(Json(json!({"users": users})))
}

/// `POST /api/admin/users/{id}/{approve|suspend|unlock}`.
pub(crate) async fn user_action(
    State(app): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let action = match action.as_str() {
        "approve" => AdminAction::Approve,
        "suspend" => AdminAction::Suspend,
        "unlock" => AdminAction::Unlock,
        _ => return Err(invalid("action: use approve, suspend or unlock")),
    };
    Ok(Json(json!(app.auth.admin_action(&id, action).await?)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    patient: Option<String>,
    action: Option<Action>,
    resource_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<u64>,
    #[serde(default)]
    limit: usize,
}

fn instant(text: Option<String>, what: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
    text.map(|text| {
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid(what))
    })
    .transpose()
}

impl AuditQuery {
    /// The audit log's filter (instants parsed).
    fn filter(self) -> Result<AuditFilter, ApiError> {
        Ok(AuditFilter {
            actor: self.actor,
            not_actor: None,
            patient_id: self.patient,
            action: self.action,
            resource_type: self.resource_type,
            since: instant(self.since, "since")?,
            until: instant(self.until, "until")?,
            before_seq: self.before,
            limit: self.limit,
        })
    }
}

/// An audit record as the admin API shows it.
fn record_view(record: &AuditRecord) -> Value {
    let entry = &record.entry;
    json!({
        "seq": record.seq,
        "at": medilink_fhir::clock::format_instant(entry.at),
        "actor": entry.actor, "role": entry.role, "action": entry.action,
        "resource_type": entry.resource_type, "resource_ids": entry.resource_ids,
        "patients": entry.patients, "resource_types": entry.resource_types,
        "outcome": entry.outcome,
        "client_ip": entry.client_ip, "request_id": entry.request_id,
        "hash": record.hash,
    })
}

/// `GET /api/admin/audit?actor=&patient=&action=&resource_type=&since=&until=&before=&limit=`.
pub(crate) async fn audit(
    State(app): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let records = app.audit_log.list(&query.filter()?).await?;
    let records: Vec<Value> = records.iter().map(record_view).collect();
    Ok(Json(json!({"records": records})))
}
