//! The FHIR R4 REST API at `/fhir/R4`: one module per interaction (read, write, history,
//! search with the conditional interactions, batch/transaction, `metadata`, `$everything`,
//! `Observation/$lastn` and `$stats`, `$validate`,
//! Bulk Data `$export`), the extractors they share (`extract`) and [`response::FhirResponse`].
//! Each handler parses, makes one library call and maps the result; the routes and their
//! metadata are declared in `routes.rs`.

pub(crate) mod bundle;
pub(crate) mod everything;
pub(crate) mod export;
pub(crate) mod extract;
pub(crate) mod history;
pub(crate) mod metadata;
pub(crate) mod observations;
pub(crate) mod read;
pub mod response;
pub(crate) mod search;
pub(crate) mod subscriptions;
pub(crate) mod validate;
pub(crate) mod write;
