use super::*;
use crate::DocumentKind;
use crate::extract::ExtractedResult;
use crate::pipeline::map_result;
use crate::text::TextOrigin;

fn result(
    name: &str,
    value_text: &str,
    unit: Option<&str>,
    range: (Option<f64>, Option<f64>),
) -> MappedResult {
    let value = crate::extract::RuleExtractor::default()
        .extract_text(&format!("{name}   {value_text}   {}", unit.unwrap_or("")))
        .results
        .first()
        .and_then(|r| r.value);
    let comparator = value_text.starts_with('<').then(|| "<".to_owned());
    map_result(
        ExtractedResult {
            name: name.into(),
            value_text: value_text.into(),
            value,
            comparator,
            unit: unit.map(str::to_owned),
            range_low: range.0,
            range_high: range.1,
            range_text: None,
            flag: None,
            confidence: 0.97,
            calculated: false,
        },
        0.75,
    )
}

fn analysis() -> Analysis {
    Analysis {
        kind: DocumentKind::Pdf,
        origin: TextOrigin::TextLayer,
        report_date: Some("2026-03-14".into()),
        issued: None,
        results: vec![
            result(
                "Hemoglobin",
                "13.50",
                Some("g/dL"),
                (Some(13.0), Some(17.0)),
            ),
            result("WBC", "11.8", Some("x10^9/L"), (Some(4.0), Some(10.0))),
            result("Glucose", "3.1", Some("mmol/L"), (Some(3.9), Some(5.5))),
            result("Troponin I", "<0.01", Some("ng/mL"), (None, Some(0.04))),
            result("Nitrite", "Negative", None, (None, None)),
            result(
                "Zonulin factor",
                "42",
                Some("ng/mL"),
                (Some(10.0), Some(50.0)),
            ),
            result("Mystery index", "7", Some("glorps"), (None, None)),
        ],
    }
}

fn context(job: u128) -> FhirContext {
    FhirContext {
        patient: ResourceId::new("pat-1").expect("id"),
        document: ResourceId::new("doc-1").expect("id"),
        job_id: Uuid::from_u128(job),
        issued: time::macros::datetime!(2026-03-15 10:00 UTC),
    }
}

fn resources(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| &entry["resource"])
        .collect()
}

#[test]
fn one_transaction_of_observations_and_a_report() {
    let bundle = transaction_bundle(&analysis(), &context(1)).expect("bundle");
    assert_eq!(bundle["type"], "transaction");
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 8);
    for entry in entries {
        let resource = &entry["resource"];
        let url = format!(
            "{}/{}",
            resource["resourceType"].as_str().expect("type"),
            resource["id"].as_str().expect("id")
        );
        assert_eq!(entry["request"], json!({"method": "PUT", "url": url}));
    }
    let report = &entries[7]["resource"];
    assert_eq!(report["resourceType"], "DiagnosticReport");
    assert_eq!(report["status"], "final");
    assert_eq!(report["category"][0]["coding"][0]["code"], "LAB");
    assert_eq!(report["code"]["coding"][0]["code"], "11502-2");
    assert_eq!(report["effectiveDateTime"], "2026-03-14");
    assert_eq!(report["issued"], "2026-03-15T10:00:00Z");
    assert_eq!(
        report["extension"][0]["valueReference"]["reference"],
        "DocumentReference/doc-1"
    );
    let results: Vec<&str> = report["result"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["reference"].as_str().expect("reference"))
        .collect();
    let observation_urls: Vec<String> = entries[..7]
        .iter()
        .map(|e| e["request"]["url"].as_str().expect("url").to_owned())
        .collect();
    assert_eq!(results, observation_urls);
}

