//! CDS Hooks: services, draft orders of a spec-shaped request, cards.

use medilink_clinical::cds::{
    CdsResponse, HookRequest, cards, draft_medications, selected_medications, services,
};
use medilink_clinical::{Checker, KnowledgeBase, MedicationInput};
use serde_json::json;

/// An order-select request as in the CDS Hooks 2.0 specification's example.
fn order_select() -> HookRequest {
    let value = json!({
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "order-select",
        "context": {
            "userId": "Practitioner/123",
            "patientId": "1288992",
            "encounterId": "89284",
            "selections": ["MedicationRequest/smart-MedicationRequest-103"],
            "draftOrders": {
                "resourceType": "Bundle",
                "entry": [
                    {"resource": {
                        "resourceType": "MedicationRequest", "id": "smart-MedicationRequest-103",
                        "status": "draft", "intent": "order",
                        "medicationCodeableConcept": {
                            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                        "code": "617993",
                                        "display": "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension"}],
                            "text": "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension"
                        },
                        "subject": {"reference": "Patient/1288992"}
                    }},
                    {"resource": {
                        "resourceType": "MedicationRequest", "id": "smart-MedicationRequest-104",
                        "status": "draft", "intent": "order",
                        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "11289", "display": "warfarin"}]},
                        "subject": {"reference": "Patient/1288992"}
                    }},
                    {"resource": {"resourceType": "ServiceRequest", "id": "x"}}
                ]
            }
        },
        "prefetch": {"patient": {"resourceType": "Patient", "id": "1288992"}, "medications": null}
    });
    match serde_json::from_value(value) {
        Ok(request) => request,
        Err(error) => panic!("spec example does not parse: {error}"),
    }
}

#[test]
fn services_are_discoverable() {
    let all = services();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, "medilink-drug-interactions-select");
    assert_eq!(all[0].hook, "order-select");
    assert_eq!(all[1].id, "medilink-drug-interactions-sign");
    assert_eq!(all[1].hook, "order-sign");
    assert_eq!(
        all[0].prefetch.get("medications").map(String::as_str),
        Some("MedicationRequest?patient={{context.patientId}}&status=active")
    );
    let json = serde_json::to_value(&all[0]).unwrap_or_default();
    assert!(json.get("prefetch").is_some() && json.get("description").is_some());
}

#[test]
fn draft_medications_of_the_spec_example() {
    let request = order_select();
    assert_eq!(request.context.encounter_id.as_deref(), Some("89284"));
    let drafts = draft_medications(&request);
    assert_eq!(drafts.len(), 2);
    assert_eq!(drafts[0].0, "MedicationRequest/smart-MedicationRequest-103");
    assert_eq!(
        drafts[1].1,
        MedicationInput {
            system: Some("http://www.nlm.nih.gov/research/umls/rxnorm".to_owned()),
            code: Some("11289".to_owned()),
            text: Some("warfarin".to_owned()),
        }
    );
    let selected = selected_medications(&request);
    assert_eq!(selected.len(), 1);
    let resolved = KnowledgeBase::offline().resolve(&selected[0].1);
    let names: Vec<&str> = resolved
        .ingredients
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["amoxicillin", "clavulanate"]);
}

#[tokio::test]
async fn cards_carry_indicators_and_suggestions() {
    let kb = KnowledgeBase::offline();
    let proposed = kb.resolve(&MedicationInput::text("Naproxen 500 MG Oral Tablet"));
    let sildenafil = kb.resolve(&MedicationInput::text("Viagra"));
    let active = [
        medilink_clinical::ActiveMedication {
            drug: kb.resolve(&MedicationInput::text("Coumadin")),
            reference: Some("MedicationRequest/1".to_owned()),
        },
        medilink_clinical::ActiveMedication {
            drug: kb.resolve(&MedicationInput::text("lisinopril")),
            reference: Some("MedicationRequest/2".to_owned()),
        },
    ];
    let findings = Checker::offline()
        .check(&[proposed], &active, &[])
        .await
        .unwrap_or_default();
    let built = cards(&findings, "MedicationRequest/draft-1");
    assert_eq!(built.len(), findings.len());
    assert!(!built.is_empty());
    for (card, finding) in built.iter().zip(&findings) {
        assert!(card.summary.chars().count() <= 140);
        let expected = match finding.severity {
            medilink_clinical::Severity::Contraindicated => "critical",
            medilink_clinical::Severity::Serious => "warning",
            _ => "info",
        };
        assert_eq!(card.indicator, expected);
        let remove = &card.suggestions[0].actions[0];
        assert_eq!(remove.kind, "delete");
        assert_eq!(
            remove.resource_id.as_deref(),
            Some(&["MedicationRequest/draft-1".to_owned()][..])
        );
    }
    // warfarin + naproxen recommends acetaminophen
    let warfarin = built
        .iter()
        .find(|card| card.detail.contains("Warfarin"))
        .map(|card| card.suggestions.len());
    assert_eq!(warfarin, Some(2));
    // same input, same uuids
    assert_eq!(cards(&findings, "MedicationRequest/draft-1"), built);

    let critical = Checker::offline()
        .check(
            &[sildenafil],
            &[medilink_clinical::ActiveMedication {
                drug: kb.resolve(&MedicationInput::text("Nitrostat")),
                reference: None,
            }],
            &[],
        )
        .await
        .unwrap_or_default();
    let card = &cards(&critical, "MedicationRequest/d")[0];
    assert_eq!(card.indicator, "critical");
    assert!(card.suggestions[0].is_recommended);
    let response = CdsResponse {
        cards: vec![card.clone()],
        system_actions: vec![],
    };
    let json = serde_json::to_value(&response).unwrap_or_default();
    assert_eq!(
        json["cards"][0]["suggestions"][0]["actions"][0]["type"],
        "delete"
    );
    assert!(json["cards"][0]["suggestions"][0]["isRecommended"].is_boolean());
    assert!(json["cards"][0].get("selectionBehavior").is_some());
    assert!(json.get("systemActions").is_none());
}
