//! The text stage on the generated fixtures (`tests/fixtures`, made by `tools/labgen`): text
//! PDFs through the text layer, scans and photos through OCR, poison files refused.
//!
//! The tests that run tesseract need `MEDILINK_TEST_OCR` set (CI sets it and installs
//! `tesseract-ocr`); without it they return early.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use medilink_ingest::text::{
    DefaultTextExtractor, DocumentText, Ocr, TesseractOcr, TextExtractor, TextOrigin,
};
use medilink_ingest::{DocumentKind, IngestError, IngestResult};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture documents whose name contains `kind` (`-text-`, `-scan-`, `-photo-`), sorted.
fn documents(kind: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains(kind) && !name.ends_with(".json") && !name.ends_with(".md")
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no {kind} fixtures");
    found
}

fn ground_truth(document: &Path) -> Value {
    let text = std::fs::read_to_string(document.with_extension("json")).expect("ground truth");
    serde_json::from_str(&text).expect("ground truth is JSON")
}

fn results(truth: &Value) -> &[Value] {
    truth["results"].as_array().expect("results")
}

fn field<'a>(result: &'a Value, name: &str) -> &'a str {
    result[name].as_str().unwrap_or_default()
}

/// An OCR double: remembers the size of every image it is given and answers with a fixed line.
#[derive(Debug, Default)]
struct FixtureOcr {
    seen: Mutex<Vec<(u32, u32)>>,
}

#[async_trait]
impl Ocr for FixtureOcr {
    async fn recognize(&self, image: &[u8]) -> IngestResult<String> {
        let decoded = image::load_from_memory_with_format(image, image::ImageFormat::Png)
            .expect("the OCR engine is given PNG");
        self.seen
            .lock()
            .expect("lock")
            .push((decoded.width(), decoded.height()));
        Ok("Glucose  105  mg/dL  70-99  H".into())
    }
}

async fn text_of(path: &Path, ocr: Arc<dyn Ocr>) -> IngestResult<DocumentText> {
    let bytes = std::fs::read(path).expect("fixture");
    let kind = DocumentKind::detect(&bytes)?;
    DefaultTextExtractor::new(ocr).text(&bytes, kind).await
}

/// The report date in the three styles the generator prints.
fn date_styles(iso: &str) -> [String; 3] {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, rest) = iso.split_at(4);
    let month: usize = rest[1..3].parse().expect("month");
    let day = &rest[4..6];
    [
        iso.to_owned(),
        format!("{}/{day}/{year}", &rest[1..3]),
        format!("{day} {} {year}", MONTHS[month - 1]),
    ]
}

