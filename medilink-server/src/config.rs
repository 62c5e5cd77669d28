//! Command line and environment configuration of `medilink-server`, in two stages: the raw
//! [`Cli`] (clap; every flag also reads `MEDILINK_…`), then validated option structs
//! ([`StorageConfig`], [`ServeConfig`]) for the libraries.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use medilink_fhir::{BlobOptions, SqlOptions};
pub use medilink_ingest::cli::{ExtractorArgs, ExtractorConfig};
use medilink_platform::keys::resolve_key;

use crate::auth::{AuthSettings, HashParams, Keys};

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted request body, in bytes (larger bodies get `413`).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Default of `--max-document-bytes`: 20 MB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

/// `medilink-server`: the MediLink FHIR R4 server.
#[derive(Debug, Parser)]
#[command(name = "medilink-server", version, about)]
pub struct Cli {
    /// Storage options shared by every command.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Keys and environment shared by every command.
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Trace export shared by every command.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// OpenTelemetry trace export (issue #19): off unless an endpoint is given.
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// OTLP/HTTP collector to send traces to (`http://collector:4318`; `/v1/traces` is added):
    /// spans of requests (route templates), store calls and jobs, never query strings, tokens
    /// or patient data. Unset: no tracing, at no cost.
    #[arg(long, global = true, env = "MEDILINK_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// Where data lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the embedded database and other local data (created if missing).
    #[arg(
        long,
        global = true,
        env = "MEDILINK_DATA_DIR",
        default_value = "./medilink-data"
    )]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://{data-dir}/medilink.db`.
    #[arg(long, global = true, env = "MEDILINK_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Connection pool size.
    #[arg(
        long,
        global = true,
        env = "MEDILINK_DATABASE_MAX_CONNECTIONS",
        default_value_t = 8
    )]
    pub database_max_connections: u32,
    /// Time limit of every database statement, in seconds (0: none). A search past it is
    /// stopped and answers `503` (`too-costly`).
    #[arg(
        long,
        global = true,
        env = "MEDILINK_DATABASE_STATEMENT_TIMEOUT_SECS",
        default_value_t = medilink_fhir::DEFAULT_STATEMENT_TIMEOUT.as_secs()
    )]
    pub database_statement_timeout_secs: u64,
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (applies pending migrations first unless `--no-migrate`).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Import FHIR Bundles / NDJSON files (or directories of them).
    Import {
        /// Files or directories to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Rebuild the full-text index (`{data-dir}/fulltext`) from the store; run it while no
    /// server uses that data directory.
    Reindex,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the OpenAPI document of `/api` (regenerates `medilink-server/openapi.json`).
    Openapi,
    /// Check this machine for the server: tesseract, the data directory and its free disk,
    /// the database (`--database-url`) and the keys; one line per check with what to fix,
    /// exit status 1 when any check fails.
    Doctor,
    /// SMART App Launch administration.
    #[command(subcommand)]
    Smart(SmartCommand),
    /// Back up the embedded default's data directory, also while a server runs: each SQLite
    /// database (`VACUUM INTO`), the blobs, keys only with `--include-keys`, and a
    /// `manifest.json` of SHA-256 checksums (PostgreSQL: `pg_dump`, see the README).
    Backup {
        /// The backup directory (created; must be empty if it exists).
        #[arg(long)]
        to: PathBuf,
        /// Also copy the secret keys of `{data-dir}/keys` (the backup then decrypts the
        /// accounts' PII: keep it encrypted; it is written 0700, keys 0600).
        #[arg(long)]
        include_keys: bool,
    },
    /// Restore a backup into a new, empty `--data-dir`: checks every checksum first, then
    /// copies and rebuilds the full-text index.
    Restore {
        /// The backup directory (with its `manifest.json`).
        #[arg(long)]
        from: PathBuf,
    },
}

/// `smart …`.
#[derive(Debug, Clone, Subcommand)]
pub enum SmartCommand {
    /// Rotate the signing key of SMART tokens in `{data-dir}/keys/`: the current key becomes
    /// the previous one (still published at `/oauth/jwks`), a new key signs after the servers
    /// restart. Run it twice no sooner than an access token's lifetime apart.
    RotateKey,
}

