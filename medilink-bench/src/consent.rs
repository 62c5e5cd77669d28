//! `medilink-bench consent`: what the consent guard adds to reads and searches. The same
//! requests run on the unguarded store (platform caller) and through `ConsentGuard` as a
//! physician holding active consents from the patients asked for. Each guarded request also
//! collects what it disclosed and summarizes it, as the server does for its audit record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use medilink_consent::{ConsentGuard, ConsentService, GrantRequest};
use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{
    Accessed, RequestContext, ResourceId, ResourceStore, ResourceType, SqlOptions, SystemClock,
    UuidIdGen, open_store,
};
use medilink_platform::Caller;
use medilink_platform::{Role, UserId};

fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// One timed request kind.
#[derive(Debug, Clone, Copy)]
enum Request {
    ReadPatient,
    ReadObservation,
    Search,
}

/// Runs the comparison on a store already loaded by `medilink-bench search`.
pub(crate) async fn run(database_url: &str, patients: usize, rounds: usize) -> Result<()> {
    let store = open_store(
        &SqlOptions::new(database_url.to_owned()),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    let (service, doctor) = physician_with_grants(&store, patients).await?;
    let guarded = ConsentGuard::new(store.clone(), service);
    let system = RequestContext::system();
    let mut observations = Vec::with_capacity(patients);
    for n in 0..patients {
        observations.push(first_observation(store.as_ref(), n).await?);
    }
    println!(
        "| request | unguarded p50 | guarded p50 | p50 overhead | unguarded req/s | guarded req/s | req/s overhead |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, request) in [
        ("read Patient/{id}", Request::ReadPatient),
        ("read Observation/{id}", Request::ReadObservation),
        ("Observation?patient=X&code=Y&_sort=-date", Request::Search),
    ] {
        let mut plain = Vec::with_capacity(rounds);
        let mut with_guard = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let k = round % patients;
            // A guarded request collects what it disclosed, as the server's audit middleware
            // makes it do (a fresh sink per request, summarized for the audit record).
            let audited = RequestContext {
                accessed: Accessed::collecting(),
                mark: None,
                ..doctor.clone()
            };
            for (ctx, target, times) in [
                (&system, store.as_ref() as &dyn ResourceStore, &mut plain),
                (&audited, &guarded as &dyn ResourceStore, &mut with_guard),
            ] {
                let started = Instant::now();
                match request {
                    Request::ReadPatient => {
                        target
                            .read(
                                ctx,
                                ResourceType::Patient,
                                &ResourceId::new(format!("bench-{k}"))?,
                            )
                            .await?;
                    }
                    Request::ReadObservation => {
                        target
                            .read(ctx, ResourceType::Observation, &observations[k])
                            .await?;
                    }
                    Request::Search => {
                        let query = SearchQuery::parse(
                            ResourceType::Observation,
                            &params(&format!(
                                "patient=Patient/bench-{k}&code=http://loinc.org|2708-6&_sort=-date"
                            )),
                            true,
                        )?;
                        let page = target.search(ctx, &query).await?;
                        anyhow::ensure!(
                            !page.matches.is_empty(),
                            "the consented physician sees the data"
                        );
                    }
                }
                if ctx.accessed.is_collecting() {
                    std::hint::black_box(ctx.accessed.summary());
                }
                times.push(started.elapsed());
            }
        }
        let (p_plain, rate_plain) = stats(&mut plain);
        let (p_guard, rate_guard) = stats(&mut with_guard);
        println!(
            "| `{label}` | {:.3} ms | {:.3} ms | {:+.0}% | {rate_plain:.0} | {rate_guard:.0} | {:+.0}% |",
            p_plain.as_secs_f64() * 1e3,
            p_guard.as_secs_f64() * 1e3,
            (p_guard.as_secs_f64() / p_plain.as_secs_f64() - 1.0) * 100.0,
            (rate_plain / rate_guard - 1.0) * 100.0
        );
    }
    denied_versus_missing(store.as_ref(), &guarded, &doctor, patients, rounds).await
}

/// The first Observation of `bench-{n}`, read as the platform.
async fn first_observation(store: &dyn ResourceStore, n: usize) -> Result<ResourceId> {
    let query = SearchQuery::parse(
        ResourceType::Observation,
        &params(&format!("patient=Patient/bench-{n}&_count=1")),
        true,
    )?;
    let page = store.search(&RequestContext::system(), &query).await?;
    let first = page
        .matches
        .first()
        .context("every bench patient has observations (load more patients than --patients)")?;
    Ok(first.id.clone())
}

