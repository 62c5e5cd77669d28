//! The R4 compartments (official R4 CompartmentDefinitions, vendored in
//! `data/compartment-*.json`, HL7 FHIR specification content, CC0): which resource types
//! belong to a patient's (an encounter's, a practitioner's, a related person's, a device's)
//! compartment, and through which reference parameters.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

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

/// The compartments other than `Patient`, each by its resource type (`{def}`, the
/// compartment's own resource, left out: a compartment search does not return it).
static OTHERS: LazyLock<HashMap<ResourceType, HashMap<ResourceType, Vec<String>>>> =
    LazyLock::new(|| {
        [
            (
                ResourceType::Encounter,
                include_str!("../../data/compartment-encounter.json"),
            ),
            (
                ResourceType::Practitioner,
                include_str!("../../data/compartment-practitioner.json"),
            ),
            (
                ResourceType::RelatedPerson,
                include_str!("../../data/compartment-relatedperson.json"),
            ),
            (
                ResourceType::Device,
                include_str!("../../data/compartment-device.json"),
            ),
        ]
        .into_iter()
        .map(|(compartment, text)| {
            let raw: RawCompartment = serde_json::from_str(text)
                .expect("invariant: the vendored compartment definitions parse");
            let members = raw
                .resource
                .into_iter()
                .filter_map(|(name, params)| {
                    let params: Vec<String> = params.into_iter().filter(|p| p != "{def}").collect();
                    let resource_type = ResourceType::from_name(&name)?;
                    (!params.is_empty()).then_some((resource_type, params))
                })
                .collect();
            (compartment, members)
        })
        .collect()
    });

/// The resource types that name an R4 compartment (`Patient/{id}/…`, `Encounter/{id}/…`).
pub const COMPARTMENTS: [ResourceType; 5] = [
    ResourceType::Patient,
    ResourceType::Encounter,
    ResourceType::RelatedPerson,
    ResourceType::Practitioner,
    ResourceType::Device,
];

/// The reference parameters through which a resource of `resource_type` belongs to the
/// compartment of a `compartment` resource (the official R4 CompartmentDefinition; empty: the
/// type is not in it, or `compartment` is not a compartment). A compartment's own resource
/// type is listed only through references to other resources of its type (`Patient.link`).
pub fn compartment_params(
    compartment: ResourceType,
    resource_type: ResourceType,
) -> &'static [String] {
    if compartment == ResourceType::Patient {
        return patient_compartment_params(resource_type);
    }
    OTHERS
        .get(&compartment)
        .and_then(|members| members.get(&resource_type))
        .map_or(&[], Vec::as_slice)
}

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

/// The index parameter under which every resource's [`referenced_patients`] are stored as
/// reference rows (not a registry parameter: clients cannot search it; the consent
/// restriction does).
pub const PATIENTS_PARAM: &str = "_patient";

/// The backends' one-column summary of a resource's [`PATIENTS_PARAM`] rows when it names
/// more than one patient (no patient: none; exactly one: its id). Never a valid resource id.
pub const MANY_PATIENTS: &str = "*";

/// Every patient a resource is about: its own id for a `Patient`, and the target of every
/// reference to a `Patient` anywhere in it (any element, extensions and contained resources
/// included), plus the ids of `Patient`s bundled in it (`Bundle.entry.resource`,
/// `Parameters.parameter.resource`; a contained resource's id is local and not counted).
/// Sorted, without duplicates. This is membership for access control: wider than the
/// official Patient compartment, which leaves out e.g. `Device.patient`,
/// `Binary.securityContext`, `Observation.performer` or `Group.member`.
pub fn referenced_patients(resource: &Value) -> Vec<String> {
    let mut patients = Vec::new();
    collect_patients(resource, false, &mut patients);
    patients.sort();
    patients.dedup();
    patients
}

fn collect_patients(value: &Value, contained: bool, patients: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if !contained
                && object.get("resourceType").and_then(Value::as_str) == Some("Patient")
                && let Some(id) = object.get("id").and_then(Value::as_str)
                && crate::model::ResourceId::is_valid(id)
            {
                patients.push(id.to_owned());
            }
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("reference", Value::String(reference)) => {
                        if let Some(id) = patient_of_reference(reference) {
                            patients.push(id);
                        }
                    }
                    ("contained", _) => collect_patients(child, true, patients),
                    _ => collect_patients(child, false, patients),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_patients(item, contained, patients);
            }
        }
        _ => {}
    }
}

/// The patient id of a reference to a `Patient` (relative, absolute or versioned); `None`
/// for other targets, local (`#…`) and `urn:` references.
pub fn patient_of_reference(reference: &str) -> Option<String> {
    if reference.starts_with('#') || reference.starts_with("urn:") {
        return None;
    }
    match crate::search::extract::split_reference(reference)? {
        (ResourceType::Patient, id) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn referenced_patients_are_found_anywhere() {
        let observation = json!({
            "resourceType": "Observation", "subject": {"reference": "Patient/a"},
            "performer": [{"reference": "https://x.org/fhir/Patient/b/_history/2"}],
            "extension": [{"url": "u", "valueReference": {"reference": "Patient/c"}}],
            "contained": [{"resourceType": "Patient", "id": "local",
                "link": [{"other": {"reference": "Patient/d"}}]}],
            "focus": [{"reference": "#local"}, {"reference": "urn:uuid:1"}, {"reference": "Group/g"}]
        });
        assert_eq!(referenced_patients(&observation), ["a", "b", "c", "d"]);
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Patient", "id": "e"}},
            {"resource": {"resourceType": "Device", "patient": {"reference": "Patient/f"}}}]});
        assert_eq!(referenced_patients(&bundle), ["e", "f"]);
        let patient = json!({"resourceType": "Patient", "id": "g",
            "link": [{"other": {"reference": "Patient/h"}}]});
        assert_eq!(referenced_patients(&patient), ["g", "h"]);
        let binary =
            json!({"resourceType": "Binary", "securityContext": {"reference": "Patient/i"}});
        assert_eq!(referenced_patients(&binary), ["i"]);
        assert!(referenced_patients(&json!({"resourceType": "Medication"})).is_empty());
    }

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
        let encounter = compartment_params(ResourceType::Encounter, ResourceType::Observation);
        assert_eq!(encounter, ["encounter"]);
        assert!(compartment_params(ResourceType::Encounter, ResourceType::Encounter).is_empty());
        assert!(
            compartment_params(ResourceType::Practitioner, ResourceType::Observation)
                .iter()
                .any(|p| p == "performer")
        );
        assert!(
            compartment_params(ResourceType::RelatedPerson, ResourceType::Observation)
                .iter()
                .any(|p| p == "performer")
        );
        assert!(
            compartment_params(ResourceType::Device, ResourceType::Observation)
                .iter()
                .any(|p| p == "device")
        );
        assert!(
            compartment_params(ResourceType::Organization, ResourceType::Observation).is_empty()
        );
        assert!(!in_patient_compartment(ResourceType::Organization));
    }
}