/// `user …`.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create an active account (e.g. the first admin).
    Add {
        /// E-mail address (the login).
        #[arg(long)]
        email: String,
        /// Password (the registration rule: at least 12 characters, not a common one, zxcvbn
        /// score 4).
        #[arg(long, env = "MEDILINK_USER_PASSWORD")]
        password: String,
        /// `patient`, `physician`, `admin` or `researcher`.
        #[arg(long)]
        role: String,
        /// Display name (required for physicians; shown in the clinician directory and in
        /// patients' access logs).
        #[arg(long)]
        name: Option<String>,
        /// A patient's demographics (refused for the other roles).
        #[command(flatten)]
        patient: PatientArgs,
    },
}

/// The demographics of a patient added with `user add --role patient`: its `Patient` is a
/// proper R4 Patient as at registration (official name, birth date, gender, phone).
#[derive(Debug, Clone, Default, Args)]
pub struct PatientArgs {
    /// A patient's given name (repeat for several; default: all words of `--name` but the last).
    #[arg(long = "given")]
    pub given: Vec<String>,
    /// A patient's family name (default: the last word of `--name`).
    #[arg(long)]
    pub family: Option<String>,
    /// A patient's birth date, `YYYY-MM-DD` (required for a patient).
    #[arg(long)]
    pub birth_date: Option<String>,
    /// A patient's administrative gender: `male`, `female`, `other` or `unknown` (the default).
    #[arg(long)]
    pub gender: Option<String>,
    /// A patient's phone number (optional).
    #[arg(long)]
    pub phone: Option<String>,
}

impl PatientArgs {
    /// Whether any demographic flag was given.
    pub fn any(&self) -> bool {
        !self.given.is_empty()
            || self.family.is_some()
            || self.birth_date.is_some()
            || self.gender.is_some()
            || self.phone.is_some()
    }
}

/// `audit …`.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; fails naming the first broken record.
    Verify,
}

