//! The worker loop (issue #6) on a SQLite queue (and a PostgreSQL one when
//! `MEDILINK_TEST_POSTGRES_URL` is set): outcomes, retries with backoff, panics, lost
//! leases, concurrency with graceful shutdown (finish or release), periodic scheduling and the
//! maintenance handlers. Steps are driven with `run_once`; the loop is stopped by a signal
//! the handlers raise, never by sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::jobs_support::TestDb;
use async_trait::async_trait;
use medilink_fhir::RequestContext;
use medilink_fhir::jobs::{Job, JobFilter, JobStatus, NewJob};
use medilink_platform::maintenance::{self, FULLTEXT, STALE_JOBS, STATISTICS, TOKENS};
use medilink_platform::worker::{
    Backoff, JobError, JobHandler, JobOutcome, PERIODIC_HISTORY, Registry, Step, Worker,
    WorkerOptions,
};
use medilink_platform::{AccountStatus, NewUser, RefreshTokenRecord, Role, UserId};
use serde_json::json;
use tokio::sync::Notify;

/// Records each run; fails, panics, blocks or steals its job as the payload says.
#[derive(Debug, Default)]
struct Scripted {
    runs: AtomicUsize,
    started: Notify,
    release: Notify,
    db_jobs: Option<Arc<dyn medilink_fhir::jobs::JobQueue>>,
}

#[async_trait]
impl JobHandler for Scripted {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        match job.payload["do"].as_str().unwrap_or("ok") {
            "retry" => Err(JobError::retryable("service down")),
            "permanent" => Err(JobError::permanent("bad input")),
            "panic" => panic!("scripted panic"),
            "review" => Ok(JobOutcome::needs_review(json!({"draft": 1}))),
            "block" => std::future::pending().await,
            "wait" => {
                self.release.notified().await;
                Ok(JobOutcome::completed(json!({"waited": true})))
            }
            "steal" => {
                let queue = self.db_jobs.as_ref().expect("queue");
                queue
                    .transition(job.id, &[JobStatus::Processing], JobStatus::Cancelled, None)
                    .await
                    .expect("cancel underneath");
                Ok(JobOutcome::completed(json!({})))
            }
            _ => Ok(JobOutcome::completed(json!({"n": job.payload["n"]}))),
        }
    }
}

fn options(name: &str) -> WorkerOptions {
    let mut options = WorkerOptions::new(name);
    options.concurrency = 4;
    options.lease = Duration::from_secs(30);
    options.poll = Duration::from_millis(20);
    options.backoff = Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(100),
    };
    options.shutdown_grace = Duration::from_millis(200);
    options.schedule_every = None;
    options
}

fn worker(db: &TestDb, handler: Arc<Scripted>, name: &str) -> Worker {
    let mut registry = Registry::new();
    registry.register("test.scripted", handler);
    Worker::new(db.jobs.clone(), registry, db.clock.clone(), options(name))
}

async fn enqueue(db: &TestDb, payload: serde_json::Value, max_attempts: u32) -> Job {
    let mut job = NewJob::new("test.scripted", payload);
    job.max_attempts = max_attempts;
    db.jobs.enqueue(job).await.expect("enqueue")
}

async fn status(db: &TestDb, job: &Job) -> Job {
    db.jobs.get(job.id).await.expect("get").expect("job")
}

