//! Suite cases for search: a fixed synthetic data set and a table of queries with the ids
//! they must return, on every backend; plus sorting, paging under concurrent writes and
//! includes.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::context::RequestContext;
use crate::model::{ResourceId, ResourceType};
use crate::search::SearchQuery;
use crate::store::ResourceStore;

fn ctx() -> RequestContext {
    RequestContext::system()
}

/// The fixed data set (synthetic).
fn fixtures() -> Vec<Value> {
    vec![
        json!({"resourceType": "Organization", "id": "org1", "name": "Acme Clinic", "identifier": [{"system": "urn:org", "value": "A1"}]}),
        json!({"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "House", "given": ["Greg"]}],
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "111"}]}),
        json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Müller", "given": ["Anna"]}], "gender": "female",
            "birthDate": "1980-05-17", "active": true, "managingOrganization": {"reference": "Organization/org1"},
            "generalPractitioner": [{"reference": "Practitioner/dr1"}],
            "identifier": [{"system": "urn:mrn", "value": "M-1", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}],
            "telecom": [{"system": "email", "value": "anna@example.org"}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Muller", "given": ["Bert"]}], "gender": "male",
            "birthDate": "1980-11", "active": false}),
        json!({"resourceType": "Patient", "id": "p3", "meta": {"tag": [{"system": "urn:tags", "code": "vip"}],
            "profile": ["http://example.org/StructureDefinition/special-patient"], "source": "urn:source:lab",
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]},
            "name": [{"family": "Smith", "given": ["Carla", "Anne"]}], "gender": "female",
            "birthDate": "1999-01-01"}),
        json!({"resourceType": "Patient", "id": "p4", "name": [{"family": "Doe"}], "gender": "unknown"}),
        json!({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p1"}, "period": {"start": "2021-03-01T10:00:00Z", "end": "2021-03-01T11:00:00Z"},
            "participant": [{"individual": {"reference": "Practitioner/dr1"}}]}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}], "text": "Systolic BP"},
            "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"}, "effectiveDateTime": "2021-03-01T10:15:00Z",
            "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}),
        json!({"resourceType": "Observation", "id": "o2", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2022-06-15",
            "valueQuantity": {"value": 145.5, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}),
        json!({"resourceType": "Observation", "id": "o3", "status": "preliminary",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
            "subject": {"reference": "Patient/p2"}, "effectivePeriod": {"start": "2022-01-01", "end": "2022-01-31"},
            "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}}),
        json!({"resourceType": "Observation", "id": "o4", "status": "final",
            "code": {"coding": [{"system": "urn:local", "code": "8480-6"}], "text": "local systolic"},
            "subject": {"reference": "Patient/p3"}, "effectiveDateTime": "2023-02-02T08:00:00+02:00",
            "performer": [{"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "222"}}],
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": 80, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}),
        json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "onsetDateTime": "2019"}),
        json!({"resourceType": "ValueSet", "id": "vs1", "url": "http://example.org/fhir/ValueSet/colors", "status": "active"}),
    ]
}

async fn load(store: &dyn ResourceStore) {
    for resource in fixtures() {
        let ty: ResourceType = resource["resourceType"]
            .as_str()
            .expect("type")
            .parse()
            .expect("known type");
        let id = ResourceId::new(resource["id"].as_str().expect("id")).expect("valid id");
        store
            .update(&ctx(), ty, &id, resource, None)
            .await
            .expect("fixture loads");
    }
}

fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.replace("%7C", "|").replace("%3A", ":"))
        })
        .collect()
}

async fn ids(store: &dyn ResourceStore, ty: ResourceType, query: &str) -> Vec<String> {
    let parsed = SearchQuery::parse(ty, &params(query), true)
        .unwrap_or_else(|e| panic!("{ty}?{query}: {e}"));
    let page = store
        .search(&ctx(), &parsed)
        .await
        .unwrap_or_else(|e| panic!("{ty}?{query}: {e}"));
    let mut found: Vec<String> = page.matches.iter().map(|m| m.id.to_string()).collect();
    if parsed.sort.is_empty() {
        found.sort();
    }
    found
}

