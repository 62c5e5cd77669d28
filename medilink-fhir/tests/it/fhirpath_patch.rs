//! FHIRPath Patch conformance (issue #18): HL7's FHIRPath Patch test cases
//! (`tests/data/fhirpatch/`, converted to JSON by `tools/fhir/patch_tests.py`), every one of
//! them: the diff applied to the input gives the output, or is refused for an `error` case.

use std::path::PathBuf;

use medilink_fhir::patch::apply_fhirpath_patch;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fhirpatch/fhir-patch-tests.json");
    let text = std::fs::read_to_string(path).expect("the vendored test cases");
    let suite: Value = serde_json::from_str(&text).expect("json");
    suite["cases"].as_array().expect("cases").clone()
}

/// `value` with every narrative `div` reduced to its words (the suite's XML spells the same
/// XHTML with different whitespace in the diff and in the expected output).
fn normalized(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(object) => {
                for (key, child) in object.iter_mut() {
                    match (key.as_str(), child) {
                        ("div", Value::String(text)) => {
                            *text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                        }
                        (_, child) => walk(child),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

#[test]
fn every_hl7_fhirpath_patch_case_passes() {
    let cases = cases();
    assert_eq!(cases.len(), 33);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let result = apply_fhirpath_patch(&case["input"], &case["diff"]);
        match (&case["error"], result) {
            (Value::String(_), Err(_)) => {}
            (Value::String(error), Ok(patched)) => failures.push(format!(
                "{name}: expected the error {error:?}, got {patched}"
            )),
            (_, Ok(patched)) => {
                if normalized(patched.clone()) != normalized(case["output"].clone()) {
                    failures.push(format!(
                        "{name}: got {patched}, expected {}",
                        case["output"]
                    ));
                }
            }
            (_, Err(err)) => failures.push(format!("{name}: {err}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_error_case_names_what_was_missing() {
    let cases = cases();
    let case = cases
        .iter()
        .find(|case| case["name"] == "Operation on missing element")
        .expect("case");
    let err = apply_fhirpath_patch(&case["input"], &case["diff"]).expect_err("refused");
    assert_eq!(err.to_string(), case["error"].as_str().expect("msg"));
}
