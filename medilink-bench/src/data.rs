//! Deterministic Synthea-style data: clones of the US Core patient bundle in `testdata/` with
//! new patient ids, names and shifted numeric values. No real patient data.

use anyhow::{Context, Result};
use serde_json::Value;

const TEMPLATE: &str = include_str!("../../testdata/us-core/uscore_bundle_patient_85.json");

/// `patients` transaction bundles, each one patient with its ~267 resources.
pub(crate) fn bundles(patients: usize) -> Result<Vec<Value>> {
    let template: Value = serde_json::from_str(TEMPLATE).context("template bundle")?;
    Ok((0..patients).map(|n| clone_patient(&template, n)).collect())
}

/// Number of entries in a bundle.
pub(crate) fn entry_count(bundle: &Value) -> usize {
    bundle["entry"].as_array().map_or(0, Vec::len)
}

fn clone_patient(template: &Value, n: usize) -> Value {
    let mut bundle = template.clone();
    let patient_id = format!("bench-{n}");
    if let Some(entries) = bundle["entry"].as_array_mut() {
        for entry in entries {
            if entry["request"]["method"] == "PUT" && entry["resource"]["resourceType"] == "Patient"
            {
                entry["request"]["url"] = Value::String(format!("Patient/{patient_id}"));
                entry["resource"]["id"] = Value::String(patient_id.clone());
                entry["resource"]["name"] =
                    serde_json::json!([{"family": format!("Synthetic{n}"), "given": ["Bench"]}]);
                entry["resource"]["birthDate"] = Value::String(format!(
                    "{}-{:02}-{:02}",
                    1930 + n % 70,
                    1 + n % 12,
                    1 + n % 28
                ));
            }
            shift_values(&mut entry["resource"], n);
        }
    }
    bundle
}

/// Varies `valueQuantity.value` so clones are not byte-identical.
fn shift_values(value: &mut Value, n: usize) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(quantity)) = map.get_mut("valueQuantity")
                && let Some(number) = quantity.get("value").and_then(Value::as_f64)
            {
                let shifted = number + (n % 10) as f64 / 10.0;
                if let Some(number) =
                    serde_json::Number::from_f64((shifted * 100.0).round() / 100.0)
                {
                    quantity.insert("value".to_owned(), Value::Number(number));
                }
            }
            map.values_mut().for_each(|child| shift_values(child, n));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| shift_values(item, n)),
        _ => {}
    }
}
