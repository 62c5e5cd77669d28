//! [`TokenStateCache`]: the token checks of every authenticated request (the `jti` denylist
//! and the user's revocation cut-off, `deny:…` and `epoch:…`; for a SMART app's token also
//! its refresh family and the user's and the client's cut-offs, `smart:fam:…`, `smart:cut:…`
//! and `smart:client-cut:…`) answered in process while the keys are known to be absent, which
//! they are for nearly every request (issue #19: each check was a statement through sqlx's
//! SQLite worker thread, two thread hand-offs).
//!
//! Only absence is cached, and only for those prefixes, so that a present key (a revoked
//! token, a recent cut-off) is always read from the store with its expiry. It is correct only
//! where every write of those keys goes through this wrapper: a SQLite database without Redis,
//! whose one server is this process (`medilink-worker` and the CLI never write them). A write
//! (`set`, `incr`, `delete`) of such a key forgets it after the store has it, and bumps a
//! generation: a read that missed before the write and returns after it does not record the
//! absence it saw (its generation is stale), so a revoked token is refused by the next request
//! once the revocation has answered. The set of absent keys is bounded (`MOST` entries); past it,
//! it starts again empty (dropping entries of a cache is always safe).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::FhirResult;
use medilink_fhir::kv::KeyValue;

/// The key prefixes whose absence is cached.
const PREFIXES: [&str; 5] = [
    "deny:",
    "epoch:",
    "smart:fam:",
    "smart:cut:",
    "smart:client-cut:",
];
/// Most absent keys remembered.
const MOST: usize = 100_000;

/// The cache around the security state's key-value store (see the module docs).
#[derive(Debug)]
pub struct TokenStateCache {
    inner: Arc<dyn KeyValue>,
    absent: Mutex<Absent>,
}

#[derive(Debug, Default)]
struct Absent {
    keys: HashSet<String>,
    /// Bumped by every write of a cached prefix.
    generation: u64,
}

fn cached(key: &str) -> bool {
    PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

impl TokenStateCache {
    /// The cache around `inner`, which only this process writes.
    pub fn new(inner: Arc<dyn KeyValue>) -> Self {
        TokenStateCache {
            inner,
            absent: Mutex::new(Absent::default()),
        }
    }

    /// The set; a panic elsewhere cannot leave it inconsistent (each change is one call), so
    /// a poisoned lock is used as it is.
    fn absent(&self) -> MutexGuard<'_, Absent> {
        self.absent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `key` is known to be absent.
    fn known_absent(&self, key: &str) -> bool {
        cached(key) && self.absent().keys.contains(key)
    }

    fn generation(&self) -> u64 {
        self.absent().generation
    }

    /// Records that `key` was absent in a read begun at `generation` (unless a write of a
    /// cached key came in between).
    fn saw_absent(&self, key: &str, generation: u64) {
        if !cached(key) {
            return;
        }
        let mut absent = self.absent();
        if absent.generation != generation {
            return;
        }
        if absent.keys.len() >= MOST {
            absent.keys.clear();
        }
        absent.keys.insert(key.to_owned());
    }

    /// After a write of `key` (whether or not it succeeded: it may have reached the store).
    fn written(&self, key: &str) {
        if cached(key) {
            let mut absent = self.absent();
            absent.generation = absent.generation.wrapping_add(1);
            absent.keys.remove(key);
        }
    }
}

#[async_trait]
impl KeyValue for TokenStateCache {
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        if self.known_absent(key) {
            return Ok(None);
        }
        let generation = self.generation();
        let value = self.inner.get(key).await?;
        if value.is_none() {
            self.saw_absent(key, generation);
        }
        Ok(value)
    }

    async fn get_two(
        &self,
        first: &str,
        second: &str,
    ) -> FhirResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        match (self.known_absent(first), self.known_absent(second)) {
            (true, true) => Ok((None, None)),
            (true, false) => Ok((None, self.get(second).await?)),
            (false, true) => Ok((self.get(first).await?, None)),
            (false, false) => {
                let generation = self.generation();
                let (a, b) = self.inner.get_two(first, second).await?;
                if a.is_none() {
                    self.saw_absent(first, generation);
                }
                if b.is_none() {
                    self.saw_absent(second, generation);
                }
                Ok((a, b))
            }
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> FhirResult<()> {
        let result = self.inner.set(key, value, ttl).await;
        self.written(key);
        result
    }

    async fn incr(&self, key: &str, ttl: Duration) -> FhirResult<u64> {
        let result = self.inner.incr(key, ttl).await;
        self.written(key);
        result
    }

    async fn delete(&self, key: &str) -> FhirResult<()> {
        let result = self.inner.delete(key).await;
        self.written(key);
        result
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
