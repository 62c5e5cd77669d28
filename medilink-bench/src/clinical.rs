//! `medilink-bench clinical`: the latency of one offline drug check. A patient with 20 active
//! medications and 5 drug allergies, named as the Synthea sample names them, and one proposed
//! drug checked `rounds` times with the offline `Checker`; prints p50/p99/max in µs. Then the
//! whole use case as `POST /api/clinical/drug-interactions` runs it: `ClinicalService::check`
//! through the consent guard as a physician with the patient's consent, on a fresh SQLite file
//! store holding the patient's 20 MedicationRequests and 5 AllergyIntolerances (the patient
//! read, three searches, the acknowledgement search and the GuidanceResponse written).

use std::time::{Duration, Instant};

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use medilink_clinical::service::{CheckRequest, ClinicalService};
use medilink_clinical::{ActiveAllergy, ActiveMedication, Checker, KnowledgeBase, MedicationInput};
use medilink_consent::ConsentGuard;
use medilink_fhir::{
    Accessed, RequestContext, ResourceId, ResourceStore, ResourceType, SqlOptions, SystemClock,
    UuidIdGen, open_store,
};
use serde_json::json;

const ACTIVE: [&str; 20] = [
    "Warfarin Sodium 5 MG Oral Tablet",
    "Simvastatin 20 MG Oral Tablet",
    "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
    "lisinopril 10 MG Oral Tablet",
    "Amlodipine 5 MG Oral Tablet",
    "Hydrochlorothiazide 25 MG Oral Tablet",
    "FLUoxetine 20 MG Oral Capsule",
    "Clopidogrel 75 MG Oral Tablet",
    "Digoxin 0.125 MG Oral Tablet",
    "Furosemide 40 MG Oral Tablet",
    "carvedilol 25 MG Oral Tablet",
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
    "tramadol hydrochloride 50 MG Oral Tablet",
    "Verapamil Hydrochloride 40 MG",
    "predniSONE 5 MG Oral Tablet",
    "Methotrexate 2.5 MG Oral Tablet",
    "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
    "24 HR Donepezil hydrochloride 10 MG / Memantine hydrochloride 28 MG Extended Release Oral Capsule",
    "Fexofenadine hydrochloride 30 MG Oral Tablet",
    "pregabalin 100 MG Oral Capsule",
];

const ALLERGIES: [&str; 5] = [
    "Allergy to penicillin",
    "Sulfa drugs",
    "NSAID",
    "Latex allergy",
    "Allergy to peanuts",
];

const PROPOSED: &str = "Naproxen sodium 220 MG Oral Tablet";

pub(crate) async fn run(rounds: usize) -> Result<()> {
    let kb = KnowledgeBase::offline();
    let resolve = |text: &str| kb.resolve(&MedicationInput::text(text));
    let active: Vec<ActiveMedication> = ACTIVE
        .iter()
        .enumerate()
        .map(|(index, text)| ActiveMedication {
            drug: resolve(text),
            reference: Some(format!("MedicationRequest/{index}")),
        })
        .collect();
    let allergies: Vec<ActiveAllergy> = ALLERGIES
        .iter()
        .enumerate()
        .map(|(index, text)| ActiveAllergy {
            substance: resolve(text),
            reference: Some(format!("AllergyIntolerance/{index}")),
            criticality: None,
        })
        .collect();
    let proposed = [resolve(PROPOSED)];
    let checker = Checker::offline();
    let first = checker.check(&proposed, &active, &allergies).await?;
    if first.is_empty() {
        bail!("the benchmark patient should have findings");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let findings = checker.check(&proposed, &active, &allergies).await?;
        times.push(started.elapsed());
        std::hint::black_box(findings);
    }
    let [p50, p99, max] = quantiles(times);
    println!(
        "clinical: {} findings per check ({} active medications, {} allergies), {rounds} checks: \
         p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs",
        first.len(),
        active.len(),
        allergies.len(),
    );
    service(rounds.min(2_000)).await
}

/// p50, p99 and max of `times`, in µs.
fn quantiles(mut times: Vec<Duration>) -> [f64; 3] {
    times.sort_unstable();
    let at = |quantile: f64| {
        let index = ((times.len() as f64 * quantile).ceil() as usize).clamp(1, times.len()) - 1;
        times[index].as_secs_f64() * 1e6
    };
    [at(0.50), at(0.99), at(1.0)]
}

/// The use case through the consent guard on a SQLite file store.
async fn service(rounds: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("clinical.db").display()
    );
    let store: Arc<dyn ResourceStore> = open_store(
        &SqlOptions::new(url),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    let system = RequestContext::system();
    let patient = ResourceId::new("bench-0")?;
    let body = json!({"resourceType": "Patient", "id": "bench-0", "gender": "female"});
    store
        .update(&system, ResourceType::Patient, &patient, body, None)
        .await?;
    let subject = json!({"reference": "Patient/bench-0"});
    for text in ACTIVE {
        let request = json!({"resourceType": "MedicationRequest", "status": "active",
            "intent": "order", "subject": subject, "medicationCodeableConcept": {"text": text}});
        store.create(&system, request).await?;
    }
    for text in ALLERGIES {
        let allergy = json!({"resourceType": "AllergyIntolerance", "patient": subject,
            "category": ["medication"], "code": {"text": text}});
        store.create(&system, allergy).await?;
    }
    let (consents, doctor) = crate::consent::physician_with_grants(&store, 1).await?;
    let guarded = ConsentGuard::new(store.clone(), consents);
    let clinical = ClinicalService::new(
        Arc::new(Checker::offline()),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    );
    let request = CheckRequest {
        patient: Some("bench-0".to_owned()),
        medications: vec![MedicationInput::text(PROPOSED)],
    };
    let mut times = Vec::with_capacity(rounds);
    let mut findings = 0;
    for _ in 0..rounds {
        let audited = RequestContext {
            accessed: Accessed::collecting(),
            mark: None,
            ..doctor.clone()
        };
        let started = Instant::now();
        let report = clinical
            .check(&guarded, &audited, request.clone())
            .await
            .context("the check through the consent guard")?;
        std::hint::black_box(audited.accessed.summary());
        times.push(started.elapsed());
        findings = report.findings.len();
    }
    if findings == 0 {
        bail!("the guarded check should have findings");
    }
    let [p50, p99, max] = quantiles(times);
    println!(
        "clinical service (consent guard, SQLite file, record read, check kept): {findings} \
         findings, {rounds} checks: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs"
    );
    Ok(())
}