/// Keys (base64, 32 bytes each; generated into `{data-dir}/keys/` when absent, which
/// `MEDILINK_ENV=production` refuses) and the deployment environment.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// `development` or `production` (production refuses development defaults).
    #[arg(
        long = "env",
        global = true,
        env = "MEDILINK_ENV",
        default_value = "development"
    )]
    pub environment: String,
    /// HS256 key of access tokens.
    #[arg(
        long,
        global = true,
        env = "MEDILINK_AUTH_JWT_KEY",
        hide_env_values = true
    )]
    pub jwt_key: Option<String>,
    /// AEAD key of the PII columns.
    #[arg(
        long,
        global = true,
        env = "MEDILINK_AUTH_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub encryption_key: Option<String>,
    /// HMAC key of the e-mail lookup hash.
    #[arg(
        long,
        global = true,
        env = "MEDILINK_AUTH_LOOKUP_KEY",
        hide_env_values = true
    )]
    pub lookup_key: Option<String>,
    /// HMAC key of the pseudonyms in research exports (a new key unlinks earlier exports).
    #[arg(
        long,
        global = true,
        env = "MEDILINK_RESEARCH_KEY",
        hide_env_values = true
    )]
    pub research_key: Option<String>,
    /// PEM file of the RSA key that signs SMART access tokens and id_tokens (default:
    /// `{data-dir}/keys/smart-signing.pem`, generated in development).
    #[arg(long, global = true, env = "MEDILINK_SMART_SIGNING_KEY")]
    pub smart_signing_key: Option<PathBuf>,
    /// PEM file of the previous SMART signing key, still published at `/oauth/jwks` after a
    /// rotation (default: `{data-dir}/keys/smart-signing.previous.pem` when present).
    #[arg(long, global = true, env = "MEDILINK_SMART_SIGNING_KEY_PREVIOUS")]
    pub smart_signing_key_previous: Option<PathBuf>,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MEDILINK_SERVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Do not apply migrations at start-up (run `medilink-server migrate` instead).
    #[arg(long, env = "MEDILINK_DATABASE_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "MEDILINK_SERVER_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Public base URL (e.g. `https://fhir.example.org`) used in `Location` headers and links;
    /// derived from the `Host` header when absent.
    #[arg(long, env = "MEDILINK_SERVER_BASE_URL")]
    pub base_url: Option<String>,
    /// `redis://…` for rate limits, lockouts and the token denylist shared by several
    /// servers; in the database's `kv` table when absent (durable either way).
    #[arg(long, env = "MEDILINK_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Hours a research export and its files are kept after the kick-off; a periodic job
    /// then deletes them (1 to 8760).
    #[arg(
        long,
        env = "MEDILINK_RESEARCH_EXPORT_TTL_HOURS",
        default_value_t = 168
    )]
    pub research_export_ttl_hours: u64,
    /// Origins allowed by CORS (comma-separated); none by default.
    #[arg(long, env = "MEDILINK_SERVER_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Trust the first `X-Forwarded-For` address (only behind a proxy that sets it).
    #[arg(long, env = "MEDILINK_SERVER_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Send `Strict-Transport-Security` (served behind TLS).
    #[arg(long, env = "MEDILINK_SERVER_HSTS")]
    pub hsts: bool,
    /// argon2id memory in KiB.
    #[arg(long, env = "MEDILINK_AUTH_ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    #[arg(long, env = "MEDILINK_AUTH_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Access token lifetime in seconds.
    #[arg(long, env = "MEDILINK_AUTH_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,
    /// API requests per minute allowed to each admin (0: unlimited).
    #[arg(long, env = "MEDILINK_RATE_LIMIT_ADMIN", default_value_t = crate::auth::RateLimits::default().admin)]
    pub rate_limit_admin: u64,
    /// API requests per minute allowed to each physician (0: unlimited).
    #[arg(long, env = "MEDILINK_RATE_LIMIT_PHYSICIAN", default_value_t = crate::auth::RateLimits::default().physician)]
    pub rate_limit_physician: u64,
    /// API requests per minute allowed to each patient (0: unlimited).
    #[arg(long, env = "MEDILINK_RATE_LIMIT_PATIENT", default_value_t = crate::auth::RateLimits::default().patient)]
    pub rate_limit_patient: u64,
    /// `smtp://[user:password@]host[:port]` for patient notices (break-glass); they are only
    /// logged when absent.
    #[arg(long, env = "MEDILINK_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of the notices.
    #[arg(
        long,
        env = "MEDILINK_SMTP_FROM",
        default_value = "MediLink <no-reply@medilink.invalid>"
    )]
    pub smtp_from: String,
    /// Serve the web dashboards from this directory (a `dashboards/dist` build) instead of
    /// the copy embedded in the binary.
    #[arg(long, env = "MEDILINK_DASHBOARDS_DIR")]
    pub dashboards_dir: Option<PathBuf>,
    /// Largest accepted document upload (`POST /api/documents`) in bytes.
    #[arg(long, env = "MEDILINK_MAX_DOCUMENT_BYTES", default_value_t = DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: usize,
    /// Where uploaded documents go: `fs:///path` or `s3://bucket?endpoint=…&region=…`;
    /// defaults to `fs://{data-dir}/blobs`.
    #[arg(long, env = "MEDILINK_BLOB_URL")]
    pub blob_url: Option<String>,
    /// S3 access key id of the blob store.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub blob_access_key_id: Option<String>,
    /// S3 secret access key of the blob store.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub blob_secret_access_key: Option<String>,
    /// Do not run the job worker in this process (run `medilink-worker` processes instead).
    #[arg(long, env = "MEDILINK_NO_WORKER")]
    pub no_worker: bool,
    /// Do not run the FHIR Subscriptions dispatcher in this process (`medilink-worker`
    /// processes, or other servers, number and send the notifications instead; websockets
    /// bound here are still served).
    #[arg(long, env = "MEDILINK_NO_SUBSCRIPTION_DISPATCH")]
    pub no_subscription_dispatch: bool,
    /// Let several servers serve one SQLite database. Without it, `serve` on SQLite without
    /// Redis holds an exclusive lock on `<database file>.serve-lock` (a second server on the
    /// same file refuses to start) and keeps token state, rate-limit counters and the consent
    /// grant cache in process; with it, they live in the database's key-value table, shared by
    /// every server on the file (each request then reads them there).
    #[arg(long, env = "MEDILINK_SHARED_SQLITE")]
    pub shared_sqlite: bool,
    /// How often the readiness checker checks every backend (database, Redis, blob store), in
    /// milliseconds: `/health/ready` answers from its last round, so a backend that goes down
    /// or comes back shows at most this plus the 3 s check timeout later.
    #[arg(long, env = "MEDILINK_READY_CHECK_INTERVAL_MS", default_value_t = 1000)]
    pub ready_check_interval_ms: u64,
    /// Test only (issue #24): abort the process when an upload's job is about to be queued,
    /// after its `DocumentReference` was written.
    #[arg(long, env = "MEDILINK_TEST_CRASH_BEFORE_DOCUMENT_JOB", hide = true)]
    pub test_crash_before_document_job: bool,
    /// Jobs the in-process worker runs at once.
    #[arg(long, env = "MEDILINK_WORKER_CONCURRENCY", default_value_t = 2)]
    pub worker_concurrency: usize,
    /// Lease of a running job in seconds (a job whose worker died is taken up again after it).
    #[arg(long, env = "MEDILINK_WORKER_LEASE_SECS", default_value_t = 60)]
    pub worker_lease_secs: u64,
    /// How uploaded documents are read.
    #[command(flatten)]
    pub extractor: ExtractorArgs,
    /// Base URL of an openFDA API (`https://api.fda.gov`) to consult drug labels beside the
    /// offline interaction base; off by default (no network needed).
    #[arg(long, env = "MEDILINK_OPENFDA_URL")]
    pub openfda_url: Option<String>,

    /// First run with something to see: import the synthetic patients of `--demo-data` when
    /// the store has none, create a demo admin, physician (consented to by three imported
    /// patients) and patient, and print their sign-in details once. Refused with
    /// `MEDILINK_ENV=production`.
    #[arg(long, env = "MEDILINK_DEMO")]
    pub demo: bool,
    /// Where `--demo` finds its synthetic FHIR Bundles (the repository's `testdata/`).
    #[arg(long, env = "MEDILINK_DEMO_DATA", default_value = "testdata")]
    pub demo_data: PathBuf,
}

