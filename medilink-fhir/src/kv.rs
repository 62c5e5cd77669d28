//! The [`KeyValue`] seam: small values and counters with a time to live, for rate limits,
//! lockouts and the access-token denylist.
//!
//! [`LocalKeyValue`] keeps them in process (expiry driven by the [`Clock`] seam);
//! `RedisKeyValue` (feature `kv-redis`) shares them between server processes.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::error::{FhirError, FhirResult};

mod key;
#[cfg(feature = "kv-redis")]
mod redis_store;
pub use self::key::KvKey;
#[cfg(feature = "kv-redis")]
pub use self::redis_store::RedisKeyValue;

/// A key-value store with expiring entries.
#[async_trait]
pub trait KeyValue: Send + Sync + Debug {
    /// The live value of `key`.
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>>;
    /// Sets `key` to `value` for `ttl`.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> FhirResult<()>;
    /// Adds one to the counter `key` and returns the new count; a counter that did not exist
    /// starts at 1 and expires `ttl` later (a fixed window).
    async fn incr(&self, key: &str, ttl: Duration) -> FhirResult<u64>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> FhirResult<()>;
    /// Where the values live: `memory` (this process), `database` (the store's own
    /// database) or `redis`; the readiness probe names a failing backend by it.
    fn backend(&self) -> &'static str;

    /// The live values of `first` and `second`, in one round trip where the store allows
    /// (issue #19: a request's token checks read two keys; the SQL and Redis stores override
    /// this with one statement / `MGET`). The default asks twice.
    async fn get_two(
        &self,
        first: &str,
        second: &str,
    ) -> FhirResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        Ok((self.get(first).await?, self.get(second).await?))
    }
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: OffsetDateTime,
}

/// The in-process key-value store (one server process).
#[derive(Debug)]
pub struct LocalKeyValue {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Entries above which a write first sweeps expired ones.
const SWEEP_ABOVE: usize = 10_000;

impl LocalKeyValue {
    /// An empty store whose entries expire by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        LocalKeyValue {
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn with_entries<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, Entry>, OffsetDateTime) -> T,
    ) -> FhirResult<T> {
        let now = self.clock.now();
        let mut entries = self.entries.lock().map_err(|_| FhirError::Internal {
            source: "key-value lock poisoned".into(),
        })?;
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, entry| entry.expires_at > now);
        }
        Ok(f(&mut entries, now))
    }
}

fn expiry(now: OffsetDateTime, ttl: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX)
}

#[async_trait]
impl KeyValue for LocalKeyValue {
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        self.with_entries(|entries, now| {
            entries
                .get(key)
                .filter(|entry| entry.expires_at > now)
                .map(|entry| entry.value.clone())
        })
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> FhirResult<()> {
        self.with_entries(|entries, now| {
            entries.insert(
                key.to_owned(),
                Entry {
                    value: value.to_vec(),
                    expires_at: expiry(now, ttl),
                },
            );
        })
    }

    async fn incr(&self, key: &str, ttl: Duration) -> FhirResult<u64> {
        self.with_entries(|entries, now| {
            let entry = entries
                .entry(key.to_owned())
                .and_modify(|entry| {
                    if entry.expires_at <= now {
                        *entry = Entry {
                            value: b"0".to_vec(),
                            expires_at: expiry(now, ttl),
                        };
                    }
                })
                .or_insert_with(|| Entry {
                    value: b"0".to_vec(),
                    expires_at: expiry(now, ttl),
                });
            let count = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .unwrap_or(0)
                + 1;
            entry.value = count.to_string().into_bytes();
            count
        })
    }