/// (type, query, expected ids — sorted unless the query sorts).
const CASES: &[(ResourceType, &str, &[&str])] = &[
    // string: accent- and case-insensitive prefix, :exact, :contains, several names
    (ResourceType::Patient, "name=muller", &["p1", "p2"]),
    (ResourceType::Patient, "family=MÜL", &["p1", "p2"]),
    (ResourceType::Patient, "family:exact=Müller", &["p1"]),
    (ResourceType::Patient, "name:contains=ll", &["p1", "p2"]),
    (ResourceType::Patient, "given=anne", &["p3"]),
    (ResourceType::Patient, "name=smith,doe", &["p3", "p4"]),
    (ResourceType::Patient, "name=muller&given=bert", &["p2"]),
    // token
    (ResourceType::Patient, "gender=female", &["p1", "p3"]),
    (ResourceType::Patient, "gender:not=female", &["p2", "p4"]),
    (ResourceType::Patient, "active=true", &["p1"]),
    (ResourceType::Patient, "identifier=urn:mrn|M-1", &["p1"]),
    (ResourceType::Patient, "identifier=M-1", &["p1"]),
    (ResourceType::Patient, "identifier=urn:other|M-1", &[]),
    (
        ResourceType::Patient,
        "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|M-1",
        &["p1"],
    ),
    (ResourceType::Patient, "email=anna@example.org", &["p1"]),
    (
        ResourceType::Observation,
        "code=http://loinc.org|8480-6",
        &["o1", "o2"],
    ),
    (
        ResourceType::Observation,
        "code=8480-6",
        &["o1", "o2", "o4"],
    ),
    (
        ResourceType::Observation,
        "code=http://loinc.org|",
        &["o1", "o2", "o3"],
    ),
    (
        ResourceType::Observation,
        "code:text=systolic",
        &["o1", "o4"],
    ),
    (
        ResourceType::Observation,
        "status=final&code=8480-6",
        &["o1", "o2", "o4"],
    ),
    (
        ResourceType::Observation,
        "status=preliminary,final&code=2339-0",
        &["o3"],
    ),
    // missing
    (ResourceType::Patient, "birthdate:missing=true", &["p4"]),
    (
        ResourceType::Patient,
        "birthdate:missing=false",
        &["p1", "p2", "p3"],
    ),
    // reference
    (
        ResourceType::Observation,
        "subject=Patient/p1",
        &["o1", "o2"],
    ),
    (ResourceType::Observation, "patient=p2", &["o3"]),
    (ResourceType::Observation, "subject:Patient=p3", &["o4"]),
    (ResourceType::Observation, "encounter=Encounter/e1", &["o1"]),
    (
        ResourceType::Patient,
        "organization=Organization/org1",
        &["p1"],
    ),
    // date: precision, prefixes, periods, time zones
    (ResourceType::Patient, "birthdate=1980", &["p1", "p2"]),
    (ResourceType::Patient, "birthdate=1980-05", &["p1"]),
    (ResourceType::Patient, "birthdate=1980-05-17", &["p1"]),
    (ResourceType::Patient, "birthdate=gt1980-06", &["p2", "p3"]),
    (
        ResourceType::Patient,
        "birthdate=lt1980-11-15",
        &["p1", "p2"],
    ),
    (ResourceType::Patient, "birthdate=ge1999", &["p3"]),
    (ResourceType::Patient, "birthdate=le1980-05-17", &["p1"]),
    (ResourceType::Patient, "birthdate=ne1980", &["p3"]),
    (ResourceType::Patient, "birthdate=sa1980-12-31", &["p3"]),
    (ResourceType::Patient, "birthdate=eb1980-11-01", &["p1"]),
    (
        ResourceType::Patient,
        "birthdate=ge1980-01-01&birthdate=le1980-12-31",
        &["p1", "p2"],
    ),
    (ResourceType::Observation, "date=2022-01-15", &[]),
    (
        ResourceType::Observation,
        "date=ge2022-01-15&date=le2022-01-16",
        &["o3"],
    ),
    (ResourceType::Observation, "date=2022", &["o2", "o3"]),
    (
        ResourceType::Observation,
        "date=2023-02-02T06:00:00Z",
        &["o4"],
    ),
    (ResourceType::Observation, "date=ap2021-03-01", &["o1"]),
    (ResourceType::Encounter, "date=2021-03-01", &["e1"]),
    (ResourceType::Condition, "onset-date=2019-07", &[]),
    (ResourceType::Condition, "onset-date=le2019-07", &["c1"]),
    // quantity and number
    (ResourceType::Observation, "value-quantity=gt130", &["o2"]),
    (ResourceType::Observation, "value-quantity=120", &["o1"]),
    (
        ResourceType::Observation,
        "value-quantity=lt10|http://unitsofmeasure.org|mmol/L",
        &["o3"],
    ),
    (
        ResourceType::Observation,
        "value-quantity=ge120||mm[Hg]",
        &["o1", "o2"],
    ),
    (ResourceType::Observation, "value-quantity=ap146", &["o2"]),
    (
        ResourceType::Observation,
        "component-value-quantity=lt100",
        &["o4"],
    ),
    // composite
    (
        ResourceType::Observation,
        "code-value-quantity=http://loinc.org|8480-6$gt130",
        &["o2"],
    ),
    (
        ResourceType::Observation,
        "code-value-quantity=8480-6$lt200",
        &["o1", "o2"],
    ),
    (
        ResourceType::Observation,
        "component-code-value-quantity=http://loinc.org|8462-4$80",
        &["o4"],
    ),
    // uri
    (
        ResourceType::ValueSet,
        "url=http://example.org/fhir/ValueSet/colors",
        &["vs1"],
    ),
    (
        ResourceType::ValueSet,
        "url:below=http://example.org/fhir",
        &["vs1"],
    ),
    (
        ResourceType::ValueSet,
        "url:above=http://example.org/fhir/ValueSet/colors/v2",
        &["vs1"],
    ),
    (ResourceType::ValueSet, "url=http://example.org/fhir", &[]),
    // meta parameters, reference :identifier
    (ResourceType::Patient, "_tag=urn:tags|vip", &["p3"]),
    (ResourceType::Patient, "_tag:not=vip", &["p1", "p2", "p4"]),
    (
        ResourceType::Patient,
        "_profile=http://example.org/StructureDefinition/special-patient",
        &["p3"],
    ),
    (ResourceType::Patient, "_security=R", &["p3"]),
    (ResourceType::Patient, "_source=urn:source:lab", &["p3"]),
    (
        ResourceType::Observation,
        "performer:identifier=http://hl7.org/fhir/sid/us-npi|222",
        &["o4"],
    ),
    (
        ResourceType::Observation,
        "_lastUpdated=gt2000-01-01&code=2339-0",
        &["o3"],
    ),
    (ResourceType::Observation, "_lastUpdated=lt2000-01-01", &[]),
    // _id, chains, reverse chains
    (ResourceType::Patient, "_id=p2,p4", &["p2", "p4"]),
    (
        ResourceType::Observation,
        "subject:Patient.name=muller",
        &["o1", "o2", "o3"],
    ),
    (ResourceType::Observation, "patient.gender=male", &["o3"]),
    (
        ResourceType::Observation,
        "encounter.participant.identifier=http://hl7.org/fhir/sid/us-npi|111",
        &["o1"],
    ),
    (
        ResourceType::Observation,
        "subject:Patient.organization.name=acme",
        &["o1", "o2"],
    ),
    (
        ResourceType::Patient,
        "_has:Observation:patient:code=2339-0",
        &["p2"],
    ),
    (
        ResourceType::Patient,
        "_has:Observation:subject:status=final",
        &["p1", "p3"],
    ),
    (
        ResourceType::Patient,
        "_has:Encounter:patient:_has:Observation:encounter:code=8480-6",
        &["p1"],
    ),
    (
        ResourceType::Practitioner,
        "_has:Encounter:participant:status=finished",
        &["dr1"],
    ),
    // sorting (ties broken by id)
    (
        ResourceType::Patient,
        "_sort=birthdate",
        &["p1", "p2", "p3", "p4"],
    ),
    (
        ResourceType::Patient,
        "_sort=-birthdate",
        &["p3", "p2", "p1", "p4"],
    ),
    (
        ResourceType::Patient,
        "_sort=gender,-_id",
        &["p3", "p1", "p2", "p4"],
    ),
    (
        ResourceType::Patient,
        "_sort=family,given",
        &["p4", "p1", "p2", "p3"],
    ),
    (
        ResourceType::Observation,
        "code=8480-6&_sort=-date",
        &["o4", "o2", "o1"],
    ),
    (
        ResourceType::Observation,
        "_sort=status,-value-quantity",
        &["o2", "o1", "o4", "o3"],
    ),
];

