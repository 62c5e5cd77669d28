//! `medilink-server`: the MediLink HTTP host.
//!
//! It serves the FHIR R4 REST API at `/fhir/R4` (read, vread, create, update, patch, delete,
//! history, search, conditional create/update/delete, batch/transaction, `metadata`, Bulk Data `$export`) and the health endpoints, on top of the
//! [`medilink_fhir::ResourceStore`] seam. It is thin: extractors parse and negotiate, a handler
//! makes one library call, [`fhir::response::FhirResponse`] and [`error::ApiError`] map the
//! result. Library errors become HTTP statuses and OperationOutcomes in [`error`] only.
//!
//! [`app`] builds the router, so tests and examples can drive it without a socket.

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
pub mod state;

mod admin;
mod api;
mod cds;
mod health;
mod routes;

pub use config::Limits;
pub use error::ApiError;
pub use state::AppState;

/// The complete HTTP application: FHIR REST API, health endpoints and middleware.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
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
