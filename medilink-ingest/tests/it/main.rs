//! Integration tests of medilink-ingest (one binary; a module per area).

mod fhir;
mod llm;
mod support;
