//! Command line and environment configuration of `medilink-worker`, in two stages: the raw
//! [`Cli`] (clap; every flag also reads `MEDILINK_…`), then the validated [`WorkerConfig`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use medilink_fhir::{BlobOptions, SqlOptions};
pub use medilink_ingest::cli::{ExtractorArgs, ExtractorConfig};
use medilink_platform::keys::resolve_key;
use medilink_platform::notifications::smtp::SmtpSettings;

/// `medilink-worker`: runs queued MediLink jobs (document ingest, maintenance). Start as many
/// as needed on one database: no two ever run the same job at once.
#[derive(Debug, Clone, Parser)]
#[command(name = "medilink-worker", version, about)]
pub struct Cli {
    /// Directory for local data (the default database and blob store live here).
    #[arg(long, env = "MEDILINK_DATA_DIR", default_value = "./medilink-data")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://{data-dir}/medilink.db`.
    #[arg(long, env = "MEDILINK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Connection pool size.
    #[arg(long, env = "MEDILINK_DATABASE_MAX_CONNECTIONS", default_value_t = 8)]
    pub database_max_connections: u32,
    /// Time limit of every database statement, in seconds (0: none), as the server's: a
    /// statement past it is stopped and its job attempt fails.
    #[arg(
        long,
        env = "MEDILINK_DATABASE_STATEMENT_TIMEOUT_SECS",
        default_value_t = medilink_fhir::DEFAULT_STATEMENT_TIMEOUT.as_secs()
    )]
    pub database_statement_timeout_secs: u64,
    /// Do not apply pending migrations at start-up.
    #[arg(long, env = "MEDILINK_DATABASE_NO_MIGRATE")]
    pub no_migrate: bool,
    /// `redis://…` of the key-value store shared with the servers (checked at start-up); the
    /// job queue itself stays in the SQL database.
    #[arg(long, env = "MEDILINK_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// `fs:///path` or `s3://bucket[/prefix]?endpoint=…&region=…`; defaults to
    /// `fs://{data-dir}/blobs`.
    #[arg(long, env = "MEDILINK_BLOB_URL", hide_env_values = true)]
    pub blob_url: Option<String>,
    /// S3 access key id (else from the blob URL, else the AWS default chain).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Jobs run at once by this process.
    #[arg(long, env = "MEDILINK_WORKER_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Lease length in seconds (heartbeats renew it every third).
    #[arg(long, env = "MEDILINK_WORKER_LEASE_SECS", default_value_t = 60)]
    pub lease_secs: u64,
    /// Wait between polls of an empty queue, in milliseconds.
    #[arg(long, env = "MEDILINK_WORKER_POLL_MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// Seconds running jobs may take to finish after SIGTERM before they are released.
    #[arg(
        long,
        env = "MEDILINK_WORKER_SHUTDOWN_GRACE_SECS",
        default_value_t = 20
    )]
    pub shutdown_grace_secs: u64,
    /// This worker's name in leases (default: `worker-{pid}-{random}`).
    #[arg(long, env = "MEDILINK_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Do not schedule the periodic maintenance jobs from this process.
    #[arg(long, env = "MEDILINK_WORKER_NO_SCHEDULE")]
    pub no_schedule: bool,
    /// Do not run the FHIR Subscriptions dispatcher (numbering events and sending rest-hook
    /// notifications) in this process.
    #[arg(long, env = "MEDILINK_WORKER_NO_SUBSCRIPTION_DISPATCH")]
    pub no_subscription_dispatch: bool,
    /// Serve Prometheus metrics at `GET /metrics` on this address (e.g. `127.0.0.1:9185`);
    /// none by default.
    #[arg(long, env = "MEDILINK_WORKER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// OTLP/HTTP collector to send traces to (`http://collector:4318`; `/v1/traces` is
    /// added): one span per job, continuing the trace of the request that enqueued it, and
    /// its store calls. Unset: no tracing, at no cost.
    #[arg(long, env = "MEDILINK_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Register the test-only `test.record` job kind (integration tests).
    #[arg(long, env = "MEDILINK_WORKER_TEST_HANDLERS", hide = true)]
    pub enable_test_handlers: bool,
    /// `development` or `production` (production refuses a generated research key).
    #[arg(long = "env", env = "MEDILINK_ENV", default_value = "development")]
    pub environment: String,
    /// HMAC key (base64, 32 bytes) of the pseudonyms in research exports: the servers' key.
    /// Else `{data-dir}/keys/research.key`, generated when absent (refused in production).
    #[arg(long, env = "MEDILINK_RESEARCH_KEY", hide_env_values = true)]
    pub research_key: Option<String>,
    /// Hours a research export and its files are kept after the kick-off; the periodic
    /// `research.expiry` job then deletes them (the servers' value) (1 to 8760).
    #[arg(
        long,
        env = "MEDILINK_RESEARCH_EXPORT_TTL_HOURS",
        default_value_t = 168
    )]
    pub research_export_ttl_hours: u64,
    /// `smtp://[user:password@]host[:port]` of notice e-mails (as the server's); without it
    /// the e-mail deliveries this worker runs are `dead` ("e-mail is not configured").
    #[arg(long, env = "MEDILINK_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of notice e-mails.
    #[arg(
        long,
        env = "MEDILINK_SMTP_FROM",
        default_value = "MediLink <no-reply@medilink.invalid>"
    )]
    pub smtp_from: String,
    /// Public base URL of the portal that notice e-mails link to (the server's
    /// `--base-url`).
    #[arg(long, env = "MEDILINK_SERVER_BASE_URL")]
    pub base_url: Option<String>,
    /// AEAD key of the accounts' PII columns (the server's): notice e-mails read the
    /// recipient's address with it. Else `{data-dir}/keys/encryption.key`. Read only with
    /// `--smtp-url`.
    #[arg(long, env = "MEDILINK_AUTH_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    /// How documents are read.
    #[command(flatten)]
    pub extractor: ExtractorArgs,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The data directory (exists once validated).
    pub data_dir: PathBuf,
    /// The database.
    pub sql: SqlOptions,
    /// The shared key-value store, if any.
    pub redis_url: Option<String>,
    /// The blob store.
    pub blob: BlobOptions,
    /// Worker loop options.
    pub worker: medilink_platform::worker::WorkerOptions,
    /// Whether `test.record` is registered.
    pub test_handlers: bool,
    /// Whether this process runs the FHIR Subscriptions dispatcher.
    pub subscription_dispatch: bool,
    /// Where `GET /metrics` is served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The structured extractor of document ingest.
    pub extractor: ExtractorConfig,
    /// The pseudonym key of research exports.
    pub research_key: ResearchKey,
    /// How long research exports are kept.
    pub research_ttl: std::time::Duration,
    /// Notice e-mails over SMTP, if configured.
    pub mail: Option<MailConfig>,
    /// The portal's base URL that notices link to.
    pub portal_url: String,
}

