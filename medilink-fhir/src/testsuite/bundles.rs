//! Suite cases for batch and transaction Bundles over any store.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::bundle::{EntryAction, process};
use crate::clock::SeqIdGen;
use crate::context::RequestContext;
use crate::error::FhirError;
use crate::model::{ResourceId, ResourceType};
use crate::store::ResourceStore;

fn ctx() -> RequestContext {
    RequestContext::system()
}

async fn feed_len(store: &dyn ResourceStore) -> usize {
    store
        .changes_since(&ctx(), 0, 100_000)
        .await
        .expect("feed")
        .len()
}

fn body(stored: &crate::StoredResource) -> Value {
    serde_json::from_str(stored.json.as_deref().expect("live")).expect("json")
}

/// `urn:uuid:` fullUrls become `Type/id` references inside the transaction.
pub async fn bundle_transaction_resolves_references(store: Arc<dyn ResourceStore>) {
    let ids = SeqIdGen::new("b");
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:obs", "resource": {"resourceType": "Observation", "status": "final",
            "code": {"text": "hb"}, "subject": {"reference": "urn:uuid:pat"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:pat", "resource": {"resourceType": "Patient", "active": true},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "fixed"}, "request": {"method": "PUT", "url": "Patient/fixed"}},
        {"request": {"method": "GET", "url": "Patient/fixed"}}
    ]});
    let outcome = process(store.as_ref(), &ctx(), &ids, bundle)
        .await
        .expect("transaction");
    assert_eq!(outcome.entries.len(), 4);
    let results: Vec<_> = outcome
        .entries
        .into_iter()
        .map(|e| e.expect("entry ok"))
        .collect();
    assert_eq!(results[0].action, EntryAction::Created);
    assert_eq!(results[3].action, EntryAction::Read);
    let observation = results[0].stored.as_ref().expect("stored");
    let patient = results[1].stored.as_ref().expect("stored");
    assert_eq!(
        body(observation)["subject"]["reference"],
        format!("Patient/{}", patient.id)
    );
    let reread = store
        .read(&ctx(), ResourceType::Observation, &observation.id)
        .await
        .expect("read");
    assert_eq!(
        body(&reread)["subject"]["reference"],
        format!("Patient/{}", patient.id)
    );
}

/// Any failing entry fails the whole transaction and nothing is written.
pub async fn bundle_transaction_rolls_back_on_failure(store: Arc<dyn ResourceStore>) {
    let ids = SeqIdGen::new("r");
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "x", "birthDate": "yesterday"}, "request": {"method": "PUT", "url": "Patient/x"}}
    ]});
    let err = process(store.as_ref(), &ctx(), &ids, bundle)
        .await
        .expect_err("must fail");
    match &err {
        FhirError::BundleEntry { index, .. } => assert_eq!(*index, 1),
        other => panic!("expected an entry error, got {other:?}"),
    }
    assert_eq!(err.kind(), crate::ErrorKind::Invalid);
    let dangling = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "urn:uuid:nowhere"}}, "request": {"method": "POST", "url": "Observation"}}
    ]});
    assert!(
        process(store.as_ref(), &ctx(), &ids, dangling)
            .await
            .is_err()
    );
    let conflict = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "y"}, "request": {"method": "PUT", "url": "Patient/y", "ifMatch": "W/\"4\""}}
    ]});
    let err = process(store.as_ref(), &ctx(), &ids, conflict)
        .await
        .expect_err("stale ifMatch");
    assert_eq!(err.kind(), crate::ErrorKind::PreconditionFailed);
    assert_eq!(feed_len(store.as_ref()).await, 0);
}

/// Batch entries succeed or fail on their own.
pub async fn bundle_batch_entries_fail_independently(store: Arc<dyn ResourceStore>) {
    let ids = SeqIdGen::new("s");
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "foo": 1}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/none"}},
        {"request": {"method": "DELETE", "url": "Patient/none"}},
        {"request": {"method": "BREW", "url": "Patient"}}
    ]});
    let outcome = process(store.as_ref(), &ctx(), &ids, bundle)
        .await
        .expect("batch");
    assert!(outcome.entries[0].is_ok());
    assert_eq!(
        outcome.entries[1].as_ref().expect_err("invalid").kind(),
        crate::ErrorKind::Invalid
    );
    assert_eq!(
        outcome.entries[2].as_ref().expect_err("missing").kind(),
        crate::ErrorKind::NotFound
    );
    assert_eq!(
        outcome.entries[3].as_ref().expect("delete").action,
        EntryAction::NothingDeleted
    );
    assert!(outcome.entries[4].is_err());
    assert_eq!(feed_len(store.as_ref()).await, 1);
    let not_bundle = process(
        store.as_ref(),
        &ctx(),
        &ids,
        json!({"resourceType": "Bundle", "type": "collection"}),
    )
    .await;
    assert!(not_bundle.is_err());
}

/// `ifNoneExist` and `Type?identifier=` references resolve through identifiers (Synthea style).
pub async fn bundle_conditional_create_and_references(store: Arc<dyn ResourceStore>) {
    let ids = SeqIdGen::new("c");
    let practitioners = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Practitioner", "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "99"}]},
         "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": "identifier=http://hl7.org/fhir/sid/us-npi|99"}}
    ]});
    let first = process(store.as_ref(), &ctx(), &ids, practitioners.clone())
        .await
        .expect("first");
    assert_eq!(
        first.entries[0].as_ref().expect("ok").action,
        EntryAction::Created
    );
    let again = process(store.as_ref(), &ctx(), &ids, practitioners)
        .await
        .expect("again");
    assert_eq!(
        again.entries[0].as_ref().expect("ok").action,
        EntryAction::Matched
    );
    let practitioner_id = again.entries[0]
        .as_ref()
        .expect("ok")
        .stored
        .as_ref()
        .expect("stored")
        .id
        .clone();
    let encounter = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
            "participant": [{"individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99"}}]},
         "request": {"method": "POST", "url": "Encounter"}}
    ]});
    let outcome = process(store.as_ref(), &ctx(), &ids, encounter)
        .await
        .expect("transaction");
    let stored = outcome.entries[0]
        .as_ref()
        .expect("ok")
        .stored
        .clone()
        .expect("stored");
    assert_eq!(
        body(&stored)["participant"][0]["individual"]["reference"],
        format!("Practitioner/{practitioner_id}")
    );
    let unresolved = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
            "participant": [{"individual": {"reference": "Practitioner?identifier=urn:x|none"}}]},
         "request": {"method": "POST", "url": "Encounter"}}
    ]});
    assert!(
        process(store.as_ref(), &ctx(), &ids, unresolved)
            .await
            .is_err()
    );
    let _ = ResourceId::new("unused");
}
