//! Strict parsing of FHIR JSON request bodies ([`parse_json`]).
//!
//! `serde_json` keeps the last of two equal keys of an object and drops the first silently,
//! so a resource with `gender` twice would be stored with one of them; FHIR JSON forbids
//! duplicate keys (R4 §2.6.2, "JSON"). [`parse_json`] parses the value as `serde_json` does and
//! checks every object of it for a duplicate key in a second, allocation-light pass.
//!
//! Limits (issue #24): nesting deeper than `serde_json`'s recursion limit (128 arrays or
//! objects) is refused as a syntax error, so a 10,000-deep body costs no stack; invalid
//! UTF-8 is a syntax error; numbers keep their digits (arbitrary precision), whatever their
//! length. Error messages name a position and, for a duplicate, the key (an element name),
//! never a value.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Why a body is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// Not JSON (or nested deeper than the limit, or not UTF-8).
    #[error("{kind} at line {line} column {column}")]
    Syntax {
        /// What is wrong (`syntax error`, `unexpected end of input`, …).
        kind: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An object has the same key twice.
    #[error("duplicate key {key:?} at line {line} column {column}")]
    DuplicateKey {
        /// The key (an element name; at most 64 characters are kept).
        key: String,
        /// 1-based line of the second occurrence.
        line: usize,
        /// 1-based column of the second occurrence.
        column: usize,
    },
}

/// Parses `bytes` as one JSON value, refusing duplicate object keys.
pub fn parse_json(bytes: &[u8]) -> Result<Value, JsonError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| syntax(&err))?;
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    if let Err(err) = (NoDuplicates {
        duplicate: &duplicate,
    })
    .deserialize(&mut deserializer)
    {
        return Err(match duplicate.into_inner() {
            Some(key) => JsonError::DuplicateKey {
                key,
                line: err.line(),
                column: err.column(),
            },
            None => syntax(&err),
        });
    }
    Ok(value)
}

fn syntax(err: &serde_json::Error) -> JsonError {
    let kind = match err.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Io => "read error",
    };
    JsonError::Syntax {
        kind,
        line: err.line(),
        column: err.column(),
    }
}

/// A visitor that walks a value and fails at the first object key seen twice (recording the
/// key in `duplicate`).
#[derive(Clone, Copy)]
struct NoDuplicates<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for NoDuplicates<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<Key<'de>> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if seen.contains(&key) {
                let name: String = key.as_str().chars().take(64).collect();
                *self.duplicate.borrow_mut() = Some(name);
                return Err(de::Error::custom("duplicate key"));
            }
            seen.insert(key);
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the input when it has no escapes (equal and hashed by its
/// text, however it was written).
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(key) => key,
            Key::Owned(key) => key,
        }
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key<'_> {}

impl std::hash::Hash for Key<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(text: &str) -> Option<String> {
        match parse_json(text.as_bytes()) {
            Err(JsonError::DuplicateKey { key, .. }) => Some(key),
            _ => None,
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        // Issue #24: `gender` twice was accepted and one of them dropped.
        let twice = r#"{"resourceType":"Patient","gender":"male","gender":"female"}"#;
        assert_eq!(duplicate(twice).as_deref(), Some("gender"));
        let nested = r#"{"a":[{"b":{"c":1,"c":2}}]}"#;
        assert_eq!(duplicate(nested).as_deref(), Some("c"));
        // The same key written with an escape is the same key.
        let escaped = r#"{"gender":"male","gend\u0065r":"female"}"#;
        assert_eq!(duplicate(escaped).as_deref(), Some("gender"));
        // Control: equal keys in different objects, and equal values, are fine.
        let fine = r#"{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}],"n":1e400}"#;
        let value = parse_json(fine.as_bytes()).expect("no duplicates");
        assert_eq!(value["c"][1]["x"], 1);
    }

    #[test]
    fn depth_utf8_and_numbers_are_bounded() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_json(deep.as_bytes()),
            Err(JsonError::Syntax { .. })
        ));
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        assert!(matches!(
            parse_json(deep_objects.as_bytes()),
            Err(JsonError::Syntax { .. })
        ));
        // Control: a hundred levels parse.
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_json(fine.as_bytes()).is_ok());
        assert!(matches!(
            parse_json(b"{\"a\":\"\xff\xfe\"}"),
            Err(JsonError::Syntax { .. })
        ));
        let digits = format!("{{\"n\":{}}}", "9".repeat(400));
        let value = parse_json(digits.as_bytes()).expect("long numbers parse");
        assert_eq!(value["n"].to_string().len(), 400);
    }
}
