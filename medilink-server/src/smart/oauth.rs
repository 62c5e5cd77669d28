//! The OAuth endpoints of the SMART authorization server (outside `/api`): discovery, the
//! authorization request, the token endpoint, registration, introspection, revocation and the
//! JWK Set. Bodies are `application/x-www-form-urlencoded` (registration: JSON); errors are
//! RFC 6749 `{"error", "error_description"}` answers, never cached.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_platform::audit::app_detail;
use serde_json::{Value, json};

use super::OAuthError;
use super::authorize::{AuthorizeQuery, Authorized};
use super::token::{TokenEvent, TokenResponse};
use crate::fhir::extract::Origin;
use crate::layers::audit::AuditNote;
use crate::route_meta::Action;
use crate::state::AppState;
use medilink_platform::smart::SmartClient;

/// Scopes advertised in discovery.
const SCOPES: [&str; 14] = [
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
    "user/*.cruds",
    "user/*.rs",
    "system/*.rs",
    "patient/*.read",
    "user/*.read",
];

/// The SMART capabilities MediLink implements.
pub const CAPABILITIES: [&str; 11] = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-v2",
    "permission-patient",
    "permission-user",
    "permission-offline",
    "sso-openid-connect",
];

/// The `/.well-known/smart-configuration` document of the server at `origin`.
pub fn configuration(origin: &str) -> Value {
    json!({
        "issuer": format!("{origin}/fhir/R4"),
        "jwks_uri": format!("{origin}/oauth/jwks"),
        "authorization_endpoint": format!("{origin}/oauth/authorize"),
        "token_endpoint": format!("{origin}/oauth/token"),
        "registration_endpoint": format!("{origin}/oauth/register"),
        "introspection_endpoint": format!("{origin}/oauth/introspect"),
        "revocation_endpoint": format!("{origin}/oauth/revoke"),
        "management_endpoint": format!("{origin}/patient/settings"),
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": super::register::GRANT_TYPES,
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    })
}

/// A form body as a map (a repeated field keeps its first value).
#[derive(Debug)]
pub(crate) struct Form(pub(crate) HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Form {
    type Rejection = OAuthError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| OAuthError::invalid_request("cannot read the body"))?;
        let mut form = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(&bytes) {
            form.entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Ok(Form(form))
    }
}

fn no_store(value: Value) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(value),
    )
        .into_response()
}

/// `302 Found` to `location` (the OAuth redirect).
fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}

/// `GET /.well-known/smart-configuration` and `GET /fhir/R4/.well-known/smart-configuration`.
pub(crate) async fn discovery(Origin(origin): Origin) -> Json<Value> {
    Json(configuration(&origin))
}

/// `GET /oauth/jwks`: the public keys of access tokens and id_tokens.
pub(crate) async fn jwks(State(app): State<AppState>) -> Json<Value> {
    Json(app.smart.keys().jwks())
}

/// `GET /oauth/authorize`: to the consent screen, or back to the app with an error, or (an
/// untrusted client or redirect URI) a `400` here.
pub(crate) async fn authorize(
    State(app): State<AppState>,
    Origin(origin): Origin,
    RawQuery(query): RawQuery,
) -> Result<Response, OAuthError> {
    let pairs: serde_json::Map<String, Value> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
            .collect();
    let query: AuthorizeQuery = serde_json::from_value(Value::Object(pairs)).unwrap_or_default();
    let base = format!("{origin}/fhir/R4");
    Ok(match app.smart.authorize(&query, &base).await? {
        Authorized::Consent(id) => found(&format!("/smart/authorize?request={id}")),
        Authorized::Redirect(url) => found(&url),
        Authorized::Refused(why) => OAuthError::invalid_request(why).into_response(),
    })
}

/// `POST /oauth/token`: the grants (audited: issue, refresh, reuse, with the app).
pub(crate) async fn token(
    State(app): State<AppState>,
    Origin(origin): Origin,
    note: AuditNote,
    Form(form): Form,
) -> Result<Response, OAuthError> {
    let token_url = format!("{origin}/oauth/token");
    let outcome = app
        .smart
        .token(&form, &[&token_url], &format!("{origin}/fhir/R4"))
        .await;
    let response = noted(&note, &form, outcome)?;
    Ok(no_store(serde_json::to_value(response).unwrap_or_default()))
}

/// What the audit record of a token request names: the app, the account, the event.
fn noted(
    note: &AuditNote,
    form: &HashMap<String, String>,
    outcome: Result<(SmartClient, TokenResponse, String, TokenEvent), OAuthError>,
) -> Result<TokenResponse, OAuthError> {
    if let Some(client_id) = form.get("client_id") {
        note.detail(app_detail(client_id));
    }
    let (client, response, subject, event) = outcome.inspect_err(|err| {
        if err.reuse {
            note.action(Action::SmartTokenReuse);
        }
    })?;
    note.detail(app_detail(&client.client_id))
        .subject(format!("Client/{}", client.client_id))
        .subject(format!("User/{subject}"));
    if event == TokenEvent::Refreshed {
        note.action(Action::SmartTokenRefresh);
    }
    Ok(response)
}

/// `POST /oauth/register` (RFC 7591): `201` with the client's id; `pending` until approved.
pub(crate) async fn register(
    State(app): State<AppState>,
    note: AuditNote,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let metadata: Value = serde_json::from_slice(&body)
        .map_err(|_| OAuthError::invalid_metadata("the body must be JSON client metadata"))?;
    let client = app.smart.register(&metadata).await?;
    note.subject(format!("Client/{}", client.client_id));
    let answer = super::register::client_information(&client);
    Ok((StatusCode::CREATED, no_store(answer)).into_response())
}

/// `POST /oauth/introspect` (RFC 7662), for an authenticated client about its own tokens.
pub(crate) async fn introspect(
    State(app): State<AppState>,
    Origin(origin): Origin,
    Form(form): Form,
) -> Result<Response, OAuthError> {
    let (token_url, own) = (
        format!("{origin}/oauth/token"),
        format!("{origin}/oauth/introspect"),
    );
    let client = app
        .smart
        .authenticate_client(&form, &[&token_url, &own])
        .await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok(no_store(app.smart.introspect(&client, token).await?))
}

/// `POST /oauth/revoke` (RFC 7009): `200` whether or not the token was known (audited).
pub(crate) async fn revoke(
    State(app): State<AppState>,
    Origin(origin): Origin,
    note: AuditNote,
    Form(form): Form,
) -> Result<Response, OAuthError> {
    let (token_url, own) = (
        format!("{origin}/oauth/token"),
        format!("{origin}/oauth/revoke"),
    );
    let client = app
        .smart
        .authenticate_client(&form, &[&token_url, &own])
        .await?;
    note.detail(app_detail(&client.client_id))
        .subject(format!("Client/{}", client.client_id));
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    app.smart.revoke(&client, token).await?;
    Ok(no_store(json!({})))
}
