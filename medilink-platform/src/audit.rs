//! The [`AuditLog`] seam: an append-only, tamper-evident trail of who touched which data.
//!
//! Each record carries `hash = SHA-256(prev_hash ‖ canonical(seq, entry))`, chained from
//! [`GENESIS_HASH`]; [`AuditLog::verify`] recomputes the chain and names the first record whose
//! content, position or link does not match.
//!
//! The canonical form has two versions ([`AuditFormat`]): records written before migration
//! `0006_audit_patients` (one URL-derived `patient_id`) keep their original form, so they
//! verify unchanged; newer records hash the patients and resource types as well. A record's
//! optional `detail` (migration `0011_audit_detail`: a research export's purpose) is hashed
//! only when present, so a record without one hashes exactly as before it existed.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use medilink_fhir::clock::to_micros;
use medilink_fhir::context::AccessSummary;
use medilink_fhir::error::FhirResult;

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened (before it is appended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it happened.
    pub at: OffsetDateTime,
    /// The user id of the caller (none for anonymous or system callers).
    pub actor: Option<String>,
    /// The caller's role.
    pub role: Option<String>,
    /// What was done: an [`Action`]'s name (`read`, `create`, `consent-grant`, …). Stored as
    /// text so that a record still reads, and verifies or fails to, whatever it holds; write
    /// it with `Action::….into()` and compare it with [`AuditEntry::action`].
    pub action: String,
    /// The resource type the request named (its URL), if any.
    pub resource_type: Option<String>,
    /// The resources returned or changed, as `Type/id` (records of format
    /// [`AuditFormat::V1`]: the id the URL named).
    pub resource_ids: Vec<String>,
    /// The patients whose data was returned or changed, each with the `Type/id`s of theirs
    /// (empty when not kept: records of format [`AuditFormat::V1`]); a bulk export, which
    /// keeps no resources, names each patient's types instead (bare `Type`s, no `/`).
    pub patients: BTreeMap<String, Vec<String>>,
    /// The types of the resources returned or changed (sorted, distinct; empty in
    /// [`AuditFormat::V1`] records).
    pub resource_types: Vec<String>,
    /// The outcome as an HTTP status.
    pub outcome: u16,
    /// The client address.
    pub client_ip: Option<String>,
    /// The request id.
    pub request_id: String,
    /// What the actor said the action was for, when the action takes one (a research
    /// export's purpose); never patient data.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// The entry's action (`None`: a name this version does not know).
    pub fn action(&self) -> Option<Action> {
        self.action.parse().ok()
    }

    /// The entry naming what `accessed` recorded: the resources as `Type/id`, their patients
    /// and types (the one place a disclosure sink becomes audit fields).
    ///
    /// A record names the resources of several patients together; `patients` keeps which
    /// belong to whom, so that one patient's view shows only theirs.
    pub fn disclosing(mut self, accessed: &AccessSummary) -> AuditEntry {
        self.resource_ids = accessed
            .resources
            .iter()
            .map(|(resource_type, id)| format!("{resource_type}/{id}"))
            .collect();
        self.patients = accessed
            .patients
            .iter()
            .map(|(patient, theirs)| {
                let mut refs: Vec<String> = theirs
                    .iter()
                    .map(|(resource_type, id)| format!("{resource_type}/{id}"))
                    .collect();
                // A summarizing sink (bulk work): the patient's types, bounded by types.
                if let Some(types) = accessed.patient_types.get(patient)
                    && refs.is_empty()
                {
                    refs = types.iter().map(|ty| ty.as_str().to_owned()).collect();
                }
                (patient.clone(), refs)
            })
            .collect();
        self.resource_types = accessed
            .resource_types
            .iter()
            .map(|resource_type| resource_type.as_str().to_owned())
            .collect();
        self
    }
}

/// The `detail` of a record of a request made through the SMART app `client_id` (issue #17).
pub fn app_detail(client_id: &str) -> String {
    format!("{APP_DETAIL_PREFIX}{client_id}")
}

/// The app a record's `detail` names ([`app_detail`]), if any.
pub fn app_of_detail(detail: &str) -> Option<&str> {
    detail.strip_prefix(APP_DETAIL_PREFIX)
}

/// What starts the `detail` of a record of a request made through a SMART app.
pub const APP_DETAIL_PREFIX: &str = "smart-app ";

