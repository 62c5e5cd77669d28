//! Password hashing (argon2id, configurable cost) and the strength rule: a minimum length,
//! more than a few distinct characters, and not in a vendored list of common passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::crypto::random_bytes;

/// The shortest accepted password.
pub const MIN_LENGTH: usize = 12;

/// Common passwords (lowercase), one per line; vendored, never fetched.
const BLOCKLIST: &str = include_str!("common-passwords.txt");

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        HashParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    /// Cheap parameters for tests only.
    pub fn for_tests() -> Self {
        HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when an e-mail is unknown so that both
    /// answers take the same time.
    dummy: String,
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeakPassword {
    /// Shorter than [`MIN_LENGTH`].
    TooShort,
    /// Too few distinct characters.
    TooSimple,
    /// In the common-password list, or contains the e-mail's local part.
    TooCommon,
}

impl WeakPassword {
    /// A message for the client.
    pub fn message(&self) -> String {
        match self {
            WeakPassword::TooShort => {
                format!("password must have at least {MIN_LENGTH} characters")
            }
            WeakPassword::TooSimple => "password has too few distinct characters".to_owned(),
            WeakPassword::TooCommon => "password is too common or contains the e-mail".to_owned(),
        }
    }
}

/// Checks the strength rule.
pub fn check_strength(password: &str, email: &str) -> Result<(), WeakPassword> {
    if password.chars().count() < MIN_LENGTH {
        return Err(WeakPassword::TooShort);
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Err(WeakPassword::TooSimple);
    }
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || "!?.".contains(c));
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    let common = BLOCKLIST
        .lines()
        .map(str::trim)
        .any(|entry| !entry.is_empty() && (entry == lower || entry == stem));
    if common || (local.len() >= 4 && lower.contains(&local)) {
        return Err(WeakPassword::TooCommon);
    }
    Ok(())
}

impl PasswordHasher {
    /// A hasher with `params`; fails when they are out of argon2's range.
    pub fn new(params: HashParams) -> anyhow::Result<Self> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|err| anyhow::anyhow!("invalid argon2 parameters: {err}"))?;
        let mut hasher = PasswordHasher {
            params,
            dummy: String::new(),
        };
        hasher.dummy = hasher.hash(&super::crypto::random_token::<16>());
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string of `password` with a fresh salt.
    pub fn hash(&self, password: &str) -> String {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .expect("invariant: 16 bytes is a valid salt length");
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .expect("invariant: hashing with validated parameters cannot fail")
            .to_string()
    }

    /// Whether `password` matches the PHC string `hash` (false for a malformed hash).
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            self.argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Spends the time of one verification (for unknown e-mails).
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rule_and_round_trip() {
        assert_eq!(
            check_strength("short", "a@b.c"),
            Err(WeakPassword::TooShort)
        );
        assert_eq!(
            check_strength("aaaaaaaaaaaaaa", "a@b.c"),
            Err(WeakPassword::TooSimple)
        );
        assert_eq!(
            check_strength("Password1234", "a@b.c"),
            Err(WeakPassword::TooCommon)
        );
        assert_eq!(
            check_strength("qwertyuiop12!", "a@b.c"),
            Err(WeakPassword::TooCommon)
        );
        assert_eq!(
            check_strength("my-alice.smith-pass", "alice.smith@b.c"),
            Err(WeakPassword::TooCommon)
        );
        assert_eq!(check_strength("correct horse battery", "a@b.c"), Ok(()));
        let hasher = PasswordHasher::new(HashParams::for_tests()).expect("params");
        let hash = hasher.hash("correct horse battery");
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse battery", &hash));
        assert!(!hasher.verify("correct horse battery!", &hash));
        assert!(!hasher.verify("x", "not a hash"));
    }
}
