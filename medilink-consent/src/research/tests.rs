//! Unit tests of research exports: kick-off and audit, validation, notices, k-anonymity on
//! generated patients with known group sizes, cancellation while writing, expiry.

use std::collections::BTreeMap;

use medilink_fhir::jobs::JobStatus;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

use medilink_fhir::blob::MemoryBlobStore;
use medilink_fhir::{FixedClock, IdGen, ResourceType, SeqIdGen, SqlOptions};
use medilink_platform::notifications::{Event, NotificationKind, Recipient};
use medilink_platform::worker::JobHandler;
use medilink_platform::{UserId, open_store_and_platform};
use time::macros::datetime;

use super::*;
use crate::export::cancel_job;

/// Keeps the records, or refuses them all.
#[derive(Default)]
struct Recorder {
    refuse: bool,
    entries: Mutex<Vec<AuditEntry>>,
}

#[async_trait]
impl AuditRecorder for Recorder {
    async fn record(&self, entry: AuditEntry) -> bool {
        self.entries.lock().expect("lock").push(entry);
        !self.refuse
    }
}

async fn exports() -> ResearchExport {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new("sqlite::memory:"), clock.clone(), ids)
            .await
            .expect("store");
    ResearchExport::new(
        store,
        Arc::new(MemoryBlobStore::default()),
        platform.jobs,
        clock,
        [7; 32],
    )
}

fn as_user(role: Role) -> RequestContext {
    RequestContext::for_caller(Caller::user(UserId("u1".into()), role, true, None), "req")
}

#[tokio::test]
async fn only_researchers_start_and_a_refusal_is_audited_before_the_body_is_read() {
    let exports = exports().await;
    let recorder = Recorder::default();
    let read = AtomicBool::new(false);
    let body = async {
        read.store(true, Ordering::SeqCst);
        Ok::<_, ConsentError>(ResearchRequest::parse(params())?)
    };
    let ctx = as_user(Role::Physician);
    let err = exports
        .create(&ctx, &recorder, Some("10.0.0.1".into()), body)
        .await
        .expect_err("physicians are refused");
    assert_eq!(err.to_string(), "research exports are for researchers only");
    assert!(!read.load(Ordering::SeqCst));
    let entries = recorder.entries.lock().expect("lock").clone();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (entry.outcome, entry.action()),
        (403, Some(Action::ResearchExport))
    );
    assert_eq!(entry.actor.as_deref(), Some("u1"));
    assert_eq!(entry.role.as_deref(), Some("physician"));
    assert!(entry.resource_ids.is_empty() && entry.resource_type.is_none());
    assert_eq!(entry.client_ip.as_deref(), Some("10.0.0.1"));
}

#[tokio::test]
async fn a_kick_off_is_queued_for_the_researcher_and_audited_with_its_types() {
    let exports = exports().await;
    let recorder = Recorder::default();
    let types = Some(vec!["Patient".to_owned(), "Observation".to_owned()]);
    let asked = ResearchParams { types, ..params() };
    let body = async { Ok::<_, ConsentError>(ResearchRequest::parse(asked)?) };
    let ctx = as_user(Role::Researcher);
    let job = exports
        .create(&ctx, &recorder, None, body)
        .await
        .expect("queued");
    assert_eq!(job.owner.as_deref(), Some("u1"));
    let entries = recorder.entries.lock().expect("lock").clone();
    assert_eq!(entries[0].outcome, 202);
    assert_eq!(
        entries[0].resource_type.as_deref(),
        Some("Patient,Observation")
    );
    assert_eq!(entries[0].resource_ids, [job.id.to_string()]);
    assert_eq!(entries[0].request_id, "req");
    assert!(entries[0].patients.is_empty());
    // Issue #15: the purpose is kept in the job and in the kick-off's record.
    assert_eq!(
        entries[0].detail.as_deref(),
        Some("A study of resting heart rates in adults")
    );
    assert_eq!(
        ResearchExport::request(&job).expect("request").purpose,
        "A study of resting heart rates in adults"
    );
    // A download of a file that does not exist is audited as 404.
    let err = exports
        .download(&ctx, &recorder, None, "nonsense", "Patient")
        .await
        .expect_err("no such export");
    assert_eq!(err.kind(), medilink_fhir::ErrorKind::NotFound);
    let entries = recorder.entries.lock().expect("lock").clone();
    assert_eq!(
        (entries[1].outcome, entries[1].resource_types.clone()),
        (404, vec!["Patient".to_owned()])
    );
}

