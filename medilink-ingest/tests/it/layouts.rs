//! Generalisation: the offline pipeline on report designs generated here ([`crate::designs`]),
//! per design, for text PDFs, scans and photos; everything is printed as a table (the
//! BENCHMARKS.md section is this output). The held-out designs (names ending in `*`: the four
//! of `designs/fresh`, written in round 3 without looking at the extractor) are measured only:
//! their figures are asserted as floors below what was measured, not as the goals,
//! which they do not meet. The tuning designs' text PDFs are asserted against the goals.
//!
//! `MEDILINK_LAYOUT_DOCS` (default 5) sets the text PDFs per design and
//! `MEDILINK_LAYOUT_OCR_DOCS` (default 2) the scans and photos per held-out design and
//! `MEDILINK_LAYOUT_TUNING_OCR_DOCS` (default 1) those per tuning design: by default 32 OCR'd
//! pages (16 held-out, 16 tuning).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use medilink_ingest::DocumentKind;
use medilink_ingest::extract::RuleExtractor;
use medilink_ingest::pipeline::{Analysis, Pipeline};
use medilink_ingest::text::{
    DefaultTextExtractor, DocumentText, TesseractOcr, TesseractOptions, TextOptions, TextOrigin,
};

use crate::designs::{Design, Report, generate, render};
use crate::support::score::{Tally, Truth, score};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Per (design, kind): the tally, documents that completed without review, and of those the
/// ones that still had an error.
#[derive(Default)]
struct Row {
    tally: Tally,
    completed: usize,
    completed_wrong: usize,
    issued_right: usize,
    calculated_right: usize,
    calculated_expected: usize,
}

fn record(
    row: &mut Row,
    report: &Report,
    truth: &Truth,
    analysis: &Analysis,
    misses: &mut Vec<String>,
    label: &str,
) {
    let scored = score(analysis, truth);
    let wrong = !scored.misses.is_empty();
    for miss in &scored.misses {
        misses.push(format!("{label}: {miss}"));
    }
    for result in &analysis.results {
        if let Some(reason) = &result.review_reason {
            misses.push(format!(
                "{label}: review   {:<32} {reason}",
                result.extracted.name
            ));
        }
    }
    row.tally.add(&scored, 0.0);
    if !analysis.needs_review() {
        row.completed += 1;
        row.completed_wrong += usize::from(wrong);
    }
    row.issued_right += usize::from(
        analysis.issued.as_deref().and_then(|d| d.get(..10)) == Some(report.issued.as_str()),
    );
    for code in &report.calculated {
        if truth.results.iter().any(|r| &r.loinc == code) {
            row.calculated_expected += 1;
            row.calculated_right += usize::from(analysis.results.iter().any(|r| {
                r.extracted.calculated && r.loinc.as_ref().is_some_and(|m| &m.code == code)
            }));
        }
    }
}

fn table(rows: &BTreeMap<(String, &'static str), Row>) -> String {
    let mut out = String::from(
        "| design | kind | docs | precision | recall | effective date | issued | completed | completed with an error |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for ((design, kind), row) in rows {
        let t = &row.tally;
        let _ = writeln!(
            out,
            "| {design} | {kind} | {} | {:.1}% | {:.1}% | {}/{} | {}/{} | {}/{} | {} |",
            t.documents,
            100.0 * t.precision(),
            100.0 * t.recall(),
            t.dates_right,
            t.documents,
            row.issued_right,
            t.documents,
            row.completed,
            t.documents,
            row.completed_wrong,
        );
    }
    out
}

fn total<'a>(rows: impl Iterator<Item = &'a Row>) -> Row {
    let mut sum = Row::default();
    for row in rows {
        let t = &row.tally;
        sum.tally.documents += t.documents;
        sum.tally.predicted += t.predicted;
        sum.tally.expected += t.expected;
        sum.tally.strict += t.strict;
        sum.tally.analyte += t.analyte;
        sum.tally.dates_right += t.dates_right;
        sum.completed += row.completed;
        sum.completed_wrong += row.completed_wrong;
        sum.issued_right += row.issued_right;
        sum.calculated_right += row.calculated_right;
        sum.calculated_expected += row.calculated_expected;
    }
    sum
}

