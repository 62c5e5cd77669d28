//! The token endpoint's grants, id_tokens, introspection, revocation, and the check of an
//! app's access token on each request.
//!
//! - `authorization_code`: single-use (a second use revokes every token the code gave, even
//!   one exchanged at another server: the use count is in the shared key-value store), short
//!   lived, bound to the client, the redirect URI and the PKCE verifier;
//! - `refresh_token` (`offline_access` or `online_access`): rotated on each use; presenting a
//!   rotated one revokes its family (and the family's access tokens); a `scope` narrows,
//!   never widens;
//! - `client_credentials` (Backend Services): a confidential-asymmetric client with the grant
//!   registered, `system/` scopes only.
//!
//! Access tokens are RS256 JWTs (`typ: at+jwt`) naming the user, role, client, scopes,
//! patient context and family. Revocation: the token's `jti` (RFC 7009), its family (a
//! reused code or refresh token, a revoked refresh token), the user and app (a forgotten
//! decision), the app (a suspended client), the user (password change: the portal's epoch).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medilink_fhir::{FhirError, ResourceId};
use medilink_platform::smart::scopes::{AppAccess, Scope, ScopeContext, parse_scopes, scope_text};
use medilink_platform::smart::{ClientKind, SmartClient, SmartRefresh, SmartRefreshUse};
use medilink_platform::{AccountStatus, Role, UserId};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::authorize::{CodeGrant, within};
use super::{ACCESS_TTL, CODE_MEMORY, OAuthError, REFRESH_TTL, SmartGrant, SmartService};
use crate::auth::crypto::{random_token, sha256};
use crate::auth::token::Claims;

/// The token endpoint's answer (SMART App Launch 2.2).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds it lives.
    pub expires_in: u64,
    /// The scopes granted.
    pub scope: String,
    /// The patient context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// A refresh token (`offline_access`, `online_access`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The id_token (`openid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Whether the app should show which patient it works on (an EHR launch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_patient_banner: Option<bool>,
    /// The user's FHIR resource (`fhirUser` scope), as in the id_token.
    #[serde(rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
}

/// The `Practitioner` id of a physician's or admin's account: their user id (the resource
/// is created when they first approve an app, `AppState::ensure_practitioner`). `None`: the
/// user id is not a FHIR id.
pub fn practitioner_id(user_id: &str) -> Option<ResourceId> {
    ResourceId::new(user_id.to_owned()).ok()
}

/// Who a token is for.
#[derive(Debug, Clone)]
struct Subject {
    user_id: String,
    role: Role,
    mfa: bool,
    pid: Option<String>,
}

/// What one token event was, for the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEvent {
    /// Issued (code exchange, client credentials).
    Issued,
    /// Refreshed.
    Refreshed,
    /// A reused code or refresh token: its family revoked.
    Reuse,
}

/// The user's FHIR resource when `scopes` ask for `fhirUser`: a patient's own Patient, a
/// physician's or admin's Practitioner ([`practitioner_id`]).
fn fhir_user(base: &str, subject: &Subject, scopes: &[Scope]) -> Option<String> {
    if !scopes.contains(&Scope::FhirUser) {
        return None;
    }
    match subject.role {
        Role::Patient => subject
            .pid
            .as_ref()
            .map(|pid| format!("{base}/Patient/{pid}")),
        Role::Physician | Role::Admin => practitioner_id(&subject.user_id)
            .map(|id| format!("{base}/Practitioner/{}", id.as_str())),
        _ => None,
    }
}

/// The account a SMART token of a Backend Services client acts as.
pub fn system_subject(client_id: &str) -> String {
    format!("smart-client/{client_id}")
}

