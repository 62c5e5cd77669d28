//! A patient's access log ([`ConsentService::access_log`]): who accessed the calling
//! patient's data, when, which of their resources (`Type/id`) and types, and under which
//! grant — one in force at that instant, break-glass first (and then marked).
//!
//! Every audit record naming the patient counts: the patients of a record are those of what
//! the consent guard returned or changed, so a physician's search or batch read of the
//! patient's Observations is here. The patient's own accesses are left out (by the query, so
//! paging stays exact); a record naming other patients too shows only this patient's
//! resources. A physician's Bulk `$export` is here too (action `export-job`, at the instant
//! the run finished), with the types of this patient's data that went into its files.
//! Accesses through a SMART app (issue #17) name the app, and the patient's own accesses
//! through an app are listed too: the patient sees which app read what.

use std::collections::HashMap;

use medilink_fhir::RequestContext;
use medilink_fhir::clock::format_instant;
use medilink_platform::{Action, AuditFilter, AuditLog, AuditRecord, Caller, CallerContext, Role};
use serde::Serialize;

use crate::error::{ConsentError, ConsentResult};
use crate::grant::Grant;
use crate::service::ConsentService;

/// Which page of the log: at most `limit` records (0: the audit log's default) before the
/// record `before` (none: the newest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogPage {
    /// Records at most.
    pub limit: usize,
    /// Only records before this sequence number.
    pub before: Option<u64>,
}

/// One access to the patient's data (its JSON form is the `/api/consents/access-log` item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessLogEntry {
    /// The audit record's position.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// The account that accessed the data (none: the platform).
    pub actor: Option<String>,
    /// The actor's display name, when [`AccessLog::name_actors`] knows one.
    pub actor_name: Option<String>,
    /// The actor's role.
    pub role: Option<String>,
    /// The audited action.
    pub action: String,
    /// The type the request named.
    pub resource_type: Option<String>,
    /// This patient's resources the access concerned (`Type/id`).
    pub resource_ids: Vec<String>,
    /// Their types, sorted, without repeats (for records that kept no resources: the
    /// record's types, when it names this patient only).
    pub resource_types: Vec<String>,
    /// The outcome (an HTTP-style status number).
    pub outcome: u16,
    /// The grant in force at that instant, if any.
    pub grant: Option<String>,
    /// Whether the access was a break-glass or under a break-glass grant.
    pub break_glass: bool,
    /// The SMART app the access came through (its `client_id`; issue #17), if any. The
    /// patient's own accesses through an app are listed too.
    pub app: Option<String>,
}

/// A page of a patient's access log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessLog {
    /// The accesses.
    pub entries: Vec<AccessLogEntry>,
}

impl AccessLog {
    /// The accounts named as actors (to look their display names up).
    pub fn actors(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter_map(|entry| entry.actor.as_deref())
    }

    /// Fills in the actors' display names from `names` (account id → name).
    pub fn name_actors(mut self, names: &HashMap<String, String>) -> Self {
        for entry in &mut self.entries {
            entry.actor_name = entry
                .actor
                .as_ref()
                .and_then(|actor| names.get(actor))
                .cloned();
        }
        self
    }
}

impl ConsentService {
    /// The access log of the patient signed in as the caller of `ctx`, read from `audit`;
    /// anyone else has none (forbidden).
    pub async fn access_log(
        &self,
        ctx: &RequestContext,
        audit: &dyn AuditLog,
        page: LogPage,
    ) -> ConsentResult<AccessLog> {
        let Caller::User {
            role: Role::Patient,
            patient_id: Some(patient),
            user_id,
            ..
        } = ctx.caller()
        else {
            return Err(ConsentError::RoleRequired {
                reason: "only patients have an access log",
            });
        };
        let records = audit
            .list(&AuditFilter {
                patient_id: Some(patient.to_string()),
                not_actor: Some(user_id.0.clone()),
                before_seq: page.before,
                limit: page.limit,
                ..AuditFilter::default()
            })
            .await?;
        let grants = self.grants_of_patient(patient.as_str()).await?;
        let entries = records
            .iter()
            .map(|record| log_entry(record, patient.as_str(), &grants))
            .collect();
        Ok(AccessLog { entries })
    }
}

