//! Notifications (issue #14): every event a patient or clinician must know about, in the
//! portal's inbox and by e-mail, as they choose.
//!
//! - [`NotificationKind`]: every kind of event, each with whether it is a mandatory security
//!   notice (break-glass, a sign-in from a new address or device, password change, TOTP turned
//!   on or off): those ignore opt-outs and quiet hours.
//! - [`Notifications::notify`] writes, for each recipient, the notice (the inbox row) and its
//!   deliveries — in-app (the row itself, `sent` at once) and e-mail when the recipient's
//!   [`Preferences`] want it — in **one SQL transaction** ([`NotificationStore::insert`]),
//!   then enqueues a `notification.deliver` job per e-mail delivery. The deliveries table is
//!   the outbox: should the enqueue fail (or the process stop between commit and enqueue),
//!   the periodic `notification.sweep` enqueues every e-mail delivery still due. Jobs are
//!   enqueued by a unique key per delivery, so a delivery has at most one live job.
//! - [`DeliverNotification`] (the job): idempotent — a delivery already `sent` or `dead` is
//!   skipped; the e-mail carries a stable `Message-ID` derived from the delivery id, so a
//!   retry after a crash between sending and recording is recognisable as the same message.
//!   A failed send is retried with the worker's backoff; after [`MAX_ATTEMPTS`] attempts (or a
//!   permanent failure) the delivery is `dead`.
//! - Channels ([`ChannelSender`]): in-app (a stored row) and e-mail through the [`Mailer`]
//!   seam ([`smtp::SmtpNotifier`] behind the `smtp` feature, in both hosts; tests record).
//!   Without a mailer ([`NoMailer`]) an e-mail delivery is `dead` with "e-mail is not
//!   configured": nothing claims a send that did not happen. Web push or SMS would be another
//!   [`Channel`] variant and sender.
//! - Templates (`templates`): Project Fluent catalogues in English, Spanish and Hindi;
//!   subjects never carry names or results.
//! - Parameters stored with a notice are what the recipient may see: identifiers, instants,
//!   a client address for a sign-in notice; never clinical content.
//!
//! Defaults: a user who never saved preferences gets every kind in-app and by e-mail, in
//! English, with no quiet hours. Quiet hours (`start`–`end`, minutes of a day, in `UTC` or a
//! fixed offset `±HH:MM`) defer e-mail of non-mandatory kinds to the end of the window.
//!
//! Events are raised by the libraries where they happen, through the [`Notify`] seam; a
//! change that is a FHIR resource write (a `Consent`) cannot share the store's transaction, so
//! its notices are written right after the change commits (a crash between the two loses
//! the notice, never the change).

mod deliver;
pub mod feed;
mod kind;
mod preferences;
pub mod results;
#[cfg(feature = "smtp")]
pub mod smtp;
mod templates;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::clock::{Clock, IdGen};
use medilink_fhir::error::{ErrorKind, FhirError, FhirResult, ServiceError};
use medilink_fhir::jobs::{JobQueue, NewJob};
use time::OffsetDateTime;

use crate::UserId;

pub use deliver::{
    ChannelSender, DeliverNotification, DeliverPayload, DeliverResult, Email, EmailChannel,
    InAppChannel, MAX_ATTEMPTS, Mailer, NOT_CONFIGURED, NoMailer, SendError, SweepDeliveries,
    SweepResult, register_notifications,
};
pub use kind::{Channel, DeliveryStatus, NotificationKind};
pub use preferences::{ChannelChoice, Language, PreferenceProblem, Preferences, QuietHours};
pub use results::ResultNotices;
pub use templates::{Rendered, TemplateError, render};

/// Kind of the delivery job.
pub const DELIVER: &str = "notification.deliver";
/// Kind of the periodic outbox sweep.
pub const SWEEP: &str = "notification.sweep";
/// The portal URL notices link to when the host knows no public base URL.
pub const DEFAULT_PORTAL_URL: &str = "http://localhost:8080";
/// Parameter holding the portal path a notice links to.
pub const LINK: &str = "link";

