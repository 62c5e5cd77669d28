//! The job loop shared by the server (embedded worker) and `medilink-worker`: a [`Registry`]
//! of [`JobHandler`]s by kind, run by a [`Worker`] with `concurrency` slots.
//!
//! Each slot leases a job of a registered kind, runs its handler while a heartbeat keeps the
//! lease, then completes it or fails it with a retry after the [`Backoff`] delay (the queue
//! turns the last failed attempt into the dead letter). A handler that loses its lease is
//! dropped: someone else has the job now. On shutdown the worker stops leasing, gives running
//! handlers `shutdown_grace` to finish, then releases the jobs still running (the attempt is not
//! spent). A handler that panics fails its attempt and is retried.
//!
//! Periodic jobs ([`Periodic`]) go through the same queue: the scheduler enqueues the next
//! instance of each registered periodic kind with [`JobQueue::enqueue_unique`], keyed by kind,
//! due one interval after the last finished instance, so any number of processes can run the
//! scheduler and there is still one live instance per kind. Finished instances are kept for
//! [`PERIODIC_HISTORY`].

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinSet;

use medilink_fhir::clock::Clock;
use medilink_fhir::error::{ErrorKind, FhirError};
use medilink_fhir::jobs::{Job, JobFilter, JobQueue, JobStatus, NewJob};

/// How a handler's run ended well.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// `Completed` or `NeedsReview`.
    pub status: JobStatus,
    /// Stored as the job's result.
    pub result: serde_json::Value,
}

impl JobOutcome {
    /// Done, with `result`.
    pub fn completed(result: serde_json::Value) -> Self {
        JobOutcome {
            status: JobStatus::Completed,
            result,
        }
    }

    /// Done, waiting for a person's review, with `result`.
    pub fn needs_review(result: serde_json::Value) -> Self {
        JobOutcome {
            status: JobStatus::NeedsReview,
            result,
        }
    }
}

/// How a handler's run failed. The message is stored on the job: no patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    /// What went wrong.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

impl JobError {
    /// A failure worth another attempt (a service was down, a timeout).
    pub fn retryable(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure no retry will fix (bad input): the job fails now.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl From<FhirError> for JobError {
    fn from(err: FhirError) -> Self {
        let retryable = matches!(
            err.kind(),
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Internal | ErrorKind::Conflict
        );
        JobError {
            message: err.to_string(),
            retryable,
        }
    }
}

/// Runs the jobs of one kind. Jobs are delivered at least once: handlers are idempotent.
#[async_trait]
pub trait JobHandler: Send + Sync + Debug {
    /// Runs `job`.
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError>;
}

/// How long finished instances of periodic jobs are kept.
pub const PERIODIC_HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A kind that runs on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Periodic {
    /// The job kind (its handler must be registered).
    pub kind: String,
    /// Time from the end of one run to the start of the next.
    pub every: Duration,
}

/// Handlers by kind, and the periodic kinds among them.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    handlers: BTreeMap<String, Arc<dyn JobHandler>>,
    periodic: Vec<Periodic>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `handler` for `kind` (replacing any earlier one).
    pub fn register(&mut self, kind: impl Into<String>, handler: Arc<dyn JobHandler>) -> &mut Self {
        self.handlers.insert(kind.into(), handler);
        self
    }

    /// Registers `handler` for `kind` and schedules it every `every`.
    pub fn register_periodic(
        &mut self,
        kind: impl Into<String>,
        every: Duration,
        handler: Arc<dyn JobHandler>,
    ) -> &mut Self {
        let kind = kind.into();
        self.periodic.retain(|p| p.kind != kind);
        self.periodic.push(Periodic {
            kind: kind.clone(),
            every,
        });
        self.register(kind, handler)
    }

    /// Replaces every registered handler by `decorate(kind, handler)` (a decorator: metrics,
    /// tracing), keeping the kinds and the schedules.
    pub fn decorate(
        &mut self,
        decorate: impl Fn(&str, Arc<dyn JobHandler>) -> Arc<dyn JobHandler>,
    ) -> &mut Self {
        for (kind, handler) in &mut self.handlers {
            *handler = decorate(kind, handler.clone());
        }
        self
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }

    /// The periodic kinds.
    pub fn periodic(&self) -> &[Periodic] {
        &self.periodic
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }
}

/// Retry delays: `base × 2^(attempt − 1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name in leases (unique per process: host, pid, random part).
    pub worker_id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Lease length; heartbeats renew it every third of it.
    pub lease: Duration,
    /// Wait between polls when the queue is empty.
    pub poll: Duration,
    /// Retry delays.
    pub backoff: Backoff,
    /// How long running jobs may finish after shutdown before they are released.
    pub shutdown_grace: Duration,
    /// How often the periodic scheduler looks (`None`: no scheduler in this worker).
    pub schedule_every: Option<Duration>,
}

