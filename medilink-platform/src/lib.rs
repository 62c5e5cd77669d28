//! `medilink-platform`: what a multi-user service needs around the FHIR store — user accounts
//! and refresh tokens ([`accounts`]), the tamper-evident audit chain ([`audit`]), the one
//! [`Caller`] type every crate above the store decides from ([`caller`]), the job loop and its
//! registry ([`worker`]; typed results of a `JobKind` in [`job_kind`]) with the periodic
//! maintenance jobs ([`maintenance`]) and the admin-started ones ([`admin_jobs`]), researcher
//! invitations ([`invitations`]), notifications — kinds, preferences, the outbox of
//! deliveries, channels and templates ([`notifications`]) — secret key files ([`keys`]) and SMART App Launch state ([`smart`]).
//! With the `sql` feature, `sql` keeps the account, audit and notification tables on the SQL
//! resource store's database. With the `otel` feature, `telemetry` exports the hosts' spans
//! over OTLP and carries a request's trace into the jobs it enqueues.
//!
//! This crate stores rows; it knows nothing about passwords, tokens or HTTP. PII arrives
//! already encrypted and secrets already hashed: the server owns the cryptography. The job
//! queue (with `JobKind`), key-value and blob seams it drives stay `medilink-fhir`'s
//! (`medilink_fhir::{jobs, kv, blob}`), built by its backend builder.
//!
//! # Quick start
//!
//! Open the store and the platform tables on one database, and run a job of one's own kind:
//!
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use medilink_fhir::jobs::{Job, NewJob};
//! use medilink_fhir::{Clock, IdGen, SqlOptions, SystemClock, UuidIdGen};
//! use medilink_platform::open_store_and_platform;
//! use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry, Step, Worker,
//!     WorkerOptions};
//!
//! #[derive(Debug)]
//! struct Hello;
//!
//! #[async_trait]
//! impl JobHandler for Hello {
//!     async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
//!         Ok(JobOutcome::completed(serde_json::json!({"greeted": job.payload["name"]})))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), medilink_fhir::FhirError> {
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//! let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
//! let options = SqlOptions::new("sqlite::memory:");
//! let (_store, platform) = open_store_and_platform(&options, clock.clone(), ids).await?;
//!
//! let mut registry = Registry::new();
//! registry.register("example.hello", Arc::new(Hello));
//! let worker = Worker::new(platform.jobs.clone(), registry, clock, WorkerOptions::new("w1"));
//! let job = platform
//!     .jobs
//!     .enqueue(NewJob::new("example.hello", serde_json::json!({"name": "world"})))
//!     .await?;
//! // One step of the loop (`Worker::run` loops until shutdown).
//! assert!(matches!(worker.run_once().await?, Step::Ran { .. }));
//! let done = platform.jobs.get(job.id).await?.expect("stored");
//! assert_eq!(done.result, Some(serde_json::json!({"greeted": "world"})));
//! # Ok(())
//! # }
//! ```
//!
//! `examples/custom_job.rs` shows a typed kind (`JobKind`) on a running worker, and
//! `examples/change_feed.rs` a consumer keeping its cursor in [`Platform::kv`].
//!
//! # Feature flags
//!
//! | Feature | Enables |
//! |---|---|
//! | `sql-sqlite` | `sql` on SQLite (`open_store_and_platform` with `sqlite://…` URLs) |
//! | `sql-postgres` | `sql` on PostgreSQL (`postgres://…`) |
//! | `sql` | the account, audit, job, key-value and notification tables on the resource store's database; turned on by either of the above |
//! | `tantivy` | the `maintenance.fulltext` job, the full-text index's catch-up |
//! | `smtp` | `notifications::smtp`, the SMTP mailer of notification e-mails |
#![warn(missing_docs)]

pub mod accounts;
pub mod admin_jobs;
pub mod audit;
pub mod caller;
pub mod invitations;
pub mod job_kind;
pub mod keys;
pub mod maintenance;
pub mod notifications;
pub mod smart;
#[cfg(feature = "sql")]
pub mod sql;
pub mod subscriptions;
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
    /// SMART App Launch clients, remembered decisions and app refresh tokens (issue #17).
    pub smart: Arc<dyn smart::SmartStore>,
    /// The delivery state of FHIR Subscriptions (issue #21).
    pub subscriptions: Arc<dyn subscriptions::SubscriptionStore>,
}
