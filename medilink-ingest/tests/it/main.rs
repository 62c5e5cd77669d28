//! Integration tests of medilink-ingest (one binary; a module per area).
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their database and service urls from the environment and name throwaway databases (clippy.toml bans these in library code)"
)]

mod accuracy;
mod catalog;
mod designs;
mod fhir;
mod layouts;
mod llm;
mod support;
mod text;
