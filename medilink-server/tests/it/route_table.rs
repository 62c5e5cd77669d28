//! Issue #4: every `/api` and `/fhir` route answers `401` without a token and `403` with a
//! wrong role, so a new route cannot be added unprotected. Issue #12: every route is
//! registered with its metadata, which the router enforces, and which decides as the path
//! functions it replaced did.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_platform::{Action, Role};
use medilink_server::route_meta::Access;

use crate::support::{TestApp, signed_in};

/// Every protected route of the application: `(method, path, admin only)`.
pub(crate) const PROTECTED: &[(Method, &str, bool)] = &[
    (Method::POST, "/fhir/R4", false),
    (Method::POST, "/fhir/R4/", false),
    (Method::GET, "/fhir/R4", false),
    (Method::GET, "/fhir/R4/", false),
    (Method::GET, "/fhir/R4/_history", false),
    (Method::GET, "/fhir/R4/Patient", false),
    (Method::POST, "/fhir/R4/Patient", false),
    (Method::GET, "/fhir/R4/Patient/_history", false),
    (Method::GET, "/fhir/R4/Patient/p1", false),
    (Method::PUT, "/fhir/R4/Patient/p1", false),
    (Method::PATCH, "/fhir/R4/Patient/p1", false),
    (Method::DELETE, "/fhir/R4/Patient/p1", false),
    (Method::GET, "/fhir/R4/Patient/p1/_history", false),
    (Method::GET, "/fhir/R4/Patient/p1/_history/1", false),
    (Method::POST, "/fhir/R4/Patient/_search", false),
    (Method::GET, "/fhir/R4/Patient/p1/$everything", false),
    (Method::GET, "/fhir/R4/Patient/p1/Observation", false),
    (Method::GET, "/fhir/R4/$export", false),
    (Method::GET, "/fhir/R4/Patient/$export", false),
    (Method::GET, "/fhir/R4/Patient/p1/$export", false),
    (Method::GET, "/fhir/R4/$export-poll-status/j1", false),
    (Method::DELETE, "/fhir/R4/$export-poll-status/j1", false),
    (
        Method::GET,
        "/fhir/R4/$export-file/j1/Patient.ndjson",
        false,
    ),
    (Method::GET, "/api/search?q=x", false),
    (Method::GET, "/api/directory/clinicians?q=xy", false),
    (Method::POST, "/api/auth/logout", false),
    (Method::GET, "/api/auth/me", false),
    (Method::POST, "/api/auth/password", false),
    (Method::POST, "/api/auth/totp/setup", false),
    (Method::POST, "/api/auth/totp/verify", false),
    (Method::POST, "/api/auth/totp/disable", false),
    (Method::GET, "/api/admin/users", true),
    (Method::POST, "/api/admin/users/u1/approve", true),
    (Method::GET, "/api/admin/audit", true),
    (Method::GET, "/api/admin/users/u1", true),
    (Method::PUT, "/api/admin/users/u1/role", true),
    (Method::GET, "/api/admin/invitations", true),
    (Method::POST, "/api/admin/invitations", true),
    (Method::DELETE, "/api/admin/invitations/i1", true),
    (Method::GET, "/api/admin/stats", true),
    (Method::GET, "/api/admin/health", true),
    (Method::POST, "/api/admin/reindex", true),
    (Method::GET, "/api/admin/jobs/j1", true),
    (Method::POST, "/api/admin/audit/verify", true),
    (Method::GET, "/api/admin/audit/verify", true),
    (Method::GET, "/api/consents", false),
    (Method::POST, "/api/consents", false),
    (Method::POST, "/api/consents/break-glass", false),
    (Method::GET, "/api/consents/access-log", false),
    (Method::DELETE, "/api/consents/c1", false),
    (Method::POST, "/api/consents/c1/accept", false),
    (Method::POST, "/api/documents", false),
    (Method::GET, "/api/documents/jobs", false),
    (Method::GET, "/api/documents/jobs/j1", false),
    (Method::DELETE, "/api/documents/jobs/j1", false),
    (Method::POST, "/api/documents/jobs/j1/accept", false),
    (Method::POST, "/api/research/exports", false),
    (Method::GET, "/api/research/exports/j1", false),
    (Method::DELETE, "/api/research/exports/j1", false),
    (
        Method::GET,
        "/api/research/exports/j1/files/Patient.ndjson",
        false,
    ),
    (Method::GET, "/api/notifications", false),
    (Method::POST, "/api/notifications/n1/read", false),
    (Method::POST, "/api/notifications/read-all", false),
    (Method::GET, "/api/notifications/preferences", false),
    (Method::PUT, "/api/notifications/preferences", false),
    (Method::GET, "/some/new/route", false),
];

