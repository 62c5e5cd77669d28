//! The channels and the delivery jobs: the [`Mailer`] seam, [`ChannelSender`]s (in-app,
//! e-mail), `notification.deliver` ([`DeliverNotification`]) and the periodic outbox sweep
//! `notification.sweep` ([`SweepDeliveries`]).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::jobs::{Job, JobKind, NoPayload};
use serde::{Deserialize, Serialize};

use super::kind::{Channel, DeliveryStatus};
use super::preferences::Language;
use super::templates::render;
use super::{DELIVER, Delivery, DeliveryUpdate, Notification, Notifications, SWEEP};
use crate::UserId;
use crate::worker::{JobError, JobHandler, JobOutcome, Registry};

/// Attempts of an e-mail delivery before it is `dead`.
pub const MAX_ATTEMPTS: u32 = 6;
/// How long a due delivery may wait for its job before the sweep enqueues it again.
const SWEEP_GRACE: Duration = Duration::from_secs(300);

/// One e-mail of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient account (the mailer resolves its address; this crate never sees one).
    pub to_user: UserId,
    /// The stable `Message-ID` (`<delivery id@medilink>`): a retry sends the same message.
    pub message_id: String,
    /// Subject (no PHI).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Why a channel could not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong (no PHI, no address).
    pub message: String,
    /// No retry will help (no address on the account, a rejected recipient).
    pub permanent: bool,
}

impl SendError {
    /// A failure worth another attempt.
    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure no retry fixes.
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Sends e-mail (`smtp::SmtpNotifier`; a recording one in tests). One call is one
/// attempt: retries are the delivery job's.
#[async_trait]
pub trait Mailer: Send + Sync + Debug {
    /// Sends `email` now.
    async fn send(&self, email: &Email) -> Result<(), SendError>;
}

/// The error of every e-mail when no mailer is configured.
pub const NOT_CONFIGURED: &str = "e-mail is not configured";

/// The mailer of a host without SMTP settings: every e-mail fails permanently with
/// [`NOT_CONFIGURED`], so its delivery is `dead` at the first attempt (never retried, never
/// claimed `sent`); the in-app notice is unaffected. Hosts log once at start-up that notice
/// e-mails are off.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _email: &Email) -> Result<(), SendError> {
        Err(SendError::permanent(NOT_CONFIGURED))
    }
}

/// Delivers a notice on one channel.
#[async_trait]
pub trait ChannelSender: Send + Sync + Debug {
    /// The channel.
    fn channel(&self) -> Channel;
    /// Delivers `notice` (delivery `delivery`) in `language`.
    async fn send(
        &self,
        notice: &Notification,
        delivery: &Delivery,
        language: Language,
    ) -> Result<(), SendError>;
}

/// The portal's inbox: the stored notice is the delivery.
#[derive(Debug, Default, Clone, Copy)]
pub struct InAppChannel;

#[async_trait]
impl ChannelSender for InAppChannel {
    fn channel(&self) -> Channel {
        Channel::InApp
    }

    async fn send(&self, _: &Notification, _: &Delivery, _: Language) -> Result<(), SendError> {
        Ok(())
    }
}

/// E-mail through a [`Mailer`], rendered from the catalogues, linking to the portal.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    /// The mailer.
    pub mailer: Arc<dyn Mailer>,
    /// The portal's base URL (`https://medilink.example.org`).
    pub portal_url: String,
}

#[async_trait]
impl ChannelSender for EmailChannel {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(
        &self,
        notice: &Notification,
        delivery: &Delivery,
        language: Language,
    ) -> Result<(), SendError> {
        let rendered = render(
            notice.kind,
            &notice.parameters,
            language,
            &self.portal_url,
            notice.link(),
        )
        .map_err(|err| SendError::permanent(err.to_string()))?;
        self.mailer
            .send(&Email {
                to_user: notice.user_id.clone(),
                message_id: format!("<{}@medilink>", delivery.id),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
            })
            .await
    }
}

/// The payload of `notification.deliver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverPayload {
    /// The delivery id.
    pub delivery: String,
}

/// The result of `notification.deliver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverResult {
    /// `sent`, `skipped` (already sent or dead) or `missing`.
    pub outcome: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// The `notification.deliver` job: one attempt at one delivery.
#[derive(Debug, Clone)]
pub struct DeliverNotification {
    /// The service (store and clock).
    pub notifications: Notifications,
    /// The channels.
    pub senders: Vec<Arc<dyn ChannelSender>>,
}

impl JobKind for DeliverNotification {
    const KIND: &'static str = DELIVER;
    type Payload = DeliverPayload;
    type Result = DeliverResult;
}

