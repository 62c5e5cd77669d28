//! [`ConsentService`]: the consent lifecycle and the grant cache.
//!
//! Grants are `Consent` resources written through the unguarded store with the platform's
//! context (the guard forbids patients and physicians to write `Consent` through FHIR). A
//! physician's grants are cached in the `KeyValue` store under `grantee_key` and the key is
//! deleted on every change, so a revocation is effective at once in every process sharing the
//! store (Redis, or the database's `kv` table). Expiry needs no invalidation: cached grants
//! keep their period and the policy compares it with the clock at each decision. The grant cache
//! may live in a separate, in-process store ([`ConsentService::with_cache`]); the break-glass
//! counters always stay in the service's `kv` store (security state: durable).
//!
//! A fill races with a change: a process may read the grants before a revocation and write
//! them after the revocation deleted the key. So every change also sets the grantee's
//! generation key (`generation_key`) to a fresh token, a fill tags the value with the token
//! it read before its store lookup, and a cached value is used only while its tag equals the
//! current token: a late stale fill carries the old token and is ignored (and overwritten). Decoding the cached value is memoized in
//! process (`decoded`), keyed by the exact bytes the key-value store returns, so the
//! key-value entry is still read, and obeyed, on every request.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::clock::{from_micros, to_micros};
use medilink_fhir::kv::{KeyValue, KvKey};
use medilink_fhir::{Clock, FhirError, RequestContext, ResourceId, ResourceStore, ResourceType};
use medilink_platform::Action;
use medilink_platform::{AuditEntry, AuditLog, Role, UserId};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::{ConsentError, ConsentResult};
use crate::grant::{
    BREAK_GLASS_PURPOSE, GRANTEE_SYSTEM, Grant, GrantState, Initiator, PATIENT_SYSTEM, PURPOSES,
    Scope,
};
use crate::mail::{Mail, Mailer};
use crate::notices::{ConsentNotices, RevokedBy};
use decoded::DecodedGrants;
use medilink_platform::Caller;
use medilink_platform::notifications::Notify;

mod decoded;

/// How long a physician's grants stay cached (changes invalidate at once regardless).
const CACHE_TTL: Duration = Duration::from_secs(300);
/// How long a generation token lives: far longer than a cached value, so a value tagged with
/// an earlier state can never meet a missing (expired) token that it matches.
const GENERATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Break-glass grants per physician per window.
pub const BREAK_GLASS_LIMIT: u64 = 3;
/// The break-glass window and the lifetime of a break-glass grant.
pub const BREAK_GLASS_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Shortest accepted break-glass reason, in characters.
pub const MIN_REASON_CHARS: usize = 20;

/// The cache key of a grantee's grants (on the stack: issue #19, read on every physician
/// request).
pub(crate) fn grantee_key(user_id: &str) -> KvKey {
    KvKey::new("consent:grantee:", user_id)
}

/// The key-value key of a grantee's generation token (changed on every change of the
/// grantee's grants).
pub(crate) fn generation_key(user_id: &str) -> KvKey {
    KvKey::new("consent:generation:", user_id)
}

/// A fresh generation token: the instant in microseconds and 64 bits unique to this process
/// and call (no `\n`, which ends the tag of a cached value).
fn fresh_token(now: OffsetDateTime) -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    format!("{}-{:016x}", to_micros(now), hasher.finish()).into_bytes()
}

/// The encoded grants of a cached value if its tag is `generation`.
fn untag<'a>(bytes: &'a [u8], generation: &[u8]) -> Option<&'a [u8]> {
    bytes.strip_prefix(generation)?.strip_prefix(b"\n")
}

/// A new grant or request.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// Patient granting (for physician requests: the patient asked).
    pub patient: Option<String>,
    /// The user receiving access (patient grants), none for a physician's own request.
    pub grantee: Option<String>,
    /// The grantee's role, as the caller resolved it (must be a physician).
    pub grantee_role: Option<Role>,
    /// Resource type names; empty or `*`: all data.
    pub scope: Vec<String>,
    /// A v3-ActReason code (default `TREAT`).
    pub purpose: Option<String>,
    /// Optional end of the period (exclusive).
    pub end: Option<OffsetDateTime>,
}