    async fn delete(&self, key: &str) -> FhirResult<()> {
        self.with_entries(|entries, _| {
            entries.remove(key);
        })
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// The conformance cases every [`KeyValue`] passes, with a one-minute window; `advance` moves
/// the store's clock.
#[cfg(any(test, feature = "testsuite"))]
pub async fn key_value_cases(kv: &dyn KeyValue, advance: &(dyn Fn(Duration) + Sync)) {
    key_value_cases_with(kv, Duration::from_secs(60), advance).await;
}

/// The conformance cases with entries living `window`; `advance` moves the store's clock (or
/// sleeps, for a store whose expiry is not driven by a [`Clock`]). Uses keys under `kvt:`.
#[cfg(any(test, feature = "testsuite"))]
pub async fn key_value_cases_with(
    kv: &dyn KeyValue,
    window: Duration,
    advance: &(dyn Fn(Duration) + Sync),
) {
    let long = window * 100;
    assert_eq!(kv.get("kvt:a").await.ok(), Some(None), "missing key");
    kv.set("kvt:a", b"1", window).await.expect("set");
    assert_eq!(kv.get("kvt:a").await.ok(), Some(Some(b"1".to_vec())));
    kv.set("kvt:a", b"two", long).await.expect("overwrite");
    assert_eq!(kv.get("kvt:a").await.ok(), Some(Some(b"two".to_vec())));
    kv.set("kvt:b", &[0, 255, 10], window)
        .await
        .expect("binary value");
    assert_eq!(kv.get("kvt:b").await.ok(), Some(Some(vec![0, 255, 10])));
    assert_eq!(
        kv.get_two("kvt:a", "kvt:b").await.ok(),
        Some((Some(b"two".to_vec()), Some(vec![0, 255, 10]))),
        "two keys at once, in order"
    );
    assert_eq!(
        kv.get_two("kvt:b", "kvt:none").await.ok(),
        Some((Some(vec![0, 255, 10]), None)),
        "a missing second key"
    );
    assert_eq!(
        kv.get_two("kvt:none", "kvt:a").await.ok(),
        Some((None, Some(b"two".to_vec()))),
        "a missing first key"
    );
    assert_eq!(
        kv.get_two("kvt:a", "kvt:a").await.ok(),
        Some((Some(b"two".to_vec()), Some(b"two".to_vec()))),
        "the same key twice"
    );
    assert_eq!(kv.incr("kvt:n", window).await.ok(), Some(1));
    assert_eq!(kv.incr("kvt:n", window).await.ok(), Some(2));
    assert_eq!(
        kv.get("kvt:n").await.ok(),
        Some(Some(b"2".to_vec())),
        "a counter reads as its decimal count"
    );
    assert_eq!(
        kv.incr("kvt:other", long).await.ok(),
        Some(1),
        "counters are per key"
    );
    kv.delete("kvt:a").await.expect("delete");
    kv.delete("kvt:missing")
        .await
        .expect("deleting a missing key");
    assert_eq!(kv.get("kvt:a").await.ok(), Some(None), "deleted");
    kv.delete("kvt:other").await.expect("delete counter");
    assert_eq!(
        kv.incr("kvt:other", long).await.ok(),
        Some(1),
        "deleted counter restarts"
    );
    advance(window / 2);
    // A fixed window: counting does not push the expiry back.
    assert_eq!(kv.incr("kvt:n", window).await.ok(), Some(3));
    advance(window / 2 + window / 10);
    assert_eq!(kv.get("kvt:b").await.ok(), Some(None), "expired value");
    assert_eq!(kv.get("kvt:n").await.ok(), Some(None), "expired counter");
    assert_eq!(
        kv.incr("kvt:n", window).await.ok(),
        Some(1),
        "window restarts"
    );
    assert_eq!(kv.incr("kvt:n", window).await.ok(), Some(2));
    assert_eq!(
        kv.get("kvt:a").await.ok(),
        Some(None),
        "a deleted key stays deleted"
    );
    assert_eq!(
        kv.incr("kvt:other", long).await.ok(),
        Some(2),
        "long-lived counter"
    );
    kv.set("kvt:b", b"again", window)
        .await
        .expect("set after expiry");
    assert_eq!(kv.get("kvt:b").await.ok(), Some(Some(b"again".to_vec())));
    for key in ["kvt:a", "kvt:b", "kvt:n", "kvt:other"] {
        kv.delete(key).await.expect("clean up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[tokio::test]
    async fn local_store_expires_by_its_clock() {
        let clock = Arc::new(FixedClock::new(
            time::macros::datetime!(2024-01-01 0:00 UTC),
        ));
        let kv = LocalKeyValue::new(clock.clone());
        key_value_cases(&kv, &|by| clock.advance(by)).await;
    }
}
