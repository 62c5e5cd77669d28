//! [`AppState`]: the services every handler shares.

use std::sync::Arc;

use anyhow::Context;
use medilink_fhir::{Clock, IdGen, ResourceStore, SystemClock, UuidIdGen, open_store};

use crate::config::{ServeConfig, StorageConfig};

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

/// Shared state of the HTTP application.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The resource store (consent guard to be wrapped around it once consent lands).
    pub store: Arc<dyn ResourceStore>,
    /// Id generator (bundle ids, and what the store was built with).
    pub ids: Arc<dyn IdGen>,
    /// Clock (CapabilityStatement date, bundle timestamps).
    pub clock: Arc<dyn Clock>,
    /// Public base URL of the server (`https://example.org`, no trailing slash); when `None`
    /// it is derived from the request's `Host` header.
    pub base_url: Option<String>,
    /// Request limits.
    pub limits: Limits,
}

impl AppState {
    /// State with default limits and a `Host`-derived base URL.
    pub fn new(store: Arc<dyn ResourceStore>, ids: Arc<dyn IdGen>, clock: Arc<dyn Clock>) -> Self {
        AppState {
            store,
            ids,
            clock,
            base_url: None,
            limits: Limits::default(),
        }
    }

    /// Opens the store the configuration names (system clock, UUID ids) and builds the state.
    pub async fn from_config(config: &ServeConfig) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (store, ids) = open_storage(&config.storage, clock.clone()).await?;
        let mut state = AppState::new(store, ids, clock);
        state.base_url = config.base_url.clone();
        state.limits = config.limits;
        Ok(state)
    }
}

/// Opens the resource store of `storage`, with UUID ids.
pub async fn open_storage(
    storage: &StorageConfig,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn ResourceStore>, Arc<dyn IdGen>)> {
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    let store = open_store(&storage.sql, clock, ids.clone())
        .await
        .context("--database-url / MEDILINK_DATABASE_URL: cannot open the store")?;
    Ok((store, ids))
}
