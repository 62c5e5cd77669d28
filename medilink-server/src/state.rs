//! [`AppState`]: the services every handler shares.

use std::sync::Arc;

use anyhow::Context;
use medilink_clinical::gate::PrescriptionGate;
use medilink_clinical::service::ClinicalService;
use medilink_clinical::{Checker, OfflineSource, OpenFdaSource};
use medilink_consent::export::BulkExport;
use medilink_consent::mail::LogMailer;
use medilink_consent::research::{DEFAULT_TTL as RESEARCH_TTL, ResearchExport};
use medilink_consent::subscriptions::Subscriptions;
use medilink_consent::subscriptions::hook::HttpHookSender;
use medilink_consent::{ConsentGuard, ConsentService};
use medilink_fhir::blob::{BlobStore, MemoryBlobStore};
use medilink_fhir::fulltext::{SearchIndex, TantivySearchIndex};
use medilink_fhir::jobs::JobQueue;
use medilink_fhir::kv::RedisKeyValue;
use medilink_fhir::kv::{KeyValue, LocalKeyValue};
use medilink_fhir::validate::profile::ProfileCheck;
use medilink_fhir::{Clock, Hooked, IdGen, ResourceStore, SystemClock, UuidIdGen, open_blob_store};
use medilink_ingest::Pipeline;
use medilink_ingest::job::{DocumentIngest, ServerOwnedExtensions};
use medilink_jobs::JobDeps;
use medilink_platform::notifications::{Mailer, NoMailer, Notifications, ResultNotices};
use medilink_platform::open_store_and_platform;
use medilink_platform::{AuditLog, Platform};

use crate::auth::token_state::TokenStateCache;
use crate::auth::{Auth, AuthSettings, Keys};
use crate::config::{DEFAULT_MAX_DOCUMENT_BYTES, Limits, ServeConfig, StorageConfig};
use crate::layers::audit::AuditSink;
use crate::smart::{SigningKeys, SmartService};

/// How long one openFDA request may take (a slower answer is a warning of the check, whose
/// offline findings stand).
const OPENFDA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared state of the HTTP application: one [`Arc`] around its [`Services`], so the clone
/// axum makes for every middleware layer and handler is one reference-count increment
/// (issue #19: cloning the ~25 fields per layer was ~5% of a read's server time). Fields are
/// read through `Deref`; setting one (`state.limits = …`, at start-up and in tests) goes
/// through `DerefMut`, which copies the services first if another clone shares them
/// ([`Arc::make_mut`]), so a clone keeps the value it was made with.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    /// A reference that does not keep the services alive (the readiness checker's).
    pub(crate) fn downgrade(&self) -> std::sync::Weak<Services> {
        Arc::downgrade(&self.0)
    }

    /// The state `services` points to, while any state still holds it.
    pub(crate) fn upgrade(services: &std::sync::Weak<Services>) -> Option<AppState> {
        services.upgrade().map(AppState)
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }
}

