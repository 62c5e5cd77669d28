//! The consent lifecycle over an in-memory SQLite store, and the guard around that store.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use medilink_fhir::kv::{KeyValue, LocalKeyValue};
use medilink_fhir::{
    Clock, FixedClock, IdGen, RequestContext, ResourceId, ResourceStore, ResourceType, SeqIdGen,
    SqlOptions, open_store,
};
use medilink_platform::Caller;
use medilink_platform::notifications::{Event, NotificationKind, Notify, Recipient};
use medilink_platform::{Role, UserId};
use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::guard::ConsentGuard;
use crate::mail::{Mail, Mailer};

#[derive(Debug, Default)]
struct MemoryMailer(Mutex<Vec<Mail>>);

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: Mail) -> ConsentResult<()> {
        self.0.lock().expect("lock").push(mail);
        Ok(())
    }
}

struct Fixture {
    store: Arc<dyn ResourceStore>,
    kv: Arc<dyn KeyValue>,
    service: Arc<ConsentService>,
    clock: Arc<FixedClock>,
    mailer: Arc<MemoryMailer>,
    patient: String,
}

async fn fixture() -> Fixture {
    let clock = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
    let store = open_store(&SqlOptions::new("sqlite::memory:"), dyn_clock.clone(), ids)
        .await
        .expect("store");
    let kv: Arc<dyn KeyValue> = Arc::new(LocalKeyValue::new(dyn_clock.clone()));
    let mailer = Arc::new(MemoryMailer::default());
    let service = Arc::new(ConsentService::new(
        store.clone(),
        kv.clone(),
        dyn_clock,
        mailer.clone(),
    ));
    let patient = store
        .create(
            &RequestContext::system(),
            json!({"resourceType": "Patient", "active": true}),
        )
        .await
        .expect("patient")
        .id
        .as_str()
        .to_owned();
    Fixture {
        store,
        kv,
        service,
        clock,
        mailer,
        patient,
    }
}

fn patient_principal(patient: &str) -> Caller {
    Caller::user(
        medilink_platform::UserId("pat-user".into()),
        Role::Patient,
        false,
        (Some(patient.to_owned())).map(|id| medilink_fhir::ResourceId::new(id).expect("id")),
    )
}

fn doctor() -> Caller {
    Caller::user(
        medilink_platform::UserId("doc".into()),
        Role::Physician,
        false,
        None,
    )
}

fn doctor_ctx() -> RequestContext {
    RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId("doc".into()),
            role: Role::Physician,
            mfa: true,
            patient_id: None,
            purpose_of_use: None,
            app: None,
        })),
        request_id: "r".into(),
        accessed: Default::default(),
        mark: None,
    }
}

fn grant_to_doctor(scope: &[&str]) -> GrantRequest {
    GrantRequest {
        patient: None,
        grantee: Some("doc".into()),
        grantee_role: Some(Role::Physician),
        scope: scope.iter().map(|s| (*s).to_owned()).collect(),
        purpose: None,
        end: None,
    }
}

