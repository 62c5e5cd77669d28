//! FHIRPath conformance: runs the official R4 FHIRPath test suite (`tests-fhir-r4.xml`) on
//! every test whose input exists as JSON, asserts a minimum pass count, and checks that every
//! R4 search-parameter expression parses and evaluates without error on the official examples.
//!
//! Set `FHIRPATH_VERBOSE=1` to list the failing tests.

use std::path::PathBuf;

use medilink_fhir::fhirpath::{Expression, Item, evaluate};
use serde_json::Value;

/// Tests passing at the time of writing; raise it when the evaluator improves.
const MIN_PASSING: usize = 802;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// One `<test>` of the suite.
#[derive(Debug)]
struct Case {
    name: String,
    input: String,
    expression: String,
    invalid: bool,
    predicate: bool,
    outputs: Vec<(String, String)>,
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// A tiny ad-hoc extractor for `<test …><expression …>…</expression><output …>…</output></test>`.
fn cases(xml: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<test ") {
        let body_start = &rest[start..];
        let Some(end) = body_start.find("</test>") else {
            break;
        };
        let block = &body_start[..end];
        rest = &body_start[end..];
        let tag_end = block.find('>').unwrap_or(block.len());
        let tag = &block[..tag_end];
        let Some(expr_start) = block.find("<expression") else {
            continue;
        };
        let expr_block = &block[expr_start..];
        let expr_tag_end = expr_block.find('>').unwrap_or(0);
        let expr_tag = &expr_block[..expr_tag_end];
        let Some(expr_end) = expr_block.find("</expression>") else {
            continue;
        };
        let expression = unescape(&expr_block[expr_tag_end + 1..expr_end]);
        let mut outputs = Vec::new();
        let mut out_rest = &expr_block[expr_end..];
        while let Some(out_start) = out_rest.find("<output") {
            let out_block = &out_rest[out_start..];
            let out_tag_end = out_block.find('>').unwrap_or(0);
            let out_tag = &out_block[..out_tag_end];
            let kind = attribute(out_tag, "type").unwrap_or_default();
            if out_tag.ends_with('/') {
                outputs.push((kind, String::new()));
                out_rest = &out_block[out_tag_end..];
                continue;
            }
            let close = out_block.find("</output>").unwrap_or(out_tag_end + 1);
            outputs.push((kind, unescape(&out_block[out_tag_end + 1..close])));
            out_rest = &out_block[close..];
        }
        cases.push(Case {
            name: attribute(tag, "name").unwrap_or_default(),
            input: attribute(tag, "inputfile").unwrap_or_default(),
            expression,
            invalid: attribute(expr_tag, "invalid").is_some(),
            predicate: attribute(tag, "predicate").is_some_and(|p| p == "true"),
            outputs,
        });
    }
    cases
}

/// `(type, text)` of a result item, in the suite's notation.
fn render(item: &Item<'_>) -> (String, String) {
    match item {
        Item::Boolean(b) => ("boolean".into(), b.to_string()),
        Item::Integer(i) => ("integer".into(), i.to_string()),
        Item::Decimal(d) => ("decimal".into(), d.clone()),
        Item::String(s) => ("string".into(), s.clone()),
        Item::Date(d) => ("date".into(), d.clone()),
        Item::DateTime(d) => ("dateTime".into(), d.clone()),
        Item::Time(t) => ("time".into(), t.clone()),
        Item::Quantity { value, unit } => ("Quantity".into(), format!("{value} '{unit}'")),
        Item::Resolved { resource_type } => (resource_type.clone(), String::new()),
        Item::Node {
            value, type_name, ..
        } => {
            let kind = type_name.unwrap_or("").to_owned();
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            (kind, text)
        }
    }
}

fn output_matches(expected: &(String, String), actual: &(String, String)) -> bool {
    let expected_text = expected.1.trim_start_matches('@').trim_start_matches('T');
    let actual_text = actual.1.trim_start_matches('T');
    if expected_text != actual_text {
        return false;
    }
    let primitive = expected.0.starts_with(char::is_lowercase);
    primitive || expected.0 == actual.0
}

