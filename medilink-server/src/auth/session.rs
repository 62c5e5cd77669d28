//! Request-time authentication: the `authenticate` middleware checks the bearer token of
//! every route except [`PUBLIC_ROUTES`] and the role each route class requires, and leaves a
//! [`Principal`] in the request for the [`crate::context::Caller`] extractor.
//!
//! Protection is by default: a new route is protected unless it is added to the public list.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medilink_platform::{Caller, Role};

use super::service::mfa_mandatory;
use super::token::{Claims, TokenError};
use crate::error::ApiError;
use crate::state::AppState;

/// Routes reachable without a token: `(method, path)`.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/fhir/R4/metadata"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/refresh"),
    ("GET", "/api/openapi.json"),
];

/// Who may call a class of routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// No token needed.
    Public,
    /// Any signed-in user, even before TOTP enrolment (`/api/auth/*`).
    Account,
    /// Patient data (`/fhir/R4/**`, `/api/consents/**`): every role (the consent guard
    /// decides what each may see), physicians and admins with TOTP passed.
    Clinical,
    /// `/api/admin/**`: admins, with TOTP passed.
    Admin,
}

/// The class of `(method, path)`.
pub fn route_class(method: &Method, path: &str) -> RouteClass {
    if method == Method::OPTIONS
        || PUBLIC_ROUTES
            .iter()
            .any(|(m, p)| *m == method.as_str() && *p == path)
    {
        RouteClass::Public
    } else if path.starts_with("/api/admin") {
        RouteClass::Admin
    } else if path.starts_with("/api/auth/") {
        RouteClass::Account
    } else {
        // `/fhir/**` and anything unknown: the strictest class but admin.
        RouteClass::Clinical
    }
}

/// The verified access token of a request: nothing but its claims. Who the caller is, for the
/// libraries, is the [`Caller`] built from them ([`Principal::caller`]).
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

    /// The caller these claims authenticate.
    pub fn caller(&self) -> Caller {
        Caller::user(
            self.claims.sub.clone(),
            self.claims.role,
            self.claims.mfa,
            self.claims.pid.clone(),
        )
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
    let result = app.auth.codec.verify(token, app.auth.clock.now());
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
    if auth.revoked(&claims).await? {
        return Err(ApiError::unauthenticated("the token was revoked"));
    }
    Ok(Principal { claims })
}

fn allowed(class: RouteClass, principal: &Principal) -> Result<(), ApiError> {
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
        RouteClass::Public | RouteClass::Account => Ok(()),
        RouteClass::Clinical => needs(&Role::ALL),
        RouteClass::Admin => needs(&[Role::Admin]),
    }
}

/// Middleware: authentication and the route-class role check.
pub(crate) async fn authenticate(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let class = route_class(request.method(), request.uri().path());
    let principal = match verify_bearer(&app, &mut request) {
        Some(verified) => match principal_from(&app, verified).await {
            Ok(principal) => Some(principal),
            Err(err) if class != RouteClass::Public => return err.into_response(),
            Err(_) => None,
        },
        None if class == RouteClass::Public => None,
        None => return ApiError::unauthenticated("a bearer token is required").into_response(),
    };
    if let Some(principal) = principal {
        if let Err(err) = allowed(class, &principal) {
            return err.into_response();
        }
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_protected_unless_listed_public() {
        assert_eq!(route_class(&Method::GET, "/health"), RouteClass::Public);
        assert_eq!(
            route_class(&Method::GET, "/fhir/R4/metadata"),
            RouteClass::Public
        );
        assert_eq!(
            route_class(&Method::POST, "/fhir/R4/metadata"),
            RouteClass::Clinical
        );
        assert_eq!(
            route_class(&Method::GET, "/fhir/R4/Patient/1"),
            RouteClass::Clinical
        );
        assert_eq!(
            route_class(&Method::GET, "/api/admin/users"),
            RouteClass::Admin
        );
        assert_eq!(
            route_class(&Method::GET, "/api/auth/me"),
            RouteClass::Account
        );
        assert_eq!(
            route_class(&Method::GET, "/new/route"),
            RouteClass::Clinical
        );
    }
}
