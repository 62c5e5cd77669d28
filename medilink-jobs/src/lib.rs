//! `medilink-jobs`: the one job registry both hosts call. [`register_jobs`] registers every
//! queue-wide kind — `document.ingest` (and its `document.relay`), `fhir.export`, `research.export`, the notification
//! deliveries, the maintenance jobs, `audit.verify` and `research.expiry` — with handlers built from [`JobDeps`]; the server's embedded worker and
//! `medilink-worker` both call it, so a kind added here runs wherever the queue is worked
//! (a kind registered by one host only would stall under `serve --no-worker`).
//!
//! Not here: `maintenance.fulltext` and `maintenance.reindex` (they catch up and rebuild *this
//! process's* full-text index, so only a process holding one — the server — registers them,
//! next to its follower task) and the
//! worker's hidden `--enable-test-handlers` kinds.
//!
//! Each kind's payload and result are serde structs named by its
//! [`JobKind`] implementation (the handler type); this crate
//! sits between the hosts and the handler crates only because it must know them all
//! (ARCHITECTURE.md, "Jobs and blobs").
//!
//! # Embedding
//!
//! A service that works MediLink's queue in its own process builds a
//! [`Registry`], calls [`register_jobs`] with its
//! [`JobDeps`], registers kinds of its own beside them, and runs a
//! [`Worker`](medilink_platform::worker::Worker) over it (`medilink_platform`'s quick start
//! shows the worker; `examples/custom_job.rs` a kind of one's own). [`kinds`] lists what a
//! host must register.
//!
//! This crate has no feature flags.
#![warn(missing_docs)]

use std::sync::Arc;

use medilink_consent::expiry::{ConsentExpiry, register_expiry};
use medilink_consent::export::BulkExport;
use medilink_consent::notices::{ConsentNotices, register_notices};
use medilink_consent::research::{self, ResearchExport};
use medilink_fhir::blob::BlobStore;
use medilink_fhir::jobs::JobKind;
use medilink_fhir::jobs::JobQueue;
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{Clock, IdGen, ResourceStore};
use medilink_ingest::Pipeline;
use medilink_ingest::job::DocumentIngest;
use medilink_ingest::job::relay::{DocumentRelay, register_relay};
use medilink_platform::admin_jobs::register_admin_jobs;
use medilink_platform::maintenance::register_maintenance;
use medilink_platform::notifications::{Mailer, Notifications, register_notifications};
use medilink_platform::worker::Registry;
use medilink_platform::{AccountStore, AuditLog};

#[cfg(test)]
mod tests;

/// What the job handlers need. `store` is the platform's unguarded store: document work was
/// authorized when it was queued, an export guards it again as its requester, and a research
/// export writes only de-identified output.
#[derive(Clone)]
pub struct JobDeps {
    /// The platform's resource store.
    pub store: Arc<dyn ResourceStore>,
    /// Accounts (expired refresh tokens).
    pub accounts: Arc<dyn AccountStore>,
    /// The audit trail (one record per finished export).
    pub audit: Arc<dyn AuditLog>,
    /// The job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// Uploaded documents and export files.
    pub blobs: Arc<dyn BlobStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Ids of published resources and blobs.
    pub ids: Arc<dyn IdGen>,
    /// The ingest pipeline of `document.ingest`.
    pub pipeline: Pipeline,
    /// The deployment's research key (pseudonyms of `research.export`).
    pub research_key: [u8; 32],
    /// How long research exports and their files are kept (`research.expiry`).
    pub research_ttl: std::time::Duration,
    /// The notifications service (`notification.deliver`, `notification.sweep`).
    pub notifications: Notifications,
    /// The e-mail channel's mailer.
    pub mailer: Arc<dyn Mailer>,
    /// The portal's base URL that notices link to.
    pub portal_url: String,
    /// The security state's key-value store (Redis or the database's `kv` table: what the
    /// server's consent service uses), holding the `consent.notices` cursor.
    pub kv: Arc<dyn KeyValue>,
}

