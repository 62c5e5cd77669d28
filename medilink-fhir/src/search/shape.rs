//! Result shaping of search matches: `_summary=true|text|data` and `_elements`.
//!
//! Which top-level elements are summary elements, and which are mandatory (min ≥ 1), comes from
//! `data/r4-summary.json`, generated from the official StructureDefinitions by
//! `tools/gen_summary.py`. Every shaped resource keeps `resourceType`, `id`, `meta` and its
//! mandatory elements, and is marked with the `SUBSETTED` tag, as R4 asks.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::Summary;

/// The system of the `SUBSETTED` tag.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

#[derive(Debug, Default, Deserialize)]
struct TypeElements {
    /// Summary elements (`isSummary`).
    #[serde(rename = "s")]
    summary: Vec<String>,
    /// Mandatory elements (`min >= 1`).
    #[serde(rename = "r")]
    required: Vec<String>,
}

static ELEMENTS: LazyLock<HashMap<String, TypeElements>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../data/r4-summary.json"))
        .expect("invariant: the vendored summary element list parses")
});

/// Whether `_summary` / `_elements` change a resource at all.
pub fn shapes(summary: Summary, elements: &[String]) -> bool {
    match summary {
        Summary::True | Summary::Text | Summary::Data => true,
        Summary::False | Summary::Count => !elements.is_empty(),
    }
}

/// Whether the JSON key `key` belongs to the element `name` (`value[x]` → `valueQuantity`;
/// `_birthDate` carries the extensions of `birthDate`).
fn key_matches(key: &str, name: &str) -> bool {
    let key = key.strip_prefix('_').unwrap_or(key);
    match name.strip_suffix("[x]") {
        Some(stem) => key
            .strip_prefix(stem)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase()),
        None => key == name,
    }
}

/// Shapes `resource` in place for `_summary` (which wins when not `false`) or `_elements`;
/// returns whether anything was requested (the resource is then tagged `SUBSETTED`).
pub fn shape(resource: &mut Value, summary: Summary, elements: &[String]) -> bool {
    if !shapes(summary, elements) {
        return false;
    }
    let Value::Object(map) = resource else {
        return false;
    };
    let resource_type = map
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let known = ELEMENTS.get(&resource_type);
    let required: &[String] = known.map_or(&[], |k| k.required.as_slice());
    let always = ["resourceType", "id", "meta"];
    let keep = |key: &str, wanted: &dyn Fn(&str) -> bool| {
        always.contains(&key) || required.iter().any(|r| key_matches(key, r)) || wanted(key)
    };
    match summary {
        Summary::Data => {
            map.remove("text");
        }
        Summary::True => {
            let names: &[String] = known.map_or(&[], |k| k.summary.as_slice());
            map.retain(|key, _| keep(key, &|key| names.iter().any(|n| key_matches(key, n))));
        }
        Summary::Text => map.retain(|key, _| keep(key, &|key| key == "text")),
        Summary::False | Summary::Count => {
            let names: Vec<&str> = elements
                .iter()
                .map(|e| {
                    let e = e.strip_prefix(&format!("{resource_type}.")).unwrap_or(e);
                    e.split('.').next().unwrap_or(e)
                })
                .collect();
            map.retain(|key, _| keep(key, &|key| names.iter().any(|n| key_matches(key, n))));
        }
    }
    tag_subsetted(map);
    true
}

fn tag_subsetted(map: &mut Map<String, Value>) {
    let meta = map
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else {
        return;
    };
    let tags = meta
        .entry("tag")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(tags) = tags {
        let already = tags
            .iter()
            .any(|t| t["system"] == SUBSETTED_SYSTEM && t["code"] == "SUBSETTED");
        if !already {
            tags.push(
                json!({"system": SUBSETTED_SYSTEM, "code": "SUBSETTED", "display": "subsetted"}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation() -> Value {
        json!({"resourceType": "Observation", "id": "o1", "meta": {"versionId": "1"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "status": "final", "code": {"text": "hb"}, "valueQuantity": {"value": 1},
            "note": [{"text": "n"}], "_status": {"extension": []}})
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn summary_true_keeps_summary_and_mandatory_elements() {
        let mut resource = observation();
        assert!(shape(&mut resource, Summary::True, &[]));
        assert_eq!(
            keys(&resource),
            [
                "resourceType",
                "id",
                "meta",
                "status",
                "code",
                "valueQuantity",
                "_status"
            ]
        );
        assert_eq!(resource["meta"]["tag"][0]["code"], "SUBSETTED");
        assert_eq!(resource["meta"]["versionId"], "1");
    }

    #[test]
    fn summary_text_and_data() {
        let mut text = observation();
        shape(&mut text, Summary::Text, &[]);
        assert_eq!(
            keys(&text),
            [
                "resourceType",
                "id",
                "meta",
                "text",
                "status",
                "code",
                "_status"
            ]
        );
        let mut data = observation();
        shape(&mut data, Summary::Data, &[]);
        assert!(data.get("text").is_none());
        assert!(data.get("note").is_some());
    }

    #[test]
    fn elements_keep_the_listed_ones_plus_mandatory() {
        let mut resource = observation();
        shape(
            &mut resource,
            Summary::False,
            &["Observation.note".to_owned()],
        );
        assert_eq!(
            keys(&resource),
            [
                "resourceType",
                "id",
                "meta",
                "status",
                "code",
                "note",
                "_status"
            ]
        );
        let mut untouched = observation();
        assert!(!shape(&mut untouched, Summary::False, &[]));
        assert_eq!(untouched, observation());
    }

    #[test]
    fn choice_elements_match_their_typed_keys() {
        assert!(key_matches("valueQuantity", "value[x]"));
        assert!(key_matches("_valueString", "value[x]"));
        assert!(!key_matches("valueset", "value[x]"));
        assert!(key_matches("_birthDate", "birthDate"));
    }
}
