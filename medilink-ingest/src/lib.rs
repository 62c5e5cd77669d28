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
