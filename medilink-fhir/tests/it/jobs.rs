//! The SQL job queue (issue #6) on SQLite always and on PostgreSQL when
//! `MEDILINK_TEST_POSTGRES_URL` is set: lease exclusivity under concurrency, lease expiry,
//! retries with backoff and the dead letter, heartbeats, lease-holder-only completion and the
//! transition rules. Time moves by a [`FixedClock`], never by sleeping.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::jobs_support::TestDb;
use medilink_fhir::jobs::{
    JobFilter, JobProgress, JobQueue, JobStatus, LeaseRecovery, NewJob, QueueSummary,
};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

fn job(kind: &str, n: u32) -> NewJob {
    NewJob::new(kind, json!({ "n": n }))
}

macro_rules! queue_suite {
    ($open:path) => {
        async fn with_db<F, Fut>(case: F)
        where
            F: FnOnce(TestDb) -> Fut,
            Fut: std::future::Future<Output = ()> + Send + 'static,
        {
            crate::jobs_support::run_on($open(), case).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_leases_hand_out_each_job_exactly_once() {
            with_db(|db| async move { super::concurrent_leases(db).await }).await
        }
        #[tokio::test]
        async fn an_expired_lease_is_leased_again_and_the_old_holder_is_locked_out() {
            with_db(|db| async move { super::lease_expiry(db).await }).await
        }
        #[tokio::test]
        async fn failures_retry_with_backoff_then_dead_letter() {
            with_db(|db| async move { super::retry_backoff_dead_letter(db).await }).await
        }
        #[tokio::test]
        async fn heartbeats_extend_the_lease() {
            with_db(|db| async move { super::heartbeat(db).await }).await
        }
        #[tokio::test]
        async fn only_the_lease_holder_completes_fails_or_releases() {
            with_db(|db| async move { super::only_holder(db).await }).await
        }
        #[tokio::test]
        async fn transitions_follow_the_from_set() {
            with_db(|db| async move { super::transitions(db).await }).await
        }
        #[tokio::test]
        async fn leases_respect_kind_run_at_and_order() {
            with_db(|db| async move { super::kinds_and_order(db).await }).await
        }
        #[tokio::test]
        async fn unique_jobs_have_one_live_instance() {
            with_db(|db| async move { super::unique(db).await }).await
        }
        #[tokio::test]
        async fn a_job_with_a_given_id_is_stored_once_whatever_its_status() {
            with_db(|db| async move { super::with_id(db).await }).await
        }
        #[tokio::test]
        async fn stale_leases_are_recovered_and_counted() {
            with_db(|db| async move { super::recovery(db).await }).await
        }
        #[tokio::test]
        async fn finished_jobs_of_a_kind_are_purged_before_an_instant() {
            with_db(|db| async move { super::purge(db).await }).await
        }
        #[tokio::test]
        async fn progress_is_the_holders_and_the_summary_counts_by_kind() {
            with_db(|db| async move { super::progress_and_summary(db).await }).await
        }
        #[tokio::test]
        async fn listing_and_bad_input() {
            with_db(|db| async move { super::listing_and_bad_input(db).await }).await
        }
    };
}

mod sqlite {
    use super::*;
    queue_suite!(crate::jobs_support::sqlite);
}

mod postgres {
    use super::*;
    queue_suite!(crate::jobs_support::postgres);
}

async fn concurrent_leases(db: TestDb) {
    let queue = db.jobs.clone();
    let total = 200;
    let mut ids = HashSet::new();
    for n in 0..total {
        ids.insert(
            queue
                .enqueue(job("test.record", n))
                .await
                .expect("enqueue")
                .id,
        );
    }
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let queue: Arc<dyn JobQueue> = queue.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            let mut done = Vec::new();
            while let Some(job) = queue
                .lease(&worker, &["test.record"], LEASE)
                .await
                .expect("lease")
            {
                assert_eq!(job.status, JobStatus::Processing);
                assert_eq!(job.leased_by.as_deref(), Some(worker.as_str()));
                assert_eq!(job.attempts, 1, "a job leased twice: {}", job.id);
                assert!(
                    queue
                        .complete(job.id, &worker, JobStatus::Completed, json!({}))
                        .await
                        .expect("complete")
                );
                done.push(job.id);
            }
            done
        }));
    }
    let mut processed = Vec::new();
    let mut workers_with_jobs = 0;
    for task in tasks {
        let done = task.await.expect("worker task");
        workers_with_jobs += usize::from(!done.is_empty());
        processed.extend(done);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "leased and completed {total} jobs with 8 concurrent workers in {elapsed:?} ({:.0} jobs/s)",
        f64::from(total) / elapsed.as_secs_f64()
    );
    assert_eq!(processed.len(), total as usize, "every job processed once");
    let unique: HashSet<_> = processed.into_iter().collect();
    assert_eq!(unique, ids, "no job twice, none missing");
    assert!(workers_with_jobs > 1, "the work was shared");
    let counts = queue.count_by_status().await.expect("counts");
    assert_eq!(counts, vec![(JobStatus::Completed, u64::from(total))]);
}

