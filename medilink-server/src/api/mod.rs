//! The application API under `/api` (JSON): accounts and sessions ([`auth`]),
//! administration ([`admin`]) and the clinician directory ([`directory`]), described by the
//! OpenAPI document [`openapi`] generates from the route table and the request and response
//! types each area declares next to its handlers ([`schema`]: the shared ones). Errors are
//! `OperationOutcome`s like the FHIR API's.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod admin_system;
pub(crate) mod auth;
pub(crate) mod clinical;
pub(crate) mod consents;
pub(crate) mod directory;
pub(crate) mod documents;
pub(crate) mod invitations;
pub(crate) mod notifications;
pub(crate) mod openapi;
pub(crate) mod research;
pub(crate) mod schema;
pub(crate) mod search;
pub(crate) mod smart;

pub(crate) use schema::{AccountState, RoleName};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::Principal;
use crate::error::ApiError;

/// The principal of a protected route (the middleware already required it).
#[derive(Debug, Clone)]
pub(crate) struct Signed(pub(crate) Principal);

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Signed)
            .ok_or_else(|| ApiError::unauthenticated("a bearer token is required"))
    }
}

/// Query parameters whose rejection (a value of the wrong type, an unknown enum name) is a `400`
/// OperationOutcome naming the problem, as for the FHIR API, not axum's plain-text answer.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(params)| Query(params))
            .map_err(|rejection| {
                ApiError::bad_request(medilink_fhir::IssueCode::Invalid, rejection.body_text())
            })
    }
}

/// A JSON body whose rejection is a `400` OperationOutcome.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|_| {
            ApiError::bad_request(medilink_fhir::IssueCode::Structure, "cannot read the body")
        })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|err| {
            ApiError::bad_request(
                medilink_fhir::IssueCode::Structure,
                format!("invalid JSON body: {}", err.classify_message()),
            )
        })
    }
}

trait ClassifyMessage {
    fn classify_message(&self) -> &'static str;
}

impl ClassifyMessage for serde_json::Error {
    fn classify_message(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "unexpected end",
            _ => "syntax error",
        }
    }
}
