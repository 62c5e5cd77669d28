//! Stores Patients and Observations and searches them with the official R4 search parameters
//! (`family`, `birthdate`, `subject`, `code`, `value-quantity`, `_sort`, `_include`, `_count`,
//! `_total`), paging with the cursor of each page.
//!
//! Run with `cargo run -p medilink-examples --example store_search`: the same code runs on
//! SQLite in memory, then on the PostgreSQL database `MEDILINK_TEST_POSTGRES_URL` names (e.g.
//! `postgres://postgres@127.0.0.1/test`), or says that it skipped PostgreSQL when that variable
//! is not set. Only the URL differs. Each run's data carries an identifier of its own, so a
//! shared database holding other data does not change the results.

use std::sync::Arc;

use medilink_fhir::search::SearchQuery;
use medilink_fhir::{
    IdGen, RequestContext, ResourceStore, ResourceType, SqlOptions, StoredResource, SystemClock,
    UuidIdGen, open_store,
};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run("sqlite::memory:").await?;
    match std::env::var("MEDILINK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => run(&url).await,
        _ => {
            eprintln!("store_search: MEDILINK_TEST_POSTGRES_URL is not set; PostgreSQL skipped");
            Ok(())
        }
    }
}

/// Stores and searches on the database `url` names.
async fn run(url: &str) -> Result<(), Error> {
    // Opening applies the schema migrations (`SqlOptions::migrate`).
    let store = open_store(
        &SqlOptions::new(url),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    // The platform's own work: no caller, so no consent decision (see `consent_guard.rs`).
    let ctx = RequestContext::system();
    // This run's identifier system: every resource below carries it.
    let run = format!("urn:example:run:{}", UuidIdGen.new_id());

    // Three patients, two of them Examples born after 1980.
    let mut patients = Vec::new();
    for (family, birth) in [
        ("Example", "1985-02-01"),
        ("Example", "1992-07-15"),
        ("Other", "1990-01-01"),
    ] {
        let patient = json!({
            "resourceType": "Patient",
            "identifier": [{"system": run, "value": format!("{family}-{birth}")}],
            "name": [{"family": family, "given": ["Synthetic"]}],
            "birthDate": birth,
        });
        patients.push(store.create(&ctx, patient).await?);
    }
    // Three heart-rate Observations of the first patient (LOINC 8867-4), on three days.
    let subject = patients[0].reference();
    for (day, rate) in [("2024-03-01", 72), ("2024-03-02", 118), ("2024-03-03", 64)] {
        let observation = json!({
            "resourceType": "Observation",
            "identifier": [{"system": run, "value": format!("hr-{day}")}],
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": subject},
            "effectiveDateTime": format!("{day}T08:00:00Z"),
            "valueQuantity": {"value": rate, "unit": "/min",
                "system": "http://unitsofmeasure.org", "code": "/min"},
        });
        store.create(&ctx, observation).await?;
    }

    // Patients named Example born in or after 1980, youngest first. (`identifier=system|`
    // matches any value of this run's system.)
    let found = search(
        store.as_ref(),
        &ctx,
        ResourceType::Patient,
        &[
            ("identifier", &format!("{run}|")),
            ("family", "example"),
            ("birthdate", "ge1980-01-01"),
            ("_sort", "-birthdate"),
        ],
    )
    .await?;
    let births: Vec<String> = found
        .iter()
        .map(|patient| {
            json_of(patient)["birthDate"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(births, ["1992-07-15", "1985-02-01"], "family + birthdate");

    // The patient's heart rates above 100/min, with the patient itself (`_include`).
    let query = SearchQuery::parse(
        ResourceType::Observation,
        &params(&[
            ("subject", &subject),
            ("code", "http://loinc.org|8867-4"),
            ("value-quantity", "gt100"),
            ("_include", "Observation:subject"),
        ]),
        true,
    )?;
    let page = store.search(&ctx, &query).await?;
    assert_eq!(page.matches.len(), 1, "one rate above 100");
    assert_eq!(json_of(&page.matches[0])["valueQuantity"]["value"], 118);
    assert_eq!(page.includes.len(), 1, "the subject is included");
    assert_eq!(page.includes[0].reference(), subject);

    // All of the patient's observations newest first, one per page, with an accurate total:
    // follow each page's cursor as a client follows the Bundle's `next` link.
    let mut params = params(&[
        ("subject", &subject),
        ("_sort", "-date"),
        ("_count", "1"),
        ("_total", "accurate"),
    ]);
    let mut days = Vec::new();
    loop {
        let query = SearchQuery::parse(ResourceType::Observation, &params, true)?;
        let page = store.search(&ctx, &query).await?;
        assert_eq!(page.total, Some(3), "the total counts every page");
        for observation in &page.matches {
            days.push(json_of(observation)["effectiveDateTime"].to_string());
        }
        let Some(cursor) = page.next_cursor else {
            break;
        };
        params.retain(|(name, _)| name != "_cursor");
        params.push(("_cursor".to_owned(), cursor));
    }
    assert_eq!(days.len(), 3, "three pages of one");
    assert!(days[0] > days[1] && days[1] > days[2], "newest first");

    // A misspelt parameter is an error under strict handling (HTTP `Prefer:
    // handling=strict`), and a warning otherwise.
    let strict = SearchQuery::parse(ResourceType::Patient, &params_of("familly", "x"), true);
    assert!(strict.is_err(), "unknown parameter refused");
    let lenient = SearchQuery::parse(ResourceType::Patient, &params_of("familly", "x"), false)?;
    assert_eq!(lenient.ignored.len(), 1, "unknown parameter reported");

    let backend = url.split(':').next().unwrap_or_default();
    eprintln!(
        "store_search on {backend}: {} patients, 3 observations; searches by family, \
         birthdate, subject, code, value-quantity, _include and paging all matched",
        patients.len()
    );
    store.close().await?;
    Ok(())
}

/// The first page of a search on `resource_type` with `pairs` (strict handling).
async fn search(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    pairs: &[(&str, &str)],
) -> Result<Vec<StoredResource>, Error> {
    let query = SearchQuery::parse(resource_type, &params(pairs), true)?;
    Ok(store.search(ctx, &query).await?.matches)
}

/// Query parameters as `SearchQuery::parse` takes them (already URL-decoded).
fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn params_of(name: &str, value: &str) -> Vec<(String, String)> {
    params(&[(name, value)])
}

/// A stored version's JSON (`Value::Null` for a deletion).
fn json_of(stored: &StoredResource) -> Value {
    stored
        .json
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}
