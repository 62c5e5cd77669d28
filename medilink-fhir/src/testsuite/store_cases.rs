//! Suite cases for the core store interactions: versions, locking, history, transactions,
//! concurrency and the change feed.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::context::RequestContext;
use crate::error::{FhirError, IssueCode};
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::store::{HistoryQuery, HistoryScope, ResourceStore, StoredResource, WriteOp};

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn id(s: &str) -> ResourceId {
    ResourceId::new(s).expect("test ids are valid")
}

fn parsed(stored: &StoredResource) -> Value {
    serde_json::from_str(stored.json.as_deref().expect("a live version"))
        .expect("stored json parses")
}

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family}], "birthDate": "1970-01-01"})
}

async fn feed_len(store: &dyn ResourceStore) -> usize {
    store
        .changes_since(&ctx(), 0, 100_000)
        .await
        .expect("feed")
        .len()
}

fn history(scope: HistoryScope, count: usize) -> HistoryQuery {
    HistoryQuery {
        scope,
        since: None,
        at: None,
        count,
        before_seq: None,
    }
}

/// Create assigns an id and version 1; read and vread return exactly what was stored.
pub async fn create_read_vread(store: Arc<dyn ResourceStore>) {
    let created = store
        .create(
            &ctx(),
            json!({"resourceType": "Patient", "id": "ignored", "active": true,
        "_active": {"extension": [{"url": "http://example.org/x", "valueString": "kept"}]}}),
        )
        .await
        .expect("create");
    assert_ne!(created.id.as_str(), "ignored", "create ignores a client id");
    assert_eq!(created.version_id, VersionId(1));
    let body = parsed(&created);
    assert_eq!(body["meta"]["versionId"], "1");
    assert!(
        body["meta"]["lastUpdated"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    assert_eq!(
        body["_active"]["extension"][0]["valueString"], "kept",
        "primitive extensions survive"
    );
    let read = store
        .read(&ctx(), ResourceType::Patient, &created.id)
        .await
        .expect("read");
    assert_eq!(read.json, created.json);
    assert_eq!(read.last_updated, created.last_updated);
    let vread = store
        .vread(&ctx(), ResourceType::Patient, &created.id, VersionId(1))
        .await
        .expect("vread");
    assert_eq!(vread.json, created.json);
    let missing_version = store
        .vread(&ctx(), ResourceType::Patient, &created.id, VersionId(2))
        .await;
    assert!(matches!(
        missing_version,
        Err(FhirError::VersionNotFound { .. })
    ));
    let missing = store.read(&ctx(), ResourceType::Patient, &id("nope")).await;
    assert!(matches!(missing, Err(FhirError::NotFound { .. })));
    let wrong_type = store
        .read(&ctx(), ResourceType::Observation, &created.id)
        .await;
    assert!(matches!(wrong_type, Err(FhirError::NotFound { .. })));
}

/// Updates add versions; `If-Match` is enforced; update-as-create works with a client id.
pub async fn update_versions_and_if_match(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    let made = store
        .update(
            &c,
            ResourceType::Patient,
            &id("p1"),
            json!({"resourceType": "Patient", "id": "p1"}),
            None,
        )
        .await
        .expect("update as create");
    assert!(made.created);
    assert_eq!(made.stored.version_id, VersionId(1));
    let second = store
        .update(
            &c,
            ResourceType::Patient,
            &id("p1"),
            json!({"resourceType": "Patient", "id": "p1", "active": true}),
            Some(VersionId(1)),
        )
        .await
        .expect("update with matching If-Match");
    assert!(!second.created);
    assert_eq!(second.stored.version_id, VersionId(2));
    let before = feed_len(store.as_ref()).await;
    let stale = store
        .update(
            &c,
            ResourceType::Patient,
            &id("p1"),
            json!({"resourceType": "Patient", "id": "p1"}),
            Some(VersionId(1)),
        )
        .await;
    match stale {
        Err(FhirError::VersionMismatch {
            expected, current, ..
        }) => {
            assert_eq!(expected, VersionId(1));
            assert_eq!(current, 2);
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    let absent = store
        .update(
            &c,
            ResourceType::Patient,
            &id("p2"),
            json!({"resourceType": "Patient", "id": "p2"}),
            Some(VersionId(1)),
        )
        .await;
    assert!(matches!(
        absent,
        Err(FhirError::VersionMismatch { current: 0, .. })
    ));
    assert_eq!(
        feed_len(store.as_ref()).await,
        before,
        "failed updates write nothing"
    );
    let read = store
        .read(&c, ResourceType::Patient, &id("p1"))
        .await
        .expect("read");
    assert_eq!(parsed(&read)["active"], true);
    let v1 = store
        .vread(&c, ResourceType::Patient, &id("p1"), VersionId(1))
        .await
        .expect("old version kept");
    assert!(parsed(&v1).get("active").is_none());
}

/// Delete writes a tombstone: read is Gone, old versions stay readable, re-create continues.
pub async fn delete_writes_tombstones(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    let created = store.create(&c, patient("Doe")).await.expect("create");
    let deleted = store
        .delete(&c, ResourceType::Patient, &created.id, None)
        .await
        .expect("delete");
    let tombstone = deleted.expect("a live resource was deleted").stored;
    assert_eq!(tombstone.version_id, VersionId(2));
    assert!(tombstone.is_deleted());
    assert!(matches!(
        store.read(&c, ResourceType::Patient, &created.id).await,
        Err(FhirError::Gone { .. })
    ));
    assert!(matches!(
        store
            .vread(&c, ResourceType::Patient, &created.id, VersionId(2))
            .await,
        Err(FhirError::Gone { .. })
    ));
    assert!(
        store
            .vread(&c, ResourceType::Patient, &created.id, VersionId(1))
            .await
            .is_ok()
    );
    assert!(
        store
            .delete(&c, ResourceType::Patient, &created.id, None)
            .await
            .expect("delete again")
            .is_none()
    );
    assert!(
        store
            .delete(&c, ResourceType::Patient, &id("never"), None)
            .await
            .expect("delete missing")
            .is_none()
    );
    let page = store
        .history(
            &c,
            &history(
                HistoryScope::Instance(ResourceType::Patient, created.id.clone()),
                10,
            ),
        )
        .await
        .expect("history");
    assert_eq!(page.total, 2);
    assert_eq!(page.entries[0].method(), "DELETE");
    assert_eq!(page.entries[1].method(), "POST");
    let mut body = patient("Roe");
    body["id"] = json!(created.id.as_str());
    let revived = store
        .update(&c, ResourceType::Patient, &created.id, body, None)
        .await
        .expect("revive");
    assert!(revived.created);
    assert_eq!(revived.stored.version_id, VersionId(3));
}

/// Structurally invalid writes fail with a clear error and write nothing.
pub async fn invalid_writes_store_nothing(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    let bad = [
        json!([1, 2]),
        json!({"name": "no type"}),
        json!({"resourceType": "Unicorn"}),
        json!({"resourceType": "Patient", "unknownElement": 1}),
        json!({"resourceType": "Patient", "birthDate": "not-a-date"}),
        json!({"resourceType": "Patient", "active": "yes"}),
        json!({"resourceType": "Patient", "gender": "banana"}),
    ];
    for body in bad {
        let result = store.create(&c, body.clone()).await;
        let err = result.expect_err("invalid body must be rejected");
        assert_eq!(err.kind(), crate::ErrorKind::Invalid, "{body} gave {err:?}");
    }
    let unknown = store
        .create(&c, json!({"resourceType": "Patient", "unknownElement": 1}))
        .await;
    let Err(FhirError::Invalid { issues }) = unknown else {
        panic!("expected validation issues")
    };
    assert!(issues.iter().any(|i| {
        i.code == IssueCode::Structure
            && i.expression
                .as_deref()
                .is_some_and(|e| e.contains("unknownElement"))
    }));
    let mismatch = store
        .update(
            &c,
            ResourceType::Observation,
            &id("o1"),
            json!({"resourceType": "Patient", "id": "o1"}),
            None,
        )
        .await;
    assert!(matches!(mismatch, Err(FhirError::TypeMismatch { .. })));
    let no_id = store
        .update(
            &c,
            ResourceType::Patient,
            &id("p1"),
            json!({"resourceType": "Patient"}),
            None,
        )
        .await;
    assert!(matches!(no_id, Err(FhirError::IdMismatch { .. })));
    assert_eq!(feed_len(store.as_ref()).await, 0);
}

/// Every R4 resource type can be stored (types with required elements get them).
pub async fn every_resource_type_is_accepted(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    let mut stored = 0;
    for ty in ResourceType::ALL {
        match store.create(&c, json!({"resourceType": ty.as_str()})).await {
            Ok(created) => {
                assert_eq!(created.resource_type, ty);
                stored += 1;
            }
            Err(FhirError::Invalid { issues }) => assert!(
                issues.iter().all(|i| i.code == IssueCode::Required),
                "{ty}: a bare resource may only lack required elements: {issues:?}"
            ),
            Err(other) => panic!("{ty}: {other:?}"),
        }
    }
    assert!(stored >= 30, "only {stored} types stored");
}

/// History: newest first, cursor paging, `_since` and `_at`, all three scopes.
pub async fn history_pages_and_filters(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            store
                .create(&c, patient(&format!("F{n}")))
                .await
                .expect("create")
                .id,
        );
    }
    let obs = store
        .create(
            &c,
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        )
        .await
        .expect("create obs");
    let middle = store
        .read(&c, ResourceType::Patient, &ids[2])
        .await
        .expect("read")
        .last_updated;
    let mut body = patient("Changed");
    body["id"] = json!(ids[0].as_str());
    store
        .update(&c, ResourceType::Patient, &ids[0], body, None)
        .await
        .expect("update");

    let mut seen = Vec::new();
    let mut query = history(HistoryScope::System, 3);
    loop {
        let page = store.history(&c, &query).await.expect("page");
        assert_eq!(page.total, 7);
        assert!(page.entries.len() <= 3);
        seen.extend(page.entries.iter().map(|e| e.seq));
        match page.next_before_seq {
            Some(cursor) => query.before_seq = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats: {seen:?}"
    );

    let types = store
        .history(
            &c,
            &history(HistoryScope::Type(ResourceType::Observation), 10),
        )
        .await
        .expect("type");
    assert_eq!(types.total, 1);
    assert_eq!(types.entries[0].id, obs.id);
    let instance = store
        .history(
            &c,
            &history(
                HistoryScope::Instance(ResourceType::Patient, ids[0].clone()),
                10,
            ),
        )
        .await
        .expect("instance");
    assert_eq!(
        instance
            .entries
            .iter()
            .map(|e| e.version_id.get())
            .collect::<Vec<_>>(),
        vec![2, 1]
    );

    let mut since = history(HistoryScope::Type(ResourceType::Patient), 10);
    since.since = Some(middle);
    let page = store.history(&c, &since).await.expect("since");
    assert_eq!(page.total, 4, "patients 2, 3, 4 and the update of 0");

    let mut at = history(
        HistoryScope::Instance(ResourceType::Patient, ids[0].clone()),
        10,
    );
    at.at = Some(middle);
    let page = store.history(&c, &at).await.expect("at");
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.version_id.get())
            .collect::<Vec<_>>(),
        vec![2, 1],
        "version 1 was current at `middle`, version 2 came after"
    );
}

/// A transaction with one bad write writes nothing; a good one writes everything.
pub async fn transactions_are_all_or_nothing(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    store
        .update(
            &c,
            ResourceType::Patient,
            &id("t1"),
            json!({"resourceType": "Patient", "id": "t1"}),
            None,
        )
        .await
        .expect("seed");
    let before = feed_len(store.as_ref()).await;
    let failing = vec![
        WriteOp::Create {
            resource: patient("A"),
            id: None,
        },
        WriteOp::Create {
            resource: patient("B"),
            id: Some(id("t2")),
        },
        WriteOp::Update {
            resource_type: ResourceType::Patient,
            id: id("t1"),
            resource: json!({"resourceType": "Patient", "id": "t1"}),
            if_match: Some(VersionId(7)),
        },
    ];
    assert!(matches!(
        store.transaction(&c, failing).await,
        Err(FhirError::VersionMismatch { .. })
    ));
    assert_eq!(feed_len(store.as_ref()).await, before);
    assert!(matches!(
        store.read(&c, ResourceType::Patient, &id("t2")).await,
        Err(FhirError::NotFound { .. })
    ));
    let invalid = vec![
        WriteOp::Create {
            resource: patient("A"),
            id: None,
        },
        WriteOp::Create {
            resource: json!({"resourceType": "Patient", "bogus": true}),
            id: None,
        },
    ];
    assert!(store.transaction(&c, invalid).await.is_err());
    let duplicate = vec![
        WriteOp::Delete {
            resource_type: ResourceType::Patient,
            id: id("t1"),
            if_match: None,
        },
        WriteOp::Update {
            resource_type: ResourceType::Patient,
            id: id("t1"),
            resource: json!({"resourceType": "Patient", "id": "t1"}),
            if_match: None,
        },
    ];
    assert!(
        store.transaction(&c, duplicate).await.is_err(),
        "one resource twice in a transaction"
    );
    assert_eq!(feed_len(store.as_ref()).await, before);

    let good = vec![
        WriteOp::Create {
            resource: patient("A"),
            id: Some(id("t3")),
        },
        WriteOp::Update {
            resource_type: ResourceType::Patient,
            id: id("t1"),
            resource: json!({"resourceType": "Patient", "id": "t1", "active": false}),
            if_match: Some(VersionId(1)),
        },
        WriteOp::Delete {
            resource_type: ResourceType::Patient,
            id: id("missing"),
            if_match: None,
        },
    ];
    let outcomes = store.transaction(&c, good).await.expect("transaction");
    assert_eq!(outcomes.len(), 3);
    let first = outcomes[0].as_ref().expect("created");
    let second = outcomes[1].as_ref().expect("updated");
    assert!(first.created && !second.created);
    assert_eq!(second.stored.version_id, VersionId(2));
    assert_eq!(second.stored.seq, first.stored.seq + 1);
    assert!(outcomes[2].is_none());
    assert_eq!(feed_len(store.as_ref()).await, before + 2);
}

/// Many tasks updating one resource at once: every version exists exactly once, the feed has
/// no gaps and no duplicates.
pub async fn concurrent_writers_keep_versions_and_feed_consistent(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    store
        .update(
            &c,
            ResourceType::Patient,
            &id("hot"),
            json!({"resourceType": "Patient", "id": "hot"}),
            None,
        )
        .await
        .expect("seed");
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..10 {
                let body = json!({"resourceType": "Patient", "id": "hot", "name": [{"family": format!("W{worker}N{n}")}]});
                store.update(&ctx(), ResourceType::Patient, &id("hot"), body, None).await.expect("update");
                store.create(&ctx(), patient("Other")).await.expect("create");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let current = store
        .read(&c, ResourceType::Patient, &id("hot"))
        .await
        .expect("read");
    assert_eq!(current.version_id, VersionId(81));
    let feed = store.changes_since(&c, 0, 100_000).await.expect("feed");
    assert_eq!(feed.len(), 161);
    assert!(
        feed.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "gapless, strictly increasing"
    );
    let mut versions: Vec<u64> = feed
        .iter()
        .filter(|s| s.id.as_str() == "hot")
        .map(|s| s.version_id.get())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=81).collect::<Vec<_>>());
}

