//! `/api/auth/*`: register, login, refresh, logout, me, TOTP setup/verify/disable, password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::IssueCode;
use medilink_platform::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Signed};
use crate::auth::demographics::{Demographics, DemographicsError};
use crate::auth::service::{
    LoginOutcome, NewAccount, PatientRecord, SignInClient, TokenPair, TotpEnrolment, UserView,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Patients are active at once (with their `Patient`); physicians and researchers wait for
/// an admin's approval.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Register {
    /// An e-mail address, normalised before use: trimmed, Unicode NFKC, lowercased; refused
    /// (400) when it holds invisible or control characters or is not one plausible address.
    email: String,
    /// At least 12 characters, not a common password, not containing the e-mail's local part
    /// or the name, and a zxcvbn score of 4; a 400 says why.
    password: String,
    /// `patient`, `physician` or `researcher`.
    role: String,
    /// The display name; required (non-blank) for physicians; for patients it defaults to
    /// "given… family".
    name: Option<String>,
    /// Given names (patients: at least one non-blank).
    #[serde(default)]
    given: Vec<String>,
    /// Family name (patients: required).
    family: Option<String>,
    /// `YYYY-MM-DD` (patients: required; not in the future, not before 1900-01-01).
    #[schema(format = Date)]
    birth_date: Option<String>,
    /// `male`, `female`, `other` or `unknown` (patients: required).
    gender: Option<String>,
    /// A phone number (optional).
    phone: Option<String>,
}

impl Register {
    /// A patient's demographics, validated against `today` (a `400` naming the field), for
    /// the proper R4 `Patient` registration creates; `None` for other roles.
    fn demographics(
        &self,
        role: Role,
        today: time::Date,
    ) -> Result<Option<Demographics>, DemographicsError> {
        if role != Role::Patient {
            return Ok(None);
        }
        let given = Demographics {
            given: self.given.clone(),
            family: self.family.clone().unwrap_or_default(),
            birth_date: self.birth_date.clone().unwrap_or_default(),
            gender: self.gender.clone().unwrap_or_default(),
            phone: self.phone.clone(),
        };
        given.validate(today).map(Some)
    }
}

/// `POST /api/auth/register`: patients (active, with their `Patient`: official name, birth
/// date, gender, phone) and physicians or researchers (pending until an admin approves).
pub(crate) async fn register(
    State(app): State<AppState>,
    Body(body): Body<Register>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let role = Role::parse(&body.role)
        .filter(|role| *role != Role::Admin)
        .ok_or_else(|| {
            ApiError::bad_request(
                IssueCode::Value,
                "role must be patient, physician or researcher",
            )
        })?;
    let demographics = body.demographics(role, app.clock.now().date())?;
    let account = NewAccount {
        email: &body.email,
        password: &body.password,
        name: body.name.as_deref(),
        role,
        status: None,
        patient: PatientRecord::Create(demographics.as_ref()),
    };
    let user = app.auth.create(account).await?;
    Ok((StatusCode::CREATED, Json(app.auth.view(&user))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Login {
    /// Normalised like `Register.email`.
    email: String,
    password: String,
    totp_code: Option<String>,
}

/// TOTP is enabled and no valid code was given: log in again with `totp_code`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MfaRequired {
    /// Always `true`.
    mfa_required: bool,
    /// A token every protected endpoint rejects.
    partial_token: String,
}

/// The answer to a login: a session, or a request for the TOTP code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum LoginResult {
    /// Signed in.
    Tokens(TokenPair),
    /// The TOTP code is needed.
    MfaRequired(MfaRequired),
}

/// Where a login comes from: the client address (the socket peer, or the first
/// `X-Forwarded-For` hop when trusted) and the `User-Agent`.
#[derive(Debug)]
pub(crate) struct Client(SignInClient);

impl axum::extract::FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let trust = app.auth.settings().trust_forwarded_for;
        let request = axum::extract::Request::from_parts(parts.clone(), axum::body::Body::empty());
        let address = crate::auth::limits::client_ip(&request, trust);
        let device = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Client(SignInClient { address, device }))
    }
}

/// `POST /api/auth/login`: a sign-in from a new address or device is told to the user.
pub(crate) async fn login(
    State(app): State<AppState>,
    Client(client): Client,
    Body(body): Body<Login>,
) -> Result<Json<LoginResult>, ApiError> {
    let (email, password) = (&body.email, &body.password);
    let outcome = app
        .auth
        .login(email, password, body.totp_code.as_deref(), &client)
        .await?;
    Ok(Json(match outcome {
        LoginOutcome::Tokens(tokens) => LoginResult::Tokens(tokens),
        LoginOutcome::MfaRequired { partial_token } => LoginResult::MfaRequired(MfaRequired {
            mfa_required: true,
            partial_token,
        }),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Refresh {
    refresh_token: String,
}

/// `POST /api/auth/refresh`.
pub(crate) async fn refresh(
    State(app): State<AppState>,
    Body(body): Body<Refresh>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(app.auth.refresh(&body.refresh_token).await?))
}

/// Optional: also revokes this refresh token's family.
#[derive(Debug, Deserialize, Default, ToSchema)]
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
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(app.auth.me(&principal).await?))
}

/// A six-digit TOTP code or a backup code.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Code {
    code: String,
}

/// `POST /api/auth/totp/setup`.
pub(crate) async fn totp_setup(
    State(app): State<AppState>,
    Signed(principal): Signed,
) -> Result<Json<TotpEnrolment>, ApiError> {
    Ok(Json(app.auth.totp_setup(&principal).await?))
}

/// A full session plus the one-time backup codes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TotpVerified {
    #[serde(flatten)]
    tokens: TokenPair,
    backup_codes: Vec<String>,
}

/// `POST /api/auth/totp/verify`: enables TOTP; returns the backup codes and a full session.
pub(crate) async fn totp_verify(
    State(app): State<AppState>,
    Signed(principal): Signed,
    Body(body): Body<Code>,
) -> Result<Json<TotpVerified>, ApiError> {
    let (backup_codes, tokens) = app.auth.totp_verify(&principal, &body.code).await?;
    Ok(Json(TotpVerified {
        tokens,
        backup_codes,
    }))
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

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordChange {
    /// A wrong one is a 403 and counts towards the account's login lockout.
    current_password: String,
    /// The strength rule of `Register.password`.
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
