//! What the full-text index reads out of a resource: the narrative (`text.div` as plain text,
//! for `_text`) and every human-readable string (for `_content`).
//!
//! `_content` takes all JSON string leaves except identifiers of things rather than words:
//! element and resource `id`s, `reference`s, urls, code `system`s and other uri-like values,
//! `meta` bookkeeping, base64 payloads and narrative markup and status (the narrative's text is
//! added stripped).

use serde_json::Value;

/// Keys whose string values are never content.
const SKIPPED_KEYS: &[&str] = &[
    "id",
    "resourceType",
    "reference",
    "url",
    "system",
    "fullUrl",
    "profile",
    "data",
    "valueUri",
    "valueUrl",
    "valueCanonical",
    "valueOid",
    "valueUuid",
    "valueId",
    "valueBase64Binary",
];

/// Keys of `meta` that are bookkeeping rather than content (tags and security labels stay).
const SKIPPED_META_KEYS: &[&str] = &["versionId", "lastUpdated", "source", "profile"];

/// The resource's own narrative (`text.div`) as plain text; empty when it has none.
pub fn narrative_text(resource: &Value) -> String {
    resource
        .get("text")
        .and_then(|text| text.get("div"))
        .and_then(Value::as_str)
        .map(strip_xhtml)
        .unwrap_or_default()
}

/// Every content string of the resource, in document order: the string leaves `_content`
/// searches, plus the plain text of each narrative (the resource's and contained ones').
pub fn content_strings(resource: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(resource, &mut out);
    out
}

fn collect(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => push_text(text, out),
        Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
        Value::Object(map) => {
            for (key, child) in map {
                match key.as_str() {
                    key if SKIPPED_KEYS.contains(&key) => {}
                    "text" if child.is_object() => {
                        if let Some(markup) = child.get("div").and_then(Value::as_str) {
                            push_text(&strip_xhtml(markup), out);
                        }
                    }
                    "meta" => {
                        if let Value::Object(meta) = child {
                            meta.iter()
                                .filter(|(key, _)| !SKIPPED_META_KEYS.contains(&key.as_str()))
                                .for_each(|(_, item)| collect(item, out));
                        }
                    }
                    _ => collect(child, out),
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn push_text(text: &str, out: &mut Vec<String>) {
    let text = text.trim();
    if !text.is_empty() && !looks_like_uri(text) {
        out.push(text.to_owned());
    }
}

/// Absolute urls, urns and OIDs are addresses, not words.
fn looks_like_uri(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    !text.contains(char::is_whitespace)
        && (lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("urn:")
            || lower.starts_with("ftp://"))
}

/// Inline elements: their tags join the text around them without a word break.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "q", "s", "small", "span",
    "strong", "sub", "sup", "tt", "u", "var",
];

/// XHTML to plain text: tags removed (block-level ones become a space), comments dropped,
/// character entities decoded, whitespace collapsed.
pub fn strip_xhtml(markup: &str) -> String {
    let mut text = String::with_capacity(markup.len());
    let mut rest = markup;
    while let Some(start) = rest.find(['<', '&']) {
        text.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            text.push(' ');
        } else if let Some(tag) = rest.strip_prefix('<') {
            let end = tag.find('>').unwrap_or(tag.len());
            if !is_inline(&tag[..end]) {
                text.push(' ');
            }
            rest = tag.get(end + 1..).unwrap_or("");
        } else {
            let (decoded, used) = decode_entity(rest);
            text.push_str(&decoded);
            rest = &rest[used..];
        }
    }
    text.push_str(rest);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_inline(tag: &str) -> bool {
    let name = tag.trim_start_matches('/');
    let name = name
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("");
    let name = name.rsplit(':').next().unwrap_or(name);
    INLINE_TAGS
        .iter()
        .any(|inline| inline.eq_ignore_ascii_case(name))
}

/// Decodes the entity at the start of `text` (which starts with `&`); returns the text and
/// how many bytes it used. An unknown or unterminated entity is kept as a literal `&`.
fn decode_entity(text: &str) -> (String, usize) {
    let literal = (String::from("&"), 1);
    let Some(end) = text.get(..12).unwrap_or(text).find(';') else {
        return literal;
    };
    let name = &text[1..end];
    let decoded = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name.strip_prefix('#').and_then(|number| {
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => literal,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strips_tags_and_decodes_entities() {
        let div = r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>Jos&#233; <b>Ri</b>vera &amp; co</p><!-- note --><table><tr><td>a&lt;b</td><td>&#x41;&nbsp;c</td></tr></table><br/>end &unknown; &</div>"#;
        assert_eq!(strip_xhtml(div), "José Rivera & co a<b A c end &unknown; &");
    }

    #[test]
    fn narrative_is_the_resource_text_div_only() {
        let resource = json!({
            "resourceType": "Patient",
            "text": {"status": "generated", "div": "<div><p>Peter   Chalmers</p></div>"},
            "contained": [{"resourceType": "Practitioner", "text": {"div": "<div>Dr Who</div>"}}]
        });
        assert_eq!(narrative_text(&resource), "Peter Chalmers");
        assert_eq!(narrative_text(&json!({"resourceType": "Basic"})), "");
    }

    #[test]
    fn content_takes_words_and_skips_ids_references_and_uris() {
        let resource = json!({
            "resourceType": "Observation",
            "id": "obs-1",
            "meta": {"versionId": "3", "lastUpdated": "2024-01-01T00:00:00Z",
                     "tag": [{"system": "http://example.org/tags", "code": "urgent"}]},
            "text": {"status": "generated", "div": "<div><b>Glucose</b> high</div>"},
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8",
                                 "display": "Glucose [Moles/volume] in Blood"}]},
            "subject": {"reference": "Patient/p1", "display": "Amy Shaw"},
            "extension": [{"url": "http://example.org/ext", "valueString": "fasting"},
                          {"url": "http://example.org/src", "valueUri": "urn:oid:1.2.3"}],
            "note": [{"text": "see https://example.org/x for details"}],
            "derivedFrom": [{"reference": "urn:uuid:123"}],
            "valueQuantity": {"value": 6.3, "unit": "mmol/l", "system": "http://unitsofmeasure.org"},
            "contained": [{"resourceType": "Device", "id": "d1",
                           "text": {"div": "<div>pump</div>"}}],
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:abc"},
                           {"value": "MRN-77"}],
            "_status": {"extension": [{"url": "x", "valueCode": "checked"}]},
            "presentedForm": [{"contentType": "text/plain", "data": "aGVsbG8="}]
        });
        assert_eq!(
            content_strings(&resource),
            vec![
                "urgent",
                "Glucose high",
                "final",
                "15074-8",
                "Glucose [Moles/volume] in Blood",
                "Amy Shaw",
                "fasting",
                "see https://example.org/x for details",
                "mmol/l",
                "pump",
                "MRN-77",
                "checked",
                "text/plain",
            ]
        );
    }
}
