//! Command line and environment configuration of `medilink-server`, in two stages: the raw
//! [`Cli`] (clap; every flag also reads `MEDILINK_…`), then validated option structs
//! ([`StorageConfig`], [`ServeConfig`]) for the libraries.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use medilink_fhir::SqlOptions;

use crate::state::Limits;

/// `medilink-server`: the MediLink FHIR R4 server.
#[derive(Debug, Parser)]
#[command(name = "medilink-server", version, about)]
pub struct Cli {
    /// Storage options shared by every command.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (applies pending migrations first unless `--no-migrate`).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Import FHIR Bundles / NDJSON files (or directories of them).
    Import {
        /// Files or directories to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
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
        sql.migrate = migrate;
        Ok(StorageConfig {
            data_dir: self.data_dir.clone(),
            sql,
        })
    }
}

impl ServeArgs {
    /// Checks the values and merges them with the storage configuration.
    pub fn validate(&self, storage: &StorageArgs) -> anyhow::Result<ServeConfig> {
        if self.max_body_bytes == 0 {
            bail!("--max-body-bytes / MEDILINK_SERVER_MAX_BODY_BYTES must be at least 1");
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
        Ok(ServeConfig {
            storage: storage.validate(!self.no_migrate)?,
            listen: self.listen,
            base_url,
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let config = serve.validate(&cli.storage).expect("valid");
        assert_eq!(
            config.storage.sql.url,
            format!("sqlite://{}/medilink.db", dir.display())
        );
        assert!(config.storage.sql.migrate);
        assert_eq!(config.limits.max_body_bytes, 16 * 1024 * 1024);
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
        let err = serve.validate(&storage).expect_err("invalid");
        assert!(err.to_string().contains("--base-url"));
        assert!(Cli::try_parse_from(["medilink-server", "import"]).is_err());
    }
}
