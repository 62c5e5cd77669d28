//! The [`AuditLog`] seam: an append-only, tamper-evident trail of who touched which data.
//!
//! Each record carries `hash = SHA-256(prev_hash ‖ canonical(seq, entry))`, chained from
//! [`GENESIS_HASH`]; [`AuditLog::verify`] recomputes the chain and names the first record whose
//! content, position or link does not match.

use std::fmt::Debug;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::clock::to_micros;
use crate::error::FhirResult;

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
    /// The interaction (`read`, `create`, `search`, `login`, …).
    pub action: String,
    /// The resource type touched.
    pub resource_type: Option<String>,
    /// The ids touched.
    pub resource_ids: Vec<String>,
    /// The patient whose data it was, when known.
    pub patient_id: Option<String>,
    /// The outcome as an HTTP status.
    pub outcome: u16,
    /// The client address.
    pub client_ip: Option<String>,
    /// The request id.
    pub request_id: String,
}

/// A stored record: the entry, its position and its chain hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the trail (1, 2, …; gapless).
    pub seq: u64,
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
    /// Only this patient.
    pub patient_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this resource type.
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
}

/// The hash of record `seq` with `entry`, chained to `prev_hash` (lowercase hex).
pub fn chain_hash(prev_hash: &str, seq: u64, entry: &AuditEntry) -> String {
    let canonical = serde_json::json!([
        seq,
        to_micros(entry.at),
        entry.actor,
        entry.role,
        entry.action,
        entry.resource_type,
        entry.resource_ids,
        entry.patient_id,
        entry.outcome,
        entry.client_ip,
        entry.request_id,
    ]);
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
    for record in records {
        let ok = record.seq == *expected_seq
            && record.prev_hash == *expected_prev
            && chain_hash(&record.prev_hash, record.seq, &record.entry) == record.hash;
        if !ok {
            return Some(record.seq);
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
            resource_ids: vec!["p-1".into()],
            patient_id: Some("p-1".into()),
            outcome: 200,
            client_ip: None,
            request_id: "r-1".into(),
        }
    }

    #[test]
    fn a_changed_field_breaks_the_chain_at_that_record() {
        let mut records = Vec::new();
        let mut prev = GENESIS_HASH.to_owned();
        for (seq, action) in [(1, "read"), (2, "update"), (3, "read")] {
            let hash = chain_hash(&prev, seq, &entry(action));
            records.push(AuditRecord {
                seq,
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
        records.remove(1);
        let (mut seq, mut prev) = (1, GENESIS_HASH.to_owned());
        assert_eq!(verify_records(&records, &mut seq, &mut prev), Some(3));
    }
}