fn run_case(case: &Case, resource: &Value) -> Result<bool, String> {
    let expr = match Expression::parse(&case.expression) {
        Ok(expr) => expr,
        Err(error) => {
            return if case.invalid {
                Ok(true)
            } else {
                Err(error.to_string())
            };
        }
    };
    let items = match evaluate(&expr, resource) {
        Ok(items) => items,
        Err(error) => {
            return if case.invalid {
                Ok(true)
            } else {
                Err(error.to_string())
            };
        }
    };
    if case.invalid {
        return Err(format!("expected an error, got {} items", items.len()));
    }
    let mut actual: Vec<(String, String)> = items.iter().map(render).collect();
    if case.predicate {
        actual = vec![("boolean".into(), (!items.is_empty()).to_string())];
    }
    if actual.len() == case.outputs.len()
        && case
            .outputs
            .iter()
            .zip(&actual)
            .all(|(e, a)| output_matches(e, a))
    {
        Ok(true)
    } else {
        Err(format!("expected {:?}, got {actual:?}", case.outputs))
    }
}

#[test]
fn fhirpath_official_suite() {
    let dir = data_dir().join("fhirpath");
    let xml = std::fs::read_to_string(dir.join("tests-fhir-r4.xml")).expect("suite is vendored");
    let cases = cases(&xml);
    assert!(
        cases.len() > 900,
        "extractor found only {} tests",
        cases.len()
    );
    let verbose = std::env::var_os("FHIRPATH_VERBOSE").is_some();
    let (mut runnable, mut passed) = (0, 0);
    for case in &cases {
        let json_name = case.input.replace(".xml", ".json");
        let Ok(text) = std::fs::read_to_string(dir.join(&json_name)) else {
            continue;
        };
        let resource: Value = serde_json::from_str(&text).expect("input is json");
        runnable += 1;
        match run_case(case, &resource) {
            Ok(true) => passed += 1,
            Ok(false) => {}
            Err(why) => {
                if verbose {
                    eprintln!("FAIL {}: {} -- {why}", case.name, case.expression);
                }
            }
        }
    }
    eprintln!(
        "fhirpath conformance: {passed} of {runnable} runnable tests pass ({} in suite)",
        cases.len()
    );
    assert!(passed >= MIN_PASSING, "only {passed} of {runnable} pass");
}

/// Every R4 search-parameter expression parses, and evaluates without error on every official
/// example whose type is one of the parameter's bases.
#[test]
fn fhirpath_search_parameter_expressions() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/search-parameters.json");
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vendored")).expect("json");
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 1378);
    let mut parsed = Vec::new();
    for entry in entries {
        let param = &entry["resource"];
        let Some(src) = param["expression"].as_str() else {
            continue;
        };
        let expr = Expression::parse(src)
            .unwrap_or_else(|error| panic!("{} does not parse: {error}", param["id"]));
        parsed.push((param, expr));
    }
    assert_eq!(parsed.len(), 1375);

    let mut examples = Vec::new();
    for dir in ["r4-examples", "fhirpath"] {
        let read = std::fs::read_dir(data_dir().join(dir)).expect("example dir");
        for file in read.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("readable");
                examples.push(serde_json::from_str::<Value>(&text).expect("json"));
            }
        }
    }
    let (mut evaluations, mut non_empty) = (0, 0);
    for resource in &examples {
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        for (param, expr) in &parsed {
            let applies = param["base"]
                .as_array()
                .is_some_and(|b| b.iter().any(|t| t == resource_type || t == "Resource"));
            if !applies {
                continue;
            }
            let items = evaluate(expr, resource).unwrap_or_else(|error| {
                panic!("{} fails on {resource_type}: {error}", param["id"])
            });
            evaluations += 1;
            non_empty += usize::from(!items.is_empty());
        }
    }
    eprintln!("search expressions: {evaluations} evaluations, {non_empty} non-empty");
    assert!(non_empty > 500);
}