#[tokio::test]
async fn an_answer_whose_record_is_not_stored_is_withheld() {
    let exports = exports().await;
    let recorder = Recorder {
        refuse: true,
        ..Recorder::default()
    };
    let body = async { Ok::<_, ConsentError>(ResearchRequest::parse(params())?) };
    let err = exports
        .create(&as_user(Role::Researcher), &recorder, None, body)
        .await
        .expect_err("withheld");
    assert_eq!(err.kind(), medilink_fhir::ErrorKind::Unavailable);
}

/// Remembers who was told what.
#[derive(Debug, Default)]
struct RecordingNotify(Mutex<Vec<(Vec<Recipient>, Event)>>);

#[async_trait]
impl Notify for RecordingNotify {
    async fn notify(
        &self,
        recipients: &[Recipient],
        event: &Event,
    ) -> medilink_fhir::FhirResult<usize> {
        let mut told = self.0.lock().expect("lock");
        told.push((recipients.to_vec(), event.clone()));
        Ok(recipients.len())
    }
}

// Issue #14: a finished export is told to the researcher who asked, once per job.
#[tokio::test]
async fn a_finished_export_is_told_to_its_researcher() {
    let notify = Arc::new(RecordingNotify::default());
    let exports = exports().await.with_notify(notify.clone());
    let request = ResearchRequest::parse(params()).expect("request");
    let job = exports
        .start(&as_user(Role::Researcher), request)
        .await
        .expect("queued");
    exports.run(&job).await.expect("export runs");
    let told = notify.0.lock().expect("lock").clone();
    assert_eq!(told.len(), 1);
    let (recipients, event) = &told[0];
    assert_eq!(recipients, &[Recipient::User(UserId("u1".into()))]);
    assert_eq!(event.kind, NotificationKind::ResearchExportReady);
    assert!(event.parameters.is_empty(), "no content in the notice");
    assert_eq!(
        event.dedup_key.as_deref(),
        Some(format!("research.export_ready:{}", job.id).as_str())
    );
}

fn params() -> ResearchParams {
    ResearchParams {
        purpose: Some("  A study of resting heart rates in adults \n".to_owned()),
        ..ResearchParams::default()
    }
}