/// An instant as notices show it: `2024-02-01 09:37 UTC` (minutes, UTC, the same in every
/// language; the raw RFC 3339 form with milliseconds reads badly in a message).
pub fn readable_instant(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// Something that happened, to be told to its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: NotificationKind,
    /// What the recipients may see about it (see [`NotificationKind::parameters`]).
    pub parameters: BTreeMap<String, String>,
    /// The portal path the notice links to (default: the kind's).
    pub link: Option<String>,
    /// When set, a recipient gets at most one notice with this key, ever (idempotent
    /// producers: the consent expiry job).
    pub dedup_key: Option<String>,
}

impl Event {
    /// An event of `kind` without parameters.
    pub fn new(kind: NotificationKind) -> Self {
        Event {
            kind,
            parameters: BTreeMap::new(),
            link: None,
            dedup_key: None,
        }
    }

    /// With parameter `name` = `value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.parameters.insert(name.to_owned(), value.into());
        self
    }

    /// Linking to the portal page `path`.
    pub fn link(mut self, path: impl Into<String>) -> Self {
        self.link = Some(path.into());
        self
    }

    /// Sent at most once per recipient and `key`.
    pub fn once(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }
}

/// Who gets a notice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    /// A user account.
    User(UserId),
    /// The account(s) linked to a `Patient` (by resource id); none: nobody is told.
    Patient(String),
}

/// A notice as stored (the inbox row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Order of creation (the paging cursor).
    pub seq: u64,
    /// Id.
    pub id: String,
    /// The recipient.
    pub user_id: UserId,
    /// What happened.
    pub kind: NotificationKind,
    /// What the recipient may see about it, and the `link`.
    pub parameters: BTreeMap<String, String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// When the recipient read it.
    pub read_at: Option<OffsetDateTime>,
}

impl Notification {
    /// The portal path the notice links to.
    pub fn link(&self) -> &str {
        self.parameters
            .get(LINK)
            .map_or(self.kind.default_link(), String::as_str)
    }
}

/// A notice to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Id.
    pub id: String,
    /// Recipient.
    pub user_id: UserId,
    /// Kind.
    pub kind: NotificationKind,
    /// Parameters (with the `link`).
    pub parameters: BTreeMap<String, String>,
    /// At most one notice per user and key.
    pub dedup_key: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Its deliveries.
    pub deliveries: Vec<NewDelivery>,
}

/// A delivery to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Id (the e-mail's `Message-ID` is derived from it).
    pub id: String,
    /// Channel.
    pub channel: Channel,
    /// `Sent` (in-app) or `Pending`.
    pub status: DeliveryStatus,
    /// Not attempted before (quiet hours).
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Id.
    pub id: String,
    /// The notice.
    pub notification_id: String,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt due.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The last failure (no PHI: transport messages).
    pub last_error: Option<String>,
    /// When it went out.
    pub sent_at: Option<OffsetDateTime>,
}

/// A change of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// New status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt due.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The failure, if any.
    pub last_error: Option<String>,
    /// When it went out.
    pub sent_at: Option<OffsetDateTime>,
}