/// A break-glass request.
#[derive(Debug, Clone)]
pub struct BreakGlass {
    /// The patient.
    pub patient: String,
    /// Why (at least [`MIN_REASON_CHARS`] characters).
    pub reason: String,
}

/// The consent lifecycle over a store, a key-value cache, a clock and a mailer.
#[derive(Debug, Clone)]
pub struct ConsentService {
    store: Arc<dyn ResourceStore>,
    /// The break-glass counters (security state: durable or shared).
    kv: Arc<dyn KeyValue>,
    /// The grant cache and its generation tokens (`kv` unless [`ConsentService::with_cache`]).
    cache: Arc<dyn KeyValue>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    audit: Option<Arc<dyn AuditLog>>,
    /// Where lifecycle events are told (none: only break-glass, by the legacy `mailer`).
    notify: Option<Arc<dyn Notify>>,
    decoded: Arc<DecodedGrants>,
}

fn invalid(reason: &'static str) -> ConsentError {
    ConsentError::Invalid { reason }
}

fn forbidden(reason: &'static str) -> ConsentError {
    ConsentError::Forbidden { reason }
}

impl ConsentService {
    /// A service writing through `store` (unguarded), counting break-glass grants and caching
    /// grants in `kv`.
    pub fn new(
        store: Arc<dyn ResourceStore>,
        kv: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        ConsentService {
            store,
            cache: kv.clone(),
            kv,
            clock,
            mailer,
            audit: None,
            notify: None,
            decoded: Arc::default(),
        }
    }

    /// Also append lifecycle and break-glass records to `audit`.
    pub fn with_audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Caches grants in `cache` instead: a store in process is enough when this process is the
    /// only one that changes grants and no other reads them (SQLite without Redis), and saves
    /// two database reads per physician request. Break-glass counters stay in the `kv` store.
    pub fn with_cache(mut self, cache: Arc<dyn KeyValue>) -> Self {
        self.cache = cache;
        self.decoded = Arc::default();
        self
    }

    /// Tells the lifecycle's events through `notify` (issue #14): a request to the patient,
    /// a grant, a decline or a revocation to the physician, a break-glass access to the
    /// patient (instead of the `mailer`'s notice). The notices are derived from the `Consent`
    /// versions written ([`crate::notices`]: the change feed is the outbox), right after each
    /// change and by the periodic `consent.notices` job, so a crash in between loses none.
    pub fn with_notify(mut self, notify: Arc<dyn Notify>) -> Self {
        self.notify = Some(notify);
        self
    }

    /// The relay that tells the changes of the `Consent` feed (none without `notify`).
    pub fn notices(&self) -> Option<ConsentNotices> {
        Some(ConsentNotices {
            store: self.store.clone(),
            notify: self.notify.clone()?,
            kv: self.kv.clone(),
            clock: self.clock.clone(),
        })
    }

    /// Tells the changes written so far (this request's included); a failure is logged: the
    /// change stands and the periodic job tells it later.
    async fn tell_changes(&self) {
        if let Some(notices) = self.notices()
            && let Err(err) = notices.follow().await
        {
            tracing::warn!(error = %err, "consent notices not written yet");
        }
    }

