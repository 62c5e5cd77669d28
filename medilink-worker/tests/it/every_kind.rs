//! One job registry (issue #12): `medilink-worker` registers exactly the kinds of
//! `medilink_jobs::register_jobs` (the server's worker holds the same ones plus its node-local
//! full-text catch-up: `medilink-server/tests/it/jobs.rs`), and a worker process that is the
//! only one on the queue — as beside servers started with `--no-worker` — completes a job of
//! every one of them. The jobs are queued through the library calls the server's handlers
//! make (its binary is not a dependency of this crate), on the same data directory.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use medilink_consent::export::{BulkExport, ExportLevel, ExportRequest};
use medilink_consent::research::{ResearchExport, ResearchParams, ResearchRequest};
use medilink_fhir::jobs::JobKind;
use medilink_fhir::jobs::{JobFilter, JobStatus};
use medilink_fhir::{
    BlobOptions, RequestContext, ResourceStore, SeqIdGen, SqlOptions, SystemClock, open_blob_store,
};
use medilink_ingest::Pipeline;
use medilink_ingest::job::{DocumentIngest, Upload};
use medilink_jobs::JobDeps;
use medilink_platform::Caller;
use medilink_platform::open_store_and_platform;
use medilink_platform::{Platform, Role, UserId};
use medilink_worker::config::Cli;
use serde_json::json;

/// A worker process, SIGKILLed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The platform of `data_dir` (SQLite file, `blobs/`) and the job dependencies over it.
async fn open(data_dir: &std::path::Path) -> (Arc<dyn ResourceStore>, Platform, JobDeps) {
    let url = format!("sqlite://{}/medilink.db", data_dir.display());
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(SeqIdGen::new("k"));
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new(url), clock.clone(), ids.clone())
            .await
            .expect("open");
    let blobs = open_blob_store(&BlobOptions::new(format!(
        "fs://{}",
        data_dir.join("blobs").display()
    )))
    .await
    .expect("blobs");
    let deps = JobDeps {
        store: store.clone(),
        accounts: platform.accounts.clone(),
        audit: platform.audit.clone(),
        jobs: platform.jobs.clone(),
        blobs,
        clock: clock.clone(),
        ids: ids.clone(),
        pipeline: Pipeline::offline_default(),
        research_key: [7; 32],
        research_ttl: std::time::Duration::from_secs(168 * 3600),
        notifications: medilink_platform::notifications::Notifications::new(
            platform.notifications.clone(),
            platform.jobs.clone(),
            clock.clone(),
            ids.clone(),
        ),
        mailer: Arc::new(medilink_platform::notifications::NoMailer),
        portal_url: "http://localhost:8080".to_owned(),
        kv: platform.kv.clone(),
    };
    (store, platform, deps)
}

fn user(role: Role) -> RequestContext {
    RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId(format!("{}-1", role.as_str())),
            role,
            mfa: true,
            patient_id: None,
            purpose_of_use: None,
            app: None,
        })),
        request_id: "test".to_owned(),
        accessed: Default::default(),
        mark: None,
    }
}