async fn lease_expiry(db: TestDb) {
    let queue = &db.jobs;
    let queued = queue.enqueue(job("k", 1)).await.expect("enqueue");
    let first = queue
        .lease("a", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(first.id, queued.id);
    assert!(first.lease_until.is_some());
    assert!(
        queue
            .lease("b", &["k"], LEASE)
            .await
            .expect("lease")
            .is_none(),
        "held while the lease runs"
    );
    db.clock.advance(LEASE + Duration::from_secs(1));
    let second = queue
        .lease("b", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("re-leased");
    assert_eq!(second.id, queued.id);
    assert_eq!(second.attempts, 2, "the lost attempt counts");
    assert_eq!(second.leased_by.as_deref(), Some("b"));
    assert!(
        !queue
            .heartbeat(queued.id, "a", LEASE)
            .await
            .expect("heartbeat")
    );
    assert!(
        !queue
            .complete(queued.id, "a", JobStatus::Completed, json!({"by": "a"}))
            .await
            .expect("complete")
    );
    assert!(
        queue
            .complete(queued.id, "b", JobStatus::Completed, json!({"by": "b"}))
            .await
            .expect("complete")
    );
    let done = queue.get(queued.id).await.expect("get").expect("job");
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result, Some(json!({"by": "b"})));
    assert_eq!(done.leased_by, None);
}

async fn retry_backoff_dead_letter(db: TestDb) {
    let queue = &db.jobs;
    let mut new = job("k", 1);
    new.max_attempts = 3;
    let queued = queue.enqueue(new).await.expect("enqueue");
    for attempt in 1..=3u32 {
        let leased = queue
            .lease("w", &["k"], LEASE)
            .await
            .expect("lease")
            .expect("job");
        assert_eq!(leased.attempts, attempt);
        let backoff = Duration::from_secs(10 * u64::from(attempt));
        assert!(
            queue
                .fail(leased.id, "w", &format!("boom {attempt}"), true, backoff)
                .await
                .expect("fail")
        );
        let after = queue.get(queued.id).await.expect("get").expect("job");
        assert_eq!(
            after.last_error.as_deref(),
            Some(format!("boom {attempt}").as_str())
        );
        if attempt < 3 {
            assert_eq!(after.status, JobStatus::Pending);
            assert!(
                queue
                    .lease("w", &["k"], LEASE)
                    .await
                    .expect("lease")
                    .is_none(),
                "not before the backoff ends"
            );
            db.clock.advance(backoff + Duration::from_secs(1));
        } else {
            assert_eq!(
                after.status,
                JobStatus::Failed,
                "dead letter after the last attempt"
            );
        }
    }
    db.clock.advance(Duration::from_secs(3600));
    assert!(
        queue
            .lease("w", &["k"], LEASE)
            .await
            .expect("lease")
            .is_none()
    );

    // A permanent error fails at once, attempts left or not.
    let queued = queue.enqueue(job("k", 2)).await.expect("enqueue");
    let leased = queue
        .lease("w", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert!(
        queue
            .fail(leased.id, "w", "bad input", false, Duration::ZERO)
            .await
            .expect("fail")
    );
    let after = queue.get(queued.id).await.expect("get").expect("job");
    assert_eq!((after.status, after.attempts), (JobStatus::Failed, 1));
}

async fn heartbeat(db: TestDb) {
    let queue = &db.jobs;
    let queued = queue.enqueue(job("k", 1)).await.expect("enqueue");
    queue
        .lease("a", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    for _ in 0..3 {
        db.clock.advance(LEASE / 2 + Duration::from_secs(1));
        assert!(
            queue
                .heartbeat(queued.id, "a", LEASE)
                .await
                .expect("heartbeat")
        );
        assert!(
            queue
                .lease("b", &["k"], LEASE)
                .await
                .expect("lease")
                .is_none(),
            "the heartbeat kept the lease"
        );
    }
    let held = queue.get(queued.id).await.expect("get").expect("job");
    assert!(held.lease_until.expect("lease") > db.clock_now());
    db.clock.advance(LEASE + Duration::from_secs(1));
    assert!(
        !queue
            .heartbeat(queued.id, "a", LEASE)
            .await
            .expect("heartbeat"),
        "a lease that ran out is not renewed"
    );
    assert!(
        !queue
            .heartbeat(queued.id, "b", LEASE)
            .await
            .expect("heartbeat by a stranger")
    );
    db.clock.advance(LEASE * 2);
    let taken = queue
        .lease("b", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(taken.id, queued.id);
}

async fn only_holder(db: TestDb) {
    let queue = &db.jobs;
    let queued = queue.enqueue(job("k", 1)).await.expect("enqueue");
    assert!(
        !queue
            .complete(queued.id, "a", JobStatus::Completed, json!({}))
            .await
            .expect("complete"),
        "a pending job cannot be completed"
    );
    queue
        .lease("a", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert!(
        !queue
            .complete(queued.id, "b", JobStatus::Completed, json!({}))
            .await
            .expect("c")
    );
    assert!(
        !queue
            .fail(queued.id, "b", "x", true, Duration::ZERO)
            .await
            .expect("fail")
    );
    assert!(!queue.release(queued.id, "b").await.expect("release"));
    let err = queue
        .complete(queued.id, "a", JobStatus::Failed, json!({}))
        .await
        .expect_err("complete as failed");
    assert!(err.to_string().contains("needs_review"), "{err}");
    let still = queue.get(queued.id).await.expect("get").expect("job");
    assert_eq!(
        (still.status, still.leased_by.as_deref()),
        (JobStatus::Processing, Some("a"))
    );

    // Release gives the job back without spending the attempt.
    assert!(queue.release(queued.id, "a").await.expect("release"));
    let released = queue.get(queued.id).await.expect("get").expect("job");
    assert_eq!(
        (released.status, released.attempts),
        (JobStatus::Pending, 0)
    );
    let again = queue
        .lease("b", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(again.attempts, 1);
    assert!(
        queue
            .complete(
                queued.id,
                "b",
                JobStatus::NeedsReview,
                json!({"observations": 3})
            )
            .await
            .expect("complete")
    );
    let done = queue.get(queued.id).await.expect("get").expect("job");
    assert_eq!(done.status, JobStatus::NeedsReview);
    assert!(
        !queue
            .complete(queued.id, "b", JobStatus::Completed, json!({}))
            .await
            .expect("c")
    );
}

async fn transitions(db: TestDb) {
    let queue = &db.jobs;
    let queued = queue.enqueue(job("k", 1)).await.expect("enqueue");
    assert!(
        !queue
            .transition(
                queued.id,
                &[JobStatus::NeedsReview],
                JobStatus::Completed,
                None
            )
            .await
            .expect("transition"),
        "not from a status it is not in"
    );
    assert!(
        queue
            .transition(queued.id, &[JobStatus::Pending], JobStatus::Cancelled, None)
            .await
            .expect("cancel")
    );
    assert!(
        queue
            .lease("w", &["k"], LEASE)
            .await
            .expect("lease")
            .is_none(),
        "cancelled"
    );
    assert!(
        queue
            .transition(queued.id, &[], JobStatus::Pending, None)
            .await
            .is_ok_and(|t| !t)
    );
    assert!(
        queue
            .transition(
                queued.id,
                &[JobStatus::Pending],
                JobStatus::Processing,
                None
            )
            .await
            .is_err(),
        "processing only by a lease"
    );

    // A reviewed job is accepted, with the reviewer's result replacing the handler's.
    let reviewed = queue.enqueue(job("k", 2)).await.expect("enqueue");
    queue
        .lease("w", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    queue
        .complete(
            reviewed.id,
            "w",
            JobStatus::NeedsReview,
            json!({"draft": true}),
        )
        .await
        .expect("complete");
    assert!(
        queue
            .transition(
                reviewed.id,
                &[JobStatus::NeedsReview],
                JobStatus::Completed,
                Some(json!({"accepted": true})),
            )
            .await
            .expect("accept")
    );
    let accepted = queue.get(reviewed.id).await.expect("get").expect("job");
    assert_eq!(accepted.status, JobStatus::Completed);
    assert_eq!(accepted.result, Some(json!({"accepted": true})));
    assert!(
        queue
            .transition(
                reviewed.id,
                &[JobStatus::Completed],
                JobStatus::Cancelled,
                None
            )
            .await
            .expect("t")
    );
    let cancelled = queue.get(reviewed.id).await.expect("get").expect("job");
    assert_eq!(
        cancelled.result,
        Some(json!({"accepted": true})),
        "kept when none given"
    );
    assert!(queue.get(uuid::Uuid::nil()).await.expect("get").is_none());
}

async fn kinds_and_order(db: TestDb) {
    let queue = &db.jobs;
    assert!(queue.lease("w", &[], LEASE).await.expect("lease").is_none());
    let later = {
        let mut new = job("a", 1);
        new.run_at = Some(db.clock_now() + time::Duration::minutes(5));
        queue.enqueue(new).await.expect("enqueue")
    };
    let first = queue.enqueue(job("a", 2)).await.expect("enqueue");
    let second = queue.enqueue(job("a", 3)).await.expect("enqueue");
    let other = queue.enqueue(job("b", 4)).await.expect("enqueue");
    assert!(
        queue
            .lease("w", &["c"], LEASE)
            .await
            .expect("lease")
            .is_none()
    );
    let got = queue
        .lease("w", &["a"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(got.id, first.id, "oldest due first");
    assert_eq!(got.payload, json!({"n": 2}));
    let got = queue
        .lease("w", &["a", "b"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(got.id, second.id);
    let got = queue
        .lease("w", &["a", "b"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(got.id, other.id);
    assert!(
        queue
            .lease("w", &["a"], LEASE)
            .await
            .expect("lease")
            .is_none(),
        "not due yet"
    );
    for id in [first.id, second.id] {
        queue
            .complete(id, "w", JobStatus::Completed, json!({}))
            .await
            .expect("complete");
    }
    db.clock.advance(Duration::from_secs(301));
    let got = queue
        .lease("w", &["a"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(got.id, later.id, "due now");
    let got = queue
        .lease("w", &["b"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(
        (got.id, got.attempts),
        (other.id, 2),
        "its lease ran out meanwhile"
    );
}

async fn unique(db: TestDb) {
    let queue = &db.jobs;
    let first = queue
        .enqueue_unique(job("maintenance.x", 1), "maintenance.x")
        .await
        .expect("enqueue")
        .expect("first instance");
    assert!(
        queue
            .enqueue_unique(job("maintenance.x", 2), "maintenance.x")
            .await
            .expect("enqueue")
            .is_none(),
        "one pending instance"
    );
    queue
        .lease("w", &["maintenance.x"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert!(
        queue
            .enqueue_unique(job("maintenance.x", 3), "maintenance.x")
            .await
            .expect("enqueue")
            .is_none(),
        "one instance while processing"
    );
    assert!(
        queue
            .enqueue_unique(job("maintenance.y", 3), "maintenance.y")
            .await
            .expect("enqueue")
            .is_some(),
        "keys are independent"
    );
    queue
        .complete(first.id, "w", JobStatus::Completed, json!({}))
        .await
        .expect("complete");
    let next = queue
        .enqueue_unique(job("maintenance.x", 4), "maintenance.x")
        .await
        .expect("enqueue")
        .expect("the next instance after completion");
    assert_ne!(next.id, first.id);
}

/// Issue #24: `enqueue_with_id` stores a job once per id, pending, leased or finished; the
/// first call's job stays (payload and all), and another id is another job (the control).
async fn with_id(db: TestDb) {
    let queue = &db.jobs;
    let id = uuid::Uuid::from_u128(0x2400_0000_0000_0000_0000_0000_0000_0001);
    let (first, stored) = queue
        .enqueue_with_id(job("document.x", 1), id)
        .await
        .expect("enqueue");
    assert!(stored, "the first call stores it");
    assert_eq!((first.id, &first.payload), (id, &json!({"n": 1})));
    let (again, stored) = queue
        .enqueue_with_id(job("document.x", 2), id)
        .await
        .expect("enqueue");
    assert!(!stored, "a second call while pending stores nothing");
    assert_eq!(again, first);
    let leased = queue
        .lease("w", &["document.x"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(leased.id, id);
    queue
        .complete(id, "w", JobStatus::Completed, json!({}))
        .await
        .expect("complete");
    let (done, stored) = queue
        .enqueue_with_id(job("document.x", 3), id)
        .await
        .expect("enqueue");
    assert!(!stored, "nor once it is finished");
    assert_eq!(
        (done.status, done.payload),
        (JobStatus::Completed, json!({"n": 1}))
    );
    let other = uuid::Uuid::from_u128(0x2400_0000_0000_0000_0000_0000_0000_0002);
    let (second, stored) = queue
        .enqueue_with_id(job("document.x", 4), other)
        .await
        .expect("enqueue");
    assert!(stored && second.id == other, "another id is another job");
    assert!(
        queue
            .lease("w", &["document.x"], LEASE)
            .await
            .expect("lease")
            .is_some_and(|job| job.id == other),
        "and it runs"
    );
}

async fn recovery(db: TestDb) {
    let queue = &db.jobs;
    let mut last_try = job("k", 1);
    last_try.max_attempts = 1;
    let doomed = queue.enqueue(last_try).await.expect("enqueue");
    let retried = queue.enqueue(job("k", 2)).await.expect("enqueue");
    let healthy = queue.enqueue(job("k", 3)).await.expect("enqueue");
    for _ in 0..2 {
        queue
            .lease("dead", &["k"], LEASE)
            .await
            .expect("lease")
            .expect("job");
    }
    db.clock.advance(LEASE + Duration::from_secs(1));
    queue
        .lease("alive", &["k"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(
        queue.recover_expired().await.expect("recover"),
        LeaseRecovery {
            requeued: 1,
            failed: 1
        }
    );
    let doomed = queue.get(doomed.id).await.expect("get").expect("job");
    assert_eq!(doomed.status, JobStatus::Failed);
    assert!(doomed.last_error.expect("reason").contains("last attempt"));
    let retried = queue.get(retried.id).await.expect("get").expect("job");
    assert_eq!(
        (retried.status, retried.leased_by),
        (JobStatus::Pending, None)
    );
    let healthy = queue.get(healthy.id).await.expect("get").expect("job");
    assert_eq!(healthy.leased_by.as_deref(), Some("alive"));
    assert_eq!(
        queue.recover_expired().await.expect("again"),
        LeaseRecovery::default()
    );
    // An expired job on its last attempt is never leased again (it waits for recovery).
    let mut single = job("s", 1);
    single.max_attempts = 1;
    queue.enqueue(single).await.expect("enqueue");
    queue
        .lease("dead", &["s"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    db.clock.advance(LEASE * 2);
    assert!(
        queue
            .lease("w", &["s"], LEASE)
            .await
            .expect("lease")
            .is_none()
    );
}

async fn listing_and_bad_input(db: TestDb) {
    let queue = &db.jobs;
    for n in 0..3 {
        let mut new = job("document.ingest", n);
        new.owner = Some(if n == 0 { "u1" } else { "u2" }.to_owned());
        queue.enqueue(new).await.expect("enqueue");
    }
    queue.enqueue(job("other", 9)).await.expect("enqueue");
    let mine = queue
        .list(&JobFilter {
            owner: Some("u2".to_owned()),
            ..JobFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].payload, json!({"n": 2}), "newest first");
    let ingest = queue
        .list(&JobFilter {
            kind: Some("document.ingest".to_owned()),
            statuses: vec![JobStatus::Pending, JobStatus::Failed],
            limit: Some(2),
            ..JobFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(ingest.len(), 2);
    let none = queue
        .list(&JobFilter {
            statuses: vec![JobStatus::Completed],
            ..JobFilter::default()
        })
        .await
        .expect("list");
    assert!(none.is_empty());

    let mut no_attempts = job("k", 1);
    no_attempts.max_attempts = 0;
    assert!(queue.enqueue(no_attempts).await.is_err());
    assert!(queue.enqueue(job(" ", 1)).await.is_err());
    assert_eq!(
        queue.list(&JobFilter::default()).await.expect("list").len(),
        4,
        "nothing written"
    );
}

async fn purge(db: TestDb) {
    let queue = &db.jobs;
    let old_done = queue.enqueue(job("m", 1)).await.expect("enqueue");
    let old_pending = queue.enqueue(job("m", 2)).await.expect("enqueue");
    let other_kind = queue.enqueue(job("x", 3)).await.expect("enqueue");
    for kind in ["m", "x"] {
        let leased = queue
            .lease("w", &[kind], LEASE)
            .await
            .expect("lease")
            .expect("job");
        queue
            .complete(leased.id, "w", JobStatus::Completed, json!({}))
            .await
            .expect("done");
    }
    db.clock.advance(Duration::from_secs(3600));
    let cutoff = db.clock_now();
    let recent_done = queue.enqueue(job("m", 4)).await.expect("enqueue");
    let leased = queue
        .lease("w", &["m"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(leased.id, old_pending.id, "oldest first");
    queue
        .complete(leased.id, "w", JobStatus::Completed, json!({}))
        .await
        .expect("done");
    let leased = queue
        .lease("w", &["m"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(leased.id, recent_done.id);
    queue
        .complete(leased.id, "w", JobStatus::Failed, json!({}))
        .await
        .expect_err("not a finish");
    queue
        .fail(leased.id, "w", "x", false, Duration::ZERO)
        .await
        .expect("fail");

    assert_eq!(queue.delete_finished("m", cutoff).await.expect("purge"), 1);
    assert!(
        queue.get(old_done.id).await.expect("get").is_none(),
        "old and finished: gone"
    );
    for kept in [old_pending.id, recent_done.id, other_kind.id] {
        assert!(queue.get(kept).await.expect("get").is_some(), "kept {kept}");
    }
}

/// Issue #15: a running job's progress is stored by its lease holder only, read back from the
/// job, and replaced by the outcome; the summary counts jobs by kind and status and names the
/// oldest pending one.
async fn progress_and_summary(db: TestDb) {
    let queue = &db.jobs;
    assert_eq!(
        queue.summary().await.expect("summary"),
        QueueSummary::default()
    );
    let first = queue.enqueue(job("a", 1)).await.expect("enqueue");
    db.clock.advance(Duration::from_secs(5));
    queue.enqueue(job("a", 2)).await.expect("enqueue");
    queue.enqueue(job("b", 3)).await.expect("enqueue");
    let leased = queue
        .lease("w", &["a"], LEASE)
        .await
        .expect("lease")
        .expect("job");
    assert_eq!(leased.id, first.id);
    assert_eq!(leased.progress(), None);
    let half = JobProgress { done: 5, total: 10 };
    assert!(
        !queue
            .report_progress(leased.id, "other", half)
            .await
            .expect("progress")
    );
    assert!(
        queue
            .report_progress(leased.id, "w", half)
            .await
            .expect("progress")
    );
    let running = queue.get(leased.id).await.expect("get").expect("job");
    assert_eq!(running.progress(), Some(half));
    assert_eq!(running.status, JobStatus::Processing);
    let summary = queue.summary().await.expect("summary");
    assert_eq!(
        summary.counts,
        vec![
            ("a".to_owned(), JobStatus::Pending, 1),
            ("a".to_owned(), JobStatus::Processing, 1),
            ("b".to_owned(), JobStatus::Pending, 1),
        ]
    );
    assert_eq!(summary.pending(), 2);
    assert_eq!(
        summary.by_status(|kind| kind == "a").get("processing"),
        Some(&1)
    );
    let second = queue.get(first.id).await.expect("get").expect("job");
    assert!(
        summary
            .oldest_pending
            .is_some_and(|at| at > second.created_at)
    );
    assert!(
        queue
            .complete(leased.id, "w", JobStatus::Completed, json!({"n": 1}))
            .await
            .expect("complete")
    );
    assert!(
        !queue
            .report_progress(leased.id, "w", half)
            .await
            .expect("progress")
    );
    let done = queue.get(leased.id).await.expect("get").expect("job");
    assert_eq!(done.progress(), None, "the outcome replaced the progress");
}
