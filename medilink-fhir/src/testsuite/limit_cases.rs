//! Suite cases for the query budget and hostile strings (issue #11), on every backend: each
//! limit is refused as an invalid request naming it, with a positive control just under it;
//! NUL characters are refused and very long strings are stored and searchable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::context::RequestContext;
use crate::error::{ErrorKind, FhirError};
use crate::model::ResourceType;
use crate::search::SearchQuery;
use crate::search::limits::{MAX_CHAIN_FAN_OUT, MAX_TOTAL_VALUES, MAX_VALUES_PER_PARAM};
use crate::store::ResourceStore;

fn ctx() -> RequestContext {
    RequestContext::system()
}

async fn search(
    store: &dyn ResourceStore,
    ty: ResourceType,
    params: &[(String, String)],
) -> Result<Vec<String>, FhirError> {
    let query = SearchQuery::parse(ty, params, true)?;
    let page = store.search(&ctx(), &query).await?;
    Ok(page.matches.iter().map(|m| m.id.to_string()).collect())
}

fn param(name: &str, value: impl Into<String>) -> Vec<(String, String)> {
    vec![(name.to_owned(), value.into())]
}

/// Asserts an invalid-request refusal naming `limit`; returns its diagnostics.
fn assert_budget(result: Result<Vec<String>, FhirError>, limit: &str) -> String {
    let err = result.expect_err("past the limit");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    let text = err.issues()[0].diagnostics.clone();
    assert!(text.contains(limit), "{text} names {limit}");
    text
}

/// The query budget on a real store: refusals are invalid requests naming the limit, and the
/// largest accepted searches run (and finish quickly: well under the statement time limit).
pub async fn search_budget_is_enforced_on_the_backend(store: Arc<dyn ResourceStore>) {
    let store = store.as_ref();
    store
        .create(
            &ctx(),
            json!({"resourceType": "PlanDefinition", "id": "pd1", "status": "active",
                "relatedArtifact": [{"type": "composed-of", "resource": "PlanDefinition/pd2"}]}),
        )
        .await
        .expect("create");
    // Chains through `Any` references: one hop fans out to every type (under the limit)…
    let started = Instant::now();
    let one_hop = search(
        store,
        ResourceType::PlanDefinition,
        &param("composed-of._id", "pd2"),
    )
    .await
    .expect("one hop through Any is within the fan-out limit");
    assert!(one_hop.is_empty());
    // …and with a type modifier any depth within the limit runs.
    search(
        store,
        ResourceType::PlanDefinition,
        &param(
            "composed-of:PlanDefinition.composed-of:PlanDefinition.composed-of:PlanDefinition._id",
            "x",
        ),
    )
    .await
    .expect("typed chains are cheap");
    // Three hops through Any: refused before any database work.
    let fanned = search(
        store,
        ResourceType::PlanDefinition,
        &param("composed-of.composed-of.composed-of._id", "x"),
    )
    .await;
    let text = assert_budget(fanned, "chain fan-out");
    assert!(text.contains(&MAX_CHAIN_FAN_OUT.to_string()), "{text}");
    assert!(
        text.contains("composed-of:"),
        "{text} suggests a type modifier"
    );
    // Values per parameter: the control just under the limit runs.
    let ids = |n: usize| {
        (0..n)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    search(
        store,
        ResourceType::Patient,
        &param("_id", ids(MAX_VALUES_PER_PARAM)),
    )
    .await
    .expect("as many values as allowed");
    assert_budget(
        search(
            store,
            ResourceType::Patient,
            &param("_id", ids(MAX_VALUES_PER_PARAM + 1)),
        )
        .await,
        "values of one parameter",
    );
    let codes = (0..MAX_VALUES_PER_PARAM)
        .map(|i| format!("http://loinc.org|{i}"))
        .collect::<Vec<_>>()
        .join(",");
    search(store, ResourceType::Observation, &param("code", codes))
        .await
        .expect("a thousand OR-ed codes");
    // Total values over all criteria.
    let many: Vec<(String, String)> = (0..MAX_TOTAL_VALUES / MAX_VALUES_PER_PARAM + 1)
        .map(|_| ("_id".to_owned(), ids(MAX_VALUES_PER_PARAM)))
        .collect();
    assert_budget(
        search(store, ResourceType::Patient, &many).await,
        "number of search values",
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the budget's largest searches run quickly"
    );
}

/// NUL characters are invalid FHIR (refused on write and in searches); a 1,000,000-character
/// family name is stored and found by exact and prefix search; two long values sharing their
/// first kilobyte in one resource are both indexed.
pub async fn hostile_strings_are_refused_or_stored(store: Arc<dyn ResourceStore>) {
    let store = store.as_ref();
    let nul = store
        .create(
            &ctx(),
            json!({"resourceType": "Patient", "name": [{"family": "a\u{0}b"}]}),
        )
        .await
        .expect_err("a NUL is refused");
    assert_eq!(nul.kind(), ErrorKind::Invalid, "{nul}");
    let nul_search = search(store, ResourceType::Patient, &param("family", "a\u{0}b"))
        .await
        .expect_err("a NUL in a search value is refused");
    assert_eq!(nul_search.kind(), ErrorKind::Invalid);

    let long = format!("Long{}", "x".repeat(1_000_000));
    let other_long = format!("{long}y");
    let stored = store
        .create(
            &ctx(),
            json!({"resourceType": "Patient",
                "name": [{"family": long}, {"family": other_long}],
                "identifier": [{"system": "urn:x", "value": long}]}),
        )
        .await
        .expect("a 1 MB family name is stored");
    let id = stored.id.to_string();
    let short = store
        .create(
            &ctx(),
            json!({"resourceType": "Patient", "name": [{"family": "Longx"}]}),
        )
        .await
        .expect("create")
        .id
        .to_string();
    let mut both = vec![id.clone(), short.clone()];
    both.sort();
    let found = |result: Result<Vec<String>, FhirError>| {
        let mut ids = result.expect("search runs");
        ids.sort();
        ids
    };
    assert_eq!(
        found(search(store, ResourceType::Patient, &param("family", "longxx")).await),
        vec![id.clone()]
    );
    assert_eq!(
        found(search(store, ResourceType::Patient, &param("family", "longx")).await),
        both
    );
    assert_eq!(
        found(
            search(
                store,
                ResourceType::Patient,
                &param("family:exact", long.as_str())
            )
            .await
        ),
        vec![id.clone()]
    );
    assert_eq!(
        found(
            search(
                store,
                ResourceType::Patient,
                &param("family:exact", "Longx")
            )
            .await
        ),
        [short]
    );
    assert_eq!(
        found(
            search(
                store,
                ResourceType::Patient,
                &param("identifier", format!("urn:x|{long}"))
            )
            .await
        ),
        vec![id.clone()]
    );
    // Updating it rewrites its rows without conflicts.
    store
        .update(
            &ctx(),
            ResourceType::Patient,
            &stored.id,
            json!({"resourceType": "Patient", "id": id, "name": [{"family": other_long}]}),
            None,
        )
        .await
        .expect("update");
}
