//! Loading real-shaped data through the library: Synthea output (batch bundles with
//! conditional creates, then transaction bundles with conditional references) and US Core
//! transaction bundles with `urn:uuid:` references, plus NDJSON.

use std::path::Path;
use std::sync::Arc;

use medilink_fhir::import::{import_bundle, import_ndjson};
use medilink_fhir::testsuite::sqlite_harness;
use medilink_fhir::{
    HistoryQuery, HistoryScope, RequestContext, ResourceStore, ResourceType, SeqIdGen,
};
use serde_json::Value;

fn testdata(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(path);
    serde_json::from_slice(&std::fs::read(&path).expect("test data file")).expect("json")
}

async fn count(store: &dyn ResourceStore, scope: HistoryScope) -> u64 {
    let query = HistoryQuery {
        scope,
        since: None,
        at: None,
        count: 1,
        before_seq: None,
    };
    store
        .history(&RequestContext::system(), &query)
        .await
        .expect("history")
        .total
}

#[tokio::test]
async fn synthea_output_loads_as_is() {
    let harness = sqlite_harness().await.expect("sqlite");
    let store = harness.store.clone();
    let ids = SeqIdGen::new("s");
    let ctx = RequestContext::system();
    for file in [
        "synthea/0-hospitalInformation1625911868739.json",
        "synthea/0-practitionerInformation1625911868739.json",
        "synthea/085e81c0-7a95-ef02-16ef-aa1b4344deed.json",
    ] {
        let bundle = testdata(file);
        let entries = bundle["entry"].as_array().expect("entries").len();
        let loaded = import_bundle(store.as_ref(), &ctx, &ids, bundle)
            .await
            .expect(file);
        assert_eq!(loaded.failed, 0, "{file}");
        assert_eq!(loaded.written, entries, "{file}");
    }
    assert_eq!(
        count(store.as_ref(), HistoryScope::Type(ResourceType::Patient)).await,
        1
    );
    // Every conditional reference was resolved to a stored resource.
    let feed = store.changes_since(&ctx, 0, 100_000).await.expect("feed");
    for version in &feed {
        let text = version.json.as_deref().expect("live");
        assert!(
            !text.contains("?identifier="),
            "{} kept a conditional reference",
            version.reference()
        );
        assert!(
            !text.contains("\"reference\":\"urn:uuid:"),
            "{} kept a urn reference",
            version.reference()
        );
    }
    // Loading the hospital bundle again matches instead of duplicating.
    let again = import_bundle(
        store.as_ref(),
        &ctx,
        &ids,
        testdata("synthea/0-hospitalInformation1625911868739.json"),
    )
    .await
    .expect("again");
    assert_eq!(again.failed, 0);
    assert_eq!(
        store
            .changes_since(&ctx, 0, 100_000)
            .await
            .expect("feed")
            .len(),
        feed.len()
    );
}

#[tokio::test]
async fn us_core_transactions_and_ndjson_load() {
    let harness = sqlite_harness().await.expect("sqlite");
    let store: Arc<dyn ResourceStore> = harness.store.clone();
    let ids = SeqIdGen::new("u");
    let ctx = RequestContext::system();
    let bundle = testdata("us-core/uscore_bundle_patient_85.json");
    let entries = bundle["entry"].as_array().expect("entries").len();
    let loaded = import_bundle(store.as_ref(), &ctx, &ids, bundle)
        .await
        .expect("us core");
    assert_eq!(loaded.written, entries);

    let ndjson = "{\"resourceType\":\"Patient\",\"id\":\"n1\"}\n\n{\"resourceType\":\"Patient\",\"id\":\"n2\"}\n";
    let mut progress = Vec::new();
    let written = import_ndjson(store.as_ref(), &ctx, ndjson.as_bytes(), |n| {
        progress.push(n)
    })
    .await
    .expect("ndjson");
    assert_eq!(written, 2);
    assert_eq!(progress.last(), Some(&2));
    let bad =
        "{\"resourceType\":\"Patient\",\"id\":\"n3\"}\n{\"resourceType\":\"Patient\",\"oops\":1}\n";
    let err = import_ndjson(store.as_ref(), &ctx, bad.as_bytes(), |_| {})
        .await
        .expect_err("bad line");
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(
        store
            .read(&ctx, ResourceType::Patient, &"n3".parse().expect("id"))
            .await
            .is_err(),
        "the failed batch wrote nothing"
    );
}
