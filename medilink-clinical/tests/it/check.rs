//! Interaction and allergy checks with the offline base.

use medilink_clinical::fhir::active_allergy;
use medilink_clinical::{
    ActiveAllergy, ActiveMedication, Checker, Finding, FindingKind, KnowledgeBase, MedicationInput,
    ResolvedDrug, Severity,
};
use serde_json::json;

fn drug(text: &str) -> ResolvedDrug {
    KnowledgeBase::offline().resolve(&MedicationInput::text(text))
}

fn code(code: &str) -> ResolvedDrug {
    KnowledgeBase::offline().resolve(&MedicationInput::rxnorm(code))
}

fn active(drug: ResolvedDrug, id: &str) -> ActiveMedication {
    ActiveMedication {
        drug,
        reference: Some(format!("MedicationRequest/{id}")),
    }
}

fn allergy(text: &str) -> ActiveAllergy {
    ActiveAllergy {
        substance: drug(text),
        reference: Some("AllergyIntolerance/9".to_owned()),
        criticality: Some("high".to_owned()),
    }
}

async fn check(
    proposed: ResolvedDrug,
    others: Vec<ResolvedDrug>,
    allergies: Vec<ActiveAllergy>,
) -> Vec<Finding> {
    let active: Vec<ActiveMedication> = others
        .into_iter()
        .enumerate()
        .map(|(index, drug)| active(drug, &index.to_string()))
        .collect();
    Checker::offline()
        .check(&[proposed], &active, &allergies)
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn known_pairs_by_code_and_by_brand() {
    for ((brand_a, code_a), (brand_b, code_b), key, severity) in [
        (
            ("Coumadin", "11289"),
            ("Bayer aspirin", "1191"),
            "interaction:aspirin+warfarin",
            Severity::Serious,
        ),
        (
            ("Zocor", "36567"),
            ("Biaxin", "21212"),
            "interaction:clarithromycin+simvastatin",
            Severity::Contraindicated,
        ),
        (
            ("Viagra", "136411"),
            ("Nitrostat", "4917"),
            "interaction:nitroglycerin+sildenafil",
            Severity::Contraindicated,
        ),
        (
            ("Zoloft", "36437"),
            ("Nardil", "8123"),
            "interaction:phenelzine+sertraline",
            Severity::Contraindicated,
        ),
    ] {
        for (a, b) in [(drug(brand_a), drug(brand_b)), (code(code_a), code(code_b))] {
            let findings = check(a, vec![b], vec![]).await;
            let finding = findings.iter().find(|finding| finding.key == key);
            let Some(finding) = finding else {
                panic!("{key} not found: {findings:#?}");
            };
            assert_eq!(finding.severity, severity, "{key}");
            assert_eq!(finding.kind, FindingKind::Interaction);
            assert_eq!(
                finding.conflicting.reference.as_deref(),
                Some("MedicationRequest/0")
            );
        }
    }
}

#[tokio::test]
async fn a_class_rule_matches_every_member_and_keys_are_stable() {
    // selegiline (an MAO inhibitor) with fluoxetine (an SSRI)
    let one = check(drug("selegiline"), vec![drug("fluoxetine")], vec![]).await;
    let other = check(drug("fluoxetine"), vec![drug("selegiline")], vec![]).await;
    assert_eq!(one[0].key, "interaction:fluoxetine+selegiline");
    assert_eq!(one[0].severity, Severity::Contraindicated);
    assert_eq!(one[0].key, other[0].key);
    // naproxen (an NSAID, Synthea display) with warfarin
    let nsaid = check(
        drug("Naproxen sodium 220 MG Oral Tablet"),
        vec![code("855332")],
        vec![],
    )
    .await;
    assert!(
        nsaid
            .iter()
            .any(|finding| finding.key == "interaction:naproxen+warfarin")
    );
}

#[tokio::test]
async fn proposed_drugs_are_checked_against_each_other() {
    let findings = Checker::offline()
        .check(&[drug("Zocor"), drug("Biaxin")], &[], &[])
        .await
        .unwrap_or_default();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].conflicting.reference, None);
}

#[tokio::test]
async fn unrelated_drugs_have_no_findings() {
    assert_eq!(
        check(drug("metformin"), vec![drug("lisinopril")], vec![]).await,
        []
    );
    assert_eq!(
        check(
            drug("amoxicillin"),
            vec![],
            vec![allergy("Latex allergy"), allergy("Allergy to peanuts")]
        )
        .await,
        []
    );
    assert_eq!(
        check(drug("unknownium"), vec![drug("warfarin")], vec![]).await,
        []
    );
}

