//! The pipeline: text → extraction → LOINC mapping, and what came out.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::detect::DocumentKind;
use crate::error::{IngestError, IngestResult};
use crate::extract::{ExtractedReport, ExtractedResult, Extractor};
use crate::loinc::LoincMatch;
use crate::text::{TextExtractor, TextOrigin};

/// One extracted result with its coding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappedResult {
    /// The result as extracted.
    pub extracted: ExtractedResult,
    /// Its LOINC code, when one was found.
    pub loinc: Option<LoincMatch>,
    /// The unit in UCUM, when it could be normalised.
    pub ucum_unit: Option<String>,
    /// Why this result needs a person to look at it, if it does.
    pub review_reason: Option<String>,
}

/// What the pipeline made of one document; stored with the job, turned into FHIR by [`crate::fhir`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The document's type.
    pub kind: DocumentKind,
    /// Where the text came from.
    pub origin: TextOrigin,
    /// The report date, when found.
    pub report_date: Option<String>,
    /// The results.
    pub results: Vec<MappedResult>,
}

impl Analysis {
    /// Whether any result needs review before anything is published.
    pub fn needs_review(&self) -> bool {
        self.results.iter().any(|r| r.review_reason.is_some())
    }
}

/// The configured stages.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Stage 1.
    pub text: Arc<dyn TextExtractor>,
    /// Stage 2.
    pub extractor: Arc<dyn Extractor>,
}

impl Pipeline {
    /// Runs stages 1–3 on `bytes`.
    pub async fn analyse(&self, bytes: &[u8]) -> IngestResult<Analysis> {
        let kind = DocumentKind::sniff(bytes)
            .ok_or_else(|| IngestError::UnsupportedType("not a PDF, PNG or JPEG".into()))?;
        let text = self.text.text(bytes, kind).await?;
        let ExtractedReport {
            report_date,
            results,
        } = self.extractor.extract(&text).await?;
        if results.is_empty() {
            return Err(IngestError::NothingFound);
        }
        Ok(Analysis {
            kind,
            origin: text.origin,
            report_date,
            results: results
                .into_iter()
                .map(|extracted| MappedResult {
                    extracted,
                    loinc: None,
                    ucum_unit: None,
                    review_reason: Some("not mapped to LOINC".into()),
                })
                .collect(),
        })
    }
}