#[tokio::test]
async fn the_worker_registers_exactly_the_shared_kinds() {
    let data = tempfile::tempdir().expect("dir");
    let (store, _platform, deps) = open(data.path()).await;
    let dir = data.path().display().to_string();
    let config = Cli::try_parse_from(["medilink-worker", "--data-dir", &dir])
        .expect("flags")
        .validate()
        .expect("config");
    let registry = medilink_worker::run::registry(&config, &deps);
    assert_eq!(registry.kinds(), medilink_jobs::kinds(&deps));
    // The test kinds come on top, and only with the hidden flag.
    let config = Cli::try_parse_from(["medilink-worker", "--data-dir", &dir])
        .expect("flags")
        .validate()
        .map(|mut config| {
            config.test_handlers = true;
            config
        })
        .expect("config");
    let mut expected = medilink_jobs::kinds(&deps);
    expected.push(medilink_worker::test_handlers::RECORD.to_owned());
    expected.sort();
    assert_eq!(
        medilink_worker::run::registry(&config, &deps).kinds(),
        expected
    );
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_completes_a_job_of_every_registered_kind() {
    let data = tempfile::tempdir().expect("dir");
    let (store, platform, deps) = open(data.path()).await;
    let system = RequestContext::system();
    let patient = store
        .create(&system, json!({"resourceType": "Patient", "active": true}))
        .await
        .expect("patient");
    let kinds = medilink_jobs::kinds(&deps);
    let periodic: BTreeSet<String> = {
        let mut registry = medilink_platform::worker::Registry::new();
        medilink_jobs::register_jobs(&mut registry, &deps);
        registry.periodic().iter().map(|p| p.kind.clone()).collect()
    };
    for kind in &kinds {
        match kind.as_str() {
            // Periodic kinds: the worker schedules them itself at start-up.
            kind if periodic.contains(kind) => {}
            DocumentIngest::KIND => {
                let pdf = std::fs::read(format!(
                    "{}/../medilink-ingest/tests/fixtures/report-text-a-001.pdf",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .expect("fixture");
                let upload = Upload {
                    patient: patient.id.clone(),
                    file_name: "report.pdf".to_owned(),
                    bytes: pdf,
                    uploader: "physician-1".to_owned(),
                };
                deps.documents()
                    .submit(store.as_ref(), &system, upload)
                    .await
                    .expect("submitted");
            }
            BulkExport::KIND => {
                let request =
                    ExportRequest::parse(ExportLevel::System, &[], "http://x/$export".to_owned())
                        .expect("request");
                deps.exports()
                    .start(&user(Role::Admin), request)
                    .await
                    .expect("export queued");
            }
            ResearchExport::KIND => {
                let request = ResearchRequest::parse(ResearchParams {
                    purpose: Some("every kind runs: a research export".to_owned()),
                    ..ResearchParams::default()
                })
                .expect("request");
                deps.research()
                    .start(&user(Role::Researcher), request)
                    .await
                    .expect("research export queued");
            }
            medilink_platform::notifications::DELIVER => {
                use medilink_platform::notifications::{
                    Event, NotificationKind, Notify, Recipient,
                };
                let told = deps
                    .notifications
                    .notify(
                        &[Recipient::User(UserId("physician-1".to_owned()))],
                        &Event::new(NotificationKind::DocumentProcessed),
                    )
                    .await
                    .expect("notified");
                assert_eq!(told, 1);
            }
            medilink_platform::admin_jobs::AUDIT_VERIFY => {
                let job = medilink_fhir::jobs::NewJob::of::<
                    medilink_platform::admin_jobs::AuditVerify,
                >(&medilink_fhir::jobs::NoPayload {})
                .expect("job");
                platform
                    .jobs
                    .enqueue(job)
                    .await
                    .expect("audit verification queued");
            }
            other => panic!("no test job for the kind {other}: queue one here"),
        }
    }

    let log = data.path().join("worker.log");
    let mut worker = Worker(
        Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["--concurrency", "2", "--poll-ms", "50"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start medilink-worker"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut pending: BTreeSet<String> = kinds.iter().cloned().collect();
    while !pending.is_empty() {
        for kind in pending.clone() {
            let jobs = platform
                .jobs
                .list(&JobFilter {
                    kind: Some(kind.clone()),
                    ..JobFilter::default()
                })
                .await
                .expect("list");
            // Without `--smtp-url` a notice e-mail's delivery is dead at its first run: its
            // handler ran all the same (a kind without one fails otherwise).
            let not_configured = |job: &&medilink_fhir::jobs::Job| {
                kind == medilink_platform::notifications::DELIVER
                    && job.last_error.as_deref().is_some_and(|error| {
                        error.ends_with(medilink_platform::notifications::NOT_CONFIGURED)
                    })
            };
            if jobs.iter().any(|job| not_configured(&job)) {
                pending.remove(&kind);
                continue;
            }
            let failed = jobs.iter().find(|job| job.status == JobStatus::Failed);
            assert!(failed.is_none(), "{kind} failed: {failed:?}");
            // A document may end waiting for review: its job is done all the same.
            if jobs
                .iter()
                .any(|job| matches!(job.status, JobStatus::Completed | JobStatus::NeedsReview))
            {
                pending.remove(&kind);
            }
        }
        if let Some(status) = worker.0.try_wait().expect("poll worker") {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the worker exited ({status}): {log}");
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("jobs of {pending:?} never finished:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(worker);
    store.close().await.expect("close");
}
