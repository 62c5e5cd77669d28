//! The official R4 examples vendored by `medilink-fhir`, and synthetic ones for types it lacks.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The directory of the official examples.
pub(crate) fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../medilink-fhir/tests/data/r4-examples")
}

/// The parsed example file `name`.
pub(crate) fn example(name: &str) -> Value {
    let text = fs::read_to_string(examples_dir().join(name)).expect("readable example");
    serde_json::from_str(&text).expect("parsable example")
}

/// The resources of an example: a Bundle's entries, or the example itself.
pub(crate) fn resources(example: Value) -> Vec<Value> {
    if example["resourceType"] == "Bundle" {
        let entries = example["entry"].as_array().expect("bundle entries");
        entries
            .iter()
            .map(|entry| entry["resource"].clone())
            .collect()
    } else {
        vec![example]
    }
}

/// No official example of Procedure is vendored: a synthetic one in the same style.
pub(crate) fn procedure() -> Value {
    json!({
        "resourceType": "Procedure",
        "id": "example",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Appendectomy of Peter Chalmers</div>"},
        "identifier": [{"system": "http://example.org/procedures", "value": "PROC-778899"}],
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "80146002", "display": "Appendectomy"}], "text": "Appendectomy"},
        "subject": {"reference": "Patient/example", "display": "Peter James Chalmers"},
        "performedPeriod": {"start": "2013-04-05T09:30:10+01:00", "end": "2013-04-05T10:30:10+01:00"},
        "performer": [{"actor": {"reference": "Practitioner/example", "display": "Dr Cecil Surgeon"}}],
        "reasonCode": [{"text": "Generalized abdominal pain 24 hours. Localized in RIF with rebound"}],
        "followUp": [{"text": "ROS 5 days  - 2013-04-10"}],
        "note": [{"text": "Routine Appendectomy. Appendix was inflamed and in retro-caecal position"}]
    })
}