/// What `record` says about `patient`, and the grant of `grants` it was made under.
fn log_entry(record: &AuditRecord, patient: &str, grants: &[Grant]) -> AccessLogEntry {
    let entry = &record.entry;
    // Only grants in force at the read instant (a revoked grant's period ends at its
    // revocation); a break-glass grant wins over an ordinary one.
    let mut in_force = grants.iter().filter(|grant| {
        entry.actor.as_deref() == Some(grant.grantee.as_str()) && grant.in_force_at(entry.at)
    });
    let grant = in_force
        .clone()
        .find(|grant| grant.is_break_glass())
        .or_else(|| in_force.next());
    // Only this patient's resources, and their types (a record may name others'); a bulk
    // export names the patient's types only (bare `Type`s).
    let named = entry.patients.get(patient).cloned().unwrap_or_default();
    let mut types: Vec<&str> = named
        .iter()
        .map(|named| named.split_once('/').map_or(named.as_str(), |(ty, _)| ty))
        .collect();
    let theirs: Vec<String> = named
        .iter()
        .filter(|named| named.contains('/'))
        .cloned()
        .collect();
    if types.is_empty() && entry.patients.len() == 1 {
        // Resources not kept (bulk export, older records): the record's types.
        types = entry.resource_types.iter().map(String::as_str).collect();
    }
    types.sort_unstable();
    types.dedup();
    AccessLogEntry {
        seq: record.seq,
        at: format_instant(entry.at),
        actor: entry.actor.clone(),
        actor_name: None,
        role: entry.role.clone(),
        action: entry.action.clone(),
        resource_type: entry.resource_type.clone(),
        resource_types: types.into_iter().map(str::to_owned).collect(),
        resource_ids: theirs,
        outcome: entry.outcome,
        grant: grant.and_then(|grant| grant.id.clone()),
        break_glass: entry.action() == Some(Action::BreakGlass)
            || grant.is_some_and(Grant::is_break_glass),
        app: entry
            .detail
            .as_deref()
            .and_then(medilink_platform::audit::app_of_detail)
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use medilink_platform::AuditEntry;
    use time::macros::datetime;

    use super::*;
    use crate::grant::{GrantState, Initiator, Scope};

    fn grant(id: &str, purpose: &str, end: Option<time::OffsetDateTime>) -> Grant {
        Grant {
            id: Some(id.to_owned()),
            patient: "p1".into(),
            grantee: "doc".into(),
            scope: Scope::All,
            purpose: purpose.into(),
            start: datetime!(2024-01-01 0:00 UTC),
            end,
            state: GrantState::Active,
            initiator: Initiator::Patient,
            reason: None,
        }
    }

    fn record(patients: BTreeMap<String, Vec<String>>, types: &[&str]) -> AuditRecord {
        AuditRecord {
            seq: 7,
            format: None,
            entry: AuditEntry {
                at: datetime!(2024-01-02 0:00 UTC),
                actor: Some("doc".into()),
                role: Some("physician".into()),
                action: Action::Search.into(),
                resource_type: Some("Observation".into()),
                resource_ids: Vec::new(),
                patients,
                resource_types: types.iter().map(|ty| (*ty).to_owned()).collect(),
                outcome: 200,
                client_ip: None,
                request_id: "r".into(),
                detail: None,
            },
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn break_glass_wins_and_only_the_patients_resources_show() {
        let grants = [
            grant("g1", "TREAT", None),
            grant(
                "g2",
                crate::grant::BREAK_GLASS_PURPOSE,
                Some(datetime!(2024-01-03 0:00 UTC)),
            ),
            grant("g3", "TREAT", Some(datetime!(2024-01-01 12:00 UTC))),
        ];
        let patients = BTreeMap::from([
            (
                "p1".to_owned(),
                vec!["Observation/o2".to_owned(), "Condition/c1".to_owned()],
            ),
            ("p2".to_owned(), vec!["Observation/o9".to_owned()]),
        ]);
        let entry = log_entry(&record(patients, &["Observation"]), "p1", &grants);
        assert_eq!(entry.grant.as_deref(), Some("g2"));
        assert!(entry.break_glass);
        assert_eq!(entry.resource_ids, ["Observation/o2", "Condition/c1"]);
        assert_eq!(entry.resource_types, ["Condition", "Observation"]);
        // Without the break-glass grant the ordinary one in force applies; expired ones never.
        let entry = log_entry(&record(BTreeMap::new(), &[]), "p1", &grants[2..]);
        assert_eq!((entry.grant, entry.break_glass), (None, false));
        let entry = log_entry(&record(BTreeMap::new(), &[]), "p1", &grants[..1]);
        assert_eq!(entry.grant.as_deref(), Some("g1"));
    }

    #[test]
    fn a_record_without_resources_shows_its_types_when_it_names_only_this_patient() {
        let only = BTreeMap::from([("p1".to_owned(), Vec::new())]);
        let entry = log_entry(&record(only, &["Patient", "Observation"]), "p1", &[]);
        assert_eq!(entry.resource_types, ["Observation", "Patient"]);
        let both = BTreeMap::from([("p1".to_owned(), Vec::new()), ("p2".to_owned(), Vec::new())]);
        let entry = log_entry(&record(both, &["Patient"]), "p1", &[]);
        assert!(entry.resource_types.is_empty());
        // Issue #15: a bulk export names each patient's types.
        let bulk = BTreeMap::from([
            (
                "p1".to_owned(),
                vec!["Observation".to_owned(), "Condition".to_owned()],
            ),
            ("p2".to_owned(), vec!["Patient".to_owned()]),
        ]);
        let bulk = log_entry(
            &record(bulk, &["Condition", "Observation", "Patient"]),
            "p1",
            &[],
        );
        assert_eq!(bulk.resource_types, ["Condition", "Observation"]);
        assert!(bulk.resource_ids.is_empty());
        let log = AccessLog {
            entries: vec![entry],
        };
        let names = HashMap::from([("doc".to_owned(), "Dr. Who".to_owned())]);
        assert_eq!(log.actors().collect::<Vec<_>>(), ["doc"]);
        let named = log.name_actors(&names);
        assert_eq!(named.entries[0].actor_name.as_deref(), Some("Dr. Who"));
    }
}
