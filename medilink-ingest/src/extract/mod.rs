//! Stage 2: structured lab results from a document's text.
//!
//! [`RuleExtractor`] (the default) reads table-like layouts with rules and needs no network;
//! [`LlmExtractor`] asks a language model (Gemini or an OpenAI-compatible endpoint) for JSON of
//! a fixed schema and validates what comes back.

mod llm;
mod rules;
mod values;

pub use llm::{ApiKey, LlmConfig, LlmExtractor, LlmProvider, validate as validate_llm_answer};
pub use rules::RuleExtractor;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::IngestResult;
use crate::text::DocumentText;

/// One result line as printed in the report (before LOINC mapping).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractedResult {
    /// The test name as printed (`Hemoglobin`, `HGB`, `Glucose, fasting`).
    pub name: String,
    /// The value as printed (`13.5`, `<0.01`, `Positive`).
    pub value_text: String,
    /// The numeric value, when the value is a number.
    pub value: Option<f64>,
    /// `<`, `<=`, `>=`, `>` when the value carries a comparator.
    pub comparator: Option<String>,
    /// The unit as printed (`g/dL`, `x10^9/L`, `mmol/L`).
    pub unit: Option<String>,
    /// Low end of the reference range.
    pub range_low: Option<f64>,
    /// High end of the reference range.
    pub range_high: Option<f64>,
    /// The reference range as printed, when it is not a simple low–high (`Negative`, `<200`).
    pub range_text: Option<String>,
    /// The flag as printed (`H`, `L`, `HH`, `A`, `*`).
    pub flag: Option<String>,
    /// How sure the extractor is that this line was read correctly, 0–1.
    pub confidence: f64,
    /// A derived (calculated) value, such as `eAG` from HbA1c or an estimated GFR: kept only
    /// with its own LOINC code, and marked as calculated in the Observation.
    #[serde(default)]
    pub calculated: bool,
}

/// Everything extracted from one report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExtractedReport {
    /// The date the specimen was collected (`YYYY-MM-DD`, or `YYYY-MM-DDThh:mm:ss` local time
    /// without a zone when the report prints a time; a FHIR dateTime with zone from an LLM);
    /// without a collection date, the best other date of the report.
    pub report_date: Option<String>,
    /// The date the report was released (reported, final; else received), same forms.
    #[serde(default)]
    pub issued: Option<String>,
    /// The results in document order.
    pub results: Vec<ExtractedResult>,
}

/// Extracts results from text.
#[async_trait]
pub trait Extractor: Send + Sync + std::fmt::Debug {
    /// The results found in `text`.
    async fn extract(&self, text: &DocumentText) -> IngestResult<ExtractedReport>;
}
