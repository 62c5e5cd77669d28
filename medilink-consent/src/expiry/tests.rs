//! Issue #14: `consent.expiry` tells the patient and the grantee once per grant and kind,
//! whatever the number of runs and workers.

use std::sync::Arc;

use medilink_fhir::FixedClock;
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
            ("pat-2", Role::Patient, Some("p2")),
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

    async fn grant(
        &self,
        patient: &str,
        grantee: &str,
        end: Option<OffsetDateTime>,
        state: GrantState,
    ) {
        let grant = Grant {
            id: None,
            patient: patient.into(),
            grantee: grantee.into(),
            scope: Scope::All,
            purpose: "TREAT".into(),
            start: datetime!(2023-01-01 0:00 UTC),
            end,
            state,
            initiator: Initiator::Patient,
            reason: None,
        };
        self.store
            .create(&RequestContext::system(), grant.to_fhir(NOW))
            .await
            .expect("grant stored");
    }

    fn job(&self) -> ConsentExpiry {
        ConsentExpiry {
            store: self.store.clone(),
            notify: Arc::new(self.notifications.clone()),
            clock: self.clock.clone(),
        }
    }

    /// The kinds and `end`s in `user`'s inbox, newest first.
    async fn inbox(&self, user: &str) -> Vec<(String, String)> {
        let inbox = self
            .notifications
            .inbox(&UserId(user.into()), None, None)
            .await
            .expect("inbox");
        inbox
            .notifications
            .iter()
            .map(|notice| {
                let end = notice.parameters.get("end").cloned().unwrap_or_default();
                (notice.kind.as_str().to_owned(), end)
            })
            .collect()
    }
}

fn told(kind: &str, end: &str) -> (String, String) {
    (kind.to_owned(), end.to_owned())
}

#[tokio::test]
async fn expiring_and_expired_grants_are_told_once_to_both_parties() {
    told_once(Fixture::new("sqlite::memory:").await).await;
}

#[tokio::test]
async fn expiring_and_expired_grants_are_told_once_to_both_parties_on_postgres() {
    on_postgres(|url| async move { told_once(Fixture::new(&url).await).await }).await;
}

async fn told_once(f: Fixture) {
    let day = time::Duration::days(1);
    f.grant("p1", "doc-1", Some(NOW + day * 2), GrantState::Active)
        .await; // expiring
    f.grant("p1", "doc-1", Some(NOW - day), GrantState::Active)
        .await; // expired
    f.grant("p1", "doc-1", Some(NOW + day * 10), GrantState::Active)
        .await; // far off
    f.grant("p1", "doc-1", Some(NOW - day * 30), GrantState::Active)
        .await; // long ago
    f.grant("p1", "doc-1", Some(NOW + day), GrantState::Revoked)
        .await; // revoked
    f.grant("p1", "doc-1", None, GrantState::Active).await; // open-ended
    f.grant("p2", "doc-2", Some(NOW + day * 10), GrantState::Active)
        .await; // far off

    let first = f.job().sweep().await.expect("first run");
    assert_eq!(
        first,
        ExpiryResult {
            expiring: 1,
            expired: 1,
            told: 4
        }
    );
    let expected = [
        told("consent.expired", "2024-01-09 00:00 UTC"),
        told("consent.expiring", "2024-01-12 00:00 UTC"),
    ];
    let mut patient = f.inbox("pat-1").await;
    patient.sort();
    let mut doctor = f.inbox("doc-1").await;
    doctor.sort();
    assert_eq!(patient, expected);
    assert_eq!(doctor, expected);

    // Run again: nobody is told twice.
    assert_eq!(f.job().sweep().await.expect("second run").told, 0);

    // Two days later, two workers at once: the expiring grant has expired, told once each.
    f.clock
        .advance(std::time::Duration::from_secs(2 * 24 * 3600));
    let (worker_a, worker_b) = (f.job(), f.job());
    let (a, b) = tokio::join!(worker_a.sweep(), worker_b.sweep());
    let (a, b) = (a.expect("worker a"), b.expect("worker b"));
    assert_eq!(a.told + b.told, 2, "{a:?} {b:?}");
    assert_eq!(f.inbox("pat-1").await.len(), 3);
    assert_eq!(
        f.inbox("doc-1").await[0],
        told("consent.expired", "2024-01-12 00:00 UTC")
    );
    assert_eq!(f.job().sweep().await.expect("again").told, 0);

    // Nobody else is told.
    assert!(f.inbox("pat-2").await.is_empty());
    assert!(f.inbox("doc-2").await.is_empty());
}