impl WorkerOptions {
    /// Defaults: 4 slots, 60 s leases, 1 s poll, 5 s..1 h backoff, 20 s grace, scheduler
    /// every 30 s.
    pub fn new(worker_id: impl Into<String>) -> Self {
        WorkerOptions {
            worker_id: worker_id.into(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            backoff: Backoff::default(),
            shutdown_grace: Duration::from_secs(20),
            schedule_every: Some(Duration::from_secs(30)),
        }
    }
}

/// What one [`Worker::run_once`] step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// No runnable job.
    Idle,
    /// Ran a job; the status it ended in (`Pending` when it will be retried).
    Ran {
        /// The job.
        id: uuid::Uuid,
        /// Its kind.
        kind: String,
        /// Where it is now.
        status: JobStatus,
    },
    /// Ran a job but lost its lease meanwhile: the outcome was dropped.
    LostLease {
        /// The job.
        id: uuid::Uuid,
    },
}

/// Aborts a spawned handler when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The job loop.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    options: WorkerOptions,
}

/// How a run ended, for the final log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs run to an outcome (completed, failed, retried).
    pub ran: u64,
    /// Jobs released at shutdown.
    pub released: u64,
    /// Queue errors (logged, then retried after a poll).
    pub errors: u64,
}

impl Worker {
    /// A worker over `queue` for the kinds in `registry`.
    pub fn new(
        queue: Arc<dyn JobQueue>,
        registry: Registry,
        clock: Arc<dyn Clock>,
        options: WorkerOptions,
    ) -> Self {
        Worker {
            queue,
            registry: Arc::new(registry),
            clock,
            options,
        }
    }

    /// Leases and runs at most one job (the step of the loop; tests drive it directly).
    pub async fn run_once(&self) -> Result<Step, FhirError> {
        let kinds = self.registry.kinds();
        let Some(job) = self
            .queue
            .lease(&self.options.worker_id, &kinds, self.options.lease)
            .await?
        else {
            return Ok(Step::Idle);
        };
        self.run_job(job).await
    }

