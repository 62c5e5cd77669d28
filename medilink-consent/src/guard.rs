//! [`ConsentGuard`]: a [`ResourceStore`] that enforces the consent policy on every
//! interaction of the store it wraps.
//!
//! - read / vread / instance history: the resource's compartment patients are checked; a
//!   resource the caller may not see is reported exactly like a missing one
//!   ([`FhirError::NotFound`], HTTP 404), including its deleted and unknown versions;
//! - search: the query gets [`Criterion::PatientCompartment`] with the permitted patients, so
//!   the store never matches anything else (totals and paging count only permitted
//!   resources); `_include`/`_revinclude` results are filtered by the same decision;
//! - type and system history of a restricted caller: the store's history is walked and
//!   filtered here, and total and paging are computed over the filtered versions;
//! - identifier lookups (conditional create, conditional references) see only permitted ids;
//! - writes: the current version (if any) must be visible, and the new content may only land
//!   in compartments the caller may write ([`FhirError::Forbidden`], HTTP 403);
//! - the change feed is for the platform and admins only.
//!
//! Disclosures: whatever an interaction returns or changes is recorded in the request's
//! [`Accessed`](medilink_fhir::Accessed) sink with the patients it belongs to (the memo's, so
//! a version the decision already saw is not parsed again), for the audit record — reads,
//! vreads, search matches and `_include`/`_revinclude` results, every history entry, and the
//! new and previous versions of creates, updates, deletes and transaction entries.
//! Identifier lookups return ids only, for conditional operations whose own read or write is
//! then recorded: they disclose nothing. With the sink off (platform work) nothing is computed;
//! with it on, an update or delete reads the version it replaces once more, for its patients.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::search::{Criterion, Restriction, SearchPage, SearchQuery, Visibility};
use medilink_fhir::{
    FhirError, FhirResult, HistoryPage, HistoryQuery, HistoryScope, Interaction, RequestContext,
    ResourceId, ResourceStore, ResourceType, StoredResource, VersionId, WriteOp, WriteOutcome,
};
use serde_json::Value;

use crate::compartment::{patients_of, patients_of_json};
use crate::grant::Grant;
use crate::policy::{Access, Action, Decision, Target, access, decide};
use crate::service::ConsentService;
use medilink_platform::{Caller, CallerContext};
use members::Members;

mod members;
mod scopes;

/// Versions a restricted type/system history walks at most.
const MAX_HISTORY_SCAN: usize = 100_000;
/// Page size of that walk.
const SCAN_PAGE: usize = 1000;

/// Wraps a store and enforces the consent policy for the caller of each request.
#[derive(Debug, Clone)]
pub struct ConsentGuard<S> {
    inner: S,
    consents: Arc<ConsentService>,
    /// Compartment patients per stored version (versions are immutable).
    members: Arc<Members>,
}

fn parse(stored: &StoredResource) -> Option<Value> {
    serde_json::from_str(stored.json.as_deref()?).ok()
}

fn not_found(resource_type: ResourceType, id: &ResourceId) -> FhirError {
    FhirError::NotFound {
        resource_type,
        id: id.clone(),
    }
}

/// The shortest time a read, version read, history, update, delete or transaction (an entry)
/// answers "not found" in, for every caller but the platform: a hidden resource is fetched and decided on, a missing id is
/// not, and without a floor the few microseconds between them would tell one from the other
/// (BENCHMARKS.md, "the timing probe"). Legitimate traffic rarely reads ids that are not there,
/// so the floor costs it nothing; a 404 waits (asleep, holding no connection) until the floor.
pub const NOT_FOUND_FLOOR: std::time::Duration = std::time::Duration::from_millis(2);

