//! FHIR Subscriptions (issue #21): topic-based subscriptions of the Subscriptions R5 Backport
//! IG 1.1.0 on R4, delivered from the change feed, within consent.
//!
//! - [`topics`]: the topics the server ships (canonical URLs) with their filters;
//! - [`spec`]: a `Subscription` resource in the IG's profile, read and checked;
//! - [`notification`]: the notification, `$status` and `$events` Bundles;
//! - [`hook`]: the rest-hook POST seam;
//! - [`dispatch`]: the dispatcher that numbers events from the feed and sends rest-hooks;
//! - [`Subscriptions`] (here): the use cases behind `/fhir/R4/Subscription` — create, read,
//!   update, delete and list the caller's own subscriptions, `$status`, `$events`,
//!   `$get-ws-binding-token` and the websocket binding.
//!
//! **Within consent, always.** A `Subscription` is its owner's: nobody else reads it (the
//! access rule refuses the type to everyone but admins on the generic paths, and this service
//! answers only the owner). Every notification is decided for the owner at the moment it is
//! sent, through a [`ConsentGuard`] with grants read afresh: an event is numbered only when
//! the owner may read its focus then, and sent (rest-hook, websocket, `$events`) only when the
//! owner may read it now, so a revoked consent stops notifications at once and a
//! `full-resource` payload carries only what the owner may read. Each notification sent is an
//! audit record (`subscription-notification`) naming what it disclosed, like a read.
//!
//! **Across servers.** The events are rows numbered per subscription in feed order
//! (`SubscriptionStore::append`, which only one server wins for a given position); a
//! rest-hook is sent by the holder of the subscription's delivery lease, event after event,
//! its cursor moved after each `2xx`: in order, once per subscription, at least once across
//! crashes. A websocket connection sends the events numbered after it bound, from whichever
//! server holds it; `$events` replays any range.

pub mod dispatch;
pub mod hook;
pub mod notification;
pub mod spec;
pub mod topics;

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::kv::{KeyValue, LocalKeyValue};
use medilink_fhir::{
    Accessed, Clock, FhirError, FhirResult, IdGen, RequestContext, ResourceId, ResourceStore,
    ResourceType, StoredResource, VersionId,
};
use medilink_platform::smart::{ClientStatus, SmartStore};
use medilink_platform::subscriptions::{
    NewSubscription, SubscriptionEvent, SubscriptionState, SubscriptionStatus, SubscriptionStore,
};
use medilink_platform::{
    AccountStatus, AccountStore, Action, AuditEntry, AuditLog, Caller, CallerContext, UserId,
};
use serde_json::{Value, json};

use crate::mail::LogMailer;
use crate::{ConsentGuard, ConsentService};
use hook::HookSender;
use notification::{EventPart, NotificationType, StatusPart};
use spec::{Channel, Content, SubscriptionSpec};

/// How long a websocket binding token is valid.
pub const WS_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Most events one `$events` answer carries.
pub const MAX_EVENTS: usize = 100;

/// The subscriptions service (see the module documentation).
#[derive(Debug, Clone)]
pub struct Subscriptions {
    pub(crate) store: Arc<dyn ResourceStore>,
    pub(crate) states: Arc<dyn SubscriptionStore>,
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) audit: Option<Arc<dyn AuditLog>>,
    pub(crate) kv: Arc<dyn KeyValue>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGen>,
    pub(crate) sender: Arc<dyn HookSender>,
    /// The SMART clients and the users' remembered decisions: a subscription made through an
    /// app is decided for nobody once the app is suspended or its decision forgotten.
    pub(crate) apps: Option<Arc<dyn SmartStore>>,
    /// This instance's name as a delivery lease holder, drawn from `ids` at its first use
    /// (shared by the clones of this instance), so a service that never dispatches takes no
    /// id from the sequence that numbers resources.
    holder: Arc<std::sync::OnceLock<String>>,
}

/// A subscription as its owner's current version, with its delivery state.
#[derive(Debug, Clone)]
pub struct Owned {
    /// The stored `Subscription` (its `status` the delivery state's).
    pub stored: StoredResource,
    /// Its delivery state.
    pub state: SubscriptionState,
    /// The checked subscription.
    pub spec: SubscriptionSpec,
}

