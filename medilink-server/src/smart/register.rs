//! Client registration (RFC 7591) and the admin's approval: a public client registers its
//! redirect URIs (`token_endpoint_auth_method: none`), a confidential-asymmetric one its
//! public keys (`jwks` or `jwks_uri`, `private_key_jwt`). Every client starts `pending`; only
//! an approved client obtains codes or tokens.

use medilink_platform::smart::scopes::{Scope, ScopeContext, parse_scopes, scope_text};
use medilink_platform::smart::{ClientKind, ClientMetadata, ClientStatus, SmartClient};
use serde_json::{Value, json};

use super::{OAuthError, SmartService};
use crate::auth::crypto::random_token;

/// The grant types MediLink serves.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// The scopes a user-facing client may ask for when it registers none.
const DEFAULT_USER_SCOPES: &str =
    "launch launch/patient openid fhirUser offline_access patient/*.rs user/*.rs";
/// The scopes of a Backend Services client registering none.
const DEFAULT_SYSTEM_SCOPES: &str = "system/*.rs";

/// Whether `uri` is an absolute `https` URL, or `http` on the loopback (native apps and
/// development), without a fragment.
pub fn acceptable_uri(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

/// Whether a JWK Set holds at least one key a client assertion can be verified with (RSA,
/// or EC on P-384), and no private key.
fn usable_jwks(jwks: &Value) -> bool {
    let Some(keys) = jwks["keys"].as_array() else {
        return false;
    };
    let private = keys.iter().any(|key| key.get("d").is_some());
    let usable = keys.iter().any(|key| match key["kty"].as_str() {
        Some("RSA") => key["n"].is_string() && key["e"].is_string(),
        Some("EC") => key["crv"] == "P-384" && key["x"].is_string() && key["y"].is_string(),
        _ => false,
    });
    usable && !private
}

fn text(body: &Value, name: &str) -> Result<Option<String>, OAuthError> {
    match &body[name] {
        Value::Null => Ok(None),
        Value::String(text) if text.len() <= 2048 => Ok(Some(text.clone())),
        _ => Err(OAuthError::invalid_metadata(format!(
            "{name} must be a string of at most 2048 characters"
        ))),
    }
}

fn strings(body: &Value, name: &str) -> Result<Vec<String>, OAuthError> {
    match &body[name] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) if items.len() <= 20 => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    OAuthError::invalid_metadata(format!("{name} must be an array of strings"))
                })
            })
            .collect(),
        _ => Err(OAuthError::invalid_metadata(format!(
            "{name} must be an array of at most 20 strings"
        ))),
    }
}

/// The validated metadata of a registration request, and the kind of client it makes.
pub fn validate(body: &Value) -> Result<(ClientKind, ClientMetadata), OAuthError> {
    if !body.is_object() {
        return Err(OAuthError::invalid_metadata(
            "the body must be a JSON object",
        ));
    }
    let jwks = match &body["jwks"] {
        Value::Null => None,
        jwks if usable_jwks(jwks) => Some(jwks.clone()),
        _ => {
            return Err(OAuthError::invalid_metadata(
                "jwks must hold an RSA or P-384 EC public key (and no private key)",
            ));
        }
    };
    let jwks_uri = text(body, "jwks_uri")?;
    if jwks_uri.as_deref().is_some_and(|uri| !acceptable_uri(uri)) {
        return Err(OAuthError::invalid_metadata(
            "jwks_uri must be an https URL",
        ));
    }
    let keyed = jwks.is_some() || jwks_uri.is_some();
    let method = text(body, "token_endpoint_auth_method")?
        .unwrap_or_else(|| if keyed { "private_key_jwt" } else { "none" }.to_owned());
    let kind = match method.as_str() {
        "none" if !keyed => ClientKind::Public,
        "private_key_jwt" if keyed => ClientKind::ConfidentialAsymmetric,
        "none" => {
            return Err(OAuthError::invalid_metadata(
                "a public client registers no keys",
            ));
        }
        "private_key_jwt" => {
            return Err(OAuthError::invalid_metadata(
                "private_key_jwt needs jwks or jwks_uri",
            ));
        }
        _ => {
            return Err(OAuthError::invalid_metadata(
                "token_endpoint_auth_method must be none or private_key_jwt",
            ));
        }
    };
    let mut grant_types = strings(body, "grant_types")?;
    if grant_types.is_empty() {
        grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    }
    if let Some(unknown) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(OAuthError::invalid_metadata(format!(
            "unsupported grant type {unknown}"
        )));
    }
    let system = grant_types.iter().any(|g| g == "client_credentials");
    if system && kind == ClientKind::Public {
        return Err(OAuthError::invalid_metadata(
            "client_credentials is for confidential-asymmetric clients",
        ));
    }
    let redirect_uris = strings(body, "redirect_uris")?;
    if let Some(bad) = redirect_uris.iter().find(|uri| !acceptable_uri(uri)) {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "not an https (or loopback http) URL without fragment: {bad}"
        )));
    }
    let code_flow = grant_types.iter().any(|g| g == "authorization_code");
    if code_flow && redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "the authorization code flow needs redirect_uris",
        ));
    }
    let launch_uri = text(body, "launch_uri")?;
    for (name, uri) in [
        ("launch_uri", &launch_uri),
        ("client_uri", &text(body, "client_uri")?),
        ("logo_uri", &text(body, "logo_uri")?),
    ] {
        if uri.as_deref().is_some_and(|uri| !acceptable_uri(uri)) {
            return Err(OAuthError::invalid_metadata(format!(
                "{name} must be an https URL"
            )));
        }
    }
    let requested = text(body, "scope")?.unwrap_or_else(|| {
        if system {
            DEFAULT_SYSTEM_SCOPES
        } else {
            DEFAULT_USER_SCOPES
        }
        .to_owned()
    });
    let scopes: Vec<Scope> = parse_scopes(&requested)
        .into_iter()
        // Only Backend Services clients get system/ scopes.
        .filter(|scope| match scope {
            Scope::Resource(scope) => (scope.context == ScopeContext::System) == system,
            _ => !system,
        })
        .collect();
    if scopes.is_empty() {
        return Err(OAuthError::invalid_metadata(
            "scope names no scope MediLink grants",
        ));
    }
    let client_name = text(body, "client_name")?
        .filter(|name| !name.trim().is_empty() && name.chars().count() <= 200)
        .ok_or_else(|| {
            OAuthError::invalid_metadata("client_name is required (1 to 200 characters)")
        })?;
    Ok((
        kind,
        ClientMetadata {
            client_name,
            redirect_uris,
            scope: scope_text(&scopes),
            grant_types,
            token_endpoint_auth_method: method,
            jwks,
            jwks_uri,
            client_uri: text(body, "client_uri")?,
            logo_uri: text(body, "logo_uri")?,
            launch_uri,
        },
    ))
}

