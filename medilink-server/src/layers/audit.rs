//! The audit trail of patient-data access: the `record` middleware describes every request to
//! an audited route (the action its [`Meta`] names, declared in `routes.rs`: `/fhir/**` but
//! `metadata`, `/api/search`, `/api/documents…`) and hands it to [`AuditSink`], a bounded
//! queue drained by one writer task that appends in batches (group commit) to the
//! [`AuditLog`]. The response waits for its record to be stored — never dropped,
//! back-pressure when the queue is full — so a completed request always has its record, even
//! if the process is killed right after.
//!
//! The writer is the amortisation (issue #19): every request that finishes while a batch
//! commits queues behind it, and the next append takes them all in one transaction (one WAL
//! sync on SQLite, one round trip per chunk of rows on PostgreSQL), on the log's own
//! connection (`medilink_platform::sql`), so it never waits for the store's pool. A batch whose
//! commit fails is answered as failed, at once: each of its requests gets `503` instead of its
//! answer (fail closed; nothing is retried behind a waiting client's back, and a record that
//! might not be stored never lets data out).
//!
//! What a record names comes from the access decision, not from the URL: the middleware puts
//! a collecting [`Accessed`] sink into the request's extensions, the [`crate::context::RequestCaller`]
//! extractor carries it in the request's `RequestContext`, the consent guard records every
//! resource it returned or changed with the patients it belongs to, and the record holds
//! those resources (`Type/id`), patients and types. Only the action (and the type the URL
//! named) comes from the route. A Bundle is one record listing every entry's
//! resources and patients.
//!
//! Admin actions are not about resources: their handlers say what they did through the
//! request's `AuditNote` — a more precise action than the route's (the one route of
//! `POST /api/admin/users/{id}/{action}`) and the subjects acted on (`User/{id}`,
//! `Invitation/{id}`, `Job/{id}`), kept with the record's resources — even when the action
//! then fails. A request made with a SMART app's token names the app in the record's
//! `detail` (`smart-app {client_id}`), as do the token events the OAuth handlers note.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medilink_fhir::Accessed;
use medilink_platform::{AuditEntry, AuditLog, Caller};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Principal;
use crate::auth::limits::client_ip;
use crate::error::ApiError;
use crate::layers::request_id::RequestId;
use crate::route_meta::{Action, Meta};
use crate::state::AppState;

/// Records per append transaction at most.
const BATCH: usize = 256;
/// Scheduler turns the writer waits for more records before committing a batch.
const LINGER_TURNS: usize = 2;
/// Queue capacity (requests wait when it is full).
const CAPACITY: usize = 4096;
/// How long a response waits for its record before failing closed with `503`.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// A record and where to say whether it was stored.
type Job = (AuditEntry, oneshot::Sender<bool>);

/// What a handler adds to its request's audit record (see the module docs). A handler of a
/// route that is not audited gets a detached note that goes nowhere.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditNote(Arc<std::sync::Mutex<Note>>);

#[derive(Debug, Default)]
struct Note {
    action: Option<Action>,
    subjects: Vec<String>,
    detail: Option<String>,
}

impl AuditNote {
    fn note(&self) -> std::sync::MutexGuard<'_, Note> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record names `action` instead of the route's.
    pub(crate) fn action(&self, action: Action) -> &Self {
        self.note().action = Some(action);
        self
    }

    /// The record names `subject` (`Type/id`) among what the request acted on.
    pub(crate) fn subject(&self, subject: impl Into<String>) -> &Self {
        self.note().subjects.push(subject.into());
        self
    }

