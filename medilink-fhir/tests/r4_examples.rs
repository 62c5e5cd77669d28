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
const KNOWN_REJECTED: &[(&str, &str)] = &[];

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
    path.file_name().expect("file name").to_string_lossy().into_owned()
}

#[test]
fn every_example_round_trips() {
    let files = example_files();
    assert!(files.len() >= 50, "expected the official examples, found {}", files.len());
    for path in &files {
        let name = file_name(path);
        let text = fs::read_to_string(path).expect("readable example");
        let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let serialized = serde_json::to_string(&parsed).expect("serialisable");
        let reparsed: Value = serde_json::from_str(&serialized).expect("re-parsable");
        assert_eq!(parsed, reparsed, "{name}: value changed in a round trip");
        let reserialized = serde_json::to_string(&reparsed).expect("serialisable");
        assert_eq!(serialized, reserialized, "{name}: serialisation changed in a round trip");
    }
}

#[test]
fn every_example_validates() {
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
            (true, true) => failures.push(format!("{name}: now passes, remove it from KNOWN_REJECTED")),
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
    assert!(failures.is_empty(), "{} example(s) failed:\n{}", failures.len(), failures.join("\n"));
}