#[tokio::test]
async fn patient_grants_are_stored_as_fhir_consents_and_revocation_is_immediate() {
    let f = fixture().await;
    let me = patient_principal(&f.patient);
    let grant = f
        .service
        .create(&me, grant_to_doctor(&[]))
        .await
        .expect("grant");
    let id = ResourceId::new(grant.id.clone().expect("id")).expect("valid");
    let stored = f
        .store
        .read(&RequestContext::system(), ResourceType::Consent, &id)
        .await
        .expect("stored");
    let consent: serde_json::Value =
        serde_json::from_str(stored.json.as_deref().expect("live")).expect("json");
    assert_eq!(consent["status"], "active");
    assert_eq!(consent["scope"]["coding"][0]["code"], "patient-privacy");
    assert_eq!(
        consent["patient"]["reference"],
        format!("Patient/{}", f.patient)
    );
    assert_eq!(
        f.service
            .grants_of_grantee("doc")
            .await
            .expect("cached")
            .len(),
        1
    );

    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let patient_id = ResourceId::new(f.patient.clone()).expect("id");
    guard
        .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
        .await
        .expect("consented read");
    let revoked = f.service.revoke(&me, id.as_str()).await.expect("revoke");
    assert_eq!(revoked.state, GrantState::Revoked);
    let again = f
        .service
        .revoke(&me, id.as_str())
        .await
        .expect("revoke twice");
    assert_eq!(again.state, GrantState::Revoked);
    let err = guard
        .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
        .await
        .expect_err("revoked at once");
    assert!(matches!(err, FhirError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn requests_are_answered_by_the_patient() {
    let f = fixture().await;
    let me = patient_principal(&f.patient);
    let request = GrantRequest {
        patient: Some(f.patient.clone()),
        grantee: None,
        grantee_role: None,
        scope: vec!["Observation".into()],
        purpose: Some("TREAT".into()),
        end: Some(datetime!(2024-01-02 0:00 UTC)),
    };
    let proposed = f
        .service
        .create(&doctor(), request.clone())
        .await
        .expect("request");
    assert_eq!(proposed.state, GrantState::Proposed);
    let id = proposed.id.clone().expect("id");
    assert!(matches!(
        f.service.answer(&doctor(), &id, true).await,
        Err(ConsentError::Forbidden { .. })
    ));
    let accepted = f.service.answer(&me, &id, true).await.expect("accept");
    assert_eq!(
        accepted.status(f.service.now()),
        crate::ConsentStatus::Active
    );
    assert!(matches!(
        f.service.answer(&me, &id, false).await,
        Err(ConsentError::WrongState { .. })
    ));
    f.clock.advance(std::time::Duration::from_secs(24 * 3600));
    let listed = f.service.list(&me).await.expect("list");
    assert_eq!(
        listed[0].status(f.service.now()),
        crate::ConsentStatus::Expired
    );

    let second = GrantRequest {
        end: None,
        ..request
    };
    let second = f.service.create(&doctor(), second).await.expect("request");
    let declined = f
        .service
        .answer(&me, second.id.as_deref().expect("id"), false)
        .await
        .expect("decline");
    assert_eq!(declined.state, GrantState::Rejected);
}

#[tokio::test]
async fn self_consent_unknown_scopes_and_purposes_are_rejected() {
    let f = fixture().await;
    let me = patient_principal(&f.patient);
    let mut to_self = grant_to_doctor(&[]);
    to_self.grantee = Some("pat-user".into());
    assert!(matches!(
        f.service.create(&me, to_self).await,
        Err(ConsentError::Invalid { .. })
    ));
    assert!(matches!(
        f.service
            .create(&me, grant_to_doctor(&["NoSuchType"]))
            .await,
        Err(ConsentError::Invalid { .. })
    ));
    let mut purpose = grant_to_doctor(&[]);
    purpose.purpose = Some("BTG".into());
    assert!(matches!(
        f.service.create(&me, purpose).await,
        Err(ConsentError::Invalid { .. })
    ));
    let mut not_physician = grant_to_doctor(&[]);
    not_physician.grantee_role = Some(Role::Researcher);
    assert!(matches!(
        f.service.create(&me, not_physician).await,
        Err(ConsentError::Invalid { .. })
    ));
}

#[tokio::test]
async fn break_glass_is_limited_mailed_and_lasts_a_day() {
    let f = fixture().await;
    let short = BreakGlass {
        patient: f.patient.clone(),
        reason: "too short".into(),
    };
    assert!(matches!(
        f.service.break_glass(&doctor(), short).await,
        Err(ConsentError::Invalid { .. })
    ));
    let request = BreakGlass {
        patient: f.patient.clone(),
        reason: "unconscious patient in the emergency room".into(),
    };
    for _ in 0..3 {
        let grant = f
            .service
            .break_glass(&doctor(), request.clone())
            .await
            .expect("granted");
        assert!(grant.is_break_glass());
        assert_eq!(grant.end, Some(grant.start + time::Duration::hours(24)));
    }
    assert!(matches!(
        f.service.break_glass(&doctor(), request.clone()).await,
        Err(ConsentError::RateLimited { .. })
    ));
    assert_eq!(f.mailer.0.lock().expect("lock").len(), 3);
    assert!(matches!(
        f.service
            .break_glass(&patient_principal(&f.patient), request.clone())
            .await,
        Err(ConsentError::Forbidden { .. })
    ));
    f.clock.advance(std::time::Duration::from_secs(24 * 3600));
    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let patient_id = ResourceId::new(f.patient.clone()).expect("id");
    assert!(
        guard
            .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
            .await
            .is_err(),
        "break-glass grants expire after 24 hours"
    );
    f.service
        .break_glass(&doctor(), request)
        .await
        .expect("window restarted");
}

#[tokio::test]
async fn admins_write_through_the_guard() {
    let f = fixture().await;
    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let admin = RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId("admin".into()),
            role: Role::Admin,
            mfa: true,
            patient_id: None,
            purpose_of_use: None,
            app: None,
        })),
        request_id: "r".into(),
        accessed: Default::default(),
        mark: None,
    };
    let created = guard
        .create(&admin, json!({"resourceType": "Patient", "active": true}))
        .await;
    assert!(created.is_ok(), "{created:?}");
}

