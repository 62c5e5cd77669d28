//! [`SmtpMailer`]: the `medilink_consent::Mailer` seam over SMTP (lettre).
//!
//! The consent service hands over a [`Mail`] naming a patient; the mailer resolves the
//! patient's account address ([`Addresses`]) and delivers in the background: `send` only puts
//! the mail on a small bounded queue, so a slow or failing SMTP server never fails or slows
//! the request (a full queue drops the mail with an error log). A worker task delivers the
//! queue in order and retries each mail with exponential backoff before giving up (logged).
//! Without `--smtp-url` the server keeps `medilink_consent::mail::LogMailer`.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use medilink_consent::error::ConsentError;
use medilink_consent::{ConsentResult, Mail, Mailer};
use medilink_fhir::FhirError;
use medilink_platform::{Role, UserFilter};
use tokio::sync::mpsc;

use crate::auth::Auth;

/// Mails waiting for delivery at most.
const QUEUE: usize = 256;

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://[user:password@]host[:port]` (plain SMTP; port 25 by default).
    pub url: String,
    /// The sender address (`MediLink <no-reply@example.org>`).
    pub from: String,
    /// Delivery attempts per mail (at least 1).
    pub attempts: u32,
    /// Wait after the first failed attempt; doubles after each further one.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Timeout of one SMTP conversation.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// Production defaults for `url` (6 attempts over about a minute).
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> Self {
        SmtpSettings {
            url: url.into(),
            from: from.into(),
            attempts: 6,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

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

/// Builds the transport of `smtp://[user:password@]host[:port]`.
fn transport(settings: &SmtpSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let url = url::Url::parse(&settings.url).with_context(|| {
        format!(
            "--smtp-url / MEDILINK_SMTP_URL: {:?} is not a URL",
            settings.url
        )
    })?;
    if url.scheme() != "smtp" {
        bail!("--smtp-url / MEDILINK_SMTP_URL: only smtp:// is supported");
    }
    let Some(host) = url.host_str() else {
        bail!("--smtp-url / MEDILINK_SMTP_URL: no host");
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(25))
        .timeout(Some(settings.timeout));
    if !url.username().is_empty() {
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        builder = builder.credentials(Credentials::new(
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        ));
    }
    Ok(builder.build())
}

impl SmtpMailer {
    /// Checks `settings` and starts the delivery task (needs a Tokio runtime).
    pub fn start(settings: SmtpSettings, addresses: Arc<dyn Addresses>) -> anyhow::Result<Self> {
        let transport = transport(&settings)?;
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("--smtp-from / MEDILINK_SMTP_FROM: {:?}", settings.from))?;
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

/// The notification e-mail channel's [`medilink_platform::notifications::Mailer`] over SMTP:
/// one `send` is one SMTP attempt (the `notification.deliver` job retries), to the address of
/// the account the notice is for, as a text and HTML alternative with the delivery's stable
/// `Message-ID`.
#[derive(Clone)]
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    auth: Arc<Auth>,
}

impl Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier").finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// Checks `settings` and builds the transport.
    pub fn new(settings: &SmtpSettings, auth: Arc<Auth>) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("--smtp-from / MEDILINK_SMTP_FROM: {:?}", settings.from))?;
        Ok(SmtpNotifier {
            transport: transport(settings)?,
            from,
            auth,
        })
    }
}

#[async_trait]
impl medilink_platform::notifications::Mailer for SmtpNotifier {
    async fn send(
        &self,
        email: &medilink_platform::notifications::Email,
    ) -> Result<(), medilink_platform::notifications::SendError> {
        use lettre::message::MultiPart;
        use medilink_platform::notifications::SendError;
        let user = self
            .auth
            .accounts
            .user(&email.to_user)
            .await
            .map_err(|err| SendError::transient(err.to_string()))?
            .ok_or_else(|| SendError::permanent("no such account"))?;
        let address = self.auth.view(&user).email;
        let to: Mailbox = address
            .parse()
            .map_err(|_| SendError::permanent("the account has no valid address"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|err| SendError::permanent(err.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(SendError::permanent(err.to_string())),
            Err(err) => Err(SendError::transient(err.to_string())),
        }
    }
}
