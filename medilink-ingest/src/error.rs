//! Errors of the ingest pipeline.

/// Why a document could not be ingested. The message is meant for the person who uploaded it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The bytes are not a PDF, PNG or JPEG.
    #[error("unsupported document type: {0}")]
    UnsupportedType(String),
    /// The document is damaged or hostile (corrupt PDF, image too large to decode, empty file).
    #[error("the document cannot be read: {0}")]
    Unreadable(String),
    /// No lab results were found in the document.
    #[error("no lab results were found in the document")]
    NothingFound,
    /// A stage's engine failed (OCR program missing, LLM endpoint unreachable, …); may be retried.
    #[error("{stage} failed: {message}")]
    Stage {
        /// The stage: `ocr`, `extraction`, …
        stage: &'static str,
        /// What went wrong.
        message: String,
        /// Whether trying again later may succeed.
        retryable: bool,
    },
}

impl IngestError {
    /// Whether trying the same document again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IngestError::Stage {
                retryable: true,
                ..
            }
        )
    }
}

/// Result of an ingest operation.
pub type IngestResult<T> = Result<T, IngestError>;
