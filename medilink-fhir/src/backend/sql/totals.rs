//! [`TotalCache`]: counted search totals (`_total=accurate`, the default) kept per statement
//! while the store is unchanged (issue #19), so that paging through a large result, or the same
//! search asked again, does not count every matching row each time.
//!
//! A total is the `COUNT(*)` of one statement with its bound values (the consent restriction and
//! the planner's clock are among them, so another caller or another instant is another key) at
//! one **watermark**: the highest change-feed sequence number, read (`MAX(seq)`, one index
//! lookup) before the count. Every write of a resource, index row or tombstone commits a new
//! version with a higher `seq`, so an entry is used only while no write has committed since it
//! was counted. A write that commits between the watermark read and the count makes the entry
//! count more than its watermark says; no later search reads that watermark again (it reads the
//! newer one), so such an entry is never used. Bounded: past [`CAPACITY`] entries the cache is
//! emptied.

use std::collections::HashMap;
use std::sync::Mutex;

use sea_orm::Value as SqlValue;

/// Entries kept at most (one per distinct counted statement).
const CAPACITY: usize = 1024;

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct TotalCache {
    entries: Mutex<HashMap<String, (i64, u64)>>,
}

/// The key of a statement with its values.
pub(super) fn key(sql: &str, values: &[SqlValue]) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(sql.len() + 16 * values.len());
    key.push_str(sql);
    for value in values {
        let _ = write!(key, "\u{1f}{value:?}");
    }
    key
}

impl TotalCache {
    /// The total counted for `key` at `watermark`, if any.
    pub(super) fn get(&self, key: &str, watermark: i64) -> Option<u64> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(counted_at, _)| *counted_at == watermark)
            .map(|(_, total)| *total)
    }

    /// Keeps `total` for `key` at `watermark`.
    pub(super) fn put(&self, key: String, watermark: i64, total: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(key, (watermark, total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_is_used_only_at_its_watermark_and_for_its_values() {
        let cache = TotalCache::default();
        let sql = "SELECT COUNT(*) FROM resources r WHERE r.resource_type = ?";
        let patients = key(sql, &["Patient".into()]);
        cache.put(patients.clone(), 7, 42);
        assert_eq!(cache.get(&patients, 7), Some(42));
        assert_eq!(cache.get(&patients, 8), None, "written since");
        assert_eq!(cache.get(&key(sql, &["Observation".into()]), 7), None);
        assert_ne!(key(sql, &[SqlValue::from(1i64)]), key(sql, &["1".into()]));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TotalCache::default();
        for n in 0..CAPACITY + 10 {
            cache.put(format!("k{n}"), 1, n as u64);
        }
        assert!(cache.entries.lock().expect("lock").len() <= CAPACITY);
        assert_eq!(
            cache.get(&format!("k{}", CAPACITY + 9), 1),
            Some((CAPACITY + 9) as u64)
        );
    }
}
