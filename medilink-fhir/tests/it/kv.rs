//! The `KeyValue` seam's conformance cases on every implementation: in process, the SQL store
//! (a SQLite file; PostgreSQL when `MEDILINK_TEST_POSTGRES_URL` is set) and Redis (when
//! `MEDILINK_TEST_REDIS_URL` is set); exact `incr` counts under concurrency on both SQL
//! backends; expiry by the store's clock, and durability across a reopen of the database.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::kv::{LocalKeyValue, RedisKeyValue, key_value_cases, key_value_cases_with};
use medilink_fhir::{FixedClock, SeqIdGen, SqlOptions};

use crate::jobs_support::{TestDb, postgres, run_on, sqlite};

#[tokio::test]
async fn local_key_value_passes_the_conformance_cases() {
    let clock = Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ));
    let kv = LocalKeyValue::new(clock.clone());
    key_value_cases(&kv, &|by| clock.advance(by)).await;
}

async fn conformance(db: TestDb) {
    let clock = db.clock.clone();
    key_value_cases(db.platform.kv.as_ref(), &|by| clock.advance(by)).await;
}

#[tokio::test]
async fn sql_key_value_passes_the_conformance_cases_on_sqlite() {
    run_on(sqlite(), conformance).await;
}

#[tokio::test]
async fn sql_key_value_passes_the_conformance_cases_on_postgres() {
    run_on(postgres(), conformance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_key_value_passes_the_conformance_cases() {
    let Ok(url) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        eprintln!("MEDILINK_TEST_REDIS_URL is unset: skipping the Redis key-value cases");
        return;
    };
    let prefix = format!("medilink-test-{}:", uuid::Uuid::new_v4().simple());
    let kv = RedisKeyValue::connect(&url, prefix).await.expect("redis");
    // Redis expires by its own clock: the window is short and "advancing" sleeps.
    key_value_cases_with(&kv, Duration::from_millis(400), &std::thread::sleep).await;
    kv.clear().await.expect("clear");
}

/// 8 keys × 50 concurrent increments each: every count is handed out exactly once.
async fn concurrent_increments(db: TestDb) {
    const KEYS: usize = 8;
    const PER_KEY: usize = 50;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..KEYS * PER_KEY {
        let kv = db.platform.kv.clone();
        tasks.spawn(async move {
            let key = format!("rate:{}", task % KEYS);
            let count = kv.incr(&key, Duration::from_secs(60)).await.expect("incr");
            (key, count)
        });
    }
    let mut counts: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    while let Some(joined) = tasks.join_next().await {
        let (key, count) = joined.expect("task");
        counts.entry(key).or_default().push(count);
    }
    assert_eq!(counts.len(), KEYS);
    for (key, mut seen) in counts {
        seen.sort_unstable();
        let expected: Vec<u64> = (1..=PER_KEY as u64).collect();
        assert_eq!(seen, expected, "{key}: each count exactly once");
        let stored = db.platform.kv.get(&key).await.expect("get");
        assert_eq!(stored, Some(PER_KEY.to_string().into_bytes()), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_exact_on_sqlite() {
    run_on(sqlite(), concurrent_increments).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_exact_on_postgres() {
    run_on(postgres(), concurrent_increments).await;
}

/// A window ends `ttl` later by the store's clock, not by the wall clock (the fixed clock
/// moves only by the test's `advance`, and by 1 ms per reading).
async fn expiry_follows_the_clock(db: TestDb) {
    let kv = &db.platform.kv;
    let ttl = Duration::from_secs(30);
    kv.set("deny:jti", b"1", ttl).await.expect("set");
    assert_eq!(kv.incr("fail:x", ttl).await.ok(), Some(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.clock.advance(ttl - Duration::from_secs(1));
    assert!(
        kv.get("deny:jti").await.expect("get").is_some(),
        "live until the end"
    );
    assert_eq!(kv.incr("fail:x", ttl).await.ok(), Some(2), "same window");
    db.clock.advance(Duration::from_secs(2));
    assert_eq!(
        kv.get("deny:jti").await.ok(),
        Some(None),
        "expired at the end"
    );
    assert_eq!(kv.incr("fail:x", ttl).await.ok(), Some(1), "new window");
}

#[tokio::test]
async fn expiry_follows_the_clock_on_sqlite() {
    run_on(sqlite(), expiry_follows_the_clock).await;
}

#[tokio::test]
async fn expiry_follows_the_clock_on_postgres() {
    run_on(postgres(), expiry_follows_the_clock).await;
}

/// Entries survive closing and reopening the database file (a server restart); expired rows
/// are swept by a later write.
#[tokio::test]
async fn sqlite_entries_survive_a_reopen_and_expired_rows_are_swept() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    let clock = Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ));
    let open = || async {
        crate::jobs_support::open_store_and_platform(
            &SqlOptions::new(url.clone()),
            clock.clone(),
            Arc::new(SeqIdGen::new("kv")),
        )
        .await
        .expect("open store")
    };
    let (store, platform) = open().await;
    platform
        .kv
        .set("deny:kept", b"1", Duration::from_secs(3600))
        .await
        .expect("set");
    platform
        .kv
        .set("deny:short", b"1", Duration::from_secs(10))
        .await
        .expect("set");
    assert_eq!(
        platform
            .kv
            .incr("lock:n", Duration::from_secs(3600))
            .await
            .ok(),
        Some(1)
    );
    store.close().await.expect("close");
    drop((store, platform));

    clock.advance(Duration::from_secs(60));
    let (store, platform) = open().await;
    assert_eq!(
        platform.kv.get("deny:kept").await.ok(),
        Some(Some(b"1".to_vec())),
        "survives the reopen"
    );
    assert_eq!(
        platform.kv.get("deny:short").await.ok(),
        Some(None),
        "expired"
    );
    assert_eq!(
        platform
            .kv
            .incr("lock:n", Duration::from_secs(3600))
            .await
            .ok(),
        Some(2)
    );
    // The first write of a process swept the expired row.
    let rows = raw_count(&url).await;
    assert_eq!(rows, 2, "deny:kept and lock:n remain");
    store.close().await.expect("close");
}

async fn raw_count(url: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(url).await.expect("connect");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM kv",
        ))
        .await
        .expect("count")
        .expect("row");
    let count: i64 = row.try_get_by_index(0).expect("count");
    db.close().await.expect("close");
    count
}
