//! The server's secrets and primitives: AEAD encryption of PII columns (ChaCha20-Poly1305,
//! [`medilink_platform::keys::seal`], shared with the worker's mailer),
//! keyed hashes for e-mail lookup (HMAC-SHA256, of the
//! [`super::email::normalize_email`] form), random tokens and their hashes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Length of every key, in bytes.
pub use medilink_platform::keys::KEY_LEN;

/// The four keys: JWT signing (HS256), PII encryption, the e-mail lookup hash and the
/// pseudonyms of research exports (HMAC-SHA256).
#[derive(Clone)]
pub struct Keys {
    pub(crate) jwt: [u8; KEY_LEN],
    pub(crate) encryption: [u8; KEY_LEN],
    pub(crate) lookup: [u8; KEY_LEN],
    pub(crate) research: [u8; KEY_LEN],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("invariant: the OS random source is available");
    bytes
}

/// A random URL-safe token of `N` bytes of entropy.
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// SHA-256 of `data` (for high-entropy secrets such as refresh tokens).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

impl Keys {
    /// The four keys of a deployment: access-token signing, PII encryption, the e-mail lookup
    /// hash and research pseudonyms (each [`KEY_LEN`] bytes, e.g. read with
    /// [`medilink_platform::keys::resolve_key`], or fresh [`random_bytes`] for a process that
    /// issues no tokens and keeps no encrypted rows).
    pub fn new(
        jwt: [u8; KEY_LEN],
        encryption: [u8; KEY_LEN],
        lookup: [u8; KEY_LEN],
        research: [u8; KEY_LEN],
    ) -> Keys {
        Keys {
            jwt,
            encryption,
            lookup,
            research,
        }
    }

    /// Fixed keys for tests.
    pub fn for_tests() -> Keys {
        Keys {
            jwt: [1; KEY_LEN],
            encryption: [2; KEY_LEN],
            lookup: [3; KEY_LEN],
            research: [4; KEY_LEN],
        }
    }

    /// The pseudonym key of research exports.
    pub fn research(&self) -> &[u8; KEY_LEN] {
        &self.research
    }

    /// Encrypts `plaintext` for column `field` (bound as associated data): nonce ‖ ciphertext
    /// ([`medilink_platform::keys::seal`]).
    pub fn seal(&self, field: &str, plaintext: &[u8]) -> Vec<u8> {
        medilink_platform::keys::seal(&self.encryption, field, plaintext)
    }

    /// Decrypts what [`Keys::seal`] produced for `field`; `None` when it does not authenticate.
    pub fn open(&self, field: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        medilink_platform::keys::open(&self.encryption, field, sealed)
    }

    /// The keyed lookup hash of `value` under `purpose`.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup)
            .expect("invariant: HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_pii_opens_only_for_its_field_and_key() {
        let keys = Keys::for_tests();
        let sealed = keys.seal("email", b"someone@example.org");
        assert_eq!(
            keys.open("email", &sealed).as_deref(),
            Some(&b"someone@example.org"[..])
        );
        assert_eq!(keys.open("name", &sealed), None);
        let mut other = Keys::for_tests();
        other.encryption = [9; KEY_LEN];
        assert_eq!(other.open("email", &sealed), None);
        assert_ne!(
            keys.seal("email", b"x"),
            keys.seal("email", b"x"),
            "fresh nonces"
        );
        assert_ne!(
            keys.lookup_hash("email", "a@b.org"),
            keys.lookup_hash("backup", "a@b.org"),
            "the purpose is part of the hash"
        );
    }
}
