//! [`RedisKeyValue`]: the [`KeyValue`] seam on Redis, so that several server processes share
//! one set of rate-limit counters, lockouts and denylist entries.
//!
//! The connection reconnects by itself (redis' `ConnectionManager`): while Redis is down each
//! command fails within [`RESPONSE_TIMEOUT`] as `Unavailable`, and the first command after it
//! returns opens a new connection, so a Redis blip costs no restart.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::KeyValue;
use crate::error::{FhirError, FhirResult};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one command may wait for its answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Key-value store on Redis; every key is prefixed with the configured namespace.
#[derive(Clone)]
pub struct RedisKeyValue {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisKeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyValue")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(err: redis::RedisError) -> FhirError {
    FhirError::Unavailable {
        source: Box::new(err),
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisKeyValue {
    /// Connects to `url` (`redis://host:port[/db]`); keys are stored as `{prefix}{key}`.
    /// Fails when Redis does not answer now.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> FhirResult<Self> {
        let store = RedisKeyValue::lazy(url, prefix)?;
        let mut connection = store.connection.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(store)
    }

    /// A store on `url` that connects on its first command (and again after every lost
    /// connection); only the URL is checked now.
    pub fn lazy(url: &str, prefix: impl Into<String>) -> FhirResult<Self> {
        let client = redis::Client::open(url).map_err(|err| FhirError::BadRequest {
            message: format!("invalid redis url: {err}"),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        Ok(RedisKeyValue {
            connection,
            prefix: prefix.into(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Deletes every key under this store's prefix (test clean-up); returns how many.
    pub async fn clear(&self) -> FhirResult<u64> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            if !keys.is_empty() {
                let removed: u64 = connection.del(&keys).await.map_err(unavailable)?;
                deleted += removed;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

#[async_trait]
impl KeyValue for RedisKeyValue {
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        let mut connection = self.connection.clone();
        connection.get(self.key(key)).await.map_err(unavailable)
    }

    async fn get_two(
        &self,
        first: &str,
        second: &str,
    ) -> FhirResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let mut connection = self.connection.clone();
        let (a, b): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("MGET")
            .arg(self.key(first))
            .arg(self.key(second))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok((a, b))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> FhirResult<()> {
        let mut connection = self.connection.clone();
        connection
            .pset_ex(self.key(key), value, millis(ttl))
            .await
            .map_err(unavailable)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> FhirResult<u64> {
        let mut connection = self.connection.clone();
        let key = self.key(key);
        // Create the window with its expiry if absent, then count: atomic as one MULTI.
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .ignore()
            .incr(&key, 1)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    async fn delete(&self, key: &str) -> FhirResult<()> {
        let mut connection = self.connection.clone();
        let _: u64 = connection.del(self.key(key)).await.map_err(unavailable)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
