//! The LLM answer's schema (in Gemini's and in JSON Schema's dialect) and its validation.

use serde_json::{Map, Value, json};

use crate::extract::{ExtractedReport, ExtractedResult};

/// The most results one report may hold; more is a runaway answer.
const MAX_RESULTS: usize = 500;
/// The longest test name, value or unit kept.
const MAX_TEXT: usize = 200;

/// (field, JSON type, nullable)
const RESULT_FIELDS: [(&str, &str, bool); 10] = [
    ("name", "string", false),
    ("value_text", "string", false),
    ("value", "number", true),
    ("comparator", "string", true),
    ("unit", "string", true),
    ("range_low", "number", true),
    ("range_high", "number", true),
    ("range_text", "string", true),
    ("flag", "string", true),
    ("confidence", "number", false),
];

/// The answer schema in JSON Schema, as OpenAI's strict mode wants it (every property
/// required, optional ones nullable, no additional properties).
pub(crate) fn json_schema() -> Value {
    let mut properties = Map::new();
    for (field, kind, nullable) in RESULT_FIELDS {
        let kind = if nullable {
            json!([kind, "null"])
        } else {
            json!(kind)
        };
        properties.insert(field.to_owned(), json!({ "type": kind }));
    }
    let required: Vec<&str> = RESULT_FIELDS.iter().map(|(field, _, _)| *field).collect();
    json!({
        "type": "object",
        "properties": {
            "report_date": {"type": ["string", "null"]},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                },
            },
        },
        "required": ["report_date", "results"],
        "additionalProperties": false,
    })
}

/// The answer schema in Gemini's OpenAPI subset.
pub(crate) fn gemini_schema() -> Value {
    let mut properties = Map::new();
    for (field, kind, nullable) in RESULT_FIELDS {
        properties.insert(
            field.to_owned(),
            json!({ "type": kind.to_ascii_uppercase(), "nullable": nullable }),
        );
    }
    let required: Vec<&str> = RESULT_FIELDS
        .iter()
        .filter(|(_, _, nullable)| !nullable)
        .map(|(field, _, _)| *field)
        .collect();
    let ordering: Vec<&str> = RESULT_FIELDS.iter().map(|(field, _, _)| *field).collect();
    json!({
        "type": "OBJECT",
        "properties": {
            "report_date": {"type": "STRING", "nullable": true},
            "results": {
                "type": "ARRAY",
                "items": {
                    "type": "OBJECT",
                    "properties": properties,
                    "required": required,
                    "propertyOrdering": ordering,
                },
            },
        },
        "required": ["results"],
        "propertyOrdering": ["report_date", "results"],
    })
}

/// Checks the model's answer against the schema and turns it into a report. Wrong shapes are
/// rejected with a description of the first problem (never quoting values); nonsense within
/// the shape is clamped: confidence to 0–1, an inverted range dropped, an impossible date or an
/// unknown comparator removed, non-finite numbers removed, long texts cut.
pub fn validate(answer: &Value) -> Result<ExtractedReport, String> {
    let object = answer
        .as_object()
        .ok_or("the answer is not a JSON object")?;
    let results = object
        .get("results")
        .ok_or("`results` is missing")?
        .as_array()
        .ok_or("`results` is not an array")?;
    if results.len() > MAX_RESULTS {
        return Err(format!("more than {MAX_RESULTS} results"));
    }
    let report_date = match object.get("report_date") {
        None | Some(Value::Null) => None,
        Some(Value::String(date)) => iso_date(date),
        Some(_) => return Err("`report_date` is not a string".into()),
    };
    let mut out = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        out.push(result_of(result).map_err(|problem| format!("results[{index}]: {problem}"))?);
    }
    Ok(ExtractedReport {
        report_date,
        issued: None,
        results: out,
    })
}