/// `outcome`, answered no sooner than [`NOT_FOUND_FLOOR`] after `started` when it is a "not
/// found" for a caller other than the platform.
async fn floored<T>(
    started: tokio::time::Instant,
    principal: &Caller,
    outcome: FhirResult<T>,
) -> FhirResult<T> {
    fn is_not_found(err: &FhirError) -> bool {
        match err {
            FhirError::NotFound { .. } | FhirError::VersionNotFound { .. } => true,
            FhirError::BundleEntry { source, .. } => is_not_found(source),
            _ => false,
        }
    }
    let not_found = outcome.as_ref().err().is_some_and(is_not_found);
    if not_found && !matches!(principal, Caller::System) {
        tokio::time::sleep_until(started + NOT_FOUND_FLOOR).await;
    }
    outcome
}

fn denied(decision: &Decision) -> FhirError {
    FhirError::Forbidden {
        reason: match decision.reason {
            crate::policy::Reason::ConsentResource => "consents change only through /api/consents",
            crate::policy::Reason::Anonymous => "not signed in",
            crate::policy::Reason::Role => "this role may not access this data",
            crate::policy::Reason::Scope => "the app's scopes do not allow this",
            _ => "no active consent covers this write",
        },
    }
}

impl<S: ResourceStore> ConsentGuard<S> {
    /// Guards `inner` with the grants of `consents`.
    pub fn new(inner: S, consents: Arc<ConsentService>) -> Self {
        ConsentGuard {
            inner,
            consents,
            members: Arc::default(),
        }
    }

    /// The wrapped store (for the platform's own work only).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The consent service.
    pub fn consents(&self) -> &Arc<ConsentService> {
        &self.consents
    }

    /// The same guard around another store (with a memo of its own: the other store's
    /// versions are not this one's).
    pub fn rewrap<T: ResourceStore>(&self, inner: T) -> ConsentGuard<T> {
        ConsentGuard {
            inner,
            consents: self.consents.clone(),
            members: Arc::default(),
        }
    }

    async fn grants(&self, principal: &Caller) -> FhirResult<Arc<[Grant]>> {
        match principal {
            Caller::User {
                role: medilink_platform::Role::Physician,
                user_id,
                ..
            } => Ok(self.consents.grants_of_grantee(user_id.as_str()).await?),
            _ => Ok(Arc::from(Vec::new())),
        }
    }

    fn decide_on(
        &self,
        principal: &Caller,
        action: Action,
        resource_type: ResourceType,
        resource: &Value,
        grants: &[Grant],
    ) -> Decision {
        let patients = patients_of(resource_type, resource);
        self.decide_for(principal, action, resource_type, &patients, grants)
    }

    /// [`decide`] for a resource of `resource_type` in the compartments of `patients`, with
    /// flagged decisions logged.
    fn decide_for(
        &self,
        principal: &Caller,
        action: Action,
        resource_type: ResourceType,
        patients: &[String],
        grants: &[Grant],
    ) -> Decision {
        let target = Target {
            resource_type,
            patients,
        };
        let decision = decide(principal, action, &target, grants, self.consents.now());
        if decision.allow && decision.flagged {
            tracing::info!(
                reason = decision.reason.as_str(),
                grant = decision.grant.as_deref().unwrap_or(""),
                %resource_type,
                "flagged access"
            );
        }
        decision
    }

    fn readable(&self, principal: &Caller, stored: &StoredResource, grants: &[Grant]) -> bool {
        let Some(json) = stored.json.as_deref() else {
            return false;
        };
        let patients = self.members.get_or(stored, json, || {
            patients_of_json(stored.resource_type, json)
        });
        match patients {
            Some(patients) => {
                self.decide_for(
                    principal,
                    Action::Read,
                    stored.resource_type,
                    &patients,
                    grants,
                )
                .allow
                    && scopes::category_allows(principal, stored)
            }
            None => false,
        }
    }

    /// Whether the caller is unrestricted (the platform, admins).
    fn unrestricted(principal: &Caller) -> bool {
        matches!(principal, Caller::System)
            || principal.role() == Some(medilink_platform::Role::Admin)
    }