/// The offline pipeline with a 300 s page timeout. For experiments, `MEDILINK_LAYOUT_PREP`
/// (`width=3000,bicubic=1,sharpen=1,deskew=0,light=0,despeckle=0`) changes the clean-up of
/// scanned pages, `MEDILINK_LAYOUT_PHOTO_PREP` that of photos, and `MEDILINK_LAYOUT_TESSERACT` (`dpi=300,psm=4,name=value`) tesseract's options.
fn pipeline_from_env() -> Pipeline {
    let defaults = TextOptions::default();
    let (mut prep, mut photo_prep) = (defaults.prep, defaults.photo_prep);
    let mut tesseract = TesseractOptions {
        timeout: Duration::from_secs(300),
        ..TesseractOptions::default()
    };
    let pairs = |name: &str| -> Vec<(String, String)> {
        std::env::var(name)
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    };
    for (variable, prep) in [
        ("MEDILINK_LAYOUT_PREP", &mut prep),
        ("MEDILINK_LAYOUT_PHOTO_PREP", &mut photo_prep),
    ] {
        for (key, value) in pairs(variable) {
            let on = value == "1";
            match key.as_str() {
                "width" => prep.target_width = value.parse().expect("width"),
                "bicubic" => prep.bicubic = on,
                "sharpen" => prep.sharpen = value.parse().expect("sharpen"),
                "deskew" => prep.deskew = on,
                "light" => prep.normalise_light = on,
                "despeckle" => prep.despeckle = on,
                "leaders" => prep.erase_leaders = on,
                other => panic!("unknown {variable} key {other}"),
            }
        }
    }
    for (key, value) in pairs("MEDILINK_LAYOUT_TESSERACT") {
        match key.as_str() {
            "dpi" => tesseract.dpi = value.parse().expect("dpi"),
            "psm" => tesseract.page_segmentation = value.parse().expect("psm"),
            _ => tesseract.variables.push((key, value)),
        }
    }
    Pipeline::new(
        Arc::new(DefaultTextExtractor::with_options(
            Arc::new(TesseractOcr::new(tesseract)),
            TextOptions {
                prep,
                photo_prep,
                ..defaults
            },
        )),
        Arc::new(RuleExtractor::default()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::print_stdout,
    reason = "the per-design table is the benchmark's output (run with --nocapture)"
)]
async fn held_out_designs_measured_on_text_pdfs_scans_and_photos() {
    let text_docs = env_count("MEDILINK_LAYOUT_DOCS", 5) as u64;
    let ocr_docs = env_count("MEDILINK_LAYOUT_OCR_DOCS", 2) as u64;
    let tuning_ocr_docs = env_count("MEDILINK_LAYOUT_TUNING_OCR_DOCS", 1) as u64;
    // OCR runs two pages at a time (two cores), with room for a loaded machine.
    let pipeline = pipeline_from_env();
    let permits = Arc::new(tokio::sync::Semaphore::new(2));
    let mut rows: BTreeMap<(String, &'static str), Row> = BTreeMap::new();
    let mut misses = Vec::new();
    // Debugging aids: only some designs, and the documents written to a directory.
    let only = std::env::var("MEDILINK_LAYOUT_DESIGNS").ok();
    let selected: Vec<Design> = Design::ALL
        .into_iter()
        .filter(|d| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| d.name().trim_end_matches('*') == n))
        })
        .collect();
    let dump = std::env::var("MEDILINK_LAYOUT_DUMP")
        .ok()
        .map(std::path::PathBuf::from);
    for &design in &selected {
        for index in 0..text_docs {
            let report = generate(design, index);
            if let Some(dir) = &dump {
                let _ = std::fs::write(
                    dir.join(format!(
                        "{}-{index}.pdf",
                        design.name().trim_end_matches('*')
                    )),
                    report.pdf(),
                );
            }
            let row = rows.entry((design.name().into(), "text")).or_default();
            let label = format!("{} #{index} text", design.name());
            match pipeline.analyse(&report.pdf()).await {
                Ok(analysis) => record(row, &report, &report.truth, &analysis, &mut misses, &label),
                Err(error) => {
                    misses.push(format!("{label}: failed: {error}"));
                    row.tally.add_failure(report.truth.results.len(), 0.0);
                }
            }
        }
    }
    assert!(
        render::available(),
        "pdftoppm is missing: apt-get install poppler-utils (scripts/setup)"
    );
    let mut jobs = Vec::new();
    for &design in &selected {
        let count = if design.held_out() {
            ocr_docs
        } else {
            tuning_ocr_docs
        };
        for index in 100..100 + count {
            jobs.push((design, index));
        }
    }
    // Another debugging aid: only scans or only photos.
    let kinds: Arc<str> = std::env::var("MEDILINK_LAYOUT_KINDS")
        .unwrap_or_else(|_| "scan,photo".into())
        .into();
    let mut handles = Vec::new();
    for (design, index) in jobs {
        let pipeline = pipeline.clone();
        let kinds = kinds.clone();
        let dump = dump.clone();
        let permits = permits.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore");
            let report = generate(design, index);
            let scan = render::scan(&report, index, 1);
            let photo = render::photo(&report, index);
            if let Some(dir) = &dump {
                let stem = format!("{}-{index}", design.name().trim_end_matches('*'));
                let _ = std::fs::write(dir.join(format!("{stem}-scan.pdf")), &scan);
                let _ = std::fs::write(dir.join(format!("{stem}-photo.jpg")), &photo);
                for (kind, bytes, format) in [
                    ("scan", &scan, DocumentKind::Pdf),
                    ("photo", &photo, DocumentKind::Jpeg),
                ] {
                    if let Ok(text) = pipeline.text.text(bytes, format).await {
                        let words: Vec<String> = text
                            .words
                            .iter()
                            .flatten()
                            .map(|w| {
                                format!(
                                    "{:7.1} {:7.1} {:7.1} {:5.1} {}",
                                    w.x0, w.x1, w.top, w.size, w.text
                                )
                            })
                            .collect();
                        let _ = std::fs::write(
                            dir.join(format!("{stem}-{kind}.txt")),
                            format!("{}\n----\n{}", text.pages.join("\n===\n"), words.join("\n")),
                        );
                    }
                }
            }
            let scanned = match kinds.contains("scan") {
                true => Some(pipeline.analyse(&scan).await),
                false => None,
            };
            let photographed = match kinds.contains("photo") {
                true => Some(pipeline.analyse(&photo).await),
                false => None,
            };
            (design, index, report, scanned, photographed)
        }));
    }
    for handle in handles {
        let (design, index, report, scanned, photographed) = handle.await.expect("OCR task");
        let truth = report.truth_of_pages(1);
        for (kind, analysis) in [("scan", scanned), ("photo", photographed)] {
            let Some(analysis) = analysis else { continue };
            let label = format!("{} #{index} {kind}", design.name());
            let row = rows.entry((design.name().into(), kind)).or_default();
            match analysis {
                Ok(analysis) => record(row, &report, &truth, &analysis, &mut misses, &label),
                Err(error) => {
                    misses.push(format!("{label}: failed: {error}"));
                    row.tally.add_failure(truth.results.len(), 0.0);
                }
            }
        }
    }
    let held_out = |kind: &str| {
        total(
            rows.iter()
                .filter(|((design, k), _)| *k == kind && design.ends_with('*'))
                .map(|(_, row)| row),
        )
    };
    let (text, scans, photos) = (held_out("text"), held_out("scan"), held_out("photo"));
    let tuning_text = total(
        rows.iter()
            .filter(|((design, k), _)| *k == "text" && !design.ends_with('*'))
            .map(|(_, row)| row),
    );
    let mut summary = table(&rows);
    for (label, row) in [
        ("held-out text", &text),
        ("held-out scans", &scans),
        ("held-out photos", &photos),
        ("tuning text", &tuning_text),
    ] {
        let _ = writeln!(
            summary,
            "{label}: precision {:.1}% recall {:.1}%, completed {}/{} of which {} had an error, derived values flagged {}/{}",
            100.0 * row.tally.precision(),
            100.0 * row.tally.recall(),
            row.completed,
            row.tally.documents,
            row.completed_wrong,
            row.calculated_right,
            row.calculated_expected,
        );
    }
    let context = format!("{summary}\n{}", misses.join("\n"));
    println!("{context}");
    // The tuning designs' text PDFs (the three held out until round 2 among them): the issue's
    // goal, every date, every clean one completes, and none that completes has an error.
    assert!(
        tuning_text.tally.precision() >= 0.98 && tuning_text.tally.recall() >= 0.98,
        "{context}"
    );
    assert_eq!(
        tuning_text.tally.dates_right, tuning_text.tally.documents,
        "{context}"
    );
    assert_eq!(
        tuning_text.issued_right, tuning_text.tally.documents,
        "{context}"
    );
    assert_eq!(
        tuning_text.completed, tuning_text.tally.documents,
        "{context}"
    );
    assert_eq!(tuning_text.completed_wrong, 0, "{context}");
    assert_eq!(
        tuning_text.calculated_right, tuning_text.calculated_expected,
        "{context}"
    );
    // The held-out designs of round 3 do NOT meet the goals (≥ 98 % on text PDFs,
    // ≥ 93 % on scans and photos, clean text PDFs complete, no completed document with an
    // error): what was measured (BENCHMARKS.md, issue #20, "Fresh held-out designs") is
    // asserted as a floor, so that a regression fails; text PDFs are deterministic, scans
    // and photos get a margin for OCR differences between machines. Raise the floors when
    // the extractor gets better; never choose a rule from these designs' misses.
    assert!(
        text.tally.precision() >= TEXT_FLOOR.0 && text.tally.recall() >= TEXT_FLOOR.1,
        "{context}"
    );
    assert!(text.tally.dates_right >= TEXT_DATES.0, "{context}");
    assert!(text.issued_right >= TEXT_DATES.1, "{context}");
    assert!(text.calculated_right >= TEXT_CALCULATED, "{context}");
    assert!(
        scans.tally.precision() >= SCAN_FLOOR.0 && scans.tally.recall() >= SCAN_FLOOR.1,
        "{context}"
    );
    assert!(
        photos.tally.precision() >= PHOTO_FLOOR.0 && photos.tally.recall() >= PHOTO_FLOOR.1,
        "{context}"
    );
    // Calibration: documents that complete without review yet have an error, at most as many
    // as measured.
    for (label, row, most) in [
        ("text", &text, COMPLETED_WRONG.0),
        ("scans", &scans, COMPLETED_WRONG.1),
        ("photos", &photos, COMPLETED_WRONG.2),
    ] {
        assert!(row.completed_wrong <= most, "{label}: {context}");
    }
}