/// The services every handler shares (what [`AppState`] points to).
#[derive(Debug, Clone)]
pub struct Services {
    /// The resource store, behind the consent guard: handlers cannot reach an unguarded one.
    pub store: ConsentGuard<Arc<dyn ResourceStore>>,
    /// Id generator (bundle ids, and what the store was built with).
    pub ids: Arc<dyn IdGen>,
    /// Clock (CapabilityStatement date, bundle timestamps, token expiry).
    pub clock: Arc<dyn Clock>,
    /// Public base URL of the server (`https://example.org`, no trailing slash); when `None`
    /// it is derived from the request's `Host` header.
    pub base_url: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// Accounts, tokens, lockouts and rate limits.
    pub auth: Arc<Auth>,
    /// The rate limiter's per-minute counters: the security state's key-value store, except
    /// on SQLite without Redis, where the one server counts in process (issue #19: no write
    /// statement per request; a restart starts the current minute's windows again).
    pub rate_counters: Arc<dyn KeyValue>,
    /// The audit queue.
    pub audit: AuditSink,
    /// The audit trail (for reading it).
    pub audit_log: Arc<dyn AuditLog>,
    /// Allowed CORS origins (none: no cross-origin access).
    pub cors_origins: Vec<String>,
    /// Whether the server is behind TLS (adds HSTS).
    pub hsts: bool,
    /// The full-text index of `_text` / `_content` (RAM by default; on disk in the data
    /// directory when built from the configuration).
    pub search_index: Arc<dyn SearchIndex>,
    /// The web dashboards served at `/` and `/patient/` (none: not served).
    pub dashboards: Option<crate::config::Dashboards>,
    /// The job queue (document ingest, periodic work).
    pub jobs: Arc<dyn JobQueue>,
    /// Uploaded documents (in memory by default; `--blob-url` when built from the
    /// configuration).
    pub blobs: Arc<dyn BlobStore>,
    /// Document upload and the `document.ingest` job, over the platform's store, `blobs`,
    /// `jobs` and the ingest pipeline.
    pub documents: Arc<DocumentIngest>,
    /// Largest accepted document upload, in bytes (larger ones get `413`).
    pub max_document_bytes: usize,
    /// The Prometheus metrics of `GET /metrics` (one registry per state).
    pub metrics: Arc<crate::layers::metrics::Metrics>,
    /// Bulk Data `$export` and the `fhir.export` job, over the platform's store (guarded per
    /// job as its requester), `blobs` and `jobs`.
    pub exports: Arc<BulkExport>,
    /// Research exports and the `research.export` job, over the platform's unguarded store
    /// (every output de-identified with the research key), `blobs` and `jobs`.
    pub research: Arc<ResearchExport>,
    /// Drug-interaction and allergy checks, acknowledgements, CDS Hooks; its checker also
    /// gates prescriptions inside `store`.
    pub clinical: ClinicalService,
    /// What the job handlers are built from: `documents`, `exports` and `research` above, and
    /// the embedded worker's handlers ([`medilink_jobs::register_jobs`]).
    pub job_deps: JobDeps,
    /// Notices, the inbox and notification preferences.
    pub notifications: Notifications,
    /// The SMTP settings of notice e-mails (`None`: e-mail is not configured); the admin
    /// health check probes the server with them.
    pub smtp: Option<medilink_platform::notifications::smtp::SmtpSettings>,
    /// The SMART App Launch authorization server (issue #17).
    pub smart: Arc<SmartService>,
    /// The readiness checker of `/health/ready` (its last round of backend checks).
    pub(crate) readiness: crate::health::Readiness,
    /// FHIR Subscriptions (issue #21): the `/fhir/R4/Subscription` use cases and the
    /// dispatcher `serve` runs.
    pub subscriptions: Arc<Subscriptions>,
}

/// The signing key of a state built without configuration (tests, embedders): one per
/// process, generated on first use.
static EPHEMERAL_SMART_KEYS: std::sync::LazyLock<Option<SigningKeys>> =
    std::sync::LazyLock::new(|| SigningKeys::ephemeral().ok());

