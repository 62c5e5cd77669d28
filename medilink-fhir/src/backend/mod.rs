//! Backends behind the crate's seams, and the builder that picks one from a URL.

pub mod blob;
#[cfg(feature = "sql")]
pub mod sql;

pub use blob::{BlobOptions, open_blob_store};

use std::sync::Arc;

use crate::clock::{Clock, IdGen};
use crate::error::{FhirError, FhirResult};
use crate::store::ResourceStore;

/// Options of the SQL resource store.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// `sqlite://path/to/file.db`, `sqlite::memory:` or `postgres://…`.
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
    /// Apply pending migrations when opening.
    pub migrate: bool,
    /// Time limit of every database statement (`None`: unlimited). PostgreSQL enforces it as
    /// the connections' `statement_timeout`; on SQLite a progress handler interrupts a
    /// connection's work once the limit has passed since it was taken from the pool (one
    /// statement, or one transaction). Migrations run without it. A statement stopped by it is
    /// [`FhirError::TimedOut`].
    pub statement_timeout: Option<std::time::Duration>,
}

/// The default [`SqlOptions::statement_timeout`].
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl SqlOptions {
    /// Options for `url` with defaults (pool of 8, migrations applied, statements limited to
    /// [`DEFAULT_STATEMENT_TIMEOUT`]).
    pub fn new(url: impl Into<String>) -> Self {
        SqlOptions {
            url: url.into(),
            max_connections: 8,
            migrate: true,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}

/// Opens the resource store the URL names. Fails, naming the Cargo feature, when that backend
/// was compiled out.
pub async fn open_store(
    options: &SqlOptions,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
) -> FhirResult<Arc<dyn ResourceStore>> {
    let scheme = options.url.split(':').next().unwrap_or_default();
    let feature = match scheme {
        "sqlite" => "sql-sqlite",
        "postgres" | "postgresql" => "sql-postgres",
        _ => {
            return Err(FhirError::bad_request(format!(
                "unsupported database url scheme {scheme:?}: use sqlite:// or postgres://"
            )));
        }
    };
    // A table rather than a `match`: with one backend feature the arms become constants.
    const COMPILED: [(&str, bool); 2] = [
        ("sql-sqlite", cfg!(feature = "sql-sqlite")),
        ("sql-postgres", cfg!(feature = "sql-postgres")),
    ];
    let compiled = COMPILED.iter().any(|&(name, on)| name == feature && on);
    if !compiled {
        return Err(FhirError::Unsupported {
            feature: format!("{scheme} backend (compiled without the `{feature}` feature)"),
        });
    }
    #[cfg(feature = "sql")]
    {
        let store = sql::SqlResourceStore::connect(options, clock, ids).await?;
        Ok(Arc::new(store))
    }
    #[cfg(not(feature = "sql"))]
    {
        let _ = (clock, ids);
        unreachable!("invariant: no backend feature compiled in was rejected above")
    }
}

/// Opens the SQL resource store the URL names, as its concrete type: what the crates that
/// keep their own tables on the same database and pool (`medilink-platform`) build on, through
/// [`sql::SqlResourceStore::connection`], [`sql::SqlResourceStore::job_queue`] and
/// [`sql::SqlResourceStore::key_value`]. Fails as [`open_store`] does when the backend was
/// compiled out.
#[cfg(feature = "sql")]
pub async fn open_sql_store(
    options: &SqlOptions,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
) -> FhirResult<Arc<sql::SqlResourceStore>> {
    let scheme = options.url.split(':').next().unwrap_or_default();
    let compiled = (scheme == "sqlite" && cfg!(feature = "sql-sqlite"))
        || (matches!(scheme, "postgres" | "postgresql") && cfg!(feature = "sql-postgres"));
    if !compiled {
        // `open_store` names the unsupported scheme or the missing feature.
        let err = open_store(options, clock, ids).await.err();
        return Err(err.unwrap_or_else(|| FhirError::Unsupported {
            feature: "SQL store".to_owned(),
        }));
    }
    Ok(Arc::new(
        sql::SqlResourceStore::connect(options, clock, ids).await?,
    ))
}
