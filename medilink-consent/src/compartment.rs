//! Which patients a resource belongs to, for access decisions: every patient it references
//! ([`referenced_patients`], the same set the stores index under `_patient` for the search
//! restriction, so single-resource decisions and searches agree).
//!
//! [`patients_of_json`] decides from the stored JSON text: text that does not mention
//! `Patient` at all belongs to nobody and is not parsed.

use medilink_fhir::ResourceType;
use medilink_fhir::search::compartment::{in_patient_compartment, referenced_patients};
use serde_json::Value;

/// Whether the resource type is in the official Patient compartment (such data must belong to
/// a patient to be seen by anyone but admins).
pub fn is_compartment_type(resource_type: ResourceType) -> bool {
    in_patient_compartment(resource_type)
}

/// The ids of the patients `resource` belongs to (sorted, without duplicates): its own id for
/// a `Patient`, and every patient it references anywhere.
pub fn patients_of(_resource_type: ResourceType, resource: &Value) -> Vec<String> {
    referenced_patients(resource)
}

/// [`patients_of`] for a stored resource's JSON text; `None` when the text is not a JSON
/// object.
pub fn patients_of_json(resource_type: ResourceType, json: &str) -> Option<Vec<String>> {
    if !json.contains("Patient") {
        // No reference to a Patient and not a Patient: nobody's. (Stored text is the store's
        // own serialization, so it is well-formed.)
        return json.trim_start().starts_with('{').then(Vec::new);
    }
    let resource: Value = serde_json::from_str(json).ok()?;
    resource
        .is_object()
        .then(|| patients_of(resource_type, &resource))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn membership_is_every_referenced_patient() {
        let observation = json!({
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Practitioner/d1"}, {"reference": "Patient/p2"}],
            "focus": [{"reference": "Patient/p3"}]
        });
        assert_eq!(
            patients_of(ResourceType::Observation, &observation),
            ["p1", "p2", "p3"]
        );
        let patient = json!({"resourceType": "Patient", "id": "p3"});
        assert_eq!(patients_of(ResourceType::Patient, &patient), ["p3"]);
        let device = json!({"resourceType": "Device", "patient": {"reference": "Patient/p4"}});
        assert_eq!(patients_of(ResourceType::Device, &device), ["p4"]);
        let practitioner = json!({"resourceType": "Practitioner", "id": "d1"});
        assert!(patients_of(ResourceType::Practitioner, &practitioner).is_empty());
    }

    /// The text path agrees with the parsed one on every official example.
    #[test]
    fn the_json_text_gives_the_same_patients_as_the_resource() {
        let examples = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../medilink-fhir/tests/data/r4-examples"
        );
        let mut read = 0;
        let mut with_patients = 0;
        for entry in std::fs::read_dir(examples).expect("examples") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("example");
            let resource: Value = serde_json::from_str(&text).expect("json");
            let ty = ResourceType::from_name(resource["resourceType"].as_str().expect("type"))
                .expect("known type");
            let whole = patients_of(ty, &resource);
            assert_eq!(
                patients_of_json(ty, &resource.to_string()),
                Some(whole.clone())
            );
            with_patients += usize::from(!whole.is_empty());
            read += 1;
        }
        assert!(read > 50, "the official examples are there");
        assert!(with_patients >= 5, "{with_patients}");
        assert_eq!(
            patients_of_json(ResourceType::Observation, "{\"subject\": \"Patient/"),
            None
        );
        assert_eq!(patients_of_json(ResourceType::Practitioner, "[1"), None);
    }
}