/// Concurrent transactions, half of them failing: every successful one is complete, every
/// failed one left nothing.
pub async fn concurrent_transactions_never_interleave(store: Arc<dyn ResourceStore>) {
    let mut tasks = Vec::new();
    for n in 0..12u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ops: Vec<WriteOp> = (0..5)
                .map(|k| WriteOp::Create {
                    resource: patient("T"),
                    id: Some(id(&format!("tx{n}-{k}"))),
                })
                .collect();
            if n % 2 == 1 {
                ops.push(WriteOp::Create {
                    resource: json!({"resourceType": "Patient", "bad": 1}),
                    id: None,
                });
            }
            store.transaction(&ctx(), ops).await.is_ok()
        }));
    }
    let mut committed = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        if task.await.expect("task") {
            committed.push(n);
        }
    }
    assert_eq!(committed, vec![0, 2, 4, 6, 8, 10]);
    let feed = store.changes_since(&ctx(), 0, 1000).await.expect("feed");
    assert_eq!(feed.len(), 30);
    for chunk in feed.chunks(5) {
        let prefix = chunk[0]
            .id
            .as_str()
            .split('-')
            .next()
            .expect("prefix")
            .to_owned();
        assert!(
            chunk
                .iter()
                .all(|s| s.id.as_str().starts_with(&format!("{prefix}-"))),
            "a transaction's writes are contiguous"
        );
    }
}