impl DeliverNotification {
    /// Delivers in-app and by e-mail through `mailer`, linking to `portal_url`.
    pub fn new(notifications: Notifications, mailer: Arc<dyn Mailer>, portal_url: &str) -> Self {
        DeliverNotification {
            notifications,
            senders: vec![
                Arc::new(InAppChannel),
                Arc::new(EmailChannel {
                    mailer,
                    portal_url: portal_url.to_owned(),
                }),
            ],
        }
    }
}

fn done(outcome: &str, attempts: u32) -> Result<JobOutcome, JobError> {
    JobOutcome::completed_as::<DeliverNotification>(&DeliverResult {
        outcome: outcome.to_owned(),
        attempts,
    })
}

#[async_trait]
impl JobHandler for DeliverNotification {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let payload = job.payload_of::<Self>()?;
        let store = self.notifications.store();
        let Some((delivery, notice)) = store.delivery(&payload.delivery).await? else {
            return done("missing", 0);
        };
        if matches!(delivery.status, DeliveryStatus::Sent | DeliveryStatus::Dead) {
            return done("skipped", delivery.attempts);
        }
        let Some(sender) = self
            .senders
            .iter()
            .find(|sender| sender.channel() == delivery.channel)
        else {
            return Err(JobError::permanent("no sender for the delivery's channel"));
        };
        let language = store
            .preferences(&notice.user_id)
            .await?
            .unwrap_or_default()
            .language;
        let attempts = delivery.attempts + 1;
        let now = self.notifications.clock().now();
        match sender.send(&notice, &delivery, language).await {
            Ok(()) => {
                let update = DeliveryUpdate {
                    status: DeliveryStatus::Sent,
                    attempts,
                    next_attempt_at: None,
                    last_error: None,
                    sent_at: Some(now),
                };
                store.update_delivery(&delivery.id, &update).await?;
                done("sent", attempts)
            }
            Err(err) => {
                let dead = err.permanent || attempts >= MAX_ATTEMPTS;
                let update = DeliveryUpdate {
                    status: if dead {
                        DeliveryStatus::Dead
                    } else {
                        DeliveryStatus::Failed
                    },
                    attempts,
                    next_attempt_at: (!dead).then_some(now),
                    last_error: Some(err.message.clone()),
                    sent_at: None,
                };
                store.update_delivery(&delivery.id, &update).await?;
                tracing::warn!(delivery = %delivery.id, attempts, dead, error = %err, "notification delivery failed");
                if dead {
                    Err(JobError::permanent(format!(
                        "delivery dead: {}",
                        err.message
                    )))
                } else {
                    Err(JobError::retryable(err.message))
                }
            }
        }
    }
}

/// The result of a `notification.sweep` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Deliveries whose job was missing and is enqueued again.
    pub enqueued: u64,
}

/// The outbox sweep: enqueues the job of every e-mail delivery due for a while that has no
/// live job (a crash between the notice's commit and its enqueue, a lost job).
#[derive(Debug, Clone)]
pub struct SweepDeliveries {
    /// The service.
    pub notifications: Notifications,
}

impl JobKind for SweepDeliveries {
    const KIND: &'static str = SWEEP;
    type Payload = NoPayload;
    type Result = SweepResult;
}

#[async_trait]
impl JobHandler for SweepDeliveries {
    async fn run(&self, _job: &Job) -> Result<JobOutcome, JobError> {
        let due = self.notifications.clock().now() - SWEEP_GRACE;
        let stale = self
            .notifications
            .store()
            .due_deliveries(Channel::Email, due, 500)
            .await?;
        let mut enqueued = 0;
        for delivery in stale {
            if self
                .notifications
                .enqueue_delivery(&delivery.id, None)
                .await?
            {
                enqueued += 1;
            }
        }
        JobOutcome::completed_as::<Self>(&SweepResult { enqueued })
    }
}

/// Registers `notification.deliver` (e-mail through `mailer`, links to `portal_url`) and the
/// periodic `notification.sweep` (every minute).
pub fn register_notifications(
    registry: &mut Registry,
    notifications: &Notifications,
    mailer: Arc<dyn Mailer>,
    portal_url: &str,
) {
    registry
        .register(
            DELIVER,
            Arc::new(DeliverNotification::new(
                notifications.clone(),
                mailer,
                portal_url,
            )),
        )
        .register_periodic(
            SWEEP,
            Duration::from_secs(60),
            Arc::new(SweepDeliveries {
                notifications: notifications.clone(),
            }),
        );
}