    /// Runs a leased job: handler under heartbeats, then complete or fail.
    async fn run_job(&self, job: Job) -> Result<Step, FhirError> {
        let worker = self.options.worker_id.as_str();
        let Some(handler) = self.registry.handler(&job.kind) else {
            // Leases ask for registered kinds only; a registry swap could still get here.
            self.queue.release(job.id, worker).await?;
            return Ok(Step::Idle);
        };
        tracing::debug!(job = %job.id, kind = %job.kind, attempt = job.attempts, "job started");
        // The job's span (exported with `--otlp-endpoint`; free otherwise) continues the trace
        // of the request that enqueued it. Kind, id and attempt only: no payload.
        let span = tracing::debug_span!(
            target: "medilink_otel::job",
            "job",
            otel.name = %job.kind,
            otel.kind = "consumer",
            job.kind = %job.kind,
            job.id = %job.id,
            job.attempt = job.attempts,
        );
        #[cfg(feature = "otel")]
        crate::telemetry::continue_trace(&span, job.trace_context.as_deref());
        let shared = Arc::new(job);
        let running = {
            let job = shared.clone();
            tokio::spawn(tracing::Instrument::instrument(
                async move { handler.run(&job).await },
                span,
            ))
        };
        // Dropping this future (shutdown after the grace period) stops the handler too.
        let _abort = AbortOnDrop(running.abort_handle());
        let outcome = tokio::select! {
            joined = running => Some(joined),
            () = self.keep_lease(shared.id) => None,
        };
        let job = shared;
        let Some(joined) = outcome else {
            tracing::warn!(job = %job.id, kind = %job.kind, "lease lost while running; dropped");
            return Ok(Step::LostLease { id: job.id });
        };
        let outcome = joined.unwrap_or_else(|err| {
            Err(JobError::retryable(if err.is_panic() {
                "the handler panicked"
            } else {
                "the handler was cancelled"
            }))
        });
        let (held, status) = match outcome {
            Ok(done) => {
                let status = done.status;
                let held = self
                    .queue
                    .complete(job.id, worker, status, done.result)
                    .await?;
                tracing::info!(job = %job.id, kind = %job.kind, %status, "job finished");
                (held, status)
            }
            Err(err) => {
                let retry_after = self.options.backoff.delay(job.attempts);
                let held = self
                    .queue
                    .fail(job.id, worker, &err.message, err.retryable, retry_after)
                    .await?;
                let will_retry = err.retryable && job.attempts < job.max_attempts;
                let status = if will_retry {
                    JobStatus::Pending
                } else {
                    JobStatus::Failed
                };
                tracing::warn!(
                    job = %job.id, kind = %job.kind, attempt = job.attempts,
                    error = %err.message, will_retry, "job attempt failed"
                );
                (held, status)
            }
        };
        if !held {
            tracing::warn!(job = %job.id, "lease lost before the outcome was stored");
            return Ok(Step::LostLease { id: job.id });
        }
        Ok(Step::Ran {
            id: job.id,
            kind: job.kind.clone(),
            status,
        })
    }

