//! Client authentication at the token, introspection and revocation endpoints: a public
//! client names itself (`client_id`), a confidential-asymmetric one signs a
//! `private_key_jwt` assertion (SMART Client Authentication: Asymmetric) with RS384 or ES384
//! under a key of its registered `jwks` or `jwks_uri`.
//!
//! An assertion is accepted when `iss` = `sub` = the client, `aud` is the token endpoint's
//! URL, it expires within five minutes and has not yet, and its `jti` was never seen before
//! (recorded in the shared key-value store until it expires, so a replay to another server
//! fails too).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES384, JwsVerifier, RS384};
use josekit::jwt;
use medilink_platform::smart::{ClientKind, ClientStatus, SmartClient};
use serde_json::Value;

use super::{ASSERTION_MAX_SECS, OAuthError, SmartService};

/// `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long fetching a `jwks_uri` may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// The claims of a JWT, unverified (to find the client whose keys verify it).
fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn verifier(alg: &str, key: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    let mut key = key.clone();
    // A key registered without `alg` serves the algorithm its type allows.
    if key.algorithm().is_none() {
        key.set_algorithm(alg);
    }
    match (alg, key.key_type()) {
        ("ES384", "EC") => ES384
            .verifier_from_jwk(&key)
            .ok()
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        ("RS384", "RSA") => RS384
            .verifier_from_jwk(&key)
            .ok()
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        _ => None,
    }
}

impl SmartService {
    /// The approved client a token, introspection or revocation request authenticates as
    /// (`audiences`: the URLs an assertion may name as `aud`: the token endpoint's, and the
    /// endpoint's own).
    pub async fn authenticate_client(
        &self,
        form: &HashMap<String, String>,
        audiences: &[&str],
    ) -> Result<SmartClient, OAuthError> {
        if let Some(assertion) = form.get("client_assertion") {
            if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {ASSERTION_TYPE}"
                )));
            }
            let client = self.verify_assertion(assertion, audiences).await?;
            if form
                .get("client_id")
                .is_some_and(|named| *named != client.client_id)
            {
                return Err(OAuthError::invalid_client(
                    "client_id is not the assertion's",
                ));
            }
            return Ok(client);
        }
        let client_id = form
            .get("client_id")
            .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
        let client = self
            .approved(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("unknown or unapproved client"))?;
        if client.kind != ClientKind::Public {
            return Err(OAuthError::invalid_client(
                "this client authenticates with private_key_jwt",
            ));
        }
        Ok(client)
    }

    /// An approved client.
    pub(crate) async fn approved(
        &self,
        client_id: &str,
    ) -> Result<Option<SmartClient>, medilink_fhir::FhirError> {
        Ok(self
            .store
            .client(client_id)
            .await?
            .filter(|client| client.status == ClientStatus::Approved))
    }

    async fn client_keys(&self, client: &SmartClient) -> Result<Vec<Jwk>, OAuthError> {
        let set = match (&client.metadata.jwks, &client.metadata.jwks_uri) {
            (Some(jwks), _) => jwks.clone(),
            (None, Some(uri)) => fetch_jwks(uri).await?,
            (None, None) => return Err(OAuthError::invalid_client("the client has no keys")),
        };
        Ok(set["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|key| key.as_object().cloned())
            .filter_map(|map| Jwk::from_map(map).ok())
            .collect())
    }

    async fn verify_assertion(
        &self,
        assertion: &str,
        audiences: &[&str],
    ) -> Result<SmartClient, OAuthError> {
        let refuse =
            |why: &str| OAuthError::invalid_client(format!("client assertion refused: {why}"));
        let header = jwt::decode_header(assertion).map_err(|_| refuse("not a JWT"))?;
        let alg = header
            .claim("alg")
            .and_then(Value::as_str)
            .filter(|alg| matches!(*alg, "RS384" | "ES384"))
            .ok_or_else(|| refuse("alg must be RS384 or ES384"))?
            .to_owned();
        let kid = header
            .claim("kid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let issuer = unverified_claims(assertion)
            .and_then(|claims| claims["iss"].as_str().map(str::to_owned))
            .ok_or_else(|| refuse("no iss"))?;
        let client = self
            .approved(&issuer)
            .await?
            .filter(|client| client.kind == ClientKind::ConfidentialAsymmetric)
            .ok_or_else(|| refuse("unknown or unapproved client"))?;
        let keys = self.client_keys(&client).await?;
        let payload = keys
            .iter()
            .filter(|key| kid.is_none() || key.key_id().is_none() || key.key_id() == kid.as_deref())
            .filter_map(|key| verifier(&alg, key))
            .find_map(|verifier| jwt::decode_with_verifier(assertion, &*verifier).ok())
            .map(|(payload, _)| payload)
            .ok_or_else(|| refuse("the signature does not verify with the client's keys"))?;
        let claim = |name: &str| payload.claim(name).and_then(Value::as_str);
        if claim("iss") != Some(client.client_id.as_str())
            || claim("sub") != Some(client.client_id.as_str())
        {
            return Err(refuse("iss and sub must be the client_id"));
        }
        let audience = payload.audience().unwrap_or_default();
        if !audience.iter().any(|aud| audiences.contains(aud)) {
            return Err(refuse("aud must be the token endpoint URL"));
        }
        let now = self.clock.now().unix_timestamp();
        let exp = payload
            .claim("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| refuse("no exp"))?;
        if exp <= now {
            return Err(refuse("expired"));
        }
        if exp > now + ASSERTION_MAX_SECS {
            return Err(refuse("exp is more than five minutes away"));
        }
        let jti = claim("jti")
            .filter(|jti| !jti.is_empty() && jti.len() <= 256)
            .ok_or_else(|| refuse("no jti"))?;
        let remember = Duration::from_secs(u64::try_from(exp - now).unwrap_or(0) + 60);
        let key = super::secret_key("jti", &format!("{}\u{0}{jti}", client.client_id));
        if !self.first_use(&key, remember).await? {
            return Err(refuse("this jti was used before"));
        }
        Ok(client)
    }
}

/// Fetches a client's JWK Set.
async fn fetch_jwks(uri: &str) -> Result<Value, OAuthError> {
    let unreachable = || OAuthError::invalid_client("the client's jwks_uri cannot be read");
    let client = reqwest::Client::builder()
        .timeout(JWKS_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| unreachable())?;
    let response = client.get(uri).send().await.map_err(|_| unreachable())?;
    if !response.status().is_success() {
        return Err(unreachable());
    }
    response.json::<Value>().await.map_err(|_| unreachable())
}
