//! Round-trips and validates every official R4 JSON example in `tests/data/r4-examples/`.
//!
//! Each example must parse, serialise and compare equal, and pass [`validate::check`], except the
//! files in [`KNOWN_REJECTED`]; a listed file that starts passing fails the test, so the list can
//! only shrink.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use medilink_fhir::validate;
use serde_json::Value;

/// Examples the validator rejects, with the reason. Keep this empty if at all possible.
const KNOWN_REJECTED: &[(&str, &str)] = &[(
    "bundle-questionnaire.json",
    "50 display items have no linkId, but Questionnaire.item.linkId is 1..1 in R4",
)];

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/r4-examples");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("examples directory exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_example_round_trips() {
    let files = example_files();
    assert!(
        files.len() >= 50,
        "expected the official examples, found {}",
        files.len()
    );
    for path in &files {
        let name = file_name(path);
        let text = fs::read_to_string(path).expect("readable example");
        let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let serialized = serde_json::to_string(&parsed).expect("serialisable");
        let reparsed: Value = serde_json::from_str(&serialized).expect("re-parsable");
        assert_eq!(parsed, reparsed, "{name}: value changed in a round trip");
        let reserialized = serde_json::to_string(&reparsed).expect("serialisable");
        assert_eq!(
            serialized, reserialized,
            "{name}: serialisation changed in a round trip"
        );
    }
}

#[test]
fn every_example_validates() {
    let started = Instant::now();
    let _ = validate::check(&serde_json::json!({"resourceType": "Basic"}));
    eprintln!("loaded the model in {:?}", started.elapsed());
    let mut failures = Vec::new();
    let mut total = Duration::ZERO;
    for path in example_files() {
        let name = file_name(&path);
        let text = fs::read_to_string(&path).expect("readable example");
        let resource: Value = serde_json::from_str(&text).expect("parsable example");
        let started = Instant::now();
        let issues = validate::check(&resource);
        total += started.elapsed();
        let listed = KNOWN_REJECTED.iter().any(|(file, _)| *file == name);
        match (issues.is_empty(), listed) {
            (true, true) => {
                failures.push(format!("{name}: now passes, remove it from KNOWN_REJECTED"))
            }
            (false, false) => {
                let details: Vec<String> = issues
                    .iter()
                    .map(|issue| {
                        format!(
                            "  {} at {}: {}",
                            issue.code.as_str(),
                            issue.expression.as_deref().unwrap_or("-"),
                            issue.diagnostics
                        )
                    })
                    .collect();
                failures.push(format!("{name}:\n{}", details.join("\n")));
            }
            _ => {}
        }
    }
    eprintln!("validated all examples in {total:?}");
    assert!(
        failures.is_empty(),
        "{} example(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every object (and, in `strings`, every string) of `value` with its FHIRPath-style location
/// (`Bundle.entry[0].resource`) and the steps leading to it.
fn collect(value: &Value, location: String, steps: Vec<PathStep>, found: &mut Found) {
    match value {
        Value::Object(object) => {
            found.objects.push((steps.clone(), location.clone()));
            for (key, child) in object {
                let mut child_steps = steps.clone();
                child_steps.push(PathStep::Key(key.clone()));
                collect(child, format!("{location}.{key}"), child_steps, found);
            }
        }
        Value::Array(items) => {
            for (position, item) in items.iter().enumerate() {
                let mut child_steps = steps.clone();
                child_steps.push(PathStep::Index(position));
                collect(item, format!("{location}[{position}]"), child_steps, found);
            }
        }
        Value::String(_) if !location.ends_with(".resourceType") => {
            found.strings.push((steps, location));
        }
        _ => {}
    }
}

#[derive(Default)]
struct Found {
    objects: Vec<(Vec<PathStep>, String)>,
    strings: Vec<(Vec<PathStep>, String)>,
}

#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn value_at<'a>(value: &'a mut Value, steps: &[PathStep]) -> &'a mut Value {
    let mut current = value;
    for step in steps {
        current = match step {
            PathStep::Key(key) => current.get_mut(key.as_str()).expect("path exists"),
            PathStep::Index(position) => current.get_mut(*position).expect("path exists"),
        };
    }
    current
}

/// Applies `mutate` at every `PER_FILE`-th location and expects an issue at `location + suffix`.
fn expect_issues(
    name: &str,
    resource: &Value,
    targets: &[(Vec<PathStep>, String)],
    suffix: &str,
    mutate: impl Fn(&mut Value),
) {
    const PER_FILE: usize = 40;
    let stride = targets.len().div_ceil(PER_FILE).max(1);
    for (steps, location) in targets.iter().step_by(stride) {
        let mut mutated = resource.clone();
        mutate(value_at(&mut mutated, steps));
        let expected = format!("{location}{suffix}");
        let issues = validate::check(&mutated);
        assert!(
            issues
                .iter()
                .any(|issue| issue.expression.as_deref() == Some(expected.as_str())),
            "{name}: no issue at {expected}; got {issues:?}"
        );
    }
}

/// Adding an unknown property to any object, or emptying any string, of any example is
/// reported at that path: the walker really visits every part of every example.
#[test]
fn mutations_are_found_everywhere() {
    for path in example_files() {
        let name = file_name(&path);
        let text = fs::read_to_string(&path).expect("readable example");
        let resource: Value = serde_json::from_str(&text).expect("parsable example");
        let root = resource["resourceType"]
            .as_str()
            .expect("resourceType")
            .to_owned();
        let mut found = Found::default();
        collect(&resource, root, Vec::new(), &mut found);
        expect_issues(&name, &resource, &found.objects, ".zzUnknown", |object| {
            let object = object.as_object_mut().expect("an object");
            object.insert("zzUnknown".to_owned(), Value::Bool(true));
        });
        expect_issues(&name, &resource, &found.strings, "", |string| {
            *string = Value::String(String::new());
        });
    }
}
