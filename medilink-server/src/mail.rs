//! [`SmtpMailer`]: the `medilink_consent::Mailer` seam over SMTP (lettre), and [`notifier`]:
//! the notification e-mails' [`SmtpNotifier`] (`medilink-platform`, feature `smtp`) over
//! this server's accounts.
//!
//! The consent service hands over a [`Mail`] naming a patient; the mailer resolves the
//! patient's account address ([`Addresses`]) and delivers in the background: `send` only puts
//! the mail on a small bounded queue, so a slow or failing SMTP server never fails or slows
//! the request (a full queue drops the mail with an error log). A worker task delivers the
//! queue in order and retries each mail with exponential backoff before giving up (logged).
//! Without `--smtp-url` the server keeps `medilink_consent::mail::LogMailer`.

use std::fmt::Debug;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use medilink_consent::error::ConsentError;
use medilink_consent::{ConsentResult, Mail, Mailer};
use medilink_fhir::FhirError;
pub use medilink_platform::notifications::smtp::{SmtpNotifier, SmtpSettings};
use medilink_platform::{Role, UserFilter};
use tokio::sync::mpsc;

use crate::auth::Auth;

/// Mails waiting for delivery at most.
const QUEUE: usize = 256;

/// Resolves the e-mail address of a patient's account.
#[async_trait]
pub trait Addresses: Send + Sync + Debug {
    /// The address of the account linked to `patient` (a `Patient` id), if any.
    async fn patient_email(&self, patient: &str) -> anyhow::Result<Option<String>>;
}

#[async_trait]
impl Addresses for Auth {
    async fn patient_email(&self, patient: &str) -> anyhow::Result<Option<String>> {
        const PAGE: usize = 1000;
        let mut offset = 0;
        loop {
            let users = self
                .accounts
                .list_users(&UserFilter {
                    role: Some(Role::Patient),
                    limit: PAGE,
                    offset,
                    ..UserFilter::default()
                })
                .await?;
            if let Some(user) = users.iter().find(|user| {
                user.patient_id
                    .as_ref()
                    .is_some_and(|id| id.as_str() == patient)
            }) {
                let email = self.view(user).email;
                return Ok((!email.is_empty()).then_some(email));
            }
            if users.len() < PAGE {
                return Ok(None);
            }
            offset += PAGE;
        }
    }
}

/// The SMTP mailer: a queue and the task that drains it.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    queue: mpsc::Sender<Mail>,
}

struct Worker {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: SmtpSettings,
    addresses: Arc<dyn Addresses>,
}

impl SmtpMailer {
    /// Checks `settings` and starts the delivery task (needs a Tokio runtime).
    pub fn start(settings: SmtpSettings, addresses: Arc<dyn Addresses>) -> anyhow::Result<Self> {
        let transport = settings.transport()?;
        let from = settings.sender()?;
        let (queue, receiver) = mpsc::channel(QUEUE);
        let worker = Worker {
            transport,
            from,
            settings,
            addresses,
        };
        tokio::spawn(worker.run(receiver));
        Ok(SmtpMailer { queue })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> ConsentResult<()> {
        self.queue.try_send(mail).map_err(|err| {
            let reason = match err {
                mpsc::error::TrySendError::Full(_) => "the mail queue is full",
                mpsc::error::TrySendError::Closed(_) => "the mail worker stopped",
            };
            ConsentError::Store(FhirError::Unavailable {
                source: reason.into(),
            })
        })
    }
}

impl Worker {
    async fn run(self, mut receiver: mpsc::Receiver<Mail>) {
        while let Some(mail) = receiver.recv().await {
            self.deliver(mail).await;
        }
    }

    async fn deliver(&self, mail: Mail) {
        let to = match self.addresses.patient_email(&mail.to_patient).await {
            Ok(Some(to)) => to,
            Ok(None) => {
                tracing::warn!(patient = %mail.to_patient, "no account address for the patient; mail dropped");
                return;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot resolve the patient's address; mail dropped");
                return;
            }
        };
        let message = match self.message(&to, &mail) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(error = %err, patient = %mail.to_patient, "mail not built; dropped");
                return;
            }
        };
        let mut backoff = self.settings.first_backoff;
        let attempts = self.settings.attempts.max(1);
        for attempt in 1..=attempts {
            match self.transport.send(message.clone()).await {
                Ok(_) => {
                    tracing::info!(patient = %mail.to_patient, attempt, "mail delivered");
                    return;
                }
                Err(err) if attempt < attempts && !err.is_permanent() => {
                    tracing::warn!(error = %err, attempt, "mail delivery failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
                Err(err) => {
                    tracing::error!(error = %err, attempt, patient = %mail.to_patient, "mail delivery failed; giving up");
                    return;
                }
            }
        }
    }

    fn message(&self, to: &str, mail: &Mail) -> anyhow::Result<Message> {
        let to: Mailbox = to.parse().context("the patient's address")?;
        Ok(Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())?)
    }
}

/// The notification e-mail channel's mailer over SMTP ([`SmtpNotifier`], shared with
/// `medilink-worker`), reading account addresses from `auth`'s accounts with its PII key.
pub fn notifier(settings: &SmtpSettings, auth: &Auth) -> anyhow::Result<SmtpNotifier> {
    Ok(SmtpNotifier::new(
        settings,
        auth.accounts.clone(),
        auth.keys.encryption,
    )?)
}