// Issue #11: a write's audit detail names the patients of the new content and of the version
// it replaced, for updates, deletes and transactions alike.
#[tokio::test]
async fn writes_disclose_the_patients_before_and_after() {
    use medilink_fhir::{Accessed, WriteOp};

    let f = fixture().await;
    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let request = || RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId("admin".into()),
            role: Role::Admin,
            mfa: true,
            patient_id: None,
            purpose_of_use: None,
            app: None,
        })),
        request_id: "r".into(),
        accessed: Accessed::collecting(),
        mark: None,
    };
    let observation = |patient: &str| {
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": format!("Patient/{patient}")}})
    };
    let patients = |ctx: &RequestContext| -> Vec<String> {
        ctx.accessed.summary().patients.into_keys().collect()
    };
    let ctx = request();
    let created = guard.create(&ctx, observation("pa")).await.expect("create");
    assert_eq!(patients(&ctx), ["pa"]);
    // Moved from pa to pb: both are named.
    let ctx = request();
    let mut moved = observation("pb");
    moved["id"] = json!(created.id.as_str());
    guard
        .update(&ctx, ResourceType::Observation, &created.id, moved, None)
        .await
        .expect("update");
    assert_eq!(patients(&ctx), ["pa", "pb"]);
    // A delete names the patient of the version it removed.
    let ctx = request();
    guard
        .delete(&ctx, ResourceType::Observation, &created.id, None)
        .await
        .expect("delete");
    assert_eq!(patients(&ctx), ["pb"]);
    // A transaction names every entry's patients.
    let ctx = request();
    guard
        .transaction(
            &ctx,
            vec![
                WriteOp::Create {
                    resource: observation("pc"),
                    id: None,
                },
                WriteOp::Create {
                    resource: observation("pd"),
                    id: None,
                },
            ],
        )
        .await
        .expect("transaction");
    assert_eq!(patients(&ctx), ["pc", "pd"]);
    // A request that wrote nothing discloses nothing (positive control of the sink's scope).
    let ctx = request();
    let refused = guard
        .update(
            &ctx,
            ResourceType::Observation,
            &created.id,
            json!({"resourceType": "Observation"}),
            None,
        )
        .await;
    assert!(refused.is_err());
    assert!(patients(&ctx).is_empty(), "{:?}", patients(&ctx));
}