impl AppState {
    /// State with default limits and a `Host`-derived base URL; starts the audit writer.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        platform: Platform,
        kv: Arc<dyn KeyValue>,
        ids: Arc<dyn IdGen>,
        clock: Arc<dyn Clock>,
        keys: Keys,
        settings: AuthSettings,
    ) -> anyhow::Result<Self> {
        let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::default());
        let notifications = Notifications::new(
            platform.notifications.clone(),
            platform.jobs.clone(),
            clock.clone(),
            ids.clone(),
        );
        // The consent lifecycle's events (and break-glass) are told as notices: in-app, and
        // by e-mail through the `notification.deliver` outbox.
        let consents = ConsentService::new(
            store.clone(),
            kv.clone(),
            clock.clone(),
            Arc::new(LogMailer),
        )
        .with_audit(platform.audit.clone())
        .with_notify(Arc::new(notifications.clone()));
        let subscriptions = Subscriptions::new(
            store.clone(),
            platform.subscriptions.clone(),
            platform.accounts.clone(),
            kv.clone(),
            clock.clone(),
            ids.clone(),
            Arc::new(HttpHookSender::new().map_err(anyhow::Error::msg)?),
        )
        .with_audit(platform.audit.clone())
        .with_apps(platform.smart.clone());
        let job_deps = JobDeps {
            store: store.clone(),
            accounts: platform.accounts.clone(),
            audit: platform.audit.clone(),
            jobs: platform.jobs.clone(),
            blobs: blobs.clone(),
            clock: clock.clone(),
            ids: ids.clone(),
            pipeline: default_pipeline(),
            research_key: *keys.research(),
            research_ttl: std::time::Duration::try_from(RESEARCH_TTL)
                .expect("invariant: a positive constant"),
            notifications: notifications.clone(),
            mailer: Arc::new(NoMailer),
            portal_url: medilink_platform::notifications::DEFAULT_PORTAL_URL.to_owned(),
            kv: kv.clone(),
        };
        let smart_keys = EPHEMERAL_SMART_KEYS
            .clone()
            .context("generating the SMART signing key")?;
        let smart = SmartService::new(
            platform.smart.clone(),
            platform.accounts.clone(),
            kv.clone(),
            clock.clone(),
            smart_keys,
        );
        let rate_counters = kv.clone();
        let auth = Auth::new(
            platform.accounts.clone(),
            kv,
            clock.clone(),
            store.clone(),
            keys,
            settings,
        )?
        .with_notifications(notifications.clone());
        let checker = Arc::new(Checker::offline());
        let gated = guarded_writes(
            &store,
            &notifications,
            job_deps.kv.clone(),
            checker.clone(),
            clock.clone(),
        );
        Ok(AppState(Arc::new(Services {
            store: ConsentGuard::new(gated, Arc::new(consents)),
            clinical: ClinicalService::new(checker, clock.clone(), ids.clone()),
            ids,
            clock,
            base_url: None,
            limits: Limits::default(),
            auth: Arc::new(auth),
            rate_counters,
            audit: AuditSink::start(platform.audit.clone()),
            audit_log: platform.audit,
            cors_origins: Vec::new(),
            hsts: false,
            search_index: Arc::new(TantivySearchIndex::in_memory()?),
            dashboards: None,
            jobs: platform.jobs,
            blobs,
            documents: Arc::new(job_deps.documents()),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            metrics: Arc::new(crate::layers::metrics::Metrics::new()),
            exports: Arc::new(job_deps.exports()),
            research: Arc::new(job_deps.research()),
            job_deps,
            notifications,
            smtp: None,
            smart: Arc::new(smart),
            subscriptions: Arc::new(subscriptions),
            readiness: crate::health::Readiness::default(),
        })))
    }

    /// The same state signing SMART tokens with `keys`.
    pub fn with_smart_keys(mut self, keys: SigningKeys) -> Self {
        self.smart = Arc::new(self.smart.with_keys(keys));
        self
    }

    /// The same state with the job services rebuilt from `deps`.
    fn with_job_deps(mut self, deps: JobDeps) -> Self {
        self.documents = Arc::new(deps.documents());
        self.exports = Arc::new(deps.exports());
        self.research = Arc::new(deps.research());
        self.blobs = deps.blobs.clone();
        self.job_deps = deps;
        self
    }

    /// The same state with documents and exports stored in `blobs`, documents analysed by
    /// `pipeline`.
    pub fn with_documents(self, blobs: Arc<dyn BlobStore>, pipeline: Pipeline) -> Self {
        let deps = JobDeps {
            blobs,
            pipeline,
            ..self.job_deps.clone()
        };
        self.with_job_deps(deps)
    }

    /// The same state with research exports kept for `ttl` after their kick-off.
    pub fn with_research_ttl(self, ttl: std::time::Duration) -> Self {
        let deps = JobDeps {
            research_ttl: ttl,
            ..self.job_deps.clone()
        };
        self.with_job_deps(deps)
    }

    /// The same state with research exports pseudonymised with `key` instead.
    pub fn with_research_key(self, key: [u8; 32]) -> Self {
        let deps = JobDeps {
            research_key: key,
            ..self.job_deps.clone()
        };
        self.with_job_deps(deps)
    }

    /// Opens the stores the configuration names (system clock, UUID ids) and builds the state.
    pub async fn from_config(config: &ServeConfig) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (store, mut platform, ids) = open_platform(&config.storage, clock.clone()).await?;
        if config.crash_before_document_job {
            platform.jobs = Arc::new(crate::failpoint::CrashBeforeDocumentJob(platform.jobs));
        }
        let mut kv = open_key_value(config.security.redis_url.as_deref(), &platform).await?;
        let single = single_server(config);
        if single {
            kv = Arc::new(TokenStateCache::new(kv));
        }
        let grant_cache = grant_cache(config, clock.clone());
        let openfda = config.openfda.clone().map(|url| {
            let online = OpenFdaSource::new(url, kv.clone(), clock.clone(), OPENFDA_TIMEOUT);
            Arc::new(Checker::with_sources(vec![
                Arc::new(OfflineSource),
                Arc::new(online),
            ]))
        });
        let mut state = AppState::new(
            store,
            platform,
            kv,
            ids,
            clock,
            config.security.keys.clone(),
            config.security.auth.clone(),
        )?;
        state.base_url = config.base_url.clone();
        state = state.with_research_ttl(config.research_ttl);
        state = state.with_smart_keys(config.security.smart_keys.clone());
        state.limits = config.limits;
        if single {
            state.rate_counters = Arc::new(LocalKeyValue::new(state.clock.clone()));
        }
        state.cors_origins = config.security.cors_origins.clone();
        state.hsts = config.security.hsts;
        state.dashboards = Some(config.dashboards.clone());
        state.search_index = Arc::new(open_search_index(&config.storage).await?);
        state.max_document_bytes = config.documents.max_bytes;
        state.readiness = crate::health::Readiness::new(config.ready_check_interval);
        let blobs = open_blob_store(&config.documents.blobs)
            .await
            .with_context(|| {
                format!(
                    "--blob-url / MEDILINK_BLOB_URL: cannot open {}",
                    medilink_fhir::backend::blob::redact_url(&config.documents.blobs.url)
                )
            })?;
        state = state.with_documents(blobs, pipeline(&config.extractor)?);
        if let Some(checker) = openfda {
            state = state.with_checker(checker);
        }
        if let Some(cache) = grant_cache {
            state = state.with_grant_cache(cache);
        }
        if let Some(base_url) = &config.base_url {
            let mailer = state.job_deps.mailer.clone();
            state = state.with_notification_mailer(mailer, base_url);
        }
        if let Some(smtp) = &config.smtp {
            // Break-glass is a notice now (its e-mail goes through the outbox), so the
            // consent service's legacy mailer stays the logging one.
            let notifier = crate::mail::notifier(smtp, &state.auth)?;
            let portal_url = state.job_deps.portal_url.clone();
            state = state.with_notification_mailer(Arc::new(notifier), &portal_url);
            state.smtp = Some(smtp.clone());
        } else {
            tracing::warn!(
                "notice e-mails are off (no --smtp-url / MEDILINK_SMTP_URL): their deliveries are dead with \"{}\"; in-app notices are unaffected",
                medilink_platform::notifications::NOT_CONFIGURED
            );
        }
        Ok(state)
    }

    /// The same state with drug checks (and the prescription gate) over `checker`.
    pub fn with_checker(mut self, checker: Arc<Checker>) -> Self {
        let gated = guarded_writes(
            &self.job_deps.store,
            &self.notifications,
            self.job_deps.kv.clone(),
            checker.clone(),
            self.clock.clone(),
        );
        self.store = self.store.rewrap(gated);
        self.clinical = ClinicalService::new(checker, self.clock.clone(), self.ids.clone());
        self
    }

    /// The same state with the consent grant cache in `cache` (break-glass counters stay in
    /// the key-value store the state was built with).
    pub fn with_grant_cache(mut self, cache: Arc<dyn KeyValue>) -> Self {
        let consents = (**self.store.consents()).clone().with_cache(cache);
        self.store = ConsentGuard::new(self.store.inner().clone(), Arc::new(consents));
        self
    }

    /// The same state with notification e-mails sent through `mailer`, linking to
    /// `portal_url`.
    pub fn with_notification_mailer(self, mailer: Arc<dyn Mailer>, portal_url: &str) -> Self {
        let deps = JobDeps {
            mailer,
            portal_url: portal_url.to_owned(),
            ..self.job_deps.clone()
        };
        self.with_job_deps(deps)
    }

    /// The same state with break-glass notices sent through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn medilink_consent::Mailer>) -> Self {
        let consents = (**self.store.consents()).clone().with_mailer(mailer);
        self.store = ConsentGuard::new(self.store.inner().clone(), Arc::new(consents));
        self
    }
}

