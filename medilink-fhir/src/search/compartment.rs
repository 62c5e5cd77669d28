//! The Patient compartment (official R4 CompartmentDefinition, vendored in
//! `data/compartment-patient.json`): which resource types belong to a patient, and through
//! which reference parameters.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::model::ResourceType;

#[derive(Debug, Deserialize)]
struct RawCompartment {
    resource: HashMap<String, Vec<String>>,
}

static PATIENT: LazyLock<HashMap<ResourceType, Vec<String>>> = LazyLock::new(|| {
    let raw: RawCompartment =
        serde_json::from_str(include_str!("../../data/compartment-patient.json"))
            .expect("invariant: the vendored compartment definition parses");
    raw.resource
        .into_iter()
        .filter_map(|(name, params)| Some((ResourceType::from_name(&name)?, params)))
        .collect()
});

/// The reference parameters through which a resource of `resource_type` belongs to a
/// patient's compartment (empty: the type is not in the compartment). `Patient` itself is in
/// its own compartment through its id (and `link`).
pub fn patient_compartment_params(resource_type: ResourceType) -> &'static [String] {
    PATIENT.get(&resource_type).map_or(&[], Vec::as_slice)
}

/// Whether resources of `resource_type` can belong to a patient's compartment.
pub fn in_patient_compartment(resource_type: ResourceType) -> bool {
    resource_type == ResourceType::Patient || PATIENT.contains_key(&resource_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compartment_lists_the_official_membership() {
        assert!(
            patient_compartment_params(ResourceType::Observation)
                .iter()
                .any(|p| p == "subject")
        );
        assert!(
            patient_compartment_params(ResourceType::AllergyIntolerance)
                .iter()
                .any(|p| p == "patient")
        );
        assert!(patient_compartment_params(ResourceType::Practitioner).is_empty());
        assert!(in_patient_compartment(ResourceType::Patient));
        assert!(!in_patient_compartment(ResourceType::Organization));
    }
}
