//! `medilink-fhir`: the FHIR R4 storage library of MediLink.
//!
//! It owns the resource model helpers ([`model`]), validation against the official R4
//! StructureDefinitions ([`validate`]), the [`ResourceStore`] seam with its SQL backends
//! (features `sql-sqlite`, `sql-postgres`), batch/transaction bundles ([`bundle`]), JSON Patch
//! ([`patch`]) and the change feed. It knows nothing about HTTP, users or consent.

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
