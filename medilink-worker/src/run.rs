//! Opening the stores and running the worker loop.

use std::sync::Arc;

use anyhow::Context;
use medilink_consent::subscriptions::Subscriptions;
use medilink_consent::subscriptions::hook::HttpHookSender;
use medilink_fhir::blob::BlobStore;
use medilink_fhir::{Clock, ResourceStore, SystemClock, UuidIdGen};
use medilink_ingest::Pipeline;
use medilink_jobs::{JobDeps, register_jobs};
use medilink_platform::Platform;
use medilink_platform::notifications::smtp::SmtpNotifier;
use medilink_platform::notifications::{Mailer, NOT_CONFIGURED, NoMailer};
use medilink_platform::worker::{Registry, Worker};

use crate::config::WorkerConfig;
use crate::metrics::WorkerMetrics;

/// The ingest pipeline of `extractor`: the PDF text layer, else OCR by `tesseract`, then the
/// rule-based extractor or, when configured, the LLM extractor; then the LOINC mapping.
pub use medilink_ingest::cli::pipeline;

/// The handlers this process runs: every queue-wide kind ([`register_jobs`], the same call
/// the server's embedded worker makes; `research.export` pseudonymises with
/// `--research-key`), and with `--enable-test-handlers` the test kinds.
pub fn registry(config: &WorkerConfig, deps: &JobDeps) -> Registry {
    let mut registry = Registry::new();
    register_jobs(&mut registry, deps);
    if config.test_handlers {
        crate::test_handlers::register(&mut registry, deps.store.clone(), &config.worker.worker_id);
    }
    registry
}

/// What the handlers of this process are built from: the platform's `store`, `blobs`, the
/// system clock, UUID ids, `pipeline`, the configured research key, and the notice e-mails'
/// mailer ([`SmtpNotifier`] with `--smtp-url`, else [`NoMailer`]) and portal URL.
pub fn job_deps(
    config: &WorkerConfig,
    store: Arc<dyn ResourceStore>,
    platform: &Platform,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    pipeline: Pipeline,
    kv: Arc<dyn medilink_fhir::kv::KeyValue>,
) -> anyhow::Result<JobDeps> {
    let ids: Arc<dyn medilink_fhir::IdGen> = Arc::new(UuidIdGen);
    let notifications = medilink_platform::notifications::Notifications::new(
        platform.notifications.clone(),
        platform.jobs.clone(),
        clock.clone(),
        ids.clone(),
    );
    let mailer: Arc<dyn Mailer> = match &config.mail {
        Some(mail) => Arc::new(SmtpNotifier::new(
            &mail.smtp,
            platform.accounts.clone(),
            mail.encryption_key,
        )?),
        None => Arc::new(NoMailer),
    };
    Ok(JobDeps {
        store,
        accounts: platform.accounts.clone(),
        audit: platform.audit.clone(),
        jobs: platform.jobs.clone(),
        blobs,
        clock,
        ids,
        pipeline,
        research_key: config.research_key.0,
        research_ttl: config.research_ttl,
        notifications,
        mailer,
        portal_url: config.portal_url.clone(),
        kv,
    })
}

/// How often the subscription dispatcher looks for new events and due rest-hooks (the
/// server's period).
const SUBSCRIPTION_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The subscriptions service of this process, as the server builds it: the platform's
/// unguarded `store`, the delivery state, the accounts, the shared key-value store, audited.
pub fn subscriptions(
    store: Arc<dyn ResourceStore>,
    platform: &Platform,
    deps: &JobDeps,
) -> anyhow::Result<Subscriptions> {
    Ok(Subscriptions::new(
        store,
        platform.subscriptions.clone(),
        platform.accounts.clone(),
        deps.kv.clone(),
        deps.clock.clone(),
        deps.ids.clone(),
        Arc::new(HttpHookSender::new().map_err(anyhow::Error::msg)?),
    )
    .with_audit(platform.audit.clone())
    .with_apps(platform.smart.clone()))
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
    let redis = match &config.redis_url {
        Some(url) => Some(
            medilink_fhir::kv::RedisKeyValue::connect(url, "medilink:")
                .await
                .context("--redis-url / MEDILINK_REDIS_URL: cannot connect")?,
        ),
        None => None,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (store, platform) =
        medilink_platform::open_store_and_platform(&config.sql, clock.clone(), Arc::new(UuidIdGen))
            .await
            .context("--database-url / MEDILINK_DATABASE_URL: cannot open the database")?;
    let deps = job_deps(
        &config,
        store.clone(),
        &platform,
        blobs,
        clock.clone(),
        pipeline,
        match redis {
            Some(redis) => Arc::new(redis),
            None => platform.kv.clone(),
        },
    )?;
    if config.mail.is_none() {
        tracing::warn!(
            "notice e-mails are off (no --smtp-url / MEDILINK_SMTP_URL): their deliveries are dead with \"{}\"; in-app notices are unaffected",
            NOT_CONFIGURED
        );
    }
    let mut registry = registry(&config, &deps);
    let metrics_listener = match config.metrics_listen {
        Some(listen) => {
            let metrics = Arc::new(WorkerMetrics::new());
            metrics.instrument(&mut registry);
            Some(crate::metrics::serve(listen, metrics, platform.jobs.clone()).await?)
        }
        None => None,
    };
    // FHIR Subscriptions: this process numbers events and sends rest-hooks like a server
    // does (issue #21), as many processes at once as there are.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let dispatcher = if config.subscription_dispatch {
        let subscriptions = subscriptions(store.clone(), &platform, &deps)?;
        let mut stopped = stopped.clone();
        Some(tokio::spawn(subscriptions.run(
            SUBSCRIPTION_POLL,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )))
    } else {
        None
    };
    let worker = Worker::new(
        platform.jobs.clone(),
        registry,
        clock,
        config.worker.clone(),
    );
    let report = worker
        .run(async {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
    let _ = stop.send(true);
    if let Some(dispatcher) = dispatcher {
        let _ = dispatcher.await;
    }
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