#[tokio::test]
async fn text_pdfs_come_from_the_text_layer_with_cells_apart() {
    for path in documents("-text-") {
        let ocr = Arc::new(FixtureOcr::default());
        let text = text_of(&path, ocr.clone()).await.expect("text");
        let name = path.display();
        assert_eq!(text.origin, TextOrigin::TextLayer, "{name}");
        assert!(ocr.seen.lock().expect("lock").is_empty(), "{name}: no OCR");
        let truth = ground_truth(&path);
        let all = text.pages.join("\n");
        assert!(
            all.contains(truth["patient_name"].as_str().unwrap_or("?")),
            "{name}"
        );
        let dates = date_styles(truth["report_date"].as_str().expect("date"));
        assert!(
            dates.iter().any(|d| text.pages[0].contains(d.as_str())),
            "{name}: date"
        );
        let layout = truth["layout"].as_str().unwrap_or_default();
        for result in results(&truth) {
            let (test, value, unit) = (
                field(result, "printed_name"),
                field(result, "value_text"),
                field(result, "printed_unit"),
            );
            // The line of this result: the test name, then its value and unit.
            let line = all
                .lines()
                .find(|l| {
                    l.trim_start().starts_with(test)
                        && l[l.find(test).unwrap_or(0) + test.len()..]
                            .split_whitespace()
                            .any(|w| w == value || w == format!("{value}:"))
                })
                .unwrap_or_else(|| panic!("{name}: no line for {test} = {value}\n{all}"));
            assert!(line.contains(unit), "{name}: {line:?} lacks {unit}");
            if layout != "b" {
                // Table layouts: the name and value cells are at least two spaces apart.
                let after_name = &line[line.find(test).unwrap_or(0) + test.len()..];
                let between = &after_name[..after_name.find(value).unwrap_or(0)];
                assert!(
                    between.trim_matches('.').contains("  ") || between.contains(".  "),
                    "{name}: cells run together in {line:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn scans_and_photos_go_to_ocr_page_by_page_cleaned_up() {
    let mut paths = documents("-scan-");
    paths.extend(documents("-photo-"));
    for path in paths {
        let ocr = Arc::new(FixtureOcr::default());
        let text = text_of(&path, ocr.clone()).await.expect("text");
        let name = path.display();
        assert_eq!(text.origin, TextOrigin::Ocr, "{name}");
        let seen = ocr.seen.lock().expect("lock").clone();
        assert_eq!(
            seen.len(),
            text.pages.len(),
            "{name}: one OCR call per page"
        );
        // Low-resolution pages are scaled to the OCR width.
        assert!(seen.iter().all(|(w, _)| *w == 2400), "{name}: {seen:?}");
        assert!(text.pages.iter().all(|p| p.contains("Glucose")));
    }
}

#[tokio::test]
async fn poison_files_fail_cleanly_and_fast() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures().join("poison")).expect("poison fixtures") {
        let path = entry.expect("entry").path();
        let started = Instant::now();
        let outcome = text_of(&path, Arc::new(FixtureOcr::default())).await;
        let elapsed = started.elapsed();
        let name = path.display();
        match outcome {
            Err(IngestError::Unreadable(message)) => assert!(!message.is_empty(), "{name}"),
            Err(IngestError::UnsupportedType(message)) => {
                assert!(name.to_string().contains("zip"), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(2), "{name} took {elapsed:?}");
        checked += 1;
    }
    assert!(checked >= 7, "poison fixtures missing");
}

#[tokio::test]
async fn a_zip_renamed_pdf_is_named_as_a_zip_archive() {
    let err = text_of(
        &fixtures().join("poison/zip-renamed.pdf"),
        Arc::new(FixtureOcr::default()),
    )
    .await
    .expect_err("not a PDF");
    assert!(err.to_string().contains("ZIP archive"), "{err}");
}

/// Text-normalised copies of OCR output: whitespace collapsed, dot leaders dropped.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "()[]".contains(c))
        .map(|t| t.trim_matches(|c: char| c == ':' || c == ',').to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test]
async fn tesseract_reads_the_values_of_scans_and_photos() {
    if std::env::var_os("MEDILINK_TEST_OCR").is_none() {
        return;
    }
    let ocr: Arc<dyn Ocr> = Arc::new(TesseractOcr::default());
    for kind in ["-scan-", "-photo-"] {
        let (mut found, mut total) = (0usize, 0usize);
        for path in documents(kind) {
            let text = text_of(&path, ocr.clone()).await.expect("OCR");
            let all = text.pages.join("\n");
            let words = tokens(&all);
            let truth = ground_truth(&path);
            let values: Vec<&str> = results(&truth)
                .iter()
                .map(|r| field(r, "value_text"))
                .collect();
            let hits = values
                .iter()
                .filter(|v| words.iter().any(|w| w == *v))
                .count();
            let name = path.display();
            // Every document is mostly read, and the kind as a whole at least 90 %.
            assert!(
                hits * 10 >= values.len() * 7,
                "{name}: {hits}/{} values\n{all}",
                values.len()
            );
            found += hits;
            total += values.len();
        }
        assert!(
            found * 10 >= total * 9,
            "{kind}: only {found}/{total} values read"
        );
    }
}