/// Validated settings of the in-process worker.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Jobs run at once.
    pub concurrency: usize,
    /// Lease length.
    pub lease: std::time::Duration,
}

/// Validated document configuration of `serve`.
#[derive(Debug, Clone)]
pub struct DocumentsConfig {
    /// Largest accepted upload in bytes.
    pub max_bytes: usize,
    /// The blob store.
    pub blobs: BlobOptions,
}

/// Validated security configuration of `serve`.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// The keys.
    pub keys: Keys,
    /// Authentication tunables.
    pub auth: AuthSettings,
    /// Redis URL of the key-value store.
    pub redis_url: Option<String>,
    /// CORS origins.
    pub cors_origins: Vec<String>,
    /// Send HSTS.
    pub hsts: bool,
    /// The signing keys of SMART tokens.
    pub smart_keys: crate::smart::SigningKeys,
}

impl KeyArgs {
    /// The SMART signing keys: configured, or read from / generated into `{data_dir}/keys/`.
    pub fn smart_keys(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<crate::smart::SigningKeys> {
        crate::smart::SigningKeys::resolve(
            self.smart_signing_key.as_deref(),
            self.smart_signing_key_previous.as_deref(),
            &data_dir.join("keys"),
            self.production()?,
        )
    }

    /// Whether `MEDILINK_ENV` is `production`.
    pub fn production(&self) -> anyhow::Result<bool> {
        match self.environment.as_str() {
            "production" => Ok(true),
            "development" => Ok(false),
            other => bail!("--env / MEDILINK_ENV: {other:?} is neither development nor production"),
        }
    }

    /// The keys: configured, or read from / generated into `{data_dir}/keys/`.
    pub fn keys(&self, data_dir: &std::path::Path) -> anyhow::Result<Keys> {
        let production = self.production()?;
        let dir = data_dir.join("keys");
        let one = |given: &Option<String>, name: &str, file: &str| -> anyhow::Result<[u8; 32]> {
            Ok(resolve_key(given.as_deref(), name, &dir, file, production)?)
        };
        Ok(Keys {
            jwt: one(
                &self.jwt_key,
                "--jwt-key / MEDILINK_AUTH_JWT_KEY",
                "jwt.key",
            )?,
            encryption: one(
                &self.encryption_key,
                "--encryption-key / MEDILINK_AUTH_ENCRYPTION_KEY",
                "encryption.key",
            )?,
            lookup: one(
                &self.lookup_key,
                "--lookup-key / MEDILINK_AUTH_LOOKUP_KEY",
                "lookup.key",
            )?,
            research: one(
                &self.research_key,
                "--research-key / MEDILINK_RESEARCH_KEY",
                "research.key",
            )?,
        })
    }
}

/// Validated storage configuration.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The data directory (exists once validated).
    pub data_dir: PathBuf,
    /// Options of the SQL resource store.
    pub sql: SqlOptions,
}

