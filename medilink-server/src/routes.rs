//! The route table of the whole application, and the middleware stack around it.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::context::assign_request_id;
use crate::middleware::{negotiate, panic_response, unknown_route, wrong_method};
use crate::state::AppState;
use crate::{bundle, health, history, metadata, read, write};

/// Builds the application router.
pub(crate) fn router(state: AppState) -> Router {
    let max_body_bytes = state.limits.max_body_bytes;
    let fhir = Router::new()
        .route("/fhir/R4", post(bundle::bundle))
        .route("/fhir/R4/metadata", get(metadata::capabilities))
        .route("/fhir/R4/_history", get(history::system_history))
        .route("/fhir/R4/{type}", post(write::create).get(read::search))
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
        .method_not_allowed_fallback(wrong_method)
        .layer(from_fn(negotiate));
    let health = Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .method_not_allowed_fallback(wrong_method);
    Router::new()
        .merge(health)
        .merge(fhir)
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .layer(from_fn(assign_request_id))
}
