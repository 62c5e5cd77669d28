//! Authentication: accounts, passwords, access and refresh tokens, TOTP, lockouts and the
//! rate limits of the request pipeline.
//!
//! Everything cryptographic lives here ([`crypto`], [`password`], [`token`], [`totp`]); the
//! library stores only ciphertext and hashes through [`medilink_platform`]. The flows
//! (register, login, refresh, …) are in [`service`], the admin's over accounts in [`admin`]
//! and researcher invitations in [`invitations`], the clinician directory and display
//! names in [`directory`], the request-time checks in [`session`] and [`limits`].

pub mod admin;
pub mod crypto;
pub mod demographics;
pub mod details;
pub mod directory;
pub mod email;
pub mod error;
pub mod invitations;
pub mod limits;
pub mod password;
pub mod service;
pub mod session;
pub mod token;
pub mod token_state;
pub mod totp;

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::kv::KeyValue;

use medilink_fhir::{Clock, ResourceStore};
use medilink_platform::AccountStore;

pub use crypto::Keys;
pub use error::{AccountError, AccountResult};
pub use limits::RateLimits;
pub use password::HashParams;
pub use session::Principal;

/// Tunables of authentication.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_ttl: Duration,
    /// argon2id cost.
    pub hash: HashParams,
    /// Failed logins or current-password guesses on a password change (one counter per
    /// e-mail), or TOTP codes (per user), before a lockout.
    pub max_failures: u64,
    /// How long a lockout lasts (and the window failures are counted in).
    pub lockout: Duration,
    /// Requests per minute by role and route class.
    pub rate: RateLimits,
    /// Trust the first `X-Forwarded-For` address as the client (behind a proxy).
    pub trust_forwarded_for: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            hash: HashParams::default(),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            rate: RateLimits::default(),
            trust_forwarded_for: false,
        }
    }
}

impl AuthSettings {
    /// Fast settings for tests (cheap hashing, default limits).
    pub fn for_tests() -> Self {
        AuthSettings {
            hash: HashParams::for_tests(),
            ..AuthSettings::default()
        }
    }
}

/// The authentication service shared by handlers and middleware.
#[derive(Debug)]
pub struct Auth {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) kv: Arc<dyn KeyValue>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Arc<dyn ResourceStore>,
    pub(crate) keys: Keys,
    pub(crate) hasher: password::PasswordHasher,
    pub(crate) codec: token::TokenCodec,
    pub(crate) settings: AuthSettings,
    /// Where account events are told (issue #14: new sign-ins, password and TOTP changes,
    /// approval and suspension); none: nobody is told.
    pub(crate) notifications: Option<medilink_platform::notifications::Notifications>,
}

impl Auth {
    /// Builds the service.
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
        store: Arc<dyn ResourceStore>,
        keys: Keys,
        settings: AuthSettings,
    ) -> anyhow::Result<Self> {
        Ok(Auth {
            accounts,
            kv,
            clock,
            store,
            codec: token::TokenCodec::new(keys.jwt),
            keys,
            hasher: password::PasswordHasher::new(settings.hash)?,
            settings,
            notifications: None,
        })
    }

    /// The key-value store (rate limits, lockouts, denylist).
    pub fn kv(&self) -> &Arc<dyn KeyValue> {
        &self.kv
    }

    /// The account store (for tools and tests that reach accounts directly).
    pub fn accounts(&self) -> &Arc<dyn AccountStore> {
        &self.accounts
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }
}
