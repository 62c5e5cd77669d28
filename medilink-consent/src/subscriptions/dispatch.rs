//! The dispatcher: one pass ([`Subscriptions::dispatch`]) numbers, for every live
//! subscription, the versions of its topic's type written after its position that pass its
//! filters and that its owner may read then, and sends its rest-hook notifications due. Every
//! server runs passes (the server's loop, `medilink-server`'s `serve.rs`), and any number may
//! run at once on one database: numbering commits only from the position it read, delivery
//! only under the subscription's lease. Failures are retried with an exponential backoff
//! (1 s doubling to [`MAX_BACKOFF`]); the subscription's status is `error` until a delivery
//! succeeds again.
//!
//! A rest-hook starts `requested`: its first POST is a `handshake` notification (no event),
//! and its events (numbered meanwhile) are sent only once the endpoint accepted it, when it
//! is `active`. A failed handshake shows the status `error` and is retried with the same
//! backoff; after [`MAX_HANDSHAKES`] failures the subscription is `off` (its owner turns it
//! back on with an update, which shakes hands again). With `heartbeatPeriod`, a `heartbeat`
//! notification goes out when nothing else was sent for that long: the time of the last
//! POST is a key of the shared key-value store that expires after the period, and a
//! heartbeat is sent under the delivery lease after reading that key again, so two servers
//! do not both send it. A failed heartbeat is logged; it changes no state (the next events
//! are the test of the endpoint).
//!
//! A rest-hook notification carries up to the subscription's `maxCount` events
//! (`backport-max-count`, 1 without it; one audit record per notification). A subscription
//! whose `end` has come is turned `off` by the next pass.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::{
    FhirError, FhirResult, RequestContext, ResourceId, ResourceStore, ResourceType, StoredResource,
    VersionId,
};
use medilink_platform::subscriptions::{NewEvent, SubscriptionState, SubscriptionStatus};
use medilink_platform::{Caller, CallerContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::notification::{self, NotificationType, StatusPart};
use super::spec::{Channel, Content, SubscriptionSpec};
use super::topics::matches;
use super::{Subscriptions, parse_json};
use crate::ConsentGuard;

/// Feed versions read per page.
const PAGE: usize = 200;
/// Most pages one subscription matches in one pass.
const PAGES_PER_PASS: usize = 10;
/// Most events one subscription's rest-hook notifications carry in one pass.
const SENDS_PER_PASS: usize = 50;
/// How long a delivery lease lasts (renewed before each notification; above the longest
/// rest-hook timeout).
const LEASE: Duration = Duration::from_secs(120);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Failed handshakes after which a rest-hook subscription is `off`.
pub const MAX_HANDSHAKES: u32 = 8;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchReport {
    /// Subscriptions looked at.
    pub subscriptions: u64,
    /// Events numbered.
    pub events: u64,
    /// Rest-hook notifications sent.
    pub sent: u64,
    /// Rest-hook attempts that failed (handshakes and heartbeats included).
    pub failed: u64,
    /// Handshakes accepted.
    #[serde(default)]
    pub handshakes: u64,
    /// Heartbeats sent.
    #[serde(default)]
    pub heartbeats: u64,
}

/// The wait after `attempts` consecutive failures.
pub fn backoff(attempts: u32) -> Duration {
    let seconds = 1u64 << attempts.saturating_sub(1).min(16);
    Duration::from_secs(seconds).min(MAX_BACKOFF)
}

impl Subscriptions {
    /// One pass over every live subscription (see the module documentation). A failure of
    /// one subscription is logged (by id) and does not stop the others.
    pub async fn dispatch(&self) -> FhirResult<DispatchReport> {
        let mut report = DispatchReport::default();
        let guard = self.guard();
        for state in self.states.live().await? {
            report.subscriptions += 1;
            if let Err(err) = self.dispatch_one(&guard, &state, &mut report).await {
                tracing::warn!(subscription = %state.id, error = %err, "subscription dispatch failed");
            }
        }
        Ok(report)
    }

    async fn dispatch_one(
        &self,
        guard: &ConsentGuard<Arc<dyn ResourceStore>>,
        state: &SubscriptionState,
        report: &mut DispatchReport,
    ) -> FhirResult<()> {
        let system = RequestContext::system();
        let stored = match self
            .store
            .read(
                &system,
                ResourceType::Subscription,
                &ResourceId::new(&state.id)?,
            )
            .await
        {
            Ok(stored) => stored,
            Err(FhirError::NotFound { .. } | FhirError::Gone { .. }) => return Ok(()),
            Err(err) => return Err(err),
        };
        let spec = SubscriptionSpec::parse(&parse_json(&stored)?)?;
        if spec.end.is_some_and(|end| end <= self.clock.now()) {
            // Its end came: off (nothing more is numbered or sent).
            self.states
                .change(
                    &state.id,
                    &state.topic,
                    &state.channel,
                    SubscriptionStatus::Off,
                )
                .await?;
            return Ok(());
        }
        let Some(caller) = self.caller_of(state).await? else {
            return Ok(());
        };
        report.events += self.number(guard, state, &spec, &caller).await?;
        if !matches!(spec.channel, Channel::RestHook { .. }) {
            return Ok(());
        }
        let Some(mut state) = self.states.get(&state.id).await? else {
            return Ok(());
        };
        if state.status == SubscriptionStatus::Requested {
            if !self.handshake(&state, &spec, report).await? {
                return Ok(());
            }
            let Some(fresh) = self.states.get(&state.id).await? else {
                return Ok(());
            };
            state = fresh;
        }
        self.send(guard, &state, &spec, &caller, report).await?;
        self.heartbeat(&state.id, &spec, report).await
    }

    /// Sends `state`'s handshake under its lease (see the module documentation); whether
    /// the subscription is past its handshake now.
    async fn handshake(
        &self,
        state: &SubscriptionState,
        spec: &SubscriptionSpec,
        report: &mut DispatchReport,
    ) -> FhirResult<bool> {
        let Channel::RestHook {
            endpoint,
            headers,
            timeout,
        } = &spec.channel
        else {
            return Ok(false);
        };
        let now = self.clock.now();
        if state.next_attempt_at.is_some_and(|at| at > now) {
            return Ok(false);
        }
        let lease = time::Duration::try_from(LEASE).unwrap_or_default();
        if !self
            .states
            .lease(&state.id, self.holder(), now, now + lease)
            .await?
        {
            return Ok(false);
        }
        let Some(fresh) = self.states.get(&state.id).await? else {
            return Ok(false);
        };
        let shaken = if fresh.status != SubscriptionStatus::Requested {
            // Another server shook hands since this pass's read (or the owner turned it off).
            matches!(
                fresh.status,
                SubscriptionStatus::Active | SubscriptionStatus::Error
            )
        } else if fresh.next_attempt_at.is_some_and(|at| at > now) {
            false
        } else {
            let status = StatusPart {
                status: SubscriptionStatus::Requested.as_str(),
                error: None,
                ..Self::status_part(&fresh)
            };
            let bundle = notification::notification(
                &self.ids.new_id(),
                now,
                &status,
                NotificationType::Handshake,
                &[],
                Content::Empty,
            );
            match self
                .sender
                .post(endpoint, headers, bundle.to_string(), *timeout)
                .await
            {
                Ok(()) => {
                    let activated = self.states.activated(&fresh.id, self.holder()).await?;
                    if activated {
                        report.handshakes += 1;
                        self.sent_now(&fresh.id, spec).await?;
                    }
                    activated
                }
                Err(reason) => {
                    let attempts = fresh.attempts.saturating_add(1);
                    let wait = time::Duration::try_from(backoff(attempts)).unwrap_or_default();
                    let status = if attempts >= MAX_HANDSHAKES {
                        SubscriptionStatus::Off
                    } else {
                        SubscriptionStatus::Requested
                    };
                    self.states
                        .failed(
                            &fresh.id,
                            self.holder(),
                            attempts,
                            self.clock.now() + wait,
                            &format!("handshake: {reason}"),
                            status,
                        )
                        .await?;
                    report.failed += 1;
                    false
                }
            }
        };
        self.states.release(&state.id, self.holder()).await?;
        Ok(shaken)
    }

    /// Sends subscription `id`'s heartbeat when one is due (see the module documentation).
    async fn heartbeat(
        &self,
        id: &str,
        spec: &SubscriptionSpec,
        report: &mut DispatchReport,
    ) -> FhirResult<()> {
        let (
            Some(period),
            Channel::RestHook {
                endpoint,
                headers,
                timeout,
            },
        ) = (spec.heartbeat, &spec.channel)
        else {
            return Ok(());
        };
        let key = heartbeat_key(id);
        if self.kv.get(&key).await?.is_some() {
            return Ok(());
        }
        let now = self.clock.now();
        let lease = time::Duration::try_from(LEASE).unwrap_or_default();
        if !self
            .states
            .lease(id, self.holder(), now, now + lease)
            .await?
        {
            return Ok(());
        }
        let sent = async {
            if self.kv.get(&key).await?.is_some() {
                return Ok(());
            }
            let Some(state) = self.states.get(id).await? else {
                return Ok(());
            };
            // Only an active subscription with nothing waiting beats.
            if state.status != SubscriptionStatus::Active || state.delivered < state.events {
                return Ok(());
            }
            let bundle = notification::notification(
                &self.ids.new_id(),
                now,
                &Self::status_part(&state),
                NotificationType::Heartbeat,
                &[],
                Content::Empty,
            );
            match self
                .sender
                .post(endpoint, headers, bundle.to_string(), *timeout)
                .await
            {
                Ok(()) => report.heartbeats += 1,
                Err(reason) => {
                    tracing::warn!(subscription = %id, error = %reason, "subscription heartbeat failed");
                    report.failed += 1;
                }
            }
            self.kv.set(&key, b"1", period).await
        }
        .await;
        self.states.release(id, self.holder()).await?;
        sent
    }

    /// Records that subscription `id` sent something now: its next heartbeat is one period
    /// away.
    async fn sent_now(&self, id: &str, spec: &SubscriptionSpec) -> FhirResult<()> {
        match spec.heartbeat {
            Some(period) => self.kv.set(&heartbeat_key(id), b"1", period).await,
            None => Ok(()),
        }
    }

    /// The JSON of the version `stored` records, or of the one before a deletion.
    async fn matched_json(&self, stored: &StoredResource) -> FhirResult<Option<Value>> {
        if stored.json.is_some() {
            return parse_json(stored).map(Some);
        }
        let Some(before) = stored.version_id.get().checked_sub(1).filter(|v| *v > 0) else {
            return Ok(None);
        };
        match self
            .store
            .vread(
                &RequestContext::system(),
                stored.resource_type,
                &stored.id,
                VersionId(before),
            )
            .await
        {
            Ok(previous) => parse_json(&previous).map(Some),
            Err(FhirError::Gone { .. } | FhirError::VersionNotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Numbers the matching versions after `state`'s position; the events numbered.
    async fn number(
        &self,
        guard: &ConsentGuard<Arc<dyn ResourceStore>>,
        state: &SubscriptionState,
        spec: &SubscriptionSpec,
        caller: &Caller,
    ) -> FhirResult<u64> {
        let system = RequestContext::system();
        let decide =
            RequestContext::for_caller(caller.clone(), format!("subscription/{}", state.id));
        let mut position = state.position;
        let mut numbered = 0;
        for _ in 0..PAGES_PER_PASS {
            let page = self
                .store
                .changes_of_type_since(&system, spec.topic.resource_type, position, PAGE)
                .await?;
            let Some(last) = page.last().map(|stored| stored.seq) else {
                break;
            };
            let mut events = Vec::new();
            for stored in &page {
                let Some(json) = self.matched_json(stored).await? else {
                    continue;
                };
                if !matches(spec.topic, &spec.filters, &json) {
                    continue;
                }
                let decided = if stored.is_deleted() {
                    VersionId(stored.version_id.get() - 1)
                } else {
                    stored.version_id
                };
                if guard
                    .vread(&decide, stored.resource_type, &stored.id, decided)
                    .await
                    .is_err()
                {
                    continue;
                }
                events.push(NewEvent {
                    seq: stored.seq,
                    resource_type: stored.resource_type.as_str().to_owned(),
                    resource_id: stored.id.as_str().to_owned(),
                    version: stored.version_id.get(),
                    at: stored.last_updated,
                });
            }
            if !self
                .states
                .append(&state.id, position, last, &events)
                .await?
            {
                // Another server numbered these versions first.
                return Ok(numbered);
            }
            numbered += events.len() as u64;
            position = last;
            if page.len() < PAGE {
                break;
            }
        }
        Ok(numbered)
    }

    /// Sends `state`'s rest-hook notifications due, in order, under its lease.
    async fn send(
        &self,
        guard: &ConsentGuard<Arc<dyn ResourceStore>>,
        state: &SubscriptionState,
        spec: &SubscriptionSpec,
        caller: &Caller,
        report: &mut DispatchReport,
    ) -> FhirResult<()> {
        let Channel::RestHook {
            endpoint,
            headers,
            timeout,
        } = &spec.channel
        else {
            return Ok(());
        };
        let now = self.clock.now();
        if state.events <= state.delivered || state.next_attempt_at.is_some_and(|at| at > now) {
            return Ok(());
        }
        let lease = time::Duration::try_from(LEASE).unwrap_or_default();
        let events = self
            .states
            .events(&state.id, state.delivered + 1, state.events, SENDS_PER_PASS)
            .await?;
        let mut index = 0;
        while index < events.len() {
            let now = self.clock.now();
            if !self
                .states
                .lease(&state.id, self.holder(), now, now + lease)
                .await?
            {
                return Ok(());
            }
            // Read again under the lease: another server may have sent these events, or
            // failed and scheduled a retry, between this pass's read and the lease.
            let Some(fresh) = self.states.get(&state.id).await? else {
                break;
            };
            if fresh.next_attempt_at.is_some_and(|at| at > now) {
                break;
            }
            // One notification: the next events not delivered, at most `maxCount` of them
            // that the owner may know now (the others are skipped, never sent).
            let ctx = Self::owner_context(caller.clone(), &state.id, fresh.delivered + 1);
            let mut parts = Vec::new();
            let mut last = fresh.delivered;
            while index < events.len() && parts.len() < spec.max_count {
                let event = &events[index];
                index += 1;
                if event.number <= fresh.delivered {
                    continue;
                }
                last = event.number;
                if let Some(part) = self.decide(guard, &ctx, event, spec.content).await? {
                    parts.push(part);
                }
            }
            if last <= fresh.delivered {
                continue;
            }
            if parts.is_empty() {
                self.states
                    .delivered(&state.id, self.holder(), last)
                    .await?;
                continue;
            }
            let status = StatusPart {
                id: &state.id,
                base: &state.base,
                topic: &state.topic,
                status: SubscriptionStatus::Active.as_str(),
                events: last,
                error: None,
            };
            let bundle = notification::notification(
                &self.ids.new_id(),
                now,
                &status,
                NotificationType::EventNotification,
                &parts,
                spec.content,
            );
            match self
                .sender
                .post(endpoint, headers, bundle.to_string(), *timeout)
                .await
            {
                Ok(()) => {
                    self.states
                        .delivered(&state.id, self.holder(), last)
                        .await?;
                    self.audit_sent(&ctx).await?;
                    self.sent_now(&state.id, spec).await?;
                    report.sent += 1;
                }
                Err(reason) => {
                    let attempts = fresh.attempts.saturating_add(1);
                    let wait = time::Duration::try_from(backoff(attempts)).unwrap_or_default();
                    self.states
                        .failed(
                            &state.id,
                            self.holder(),
                            attempts,
                            self.clock.now() + wait,
                            &reason,
                            SubscriptionStatus::Error,
                        )
                        .await?;
                    report.failed += 1;
                    break;
                }
            }
        }
        self.states.release(&state.id, self.holder()).await
    }
}

/// The key-value key that lives for a heartbeat period after subscription `id` sent
/// something.
fn heartbeat_key(id: &str) -> String {
    format!("subscription:sent:{id}")
}

impl Subscriptions {
    /// Runs a pass every `every` until `stop` completes (a host's background task).
    pub async fn run(self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(err) = self.dispatch().await {
                tracing::warn!(error = %err, "subscription dispatch pass failed");
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
