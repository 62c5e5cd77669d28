//! Issue #14: the `Consent` feed relay tells each change once to the right person, however
//! many relays read the feed and from where, on SQLite and PostgreSQL.

use std::sync::Arc;

use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::{FixedClock, ResourceId};
use medilink_platform::Role;
use medilink_platform::notifications::Notifications;
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::grant::{Initiator, Scope};
use crate::notice_tests::{NoticeDb, on_postgres};

const NOW: OffsetDateTime = datetime!(2024-01-10 0:00 UTC);

struct Fixture {
    clock: Arc<FixedClock>,
    store: Arc<dyn ResourceStore>,
    notifications: Notifications,
}

impl Fixture {
    async fn new(url: &str) -> Fixture {
        let accounts = [
            ("pat-1", Role::Patient, Some("p1")),
            ("doc-1", Role::Physician, None),
            ("doc-2", Role::Physician, None),
        ];
        let NoticeDb {
            clock,
            store,
            notifications,
        } = NoticeDb::open(url, NOW, &accounts).await;
        Fixture {
            clock,
            store,
            notifications,
        }
    }

    /// A relay with its own cursor store (a worker that never ran before).
    fn relay(&self) -> ConsentNotices {
        ConsentNotices {
            store: self.store.clone(),
            notify: Arc::new(self.notifications.clone()),
            kv: Arc::new(LocalKeyValue::new(self.clock.clone())),
            clock: self.clock.clone(),
        }
    }

    /// Writes `grant` (a new `Consent`, or a new version of it) as the service would, without
    /// telling anyone (the process died before its follow).
    async fn write(&self, grant: &mut Grant, revoked_by: Option<RevokedBy>) {
        let mut resource = grant.to_fhir(self.clock.now());
        if let Some(by) = revoked_by {
            resource = by.record(resource);
        }
        let ctx = RequestContext::system();
        let stored = match &grant.id {
            None => self.store.create(&ctx, resource).await.expect("create"),
            Some(id) => {
                let id = ResourceId::new(id.clone()).expect("id");
                self.store
                    .update(&ctx, ResourceType::Consent, &id, resource, None)
                    .await
                    .expect("update")
                    .stored
            }
        };
        grant.id = Some(stored.id.as_str().to_owned());
    }

    async fn inbox(&self, user: &str) -> Vec<String> {
        let inbox = self
            .notifications
            .inbox(&UserId(user.into()), None, None)
            .await
            .expect("inbox");
        inbox
            .notifications
            .iter()
            .rev()
            .map(|notice| notice.kind.as_str().to_owned())
            .collect()
    }
}

fn grant(grantee: &str, state: GrantState, initiator: Initiator) -> Grant {
    Grant {
        id: None,
        patient: "p1".into(),
        grantee: grantee.into(),
        scope: Scope::All,
        purpose: "TREAT".into(),
        start: NOW,
        end: None,
        state,
        initiator,
        reason: None,
    }
}

async fn told_once(f: Fixture) {
    // Requested, then accepted, then revoked by the patient (doc-1).
    let mut first = grant("doc-1", GrantState::Proposed, Initiator::Physician);
    f.write(&mut first, None).await;
    first.state = GrantState::Active;
    f.write(&mut first, None).await;
    first.revoke_at(NOW);
    f.write(&mut first, Some(RevokedBy::Patient)).await;
    // Requested, then withdrawn by the physician (doc-2): nobody is told of the withdrawal.
    let mut second = grant("doc-2", GrantState::Proposed, Initiator::Physician);
    f.write(&mut second, None).await;
    second.revoke_at(NOW);
    f.write(&mut second, Some(RevokedBy::Grantee)).await;
    // A patient's grant to doc-2, and a break-glass access by doc-1.
    let mut third = grant("doc-2", GrantState::Active, Initiator::Patient);
    f.write(&mut third, None).await;
    let mut glass = grant("doc-1", GrantState::Active, Initiator::Physician);
    glass.purpose = crate::grant::BREAK_GLASS_PURPOSE.into();
    glass.reason = Some("unconscious in the emergency room".into());
    f.write(&mut glass, None).await;

    // Two workers that never ran, at once, then one of them again.
    let (a, b) = (f.relay(), f.relay());
    let (ra, rb) = tokio::join!(a.follow(), b.follow());
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(ra.versions, 7);
    assert_eq!(ra.told + rb.told, 6, "{ra:?} {rb:?}");
    assert_eq!(a.follow().await.expect("again").versions, 0);

    assert_eq!(
        f.inbox("pat-1").await,
        [
            "consent.requested",
            "consent.requested",
            "security.break_glass"
        ]
    );
    assert_eq!(
        f.inbox("doc-1").await,
        ["consent.granted", "consent.revoked"]
    );
    assert_eq!(f.inbox("doc-2").await, ["consent.granted"]);

    // A relay without a cursor a week later reads the feed but tells nothing stale.
    f.clock
        .advance(std::time::Duration::from_secs(8 * 24 * 3600));
    let late = f.relay().follow().await.expect("late");
    assert_eq!((late.versions, late.told), (7, 0));
}

#[tokio::test]
async fn each_change_is_told_once_on_sqlite() {
    told_once(Fixture::new("sqlite::memory:").await).await;
}

#[tokio::test]
async fn each_change_is_told_once_on_postgres() {
    on_postgres(|url| async move { told_once(Fixture::new(&url).await).await }).await;
}