/// Validated configuration of `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Storage.
    pub storage: StorageConfig,
    /// Listen address.
    pub listen: SocketAddr,
    /// Public base URL without trailing slash.
    pub base_url: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// Keys, authentication, CORS.
    pub security: SecurityConfig,
    /// SMTP delivery of patient notices (logged only when `None`).
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// Where the web dashboards come from.
    pub dashboards: Dashboards,
    /// Document uploads and their blob store.
    pub documents: DocumentsConfig,
    /// The in-process job worker (`None`: `--no-worker`).
    pub worker: Option<WorkerSettings>,
    /// Whether this process runs the FHIR Subscriptions dispatcher (not with
    /// `--no-subscription-dispatch`).
    pub subscription_dispatch: bool,
    /// `--shared-sqlite`: several servers may serve this SQLite database.
    pub shared_sqlite: bool,
    /// The structured extractor of uploaded documents.
    pub extractor: ExtractorConfig,
    /// The openFDA API consulted beside the offline drug base (`None`: offline only).
    pub openfda: Option<url::Url>,
    /// How long research exports are kept (`--research-export-ttl-hours`).
    pub research_ttl: std::time::Duration,

    /// `--demo`: the directory of the demo data (`None`: no demo).
    pub demo: Option<PathBuf>,
    /// How often the readiness checker runs (`--ready-check-interval-ms`).
    pub ready_check_interval: std::time::Duration,
    /// The hidden test crash point (`--test-crash-before-document-job`, issue #24).
    pub crash_before_document_job: bool,
}

/// Where the web dashboards' files come from (`layers/static_files.rs` serves them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dashboards {
    /// Embedded at build time (release builds); read from `dashboards/dist` in debug builds.
    Embedded,
    /// Read from this directory at request time (`--dashboards-dir`).
    Dir(PathBuf),
}

impl StorageArgs {
    /// Checks the values, creates the data directory and builds the store options.
    pub fn validate(&self, migrate: bool) -> anyhow::Result<StorageConfig> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "--data-dir / MEDILINK_DATA_DIR: cannot create {}",
                self.data_dir.display()
            )
        })?;
        let url = match &self.database_url {
            Some(url) => {
                let scheme = url.split(':').next().unwrap_or_default();
                if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
                    bail!(
                        "--database-url / MEDILINK_DATABASE_URL: unsupported scheme {scheme:?} (use sqlite:// or postgres://)"
                    );
                }
                url.clone()
            }
            None => format!("sqlite://{}/medilink.db", self.data_dir.display()),
        };
        if self.database_max_connections == 0 {
            bail!(
                "--database-max-connections / MEDILINK_DATABASE_MAX_CONNECTIONS must be at least 1"
            );
        }
        let mut sql = SqlOptions::new(url);
        sql.max_connections = self.database_max_connections;
        sql.statement_timeout = (self.database_statement_timeout_secs > 0)
            .then(|| std::time::Duration::from_secs(self.database_statement_timeout_secs));
        sql.migrate = migrate;
        Ok(StorageConfig {
            data_dir: self.data_dir.clone(),
            sql,
        })
    }
}

