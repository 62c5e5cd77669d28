//! Lab-report ingest: a document (PDF, PNG, JPEG) becomes coded FHIR results.
//!
//! The pipeline has four stages, each a trait with a default implementation:
//! 1. [`text`]: the PDF text layer when there is one, otherwise OCR ([`text::Ocr`]) of each
//!    page or image;
//! 2. [`extract`]: structured results (test name, value, unit, reference range, flag, report
//!    date) from the text ([`extract::Extractor`]: rule-based by default, an LLM over HTTP when
//!    configured);
//! 3. [`loinc`]: test names to LOINC codes and units to UCUM, with a confidence score;
//! 4. [`fhir`]: Observations and a DiagnosticReport, as one transaction Bundle whose entries
//!    have ids derived from the job, so that running a job twice writes the same resources.
//!
//! [`pipeline::Pipeline`] strings the stages together. The crate knows nothing about HTTP,
//! queues or users.
//!
//! # Quick start
//!
//! Analyse a report's text (a PDF or image goes through [`Pipeline::analyse`] instead, which
//! reads the text layer or runs OCR first):
//!
//! ```
//! use medilink_ingest::text::{DocumentText, TextOrigin};
//! use medilink_ingest::{DocumentKind, Pipeline};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), medilink_ingest::IngestError> {
//! let page = "Test        Result   Units   Reference Range\n\
//!             Hemoglobin  13.5     g/dL    12.0-16.0\n\
//!             Glucose     95       mg/dL   70-99\n";
//! let text = DocumentText::plain(vec![page.to_owned()], TextOrigin::TextLayer);
//! let analysis = Pipeline::offline_default().analyse_text(DocumentKind::Pdf, &text).await?;
//! let names: Vec<&str> = analysis.results.iter().map(|r| r.extracted.name.as_str()).collect();
//! assert_eq!(names, ["Hemoglobin", "Glucose"]);
//! // Each result mapped to LOINC, with a confidence score.
//! assert!(analysis.results.iter().all(|result| result.loinc.is_some()));
//! # Ok(())
//! # }
//! ```
//!
//! [`fhir`] turns an [`Analysis`] into a transaction Bundle of Observations and a
//! DiagnosticReport, and [`job`] runs the whole pipeline as the `document.ingest` job.
//!
//! # Feature flags
//!
//! | Feature | Enables |
//! |---|---|
//! | `cli` | `cli`: the extractor's command-line flags (clap) that both MediLink hosts flatten into theirs |
//!
//! OCR runs the `tesseract` command when it is installed; nothing else is needed at build time.
#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod detect;
pub mod error;
pub mod extract;
pub mod fhir;
pub mod job;
pub mod loinc;
pub mod pipeline;
pub mod text;

pub use detect::DocumentKind;
pub use error::{IngestError, IngestResult};
pub use pipeline::{Analysis, Pipeline};