// Issue #5: the in-process memo of decoded grants must never outlive the key-value entry.
#[tokio::test]
async fn decoded_grants_follow_the_key_value_entry_in_every_instance() {
    let f = fixture().await;
    // A second instance (another server process) sharing the store and the key-value store,
    // with its own memo.
    let clock: Arc<dyn Clock> = f.clock.clone();
    let other = Arc::new(ConsentService::new(
        f.store.clone(),
        f.kv.clone(),
        clock,
        Arc::new(MemoryMailer::default()),
    ));
    let me = patient_principal(&f.patient);
    let grant = other
        .create(&me, grant_to_doctor(&[]))
        .await
        .expect("grant");
    let id = grant.id.clone().expect("id");
    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let patient_id = ResourceId::new(f.patient.clone()).expect("id");
    let ctx = doctor_ctx();
    let read = || guard.read(&ctx, ResourceType::Patient, &patient_id);
    for _ in 0..3 {
        read().await.expect("consented read, memo warm");
    }

    // Revoked in the other instance: refused by the very next read here.
    other.revoke(&me, &id).await.expect("revoke");
    let err = read().await.expect_err("revoked at once");
    assert!(matches!(err, FhirError::NotFound { .. }), "{err}");

    // Granted again elsewhere: allowed at once.
    other
        .create(&me, grant_to_doctor(&[]))
        .await
        .expect("grant again");
    read().await.expect("new grant seen at once");

    // Whatever the key-value store says wins over the memo: an entry listing no grants.
    let generation =
        f.kv.get(&generation_key("doc"))
            .await
            .expect("get")
            .expect("a change set a generation");
    let mut empty = generation;
    empty.extend_from_slice(b"\n[]");
    f.kv.set(&grantee_key("doc"), &empty, CACHE_TTL)
        .await
        .expect("set");
    let err = read().await.expect_err("the key-value entry is the truth");
    assert!(matches!(err, FhirError::NotFound { .. }), "{err}");
    f.kv.delete(&grantee_key("doc")).await.expect("delete");
    read().await.expect("refilled from the store");
}

#[tokio::test]
async fn memoized_grants_expire_at_the_instant() {
    let f = fixture().await;
    let me = patient_principal(&f.patient);
    let end = f.clock.now() + time::Duration::hours(1);
    f.service
        .create(
            &me,
            GrantRequest {
                end: Some(end),
                ..grant_to_doctor(&["Patient"])
            },
        )
        .await
        .expect("grant");
    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let patient_id = ResourceId::new(f.patient.clone()).expect("id");
    guard
        .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
        .await
        .expect("in force");
    // The test clock ticks a millisecond per reading: stop 5 s short of the end, then pass it.
    // The key-value entry (5 min TTL) and the memo are both still warm at that point.
    let cached_end = f.service.grants_of_grantee("doc").await.expect("grants")[0].end;
    assert_eq!(cached_end, Some(end));
    f.clock.advance(std::time::Duration::from_secs(3600 - 5));
    guard
        .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
        .await
        .expect("still in force");
    f.clock.advance(std::time::Duration::from_secs(5));
    assert!(f.clock.now() >= end);
    let err = guard
        .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
        .await
        .expect_err("expired at its end");
    assert!(matches!(err, FhirError::NotFound { .. }), "{err}");
    let query =
        medilink_fhir::search::SearchQuery::parse(ResourceType::Patient, &[], true).expect("query");
    let page = guard.search(&doctor_ctx(), &query).await.expect("search");
    assert!(
        page.matches.is_empty(),
        "searches expire at the same instant"
    );
}

#[test]
fn the_cached_form_round_trips_every_field_and_refuses_anything_else() {
    let start = datetime!(2024-01-01 0:00:00.123456 UTC);
    let grants = vec![
        Grant {
            id: Some("c1".into()),
            patient: "p1".into(),
            grantee: "doc".into(),
            scope: Scope::All,
            purpose: "TREAT".into(),
            start,
            end: None,
            state: GrantState::Active,
            initiator: Initiator::Patient,
            reason: None,
        },
        Grant {
            id: Some("c2".into()),
            patient: "p2".into(),
            grantee: "doc".into(),
            scope: Scope::Types(vec![ResourceType::Observation, ResourceType::Condition]),
            purpose: "BTG".into(),
            start,
            end: Some(start + time::Duration::hours(24)),
            state: GrantState::Revoked,
            initiator: Initiator::Physician,
            reason: Some("unconscious patient in the emergency room".into()),
        },
    ];
    let bytes = encode(&grants);
    assert_eq!(decode(&bytes), Some(grants));
    assert_eq!(decode(b"[]"), Some(Vec::new()));
    for garbage in [
        &b"not json"[..],
        b"{}",
        b"[[\"c1\"]]",
        b"[[\"c1\",\"p1\",\"doc\",null,\"TREAT\",0,null,\"expired\",\"patient\",null]]",
        b"[[\"c1\",\"p1\",\"doc\",[\"NoSuchType\"],\"TREAT\",0,null,\"active\",\"patient\",null]]",
    ] {
        assert_eq!(
            decode(garbage),
            None,
            "{}",
            String::from_utf8_lossy(garbage)
        );
    }
}

