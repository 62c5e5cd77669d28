//! Issue #14: the ingest job's notices. The uploader is told a document was processed, needs
//! a review or failed; the patient whose record received results is told they were filed
//! (automatically or by an accepted review); nobody else is told anything — not another
//! patient, not a physician without the patient's consent, and a physician who uploads for a
//! patient gets the document notices only — on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::SqlOptions;
use medilink_ingest::Pipeline;
use medilink_platform::Role;
use reqwest::StatusCode;

use crate::documents::{FixtureExtractor, FixtureText, World, report, uncertain_report, world_at};
use crate::support::{PostgresDatabase, signed_in};

async fn world(options: &SqlOptions) -> World {
    let pipeline = Pipeline::new(
        Arc::new(FixtureText {
            delay: Duration::ZERO,
        }),
        Arc::new(FixtureExtractor),
    );
    world_at(options, 20 * 1024 * 1024, pipeline).await
}

/// The kinds in the inbox of `token`, newest first.
async fn kinds(w: &World, token: &str) -> Vec<String> {
    let (status, page) = w
        .call(token, reqwest::Method::GET, "/api/notifications", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|notice| notice["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn document_events_reach_the_uploader_and_the_patient_only(w: World) {
    let other_doctor = signed_in(&w.app.state, "doc2@test.local", Role::Physician).await;
    let patient = format!("Patient/{}", w.a);
    w.grant(&w.patient_a).await;
    assert_eq!(kinds(&w, &w.doctor).await, ["consent.granted"]);

    // The doctor uploads a clear report: processed (the doctor), filed (the patient).
    let clear = report(&["Hemoglobin;13.5;g/dL;0.99", "Glucose;95;mg/dL;0.99"]);
    w.submit(&w.doctor, &patient, &clear).await;
    assert!(w.work_once().await);
    assert_eq!(
        kinds(&w, &w.doctor).await,
        ["document.processed", "consent.granted"]
    );
    assert_eq!(kinds(&w, &w.patient_a).await, ["results.filed"]);

    // An uncertain one: the doctor is asked for a review; the patient is told once it is
    // accepted and filed.
    let id = w.submit(&w.doctor, &patient, &uncertain_report()).await;
    assert!(w.work_once().await);
    assert_eq!(
        kinds(&w, &w.doctor).await,
        [
            "document.needs_review",
            "document.processed",
            "consent.granted"
        ]
    );
    assert_eq!(kinds(&w, &w.patient_a).await, ["results.filed"]);
    let accept = format!("/api/documents/jobs/{id}/accept");
    let (status, body) = w
        .call(&w.doctor, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        kinds(&w, &w.patient_a).await,
        ["results.filed", "results.filed"]
    );
    assert_eq!(
        kinds(&w, &w.doctor).await.len(),
        3,
        "nothing new for the doctor"
    );

    // A document with nothing in it fails for good: the uploader is told, not the patient.
    w.submit(&w.doctor, &patient, &report(&[])).await;
    assert!(w.work_once().await);
    assert_eq!(kinds(&w, &w.doctor).await[0], "document.failed");
    assert_eq!(kinds(&w, &w.doctor).await.len(), 4);
    assert_eq!(kinds(&w, &w.patient_a).await.len(), 2);

    // A patient uploading their own report is both the uploader and the patient.
    w.submit(&w.patient_a, &patient, &clear).await;
    assert!(w.work_once().await);
    assert_eq!(
        kinds(&w, &w.patient_a).await[..2],
        ["results.filed", "document.processed"]
    );
    assert_eq!(kinds(&w, &w.doctor).await.len(), 4);

    // Nobody else hears of any of it.
    assert!(kinds(&w, &other_doctor).await.is_empty());
    assert!(kinds(&w, &w.patient_b).await.is_empty());
    assert!(kinds(&w, &w.admin).await.is_empty());
}

#[tokio::test]
async fn document_events_are_told_to_the_uploader_and_the_patient_only() {
    let w = world(&SqlOptions::new("sqlite::memory:")).await;
    document_events_reach_the_uploader_and_the_patient_only(w).await;
}

#[tokio::test]
async fn document_events_are_told_to_the_uploader_and_the_patient_only_on_postgres() {
    PostgresDatabase::run("the document events test", |url| async move {
        let w = world(&SqlOptions::new(url)).await;
        document_events_reach_the_uploader_and_the_patient_only(w).await;
    })
    .await;
}