#[test]
fn observations_carry_code_value_range_and_interpretation() {
    let bundle = transaction_bundle(&analysis(), &context(1)).expect("bundle");
    let all = resources(&bundle);
    let hemoglobin = all[0];
    assert_eq!(hemoglobin["status"], "final");
    assert_eq!(hemoglobin["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(
        hemoglobin["code"],
        json!({"coding": [{"system": "http://loinc.org", "code": "718-7",
                           "display": "Hemoglobin [Mass/volume] in Blood"}], "text": "Hemoglobin"})
    );
    assert_eq!(hemoglobin["valueQuantity"]["value"].to_string(), "13.50");
    assert_eq!(
        hemoglobin["valueQuantity"]["system"],
        "http://unitsofmeasure.org"
    );
    assert_eq!(hemoglobin["valueQuantity"]["code"], "g/dL");
    assert_eq!(hemoglobin["referenceRange"][0]["low"]["value"], json!(13.0));
    assert_eq!(hemoglobin["referenceRange"][0]["high"]["code"], "g/dL");
    assert_eq!(hemoglobin["interpretation"][0]["coding"][0]["code"], "N");
    assert_eq!(hemoglobin["subject"]["reference"], "Patient/pat-1");
    assert_eq!(hemoglobin["effectiveDateTime"], "2026-03-14");
    assert_eq!(
        hemoglobin["derivedFrom"][0]["reference"],
        "DocumentReference/doc-1"
    );

    let wbc = all[1];
    assert_eq!(wbc["valueQuantity"]["unit"], "x10^9/L");
    assert_eq!(wbc["valueQuantity"]["code"], "10*9/L");
    assert_eq!(wbc["interpretation"][0]["coding"][0]["code"], "H");
    // Glucose in mmol/L is the molar LOINC code, and low.
    assert_eq!(all[2]["code"]["coding"][0]["code"], "14749-6");
    assert_eq!(all[2]["interpretation"][0]["coding"][0]["code"], "L");
    let troponin = all[3];
    assert_eq!(troponin["valueQuantity"]["comparator"], "<");
    assert_eq!(troponin["valueQuantity"]["value"].to_string(), "0.01");
    assert_eq!(troponin["interpretation"][0]["coding"][0]["code"], "N");
    let nitrite = all[4];
    assert_eq!(nitrite["valueString"], "Negative");
    assert!(nitrite.get("interpretation").is_none());
    // An unknown test is coded by its text only.
    assert_eq!(all[5]["code"], json!({"text": "Zonulin factor"}));
    // An unknown unit keeps its printed form without a UCUM code.
    assert_eq!(
        all[6]["valueQuantity"],
        json!({"value": 7, "unit": "glorps"})
    );
}

#[test]
fn every_resource_passes_the_stores_validation() {
    let bundle = transaction_bundle(&analysis(), &context(1)).expect("bundle");
    for resource in resources(&bundle) {
        let issues = medilink_fhir::validate::check(resource);
        assert!(
            issues.is_empty(),
            "{}: {issues:?}",
            resource["resourceType"]
        );
    }
    let issues = medilink_fhir::validate::check(&bundle);
    assert!(issues.is_empty(), "bundle: {issues:?}");
    // The validator does catch a broken Observation (this test is not vacuous).
    let mut broken = resources(&bundle)[0].clone();
    broken["status"] = json!("finished");
    broken["valueQuantity"]["value"] = json!("13.5");
    assert!(!medilink_fhir::validate::check(&broken).is_empty());
}

#[test]
fn ids_are_deterministic_per_job() {
    let first = transaction_bundle(&analysis(), &context(1)).expect("bundle");
    let again = transaction_bundle(&analysis(), &context(1)).expect("bundle");
    let other = transaction_bundle(&analysis(), &context(2)).expect("bundle");
    assert_eq!(first, again);
    let ids = |bundle: &Value| -> Vec<String> {
        resources(bundle)
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(ids(&first), ids(&again));
    assert!(ids(&first).iter().all(|id| !ids(&other).contains(id)));
    let unique: std::collections::HashSet<_> = ids(&first).into_iter().collect();
    assert_eq!(unique.len(), 8);
}

#[test]
fn no_results_no_bundle_and_no_date_no_effective() {
    let mut empty = analysis();
    empty.results.clear();
    assert!(matches!(
        transaction_bundle(&empty, &context(1)),
        Err(IngestError::NothingFound)
    ));
    let mut undated = analysis();
    undated.report_date = None;
    let bundle = transaction_bundle(&undated, &context(1)).expect("bundle");
    assert!(
        resources(&bundle)
            .iter()
            .all(|r| r.get("effectiveDateTime").is_none())
    );
}

#[test]
fn interpretation_falls_back_to_the_printed_flag() {
    let mut flagged = result("Hemoglobin", "19.0", Some("g/dL"), (None, None));
    flagged.extracted.flag = Some("HIGH".into());
    assert_eq!(interpretation_code(&flagged), Some("H"));
    flagged.extracted.flag = Some("LL".into());
    assert_eq!(interpretation_code(&flagged), Some("LL"));
    flagged.extracted.flag = None;
    assert_eq!(interpretation_code(&flagged), None);
}
