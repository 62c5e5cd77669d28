//! `/api/auth/*`: register, login, refresh, logout, me, TOTP setup/verify/disable, password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::IssueCode;
use medilink_platform::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Signed};
use crate::auth::service::LoginOutcome;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct Register {
    email: String,
    password: String,
    role: String,
    name: Option<String>,
}

/// `POST /api/auth/register`: patients (active, with their `Patient`) and physicians or
/// researchers (pending until an admin approves).
pub(crate) async fn register(
    State(app): State<AppState>,
    Body(body): Body<Register>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let role = Role::parse(&body.role)
        .filter(|role| *role != Role::Admin)
        .ok_or_else(|| {
            ApiError::bad_request(
                IssueCode::Value,
                "role must be patient, physician or researcher",
            )
        })?;
    let user = app
        .auth
        .create_account(
            &body.email,
            &body.password,
            body.name.as_deref(),
            role,
            None,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(app.auth.view(&user)))))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    email: String,
    password: String,
    totp_code: Option<String>,
}

/// `POST /api/auth/login`.
pub(crate) async fn login(
    State(app): State<AppState>,
    Body(body): Body<Login>,
) -> Result<Json<Value>, ApiError> {
    let outcome = app
        .auth
        .login(&body.email, &body.password, body.totp_code.as_deref())
        .await?;
    Ok(Json(match outcome {
        LoginOutcome::Tokens(tokens) => json!(tokens),
        LoginOutcome::MfaRequired { partial_token } => {
            json!({"mfa_required": true, "partial_token": partial_token})
        }
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Refresh {
    refresh_token: String,
}

/// `POST /api/auth/refresh`.
pub(crate) async fn refresh(
    State(app): State<AppState>,
    Body(body): Body<Refresh>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.auth.refresh(&body.refresh_token).await?)))
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Logout {
    refresh_token: Option<String>,
}

/// `POST /api/auth/logout` (body optional).
pub(crate) async fn logout(
    State(app): State<AppState>,
    Signed(principal): Signed,
    body: Option<Json<Logout>>,
) -> Result<StatusCode, ApiError> {
    let body = body.map(|Json(body)| body).unwrap_or_default();
    app.auth
        .logout(&principal, body.refresh_token.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/auth/me`.
pub(crate) async fn me(
    State(app): State<AppState>,
    Signed(principal): Signed,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.auth.me(&principal).await?)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Code {
    code: String,
}

/// `POST /api/auth/totp/setup`.
pub(crate) async fn totp_setup(
    State(app): State<AppState>,
    Signed(principal): Signed,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.auth.totp_setup(&principal).await?)))
}

/// `POST /api/auth/totp/verify`: enables TOTP; returns the backup codes and a full session.
pub(crate) async fn totp_verify(
    State(app): State<AppState>,
    Signed(principal): Signed,
    Body(body): Body<Code>,
) -> Result<Json<Value>, ApiError> {
    let (backup_codes, tokens) = app.auth.totp_verify(&principal, &body.code).await?;
    let mut out = json!(tokens);
    out["backup_codes"] = json!(backup_codes);
    Ok(Json(out))
}

/// `POST /api/auth/totp/disable`.
pub(crate) async fn totp_disable(
    State(app): State<AppState>,
    Signed(principal): Signed,
    Body(body): Body<Code>,
) -> Result<StatusCode, ApiError> {
    app.auth.totp_disable(&principal, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/auth/password`: ends every session of the user.
pub(crate) async fn password(
    State(app): State<AppState>,
    Signed(principal): Signed,
    Body(body): Body<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    app.auth
        .change_password(&principal, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
