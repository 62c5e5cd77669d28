//! Accuracy and throughput of the ingest pipeline over a directory of labgen fixtures.
//!
//! ```sh
//! cargo run -p medilink-ingest --example accuracy -- [DIR] [--text-dir DIR] [--verbose]
//! ```
//!
//! For every `*.json` ground truth in DIR (default: the committed fixtures) the document beside
//! it (`.pdf`, `.jpg` or `.png`, same stem) goes through the offline default pipeline; with
//! `--text-dir` the text is read from `<stem>.txt` there instead (to tune the extractor on text
//! from another engine; `--dump-text DIR` writes the text the pipeline read there). Prints precision and recall of (LOINC, value, unit) triples per kind
//! (`text_pdf`, `scan_pdf`, `photo`), report-date accuracy, and documents per minute.
#![allow(clippy::print_stdout, reason = "a command-line report")]

mod score;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use medilink_ingest::pipeline::Pipeline;
use medilink_ingest::text::{DocumentText, TextOrigin};
use medilink_ingest::{DocumentKind, IngestError};

use score::{Tally, load_truth, score};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let mut directory = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut text_dir: Option<PathBuf> = None;
    let mut dump_dir: Option<PathBuf> = None;
    let mut verbose = false;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--verbose" | "-v" => verbose = true,
            "--dump-text" => {
                dump_dir = Some(
                    arguments
                        .next()
                        .ok_or("--dump-text needs a directory")?
                        .into(),
                )
            }
            "--text-dir" => {
                text_dir = Some(
                    arguments
                        .next()
                        .ok_or("--text-dir needs a directory")?
                        .into(),
                )
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => directory = other.into(),
        }
    }
    let pipeline = Pipeline::offline_default();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for truth_path in truth_files(&directory)? {
        let truth = load_truth(&truth_path)?;
        let stem = truth_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let started = Instant::now();
        let analysis = match &text_dir {
            Some(text_dir) => {
                let text = std::fs::read_to_string(text_dir.join(format!("{stem}.txt")))
                    .map_err(|e| format!("{stem}.txt: {e}"))?;
                let document = DocumentText::plain(vec![text], TextOrigin::Ocr);
                pipeline.analyse_text(DocumentKind::Pdf, &document).await
            }
            None => {
                let document = document_path(&truth_path)
                    .ok_or_else(|| format!("{stem}: no document beside the ground truth"))?;
                let bytes = std::fs::read(&document).map_err(|e| format!("{stem}: {e}"))?;
                analyse(&pipeline, &bytes, dump_dir.as_deref(), &stem).await
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let tally = tallies.entry(truth.kind.clone()).or_default();
        match analysis {
            Ok(analysis) => {
                let scored = score(&analysis, &truth);
                if verbose {
                    println!(
                        "{stem}: {}/{} matched, {} predicted, {:.2}s",
                        scored.analyte, scored.expected, scored.predicted, seconds
                    );
                    for miss in &scored.misses {
                        println!("    {miss}");
                    }
                }
                tally.add(&scored, seconds);
            }
            Err(error) => {
                println!("{stem}: FAILED: {error}");
                tally.add_failure(truth.results.len(), seconds);
                if matches!(error, IngestError::Stage { .. }) && verbose {
                    println!("    (a stage failed; is the OCR engine installed?)");
                }
            }
        }
    }
    println!(
        "{:<9} {:>5} {:>8} {:>9} {:>7} {:>9} {:>9} {:>7} {:>9}",
        "kind",
        "docs",
        "failed",
        "precision",
        "recall",
        "strict P",
        "strict R",
        "dates",
        "docs/min"
    );
    for (kind, tally) in &tallies {
        println!(
            "{:<9} {:>5} {:>8} {:>8.1}% {:>6.1}% {:>8.1}% {:>8.1}% {:>4}/{:<2} {:>9.1}",
            kind,
            tally.documents,
            tally.failures,
            tally.precision() * 100.0,
            tally.recall() * 100.0,
            tally.strict_precision() * 100.0,
            tally.strict_recall() * 100.0,
            tally.dates_right,
            tally.documents,
            tally.per_minute()
        );
    }
    Ok(())
}

/// Stages 1–3, writing the text to `dump_dir/<stem>.txt` when asked.
async fn analyse(
    pipeline: &Pipeline,
    bytes: &[u8],
    dump_dir: Option<&Path>,
    stem: &str,
) -> Result<medilink_ingest::Analysis, IngestError> {
    let kind = DocumentKind::sniff(bytes)
        .ok_or_else(|| IngestError::UnsupportedType("not a PDF, PNG or JPEG".into()))?;
    let text = pipeline.text.text(bytes, kind).await?;
    if let Some(dump_dir) = dump_dir {
        let _ = std::fs::write(dump_dir.join(format!("{stem}.txt")), text.pages.join("\n"));
    }
    pipeline.analyse_text(kind, &text).await
}

fn truth_files(directory: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .map_err(|e| format!("{}: {e}", directory.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn document_path(truth: &Path) -> Option<PathBuf> {
    ["pdf", "jpg", "jpeg", "png"]
        .iter()
        .map(|extension| truth.with_extension(extension))
        .find(|path| path.exists())
}
