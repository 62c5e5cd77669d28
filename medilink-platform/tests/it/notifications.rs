//! Notifications (issue #14) on SQLite and PostgreSQL: notices and deliveries by preference,
//! mandatory notices, recipients by patient, the delivery job (idempotent, retries, dead
//! letter), the outbox sweep, the inbox (own notices only), once-only events, new sign-ins.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use medilink_fhir::SeqIdGen;
use medilink_fhir::jobs::{Job, JobFilter, JobKind};
use medilink_platform::notifications::{
    ChannelChoice, DELIVER, DeliverNotification, DeliveryStatus, Email, Event, Language, Mailer,
    NotificationError, NotificationKind, Notifications, Notify, Preferences, QuietHours, Recipient,
    SendError, SweepDeliveries,
};
use medilink_platform::worker::JobHandler;
use medilink_platform::{AccountStatus, NewUser, Role, UserId};

use crate::jobs_support::TestDb;

/// Records e-mails; fails every send while `failing` is set.
#[derive(Debug, Default)]
struct RecordingMailer {
    sent: Mutex<Vec<Email>>,
    failing: Mutex<Option<bool>>,
}

#[async_trait::async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, email: &Email) -> Result<(), SendError> {
        match *self.failing.lock().expect("lock") {
            Some(permanent) => Err(SendError {
                message: "smtp unavailable".into(),
                permanent,
            }),
            None => {
                self.sent.lock().expect("lock").push(email.clone());
                Ok(())
            }
        }
    }
}

impl RecordingMailer {
    fn sent(&self) -> Vec<Email> {
        self.sent.lock().expect("lock").clone()
    }
}

fn service(db: &TestDb) -> Notifications {
    Notifications::new(
        db.platform.notifications.clone(),
        db.jobs.clone(),
        db.clock.clone(),
        Arc::new(SeqIdGen::new("n")),
    )
}

fn user(id: &str) -> UserId {
    UserId(id.to_owned())
}

async fn add_patient_account(db: &TestDb, id: &str, patient: &str) {
    db.platform
        .accounts
        .create_user(NewUser {
            id: user(id),
            email_hash: id.as_bytes().to_vec(),
            email_enc: Vec::new(),
            name_enc: None,
            password_hash: String::new(),
            role: Role::Patient,
            status: AccountStatus::Active,
            patient_id: Some(medilink_fhir::ResourceId::new(patient).expect("id")),
        })
        .await
        .expect("user");
}

async fn deliver_jobs(db: &TestDb) -> Vec<Job> {
    db.jobs
        .list(&JobFilter {
            kind: Some(DELIVER.to_owned()),
            ..JobFilter::default()
        })
        .await
        .expect("jobs")
}

/// The job of the newest notice (by its delivery's notice).
async fn newest_job(db: &TestDb) -> Job {
    let mut newest: Option<(u64, Job)> = None;
    for job in deliver_jobs(db).await {
        let payload = job.payload_of::<DeliverNotification>().expect("payload");
        let (_, notice) = db
            .platform
            .notifications
            .delivery(&payload.delivery)
            .await
            .expect("read")
            .expect("delivery");
        if newest.as_ref().is_none_or(|(seq, _)| notice.seq > *seq) {
            newest = Some((notice.seq, job));
        }
    }
    newest.expect("a job").1
}

async fn delivery_of(db: &TestDb, job: &Job) -> medilink_platform::notifications::Delivery {
    let payload = job.payload_of::<DeliverNotification>().expect("payload");
    db.platform
        .notifications
        .delivery(&payload.delivery)
        .await
        .expect("read")
        .expect("delivery")
        .0
}