    /// The record's `detail` (the SMART app a token event concerns: issue #17).
    pub(crate) fn detail(&self, detail: impl Into<String>) -> &Self {
        self.note().detail = Some(detail.into());
        self
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuditNote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<AuditNote>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The sending side of the audit queue.
#[derive(Debug, Clone)]
pub struct AuditSink {
    sender: mpsc::Sender<Job>,
}

impl AuditSink {
    /// Starts the writer task on `log`.
    pub fn start(log: Arc<dyn AuditLog>) -> AuditSink {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        tokio::spawn(write_loop(log, receiver));
        AuditSink { sender }
    }

    /// Queues `entry` and waits until its batch is committed; `false` when the commit failed
    /// or timed out.
    pub async fn record(&self, entry: AuditEntry) -> bool {
        let (done, stored) = oneshot::channel();
        if self.sender.send((entry, done)).await.is_err() {
            return false;
        }
        matches!(
            tokio::time::timeout(ACK_TIMEOUT, stored).await,
            Ok(Ok(true))
        )
    }

    /// Records waiting in the queue for the writer (those of the batch being written are not
    /// counted).
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// Waits until every record queued so far is stored (shutdown).
    pub async fn flush(&self) {
        // The queue is FIFO: once a sentinel-free wait on capacity returns, earlier jobs were
        // taken; waiting for all permits means the writer drained them.
        let _ = tokio::time::timeout(
            ACK_TIMEOUT,
            self.sender.reserve_many(self.sender.max_capacity()),
        )
        .await;
    }
}

async fn write_loop(log: Arc<dyn AuditLog>, mut receiver: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut jobs, BATCH).await > 0 {
        // Linger for two scheduler turns so that requests finishing concurrently join this
        // batch: fewer, larger commits (each commit is a WAL sync on SQLite).
        for _ in 0..LINGER_TURNS {
            if jobs.len() >= BATCH {
                break;
            }
            tokio::task::yield_now().await;
            while jobs.len() < BATCH {
                match receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let (entries, waiting): (Vec<AuditEntry>, Vec<oneshot::Sender<bool>>) =
            jobs.drain(..).unzip();
        let stored = match log.append(&entries).await {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(error = %err, records = entries.len(), "audit append failed: the batch's requests fail");
                false
            }
        };
        for done in waiting {
            let _ = done.send(stored);
        }
    }
}

/// Middleware: writes the audit record of every audited request, naming what the request's
/// disclosure sink collected.
pub(crate) async fn record(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(action) = Meta::of_request(&request).audit else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let accessed = Accessed::collecting();
    request.extensions_mut().insert(accessed.clone());
    let note = AuditNote::default();
    request.extensions_mut().insert(note.clone());
    // The authenticated principal, or the caller an embedder's authentication supplied
    // (`crate::fhir_router`).
    let caller = match request.extensions().get::<Principal>() {
        Some(principal) => Some(principal.caller()),
        None => request.extensions().get::<Caller>().cloned(),
    };
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|RequestId(id)| id.clone())
        .unwrap_or_default();
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    let resource_type = path.strip_prefix("/fhir/R4/").and_then(|rest| {
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            // An export file is a read of many resources of its type.
            ["$export-file", _, file] => file.strip_suffix(".ndjson").map(str::to_owned),
            _ => segments
                .first()
                .filter(|segment| !segment.starts_with('_') && !segment.starts_with('$'))
                .map(|segment| (*segment).to_owned()),
        }
    });
    let response = next.run(request).await;
    let (action, subjects, noted) = {
        let mut note = note.note();
        (
            note.action.unwrap_or(action),
            std::mem::take(&mut note.subjects),
            note.detail.take(),
        )
    };
    // A request through a SMART app names the app (issue #17: the patient's access log shows
    // which app read what).
    let through_app = caller
        .as_ref()
        .and_then(Caller::app)
        .map(|access| medilink_platform::audit::app_detail(&access.client_id));
    let mut entry = AuditEntry {
        at: app.clock.now(),
        actor: caller
            .as_ref()
            .and_then(Caller::user_id)
            .map(ToString::to_string),
        role: caller
            .as_ref()
            .and_then(Caller::role)
            .map(|role| role.as_str().to_owned()),
        action: action.into(),
        resource_type,
        resource_ids: Vec::new(),
        patients: Default::default(),
        resource_types: Vec::new(),
        outcome: response.status().as_u16(),
        client_ip: ip,
        request_id,
        detail: through_app.or(noted),
    }
    .disclosing(&accessed.summary());
    entry.resource_ids.extend(subjects);
    if app.audit.record(entry).await {
        response
    } else {
        tracing::error!("audit record not stored: response withheld");
        ApiError::from(medilink_fhir::FhirError::Unavailable {
            source: "audit trail unavailable".into(),
        })
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medilink_fhir::FhirResult;
    use medilink_platform::{AuditFilter, AuditRecord, AuditVerification};

    /// An audit log whose appends never finish (a stuck database).
    #[derive(Debug)]
    struct StuckLog;

    #[async_trait::async_trait]
    impl AuditLog for StuckLog {
        async fn append(&self, _entries: &[AuditEntry]) -> FhirResult<()> {
            std::future::pending().await
        }
        async fn list(&self, _filter: &AuditFilter) -> FhirResult<Vec<AuditRecord>> {
            Ok(Vec::new())
        }
        async fn verify(&self) -> FhirResult<AuditVerification> {
            Ok(AuditVerification {
                records: 0,
                first_broken: None,
            })
        }
        async fn count(&self, _filter: &AuditFilter) -> FhirResult<u64> {
            Ok(0)
        }
        async fn records_from(&self, _first: u64, _limit: usize) -> FhirResult<Vec<AuditRecord>> {
            Ok(Vec::new())
        }
    }

    fn entry(n: u16) -> AuditEntry {
        AuditEntry {
            at: time::macros::datetime!(2024-01-01 0:00 UTC),
            actor: None,
            role: None,
            action: medilink_platform::Action::Read.into(),
            resource_type: None,
            resource_ids: Vec::new(),
            patients: Default::default(),
            resource_types: Vec::new(),
            outcome: n,
            client_ip: None,
            request_id: format!("r{n}"),
            detail: None,
        }
    }

    #[tokio::test]
    async fn queued_counts_the_records_waiting_behind_the_writer() {
        let sink = AuditSink::start(Arc::new(StuckLog));
        assert_eq!(sink.queued(), 0);
        let mut waiting = Vec::new();
        for n in 0..3 {
            let sink = sink.clone();
            waiting.push(tokio::spawn(async move { sink.record(entry(n)).await }));
            // Let the record reach the queue (and the first one the writer's batch).
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
        }
        // The first record is in the batch the stuck writer holds; two wait behind it.
        assert_eq!(sink.queued(), 2);
        for task in waiting {
            task.abort();
        }
    }
}
