//! Researcher invitations: `POST`/`GET /api/admin/invitations`, `DELETE …/{id}` (admins), and
//! `POST /api/auth/invitations/{token}/accept` (public, rate-limited like registration). The
//! rules are `crate::auth::invitations`'.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medilink_fhir::clock::format_instant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Signed};
use crate::auth::invitations::InvitationView;
use crate::auth::service::UserView;
use crate::error::ApiError;
use crate::fhir::extract::Base;
use crate::layers::audit::AuditNote;
use crate::route_meta::Action;
use crate::state::AppState;

/// Body of `POST /api/admin/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInvitationBody {
    /// The researcher's address (normalised like a registration's; one with an account
    /// already: 409).
    email: String,
    /// How long the link works, in hours (1 to 720; default 72).
    expires_in_hours: Option<u32>,
}

/// An invitation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Invitation)]
pub(crate) struct InvitationBody {
    id: String,
    email: String,
    /// Always `researcher`.
    #[schema(value_type = super::RoleName)]
    role: &'static str,
    /// The single-use link `{base}/invite/{token}`: only in the answer to its creation (the
    /// token is not stored), else null.
    #[schema(required = true)]
    url: Option<String>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    status: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(required = true, format = DateTime)]
    accepted_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    revoked_at: Option<String>,
    /// The admin who created it.
    created_by: String,
}

impl From<InvitationView> for InvitationBody {
    fn from(view: InvitationView) -> Self {
        let invitation = view.invitation;
        InvitationBody {
            id: invitation.id,
            email: view.email,
            role: invitation.role.as_str(),
            url: view.url,
            status: view.state.as_str(),
            created_at: format_instant(invitation.created_at),
            expires_at: format_instant(invitation.expires_at),
            accepted_at: invitation.accepted_at.map(format_instant),
            revoked_at: invitation.revoked_at.map(format_instant),
            created_by: invitation.created_by.to_string(),
        }
    }
}

/// The invitations, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvitationList {
    invitations: Vec<InvitationBody>,
}

/// `POST /api/admin/invitations`: `201` with the link (shown once).
pub(crate) async fn create(
    State(app): State<AppState>,
    Signed(admin): Signed,
    Base(base): Base,
    note: AuditNote,
    Body(body): Body<NewInvitationBody>,
) -> Result<(StatusCode, Json<InvitationBody>), ApiError> {
    let origin = base.strip_suffix("/fhir/R4").unwrap_or(&base);
    let by = &admin.claims.sub;
    let view = app
        .auth
        .invite(by, &body.email, body.expires_in_hours, origin)
        .await?;
    note.subject(format!("Invitation/{}", view.invitation.id));
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// `GET /api/admin/invitations`.
pub(crate) async fn list(State(app): State<AppState>) -> Result<Json<InvitationList>, ApiError> {
    let invitations = app.auth.invitations().await?;
    let invitations = invitations.into_iter().map(InvitationBody::from).collect();
    Ok(Json(InvitationList { invitations }))
}

/// `DELETE /api/admin/invitations/{id}`: `204`; accepting it afterwards is `410`.
pub(crate) async fn revoke(
    State(app): State<AppState>,
    note: AuditNote,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    note.subject(format!("Invitation/{id}"));
    app.auth.revoke_invitation(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/auth/invitations/{token}/accept`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptInvitation {
    /// The researcher's display name (required).
    name: String,
    /// Checked like a registration's password.
    password: String,
}

/// `POST /api/auth/invitations/{token}/accept`: `201` with the active researcher account
/// (sign in as usual); unknown token `404`; used, revoked or expired `410`.
pub(crate) async fn accept(
    State(app): State<AppState>,
    note: AuditNote,
    Path(token): Path<String>,
    Body(body): Body<AcceptInvitation>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = app
        .auth
        .accept_invitation(&token, &body.name, &body.password)
        .await?;
    note.action(Action::InvitationAccept)
        .subject(format!("User/{}", user.id));
    Ok((StatusCode::CREATED, Json(user)))
}
