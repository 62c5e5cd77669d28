//! The authorization request and the user's decision.
//!
//! `GET /oauth/authorize` checks the client (approved), the redirect URI (exactly one it
//! registered), `aud` (this server's FHIR base), PKCE (S256, mandatory), the scopes (those it
//! registered) and an EHR `launch` token, then keeps the request in the key-value store for
//! ten minutes and sends the browser to the consent screen (`/smart/authorize?request=…`,
//! the patient portal's page), where the user signs in (password and TOTP) and decides
//! ([`SmartService::decide`]). An unknown client or redirect URI is answered here and never
//! redirected to (RFC 6749 §4.1.2.1); other errors go back to the app's redirect URI.
//!
//! Patient context: an EHR launch's patient (the launch token is bound to the physician who
//! started it, the patient and the app, and is only issued when the physician may read that
//! patient); in a standalone launch, a patient's own record; a physician's (or admin's)
//! standalone launch asking for `launch/patient` picks one of the patients they may read on
//! the consent screen ([`SmartService::picks_patient`]; the choice is checked again when
//! decided).
//!
//! Remembered decisions: a user who approved an app for a superset of what it asks now (and
//! did not revoke it in Settings) is not asked again ([`SmartService::remembered`]): the
//! consent screen decides at once, with the scopes asked (never more than remembered).

use serde::{Deserialize, Serialize};
use url::Url;

use medilink_fhir::{FhirError, ResourceId};
use medilink_platform::smart::SmartAuthorization;
use medilink_platform::smart::scopes::{Scope, parse_scopes, scope_text};
use medilink_platform::{Role, UserId};

use super::{CODE_MEMORY, CODE_TTL_SECS, LAUNCH_TTL, OAuthError, REQUEST_TTL, SmartService};
use crate::auth::Principal;
use crate::auth::crypto::random_token;
use crate::error::ApiError;

/// The query of `GET /oauth/authorize`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeQuery {
    /// `code`.
    pub response_type: Option<String>,
    /// The app.
    pub client_id: Option<String>,
    /// One of its registered redirect URIs, exactly.
    pub redirect_uri: Option<String>,
    /// The scopes asked for.
    pub scope: Option<String>,
    /// Echoed back to the app.
    pub state: Option<String>,
    /// The FHIR base URL the token is for.
    pub aud: Option<String>,
    /// PKCE challenge (BASE64URL(SHA-256(verifier))).
    pub code_challenge: Option<String>,
    /// `S256`.
    pub code_challenge_method: Option<String>,
    /// An EHR launch token.
    pub launch: Option<String>,
    /// OpenID Connect nonce, echoed in the id_token.
    pub nonce: Option<String>,
}

/// The outcome of an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorized {
    /// To the consent screen: the pending request's id.
    Consent(String),
    /// Back to the app with an error (a URL with `error`, `error_description`, `state`).
    Redirect(String),
    /// Answered here, never redirected: the client or redirect URI is not to be trusted.
    Refused(String),
}

/// An EHR launch: who launched the app for which patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchContext {
    /// The physician.
    pub user_id: String,
    /// The patient.
    pub patient_id: String,
    /// The app launched.
    pub client_id: String,
}

/// A pending authorization request (in the key-value store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The app.
    pub client_id: String,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// The scopes asked for (known, registered ones; canonical text).
    pub scopes: Vec<String>,
    /// Echoed back.
    pub state: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// OpenID nonce.
    pub nonce: Option<String>,
    /// The EHR launch, if any.
    pub launch: Option<LaunchContext>,
}

/// An issued authorization code (in the key-value store, by its hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The app.
    pub client_id: String,
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// The user.
    pub user_id: String,
    /// Their role.
    pub role: String,
    /// Whether their session passed TOTP.
    pub mfa: bool,
    /// A patient user's own patient.
    pub pid: Option<String>,
    /// The patient context.
    pub patient: Option<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The token family of everything the code gives.
    pub family: String,
    /// OpenID nonce.
    pub nonce: Option<String>,
    /// Whether it came from an EHR launch.
    pub ehr: bool,
    /// Unix seconds after which the code is refused.
    pub expires_at: i64,
}

