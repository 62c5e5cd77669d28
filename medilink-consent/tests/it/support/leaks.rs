//! The leak hunt: which strings of an input are identifying, and the assertion that none of
//! them, no narrative and no full date survives in a de-identified output that is valid R4.

use medilink_fhir::validate;
use serde_json::Value;

/// Every string in `value` whose own key is in `leaves` and that sits below one of `parents`,
/// or is itself the string value of a `parents` key (an Organization's `name`).
fn strings_under(value: &Value, parents: &[&str], leaves: &[&str], found: &mut Vec<String>) {
    fn walk(
        value: &Value,
        key: &str,
        inside: bool,
        rule: (&[&str], &[&str]),
        found: &mut Vec<String>,
    ) {
        let (parents, leaves) = rule;
        match value {
            Value::String(text) if (inside && leaves.contains(&key)) || parents.contains(&key) => {
                found.push(text.clone());
            }
            Value::Array(items) => items
                .iter()
                .for_each(|item| walk(item, key, inside, rule, found)),
            Value::Object(map) => {
                let inside = inside || parents.contains(&key);
                for (inner_key, inner) in map {
                    walk(inner, inner_key, inside, rule, found);
                }
            }
            _ => {}
        }
    }
    walk(value, "", false, (parents, leaves), found);
}

/// The identifying strings of `resource` that must not survive: name parts, telecom values,
/// address lines/city/district/postal code/text, identifier values, reference displays,
/// narrative and annotation text.
pub(crate) fn secrets(resource: &Value) -> Vec<String> {
    let mut found = Vec::new();
    strings_under(
        resource,
        &["name"],
        &["family", "given", "prefix", "suffix", "text"],
        &mut found,
    );
    strings_under(resource, &["telecom"], &["value"], &mut found);
    strings_under(resource, &["identifier"], &["value"], &mut found);
    strings_under(
        resource,
        &["address"],
        &["line", "city", "district", "postalCode", "text"],
        &mut found,
    );
    strings_under(resource, &["note"], &["text"], &mut found);
    strings_under(resource, &["div"], &[], &mut found);
    collect_reference_displays(resource, &mut found);
    // Very short strings (initials) would match pseudonyms or codes by accident.
    found.retain(|text| text.len() >= 4);
    found.sort();
    found.dedup();
    found
}

fn collect_reference_displays(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_reference_displays(item, found)),
        Value::Object(map) => {
            if map.contains_key("reference")
                && let Some(display) = map.get("display").and_then(Value::as_str)
            {
                found.push(display.to_owned());
            }
            map.values()
                .for_each(|inner| collect_reference_displays(inner, found));
        }
        _ => {}
    }
}

/// Whether `text` holds a full date (`YYYY-MM-DD`).
pub(crate) fn full_date_in(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(9)).find_map(|start| {
        let window = &bytes[start..start + 10];
        let shape = window.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
        shape.then(|| &text[start..start + 10])
    })
}

pub(crate) fn assert_no_leak(name: &str, input: &Value, output: &Value) {
    let output_text = serde_json::to_string(output).expect("serialisable");
    for secret in secrets(input) {
        assert!(
            !output_text.contains(&secret),
            "{name}: {secret:?} survived in {output_text}"
        );
    }
    assert!(!output_text.contains("<div"), "{name}: narrative survived");
    assert!(output.get("text").is_none(), "{name}: text survived");
    if let Some(date) = full_date_in(&output_text) {
        panic!("{name}: the full date {date} survived in {output_text}");
    }
    let issues = validate::check(output);
    assert!(
        issues.is_empty(),
        "{name}: invalid output {issues:?}\n{output_text}"
    );
}