#[tokio::test]
async fn every_protected_route_needs_a_token_and_the_right_role() {
    let app = TestApp::new().await;
    let researcher = signed_in(&app.state, "r@test.local", Role::Researcher).await;
    let patient = signed_in(&app.state, "p@test.local", Role::Patient).await;
    for (method, path, _) in PROTECTED {
        let response = app
            .request(
                method.clone(),
                path,
                &[("authorization", "")],
                Body::empty(),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let garbage = app
            .request(
                method.clone(),
                path,
                &[("authorization", "Bearer x.y.z")],
                Body::empty(),
            )
            .await;
        assert_eq!(garbage.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    for (method, path, admin_only) in PROTECTED {
        if path.starts_with("/api/auth/") || path.starts_with("/api/notifications") {
            continue; // any signed-in user may manage their own account and notices
        }
        if path.starts_with("/fhir/")
            || path.starts_with("/some/")
            || path.starts_with("/api/consents")
            || path.starts_with("/api/search")
            || path.starts_with("/api/directory")
            || path.starts_with("/api/documents")
            || path.starts_with("/api/research")
        {
            // Issue #5: every role reaches the FHIR API; the consent guard decides what each
            // sees (`consent.rs` holds that matrix). Every signed-in user may look clinicians
            // up in the directory (`directory.rs`). Documents: the uploader's own jobs, and
            // the consent guard at upload (`documents.rs`). Research exports: researchers
            // only, another's export does not exist (`research.rs`).
            continue;
        }
        for token in [&researcher, &patient] {
            let bearer = format!("Bearer {token}");
            let response = app
                .request(
                    method.clone(),
                    path,
                    &[("authorization", &bearer)],
                    Body::empty(),
                )
                .await;
            assert_eq!(response.status, StatusCode::FORBIDDEN, "{method} {path}");
        }
        let _ = admin_only;
    }
    let physician = signed_in(&app.state, "d@test.local", Role::Physician).await;
    for (method, path, admin_only) in PROTECTED.iter().filter(|(_, _, admin)| *admin) {
        let bearer = format!("Bearer {physician}");
        let response = app
            .request(
                method.clone(),
                path,
                &[("authorization", &bearer)],
                Body::empty(),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{method} {path} {admin_only}"
        );
    }
}

#[tokio::test]
async fn public_routes_answer_without_a_token() {
    let app = TestApp::new().await;
    for path in [
        "/health",
        "/health/ready",
        "/metrics",
        "/fhir/R4/metadata",
        "/api/openapi.json",
    ] {
        let response = app
            .request(Method::GET, path, &[("authorization", "")], Body::empty())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.header("x-frame-options"), "DENY");
        assert_eq!(response.header("x-content-type-options"), "nosniff");
    }
}

/// A concrete path of a route template.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| match part {
            "{type}" => "Patient",
            "{vid}" => "1",
            "{file}" => "Patient.ndjson",
            "{action}" => "accept",
            _ if part.starts_with('{') => "x1",
            _ => part,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every route the table declares refuses a request without a token exactly when it is not
/// public: each route is registered with its metadata, and the router enforces it.
#[tokio::test]
async fn every_route_is_protected_as_its_metadata_declares() {
    let app = TestApp::new().await;
    let table = medilink_server::route_table();
    assert!(table.routes().count() > 50, "the table lists every route");
    for (method, template, meta) in table.routes() {
        let response = app
            .request(
                method.clone(),
                &concrete(template),
                &[("authorization", "")],
                Body::empty(),
            )
            .await;
        let refused = response.status == StatusCode::UNAUTHORIZED
            && response.text().contains("a bearer token is required");
        assert_eq!(
            refused,
            meta.access != Access::Public,
            "{method} {template}: {meta:?}: {}",
            response.text()
        );
    }
}

/// Issue #24: the probes left the API rate limit on purpose (never limited); every other
/// route is limited as before.
fn expected_limit(path: &str) -> medilink_server::route_meta::LimitClass {
    if ["/health", "/health/ready", "/metrics"].contains(&path) {
        medilink_server::route_meta::LimitClass::Probe
    } else {
        legacy::limit_class(path)
    }
}

/// Issue #12: the metadata declared at registration replaced three functions that classified
/// requests by their path. Frozen copies of them (as of the commit that removed them), so
/// that the table is shown to decide as they did, route by route and for the fallbacks.
mod legacy {
    use axum::http::Method;
    use medilink_server::route_meta::{Access, LimitClass};

    const PUBLIC_ROUTES: &[(&str, &str)] = &[
        ("GET", "/health"),
        ("GET", "/health/ready"),
        ("GET", "/metrics"),
        ("GET", "/fhir/R4/metadata"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/refresh"),
        ("GET", "/api/openapi.json"),
    ];

    pub(super) fn route_class(method: &Method, path: &str) -> Access {
        if method == Method::OPTIONS
            || PUBLIC_ROUTES
                .iter()
                .any(|(m, p)| *m == method.as_str() && *p == path)
        {
            Access::Public
        } else if path.starts_with("/api/admin") {
            Access::Admin
        } else if path.starts_with("/api/auth/") {
            Access::Account
        } else {
            Access::Clinical
        }
    }

    pub(super) fn limit_class(path: &str) -> LimitClass {
        match path {
            "/api/auth/login" | "/api/auth/register" | "/api/auth/refresh"
            | "/api/auth/password" => LimitClass::Login,
            _ if path.starts_with("/api/auth/totp/") => LimitClass::Totp,
            _ => LimitClass::Api,
        }
    }

    pub(super) fn action(method: &Method, route: &str) -> &'static str {
        let history = route.contains("/_history");
        match *method {
            _ if route == "/api/search" => "fulltext-search",
            Method::POST if route == "/api/documents" => "document-upload",
            Method::POST if route.ends_with("/accept") => "document-accept",
            Method::DELETE if route.starts_with("/api/documents/") => "document-cancel",
            _ if route.starts_with("/api/documents/") => "document-status",
            _ if route.contains("$export-file") => "export-file",
            Method::DELETE if route.contains("$export-poll-status") => "export-cancel",
            _ if route.contains("$export-poll-status") => "export-status",
            _ if route.ends_with("$export") => "export",
            Method::GET if route.ends_with("{vid}") => "vread",
            Method::GET if history => "history",
            Method::GET if route.ends_with("{id}") => "read",
            Method::GET => "search",
            Method::POST if route == "/fhir/R4" => "bundle",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "other",
        }
    }

    pub(super) fn audited(path: &str) -> bool {
        (path.starts_with("/fhir/") && path != "/fhir/R4/metadata")
            || path == "/api/search"
            || path == "/api/documents"
            || path.starts_with("/api/documents/")
    }
}

/// Where the table knowingly differs from the old functions: `(method, template, action
/// then, action now, why)`.
const ACTION_FIXED: &[(Method, &str, &str, &str, &str)] = &[(
    Method::POST,
    "/fhir/R4/{type}/_search",
    "create",
    "search",
    "a search by POST was recorded as a create",
)];

/// Routes added after the path functions were removed (their metadata is their own, tested
/// with their features): `(template, issue)`.
const ADDED_SINCE: &[(&str, &str)] = &[
    ("/api/clinical/drug-interactions", "#13"),
    ("/api/clinical/acknowledgements", "#13"),
    ("/api/clinical/history", "#13"),
    ("/api/clinical/drugs", "#13"),
    ("/cds-services", "#13"),
    ("/cds-services/{id}", "#13"),
    ("/api/notifications", "#14"),
    ("/api/notifications/{id}/read", "#14"),
    ("/api/notifications/read-all", "#14"),
    ("/api/notifications/preferences", "#14"),
    // Issue #15: the admin API; the user actions are audited since (the handler names each).
    ("/api/admin/users/{id}/{action}", "#15"),
    ("/api/admin/users/{id}", "#15"),
    ("/api/admin/users/{id}/role", "#15"),
    ("/api/admin/invitations", "#15"),
    ("/api/admin/invitations/{id}", "#15"),
    ("/api/auth/invitations/{token}/accept", "#15"),
    ("/api/admin/stats", "#15"),
    ("/api/admin/health", "#15"),
    ("/api/admin/reindex", "#15"),
    ("/api/admin/jobs/{id}", "#15"),
    ("/api/admin/audit/verify", "#15"),
    ("/api/account/demographics", "#16"),
    ("/fhir/R4/", "#18"),
    ("/fhir/R4/{type}/{id}/{target}", "#18"),
    // Issue #17: SMART App Launch (discovery, OAuth, consent screen, apps, admin).
    ("/.well-known/smart-configuration", "#17"),
    ("/fhir/R4/.well-known/smart-configuration", "#17"),
    ("/oauth/authorize", "#17"),
    ("/oauth/token", "#17"),
    ("/oauth/register", "#17"),
    ("/oauth/introspect", "#17"),
    ("/oauth/revoke", "#17"),
    ("/oauth/jwks", "#17"),
    ("/api/smart/requests/{request_id}", "#17"),
    ("/api/smart/requests/{request_id}/decision", "#17"),
    ("/api/smart/authorizations", "#17"),
    ("/api/smart/authorizations/{client_id}", "#17"),
    ("/api/smart/apps", "#17"),
    ("/api/smart/launch", "#17"),
    ("/api/admin/smart/clients", "#17"),
    ("/api/admin/smart/clients/{client_id}/approve", "#17"),
    ("/api/admin/smart/clients/{client_id}/suspend", "#17"),
    ("/fhir/R4/{type}/$lastn", "#18"),
    ("/fhir/R4/{type}/$stats", "#18"),
    ("/fhir/R4/{type}/$validate", "#18"),
    ("/fhir/R4/{type}/{id}/$validate", "#18"),
    // Issue #21: the subscription websocket, public (its binding token is the credential).
    ("/fhir/R4/$subscription-ws", "#21"),
    ("/fhir/R4/Subscription", "#21"),
    ("/fhir/R4/Subscription/{id}", "#21"),
    ("/fhir/R4/Subscription/{id}/$status", "#21"),
    ("/fhir/R4/Subscription/{id}/$events", "#21"),
    ("/fhir/R4/Subscription/{id}/$get-ws-binding-token", "#21"),
];

#[test]
fn the_table_decides_as_the_path_functions_did() {
    let table = medilink_server::route_table();
    for (template, _) in ADDED_SINCE {
        assert!(
            table.routes().any(|(_, t, _)| t == *template),
            "ADDED_SINCE is stale: {template}"
        );
    }
    let added = |template: &str| ADDED_SINCE.iter().any(|(t, _)| *t == template);
    let mut templates: Vec<&str> = table
        .routes()
        .map(|(_, template, _)| template)
        .filter(|template| !added(template))
        .collect();
    templates.sort_unstable();
    templates.dedup();
    for (method, template, meta) in table.routes().filter(|(_, t, _)| !added(t)) {
        let path = concrete(template);
        let at = format!("{method} {template}");
        assert_eq!(meta.access, legacy::route_class(method, &path), "{at}");
        assert_eq!(meta.limit, expected_limit(&path), "{at}");
        assert_eq!(meta.audit.is_some(), legacy::audited(&path), "{at}");
        let then = legacy::action(method, template);
        let expected = ACTION_FIXED
            .iter()
            .find(|(m, t, ..)| m == method && *t == template)
            .map_or(then, |(_, _, was, now, _)| {
                assert_eq!(*was, then, "{at}: ACTION_FIXED is stale");
                now
            });
        if let Some(action) = meta.audit {
            assert_eq!(action.as_str(), expected, "{at}");
        }
        assert_eq!(
            table.meta(method, Some(template), &path),
            meta,
            "{at}: the lookup"
        );
    }
    // Methods a route does not have (405, HEAD, OPTIONS): the same class, limit and whether
    // audited (as `other`).
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    for template in &templates {
        let path = concrete(template);
        for method in &methods {
            if table
                .routes()
                .any(|(m, t, _)| m == method && t == *template)
            {
                continue;
            }
            let meta = table.meta(method, Some(template), &path);
            let at = format!("{method} {template} (not routed)");
            assert_eq!(meta.access, legacy::route_class(method, &path), "{at}");
            assert_eq!(meta.limit, expected_limit(&path), "{at}");
            assert_eq!(meta.audit.is_some(), legacy::audited(&path), "{at}");
            assert!(matches!(meta.audit, None | Some(Action::Other)), "{at}");
        }
    }
    // Paths no route matches.
    for path in [
        "/some/new/route",
        "/",
        "/fhir",
        "/fhir/",
        "/fhir/R4/metadata/x",
        "/fhir/R4/Patient/p1/_history/1/x",
        "/fhir/R5/Patient",
        "/api",
        "/api/search/x",
        "/api/documents/x",
        "/api/documents/jobs/j1/accept/x",
        "/api/documentsx",
        "/api/admin",
        "/api/admin/x/y/z/w",
        "/api/adminx",
        "/api/auth",
        "/api/auth/x",
        "/api/auth/totp/x",
        "/api/auth/totp",
        "/api/consents/c1/accept/x",
        "/health/x",
    ] {
        for method in &methods {
            let meta = table.meta(method, None, path);
            let at = format!("{method} {path} (unmatched)");
            assert_eq!(meta.access, legacy::route_class(method, path), "{at}");
            assert_eq!(meta.limit, legacy::limit_class(path), "{at}");
            assert_eq!(meta.audit.is_some(), legacy::audited(path), "{at}");
        }
    }
}
