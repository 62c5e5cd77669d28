//! Active medications and allergies from real-shaped FHIR resources.

use medilink_clinical::KnowledgeBase;
use medilink_clinical::fhir::{active_allergy, active_medication, medication_of};
use serde_json::{Value, json};

fn request(id: &str, status: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855332",
                        "display": "Warfarin Sodium 5 MG Oral Tablet"}],
            "text": "Warfarin Sodium 5 MG Oral Tablet"
        },
        "subject": {"reference": "Patient/1"}
    })
}

fn allergy(clinical: Option<&str>, verification: &str, category: &str, text: &str) -> Value {
    let mut resource = json!({
        "resourceType": "AllergyIntolerance", "id": "a1",
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": verification}]},
        "type": "allergy", "category": [category], "criticality": "low",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "0", "display": text}], "text": text},
        "patient": {"reference": "Patient/1"}
    });
    if let Some(code) = clinical {
        resource["clinicalStatus"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": code}]});
    }
    resource
}

#[test]
fn current_medication_requests_and_statements_count() {
    let kb = KnowledgeBase::offline();
    for status in ["active", "on-hold", "draft"] {
        let Some(medication) = active_medication(kb, &request("7", status)) else {
            panic!("{status} should be current");
        };
        assert_eq!(medication.reference.as_deref(), Some("MedicationRequest/7"));
        assert_eq!(medication.drug.ingredients[0].name, "warfarin");
        assert_eq!(medication.drug.rxnorm.as_deref(), Some("855332"));
    }
    for status in ["stopped", "completed", "entered-in-error", "cancelled"] {
        assert!(
            active_medication(kb, &request("7", status)).is_none(),
            "{status}"
        );
    }
    let statement = json!({
        "resourceType": "MedicationStatement", "id": "s1", "status": "intended",
        "medicationReference": {"reference": "Medication/m1", "display": "Zoloft 50 mg"}
    });
    let Some(medication) = active_medication(kb, &statement) else {
        panic!("statement should be current");
    };
    assert_eq!(medication.drug.ingredients[0].name, "sertraline");
    let stopped = json!({"resourceType": "MedicationStatement", "id": "s2", "status": "stopped",
        "medicationCodeableConcept": {"text": "aspirin"}});
    assert!(active_medication(kb, &stopped).is_none());
    assert!(active_medication(kb, &json!({"resourceType": "Patient", "id": "1"})).is_none());
    assert!(active_medication(kb, &json!(null)).is_none());
    assert!(medication_of(&json!({"resourceType": "MedicationRequest"})).is_none());
}

#[test]
fn active_drug_allergies_count() {
    let kb = KnowledgeBase::offline();
    let Some(penicillin) = active_allergy(
        kb,
        &allergy(
            Some("active"),
            "confirmed",
            "medication",
            "Allergy to penicillin",
        ),
    ) else {
        panic!("penicillin allergy should be active");
    };
    assert_eq!(
        penicillin.reference.as_deref(),
        Some("AllergyIntolerance/a1")
    );
    assert_eq!(penicillin.criticality.as_deref(), Some("low"));
    assert_eq!(penicillin.substance.ingredients[0].name, "penicillins");
    // clinical status absent, category not medication, but the code names a drug class
    assert!(active_allergy(kb, &allergy(None, "unconfirmed", "food", "Sulfa drugs")).is_some());
    assert!(
        active_allergy(
            kb,
            &allergy(Some("active"), "refuted", "medication", "Penicillin")
        )
        .is_none()
    );
    assert!(
        active_allergy(
            kb,
            &allergy(
                Some("active"),
                "entered-in-error",
                "medication",
                "Penicillin"
            )
        )
        .is_none()
    );
    assert!(
        active_allergy(
            kb,
            &allergy(Some("resolved"), "confirmed", "medication", "Penicillin")
        )
        .is_none()
    );
    assert!(
        active_allergy(
            kb,
            &allergy(Some("inactive"), "confirmed", "medication", "NSAID")
        )
        .is_none()
    );
    // food allergies of the Synthea sample are not drug allergies
    assert!(
        active_allergy(
            kb,
            &allergy(Some("active"), "confirmed", "food", "Allergy to peanuts")
        )
        .is_none()
    );
    assert!(
        active_allergy(
            kb,
            &allergy(Some("active"), "confirmed", "food", "Latex allergy")
        )
        .is_none()
    );
}