async fn preferences_and_mandatory_notices(db: TestDb) {
    let notifications = service(&db);
    let no_results_mail = Preferences {
        kinds: [(
            NotificationKind::ResultsFiled,
            ChannelChoice {
                in_app: true,
                email: false,
            },
        )]
        .into(),
        ..Preferences::default()
    };
    notifications
        .set_preferences(&user("b"), no_results_mail.clone())
        .await
        .expect("save");
    let refused = notifications
        .set_preferences(
            &user("b"),
            Preferences {
                kinds: [(
                    NotificationKind::BreakGlass,
                    ChannelChoice {
                        in_app: true,
                        email: false,
                    },
                )]
                .into(),
                ..Preferences::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(NotificationError::Mandatory(kinds)) if kinds == [NotificationKind::BreakGlass])
    );
    assert_eq!(
        notifications.preferences(&user("b")).await.expect("read"),
        no_results_mail
    );
    // Stored opt-outs of a mandatory kind (written past the validation) are ignored too.
    db.platform
        .notifications
        .set_preferences(
            &user("c"),
            &Preferences {
                kinds: [(
                    NotificationKind::PasswordChanged,
                    ChannelChoice {
                        in_app: false,
                        email: false,
                    },
                )]
                .into(),
                ..Preferences::default()
            },
            db.clock_now(),
        )
        .await
        .expect("save");

    let told = notifications
        .notify(
            &[Recipient::User(user("a")), Recipient::User(user("b"))],
            &Event::new(NotificationKind::ResultsFiled),
        )
        .await
        .expect("notify");
    assert_eq!(told, 2);
    let jobs = deliver_jobs(&db).await;
    assert_eq!(jobs.len(), 1, "only a wants results by e-mail");
    let (delivery, notice) = db
        .platform
        .notifications
        .delivery(
            &jobs[0]
                .payload_of::<DeliverNotification>()
                .expect("p")
                .delivery,
        )
        .await
        .expect("read")
        .expect("delivery");
    assert_eq!(notice.user_id, user("a"));
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    for id in ["a", "b"] {
        let inbox = notifications
            .inbox(&user(id), None, None)
            .await
            .expect("inbox");
        assert_eq!(inbox.notifications.len(), 1, "{id}");
        assert_eq!(inbox.notifications[0].kind, NotificationKind::ResultsFiled);
        assert_eq!(inbox.notifications[0].link(), "/patient/labs");
        assert_eq!(inbox.unread, 1);
    }
    assert!(
        notifications
            .inbox(&user("c"), None, None)
            .await
            .expect("inbox")
            .notifications
            .is_empty()
    );

    notifications
        .notify(
            &[Recipient::User(user("c"))],
            &Event::new(NotificationKind::PasswordChanged),
        )
        .await
        .expect("notify");
    assert_eq!(deliver_jobs(&db).await.len(), 2, "mandatory: mailed anyway");
}

async fn recipients_by_patient(db: TestDb) {
    add_patient_account(&db, "u-p1", "p1").await;
    add_patient_account(&db, "u-p2", "p2").await;
    let notifications = service(&db);
    let event = Event::new(NotificationKind::BreakGlass).with("at", "2024-01-01T00:00:00Z");
    let told = notifications
        .notify(&[Recipient::Patient("p1".into())], &event)
        .await
        .expect("notify");
    assert_eq!(told, 1);
    assert_eq!(
        notifications
            .inbox(&user("u-p1"), None, None)
            .await
            .expect("inbox")
            .unread,
        1
    );
    assert_eq!(
        notifications
            .inbox(&user("u-p2"), None, None)
            .await
            .expect("inbox")
            .unread,
        0
    );
    let nobody = notifications
        .notify(&[Recipient::Patient("p-without-account".into())], &event)
        .await
        .expect("notify");
    assert_eq!(nobody, 0);
}

