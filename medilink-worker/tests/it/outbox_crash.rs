//! The notice outbox survives a worker crash (issue #14): a `medilink-worker` process is
//! SIGKILLed while it sends notice e-mails to an SMTP sink that answers each message slowly;
//! a second process takes the killed one's leases over when they expire and finishes. Against
//! the sink: every delivery's `Message-ID` arrived, none is missing, and the duplicates are at
//! most the deliveries in flight at the kill (at-least-once); every delivery is `sent`. On a
//! SQLite file both processes share, and on a fresh PostgreSQL database when
//! `MEDILINK_TEST_POSTGRES_URL` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::jobs::JobFilter;
use medilink_fhir::{SeqIdGen, SqlOptions, SystemClock};
use medilink_platform::notifications::{
    DELIVER, DeliverNotification, DeliveryStatus, Event, NotificationKind, Notifications, Notify,
    Recipient,
};
use medilink_platform::{AccountStatus, NewUser, Platform, Role, UserId};

use crate::mail::{KEY, KEY_TEXT, slow_smtp_sink};

/// Notices queued, one e-mail each.
const NOTICES: usize = 20;
/// Jobs each worker runs at once: at most this many e-mails are in flight at the kill.
const CONCURRENCY: usize = 4;
/// E-mails the sink has received when the first worker is killed: more than one round of
/// [`CONCURRENCY`], so some deliveries are `sent` at the kill and others in flight.
const BEFORE_KILL: usize = CONCURRENCY + 2;

/// A worker process, SIGKILLed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `medilink-worker` on the database, sending through `smtp_url`: [`CONCURRENCY`] jobs at a
/// time, 3 s leases (the shortest allowed), no periodic jobs; its log goes to `worker.log`.
fn worker(database_url: &str, data_dir: &std::path::Path, smtp_url: &str, name: &str) -> Worker {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("worker.log"))
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
        .args(["--database-url", database_url, "--poll-ms", "50"])
        .args([
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--lease-secs",
            "3",
        ])
        .args([
            "--worker-id",
            name,
            "--no-schedule",
            "--encryption-key",
            KEY_TEXT,
        ])
        .args(["--smtp-url", smtp_url, "--base-url", "https://portal.test/"])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("MEDILINK_SMTP_URL")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start medilink-worker");
    Worker(child)
}

/// [`NOTICES`] accounts with real (sealed) addresses, one notice each with a queued e-mail
/// delivery: the platform and the delivery ids.
async fn queued_notices(database_url: &str) -> (Platform, Vec<String>) {
    let (_store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(database_url),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("t")),
    )
    .await
    .expect("open");
    let mut recipients = Vec::new();
    for n in 0..NOTICES {
        let user = UserId(format!("u-{n}"));
        let address = format!("pat{n}@test.local");
        platform
            .accounts
            .create_user(NewUser {
                id: user.clone(),
                email_hash: user.0.as_bytes().to_vec(),
                email_enc: medilink_platform::keys::seal(&KEY, "email", address.as_bytes()),
                name_enc: None,
                password_hash: String::new(),
                role: Role::Patient,
                status: AccountStatus::Active,
                patient_id: None,
            })
            .await
            .expect("account");
        recipients.push(Recipient::User(user));
    }
    let notifications = Notifications::new(
        platform.notifications.clone(),
        platform.jobs.clone(),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("n")),
    );
    let event = Event::new(NotificationKind::ConsentExpiring).with("end", "2030-02-01");
    notifications
        .notify(&recipients, &event)
        .await
        .expect("notify");
    let jobs = platform
        .jobs
        .list(&JobFilter {
            kind: Some(DELIVER.to_owned()),
            ..JobFilter::default()
        })
        .await
        .expect("jobs");
    let ids: BTreeSet<String> = jobs
        .iter()
        .map(|job| {
            job.payload_of::<DeliverNotification>()
                .expect("payload")
                .delivery
        })
        .collect();
    assert_eq!(
        ids.len(),
        NOTICES,
        "one e-mail delivery per notice: {jobs:?}"
    );
    (platform, ids.into_iter().collect())
}

/// The `Message-ID` header of a message's data.
fn message_id(data: &str) -> String {
    data.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Message-ID in {data}"))
}