/// Every query of the table returns exactly its expected ids.
pub async fn search_table_of_queries(store: Arc<dyn ResourceStore>) {
    load(store.as_ref()).await;
    let mut failures = Vec::new();
    for (ty, query, expected) in CASES {
        let found = ids(store.as_ref(), *ty, query).await;
        if found != expected.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>() {
            failures.push(format!(
                "{ty}?{query}: expected {expected:?}, found {found:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Deleted and superseded versions are not found; updated values are.
pub async fn search_sees_only_current_versions(store: Arc<dyn ResourceStore>) {
    load(store.as_ref()).await;
    let p2 = ResourceId::new("p2").expect("id");
    store
        .delete(&ctx(), ResourceType::Patient, &p2, None)
        .await
        .expect("delete");
    assert_eq!(
        ids(store.as_ref(), ResourceType::Patient, "name=muller").await,
        vec!["p1"]
    );
    let renamed = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Schmidt"}]});
    store
        .update(
            &ctx(),
            ResourceType::Patient,
            &ResourceId::new("p1").expect("id"),
            renamed,
            None,
        )
        .await
        .expect("update");
    assert!(
        ids(store.as_ref(), ResourceType::Patient, "name=muller")
            .await
            .is_empty()
    );
    assert_eq!(
        ids(store.as_ref(), ResourceType::Patient, "name=schmidt").await,
        vec!["p1"]
    );
    assert!(
        ids(
            store.as_ref(),
            ResourceType::Patient,
            "gender=female&_id=p1"
        )
        .await
        .is_empty()
    );
}

/// Totals, `_count`, includes and revincludes.
pub async fn search_totals_and_includes(store: Arc<dyn ResourceStore>) {
    load(store.as_ref()).await;
    let query = SearchQuery::parse(
        ResourceType::Observation,
        &params("code=8480-6&_count=2&_include=Observation:subject&_include=Observation:encounter"),
        true,
    )
    .expect("parse");
    let page = store.search(&ctx(), &query).await.expect("search");
    assert_eq!(page.total, Some(3));
    assert_eq!(page.matches.len(), 2);
    let mut included: Vec<String> = page.includes.iter().map(|r| r.reference()).collect();
    included.sort();
    assert_eq!(included, vec!["Encounter/e1", "Patient/p1"]);
    let iterate = SearchQuery::parse(
        ResourceType::Observation,
        &params("_id=o1&_include=Observation:subject&_include:iterate=Patient:organization"),
        true,
    )
    .expect("parse");
    let page = store.search(&ctx(), &iterate).await.expect("search");
    let mut included: Vec<String> = page.includes.iter().map(|r| r.reference()).collect();
    included.sort();
    assert_eq!(included, vec!["Organization/org1", "Patient/p1"]);
    let rev = SearchQuery::parse(
        ResourceType::Patient,
        &params("_id=p1&_revinclude=Observation:subject&_revinclude=Condition:subject"),
        true,
    )
    .expect("parse");
    let page = store.search(&ctx(), &rev).await.expect("search");
    let mut included: Vec<String> = page.includes.iter().map(|r| r.reference()).collect();
    included.sort();
    assert_eq!(
        included,
        vec!["Condition/c1", "Observation/o1", "Observation/o2"]
    );
    let wildcard = SearchQuery::parse(
        ResourceType::Encounter,
        &params("_include=Encounter:*"),
        true,
    )
    .expect("parse");
    let page = store.search(&ctx(), &wildcard).await.expect("search");
    let mut included: Vec<String> = page.includes.iter().map(|r| r.reference()).collect();
    included.sort();
    assert_eq!(included, vec!["Patient/p1", "Practitioner/dr1"]);
    let count_only =
        SearchQuery::parse(ResourceType::Patient, &params("_summary=count"), true).expect("parse");
    let page = store.search(&ctx(), &count_only).await.expect("search");
    assert_eq!((page.total, page.matches.len()), (Some(4), 0));
    // Issue #19: the same count again (kept while nothing is written), then after a create
    // and a delete: a kept total never outlives a write.
    let again = store.search(&ctx(), &count_only).await.expect("search");
    assert_eq!(again.total, Some(4));
    let created = store
        .create(&ctx(), json!({"resourceType": "Patient"}))
        .await
        .expect("create");
    assert_eq!(
        store
            .search(&ctx(), &count_only)
            .await
            .expect("search")
            .total,
        Some(5),
        "counted again after a create"
    );
    store
        .delete(&ctx(), ResourceType::Patient, &created.id, None)
        .await
        .expect("delete");
    assert_eq!(
        store
            .search(&ctx(), &count_only)
            .await
            .expect("search")
            .total,
        Some(4),
        "counted again after a delete"
    );
    let no_total =
        SearchQuery::parse(ResourceType::Patient, &params("_total=none"), true).expect("parse");
    assert_eq!(
        store.search(&ctx(), &no_total).await.expect("search").total,
        None
    );
}

/// Paging through a sorted result while other writers insert and delete: every resource that
/// exists throughout is seen exactly once, in order; `previous` leads back.
pub async fn search_paging_is_stable_under_writes(store: Arc<dyn ResourceStore>) {
    for n in 0..25 {
        let id = format!("pg{n:02}");
        let body = json!({"resourceType": "Patient", "id": id, "birthDate": format!("19{:02}-01-01", 50 + n % 7)});
        store
            .update(
                &ctx(),
                ResourceType::Patient,
                &ResourceId::new(&id).expect("id"),
                body,
                None,
            )
            .await
            .expect("seed");
    }
    let mut cursor: Option<String> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    let mut second_page_cursor = None;
    loop {
        let mut query = SearchQuery::parse(
            ResourceType::Patient,
            &params("_sort=-birthdate&_count=4"),
            true,
        )
        .expect("parse");
        query.cursor = cursor.clone();
        let page = store.search(&ctx(), &query).await.expect("page");
        seen.extend(page.matches.iter().map(|m| m.id.to_string()));
        pages += 1;
        if pages == 2 {
            second_page_cursor = page.previous_cursor.clone();
        }
        // Concurrent writers: a new patient sorting before everything, and a deletion of an
        // already-seen one; neither may disturb the remaining pages.
        let extra = format!("new{pages}");
        let body = json!({"resourceType": "Patient", "id": extra, "birthDate": "2020-01-01"});
        store
            .update(
                &ctx(),
                ResourceType::Patient,
                &ResourceId::new(&extra).expect("id"),
                body,
                None,
            )
            .await
            .expect("insert");
        if let Some(first) = seen.first() {
            let _ = store
                .delete(
                    &ctx(),
                    ResourceType::Patient,
                    &ResourceId::new(first).expect("id"),
                    None,
                )
                .await;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no resource twice: {seen:?}");
    assert_eq!(seen.len(), 25, "every original patient seen once: {seen:?}");
    assert!(
        seen.iter().all(|id| id.starts_with("pg")),
        "rows inserted before the cursor are not picked up"
    );
    let mut back = SearchQuery::parse(
        ResourceType::Patient,
        &params("_sort=-birthdate&_count=4"),
        true,
    )
    .expect("parse");
    back.cursor = second_page_cursor;
    let previous = store.search(&ctx(), &back).await.expect("previous page");
    assert!(
        !previous.matches.is_empty(),
        "the previous link leads back to a page"
    );
}

/// A caller's restriction: `permitted` patients for every type (compartment types need a
/// member), or per type through `visibility`.
fn restricted(
    visibility: impl Fn(ResourceType) -> crate::search::Visibility + Send + Sync + 'static,
) -> crate::search::Criterion {
    crate::search::Criterion::Restricted(crate::search::Restriction::new(visibility))
}

fn patients_only(patients: &[&str]) -> crate::search::Criterion {
    let permitted: Arc<[String]> = patients.iter().map(|p| (*p).to_owned()).collect();
    restricted(move |ty| crate::search::Visibility::Patients {
        permitted: permitted.clone(),
        member: crate::search::compartment::in_patient_compartment(ty),
    })
}

/// The consent restriction (`Criterion::Restricted`) applies at every chain and `_has` hop,
/// each by its own type, and a resource is visible only when every patient it names is
/// permitted: a permitted resource pointing at another patient's resource does not reveal it.
pub async fn search_restriction_applies_to_every_hop(store: Arc<dyn ResourceStore>) {
    load(store.as_ref()).await;
    let bridge = json!({"resourceType": "Observation", "id": "ox", "status": "final", "code": {"text": "derived"},
        "subject": {"reference": "Patient/p1"}, "derivedFrom": [{"reference": "Observation/o3"}]});
    store
        .update(
            &ctx(),
            ResourceType::Observation,
            &ResourceId::new("ox").expect("id"),
            bridge,
            None,
        )
        .await
        .expect("bridge");
    let search_on = |ty: ResourceType, query: &str, restrict: Option<crate::search::Criterion>| {
        let mut parsed = SearchQuery::parse(ty, &params(query), true).expect("parse");
        parsed.criteria.extend(restrict);
        parsed
    };
    let search = |query: &str, restrict: Option<Vec<&str>>| {
        search_on(
            ResourceType::Observation,
            query,
            restrict.map(|patients| patients_only(&patients)),
        )
    };
    let ids_of = |page: crate::search::SearchPage| {
        page.matches
            .iter()
            .map(|m| m.id.to_string())
            .collect::<Vec<_>>()
    };
    let open = store
        .search(
            &ctx(),
            &search("derived-from:Observation.code=2339-0", None),
        )
        .await
        .expect("open");
    assert_eq!(ids_of(open), vec!["ox"]);
    let restricted_search = store
        .search(
            &ctx(),
            &search("derived-from:Observation.code=2339-0", Some(vec!["p1"])),
        )
        .await
        .expect("restricted");
    assert!(
        ids_of(restricted_search).is_empty(),
        "the hop to p2's observation is cut"
    );
    let both = store
        .search(
            &ctx(),
            &search(
                "derived-from:Observation.code=2339-0",
                Some(vec!["p1", "p2"]),
            ),
        )
        .await
        .expect("both");
    assert_eq!(ids_of(both), vec!["ox"]);
    let has = search_on(
        ResourceType::Patient,
        "_has:Observation:patient:code=2339-0",
        Some(patients_only(&["p1"])),
    );
    assert!(ids_of(store.search(&ctx(), &has).await.expect("has")).is_empty());

    // Per type: a grant scoped to Observations does not open the hop to the Patient.
    let scoped = |patient_visible: bool| {
        restricted(move |ty| match ty {
            ResourceType::Patient if !patient_visible => crate::search::Visibility::Nothing,
            _ => crate::search::Visibility::Patients {
                permitted: Arc::from(vec!["p1".to_owned()]),
                member: true,
            },
        })
    };
    let chained = |patient_visible| {
        search_on(
            ResourceType::Observation,
            "subject:Patient.family=Müller",
            Some(scoped(patient_visible)),
        )
    };
    let cut = store.search(&ctx(), &chained(false)).await.expect("cut");
    assert!(ids_of(cut).is_empty(), "the Patient hop is not granted");
    let granted = store.search(&ctx(), &chained(true)).await.expect("granted");
    assert!(!ids_of(granted).is_empty(), "positive control");
    // A directory-type search is restricted at its hops too (existence oracles).
    let everyone = search_on(
        ResourceType::Encounter,
        "_has:Observation:encounter:code=8480-6",
        None,
    );
    let nothing = search_on(
        ResourceType::Encounter,
        "_has:Observation:encounter:code=8480-6",
        Some(restricted(|ty| match ty {
            ResourceType::Observation => crate::search::Visibility::Nothing,
            _ => crate::search::Visibility::All,
        })),
    );
    let open = store.search(&ctx(), &everyone).await.expect("open has");
    let hidden = store.search(&ctx(), &nothing).await.expect("hidden has");
    assert_eq!(ids_of(open), vec!["e1"], "positive control");
    assert!(ids_of(hidden).is_empty(), "the hidden hop hides the match");

    // A `patient=` criterion naming permitted patients stands in for the member condition
    // (same matches); a resource naming a patient outside the permitted ones stays hidden
    // whatever it is searched by.
    let focus = json!({"resourceType": "Observation", "id": "of", "status": "final", "code": {"text": "focus"},
        "subject": {"reference": "Patient/p2"}, "focus": [{"reference": "Patient/p1"}]});
    store
        .update(
            &ctx(),
            ResourceType::Observation,
            &ResourceId::new("of").expect("id"),
            focus,
            None,
        )
        .await
        .expect("focus");
    let sorted = |page: crate::search::SearchPage| {
        let mut found = ids_of(page);
        found.sort();
        found
    };
    for (query, permitted) in [
        ("patient=Patient/p1", vec!["p1"]),
        ("patient=p1,p2", vec!["p1", "p2"]),
        ("subject=Patient/p2", vec!["p1", "p2", "p3"]),
    ] {
        let open = store
            .search(&ctx(), &search(query, None))
            .await
            .expect("open");
        let restricted = store
            .search(&ctx(), &search(query, Some(permitted)))
            .await
            .expect("restricted");
        assert!(!open.matches.is_empty(), "{query}");
        assert_eq!(sorted(open), sorted(restricted), "{query}");
    }
    for permitted in [vec!["p1"], vec!["p2"]] {
        let one = store
            .search(&ctx(), &search("focus=Patient/p1", Some(permitted.clone())))
            .await
            .expect("focus");
        assert!(
            ids_of(one).is_empty(),
            "names p1 and p2: hidden from {permitted:?}"
        );
    }
    let p1_and_p2 = store
        .search(&ctx(), &search("focus=Patient/p1", Some(vec!["p1", "p2"])))
        .await
        .expect("focus p1 p2");
    assert_eq!(ids_of(p1_and_p2), vec!["of"]);
    let mixed = store
        .search(&ctx(), &search("patient=p1,p2", Some(vec!["p1"])))
        .await
        .expect("mixed");
    assert!(
        !ids_of(mixed).iter().any(|id| id == "of"),
        "a non-permitted value keeps the restriction"
    );
}

/// The restriction follows each write of a resource's patients (the backends summarize them
/// per resource): a Device, which may name no patient, and an Observation, which must name a
/// permitted one, pass from no patient to p1, to p1 and p2, back to p1, and are deleted.
pub async fn search_restriction_follows_each_version(store: Arc<dyn ResourceStore>) {
    let versions: [(&str, &[&str]); 4] = [
        ("none", &[]),
        ("p1", &["p1"]),
        ("p1 and p2", &["p1", "p2"]),
        ("p1 again", &["p1"]),
    ];
    for (step, patients) in versions {
        let references: Vec<Value> = patients
            .iter()
            .map(|p| json!({"reference": format!("Patient/{p}")}))
            .collect();
        let device = json!({"resourceType": "Device", "id": "dv",
            "patient": references.first(), "note": [{"text": step}],
            "extension": references.iter().skip(1).map(|r| json!({
                "url": "https://example.org/also-about", "valueReference": r})).collect::<Vec<_>>()});
        let observation = json!({"resourceType": "Observation", "id": "ov", "status": "final",
            "code": {"text": step}, "subject": references.first(), "focus": references.get(1..)});
        for (ty, body) in [
            (ResourceType::Device, device),
            (ResourceType::Observation, observation),
        ] {
            let mut body = body;
            if let Some(object) = body.as_object_mut() {
                object.retain(|_, value| {
                    !value.is_null() && value.as_array().is_none_or(|a| !a.is_empty())
                });
            }
            store
                .update(
                    &ctx(),
                    ty,
                    &ResourceId::new(body["id"].as_str().unwrap_or_default()).expect("id"),
                    body,
                    None,
                )
                .await
                .expect(step);
        }
        for (ty, id) in [
            (ResourceType::Device, "dv"),
            (ResourceType::Observation, "ov"),
        ] {
            let visible_to = |permitted: &[&str]| {
                let mut query =
                    SearchQuery::parse(ty, &params(&format!("_id={id}")), true).expect("parse");
                query.criteria.push(patients_only(permitted));
                query
            };
            let found = |query: SearchQuery| {
                let store = store.clone();
                async move {
                    !store
                        .search(&ctx(), &query)
                        .await
                        .expect("search")
                        .matches
                        .is_empty()
                }
            };
            let member = crate::search::compartment::in_patient_compartment(ty);
            let expected_p1 = match patients {
                [] => !member,
                ["p1"] => true,
                _ => false,
            };
            assert_eq!(
                found(visible_to(&["p1"])).await,
                expected_p1,
                "{ty} {step}: p1 only"
            );
            assert_eq!(
                found(visible_to(&["p1", "p2"])).await,
                !patients.is_empty() || !member,
                "{ty} {step}: p1 and p2 (positive control)"
            );
            assert_eq!(
                found(visible_to(&["p2", "p3"])).await,
                patients.is_empty() && !member,
                "{ty} {step}: others"
            );
        }
    }
    for (ty, id) in [
        (ResourceType::Device, "dv"),
        (ResourceType::Observation, "ov"),
    ] {
        store
            .delete(&ctx(), ty, &ResourceId::new(id).expect("id"), None)
            .await
            .expect("delete");
        let mut query = SearchQuery::parse(ty, &params(&format!("_id={id}")), true).expect("parse");
        query.criteria.push(patients_only(&["p1"]));
        assert!(
            store
                .search(&ctx(), &query)
                .await
                .expect("search")
                .matches
                .is_empty(),
            "{ty} deleted"
        );
    }
}