    /// Renews the lease every third of its length; returns when it is lost.
    async fn keep_lease(&self, id: uuid::Uuid) {
        let every = self.options.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match self
                .queue
                .heartbeat(id, &self.options.worker_id, self.options.lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                // A failed heartbeat is retried; the lease has two more thirds to go.
                Err(err) => tracing::warn!(job = %id, error = %err, "heartbeat failed"),
            }
        }
    }

    /// Enqueues the next instance of every periodic kind that has none live; returns how
    /// many were enqueued.
    pub async fn schedule_periodic(&self) -> Result<usize, FhirError> {
        let mut enqueued = 0;
        for periodic in self.registry.periodic() {
            let last = self
                .queue
                .list(&JobFilter {
                    kind: Some(periodic.kind.clone()),
                    statuses: vec![
                        JobStatus::Completed,
                        JobStatus::NeedsReview,
                        JobStatus::Failed,
                    ],
                    limit: Some(1),
                    ..JobFilter::default()
                })
                .await?;
            let now = self.clock.now();
            let run_at = last.first().map_or(now, |job| {
                job.updated_at + time::Duration::try_from(periodic.every).unwrap_or_default()
            });
            let job = NewJob {
                kind: periodic.kind.clone(),
                payload: serde_json::json!({}),
                owner: None,
                max_attempts: 3,
                run_at: Some(run_at.max(now)),
            };
            if self
                .queue
                .enqueue_unique(job, &periodic.kind)
                .await?
                .is_some()
            {
                enqueued += 1;
                let horizon = now - time::Duration::try_from(PERIODIC_HISTORY).unwrap_or_default();
                self.queue.delete_finished(&periodic.kind, horizon).await?;
            }
        }
        Ok(enqueued)
    }

    /// Runs until `shutdown` completes: `concurrency` slots leasing and running jobs, and the
    /// periodic scheduler when enabled. Then lets running jobs finish for `shutdown_grace` and
    /// releases the rest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut slots = JoinSet::new();
        for _ in 0..self.options.concurrency.max(1) {
            let worker = self.clone();
            let stop = stop_rx.clone();
            slots.spawn(async move { worker.slot(stop).await });
        }
        if let Some(every) = self.options.schedule_every {
            let worker = self.clone();
            let mut stop = stop_rx.clone();
            slots.spawn(async move {
                let mut report = WorkerReport::default();
                loop {
                    if let Err(err) = worker.schedule_periodic().await {
                        report.errors += 1;
                        tracing::warn!(error = %err, "scheduling periodic jobs failed");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return report,
                    }
                }
            });
        }
        tracing::info!(
            worker = %self.options.worker_id,
            concurrency = self.options.concurrency,
            kinds = ?self.registry.kinds(),
            "worker started"
        );
        shutdown.await;
        tracing::info!(worker = %self.options.worker_id, "worker stopping");
        let _ = stop_tx.send(true);
        let mut report = WorkerReport::default();
        while let Some(joined) = slots.join_next().await {
            if let Ok(slot) = joined {
                report.ran += slot.ran;
                report.released += slot.released;
                report.errors += slot.errors;
            }
        }
        tracing::info!(
            worker = %self.options.worker_id,
            ran = report.ran, released = report.released, "worker stopped"
        );
        report
    }

    /// One slot: lease, run, repeat; idle polls wait `poll`.
    async fn slot(&self, mut stop: watch::Receiver<bool>) -> WorkerReport {
        let mut report = WorkerReport::default();
        let worker = self.options.worker_id.as_str();
        let kinds = self.registry.kinds();
        loop {
            if *stop.borrow() {
                return report;
            }
            let leased = self.queue.lease(worker, &kinds, self.options.lease).await;
            let job = match leased {
                Ok(Some(job)) => job,
                Ok(None) => {
                    tokio::select! {
                        () = tokio::time::sleep(self.options.poll) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
                Err(err) => {
                    report.errors += 1;
                    tracing::warn!(error = %err, "leasing a job failed");
                    tokio::select! {
                        () = tokio::time::sleep(self.options.poll) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            let id = job.id;
            let mut run = Box::pin(self.run_job(job));
            let finished = tokio::select! {
                step = &mut run => Some(step),
                _ = stop.changed() => None,
            };
            let step = match finished {
                Some(step) => step,
                // Shutting down: give the job its grace period, then release it.
                None => match tokio::time::timeout(self.options.shutdown_grace, &mut run).await {
                    Ok(step) => step,
                    Err(_) => {
                        drop(run); // stops the handler
                        match self.queue.release(id, worker).await {
                            Ok(true) => report.released += 1,
                            Ok(false) => {}
                            Err(err) => {
                                report.errors += 1;
                                tracing::warn!(job = %id, error = %err, "release failed");
                            }
                        }
                        tracing::info!(job = %id, "job released at shutdown");
                        return report;
                    }
                },
            };
            match step {
                Ok(Step::Ran { .. }) => report.ran += 1,
                Ok(_) => {}
                Err(err) => {
                    report.errors += 1;
                    tracing::warn!(job = %id, error = %err, "storing a job outcome failed");
                }
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C: the shutdown signal of the server and of `medilink-worker`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (1..=6).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(backoff.delay(0).as_secs(), 5);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    }

    #[derive(Debug)]
    struct Nothing;

    #[async_trait]
    impl JobHandler for Nothing {
        async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
            Ok(JobOutcome::completed(serde_json::Value::Null))
        }
    }

    #[test]
    fn decorate_wraps_every_handler_and_keeps_kinds_and_schedules() {
        let mut registry = Registry::new();
        registry.register("a", Arc::new(Nothing));
        registry.register_periodic("b", Duration::from_secs(60), Arc::new(Nothing));
        let wrapper: Arc<dyn JobHandler> = Arc::new(Nothing);
        let seen = std::cell::RefCell::new(Vec::new());
        registry.decorate(|kind, _inner| {
            seen.borrow_mut().push(kind.to_owned());
            wrapper.clone()
        });
        assert_eq!(seen.into_inner(), ["a", "b"]);
        assert_eq!(registry.kinds(), ["a", "b"]);
        assert_eq!(registry.periodic().len(), 1);
        for kind in ["a", "b"] {
            let handler = registry.handler(kind).expect("registered");
            assert!(Arc::ptr_eq(&handler, &wrapper), "{kind}");
        }
    }

    #[test]
    fn store_errors_map_to_retryable_or_permanent() {
        let down = FhirError::Unavailable {
            source: "pool".into(),
        };
        assert!(JobError::from(down).retryable);
        assert!(!JobError::from(FhirError::bad_request("bad payload")).retryable);
    }
}
