//! Scoring an [`Analysis`] against a fixture's ground truth: precision and recall of
//! (LOINC, value, unit) triples, and whether the report date is right.
//!
//! Two counts are kept. *Strict*: the LOINC code must be the ground truth's. *Analyte*: a code
//! of the same analyte in another property also counts — the generator labels SI results with
//! the mass-concentration code (glucose in mmol/L as 2345-7), while the pipeline codes them
//! with the molar LOINC code (14749-6), which is the correct one. The goals are checked on the
//! analyte count; both are printed.

use std::path::Path;

use medilink_ingest::loinc::LoincTable;
use medilink_ingest::pipeline::Analysis;
use serde::Deserialize;

/// A fixture's ground truth (the labgen format).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Truth {
    /// `text_pdf`, `scan_pdf` or `photo`.
    pub(crate) kind: String,
    /// The collection date, `YYYY-MM-DD`.
    pub(crate) report_date: Option<String>,
    /// The results printed on the document.
    pub(crate) results: Vec<TruthResult>,
}

/// One expected result.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TruthResult {
    /// The name as printed.
    pub(crate) printed_name: String,
    /// The LOINC code.
    pub(crate) loinc: String,
    /// The value.
    pub(crate) value: f64,
    /// The UCUM unit.
    pub(crate) unit: String,
}

/// Reads `path`.
pub(crate) fn load_truth(path: &Path) -> Result<Truth, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The score of one document.
#[derive(Debug, Clone, Default)]
pub(crate) struct DocScore {
    /// Triples the pipeline produced.
    pub(crate) predicted: usize,
    /// Triples in the ground truth.
    pub(crate) expected: usize,
    /// Matches with the exact LOINC code.
    pub(crate) strict: usize,
    /// Matches with a code of the same analyte.
    pub(crate) analyte: usize,
    /// Whether the report date is the ground truth's.
    pub(crate) date_right: bool,
    /// What went wrong, for `--verbose`.
    pub(crate) misses: Vec<String>,
}

/// Totals over documents.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Documents scored.
    pub(crate) documents: usize,
    /// Documents the pipeline failed on.
    pub(crate) failures: usize,
    /// Sums of the per-document counts.
    pub(crate) predicted: usize,
    /// ″
    pub(crate) expected: usize,
    /// ″
    pub(crate) strict: usize,
    /// ″
    pub(crate) analyte: usize,
    /// Documents with the right report date.
    pub(crate) dates_right: usize,
    /// Wall time of the pipeline, seconds.
    pub(crate) seconds: f64,
}

impl Tally {
    /// Adds one document.
    pub(crate) fn add(&mut self, score: &DocScore, seconds: f64) {
        self.documents += 1;
        self.predicted += score.predicted;
        self.expected += score.expected;
        self.strict += score.strict;
        self.analyte += score.analyte;
        self.dates_right += usize::from(score.date_right);
        self.seconds += seconds;
    }

    /// Adds a document the pipeline failed on: everything expected is missed.
    pub(crate) fn add_failure(&mut self, expected: usize, seconds: f64) {
        self.documents += 1;
        self.failures += 1;
        self.expected += expected;
        self.seconds += seconds;
    }

    /// Precision with the analyte count (1 when nothing was predicted).
    pub(crate) fn precision(&self) -> f64 {
        ratio(self.analyte, self.predicted)
    }

    /// Recall with the analyte count.
    pub(crate) fn recall(&self) -> f64 {
        ratio(self.analyte, self.expected)
    }

    /// Precision with the strict count.
    pub(crate) fn strict_precision(&self) -> f64 {
        ratio(self.strict, self.predicted)
    }

    /// Recall with the strict count.
    pub(crate) fn strict_recall(&self) -> f64 {
        ratio(self.strict, self.expected)
    }

    /// Documents per minute of pipeline time.
    pub(crate) fn per_minute(&self) -> f64 {
        if self.seconds > 0.0 {
            self.documents as f64 * 60.0 / self.seconds
        } else {
            0.0
        }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Whether two codes name the same analyte (see [`LoincTable::same_analyte`]).
pub(crate) fn same_analyte(a: &str, b: &str) -> bool {
    LoincTable::builtin().same_analyte(a, b)
}

fn same_value(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// A predicted triple and the printed name: (LOINC, value, unit, name).
type Predicted<'a> = (Option<&'a str>, Option<f64>, Option<&'a str>, &'a str);

/// Scores one analysis against its ground truth.
pub(crate) fn score(analysis: &Analysis, truth: &Truth) -> DocScore {
    let predicted: Vec<Predicted<'_>> = analysis
        .results
        .iter()
        .map(|r| {
            (
                r.loinc.as_ref().map(|m| m.code.as_str()),
                r.extracted.value,
                r.ucum_unit.as_deref(),
                r.extracted.name.as_str(),
            )
        })
        .collect();
    let mut out = DocScore {
        predicted: predicted.len(),
        expected: truth.results.len(),
        // The collection date; a printed time after it is not part of the ground truth.
        date_right: analysis.report_date.as_deref().and_then(|d| d.get(..10))
            == truth.report_date.as_deref(),
        ..DocScore::default()
    };
    let mut used = vec![false; predicted.len()];
    for expected in &truth.results {
        let fits = |(code, value, unit, _): &Predicted<'_>, strict: bool| {
            let code_ok = code.is_some_and(|code| {
                if strict {
                    code == expected.loinc
                } else {
                    same_analyte(code, &expected.loinc)
                }
            });
            code_ok
                && value.is_some_and(|value| same_value(value, expected.value))
                && *unit == Some(expected.unit.as_str())
        };
        let found = (0..predicted.len())
            .find(|&i| !used[i] && fits(&predicted[i], true))
            .map(|i| (i, true))
            .or_else(|| {
                (0..predicted.len())
                    .find(|&i| !used[i] && fits(&predicted[i], false))
                    .map(|i| (i, false))
            });
        match found {
            Some((index, strict)) => {
                used[index] = true;
                out.analyte += 1;
                out.strict += usize::from(strict);
            }
            None => out.misses.push(format!(
                "missed   {:<32} {} {} {}",
                expected.printed_name, expected.loinc, expected.value, expected.unit
            )),
        }
    }
    for (index, (code, value, unit, name)) in predicted.iter().enumerate() {
        if !used[index] {
            out.misses.push(format!(
                "spurious {:<32} {} {} {}",
                name,
                code.unwrap_or("-"),
                value.map_or("-".to_owned(), |v| v.to_string()),
                unit.unwrap_or("-")
            ));
        }
    }
    if !out.date_right {
        out.misses.push(format!(
            "date     {:?} expected {:?}",
            analysis.report_date, truth.report_date
        ));
    }
    out
}