fn result_of(result: &Value) -> Result<ExtractedResult, String> {
    let object = result.as_object().ok_or("not an object")?;
    let name = text(object, "name")?
        .filter(|name| !name.trim().is_empty())
        .ok_or("`name` is missing or empty")?;
    let value = number(object, "value")?;
    let value_text = match text(object, "value_text")? {
        Some(value_text) if !value_text.trim().is_empty() => value_text,
        _ => match value {
            Some(value) => value.to_string(),
            None => return Err("`value_text` is missing and `value` is null".into()),
        },
    };
    let comparator = text(object, "comparator")?
        .filter(|comparator| matches!(comparator.as_str(), "<" | "<=" | ">=" | ">"));
    let (mut range_low, mut range_high) =
        (number(object, "range_low")?, number(object, "range_high")?);
    if let (Some(low), Some(high)) = (range_low, range_high)
        && low > high
    {
        range_low = None;
        range_high = None;
    }
    let confidence = match object.get("confidence") {
        None | Some(Value::Null) => 0.5,
        Some(Value::Number(number)) => number.as_f64().filter(|c| c.is_finite()).unwrap_or(0.0),
        Some(_) => return Err("`confidence` is not a number".into()),
    };
    Ok(ExtractedResult {
        name: name.trim().to_owned(),
        value_text: value_text.trim().to_owned(),
        value,
        comparator,
        unit: text(object, "unit")?.filter(|unit| !unit.trim().is_empty()),
        range_low,
        range_high,
        range_text: text(object, "range_text")?.filter(|range| !range.trim().is_empty()),
        flag: text(object, "flag")?.filter(|flag| !flag.trim().is_empty()),
        confidence: confidence.clamp(0.0, 1.0),
        calculated: false,
    })
}

/// A nullable string field, cut to [`MAX_TEXT`] characters.
fn text(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.chars().take(MAX_TEXT).collect())),
        Some(_) => Err(format!("`{field}` is not a string")),
    }
}

/// A nullable number field; a numeric string is accepted, a non-finite number dropped.
fn number(object: &Map<String, Value>, field: &str) -> Result<Option<f64>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => Ok(number.as_f64().filter(|n| n.is_finite())),
        Some(Value::String(text)) => match text.trim().parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(Some(number)),
            _ => Err(format!("`{field}` is not a number")),
        },
        Some(_) => Err(format!("`{field}` is not a number")),
    }
}

fn iso_date(text: &str) -> Option<String> {
    let date = text.get(..10)?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, format)
        .ok()
        .map(|_| date.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_answer_becomes_a_report() {
        let report = validate(&json!({
            "report_date": "2026-03-14",
            "results": [
                {"name": "Hemoglobin", "value_text": "13.5", "value": 13.5, "comparator": null,
                 "unit": "g/dL", "range_low": 13.0, "range_high": 17.0, "range_text": null,
                 "flag": null, "confidence": 0.97},
                {"name": "Troponin I", "value_text": "<0.01", "value": "0.01", "comparator": "<",
                 "unit": "ng/mL", "range_low": null, "range_high": 0.04, "range_text": "<0.04",
                 "flag": "", "confidence": 1.7},
            ]
        }))
        .expect("valid");
        assert_eq!(report.report_date.as_deref(), Some("2026-03-14"));
        assert_eq!(report.results.len(), 2);
        assert_eq!(report.results[0].value, Some(13.5));
        assert_eq!(report.results[1].value, Some(0.01));
        assert_eq!(report.results[1].comparator.as_deref(), Some("<"));
        assert_eq!(report.results[1].flag, None);
        assert_eq!(report.results[1].confidence, 1.0);
    }

    #[test]
    fn nonsense_is_clamped() {
        let report = validate(&json!({
            "report_date": "2026-02-30",
            "results": [{"name": "Glucose", "value_text": "5", "value": 5, "comparator": "~",
                         "range_low": 9, "range_high": 3, "confidence": -2}]
        }))
        .expect("valid");
        assert_eq!(report.report_date, None);
        let result = &report.results[0];
        assert_eq!((result.range_low, result.range_high), (None, None));
        assert_eq!(result.comparator, None);
        assert_eq!(result.confidence, 0.0);
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        for (answer, problem) in [
            (json!([]), "not a JSON object"),
            (json!({"report_date": null}), "`results` is missing"),
            (json!({"results": {}}), "`results` is not an array"),
            (json!({"results": [1]}), "results[0]: not an object"),
            (
                json!({"results": [{"value_text": "1"}]}),
                "`name` is missing",
            ),
            (
                json!({"results": [{"name": "X", "value_text": "1", "value": "high"}]}),
                "`value` is not a number",
            ),
            (
                json!({"results": [{"name": "X", "value": null}]}),
                "`value_text` is missing",
            ),
            (json!({"report_date": 5, "results": []}), "`report_date`"),
        ] {
            let error = validate(&answer).expect_err("rejected");
            assert!(error.contains(problem), "{error} / {problem}");
        }
    }

    #[test]
    fn schemas_list_every_field() {
        let schema = json_schema();
        let required = schema
            .pointer("/properties/results/items/required")
            .and_then(Value::as_array)
            .expect("required");
        assert_eq!(required.len(), RESULT_FIELDS.len());
        assert_eq!(
            gemini_schema().pointer("/properties/results/items/properties/value/nullable"),
            Some(&json!(true))
        );
    }
}