/// A websocket bound to a subscription with a token.
#[derive(Debug, Clone)]
pub struct WsBinding {
    /// The subscription.
    pub id: String,
    /// Its owner.
    pub owner: UserId,
    /// The last event number sent on this socket.
    pub cursor: u64,
    /// The heartbeat period, when asked for.
    pub heartbeat: Option<Duration>,
    /// Whether the subscription was made through a SMART app (it then carries FHIR
    /// notifications only: the server's other events on the socket are the owner's own).
    pub through_app: bool,
}

fn not_found(id: &str) -> FhirError {
    match ResourceId::new(id) {
        Ok(id) => FhirError::NotFound {
            resource_type: ResourceType::Subscription,
            id,
        },
        Err(err) => err,
    }
}

fn parse_json(stored: &StoredResource) -> FhirResult<Value> {
    let text = stored.json.as_deref().ok_or_else(|| FhirError::Gone {
        resource_type: stored.resource_type,
        id: stored.id.clone(),
        version: stored.version_id,
    })?;
    serde_json::from_str(text).map_err(|err| FhirError::Internal {
        source: Box::new(err),
    })
}

impl Subscriptions {
    /// This instance's name as a delivery lease holder.
    pub(crate) fn holder(&self) -> &str {
        self.holder.get_or_init(|| self.ids.new_id())
    }

