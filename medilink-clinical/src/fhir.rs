//! Reading the patient's medications and allergies from FHIR R4 resources (JSON).
//!
//! Only the elements the check needs are read; anything unexpected makes a resource count as
//! "not current" rather than an error.

use serde_json::Value;

use crate::check::{ActiveAllergy, ActiveMedication};
use crate::drug::{MedicationInput, RXNORM};
use crate::kb::KnowledgeBase;

/// The medication of a MedicationRequest / MedicationStatement resource
/// (`medicationCodeableConcept`: RxNorm coding and/or text; `medicationReference.display` as
/// text), `None` if it names none.
pub fn medication_of(resource: &Value) -> Option<MedicationInput> {
    if let Some(concept) = resource.get("medicationCodeableConcept") {
        let input = concept_input(concept);
        if input.code.is_some() || input.text.is_some() {
            return Some(input);
        }
    }
    let display = resource
        .get("medicationReference")
        .and_then(|reference| reference.get("display"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|display| !display.is_empty())?;
    Some(MedicationInput::text(display))
}

/// A CodeableConcept as a medication input: its RxNorm coding (else its first coding's
/// display as text) and its text.
fn concept_input(concept: &Value) -> MedicationInput {
    let codings: &[Value] = concept
        .get("coding")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rxnorm = codings
        .iter()
        .find(|coding| coding.get("system").and_then(Value::as_str) == Some(RXNORM));
    let code = rxnorm
        .and_then(|coding| coding.get("code"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::to_owned);
    let text = concept
        .get("text")
        .and_then(Value::as_str)
        .or_else(|| {
            rxnorm
                .into_iter()
                .chain(codings)
                .find_map(|coding| coding.get("display").and_then(Value::as_str))
        })
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned);
    MedicationInput {
        system: code.as_ref().map(|_| RXNORM.to_owned()),
        code,
        text,
    }
}

fn reference_of(resource: &Value) -> Option<String> {
    let resource_type = resource.get("resourceType").and_then(Value::as_str)?;
    let id = resource.get("id").and_then(Value::as_str)?;
    Some(format!("{resource_type}/{id}"))
}

/// The codes of a CodeableConcept element (`clinicalStatus`, `verificationStatus`).
fn concept_codes(resource: &Value, element: &str) -> Vec<String> {
    resource
        .get(element)
        .and_then(|concept| concept.get("coding"))
        .and_then(Value::as_array)
        .map(|codings| {
            codings
                .iter()
                .filter_map(|coding| coding.get("code").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A MedicationRequest (status active | on-hold | draft) or MedicationStatement (active |
/// intended | on-hold) that is current, resolved; `None` otherwise. `reference` is "Type/id".
pub fn active_medication(kb: &KnowledgeBase, resource: &Value) -> Option<ActiveMedication> {
    let status = resource.get("status").and_then(Value::as_str)?;
    let current = match resource.get("resourceType").and_then(Value::as_str)? {
        "MedicationRequest" => matches!(status, "active" | "on-hold" | "draft"),
        "MedicationStatement" => matches!(status, "active" | "intended" | "on-hold"),
        _ => false,
    };
    if !current {
        return None;
    }
    let input = medication_of(resource)?;
    Some(ActiveMedication {
        drug: kb.resolve(&input),
        reference: reference_of(resource),
    })
}

/// An AllergyIntolerance whose clinicalStatus is active (or absent) and verificationStatus not
/// refuted / entered-in-error, and whose category includes medication or whose code resolves
/// to a drug or drug class (SNOMED "Allergy to penicillin", text "Penicillin", "Sulfa drugs",
/// "NSAID"); `None` otherwise.
pub fn active_allergy(kb: &KnowledgeBase, resource: &Value) -> Option<ActiveAllergy> {
    if resource.get("resourceType").and_then(Value::as_str) != Some("AllergyIntolerance") {
        return None;
    }
    let clinical = concept_codes(resource, "clinicalStatus");
    if !clinical.is_empty() && !clinical.iter().any(|code| code == "active") {
        return None;
    }
    let verification = concept_codes(resource, "verificationStatus");
    if verification
        .iter()
        .any(|code| code == "refuted" || code == "entered-in-error")
    {
        return None;
    }
    let input = concept_input(resource.get("code")?);
    let substance = kb.resolve(&input);
    let medication_category = resource
        .get("category")
        .and_then(Value::as_array)
        .is_some_and(|categories| {
            categories
                .iter()
                .any(|category| category.as_str() == Some("medication"))
        });
    let names_a_drug = substance
        .ingredients
        .iter()
        .any(|ingredient| !kb.is_substance(&ingredient.name));
    if !medication_category && !names_a_drug {
        return None;
    }
    Some(ActiveAllergy {
        substance,
        reference: reference_of(resource),
        criticality: resource
            .get("criticality")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
