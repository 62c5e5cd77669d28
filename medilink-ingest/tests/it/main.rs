//! Integration tests of medilink-ingest (one binary; a module per area).

mod accuracy;
mod catalog;
mod fhir;
mod llm;
mod support;
mod text;
