//! [`SmtpNotifier`]: the notification e-mail channel's [`Mailer`] over SMTP (lettre), for
//! both hosts (the server and `medilink-worker` build it from the same settings, so a notice
//! e-mail is sent wherever its `notification.deliver` job runs).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Email, Mailer, SendError};
use crate::AccountStore;
use crate::keys::KEY_LEN;

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://[user:password@]host[:port]` (plain SMTP; port 25 by default).
    pub url: String,
    /// The sender address (`MediLink <no-reply@example.org>`).
    pub from: String,
    /// Delivery attempts per mail (at least 1; the server's break-glass mailer only: a
    /// notification e-mail makes one attempt per job run).
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

    /// The sender mailbox of `from`.
    pub fn sender(&self) -> Result<Mailbox, SmtpConfigError> {
        self.from.parse().map_err(|_| {
            SmtpConfigError(format!(
                "--smtp-from / MEDILINK_SMTP_FROM: {:?} is not an address",
                self.from
            ))
        })
    }

    /// The transport of `smtp://[user:password@]host[:port]`.
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpConfigError> {
        let url = url::Url::parse(&self.url).map_err(|_| {
            SmtpConfigError(format!(
                "--smtp-url / MEDILINK_SMTP_URL: {:?} is not a URL",
                redact(&self.url)
            ))
        })?;
        if url.scheme() != "smtp" {
            return Err(SmtpConfigError(
                "--smtp-url / MEDILINK_SMTP_URL: only smtp:// is supported".into(),
            ));
        }
        let Some(host) = url.host_str() else {
            return Err(SmtpConfigError(
                "--smtp-url / MEDILINK_SMTP_URL: no host".into(),
            ));
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(25))
            .timeout(Some(self.timeout));
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
}

/// `url` without its user information (error messages never show a password).
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_owned(),
        },
        None => "…".to_owned(),
    }
}

/// Invalid SMTP settings (the message names the setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SmtpConfigError(pub String);

/// The notification e-mail channel's [`Mailer`] over SMTP: one `send` is one SMTP attempt
/// (the `notification.deliver` job retries), to the address of the account the notice is
/// for (its sealed `email` column, opened with the deployment's encryption key), as a text
/// and HTML alternative with the delivery's stable `Message-ID`. A rejected recipient or
/// message is a permanent failure, an unreachable or busy server a transient one.
#[derive(Clone)]
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    accounts: Arc<dyn AccountStore>,
    encryption_key: [u8; KEY_LEN],
}

impl Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier").finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// Checks `settings` and builds the transport; addresses are read from `accounts` and
    /// opened with `encryption_key` (the server's PII key).
    pub fn new(
        settings: &SmtpSettings,
        accounts: Arc<dyn AccountStore>,
        encryption_key: [u8; KEY_LEN],
    ) -> Result<Self, SmtpConfigError> {
        Ok(SmtpNotifier {
            transport: settings.transport()?,
            from: settings.sender()?,
            accounts,
            encryption_key,
        })
    }
}

#[async_trait]
impl Mailer for SmtpNotifier {
    async fn send(&self, email: &Email) -> Result<(), SendError> {
        let user = self
            .accounts
            .user(&email.to_user)
            .await
            .map_err(|err| SendError::transient(err.to_string()))?
            .ok_or_else(|| SendError::permanent("no such account"))?;
        let address = crate::keys::open(&self.encryption_key, "email", &user.email_enc)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .ok_or_else(|| SendError::permanent("the account's address does not open"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_passwords_never_shown() {
        let bad = SmtpSettings::new("smtp://user:hunter2@", "MediLink <a@b.org>");
        let err = bad.transport().expect_err("no host").to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            SmtpSettings::new("http://mail.example", "a@b.org")
                .transport()
                .is_err()
        );
        assert!(
            SmtpSettings::new("smtp://mail.example", "not an address")
                .sender()
                .is_err()
        );
        assert_eq!(redact("smtp://u:p@host:25"), "smtp://…@host:25");
        assert!(
            SmtpSettings::new("smtp://u:p%40x@mail.example:2525", "a@b.org")
                .transport()
                .is_ok()
        );
    }
}
