//! The dispatcher: one pass ([`Subscriptions::dispatch`]) numbers, for every live
//! subscription, the versions of its topic's type written after its position that pass its
//! filters and that its owner may read then, and sends its rest-hook notifications due. Every
//! server runs passes (the server's loop, `medilink-server`'s `serve.rs`), and any number may
//! run at once on one database: numbering commits only from the position it read, delivery
//! only under the subscription's lease. Failures are retried with an exponential backoff
//! (1 s doubling to [`MAX_BACKOFF`]); the subscription's status is `error` until a delivery
//! succeeds again.

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
use super::spec::{Channel, SubscriptionSpec};
use super::topics::matches;
use super::{Subscriptions, parse_json};
use crate::ConsentGuard;

/// Feed versions read per page.
const PAGE: usize = 200;
/// Most pages one subscription matches in one pass.
const PAGES_PER_PASS: usize = 10;
/// Most rest-hook notifications one subscription sends in one pass.
const SENDS_PER_PASS: usize = 50;
/// How long a delivery lease lasts (renewed before each notification; above the longest
/// rest-hook timeout).
const LEASE: Duration = Duration::from_secs(120);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchReport {
    /// Subscriptions looked at.
    pub subscriptions: u64,
    /// Events numbered.
    pub events: u64,
    /// Rest-hook notifications sent.
    pub sent: u64,
    /// Rest-hook attempts that failed.
    pub failed: u64,
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
        let Some(caller) = self.caller_of(state).await? else {
            return Ok(());
        };
        report.events += self.number(guard, state, &spec, &caller).await?;
        if let Channel::RestHook { .. } = spec.channel
            && let Some(state) = self.states.get(&state.id).await?
        {
            self.send(guard, &state, &spec, &caller, report).await?;
        }
        Ok(())
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
        for event in &events {
            let now = self.clock.now();
            if !self
                .states
                .lease(&state.id, self.holder(), now, now + lease)
                .await?
            {
                return Ok(());
            }
            // Read again under the lease: another server may have sent this event, or failed
            // and scheduled a retry, between this pass's read and the lease.
            let Some(fresh) = self.states.get(&state.id).await? else {
                break;
            };
            if fresh.next_attempt_at.is_some_and(|at| at > now) {
                break;
            }
            if fresh.delivered >= event.number {
                continue;
            }
            let ctx = Self::owner_context(caller.clone(), &state.id, event.number);
            let Some(part) = self.decide(guard, &ctx, event, spec.content).await? else {
                // Not the owner's to know now: skipped, never sent.
                self.states
                    .delivered(&state.id, self.holder(), event.number)
                    .await?;
                continue;
            };
            let status = StatusPart {
                id: &state.id,
                base: &state.base,
                topic: &state.topic,
                status: SubscriptionStatus::Active.as_str(),
                events: event.number,
                error: None,
            };
            let bundle = notification::notification(
                &self.ids.new_id(),
                now,
                &status,
                NotificationType::EventNotification,
                &[part],
                spec.content,
            );
            match self
                .sender
                .post(endpoint, headers, bundle.to_string(), *timeout)
                .await
            {
                Ok(()) => {
                    self.states
                        .delivered(&state.id, self.holder(), event.number)
                        .await?;
                    self.audit_sent(&ctx).await?;
                    report.sent += 1;
                }
                Err(reason) => {
                    let attempts = state.attempts.saturating_add(1);
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
