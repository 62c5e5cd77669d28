//! Patient compartment membership of one resource: which patients a resource belongs to,
//! through the reference parameters the official Patient CompartmentDefinition names
//! ([`medilink_fhir::search::compartment`]), evaluated with the search parameters' own
//! FHIRPath expressions, so the guard and the SQL planner agree on membership.
//!
//! [`patients_of_json`] decides from the stored JSON text without building the whole resource:
//! when every compartment expression of the type is a plain element path (`Observation.subject`,
//! or that path `.where(resolve() is Patient)`; checked by comparing parsed expressions), only
//! those top-level elements are parsed and the rest is skipped, and the expressions evaluated
//! on that part give exactly what they give on the whole resource.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use medilink_fhir::ResourceType;
use medilink_fhir::fhirpath::{Expression, Item, evaluate};
use medilink_fhir::search::compartment::{in_patient_compartment, patient_compartment_params};
use medilink_fhir::search::registry;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

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

/// Top-level elements the compartment expressions of each type read, for the types whose
/// every compartment expression is a plain element path (possibly narrowed to `Patient`).
static ELEMENTS: LazyLock<HashMap<ResourceType, Vec<String>>> = LazyLock::new(|| {
    ResourceType::ALL
        .iter()
        .filter(|ty| is_compartment_type(**ty))
        .filter_map(|ty| Some((*ty, compartment_elements(*ty)?)))
        .collect()
});

/// The top-level elements `resource_type`'s compartment expressions read, or `None` when one
/// of them is anything but `Type.element` or `Type.element.where(resolve() is Patient)`.
fn compartment_elements(resource_type: ResourceType) -> Option<Vec<String>> {
    let ty = resource_type.as_str();
    let mut elements = vec!["id".to_owned()];
    if resource_type == ResourceType::Patient {
        elements.push("link".to_owned());
    }
    for code in patient_compartment_params(resource_type) {
        let Some(param) = registry().param(resource_type, code) else {
            continue;
        };
        for expression in &param.expressions {
            // Candidate paths are built from the identifiers in the expression; one is only
            // taken when re-parsing its plain form gives the very same syntax tree. A member
            // path `Type.a.b…` reads the top-level element `a` only.
            let debug = format!("{expression:?}");
            let names: Vec<&str> = debug
                .split('"')
                .skip(1)
                .step_by(2)
                .skip_while(|name| *name == ty)
                .take_while(|name| name.chars().all(|c| c.is_ascii_alphanumeric()))
                .collect();
            let element = (1..=names.len())
                .find(|len| {
                    let path = names[..*len].join(".");
                    [
                        format!("{ty}.{path}"),
                        format!("{ty}.{path}.where(resolve() is Patient)"),
                    ]
                    .iter()
                    .filter_map(|source| Expression::parse(source).ok())
                    .any(|plain| plain == *expression)
                })
                .map(|_| names[0])?;
            elements.push(element.to_owned());
        }
    }
    elements.sort();
    elements.dedup();
    Some(elements)
}

/// [`patients_of`] for a stored resource's JSON text; `None` when the text is not a JSON
/// object. Parses only the elements the compartment expressions read when that is known to
/// give the same result ([`ELEMENTS`]), the whole resource otherwise.
pub fn patients_of_json(resource_type: ResourceType, json: &str) -> Option<Vec<String>> {
    if !is_compartment_type(resource_type) {
        // Parsed all the same, so that malformed content is refused as before.
        let _: IgnoredAny = serde_json::from_str(json).ok()?;
        return Some(Vec::new());
    }
    let resource = match ELEMENTS.get(&resource_type) {
        Some(elements) => {
            let mut deserializer = serde_json::Deserializer::from_str(json);
            let part = Elements(elements).deserialize(&mut deserializer).ok()?;
            deserializer.end().ok()?;
            part
        }
        None => serde_json::from_str(json).ok()?,
    };
    Some(patients_of(resource_type, &resource))
}

/// Deserializes a JSON object keeping only `resourceType` and the named elements (with their
/// `_element` companions and `element[x]` choice forms); other values are skipped unparsed.
struct Elements<'a>(&'a [String]);

impl Elements<'_> {
    fn wanted(&self, key: &str) -> bool {
        let key = key.strip_prefix('_').unwrap_or(key);
        key == "resourceType"
            || self.0.iter().any(|element| {
                key.strip_prefix(element.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_uppercase))
            })
    }
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a FHIR resource object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.wanted(&key) {
                let value: Value = map.next_value()?;
                object.insert(key, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(object))
    }
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
    fn partial_parsing_is_used_for_plain_compartment_paths() {
        let observation = &ELEMENTS[&ResourceType::Observation];
        assert!(
            observation.contains(&"subject".to_owned()),
            "{observation:?}"
        );
        assert!(
            observation.contains(&"performer".to_owned()),
            "{observation:?}"
        );
        for ty in [
            ResourceType::Patient,
            ResourceType::Condition,
            ResourceType::Encounter,
            ResourceType::MedicationRequest,
        ] {
            assert!(ELEMENTS.contains_key(&ty), "{ty}");
        }
        assert!(!ELEMENTS.contains_key(&ResourceType::Practitioner));
    }

    /// The partial parse must agree with the whole resource on every official example and on
    /// resources whose patient references hide among other elements.
    #[test]
    fn partial_parsing_finds_the_same_patients_as_the_whole_resource() {
        let mut resources: Vec<Value> = vec![
            json!({"resourceType": "Observation", "id": "o1", "status": "final",
                "code": {"text": "Patient/p9"}, "focus": [{"reference": "Patient/p8"}],
                "subject": {"reference": "Patient/p1"}, "_status": {"id": "x"},
                "performer": [{"reference": "https://x.org/fhir/Patient/p2/_history/3"}],
                "contained": [{"resourceType": "Patient", "id": "p7"}]}),
            json!({"resourceType": "Observation", "id": "o2", "status": "final",
                "subject": {"reference": "Group/g1"}}),
            json!({"resourceType": "Patient", "id": "p3",
                "link": [{"other": {"reference": "Patient/p4"}, "type": "seealso"}],
                "generalPractitioner": [{"reference": "Patient/p9"}]}),
            json!({"resourceType": "Encounter", "id": "e1", "status": "finished",
                "class": {"code": "AMB"}, "subject": {"reference": "Patient/p5"},
                "participant": [{"individual": {"reference": "Practitioner/d1"}}]}),
        ];
        let examples = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../medilink-fhir/tests/data/r4-examples"
        );
        let mut read = 0;
        for entry in std::fs::read_dir(examples).expect("examples") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("example");
            resources.push(serde_json::from_str(&text).expect("json"));
            read += 1;
        }
        assert!(read > 50, "the official examples are there");
        let mut with_patients = 0;
        for resource in &resources {
            let ty = ResourceType::from_name(resource["resourceType"].as_str().expect("type"))
                .expect("known type");
            let whole = patients_of(ty, resource);
            let text = resource.to_string();
            assert_eq!(
                patients_of_json(ty, &text).as_ref(),
                Some(&whole),
                "{ty} {}",
                resource["id"]
            );
            with_patients += usize::from(!whole.is_empty());
        }
        assert!(with_patients >= 5, "{with_patients}");
        assert_eq!(
            patients_of_json(ResourceType::Observation, &resources[0].to_string()),
            Some(vec!["p1".to_owned(), "p2".to_owned()])
        );
        assert_eq!(
            patients_of_json(ResourceType::Observation, "{\"subject\": "),
            None
        );
        assert_eq!(patients_of_json(ResourceType::Practitioner, "[1"), None);
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