    /// The service over the platform's (unguarded) `store`, the delivery `states`, the
    /// `accounts` that say who an owner is now, the `kv` store of websocket tokens and the
    /// rest-hook `sender`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the service's seams, each needed"
    )]
    pub fn new(
        store: Arc<dyn ResourceStore>,
        states: Arc<dyn SubscriptionStore>,
        accounts: Arc<dyn AccountStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        sender: Arc<dyn HookSender>,
    ) -> Subscriptions {
        let holder = Arc::default();
        Subscriptions {
            store,
            states,
            accounts,
            audit: None,
            kv,
            clock,
            ids,
            sender,
            apps: None,
            holder,
        }
    }

    /// Also stop deciding a subscription made through a SMART app for its owner once the app
    /// is suspended or the owner revoked it (Settings → Connected apps): its notifications stop
    /// with the app's access, as its tokens do.
    pub fn with_apps(mut self, apps: Arc<dyn SmartStore>) -> Self {
        self.apps = Some(apps);
        self
    }

    /// Also append one audit record per notification sent.
    pub fn with_audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The store guarded with grants read afresh (no cache shared with requests: a revocation
    /// counts at once).
    pub(crate) fn guard(&self) -> ConsentGuard<Arc<dyn ResourceStore>> {
        let consents = ConsentService::new(
            self.store.clone(),
            Arc::new(LocalKeyValue::new(self.clock.clone())),
            self.clock.clone(),
            Arc::new(LogMailer),
        );
        ConsentGuard::new(self.store.clone(), Arc::new(consents))
    }

    /// The platform's context for `ctx`'s request (the Subscription resources are written and
    /// read as the platform, once the owner is checked).
    fn system(ctx: &RequestContext) -> RequestContext {
        let mut system = RequestContext::system();
        system.request_id = ctx.request_id.clone();
        system
    }

    /// A `403` when `ctx`'s request comes through a SMART app whose scopes do not allow
    /// reading (`write`: writing) `Subscription`.
    fn app_may(ctx: &RequestContext, write: bool) -> FhirResult<()> {
        match ctx.caller().app() {
            Some(app) if !app.permits(ResourceType::Subscription, write) => {
                Err(FhirError::Forbidden {
                    reason: "the app's scopes do not cover Subscription",
                })
            }
            _ => Ok(()),
        }
    }

    /// The owner of `ctx`'s request, or a `403` for a caller that is not a signed-in user.
    fn owner(ctx: &RequestContext) -> FhirResult<&UserId> {
        ctx.caller().user_id().ok_or(FhirError::Forbidden {
            reason: "subscriptions belong to signed-in users",
        })
    }

    /// The caller `state`'s notifications are decided for now: its owner, through the SMART
    /// app it was created with (issue #17: the app's scopes, granular categories included,
    /// never the owner's full rights); `None` when the account is gone or not active, or (with
    /// [`Subscriptions::with_apps`]) the app is no longer approved or no longer authorized by
    /// the owner.
    pub(crate) async fn caller_of(&self, state: &SubscriptionState) -> FhirResult<Option<Caller>> {
        if let (Some(app), Some(apps)) = (&state.app, &self.apps) {
            let approved = apps
                .client(&app.client_id)
                .await?
                .is_some_and(|client| client.status == ClientStatus::Approved);
            if !approved
                || apps
                    .authorization(&state.owner, &app.client_id)
                    .await?
                    .is_none()
            {
                return Ok(None);
            }
        }
        Ok(self
            .accounts
            .user(&state.owner)
            .await?
            .filter(|user| user.status == AccountStatus::Active)
            .map(|user| {
                let caller = Caller::user(user.id, user.role, true, user.patient_id);
                match &state.app {
                    Some(app) => caller.through_app(app.clone()),
                    None => caller,
                }
            }))
    }

    /// Creates a subscription owned by `ctx`'s caller at FHIR base `base`.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        base: &str,
        mut resource: Value,
    ) -> FhirResult<Owned> {
        Self::app_may(ctx, true)?;
        let owner = Self::owner(ctx)?.clone();
        let spec = SubscriptionSpec::parse(&resource)?;
        // A rest-hook is `requested` until its endpoint accepts the handshake (IG 1.1.0).
        let status = match (&spec.channel, spec.off) {
            (_, true) => SubscriptionStatus::Off,
            (Channel::RestHook { .. }, false) => SubscriptionStatus::Requested,
            (Channel::Websocket, false) => SubscriptionStatus::Active,
        };
        resource["status"] = json!(status.as_str());
        if let Some(object) = resource.as_object_mut() {
            object.remove("id");
        }
        let stored = self.store.create(&Self::system(ctx), resource).await?;
        self.states
            .create(&NewSubscription {
                id: stored.id.as_str().to_owned(),
                owner,
                topic: spec.topic.url.to_owned(),
                channel: spec.channel.as_str().to_owned(),
                base: base.trim_end_matches('/').to_owned(),
                status,
                position: stored.seq,
                created_at: self.clock.now(),
                app: ctx.caller().app().cloned(),
            })
            .await?;
        self.read(ctx, stored.id.as_str()).await
    }

    /// The caller's own subscription `id` (anyone else's is not found).
    pub async fn read(&self, ctx: &RequestContext, id: &str) -> FhirResult<Owned> {
        Self::app_may(ctx, false)?;
        self.owned_by(Self::owner(ctx)?, &Self::system(ctx), id)
            .await
    }

    /// `owner`'s subscription `id`, read as `system`.
    async fn owned_by(
        &self,
        owner: &UserId,
        system: &RequestContext,
        id: &str,
    ) -> FhirResult<Owned> {
        let state = self
            .states
            .get(id)
            .await?
            .filter(|state| &state.owner == owner)
            .ok_or_else(|| not_found(id))?;
        let resource_id = ResourceId::new(id)?;
        let mut stored = self
            .store
            .read(system, ResourceType::Subscription, &resource_id)
            .await?;
        let mut resource = parse_json(&stored)?;
        let spec = SubscriptionSpec::parse(&resource)?;
        let status = shown_status(&state);
        if resource["status"].as_str() != Some(status) {
            resource["status"] = json!(status);
            stored.json = Some(Arc::from(resource.to_string()));
        }
        Ok(Owned {
            stored,
            state,
            spec,
        })
    }

    /// The caller's own subscriptions.
    pub async fn list(&self, ctx: &RequestContext) -> FhirResult<Vec<Owned>> {
        Self::app_may(ctx, false)?;
        let owner = Self::owner(ctx)?;
        let mut owned = Vec::new();
        for state in self.states.owned(owner).await? {
            match self.read(ctx, &state.id).await {
                Ok(subscription) => owned.push(subscription),
                Err(FhirError::NotFound { .. } | FhirError::Gone { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(owned)
    }

    /// Replaces the caller's own subscription `id` (its numbering and cursor stay).
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut resource: Value,
        if_match: Option<VersionId>,
    ) -> FhirResult<Owned> {
        Self::app_may(ctx, true)?;
        let current = self.read(ctx, id).await?;
        let spec = SubscriptionSpec::parse(&resource)?;
        // A rest-hook turned back on, or sent elsewhere, shakes hands again.
        let handshake = matches!(spec.channel, Channel::RestHook { .. })
            && (spec.channel != current.spec.channel
                || matches!(
                    current.state.status,
                    SubscriptionStatus::Requested | SubscriptionStatus::Off
                ));
        let status = if spec.off {
            SubscriptionStatus::Off
        } else if handshake {
            SubscriptionStatus::Requested
        } else {
            SubscriptionStatus::Active
        };
        resource["status"] = json!(status.as_str());
        resource["id"] = json!(id);
        self.store
            .update(
                &Self::system(ctx),
                ResourceType::Subscription,
                &current.stored.id,
                resource,
                if_match,
            )
            .await?;
        self.states
            .change(id, spec.topic.url, spec.channel.as_str(), status)
            .await?;
        self.read(ctx, id).await
    }

    /// Deletes the caller's own subscription `id` and its events.
    pub async fn delete(&self, ctx: &RequestContext, id: &str) -> FhirResult<()> {
        Self::app_may(ctx, true)?;
        let current = self.read(ctx, id).await?;
        self.store
            .delete(
                &Self::system(ctx),
                ResourceType::Subscription,
                &current.stored.id,
                None,
            )
            .await?;
        self.states.remove(id).await?;
        Ok(())
    }

    fn status_part<'a>(state: &'a SubscriptionState) -> StatusPart<'a> {
        StatusPart {
            id: &state.id,
            base: &state.base,
            topic: &state.topic,
            status: shown_status(state),
            events: state.events,
            error: state.last_error.as_deref(),
        }
    }

    /// `$status` of the caller's own subscription `id`.
    pub async fn status(&self, ctx: &RequestContext, id: &str) -> FhirResult<Value> {
        let owned = self.read(ctx, id).await?;
        Ok(notification::status_bundle(
            &self.ids.new_id(),
            self.clock.now(),
            &Self::status_part(&owned.state),
        ))
    }

    /// `$events` of the caller's own subscription `id`: the events numbered `since..=until`
    /// (default: the last [`MAX_EVENTS`]), each decided for the caller now; `content`
    /// overrides the subscription's.
    pub async fn events(
        &self,
        ctx: &RequestContext,
        id: &str,
        since: Option<u64>,
        until: Option<u64>,
        content: Option<Content>,
    ) -> FhirResult<Value> {
        let owned = self.read(ctx, id).await?;
        let until = until.unwrap_or(owned.state.events).min(owned.state.events);
        let since = since
            .unwrap_or_else(|| until.saturating_sub(MAX_EVENTS as u64 - 1))
            .max(1);
        let events = self.states.events(id, since, until, MAX_EVENTS).await?;
        let content = content.unwrap_or(owned.spec.content);
        let guard = self.guard();
        let mut parts = Vec::new();
        for event in &events {
            if let Some(part) = self.decide(&guard, ctx, event, content).await? {
                parts.push(part);
            }
        }
        Ok(notification::notification(
            &self.ids.new_id(),
            self.clock.now(),
            &Self::status_part(&owned.state),
            NotificationType::QueryEvent,
            &parts,
            content,
        ))
    }

    /// Decides `event` for `ctx`'s caller now: `None` when they may not read its focus (a
    /// deletion: the version before it); the part to send otherwise, with the resource for
    /// `full-resource`. A disclosure is recorded in `ctx`'s sink.
    pub(crate) async fn decide(
        &self,
        guard: &ConsentGuard<Arc<dyn ResourceStore>>,
        ctx: &RequestContext,
        event: &SubscriptionEvent,
        content: Content,
    ) -> FhirResult<Option<EventPart>> {
        let focus = &event.event;
        let resource_type: ResourceType = match focus.resource_type.parse() {
            Ok(resource_type) => resource_type,
            Err(_) => return Ok(None),
        };
        let id = ResourceId::new(&focus.resource_id)?;
        let version = VersionId(focus.version);
        let deleted = match self
            .store
            .vread(&RequestContext::system(), resource_type, &id, version)
            .await
        {
            Ok(_) => false,
            Err(FhirError::Gone { .. }) => true,
            Err(FhirError::NotFound { .. } | FhirError::VersionNotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let decided = if deleted {
            match focus.version.checked_sub(1).filter(|v| *v > 0) {
                Some(before) => VersionId(before),
                None => return Ok(None),
            }
        } else {
            version
        };
        let stored = match guard.vread(ctx, resource_type, &id, decided).await {
            Ok(stored) => stored,
            Err(
                FhirError::NotFound { .. }
                | FhirError::VersionNotFound { .. }
                | FhirError::Gone { .. }
                | FhirError::Forbidden { .. },
            ) => return Ok(None),
            Err(err) => return Err(err),
        };
        let resource = match (content, deleted) {
            (Content::FullResource, false) => Some(parse_json(&stored)?),
            _ => None,
        };
        Ok(Some(EventPart {
            number: event.number,
            at: focus.at,
            resource_type: focus.resource_type.clone(),
            id: focus.resource_id.clone(),
            method: if deleted {
                "DELETE"
            } else if focus.version == 1 {
                "POST"
            } else {
                "PUT"
            },
            resource,
        }))
    }

    /// A context for the owner's notification `number` of subscription `id`, collecting what
    /// it discloses.
    pub(crate) fn owner_context(caller: Caller, id: &str, number: u64) -> RequestContext {
        let mut ctx = RequestContext::for_caller(caller, format!("subscription/{id}/{number}"));
        ctx.accessed = Accessed::collecting();
        ctx
    }

    /// Appends the audit record of a notification sent as `ctx`.
    pub(crate) async fn audit_sent(&self, ctx: &RequestContext) -> FhirResult<()> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let caller = ctx.caller();
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: caller.user_id().map(ToString::to_string),
            role: caller.role().map(|role| role.as_str().to_owned()),
            action: Action::SubscriptionNotification.into(),
            resource_type: None,
            resource_ids: Vec::new(),
            patients: Default::default(),
            resource_types: Vec::new(),
            outcome: 200,
            client_ip: None,
            request_id: ctx.request_id.clone(),
            detail: None,
        }
        .disclosing(&ctx.accessed.summary());
        audit.append(&[entry]).await
    }

    /// `$get-ws-binding-token` of the caller's own websocket subscription `id`: the token and
    /// when it expires.
    pub async fn ws_token(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> FhirResult<(String, time::OffsetDateTime)> {
        let owned = self.read(ctx, id).await?;
        if owned.spec.channel != Channel::Websocket {
            return Err(FhirError::Unprocessable {
                message: "a binding token is for a websocket subscription".to_owned(),
            });
        }
        let token: String = format!("{}{}", self.ids.new_id(), self.ids.new_id())
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let value = json!({"id": id, "owner": owned.state.owner.as_str()}).to_string();
        self.kv
            .set(&token_key(&token), value.as_bytes(), WS_TOKEN_TTL)
            .await?;
        let ttl = time::Duration::try_from(WS_TOKEN_TTL).unwrap_or_default();
        Ok((token, self.clock.now() + ttl))
    }

    /// Binds a websocket with `token` (once: the token is spent): the binding, or `None` for
    /// an unknown, expired or spent token. Events numbered after now are sent on it.
    pub async fn bind(&self, token: &str) -> FhirResult<Option<WsBinding>> {
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let key = token_key(token);
        let Some(bytes) = self.kv.get(&key).await? else {
            return Ok(None);
        };
        self.kv.delete(&key).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (Some(id), Some(owner)) = (value["id"].as_str(), value["owner"].as_str()) else {
            return Ok(None);
        };
        let owner = UserId(owner.to_owned());
        let owned = match self.owned_by(&owner, &RequestContext::system(), id).await {
            Ok(owned) => owned,
            Err(FhirError::NotFound { .. } | FhirError::Gone { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(Some(WsBinding {
            id: id.to_owned(),
            owner: owned.state.owner,
            cursor: owned.state.events,
            heartbeat: owned.spec.heartbeat,
            through_app: owned.state.app.is_some(),
        }))
    }

    /// A handshake or heartbeat Bundle for a bound websocket (`None`: the subscription is
    /// gone).
    pub async fn ws_signal(
        &self,
        binding: &WsBinding,
        kind: NotificationType,
    ) -> FhirResult<Option<String>> {
        let Some(state) = self.states.get(&binding.id).await? else {
            return Ok(None);
        };
        Ok(Some(
            notification::notification(
                &self.ids.new_id(),
                self.clock.now(),
                &Self::status_part(&state),
                kind,
                &[],
                Content::Empty,
            )
            .to_string(),
        ))
    }

    /// The notifications due on a bound websocket: the events numbered after its cursor,
    /// each decided for the owner now (and audited); moves the cursor. `None`: the
    /// subscription is gone or off, close the socket.
    pub async fn ws_next(&self, binding: &mut WsBinding) -> FhirResult<Option<Vec<String>>> {
        let state = self.states.get(&binding.id).await?;
        self.ws_due(state, binding).await
    }

    /// [`Self::ws_next`] for every binding of one socket, in order, their states read in one
    /// round trip (a portal binds several subscriptions to one socket and polls them together).
    /// Each binding has its own answer: one that fails leaves the others' notifications (their
    /// cursors have moved) to be sent.
    pub async fn ws_next_each(
        &self,
        bindings: &mut [&mut WsBinding],
    ) -> FhirResult<Vec<FhirResult<Option<Vec<String>>>>> {
        let ids: Vec<&str> = bindings.iter().map(|binding| binding.id.as_str()).collect();
        let states = self.states.get_many(&ids).await?;
        let mut due = Vec::with_capacity(bindings.len());
        for binding in bindings.iter_mut() {
            let state = states.iter().find(|state| state.id == binding.id).cloned();
            due.push(self.ws_due(state, binding).await);
        }
        Ok(due)
    }

    /// What [`Self::ws_next`] sends for `binding` given its subscription's `state`.
    async fn ws_due(
        &self,
        state: Option<SubscriptionState>,
        binding: &mut WsBinding,
    ) -> FhirResult<Option<Vec<String>>> {
        let Some(state) = state else {
            return Ok(None);
        };
        if state.status == SubscriptionStatus::Off {
            return Ok(None);
        }
        if state.events <= binding.cursor {
            return Ok(Some(Vec::new()));
        }
        let Some(caller) = self.caller_of(&state).await? else {
            return Ok(None);
        };
        let stored = self
            .store
            .read(
                &RequestContext::system(),
                ResourceType::Subscription,
                &ResourceId::new(&state.id)?,
            )
            .await?;
        let spec = SubscriptionSpec::parse(&parse_json(&stored)?)?;
        let events = self
            .states
            .events(&state.id, binding.cursor + 1, state.events, MAX_EVENTS)
            .await?;
        let guard = self.guard();
        let mut sent = Vec::new();
        for event in &events {
            binding.cursor = event.number;
            let ctx = Self::owner_context(caller.clone(), &state.id, event.number);
            if let Some(part) = self.decide(&guard, &ctx, event, spec.content).await? {
                let status = StatusPart {
                    events: event.number,
                    ..Self::status_part(&state)
                };
                let bundle = notification::notification(
                    &self.ids.new_id(),
                    self.clock.now(),
                    &status,
                    NotificationType::EventNotification,
                    &[part],
                    spec.content,
                );
                self.audit_sent(&ctx).await?;
                sent.push(bundle.to_string());
            }
        }
        Ok(Some(sent))
    }
}

/// The IG's status of a subscription: a rest-hook whose handshake failed is `error` while
/// the handshake is retried.
pub(crate) fn shown_status(state: &SubscriptionState) -> &'static str {
    match state.status {
        SubscriptionStatus::Requested if state.attempts > 0 => SubscriptionStatus::Error.as_str(),
        status => status.as_str(),
    }
}

fn token_key(token: &str) -> String {
    format!("subscription:ws-token:{token}")
}
