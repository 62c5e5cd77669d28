//! Rate limiting per role and route class (login, TOTP, API) through the
//! [`medilink_fhir::kv::KeyValue`] seam: fixed one-minute windows, shared between
//! processes when the key-value store is Redis.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medilink_platform::Role;

use super::session::verify_bearer;
use crate::error::ApiError;
use crate::route_meta::Meta;
use crate::state::AppState;

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
    fn for_role(&self, role: Role) -> u64 {
        match role {
            Role::Patient => self.patient,
            Role::Physician => self.physician,
            Role::Admin => self.admin,
            Role::Researcher => self.researcher,
        }
    }
}

/// The route classes that are limited separately (declared per route: [`crate::route_meta`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    /// Credential endpoints.
    Login,
    /// TOTP endpoints.
    Totp,
    /// Everything else.
    Api,
}

impl LimitClass {
    /// The metrics label of the class.
    pub fn label(self) -> &'static str {
        match self {
            LimitClass::Login => "login",
            LimitClass::Totp => "totp",
            LimitClass::Api => "api",
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

/// Middleware: counts the request in its window and answers `429` past the limit.
pub(crate) async fn rate_limit(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = verify_bearer(&app, &mut request).and_then(Result::ok);
    let auth = &app.auth;
    let limits = auth.settings.rate;
    let class = Meta::of_request(&request).limit;
    let ip = client_ip(&request, auth.settings.trust_forwarded_for)
        .unwrap_or_else(|| "unknown".to_owned());
    let (key, limit) = match (class, &user) {
        (LimitClass::Login, _) => (format!("rate:login:{ip}"), limits.login),
        (LimitClass::Totp, Some(claims)) => (format!("rate:totp:{}", claims.sub), limits.totp),
        (LimitClass::Totp, None) => (format!("rate:totp:{ip}"), limits.totp),
        (LimitClass::Api, Some(claims)) => (
            format!("rate:api:{}", claims.sub),
            limits.for_role(claims.role),
        ),
        (LimitClass::Api, None) => (format!("rate:anon:{ip}"), limits.anonymous),
    };
    if limit == 0 {
        // 0 means unlimited (operators may lift a role's limit, e.g. for load tests).
        return next.run(request).await;
    }
    match auth.kv.incr(&key, Duration::from_secs(60)).await {
        Ok(count) if count > limit => {
            tracing::warn!(class = ?class, "rate limited");
            app.metrics.rate_limited(class.label());
            ApiError::throttled("rate limit exceeded").into_response()
        }
        Ok(_) => next.run(request).await,
        // Fail closed: without counters the limits cannot be enforced.
        Err(err) => ApiError::from(err).into_response(),
    }
}
