//! `medilink-bench search`: loads N generated patients (≈267 resources each) into a store,
//! then measures the latency of representative searches through the library.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use medilink_fhir::fulltext::{FullTextQuery, SearchIndex, TantivySearchIndex, catch_up};
use medilink_fhir::import::import_bundle;
use medilink_fhir::search::{Criterion, SearchQuery};
use medilink_fhir::{
    RequestContext, ResourceStore, ResourceType, SqlOptions, SystemClock, UuidIdGen, open_store,
};

fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// A benchmark query: label, type, and the query string for round `k`.
type BenchQuery = (&'static str, ResourceType, Box<dyn Fn(usize) -> String>);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

pub(crate) async fn run(database_url: &str, patients: usize, rounds: usize) -> Result<()> {
    let store = open_store(
        &SqlOptions::new(database_url.to_owned()),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    let ctx = RequestContext::system();
    let existing = store
        .search(
            &ctx,
            &SearchQuery::parse(ResourceType::Patient, &params("_summary=count"), true)?,
        )
        .await?;
    if existing.total.unwrap_or(0) < patients as u64 {
        let started = Instant::now();
        let mut resources = 0;
        for bundle in crate::data::bundles(patients)? {
            resources += crate::data::entry_count(&bundle);
            import_bundle(store.as_ref(), &ctx, &UuidIdGen, bundle).await?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "loaded {resources} resources in {secs:.1}s ({:.0} resources/s)",
            resources as f64 / secs
        );
    }
    let index = TantivySearchIndex::in_memory()?;
    let started = Instant::now();
    let indexed = catch_up(store.as_ref(), &index).await?;
    println!(
        "full-text index caught up on {indexed} changes in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let queries: Vec<BenchQuery> = vec![
        (
            "Observation?patient=X&code=Y&_sort=-date",
            ResourceType::Observation,
            Box::new(|k| {
                format!("patient=Patient/bench-{k}&code=http://loinc.org|2708-6&_sort=-date")
            }),
        ),
        (
            "Patient?name=…&birthdate=ge…",
            ResourceType::Patient,
            Box::new(|k| format!("name=Synthetic{k}&birthdate=ge{}-01-01", 1930 + k % 70)),
        ),
        (
            "Condition?code=…",
            ResourceType::Condition,
            Box::new(|_| "code=http://snomed.info/sct|65363002".to_owned()),
        ),
        (
            "Observation?code=…&value-quantity=gt…",
            ResourceType::Observation,
            Box::new(|k| {
                format!(
                    "code=http://loinc.org|2708-6&value-quantity=gt{}",
                    70 + k % 10
                )
            }),
        ),
        (
            "Observation?subject:Patient.name=…&code=… (chain)",
            ResourceType::Observation,
            Box::new(|k| format!("subject:Patient.name=Synthetic{k}&code=2708-6")),
        ),
        (
            "Observation?patient=X&_include=Observation:subject",
            ResourceType::Observation,
            Box::new(|k| {
                format!("patient=Patient/bench-{k}&_include=Observation:subject&_count=20")
            }),
        ),
        (
            "Patient?_has:Observation:patient:code=…&_id=X (reverse chain)",
            ResourceType::Patient,
            Box::new(|k| format!("_has:Observation:patient:code=2708-6&_id=bench-{k}")),
        ),
    ];
    println!("| query | p50 | p99 | queries/s | matches (last) |");
    println!("|---|---|---|---|---|");
    for (label, ty, make) in &queries {
        let mut times = Vec::with_capacity(rounds);
        let mut last = 0;
        for round in 0..rounds {
            let query = SearchQuery::parse(*ty, &params(&make(round % patients)), true)?;
            let started = Instant::now();
            let page = store.search(&ctx, &query).await?;
            times.push(started.elapsed());
            last = page.total.unwrap_or(page.matches.len() as u64);
        }
        report(label, &mut times, last);
    }
    let mut times = Vec::with_capacity(rounds);
    let mut last = 0;
    for round in 0..rounds {
        let started = Instant::now();
        let hits = index
            .query(&FullTextQuery {
                content: Some(format!("Synthetic{}", round % patients)),
                resource_types: vec![ResourceType::Patient],
                limit: 10_000,
                ..FullTextQuery::default()
            })
            .await?;
        let mut query = SearchQuery::parse(ResourceType::Patient, &[], true)?;
        query.criteria.push(Criterion::Ids(
            hits.iter().map(|h| h.id.to_string()).collect(),
        ));
        let page = store.search(&ctx, &query).await?;
        times.push(started.elapsed());
        last = page.total.unwrap_or(0);
    }
    report("Patient?_content=… (Tantivy + SQL)", &mut times, last);
    Ok(())
}

fn report(label: &str, times: &mut [Duration], last: u64) {
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "| `{label}` | {:.2} ms | {:.2} ms | {:.0} | {last} |",
        percentile(times, 0.5).as_secs_f64() * 1e3,
        percentile(times, 0.99).as_secs_f64() * 1e3,
        times.len() as f64 / total.as_secs_f64()
    );
}