/// Where notices, deliveries, preferences and seen clients are kept (the platform's SQL).
#[async_trait]
pub trait NotificationStore: Send + Sync + Debug {
    /// Stores the notices and their deliveries in one transaction; a notice whose user
    /// already has one with its `dedup_key` is skipped with its deliveries. Returns the notices
    /// stored.
    async fn insert(&self, notices: &[NewNotification]) -> FhirResult<Vec<NewNotification>>;
    /// A user's notices, newest first, older than `before` (a `seq`), at most `limit`.
    async fn list(
        &self,
        user: &UserId,
        limit: u32,
        before: Option<u64>,
    ) -> FhirResult<Vec<Notification>>;
    /// How many of a user's notices are unread.
    async fn unread(&self, user: &UserId) -> FhirResult<u64>;
    /// Marks the user's notice `id` read (kept if read already); `false`: the user has no
    /// such notice.
    async fn mark_read(&self, user: &UserId, id: &str, at: OffsetDateTime) -> FhirResult<bool>;
    /// Marks every unread notice of the user read; returns how many.
    async fn mark_all_read(&self, user: &UserId, at: OffsetDateTime) -> FhirResult<u64>;
    /// A user's saved preferences.
    async fn preferences(&self, user: &UserId) -> FhirResult<Option<Preferences>>;
    /// Saves a user's preferences.
    async fn set_preferences(
        &self,
        user: &UserId,
        preferences: &Preferences,
        at: OffsetDateTime,
    ) -> FhirResult<()>;
    /// A delivery and its notice.
    async fn delivery(&self, id: &str) -> FhirResult<Option<(Delivery, Notification)>>;
    /// Records an attempt's outcome.
    async fn update_delivery(&self, id: &str, update: &DeliveryUpdate) -> FhirResult<()>;
    /// Deliveries on `channel` not yet sent nor dead, due before `due`, oldest first.
    async fn due_deliveries(
        &self,
        channel: Channel,
        due: OffsetDateTime,
        limit: u32,
    ) -> FhirResult<Vec<Delivery>>;
    /// The accounts linked to the `Patient` `patient`.
    async fn users_of_patient(&self, patient: &str) -> FhirResult<Vec<UserId>>;
    /// Remembers that `user` signed in from the client `fingerprint`, keeping the `keep` most
    /// recent; says whether it was among them. When it is [`SeenClient::New`],
    /// `notice_if_new` is stored in the same transaction.
    async fn remember_client(
        &self,
        user: &UserId,
        fingerprint: &str,
        at: OffsetDateTime,
        keep: u32,
        notice_if_new: Option<&NewNotification>,
    ) -> FhirResult<SeenClient>;
}

/// Whether a sign-in came from a known client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenClient {
    /// The user's first remembered sign-in.
    First,
    /// Among the clients remembered.
    Known,
    /// Not among them.
    New,
}

/// Why a notification request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The caller has no notice with this id (another user's answers the same).
    #[error("notification not found")]
    NotFound,
    /// E-mail of mandatory security notices cannot be turned off.
    #[error("mandatory notifications cannot be turned off: {}", names(.0))]
    Mandatory(Vec<NotificationKind>),
    /// In-app notices cannot be turned off.
    #[error("in-app notifications cannot be turned off: {}", names(.0))]
    InApp(Vec<NotificationKind>),
    /// Invalid quiet hours.
    #[error("quiet hours need start and end in 00:00–23:59 and a timezone `UTC` or `±HH:MM`")]
    QuietHours,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] FhirError),
}

fn names(kinds: &[NotificationKind]) -> String {
    kinds
        .iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ServiceError for NotificationError {
    fn kind(&self) -> ErrorKind {
        match self {
            NotificationError::NotFound => ErrorKind::NotFound,
            NotificationError::Mandatory(_)
            | NotificationError::InApp(_)
            | NotificationError::QuietHours => ErrorKind::Invalid,
            NotificationError::Store(err) => err.kind(),
        }
    }
}

impl From<PreferenceProblem> for NotificationError {
    fn from(problem: PreferenceProblem) -> Self {
        match problem {
            PreferenceProblem::Mandatory(kinds) => NotificationError::Mandatory(kinds),
            PreferenceProblem::InApp(kinds) => NotificationError::InApp(kinds),
            PreferenceProblem::QuietHours => NotificationError::QuietHours,
        }
    }
}

/// A page of the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// Newest first.
    pub notifications: Vec<Notification>,
    /// Unread notices of the user (all pages).
    pub unread: u64,
    /// The `before` of the next page, if there may be one.
    pub next: Option<u64>,
}