async fn delivery_is_idempotent_and_dead_letters(db: TestDb) {
    let notifications = service(&db);
    let mailer = Arc::new(RecordingMailer::default());
    let deliver = DeliverNotification::new(
        notifications.clone(),
        mailer.clone(),
        "https://portal.example",
    );
    notifications
        .set_preferences(
            &user("a"),
            Preferences {
                language: Language::Es,
                ..Preferences::default()
            },
        )
        .await
        .expect("save");
    let event = Event::new(NotificationKind::ConsentExpiring).with("end", "2024-02-01");
    notifications
        .notify(&[Recipient::User(user("a"))], &event)
        .await
        .expect("notify");
    let job = deliver_jobs(&db).await.remove(0);
    assert_eq!(
        job.max_attempts,
        medilink_platform::notifications::MAX_ATTEMPTS
    );
    deliver.run(&job).await.expect("first run");
    let again = deliver.run(&job).await.expect("second run");
    assert_eq!(
        again.result["outcome"], "skipped",
        "at least once, sent once"
    );
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    let delivery = delivery_of(&db, &job).await;
    assert_eq!(delivery.status, DeliveryStatus::Sent);
    assert_eq!(sent[0].message_id, format!("<{}@medilink>", delivery.id));
    assert_eq!(sent[0].to_user, user("a"));
    assert_eq!(sent[0].subject, "Una autorización de acceso vence pronto");
    assert!(sent[0].text.contains("2024-02-01"));
    assert!(
        sent[0]
            .html
            .contains("https://portal.example/patient/consents")
    );

    // A failing mailer: retried, then dead.
    *mailer.failing.lock().expect("lock") = Some(false);
    notifications
        .notify(&[Recipient::User(user("b"))], &event)
        .await
        .expect("notify");
    let job = newest_job(&db).await;
    for attempt in 1..medilink_platform::notifications::MAX_ATTEMPTS {
        let err = deliver.run(&job).await.expect_err("fails");
        assert!(err.retryable, "attempt {attempt}");
        let delivery = delivery_of(&db, &job).await;
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert_eq!(delivery.attempts, attempt);
        assert_eq!(delivery.last_error.as_deref(), Some("smtp unavailable"));
    }
    let err = deliver.run(&job).await.expect_err("the last attempt");
    assert!(!err.retryable);
    assert_eq!(delivery_of(&db, &job).await.status, DeliveryStatus::Dead);
    *mailer.failing.lock().expect("lock") = None;
    let after = deliver.run(&job).await.expect("dead: skipped");
    assert_eq!(after.result["outcome"], "skipped");
    assert_eq!(mailer.sent().len(), 1);

    // A permanent failure is dead at once.
    *mailer.failing.lock().expect("lock") = Some(true);
    notifications
        .notify(&[Recipient::User(user("c"))], &event)
        .await
        .expect("notify");
    let job = newest_job(&db).await;
    assert!(!deliver.run(&job).await.expect_err("permanent").retryable);
    assert_eq!(delivery_of(&db, &job).await.status, DeliveryStatus::Dead);
}

async fn quiet_hours_and_the_sweep(db: TestDb) {
    let notifications = service(&db);
    // The clock starts at 2024-01-01 00:00 UTC: inside 22:00–07:00.
    notifications
        .set_preferences(
            &user("a"),
            Preferences {
                quiet_hours: Some(QuietHours {
                    start: 22 * 60,
                    end: 7 * 60,
                    timezone: "UTC".into(),
                }),
                ..Preferences::default()
            },
        )
        .await
        .expect("save");
    notifications
        .notify(
            &[Recipient::User(user("a"))],
            &Event::new(NotificationKind::DocumentProcessed),
        )
        .await
        .expect("notify");
    let jobs = deliver_jobs(&db).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].run_at, time::macros::datetime!(2024-01-01 7:00 UTC));
    // Mandatory notices are not held back.
    notifications
        .notify(
            &[Recipient::User(user("a"))],
            &Event::new(NotificationKind::TotpDisabled),
        )
        .await
        .expect("notify");
    let jobs = deliver_jobs(&db).await;
    assert_eq!(jobs.len(), 2);
    // (the fixed clock ticks a microsecond per reading)
    assert!(
        jobs.iter()
            .any(|job| job.run_at < time::macros::datetime!(2024-01-01 0:01 UTC))
    );

    // The sweep re-enqueues a due delivery whose job is gone, and nothing twice.
    let sweep = SweepDeliveries {
        notifications: notifications.clone(),
    };
    for job in &jobs {
        db.jobs
            .transition(
                job.id,
                &[medilink_fhir::jobs::JobStatus::Pending],
                medilink_fhir::jobs::JobStatus::Cancelled,
                None,
            )
            .await
            .expect("cancel");
    }
    db.clock.advance(Duration::from_secs(8 * 3600));
    let outcome = sweep.run(&jobs[0]).await.expect("sweep");
    assert_eq!(outcome.result["enqueued"], 2);
    let outcome = sweep.run(&jobs[0]).await.expect("sweep");
    assert_eq!(outcome.result["enqueued"], 0);
}

