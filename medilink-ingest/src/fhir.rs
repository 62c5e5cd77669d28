//! Stage 4: FHIR Observations and a DiagnosticReport, as one transaction Bundle.
//!
//! Every result becomes an Observation (status `final`, category `laboratory`, the LOINC coding
//! with the name as printed in `code.text` — only the text when the test is unknown — the value
//! as a UCUM `valueQuantity` or a `valueString`, the reference range, an interpretation
//! H/L/N computed from the range (the printed flag when there is no range), the collection date
//! as `effectiveDateTime`, the report's printed release date as `issued` (else the time of
//! publication here), `method` "Calculated" for a derived value, the patient as subject). One
//! DiagnosticReport (status `final`, category `LAB`, code LOINC 11502-2 "Laboratory report")
//! lists them in `result`.
//!
//! The source document: each Observation names the DocumentReference in `derivedFrom` (the R4
//! element for "the document this was read from"), and the DiagnosticReport carries it in the
//! core `workflow-supportingInfo` extension, because R4's DiagnosticReport has no element for a
//! source document other than `presentedForm`, which would need the bytes or a URL to them.
//!
//! Ids are UUIDv5 of the job id (`observation/{index}`, `diagnostic-report`) and every entry is a
//! `PUT`, so running a job again writes new versions of the same resources, never duplicates.
//! Publishing only after review is the caller's rule: build the Bundle once the analysis is
//! accepted.

use std::str::FromStr;

use medilink_fhir::ResourceId;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::{IngestError, IngestResult};
use crate::pipeline::{Analysis, MappedResult};

/// `Observation.category` and `Observation.code.coding.system` values.
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const DIAGNOSTIC_SERVICE: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
const SUPPORTING_INFO: &str = "http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo";
/// The identifier system naming the ingest job a resource came from.
pub const JOB_IDENTIFIER_SYSTEM: &str = "urn:medilink:ingest-job";

/// Who and what the results are about.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirContext {
    /// The patient (`Patient/{id}`).
    pub patient: ResourceId,
    /// The DocumentReference of the uploaded document (`DocumentReference/{id}`).
    pub document: ResourceId,
    /// The ingest job; the resources' ids derive from it.
    pub job_id: Uuid,
    /// When the results were released (`issued`).
    pub issued: OffsetDateTime,
}

/// The id of the `index`-th Observation of a job.
pub fn observation_id(job_id: Uuid, index: usize) -> String {
    Uuid::new_v5(&job_id, format!("observation/{index}").as_bytes()).to_string()
}

/// The id of a job's DiagnosticReport.
pub fn diagnostic_report_id(job_id: Uuid) -> String {
    Uuid::new_v5(&job_id, b"diagnostic-report").to_string()
}