impl ServeArgs {
    /// Checks the values and merges them with the storage configuration.
    pub fn validate(&self, storage: &StorageArgs, keys: &KeyArgs) -> anyhow::Result<ServeConfig> {
        if self.demo && keys.production()? {
            bail!(
                "--demo / MEDILINK_DEMO is refused with MEDILINK_ENV=production: demo accounts have printed passwords and synthetic patients"
            );
        }
        if self.max_body_bytes == 0 {
            bail!("--max-body-bytes / MEDILINK_SERVER_MAX_BODY_BYTES must be at least 1");
        }
        if self.worker_concurrency == 0 || self.worker_concurrency > 64 {
            bail!("--worker-concurrency / MEDILINK_WORKER_CONCURRENCY must be 1 to 64");
        }
        if !(10..=60_000).contains(&self.ready_check_interval_ms) {
            bail!(
                "--ready-check-interval-ms / MEDILINK_READY_CHECK_INTERVAL_MS must be 10 to 60000"
            );
        }
        if self.worker_lease_secs < 2 {
            bail!("--worker-lease-secs / MEDILINK_WORKER_LEASE_SECS must be at least 2");
        }
        if !(1..=8760).contains(&self.research_export_ttl_hours) {
            bail!(
                "--research-export-ttl-hours / MEDILINK_RESEARCH_EXPORT_TTL_HOURS must be 1 to 8760"
            );
        }
        if self.max_document_bytes == 0 {
            bail!("--max-document-bytes / MEDILINK_MAX_DOCUMENT_BYTES must be at least 1");
        }
        let base_url = match &self.base_url {
            None => None,
            Some(text) => {
                let url = url::Url::parse(text).with_context(|| {
                    format!("--base-url / MEDILINK_SERVER_BASE_URL: {text:?} is not a URL")
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
                    bail!(
                        "--base-url / MEDILINK_SERVER_BASE_URL must be an http(s) URL without a query"
                    );
                }
                Some(text.trim_end_matches('/').to_owned())
            }
        };
        let production = keys.production()?;
        if production && self.cors_origins.iter().any(|origin| origin == "*") {
            bail!("--cors-origins / MEDILINK_SERVER_CORS_ORIGINS: `*` is refused in production");
        }
        if production && (self.argon2_memory_kib < 19 * 1024 || self.argon2_iterations < 2) {
            bail!(
                "--argon2-memory-kib / --argon2-iterations: below the production minimum (19456 KiB, 2)"
            );
        }
        let extractor = self.extractor.validate()?;
        let storage = storage.validate(!self.no_migrate)?;
        let documents = self.documents(&storage.data_dir)?;
        let auth = AuthSettings {
            access_ttl: std::time::Duration::from_secs(self.access_ttl_secs.clamp(60, 3600)),
            hash: HashParams {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                parallelism: 1,
            },
            trust_forwarded_for: self.trust_forwarded_for,
            rate: crate::auth::RateLimits {
                admin: self.rate_limit_admin,
                physician: self.rate_limit_physician,
                patient: self.rate_limit_patient,
                ..crate::auth::RateLimits::default()
            },
            ..AuthSettings::default()
        };
        let security = SecurityConfig {
            keys: keys.keys(&storage.data_dir)?,
            auth,
            redis_url: self.redis_url.clone(),
            cors_origins: self.cors_origins.clone(),
            hsts: self.hsts,
            smart_keys: keys.smart_keys(&storage.data_dir)?,
        };
        let smtp = self
            .smtp_url
            .as_ref()
            .map(|url| crate::mail::SmtpSettings::new(url.clone(), self.smtp_from.clone()));
        let dashboards = match &self.dashboards_dir {
            None => Dashboards::Embedded,
            Some(dir) if dir.join("index.html").is_file() => Dashboards::Dir(dir.clone()),
            Some(dir) => bail!(
                "--dashboards-dir / MEDILINK_DASHBOARDS_DIR: {} has no index.html (build the dashboards first)",
                dir.display()
            ),
        };
        let openfda = self
            .openfda_url
            .as_deref()
            .map(|text| {
                url::Url::parse(text)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .with_context(|| {
                        format!(
                            "--openfda-url / MEDILINK_OPENFDA_URL: {text:?} is not an http(s) URL"
                        )
                    })
            })
            .transpose()?;
        Ok(ServeConfig {
            research_ttl: std::time::Duration::from_secs(self.research_export_ttl_hours * 3600),
            demo: self.demo.then(|| self.demo_data.clone()),
            openfda,
            extractor,
            dashboards,
            smtp,
            documents,
            subscription_dispatch: !self.no_subscription_dispatch,
            shared_sqlite: self.shared_sqlite,
            crash_before_document_job: self.test_crash_before_document_job,
            ready_check_interval: std::time::Duration::from_millis(self.ready_check_interval_ms),
            worker: (!self.no_worker).then_some(WorkerSettings {
                concurrency: self.worker_concurrency,
                lease: std::time::Duration::from_secs(self.worker_lease_secs),
            }),
            security,
            storage,
            listen: self.listen,
            base_url,
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
            },
        })
    }
}

