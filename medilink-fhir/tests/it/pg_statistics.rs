//! Issue #19: on PostgreSQL the store refreshes the planner's statistics itself as the data
//! grows (a background `ANALYZE` of the resource and index tables at 1k, 2k, 4k, … written
//! versions), so that searches right after a bulk load are not planned on empty statistics.
//! `pg_stat_user_tables.last_analyze` is set by an `ANALYZE` command only (autovacuum's runs
//! set `last_autoanalyze`), so it tells the store's refresh apart from the server's.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::{
    RequestContext, ResourceStore as _, SeqIdGen, SqlOptions, SystemClock, WriteOp, open_store,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;

/// Generous: the background `ANALYZE` of a few thousand rows takes well under a second.
const ANALYZED_WITHIN: Duration = Duration::from_secs(60);

async fn analyzed(db: &DatabaseConnection, table: &str) -> bool {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = '{table}'"
            ),
        ))
        .await
        .expect("statistics query")
        .expect("the table exists");
    row.try_get_by_index(0).expect("a boolean")
}

fn patients(from: usize, count: usize) -> Vec<WriteOp> {
    (from..from + count)
        .map(|n| WriteOp::Create {
            resource: json!({"resourceType": "Patient", "gender": "other",
                "name": [{"family": format!("Stat{n}")}], "birthDate": "1980-01-01"}),
            id: None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tables_are_analyzed_as_the_data_grows() {
    let Ok(base) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping");
        return;
    };
    let (url, cleanup) = medilink_fhir::testsuite::postgres_database(base).await;
    let store = open_store(
        &SqlOptions::new(url.clone()),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("stat")),
    )
    .await
    .expect("open store");
    let db = Database::connect(url.as_str()).await.expect("connect");
    let ctx = RequestContext::system();

    // Control: below the first threshold nothing is analyzed by the store.
    store
        .transaction(&ctx, patients(0, 1000))
        .await
        .expect("first write");
    let before = analyzed(&db, "search_string").await || analyzed(&db, "resources").await;

    // Crossing 1,024 written versions starts the refresh.
    store
        .transaction(&ctx, patients(1000, 100))
        .await
        .expect("second write");
    let started = tokio::time::Instant::now();
    let mut after = false;
    while started.elapsed() < ANALYZED_WITHIN {
        if analyzed(&db, "search_string").await && analyzed(&db, "resources").await {
            after = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(store);
    db.close().await.ok();
    cleanup().await;
    assert!(!before, "analyzed before the threshold");
    assert!(
        after,
        "not analyzed within {ANALYZED_WITHIN:?} of crossing it"
    );
}
