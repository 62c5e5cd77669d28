//! `medilink-server`: the MediLink HTTP host.
//!
//! It serves the FHIR R4 REST API at `/fhir/R4` (read, vread, create, update, patch, delete,
//! history, search, conditional create/update/delete, batch/transaction, `metadata`, Bulk Data `$export`) and the health endpoints, on top of the
//! [`medilink_fhir::ResourceStore`] seam. It is thin: extractors parse and negotiate, a handler
//! makes one library call, [`fhir::response::FhirResponse`] and [`error::ApiError`] map the
//! result. Library errors become HTTP statuses and OperationOutcomes in [`error`] only.
//!
//! SMART App Launch 2.2 and Backend Services (discovery, `/oauth/*`, scoped app tokens on
//! the FHIR API) are [`smart`].
//!
//! [`app`] builds the router, so tests and examples can drive it without a socket.
//!
//! # Embedding the FHIR API
//!
//! A service with its own axum router and its own authentication mounts the FHIR routes alone
//! with [`fhir_router`]; its authentication middleware supplies the caller:
//!
//! ```no_run
//! use axum::extract::Request;
//! use axum::middleware::{self, Next};
//! use axum::response::Response;
//! use medilink_platform::{Caller, Role, UserId};
//! use medilink_server::AppState;
//!
//! async fn my_auth(mut request: Request, next: Next) -> Response {
//!     // Check the service's own session here; this sketch trusts everybody as one physician.
//!     let caller = Caller::user(UserId("dr".into()), Role::Physician, true, None);
//!     request.extensions_mut().insert(caller);
//!     next.run(request).await
//! }
//!
//! fn my_app(state: AppState) -> axum::Router {
//!     axum::Router::new()
//!         .merge(medilink_server::fhir_router(state))
//!         .layer(middleware::from_fn(my_auth))
//! }
//! ```
//!
//! `medilink-server/examples/fhir_router.rs` builds the [`AppState`] and makes requests
//! through such a router (run by the test command).
#![warn(missing_docs)]

pub mod auth;
pub mod backup;
pub mod config;
pub mod context;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod fhir;
pub mod import;
pub mod layers;
pub mod mail;
pub mod route_meta;
pub mod serve;
pub mod smart;
pub mod state;

mod admin;
mod api;
mod cds;
mod failpoint;
mod health;
mod routes;

pub use config::Limits;
pub use error::ApiError;
pub use state::AppState;

/// The complete HTTP application: FHIR REST API, health endpoints and middleware.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// The FHIR R4 REST API alone (`/fhir/R4/…`), to mount in an embedder's own axum router
/// (`Router::merge`): every FHIR interaction of [`app`] over `state`'s consent-guarded store,
/// with request ids, audit records and panic catching, but without [`app`]'s authentication,
/// rate limits, CORS, dashboards or `/api` routes.
///
/// The embedder authenticates: its own middleware puts the signed-in user's
/// [`medilink_platform::Caller`] into the request's extensions
/// (`request.extensions_mut().insert(caller)`), and the consent guard decides from it. A
/// request without one is anonymous and sees nothing; `Caller::System` sees everything, so
/// never derive it from anything the client sends. See
/// `medilink-server/examples/fhir_router.rs`.
pub fn fhir_router(state: AppState) -> axum::Router {
    routes::fhir_router(state)
}

/// The OpenAPI 3.1 document of [`app`]'s `/api` routes, generated from the route table and the
/// handlers' types, as JSON text (what `GET /api/openapi.json` serves and
/// `medilink-server/openapi.json` holds).
pub fn openapi_document() -> String {
    api::openapi::render()
}

/// The metadata of every route of [`app`] (access, rate limit, audit action).
pub fn route_table() -> route_meta::RouteTable {
    routes::table()
}
