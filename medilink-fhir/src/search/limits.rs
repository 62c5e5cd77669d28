//! The query budget: every limit one request may reach, in one place.
//!
//! A request past a limit is refused before any database work with a `400` (an
//! [`FhirError::Invalid`] with issue code `too-costly`) naming the limit and its value, on every
//! backend, since the checks run in the parser ([`super::query`]), in bundle processing and in conditional
//! operations. The limits are far above what a legitimate client sends and far below what a
//! database handles without trouble; ARCHITECTURE.md ("Limits") lists them.

use crate::error::{FhirError, IssueCode};

/// Largest number of hops of one chain (`a.b.c._id=x` is 3 hops).
pub const MAX_CHAIN_DEPTH: usize = 4;
/// Largest nesting of `_has` (`_has:A:r:_has:B:s:p=x` is 2).
pub const MAX_HAS_DEPTH: usize = 4;
/// Largest fan-out of one chain: the product, over its hops, of the candidate target types of
/// a reference without a type modifier (a reference that may target `Any` type offers every
/// type that has the next parameter). Past it the client must name the type
/// (`composed-of:PlanDefinition.`).
pub const MAX_CHAIN_FAN_OUT: usize = 256;
/// Largest number of search criteria (parameters, ANDed) in one request, including the
/// parameters of a conditional operation.
pub const MAX_CRITERIA: usize = 100;
/// Largest number of OR-ed values of one parameter (`code=a,b,c` is 3).
pub const MAX_VALUES_PER_PARAM: usize = 1000;
/// Largest number of values (OR-ed values over all criteria and chain branches) one search may
/// bind. Together with the fan-out limit this keeps every statement far below the backends'
/// bind-parameter limits (SQLite 32,766; PostgreSQL 65,535), since each value binds at most a
/// handful of parameters.
pub const MAX_TOTAL_VALUES: usize = 2000;
/// Largest number of bind parameters one search statement may carry (checked by the SQL
/// planner before it runs; the limits above keep searches below it).
pub const MAX_BIND_PARAMETERS: usize = 30_000;
/// Largest number of `_sort` keys.
pub const MAX_SORT_KEYS: usize = 8;
/// Largest number of `_include` plus `_revinclude` parameters.
pub const MAX_INCLUDES: usize = 16;
/// Largest number of entries of a batch or transaction Bundle.
pub const MAX_BUNDLE_ENTRIES: usize = 5000;
/// Largest number of criteria of a conditional operation (`If-None-Exist`, conditional
/// update/delete, conditional references).
pub const MAX_CONDITIONAL_CRITERIA: usize = 20;
/// Search-index keys of text values are the value's first bytes, at most this many (cut at a
/// character boundary), so that an index row stays far below PostgreSQL's B-tree limit
/// (2,704 bytes). Prefix and exact searches are exact for values of up to this many bytes;
/// longer values compare on their first bytes (see `backend/sql/index_rows.rs`).
pub const MAX_INDEX_KEY_BYTES: usize = 1000;

/// The error of a request past `limit` (its name, e.g. `chain depth`) of `value`.
pub fn exceeded(limit: &str, value: usize, detail: impl std::fmt::Display) -> FhirError {
    FhirError::invalid(
        IssueCode::TooCostly,
        None,
        format!("query budget exceeded: {limit} is limited to {value}; {detail}"),
    )
}

/// The search-index key of a text value: the value itself up to [`MAX_INDEX_KEY_BYTES`]; a
/// longer value becomes its longest prefix of at most that many bytes (ending at a character
/// boundary) followed by U+0001, a character valid FHIR strings cannot contain, so that a
/// shortened key never equals the key of a shorter value. Stored rows and the values searched
/// for go through the same function: equality and prefix comparisons stay exact for values up
/// to the bound, and a longer value matches the stored values that share its first bytes.
pub fn index_key(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_INDEX_KEY_BYTES {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_INDEX_KEY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut key = String::with_capacity(end + 1);
    key.push_str(&text[..end]);
    key.push('\u{1}');
    std::borrow::Cow::Owned(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_are_bounded_and_never_equal_a_shorter_value() {
        assert_eq!(index_key("short"), "short");
        let exact = "a".repeat(MAX_INDEX_KEY_BYTES);
        assert_eq!(index_key(&exact), exact.as_str());
        let long = "a".repeat(1_000_000);
        let key = index_key(&long);
        assert_eq!(key.len(), MAX_INDEX_KEY_BYTES + 1);
        assert_ne!(key, exact.as_str());
        assert!(key.starts_with(&exact));
        // Cut at a character boundary.
        let wide = "é".repeat(MAX_INDEX_KEY_BYTES);
        let key = index_key(&wide);
        assert!(key.len() <= MAX_INDEX_KEY_BYTES + 1);
        assert!(key.ends_with('\u{1}'));
        assert!(key.trim_end_matches('\u{1}').chars().all(|c| c == 'é'));
    }
}
