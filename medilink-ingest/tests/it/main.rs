//! Integration tests of medilink-ingest (one binary; a module per area).

mod llm;
mod support;