    /// The search restriction of `principal`: what [`access`] gives each type a query reaches.
    fn restriction(&self, principal: &Caller, grants: Arc<[Grant]>) -> Restriction {
        let principal = principal.clone();
        let now = self.consents.now();
        let app = principal.clone();
        Restriction::new(move |resource_type| {
            match access(&principal, resource_type, &grants, now) {
                Access::All => Visibility::All,
                Access::Denied(_) => Visibility::Nothing,
                Access::Patients { permitted, member } => Visibility::Patients {
                    permitted: permitted.into(),
                    member,
                },
            }
        })
        .with_criteria(move |resource_type| scopes::hop_criteria(&app, resource_type))
    }

    /// Whether the caller may see the resource at all (judged by its newest live version).
    async fn visible(
        &self,
        ctx: &RequestContext,
        principal: &Caller,
        grants: &[Grant],
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<bool> {
        if access(principal, resource_type, grants, self.consents.now()) == Access::All
            && principal.app().is_none()
        {
            return Ok(true);
        }
        let mut before_seq = None;
        loop {
            let page = self
                .inner
                .history(
                    ctx,
                    &HistoryQuery {
                        scope: HistoryScope::Instance(resource_type, id.clone()),
                        since: None,
                        at: None,
                        count: 50,
                        before_seq,
                    },
                )
                .await?;
            if let Some(live) = page.entries.iter().find(|entry| !entry.is_deleted()) {
                return Ok(self.readable(principal, live, grants));
            }
            match page.next_before_seq {
                Some(next) => before_seq = Some(next),
                None => return Ok(false),
            }
        }
    }

    /// Maps errors that would reveal an invisible resource (gone, unknown version) to the
    /// error of a missing one.
    async fn hide(
        &self,
        ctx: &RequestContext,
        principal: &Caller,
        grants: &[Grant],
        resource_type: ResourceType,
        id: &ResourceId,
        err: FhirError,
    ) -> FhirError {
        match err {
            FhirError::Gone { .. } | FhirError::VersionNotFound { .. } => {
                match self
                    .visible(ctx, principal, grants, resource_type, id)
                    .await
                {
                    Ok(true) => err,
                    Ok(false) => not_found(resource_type, id),
                    Err(other) => other,
                }
            }
            other => other,
        }
    }

    /// [`ResourceStore::transaction`] with every entry decided for the caller.
    async fn guarded_transaction(
        &self,
        ctx: &RequestContext,
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        let principal = ctx.caller().clone();
        let grants = self.grants(&principal).await?;
        let mut changes = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let checked = match op {
                WriteOp::Create { resource, .. } => {
                    self.check_write(ctx, &principal, &grants, None, Some(resource))
                        .await
                }
                WriteOp::Update {
                    resource_type,
                    id,
                    resource,
                    ..
                } => {
                    self.check_write(
                        ctx,
                        &principal,
                        &grants,
                        Some((*resource_type, id)),
                        Some(resource),
                    )
                    .await
                }
                WriteOp::Delete {
                    resource_type, id, ..
                } => {
                    self.check_write(ctx, &principal, &grants, Some((*resource_type, id)), None)
                        .await
                }
            };
            // What each entry does, and the version it replaces (read by the check).
            let interaction = match op {
                WriteOp::Create { .. } => Interaction::Create,
                WriteOp::Update { .. } => Interaction::Update,
                WriteOp::Delete { .. } => Interaction::Delete,
            };
            let prior = checked.map_err(|err| FhirError::BundleEntry {
                index,
                source: Box::new(err),
            })?;
            changes.push((interaction, prior));
        }
        let outcomes = self.inner.transaction(ctx, ops).await?;
        for ((interaction, prior), outcome) in changes.iter().zip(&outcomes) {
            if let Some(outcome) = outcome {
                for stored in prior.iter().chain([&outcome.stored]) {
                    self.disclose(ctx, *interaction, stored);
                }
            }
        }
        Ok(outcomes)
    }

