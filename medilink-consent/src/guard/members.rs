//! [`Members`]: an in-process memo of each stored version's compartment patients.
//!
//! A stored version never changes, so its compartment patients (what a read decision needs)
//! can be computed once. The key names the version as precisely as the store does: type, id,
//! version id, change-feed position, last-updated instant and the length of its text, so a
//! version number reused after a rolled-back write (same id and version, other content) does
//! not match. Bounded: two generations of at most [`GENERATION`] entries; a hit in the older
//! one is carried into the newer, and when the newer is full the older is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use medilink_fhir::{ResourceId, ResourceType, StoredResource, VersionId};
use time::OffsetDateTime;

/// Entries per generation (at most twice this many are kept).
const GENERATION: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    resource_type: ResourceType,
    id: ResourceId,
    version: VersionId,
    seq: u64,
    last_updated: OffsetDateTime,
    len: usize,
}

impl Key {
    fn of(stored: &StoredResource, json: &str) -> Key {
        Key {
            resource_type: stored.resource_type,
            id: stored.id.clone(),
            version: stored.version_id,
            seq: stored.seq,
            last_updated: stored.last_updated,
            len: json.len(),
        }
    }
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Key, Arc<[String]>>,
    previous: HashMap<Key, Arc<[String]>>,
}

impl Generations {
    fn insert(&mut self, key: Key, patients: Arc<[String]>) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, patients);
    }
}

/// Compartment patients per stored version.
#[derive(Debug, Default)]
pub(crate) struct Members {
    generations: Mutex<Generations>,
}

impl Members {
    /// The compartment patients of `stored` (whose text is `json`), computed by `compute`
    /// unless known; `None` (not remembered) when `compute` gives none.
    pub(crate) fn get_or(
        &self,
        stored: &StoredResource,
        json: &str,
        compute: impl FnOnce() -> Option<Vec<String>>,
    ) -> Option<Arc<[String]>> {
        let key = Key::of(stored, json);
        {
            let mut generations = self
                .generations
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if let Some(patients) = generations.current.get(&key) {
                return Some(patients.clone());
            }
            if let Some(patients) = generations.previous.remove(&key) {
                generations.insert(key, patients.clone());
                return Some(patients);
            }
        }
        // Computed outside the lock; two requests racing on one version compute the same.
        let patients: Arc<[String]> = Arc::from(compute()?);
        self.generations
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(key, patients.clone());
        Some(patients)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        generations.current.len() + generations.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use time::macros::datetime;

    fn stored(id: &str, version: u64, json: &str) -> StoredResource {
        StoredResource {
            resource_type: ResourceType::Observation,
            id: ResourceId::new(id).expect("id"),
            version_id: VersionId(version),
            last_updated: datetime!(2024-01-01 0:00 UTC),
            seq: version,
            json: Some(Arc::from(json)),
        }
    }

    #[test]
    fn a_version_is_computed_once_and_another_version_again() {
        let members = Members::default();
        let calls = Cell::new(0);
        let compute = |patient: &str| {
            calls.set(calls.get() + 1);
            Some(vec![patient.to_owned()])
        };
        let v1 = stored("o1", 1, "{}");
        assert_eq!(
            members.get_or(&v1, "{}", || compute("a")).as_deref(),
            Some(&["a".to_owned()][..])
        );
        assert_eq!(
            members.get_or(&v1, "{}", || compute("x")).as_deref(),
            Some(&["a".to_owned()][..])
        );
        assert_eq!(calls.get(), 1);
        // A new version, or the same version number with other text, is computed afresh.
        let v2 = stored("o1", 2, "{}");
        assert_eq!(
            members.get_or(&v2, "{}", || compute("b")).as_deref(),
            Some(&["b".to_owned()][..])
        );
        let rewritten = stored("o1", 1, "{ }");
        assert_eq!(
            members
                .get_or(&rewritten, "{ }", || compute("c"))
                .as_deref(),
            Some(&["c".to_owned()][..])
        );
        assert_eq!(calls.get(), 3);
        // Unparseable text is not remembered.
        let bad = stored("o2", 1, "[");
        assert_eq!(members.get_or(&bad, "[", || None), None);
        assert_eq!(
            members.get_or(&bad, "[", || compute("d")).as_deref(),
            Some(&["d".to_owned()][..])
        );
    }

    #[test]
    fn the_memo_is_bounded() {
        let members = Members::default();
        for version in 0..(3 * GENERATION as u64) {
            let v = stored("o1", version, "{}");
            members.get_or(&v, "{}", || Some(Vec::new()));
        }
        assert!(members.len() <= 2 * GENERATION);
        assert!(members.len() >= GENERATION);
    }
}
