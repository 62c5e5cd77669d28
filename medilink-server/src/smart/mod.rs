//! SMART App Launch 2.2 and Backend Services (issue #17): MediLink's authorization server for
//! third-party apps.
//!
//! - [`oauth`]: the OAuth endpoints — discovery (`/.well-known/smart-configuration`, also
//!   under `/fhir/R4`), `/oauth/authorize`, `/oauth/token`, `/oauth/register` (RFC 7591),
//!   `/oauth/introspect` (RFC 7662), `/oauth/revoke` (RFC 7009), `/oauth/jwks`;
//! - [`register`]: client registration and the admin's approval;
//! - [`authorize`]: the authorization request (PKCE S256 mandatory, exact redirect URIs), the
//!   user's decision on the consent screen, EHR launch tokens;
//! - [`token`]: the grants (authorization code, refresh token with rotation and reuse
//!   detection, client credentials), id_tokens, introspection, revocation, and the check of
//!   an app's access token on each FHIR request;
//! - [`assertion`]: `private_key_jwt` client assertions (RS384, ES384; `jti` replay refused);
//! - [`keys`]: the RS256 signing keys with rotation.
//!
//! Short-lived state — pending authorization requests, codes, launch tokens, used `jti`s,
//! revoked token families — lives in the key-value store (Redis when configured), so two
//! servers behind one proxy share it; clients, remembered decisions and refresh tokens live
//! in the platform's `SmartStore`. An app's token reaches data only as the consent policy
//! allows: the request's `Caller` carries the token's scopes and patient context
//! ([`medilink_platform::smart::scopes::AppAccess`]) and the policy intersects them with the
//! user's rights where the restriction is planned into the query.

pub mod assertion;
pub mod authorize;
pub mod keys;
pub mod oauth;
pub mod register;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{Clock, FhirError};
use medilink_platform::AccountStore;
use medilink_platform::smart::SmartStore;
use medilink_platform::smart::scopes::AppAccess;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

pub use keys::SigningKeys;

/// Lifetime of an access token.
pub const ACCESS_TTL: Duration = Duration::from_secs(10 * 60);
/// Lifetime of a refresh token.
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Lifetime of a pending authorization request (the user signs in and decides meanwhile).
pub const REQUEST_TTL: Duration = Duration::from_secs(10 * 60);
/// Lifetime of an authorization code.
pub const CODE_TTL_SECS: i64 = 60;
/// How long a used code is remembered (a reuse within it revokes what the code gave).
pub const CODE_MEMORY: Duration = Duration::from_secs(10 * 60);
/// Lifetime of an EHR launch token.
pub const LAUNCH_TTL: Duration = Duration::from_secs(10 * 60);
/// Longest lifetime of a client assertion (Backend Services: at most five minutes).
pub const ASSERTION_MAX_SECS: i64 = 300;

/// The app side of an access token: what its scopes allow and the refresh family it came
/// from (revoked together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartGrant {
    /// The scopes, client and patient context.
    pub access: AppAccess,
    /// The token family (one per code exchange; none for client credentials).
    pub family: Option<String>,
}

/// The SMART authorization server's state and settings.
#[derive(Debug)]
pub struct SmartService {
    pub(crate) store: Arc<dyn SmartStore>,
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) kv: Arc<dyn KeyValue>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keys: SigningKeys,
}

impl SmartService {
    /// The service over the platform's SMART store and accounts, the shared key-value store
    /// and the signing keys.
    pub fn new(
        store: Arc<dyn SmartStore>,
        accounts: Arc<dyn AccountStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
        keys: SigningKeys,
    ) -> SmartService {
        SmartService {
            store,
            accounts,
            kv,
            clock,
            keys,
        }
    }

    /// The same service signing with `keys`.
    pub fn with_keys(&self, keys: SigningKeys) -> SmartService {
        SmartService {
            store: self.store.clone(),
            accounts: self.accounts.clone(),
            kv: self.kv.clone(),
            clock: self.clock.clone(),
            keys,
        }
    }

    /// The signing keys.
    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// The client store.
    pub fn store(&self) -> &Arc<dyn SmartStore> {
        &self.store
    }

    async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), FhirError> {
        let bytes = serde_json::to_vec(value).map_err(|err| FhirError::Internal {
            source: Box::new(err),
        })?;
        self.kv.set(key, &bytes, ttl).await
    }

    async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, FhirError> {
        Ok(self
            .kv
            .get(key)
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Whether `key` is seen for the first time within `ttl` (atomic across servers).
    async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, FhirError> {
        Ok(self.kv.incr(key, ttl).await? == 1)
    }
}

/// The key-value key of a secret (its SHA-256, never the secret itself).
pub(crate) fn secret_key(prefix: &str, secret: &str) -> String {
    use base64::Engine;
    let digest = crate::auth::crypto::sha256(secret.as_bytes());
    format!(
        "smart:{prefix}:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// An OAuth 2.0 error answer (RFC 6749 §5.2): `{"error", "error_description"}`, never
/// cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The HTTP status (400, or 401 for `invalid_client`).
    pub status: StatusCode,
    /// The error code.
    pub error: &'static str,
    /// A description for the developer (never patient data nor secrets).
    pub description: String,
    /// Whether it answers the reuse of a code or refresh token (audited as such).
    pub reuse: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            reuse: false,
        }
    }

    /// `invalid_grant` for a reused code or refresh token (whose family is now revoked).
    pub fn reused(description: impl Into<String>) -> Self {
        OAuthError {
            reuse: true,
            ..Self::invalid_grant(description)
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// `invalid_client` (401).
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// `unauthorized_client`.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// `unsupported_grant_type`.
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    /// `invalid_client_metadata` (RFC 7591).
    pub fn invalid_metadata(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            description,
        )
    }

    /// `invalid_redirect_uri` (RFC 7591).
    pub fn invalid_redirect_uri(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", description)
    }
}

impl From<FhirError> for OAuthError {
    fn from(err: FhirError) -> Self {
        tracing::error!(error = %err, "SMART state unavailable");
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "try again later",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}