/// The RFC 7591 answer describing `client`.
pub fn client_information(client: &SmartClient) -> Value {
    let mut answer = serde_json::to_value(&client.metadata).unwrap_or_else(|_| json!({}));
    answer["client_id"] = json!(client.client_id);
    answer["client_id_issued_at"] = json!(client.created_at.unix_timestamp());
    // Not in RFC 7591: tells the developer an admin must approve the client first.
    answer["status"] = json!(client.status.as_str());
    answer
}

impl SmartService {
    /// Registers a client from RFC 7591 metadata: `pending` until an admin approves it.
    pub async fn register(&self, body: &Value) -> Result<SmartClient, OAuthError> {
        let (kind, metadata) = validate(body)?;
        let client = SmartClient {
            client_id: random_token::<16>(),
            kind,
            status: ClientStatus::Pending,
            metadata,
            created_at: self.clock.now(),
        };
        self.store.create_client(&client).await?;
        Ok(client)
    }

    /// Sets a client's status (admins); `false` when there is no such client. A suspended
    /// client's access tokens stop working at once.
    pub async fn set_status(
        &self,
        client_id: &str,
        status: ClientStatus,
    ) -> Result<bool, medilink_fhir::FhirError> {
        let now = self.clock.now();
        let found = self.store.set_client_status(client_id, status, now).await?;
        if found && status == ClientStatus::Suspended {
            self.cut_off(&format!("smart:client-cut:{client_id}"))
                .await?;
        }
        Ok(found)
    }

    /// Refuses every access token issued before now under `key` (for as long as an access
    /// token lives).
    pub(crate) async fn cut_off(&self, key: &str) -> Result<(), medilink_fhir::FhirError> {
        let now_ms = self.clock.now().unix_timestamp_nanos() / 1_000_000;
        let ttl = super::ACCESS_TTL + std::time::Duration::from_secs(60);
        self.kv.set(key, now_ms.to_string().as_bytes(), ttl).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_asymmetric_clients_validate() {
        let (kind, metadata) = validate(&json!({
            "client_name": "Growth charts",
            "redirect_uris": ["https://app.example/callback"],
            "token_endpoint_auth_method": "none",
            "scope": "launch/patient openid fhirUser patient/Observation.rs system/*.rs junk",
        }))
        .expect("public");
        assert_eq!(kind, ClientKind::Public);
        assert_eq!(
            metadata.scope,
            "launch/patient openid fhirUser patient/Observation.rs"
        );
        let (kind, metadata) = validate(&json!({
            "client_name": "Nightly export",
            "grant_types": ["client_credentials"],
            "jwks": {"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b", "kid": "k"}]},
        }))
        .expect("backend");
        assert_eq!(kind, ClientKind::ConfidentialAsymmetric);
        assert_eq!(metadata.scope, "system/*.rs");
        for bad in [
            json!({"client_name": "x", "redirect_uris": ["http://evil.example/cb"]}),
            json!({"client_name": "x", "redirect_uris": ["https://a.example/cb#frag"]}),
            json!({"client_name": "x"}),
            json!({"redirect_uris": ["https://a.example/cb"]}),
            json!({"client_name": "x", "grant_types": ["client_credentials"]}),
            json!({"client_name": "x", "grant_types": ["password"], "redirect_uris": ["https://a.example/cb"]}),
            json!({"client_name": "x", "grant_types": ["client_credentials"],
                   "jwks": {"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b", "d": "secret"}]}}),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
    }
}
