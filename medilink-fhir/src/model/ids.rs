//! Newtypes for logical resource ids and version ids.

use std::fmt;
use std::str::FromStr;

use crate::error::FhirError;

/// A logical resource id: `[A-Za-z0-9\-\.]{1,64}` as the R4 `id` datatype requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId(String);

impl ResourceId {
    /// Validates and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, FhirError> {
        let id = id.into();
        if Self::is_valid(&id) {
            Ok(ResourceId(id))
        } else {
            Err(FhirError::InvalidId {
                id: id.chars().take(80).collect(),
            })
        }
    }

    /// Whether `id` is a valid R4 logical id.
    pub fn is_valid(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ResourceId {
    type Err = FhirError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceId::new(s)
    }
}

/// A resource version: 1 for the first write, incremented by every later write (delete too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId(pub u64);

impl VersionId {
    /// The version number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for VersionId {
    type Err = FhirError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<u64>()
            .ok()
            .filter(|v| *v > 0)
            .map(VersionId)
            .ok_or_else(|| FhirError::InvalidVersion {
                version: s.chars().take(40).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_r4_id_datatype() {
        assert!(ResourceId::new("abc-1.2").is_ok());
        assert!(ResourceId::new("a".repeat(64)).is_ok());
        assert!(ResourceId::new("a".repeat(65)).is_err());
        assert!(ResourceId::new("").is_err());
        assert!(ResourceId::new("a/b").is_err());
        assert!(ResourceId::new("a_b").is_err());
    }

    #[test]
    fn versions_are_positive_integers() {
        assert_eq!("3".parse::<VersionId>().ok(), Some(VersionId(3)));
        assert!("0".parse::<VersionId>().is_err());
        assert!("x".parse::<VersionId>().is_err());
    }
}
