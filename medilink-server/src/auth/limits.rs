//! The rate limits per role and route class (login, TOTP, API), and the client address they
//! (and the audit record) count by. The limiting itself is the `rate_limit` middleware
//! (`layers/rate_limit.rs`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use medilink_platform::Role;

/// Requests per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Login, register, refresh and password change, per client address.
    pub login: u64,
    /// TOTP setup/verify/disable, per user.
    pub totp: u64,
    /// Anything else without a valid token, per client address.
    pub anonymous: u64,
    /// Anything else, per patient.
    pub patient: u64,
    /// Anything else, per physician.
    pub physician: u64,
    /// Anything else, per admin.
    pub admin: u64,
    /// Anything else, per researcher.
    pub researcher: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login: 30,
            totp: 10,
            anonymous: 120,
            patient: 600,
            physician: 3000,
            admin: 3000,
            researcher: 1200,
        }
    }
}

impl RateLimits {
    pub(crate) fn for_role(&self, role: Role) -> u64 {
        match role {
            Role::Patient => self.patient,
            Role::Physician => self.physician,
            Role::Admin => self.admin,
            Role::Researcher => self.researcher,
        }
    }
}

/// The client address: the socket peer, or the first `X-Forwarded-For` hop when trusted.
pub fn client_ip(request: &Request, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(|ip| ip.trim().to_owned())
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
}