macro_rules! worker_suite {
    ($open:path) => {
        async fn with_db<F, Fut>(case: F)
        where
            F: FnOnce(TestDb) -> Fut,
            Fut: std::future::Future<Output = ()> + Send + 'static,
        {
            crate::jobs_support::run_on($open(), case).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn outcomes_retries_panics_and_lost_leases() {
            with_db(super::outcomes_retries_panics_and_lost_leases).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_loop_runs_everything_once_then_stops_cleanly() {
            with_db(super::the_loop_runs_everything_once_then_stops_cleanly).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn shutdown_releases_a_job_that_does_not_finish_in_the_grace_period() {
            with_db(super::shutdown_releases_a_job_that_does_not_finish_in_the_grace_period).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn periodic_jobs_have_one_live_instance_and_follow_the_last_run() {
            with_db(super::periodic_jobs_have_one_live_instance_and_follow_the_last_run).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn maintenance_handlers_clean_tokens_and_count() {
            with_db(super::maintenance_handlers_clean_tokens_and_count).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn heartbeats_keep_a_long_job_and_a_lost_lease_stops_it() {
            with_db(super::heartbeats_keep_a_long_job_and_a_lost_lease_stops_it).await
        }
    };
}

mod sqlite {
    use super::*;
    worker_suite!(crate::jobs_support::sqlite);
}

mod postgres {
    use super::*;
    worker_suite!(crate::jobs_support::postgres);
}

async fn outcomes_retries_panics_and_lost_leases(db: TestDb) {
    let handler = Arc::new(Scripted {
        db_jobs: Some(db.jobs.clone()),
        ..Scripted::default()
    });
    let worker = worker(&db, handler.clone(), "w1");
    assert_eq!(worker.run_once().await.expect("step"), Step::Idle);

    let ok = enqueue(&db, json!({"n": 7}), 3).await;
    let step = worker.run_once().await.expect("step");
    assert!(
        matches!(
            step,
            Step::Ran {
                status: JobStatus::Completed,
                ..
            }
        ),
        "{step:?}"
    );
    assert_eq!(status(&db, &ok).await.result, Some(json!({"n": 7})));

    let review = enqueue(&db, json!({"do": "review"}), 3).await;
    worker.run_once().await.expect("step");
    assert_eq!(status(&db, &review).await.status, JobStatus::NeedsReview);

    // Retryable: back to pending after the backoff (10 s, then 20 s), then the dead letter.
    let flaky = enqueue(&db, json!({"do": "retry"}), 3).await;
    let step = worker.run_once().await.expect("step");
    assert!(
        matches!(
            step,
            Step::Ran {
                status: JobStatus::Pending,
                ..
            }
        ),
        "{step:?}"
    );
    let after = status(&db, &flaky).await;
    let wait = after.run_at - db.clock_now();
    assert!(
        wait > time::Duration::seconds(9) && wait <= time::Duration::seconds(10),
        "{wait}"
    );
    assert_eq!(
        worker.run_once().await.expect("step"),
        Step::Idle,
        "backing off"
    );
    db.clock.advance(Duration::from_secs(11));
    worker.run_once().await.expect("step");
    let after = status(&db, &flaky).await;
    let wait = after.run_at - db.clock_now();
    assert!(wait > time::Duration::seconds(19), "doubled: {wait}");
    db.clock.advance(Duration::from_secs(21));
    let step = worker.run_once().await.expect("step");
    assert!(
        matches!(
            step,
            Step::Ran {
                status: JobStatus::Failed,
                ..
            }
        ),
        "{step:?}"
    );
    let dead = status(&db, &flaky).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Failed, 3));
    assert_eq!(dead.last_error.as_deref(), Some("service down"));

    let bad = enqueue(&db, json!({"do": "permanent"}), 3).await;
    worker.run_once().await.expect("step");
    assert_eq!(status(&db, &bad).await.status, JobStatus::Failed);

    let panics = enqueue(&db, json!({"do": "panic"}), 3).await;
    worker.run_once().await.expect("step");
    let after = status(&db, &panics).await;
    assert_eq!(after.status, JobStatus::Pending, "a panic is retried");
    assert_eq!(after.last_error.as_deref(), Some("the handler panicked"));
    db.jobs
        .transition(panics.id, &[JobStatus::Pending], JobStatus::Cancelled, None)
        .await
        .expect("cancel");

    let stolen = enqueue(&db, json!({"do": "steal"}), 3).await;
    assert_eq!(
        worker.run_once().await.expect("step"),
        Step::LostLease { id: stolen.id }
    );
    assert_eq!(
        status(&db, &stolen).await.status,
        JobStatus::Cancelled,
        "outcome dropped"
    );
    assert_eq!(handler.runs.load(Ordering::SeqCst), 8);
}

async fn the_loop_runs_everything_once_then_stops_cleanly(db: TestDb) {
    let handler = Arc::new(Scripted::default());
    let total = 40;
    for n in 0..total {
        enqueue(&db, json!({"n": n}), 3).await;
    }
    let all_done = Arc::new(Notify::new());
    let watcher = {
        let jobs = db.jobs.clone();
        let all_done = all_done.clone();
        tokio::spawn(async move {
            loop {
                let counts = jobs.count_by_status().await.expect("counts");
                if counts == vec![(JobStatus::Completed, total)] {
                    all_done.notify_one();
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let report = worker(&db, handler.clone(), "w1")
        .run(async move { all_done.notified().await })
        .await;
    watcher.await.expect("watcher");
    assert_eq!(report.ran, total);
    assert_eq!((report.released, report.errors), (0, 0));
    assert_eq!(
        handler.runs.load(Ordering::SeqCst),
        total as usize,
        "each job once"
    );
}

async fn shutdown_releases_a_job_that_does_not_finish_in_the_grace_period(db: TestDb) {
    let handler = Arc::new(Scripted::default());
    let stuck = enqueue(&db, json!({"do": "block"}), 3).await;
    let started = {
        let handler = handler.clone();
        async move { handler.started.notified().await }
    };
    let report = worker(&db, handler.clone(), "w1").run(started).await;
    assert_eq!((report.released, report.ran), (1, 0));
    let after = status(&db, &stuck).await;
    assert_eq!(
        (after.status, after.attempts),
        (JobStatus::Pending, 0),
        "attempt not spent"
    );
    assert_eq!(after.leased_by, None);
}

async fn periodic_jobs_have_one_live_instance_and_follow_the_last_run(db: TestDb) {
    let mut registry = Registry::new();
    maintenance::register_maintenance(
        &mut registry,
        db.store.clone(),
        db.platform.accounts.clone(),
        db.jobs.clone(),
        db.clock.clone(),
    );
    let worker = Worker::new(db.jobs.clone(), registry, db.clock.clone(), options("w1"));
    assert_eq!(worker.schedule_periodic().await.expect("schedule"), 3);
    assert_eq!(
        worker.schedule_periodic().await.expect("schedule"),
        0,
        "idempotent"
    );
    let second = Worker::new(
        db.jobs.clone(),
        registry_of(&db),
        db.clock.clone(),
        options("w2"),
    );
    assert_eq!(
        second.schedule_periodic().await.expect("schedule"),
        0,
        "across workers"
    );
    for _ in 0..3 {
        assert!(matches!(
            worker.run_once().await.expect("step"),
            Step::Ran {
                status: JobStatus::Completed,
                ..
            }
        ));
    }
    assert_eq!(worker.run_once().await.expect("step"), Step::Idle);
    assert_eq!(
        worker.schedule_periodic().await.expect("schedule"),
        3,
        "next instances"
    );
    assert_eq!(
        worker.run_once().await.expect("step"),
        Step::Idle,
        "not due yet"
    );
    db.clock.advance(Duration::from_secs(61));
    let step = worker.run_once().await.expect("step");
    assert!(
        matches!(&step, Step::Ran { kind, .. } if kind == STALE_JOBS),
        "{step:?}"
    );
    assert_eq!(worker.run_once().await.expect("step"), Step::Idle);

    // Finished instances are kept for a week, then purged as new ones are scheduled.
    let finished = |db: &TestDb| {
        let jobs = db.jobs.clone();
        async move {
            jobs.list(&JobFilter {
                kind: Some(STALE_JOBS.to_owned()),
                statuses: vec![JobStatus::Completed],
                ..JobFilter::default()
            })
            .await
            .expect("list")
            .len()
        }
    };
    assert_eq!(worker.schedule_periodic().await.expect("schedule"), 1);
    assert_eq!(finished(&db).await, 2);
    db.clock
        .advance(PERIODIC_HISTORY + Duration::from_secs(3600));
    while let Step::Ran { .. } = worker.run_once().await.expect("step") {}
    assert_eq!(finished(&db).await, 3);
    assert_eq!(worker.schedule_periodic().await.expect("schedule"), 3);
    assert_eq!(
        finished(&db).await,
        1,
        "only the run inside the last week is kept"
    );
}

fn registry_of(db: &TestDb) -> Registry {
    let mut registry = Registry::new();
    maintenance::register_maintenance(
        &mut registry,
        db.store.clone(),
        db.platform.accounts.clone(),
        db.jobs.clone(),
        db.clock.clone(),
    );
    registry
}

async fn run_kind(db: &TestDb, kind: &str) -> serde_json::Value {
    let job = db
        .jobs
        .enqueue(NewJob::new(kind, json!({})))
        .await
        .expect("enqueue");
    let worker = Worker::new(
        db.jobs.clone(),
        registry_of(db),
        db.clock.clone(),
        options("m"),
    );
    let step = worker.run_once().await.expect("step");
    assert!(
        matches!(
            step,
            Step::Ran {
                status: JobStatus::Completed,
                ..
            }
        ),
        "{step:?}"
    );
    status(db, &job).await.result.expect("result")
}

async fn maintenance_handlers_clean_tokens_and_count(db: TestDb) {
    let user = UserId("u-1".to_owned());
    db.platform
        .accounts
        .create_user(NewUser {
            id: user.clone(),
            email_hash: vec![1, 2, 3],
            email_enc: vec![4],
            name_enc: None,
            password_hash: "hash".to_owned(),
            role: Role::Admin,
            status: AccountStatus::Active,
            patient_id: None,
        })
        .await
        .expect("user");
    let now = db.clock_now();
    for (n, expires) in [(1u8, -3600i64), (2, -1), (3, 3600)] {
        db.platform
            .accounts
            .insert_refresh(&RefreshTokenRecord {
                token_hash: vec![n],
                user_id: user.clone(),
                family_id: format!("f{n}"),
                created_at: now - time::Duration::days(1),
                expires_at: now + time::Duration::seconds(expires),
            })
            .await
            .expect("token");
    }
    assert_eq!(run_kind(&db, TOKENS).await, json!({"deleted": 2}));
    assert_eq!(
        run_kind(&db, TOKENS).await,
        json!({"deleted": 0}),
        "idempotent"
    );

    let ctx = RequestContext::system();
    for resource in [
        json!({"resourceType": "Patient"}),
        json!({"resourceType": "Patient"}),
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
    ] {
        db.store.create(&ctx, resource).await.expect("create");
    }
    let stats = run_kind(&db, STATISTICS).await;
    assert_eq!(stats["resources"], json!({"Observation": 1, "Patient": 2}));
    assert_eq!(stats["resources_total"], json!(3));
    assert_eq!(stats["jobs"]["completed"], json!(2), "the two token runs");
    assert_eq!(stats["jobs"]["processing"], json!(1), "itself");
    assert!(
        stats["at"]
            .as_str()
            .is_some_and(|at| at.starts_with("2024-01-01"))
    );

    assert_eq!(
        run_kind(&db, STALE_JOBS).await,
        json!({"requeued": 0, "failed": 0})
    );

    // The full-text catch-up applies the change feed to this process's index.
    let index = Arc::new(medilink_fhir::fulltext::TantivySearchIndex::in_memory().expect("index"));
    let mut registry = Registry::new();
    maintenance::register_fulltext(&mut registry, db.store.clone(), index.clone());
    let worker = Worker::new(db.jobs.clone(), registry, db.clock.clone(), options("f"));
    assert_eq!(worker.schedule_periodic().await.expect("schedule"), 1);
    let step = worker.run_once().await.expect("step");
    assert!(
        matches!(&step, Step::Ran { kind, .. } if kind == FULLTEXT),
        "{step:?}"
    );
    let done = db
        .jobs
        .list(&JobFilter {
            kind: Some(FULLTEXT.to_owned()),
            ..JobFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(done[0].result, Some(json!({"applied": 3, "position": 3})));
    let listed = db
        .jobs
        .list(&JobFilter {
            kind: Some(STATISTICS.to_owned()),
            ..JobFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
}

/// Polls `job` until `until` holds for it (bounded; the worker's heartbeats run on their own).
async fn wait_for(db: &TestDb, job: &Job, until: impl Fn(&Job) -> bool) -> Job {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = status(db, job).await;
        if until(&now) {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {now:?}");
        tokio::task::yield_now().await;
    }
}

async fn heartbeats_keep_a_long_job_and_a_lost_lease_stops_it(db: TestDb) {
    let handler = Arc::new(Scripted::default());
    let mut short = options("w1");
    short.lease = Duration::from_millis(300);
    let mut registry = Registry::new();
    registry.register("test.scripted", handler.clone());
    let worker = Worker::new(
        db.jobs.clone(),
        registry.clone(),
        db.clock.clone(),
        short.clone(),
    );

    // A job that outlives its lease several times over is kept by heartbeats.
    let long = enqueue(&db, json!({"do": "wait"}), 3).await;
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.run_once().await })
    };
    let first = wait_for(&db, &long, |j| j.lease_until.is_some()).await;
    let mut lease_until = first.lease_until.expect("leased");
    for _ in 0..3 {
        let renewed = wait_for(&db, &long, |j| j.lease_until > Some(lease_until)).await;
        lease_until = renewed.lease_until.expect("leased");
        assert_eq!(renewed.leased_by.as_deref(), Some("w1"));
    }
    handler.release.notify_one();
    let step = running.await.expect("task").expect("step");
    assert!(
        matches!(
            step,
            Step::Ran {
                status: JobStatus::Completed,
                ..
            }
        ),
        "{step:?}"
    );
    assert_eq!(
        status(&db, &long).await.result,
        Some(json!({"waited": true}))
    );

    // A worker that lost its lease (it hung past the lease, another took the job) drops it.
    let taken = enqueue(&db, json!({"do": "block"}), 3).await;
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.run_once().await })
    };
    wait_for(&db, &taken, |j| j.status == JobStatus::Processing).await;
    db.clock.advance(Duration::from_secs(60));
    let thief = db
        .jobs
        .lease("w2", &["test.scripted"], Duration::from_secs(600))
        .await
        .expect("lease")
        .expect("expired lease taken over");
    assert_eq!(thief.id, taken.id);
    let step = running.await.expect("task").expect("step");
    assert_eq!(step, Step::LostLease { id: taken.id });
    let now = status(&db, &taken).await;
    assert_eq!(
        (now.status, now.leased_by.as_deref()),
        (JobStatus::Processing, Some("w2"))
    );
}
