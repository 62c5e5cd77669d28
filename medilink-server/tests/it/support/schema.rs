//! A minimal JSON Schema validator for the subset the OpenAPI document uses (`tests/it/openapi.rs`).
//! Not the `jsonschema` crate: 0.61 brings about twenty crates even without its default
//! features (`regex`, `fancy-regex`, `fraction`, `strum`'s proc macros, its own `referencing`),
//! a poor trade on a 2-core machine for the few keywords checked here.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Every `$ref` value in `value`.
pub(crate) fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

/// The value a local `$ref` (`#/components/…`) points at.
pub(crate) fn resolve<'a>(document: &'a Value, target: &str) -> Option<&'a Value> {
    document.pointer(target.strip_prefix('#')?)
}

/// Validates `instance` against `schema` (the subset the document uses: `$ref`, `type` (one or
/// several, `null` included), `enum`, `required`, `properties`, `additionalProperties: false`,
/// `items`, `oneOf`, `allOf`, `minimum`); the problems, with their JSON paths.
pub(crate) fn validate(
    document: &Value,
    schema: &Value,
    instance: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    if let Some(target) = schema["$ref"].as_str() {
        match resolve(document, target) {
            Some(schema) => validate(document, schema, instance, at, problems),
            None => problems.push(format!("{at}: unresolved {target}")),
        }
        return;
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = |ty: &str| match ty {
            "null" => instance.is_null(),
            "boolean" => instance.is_boolean(),
            "string" => instance.is_string(),
            "integer" => instance.is_i64() || instance.is_u64(),
            "number" => instance.is_number(),
            "array" => instance.is_array(),
            "object" => instance.is_object(),
            _ => false,
        };
        if !types.iter().any(|ty| fits(ty)) {
            problems.push(format!("{at}: {instance} is not of type {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(instance)
    {
        problems.push(format!("{at}: {instance} is not one of {allowed:?}"));
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), instance.as_f64())
        && number < minimum
    {
        problems.push(format!("{at}: {number} < {minimum}"));
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        validate(document, part, instance, at, problems);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        let matching = variants
            .iter()
            .filter(|variant| {
                let mut inner = Vec::new();
                validate(document, variant, instance, at, &mut inner);
                inner.is_empty()
            })
            .count();
        if matching != 1 {
            problems.push(format!("{at}: {matching} oneOf variants match, not 1"));
        }
    }
    if let Some(object) = instance.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().expect("required names are strings");
            if !object.contains_key(name) {
                problems.push(format!("{at}: missing {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, value) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => {
                    validate(document, property, value, &format!("{at}.{name}"), problems);
                }
                None if schema["additionalProperties"] == json!(false) => {
                    problems.push(format!("{at}: undocumented property {name}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), instance.as_array()) {
        for (index, item) in array.iter().enumerate() {
            validate(document, items, item, &format!("{at}[{index}]"), problems);
        }
    }
}

/// Asserts that `body`, answered with `status` by `METHOD path`, matches the documented
/// response schema (`application/json` for success, the `OperationOutcome` for errors).
pub(crate) fn assert_documented(
    document: &Value,
    method: &str,
    path: &str,
    status: StatusCode,
    body: &Value,
) {
    let operation = &document["paths"][path][method.to_lowercase()];
    let mut response = &operation["responses"][status.as_str()];
    if let Some(target) = response["$ref"].as_str() {
        response = resolve(document, target).expect("a resolvable response");
    }
    let content = response["content"]
        .as_object()
        .and_then(|content| content.values().next())
        .unwrap_or_else(|| panic!("{method} {path} documents no {status} body"));
    let mut problems = Vec::new();
    validate(document, &content["schema"], body, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} {status}: {problems:#?}\n{body:#}"
    );
}