#[test]
fn requests_are_validated() {
    let all = ResearchRequest::parse(params()).expect("default");
    assert!(all.types.contains(&"Patient".to_owned()));
    assert!(!all.types.contains(&"Practitioner".to_owned()));
    assert_eq!(all.purpose, "A study of resting heart rates in adults");
    assert_eq!(all.k, None);
    let some = ResearchRequest::parse(ResearchParams {
        types: Some(vec![
            "Observation".into(),
            "Patient".into(),
            "Observation".into(),
        ]),
        since: Some("2024-01-01T00:00:00Z".into()),
        until: Some("2024-02-01T00:00:00Z".into()),
        keep_zip3: true,
        k: Some(5),
        ..params()
    })
    .expect("valid");
    assert_eq!(some.types, ["Observation", "Patient"]);
    assert_eq!(some.k, Some(5));
    assert_eq!(some.until.as_deref(), Some("2024-02-01T00:00:00Z"));
    let long = "x".repeat(1001);
    let exactly = "é".repeat(1000);
    assert!(
        ResearchRequest::parse(ResearchParams {
            purpose: Some(exactly),
            k: Some(100),
            ..params()
        })
        .is_ok()
    );
    for (bad, element) in [
        (
            ResearchParams {
                types: Some(vec!["Nonsense".to_owned()]),
                ..params()
            },
            "types",
        ),
        (
            ResearchParams {
                types: Some(vec!["Practitioner".to_owned()]),
                ..params()
            },
            "types",
        ),
        (
            ResearchParams {
                types: Some(vec![]),
                ..params()
            },
            "types",
        ),
        (
            ResearchParams {
                since: Some("yesterday".to_owned()),
                ..params()
            },
            "since",
        ),
        (
            ResearchParams {
                until: Some("tomorrow".to_owned()),
                ..params()
            },
            "until",
        ),
        (
            ResearchParams {
                since: Some("2024-02-01T00:00:00Z".to_owned()),
                until: Some("2024-01-01T00:00:00Z".to_owned()),
                ..params()
            },
            "until",
        ),
        (
            ResearchParams {
                purpose: None,
                ..params()
            },
            "purpose",
        ),
        (
            ResearchParams {
                purpose: Some("   too short, 19 ch   ".to_owned()),
                ..params()
            },
            "purpose",
        ),
        (
            ResearchParams {
                purpose: Some(long),
                ..params()
            },
            "purpose",
        ),
        (
            ResearchParams {
                purpose: Some("a purpose with a \u{7} bell in it".to_owned()),
                ..params()
            },
            "purpose",
        ),
        (
            ResearchParams {
                k: Some(1),
                ..params()
            },
            "k",
        ),
        (
            ResearchParams {
                k: Some(101),
                ..params()
            },
            "k",
        ),
        (
            ResearchParams {
                k: Some(-5),
                ..params()
            },
            "k",
        ),
    ] {
        let err = ResearchRequest::parse(bad).expect_err(element);
        let FhirError::Invalid { issues } = &err else {
            panic!("{element}: {err:?}");
        };
        assert_eq!(issues[0].expression.as_deref(), Some(element), "{err:?}");
    }
}

/// A store, blobs and exports over them, the clock at 2024-01-01.
struct World {
    store: Arc<dyn medilink_fhir::ResourceStore>,
    blobs: Arc<MemoryBlobStore>,
    jobs: Arc<dyn JobQueue>,
    clock: Arc<FixedClock>,
}

async fn world() -> World {
    let clock = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new("sqlite::memory:"), clock.clone(), ids)
            .await
            .expect("store");
    World {
        store,
        blobs: Arc::new(MemoryBlobStore::default()),
        jobs: platform.jobs,
        clock,
    }
}

impl World {
    fn exports_over(&self, blobs: Arc<dyn BlobStore>) -> ResearchExport {
        ResearchExport::new(
            self.store.clone(),
            blobs,
            self.jobs.clone(),
            self.clock.clone(),
            [7; 32],
        )
    }

    fn exports(&self) -> ResearchExport {
        self.exports_over(self.blobs.clone())
    }

    /// `n` patients born in `year` of `gender`, each with one Observation.
    async fn patients(&self, n: usize, year: i32, gender: &str) {
        let ctx = RequestContext::system();
        for _ in 0..n {
            let patient = serde_json::json!({
                "resourceType": "Patient", "gender": gender, "birthDate": format!("{year}-06-15"),
                "address": [{"postalCode": "02139", "state": "MA"}],
            });
            let stored = self.store.create(&ctx, patient).await.expect("patient");
            let observation = serde_json::json!({
                "resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": format!("Patient/{}", stored.id.as_str())},
                "effectiveDateTime": "2023-06-01T10:20:30Z",
                "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
            });
            self.store
                .create(&ctx, observation)
                .await
                .expect("observation");
        }
    }

    /// The lines of `job`'s file of `type_name` (none when there is no file).
    async fn lines(&self, job: &Job, type_name: &str) -> Vec<serde_json::Value> {
        let resource_type = ResourceType::from_name(type_name).expect("type");
        let key = crate::export::file_key(job.id, resource_type);
        let Some(bytes) = self.blobs.get(&key).await.expect("blob") else {
            return Vec::new();
        };
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("json"))
            .collect()
    }
}

