//! A `medilink-worker` process runs a Bulk Data export as its requester: a patient's export,
//! queued through the library on the same data directory, holds only their own compartment.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_consent::export::{BulkExport, ExportLevel, ExportRequest, file_key};
use medilink_fhir::blob::BlobStore;
use medilink_fhir::jobs::JobStatus;
use medilink_fhir::{
    BlobOptions, RequestContext, ResourceStore, ResourceType, SeqIdGen, SqlOptions, SystemClock,
    open_blob_store,
};
use medilink_platform::Caller;
use medilink_platform::open_store_and_platform;
use medilink_platform::{Role, UserId};
use serde_json::{Value, json};

/// The ids in an NDJSON file.
async fn ids(blobs: &dyn BlobStore, key: &str) -> Vec<String> {
    let bytes = blobs.get(key).await.expect("get").unwrap_or_default();
    let mut ids: Vec<String> = String::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let resource: Value = serde_json::from_str(line).expect("JSON line");
            resource["id"].as_str().expect("id").to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_exports_a_patients_own_compartment_only() {
    let data = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/medilink.db", data.path().display());
    let clock = Arc::new(SystemClock);
    let (store, platform) = open_store_and_platform(
        &SqlOptions::new(url),
        clock.clone(),
        Arc::new(SeqIdGen::new("x")),
    )
    .await
    .expect("open");
    let blobs = open_blob_store(&BlobOptions::new(format!(
        "fs://{}",
        data.path().join("blobs").display()
    )))
    .await
    .expect("blobs");
    let system = RequestContext::system();
    let mut patients = Vec::new();
    let mut observations = Vec::new();
    for _ in 0..2 {
        let patient = store
            .create(&system, json!({"resourceType": "Patient", "active": true}))
            .await
            .expect("patient");
        let observation = json!({
            "resourceType": "Observation", "status": "final", "code": {"text": "synthetic"},
            "subject": {"reference": format!("Patient/{}", patient.id.as_str())},
        });
        let observation = store.create(&system, observation).await.expect("obs");
        patients.push(patient.id);
        observations.push(observation.id.as_str().to_owned());
    }
    let exports = BulkExport::new(store.clone(), blobs.clone(), platform.jobs.clone(), clock);
    let ctx = RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId("user-a".to_owned()),
            role: Role::Patient,
            mfa: true,
            patient_id: Some(patients[0].clone()),
            purpose_of_use: None,
            app: None,
        })),
        request_id: "test".to_owned(),
        accessed: Default::default(),
        mark: None,
    };
    let request =
        ExportRequest::parse(ExportLevel::System, &[], "http://x/$export".to_owned()).expect("ok");
    let job = exports.start(&ctx, request).await.expect("queued");

    let log = std::fs::File::create(data.path().join("worker.log")).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--concurrency", "1", "--poll-ms", "50", "--no-schedule"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start medilink-worker");
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let now = platform.jobs.get(job.id).await.expect("get").expect("job");
        if now.status.is_final() {
            break now;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("export stuck: {now:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(data.path().join("worker.log")).unwrap_or_default();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}\n{log}");
    let result = done.result.expect("result");
    let observation_key = file_key(job.id, ResourceType::Observation);
    assert_eq!(
        ids(blobs.as_ref(), &observation_key).await,
        vec![observations[0].clone()],
        "{result}"
    );
    let patient_key = file_key(job.id, ResourceType::Patient);
    assert_eq!(
        ids(blobs.as_ref(), &patient_key).await,
        vec![patients[0].as_str().to_owned()]
    );
    store.close().await.expect("close");
}