/// Every audit action, by the name it is stored under. Request actions are declared with
/// their routes (`medilink-server/src/routes.rs`); the others by the code that records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read of one resource (`GET /fhir/R4/{type}/{id}`).
    Read,
    /// A read of one version.
    Vread,
    /// A search (`GET` or `POST _search`, `$everything`).
    Search,
    /// A history (instance, type or system).
    History,
    /// A create, also conditional.
    Create,
    /// An update, also conditional.
    Update,
    /// A JSON Patch.
    Patch,
    /// A delete, also conditional.
    Delete,
    /// A batch or transaction Bundle.
    Bundle,
    /// A Bulk Data `$export` kick-off.
    Export,
    /// A Bulk Data export's status.
    ExportStatus,
    /// A Bulk Data export's cancellation.
    ExportCancel,
    /// A Bulk Data export file download.
    ExportFile,
    /// A finished run of the `fhir.export` job.
    ExportJob,
    /// The cross-resource full-text search (`/api/search`).
    FulltextSearch,
    /// A document upload.
    DocumentUpload,
    /// A reviewer's accept of a document's results.
    DocumentAccept,
    /// A document job's cancellation.
    DocumentCancel,
    /// A look at document jobs.
    DocumentStatus,
    /// The publication of a document's results by the `document.ingest` job.
    DocumentPublish,
    /// A patient's grant of consent.
    ConsentGrant,
    /// A physician's request for consent.
    ConsentRequest,
    /// A patient's accept of a request.
    ConsentAccept,
    /// A patient's decline of a request.
    ConsentDecline,
    /// A grant's revocation.
    ConsentRevoke,
    /// A break-glass grant.
    BreakGlass,
    /// A research export: kick-off, status, cancel or file download.
    ResearchExport,
    /// A drug-interaction and allergy check (`/api/clinical/drug-interactions`).
    DrugCheck,
    /// A physician's acknowledgement of a drug-safety finding.
    DrugAcknowledge,
    /// A look at a patient's drug checks and acknowledgements.
    DrugHistory,
    /// A CDS Hooks service call (`/cds-services/{id}`).
    CdsHook,
    /// An admin approved a pending account.
    UserApprove,
    /// An admin suspended an account.
    UserSuspend,
    /// An admin reinstated a suspended account.
    UserReinstate,
    /// An admin cleared an account's lockouts.
    UserUnlock,
    /// An admin changed an account's role.
    UserRoleChange,
    /// An admin invited a researcher.
    InvitationCreate,
    /// An admin revoked an invitation.
    InvitationRevoke,
    /// An invitation was accepted (the account it created).
    InvitationAccept,
    /// An admin started a full-text rebuild.
    Reindex,
    /// An admin started an audit chain verification.
    AuditVerify,
    /// A SMART app registered (RFC 7591; pending until approved).
    SmartClientRegister,
    /// An admin approved a SMART app.
    SmartClientApprove,
    /// An admin suspended a SMART app.
    SmartClientSuspend,
    /// A user approved or denied a SMART app's authorization request.
    SmartAuthorize,
    /// A physician launched a SMART app for a patient (EHR launch).
    SmartLaunch,
    /// A SMART access token was issued (code exchange or client credentials).
    SmartTokenIssue,
    /// A SMART refresh token was rotated for a new access token.
    SmartTokenRefresh,
    /// A SMART token, or a user's remembered decision with its tokens, was revoked.
    SmartTokenRevoke,
    /// A used authorization code or rotated refresh token was presented again: its tokens are revoked.
    SmartTokenReuse,
    /// A FHIR Subscription notification sent to its subscriber (issue #21): recorded like a
    /// read of what it disclosed.
    SubscriptionNotification,
    /// Any other request to an audited route (a method it does not have, an unknown path).
    Other,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 52] = [
        Action::Read,
        Action::Vread,
        Action::Search,
        Action::History,
        Action::Create,
        Action::Update,
        Action::Patch,
        Action::Delete,
        Action::Bundle,
        Action::Export,
        Action::ExportStatus,
        Action::ExportCancel,
        Action::ExportFile,
        Action::ExportJob,
        Action::FulltextSearch,
        Action::DocumentUpload,
        Action::DocumentAccept,
        Action::DocumentCancel,
        Action::DocumentStatus,
        Action::DocumentPublish,
        Action::ConsentGrant,
        Action::ConsentRequest,
        Action::ConsentAccept,
        Action::ConsentDecline,
        Action::ConsentRevoke,
        Action::BreakGlass,
        Action::ResearchExport,
        Action::DrugCheck,
        Action::DrugAcknowledge,
        Action::DrugHistory,
        Action::CdsHook,
        Action::UserApprove,
        Action::UserSuspend,
        Action::UserReinstate,
        Action::UserUnlock,
        Action::UserRoleChange,
        Action::InvitationCreate,
        Action::InvitationRevoke,
        Action::InvitationAccept,
        Action::Reindex,
        Action::AuditVerify,
        Action::SmartClientRegister,
        Action::SmartClientApprove,
        Action::SmartClientSuspend,
        Action::SmartAuthorize,
        Action::SmartLaunch,
        Action::SmartTokenIssue,
        Action::SmartTokenRefresh,
        Action::SmartTokenRevoke,
        Action::SmartTokenReuse,
        Action::SubscriptionNotification,
        Action::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Vread => "vread",
            Action::Search => "search",
            Action::History => "history",
            Action::Create => "create",
            Action::Update => "update",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::Bundle => "bundle",
            Action::Export => "export",
            Action::ExportStatus => "export-status",
            Action::ExportCancel => "export-cancel",
            Action::ExportFile => "export-file",
            Action::ExportJob => "export-job",
            Action::FulltextSearch => "fulltext-search",
            Action::DocumentUpload => "document-upload",
            Action::DocumentAccept => "document-accept",
            Action::DocumentCancel => "document-cancel",
            Action::DocumentStatus => "document-status",
            Action::DocumentPublish => "document-publish",
            Action::ConsentGrant => "consent-grant",
            Action::ConsentRequest => "consent-request",
            Action::ConsentAccept => "consent-accept",
            Action::ConsentDecline => "consent-decline",
            Action::ConsentRevoke => "consent-revoke",
            Action::BreakGlass => "break-glass",
            Action::ResearchExport => "research-export",
            Action::DrugCheck => "drug-check",
            Action::DrugAcknowledge => "drug-acknowledge",
            Action::DrugHistory => "drug-history",
            Action::CdsHook => "cds-hook",
            Action::UserApprove => "user-approve",
            Action::UserSuspend => "user-suspend",
            Action::UserReinstate => "user-reinstate",
            Action::UserUnlock => "user-unlock",
            Action::UserRoleChange => "user-role-change",
            Action::InvitationCreate => "invitation-create",
            Action::InvitationRevoke => "invitation-revoke",
            Action::InvitationAccept => "invitation-accept",
            Action::Reindex => "reindex",
            Action::AuditVerify => "audit-verify",
            Action::SmartClientRegister => "smart-client-register",
            Action::SmartClientApprove => "smart-client-approve",
            Action::SmartClientSuspend => "smart-client-suspend",
            Action::SmartAuthorize => "smart-authorize",
            Action::SmartLaunch => "smart-launch",
            Action::SmartTokenIssue => "smart-token-issue",
            Action::SmartTokenRefresh => "smart-token-refresh",
            Action::SmartTokenRevoke => "smart-token-revoke",
            Action::SmartTokenReuse => "smart-token-reuse",
            Action::SubscriptionNotification => "subscription-notification",

            Action::Other => "other",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Action> for String {
    fn from(action: Action) -> String {
        action.as_str().to_owned()
    }
}

/// A name that is no [`Action`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action `{0}`")]
pub struct UnknownAction(pub String);

impl std::str::FromStr for Action {
    type Err = UnknownAction;

    fn from_str(name: &str) -> Result<Action, UnknownAction> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == name)
            .ok_or_else(|| UnknownAction(name.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The canonical form a record was hashed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditFormat {
    /// Before migration `0006_audit_patients`: at most one patient, no resource types.
    V1,
    /// Patients and resource types of what was returned or changed.
    V2,
}

impl AuditFormat {
    /// The format new records are written in.
    pub const CURRENT: AuditFormat = AuditFormat::V2;

    /// Its stored number.
    pub fn number(self) -> i32 {
        match self {
            AuditFormat::V1 => 1,
            AuditFormat::V2 => 2,
        }
    }

    /// The format stored as `number` (`None`: unknown, such a record does not verify).
    pub fn from_number(number: i32) -> Option<AuditFormat> {
        match number {
            1 => Some(AuditFormat::V1),
            2 => Some(AuditFormat::V2),
            _ => None,
        }
    }
}

/// A stored record: the entry, its position and its chain hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the trail (1, 2, …; gapless).
    pub seq: u64,
    /// The canonical form its hash was computed in (`None`: an unknown format).
    pub format: Option<AuditFormat>,
    /// What happened.
    pub entry: AuditEntry,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Which records to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Not this actor (records without an actor, and requests through a SMART app, are kept).
    pub not_actor: Option<String>,
    /// Only records naming this patient (among all the patients they name).
    pub patient_id: Option<String>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only records whose request named, or that returned or changed, this resource type.
    pub resource_type: Option<String>,
    /// Not before this instant.
    pub since: Option<OffsetDateTime>,
    /// Before this instant.
    pub until: Option<OffsetDateTime>,
    /// Only records with `seq` below this (paging).
    pub before_seq: Option<u64>,
    /// Page size (at most 1000; 0 means 100).
    pub limit: usize,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Records checked.
    pub records: u64,
    /// The first record that does not verify, if any.
    pub first_broken: Option<u64>,
}

/// The append-only audit trail.
#[async_trait]
pub trait AuditLog: Send + Sync + Debug {
    /// Appends `entries` in order, chaining each to its predecessor, in one transaction.
    async fn append(&self, entries: &[AuditEntry]) -> FhirResult<()>;
    /// Records matching `filter`, newest first.
    async fn list(&self, filter: &AuditFilter) -> FhirResult<Vec<AuditRecord>>;
    /// Recomputes the chain from the first record.
    async fn verify(&self) -> FhirResult<AuditVerification>;
    /// How many records match `filter` (its `before_seq` and `limit` ignored).
    async fn count(&self, filter: &AuditFilter) -> FhirResult<u64>;
    /// At most `limit` records from `first_seq` on, in `seq` order (verification in steps).
    async fn records_from(&self, first_seq: u64, limit: usize) -> FhirResult<Vec<AuditRecord>>;
}

/// The first record of a chain that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRecord {
    /// Its position.
    pub seq: u64,
    /// What does not match (no record content).
    pub reason: &'static str,
}

/// The hash of record `seq` with `entry` in the current format, chained to `prev_hash`
/// (lowercase hex).
pub fn chain_hash(prev_hash: &str, seq: u64, entry: &AuditEntry) -> String {
    chain_hash_in(AuditFormat::CURRENT, prev_hash, seq, entry)
}

/// The `patient_id` of a V1 canonical form: null or the one patient; anything else (added
/// later) cannot hash as the original did.
fn v1_patient(entry: &AuditEntry) -> serde_json::Value {
    let mut ids = entry.patients.keys();
    match (ids.next(), ids.next()) {
        (None, _) => serde_json::Value::Null,
        (Some(one), None) if entry.patients[one].is_empty() => serde_json::json!(one),
        _ => serde_json::json!(entry.patients),
    }
}

/// The hash of record `seq` with `entry` in `format`, chained to `prev_hash`.
pub fn chain_hash_in(format: AuditFormat, prev_hash: &str, seq: u64, entry: &AuditEntry) -> String {
    let canonical = match format {
        // Unchanged since issue #4: old records verify as they were written.
        AuditFormat::V1 => serde_json::json!([
            seq,
            to_micros(entry.at),
            entry.actor,
            entry.role,
            entry.action,
            entry.resource_type,
            entry.resource_ids,
            v1_patient(entry),
            entry.outcome,
            entry.client_ip,
            entry.request_id,
        ]),
        AuditFormat::V2 => serde_json::json!([
            "v2",
            seq,
            to_micros(entry.at),
            entry.actor,
            entry.role,
            entry.action,
            entry.resource_type,
            entry.resource_ids,
            entry.patients,
            entry.resource_types,
            entry.outcome,
            entry.client_ip,
            entry.request_id,
        ]),
    };
    // Issue #15: the detail joins the canonical form only when present, so the records
    // written before it existed (and every record without one) hash as they always did.
    let canonical = match (&entry.detail, canonical) {
        (Some(detail), serde_json::Value::Array(mut fields)) if format == AuditFormat::V2 => {
            fields.push(serde_json::json!({ "detail": detail }));
            serde_json::Value::Array(fields)
        }
        (_, canonical) => canonical,
    };
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical.to_string().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Checks records given in `seq` order, continuing from `expected_prev` at `expected_seq`;
/// returns the first broken `seq`.
pub fn verify_records(
    records: &[AuditRecord],
    expected_seq: &mut u64,
    expected_prev: &mut String,
) -> Option<u64> {
    check_records(records, expected_seq, expected_prev).map(|broken| broken.seq)
}

/// [`verify_records`], saying why the first broken record does not verify.
pub fn check_records(
    records: &[AuditRecord],
    expected_seq: &mut u64,
    expected_prev: &mut String,
) -> Option<BrokenRecord> {
    for record in records {
        let reason = if record.seq != *expected_seq {
            Some("out of sequence: a record before it is missing or was inserted")
        } else if record.prev_hash != *expected_prev {
            Some("its link to the previous record does not match")
        } else {
            match record.format {
                None => Some("its format is unknown"),
                Some(format) => {
                    (chain_hash_in(format, &record.prev_hash, record.seq, &record.entry)
                        != record.hash)
                        .then_some("its content does not match its hash")
                }
            }
        };
        if let Some(reason) = reason {
            return Some(BrokenRecord {
                seq: record.seq,
                reason,
            });
        }
        *expected_seq += 1;
        expected_prev.clone_from(&record.hash);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            at: time::macros::datetime!(2024-01-01 0:00 UTC),
            actor: Some("u-1".into()),
            role: Some("physician".into()),
            action: action.into(),
            resource_type: Some("Patient".into()),
            resource_ids: vec!["Patient/p-1".into()],
            patients: BTreeMap::from([("p-1".into(), vec!["Patient/p-1".into()])]),
            resource_types: vec!["Patient".into()],
            outcome: 200,
            client_ip: None,
            request_id: "r-1".into(),
            detail: None,
        }
    }

    #[test]
    fn every_action_reads_back_from_its_name() {
        let mut names: Vec<&str> = Action::ALL.iter().map(|action| action.as_str()).collect();
        for action in Action::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
        assert!("login".parse::<Action>().is_err());
        assert_eq!(
            entry("consent-revoke").action(),
            Some(Action::ConsentRevoke)
        );
    }

    #[test]
    fn a_changed_field_breaks_the_chain_at_that_record() {
        let mut records = Vec::new();
        let mut prev = GENESIS_HASH.to_owned();
        for (seq, action) in [(1, "read"), (2, "update"), (3, "read")] {
            let hash = chain_hash(&prev, seq, &entry(action));
            records.push(AuditRecord {
                seq,
                format: Some(AuditFormat::CURRENT),
                entry: entry(action),
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(verify_records(&records, &mut seq, &mut prev), None);
        records[1].entry.action = "read".into();
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(verify_records(&records, &mut seq, &mut prev), Some(2));
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(
            check_records(&records, &mut seq, &mut prev).map(|broken| broken.reason),
            Some("its content does not match its hash")
        );
        records.remove(1);
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(
            check_records(&records, &mut seq, &mut prev).map(|broken| broken.reason),
            Some("out of sequence: a record before it is missing or was inserted")
        );
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(verify_records(&records, &mut seq, &mut prev), Some(3));
    }

    // Issue #15: a detail is hashed when present; a record without one hashes as before.
    #[test]
    fn a_detail_is_hashed_only_when_present() {
        let plain = entry("research-export");
        let canonical = serde_json::json!([
            "v2",
            3,
            1_704_067_200_000_000_i64,
            "u-1",
            "physician",
            "research-export",
            "Patient",
            ["Patient/p-1"],
            {"p-1": ["Patient/p-1"]},
            ["Patient"],
            200,
            null,
            "r-1"
        ]);
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH.as_bytes());
        hasher.update(canonical.to_string().as_bytes());
        let expected: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(chain_hash(GENESIS_HASH, 3, &plain), expected);
        let mut with_detail = plain.clone();
        with_detail.detail = Some("a study of resting heart rates".into());
        let hashed = chain_hash(GENESIS_HASH, 3, &with_detail);
        assert_ne!(hashed, expected);
        with_detail.detail = Some("another purpose entirely, changed".into());
        assert_ne!(chain_hash(GENESIS_HASH, 3, &with_detail), hashed);
    }

    #[test]
    fn a_v1_record_hashes_in_its_original_form() {
        // The canonical form of issue #4, computed by hand: old records must keep verifying.
        let mut old = entry("read");
        old.resource_ids = vec!["p-1".into()];
        old.resource_types = Vec::new();
        old.patients = BTreeMap::from([("p-1".into(), Vec::new())]);
        let canonical = serde_json::json!([
            7,
            1_704_067_200_000_000_i64,
            "u-1",
            "physician",
            "read",
            "Patient",
            ["p-1"],
            "p-1",
            200,
            null,
            "r-1"
        ]);
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH.as_bytes());
        hasher.update(canonical.to_string().as_bytes());
        let expected: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(
            chain_hash_in(AuditFormat::V1, GENESIS_HASH, 7, &old),
            expected
        );
        // The same content hashes differently in V2, and a second patient breaks V1.
        assert_ne!(chain_hash(GENESIS_HASH, 7, &old), expected);
        old.patients.insert("p-2".into(), Vec::new());
        assert_ne!(
            chain_hash_in(AuditFormat::V1, GENESIS_HASH, 7, &old),
            expected
        );
        // A record of an unknown format never verifies.
        let record = AuditRecord {
            seq: 1,
            format: None,
            entry: entry("read"),
            prev_hash: GENESIS_HASH.to_owned(),
            hash: chain_hash(GENESIS_HASH, 1, &entry("read")),
        };
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(verify_records(&[record], &mut seq, &mut prev), Some(1));
    }
}