    /// [`ResourceStore::history`] as the caller may see it.
    async fn guarded_history(
        &self,
        ctx: &RequestContext,
        query: &HistoryQuery,
    ) -> FhirResult<HistoryPage> {
        let principal = ctx.caller().clone();
        let grants = self.grants(&principal).await?;
        let now = self.consents.now();
        match &query.scope {
            HistoryScope::Instance(resource_type, id) => {
                if let Access::Denied(reason) = access(&principal, *resource_type, &grants, now) {
                    return Err(FhirError::Forbidden {
                        reason: match reason {
                            crate::policy::Reason::Anonymous => "not signed in",
                            _ => "this role may not access this data",
                        },
                    });
                }
                if !self
                    .visible(ctx, &principal, &grants, *resource_type, id)
                    .await?
                {
                    return Err(not_found(*resource_type, id));
                }
                let page = self.inner.history(ctx, query).await?;
                let foreign = page
                    .entries
                    .iter()
                    .any(|entry| !entry.is_deleted() && !self.readable(&principal, entry, &grants));
                if foreign {
                    return Err(not_found(*resource_type, id));
                }
                Ok(self.disclose_history(ctx, page))
            }
            HistoryScope::Type(resource_type) => {
                match access(&principal, *resource_type, &grants, now) {
                    // An app's granular scope still decides each version.
                    Access::All if principal.app().is_none() => {
                        self.inner.history(ctx, query).await
                    }
                    Access::Denied(_) => Err(FhirError::Forbidden {
                        reason: "this role may not access this data",
                    }),
                    Access::All | Access::Patients { .. } => {
                        self.filtered_history(ctx, &principal, &grants, query).await
                    }
                }
                .map(|page| self.disclose_history(ctx, page))
            }
            HistoryScope::System => {
                // An admin's app (a Backend Services client) sees what its scopes allow.
                let admin = matches!(principal, Caller::System)
                    || (principal.role() == Some(medilink_platform::Role::Admin)
                        && principal.app().is_none());
                if admin {
                    self.inner.history(ctx, query).await
                } else if matches!(principal, Caller::Anonymous) {
                    Err(FhirError::Forbidden {
                        reason: "not signed in",
                    })
                } else {
                    self.filtered_history(ctx, &principal, &grants, query).await
                }
                .map(|page| self.disclose_history(ctx, page))
            }
        }
    }