fn asking(types: &[&str], k: Option<i64>) -> ResearchParams {
    ResearchParams {
        types: Some(types.iter().map(|name| (*name).to_owned()).collect()),
        k,
        ..params()
    }
}

// Issue #15: k-anonymity on generated patients with known group sizes.
#[tokio::test]
async fn k_anonymity_generalises_and_suppresses_exactly() {
    let world = world().await;
    // 6 women born 1980, 1 born 1982 (joins them in the 5-year band 1980–1984), 1 man born
    // 1950 (alone at every level).
    world.patients(6, 1980, "female").await;
    world.patients(1, 1982, "female").await;
    world.patients(1, 1950, "male").await;
    let exports = world.exports();
    let ctx = as_user(Role::Researcher);
    let request =
        ResearchRequest::parse(asking(&["Patient", "Observation"], Some(5))).expect("valid");
    let job = exports.start(&ctx, request).await.expect("queued");
    let outcome = exports.run(&job).await.expect("export runs");
    let result: ResearchResult = serde_json::from_value(outcome.result.clone()).expect("result");
    assert_eq!(
        result.anonymity,
        Some(Anonymity {
            k: 5,
            quasi_identifiers: vec!["birth-year".into(), "gender".into()],
            generalisation: vec!["event-dates:year".into(), "birth-year:5-year-band".into()],
            suppressed: BTreeMap::from([("Observation".into(), 1), ("Patient".into(), 1)]),
        })
    );
    let counts: Vec<(&str, u64)> = result
        .output
        .iter()
        .map(|file| (file.resource_type.as_str(), file.count))
        .collect();
    assert_eq!(counts, [("Patient", 7), ("Observation", 7)]);
    let patients = world.lines(&job, "Patient").await;
    assert_eq!(patients.len(), 7);
    for patient in &patients {
        assert_eq!(patient["birthDate"], "1980", "{patient}");
        assert_eq!(patient["gender"], "female", "{patient}");
    }
    // Every exported Observation is about an exported patient.
    let exported: Vec<String> = patients
        .iter()
        .map(|patient| format!("Patient/{}", patient["id"].as_str().expect("id")))
        .collect();
    for observation in world.lines(&job, "Observation").await {
        let subject = observation["subject"]["reference"]
            .as_str()
            .expect("subject");
        assert!(exported.iter().any(|id| id == subject), "{observation}");
    }

    // k = 8: no level makes a group of 8, every level leaves all 8 alone: nothing is
    // generalised and everyone is suppressed (no file at all).
    let request =
        ResearchRequest::parse(asking(&["Patient", "Observation"], Some(8))).expect("valid");
    let job = exports.start(&ctx, request).await.expect("queued");
    let outcome = exports.run(&job).await.expect("export runs");
    let result: ResearchResult = serde_json::from_value(outcome.result.clone()).expect("result");
    let anonymity = result.anonymity.expect("anonymity");
    assert_eq!(anonymity.generalisation, ["event-dates:year"]);
    assert_eq!(
        anonymity.suppressed,
        BTreeMap::from([("Observation".into(), 8), ("Patient".into(), 8)])
    );
    assert!(result.output.is_empty());
    assert!(world.lines(&job, "Patient").await.is_empty());

    // Without k: everything, no anonymity section, birth years as they are.
    let request = ResearchRequest::parse(asking(&["Patient"], None)).expect("valid");
    let job = exports.start(&ctx, request).await.expect("queued");
    let outcome = exports.run(&job).await.expect("export runs");
    let result: ResearchResult = serde_json::from_value(outcome.result.clone()).expect("result");
    assert_eq!(result.anonymity, None);
    let mut years: Vec<String> = world
        .lines(&job, "Patient")
        .await
        .iter()
        .map(|patient| patient["birthDate"].as_str().expect("year").to_owned())
        .collect();
    years.sort();
    years.dedup();
    assert_eq!(years, ["1950", "1980", "1982"]);
}

