//! Notice e-mails from a `medilink-worker` process (issue #14), on SQLite: with `--smtp-url`
//! a queued `notification.deliver` job sends the notice to a local SMTP sink (subject,
//! the delivery's stable `Message-ID`, the account's address opened with the server's PII
//! key); without it the delivery is `dead` with "e-mail is not configured", never `sent`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::jobs::JobFilter;
use medilink_fhir::{SeqIdGen, SqlOptions, SystemClock};
use medilink_platform::notifications::{
    DELIVER, DeliverNotification, DeliveryStatus, Event, NOT_CONFIGURED, NotificationKind,
    Notifications, Notify, Recipient,
};
use medilink_platform::{AccountStatus, NewUser, Platform, Role, UserId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The PII key given to the worker (base64 of 32 bytes of 5).
pub(crate) const KEY: [u8; 32] = [5; 32];
pub(crate) const KEY_TEXT: &str = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU=";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal SMTP server on 127.0.0.1 accepting every message: its URL and the messages'
/// recipients and data.
async fn smtp_sink() -> (String, mpsc::UnboundedReceiver<(Vec<String>, String)>) {
    slow_smtp_sink(Duration::ZERO).await
}

/// [`smtp_sink`] answering each message's data only `reply_delay` after it arrived (the
/// message is reported as soon as its final `.` is read, before the reply).
pub(crate) async fn slow_smtp_sink(
    reply_delay: Duration,
) -> (String, mpsc::UnboundedReceiver<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("smtp://{}", listener.local_addr().expect("addr"));
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "RCPT" => {
                            rcpt.push(line.clone());
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 end with .\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(&line);
                                data.push('\n');
                            }
                            let _ = sender.send((std::mem::take(&mut rcpt), data));
                            tokio::time::sleep(reply_delay).await;
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, receiver)
}

/// A database with one account (its address sealed with [`KEY`]) and one notice for it, whose
/// e-mail delivery is queued; returns the platform and the delivery id.
async fn queued_notice(database_url: &str) -> Platform {
    let (_store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(database_url),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("t")),
    )
    .await
    .expect("open");
    let user = UserId("u-1".to_owned());
    platform
        .accounts
        .create_user(NewUser {
            id: user.clone(),
            email_hash: b"u-1".to_vec(),
            email_enc: medilink_platform::keys::seal(&KEY, "email", b"pat@test.local"),
            name_enc: None,
            password_hash: String::new(),
            role: Role::Patient,
            status: AccountStatus::Active,
            patient_id: None,
        })
        .await
        .expect("account");
    let notifications = Notifications::new(
        platform.notifications.clone(),
        platform.jobs.clone(),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("n")),
    );
    let event = Event::new(NotificationKind::ConsentExpiring).with("end", "2030-02-01");
    notifications
        .notify(&[Recipient::User(user)], &event)
        .await
        .expect("notify");
    platform
}

/// The id of the one queued e-mail delivery.
async fn delivery_id(platform: &Platform) -> String {
    let jobs = platform
        .jobs
        .list(&JobFilter {
            kind: Some(DELIVER.to_owned()),
            ..JobFilter::default()
        })
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0]
        .payload_of::<DeliverNotification>()
        .expect("payload")
        .delivery
}

fn spawn_worker(database_url: &str, data_dir: &std::path::Path, extra: &[&str]) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_medilink-worker"))
            .args(["--database-url", database_url, "--poll-ms", "50"])
            .args(["--no-schedule", "--encryption-key", KEY_TEXT])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("MEDILINK_SMTP_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start medilink-worker"),
    )
}

/// Waits until the delivery is `sent` or `dead`.
async fn settled(platform: &Platform, id: &str) -> medilink_platform::notifications::Delivery {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (delivery, _) = platform
            .notifications
            .delivery(id)
            .await
            .expect("read")
            .expect("the delivery");
        if matches!(delivery.status, DeliveryStatus::Sent | DeliveryStatus::Dead) {
            return delivery;
        }
        assert!(Instant::now() < deadline, "not settled: {delivery:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_worker_sends_notice_emails_over_smtp() {
    let data = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}/medilink.db", data.path().display());
    let platform = queued_notice(&database_url).await;
    let id = delivery_id(&platform).await;
    let (url, mut received) = smtp_sink().await;
    let _worker = spawn_worker(
        &database_url,
        data.path(),
        &["--smtp-url", &url, "--base-url", "https://portal.test/"],
    );
    let (rcpt, mail) = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("a message within a minute")
        .expect("the sink runs");
    assert_eq!(rcpt.len(), 1, "{rcpt:?}");
    assert!(rcpt[0].contains("<pat@test.local>"), "{rcpt:?}");
    assert!(
        mail.contains("Subject: An access grant ends soon"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("Message-ID: <{id}@medilink>")),
        "{mail}"
    );
    assert!(
        mail.contains("From: MediLink <no-reply@medilink.invalid>"),
        "{mail}"
    );
    assert!(mail.contains("https://portal.test/"), "{mail}");
    let delivery = settled(&platform, &id).await;
    assert_eq!(delivery.status, DeliveryStatus::Sent, "{delivery:?}");
    assert_eq!(delivery.attempts, 1);
}

#[tokio::test]
async fn without_smtp_the_delivery_is_dead_not_sent() {
    let data = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}/medilink.db", data.path().display());
    let platform = queued_notice(&database_url).await;
    let id = delivery_id(&platform).await;
    let _worker = spawn_worker(&database_url, data.path(), &[]);
    let delivery = settled(&platform, &id).await;
    assert_eq!(delivery.status, DeliveryStatus::Dead, "{delivery:?}");
    assert_eq!(delivery.last_error.as_deref(), Some(NOT_CONFIGURED));
    assert_eq!(delivery.attempts, 1, "no retries");
    assert_eq!(delivery.sent_at, None);
}
