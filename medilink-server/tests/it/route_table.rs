//! Issue #4: every `/api` and `/fhir` route answers `401` without a token and `403` with a
//! wrong role, so a new route cannot be added unprotected.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_platform::Role;

use crate::support::{TestApp, signed_in};

/// Every protected route of the application: `(method, path, admin only)`. `openapi.rs` checks
/// that the `/api` entries cover every `/api` route of `src/routes.rs`.
pub(crate) const PROTECTED: &[(Method, &str, bool)] = &[
    (Method::POST, "/fhir/R4", false),
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
        if path.starts_with("/api/auth/") {
            continue; // any signed-in user may manage their own account
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
