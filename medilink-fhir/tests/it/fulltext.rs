//! Integration tests of the Tantivy full-text index (`_text`, `_content`) over real stores:
//! SQLite always, PostgreSQL when `MEDILINK_TEST_POSTGRES_URL` names a server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::fulltext::{
    FullTextQuery, SearchIndex, TantivySearchIndex, catch_up, follow, realign,
};
use medilink_fhir::{
    ErrorKind, RequestContext, ResourceId, ResourceStore, ResourceType, StoredResource, VersionId,
};
use serde_json::{Value, json};

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn div(text: &str) -> Value {
    json!({"status": "generated",
           "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{text}</div>")})
}

fn patient(id: &str, narrative: &str, family: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "text": div(narrative),
           "name": [{"family": family, "given": ["José"]}]})
}

fn observation(id: &str, narrative: &str, display: &str, subject: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final", "text": div(narrative),
           "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8", "display": display}]},
           "subject": {"reference": format!("Patient/{subject}")}})
}

async fn put(store: &dyn ResourceStore, resource: Value) {
    let resource_type = ResourceType::from_name(resource["resourceType"].as_str().expect("type"))
        .expect("known type");
    let id = ResourceId::new(resource["id"].as_str().expect("id")).expect("valid id");
    store
        .update(&ctx(), resource_type, &id, resource, None)
        .await
        .expect("update");
}

async fn delete(store: &dyn ResourceStore, resource_type: ResourceType, id: &str) {
    let id = ResourceId::new(id).expect("valid id");
    store
        .delete(&ctx(), resource_type, &id, None)
        .await
        .expect("delete");
}

/// A small clinical record: two patients, two observations.
async fn seed(store: &dyn ResourceStore) {
    put(
        store,
        patient("pat-1", "<p>Jos&#233; <b>Rivera</b></p>", "Rivera"),
    )
    .await;
    put(store, patient("pat-2", "Ana Müller", "Müller")).await;
    put(
        store,
        observation(
            "obs-1",
            "Chest pain at rest",
            "Glucose [Moles/volume] in Blood",
            "pat-1",
        ),
    )
    .await;
    put(
        store,
        observation("obs-2", "Routine check", "Hemoglobin A1c", "pat-2"),
    )
    .await;
}

fn text(words: &str) -> FullTextQuery {
    FullTextQuery {
        text: Some(words.to_owned()),
        limit: 100,
        ..Default::default()
    }
}

fn content(words: &str) -> FullTextQuery {
    FullTextQuery {
        content: Some(words.to_owned()),
        limit: 100,
        ..Default::default()
    }
}

/// The hits of `query` as sorted `Type/id` keys.
async fn keys(index: &dyn SearchIndex, query: FullTextQuery) -> Vec<String> {
    let mut keys: Vec<String> = index
        .query(&query)
        .await
        .expect("query")
        .into_iter()
        .map(|hit| format!("{}/{}", hit.resource_type, hit.id))
        .collect();
    keys.sort();
    keys
}

async fn last_seq(store: &dyn ResourceStore) -> u64 {
    let feed = store.changes_since(&ctx(), 0, 100_000).await.expect("feed");
    feed.last().map_or(0, |change| change.seq)
}

