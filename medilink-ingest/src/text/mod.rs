//! Stage 1: the text of a document, from the PDF text layer or by OCR.
//!
//! A PDF page whose text layer has enough readable characters is read from it (pure Rust,
//! [`lopdf`] plus a small content-stream interpreter that places every glyph); any other page,
//! and every PNG or JPEG, is OCRed after clean-up ([`PrepOptions`]; photos are sharpened,
//! scans are not). Image sizes are checked
//! against [`ImageLimits`] before pixels are allocated. Parsing and image work run on the
//! blocking thread pool.

mod cleanup;
mod image_prep;
mod layout;
mod pdf;
mod pdf_image;
mod pdf_metrics;
mod tesseract;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::detect::DocumentKind;
use crate::error::{IngestError, IngestResult};

pub use image_prep::{ImageLimits, PrepOptions};
pub use tesseract::{TesseractOcr, TesseractOptions};

/// Where a document's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOrigin {
    /// The PDF's own text layer.
    TextLayer,
    /// Optical character recognition of page images.
    Ocr,
    /// Some pages from the text layer, the others by OCR.
    Mixed,
}

/// The text of a document, page by page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentText {
    /// One string per page, lines separated by `\n`, in reading order. Table cells are
    /// separated by at least two spaces.
    pub pages: Vec<String>,
    /// Where the text came from.
    pub origin: TextOrigin,
    /// The words of each page with their boxes, when the text stage knows them (the PDF text
    /// layer and tesseract do; an OCR engine that gives text only leaves a page's list empty).
    /// Either empty or one list per page.
    #[serde(default)]
    pub words: Vec<Vec<Word>>,
}

impl DocumentText {
    /// Text without word positions (the extractor then reads lines only).
    pub fn plain(pages: Vec<String>, origin: TextOrigin) -> Self {
        DocumentText {
            pages,
            origin,
            words: Vec::new(),
        }
    }
}

/// One word on a page and its box. Units are the page's (points for the text layer, pixels
/// for OCR); `x` grows to the right and `y` downwards, so `top < bottom`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// The characters.
    pub text: String,
    /// Left edge.
    pub x0: f64,
    /// Right edge.
    pub x1: f64,
    /// Top edge.
    pub top: f64,
    /// Bottom edge.
    pub bottom: f64,
    /// The font size (em) in the same units: the text layer's size, or an estimate from the
    /// height of the OCR'd line.
    pub size: f64,
}

/// What OCR read on one page image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OcrPage {
    /// The lines, separated by `\n`, table cells at least two spaces apart.
    pub text: String,
    /// The words and their boxes (empty when the engine gives none).
    pub words: Vec<Word>,
}

/// Recognises the text in one page image.
#[async_trait]
pub trait Ocr: Send + Sync + std::fmt::Debug {
    /// The text of `image` (PNG or JPEG bytes), lines separated by `\n`.
    async fn recognize(&self, image: &[u8]) -> IngestResult<String>;

    /// The text and, when the engine gives them, the word boxes of `image`. By default the
    /// text of [`Ocr::recognize`] without boxes.
    async fn recognize_page(&self, image: &[u8]) -> IngestResult<OcrPage> {
        Ok(OcrPage {
            text: self.recognize(image).await?,
            words: Vec::new(),
        })
    }
}

/// Turns a document into text.
#[async_trait]
pub trait TextExtractor: Send + Sync + std::fmt::Debug {
    /// The text of `bytes`, which are of `kind`.
    async fn text(&self, bytes: &[u8], kind: DocumentKind) -> IngestResult<DocumentText>;
}

/// Options of [`DefaultTextExtractor`].
#[derive(Debug, Clone, PartialEq)]
pub struct TextOptions {
    /// Largest images decoded.
    pub limits: ImageLimits,
    /// Clean-up of PDF page images (scans) before OCR.
    pub prep: PrepOptions,
    /// Clean-up of PNG and JPEG images (photos) before OCR: by default as for scans, with a
    /// Catmull–Rom upscale and an unsharp mask against the camera's blur (on the design test's
    /// tuning photos 26 → 14 misses; on scans, which are sharp, the same doubled the misses).
    pub photo_prep: PrepOptions,
    /// A PDF page with fewer readable characters than this in its text layer is OCRed.
    pub min_text_chars: usize,
    /// PDFs with more pages are refused.
    pub max_pages: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            limits: ImageLimits::default(),
            prep: PrepOptions::default(),
            photo_prep: PrepOptions {
                bicubic: true,
                sharpen: 1.0,
                ..PrepOptions::default()
            },
            min_text_chars: 40,
            max_pages: 50,
        }
    }
}