/// Whether `challenge` is a well-formed S256 challenge (43 base64url characters).
fn challenge_ok(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `url` with query parameters appended.
pub(crate) fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Plain English for one scope (the consent screen may translate known shapes itself).
pub fn describe(scope: &Scope) -> String {
    use medilink_platform::smart::scopes::ScopeContext;
    match scope {
        Scope::Launch => "Know the patient you opened it for".into(),
        Scope::LaunchPatient => "Know which patient's record it works with".into(),
        Scope::OpenId => "Know who you are".into(),
        Scope::FhirUser => "See your user profile".into(),
        Scope::OfflineAccess => "Keep access while you are away (until you revoke it)".into(),
        Scope::OnlineAccess => "Keep access while you are signed in".into(),
        Scope::Resource(resource) => {
            let what = resource
                .resource_type
                .map_or("all data".to_owned(), |t| format!("{t} records"));
            let mut verbs = Vec::new();
            if resource.permissions.reads() {
                verbs.push("read");
            }
            if resource.permissions.writes() {
                verbs.push("change");
            }
            let whose = match resource.context {
                ScopeContext::Patient => "of the patient",
                ScopeContext::User => "you can see",
                ScopeContext::System => "of every patient",
            };
            let category = resource
                .category
                .as_ref()
                .map(|category| format!(" (category {})", category.code))
                .unwrap_or_default();
            format!(
                "{} {what}{category} {whose}",
                capitalized(&verbs.join(" and "))
            )
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// Whether every scope of `asked` is covered by one of `allowed` (no escalation).
pub fn within(asked: &[Scope], allowed: &[Scope]) -> bool {
    asked.iter().all(|scope| match scope {
        Scope::Resource(wanted) => allowed.iter().any(|granted| match granted {
            Scope::Resource(granted) => granted.includes(wanted),
            _ => false,
        }),
        other => allowed.contains(other),
    })
}

impl SmartService {
    /// Checks an authorization request of the FHIR base `base` and keeps it for the consent
    /// screen.
    pub async fn authorize(
        &self,
        query: &AuthorizeQuery,
        base: &str,
    ) -> Result<Authorized, OAuthError> {
        let Some(client) = (match &query.client_id {
            Some(id) => self.approved(id).await?,
            None => None,
        }) else {
            return Ok(Authorized::Refused("unknown or unapproved client".into()));
        };
        let Some(redirect_uri) = query
            .redirect_uri
            .clone()
            .filter(|uri| client.metadata.redirect_uris.contains(uri))
        else {
            return Ok(Authorized::Refused(
                "redirect_uri is not one the client registered".into(),
            ));
        };
        let state = query.state.clone().unwrap_or_default();
        let back = |error: &str, description: &str| {
            let mut params = vec![("error", error), ("error_description", description)];
            if !state.is_empty() {
                params.push(("state", state.as_str()));
            }
            Ok(Authorized::Redirect(with_query(&redirect_uri, &params)))
        };
        if query.response_type.as_deref() != Some("code") {
            return back("unsupported_response_type", "response_type must be code");
        }
        if state.is_empty() || state.len() > 1024 {
            return back("invalid_request", "state is required");
        }
        let Some(challenge) = query.code_challenge.clone() else {
            return back(
                "invalid_request",
                "PKCE is required: code_challenge is missing",
            );
        };
        if query.code_challenge_method.as_deref() != Some("S256") || !challenge_ok(&challenge) {
            return back("invalid_request", "code_challenge_method must be S256");
        }
        if query.aud.as_deref().map(|aud| aud.trim_end_matches('/')) != Some(base) {
            return back("invalid_request", "aud must be this server's FHIR base URL");
        }
        let registered = parse_scopes(&client.metadata.scope);
        let scopes: Vec<Scope> = parse_scopes(query.scope.as_deref().unwrap_or(""))
            .into_iter()
            .filter(|scope| within(std::slice::from_ref(scope), &registered))
            .collect();
        if scopes.is_empty() {
            return back(
                "invalid_scope",
                "no requested scope is registered for the client",
            );
        }
        let launch = match &query.launch {
            None => None,
            Some(token) => {
                let context: Option<LaunchContext> =
                    self.take(&super::secret_key("launch", token)).await?;
                match context.filter(|context| context.client_id == client.client_id) {
                    Some(context) => Some(context),
                    None => return back("invalid_request", "unknown or expired launch"),
                }
            }
        };
        let id = random_token::<24>();
        let pending = PendingRequest {
            client_id: client.client_id,
            redirect_uri,
            scopes: scopes.iter().map(ToString::to_string).collect(),
            state,
            code_challenge: challenge,
            nonce: query.nonce.clone().filter(|nonce| nonce.len() <= 512),
            launch,
        };
        self.put(&super::secret_key("request", &id), &pending, REQUEST_TTL)
            .await?;
        Ok(Authorized::Consent(id))
    }

    /// A pending request the signed-in `principal` may decide on (404 unknown or expired, 403
    /// bound by its launch to another user).
    pub async fn pending(
        &self,
        principal: &Principal,
        request_id: &str,
    ) -> Result<PendingRequest, ApiError> {
        let pending: PendingRequest = self
            .take(&super::secret_key("request", request_id))
            .await?
            .ok_or_else(|| not_found("no such authorization request (it may have expired)"))?;
        if principal.claims.app.is_some() {
            return Err(ApiError::forbidden("apps do not authorize apps"));
        }
        if let Some(launch) = &pending.launch
            && launch.user_id != principal.claims.sub.as_str()
        {
            return Err(ApiError::forbidden("this launch belongs to another user"));
        }
        Ok(pending)
    }

    /// Whether `principal` picks the patient of `pending`: a physician's or admin's
    /// standalone launch (no EHR launch) asking for `launch/patient`.
    pub fn picks_patient(principal: &Principal, pending: &PendingRequest) -> bool {
        pending.launch.is_none()
            && matches!(principal.role(), Role::Physician | Role::Admin)
            && pending.scopes.iter().any(|scope| scope == "launch/patient")
    }

    /// Whether `principal` already approved `pending`'s app for every scope it asks now (a
    /// decision remembered and not revoked); never when a patient is to be picked.
    pub async fn remembered(
        &self,
        principal: &Principal,
        pending: &PendingRequest,
    ) -> Result<bool, FhirError> {
        if Self::picks_patient(principal, pending) {
            return Ok(false);
        }
        let Some(remembered) = self
            .store
            .authorization(&principal.claims.sub, &pending.client_id)
            .await?
        else {
            return Ok(false);
        };
        Ok(within(
            &parse_scopes(&pending.scopes.join(" ")),
            &parse_scopes(&remembered.scopes),
        ))
    }

    /// The patient context of `pending` decided by `principal`: the launch's patient, else
    /// the patient `picked` (see [`Self::picks_patient`]; the caller checked that `principal`
    /// may read them), else a patient user's own record when a patient context was asked for.
    pub fn patient_context(
        principal: &Principal,
        pending: &PendingRequest,
        picked: Option<&str>,
    ) -> Option<String> {
        if let Some(launch) = &pending.launch {
            return Some(launch.patient_id.clone());
        }
        if Self::picks_patient(principal, pending) {
            return picked.map(str::to_owned);
        }
        let wants = pending
            .scopes
            .iter()
            .any(|scope| scope == "launch/patient" || scope.starts_with("patient/"));
        (wants && principal.role() == Role::Patient)
            .then(|| {
                principal
                    .claims
                    .pid
                    .as_ref()
                    .map(|pid| pid.as_str().to_owned())
            })
            .flatten()
    }

    /// The user's decision on a pending request: the URL the browser goes back to the app
    /// with (a code, or `access_denied`). `scopes` narrows the request (never widens it);
    /// `picked` is the patient chosen when [`Self::picks_patient`] (required then, refused
    /// otherwise; the caller checked that the user may read them).
    pub async fn decide(
        &self,
        principal: &Principal,
        request_id: &str,
        approve: bool,
        scopes: &[String],
        picked: Option<&str>,
    ) -> Result<(String, String), ApiError> {
        let pending = self.pending(principal, request_id).await?;
        match (Self::picks_patient(principal, &pending), picked) {
            (true, None) if approve => {
                return Err(ApiError::bad_request(
                    medilink_fhir::IssueCode::Required,
                    "choose the patient the app works with",
                ));
            }
            (false, Some(_)) => {
                return Err(ApiError::bad_request(
                    medilink_fhir::IssueCode::Value,
                    "this request has no patient to choose",
                ));
            }
            _ => {}
        }
        let request_key = super::secret_key("request", request_id);
        if !self
            .first_use(&format!("{request_key}:decided"), REQUEST_TTL)
            .await?
        {
            return Err(not_found("this authorization request was decided already"));
        }
        self.kv.delete(&request_key).await?;
        let mut params = Vec::new();
        if !approve {
            params.push(("error", "access_denied".to_owned()));
            params.push((
                "error_description",
                "the user denied the request".to_owned(),
            ));
            params.push(("state", pending.state.clone()));
            return Ok((redirect(&pending.redirect_uri, &params), pending.client_id));
        }
        if let Some(extra) = scopes.iter().find(|scope| !pending.scopes.contains(scope)) {
            return Err(ApiError::bad_request(
                medilink_fhir::IssueCode::Value,
                format!("{extra} was not requested"),
            ));
        }
        let granted: Vec<Scope> = parse_scopes(&scopes.join(" "));
        let now = self.clock.now();
        let code = random_token::<32>();
        let grant = CodeGrant {
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            code_challenge: pending.code_challenge.clone(),
            user_id: principal.claims.sub.to_string(),
            role: principal.role().as_str().to_owned(),
            mfa: principal.claims.mfa,
            pid: principal
                .claims
                .pid
                .as_ref()
                .map(|pid| pid.as_str().to_owned()),
            patient: Self::patient_context(principal, &pending, picked),
            scopes: granted.iter().map(ToString::to_string).collect(),
            family: random_token::<16>(),
            nonce: pending.nonce.clone(),
            ehr: pending.launch.is_some(),
            expires_at: now.unix_timestamp() + CODE_TTL_SECS,
        };
        self.put(&super::secret_key("code", &code), &grant, CODE_MEMORY)
            .await?;
        // The decision is remembered as granted (narrowed as the user narrowed it); one a
        // remembered decision covers keeps that one (asking less does not forget more).
        let covered = self
            .store
            .authorization(&principal.claims.sub, &pending.client_id)
            .await?
            .is_some_and(|remembered| within(&granted, &parse_scopes(&remembered.scopes)));
        if !covered {
            self.store
                .remember(&SmartAuthorization {
                    user_id: principal.claims.sub.clone(),
                    client_id: pending.client_id.clone(),
                    scopes: scope_text(&granted),
                    granted_at: now,
                    last_used_at: None,
                })
                .await?;
        }
        params.push(("code", code));
        params.push(("state", pending.state.clone()));
        Ok((redirect(&pending.redirect_uri, &params), pending.client_id))
    }

    /// An EHR launch by the physician `user_id` of `client_id` for `patient_id` (the caller
    /// checked that the physician may read that patient): the app's launch URL.
    pub async fn launch(
        &self,
        user_id: &UserId,
        client_id: &str,
        patient_id: &ResourceId,
        base: &str,
    ) -> Result<String, ApiError> {
        let client = self
            .approved(client_id)
            .await?
            .filter(|client| !client.metadata.redirect_uris.is_empty())
            .ok_or_else(|| not_found("no such approved app"))?;
        let launch_uri = client
            .metadata
            .launch_uri
            .clone()
            .ok_or_else(|| not_found("the app has no launch URL"))?;
        let token = random_token::<24>();
        let context = LaunchContext {
            user_id: user_id.to_string(),
            patient_id: patient_id.as_str().to_owned(),
            client_id: client.client_id,
        };
        self.put(&super::secret_key("launch", &token), &context, LAUNCH_TTL)
            .await?;
        Ok(with_query(
            &launch_uri,
            &[("iss", base), ("launch", &token)],
        ))
    }
}

/// A `404` naming what was not found.
pub(crate) fn not_found(diagnostics: &str) -> ApiError {
    ApiError::with_kind(
        medilink_fhir::ErrorKind::NotFound,
        medilink_fhir::IssueCode::NotFound,
        diagnostics,
    )
}

fn redirect(uri: &str, params: &[(&str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    with_query(uri, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_never_widen_and_read_plainly() {
        let registered = parse_scopes("patient/*.rs openid launch/patient");
        assert!(within(
            &parse_scopes("patient/Observation.rs openid"),
            &registered
        ));
        assert!(within(&parse_scopes("patient/Observation.r"), &registered));
        assert!(!within(
            &parse_scopes("patient/Observation.cruds"),
            &registered
        ));
        assert!(!within(&parse_scopes("user/Observation.rs"), &registered));
        assert!(!within(&parse_scopes("offline_access"), &registered));
        assert_eq!(
            describe(&parse_scopes("patient/Observation.rs")[0]),
            "Read Observation records of the patient"
        );
        assert!(challenge_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!challenge_ok("short"));
        assert_eq!(
            with_query(
                "https://app.example/cb?x=1",
                &[("code", "a b"), ("state", "s")]
            ),
            "https://app.example/cb?x=1&code=a+b&state=s"
        );
    }
}
