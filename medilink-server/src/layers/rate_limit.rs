//! Rate limiting per role and route class (login, TOTP, API; [`crate::auth::RateLimits`])
//! through the [`medilink_fhir::kv::KeyValue`] seam (`AppState::rate_counters`): fixed
//! one-minute windows, shared between processes when the key-value store is Redis or
//! PostgreSQL's `kv` table, in process for the single server on SQLite (issue #19).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medilink_fhir::kv::KvKey;

use crate::auth::limits::client_ip;
use crate::auth::session::verify_bearer;
use crate::error::ApiError;
use crate::route_meta::{LimitClass, Meta};
use crate::state::AppState;

/// Middleware: counts the request in its window and answers `429` past the limit.
pub(crate) async fn rate_limit(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let class = Meta::of_request(&request).limit;
    if class == LimitClass::Probe {
        // Probes are never counted: they touch no backend and cannot be throttled.
        return next.run(request).await;
    }
    let user = verify_bearer(&app, &mut request).and_then(Result::ok);
    let auth = &app.auth;
    let limits = auth.settings.rate;
    // The client's address only where the counter is per address; keys on the stack. (In a
    // block: the closure borrows the request, which must not be held across the await.)
    let (key, limit) = {
        let ip = || {
            client_ip(&request, auth.settings.trust_forwarded_for)
                .unwrap_or_else(|| "unknown".to_owned())
        };
        match (class, &user) {
            (LimitClass::Login, _) => (KvKey::new("rate:login:", ip()), limits.login),
            (LimitClass::Totp, Some(claims)) => {
                (KvKey::new("rate:totp:", &claims.sub), limits.totp)
            }
            (LimitClass::Totp, None) => (KvKey::new("rate:totp:", ip()), limits.totp),
            (LimitClass::Api | LimitClass::Probe, Some(claims)) => (
                KvKey::new("rate:api:", &claims.sub),
                limits.for_role(claims.role),
            ),
            (LimitClass::Api | LimitClass::Probe, None) => {
                (KvKey::new("rate:anon:", ip()), limits.anonymous)
            }
        }
    };
    if limit == 0 {
        // 0 means unlimited (operators may lift a role's limit, e.g. for load tests).
        return next.run(request).await;
    }
    match app.rate_counters.incr(&key, Duration::from_secs(60)).await {
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