/// Queues the notices, kills the first worker mid-delivery, lets a second finish, and checks
/// the sink and the deliveries.
async fn at_least_once_across_a_kill(database_url: &str) {
    let data = tempfile::tempdir().expect("dir");
    let log = data.path().join("worker.log");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let (platform, ids) = queued_notices(database_url).await;
    let (smtp_url, mut received) = slow_smtp_sink(Duration::from_millis(200)).await;
    let mut arrived: Vec<String> = Vec::new();

    let mut first = worker(database_url, data.path(), &smtp_url, "worker-killed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived.len() < BEFORE_KILL {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, received.recv()).await {
            Ok(Some((_, mail))) => arrived.push(message_id(&mail)),
            _ => panic!(
                "only {} e-mails within a minute: {}",
                arrived.len(),
                read_log()
            ),
        }
    }
    first.0.kill().expect("SIGKILL the first worker");
    first.0.wait().expect("reap the first worker");
    // Everything the sink read before the process died.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok((_, mail)) = received.try_recv() {
        arrived.push(message_id(&mail));
    }
    let at_kill = arrived.len();
    let mut sent_at_kill = BTreeSet::new();
    for id in &ids {
        let (delivery, _) = platform
            .notifications
            .delivery(id)
            .await
            .expect("read")
            .expect("the delivery");
        if delivery.status == DeliveryStatus::Sent {
            sent_at_kill.insert(format!("<{id}@medilink>"));
        }
    }
    assert!(
        at_kill < NOTICES,
        "every e-mail was sent before the kill ({at_kill}): the kill did not land mid-run"
    );

    let mut second = worker(database_url, data.path(), &smtp_url, "worker-after");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        while let Ok((_, mail)) = received.try_recv() {
            arrived.push(message_id(&mail));
        }
        let mut unsent = Vec::new();
        for id in &ids {
            let (delivery, _) = platform
                .notifications
                .delivery(id)
                .await
                .expect("read")
                .expect("the delivery");
            if delivery.status != DeliveryStatus::Sent {
                unsent.push(delivery);
            }
        }
        if unsent.is_empty() {
            break;
        }
        if let Some(status) = second.0.try_wait().expect("poll worker") {
            panic!("the second worker exited ({status}): {}", read_log());
        }
        assert!(
            Instant::now() < deadline,
            "{} deliveries not sent within 90 s after the restart: {unsent:?}\n{}",
            unsent.len(),
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A message the second worker sent just before its row turned `sent` is already read;
    // give a straggler (a duplicate would be a bug here) a moment to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok((_, mail)) = received.try_recv() {
        arrived.push(message_id(&mail));
    }
    drop(second);

    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for id in &arrived {
        *copies.entry(id.clone()).or_default() += 1;
    }
    let expected: BTreeSet<String> = ids.iter().map(|id| format!("<{id}@medilink>")).collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "e-mails never arrived: {missing:?}");
    let strangers: Vec<&String> = copies.keys().filter(|id| !expected.contains(*id)).collect();
    assert!(strangers.is_empty(), "unknown e-mails: {strangers:?}");
    let duplicates: usize = copies.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicate e-mails, more than the {CONCURRENCY} in flight at the kill: {copies:?}"
    );
    let resent: Vec<&String> = sent_at_kill.iter().filter(|id| copies[*id] > 1).collect();
    assert!(
        resent.is_empty(),
        "deliveries `sent` before the kill were sent again: {resent:?}"
    );
    assert!(
        copies.values().all(|&n| n <= 2),
        "an e-mail arrived more than twice: {copies:?}"
    );
    for id in &ids {
        let (delivery, _) = platform
            .notifications
            .delivery(id)
            .await
            .expect("read")
            .expect("the delivery");
        assert_eq!(delivery.status, DeliveryStatus::Sent, "{delivery:?}");
        assert!(delivery.sent_at.is_some(), "{delivery:?}");
    }
    eprintln!(
        "outbox crash: {at_kill} e-mails before the kill ({} of them sent), {} in all, \
         {duplicates} duplicates",
        sent_at_kill.len(),
        arrived.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_no_email_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    at_least_once_across_a_kill(&format!("sqlite://{}/medilink.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_no_email_on_postgres() {
    let Ok(base_url) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
        eprintln!("MEDILINK_TEST_POSTGRES_URL is unset: skipping the PostgreSQL outbox crash test");
        return;
    };
    let (url, drop_database) = medilink_fhir::testsuite::postgres_database(base_url).await;
    let outcome = tokio::spawn(async move { at_least_once_across_a_kill(&url).await }).await;
    drop_database().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