    async fn check_read(
        &self,
        ctx: &RequestContext,
        principal: &Caller,
        grants: &[Grant],
        result: FhirResult<StoredResource>,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource> {
        match result {
            Ok(stored) if self.readable(principal, &stored, grants) => Ok(stored),
            Ok(_) => Err(not_found(resource_type, id)),
            Err(err) => Err(self
                .hide(ctx, principal, grants, resource_type, id, err)
                .await),
        }
    }

    /// Checks a write of `resource` over the current version of `resource_type/id` (if any).
    async fn check_write(
        &self,
        ctx: &RequestContext,
        principal: &Caller,
        grants: &[Grant],
        current: Option<(ResourceType, &ResourceId)>,
        resource: Option<&Value>,
    ) -> FhirResult<Option<StoredResource>> {
        if matches!(principal, Caller::System) {
            // Nothing to decide; the version replaced is read only for an audited request.
            return Ok(match current {
                Some((resource_type, id)) if ctx.accessed.is_collecting() => {
                    self.inner.read(ctx, resource_type, id).await.ok()
                }
                _ => None,
            });
        }
        let mut replaced = None;
        if let Some((resource_type, id)) = current {
            match self.inner.read(ctx, resource_type, id).await {
                Ok(stored) => {
                    let Some(existing) = parse(&stored) else {
                        return Err(not_found(resource_type, id));
                    };
                    let read =
                        self.decide_on(principal, Action::Read, resource_type, &existing, grants);
                    if !read.allow {
                        return Err(not_found(resource_type, id));
                    }
                    let write =
                        self.decide_on(principal, Action::Write, resource_type, &existing, grants);
                    if !write.allow {
                        return Err(denied(&write));
                    }
                    replaced = Some(stored);
                }
                Err(FhirError::Gone { .. }) => {
                    if !self
                        .visible(ctx, principal, grants, resource_type, id)
                        .await?
                    {
                        return Err(not_found(resource_type, id));
                    }
                }
                // Update-as-create and deletes of missing ids are the platform's and admins':
                // for anyone else a missing id answers exactly like one they may not see.
                Err(FhirError::NotFound { .. }) if Self::unrestricted(principal) => {}
                Err(FhirError::NotFound { .. }) => return Err(not_found(resource_type, id)),
                Err(err) => return Err(err),
            }
        }
        if let Some(resource) = resource {
            // Without a known type the store rejects the write itself (and writes nothing).
            let Some(resource_type) = resource["resourceType"]
                .as_str()
                .and_then(ResourceType::from_name)
            else {
                return Ok(replaced);
            };
            let mut resource = resource.clone();
            if let (Some((_, id)), Some(object)) = (current, resource.as_object_mut()) {
                object.insert("id".into(), Value::String(id.as_str().to_owned()));
            }
            let decision =
                self.decide_on(principal, Action::Write, resource_type, &resource, grants);
            if !decision.allow {
                return Err(denied(&decision));
            }
        }
        Ok(replaced)
    }

    /// Records `stored` in the request's disclosure sink as touched by `interaction`, with
    /// the patients it belongs to (a deletion names none). Decides nothing.
    fn disclose(&self, ctx: &RequestContext, interaction: Interaction, stored: &StoredResource) {
        if !ctx.accessed.is_collecting() {
            return;
        }
        let patients = stored.json.as_deref().and_then(|json| {
            self.members.get_or(stored, json, || {
                patients_of_json(stored.resource_type, json)
            })
        });
        ctx.accessed.record(
            interaction,
            stored.resource_type,
            &stored.id,
            patients.as_deref().unwrap_or_default(),
        );
    }

    /// Records every entry of a history page (see [`Self::disclose`]).
    fn disclose_history(&self, ctx: &RequestContext, page: HistoryPage) -> HistoryPage {
        for entry in &page.entries {
            self.disclose(ctx, Interaction::History, entry);
        }
        page
    }

    fn filter_includes(&self, principal: &Caller, grants: &[Grant], page: &mut SearchPage) {
        page.includes
            .retain(|stored| self.readable(principal, stored, grants));
        let before = page.matches.len();
        page.matches
            .retain(|stored| self.readable(principal, stored, grants));
        if page.matches.len() != before {
            tracing::error!(
                dropped = before - page.matches.len(),
                "search returned resources outside the permitted compartments"
            );
        }
    }

    async fn filtered_history(
        &self,
        ctx: &RequestContext,
        principal: &Caller,
        grants: &[Grant],
        query: &HistoryQuery,
    ) -> FhirResult<HistoryPage> {
        let mut versions = Vec::new();
        let mut before_seq = None;
        loop {
            let page = self
                .inner
                .history(
                    ctx,
                    &HistoryQuery {
                        count: SCAN_PAGE,
                        before_seq,
                        ..query.clone()
                    },
                )
                .await?;
            versions.extend(page.entries);
            if versions.len() > MAX_HISTORY_SCAN {
                return Err(FhirError::Unsupported {
                    feature: "history this large for a consent-restricted caller (use _since)"
                        .to_owned(),
                });
            }
            match page.next_before_seq {
                Some(next) => before_seq = Some(next),
                None => break,
            }
        }
        // A deletion belongs where its resource's newest live version belongs.
        let mut membership: HashMap<(ResourceType, String), bool> = HashMap::new();
        for stored in &versions {
            if !stored.is_deleted() {
                membership
                    .entry((stored.resource_type, stored.id.as_str().to_owned()))
                    .or_insert_with(|| self.readable(principal, stored, grants));
            }
        }
        let permitted: Vec<StoredResource> = versions
            .into_iter()
            .filter(|stored| {
                if stored.is_deleted() {
                    membership
                        .get(&(stored.resource_type, stored.id.as_str().to_owned()))
                        .copied()
                        .unwrap_or(false)
                } else {
                    self.readable(principal, stored, grants)
                }
            })
            .collect();
        let total = permitted.len() as u64;
        let mut entries: Vec<StoredResource> = permitted
            .into_iter()
            .filter(|stored| query.before_seq.is_none_or(|before| stored.seq < before))
            .take(query.count.saturating_add(1))
            .collect();
        let next_before_seq = if entries.len() > query.count {
            entries.truncate(query.count);
            entries.last().map(|last| last.seq)
        } else {
            None
        };
        Ok(HistoryPage {
            entries,
            total,
            next_before_seq,
        })
    }
}

#[async_trait]
impl<S: ResourceStore> ResourceStore for ConsentGuard<S> {
    async fn create(&self, ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource> {
        let principal = ctx.caller().clone();
        let grants = self.grants(&principal).await?;
        self.check_write(ctx, &principal, &grants, None, Some(&resource))
            .await?;
        let created = self.inner.create(ctx, resource).await?;
        self.disclose(ctx, Interaction::Create, &created);
        Ok(created)
    }

    async fn read(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource> {
        let started = tokio::time::Instant::now();
        let principal = ctx.caller().clone();
        let outcome: FhirResult<StoredResource> = async {
            let grants = self.grants(&principal).await?;
            let result = self.inner.read(ctx, resource_type, id).await;
            let stored = self
                .check_read(ctx, &principal, &grants, result, resource_type, id)
                .await?;
            self.disclose(ctx, Interaction::Read, &stored);
            Ok(stored)
        }
        .await;
        floored(started, &principal, outcome).await
    }

    async fn vread(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> FhirResult<StoredResource> {
        let started = tokio::time::Instant::now();
        let principal = ctx.caller().clone();
        let outcome: FhirResult<StoredResource> = async {
            let grants = self.grants(&principal).await?;
            let result = self.inner.vread(ctx, resource_type, id, version).await;
            let stored = self
                .check_read(ctx, &principal, &grants, result, resource_type, id)
                .await?;
            self.disclose(ctx, Interaction::Vread, &stored);
            Ok(stored)
        }
        .await;
        floored(started, &principal, outcome).await
    }

    async fn update(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        resource: Value,
        if_match: Option<VersionId>,
    ) -> FhirResult<WriteOutcome> {
        let started = tokio::time::Instant::now();
        let principal = ctx.caller().clone();
        let outcome: FhirResult<WriteOutcome> = async {
            let grants = self.grants(&principal).await?;
            let prior = self
                .check_write(
                    ctx,
                    &principal,
                    &grants,
                    Some((resource_type, id)),
                    Some(&resource),
                )
                .await?;
            let outcome = self
                .inner
                .update(ctx, resource_type, id, resource, if_match)
                .await?;
            for stored in prior.iter().chain([&outcome.stored]) {
                self.disclose(ctx, Interaction::Update, stored);
            }
            Ok(outcome)
        }
        .await;
        floored(started, &principal, outcome).await
    }

    async fn delete(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> FhirResult<Option<WriteOutcome>> {
        let started = tokio::time::Instant::now();
        let principal = ctx.caller().clone();
        let outcome: FhirResult<Option<WriteOutcome>> = async {
            let grants = self.grants(&principal).await?;
            let prior = self
                .check_write(ctx, &principal, &grants, Some((resource_type, id)), None)
                .await?;
            let outcome = self.inner.delete(ctx, resource_type, id, if_match).await?;
            if let (Some(_), Some(prior)) = (&outcome, &prior) {
                self.disclose(ctx, Interaction::Delete, prior);
            }
            Ok(outcome)
        }
        .await;
        floored(started, &principal, outcome).await
    }

    async fn history(&self, ctx: &RequestContext, query: &HistoryQuery) -> FhirResult<HistoryPage> {
        let started = tokio::time::Instant::now();
        let outcome = self.guarded_history(ctx, query).await;
        floored(started, ctx.caller(), outcome).await
    }

    async fn transaction(
        &self,
        ctx: &RequestContext,
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        let started = tokio::time::Instant::now();
        let outcome = self.guarded_transaction(ctx, ops).await;
        floored(started, ctx.caller(), outcome).await
    }

    async fn find_by_identifier(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        system: Option<&str>,
        value: &str,
    ) -> FhirResult<Vec<ResourceId>> {
        let principal = ctx.caller().clone();
        let grants = self.grants(&principal).await?;
        let ids = self
            .inner
            .find_by_identifier(ctx, resource_type, system, value)
            .await?;
        match access(&principal, resource_type, &grants, self.consents.now()) {
            Access::All if principal.app().is_none() => Ok(ids),
            Access::Denied(_) => Ok(Vec::new()),
            Access::All | Access::Patients { .. } => {
                let mut visible = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Ok(stored) = self.inner.read(ctx, resource_type, &id).await
                        && self.readable(&principal, &stored, &grants)
                    {
                        visible.push(id);
                    }
                }
                Ok(visible)
            }
        }
    }

    async fn search(&self, ctx: &RequestContext, query: &SearchQuery) -> FhirResult<SearchPage> {
        let principal = ctx.caller().clone();
        let grants = self.grants(&principal).await?;
        // A SMART app's granular scope (issue #17) is a criterion of the restriction, which
        // the planner applies to the searched type and at every chain and `_has` hop: a type
        // it limits that has no `category` cannot be searched at all.
        scopes::category_criterion(&principal, query.resource_type)?;
        let through_app = principal.app().is_some();
        let mut page = match access(
            &principal,
            query.resource_type,
            &grants,
            self.consents.now(),
        ) {
            Access::All if !through_app => self.inner.search(ctx, query).await?,
            Access::Denied(reason) => {
                return Err(FhirError::Forbidden {
                    reason: match reason {
                        crate::policy::Reason::Scope => "the app's scopes do not allow this",
                        _ => "this role may not access this data",
                    },
                });
            }
            // An app's scopes restrict the hops (types it may not read, categories) even
            // where the user sees every resource of the searched type.
            Access::All | Access::Patients { .. } => {
                let mut restricted = query.clone();
                restricted.criteria.push(Criterion::Restricted(
                    self.restriction(&principal, grants.clone()),
                ));
                self.inner.search(ctx, &restricted).await?
            }
        };
        self.filter_includes(&principal, &grants, &mut page);
        for stored in &page.matches {
            self.disclose(ctx, Interaction::Search, stored);
        }
        for stored in &page.includes {
            self.disclose(ctx, Interaction::Include, stored);
        }
        Ok(page)
    }

    async fn changes_since(
        &self,
        ctx: &RequestContext,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        let principal = ctx.caller().clone();
        let platform = matches!(principal, Caller::System)
            || (principal.role() == Some(medilink_platform::Role::Admin)
                && principal.app().is_none());
        if !platform {
            return Err(FhirError::Forbidden {
                reason: "the change feed is for the platform",
            });
        }
        let changes = self.inner.changes_since(ctx, after, limit).await?;
        for stored in &changes {
            self.disclose(ctx, Interaction::History, stored);
        }
        Ok(changes)
    }

    async fn close(&self) -> FhirResult<()> {
        self.inner.close().await
    }
}

/// The guard as a store trait object, so callers call store methods on it without importing
/// the trait. It dereferences to **itself**: every call still goes through the guard.
impl<S: ResourceStore + 'static> std::ops::Deref for ConsentGuard<S> {
    type Target = dyn ResourceStore;

    fn deref(&self) -> &(dyn ResourceStore + 'static) {
        self
    }
}

impl<S: ResourceStore + 'static> AsRef<dyn ResourceStore> for ConsentGuard<S> {
    fn as_ref(&self) -> &(dyn ResourceStore + 'static) {
        self
    }
}