async fn inbox_is_own_only_with_paging(db: TestDb) {
    let notifications = service(&db);
    for _ in 0..5 {
        notifications
            .notify(
                &[Recipient::User(user("a"))],
                &Event::new(NotificationKind::ConsentGranted),
            )
            .await
            .expect("notify");
        db.clock.advance(Duration::from_secs(1));
    }
    notifications
        .notify(
            &[Recipient::User(user("b"))],
            &Event::new(NotificationKind::ConsentRevoked),
        )
        .await
        .expect("notify");
    let first = notifications
        .inbox(&user("a"), Some(2), None)
        .await
        .expect("inbox");
    assert_eq!(first.notifications.len(), 2);
    assert_eq!(first.unread, 5);
    assert!(first.notifications[0].created_at > first.notifications[1].created_at);
    let second = notifications
        .inbox(&user("a"), Some(2), first.next)
        .await
        .expect("inbox");
    let third = notifications
        .inbox(&user("a"), Some(2), second.next)
        .await
        .expect("inbox");
    assert_eq!(third.notifications.len(), 1);
    assert_eq!(third.next, None);

    let others = notifications
        .inbox(&user("b"), None, None)
        .await
        .expect("inbox");
    let theirs = &others.notifications[0].id;
    assert!(matches!(
        notifications.mark_read(&user("a"), theirs).await,
        Err(NotificationError::NotFound)
    ));
    assert!(matches!(
        notifications.mark_read(&user("a"), "no-such-id").await,
        Err(NotificationError::NotFound)
    ));
    let mine = first.notifications[0].id.clone();
    notifications
        .mark_read(&user("a"), &mine)
        .await
        .expect("read");
    notifications
        .mark_read(&user("a"), &mine)
        .await
        .expect("read again");
    let after = notifications
        .inbox(&user("a"), None, None)
        .await
        .expect("inbox");
    assert_eq!(after.unread, 4);
    assert!(after.notifications[0].read_at.is_some());
    assert_eq!(
        notifications.mark_all_read(&user("a")).await.expect("all"),
        4
    );
    assert_eq!(
        notifications
            .inbox(&user("a"), None, None)
            .await
            .expect("inbox")
            .unread,
        0
    );
    assert_eq!(
        notifications
            .inbox(&user("b"), None, None)
            .await
            .expect("inbox")
            .unread,
        1
    );
}

async fn once_only_events_and_new_sign_ins(db: TestDb) {
    let notifications = service(&db);
    let event = Event::new(NotificationKind::ConsentExpired)
        .with("end", "2024-01-01")
        .once("consent.expired:grant-1");
    for _ in 0..2 {
        notifications
            .notify(&[Recipient::User(user("a"))], &event)
            .await
            .expect("notify");
    }
    assert_eq!(
        notifications
            .inbox(&user("a"), None, None)
            .await
            .expect("inbox")
            .notifications
            .len(),
        1
    );
    assert_eq!(deliver_jobs(&db).await.len(), 1);

    let sign_in = |fingerprint: &'static str| {
        let notifications = notifications.clone();
        async move {
            notifications
                .signed_in(&user("s"), fingerprint, "192.0.2.1", "Firefox")
                .await
                .expect("sign-in")
        }
    };
    assert!(!sign_in("laptop").await, "the first sign-in is not news");
    assert!(!sign_in("laptop").await);
    assert!(sign_in("phone").await);
    assert!(!sign_in("phone").await);
    let inbox = notifications
        .inbox(&user("s"), None, None)
        .await
        .expect("inbox");
    assert_eq!(inbox.notifications.len(), 1);
    assert_eq!(inbox.notifications[0].kind, NotificationKind::NewSignIn);
    assert_eq!(inbox.notifications[0].parameters["address"], "192.0.2.1");
    assert_eq!(DeliverNotification::KIND, DELIVER);
}