/// Blobs whose writer for the key ending in `at` first notes the job's progress and, with
/// `cancel`, cancels the job the way `DELETE /api/research/exports/{id}` does (status, then
/// files): a cancel arriving while the export writes.
#[derive(Debug)]
struct CancelWhileWriting {
    inner: Arc<MemoryBlobStore>,
    jobs: Arc<dyn JobQueue>,
    at: String,
    cancel: bool,
    job: Mutex<Option<Job>>,
    progress: Mutex<Option<medilink_fhir::jobs::JobProgress>>,
}

#[async_trait]
impl BlobStore for CancelWhileWriting {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> medilink_fhir::FhirResult<()> {
        self.inner.put(key, bytes).await
    }
    async fn get(&self, key: &str) -> medilink_fhir::FhirResult<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> medilink_fhir::FhirResult<()> {
        self.inner.delete(key).await
    }
    async fn writer(
        &self,
        key: &str,
    ) -> medilink_fhir::FhirResult<Box<dyn medilink_fhir::blob::BlobWriter>> {
        let job = if key.ends_with(&self.at) {
            self.job.lock().expect("lock").take()
        } else {
            None
        };
        if let Some(job) = &job {
            let now = self.jobs.get(job.id).await.expect("get").expect("job");
            *self.progress.lock().expect("lock") = now.progress();
        }
        if let Some(job) = job.filter(|_| self.cancel) {
            let types = ResearchExport::request(&job)
                .expect("request")
                .resource_types();
            cancel_job(self.jobs.as_ref(), self.inner.as_ref(), &job, &types)
                .await
                .expect("cancelled");
        }
        self.inner.writer(key).await
    }
    async fn size(&self, key: &str) -> medilink_fhir::FhirResult<Option<u64>> {
        self.inner.size(key).await
    }
    async fn read_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> medilink_fhir::FhirResult<Option<Vec<u8>>> {
        self.inner.read_range(key, offset, len).await
    }
}

// Issue #15: a cancel while the export writes (here: as it opens its last file) leaves no
// file of any type behind.
#[tokio::test]
async fn a_cancel_while_writing_leaves_no_file() {
    let world = world().await;
    world.patients(2, 1980, "female").await;
    let blobs = Arc::new(CancelWhileWriting {
        inner: world.blobs.clone(),
        jobs: world.jobs.clone(),
        at: "/Observation.ndjson".to_owned(),
        cancel: true,
        job: Mutex::new(None),
        progress: Mutex::new(None),
    });
    let exports = world.exports_over(blobs.clone());
    let request = ResearchRequest::parse(asking(&["Patient", "Observation"], None)).expect("valid");
    let job = exports
        .start(&as_user(Role::Researcher), request)
        .await
        .expect("queued");
    *blobs.job.lock().expect("lock") = Some(job.clone());
    let err = exports
        .run(&job)
        .await
        .expect_err("cancelled while running");
    assert!(format!("{err:?}").contains("cancelled"), "{err:?}");
    assert!(
        blobs.job.lock().expect("lock").is_none(),
        "the cancel happened"
    );
    for type_name in ["Patient", "Observation"] {
        assert!(
            world.lines(&job, type_name).await.is_empty(),
            "{type_name} left behind"
        );
    }
    let stored = world.jobs.get(job.id).await.expect("get").expect("job");
    assert_eq!(stored.status, JobStatus::Cancelled);
}

