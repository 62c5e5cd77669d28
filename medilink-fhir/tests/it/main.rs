//! The library's integration tests, linked into one binary: one link instead of one per file
//! keeps the build fast on 2 cores and the target directory small.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their database and service urls from the environment and name throwaway databases (clippy.toml bans these in library code)"
)]

mod blob;
mod cancel_safety;
mod fhirpath_conformance;
mod fhirpath_patch;
#[cfg(all(feature = "tantivy", feature = "testsuite", feature = "sql-sqlite"))]
mod fulltext;
#[cfg(feature = "sql-sqlite")]
mod fuzz;
mod import;
mod jobs;
mod jobs_support;
mod kv;
#[cfg(feature = "sql-postgres")]
mod pg_statistics;
mod r4_examples;
mod store_suite;
mod time_limits;
