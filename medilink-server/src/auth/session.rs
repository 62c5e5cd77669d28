//! Request-time authentication: the `authenticate` middleware checks the bearer token of
//! every route but the public ones and the role its [`Access`] requires, and leaves a
//! [`Principal`] in the request for the [`crate::context::RequestCaller`] extractor.
//!
//! A route's access is declared where it is registered (`routes.rs`, [`crate::route_meta`]).

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medilink_platform::{Caller, Role};

use super::service::mfa_mandatory;
use super::token::{Claims, TokenError};
use crate::error::ApiError;
use crate::route_meta::{Access, LimitClass, Meta};
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The verified claims of its access token.
    pub claims: Claims,
}

impl Principal {
    /// The role.
    pub fn role(&self) -> Role {
        self.claims.role
    }

    /// The caller these claims authenticate (through the SMART app of an app's token).
    pub fn caller(&self) -> Caller {
        let caller = Caller::user(
            self.claims.sub.clone(),
            self.claims.role,
            self.claims.mfa,
            self.claims.pid.clone(),
        );
        match &self.claims.app {
            Some(grant) => caller.through_app(grant.access.clone()),
            None => caller,
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A bearer token's signature, algorithm and expiry check, kept in the request's extensions
/// by the first middleware that needs it (the rate limit) so it is done once per request.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedToken {
    token: String,
    result: Result<Claims, TokenError>,
}

/// The check of the request's bearer token (`None`: no token), done at most once per request.
pub(crate) fn verify_bearer(
    app: &AppState,
    request: &mut Request,
) -> Option<Result<Claims, TokenError>> {
    let token = bearer(request)?;
    if let Some(verified) = request.extensions().get::<VerifiedToken>()
        && verified.token == token
    {
        return Some(verified.result.clone());
    }
    let result = match app.auth.codec.verify(token, app.auth.clock.now()) {
        // Not a portal token: perhaps a SMART app's (issue #17).
        Err(TokenError::Invalid) => app.smart.verify_access(token).ok_or(TokenError::Invalid),
        other => other,
    };
    let verified = VerifiedToken {
        token: token.to_owned(),
        result: result.clone(),
    };
    request.extensions_mut().insert(verified);
    Some(result)
}

/// The principal of a checked token (expired, invalid, partial and revoked tokens refused).
async fn principal_from(
    app: &AppState,
    verified: Result<Claims, TokenError>,
) -> Result<Principal, ApiError> {
    let auth = &app.auth;
    let claims = match verified {
        Ok(claims) => claims,
        Err(TokenError::Expired) => return Err(ApiError::unauthenticated("the token has expired")),
        Err(TokenError::Invalid) => return Err(ApiError::unauthenticated("invalid token")),
    };
    if claims.partial {
        return Err(ApiError::unauthenticated(
            "the login is not complete: send the TOTP code",
        ));
    }
    if auth.revoked(&claims).await? || app.smart.revoked(&claims).await? {
        return Err(ApiError::unauthenticated("the token was revoked"));
    }
    Ok(Principal { claims })
}

fn allowed(class: Access, principal: &Principal) -> Result<(), ApiError> {
    let role = principal.role();
    let needs = |roles: &[Role]| -> Result<(), ApiError> {
        if !roles.contains(&role) {
            return Err(ApiError::forbidden("this role may not use this endpoint"));
        }
        if mfa_mandatory(role) && !principal.claims.mfa {
            return Err(ApiError::forbidden(
                "enrol and use TOTP before accessing this endpoint",
            ));
        }
        Ok(())
    };
    match class {
        Access::Public | Access::Account => Ok(()),
        Access::Clinical => needs(&Role::ALL),
        Access::Admin => needs(&[Role::Admin]),
    }
}

/// Middleware: authentication and the role check of the route's access class.
pub(crate) async fn authenticate(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let meta = Meta::of_request(&request);
    if meta.limit == LimitClass::Probe {
        // Probes read no token: a denylist lookup would make them depend on the key-value
        // store (issue #24).
        return next.run(request).await;
    }
    let class = meta.access;
    let principal = match verify_bearer(&app, &mut request) {
        Some(verified) => match principal_from(&app, verified).await {
            Ok(principal) => Some(principal),
            Err(err) if class != Access::Public => return err.into_response(),
            Err(_) => None,
        },
        None if class == Access::Public => None,
        None => return ApiError::unauthenticated("a bearer token is required").into_response(),
    };
    if let Some(principal) = principal {
        if let Err(err) = allowed(class, &principal) {
            return err.into_response();
        }
        // A SMART app's token is for the FHIR API only (the route template, not the path).
        let fhir_route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .is_some_and(|route| route.as_str().starts_with("/fhir/R4"));
        if principal.claims.app.is_some() && class != Access::Public && !fhir_route {
            return ApiError::forbidden("an app's token is for the FHIR API only").into_response();
        }
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}