/// `_text` reads the narrative only, `_content` every string; case, accents, phrases, the type
/// filter and AND of both parameters; updates and deletes follow.
async fn queries_follow_writes(store: Arc<dyn ResourceStore>) {
    seed(&*store).await;
    let index = TantivySearchIndex::in_memory().expect("index");
    assert_eq!(catch_up(&*store, &index).await.expect("catch up"), 4);
    assert_eq!(index.position(), last_seq(&*store).await);

    assert_eq!(keys(&index, text("jose")).await, ["Patient/pat-1"]);
    assert_eq!(keys(&index, text("JOSÉ rivera")).await, ["Patient/pat-1"]);
    assert_eq!(keys(&index, text("muller")).await, ["Patient/pat-2"]);
    assert!(
        keys(&index, text("glucose")).await.is_empty(),
        "codings are not narrative"
    );
    assert_eq!(
        keys(&index, content("glucose")).await,
        ["Observation/obs-1"]
    );
    assert_eq!(
        keys(&index, content("Jose")).await,
        ["Patient/pat-1", "Patient/pat-2"]
    );
    assert_eq!(
        keys(&index, content(r#""pain at rest""#)).await,
        ["Observation/obs-1"]
    );
    assert!(keys(&index, content(r#""rest at pain""#)).await.is_empty());
    assert_eq!(
        keys(&index, content("chest rest")).await,
        ["Observation/obs-1"]
    );
    assert!(
        keys(&index, content("chest banana")).await.is_empty(),
        "words are ANDed"
    );
    assert!(
        keys(&index, content("pat")).await.is_empty(),
        "ids and references are not content"
    );
    assert!(
        keys(&index, content("loinc")).await.is_empty(),
        "systems are not content"
    );
    assert!(keys(&index, content("?!")).await.is_empty());

    let only = |words: &str, types: Vec<ResourceType>| FullTextQuery {
        resource_types: types,
        ..content(words)
    };
    assert!(
        keys(&index, only("rivera", vec![ResourceType::Observation]))
            .await
            .is_empty()
    );
    assert_eq!(
        keys(
            &index,
            only(
                "jose",
                vec![ResourceType::Observation, ResourceType::Patient]
            )
        )
        .await,
        ["Patient/pat-1", "Patient/pat-2"]
    );
    let both = FullTextQuery {
        content: Some("jose".to_owned()),
        ..text("ana")
    };
    assert_eq!(keys(&index, both).await, ["Patient/pat-2"]);
    let limited = FullTextQuery {
        limit: 1,
        ..content("jose")
    };
    assert_eq!(index.query(&limited).await.expect("query").len(), 1);
    let empty = FullTextQuery {
        limit: 10,
        ..Default::default()
    };
    let err = index.query(&empty).await.expect_err("no words");
    assert_eq!(err.kind(), ErrorKind::Invalid);

    put(&*store, patient("pat-1", "Maria Rivera", "Rivera")).await;
    delete(&*store, ResourceType::Observation, "obs-1").await;
    assert_eq!(catch_up(&*store, &index).await.expect("catch up"), 2);
    assert!(keys(&index, text("jose")).await.is_empty());
    assert_eq!(keys(&index, text("maria")).await, ["Patient/pat-1"]);
    assert!(keys(&index, content("glucose")).await.is_empty());
    assert_eq!(catch_up(&*store, &index).await.expect("catch up"), 0);

    // Applying the same changes again changes nothing.
    let feed = store.changes_since(&ctx(), 0, 1000).await.expect("feed");
    index.apply(&feed).await.expect("apply again");
    assert_eq!(keys(&index, content("rivera")).await, ["Patient/pat-1"]);
    assert!(keys(&index, content("glucose")).await.is_empty());
}

/// An on-disk index keeps its position over a restart and does not reindex.
async fn position_survives_reopen(store: Arc<dyn ResourceStore>) {
    seed(&*store).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let index = TantivySearchIndex::open(dir.path()).expect("open");
    assert_eq!(index.position(), 0);
    catch_up(&*store, &index).await.expect("catch up");
    let position = index.position();
    drop(index);

    let index = TantivySearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(index.position(), position);
    assert_eq!(
        catch_up(&*store, &index).await.expect("catch up"),
        0,
        "no reindex"
    );
    assert_eq!(
        keys(&index, content("glucose")).await,
        ["Observation/obs-1"]
    );
    put(&*store, patient("pat-3", "Zoë Okafor", "Okafor")).await;
    assert_eq!(catch_up(&*store, &index).await.expect("catch up"), 1);
    assert_eq!(keys(&index, text("zoe")).await, ["Patient/pat-3"]);

    let again = TantivySearchIndex::open(dir.path()).expect_err("the directory is in use");
    assert_eq!(again.kind(), ErrorKind::Unavailable);
    assert_eq!(
        keys(&index, text("zoe")).await,
        ["Patient/pat-3"],
        "still usable"
    );
}

/// Reopens `dir` after `damage` and checks that the index starts over and refills.
async fn recovers(store: &dyn ResourceStore, dir: &Path, damage: impl FnOnce(&Path)) {
    damage(dir);
    let index = TantivySearchIndex::open(dir).expect("open recreates");
    assert_eq!(index.position(), 0);
    assert!(keys(&index, content("glucose")).await.is_empty());
    assert_eq!(catch_up(store, &index).await.expect("catch up"), 4);
    assert_eq!(
        keys(&index, content("glucose")).await,
        ["Observation/obs-1"]
    );
}

/// A deleted, emptied or corrupt index directory is recreated and refilled from the feed.
async fn damaged_index_rebuilds(store: Arc<dyn ResourceStore>) {
    seed(&*store).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index");
    let fill = || async {
        let index = TantivySearchIndex::open(&path).expect("open");
        catch_up(&*store, &index).await.expect("catch up");
        assert_ne!(index.position(), 0);
    };
    fill().await;
    recovers(&*store, &path, |path| {
        std::fs::remove_dir_all(path).expect("delete")
    })
    .await;
    recovers(&*store, &path, |path| {
        std::fs::write(path.join("meta.json"), b"garbage").expect("write");
    })
    .await;
    recovers(&*store, &path, |path| {
        for entry in std::fs::read_dir(path).expect("list") {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") && !name.ends_with(".lock") {
                std::fs::write(entry.path(), b"garbage garbage garbage").expect("write");
            }
        }
    })
    .await;
    recovers(&*store, &path, |path| {
        std::fs::remove_dir_all(path).expect("delete");
        std::fs::create_dir(path).expect("create");
        std::fs::write(path.join("stray.txt"), b"not an index").expect("write");
    })
    .await;
}

/// `rebuild` twice gives what following the feed gave.
async fn rebuild_is_repeatable(store: Arc<dyn ResourceStore>) {
    seed(&*store).await;
    put(&*store, patient("pat-2", "Ana Schmidt", "Schmidt")).await;
    delete(&*store, ResourceType::Observation, "obs-2").await;
    let followed = TantivySearchIndex::in_memory().expect("index");
    catch_up(&*store, &followed).await.expect("catch up");
    let rebuilt = TantivySearchIndex::in_memory().expect("index");
    let queries = [
        "jose",
        "rivera",
        "schmidt",
        "muller",
        "glucose",
        "hemoglobin",
        "\"chest pain\"",
    ];
    for round in 0..2 {
        let reported = std::sync::Mutex::new(Vec::new());
        let record = |position: u64| reported.lock().expect("not poisoned").push(position);
        let applied = rebuilt
            .rebuild(&*store, &ctx(), &record)
            .await
            .expect("rebuild");
        assert_eq!(applied, 6, "round {round}");
        // Issue #15: the progress is the feed position after each committed batch.
        assert_eq!(
            *reported.lock().expect("not poisoned"),
            [rebuilt.position()],
            "round {round}"
        );
        assert_eq!(rebuilt.position(), followed.position());
        for words in queries {
            assert_eq!(
                keys(&rebuilt, content(words)).await,
                keys(&followed, content(words)).await,
                "round {round}, query {words}"
            );
        }
    }
    assert!(keys(&rebuilt, content("hemoglobin")).await.is_empty());
    assert_eq!(keys(&rebuilt, content("schmidt")).await, ["Patient/pat-2"]);
}

/// An index ahead of the store's feed (filled from another database) is rebuilt.
async fn foreign_index_is_realigned(store: Arc<dyn ResourceStore>) {
    seed(&*store).await;
    let index = TantivySearchIndex::in_memory().expect("index");
    assert!(
        !realign(&*store, &index).await.expect("realign"),
        "empty index"
    );
    let foreign = StoredResource {
        resource_type: ResourceType::Patient,
        id: ResourceId::new("ghost").expect("valid id"),
        version_id: VersionId(1),
        last_updated: time::OffsetDateTime::UNIX_EPOCH,
        seq: 10_000,
        json: Some(
            patient("ghost", "Ghost Writer", "Writer")
                .to_string()
                .into(),
        ),
    };
    index.apply(&[foreign]).await.expect("apply");
    assert_eq!(keys(&index, text("ghost")).await, ["Patient/ghost"]);
    assert!(realign(&*store, &index).await.expect("realign"));
    assert_eq!(index.position(), last_seq(&*store).await);
    assert!(keys(&index, text("ghost")).await.is_empty());
    assert_eq!(
        keys(&index, content("glucose")).await,
        ["Observation/obs-1"]
    );
    assert!(
        !realign(&*store, &index).await.expect("realign"),
        "now aligned"
    );
}

/// Two indexes (two server processes) following one store converge.
async fn two_followers_converge(store: Arc<dyn ResourceStore>) {
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let indexes: Vec<Arc<dyn SearchIndex>> = dirs
        .iter()
        .map(|dir| Arc::new(TantivySearchIndex::open(dir.path()).expect("open")) as _)
        .collect();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let followers: Vec<_> = indexes
        .iter()
        .map(|index| {
            let mut stopped = stopped.clone();
            tokio::spawn(follow(
                Arc::clone(&store),
                Arc::clone(index),
                Duration::from_millis(5),
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            ))
        })
        .collect();
    seed(&*store).await;
    for n in 0..20 {
        put(
            &*store,
            patient(&format!("many-{n}"), &format!("Batch patient {n}"), "Batch"),
        )
        .await;
    }
    delete(&*store, ResourceType::Patient, "many-3").await;
    let target = last_seq(&*store).await;
    for index in &indexes {
        tokio::time::timeout(Duration::from_secs(30), async {
            while index.position() < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the follower catches up");
    }
    for words in ["batch", "jose", "glucose", "\"batch patient 3\""] {
        assert_eq!(
            keys(&*indexes[0], content(words)).await,
            keys(&*indexes[1], content(words)).await
        );
    }
    assert_eq!(keys(&*indexes[0], content("batch")).await.len(), 19);
    stop.send(true).expect("followers listen");
    for follower in followers {
        tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .expect("the follower stops")
            .expect("the follower does not panic");
    }
}

/// Query latency over a few thousand resources; runs only with `MEDILINK_FULLTEXT_BENCH=1`.
async fn latency(store: Arc<dyn ResourceStore>) {
    if std::env::var("MEDILINK_FULLTEXT_BENCH").is_err() {
        return;
    }
    let words = [
        "fever",
        "cough",
        "fatigue",
        "nausea",
        "rash",
        "headache",
        "dizziness",
        "pain",
    ];
    let n_resources: usize = 5000;
    for n in 0..n_resources {
        let narrative = format!(
            "Patient reports {} and {} since day {n}",
            words[n % words.len()],
            words[(n / 8) % words.len()]
        );
        put(
            &*store,
            observation(&format!("o{n}"), &narrative, "Clinical finding", "p"),
        )
        .await;
    }
    let index = TantivySearchIndex::in_memory().expect("index");
    let started = std::time::Instant::now();
    catch_up(&*store, &index).await.expect("catch up");
    let indexing = started.elapsed();
    let queries = [
        text("fever"),
        content("cough nausea"),
        content("\"reports rash\""),
        text("day 4999"),
    ];
    let started = std::time::Instant::now();
    let rounds = 50;
    for _ in 0..rounds {
        for query in &queries {
            index.query(query).await.expect("query");
        }
    }
    let per_query = started.elapsed() / (rounds * queries.len() as u32);
    eprintln!(
        "{n_resources} resources: indexed in {indexing:?}, {per_query:?} per query (limit 100)"
    );
}

macro_rules! cases {
    ($make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                medilink_fhir::testsuite::run($make, super::$case).await;
            }
        )*
    };
}

mod fulltext_sqlite {
    async fn make() -> Option<medilink_fhir::testsuite::Harness> {
        medilink_fhir::testsuite::sqlite_harness().await
    }
    cases!(make; queries_follow_writes, position_survives_reopen, damaged_index_rebuilds,
        rebuild_is_repeatable, two_followers_converge, foreign_index_is_realigned, latency);
}

#[cfg(feature = "sql-postgres")]
mod fulltext_postgres {
    async fn make() -> Option<medilink_fhir::testsuite::Harness> {
        let url = std::env::var("MEDILINK_TEST_POSTGRES_URL").ok();
        if url.is_none() {
            eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping the PostgreSQL cases");
        }
        medilink_fhir::testsuite::postgres_harness(url).await
    }
    cases!(make; queries_follow_writes, position_survives_reopen, damaged_index_rebuilds,
        rebuild_is_repeatable, two_followers_converge, foreign_index_is_realigned);
}