/// The change feed returns writes after a position, in order, limited.
pub async fn change_feed_is_ordered(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    for n in 0..6 {
        store
            .create(&c, patient(&format!("C{n}")))
            .await
            .expect("create");
    }
    let all = store.changes_since(&c, 0, 100).await.expect("all");
    assert_eq!(all.len(), 6);
    let tail = store.changes_since(&c, all[2].seq, 2).await.expect("tail");
    assert_eq!(
        tail.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![all[3].seq, all[4].seq]
    );
    assert!(
        store
            .changes_since(&c, all[5].seq, 10)
            .await
            .expect("empty")
            .is_empty()
    );
    // One type's feed: the store's query and the trait's default (over the whole feed) agree.
    store
        .create(&c, json!({"resourceType": "Basic", "code": {"text": "x"}}))
        .await
        .expect("basic");
    store.create(&c, patient("C6")).await.expect("create");
    let patients = store
        .changes_of_type_since(&c, ResourceType::Patient, all[3].seq, 10)
        .await
        .expect("patients");
    assert_eq!(patients.len(), 3, "C4, C5 and C6, not the Basic");
    assert_eq!((patients[0].seq, patients[1].seq), (all[4].seq, all[5].seq));
    assert!(
        patients
            .iter()
            .all(|s| s.resource_type == ResourceType::Patient)
    );
    let first = store
        .changes_of_type_since(&c, ResourceType::Patient, 0, 1)
        .await
        .expect("limited");
    assert_eq!(first[0].seq, all[0].seq);
}