impl ServeArgs {
    /// The document options; the default blob store is `fs://{data-dir}/blobs` (absolute).
    fn documents(&self, data_dir: &std::path::Path) -> anyhow::Result<DocumentsConfig> {
        let url = match &self.blob_url {
            Some(url) => {
                let scheme = url.split("://").next().unwrap_or_default();
                if !url.contains("://") || !matches!(scheme, "fs" | "s3") {
                    bail!(
                        "--blob-url / MEDILINK_BLOB_URL: unsupported scheme {scheme:?} (use fs:///path or s3://bucket)"
                    );
                }
                url.clone()
            }
            None => {
                let dir = std::fs::canonicalize(data_dir)
                    .with_context(|| {
                        format!("--data-dir / MEDILINK_DATA_DIR: {}", data_dir.display())
                    })?
                    .join("blobs");
                format!("fs://{}", dir.display())
            }
        };
        Ok(DocumentsConfig {
            max_bytes: self.max_document_bytes,
            blobs: BlobOptions {
                url,
                access_key_id: self.blob_access_key_id.clone(),
                secret_access_key: self.blob_secret_access_key.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medilink_ingest::extract::{ApiKey, LlmProvider};

    #[test]
    fn serve_defaults_to_sqlite_in_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("medilink-config-{}", std::process::id()));
        let cli = Cli::try_parse_from([
            "medilink-server",
            "serve",
            "--data-dir",
            dir.to_str().unwrap_or("x"),
        ]);
        let cli = cli.expect("parses");
        let Command::Serve(serve) = &cli.command else {
            panic!("serve")
        };
        let config = serve.validate(&cli.storage, &cli.keys).expect("valid");
        assert_eq!(
            config.storage.sql.url,
            format!("sqlite://{}/medilink.db", dir.display())
        );
        assert!(config.storage.sql.migrate);
        assert_eq!(config.limits.max_body_bytes, 16 * 1024 * 1024);
        assert_eq!(config.documents.max_bytes, 20 * 1024 * 1024);
        let blobs = std::fs::canonicalize(&dir).expect("exists").join("blobs");
        assert_eq!(
            config.documents.blobs.url,
            format!("fs://{}", blobs.display())
        );
        assert_eq!(config.worker.map(|w| w.concurrency), Some(2));
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_values_name_the_flag() {
        let cli = Cli::try_parse_from(["medilink-server", "serve", "--base-url", "ftp://x"])
            .expect("parses");
        let Command::Serve(serve) = &cli.command else {
            panic!("serve")
        };
        let mut storage = cli.storage.clone();
        storage.data_dir = std::env::temp_dir();
        let err = serve.validate(&storage, &cli.keys).expect_err("invalid");
        assert!(err.to_string().contains("--base-url"));
        let cli = Cli::try_parse_from(["medilink-server", "serve", "--blob-url", "ftp://x"])
            .expect("parses");
        let Command::Serve(serve) = &cli.command else {
            panic!("serve")
        };
        let err = serve.validate(&storage, &cli.keys).expect_err("invalid");
        assert!(err.to_string().contains("--blob-url"), "{err}");
        assert!(Cli::try_parse_from(["medilink-server", "import"]).is_err());
    }

    fn extractor(args: &[&str]) -> anyhow::Result<ExtractorConfig> {
        let cli = Cli::try_parse_from(["medilink-server", "serve"].iter().chain(args))
            .map_err(anyhow::Error::from)?;
        let Command::Serve(serve) = &cli.command else {
            panic!("serve")
        };
        serve.extractor.validate()
    }

    #[test]
    fn the_extractor_defaults_to_rules() {
        assert!(matches!(
            extractor(&[]).expect("valid"),
            ExtractorConfig::Rules
        ));
    }

    #[test]
    fn llm_needs_a_model_and_a_key() {
        let err = extractor(&["--extractor", "llm", "--llm-api-key", "k"]).expect_err("no model");
        assert!(err.to_string().contains("--llm-model"), "{err}");
        let err = extractor(&["--extractor", "llm", "--llm-model", "m"]).expect_err("no key");
        assert!(err.to_string().contains("MEDILINK_LLM_API_KEY"), "{err}");
        let err = extractor(&[
            "--extractor",
            "llm",
            "--llm-model",
            "m",
            "--llm-api-key-file",
        ])
        .expect_err("missing value");
        assert!(err.to_string().contains("--llm-api-key-file"), "{err}");
        let err = extractor(&["--extractor", "gpt"]).expect_err("unknown extractor");
        assert!(err.to_string().contains("--extractor"), "{err}");
        let args = [
            "--extractor",
            "llm",
            "--llm-model",
            "m",
            "--llm-api-key",
            "k",
        ];
        let err =
            extractor(&[&args[..], &["--llm-base-url", "ftp://x"]].concat()).expect_err("bad url");
        assert!(err.to_string().contains("--llm-base-url"), "{err}");
        let err = extractor(&[&args[..], &["--llm-timeout-secs", "0"]].concat())
            .expect_err("bad timeout");
        assert!(err.to_string().contains("--llm-timeout-secs"), "{err}");
    }

    #[test]
    fn llm_reads_the_key_file_and_never_prints_the_key() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-secret-4711\n").expect("write");
        let path = path.display().to_string();
        let args = [
            "--extractor",
            "llm",
            "--llm-provider",
            "openai",
            "--llm-model",
            "gpt-4o-mini",
            "--llm-api-key-file",
            &path,
            "--llm-timeout-secs",
            "7",
        ];
        let ExtractorConfig::Llm(config) = extractor(&args).expect("valid") else {
            panic!("llm")
        };
        assert_eq!(config.provider, LlmProvider::OpenAiCompatible);
        assert_eq!(config.base_url, "https://api.openai.com/v1");
        assert_eq!(config.model, "gpt-4o-mini");
        assert_eq!(config.api_key, ApiKey::new("sk-secret-4711"));
        assert_eq!(config.timeout, std::time::Duration::from_secs(7));
        assert!(!format!("{config:?}").contains("sk-secret"));
        let args = [
            "--extractor",
            "llm",
            "--llm-model",
            "m",
            "--llm-api-key",
            "sk-flag-0815",
        ];
        let cli =
            Cli::try_parse_from(["medilink-server", "serve"].iter().chain(&args)).expect("parses");
        assert!(!format!("{cli:?}").contains("sk-flag"));
        let ExtractorConfig::Llm(config) = extractor(&args).expect("valid") else {
            panic!("llm")
        };
        assert_eq!(config.provider, LlmProvider::Gemini);
        assert!(
            config
                .base_url
                .starts_with("https://generativelanguage.googleapis.com/")
        );
        std::fs::write(dir.path().join("empty"), " \n").expect("write");
        let empty = dir.path().join("empty").display().to_string();
        let args = [
            "--extractor",
            "llm",
            "--llm-model",
            "m",
            "--llm-api-key-file",
            &empty,
        ];
        let err = extractor(&args).expect_err("empty key");
        assert!(err.to_string().contains("is empty"), "{err}");
    }
}
