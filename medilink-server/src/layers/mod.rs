//! The middleware around the routes, outermost first as `routes.rs` stacks them: request
//! metrics ([`metrics`]), CORS and security headers (`security`), the web dashboards
//! ([`static_files`]), the audit record ([`audit`]), and the FHIR API's content negotiation,
//! panic handler and fallbacks (`middleware`). Route classification, rate limiting and
//! authentication stay beside what they read (`route_meta.rs`, `auth/`).

pub mod audit;
pub mod metrics;
pub(crate) mod middleware;
pub(crate) mod security;
pub mod static_files;