/// What the consent guard wraps: the platform's store with the server-owned extensions
/// check, the profile check, the prescription gate and the results notices around its writes
/// (in that order: a refused write tells nobody). Every client write passes the guard and then
/// these hooks, whatever its path (`medilink_ingest::job::ServerOwnedExtensions` relies on it).
fn guarded_writes(
    store: &Arc<dyn ResourceStore>,
    notifications: &Notifications,
    kv: Arc<dyn KeyValue>,
    checker: Arc<Checker>,
    clock: Arc<dyn Clock>,
) -> Arc<dyn ResourceStore> {
    let gate = PrescriptionGate::new(store.clone(), checker, clock.clone());
    let told = ResultNotices::new(Arc::new(notifications.clone()), store.clone(), kv, clock);
    // Issue #18: `meta.profile` naming a stored profile is validated first (422 when the
    // resource does not conform), so a refused write reaches neither the gate nor the notices.
    let profiles = ProfileCheck::new(store.clone());
    // A client cannot write the uploader or ingest status of a document (only the upload and
    // the ingest job do): the relay queues jobs for the uploader it names.
    let owned = ServerOwnedExtensions::new(store.clone());
    Arc::new(Hooked::new(
        store.clone(),
        vec![
            Arc::new(owned),
            Arc::new(profiles),
            Arc::new(gate),
            Arc::new(told),
        ],
    ))
}

