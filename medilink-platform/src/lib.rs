//! `medilink-platform`: what a multi-user service needs around the FHIR store — user accounts
//! and refresh tokens ([`accounts`]), the tamper-evident audit chain ([`audit`]), the one
//! [`Caller`] type every crate above the store decides from ([`caller`]), the job loop and its
//! registry ([`worker`]; typed results of a `JobKind` in [`job_kind`]) with the periodic
//! maintenance jobs ([`maintenance`]) and the admin-started ones ([`admin_jobs`]), researcher
//! invitations ([`invitations`]), notifications — kinds, preferences, the outbox of
//! deliveries, channels and templates ([`notifications`]) — and secret key files ([`keys`]).
//! With the `sql` feature, `sql` keeps the account, audit and notification tables on the SQL
//! resource store's database. With the `otel` feature, `telemetry` exports the hosts' spans
//! over OTLP and carries a request's trace into the jobs it enqueues.
//!
//! This crate stores rows; it knows nothing about passwords, tokens or HTTP. PII arrives
//! already encrypted and secrets already hashed: the server owns the cryptography. The job
//! queue (with `JobKind`), key-value and blob seams it drives stay `medilink-fhir`'s
//! (`medilink_fhir::{jobs, kv, blob}`), built by its backend builder.

pub mod accounts;
pub mod admin_jobs;
pub mod audit;
pub mod caller;
pub mod invitations;
pub mod job_kind;
pub mod keys;
pub mod maintenance;
pub mod notifications;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod worker;

use std::sync::Arc;

pub use accounts::{
    AccountChange, AccountStatus, AccountStore, NewUser, RefreshConsumed, RefreshTokenRecord, Role,
    UserFilter, UserId, UserRecord,
};
pub use audit::{
    Action, AuditEntry, AuditFilter, AuditFormat, AuditLog, AuditRecord, AuditVerification,
    BrokenRecord,
};
pub use caller::{Caller, CallerContext};
pub use invitations::{Invitation, InvitationAcceptance, NewInvitation};
use medilink_fhir::jobs::JobQueue;
use medilink_fhir::kv::KeyValue;
#[cfg(feature = "sql")]
pub use sql::{open_store_and_platform, platform_stores};

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
    /// Notices, deliveries and notification preferences.
    pub notifications: Arc<dyn notifications::NotificationStore>,
}