/// The fill race: a process reads the grants before a revocation and writes them to the
/// key-value store after the revocation deleted the entry. The late value carries the old
/// generation and is not used.
#[tokio::test]
async fn a_fill_written_after_a_revocation_is_ignored() {
    let f = fixture().await;
    let me = patient_principal(&f.patient);
    let grant = f
        .service
        .create(&me, grant_to_doctor(&[]))
        .await
        .expect("grant");
    let id = grant.id.clone().expect("id");
    // The slow filler's view: the grants as they were, in the cached form it writes.
    let before = f.service.grants_of_grantee("doc").await.expect("grants");
    assert_eq!(before.first().map(|g| g.state), Some(GrantState::Active));
    let stale =
        f.kv.get(&grantee_key("doc"))
            .await
            .expect("get")
            .expect("cached");
    f.service.revoke(&me, &id).await.expect("revoke");
    // ... and writes after the revocation deleted the entry.
    f.kv.set(&grantee_key("doc"), &stale, CACHE_TTL)
        .await
        .expect("late fill");
    for service in [f.service.clone(), other_instance(&f)] {
        let grants = service.grants_of_grantee("doc").await.expect("grants");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].state, GrantState::Revoked, "{grants:?}");
    }
    let guard = ConsentGuard::new(f.store.clone(), f.service.clone());
    let patient_id = ResourceId::new(f.patient.clone()).expect("id");
    let err = guard
        .read(&doctor_ctx(), ResourceType::Patient, &patient_id)
        .await
        .expect_err("the stale fill is not obeyed");
    assert!(matches!(err, FhirError::NotFound { .. }), "{err}");
    // The refill replaced the stale value with one of the current generation.
    let refilled =
        f.kv.get(&grantee_key("doc"))
            .await
            .expect("get")
            .expect("refilled");
    assert_ne!(refilled, stale);
}

fn other_instance(f: &Fixture) -> Arc<ConsentService> {
    let clock: Arc<dyn Clock> = f.clock.clone();
    Arc::new(ConsentService::new(
        f.store.clone(),
        f.kv.clone(),
        clock,
        Arc::new(MemoryMailer::default()),
    ))
}

/// Records what the service tells (issue #14).
#[derive(Debug, Default)]
struct MemoryNotify(Mutex<Vec<(Vec<Recipient>, Event)>>);

#[async_trait]
impl Notify for MemoryNotify {
    async fn notify(
        &self,
        recipients: &[Recipient],
        event: &Event,
    ) -> medilink_fhir::FhirResult<usize> {
        self.0
            .lock()
            .expect("lock")
            .push((recipients.to_vec(), event.clone()));
        Ok(recipients.len())
    }
}

/// Issue #14: each lifecycle event is told to the right person and nobody else; break-glass
/// goes to the patient as a notice instead of the legacy mail.
#[tokio::test]
async fn lifecycle_events_are_told_to_the_other_party() {
    let f = fixture().await;
    let notices = Arc::new(MemoryNotify::default());
    let service = (*f.service).clone().with_notify(notices.clone());
    let me = patient_principal(&f.patient);
    let request = GrantRequest {
        patient: Some(f.patient.clone()),
        grantee: None,
        grantee_role: None,
        scope: vec!["Observation".into()],
        purpose: Some("TREAT".into()),
        end: None,
    };
    let asked = service
        .create(&doctor(), request.clone())
        .await
        .expect("request");
    let id = asked.id.clone().expect("id");
    service.answer(&me, &id, false).await.expect("decline");
    let asked = service.create(&doctor(), request).await.expect("request");
    let id = asked.id.clone().expect("id");
    service.answer(&me, &id, true).await.expect("accept");
    service.revoke(&me, &id).await.expect("revoke");
    service
        .break_glass(
            &doctor(),
            BreakGlass {
                patient: f.patient.clone(),
                reason: "unconscious patient in the emergency room".into(),
            },
        )
        .await
        .expect("break-glass");
    let patient = Recipient::Patient(f.patient.clone());
    let physician = Recipient::User(UserId("doc".into()));
    let told: Vec<(Vec<Recipient>, NotificationKind)> = notices
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|(to, event)| (to.clone(), event.kind))
        .collect();
    assert_eq!(
        told,
        vec![
            (vec![patient.clone()], NotificationKind::ConsentRequested),
            (vec![physician.clone()], NotificationKind::ConsentDeclined),
            (vec![patient.clone()], NotificationKind::ConsentRequested),
            (vec![physician.clone()], NotificationKind::ConsentGranted),
            (vec![physician], NotificationKind::ConsentRevoked),
            (vec![patient], NotificationKind::BreakGlass),
        ]
    );
    assert!(
        notices.0.lock().expect("lock")[5]
            .1
            .parameters
            .contains_key("at")
    );
    assert!(
        f.mailer.0.lock().expect("lock").is_empty(),
        "no legacy mail"
    );
}