/// The transaction Bundle writing `analysis`: its Observations, then the DiagnosticReport.
pub fn transaction_bundle(analysis: &Analysis, context: &FhirContext) -> IngestResult<Value> {
    if analysis.results.is_empty() {
        return Err(IngestError::NothingFound);
    }
    // The report's printed release instant when it has one, else when the results are
    // released here.
    let issued = match analysis
        .issued
        .as_deref()
        .filter(|instant| valid_instant(instant))
    {
        Some(printed) => printed.to_owned(),
        None => context
            .issued
            .format(&Rfc3339)
            .map_err(|_| IngestError::Unreadable("the issued instant cannot be written".into()))?,
    };
    let subject = json!({"reference": format!("Patient/{}", context.patient.as_str())});
    let document = json!({"reference": format!("DocumentReference/{}", context.document.as_str())});
    let effective = analysis
        .report_date
        .as_deref()
        .filter(|date| valid_date(date));
    let mut entries = Vec::with_capacity(analysis.results.len() + 1);
    let mut references = Vec::with_capacity(analysis.results.len());
    for (index, result) in analysis.results.iter().enumerate() {
        let id = observation_id(context.job_id, index);
        let mut observation = Map::new();
        observation.insert("resourceType".into(), json!("Observation"));
        observation.insert("id".into(), json!(id));
        observation.insert(
            "identifier".into(),
            json!([{"system": JOB_IDENTIFIER_SYSTEM, "value": format!("{}/{index}", context.job_id)}]),
        );
        observation.insert("status".into(), json!("final"));
        observation.insert(
            "category".into(),
            json!([{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}]),
        );
        observation.insert("code".into(), code(result));
        observation.insert("subject".into(), subject.clone());
        if let Some(date) = effective {
            observation.insert("effectiveDateTime".into(), json!(date));
        }
        observation.insert("issued".into(), json!(issued));
        value(result, &mut observation);
        if result.extracted.calculated {
            // A derived value (eAG from HbA1c, an estimated GFR): computed by the lab, not measured.
            observation.insert("method".into(), json!({"text": "Calculated"}));
        }
        if let Some(interpretation) = interpretation(result) {
            observation.insert("interpretation".into(), interpretation);
        }
        if let Some(range) = reference_range(result) {
            observation.insert("referenceRange".into(), json!([range]));
        }
        observation.insert("derivedFrom".into(), json!([document.clone()]));
        references.push(json!({"reference": format!("Observation/{id}")}));
        entries.push(entry("Observation", &id, Value::Object(observation)));
    }
    let report_id = diagnostic_report_id(context.job_id);
    let mut report = Map::new();
    report.insert("resourceType".into(), json!("DiagnosticReport"));
    report.insert("id".into(), json!(report_id));
    report.insert(
        "extension".into(),
        json!([{"url": SUPPORTING_INFO, "valueReference": document}]),
    );
    report.insert(
        "identifier".into(),
        json!([{"system": JOB_IDENTIFIER_SYSTEM, "value": context.job_id.to_string()}]),
    );
    report.insert("status".into(), json!("final"));
    report.insert(
        "category".into(),
        json!([{"coding": [{"system": DIAGNOSTIC_SERVICE, "code": "LAB", "display": "Laboratory"}]}]),
    );
    report.insert(
        "code".into(),
        json!({"coding": [{"system": LOINC, "code": "11502-2", "display": "Laboratory report"}]}),
    );
    report.insert("subject".into(), subject);
    if let Some(date) = effective {
        report.insert("effectiveDateTime".into(), json!(date));
    }
    report.insert("issued".into(), json!(issued));
    report.insert("result".into(), Value::Array(references));
    entries.push(entry("DiagnosticReport", &report_id, Value::Object(report)));
    Ok(json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
}

fn entry(resource_type: &str, id: &str, resource: Value) -> Value {
    json!({
        "fullUrl": format!("urn:uuid:{id}"),
        "resource": resource,
        "request": {"method": "PUT", "url": format!("{resource_type}/{id}")},
    })
}

fn code(result: &MappedResult) -> Value {
    let text = result.extracted.name.trim();
    match &result.loinc {
        Some(loinc) => {
            let mut coding = json!({"system": LOINC, "code": loinc.code});
            // A code a reviewer typed that the table does not know has no display; FHIR
            // forbids an empty string.
            if !loinc.display.is_empty() {
                coding["display"] = json!(loinc.display);
            }
            json!({"coding": [coding], "text": text})
        }
        None => json!({"text": text}),
    }
}

/// `valueQuantity` for numbers (UCUM coded when the unit is known), otherwise `valueString`.
fn value(result: &MappedResult, observation: &mut Map<String, Value>) {
    let extracted = &result.extracted;
    match extracted.value {
        Some(number) => {
            let mut quantity = Map::new();
            quantity.insert("value".into(), decimal(&extracted.value_text, number));
            if let Some(comparator) = &extracted.comparator {
                quantity.insert("comparator".into(), json!(comparator));
            }
            unit_fields(result, &mut quantity);
            observation.insert("valueQuantity".into(), Value::Object(quantity));
        }
        None => {
            observation.insert("valueString".into(), json!(extracted.value_text.trim()));
        }
    }
}

fn unit_fields(result: &MappedResult, quantity: &mut Map<String, Value>) {
    let printed = result
        .extracted
        .unit
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match &result.ucum_unit {
        Some(code) => {
            quantity.insert("unit".into(), json!(printed.unwrap_or(code)));
            quantity.insert("system".into(), json!(UCUM));
            quantity.insert("code".into(), json!(code));
        }
        None => {
            if let Some(printed) = printed {
                quantity.insert("unit".into(), json!(printed));
            }
        }
    }
}

/// The number as printed (keeping `13.50`'s precision) when the text is a plain decimal.
fn decimal(value_text: &str, number: f64) -> Value {
    let digits = value_text
        .trim()
        .trim_start_matches(['<', '>', '=', '≤', '≥']);
    let plain = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && !digits.ends_with('.')
        && !digits.starts_with('.');
    if plain
        && let Ok(parsed) = Value::from_str(digits)
        && parsed.as_f64() == Some(number)
    {
        return parsed;
    }
    serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
}

fn quantity(value: f64, result: &MappedResult) -> Value {
    let mut quantity = Map::new();
    quantity.insert(
        "value".into(),
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
    );
    unit_fields(result, &mut quantity);
    Value::Object(quantity)
}

fn reference_range(result: &MappedResult) -> Option<Value> {
    let extracted = &result.extracted;
    let mut range = Map::new();
    if let Some(low) = extracted.range_low {
        range.insert("low".into(), quantity(low, result));
    }
    if let Some(high) = extracted.range_high {
        range.insert("high".into(), quantity(high, result));
    }
    if let Some(text) = extracted
        .range_text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        range.insert("text".into(), json!(text));
    }
    (!range.is_empty()).then_some(Value::Object(range))
}

/// H, L or N from the value and the range; the printed flag when there is no range to use.
pub fn interpretation_code(result: &MappedResult) -> Option<&'static str> {
    let extracted = &result.extracted;
    if let Some(value) = extracted.value
        && (extracted.range_low.is_some() || extracted.range_high.is_some())
    {
        let below = extracted.range_low.is_some_and(|low| value < low);
        let above = extracted.range_high.is_some_and(|high| value > high);
        return Some(if below {
            "L"
        } else if above {
            "H"
        } else {
            "N"
        });
    }
    let flag = extracted.flag.as_deref()?.trim().to_ascii_uppercase();
    Some(match flag.as_str() {
        "H" | "HIGH" | "↑" => "H",
        "L" | "LOW" | "↓" => "L",
        "HH" | "CRITICAL HIGH" => "HH",
        "LL" | "CRITICAL LOW" => "LL",
        "N" | "NORMAL" => "N",
        "A" | "AA" | "ABN" | "ABNORMAL" | "*" | "**" => "A",
        _ => return None,
    })
}

fn interpretation(result: &MappedResult) -> Option<Value> {
    let code = interpretation_code(result)?;
    let display = match code {
        "H" => "High",
        "L" => "Low",
        "HH" => "Critical high",
        "LL" => "Critical low",
        "A" => "Abnormal",
        _ => "Normal",
    };
    Some(json!([{"coding": [{"system": INTERPRETATION, "code": code, "display": display}]}]))
}

/// A FHIR date (`YYYY-MM-DD`) or a dateTime with a zone.
fn valid_date(date: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(date, format).is_ok() || valid_instant(date)
}

/// A FHIR instant (RFC 3339 with a zone).
fn valid_instant(instant: &str) -> bool {
    time::OffsetDateTime::parse(instant, &Rfc3339).is_ok()
}

#[cfg(test)]
mod tests;
