//! Access tokens: short-lived HS256 JWTs (josekit) with claims `sub`, `role`, `jti`, `iat`,
//! `exp`, `mfa` and, for patients, `pid`. Verification pins the algorithm (so `alg: none` and
//! any other algorithm fail) and checks expiry against the [`medilink_fhir::Clock`] seam.

use josekit::jws::{HS256, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use medilink_fhir::ResourceId;
use medilink_platform::{Role, UserId};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::crypto::{KEY_LEN, random_token};

/// The verified claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The user's role when issued.
    pub role: Role,
    /// Token id (denylisted on logout).
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Issued at (Unix milliseconds; compared with the user's session epoch).
    pub iat_ms: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Whether the second factor was passed; `false` on a partial (MFA-pending) token.
    pub mfa: bool,
    /// Whether the token only allows finishing the login with a TOTP code.
    pub partial: bool,
    /// The patient of a patient account.
    pub pid: Option<ResourceId>,
    /// A SMART app's token (issue #17): its scopes, patient context and family. `None`: a
    /// portal session.
    pub app: Option<std::sync::Arc<crate::smart::SmartGrant>>,
}

/// Why a token is refused (never told to the client in detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Bad structure, algorithm or signature.
    Invalid,
    /// Past `exp`.
    Expired,
}

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct TokenCodec {
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec([redacted])")
    }
}

impl TokenCodec {
    /// A codec with the HS256 key.
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        TokenCodec { key }
    }

    /// Issues a token for `claims` (its `jti` should be fresh: see [`new_jti`]).
    pub fn issue(&self, claims: &Claims) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let mut map = serde_json::Map::new();
        map.insert("sub".into(), json!(claims.sub.as_str()));
        map.insert("role".into(), json!(claims.role.as_str()));
        map.insert("jti".into(), json!(claims.jti));
        map.insert("iat".into(), json!(claims.iat));
        map.insert("iat_ms".into(), json!(claims.iat_ms));
        map.insert("exp".into(), json!(claims.exp));
        map.insert("mfa".into(), json!(claims.mfa));
        if claims.partial {
            map.insert("partial".into(), json!(true));
        }
        if let Some(pid) = &claims.pid {
            map.insert("pid".into(), json!(pid.as_str()));
        }
        let payload = JwtPayload::from_map(map).expect("invariant: the claims are well-typed");
        let signer = HS256
            .signer_from_bytes(self.key)
            .expect("invariant: a 32-byte HMAC key is valid");
        jwt::encode_with_signer(&payload, &header, &signer)
            .expect("invariant: signing a small payload cannot fail")
    }

    /// Verifies signature, algorithm and expiry (at `now`) and decodes the claims.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let verifier = HS256
            .verifier_from_bytes(self.key)
            .map_err(|_| TokenError::Invalid)?;
        let (payload, header) =
            jwt::decode_with_verifier(token, &verifier).map_err(|_| TokenError::Invalid)?;
        if header.algorithm() != Some("HS256") {
            return Err(TokenError::Invalid);
        }
        let text = |name: &str| {
            payload
                .claim(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let number = |name: &str| payload.claim(name).and_then(Value::as_i64);
        let flag = |name: &str| payload.claim(name).and_then(Value::as_bool);
        let claims = Claims {
            sub: UserId(text("sub").ok_or(TokenError::Invalid)?),
            role: text("role")
                .and_then(|role| Role::parse(&role))
                .ok_or(TokenError::Invalid)?,
            jti: text("jti").ok_or(TokenError::Invalid)?,
            iat: number("iat").ok_or(TokenError::Invalid)?,
            iat_ms: number("iat_ms").ok_or(TokenError::Invalid)?,
            exp: number("exp").ok_or(TokenError::Invalid)?,
            mfa: flag("mfa").ok_or(TokenError::Invalid)?,
            partial: flag("partial").unwrap_or(false),
            pid: text("pid")
                .map(ResourceId::new)
                .transpose()
                .map_err(|_| TokenError::Invalid)?,
            app: None,
        };
        if now.unix_timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// A fresh token id.
pub fn new_jti() -> String {
    random_token::<16>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims() -> Claims {
        Claims {
            sub: UserId("u-1".into()),
            role: Role::Physician,
            jti: "j-1".into(),
            iat: 1_700_000_000,
            iat_ms: 1_700_000_000_000,
            exp: 1_700_000_900,
            mfa: true,
            partial: false,
            pid: None,
            app: None,
        }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).expect("valid")
    }

    #[test]
    fn tokens_verify_only_unaltered_with_the_right_key_and_before_expiry() {
        let codec = TokenCodec::new([7; KEY_LEN]);
        let token = codec.issue(&claims());
        assert_eq!(codec.verify(&token, at(1_700_000_100)), Ok(claims()));
        assert_eq!(
            codec.verify(&token, at(1_700_000_900)),
            Err(TokenError::Expired)
        );
        let other = TokenCodec::new([8; KEY_LEN]);
        assert_eq!(
            other.verify(&token, at(1_700_000_100)),
            Err(TokenError::Invalid)
        );
        // Tampered claims: role raised to admin, signature kept.
        let parts: Vec<&str> = token.split('.').collect();
        let body = URL_SAFE_NO_PAD.decode(parts[1]).expect("b64");
        let body = String::from_utf8(body)
            .expect("utf8")
            .replace("physician", "admin");
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(body), parts[2]);
        assert_eq!(
            codec.verify(&forged, at(1_700_000_100)),
            Err(TokenError::Invalid)
        );
        // alg: none with no signature.
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            codec.verify(&unsigned, at(1_700_000_100)),
            Err(TokenError::Invalid)
        );
    }
}