#[tokio::test]
async fn penicillin_allergy_flags_amoxicillin_and_cefalexin() {
    let penicillin = vec![allergy("Allergy to penicillin")];
    let amoxicillin = check(
        drug("Amoxicillin 500 MG Oral Tablet"),
        vec![],
        penicillin.clone(),
    )
    .await;
    assert_eq!(amoxicillin.len(), 1);
    assert_eq!(amoxicillin[0].key, "allergy:penicillins:amoxicillin");
    assert_eq!(amoxicillin[0].kind, FindingKind::Allergy);
    assert_eq!(amoxicillin[0].severity, Severity::Serious);
    assert_eq!(
        amoxicillin[0].evidence.as_deref(),
        Some("same class (Penicillins)")
    );
    assert_eq!(
        amoxicillin[0].conflicting.reference.as_deref(),
        Some("AllergyIntolerance/9")
    );

    for name in ["cefalexin", "Keflex 500 mg", "cephalexin"] {
        let findings = check(drug(name), vec![], penicillin.clone()).await;
        assert_eq!(findings.len(), 1, "{name}");
        let evidence = findings[0].evidence.clone().unwrap_or_default();
        assert!(
            evidence.contains("1-2%") && evidence.contains("cefalexin"),
            "{evidence}"
        );
        assert!(findings[0].severity >= Severity::Moderate);
    }
    // a later-generation cephalosporin: moderate; a carbapenem: minor
    let cefuroxime = check(
        drug("Cefuroxime 250 MG Oral Tablet"),
        vec![],
        penicillin.clone(),
    )
    .await;
    assert_eq!(cefuroxime[0].severity, Severity::Moderate);
    let meropenem = check(drug("meropenem"), vec![], penicillin.clone()).await;
    assert_eq!(meropenem[0].severity, Severity::Minor);
    assert!(
        check(drug("metformin"), vec![], penicillin)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn other_allergy_rules() {
    // same drug
    let same = check(drug("amoxicillin"), vec![], vec![allergy("Amoxicillin")]).await;
    assert_eq!(same[0].severity, Severity::Contraindicated);
    assert_eq!(same[0].evidence.as_deref(), Some("same drug"));
    // an allergy to one penicillin flags another as the same class
    let ampicillin = check(drug("penicillin v"), vec![], vec![allergy("amoxicillin")]).await;
    assert_eq!(ampicillin[0].severity, Severity::Serious);
    // sulfonamide antibiotics -> sulfonylureas, thiazides: minor with a note
    let sulfa = vec![allergy("Sulfa drugs")];
    let glipizide = check(drug("glipizide"), vec![], sulfa.clone()).await;
    assert_eq!(glipizide[0].severity, Severity::Minor);
    assert!(
        glipizide[0]
            .evidence
            .clone()
            .unwrap_or_default()
            .contains("non-antibiotic")
    );
    let hctz = check(
        drug("Hydrochlorothiazide 25 MG Oral Tablet"),
        vec![],
        sulfa.clone(),
    )
    .await;
    assert_eq!(hctz[0].severity, Severity::Minor);
    let smx = check(drug("Bactrim DS"), vec![], sulfa).await;
    assert_eq!(smx[0].severity, Severity::Serious);
    // aspirin allergy -> ibuprofen, NSAID allergy -> naproxen
    let aspirin = check(drug("Advil"), vec![], vec![allergy("aspirin")]).await;
    assert_eq!(aspirin[0].severity, Severity::Serious);
    assert!(
        aspirin[0]
            .evidence
            .clone()
            .unwrap_or_default()
            .contains("aspirin-exacerbated")
    );
    let nsaid = check(drug("naproxen"), vec![], vec![allergy("NSAID")]).await;
    assert_eq!(nsaid[0].severity, Severity::Serious);
}

#[tokio::test]
async fn findings_are_most_severe_first_and_deduplicated() {
    // warfarin proposed against aspirin twice and simvastatin + clarithromycin
    let findings = Checker::offline()
        .check(
            &[drug("simvastatin"), drug("warfarin")],
            &[
                active(drug("aspirin"), "1"),
                active(code("1191"), "2"),
                active(drug("clarithromycin"), "3"),
            ],
            &[],
        )
        .await
        .unwrap_or_default();
    let keys: Vec<&str> = findings
        .iter()
        .map(|finding| finding.key.as_str())
        .collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    assert!(
        findings
            .windows(2)
            .all(|pair| pair[0].severity >= pair[1].severity)
    );
    assert_eq!(findings[0].severity, Severity::Contraindicated);
}

#[tokio::test]
async fn an_allergy_resource_drives_the_check() {
    let kb = KnowledgeBase::offline();
    let resource = json!({
        "resourceType": "AllergyIntolerance", "id": "9",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
        "category": ["medication"],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"}]}
    });
    let Some(allergy) = active_allergy(kb, &resource) else {
        panic!("allergy not active");
    };
    let findings = check(
        drug("Amoxicillin 250 MG Oral Capsule"),
        vec![],
        vec![allergy],
    )
    .await;
    assert_eq!(findings[0].key, "allergy:penicillins:amoxicillin");
}