/// The seam the libraries raise events through (consent, ingest, accounts, exports).
#[async_trait]
pub trait Notify: Send + Sync + Debug {
    /// Tells `recipients` about `event`. Failures are the caller's to log: a notice never
    /// undoes the change it reports.
    async fn notify(&self, recipients: &[Recipient], event: &Event) -> FhirResult<usize>;
}

/// Tells nobody (embedders and tests that do not look at notices).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoNotify;

#[async_trait]
impl Notify for NoNotify {
    async fn notify(&self, _recipients: &[Recipient], _event: &Event) -> FhirResult<usize> {
        Ok(0)
    }
}

/// Default inbox page.
pub const DEFAULT_PAGE: u32 = 20;
/// Largest inbox page.
pub const MAX_PAGE: u32 = 100;

/// The notifications service: notify, the inbox, preferences.
#[derive(Debug, Clone)]
pub struct Notifications {
    store: Arc<dyn NotificationStore>,
    jobs: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
}

impl Notifications {
    /// The service over `store`, enqueueing deliveries on `jobs`.
    pub fn new(
        store: Arc<dyn NotificationStore>,
        jobs: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
    ) -> Self {
        Notifications {
            store,
            jobs,
            clock,
            ids,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn users(&self, recipients: &[Recipient]) -> FhirResult<Vec<UserId>> {
        let mut users = Vec::new();
        for recipient in recipients {
            match recipient {
                Recipient::User(user) => users.push(user.clone()),
                Recipient::Patient(patient) => {
                    users.extend(self.store.users_of_patient(patient).await?);
                }
            }
        }
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// A user's preferences (the defaults when never saved).
    pub async fn preferences(&self, user: &UserId) -> Result<Preferences, NotificationError> {
        Ok(self.store.preferences(user).await?.unwrap_or_default())
    }

    /// Saves a user's preferences after checking them (mandatory kinds stay on).
    pub async fn set_preferences(
        &self,
        user: &UserId,
        preferences: Preferences,
    ) -> Result<Preferences, NotificationError> {
        preferences.validate()?;
        self.store
            .set_preferences(user, &preferences, self.clock.now())
            .await?;
        Ok(preferences)
    }

    /// A page of the user's inbox, newest first (`limit` 1–100, default 20).
    pub async fn inbox(
        &self,
        user: &UserId,
        limit: Option<u32>,
        before: Option<u64>,
    ) -> Result<Inbox, NotificationError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let notifications = self.store.list(user, limit, before).await?;
        let unread = self.store.unread(user).await?;
        let next = (notifications.len() as u32 == limit)
            .then(|| notifications.last().map(|last| last.seq))
            .flatten();
        Ok(Inbox {
            notifications,
            unread,
            next,
        })
    }

    /// Marks the user's notice `id` read; another user's (or no) notice: `NotFound`.
    pub async fn mark_read(&self, user: &UserId, id: &str) -> Result<(), NotificationError> {
        if self.store.mark_read(user, id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(NotificationError::NotFound)
        }
    }

    /// Marks every notice of the user read; returns how many were unread.
    pub async fn mark_all_read(&self, user: &UserId) -> Result<u64, NotificationError> {
        Ok(self.store.mark_all_read(user, self.clock.now()).await?)
    }

    /// Remembers a sign-in of `user` from `fingerprint` (a hash of the client address and
    /// user agent; the last 10 are kept) and, when it is new and the user had signed in
    /// before, tells them; `true` when told ([`NotificationKind::NewSignIn`] with the `address` and `device`).
    pub async fn signed_in(
        &self,
        user: &UserId,
        fingerprint: &str,
        address: &str,
        device: &str,
    ) -> FhirResult<bool> {
        let now = self.clock.now();
        let event = Event::new(NotificationKind::NewSignIn)
            .with("at", readable_instant(now))
            .with("address", address)
            .with("device", device);
        let notice = self
            .prepare(&[Recipient::User(user.clone())], &event)
            .await?;
        let seen = self
            .store
            .remember_client(user, fingerprint, now, 10, notice.first())
            .await?;
        if seen == SeenClient::New {
            self.dispatch(&notice).await;
        }
        Ok(seen == SeenClient::New)
    }

    fn notice(&self, user: UserId, event: &Event, preferences: &Preferences) -> NewNotification {
        let now = self.clock.now();
        let mut parameters = event.parameters.clone();
        parameters.insert(
            LINK.to_owned(),
            event
                .link
                .clone()
                .unwrap_or_else(|| event.kind.default_link().to_owned()),
        );
        let mut deliveries = vec![NewDelivery {
            id: self.ids.new_id(),
            channel: Channel::InApp,
            status: DeliveryStatus::Sent,
            next_attempt_at: None,
        }];
        if preferences.choice(event.kind).email {
            let due = match (&preferences.quiet_hours, event.kind.is_mandatory()) {
                (Some(quiet), false) => quiet.release(now),
                _ => now,
            };
            deliveries.push(NewDelivery {
                id: self.ids.new_id(),
                channel: Channel::Email,
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(due),
            });
        }
        NewNotification {
            id: self.ids.new_id(),
            user_id: user,
            kind: event.kind,
            parameters,
            dedup_key: event.dedup_key.clone(),
            created_at: now,
            deliveries,
        }
    }

    /// Enqueues the `notification.deliver` job of an e-mail delivery due at `due` (at most
    /// one live job per delivery).
    pub async fn enqueue_delivery(
        &self,
        delivery: &str,
        due: Option<OffsetDateTime>,
    ) -> FhirResult<bool> {
        let mut job = NewJob::of::<DeliverNotification>(&DeliverPayload {
            delivery: delivery.to_owned(),
        })?;
        job.max_attempts = MAX_ATTEMPTS;
        job.run_at = due;
        let job = self
            .jobs
            .enqueue_unique(job, &format!("{DELIVER}:{delivery}"))
            .await?;
        Ok(job.is_some())
    }
}

impl Notifications {
    /// The notices `event` makes for `recipients` (their preferences applied), not yet
    /// stored: the caller stores them in the transaction of the change they report
    /// ([`AccountStore::update_user_telling`](crate::AccountStore::update_user_telling)) and
    /// then [`Notifications::dispatch`]es what was stored.
    pub async fn prepare(
        &self,
        recipients: &[Recipient],
        event: &Event,
    ) -> FhirResult<Vec<NewNotification>> {
        let users = self.users(recipients).await?;
        let mut notices = Vec::with_capacity(users.len());
        for user in users {
            let preferences = self.store.preferences(&user).await?.unwrap_or_default();
            notices.push(self.notice(user, event, &preferences));
        }
        Ok(notices)
    }

    /// Enqueues the e-mail deliveries of stored notices; one that cannot be enqueued now is
    /// left to `notification.sweep` (the delivery row is the outbox).
    pub async fn dispatch(&self, stored: &[NewNotification]) {
        for notice in stored {
            for delivery in &notice.deliveries {
                if delivery.channel != Channel::Email {
                    continue;
                }
                if let Err(err) = self
                    .enqueue_delivery(&delivery.id, delivery.next_attempt_at)
                    .await
                {
                    // The sweep enqueues it later: the delivery row is the outbox.
                    tracing::warn!(error = %err, delivery = %delivery.id, "delivery not enqueued");
                }
            }
        }
    }
}

#[async_trait]
impl Notify for Notifications {
    async fn notify(&self, recipients: &[Recipient], event: &Event) -> FhirResult<usize> {
        let notices = self.prepare(recipients, event).await?;
        let stored = self.store.insert(&notices).await?;
        self.dispatch(&stored).await;
        Ok(stored.len())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn instants_read_as_minutes_in_utc() {
        let at = datetime!(2024-02-01 10:37:25.273 +01:00);
        assert_eq!(super::readable_instant(at), "2024-02-01 09:37 UTC");
    }
}
