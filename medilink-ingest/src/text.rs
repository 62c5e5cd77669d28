//! Stage 1: the text of a document, from the PDF text layer or by OCR.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::detect::DocumentKind;
use crate::error::{IngestError, IngestResult};

/// Where a document's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOrigin {
    /// The PDF's own text layer.
    TextLayer,
    /// Optical character recognition of page images.
    Ocr,
}

/// The text of a document, page by page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentText {
    /// One string per page, lines separated by `\n`, in reading order.
    pub pages: Vec<String>,
    /// Where the text came from.
    pub origin: TextOrigin,
}

/// Recognises the text in one page image.
#[async_trait]
pub trait Ocr: Send + Sync + std::fmt::Debug {
    /// The text of `image` (PNG or JPEG bytes), lines separated by `\n`.
    async fn recognize(&self, image: &[u8]) -> IngestResult<String>;
}

/// Turns a document into text.
#[async_trait]
pub trait TextExtractor: Send + Sync + std::fmt::Debug {
    /// The text of `bytes`, which are of `kind`.
    async fn text(&self, bytes: &[u8], kind: DocumentKind) -> IngestResult<DocumentText>;
}

/// The default text stage: the PDF text layer, else OCR.
#[derive(Debug)]
pub struct DefaultTextExtractor {
    ocr: std::sync::Arc<dyn Ocr>,
}

impl DefaultTextExtractor {
    /// A text stage that falls back to `ocr`.
    pub fn new(ocr: std::sync::Arc<dyn Ocr>) -> Self {
        DefaultTextExtractor { ocr }
    }
}

#[async_trait]
impl TextExtractor for DefaultTextExtractor {
    async fn text(&self, bytes: &[u8], kind: DocumentKind) -> IngestResult<DocumentText> {
        match kind {
            DocumentKind::Png | DocumentKind::Jpeg => Ok(DocumentText {
                pages: vec![self.ocr.recognize(bytes).await?],
                origin: TextOrigin::Ocr,
            }),
            DocumentKind::Pdf => Err(IngestError::Unreadable(
                "PDF text extraction is not wired yet".into(),
            )),
        }
    }
}
