//! The delivery state of FHIR Subscriptions (issue #21) beside the `Subscription` resources:
//! [`SubscriptionStore`] keeps, per subscription, its owner (whose consent decides every
//! notification), the change-feed position matched up to, the events numbered from 1 in feed
//! order (the Backport IG's "events since subscription start"), the rest-hook delivery cursor
//! with its retry state, and a delivery lease so that one server at a time sends a
//! subscription's events (in order; at least once across crashes). The SQL implementation is
//! `sql/subscriptions.rs` (migration `0013_subscriptions`). What an event is and who may see it
//! is decided above this crate (`medilink-consent`'s `subscriptions`).

use async_trait::async_trait;
use medilink_fhir::FhirResult;
use time::OffsetDateTime;

use crate::UserId;
use crate::smart::scopes::AppAccess;

/// The delivery status of a subscription (the Backport IG's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// A rest-hook whose handshake has not succeeded yet: its events are numbered, none is
    /// sent before the handshake (failed attempts are retried with backoff).
    Requested,
    /// Matching and delivering.
    Active,
    /// Delivery is failing; retried with backoff.
    Error,
    /// Stopped by its owner (or its owner's account went away): nothing is matched or sent.
    Off,
}

impl SubscriptionStatus {
    /// The stored and FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Requested => "requested",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Error => "error",
            SubscriptionStatus::Off => "off",
        }
    }

    /// The status a code names.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "requested" => Some(SubscriptionStatus::Requested),
            "active" => Some(SubscriptionStatus::Active),
            "error" => Some(SubscriptionStatus::Error),
            "off" => Some(SubscriptionStatus::Off),
            _ => None,
        }
    }
}

/// A new subscription's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// The `Subscription` resource's id.
    pub id: String,
    /// The subscriber.
    pub owner: UserId,
    /// The topic's canonical URL.
    pub topic: String,
    /// The channel type (`rest-hook`, `websocket`).
    pub channel: String,
    /// The FHIR base URL it was created at (`https://host/fhir/R4`): its notifications name
    /// resources there.
    pub base: String,
    /// Its status.
    pub status: SubscriptionStatus,
    /// The feed position events start after (the subscription's own write).
    pub position: u64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// The SMART app it was created through (issue #17): its notifications are decided with
    /// the app's scopes. `None`: the owner's own session.
    pub app: Option<AppAccess>,
}

/// A subscription's delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The `Subscription` resource's id.
    pub id: String,
    /// The subscriber.
    pub owner: UserId,
    /// The topic's canonical URL.
    pub topic: String,
    /// The channel type.
    pub channel: String,
    /// The FHIR base URL it was created at.
    pub base: String,
    /// Its status.
    pub status: SubscriptionStatus,
    /// The feed position matched up to.
    pub position: u64,
    /// Events numbered so far (the last event's number).
    pub events: u64,
    /// The last event number delivered on a rest-hook.
    pub delivered: u64,
    /// Consecutive failed delivery attempts.
    pub attempts: u32,
    /// When delivery is retried (after a failure).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The last delivery error (no patient data: a status code or a transport error kind).
    pub last_error: Option<String>,
    /// The SMART app it was created through, if any (see [`NewSubscription::app`]).
    pub app: Option<AppAccess>,
}

/// An event to number: one version of a resource that matched the subscription's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The version's feed position.
    pub seq: u64,
    /// The resource type.
    pub resource_type: String,
    /// The resource id.
    pub resource_id: String,
    /// The version.
    pub version: u64,
    /// When the version was written.
    pub at: OffsetDateTime,
}

/// A numbered event of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionEvent {
    /// Its number (from 1, per subscription, in feed order).
    pub number: u64,
    /// What happened.
    pub event: NewEvent,
}

/// The subscriptions' delivery state (see the module documentation).
#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug {
    /// Stores a new subscription's row.
    async fn create(&self, subscription: &NewSubscription) -> FhirResult<()>;

    /// Changes a subscription's topic, channel and status (an update of its resource); a
    /// changed topic or a status back to active keeps the numbering.
    async fn change(
        &self,
        id: &str,
        topic: &str,
        channel: &str,
        status: SubscriptionStatus,
    ) -> FhirResult<bool>;

    /// Removes a subscription and its events.
    async fn remove(&self, id: &str) -> FhirResult<bool>;

    /// One subscription's state.
    async fn get(&self, id: &str) -> FhirResult<Option<SubscriptionState>>;

    /// The states of those of the subscriptions `ids` that exist, in any order: what a
    /// websocket bound to several subscriptions reads on each poll. The default reads them one
    /// by one; a store that can answers in one round trip.
    async fn get_many(&self, ids: &[&str]) -> FhirResult<Vec<SubscriptionState>> {
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(state) = self.get(id).await? {
                states.push(state);
            }
        }
        Ok(states)
    }

    /// `owner`'s subscriptions.
    async fn owned(&self, owner: &UserId) -> FhirResult<Vec<SubscriptionState>>;

    /// Every subscription not `off` (what the dispatcher works).
    async fn live(&self) -> FhirResult<Vec<SubscriptionState>>;

    /// Numbers `events` (in order) after the subscription's last and moves its position from
    /// `from` to `to`, in one transaction; `false` (nothing written) when the position is no
    /// longer `from` (another server matched the same versions first).
    async fn append(&self, id: &str, from: u64, to: u64, events: &[NewEvent]) -> FhirResult<bool>;

    /// Events numbered `since..=until` (inclusive), at most `limit`, in order.
    async fn events(
        &self,
        id: &str,
        since: u64,
        until: u64,
        limit: usize,
    ) -> FhirResult<Vec<SubscriptionEvent>>;

    /// Takes (or renews) the delivery lease of a subscription for `holder` until `until`;
    /// `false` when another holder's lease runs past `now`.
    async fn lease(
        &self,
        id: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> FhirResult<bool>;

    /// Gives the lease back.
    async fn release(&self, id: &str, holder: &str) -> FhirResult<()>;

    /// Records event `number` delivered by `holder` (clears the retry state; an `error`
    /// subscription is `active` again).
    async fn delivered(&self, id: &str, holder: &str, number: u64) -> FhirResult<()>;

    /// Records the handshake of a `requested` subscription accepted by its endpoint, sent by
    /// `holder`: it is `active` (the retry state cleared); `false` when it was not
    /// `requested` or `holder` does not hold its lease.
    async fn activated(&self, id: &str, holder: &str) -> FhirResult<bool>;

    /// Records a failed attempt by `holder`: the attempts so far, when to retry, the error and
    /// the status.
    async fn failed(
        &self,
        id: &str,
        holder: &str,
        attempts: u32,
        retry_at: OffsetDateTime,
        error: &str,
        status: SubscriptionStatus,
    ) -> FhirResult<()>;
}
