//! The route table of the whole application, each route with its metadata (access, rate
//! limit, audit action: [`crate::route_meta`]), and the middleware stack around it.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::auth::session;
use crate::config::DEFAULT_MAX_DOCUMENT_BYTES;
use crate::fhir::{
    bundle, everything, export, history, metadata, observations, read, search, subscriptions,
    validate, write,
};
use crate::layers::middleware::{negotiate, panic_response, unknown_route, wrong_method};
use crate::layers::request_id::assign_request_id;
use crate::layers::{audit, metrics, rate_limit, security, static_files};
use crate::route_meta::{self, Action, LimitClass, Meta, RouteTable, Routes};
use crate::state::AppState;
use crate::{api, cds, health};

/// The FHIR REST API's routes (`/fhir/R4/…` but the NDJSON export files), with content
/// negotiation: part of [`routes`], and what [`fhir_router`] mounts for an embedder.
fn fhir_routes() -> Routes {
    Routes::new()
        .post(
            "/fhir/R4",
            bundle::bundle,
            Meta::clinical().audit(Action::Bundle),
        )
        // Issue #18: the base with a trailing slash, where clients such as fhirpy post
        // their Bundles.
        .post(
            "/fhir/R4/",
            bundle::bundle,
            Meta::clinical().audit(Action::Bundle),
        )
        // Issue #18: system-level search by the common parameters.
        .get(
            "/fhir/R4",
            search::system_search,
            Meta::clinical().audit(Action::Search),
        )
        .get(
            "/fhir/R4/",
            search::system_search,
            Meta::clinical().audit(Action::Search),
        )
        .get("/fhir/R4/metadata", metadata::capabilities, Meta::public())
        .get(
            "/fhir/R4/_history",
            history::system_history,
            Meta::clinical().audit(Action::History),
        )
        .get(
            "/fhir/R4/$export",
            export::system,
            Meta::clinical().audit(Action::Export),
        )
        .get(
            "/fhir/R4/$export-poll-status/{id}",
            export::status,
            Meta::clinical().audit(Action::ExportStatus),
        )
        .delete(
            "/fhir/R4/$export-poll-status/{id}",
            export::cancel,
            Meta::clinical().audit(Action::ExportCancel),
        )
        .get(
            "/fhir/R4/{type}/$export",
            export::patients,
            Meta::clinical().audit(Action::Export),
        )
        .get(
            "/fhir/R4/{type}/{id}/$export",
            export::patient,
            Meta::clinical().audit(Action::Export),
        )
        .post(
            "/fhir/R4/{type}",
            search::create,
            Meta::clinical().audit(Action::Create),
        )
        .get(
            "/fhir/R4/{type}",
            search::search,
            Meta::clinical().audit(Action::Search),
        )
        .put(
            "/fhir/R4/{type}",
            search::conditional_update,
            Meta::clinical().audit(Action::Update),
        )
        .delete(
            "/fhir/R4/{type}",
            search::conditional_delete,
            Meta::clinical().audit(Action::Delete),
        )
        .post(
            "/fhir/R4/{type}/_search",
            search::search,
            Meta::clinical().audit(Action::Search),
        )
        .get(
            "/fhir/R4/{type}/_history",
            history::type_history,
            Meta::clinical().audit(Action::History),
        )
        // Issue #18: the Observation operations (the handlers refuse other types).
        .get(
            "/fhir/R4/{type}/$lastn",
            observations::lastn,
            Meta::clinical().audit(Action::Search),
        )
        .get(
            "/fhir/R4/{type}/$stats",
            observations::stats,
            Meta::clinical().audit(Action::Search),
        )
        // Issue #18: `$validate` (the instance is read through the consent guard).
        .post(
            "/fhir/R4/{type}/$validate",
            validate::type_level,
            Meta::clinical().audit(Action::Read),
        )
        .post(
            "/fhir/R4/{type}/{id}/$validate",
            validate::instance_level,
            Meta::clinical().audit(Action::Read),
        )
        .get(
            "/fhir/R4/{type}/{id}",
            read::read,
            Meta::clinical().audit(Action::Read),
        )
        .put(
            "/fhir/R4/{type}/{id}",
            write::update,
            Meta::clinical().audit(Action::Update),
        )
        .patch(
            "/fhir/R4/{type}/{id}",
            write::patch,
            Meta::clinical().audit(Action::Patch),
        )
        .delete(
            "/fhir/R4/{type}/{id}",
            write::delete,
            Meta::clinical().audit(Action::Delete),
        )
        .get(
            "/fhir/R4/{type}/{id}/_history",
            history::instance_history,
            Meta::clinical().audit(Action::History),
        )
        .get(
            "/fhir/R4/{type}/{id}/_history/{vid}",
            read::vread,
            Meta::clinical().audit(Action::Vread),
        )
        // Issue #21: FHIR Subscriptions, the caller's own (before the generic routes: a
        // static segment wins).
        .post(
            "/fhir/R4/Subscription",
            subscriptions::create,
            Meta::clinical().audit(Action::Create),
        )
        .get(
            "/fhir/R4/Subscription",
            subscriptions::list,
            Meta::clinical().audit(Action::Search),
        )
        .get(
            "/fhir/R4/Subscription/{id}",
            subscriptions::read,
            Meta::clinical().audit(Action::Read),
        )
        .put(
            "/fhir/R4/Subscription/{id}",
            subscriptions::update,
            Meta::clinical().audit(Action::Update),
        )
        .delete(
            "/fhir/R4/Subscription/{id}",
            subscriptions::delete,
            Meta::clinical().audit(Action::Delete),
        )
        .get(
            "/fhir/R4/Subscription/{id}/$status",
            subscriptions::status,
            Meta::clinical().audit(Action::Read),
        )
        .get(
            "/fhir/R4/Subscription/{id}/$events",
            subscriptions::events,
            Meta::clinical().audit(Action::Read),
        )
        .get(
            "/fhir/R4/Subscription/{id}/$get-ws-binding-token",
            subscriptions::ws_token,
            Meta::clinical().audit(Action::Read),
        )
        // Issue #18: compartment search (`Patient/{id}/Observation?…`).
        .get(
            "/fhir/R4/{type}/{id}/{target}",
            search::compartment,
            Meta::clinical().audit(Action::Search),
        )
        .get(
            "/fhir/R4/{type}/{id}/$everything",
            everything::everything,
            Meta::clinical().audit(Action::Search),
        )
        .method_not_allowed_fallback(wrong_method)
        .layer(from_fn(negotiate))
}

