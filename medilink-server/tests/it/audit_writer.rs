//! Issue #19: the audit writer amortises the audit record's commit (group commit on its own
//! connection) without weakening it, on a SQLite file and on PostgreSQL:
//! - the answer waits for the commit: while the append of a read's record is held, the read
//!   does not answer and nothing is in the trail; once it commits, the read answers and its
//!   record is there (a crash before the answer cannot lose an answered read's record);
//! - a failed commit fails the request: with the audit table gone (renamed behind the
//!   application's back) a read answers `503` with an OperationOutcome and no data, and once
//!   the table is back the same read answers `200` (the control, and the writer survived).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use medilink_fhir::FhirResult;
use medilink_fhir::SqlOptions;
use medilink_platform::{AuditEntry, AuditFilter, AuditLog, AuditRecord, AuditVerification};
use medilink_server::Limits;
use medilink_server::layers::audit::AuditSink;
use tokio::sync::{Notify, Semaphore};

use crate::support::{PostgresDatabase, TestApp};

/// An audit log whose appends wait for a permit before committing to the real log.
#[derive(Debug)]
struct Gated {
    inner: Arc<dyn AuditLog>,
    permits: Arc<Semaphore>,
    entered: Arc<Notify>,
    appends: AtomicUsize,
}

#[async_trait::async_trait]
impl AuditLog for Gated {
    async fn append(&self, entries: &[AuditEntry]) -> FhirResult<()> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.entered.notify_one();
        let permit = self.permits.acquire().await.expect("gate open");
        permit.forget();
        self.inner.append(entries).await
    }
    async fn list(&self, filter: &AuditFilter) -> FhirResult<Vec<AuditRecord>> {
        self.inner.list(filter).await
    }
    async fn verify(&self) -> FhirResult<AuditVerification> {
        self.inner.verify().await
    }
    async fn count(&self, filter: &AuditFilter) -> FhirResult<u64> {
        self.inner.count(filter).await
    }
    async fn records_from(&self, first: u64, limit: usize) -> FhirResult<Vec<AuditRecord>> {
        self.inner.records_from(first, limit).await
    }
}

async fn records(app: &TestApp) -> u64 {
    app.state
        .audit_log
        .count(&AuditFilter::default())
        .await
        .expect("count")
}

async fn answer_waits_for_the_commit(url: &str) {
    let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
    let patient = app.create_patient().await;
    let permits = Arc::new(Semaphore::new(0));
    let entered = Arc::new(Notify::new());
    let gated_log = Arc::new(Gated {
        inner: app.state.audit_log.clone(),
        permits: permits.clone(),
        entered: entered.clone(),
        appends: AtomicUsize::new(0),
    });
    let mut state = app.state.clone();
    state.audit = AuditSink::start(gated_log.clone());
    let gated = app.with_state(state);
    let before = records(&app).await;

    let path = format!("/fhir/R4/Patient/{patient}");
    let read = tokio::spawn(async move { gated.get(&path).await });
    entered.notified().await;
    // The record's append has begun and is held: the read must not have answered.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !read.is_finished(),
        "the read answered before its audit record was committed"
    );
    assert_eq!(records(&app).await, before, "nothing committed yet");

    permits.add_permits(1);
    let response = read.await.expect("read task");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(records(&app).await, before + 1);
    let last = app
        .state
        .audit_log
        .list(&AuditFilter {
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(last[0].entry.resource_ids, [format!("Patient/{patient}")]);
    assert_eq!(gated_log.appends.load(Ordering::SeqCst), 1);
}

/// Renames the audit table behind the application's back (`away`) or back.
async fn move_audit_table(url: &str, away: bool) {
    use sqlx::Connection;
    let sql = if away {
        "ALTER TABLE audit_log RENAME TO audit_log_away"
    } else {
        "ALTER TABLE audit_log_away RENAME TO audit_log"
    };
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        sqlx::raw_sql(sql).execute(&mut db).await.expect("rename");
        db.close().await.expect("close");
    } else {
        let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
        sqlx::raw_sql(sql).execute(&mut db).await.expect("rename");
        db.close().await.expect("close");
    }
}

async fn failed_commit_fails_the_request(url: &str) {
    let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
    let patient = app.create_patient().await;
    let path = format!("/fhir/R4/Patient/{patient}");
    assert_eq!(app.get(&path).await.status, StatusCode::OK);

    move_audit_table(url, true).await;
    let refused = tokio::time::timeout(Duration::from_secs(10), app.get(&path))
        .await
        .expect("answered at once, not after retries");
    refused.assert_outcome(StatusCode::SERVICE_UNAVAILABLE, "transient");
    assert!(
        !refused.text().contains(&patient),
        "no data leaves without its record"
    );

    // The control: with the table back, the same read answers, and is recorded.
    move_audit_table(url, false).await;
    let answered = app.get(&path).await;
    assert_eq!(answered.status, StatusCode::OK);
    assert!(answered.text().contains(&patient));
    let last = app
        .state
        .audit_log
        .list(&AuditFilter {
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(last[0].entry.resource_ids, [format!("Patient/{patient}")]);
    assert_eq!(
        app.state
            .audit_log
            .verify()
            .await
            .expect("verify")
            .first_broken,
        None
    );
}

fn sqlite_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/audit.db", dir.path().display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_waits_for_the_audit_commit_sqlite() {
    let (_dir, url) = sqlite_file();
    answer_waits_for_the_commit(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_waits_for_the_audit_commit_postgres() {
    PostgresDatabase::run("the audit writer's wait", |url| async move {
        answer_waits_for_the_commit(&url).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_audit_commit_fails_the_request_sqlite() {
    let (_dir, url) = sqlite_file();
    failed_commit_fails_the_request(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_audit_commit_fails_the_request_postgres() {
    PostgresDatabase::run("the audit writer's failure", |url| async move {
        failed_commit_fails_the_request(&url).await;
    })
    .await;
}
