//! The route table of the whole application, and the middleware stack around it.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{limits, session};
use crate::context::assign_request_id;
use crate::middleware::{negotiate, panic_response, unknown_route, wrong_method};
use crate::state::AppState;
use crate::{
    api, audit, bundle, everything, export, health, history, metadata, metrics, pipeline, read,
    search, static_files, write,
};

/// Builds the application router.
pub(crate) fn router(state: AppState) -> Router {
    let max_body_bytes = state.limits.max_body_bytes;
    let fhir = Router::new()
        .route("/fhir/R4", post(bundle::bundle))
        .route("/fhir/R4/metadata", get(metadata::capabilities))
        .route("/fhir/R4/_history", get(history::system_history))
        .route("/fhir/R4/$export", get(export::system))
        .route(
            "/fhir/R4/$export-poll-status/{id}",
            get(export::status).delete(export::cancel),
        )
        .route("/fhir/R4/{type}/$export", get(export::patients))
        .route("/fhir/R4/{type}/{id}/$export", get(export::patient))
        .route(
            "/fhir/R4/{type}",
            post(search::create)
                .get(search::search)
                .put(search::conditional_update)
                .delete(search::conditional_delete),
        )
        .route("/fhir/R4/{type}/_search", post(search::search))
        .route("/fhir/R4/{type}/_history", get(history::type_history))
        .route(
            "/fhir/R4/{type}/{id}",
            get(read::read)
                .put(write::update)
                .patch(write::patch)
                .delete(write::delete),
        )
        .route(
            "/fhir/R4/{type}/{id}/_history",
            get(history::instance_history),
        )
        .route("/fhir/R4/{type}/{id}/_history/{vid}", get(read::vread))
        .route(
            "/fhir/R4/{type}/{id}/$everything",
            get(everything::everything),
        )
        .method_not_allowed_fallback(wrong_method)
        .layer(from_fn(negotiate));
    // Export files are NDJSON: outside the JSON-only negotiation.
    let export_files = Router::new()
        .route("/fhir/R4/$export-file/{id}/{file}", get(export::file))
        .route(
            "/api/research/exports/{id}/files/{file}",
            get(api::research::file),
        )
        .method_not_allowed_fallback(wrong_method);
    let health = Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::scrape))
        .method_not_allowed_fallback(wrong_method);
    let api = Router::new()
        .route("/api/openapi.json", get(api::openapi::document))
        .route("/api/auth/register", post(api::auth::register))
        .route("/api/auth/login", post(api::auth::login))
        .route("/api/auth/refresh", post(api::auth::refresh))
        .route("/api/auth/logout", post(api::auth::logout))
        .route("/api/auth/me", get(api::auth::me))
        .route("/api/auth/password", post(api::auth::password))
        .route("/api/auth/totp/setup", post(api::auth::totp_setup))
        .route("/api/auth/totp/verify", post(api::auth::totp_verify))
        .route("/api/auth/totp/disable", post(api::auth::totp_disable))
        .route("/api/admin/users", get(api::admin::users))
        .route(
            "/api/admin/users/{id}/{action}",
            post(api::admin::user_action),
        )
        .route("/api/admin/audit", get(api::admin::audit))
        .route(
            "/api/consents",
            get(api::consents::list).post(api::consents::create),
        )
        .route(
            "/api/consents/break-glass",
            post(api::consents::break_glass),
        )
        .route("/api/consents/access-log", get(api::consents::access_log))
        .route(
            "/api/consents/{id}",
            axum::routing::delete(api::consents::revoke),
        )
        .route("/api/consents/{id}/{action}", post(api::consents::answer))
        .route("/api/search", get(api::search::search))
        .route("/api/research/exports", post(api::research::create))
        .route(
            "/api/research/exports/{id}",
            get(api::research::status).delete(api::research::cancel),
        )
        .route("/api/directory/clinicians", get(api::directory::clinicians))
        .method_not_allowed_fallback(wrong_method);
    // Documents: the only route whose body may exceed --max-body-bytes (up to
    // --max-document-bytes plus the multipart framing).
    let document_limit = state
        .max_document_bytes
        .saturating_add(api::documents::MULTIPART_OVERHEAD);
    let documents = Router::new()
        .route(
            "/api/documents",
            post(api::documents::upload).layer(DefaultBodyLimit::max(document_limit)),
        )
        .route("/api/documents/jobs", get(api::documents::jobs))
        .route(
            "/api/documents/jobs/{id}",
            get(api::documents::job).delete(api::documents::cancel),
        )
        .route(
            "/api/documents/jobs/{id}/accept",
            post(api::documents::accept),
        )
        .method_not_allowed_fallback(wrong_method);
    // Outermost last: metrics, CORS, security headers, request id, logs, rate limits, authentication,
    // audit, panic catching, then the routes.
    let cors = pipeline::cors(&state.cors_origins);
    Router::new()
        .merge(health)
        .merge(fhir)
        .merge(export_files)
        .merge(api)
        .merge(documents)
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(state.clone(), session::authenticate))
        .layer(from_fn_with_state(state.clone(), limits::rate_limit))
        // The dashboards' pages are public: served before authentication and rate limits.
        .layer(from_fn_with_state(state.clone(), static_files::serve))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                // Method and route template only: no query strings, ids or tokens in logs.
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |path| path.as_str());
                tracing::info_span!("request", method = %request.method(), route, request_id = %crate::context::current_request_id())
            }),
        )
        .layer(from_fn(assign_request_id))
        .layer(from_fn_with_state(state.clone(), pipeline::security_headers))
        .layer(cors)
        // Outermost, so that durations and in-flight counts cover every layer.
        .layer(from_fn_with_state(state.clone(), metrics::measure))
        .with_state(state)
}