/// Floors for the held-out designs at the default counts (5 text PDFs, 2 scans and 2 photos
/// per design), from the measurement after the merge of the round-3 extractor in BENCHMARKS.md
/// ("Held-out figures after the merge"): (precision, recall).
const TEXT_FLOOR: (f64, f64) = (0.73, 0.72);
/// Right collection dates (→ effective) and report dates (→ issued) of the 20 text PDFs.
const TEXT_DATES: (usize, usize) = (11, 11);
/// Derived values with their own code flagged calculated (of 8 on the text PDFs).
const TEXT_CALCULATED: usize = 5;
const SCAN_FLOOR: (f64, f64) = (0.64, 0.52);
const PHOTO_FLOOR: (f64, f64) = (0.56, 0.41);
/// Completed documents with an error, at most: (text, scans, photos).
const COMPLETED_WRONG: (usize, usize, usize) = (5, 2, 2);

/// The issue's `.bin` upload: a PDF sent as `application/octet-stream` under a `.bin` name.
/// The job takes the type from the bytes (`DocumentKind::detect`, never the name or the
/// declared type) and completes without review when no result needs it (`needs_review`), so a
/// clean report of a design the extractor was not tuned on completes.
#[tokio::test]
async fn a_pdf_uploaded_as_octet_stream_is_sniffed_and_completes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("lab-results.bin");
    std::fs::write(&path, generate(Design::GluedFlag, 7).pdf()).expect("written");
    let bytes = std::fs::read(&path).expect("read back");
    assert_eq!(
        DocumentKind::detect(&bytes).expect("sniffed"),
        DocumentKind::Pdf
    );
    let analysis = Pipeline::offline_default()
        .analyse(&bytes)
        .await
        .expect("analysed");
    let reasons: Vec<_> = analysis
        .results
        .iter()
        .filter_map(|r| r.review_reason.clone())
        .collect();
    assert!(!analysis.results.is_empty());
    assert!(!analysis.needs_review(), "{reasons:?}");
    // Positive control: a report with an unknown test does need review.
    let unknown = Pipeline::offline_default()
        .analyse_text(
            DocumentKind::Pdf,
            &DocumentText::plain(
                vec!["Zonulin factor   42   ng/mL   10 - 50".into()],
                TextOrigin::TextLayer,
            ),
        )
        .await
        .expect("analysed");
    assert!(unknown.needs_review());
}