/// The default text stage: the PDF text layer, else OCR.
#[derive(Debug)]
pub struct DefaultTextExtractor {
    ocr: Arc<dyn Ocr>,
    options: TextOptions,
}

impl DefaultTextExtractor {
    /// A text stage that falls back to `ocr`, with default options.
    pub fn new(ocr: Arc<dyn Ocr>) -> Self {
        Self::with_options(ocr, TextOptions::default())
    }

    /// A text stage that falls back to `ocr`.
    pub fn with_options(ocr: Arc<dyn Ocr>, options: TextOptions) -> Self {
        DefaultTextExtractor { ocr, options }
    }
}

/// Runs `work` on the blocking pool; a panic in a parser becomes [`IngestError::Unreadable`].
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> IngestResult<T> + Send + 'static,
) -> IngestResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        if e.is_panic() {
            IngestError::Unreadable("the document could not be parsed".into())
        } else {
            IngestError::Stage {
                stage: "text",
                message: "the text extraction was cancelled".into(),
                retryable: true,
            }
        }
    })?
}

#[async_trait]
impl TextExtractor for DefaultTextExtractor {
    async fn text(&self, bytes: &[u8], kind: DocumentKind) -> IngestResult<DocumentText> {
        if bytes.is_empty() {
            return Err(IngestError::Unreadable("the document is empty".into()));
        }
        let owned = bytes.to_vec();
        let options = self.options.clone();
        match kind {
            DocumentKind::Png | DocumentKind::Jpeg => {
                let format = match kind {
                    DocumentKind::Png => image::ImageFormat::Png,
                    _ => image::ImageFormat::Jpeg,
                };
                let png = blocking(move || {
                    let page = image_prep::decode(&owned, format, &options.limits)?;
                    image_prep::to_png(&image_prep::prepare(page, &options.photo_prep))
                })
                .await?;
                let page = self.ocr.recognize_page(&png).await?;
                Ok(DocumentText {
                    pages: vec![page.text],
                    origin: TextOrigin::Ocr,
                    words: vec![page.words],
                })
            }
            DocumentKind::Pdf => {
                let pages = blocking(move || {
                    pdf::read(&owned, &options)?
                        .into_iter()
                        .map(|page| match page {
                            pdf::PdfPage::Text(text, words) => Ok(Page::Text(text, words)),
                            pdf::PdfPage::Image(image) => {
                                image_prep::to_png(&image_prep::prepare(image, &options.prep))
                                    .map(Page::Png)
                            }
                        })
                        .collect::<IngestResult<Vec<Page>>>()
                })
                .await?;
                let (mut from_layer, mut from_ocr) = (0, 0);
                let mut texts = Vec::with_capacity(pages.len());
                let mut words = Vec::with_capacity(pages.len());
                for page in pages {
                    match page {
                        Page::Text(text, page_words) => {
                            from_layer += 1;
                            texts.push(text);
                            words.push(page_words);
                        }
                        Page::Png(png) => {
                            from_ocr += 1;
                            let page = self.ocr.recognize_page(&png).await?;
                            texts.push(page.text);
                            words.push(page.words);
                        }
                    }
                }
                let origin = match (from_layer, from_ocr) {
                    (_, 0) => TextOrigin::TextLayer,
                    (0, _) => TextOrigin::Ocr,
                    _ => TextOrigin::Mixed,
                };
                Ok(DocumentText {
                    pages: texts,
                    origin,
                    words,
                })
            }
        }
    }
}

/// A PDF page after the blocking work: text, or an image for the OCR engine.
enum Page {
    Text(String, Vec<Word>),
    Png(Vec<u8>),
}
