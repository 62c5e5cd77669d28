//! The signing keys of SMART access tokens and id_tokens: RSA (RS256, the algorithm every
//! OpenID Connect client verifies), a current key that signs and an optional previous one
//! still published at `jwks_uri` so tokens signed before a rotation keep verifying until
//! they expire. Each key's `kid` is its RFC 7638 thumbprint.
//!
//! Resolution ([`SigningKeys::resolve`]): PEM files given in the configuration, else
//! `{data-dir}/keys/smart-signing.pem` (and `smart-signing.previous.pem`), else — in
//! development only — a key generated into that file (mode 0600). Production refuses to
//! generate one, like the other keys. Rotation ([`SigningKeys::rotate`],
//! `medilink-server smart rotate-key`) moves the current file to the previous one and
//! generates a new current key; restart the servers to pick it up.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The file of the current key in the key directory.
pub const CURRENT_FILE: &str = "smart-signing.pem";
/// The file of the previous key.
pub const PREVIOUS_FILE: &str = "smart-signing.previous.pem";
/// RSA modulus size of generated keys.
const BITS: u32 = 2048;

/// One key: its id, signer (current only) and public JWK.
#[derive(Clone)]
struct Key {
    kid: String,
    pem: Option<Arc<Vec<u8>>>,
    public: Jwk,
}

/// The current and previous signing keys.
#[derive(Clone)]
pub struct SigningKeys {
    current: Key,
    previous: Option<Key>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current", &self.current.kid)
            .field("previous", &self.previous.as_ref().map(|key| &key.kid))
            .finish()
    }
}

/// RFC 7638 thumbprint of an RSA public JWK.
fn thumbprint(public: &Jwk) -> String {
    let text = |name: &str| public.parameter(name).and_then(Value::as_str).unwrap_or("");
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, text("e"), text("n"));
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn key_from_pem(pem: &[u8], name: &str) -> anyhow::Result<Key> {
    let pair = RS256
        .key_pair_from_pem(pem)
        .with_context(|| format!("{name}: not an RSA private key in PEM"))?;
    let mut public = pair.to_jwk_public_key();
    let kid = thumbprint(&public);
    public.set_key_id(kid.clone());
    public.set_algorithm("RS256");
    public.set_key_use("sig");
    Ok(Key {
        kid,
        pem: Some(Arc::new(pem.to_vec())),
        public,
    })
}

fn generate_pem() -> anyhow::Result<Vec<u8>> {
    Ok(RS256
        .generate_key_pair(BITS)
        .context("generating an RSA key")?
        .to_pem_private_key())
}

fn write_new(path: &Path, pem: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, pem).with_context(|| format!("writing {}", path.display()))
}

impl SigningKeys {
    /// A fresh key of this process alone (tests, `AppState::new`).
    pub fn ephemeral() -> anyhow::Result<SigningKeys> {
        Ok(SigningKeys {
            current: key_from_pem(&generate_pem()?, "generated key")?,
            previous: None,
        })
    }

    /// Keys from PEM text: the current one and, optionally, the previous one.
    pub fn from_pem(current: &[u8], previous: Option<&[u8]>) -> anyhow::Result<SigningKeys> {
        Ok(SigningKeys {
            current: key_from_pem(current, "the SMART signing key")?,
            previous: previous
                .map(|pem| key_from_pem(pem, "the previous SMART signing key"))
                .transpose()?
                .map(|key| Key { pem: None, ..key }),
        })
    }