impl std::fmt::Debug for JobDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDeps")
            .field("store", &self.store)
            .field("jobs", &self.jobs)
            .field("blobs", &self.blobs)
            .field("pipeline", &self.pipeline)
            .field("research_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl JobDeps {
    /// The `document.ingest` service (upload and job), telling the uploader and the patient
    /// through `notifications`.
    pub fn documents(&self) -> DocumentIngest {
        DocumentIngest::new(
            self.store.clone(),
            self.blobs.clone(),
            self.jobs.clone(),
            self.ids.clone(),
            self.clock.clone(),
            self.pipeline.clone(),
        )
        .with_audit(self.audit.clone())
        .with_notify(Arc::new(self.notifications.clone()))
    }

    /// The `document.relay` job: queues the job of an uploaded document that has none (a
    /// crash between the upload's two writes), its cursor in `kv`.
    pub fn document_relay(&self) -> DocumentRelay {
        DocumentRelay::new(self.documents(), self.kv.clone())
    }

    /// The `fhir.export` service (kick-off, status, files and job), auditing finished runs.
    pub fn exports(&self) -> BulkExport {
        BulkExport::new(
            self.store.clone(),
            self.blobs.clone(),
            self.jobs.clone(),
            self.clock.clone(),
        )
        .with_audit(self.audit.clone())
    }

    /// The `research.export` service (kick-off, list, status, files, job and expiry), telling
    /// the researcher when an export is ready through `notifications`.
    pub fn research(&self) -> ResearchExport {
        ResearchExport::new(
            self.store.clone(),
            self.blobs.clone(),
            self.jobs.clone(),
            self.clock.clone(),
            self.research_key,
        )
        .with_ttl(self.research_ttl)
        .with_notify(Arc::new(self.notifications.clone()))
    }
}

/// Registers every queue-wide job kind with handlers built from `deps`: `document.ingest`,
/// the periodic `document.relay`, `fhir.export`, `research.export`, `notification.deliver`, `audit.verify`, and the periodic
/// `maintenance.tokens`, `maintenance.stale_jobs`, `maintenance.statistics`,
/// `notification.sweep`, `consent.notices`, `results.notices`, `consent.expiry` and
/// `research.expiry`.
pub fn register_jobs(registry: &mut Registry, deps: &JobDeps) {
    register_notifications(
        registry,
        &deps.notifications,
        deps.mailer.clone(),
        &deps.portal_url,
    );
    registry.register(DocumentIngest::KIND, Arc::new(deps.documents()));
    register_relay(registry, deps.document_relay());
    registry.register(BulkExport::KIND, Arc::new(deps.exports()));
    registry.register(ResearchExport::KIND, Arc::new(deps.research()));
    medilink_platform::notifications::results::register_result_notices(
        registry,
        medilink_platform::notifications::ResultNotices::new(
            Arc::new(deps.notifications.clone()),
            deps.store.clone(),
            deps.kv.clone(),
            deps.clock.clone(),
        ),
    );
    register_notices(
        registry,
        ConsentNotices {
            store: deps.store.clone(),
            notify: Arc::new(deps.notifications.clone()),
            kv: deps.kv.clone(),
            clock: deps.clock.clone(),
        },
    );
    research::register_expiry(registry, deps.research());
    register_expiry(
        registry,
        ConsentExpiry {
            store: deps.store.clone(),
            notify: Arc::new(deps.notifications.clone()),
            clock: deps.clock.clone(),
        },
    );
    register_maintenance(
        registry,
        deps.store.clone(),
        deps.accounts.clone(),
        deps.jobs.clone(),
        deps.clock.clone(),
    );
    register_admin_jobs(registry, deps.audit.clone(), deps.jobs.clone());
}

/// The kinds [`register_jobs`] registers, sorted (what every host's registry must contain).
pub fn kinds(deps: &JobDeps) -> Vec<String> {
    let mut registry = Registry::new();
    register_jobs(&mut registry, deps);
    registry.kinds().into_iter().map(str::to_owned).collect()
}
