//! The LOINC table covers every test of the fixture generator's catalog
//! (`tools/labgen/catalog.json`): the code with its display, and every printed name variant with
//! every printed unit maps to that code (or to the same analyte's code in the unit's property,
//! like the molar glucose code for mmol/L) without needing review.

use medilink_ingest::extract::ExtractedResult;
use medilink_ingest::loinc::LoincTable;
use medilink_ingest::pipeline::map_result;
use serde_json::Value;

fn catalog() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/labgen/catalog.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("catalog.json")).expect("json")
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_catalog_test_is_in_the_table_and_maps_back() {
    let catalog = catalog();
    let tests = catalog["tests"].as_array().expect("tests");
    assert!(tests.len() >= 60, "{} tests", tests.len());
    let table = LoincTable::builtin();
    let mut problems = Vec::new();
    for test in tests {
        let code = test["loinc"].as_str().expect("loinc");
        let Some(entry) = table.entry(code) else {
            problems.push(format!("{code}: not in the table"));
            continue;
        };
        if Some(entry.display.as_str()) != test["display"].as_str() {
            problems.push(format!("{code}: display differs"));
        }
        let mut names = vec![test["name"].as_str().expect("name")];
        names.extend(strings(&test["abbreviations"]));
        names.extend(strings(&test["synonyms"]));
        for unit in test["units"].as_array().expect("units") {
            let ucum = unit["ucum"].as_str().expect("ucum");
            for printed in strings(&unit["printed"]) {
                for name in &names {
                    let mapped = map_result(
                        ExtractedResult {
                            name: (*name).to_owned(),
                            value_text: "1.0".into(),
                            value: Some(1.0),
                            comparator: None,
                            unit: Some(printed.to_owned()),
                            range_low: None,
                            range_high: None,
                            range_text: None,
                            flag: None,
                            confidence: 0.97,
                            calculated: false,
                        },
                        0.75,
                    );
                    let got = mapped.loinc.as_ref().map(|m| m.code.as_str());
                    if !got.is_some_and(|got| crate::support::score::same_analyte(got, code)) {
                        problems.push(format!("{name} [{printed}] → {got:?}, expected {code}"));
                    } else if mapped.ucum_unit.as_deref() != Some(ucum) {
                        problems.push(format!(
                            "{name} [{printed}] → unit {:?}, expected {ucum}",
                            mapped.ucum_unit
                        ));
                    } else if let Some(reason) = &mapped.review_reason {
                        problems.push(format!("{name} [{printed}] needs review: {reason}"));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