    /// The configured key files (`given`), else those in `dir`, else a key generated into
    /// `dir` unless `production`.
    pub fn resolve(
        given: Option<&Path>,
        given_previous: Option<&Path>,
        dir: &Path,
        production: bool,
    ) -> anyhow::Result<SigningKeys> {
        let read = |path: &Path| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let current_path = given.map_or_else(|| dir.join(CURRENT_FILE), Path::to_path_buf);
        let previous_path =
            given_previous.map_or_else(|| dir.join(PREVIOUS_FILE), Path::to_path_buf);
        let previous = match previous_path.exists() {
            true => Some(read(&previous_path)?),
            false if given_previous.is_some() => bail!(
                "--smart-signing-key-previous: {} does not exist",
                previous_path.display()
            ),
            false => None,
        };
        if current_path.exists() {
            return SigningKeys::from_pem(&read(&current_path)?, previous.as_deref());
        }
        if given.is_some() {
            bail!(
                "--smart-signing-key / MEDILINK_SMART_SIGNING_KEY: {} does not exist",
                current_path.display()
            );
        }
        if production {
            bail!(
                "--smart-signing-key / MEDILINK_SMART_SIGNING_KEY: MEDILINK_ENV=production refuses a generated development key; configure it"
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pem = generate_pem()?;
        write_new(&current_path, &pem)?;
        tracing::warn!(path = %current_path.display(), "generated a new SMART signing key (development default)");
        SigningKeys::from_pem(&pem, previous.as_deref())
    }

    /// Rotates the key files of `dir`: the current key becomes the previous one (the former
    /// previous one is dropped) and a new current key is generated. Returns the new `kid`.
    pub fn rotate(dir: &Path) -> anyhow::Result<String> {
        let current = dir.join(CURRENT_FILE);
        let previous = dir.join(PREVIOUS_FILE);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if current.exists() {
            std::fs::rename(&current, &previous)
                .with_context(|| format!("moving {} aside", current.display()))?;
        }
        let pem = generate_pem()?;
        write_new(&current, &pem)?;
        Ok(key_from_pem(&pem, "generated key")?.kid)
    }

    /// The `kid` that signs.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// The public keys as a JWK Set (`jwks_uri`): current first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|key| Value::Object(key.public.as_ref().clone()))
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` as a JWT with the current key (`typ` as given).
    pub fn sign(&self, claims: Map<String, Value>, typ: &str) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(self.current.kid.clone());
        let payload = JwtPayload::from_map(claims).expect("invariant: the claims are an object");
        let pem = self
            .current
            .pem
            .as_ref()
            .expect("invariant: the current key has its private part");
        let signer = RS256
            .signer_from_pem(pem.as_slice())
            .expect("invariant: the key parsed at start-up");
        jwt::encode_with_signer(&payload, &header, &signer)
            .expect("invariant: signing a small payload cannot fail")
    }

    /// Verifies a JWT signed by one of the keys (RS256 only, by `kid`); its claims.
    pub fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let header = jwt::decode_header(token).ok()?;
        if header.claim("alg").and_then(Value::as_str) != Some("RS256") {
            return None;
        }
        let kid = header.claim("kid").and_then(Value::as_str)?;
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|key| key.kid == kid)?;
        let verifier = RS256.verifier_from_jwk(&key.public).ok()?;
        let (payload, _) = jwt::decode_with_verifier(token, &verifier).ok()?;
        Some(payload.claims_set().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_previous_key_verifying() {
        let dir = tempfile::tempdir().expect("dir");
        let keys = SigningKeys::resolve(None, None, dir.path(), false).expect("generated");
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("u-1"));
        let old = keys.sign(claims.clone(), "at+jwt");
        assert!(keys.verify(&old).is_some());
        // Production reads the file it finds.
        let again = SigningKeys::resolve(None, None, dir.path(), true).expect("read");
        assert_eq!(again.current_kid(), keys.current_kid());
        let new_kid = SigningKeys::rotate(dir.path()).expect("rotated");
        let rotated = SigningKeys::resolve(None, None, dir.path(), true).expect("read");
        assert_eq!(rotated.current_kid(), new_kid);
        assert_ne!(new_kid, keys.current_kid());
        assert_eq!(rotated.jwks()["keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(rotated.verify(&old), Some(claims.clone()));
        let fresh = rotated.sign(claims, "at+jwt");
        assert!(rotated.verify(&fresh).is_some());
        // A key of another deployment, or a tampered token, does not verify.
        let other = SigningKeys::ephemeral().expect("other");
        assert!(other.verify(&fresh).is_none());
        let tampered = fresh.replacen('.', ".e30", 1);
        assert!(rotated.verify(&tampered).is_none());
        // Production never generates.
        let empty = tempfile::tempdir().expect("dir");
        assert!(SigningKeys::resolve(None, None, empty.path(), true).is_err());
    }
}