// Issue #15: exports expire a time to live after the kick-off: gone for their researcher at
// once, and the expiry job deletes their files and jobs.
#[tokio::test]
async fn expired_exports_are_gone_and_deleted_with_their_files() {
    let world = world().await;
    world.patients(1, 1980, "female").await;
    let exports = world
        .exports()
        .with_ttl(std::time::Duration::from_secs(2 * 3600));
    let ctx = as_user(Role::Researcher);
    let old = exports
        .start(
            &ctx,
            ResearchRequest::parse(asking(&["Patient"], None)).expect("valid"),
        )
        .await
        .expect("queued");
    exports.run(&old).await.expect("runs");
    world.clock.advance(std::time::Duration::from_secs(3600));
    let young = exports
        .start(
            &ctx,
            ResearchRequest::parse(asking(&["Patient"], None)).expect("valid"),
        )
        .await
        .expect("queued");
    assert_eq!(
        exports.expires_at(&old),
        old.created_at + time::Duration::hours(2)
    );
    let listed: Vec<Uuid> = exports
        .list(&ctx)
        .await
        .expect("list")
        .iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(listed, [young.id, old.id], "newest first");
    // Someone else's list does not show them; a physician has none.
    let other = RequestContext::for_caller(
        Caller::user(UserId("u2".into()), Role::Researcher, true, None),
        "req",
    );
    assert!(exports.list(&other).await.expect("list").is_empty());
    assert!(exports.list(&as_user(Role::Physician)).await.is_err());
    // Nothing expired yet: nothing deleted.
    assert_eq!(exports.delete_expired().await.expect("sweep"), 0);
    // Two hours after the first kick-off it is gone, though not yet deleted.
    world.clock.advance(std::time::Duration::from_secs(3600));
    let id = old.id.to_string();
    assert!(exports.job(&ctx, &id).await.is_err());
    let listed: Vec<Uuid> = exports
        .list(&ctx)
        .await
        .expect("list")
        .iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(listed, [young.id]);
    assert_eq!(world.lines(&old, "Patient").await.len(), 1);
    // The expiry job deletes its file and its job; the young one stays.
    let mut registry = medilink_platform::worker::Registry::new();
    register_expiry(&mut registry, exports.clone());
    assert!(registry.kinds().contains(&EXPIRY_KIND));
    let sweep = ResearchExpiry(exports.clone());
    let outcome = sweep.run(&young).await.expect("sweep");
    assert_eq!(&outcome.result, &serde_json::json!({"deleted": 1}));
    assert!(world.lines(&old, "Patient").await.is_empty());
    assert!(world.jobs.get(old.id).await.expect("get").is_none());
    assert!(world.jobs.get(young.id).await.expect("get").is_some());
    // A pending export past its time is cancelled, then deleted.
    world.clock.advance(std::time::Duration::from_secs(3600));
    assert_eq!(exports.delete_expired().await.expect("sweep"), 1);
    assert!(world.jobs.get(young.id).await.expect("get").is_none());
}

// Issue #15: a running export reports its progress: the k-anonymity plan, then each type.
#[tokio::test]
async fn a_running_export_reports_its_progress() {
    let world = world().await;
    world.patients(2, 1980, "female").await;
    let blobs = Arc::new(CancelWhileWriting {
        inner: world.blobs.clone(),
        jobs: world.jobs.clone(),
        at: "/Observation.ndjson".to_owned(),
        cancel: false,
        job: Mutex::new(None),
        progress: Mutex::new(None),
    });
    let exports = world.exports_over(blobs.clone());
    let request =
        ResearchRequest::parse(asking(&["Patient", "Observation"], Some(2))).expect("valid");
    exports
        .start(&as_user(Role::Researcher), request)
        .await
        .expect("queued");
    let job = world
        .jobs
        .lease("w1", &[KIND], std::time::Duration::from_secs(60))
        .await
        .expect("lease")
        .expect("the export");
    *blobs.job.lock().expect("lock") = Some(job.clone());
    exports.run(&job).await.expect("runs");
    // When the Observation file was opened: the plan and the Patient file were done.
    assert_eq!(
        *blobs.progress.lock().expect("lock"),
        Some(medilink_fhir::jobs::JobProgress { done: 2, total: 3 })
    );
}
