//! `medilink-fhir`: the FHIR R4 storage library of MediLink.
//!
//! It owns the resource model helpers ([`model`]), validation against the official R4
//! StructureDefinitions ([`validate`]), the [`ResourceStore`] seam with its SQL backends
//! (features `sql-sqlite`, `sql-postgres`), search with the official R4 search parameters
//! ([`search`]), batch/transaction bundles ([`bundle`]), JSON Patch ([`patch`]) and the change
//! feed ([`ResourceStore::changes_since`]), plus the seams a service needs around a store: the
//! durable job queue ([`jobs`]), key-value ([`kv`]) and blob ([`blob`]) stores and the full-text
//! index ([`fulltext`]). It knows nothing about HTTP, users or consent: the caller of every
//! interaction is an opaque slot of the [`RequestContext`] that `medilink-consent` decides
//! from.
//!
//! # Quick start
//!
//! Open a store by URL, create a resource and search for it:
//!
//! ```
//! use std::sync::Arc;
//!
//! use medilink_fhir::search::SearchQuery;
//! use medilink_fhir::{RequestContext, ResourceType, SqlOptions, SystemClock, UuidIdGen, open_store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), medilink_fhir::FhirError> {
//! // SQLite in memory (feature `sql-sqlite`); `postgres://…` works the same with `sql-postgres`.
//! let options = SqlOptions::new("sqlite::memory:");
//! let store = open_store(&options, Arc::new(SystemClock), Arc::new(UuidIdGen)).await?;
//! // The platform's own work; a signed-in user's request carries their caller instead.
//! let ctx = RequestContext::system();
//!
//! let patient = serde_json::json!({"resourceType": "Patient", "name": [{"family": "Example"}]});
//! let created = store.create(&ctx, patient).await?;
//! assert_eq!(created.version_id.get(), 1);
//!
//! // `GET Patient?family=example`, as parsed query parameters.
//! let params = [("family".to_owned(), "example".to_owned())];
//! let query = SearchQuery::parse(ResourceType::Patient, &params, true)?;
//! let page = store.search(&ctx, &query).await?;
//! assert_eq!(page.matches[0].id, created.id);
//! # Ok(())
//! # }
//! ```
//!
//! The workspace's `examples/` show more, each run by the test command: searching with the
//! official parameters on SQLite and PostgreSQL (`store_search.rs`), transaction Bundles with
//! `urn:uuid:` references (`transaction_bundle.rs`), a change-feed consumer (`change_feed.rs`)
//! and a job kind of one's own on the job queue (`custom_job.rs`).
//!
//! # Feature flags
//!
//! The default feature set is empty: an embedder turns on the backends it uses, and
//! [`open_store`] names the missing feature when a URL needs one that was compiled out.
//!
//! | Feature | Enables |
//! |---|---|
//! | `sql-sqlite` | the SQL store, job queue and key-value store on SQLite (`sqlite://…`, `sqlite::memory:`) |
//! | `sql-postgres` | the same on PostgreSQL (`postgres://…`) |
//! | `sql` | the SQL backend's shared code; turned on by either of the above, not meant to be named alone |
//! | `tantivy` | [`fulltext`]'s Tantivy index (`_text`, `_content`, cross-resource full text) |
//! | `kv-redis` | `kv::RedisKeyValue`: the key-value seam on Redis, shared by several processes |
//! | `blob-fs` | [`blob`] storage in a directory (OpenDAL) |
//! | `blob-s3` | [`blob`] storage in an S3 bucket (OpenDAL) |
//! | `testsuite` | `testsuite`: the conformance suites and test doubles for a backend's own tests |
#![warn(missing_docs)]

pub mod backend;
pub mod blob;
pub mod bundle;
pub mod clock;
pub mod conditional;
pub mod context;
pub mod error;
pub mod fhirpath;
pub mod fulltext;
pub mod import;
pub mod jobs;
pub mod kv;
pub mod model;
pub mod patch;
pub mod search;
pub mod store;
pub mod validate;
#[cfg_attr(
    not(feature = "sql"),
    allow(
        dead_code,
        reason = "prepared writes are applied by the SQL backends only"
    )
)]
mod write;

#[cfg(feature = "testsuite")]
pub mod testsuite;

#[cfg(feature = "sql")]
pub use backend::open_sql_store;
pub use backend::{
    BlobOptions, DEFAULT_STATEMENT_TIMEOUT, SqlOptions, open_blob_store, open_store,
};
pub use clock::{Clock, FixedClock, IdGen, SeqIdGen, SystemClock, UuidIdGen};
pub use context::{AccessSummary, Accessed, Interaction, RequestContext, Requester};
pub use error::{ErrorKind, FhirError, FhirResult, Issue, IssueCode, ServiceError, Severity};
pub use model::{ResourceId, ResourceType, VersionId};
pub use store::{
    HistoryPage, HistoryQuery, HistoryScope, Hooked, ResourceStore, StoredResource, WriteHook,
    WriteOp, WriteOutcome,
};
