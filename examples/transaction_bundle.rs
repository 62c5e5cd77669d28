//! Posts a FHIR transaction Bundle whose entries reference each other by `urn:uuid:` full
//! URLs, then shows that a transaction with one bad entry writes nothing.
//!
//! Run with `cargo run -p medilink-examples --example transaction_bundle`.
//!
//! [`bundle::process`] assigns ids to the created resources first, rewrites every `urn:uuid:`
//! reference to `Type/id`, and hands all writes to the store at once: they commit together or
//! not at all. Turning the outcome into a response Bundle is the HTTP layer's job (the server
//! does it for `POST /fhir/R4`).

use std::sync::Arc;

use medilink_fhir::bundle::{self, EntryAction};
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{
    RequestContext, ResourceStore, ResourceType, SqlOptions, SystemClock, UuidIdGen, open_store,
};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let store = open_store(
        &SqlOptions::new("sqlite::memory:"),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    let ctx = RequestContext::system();

    // A patient and an observation about them, created together. The observation names its
    // subject by the patient entry's temporary `urn:uuid:` full URL.
    let patient_url = "urn:uuid:7f3a1c52-3e4b-4d5e-9f60-1a2b3c4d5e6f";
    let transaction = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": {"resourceType": "Patient", "name": [{"family": "Example"}]},
                "request": {"method": "POST", "url": "Patient"}
            },
            {
                "fullUrl": "urn:uuid:0b9d7e21-5c3f-4a8e-b1d2-c3e4f5a6b7c8",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "subject": {"reference": patient_url},
                    "valueQuantity": {"value": 72.5, "unit": "kg",
                        "system": "http://unitsofmeasure.org", "code": "kg"}
                },
                "request": {"method": "POST", "url": "Observation"}
            }
        ]
    });
    let outcome = bundle::process(store.as_ref(), &ctx, &UuidIdGen, transaction).await?;
    let mut written = Vec::new();
    for entry in outcome.entries {
        let entry = entry?;
        assert_eq!(entry.action, EntryAction::Created);
        written.push(entry.stored.ok_or("a created entry has its version")?);
    }
    let (patient, observation) = (&written[0], &written[1]);
    // The reference now names the patient's real id.
    let stored: Value = serde_json::from_str(observation.json.as_deref().unwrap_or("null"))?;
    assert_eq!(stored["subject"]["reference"], patient.reference());
    eprintln!(
        "transaction_bundle: {} -> {}, subject rewritten to {}",
        patient_url,
        patient.reference(),
        stored["subject"]["reference"]
    );

    // All or nothing: the second entry updates with a stale `ifMatch` version, so the first
    // entry's new patient is not written either.
    let failing = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:2c4e6a80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
                "resource": {"resourceType": "Patient", "name": [{"family": "Never"}]},
                "request": {"method": "POST", "url": "Patient"}
            },
            {
                "resource": {"resourceType": "Patient", "id": patient.id.as_str(),
                    "name": [{"family": "Changed"}]},
                "request": {"method": "PUT", "url": patient.reference(), "ifMatch": "W/\"7\""}
            }
        ]
    });
    let err = bundle::process(store.as_ref(), &ctx, &UuidIdGen, failing)
        .await
        .expect_err("a stale ifMatch fails the transaction");
    eprintln!("transaction_bundle: the failing transaction was refused ({err})");
    let patients = SearchQuery::parse(ResourceType::Patient, &[], true)?;
    let page = store.search(&ctx, &patients).await?;
    assert_eq!(
        page.matches.len(),
        1,
        "nothing of the failed transaction was written"
    );
    Ok(())
}
