//! Platform state that is not FHIR data: user accounts and refresh tokens ([`accounts`]), the
//! tamper-evident audit trail ([`audit`]) and the key-value seam for counters, lockouts and the
//! token denylist ([`kv`]), the durable job queue ([`jobs`]) with its worker loop ([`worker`]) and
//! periodic maintenance jobs ([`maintenance`]), and the blob store seam ([`blob`]).
//!
//! This module stores rows; it knows nothing about passwords, tokens or HTTP. PII arrives
//! already encrypted and secrets already hashed: the server owns the cryptography.

pub mod accounts;
pub mod audit;
pub mod blob;
pub mod job_kind;
pub mod jobs;
pub mod kv;
pub mod maintenance;
pub mod worker;

use std::sync::Arc;

pub use accounts::{
    AccountStatus, AccountStore, NewUser, RefreshConsumed, RefreshTokenRecord, Role, UserFilter,
    UserId, UserRecord,
};
pub use audit::{
    Action, AuditEntry, AuditFilter, AuditFormat, AuditLog, AuditRecord, AuditVerification,
};
pub use blob::{BlobStore, BlobWriter};
pub use job_kind::{JobKind, NoPayload};
pub use jobs::{Job, JobFilter, JobQueue, JobStatus, LeaseRecovery, NewJob};
pub use kv::{KeyValue, LocalKeyValue};

/// The platform stores that share the resource store's database.
#[derive(Debug, Clone)]
pub struct Platform {
    /// Users and refresh tokens.
    pub accounts: Arc<dyn AccountStore>,
    /// The audit trail.
    pub audit: Arc<dyn AuditLog>,
    /// The durable job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// The durable key-value store (the `kv` table): security state of a deployment without
    /// Redis.
    pub kv: Arc<dyn KeyValue>,
}
