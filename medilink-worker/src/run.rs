//! Opening the stores and running the worker loop.

use std::sync::Arc;

use anyhow::Context;
use medilink_consent::export::{BulkExport, KIND as EXPORT};
use medilink_consent::research::{KIND as RESEARCH_EXPORT, ResearchExport};
use medilink_fhir::platform::maintenance::register_maintenance;
use medilink_fhir::platform::worker::{Registry, Worker};
use medilink_fhir::platform::{BlobStore, Platform};
use medilink_fhir::{Clock, ResourceStore, SystemClock, UuidIdGen};
use medilink_ingest::Pipeline;
use medilink_ingest::job::{DocumentIngest, KIND as DOCUMENT_INGEST};

use crate::config::WorkerConfig;
use crate::metrics::WorkerMetrics;

/// The ingest pipeline of `extractor`: the PDF text layer, else OCR by `tesseract`, then the
/// rule-based extractor or, when configured, the LLM extractor; then the LOINC mapping.
pub use medilink_ingest::cli::pipeline;

/// The handlers this process runs: maintenance, `fhir.export` (guarded as each export's
/// requester), `research.export` (de-identified with `--research-key`) and `document.ingest`.
pub fn registry(
    config: &WorkerConfig,
    store: Arc<dyn ResourceStore>,
    platform: &Platform,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    pipeline: Pipeline,
) -> Registry {
    let mut registry = Registry::new();
    register_maintenance(
        &mut registry,
        store.clone(),
        platform.accounts.clone(),
        platform.jobs.clone(),
        clock.clone(),
    );
    let exports = BulkExport::new(
        store.clone(),
        blobs.clone(),
        platform.jobs.clone(),
        clock.clone(),
    )
    .with_audit(platform.audit.clone());
    registry.register(EXPORT, Arc::new(exports));
    let research = ResearchExport::new(
        store.clone(),
        blobs.clone(),
        platform.jobs.clone(),
        clock.clone(),
        config.research_key.0,
    );
    registry.register(RESEARCH_EXPORT, Arc::new(research));
    let documents = DocumentIngest::new(
        store.clone(),
        blobs,
        platform.jobs.clone(),
        Arc::new(UuidIdGen),
        clock,
        pipeline,
    );
    registry.register(DOCUMENT_INGEST, Arc::new(documents));
    if config.test_handlers {
        crate::test_handlers::register(&mut registry, store, &config.worker.worker_id);
    }
    registry
}

/// Opens the database (applying migrations unless disabled), the blob store and the optional
/// Redis connection, then runs the worker until `shutdown` completes.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // Services first: a misconfigured one stops start-up before any migration runs.
    let pipeline = pipeline(&config.extractor)?;
    let blobs = medilink_fhir::open_blob_store(&config.blob)
        .await
        .context("--blob-url / MEDILINK_BLOB_URL: cannot open the blob store")?;
    if let Some(url) = &config.redis_url {
        medilink_fhir::platform::kv::RedisKeyValue::connect(url, "medilink:")
            .await
            .context("--redis-url / MEDILINK_REDIS_URL: cannot connect")?;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (store, platform) =
        medilink_fhir::open_store_and_platform(&config.sql, clock.clone(), Arc::new(UuidIdGen))
            .await
            .context("--database-url / MEDILINK_DATABASE_URL: cannot open the database")?;
    let mut registry = registry(
        &config,
        store.clone(),
        &platform,
        blobs,
        clock.clone(),
        pipeline,
    );
    let metrics_listener = match config.metrics_listen {
        Some(listen) => {
            let metrics = Arc::new(WorkerMetrics::new());
            metrics.instrument(&mut registry);
            Some(crate::metrics::serve(listen, metrics, platform.jobs.clone()).await?)
        }
        None => None,
    };
    let worker = Worker::new(
        platform.jobs.clone(),
        registry,
        clock,
        config.worker.clone(),
    );
    let report = worker.run(shutdown).await;
    if let Some(listener) = metrics_listener {
        listener.abort();
    }
    store.close().await.context("closing the database")?;
    tracing::info!(
        ran = report.ran,
        released = report.released,
        errors = report.errors,
        "medilink-worker stopped"
    );
    Ok(())
}