/// Every route with its metadata (`document_limit`: the largest document upload body).
fn routes(document_limit: usize) -> Routes {
    let fhir = fhir_routes();
    // Export files are NDJSON: outside the JSON-only negotiation.
    let export_files = Routes::new()
        .get(
            "/fhir/R4/$export-file/{id}/{file}",
            export::file,
            Meta::clinical().audit(Action::ExportFile),
        )
        // Audited by the handlers (`research-export`).
        .get(
            "/api/research/exports/{id}/files/{file}",
            api::research::file,
            Meta::clinical(),
        )
        .method_not_allowed_fallback(wrong_method);
    // Issue #21: the subscription websocket (the binding token is the credential; each
    // notification is audited by the subscriptions service).
    let subscription_socket = Routes::new()
        .get(
            "/fhir/R4/$subscription-ws",
            subscriptions::websocket,
            Meta::public(),
        )
        .method_not_allowed_fallback(wrong_method);
    let health = Routes::new()
        .get("/health", health::live, Meta::probe())
        .get("/health/ready", health::ready, Meta::probe())
        .get("/metrics", metrics::scrape, Meta::probe())
        .method_not_allowed_fallback(wrong_method);
    // CDS Hooks 2.0: discovery is public, calls read patient data.
    let cds = Routes::new()
        .get("/cds-services", cds::discovery, Meta::public())
        .post(
            "/cds-services/{id}",
            cds::call,
            Meta::clinical().audit(Action::CdsHook),
        )
        .method_not_allowed_fallback(wrong_method);
    let login = Meta::public().limit(LimitClass::Login);
    let totp = Meta::account().limit(LimitClass::Totp);
    let api = Routes::new()
        .get("/api/openapi.json", api::openapi::document, Meta::public())
        .post("/api/auth/register", api::auth::register, login)
        .post("/api/auth/login", api::auth::login, login)
        .post("/api/auth/refresh", api::auth::refresh, login)
        .post("/api/auth/logout", api::auth::logout, Meta::account())
        .get("/api/auth/me", api::auth::me, Meta::account())
        .post(
            "/api/auth/password",
            api::auth::password,
            Meta::account().limit(LimitClass::Login),
        )
        .post("/api/auth/totp/setup", api::auth::totp_setup, totp)
        .post("/api/auth/totp/verify", api::auth::totp_verify, totp)
        .post("/api/auth/totp/disable", api::auth::totp_disable, totp)
        .post(
            "/api/auth/invitations/{token}/accept",
            api::invitations::accept,
            login.audit(Action::InvitationAccept),
        )
        // Admin actions are audited; the handlers name what they acted on (`AuditNote`).
        .get("/api/admin/users", api::admin::users, Meta::admin())
        .get("/api/admin/users/{id}", api::admin::user, Meta::admin())
        .post(
            "/api/admin/users/{id}/{action}",
            api::admin::user_action,
            // The handler names the action (`user-approve`, …).
            Meta::admin().audit(Action::Other),
        )
        .put(
            "/api/admin/users/{id}/role",
            api::admin::set_role,
            Meta::admin().audit(Action::UserRoleChange),
        )
        .get(
            "/api/admin/invitations",
            api::invitations::list,
            Meta::admin(),
        )
        .post(
            "/api/admin/invitations",
            api::invitations::create,
            Meta::admin().audit(Action::InvitationCreate),
        )
        .delete(
            "/api/admin/invitations/{id}",
            api::invitations::revoke,
            Meta::admin().audit(Action::InvitationRevoke),
        )
        .get("/api/admin/stats", api::admin_system::stats, Meta::admin())
        .get(
            "/api/admin/health",
            api::admin_system::health,
            Meta::admin(),
        )
        .post(
            "/api/admin/reindex",
            api::admin_system::reindex,
            Meta::admin().audit(Action::Reindex),
        )
        .get(
            "/api/admin/jobs/{id}",
            api::admin_system::job,
            Meta::admin(),
        )
        .get("/api/admin/audit", api::admin::audit, Meta::admin())
        .post(
            "/api/admin/audit/verify",
            api::admin_system::verify,
            Meta::admin().audit(Action::AuditVerify),
        )
        .get(
            "/api/admin/audit/verify",
            api::admin_system::latest_verification,
            Meta::admin(),
        )
        // Consent lifecycle actions are audited by the consent service.
        .get("/api/consents", api::consents::list, Meta::clinical())
        .post("/api/consents", api::consents::create, Meta::clinical())
        .post(
            "/api/consents/break-glass",
            api::consents::break_glass,
            Meta::clinical(),
        )
        .get(
            "/api/consents/access-log",
            api::consents::access_log,
            Meta::clinical(),
        )
        .delete(
            "/api/consents/{id}",
            api::consents::revoke,
            Meta::clinical(),
        )
        .post(
            "/api/consents/{id}/{action}",
            api::consents::answer,
            Meta::clinical(),
        )
        .get(
            "/api/search",
            api::search::search,
            Meta::clinical().audit(Action::FulltextSearch),
        )
        // Research exports are audited by their handlers (`research-export`).
        .post(
            "/api/research/exports",
            api::research::create,
            Meta::clinical(),
        )
        .get(
            "/api/research/exports",
            api::research::list,
            Meta::clinical(),
        )
        .get(
            "/api/research/exports/{id}",
            api::research::status,
            Meta::clinical(),
        )
        .delete(
            "/api/research/exports/{id}",
            api::research::cancel,
            Meta::clinical(),
        )
        .post(
            "/api/clinical/drug-interactions",
            api::clinical::check,
            Meta::clinical().audit(Action::DrugCheck),
        )
        .post(
            "/api/clinical/acknowledgements",
            api::clinical::acknowledge,
            Meta::clinical().audit(Action::DrugAcknowledge),
        )
        .get(
            "/api/clinical/history",
            api::clinical::history,
            Meta::clinical().audit(Action::DrugHistory),
        )
        .get(
            "/api/clinical/drugs",
            api::clinical::drugs,
            Meta::clinical(),
        )
        .get(
            "/api/directory/clinicians",
            api::directory::clinicians,
            Meta::clinical(),
        )
        // The caller's own notices and preferences: any signed-in user.
        .get(
            "/api/notifications",
            api::notifications::inbox,
            Meta::account(),
        )
        .post(
            "/api/notifications/{id}/read",
            api::notifications::read,
            Meta::account(),
        )
        .post(
            "/api/notifications/read-all",
            api::notifications::read_all,
            Meta::account(),
        )
        .get(
            "/api/notifications/preferences",
            api::notifications::preferences,
            Meta::account(),
        )
        .put(
            "/api/notifications/preferences",
            api::notifications::set_preferences,
            Meta::account(),
        )
        // The calling patient's own details: through the consent guard, audited as FHIR.
        .get(
            "/api/account/demographics",
            api::account::demographics,
            Meta::clinical().audit(Action::Read),
        )
        .put(
            "/api/account/demographics",
            api::account::set_demographics,
            Meta::clinical().audit(Action::Update),
        )
        .method_not_allowed_fallback(wrong_method);
    // Documents: the only route whose body may exceed --max-body-bytes (up to
    // --max-document-bytes plus the multipart framing).
    let documents = Routes::new()
        .post(
            "/api/documents",
            api::documents::upload.layer(DefaultBodyLimit::max(document_limit)),
            Meta::clinical().audit(Action::DocumentUpload),
        )
        .get(
            "/api/documents/jobs",
            api::documents::jobs,
            Meta::clinical().audit(Action::DocumentStatus),
        )
        .get(
            "/api/documents/jobs/{id}",
            api::documents::job,
            Meta::clinical().audit(Action::DocumentStatus),
        )
        .delete(
            "/api/documents/jobs/{id}",
            api::documents::cancel,
            Meta::clinical().audit(Action::DocumentCancel),
        )
        .post(
            "/api/documents/jobs/{id}/accept",
            api::documents::accept,
            Meta::clinical().audit(Action::DocumentAccept),
        )
        .method_not_allowed_fallback(wrong_method);
    Routes::new()
        .merge(health)
        .merge(smart_oauth())
        .merge(smart_api())
        .merge(fhir)
        .merge(export_files)
        .merge(api)
        .merge(documents)
        .merge(cds)
        .merge(subscription_socket)
        // Paths no route matches: the strictest class but admin, unless in one of these.
        .unmatched("/fhir/", Meta::clinical().audit(Action::Other))
        .unmatched("/api/documents/", Meta::clinical().audit(Action::Other))
        .unmatched("/cds-services/", Meta::clinical().audit(Action::Other))
        .unmatched("/api/auth/", Meta::account())
        .unmatched("/api/notifications", Meta::account())
        .unmatched("/api/auth/totp/", totp)
        .unmatched("/api/admin", Meta::admin())
}