fn millis(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl SmartService {
    fn access_token(
        &self,
        base: &str,
        subject: &Subject,
        client_id: &str,
        scopes: &[Scope],
        patient: Option<&str>,
        family: Option<&str>,
    ) -> String {
        let now = self.clock.now();
        let mut claims = Map::new();
        let mut set = |name: &str, value: Value| {
            claims.insert(name.to_owned(), value);
        };
        set("iss", json!(base));
        set("aud", json!(base));
        set("sub", json!(subject.user_id));
        set("client_id", json!(client_id));
        set("scope", json!(scope_text(scopes)));
        set("jti", json!(random_token::<16>()));
        set("iat", json!(now.unix_timestamp()));
        set("iat_ms", json!(millis(now)));
        set(
            "exp",
            json!(now.unix_timestamp() + ACCESS_TTL.as_secs() as i64),
        );
        set("role", json!(subject.role.as_str()));
        set("mfa", json!(subject.mfa));
        if let Some(pid) = &subject.pid {
            set("pid", json!(pid));
        }
        if let Some(patient) = patient {
            set("patient", json!(patient));
        }
        if let Some(family) = family {
            set("fam", json!(family));
        }
        self.keys.sign(claims, "at+jwt")
    }

    fn id_token(
        &self,
        base: &str,
        subject: &Subject,
        client_id: &str,
        scopes: &[Scope],
        nonce: Option<&str>,
    ) -> Option<String> {
        if !scopes.contains(&Scope::OpenId) {
            return None;
        }
        let now = self.clock.now().unix_timestamp();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(base));
        claims.insert("sub".into(), json!(subject.user_id));
        claims.insert("aud".into(), json!(client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ACCESS_TTL.as_secs() as i64));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        if let Some(fhir_user) = fhir_user(base, subject, scopes) {
            claims.insert("fhirUser".into(), json!(fhir_user));
        }
        Some(self.keys.sign(claims, "JWT"))
    }

    /// Everything a grant gives: the access token, and the refresh token and id_token its
    /// scopes ask for.
    #[allow(clippy::too_many_arguments, reason = "the parts of one token response")]
    async fn respond(
        &self,
        base: &str,
        subject: &Subject,
        client_id: &str,
        scopes: &[Scope],
        patient: Option<String>,
        family: &str,
        nonce: Option<&str>,
        ehr: bool,
    ) -> Result<TokenResponse, OAuthError> {
        let refresh = scopes
            .iter()
            .any(|scope| matches!(scope, Scope::OfflineAccess | Scope::OnlineAccess));
        let refresh_token = match refresh {
            true => {
                let token = random_token::<32>();
                let now = self.clock.now();
                self.store
                    .insert_refresh(&SmartRefresh {
                        token_hash: sha256(token.as_bytes()),
                        family_id: family.to_owned(),
                        client_id: client_id.to_owned(),
                        user_id: UserId(subject.user_id.clone()),
                        patient_id: patient.clone(),
                        scopes: scope_text(scopes),
                        created_at: now,
                        expires_at: now + REFRESH_TTL,
                    })
                    .await?;
                Some(token)
            }
            false => None,
        };
        self.store
            .touch(
                &UserId(subject.user_id.clone()),
                client_id,
                self.clock.now(),
            )
            .await?;
        Ok(TokenResponse {
            access_token: self.access_token(
                base,
                subject,
                client_id,
                scopes,
                patient.as_deref(),
                Some(family),
            ),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
            scope: scope_text(scopes),
            id_token: self.id_token(base, subject, client_id, scopes, nonce),
            patient,
            refresh_token,
            need_patient_banner: Some(ehr),
            fhir_user: fhir_user(base, subject, scopes),
        })
    }

    /// Revokes a token family: its refresh tokens and (for as long as they live) its access
    /// tokens.
    pub(crate) async fn revoke_family(&self, family: &str) -> Result<(), FhirError> {
        self.store.revoke_family(family, self.clock.now()).await?;
        let ttl = ACCESS_TTL + std::time::Duration::from_secs(60);
        self.kv.set(&format!("smart:fam:{family}"), b"1", ttl).await
    }

    /// The token endpoint: authenticates the client (`audiences`: the URLs its assertion may
    /// name) and runs the grant `form` asks for. The answer, the account it is for and what
    /// happened.
    pub async fn token(
        &self,
        form: &std::collections::HashMap<String, String>,
        audiences: &[&str],
        base: &str,
    ) -> Result<(SmartClient, TokenResponse, String, TokenEvent), OAuthError> {
        let client = self.authenticate_client(form, audiences).await?;
        let (response, subject, event) = match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => self.exchange_code(&client, form, base).await?,
            Some("refresh_token") => self.refresh(&client, form, base).await?,
            Some("client_credentials") => self.client_credentials(&client, form, base).await?,
            _ => {
                return Err(OAuthError::unsupported_grant_type(
                    "grant_type must be authorization_code, refresh_token or client_credentials",
                ));
            }
        };
        Ok((client, response, subject, event))
    }

    /// `grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        client: &SmartClient,
        form: &std::collections::HashMap<String, String>,
        base: &str,
    ) -> Result<(TokenResponse, String, TokenEvent), OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
        let code = field("code");
        let key = super::secret_key("code", code);
        let grant: CodeGrant = self
            .take(&key)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("unknown or expired code"))?;
        if !self.first_use(&format!("{key}:used"), CODE_MEMORY).await? {
            self.revoke_family(&grant.family).await?;
            return Err(OAuthError::reused(
                "the code was used before: the tokens it gave are revoked",
            ));
        }
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if grant.expires_at <= self.clock.now().unix_timestamp() {
            return Err(OAuthError::invalid_grant("the code expired"));
        }
        if field("redirect_uri") != grant.redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let verifier = field("code_verifier");
        let valid_verifier = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !valid_verifier {
            return Err(OAuthError::invalid_grant(
                "PKCE: a code_verifier is required",
            ));
        }
        if URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())) != grant.code_challenge {
            return Err(OAuthError::invalid_grant(
                "PKCE: code_verifier does not match",
            ));
        }
        let subject = Subject {
            user_id: grant.user_id.clone(),
            role: Role::parse(&grant.role)
                .ok_or_else(|| OAuthError::invalid_grant("unknown role"))?,
            mfa: grant.mfa,
            pid: grant.pid.clone(),
        };
        let scopes = parse_scopes(&grant.scopes.join(" "));
        let response = self
            .respond(
                base,
                &subject,
                &client.client_id,
                &scopes,
                grant.patient.clone(),
                &grant.family,
                grant.nonce.as_deref(),
                grant.ehr,
            )
            .await?;
        Ok((response, grant.user_id, TokenEvent::Issued))
    }

    /// `grant_type=refresh_token`.
    pub async fn refresh(
        &self,
        client: &SmartClient,
        form: &std::collections::HashMap<String, String>,
        base: &str,
    ) -> Result<(TokenResponse, String, TokenEvent), OAuthError> {
        let token = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let successor = random_token::<32>();
        let now = self.clock.now();
        let mut next = SmartRefresh {
            token_hash: sha256(successor.as_bytes()),
            family_id: String::new(),
            client_id: client.client_id.clone(),
            user_id: UserId(String::new()),
            patient_id: None,
            scopes: String::new(),
            created_at: now,
            expires_at: now + REFRESH_TTL,
        };
        // The successor's row is written by the rotation: read the token first.
        let Some(current) = self
            .store
            .live_refresh(&sha256(token.as_bytes()), now)
            .await?
        else {
            return match self
                .store
                .rotate_refresh(&sha256(token.as_bytes()), &client.client_id, &next, now)
                .await?
            {
                SmartRefreshUse::Reused(record) => {
                    self.revoke_family(&record.family_id).await?;
                    Err(OAuthError::reused(
                        "the refresh token was used before: its family is revoked",
                    ))
                }
                _ => Err(OAuthError::invalid_grant(
                    "unknown, expired or revoked refresh token",
                )),
            };
        };
        let granted = parse_scopes(&current.scopes);
        let scopes = match form.get("scope") {
            Some(asked) => {
                let asked = parse_scopes(asked);
                if asked.is_empty() || !within(&asked, &granted) {
                    return Err(OAuthError::invalid_scope(
                        "a refresh may narrow the scopes, never widen them",
                    ));
                }
                asked
            }
            None => granted,
        };
        let user = self
            .accounts
            .user(&current.user_id)
            .await?
            .filter(|user| user.status == AccountStatus::Active)
            .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
        next.family_id.clone_from(&current.family_id);
        next.user_id = current.user_id.clone();
        next.patient_id.clone_from(&current.patient_id);
        next.scopes = scope_text(&scopes);
        match self
            .store
            .rotate_refresh(&current.token_hash, &client.client_id, &next, now)
            .await?
        {
            SmartRefreshUse::Rotated(_) => {}
            SmartRefreshUse::Reused(record) => {
                self.revoke_family(&record.family_id).await?;
                return Err(OAuthError::reused(
                    "the refresh token was used before: its family is revoked",
                ));
            }
            _ => {
                return Err(OAuthError::invalid_grant(
                    "unknown, expired or revoked refresh token",
                ));
            }
        }
        let subject = Subject {
            user_id: user.id.to_string(),
            role: user.role,
            mfa: user.totp_enabled,
            pid: user.patient_id.as_ref().map(|pid| pid.as_str().to_owned()),
        };
        self.store.touch(&user.id, &client.client_id, now).await?;
        let response = TokenResponse {
            access_token: self.access_token(
                base,
                &subject,
                &client.client_id,
                &scopes,
                current.patient_id.as_deref(),
                Some(&current.family_id),
            ),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
            scope: scope_text(&scopes),
            patient: current.patient_id.clone(),
            refresh_token: Some(successor),
            id_token: self.id_token(base, &subject, &client.client_id, &scopes, None),
            need_patient_banner: None,
            fhir_user: fhir_user(base, &subject, &scopes),
        };
        Ok((response, subject.user_id, TokenEvent::Refreshed))
    }

    /// `grant_type=client_credentials` (Backend Services).
    pub async fn client_credentials(
        &self,
        client: &SmartClient,
        form: &std::collections::HashMap<String, String>,
        base: &str,
    ) -> Result<(TokenResponse, String, TokenEvent), OAuthError> {
        if client.kind != ClientKind::ConfidentialAsymmetric
            || !client
                .metadata
                .grant_types
                .iter()
                .any(|g| g == "client_credentials")
        {
            return Err(OAuthError::unauthorized_client(
                "the client is not registered for client_credentials",
            ));
        }
        let registered = parse_scopes(&client.metadata.scope);
        let asked = parse_scopes(form.get("scope").map(String::as_str).unwrap_or(""));
        let system_only = asked.iter().all(|scope| {
            matches!(scope, Scope::Resource(resource) if resource.context == ScopeContext::System)
        });
        if asked.is_empty() || !system_only || !within(&asked, &registered) {
            return Err(OAuthError::invalid_scope(
                "ask for system/ scopes the client registered",
            ));
        }
        let subject = Subject {
            user_id: system_subject(&client.client_id),
            role: Role::Admin,
            mfa: true,
            pid: None,
        };
        let response = TokenResponse {
            access_token: self.access_token(base, &subject, &client.client_id, &asked, None, None),
            token_type: "Bearer",
            expires_in: ACCESS_TTL.as_secs(),
            scope: scope_text(&asked),
            patient: None,
            refresh_token: None,
            id_token: None,
            need_patient_banner: None,
            fhir_user: None,
        };
        Ok((response, subject.user_id, TokenEvent::Issued))
    }

    /// The claims of an app's access token (signature and expiry checked; revocation is
    /// [`SmartService::revoked`]).
    pub fn verify_access(&self, token: &str) -> Option<Claims> {
        let claims = self.keys.verify(token)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        let exp = number("exp")?;
        if self.clock.now().unix_timestamp() >= exp {
            return None;
        }
        let client_id = text("client_id")?;
        let patient = text("patient");
        let scopes = parse_scopes(&text("scope")?);
        let access = AppAccess::new(&client_id, &scopes, patient);
        Some(Claims {
            sub: UserId(text("sub")?),
            role: Role::parse(&text("role")?)?,
            jti: text("jti")?,
            iat: number("iat")?,
            iat_ms: number("iat_ms")?,
            exp,
            mfa: claims.get("mfa").and_then(Value::as_bool)?,
            partial: false,
            pid: text("pid").and_then(|pid| ResourceId::new(pid).ok()),
            app: Some(Arc::new(SmartGrant {
                access,
                family: text("fam"),
            })),
        })
    }

    /// Whether an app's token was revoked by its family, the user's decision or the app's
    /// suspension.
    pub async fn revoked(&self, claims: &Claims) -> Result<bool, FhirError> {
        let Some(grant) = &claims.app else {
            return Ok(false);
        };
        if let Some(family) = &grant.family
            && self.kv.get(&format!("smart:fam:{family}")).await?.is_some()
        {
            return Ok(true);
        }
        let client = &grant.access.client_id;
        for key in [
            format!("smart:cut:{}:{client}", claims.sub),
            format!("smart:client-cut:{client}"),
        ] {
            let cut = self.kv.get(&key).await?;
            let cut = cut
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<i64>().ok());
            if cut.is_some_and(|cut| claims.iat_ms <= cut) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// RFC 7662: what `token` is, for the authenticated `client` (a token of another client
    /// is inactive to it).
    pub async fn introspect(&self, client: &SmartClient, token: &str) -> Result<Value, FhirError> {
        let inactive = json!({"active": false});
        if let Some(claims) = self.verify_access(token) {
            let Some(grant) = claims.app.clone() else {
                return Ok(inactive);
            };
            if grant.access.client_id != client.client_id
                || self.revoked(&claims).await?
                || self
                    .kv
                    .get(&format!("deny:{}", claims.jti))
                    .await?
                    .is_some()
            {
                return Ok(inactive);
            }
            let raw = self.keys.verify(token).unwrap_or_default();
            let mut answer = json!({
                "active": true,
                "token_type": "Bearer",
                "client_id": client.client_id,
                "sub": claims.sub.as_str(),
                "exp": claims.exp,
                "iat": claims.iat,
                "scope": raw.get("scope").cloned().unwrap_or(Value::Null),
                "iss": raw.get("iss").cloned().unwrap_or(Value::Null),
                "aud": raw.get("aud").cloned().unwrap_or(Value::Null),
            });
            if let Some(patient) = &grant.access.patient {
                answer["patient"] = json!(patient);
            }
            return Ok(answer);
        }
        match self
            .store
            .live_refresh(&sha256(token.as_bytes()), self.clock.now())
            .await?
        {
            Some(refresh) if refresh.client_id == client.client_id => Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": client.client_id,
                "sub": refresh.user_id.as_str(),
                "scope": refresh.scopes,
                "exp": refresh.expires_at.unix_timestamp(),
                "iat": refresh.created_at.unix_timestamp(),
                "patient": refresh.patient_id,
            })),
            _ => Ok(inactive),
        }
    }

    /// RFC 7009: revokes `token` (an access token of `client`, or a refresh token of its
    /// family with the family's access tokens); unknown tokens are no error. Whether
    /// something was revoked.
    pub async fn revoke(&self, client: &SmartClient, token: &str) -> Result<bool, FhirError> {
        if let Some(claims) = self.verify_access(token) {
            let ours = claims
                .app
                .as_ref()
                .is_some_and(|grant| grant.access.client_id == client.client_id);
            if !ours {
                return Ok(false);
            }
            let remaining =
                u64::try_from(claims.exp - self.clock.now().unix_timestamp()).unwrap_or(0);
            self.kv
                .set(
                    &format!("deny:{}", claims.jti),
                    b"1",
                    std::time::Duration::from_secs(remaining + 60),
                )
                .await?;
            return Ok(true);
        }
        match self
            .store
            .revoke_refresh(
                &sha256(token.as_bytes()),
                &client.client_id,
                self.clock.now(),
            )
            .await?
        {
            Some(family) => {
                self.revoke_family(&family).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Forgets `user_id`'s decision for `client_id` and revokes that app's tokens for the
    /// user; `false` when there was nothing.
    pub async fn forget(&self, user_id: &UserId, client_id: &str) -> Result<bool, FhirError> {
        let found = self
            .store
            .forget(user_id, client_id, self.clock.now())
            .await?;
        self.cut_off(&format!("smart:cut:{user_id}:{client_id}"))
            .await?;
        Ok(found)
    }
}
