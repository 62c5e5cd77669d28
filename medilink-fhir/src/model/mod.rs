//! The R4 resource model helpers: resource types, ids and version ids, and the strict JSON
//! parse of request bodies ([`parse_json`]: no duplicate keys, bounded nesting).
//!
//! Resources themselves are kept as JSON (`serde_json::Value` with preserved key order and
//! arbitrary-precision decimals) so that every element, extension and primitive `_element`
//! survives a round trip; [`crate::validate`] checks them against the official
//! StructureDefinitions.

mod ids;
mod json;
mod resource_type;

pub use ids::{ResourceId, VersionId};
pub use json::{JsonError, parse_json};
pub use resource_type::ResourceType;

use std::fmt;
use std::str::FromStr;

use crate::error::FhirError;

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceType {
    type Err = FhirError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ResourceType::from_name(name).ok_or_else(|| FhirError::UnknownResourceType {
            name: name.chars().take(64).collect(),
        })
    }
}

impl serde::Serialize for ResourceType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ResourceType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ResourceType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown resource type {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_type_parses_every_r4_type_and_rejects_others() {
        assert_eq!(ResourceType::ALL.len(), 147);
        for ty in ResourceType::ALL {
            assert_eq!(ty.as_str().parse::<ResourceType>().ok(), Some(ty));
        }
        assert!("patient".parse::<ResourceType>().is_err());
        assert!("DomainResource".parse::<ResourceType>().is_err());
        assert!("Resource".parse::<ResourceType>().is_err());
    }
}