/// Opens the resource store and the platform stores of `storage`, with UUID ids.
pub async fn open_platform(
    storage: &StorageConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn ResourceStore>, Platform, Arc<dyn IdGen>)> {
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    let (store, platform) = open_store_and_platform(&storage.sql, clock, ids.clone())
        .await
        .context("--database-url / MEDILINK_DATABASE_URL: cannot open the store")?;
    Ok((store, platform, ids))
}

/// The key-value store of the security state (token denylist, revocation cut-offs, lockouts,
/// rate and break-glass counters) and the consent grant cache: Redis when a URL is given, else
/// the `kv` table of the platform's database, so that it survives a restart either way.
pub async fn open_key_value(
    redis_url: Option<&str>,
    platform: &Platform,
) -> anyhow::Result<Arc<dyn KeyValue>> {
    Ok(match redis_url {
        Some(url) => Arc::new(
            RedisKeyValue::connect(url, "medilink:")
                .await
                .context("--redis-url / MEDILINK_REDIS_URL: cannot connect")?,
        ),
        None => platform.kv.clone(),
    })
}

/// Whether this process is the only server on its security state: SQLite without Redis and
/// without `--shared-sqlite` (`serve` then holds the database's exclusive serve lock, so a
/// second server on the file refuses to start; `medilink-worker` and the CLI write no token
/// state, rate counters or grant cache). On PostgreSQL without Redis several servers may share
/// the database, and with Redis several servers share Redis.
fn single_server(config: &ServeConfig) -> bool {
    config.security.redis_url.is_none()
        && config.storage.sql.url.starts_with("sqlite:")
        && !config.shared_sqlite
}

/// The consent grant cache when it need not be `kv`: for a single server
/// ([`single_server`]) the cache (a pure cache of `Consent` resources) stays in process and a
/// physician's request reads no `kv` rows for it. Otherwise the servers share the cache
/// through `kv` (the `kv` table of PostgreSQL, or Redis).
fn grant_cache(config: &ServeConfig, clock: Arc<dyn Clock>) -> Option<Arc<dyn KeyValue>> {
    single_server(config).then(|| Arc::new(LocalKeyValue::new(clock)) as Arc<dyn KeyValue>)
}

/// Opens the resource store of `storage`, with UUID ids. Its database is the platform's too:
/// when `storage` asks for migrations, the platform's (accounts, audit trail) are applied with
/// the store's, so `migrate` leaves a database every command can use.
pub async fn open_storage(
    storage: &StorageConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn ResourceStore>, Arc<dyn IdGen>)> {
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    let (store, _platform) = open_store_and_platform(&storage.sql, clock, ids.clone())
        .await
        .context("--database-url / MEDILINK_DATABASE_URL: cannot open the store")?;
    Ok((store, ids))
}

/// Opens (or recreates) the full-text index in `{data-dir}/fulltext`.
pub async fn open_search_index(storage: &StorageConfig) -> anyhow::Result<TantivySearchIndex> {
    let dir = storage.data_dir.join("fulltext");
    let shown = dir.display().to_string();
    tokio::task::spawn_blocking(move || TantivySearchIndex::open(&dir))
        .await
        .context("opening the full-text index")?
        .with_context(|| {
            format!("--data-dir / MEDILINK_DATA_DIR: cannot open the full-text index in {shown}")
        })
}

/// The ingest pipeline the server runs: the PDF text layer, else OCR by `tesseract`, then the
/// rule-based extractor and the LOINC mapping.
pub fn default_pipeline() -> Pipeline {
    Pipeline::offline(Arc::new(medilink_ingest::text::TesseractOcr::default()))
}

/// The ingest pipeline of `extractor` (the offline default, or with the LLM extractor).
pub fn pipeline(extractor: &crate::config::ExtractorConfig) -> anyhow::Result<Pipeline> {
    medilink_ingest::cli::pipeline(extractor)
}
