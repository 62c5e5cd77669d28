//! What the notice tests of `expiry` and `notices` share: a store and platform on a database
//! with some accounts, the notifications service over it, and the PostgreSQL runner.

use std::future::Future;
use std::sync::Arc;

use medilink_fhir::{FixedClock, IdGen, ResourceId, ResourceStore, SeqIdGen, SqlOptions};
use medilink_platform::notifications::Notifications;
use medilink_platform::{AccountStatus, NewUser, Role, UserId, open_store_and_platform};
use time::OffsetDateTime;

/// A database with accounts and the notifications service.
pub(crate) struct NoticeDb {
    pub(crate) clock: Arc<FixedClock>,
    pub(crate) store: Arc<dyn ResourceStore>,
    pub(crate) notifications: Notifications,
}

impl NoticeDb {
    /// Opens `url` at `now` with `accounts` (id, role, linked `Patient`).
    pub(crate) async fn open(
        url: &str,
        now: OffsetDateTime,
        accounts: &[(&str, Role, Option<&str>)],
    ) -> NoticeDb {
        let clock = Arc::new(FixedClock::new(now));
        let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
        let (store, platform) =
            open_store_and_platform(&SqlOptions::new(url.to_owned()), clock.clone(), ids.clone())
                .await
                .expect("store");
        for &(user, role, patient) in accounts {
            platform
                .accounts
                .create_user(NewUser {
                    id: UserId(user.into()),
                    email_hash: user.as_bytes().to_vec(),
                    email_enc: Vec::new(),
                    name_enc: None,
                    password_hash: "x".into(),
                    role,
                    status: AccountStatus::Active,
                    patient_id: patient.map(|id| ResourceId::new(id.to_owned()).expect("id")),
                })
                .await
                .expect("account");
        }
        let notifications =
            Notifications::new(platform.notifications, platform.jobs, clock.clone(), ids);
        NoticeDb {
            clock,
            store,
            notifications,
        }
    }
}

/// Runs `case` on a fresh PostgreSQL database (skipped when `MEDILINK_TEST_POSTGRES_URL` is
/// unset).
pub(crate) async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    #[allow(
        clippy::disallowed_methods,
        reason = "tests find the PostgreSQL server in the environment"
    )]
    let Ok(base) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping");
        return;
    };
    let (url, cleanup) = medilink_fhir::testsuite::postgres_database(base).await;
    case(url).await;
    cleanup().await;
}
