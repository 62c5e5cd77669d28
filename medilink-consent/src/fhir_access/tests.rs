//! The full-text use cases over an in-memory SQLite store behind the guard, with an index
//! double that proposes fixed candidates.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::{Clock, FixedClock, IdGen, SeqIdGen, SqlOptions, open_store};
use medilink_platform::{Caller, CallerContext, Role, UserId};
use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::ConsentService;
use crate::mail::{Mail, Mailer};

#[derive(Debug)]
struct NoMail;

#[async_trait]
impl Mailer for NoMail {
    async fn send(&self, _mail: Mail) -> crate::ConsentResult<()> {
        Ok(())
    }
}

/// Proposes `hits` for every query and remembers the queries and how far it was fed.
#[derive(Debug, Default)]
struct FixedIndex {
    hits: Vec<FullTextHit>,
    queries: Mutex<Vec<FullTextQuery>>,
    position: Mutex<u64>,
}

#[async_trait]
impl SearchIndex for FixedIndex {
    async fn apply(&self, changes: &[StoredResource]) -> FhirResult<()> {
        if let Some(last) = changes.last() {
            *self.position.lock().expect("lock") = last.seq;
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        *self.position.lock().expect("lock")
    }

    async fn query(&self, query: &FullTextQuery) -> FhirResult<Vec<FullTextHit>> {
        self.queries.lock().expect("lock").push(query.clone());
        Ok(self.hits.iter().take(query.limit).cloned().collect())
    }

    async fn rebuild(
        &self,
        _store: &dyn ResourceStore,
        _ctx: &RequestContext,
        _progress: &(dyn Fn(u64) + Send + Sync),
    ) -> FhirResult<u64> {
        Ok(0)
    }
}

struct Fixture {
    guard: ConsentGuard<Arc<dyn ResourceStore>>,
    /// Two patients; the caller is linked to the first.
    patients: [String; 2],
    /// An Observation of each patient.
    observations: [String; 2],
}

async fn fixture() -> Fixture {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
    let store = open_store(&SqlOptions::new("sqlite::memory:"), clock.clone(), ids)
        .await
        .expect("store");
    let kv = Arc::new(LocalKeyValue::new(clock.clone()));
    let service = ConsentService::new(store.clone(), kv, clock, Arc::new(NoMail));
    let system = RequestContext::system();
    let mut patients = Vec::new();
    let mut observations = Vec::new();
    for family in ["Lovelace", "Hopper"] {
        let patient =
            json!({"resourceType": "Patient", "name": [{"family": family, "given": ["Ada"]}]});
        let patient = store.create(&system, patient).await.expect("patient").id;
        let observation = json!({
            "resourceType": "Observation", "status": "final",
            "code": {"text": "Glucose"}, "subject": {"reference": format!("Patient/{patient}")},
        });
        let observation = store
            .create(&system, observation)
            .await
            .expect("observation");
        patients.push(patient.as_str().to_owned());
        observations.push(observation.id.as_str().to_owned());
    }
    Fixture {
        guard: ConsentGuard::new(store, Arc::new(service)),
        patients: patients.try_into().expect("two"),
        observations: observations.try_into().expect("two"),
    }
}

fn as_user(role: Role, patient_id: Option<&str>) -> RequestContext {
    RequestContext::for_caller(
        Caller::user(
            UserId("user".into()),
            role,
            true,
            patient_id.map(|id| ResourceId::new(id).expect("id")),
        ),
        "r",
    )
}

fn hit(resource_type: ResourceType, id: &str) -> FullTextHit {
    FullTextHit {
        resource_type,
        id: ResourceId::new(id).expect("id"),
        score: 1.0,
    }
}

#[tokio::test]
async fn search_everywhere_ranks_only_what_the_caller_may_see() {
    let fixture = fixture().await;
    let [own, other] = &fixture.patients;
    let [own_obs, other_obs] = &fixture.observations;
    let index = FixedIndex {
        hits: vec![
            hit(ResourceType::Observation, other_obs),
            hit(ResourceType::Observation, own_obs),
            hit(ResourceType::Patient, other),
            hit(ResourceType::Patient, own),
            hit(ResourceType::Observation, own_obs),
        ],
        ..FixedIndex::default()
    };
    let access = FhirAccess::new(&fixture.guard, &index);
    let ctx = as_user(Role::Patient, Some(own));
    let found = access
        .search_everywhere(&ctx, "ada", 0)
        .await
        .expect("search");
    // The limit is at least one; the other patient's resources are neither listed nor counted.
    assert_eq!(found.total, 2);
    assert_eq!(
        found.results,
        vec![TextMatch {
            resource_type: ResourceType::Observation,
            id: own_obs.clone(),
            display: Some("Glucose".into()),
        }]
    );
    let found = access
        .search_everywhere(&ctx, "ada", 500)
        .await
        .expect("search");
    assert_eq!(found.results.len(), 2, "repeats are dropped");
    assert_eq!(found.results[1].display.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        serde_json::to_value(&found.results[1]).expect("json"),
        json!({"resourceType": "Patient", "id": own, "display": "Ada Lovelace"})
    );
    let query = index.queries.lock().expect("lock")[0].clone();
    assert_eq!(query.content.as_deref(), Some("ada"));
    assert_eq!(query.limit, FULLTEXT_LIMIT);
    assert!(query.resource_types.is_empty());
    assert!(index.position() > 0, "the index was caught up first");
}

#[tokio::test]
async fn a_role_that_never_sees_a_type_gets_nothing_of_it() {
    let fixture = fixture().await;
    let index = FixedIndex {
        hits: vec![hit(ResourceType::Patient, &fixture.patients[0])],
        ..FixedIndex::default()
    };
    let access = FhirAccess::new(&fixture.guard, &index);
    let found = access
        .search_everywhere(&as_user(Role::Researcher, None), "ada", 20)
        .await
        .expect("forbidden types contribute nothing");
    assert_eq!(found, TextMatches::default());
}

#[tokio::test]
async fn type_search_with_text_warns_when_the_hit_limit_cuts() {
    let fixture = fixture().await;
    let own = &fixture.patients[0];
    let mut hits = vec![hit(ResourceType::Patient, own)];
    hits.extend((0..FULLTEXT_LIMIT).map(|n| hit(ResourceType::Patient, &format!("x{n}"))));
    let index = FixedIndex {
        hits,
        ..FixedIndex::default()
    };
    let access = FhirAccess::new(&fixture.guard, &index);
    let query = SearchQuery::parse(
        ResourceType::Patient,
        &[("_content".into(), "ada".into())],
        false,
    )
    .expect("query");
    let ctx = as_user(Role::Patient, Some(own));
    let (page, notes) = access.search(&ctx, query).await.expect("search");
    assert_eq!(page.matches.len(), 1);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].code, IssueCode::TooLong);
    let asked = index.queries.lock().expect("lock")[0].clone();
    assert_eq!(asked.resource_types, vec![ResourceType::Patient]);
}