/// Issue #17: the SMART App Launch endpoints outside `/api` (discovery and OAuth; public,
/// the token events audited by their handlers' notes).
fn smart_oauth() -> Routes {
    use crate::smart::oauth;
    let credentials = Meta::public().limit(LimitClass::Login);
    Routes::new()
        .get(
            "/.well-known/smart-configuration",
            oauth::discovery,
            Meta::public(),
        )
        .get(
            "/fhir/R4/.well-known/smart-configuration",
            oauth::discovery,
            Meta::public(),
        )
        .get("/oauth/authorize", oauth::authorize, Meta::public())
        .post(
            "/oauth/token",
            oauth::token,
            credentials.audit(Action::SmartTokenIssue),
        )
        .post(
            "/oauth/register",
            oauth::register,
            credentials.audit(Action::SmartClientRegister),
        )
        .post("/oauth/introspect", oauth::introspect, credentials)
        .post(
            "/oauth/revoke",
            oauth::revoke,
            credentials.audit(Action::SmartTokenRevoke),
        )
        .get("/oauth/jwks", oauth::jwks, Meta::public())
        .method_not_allowed_fallback(wrong_method)
}

/// Issue #17: the `/api` routes of SMART App Launch (consent screen, remembered decisions,
/// EHR launch, the admin's client list).
fn smart_api() -> Routes {
    use crate::api::smart;
    Routes::new()
        .get(
            "/api/smart/requests/{request_id}",
            smart::request,
            Meta::clinical(),
        )
        .post(
            "/api/smart/requests/{request_id}/decision",
            smart::decide,
            Meta::clinical().audit(Action::SmartAuthorize),
        )
        .get(
            "/api/smart/authorizations",
            smart::authorizations,
            Meta::account(),
        )
        .delete(
            "/api/smart/authorizations/{client_id}",
            smart::forget,
            Meta::account().audit(Action::SmartTokenRevoke),
        )
        .get("/api/smart/apps", smart::apps, Meta::clinical())
        .post(
            "/api/smart/launch",
            smart::launch,
            Meta::clinical().audit(Action::SmartLaunch),
        )
        .get("/api/admin/smart/clients", smart::clients, Meta::admin())
        .post(
            "/api/admin/smart/clients/{client_id}/approve",
            smart::approve,
            Meta::admin().audit(Action::SmartClientApprove),
        )
        .post(
            "/api/admin/smart/clients/{client_id}/suspend",
            smart::suspend,
            Meta::admin().audit(Action::SmartClientSuspend),
        )
        .method_not_allowed_fallback(wrong_method)
}

