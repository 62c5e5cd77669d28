//! Integration tests of medilink-ingest (one binary; a module per area).

mod catalog;
mod fhir;
mod llm;
mod support;