/// Notice e-mails: the SMTP settings and the key that opens account addresses.
#[derive(Clone)]
pub struct MailConfig {
    /// Where and how to send.
    pub smtp: SmtpSettings,
    /// The accounts' PII key.
    pub encryption_key: [u8; 32],
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("from", &self.smtp.from)
            .finish_non_exhaustive()
    }
}

/// The research export pseudonym key. Its `Debug` output never shows it.
#[derive(Clone)]
pub struct ResearchKey(pub [u8; 32]);

impl std::fmt::Debug for ResearchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResearchKey(<redacted>)")
    }
}

impl Cli {
    /// Checks the values, creates the data directory and builds the option structs.
    pub fn validate(&self) -> anyhow::Result<WorkerConfig> {
        let extractor = self.extractor.validate()?;
        let production = match self.environment.as_str() {
            "production" => true,
            "development" => false,
            other => bail!("--env / MEDILINK_ENV: {other:?} is neither development nor production"),
        };
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "--data-dir / MEDILINK_DATA_DIR: cannot create {}",
                self.data_dir.display()
            )
        })?;
        let data_dir = std::fs::canonicalize(&self.data_dir).with_context(|| {
            format!(
                "--data-dir / MEDILINK_DATA_DIR: {}",
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
            None => format!("sqlite://{}/medilink.db", data_dir.display()),
        };
        if self.database_max_connections == 0 {
            bail!(
                "--database-max-connections / MEDILINK_DATABASE_MAX_CONNECTIONS must be at least 1"
            );
        }
        let mut sql = SqlOptions::new(url);
        sql.max_connections = self.database_max_connections;
        sql.statement_timeout = (self.database_statement_timeout_secs > 0)
            .then(|| Duration::from_secs(self.database_statement_timeout_secs));
        sql.migrate = !self.no_migrate;
        if let Some(redis) = &self.redis_url
            && !(redis.starts_with("redis://") || redis.starts_with("rediss://"))
        {
            bail!("--redis-url / MEDILINK_REDIS_URL must start with redis:// or rediss://");
        }
        let blob_url = match &self.blob_url {
            Some(url) if url.starts_with("fs://") || url.starts_with("s3://") => url.clone(),
            Some(_) => bail!("--blob-url / MEDILINK_BLOB_URL must be fs:///path or s3://bucket"),
            None => format!("fs://{}", data_dir.join("blobs").display()),
        };
        let blob = BlobOptions {
            url: blob_url,
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
        };
        if !(1..=256).contains(&self.concurrency) {
            bail!("--concurrency / MEDILINK_WORKER_CONCURRENCY must be between 1 and 256");
        }
        if !(3..=3600).contains(&self.lease_secs) {
            bail!("--lease-secs / MEDILINK_WORKER_LEASE_SECS must be between 3 and 3600");
        }
        if !(10..=60_000).contains(&self.poll_ms) {
            bail!("--poll-ms / MEDILINK_WORKER_POLL_MS must be between 10 and 60000");
        }
        let worker_id = match &self.worker_id {
            Some(id) if id.trim().is_empty() || id.len() > 200 => {
                bail!("--worker-id / MEDILINK_WORKER_ID must be 1-200 characters")
            }
            Some(id) => id.clone(),
            None => {
                let random = uuid::Uuid::new_v4().simple().to_string();
                format!("worker-{}-{}", std::process::id(), &random[..8])
            }
        };
        let mut worker = medilink_platform::worker::WorkerOptions::new(worker_id);
        worker.concurrency = self.concurrency;
        worker.lease = Duration::from_secs(self.lease_secs);
        worker.poll = Duration::from_millis(self.poll_ms);
        worker.shutdown_grace = Duration::from_secs(self.shutdown_grace_secs);
        if self.no_schedule {
            worker.schedule_every = None;
        }
        if !(1..=8760).contains(&self.research_export_ttl_hours) {
            bail!(
                "--research-export-ttl-hours / MEDILINK_RESEARCH_EXPORT_TTL_HOURS must be 1 to 8760"
            );
        }
        let research_key = ResearchKey(resolve_key(
            self.research_key.as_deref(),
            "--research-key / MEDILINK_RESEARCH_KEY",
            &data_dir.join("keys"),
            "research.key",
            production,
        )?);
        let portal_url = match &self.base_url {
            None => medilink_platform::notifications::DEFAULT_PORTAL_URL.to_owned(),
            Some(text) => {
                let scheme = text.split("://").next().unwrap_or_default();
                if !matches!(scheme, "http" | "https")
                    || text.contains('?')
                    || !text.contains("://")
                {
                    bail!(
                        "--base-url / MEDILINK_SERVER_BASE_URL must be an http(s) URL without a query"
                    );
                }
                text.trim_end_matches('/').to_owned()
            }
        };
        let mail = match &self.smtp_url {
            None => None,
            Some(url) => {
                let smtp = SmtpSettings::new(url.clone(), self.smtp_from.clone());
                smtp.transport()?;
                smtp.sender()?;
                let encryption_key = resolve_key(
                    self.encryption_key.as_deref(),
                    "--encryption-key / MEDILINK_AUTH_ENCRYPTION_KEY",
                    &data_dir.join("keys"),
                    "encryption.key",
                    production,
                )?;
                Some(MailConfig {
                    smtp,
                    encryption_key,
                })
            }
        };
        Ok(WorkerConfig {
            research_ttl: Duration::from_secs(self.research_export_ttl_hours * 3600),
            mail,
            portal_url,
            research_key,
            data_dir,
            sql,
            redis_url: self.redis_url.clone(),
            blob,
            worker,
            test_handlers: self.enable_test_handlers,
            subscription_dispatch: !self.no_subscription_dispatch,
            metrics_listen: self.metrics_listen,
            extractor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medilink_ingest::extract::{ApiKey, LlmProvider};

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("medilink-worker").chain(args.iter().copied()))
            .expect("parse")
    }

    #[test]
    fn the_research_key_is_configured_or_a_development_default() {
        let dir = tempfile::tempdir().expect("dir");
        let data_dir = dir.path().display().to_string();
        let production = parse(&["--data-dir", &data_dir, "--env", "production"]);
        let err = production
            .validate()
            .expect_err("no generated key in production");
        assert!(err.to_string().contains("MEDILINK_RESEARCH_KEY"), "{err}");
        assert!(!dir.path().join("keys/research.key").exists());
        let generated = parse(&["--data-dir", &data_dir])
            .validate()
            .expect("development");
        let again = parse(&["--data-dir", &data_dir])
            .validate()
            .expect("read back");
        assert_eq!(generated.research_key.0, again.research_key.0);
        assert!(!format!("{generated:?}").contains(&format!("{:?}", generated.research_key.0)));
        let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let given = parse(&["--data-dir", &data_dir, "--research-key", key]);
        assert_eq!(
            given.validate().expect("configured").research_key.0,
            [7; 32]
        );
        let short = parse(&["--data-dir", &data_dir, "--research-key", "AAAA"]);
        assert!(short.validate().is_err());
    }

    #[test]
    fn defaults_live_in_the_data_dir() {
        let dir = tempfile::tempdir().expect("dir");
        let data_dir = dir.path().display().to_string();
        let config = parse(&["--data-dir", &data_dir]).validate().expect("valid");
        assert!(
            config.sql.url.starts_with("sqlite://") && config.sql.url.ends_with("/medilink.db")
        );
        assert!(config.blob.url.starts_with("fs://") && config.blob.url.ends_with("/blobs"));
        assert_eq!(config.worker.concurrency, 4);
        assert!(config.worker.worker_id.starts_with("worker-"));
        assert!(config.worker.schedule_every.is_some());
        assert!(!config.test_handlers);
        assert_eq!(config.metrics_listen, None);
        assert_eq!(
            config.sql.statement_timeout,
            Some(medilink_fhir::DEFAULT_STATEMENT_TIMEOUT)
        );
        let limited = |secs: &str| {
            parse(&[
                "--data-dir",
                &data_dir,
                "--database-statement-timeout-secs",
                secs,
            ])
            .validate()
            .expect("valid")
            .sql
            .statement_timeout
        };
        assert_eq!(limited("120"), Some(Duration::from_secs(120)));
        assert_eq!(limited("0"), None);
        let listen = parse(&[
            "--data-dir",
            &data_dir,
            "--metrics-listen",
            "127.0.0.1:9185",
        ])
        .validate()
        .expect("valid");
        assert_eq!(
            listen.metrics_listen.map(|address| address.to_string()),
            Some("127.0.0.1:9185".to_owned())
        );
        let bad = Cli::try_parse_from(["medilink-worker", "--metrics-listen", "localhost"])
            .expect_err("not an address");
        assert!(bad.to_string().contains("--metrics-listen"), "{bad}");
    }

    #[test]
    fn bad_values_name_their_flag() {
        let dir = tempfile::tempdir().expect("dir");
        let data_dir = dir.path().display().to_string();
        for (args, flag) in [
            (vec!["--database-url", "mysql://x"], "--database-url"),
            (vec!["--concurrency", "0"], "--concurrency"),
            (vec!["--blob-url", "gs://b"], "--blob-url"),
            (vec!["--redis-url", "http://x"], "--redis-url"),
            (vec!["--lease-secs", "1"], "--lease-secs"),
            (vec!["--worker-id", " "], "--worker-id"),
        ] {
            let mut all = vec!["--data-dir", data_dir.as_str()];
            all.extend(args);
            let err = parse(&all).validate().expect_err(flag);
            assert!(err.to_string().contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn the_extractor_is_rules_unless_llm_is_fully_configured() {
        let dir = tempfile::tempdir().expect("dir");
        let data_dir = dir.path().display().to_string();
        let config = parse(&["--data-dir", &data_dir]).validate().expect("valid");
        assert!(matches!(config.extractor, ExtractorConfig::Rules));
        let base = ["--data-dir", data_dir.as_str(), "--extractor", "llm"];
        for (args, needle) in [
            (vec!["--llm-api-key", "k"], "--llm-model"),
            (vec!["--llm-model", "m"], "MEDILINK_LLM_API_KEY"),
            (
                vec![
                    "--llm-model",
                    "m",
                    "--llm-api-key",
                    "k",
                    "--llm-base-url",
                    "x",
                ],
                "--llm-base-url",
            ),
            (
                vec!["--llm-model", "m", "--llm-api-key-file", "/nonexistent/key"],
                "--llm-api-key-file",
            ),
        ] {
            let err = parse(&[&base[..], &args].concat())
                .validate()
                .expect_err(needle);
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
        let key = dir.path().join("key");
        std::fs::write(&key, "sk-worker-secret\n").expect("write");
        let key = key.display().to_string();
        let args = [
            "--llm-provider",
            "openai",
            "--llm-base-url",
            "http://127.0.0.1:9/v1",
            "--llm-model",
            "m",
            "--llm-api-key-file",
            &key,
        ];
        let config = parse(&[&base[..], &args].concat())
            .validate()
            .expect("valid");
        let ExtractorConfig::Llm(llm) = &config.extractor else {
            panic!("llm")
        };
        assert_eq!(llm.provider, LlmProvider::OpenAiCompatible);
        assert_eq!(llm.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(llm.api_key, ApiKey::new("sk-worker-secret"));
        assert_eq!(llm.timeout, Duration::from_secs(60));
        assert!(!format!("{config:?}").contains("sk-worker"));
    }
}
