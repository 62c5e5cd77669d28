//! [`DecodedGrants`]: the in-process memo of decoded grant lists, one per grantee.
//!
//! The `KeyValue` entry of a grantee stays the source of truth and is read on every request;
//! what this memo saves is decoding it. An entry is reused only while the key-value store
//! returns exactly the bytes it was decoded from, so any change there (a revocation in this
//! process or another one sharing Redis deletes the key; the next fill writes new bytes) is
//! seen by the very next request. Expiry needs nothing here: grants keep their period and
//! every decision compares it with the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::grant::Grant;

/// Grantees remembered at most; beyond that the memo starts over (it is only a memo).
const MAX_GRANTEES: usize = 4096;

/// Decoded grants of a grantee, with the key-value bytes they came from.
#[derive(Debug)]
struct Entry {
    bytes: Vec<u8>,
    grants: Arc<[Grant]>,
}

/// Decoded grant lists keyed by grantee, each valid for one exact key-value value.
#[derive(Debug, Default)]
pub(crate) struct DecodedGrants {
    entries: Mutex<HashMap<String, Entry>>,
}

impl DecodedGrants {
    /// The grants decoded earlier from exactly `bytes`, if any.
    pub(crate) fn get(&self, grantee: &str, bytes: &[u8]) -> Option<Arc<[Grant]>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries
            .get(grantee)
            .filter(|entry| entry.bytes == bytes)
            .map(|entry| entry.grants.clone())
    }

    /// Remembers `grants` as the decoding of `bytes`.
    pub(crate) fn put(&self, grantee: &str, bytes: Vec<u8>, grants: Arc<[Grant]>) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if entries.len() >= MAX_GRANTEES && !entries.contains_key(grantee) {
            entries.clear();
        }
        entries.insert(grantee.to_owned(), Entry { bytes, grants });
    }

    /// Forgets a grantee (its grants changed in this process).
    pub(crate) fn forget(&self, grantee: &str) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        entries.remove(grantee);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(patient: &str) -> Arc<[Grant]> {
        use crate::grant::{GrantState, Initiator, Scope};
        Arc::from(vec![Grant {
            id: Some("c1".into()),
            patient: patient.into(),
            grantee: "doc".into(),
            scope: Scope::All,
            purpose: "TREAT".into(),
            start: time::macros::datetime!(2024-01-01 0:00 UTC),
            end: None,
            state: GrantState::Active,
            initiator: Initiator::Patient,
            reason: None,
        }])
    }

    #[test]
    fn an_entry_serves_only_the_exact_bytes_it_was_decoded_from() {
        let memo = DecodedGrants::default();
        assert!(memo.get("doc", b"v1").is_none());
        memo.put("doc", b"v1".to_vec(), grants("p1"));
        assert_eq!(memo.get("doc", b"v1").expect("memo")[0].patient, "p1");
        assert!(
            memo.get("doc", b"v2").is_none(),
            "changed bytes are decoded again"
        );
        assert!(memo.get("other", b"v1").is_none(), "per grantee");
        memo.put("doc", b"v2".to_vec(), grants("p2"));
        assert!(memo.get("doc", b"v1").is_none());
        assert_eq!(memo.get("doc", b"v2").expect("memo")[0].patient, "p2");
        memo.forget("doc");
        assert!(memo.get("doc", b"v2").is_none());
    }

    #[test]
    fn the_memo_is_bounded() {
        let memo = DecodedGrants::default();
        for n in 0..MAX_GRANTEES {
            memo.put(&format!("doc{n}"), b"v".to_vec(), grants("p"));
        }
        memo.put("one-more", b"v".to_vec(), grants("p"));
        let entries = memo.entries.lock().expect("lock");
        assert_eq!(entries.len(), 1);
        assert!(entries.contains_key("one-more"));
    }
}
