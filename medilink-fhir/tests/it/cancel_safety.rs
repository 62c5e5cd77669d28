//! Cancel safety: a write abandoned at any await point (a client that hangs up, a worker whose
//! shutdown grace ran out) leaves the store whole and working. Every transaction is committed in
//! full or not at all, and the pooled connection it held serves the next request. The futures
//! are dropped by timeouts that sweep from "before the first statement" to "after the commit",
//! on SQLite always and on PostgreSQL when `MEDILINK_TEST_POSTGRES_URL` is set.

use std::collections::HashMap;
use std::time::Duration;

use medilink_fhir::jobs::NewJob;
use medilink_fhir::{RequestContext, ResourceType, WriteOp};
use serde_json::json;

use crate::jobs_support::TestDb;

/// Transactions of this many creates; each round's ids share the prefix `r{round}-`.
const SIZE: usize = 12;
const ROUNDS: u64 = 120;

/// How long round `round` lets its write run before dropping it: a sweep over 0..2.4 times
/// the time `full` one transaction takes on this machine now, in uneven steps, so
/// cancellations land before, inside and after the transaction however loaded the machine is.
fn deadline(round: u64, full: Duration) -> Duration {
    full * ((round * 7) % 25) as u32 / 10
}

/// `SIZE` creates with ids `{prefix}-{k}`.
fn creates(prefix: &str) -> Vec<WriteOp> {
    (0..SIZE)
        .map(|k| WriteOp::Create {
            resource: json!({"resourceType": "Patient"}),
            id: Some(format!("{prefix}-{k}").parse().expect("id")),
        })
        .collect()
}

async fn abandoned_writes(db: TestDb) {
    let ctx = RequestContext::system();
    // The time a whole transaction takes here, now: the quickest of four after a first one
    // that pays for preparing the statements.
    let mut full = Duration::MAX;
    for warm in 0..5 {
        let started = std::time::Instant::now();
        db.store
            .transaction(&ctx, creates(&format!("warm{warm}")))
            .await
            .expect("a transaction left alone");
        if warm > 0 {
            full = full.min(started.elapsed());
        }
    }
    let mut cancelled = 0;
    for round in 0..ROUNDS {
        let write = db.store.transaction(&ctx, creates(&format!("r{round}")));
        match tokio::time::timeout(deadline(round, full), write).await {
            Err(_) => cancelled += 1,
            Ok(Err(err)) => {
                panic!("round {round}: a transaction that ran to its end failed: {err:?}")
            }
            Ok(Ok(_)) => {}
        }
        // A single write and a job-queue write, abandoned the same way.
        let single = db.store.create(
            &ctx,
            json!({"resourceType": "Basic", "id": format!("b{round}")}),
        );
        let _ = tokio::time::timeout(deadline(round + 7, full), single).await;
        let enqueue = db
            .jobs
            .enqueue(NewJob::new("cancel.test", json!({"n": round})));
        let _ = tokio::time::timeout(deadline(round + 3, full), enqueue).await;
    }
    // Rounds with a zero deadline are always cancelled (the first poll waits on I/O).
    assert!(
        cancelled >= ROUNDS / 25,
        "the sweep must cancel transactions ({cancelled} of {ROUNDS})"
    );

    // The pool's connections all still work: more writes and reads than the pool has
    // connections, each of which must succeed.
    for n in 0..40 {
        let created = db
            .store
            .create(
                &ctx,
                json!({"resourceType": "Patient", "id": format!("after-{n}")}),
            )
            .await
            .expect("a write after abandoned writes");
        let read = db
            .store
            .read(&ctx, ResourceType::Patient, &created.id)
            .await
            .expect("a read after abandoned writes");
        assert_eq!(read.version_id, created.version_id);
        db.jobs
            .enqueue(NewJob::new("cancel.test", json!({"after": n})))
            .await
            .expect("an enqueue after abandoned writes");
    }

    // All or nothing: each transaction's creates are all there or none is.
    let feed = db
        .store
        .changes_since(&ctx, 0, 1_000_000)
        .await
        .expect("change feed");
    let mut per_round: HashMap<String, usize> = HashMap::new();
    for change in &feed {
        if let Some((round, _)) = change.id.as_str().split_once('-')
            && round.starts_with('r')
        {
            *per_round.entry(round.to_owned()).or_default() += 1;
        }
    }
    for (round, count) in &per_round {
        assert_eq!(*count, SIZE, "transaction {round} is partly committed");
    }
    eprintln!(
        "{cancelled} of {ROUNDS} transactions timed out, {} committed (a whole one takes {full:?})",
        per_round.len()
    );
    assert!(
        per_round.len() < ROUNDS as usize,
        "some transactions were abandoned before their commit"
    );
}

macro_rules! cancel_suite {
    ($open:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn abandoned_writes_leave_the_store_whole_and_working() {
            crate::jobs_support::run_on($open(), super::abandoned_writes).await
        }
    };
}

mod sqlite {
    cancel_suite!(crate::jobs_support::sqlite);
}

mod sqlite_memory {
    cancel_suite!(crate::jobs_support::sqlite_memory);
}

mod postgres {
    cancel_suite!(crate::jobs_support::postgres);
}
