//! Patient compartment membership of one resource: which patients a resource belongs to,
//! through the reference parameters the official Patient CompartmentDefinition names
//! ([`medilink_fhir::search::compartment`]), evaluated with the search parameters' own
//! FHIRPath expressions, so the guard and the SQL planner agree on membership.

use medilink_fhir::ResourceType;
use medilink_fhir::fhirpath::{Item, evaluate};
use medilink_fhir::search::compartment::{in_patient_compartment, patient_compartment_params};
use medilink_fhir::search::registry;
use serde_json::Value;

/// Whether the resource type can hold patient data by compartment membership.
pub fn is_compartment_type(resource_type: ResourceType) -> bool {
    in_patient_compartment(resource_type)
}

/// The ids of the patients whose compartment `resource` (of `resource_type`) is in; empty for
/// types outside the compartment and for resources that reference no patient.
pub fn patients_of(resource_type: ResourceType, resource: &Value) -> Vec<String> {
    let mut patients = Vec::new();
    if resource_type == ResourceType::Patient {
        if let Some(id) = resource["id"].as_str() {
            patients.push(id.to_owned());
        }
        if let Some(links) = resource["link"].as_array() {
            for link in links {
                if let Some(id) = link["other"]["reference"].as_str().and_then(patient_id) {
                    patients.push(id);
                }
            }
        }
    }
    for code in patient_compartment_params(resource_type) {
        let Some(param) = registry().param(resource_type, code) else {
            continue;
        };
        for expression in &param.expressions {
            let Ok(items) = evaluate(expression, resource) else {
                continue;
            };
            for item in &items {
                if let Item::Node { value, .. } = item
                    && let Some(id) = value["reference"].as_str().and_then(patient_id)
                {
                    patients.push(id);
                }
            }
        }
    }
    patients.sort();
    patients.dedup();
    patients
}

/// The patient id of a reference `Patient/id` (relative, absolute or versioned).
pub fn patient_id(reference: &str) -> Option<String> {
    let path = reference.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = match segments.iter().rposition(|s| *s == "_history") {
        Some(history) => history.checked_sub(2)?,
        None => segments.len().checked_sub(2)?,
    };
    (segments.get(at) == Some(&"Patient"))
        .then(|| segments.get(at + 1).map(|id| (*id).to_owned()))
        .flatten()
        .filter(|id| medilink_fhir::ResourceId::is_valid(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn membership_follows_the_compartment_parameters() {
        let observation = json!({
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Practitioner/d1"}, {"reference": "Patient/p2"}]
        });
        assert_eq!(
            patients_of(ResourceType::Observation, &observation),
            vec!["p1".to_owned(), "p2".to_owned()]
        );
        let patient = json!({"resourceType": "Patient", "id": "p3"});
        assert_eq!(
            patients_of(ResourceType::Patient, &patient),
            vec!["p3".to_owned()]
        );
        let practitioner = json!({"resourceType": "Practitioner", "id": "d1"});
        assert!(patients_of(ResourceType::Practitioner, &practitioner).is_empty());
    }

    #[test]
    fn references_parse_in_every_form() {
        assert_eq!(patient_id("Patient/a"), Some("a".into()));
        assert_eq!(
            patient_id("https://x.org/fhir/R4/Patient/a/_history/2"),
            Some("a".into())
        );
        assert_eq!(patient_id("Group/a"), None);
        assert_eq!(patient_id("urn:uuid:1"), None);
    }
}