#[tokio::test]
async fn type_search_without_hits_counts_zero_without_asking_the_store() {
    let fixture = fixture().await;
    let index = FixedIndex::default();
    let access = FhirAccess::new(&fixture.guard, &index);
    let pairs = [
        ("_text".to_owned(), "nothing".to_owned()),
        ("_summary".to_owned(), "count".to_owned()),
    ];
    let query = SearchQuery::parse(ResourceType::Patient, &pairs, false).expect("query");
    let (page, notes) = access
        .search(&RequestContext::system(), query)
        .await
        .expect("search");
    assert_eq!(page.total, Some(0));
    assert!(page.matches.is_empty() && notes.is_empty());
}

#[tokio::test]
async fn everything_holds_the_patient_and_their_compartment_only() {
    let fixture = fixture().await;
    let index = FixedIndex::default();
    let access = FhirAccess::new(&fixture.guard, &index);
    let own = ResourceId::new(fixture.patients[0].clone()).expect("id");
    let everything = access
        .everything(&RequestContext::system(), &own)
        .await
        .expect("everything");
    let references: Vec<String> = everything
        .resources
        .iter()
        .map(StoredResource::reference)
        .collect();
    assert_eq!(
        references,
        vec![
            format!("Patient/{}", fixture.patients[0]),
            format!("Observation/{}", fixture.observations[0]),
        ]
    );
    assert!(!everything.capped && everything.warning().is_none());
    // A patient the caller may not see is not found, like a missing one.
    let ctx = as_user(Role::Patient, Some(&fixture.patients[1]));
    let err = access.everything(&ctx, &own).await.expect_err("hidden");
    assert_eq!(err.kind(), medilink_fhir::ErrorKind::NotFound);
}