/// Issue #14: an account change and its notice are one transaction: both land, or, when the
/// notice cannot be written, neither (the password stays as it was).
async fn account_change_and_notice_are_one_transaction(db: TestDb) {
    let notifications = service(&db);
    add_patient_account(&db, "t", "p-t").await;
    let accounts = &db.platform.accounts;
    let mut changed = accounts
        .user(&user("t"))
        .await
        .expect("read")
        .expect("user");
    changed.password_hash = "new-hash".to_owned();
    let event = Event::new(NotificationKind::PasswordChanged);
    let notices = notifications
        .prepare(&[Recipient::User(user("t"))], &event)
        .await
        .expect("prepare");
    let (stored_user, stored) = accounts
        .update_user_telling(&changed, &notices)
        .await
        .expect("update");
    assert_eq!(stored_user.password_hash, "new-hash");
    assert_eq!(stored.len(), 1);
    notifications.dispatch(&stored).await;
    let inbox = notifications
        .inbox(&user("t"), None, None)
        .await
        .expect("inbox");
    assert_eq!(inbox.notifications.len(), 1);
    assert_eq!(
        inbox.notifications[0].kind,
        NotificationKind::PasswordChanged
    );
    assert_eq!(deliver_jobs(&db).await.len(), 1, "the e-mail is queued");

    // The same notice ids again: the insert fails on its primary key, so the change rolls back.
    changed.password_hash = "newer-hash".to_owned();
    let mut clash = notices.clone();
    clash[0].dedup_key = None;
    let failed = accounts.update_user_telling(&changed, &clash).await;
    assert!(failed.is_err(), "{failed:?}");
    let kept = accounts
        .user(&user("t"))
        .await
        .expect("read")
        .expect("user");
    assert_eq!(
        kept.password_hash, "new-hash",
        "the change rolled back with its notice"
    );
    assert_eq!(
        notifications
            .inbox(&user("t"), None, None)
            .await
            .expect("inbox")
            .notifications
            .len(),
        1
    );
}

/// Fails every notice (the process died between a physician's write and its notice).
#[derive(Debug)]
struct DownNotify;

#[async_trait::async_trait]
impl medilink_platform::notifications::Notify for DownNotify {
    async fn notify(
        &self,
        _recipients: &[Recipient],
        _event: &Event,
    ) -> medilink_fhir::FhirResult<usize> {
        Err(medilink_fhir::FhirError::Unavailable {
            source: "notices are down".into(),
        })
    }
}

