//! The middleware around the routes, outermost first as `routes.rs` stacks them: request
//! metrics ([`metrics`]), CORS and security headers (`security`), the request id
//! ([`request_id`]), the web dashboards ([`static_files`]), then — after route classification
//! (`route_meta.rs`) — the rate limits (`rate_limit`), authentication (`auth/session.rs`, with
//! the tokens it verifies), the audit record ([`audit`]), and the FHIR API's content
//! negotiation, panic handler and fallbacks (`middleware`).

pub mod audit;
pub mod metrics;
pub(crate) mod middleware;
pub(crate) mod rate_limit;
pub mod request_id;
pub(crate) mod security;
pub mod static_files;