/// The timing probe: the physician's read of a stored resource it may not see (a patient
/// beyond the consented ones) against a read of an id that does not exist. Both answer "not
/// found"; the table shows how far their latencies differ.
async fn denied_versus_missing(
    store: &dyn ResourceStore,
    guarded: &dyn ResourceStore,
    doctor: &RequestContext,
    patients: usize,
    rounds: usize,
) -> Result<()> {
    let mut denied_observations = Vec::with_capacity(patients);
    for n in patients..patients * 2 {
        denied_observations.push(first_observation(store, n).await?);
    }
    println!();
    println!("| read (as the physician) | denied p50 | missing p50 | difference |");
    println!("|---|---|---|---|");
    for (label, ty) in [
        ("Patient/{id}", ResourceType::Patient),
        ("Observation/{id}", ResourceType::Observation),
    ] {
        let mut denied = Vec::with_capacity(rounds);
        let mut missing = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let k = round % patients;
            let hidden = match ty {
                ResourceType::Patient => ResourceId::new(format!("bench-{}", patients + k))?,
                _ => denied_observations[k].clone(),
            };
            let absent = ResourceId::new(format!("absent-{round}"))?;
            // Alternating which goes first, so that neither kind always starts right after
            // the other ended (on a timer tick, with the not-found floor).
            let mut pair = [(&hidden, &mut denied), (&absent, &mut missing)];
            if round % 2 == 1 {
                pair.reverse();
            }
            for (id, times) in pair {
                let ctx = RequestContext {
                    accessed: Accessed::collecting(),
                    mark: None,
                    ..doctor.clone()
                };
                let started = Instant::now();
                let outcome = guarded.read(&ctx, ty, id).await;
                times.push(started.elapsed());
                anyhow::ensure!(
                    matches!(outcome, Err(medilink_fhir::FhirError::NotFound { .. })),
                    "{ty}/{id}: not found for the physician"
                );
            }
        }
        let (p_denied, _) = stats(&mut denied);
        let (p_missing, _) = stats(&mut missing);
        println!(
            "| `{label}` | {:.3} ms | {:.3} ms | {:+.0}% |",
            p_denied.as_secs_f64() * 1e3,
            p_missing.as_secs_f64() * 1e3,
            (p_denied.as_secs_f64() / p_missing.as_secs_f64() - 1.0) * 100.0
        );
    }
    Ok(())
}

fn stats(times: &mut [Duration]) -> (Duration, f64) {
    times.sort();
    let total: Duration = times.iter().sum();
    (
        times[times.len() / 2],
        times.len() as f64 / total.as_secs_f64(),
    )
}

/// A physician of its own (grants of earlier runs on the same store stay out) holding active
/// all-data grants from the bench patients `bench-0` … `bench-{patients-1}`: the consent
/// service and the physician's request context.
pub(crate) async fn physician_with_grants(
    store: &Arc<dyn ResourceStore>,
    patients: usize,
) -> Result<(Arc<ConsentService>, RequestContext)> {
    let clock = Arc::new(SystemClock);
    let kv = Arc::new(LocalKeyValue::new(clock.clone()));
    let service = Arc::new(ConsentService::new(
        store.clone(),
        kv,
        clock,
        Arc::new(medilink_consent::mail::LogMailer),
    ));
    // A physician of its own per run: grants of earlier runs on the same store stay out.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let physician = format!("bench-physician-{started}");
    let physician = physician.as_str();
    for n in 0..patients {
        let patient = Caller::user(
            medilink_platform::UserId(format!("bench-patient-{n}")),
            Role::Patient,
            false,
            (Some(format!("bench-{n}"))).map(|id| medilink_fhir::ResourceId::new(id).expect("id")),
        );
        let request = GrantRequest {
            patient: None,
            grantee: Some(physician.to_owned()),
            grantee_role: Some(Role::Physician),
            scope: Vec::new(),
            purpose: None,
            end: None,
        };
        service.create(&patient, request).await?;
    }
    let doctor = RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId(physician.to_owned()),
            role: Role::Physician,
            mfa: true,
            patient_id: None,
            purpose_of_use: None,
            app: None,
        })),
        request_id: "bench".to_owned(),
        accessed: Default::default(),
        mark: None,
    };
    Ok((service, doctor))
}