/// Issue #14: results a physician files are announced by a `Communication` written in the
/// same transaction; a notice missed after the write is told by the relay from the feed, once,
/// however many relays read it; the request's answer does not show the announcement.
async fn results_announcements_are_the_outbox(db: TestDb) {
    use medilink_fhir::kv::LocalKeyValue;
    use medilink_fhir::{Hooked, RequestContext, ResourceStore, WriteOp};
    use medilink_platform::notifications::ResultNotices;
    use medilink_platform::{Caller, CallerContext};

    let notifications = service(&db);
    add_patient_account(&db, "pat", "p1").await;
    let kv = || Arc::new(LocalKeyValue::new(db.clock.clone()));
    let down = ResultNotices::new(
        Arc::new(DownNotify),
        db.store.clone(),
        kv(),
        db.clock.clone(),
    );
    let hooked = Hooked::new(db.store.clone(), vec![Arc::new(down)]);
    let doctor = Caller::user(user("doc"), Role::Physician, true, None);
    let ctx = RequestContext::for_caller(doctor, "req-1");
    let result = serde_json::json!({
        "resourceType": "Observation", "status": "final",
        "code": {"text": "Glucose"}, "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 95, "unit": "mg/dL"}
    });
    let ops = vec![
        WriteOp::Create {
            resource: result.clone(),
            id: None,
        },
        WriteOp::Create {
            resource: result.clone(),
            id: None,
        },
    ];
    let outcomes = hooked.transaction(&ctx, ops).await.expect("transaction");
    assert_eq!(
        outcomes.len(),
        2,
        "the answer holds the request's writes only"
    );
    let created = hooked.create(&ctx, result).await.expect("create");
    assert_eq!(
        created.resource_type,
        medilink_fhir::ResourceType::Observation
    );
    let system = RequestContext::system();
    let feed = db
        .store
        .changes_of_type_since(&system, medilink_fhir::ResourceType::Communication, 0, 10)
        .await
        .expect("feed");
    assert_eq!(feed.len(), 2, "one announcement per request and patient");
    assert!(
        notifications
            .inbox(&user("pat"), None, None)
            .await
            .expect("inbox")
            .notifications
            .is_empty(),
        "nothing told while notices were down"
    );
    let relay = |kv| {
        ResultNotices::new(
            Arc::new(notifications.clone()),
            db.store.clone(),
            kv,
            db.clock.clone(),
        )
    };
    let (a, b) = (relay(kv()), relay(kv()));
    let (ra, rb) = tokio::join!(a.follow(), b.follow());
    assert_eq!(ra.expect("a").told + rb.expect("b").told, 2);
    assert_eq!(a.follow().await.expect("again").versions, 0);
    let inbox = notifications
        .inbox(&user("pat"), None, None)
        .await
        .expect("inbox");
    assert_eq!(inbox.notifications.len(), 2);
    assert!(
        inbox
            .notifications
            .iter()
            .all(|n| n.kind == NotificationKind::ResultsFiled)
    );
}

macro_rules! notification_suite {
    ($open:path) => {
        async fn with_db<F, Fut>(case: F)
        where
            F: FnOnce(TestDb) -> Fut,
            Fut: std::future::Future<Output = ()> + Send + 'static,
        {
            crate::jobs_support::run_on($open(), case).await
        }

        #[tokio::test]
        async fn preferences_and_mandatory_notices() {
            with_db(super::preferences_and_mandatory_notices).await
        }
        #[tokio::test]
        async fn recipients_by_patient() {
            with_db(super::recipients_by_patient).await
        }
        #[tokio::test]
        async fn delivery_is_idempotent_and_dead_letters() {
            with_db(super::delivery_is_idempotent_and_dead_letters).await
        }
        #[tokio::test]
        async fn quiet_hours_and_the_sweep() {
            with_db(super::quiet_hours_and_the_sweep).await
        }
        #[tokio::test]
        async fn inbox_is_own_only_with_paging() {
            with_db(super::inbox_is_own_only_with_paging).await
        }
        #[tokio::test]
        async fn once_only_events_and_new_sign_ins() {
            with_db(super::once_only_events_and_new_sign_ins).await
        }
        #[tokio::test]
        async fn results_announcements_are_the_outbox() {
            with_db(super::results_announcements_are_the_outbox).await
        }
        #[tokio::test]
        async fn account_change_and_notice_are_one_transaction() {
            with_db(super::account_change_and_notice_are_one_transaction).await
        }
    };
}

mod sqlite {
    use super::*;
    notification_suite!(crate::jobs_support::sqlite);
}

mod postgres {
    use super::*;
    notification_suite!(crate::jobs_support::postgres);
}
