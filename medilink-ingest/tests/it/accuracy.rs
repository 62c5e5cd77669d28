//! The offline default pipeline on every committed fixture, scored against its ground truth:
//! precision and recall of (LOINC, value, unit) triples must reach the goals — 98 % for
//! text PDFs, 90 % for scanned PDFs — with the rule-based extractor. Needs `tesseract` (the
//! README's set-up) for the scans and photos.

use std::collections::BTreeMap;
use std::path::PathBuf;

use medilink_ingest::pipeline::Pipeline;

use crate::support::score::{Tally, load_truth, score};

#[tokio::test]
async fn the_pipeline_meets_the_accuracy_goals_on_every_fixture() {
    let directory = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut truths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    truths.sort();
    assert!(truths.len() >= 20, "{} fixtures", truths.len());
    let pipeline = Pipeline::offline_default();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut report = Vec::new();
    for truth_path in truths {
        let truth = load_truth(&truth_path).expect("ground truth");
        let document = ["pdf", "jpg", "png"]
            .iter()
            .map(|extension| truth_path.with_extension(extension))
            .find(|path| path.exists())
            .expect("a document beside the ground truth");
        let bytes = std::fs::read(&document).expect("document");
        let analysis = pipeline
            .analyse(&bytes)
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", document.display()));
        let scored = score(&analysis, &truth);
        for miss in &scored.misses {
            report.push(format!("{}: {miss}", document.display()));
        }
        tallies
            .entry(truth.kind.clone())
            .or_default()
            .add(&scored, 0.0);
    }
    let summary: Vec<String> = tallies
        .iter()
        .map(|(kind, t)| {
            format!(
                "{kind}: precision {:.3} recall {:.3} (strict {:.3}/{:.3}), dates {}/{}",
                t.precision(),
                t.recall(),
                t.strict_precision(),
                t.strict_recall(),
                t.dates_right,
                t.documents
            )
        })
        .collect();
    let context = format!("{}\n{}", summary.join("\n"), report.join("\n"));
    for kind in ["text_pdf", "scan_pdf", "photo"] {
        assert!(tallies.contains_key(kind), "no {kind} fixtures\n{context}");
    }
    let text = &tallies["text_pdf"];
    assert!(
        text.precision() >= 0.98 && text.recall() >= 0.98,
        "{context}"
    );
    assert_eq!(text.dates_right, text.documents, "{context}");
    let scans = &tallies["scan_pdf"];
    assert!(
        scans.precision() >= 0.90 && scans.recall() >= 0.90,
        "{context}"
    );
}