/// Identifier lookups see creates, updates and deletes.
pub async fn identifiers_follow_writes(store: Arc<dyn ResourceStore>) {
    let c = ctx();
    let body = json!({"resourceType": "Patient", "id": "i1", "identifier": [{"system": "urn:s", "value": "42"}]});
    store
        .update(&c, ResourceType::Patient, &id("i1"), body, None)
        .await
        .expect("create");
    let found = store
        .find_by_identifier(&c, ResourceType::Patient, Some("urn:s"), "42")
        .await
        .expect("find");
    assert_eq!(found, vec![id("i1")]);
    assert_eq!(
        store
            .find_by_identifier(&c, ResourceType::Patient, None, "42")
            .await
            .expect("any system")
            .len(),
        1
    );
    assert!(
        store
            .find_by_identifier(&c, ResourceType::Patient, Some("urn:other"), "42")
            .await
            .expect("other")
            .is_empty()
    );
    assert!(
        store
            .find_by_identifier(&c, ResourceType::Observation, None, "42")
            .await
            .expect("type")
            .is_empty()
    );
    let changed = json!({"resourceType": "Patient", "id": "i1", "identifier": [{"system": "urn:s", "value": "43"}]});
    store
        .update(&c, ResourceType::Patient, &id("i1"), changed, None)
        .await
        .expect("update");
    assert!(
        store
            .find_by_identifier(&c, ResourceType::Patient, Some("urn:s"), "42")
            .await
            .expect("old")
            .is_empty()
    );
    store
        .delete(&c, ResourceType::Patient, &id("i1"), None)
        .await
        .expect("delete");
    assert!(
        store
            .find_by_identifier(&c, ResourceType::Patient, Some("urn:s"), "43")
            .await
            .expect("deleted")
            .is_empty()
    );
}

/// After `close`, calls fail cleanly instead of hanging or panicking.
pub async fn close_is_clean(store: Arc<dyn ResourceStore>) {
    let created = store
        .create(&ctx(), patient("Closing"))
        .await
        .expect("create");
    store.close().await.expect("close");
    let after = store.read(&ctx(), ResourceType::Patient, &created.id).await;
    let err = after.expect_err("closed store");
    assert!(
        matches!(
            err.kind(),
            crate::ErrorKind::Unavailable | crate::ErrorKind::Internal
        ),
        "{err:?}"
    );
}
