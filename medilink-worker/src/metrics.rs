//! The worker's Prometheus metrics, served at `GET /metrics` on `--metrics-listen`: jobs run,
//! succeeded and failed by kind, job durations, jobs running in this process, and the queue's
//! jobs by status (read at scrape time).
//!
//! Same crate as the server's `/metrics` (`prometheus-client`: small, no global recorder, no
//! listener of its own). Job kinds are the registered ones, so the labels are bounded; a job's
//! payload or id never becomes a label. The crate's `Histogram` takes a mutex per observation,
//! which is nothing next to a job (the server's per-request path uses atomics only).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use medilink_fhir::jobs::{Job, JobQueue, jobs_per_status};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome, Registry};
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry as MetricsRegistry;

/// Upper bounds of the job duration buckets, in seconds: 10 ms to 10 min.
pub const JOB_DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// The worker's metrics and their registry.
#[derive(Debug)]
pub struct WorkerMetrics {
    registry: MetricsRegistry,
    run: Family<KindLabel, Counter>,
    succeeded: Family<KindLabel, Counter>,
    failed: Family<KindLabel, Counter>,
    durations: Family<KindLabel, Histogram>,
    running: Gauge,
    jobs: Family<StatusLabel, Gauge>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics::new()
    }
}

impl WorkerMetrics {
    /// A registry with every metric of the worker, prefixed `medilink_`.
    pub fn new() -> WorkerMetrics {
        let mut registry = MetricsRegistry::with_prefix("medilink");
        let run = Family::<KindLabel, Counter>::default();
        registry.register(
            "worker_jobs_run",
            "Jobs this process started, by kind",
            run.clone(),
        );
        let succeeded = Family::<KindLabel, Counter>::default();
        registry.register(
            "worker_jobs_succeeded",
            "Jobs this process completed (or left for review), by kind",
            succeeded.clone(),
        );
        let failed = Family::<KindLabel, Counter>::default();
        registry.register(
            "worker_jobs_failed",
            "Job attempts that failed in this process, by kind",
            failed.clone(),
        );
        let durations = Family::<KindLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(JOB_DURATION_BUCKETS)) as fn() -> Histogram,
        );
        registry.register(
            "worker_job_duration_seconds",
            "Job run durations in this process, by kind",
            durations.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "worker_jobs_running",
            "Jobs running in this process",
            running.clone(),
        );
        let jobs = Family::<StatusLabel, Gauge>::default();
        registry.register("jobs", "Jobs in the queue by status", jobs.clone());
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The worker's version (always 1)", build);
        WorkerMetrics {
            registry,
            run,
            succeeded,
            failed,
            durations,
            running,
            jobs,
        }
    }

    /// Wraps every handler of `registry` so that its runs are counted and timed.
    pub fn instrument(self: &Arc<Self>, registry: &mut Registry) {
        registry.decorate(|kind, inner| {
            Arc::new(Metered {
                kind: KindLabel {
                    kind: kind.to_owned(),
                },
                inner,
                metrics: self.clone(),
            })
        });
    }

    /// Reads the queue's counts, then renders the registry in the Prometheus text format.
    pub async fn scrape(&self, queue: &dyn JobQueue) -> Result<String, std::fmt::Error> {
        match jobs_per_status(queue).await {
            Ok(counts) => {
                for (status, count) in counts {
                    let status = status.as_str();
                    self.jobs.get_or_create(&StatusLabel { status }).set(count);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics: counting jobs failed");
                self.jobs.clear();
            }
        }
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// A handler decorator that counts and times its runs.
#[derive(Debug)]
struct Metered {
    kind: KindLabel,
    inner: Arc<dyn JobHandler>,
    metrics: Arc<WorkerMetrics>,
}

#[async_trait]
impl JobHandler for Metered {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let metrics = &self.metrics;
        metrics.run.get_or_create(&self.kind).inc();
        let running = Running::enter(&metrics.running);
        let started = tokio::time::Instant::now();
        let result = self.inner.run(job).await;
        drop(running);
        metrics
            .durations
            .get_or_create(&self.kind)
            .observe(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() {
            &metrics.succeeded
        } else {
            &metrics.failed
        };
        outcome.get_or_create(&self.kind).inc();
        result
    }
}

/// One job in `medilink_worker_jobs_running` until dropped (also when the run is aborted).
#[derive(Debug)]
struct Running<'a>(&'a Gauge);

impl<'a> Running<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Running(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[derive(Debug, Clone)]
struct Scrape {
    metrics: Arc<WorkerMetrics>,
    queue: Arc<dyn JobQueue>,
}

async fn scrape(State(scrape): State<Scrape>) -> Response {
    match scrape.metrics.scrape(scrape.queue.as_ref()).await {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
            );
            response
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Binds `listen` and serves `GET /metrics` on it in a background task.
pub async fn serve(
    listen: SocketAddr,
    metrics: Arc<WorkerMetrics>,
    queue: Arc<dyn JobQueue>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("--metrics-listen / MEDILINK_WORKER_METRICS_LISTEN: cannot bind {listen}")
        })?;
    let bound = listener.local_addr().context("metrics listener address")?;
    tracing::info!(address = %bound, "serving metrics at /metrics");
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { metrics, queue });
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "metrics listener stopped");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_renders_its_families_and_the_build() {
        let metrics = WorkerMetrics::new();
        metrics
            .durations
            .get_or_create(&KindLabel {
                kind: "k".to_owned(),
            })
            .observe(0.02);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &metrics.registry).expect("renders");
        assert!(
            text.contains(
                "medilink_worker_job_duration_seconds_bucket{kind=\"k\",le=\"0.05\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("medilink_build_info{version=\""), "{text}");
    }
}