/// Fails every notice while `down` is set (a crash or an outage between a change and its
/// notice), else records like [`MemoryNotify`].
#[derive(Debug, Default)]
struct FlakyNotify {
    down: std::sync::atomic::AtomicBool,
    told: MemoryNotify,
}

#[async_trait]
impl Notify for FlakyNotify {
    async fn notify(
        &self,
        recipients: &[Recipient],
        event: &Event,
    ) -> medilink_fhir::FhirResult<usize> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(medilink_fhir::FhirError::Unavailable {
                source: "notices are down".into(),
            });
        }
        self.told.notify(recipients, event).await
    }
}

/// Issue #14: a change whose notice could not be written right after it (the process died,
/// the notices table was unreachable) is told by the `consent.notices` job from the change
/// feed, once: the next run tells nothing again, and the revoking grantee is not told.
#[tokio::test]
async fn notices_missed_after_a_change_are_told_from_the_feed_once() {
    let f = fixture().await;
    let flaky = Arc::new(FlakyNotify::default());
    let service = (*f.service).clone().with_notify(flaky.clone());
    let me = patient_principal(&f.patient);
    flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let request = GrantRequest {
        patient: Some(f.patient.clone()),
        grantee: None,
        grantee_role: None,
        scope: vec!["Observation".into()],
        purpose: Some("TREAT".into()),
        end: None,
    };
    let asked = service
        .create(&doctor(), request.clone())
        .await
        .expect("request");
    let id = asked.id.clone().expect("id");
    service.answer(&me, &id, true).await.expect("accept");
    let withdrawn = service.create(&doctor(), request).await.expect("request");
    let withdrawn = withdrawn.id.expect("id");
    service
        .revoke(&doctor(), &withdrawn)
        .await
        .expect("withdraw");
    assert!(
        flaky.told.0.lock().expect("lock").is_empty(),
        "nothing told yet"
    );
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let relay = service.notices().expect("relay");
    let first = relay.follow().await.expect("follow");
    assert_eq!(first.told, 3, "{first:?}");
    let again = relay.follow().await.expect("follow again");
    assert_eq!(again.told, 0, "{again:?}");
    let patient = Recipient::Patient(f.patient.clone());
    let physician = Recipient::User(UserId("doc".into()));
    let told: Vec<(Vec<Recipient>, NotificationKind, Option<String>)> = flaky
        .told
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|(to, event)| (to.clone(), event.kind, event.dedup_key.clone()))
        .collect();
    let key = |kind: NotificationKind, id: &str, version: u64| {
        Some(format!("{kind}:Consent/{id}/_history/{version}"))
    };
    assert_eq!(
        told,
        vec![
            (
                vec![patient.clone()],
                NotificationKind::ConsentRequested,
                key(NotificationKind::ConsentRequested, &id, 1)
            ),
            (
                vec![physician],
                NotificationKind::ConsentGranted,
                key(NotificationKind::ConsentGranted, &id, 2)
            ),
            (
                vec![patient],
                NotificationKind::ConsentRequested,
                key(NotificationKind::ConsentRequested, &withdrawn, 1)
            ),
        ],
        "the withdrawn request is not told to the physician who withdrew it"
    );
}