    /// Replaces the mailer.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// The clock decisions are made by.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn lookup(&self, system: &str, value: &str) -> ConsentResult<Vec<Grant>> {
        let ctx = RequestContext::system();
        let ids = self
            .store
            .find_by_identifier(&ctx, ResourceType::Consent, Some(system), value)
            .await?;
        let mut grants = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(grant) = self.load(&id).await? {
                grants.push(grant);
            }
        }
        grants.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(grants)
    }

    async fn load(&self, id: &ResourceId) -> ConsentResult<Option<Grant>> {
        let ctx = RequestContext::system();
        match self.store.read(&ctx, ResourceType::Consent, id).await {
            Ok(stored) => {
                let Some(json) = stored.json else {
                    return Ok(None);
                };
                let resource: Value =
                    serde_json::from_str(&json).map_err(|err| FhirError::Internal {
                        source: Box::new(err),
                    })?;
                Ok(Grant::from_fhir(id, &resource))
            }
            Err(FhirError::NotFound { .. } | FhirError::Gone { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The grants naming `user_id` as grantee (cached in the key-value store under the current
    /// generation token; the decoding of the cached value is memoized in process while that
    /// value is unchanged).
    pub async fn grants_of_grantee(&self, user_id: &str) -> ConsentResult<Arc<[Grant]>> {
        let key = grantee_key(user_id);
        // Read before the value (and before any store lookup): a change after this point sets
        // another token, so whatever this request writes is not used after it.
        let generation = self
            .cache
            .get(&generation_key(user_id))
            .await?
            .unwrap_or_default();
        if let Some(bytes) = self.cache.get(&key).await?
            && let Some(encoded) = untag(&bytes, &generation)
        {
            if let Some(grants) = self.decoded.get(user_id, &bytes) {
                return Ok(grants);
            }
            if let Some(grants) = decode(encoded) {
                let grants: Arc<[Grant]> = Arc::from(grants);
                self.decoded.put(user_id, bytes, grants.clone());
                return Ok(grants);
            }
        }
        let grants = self.lookup(GRANTEE_SYSTEM, user_id).await?;
        let mut bytes = generation;
        bytes.push(b'\n');
        bytes.extend_from_slice(&encode(&grants));
        self.cache.set(&key, &bytes, CACHE_TTL).await?;
        let grants: Arc<[Grant]> = Arc::from(grants);
        self.decoded.put(user_id, bytes, grants.clone());
        Ok(grants)
    }

    /// The grants of a patient (uncached).
    pub async fn grants_of_patient(&self, patient: &str) -> ConsentResult<Vec<Grant>> {
        self.lookup(PATIENT_SYSTEM, patient).await
    }

    /// The grants a principal may list: a patient's own, a physician's (as grantee).
    pub async fn list(&self, principal: &Caller) -> ConsentResult<Vec<Grant>> {
        match principal {
            Caller::User {
                role: Role::Patient,
                patient_id: Some(patient),
                ..
            } => self.grants_of_patient(patient.as_str()).await,
            Caller::User {
                role: Role::Physician,
                user_id,
                ..
            } => self.lookup(GRANTEE_SYSTEM, user_id.as_str()).await,
            _ => Err(forbidden("only patients and physicians have consents")),
        }
    }

    async fn save(&self, grant: Grant) -> ConsentResult<Grant> {
        self.save_as(grant, |resource| resource).await
    }

    /// Saves `grant` as the `Consent` `shape` makes of its FHIR form.
    async fn save_as(
        &self,
        mut grant: Grant,
        shape: impl FnOnce(Value) -> Value,
    ) -> ConsentResult<Grant> {
        let ctx = RequestContext::system();
        let resource = shape(grant.to_fhir(self.now()));
        let stored = match &grant.id {
            None => self.store.create(&ctx, resource).await?,
            Some(id) => {
                let id = ResourceId::new(id.clone())?;
                self.store
                    .update(&ctx, ResourceType::Consent, &id, resource, None)
                    .await?
                    .stored
            }
        };
        grant.id = Some(stored.id.as_str().to_owned());
        // A new generation first (a fill that read the old one is then ignored), then the
        // value itself goes.
        self.cache
            .set(
                &generation_key(&grant.grantee),
                &fresh_token(self.now()),
                GENERATION_TTL,
            )
            .await?;
        self.cache.delete(&grantee_key(&grant.grantee)).await?;
        self.decoded.forget(&grant.grantee);
        Ok(grant)
    }

    async fn audit(&self, principal: &Caller, action: Action, grant: &Grant) {
        let Some(audit) = &self.audit else {
            return;
        };
        let (actor, role) = match principal {
            Caller::User { user_id, role, .. } => {
                (Some(user_id.to_string()), Some(role.as_str().to_owned()))
            }
            _ => (None, None),
        };
        let entry = AuditEntry {
            at: self.now(),
            actor,
            role,
            action: action.into(),
            resource_type: Some("Consent".to_owned()),
            resource_ids: grant.id.iter().map(|id| format!("Consent/{id}")).collect(),
            patients: [(
                grant.patient.clone(),
                grant.id.iter().map(|id| format!("Consent/{id}")).collect(),
            )]
            .into(),
            resource_types: vec!["Consent".to_owned()],
            outcome: 200,
            client_ip: None,
            request_id: String::from("consent"),
            detail: None,
        };
        if let Err(err) = audit.append(&[entry]).await {
            tracing::error!(error = %err, action = action.as_str(), "consent audit record not stored");
        }
    }

    async fn patient_exists(&self, patient: &str) -> ConsentResult<()> {
        let id = ResourceId::new(patient.to_owned()).map_err(|_| invalid("unknown patient"))?;
        self.store
            .read(&RequestContext::system(), ResourceType::Patient, &id)
            .await
            .map(|_| ())
            .map_err(|err| match err {
                FhirError::NotFound { .. } | FhirError::Gone { .. } => ConsentError::NotFound {
                    id: patient.to_owned(),
                },
                other => other.into(),
            })
    }

    fn shape(request: &GrantRequest) -> ConsentResult<(Scope, String)> {
        let scope =
            Scope::parse(&request.scope).ok_or(invalid("unknown resource type in scope"))?;
        let purpose = request
            .purpose
            .clone()
            .unwrap_or_else(|| "TREAT".to_owned());
        if !PURPOSES.contains(&purpose.as_str()) {
            return Err(invalid("unknown purpose"));
        }
        Ok((scope, purpose))
    }

    /// A patient grants a physician access (active at once), or a physician requests access
    /// from a patient (proposed until the patient accepts).
    pub async fn create(&self, principal: &Caller, request: GrantRequest) -> ConsentResult<Grant> {
        let (scope, purpose) = Self::shape(&request)?;
        let now = self.now();
        if request.end.is_some_and(|end| end <= now) {
            return Err(invalid("the period ends before it starts"));
        }
        let (patient, grantee, state, initiator) = match principal {
            Caller::User {
                role: Role::Patient,
                user_id: UserId(user_id),
                patient_id: Some(patient),
                ..
            } => {
                let grantee = request
                    .grantee
                    .clone()
                    .ok_or(invalid("grantee is required"))?;
                if grantee == *user_id {
                    return Err(invalid("a patient cannot consent to themselves"));
                }
                if request.grantee_role != Some(Role::Physician) {
                    return Err(invalid("the grantee must be a physician"));
                }
                (
                    patient.as_str().to_owned(),
                    grantee,
                    GrantState::Active,
                    Initiator::Patient,
                )
            }
            Caller::User {
                role: Role::Physician,
                user_id: UserId(user_id),
                ..
            } => {
                let patient = request
                    .patient
                    .clone()
                    .ok_or(invalid("patient is required"))?;
                if request
                    .grantee
                    .as_ref()
                    .is_some_and(|grantee| grantee != user_id)
                {
                    return Err(invalid("a physician requests access for themselves only"));
                }
                self.patient_exists(&patient).await?;
                (
                    patient,
                    user_id.clone(),
                    GrantState::Proposed,
                    Initiator::Physician,
                )
            }
            _ => {
                return Err(forbidden(
                    "only patients grant and physicians request consent",
                ));
            }
        };
        let grant = self
            .save(Grant {
                id: None,
                patient,
                grantee,
                scope,
                purpose,
                start: now,
                end: request.end,
                state,
                initiator,
                reason: None,
            })
            .await?;
        let action = match initiator {
            Initiator::Patient => Action::ConsentGrant,
            Initiator::Physician => Action::ConsentRequest,
        };
        self.audit(principal, action, &grant).await;
        self.tell_changes().await;
        Ok(grant)
    }

    /// A grant visible to `principal` (its patient or its grantee), else not found.
    pub async fn get(&self, principal: &Caller, id: &str) -> ConsentResult<Grant> {
        let not_found = || ConsentError::NotFound { id: id.to_owned() };
        let resource_id = ResourceId::new(id.to_owned()).map_err(|_| not_found())?;
        let grant = self.load(&resource_id).await?.ok_or_else(not_found)?;
        let visible = match principal {
            Caller::User {
                role: Role::Patient,
                patient_id: Some(patient),
                ..
            } => grant.patient == patient.as_str(),
            Caller::User {
                role: Role::Physician,
                user_id,
                ..
            } => grant.grantee == user_id.as_str(),
            Caller::User {
                role: Role::Admin, ..
            }
            | Caller::System => true,
            _ => false,
        };
        if visible { Ok(grant) } else { Err(not_found()) }
    }

    /// The patient accepts (`accept`) or declines a physician's request.
    pub async fn answer(&self, principal: &Caller, id: &str, accept: bool) -> ConsentResult<Grant> {
        if principal.role() != Some(Role::Patient) {
            return Err(forbidden("only the patient answers a consent request"));
        }
        let mut grant = self.get(principal, id).await?;
        let action = if accept { "accept" } else { "decline" };
        if grant.state != GrantState::Proposed {
            return Err(ConsentError::WrongState {
                id: id.to_owned(),
                status: grant.status(self.now()).as_str(),
                action,
            });
        }
        grant.state = if accept {
            GrantState::Active
        } else {
            GrantState::Rejected
        };
        grant.start = self.now();
        let grant = self.save(grant).await?;
        let recorded = if accept {
            Action::ConsentAccept
        } else {
            Action::ConsentDecline
        };
        self.audit(principal, recorded, &grant).await;
        self.tell_changes().await;
        Ok(grant)
    }

    /// Revokes a grant (its patient, its grantee or an admin); its period then ends at the
    /// revocation instant. Revoking a grant that is no longer in force changes nothing and
    /// succeeds.
    pub async fn revoke(&self, principal: &Caller, id: &str) -> ConsentResult<Grant> {
        let mut grant = self.get(principal, id).await?;
        if matches!(grant.state, GrantState::Revoked | GrantState::Rejected) {
            return Ok(grant);
        }
        grant.revoke_at(self.now());
        let by = match principal {
            _ if principal
                .user_id()
                .is_some_and(|user| user.as_str() == grant.grantee) =>
            {
                RevokedBy::Grantee
            }
            Caller::User {
                role: Role::Patient,
                ..
            } => RevokedBy::Patient,
            _ => RevokedBy::Other,
        };
        let grant = self.save_as(grant, |resource| by.record(resource)).await?;
        self.audit(principal, Action::ConsentRevoke, &grant).await;
        self.tell_changes().await;
        Ok(grant)
    }

    /// Emergency access: a 24-hour all-data grant, at most [`BREAK_GLASS_LIMIT`] per
    /// physician per 24 hours, audited, and the patient is e-mailed.
    pub async fn break_glass(
        &self,
        principal: &Caller,
        request: BreakGlass,
    ) -> ConsentResult<Grant> {
        let Caller::User {
            role: Role::Physician,
            user_id: UserId(user_id),
            ..
        } = principal
        else {
            return Err(forbidden("only physicians may break the glass"));
        };
        let reason = request.reason.trim();
        if reason.chars().count() < MIN_REASON_CHARS {
            return Err(invalid("the reason must be at least 20 characters"));
        }
        self.patient_exists(&request.patient).await?;
        let counter = format!("consent:break-glass:{user_id}");
        if self.kv.incr(&counter, BREAK_GLASS_WINDOW).await? > BREAK_GLASS_LIMIT {
            return Err(ConsentError::RateLimited {
                limit: BREAK_GLASS_LIMIT,
            });
        }
        let now = self.now();
        let window = time::Duration::try_from(BREAK_GLASS_WINDOW)
            .map_err(|_| invalid("break-glass window out of range"))?;
        let grant = self
            .save(Grant {
                id: None,
                patient: request.patient.clone(),
                grantee: user_id.clone(),
                scope: Scope::All,
                purpose: BREAK_GLASS_PURPOSE.to_owned(),
                start: now,
                end: Some(now + window),
                state: GrantState::Active,
                initiator: Initiator::Physician,
                reason: Some(reason.to_owned()),
            })
            .await?;
        self.audit(principal, Action::BreakGlass, &grant).await;
        if self.notify.is_some() {
            self.tell_changes().await;
            return Ok(grant);
        }
        let mail = Mail {
            to_patient: request.patient,
            subject: "Emergency access to your health record".to_owned(),
            body: format!(
                "A physician used emergency (break-glass) access to your health record at {}. \
                 The access lasts 24 hours. You can see it in your access log and revoke it \
                 from your consents page.",
                medilink_fhir::clock::format_instant(now)
            ),
        };
        if let Err(err) = self.mailer.send(mail).await {
            tracing::error!(error = %err, "break-glass notice not queued");
        }
        Ok(grant)
    }
}

/// The cached form of a grantee's grants: one compact JSON array per grant (`id`, patient,
/// grantee, resource types or `null` for all, purpose, start and end in Unix microseconds,
/// state, initiator, reason). Small, because every guarded request reads it.
fn encode(grants: &[Grant]) -> Vec<u8> {
    let items: Vec<Value> = grants
        .iter()
        .map(|grant| {
            let scope = match &grant.scope {
                Scope::All => Value::Null,
                Scope::Types(types) => types.iter().map(|ty| json!(ty.as_str())).collect(),
            };
            let state = match grant.state {
                GrantState::Proposed => "proposed",
                GrantState::Active => "active",
                GrantState::Rejected => "rejected",
                GrantState::Revoked => "revoked",
            };
            let initiator = match grant.initiator {
                Initiator::Patient => "patient",
                Initiator::Physician => "physician",
            };
            json!([
                grant.id,
                grant.patient,
                grant.grantee,
                scope,
                grant.purpose,
                to_micros(grant.start),
                grant.end.map(to_micros),
                state,
                initiator,
                grant.reason,
            ])
        })
        .collect();
    json!(items).to_string().into_bytes()
}

/// The inverse of [`encode`]; `None` for anything else (the entry is then refilled).
fn decode(bytes: &[u8]) -> Option<Vec<Grant>> {
    let items: Vec<Value> = serde_json::from_slice(bytes).ok()?;
    items
        .iter()
        .map(|item| {
            let text = |index: usize| item[index].as_str().map(str::to_owned);
            let scope = match &item[3] {
                Value::Null => Scope::All,
                types => Scope::Types(
                    types
                        .as_array()?
                        .iter()
                        .map(|ty| ResourceType::from_name(ty.as_str()?))
                        .collect::<Option<_>>()?,
                ),
            };
            let state = match item[7].as_str()? {
                "proposed" => GrantState::Proposed,
                "active" => GrantState::Active,
                "rejected" => GrantState::Rejected,
                "revoked" => GrantState::Revoked,
                _ => return None,
            };
            let initiator = match item[8].as_str()? {
                "patient" => Initiator::Patient,
                "physician" => Initiator::Physician,
                _ => return None,
            };
            let end = match &item[6] {
                Value::Null => None,
                micros => Some(from_micros(micros.as_i64()?)),
            };
            Some(Grant {
                id: Some(text(0)?),
                patient: text(1)?,
                grantee: text(2)?,
                scope,
                purpose: text(4)?,
                start: from_micros(item[5].as_i64()?),
                end,
                state,
                initiator,
                reason: match &item[9] {
                    Value::Null => None,
                    reason => Some(reason.as_str()?.to_owned()),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
