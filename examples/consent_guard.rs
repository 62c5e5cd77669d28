//! Guards the store by consent for a signed-in caller: a physician sees only the patients who
//! granted them access, and loses it the moment the grant is revoked.
//!
//! Run with `cargo run -p medilink-examples --example consent_guard`.
//!
//! Every interaction of a [`ConsentGuard`] decides from the [`Caller`] in the request context
//! (filled from the embedder's own authentication). A resource the caller may not see reads
//! exactly like a missing one (404 over HTTP), and searches match only permitted patients,
//! totals and paging included.

use std::sync::Arc;

use medilink_consent::mail::LogMailer;
use medilink_consent::{ConsentGuard, ConsentService, GrantRequest};
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{
    Clock, ErrorKind, IdGen, RequestContext, ResourceId, ResourceStore, ResourceType, SqlOptions,
    SystemClock, UuidIdGen,
};
use medilink_platform::{Caller, CallerContext, Role, UserId, open_store_and_platform};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    // The store and the platform tables (accounts, audit, jobs, key-value) on one database.
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new("sqlite::memory:"), clock.clone(), ids).await?;
    // Consents are FHIR `Consent` resources in the (unguarded) store; the service caches the
    // grants of each grantee in the key-value store.
    let consents = Arc::new(ConsentService::new(
        store.clone(),
        platform.kv.clone(),
        clock,
        Arc::new(LogMailer),
    ));
    // What request handlers get: the only store they ever see.
    let guarded = ConsentGuard::new(store.clone(), consents.clone());

    // Two patients and an observation of each, written by the platform itself.
    let system = RequestContext::system();
    let mut patients = Vec::new();
    for family in ["Alpha", "Beta"] {
        let patient = store
            .create(
                &system,
                json!({"resourceType": "Patient", "name": [{"family": family}]}),
            )
            .await?;
        store
            .create(
                &system,
                json!({"resourceType": "Observation", "status": "final",
                    "code": {"text": "heart rate"},
                    "subject": {"reference": patient.reference()}}),
            )
            .await?;
        patients.push(patient.id);
    }
    let (alpha, beta) = (&patients[0], &patients[1]);

    // The signed-in users, as the embedder's authentication identifies them.
    let physician = Caller::user(UserId("dr-who".into()), Role::Physician, true, None);
    let alpha_user = Caller::user(
        UserId("alpha-user".into()),
        Role::Patient,
        true,
        Some(alpha.clone()),
    );
    let as_physician = RequestContext::for_caller(physician.clone(), "req-1");

    // Before any grant the physician sees nobody.
    assert_eq!(visible_patients(&guarded, &as_physician).await?, 0);
    assert_hidden(&guarded, &as_physician, alpha).await;

    // Patient Alpha grants the physician access to all of their data.
    let grant = consents
        .create(
            &alpha_user,
            GrantRequest {
                patient: None,
                grantee: Some("dr-who".into()),
                grantee_role: Some(Role::Physician),
                scope: Vec::new(),
                purpose: None,
                end: None,
            },
        )
        .await?;

    // Now Alpha and Alpha's observation are visible; Beta still reads as missing.
    assert_eq!(visible_patients(&guarded, &as_physician).await?, 1);
    let read = guarded
        .read(&as_physician, ResourceType::Patient, alpha)
        .await?;
    assert_eq!(&read.id, alpha);
    let observations = SearchQuery::parse(ResourceType::Observation, &[], true)?;
    let page = guarded.search(&as_physician, &observations).await?;
    assert_eq!(page.matches.len(), 1, "only Alpha's observation");
    assert_hidden(&guarded, &as_physician, beta).await;

    // Positive control: the data is there, the platform's own context sees both patients.
    assert_eq!(visible_patients(&guarded, &system).await?, 2);

    // Revoking takes effect at once.
    let grant_id = grant.id.ok_or("a stored grant has an id")?;
    consents.revoke(&alpha_user, &grant_id).await?;
    assert_eq!(visible_patients(&guarded, &as_physician).await?, 0);
    assert_hidden(&guarded, &as_physician, alpha).await;

    eprintln!("consent_guard: granted, seen, hidden and revoked as the policy says");
    Ok(())
}

/// How many Patients a search by `ctx` matches.
async fn visible_patients(store: &dyn ResourceStore, ctx: &RequestContext) -> Result<usize, Error> {
    let query = SearchQuery::parse(ResourceType::Patient, &[], true)?;
    Ok(store.search(ctx, &query).await?.matches.len())
}

/// A read by `ctx` fails exactly as a read of a missing resource would.
async fn assert_hidden(store: &dyn ResourceStore, ctx: &RequestContext, id: &ResourceId) {
    let err = store
        .read(ctx, ResourceType::Patient, id)
        .await
        .expect_err("hidden");
    assert_eq!(err.kind(), ErrorKind::NotFound, "hidden as missing");
}