#[tokio::test]
async fn everything_stops_at_the_limit_and_says_so() {
    let fixture = fixture().await;
    let own = ResourceId::new(fixture.patients[0].clone()).expect("id");
    let second = json!({
        "resourceType": "Condition",
        "subject": {"reference": format!("Patient/{own}")},
    });
    let system = RequestContext::system();
    fixture
        .guard
        .create(&system, second)
        .await
        .expect("condition");
    let index = FixedIndex::default();
    let access = FhirAccess::new(&fixture.guard, &index);
    let whole = access
        .everything_up_to(&system, &own, &EverythingFilter::default(), 3)
        .await
        .expect("all");
    assert_eq!((whole.resources.len(), whole.capped), (3, false));
    let capped = access
        .everything_up_to(&system, &own, &EverythingFilter::default(), 2)
        .await
        .expect("capped");
    assert_eq!((capped.resources.len(), capped.capped), (2, true));
    let warning = capped.warning().expect("warning");
    assert_eq!(warning.code, IssueCode::TooLong);
    assert_eq!(
        warning.diagnostics,
        "only the first 5000 resources of the compartment are returned"
    );
}

/// The timing probe: a hidden and a missing id both answer "not found", and neither sooner than
/// the floor; the caller's own resource answers at once (positive control), and the platform's
/// own missing reads are not slowed.
#[tokio::test]
async fn hidden_and_missing_reads_answer_not_found_no_sooner_than_the_floor() {
    use crate::guard::NOT_FOUND_FLOOR;
    let fixture = fixture().await;
    let [own, _] = &fixture.patients;
    let [own_obs, other_obs] = &fixture.observations;
    let ctx = as_user(Role::Patient, Some(own));
    for id in [other_obs.as_str(), "no-such-observation"] {
        let id = ResourceId::new(id).expect("id");
        let started = std::time::Instant::now();
        let read = fixture
            .guard
            .read(&ctx, ResourceType::Observation, &id)
            .await;
        assert!(
            matches!(read, Err(FhirError::NotFound { .. })),
            "{id}: {read:?}"
        );
        assert!(
            started.elapsed() >= NOT_FOUND_FLOOR,
            "{id}: answered before the floor"
        );
        let started = std::time::Instant::now();
        let version = medilink_fhir::VersionId(1);
        let vread = fixture
            .guard
            .vread(&ctx, ResourceType::Observation, &id, version)
            .await;
        assert!(
            matches!(vread, Err(FhirError::NotFound { .. })),
            "{id}: {vread:?}"
        );
        assert!(
            started.elapsed() >= NOT_FOUND_FLOOR,
            "{id}: vread before the floor"
        );
    }
    let own_obs = ResourceId::new(own_obs.as_str()).expect("id");
    let read = fixture
        .guard
        .read(&ctx, ResourceType::Observation, &own_obs)
        .await;
    assert!(read.is_ok(), "{read:?}");
    // The platform reads without the floor (100 missing reads well under 100 floors).
    let started = std::time::Instant::now();
    let missing = ResourceId::new("no-such-observation").expect("id");
    for _ in 0..100 {
        let read = fixture
            .guard
            .read(
                &RequestContext::system(),
                ResourceType::Observation,
                &missing,
            )
            .await;
        assert!(read.is_err());
    }
    assert!(started.elapsed() < NOT_FOUND_FLOOR * 50);
}
