//! Issue #19: the in-process cache of the token checks' absent keys
//! ([`TokenStateCache`]): absence is read once, a write is seen by the next read, a read
//! overtaken by a write records nothing, and other keys are never cached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::kv::{KeyValue, LocalKeyValue};
use medilink_fhir::{FhirResult, FixedClock};
use medilink_server::auth::token_state::TokenStateCache;

/// A store that counts its reads and can hold the next one until told to go on.
#[derive(Debug)]
struct Counted {
    inner: LocalKeyValue,
    reads: AtomicUsize,
    gate: tokio::sync::Mutex<()>,
}

#[async_trait]
impl KeyValue for Counted {
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let value = self.inner.get(key).await;
        let _gate = self.gate.lock().await;
        value
    }
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> FhirResult<()> {
        self.inner.set(key, value, ttl).await
    }
    async fn incr(&self, key: &str, ttl: Duration) -> FhirResult<u64> {
        self.inner.incr(key, ttl).await
    }
    async fn delete(&self, key: &str) -> FhirResult<()> {
        self.inner.delete(key).await
    }
    fn backend(&self) -> &'static str {
        "memory"
    }
}

fn counted() -> Arc<Counted> {
    let clock = Arc::new(FixedClock::new(
        time::macros::datetime!(2026-01-01 0:00 UTC),
    ));
    Arc::new(Counted {
        inner: LocalKeyValue::new(clock),
        reads: AtomicUsize::new(0),
        gate: tokio::sync::Mutex::new(()),
    })
}

#[tokio::test]
async fn absence_is_read_once_and_a_write_is_seen_by_the_next_read() {
    let store = counted();
    let cache = TokenStateCache::new(store.clone());
    let ttl = Duration::from_secs(60);
    for _ in 0..3 {
        assert_eq!(
            cache.get_two("deny:j1", "epoch:u1").await.ok(),
            Some((None, None))
        );
    }
    assert_eq!(store.reads.load(Ordering::SeqCst), 2, "one read per key");
    cache.set("deny:j1", b"1", ttl).await.expect("deny");
    assert_eq!(
        cache.get_two("deny:j1", "epoch:u1").await.ok(),
        Some((Some(b"1".to_vec()), None)),
        "refused by the next read"
    );
    // A present key is always read (it carries its expiry); absence of the other is not.
    cache.get_two("deny:j1", "epoch:u1").await.expect("read");
    assert_eq!(store.reads.load(Ordering::SeqCst), 4);
    cache.incr("epoch:u1", ttl).await.expect("cut-off");
    assert!(cache.get("epoch:u1").await.expect("read").is_some());
    cache.delete("deny:j1").await.expect("delete");
    assert_eq!(cache.get("deny:j1").await.ok(), Some(None));
    // Other keys are never cached: each read reaches the store.
    let before = store.reads.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(cache.get("lock:x").await.ok(), Some(None));
    }
    assert_eq!(store.reads.load(Ordering::SeqCst), before + 3);
}

#[tokio::test]
async fn a_read_overtaken_by_a_write_records_no_absence() {
    let store = counted();
    let cache = Arc::new(TokenStateCache::new(store.clone()));
    // The read sees the key absent, then waits at the gate while the write lands.
    let gate = store.gate.lock().await;
    let reader = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get("deny:j2").await }
    });
    while store.reads.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    cache
        .set("deny:j2", b"1", Duration::from_secs(60))
        .await
        .expect("deny");
    drop(gate);
    assert_eq!(
        reader.await.expect("joins").ok(),
        Some(None),
        "the overtaken read"
    );
    assert_eq!(
        cache.get("deny:j2").await.ok(),
        Some(Some(b"1".to_vec())),
        "its stale absence was not recorded"
    );
}

#[tokio::test]
async fn every_token_check_prefix_is_cached_and_seen_written() {
    let store = counted();
    let cache = TokenStateCache::new(store.clone());
    for prefix in [
        "deny:",
        "epoch:",
        "smart:fam:",
        "smart:cut:",
        "smart:client-cut:",
    ] {
        let key = format!("{prefix}k");
        let before = store.reads.load(Ordering::SeqCst);
        assert_eq!(cache.get(&key).await.ok(), Some(None), "{key}");
        assert_eq!(cache.get(&key).await.ok(), Some(None), "{key}");
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            before + 1,
            "{key}: one read"
        );
        cache
            .set(&key, b"7", Duration::from_secs(60))
            .await
            .expect("set");
        assert_eq!(
            cache.get(&key).await.ok(),
            Some(Some(b"7".to_vec())),
            "{key}: seen written"
        );
    }
}