/// The metadata of every route of the application.
pub(crate) fn table() -> RouteTable {
    routes(DEFAULT_MAX_DOCUMENT_BYTES).into_parts().1
}

/// Builds the application router.
pub(crate) fn router(state: AppState) -> Router {
    let max_body_bytes = state.limits.max_body_bytes;
    let document_limit = state
        .max_document_bytes
        .saturating_add(api::documents::MULTIPART_OVERHEAD);
    let (routes, table) = routes(document_limit).into_parts();
    // Outermost last: metrics, CORS, security headers, request id, logs, static files, route
    // metadata, rate limits, authentication, audit, panic catching, then the routes.
    let cors = security::cors(&state.cors_origins);
    routes
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(state.clone(), session::authenticate))
        .layer(from_fn_with_state(state.clone(), rate_limit::rate_limit))
        .layer(from_fn_with_state(Arc::new(table), route_meta::classify))
        // The dashboards' pages are public: served before authentication and rate limits.
        .layer(from_fn_with_state(state.clone(), static_files::serve))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::extract::Request| {
                    // Method and route template only: no query strings, ids or tokens in logs.
                    let route = request
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or("unmatched", |path| path.as_str());
                    // The target is exported as the request's span with `--otlp-endpoint`.
                    tracing::info_span!(
                        target: "medilink_otel::http",
                        "request",
                        method = %request.method(),
                        route,
                        request_id = %crate::layers::request_id::current_request_id(),
                        otel.name = route,
                        otel.kind = "server",
                        http.response.status_code = tracing::field::Empty,
                    )
                })
                .on_response(
                    |response: &axum::response::Response,
                     _: std::time::Duration,
                     span: &tracing::Span| {
                        span.record("http.response.status_code", response.status().as_u16());
                    },
                ),
        )
        .layer(from_fn(assign_request_id))
        .layer(from_fn_with_state(
            state.clone(),
            security::security_headers,
        ))
        .layer(cors)
        // Outermost, so that durations and in-flight counts cover every layer.
        .layer(from_fn_with_state(state.clone(), metrics::measure))
        .with_state(state)
}

/// The FHIR REST API alone, for an embedder's own router (`crate::fhir_router`): the
/// `/fhir/R4` routes and the Bulk Data export files, with request ids, the audit record of
/// every request and panic catching — but no authentication, rate limits, CORS or metrics,
/// which are the embedder's. Its authentication layer supplies the caller as a
/// [`medilink_platform::Caller`] request extension ([`crate::context::RequestCaller`]).
pub(crate) fn fhir_router(state: AppState) -> Router {
    let export_files = Routes::new()
        .get(
            "/fhir/R4/$export-file/{id}/{file}",
            export::file,
            Meta::clinical().audit(Action::ExportFile),
        )
        .method_not_allowed_fallback(wrong_method);
    let (routes, table) = fhir_routes().merge(export_files).into_parts();
    routes
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(Arc::new(table), route_meta::classify))
        .layer(from_fn(assign_request_id))
        .with_state(state)
}
