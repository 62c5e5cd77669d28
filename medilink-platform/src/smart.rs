//! SMART App Launch state (issue #17): registered apps ([`SmartClient`], pending until an
//! admin approves them), the decisions users remembered per app ([`SmartAuthorization`]) and
//! the apps' refresh tokens ([`SmartRefresh`], hashed, rotated in families with reuse
//! detection), behind the [`SmartStore`] seam (SQL: `sql/smart.rs`, migration `0012_smart`).
//! The scopes and what a token lets an app do are [`scopes`]. This crate stores rows: the
//! server's `smart/` does the OAuth protocol and the cryptography.

pub mod scopes;

use std::fmt;

use async_trait::async_trait;
use medilink_fhir::error::FhirResult;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::UserId;

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientKind {
    /// No secret (`token_endpoint_auth_method: none`): PKCE alone binds the code.
    Public,
    /// `private_key_jwt` with a registered JWKS or `jwks_uri`.
    ConfidentialAsymmetric,
}

impl ClientKind {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::ConfidentialAsymmetric => "confidential-asymmetric",
        }
    }

    /// Parses [`ClientKind::as_str`].
    pub fn parse(text: &str) -> Option<ClientKind> {
        match text {
            "public" => Some(ClientKind::Public),
            "confidential-asymmetric" => Some(ClientKind::ConfidentialAsymmetric),
            _ => None,
        }
    }
}

/// Whether a client may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientStatus {
    /// Registered, waiting for an admin.
    Pending,
    /// Approved by an admin: may obtain tokens.
    Approved,
    /// Suspended by an admin: obtains nothing.
    Suspended,
}

impl ClientStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Pending => "pending",
            ClientStatus::Approved => "approved",
            ClientStatus::Suspended => "suspended",
        }
    }

    /// Parses [`ClientStatus::as_str`].
    pub fn parse(text: &str) -> Option<ClientStatus> {
        match text {
            "pending" => Some(ClientStatus::Pending),
            "approved" => Some(ClientStatus::Approved),
            "suspended" => Some(ClientStatus::Suspended),
            _ => None,
        }
    }
}

/// The registered metadata of a client (RFC 7591 names; stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClientMetadata {
    /// `client_name`.
    pub client_name: String,
    /// `redirect_uris` (exact match at authorization).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `scope`: the scopes the client may ask for (space-separated).
    #[serde(default)]
    pub scope: String,
    /// `grant_types`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// `token_endpoint_auth_method`: `none` or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// `jwks`: the client's public keys (a JWK Set, JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `jwks_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// `logo_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// `launch_uri` (extension: the app's EHR-launch URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_uri: Option<String>,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartClient {
    /// `client_id`.
    pub client_id: String,
    /// Public or confidential-asymmetric.
    pub kind: ClientKind,
    /// Pending, approved or suspended.
    pub status: ClientStatus,
    /// What it registered.
    pub metadata: ClientMetadata,
    /// When it registered.
    pub created_at: OffsetDateTime,
}

/// A decision a user remembered for an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartAuthorization {
    /// The user.
    pub user_id: UserId,
    /// The app.
    pub client_id: String,
    /// The scopes granted (space-separated).
    pub scopes: String,
    /// When granted (last).
    pub granted_at: OffsetDateTime,
    /// When a token was last issued or refreshed under it.
    pub last_used_at: Option<OffsetDateTime>,
}

/// An app's refresh token (only its hash is stored).
#[derive(Clone, PartialEq, Eq)]
pub struct SmartRefresh {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The rotation family (one per authorization code exchange).
    pub family_id: String,
    /// The app.
    pub client_id: String,
    /// The user.
    pub user_id: UserId,
    /// The patient context.
    pub patient_id: Option<String>,
    /// The scopes granted (space-separated; a refresh may narrow, never widen).
    pub scopes: String,
    /// When issued.
    pub created_at: OffsetDateTime,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for SmartRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmartRefresh")
            .field("family_id", &self.family_id)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// What consuming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmartRefreshUse {
    /// Live: now used, its successor stored.
    Rotated(SmartRefresh),
    /// Already used or revoked: the whole family is now revoked.
    Reused(SmartRefresh),
    /// Expired.
    Expired,
    /// No such token.
    Unknown,
}

/// Storage of SMART clients, remembered decisions and app refresh tokens.
#[async_trait]
pub trait SmartStore: Send + Sync + fmt::Debug {
    /// Stores a new client (a taken `client_id` is `Conflict`).
    async fn create_client(&self, client: &SmartClient) -> FhirResult<()>;
    /// One client.
    async fn client(&self, client_id: &str) -> FhirResult<Option<SmartClient>>;
    /// Every client, newest first.
    async fn clients(&self) -> FhirResult<Vec<SmartClient>>;
    /// Sets a client's status; `false` when there is no such client.
    async fn set_client_status(
        &self,
        client_id: &str,
        status: ClientStatus,
        now: OffsetDateTime,
    ) -> FhirResult<bool>;

    /// Remembers (or replaces) `user`'s decision for `client_id`.
    async fn remember(&self, authorization: &SmartAuthorization) -> FhirResult<()>;
    /// The user's remembered decisions, newest first.
    async fn authorizations(&self, user_id: &UserId) -> FhirResult<Vec<SmartAuthorization>>;
    /// One remembered decision.
    async fn authorization(
        &self,
        user_id: &UserId,
        client_id: &str,
    ) -> FhirResult<Option<SmartAuthorization>>;
    /// Notes a use of the decision.
    async fn touch(&self, user_id: &UserId, client_id: &str, now: OffsetDateTime)
    -> FhirResult<()>;
    /// Forgets the decision and revokes the app's refresh tokens for the user; `false` when
    /// nothing was remembered nor live.
    async fn forget(
        &self,
        user_id: &UserId,
        client_id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<bool>;

    /// Stores a new refresh token.
    async fn insert_refresh(&self, token: &SmartRefresh) -> FhirResult<()>;
    /// Consumes a refresh token of `client_id`, storing `successor` in its family when it was
    /// live; a used or revoked one revokes its family. A token of another client is
    /// [`SmartRefreshUse::Unknown`].
    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        client_id: &str,
        successor: &SmartRefresh,
        now: OffsetDateTime,
    ) -> FhirResult<SmartRefreshUse>;
    /// A live (unused, unrevoked, unexpired) refresh token, for introspection.
    async fn live_refresh(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> FhirResult<Option<SmartRefresh>>;
    /// Revokes the family of a refresh token of `client_id`; its family id when found.
    async fn revoke_refresh(
        &self,
        token_hash: &[u8],
        client_id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<Option<String>>;
    /// Revokes a whole family (a reused authorization code).
    async fn revoke_family(&self, family_id: &str, now: OffsetDateTime) -> FhirResult<()>;
}
