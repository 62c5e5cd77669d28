//! The [`Mailer`] seam: how the consent service tells a patient about a break-glass access.
//! The server implements it over SMTP; tests use a local sink. Messages carry no clinical
//! content, only who accessed the record and when.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::ConsentResult;

/// One e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient: the id of the patient whose account gets the mail (the mailer resolves
    /// the address; this crate never sees one).
    pub to_patient: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Sends e-mail.
#[async_trait]
pub trait Mailer: Send + Sync + Debug {
    /// Sends `mail` (delivery may be queued and retried by the implementation).
    async fn send(&self, mail: Mail) -> ConsentResult<()>;
}

/// A mailer that only logs (no SMTP configured).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: Mail) -> ConsentResult<()> {
        tracing::info!(patient = %mail.to_patient, "mail not sent: no mailer configured");
        Ok(())
    }
}
