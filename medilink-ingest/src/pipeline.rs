//! The pipeline: text → extraction → LOINC mapping, and what came out.
//!
//! Mapping gives every extracted result a LOINC code (when the table knows the name) and its
//! unit in UCUM. Every result gets a confidence from the evidence: how well the extractor read
//! it (column fit, a clean tail), how well its name matched, whether its unit is known and fits
//! the test, whether its value is a number where the test is quantitative and plausible for
//! the printed reference range (not ten times beyond it), and whether the test is known at all.
//! A result needs review — and holds the whole analysis back from publication — only when that
//! confidence is below the pipeline's threshold; its review reason lists the evidence against
//! it.
//!
//! Dates and time zones: the extractor gives the collection date (→ `effectiveDateTime`) and
//! the report's release date (→ `issued`) as printed, with a time when one is printed, in the
//! lab's local time without a zone. [`Pipeline::report_offset`] (UTC unless configured) is the
//! zone the lab prints in: a printed time gets that offset (`2026-03-14T08:15:00+00:00`), a
//! date without a time stays a date for `effectiveDateTime` (FHIR allows it) and becomes
//! midnight at that offset for `issued` (an instant, which needs a time). A date that already
//! carries a zone (from an LLM) is kept as it is.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::detect::DocumentKind;
use crate::error::{IngestError, IngestResult};
use crate::extract::{ExtractedReport, ExtractedResult, Extractor, RuleExtractor};
use crate::loinc::{LoincMatch, LoincTable, ucum};
use crate::text::{
    DefaultTextExtractor, DocumentText, Ocr, TesseractOcr, TextExtractor, TextOrigin,
};

/// One extracted result with its coding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappedResult {
    /// The result as extracted.
    pub extracted: ExtractedResult,
    /// Its LOINC code, when one was found.
    pub loinc: Option<LoincMatch>,
    /// The unit in UCUM, when it could be normalised.
    pub ucum_unit: Option<String>,
    /// Why this result needs a person to look at it, if it does.
    pub review_reason: Option<String>,
    /// Extraction confidence × name-match confidence, 0–1.
    #[serde(default)]
    pub confidence: f64,
}

/// What the pipeline made of one document; stored with the job, turned into FHIR by [`crate::fhir`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The document's type.
    pub kind: DocumentKind,
    /// Where the text came from.
    pub origin: TextOrigin,
    /// The collection date (`effectiveDateTime`): a date, or a dateTime with zone.
    pub report_date: Option<String>,
    /// When the report was released (reported; else received), as a FHIR instant.
    #[serde(default)]
    pub issued: Option<String>,
    /// The results.
    pub results: Vec<MappedResult>,
}

impl Analysis {
    /// Whether any result needs review before anything is published.
    pub fn needs_review(&self) -> bool {
        self.results.iter().any(|r| r.review_reason.is_some())
    }
}

/// Results below this combined confidence need review unless configured otherwise.
pub const DEFAULT_REVIEW_THRESHOLD: f64 = 0.75;

/// The configured stages.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Stage 1.
    pub text: Arc<dyn TextExtractor>,
    /// Stage 2.
    pub extractor: Arc<dyn Extractor>,
    /// Results whose confidence is below this need review (0–1).
    pub review_threshold: f64,
    /// The UTC offset of the times printed on reports (see the module documentation).
    pub report_offset: time::UtcOffset,
}

impl Pipeline {
    /// A pipeline of the given stages with the default review threshold.
    pub fn new(text: Arc<dyn TextExtractor>, extractor: Arc<dyn Extractor>) -> Self {
        Pipeline {
            text,
            extractor,
            review_threshold: DEFAULT_REVIEW_THRESHOLD,
            report_offset: time::UtcOffset::UTC,
        }
    }

    /// The offline default: the PDF text layer or tesseract OCR, then the rule-based extractor.
    pub fn offline_default() -> Self {
        Pipeline::offline(Arc::new(TesseractOcr::default()))
    }

    /// The PDF text layer or `ocr`, then the rule-based extractor.
    pub fn offline(ocr: Arc<dyn Ocr>) -> Self {
        Pipeline::new(
            Arc::new(DefaultTextExtractor::new(ocr)),
            Arc::new(RuleExtractor::default()),
        )
    }

    /// Runs stages 1–3 on `bytes`.
    pub async fn analyse(&self, bytes: &[u8]) -> IngestResult<Analysis> {
        if bytes.is_empty() {
            return Err(IngestError::Unreadable("the file is empty".into()));
        }
        let kind = DocumentKind::sniff(bytes)
            .ok_or_else(|| IngestError::UnsupportedType("not a PDF, PNG or JPEG".into()))?;
        let text = self.text.text(bytes, kind).await?;
        self.analyse_text(kind, &text).await
    }

    /// Runs stages 2–3 on text already extracted from a document of `kind`.
    pub async fn analyse_text(
        &self,
        kind: DocumentKind,
        text: &DocumentText,
    ) -> IngestResult<Analysis> {
        let ExtractedReport {
            report_date,
            issued,
            results,
        } = self.extractor.extract(text).await?;
        if results.is_empty() {
            return Err(IngestError::NothingFound);
        }
        Ok(Analysis {
            kind,
            origin: text.origin,
            report_date: report_date.map(|date| zoned(&date, self.report_offset, false)),
            issued: issued.map(|date| zoned(&date, self.report_offset, true)),
            results: results
                .into_iter()
                .map(|mut extracted| {
                    if text.origin == TextOrigin::Ocr {
                        restore_by_limits(&mut extracted);
                        lost_unit_from_table(&mut extracted);
                    }
                    map_result(extracted, self.review_threshold)
                })
                .collect(),
        })
    }
}

/// `date` (`YYYY-MM-DD` or a local `YYYY-MM-DDThh:mm:ss`) with `offset` added to a time; with
/// `instant`, a date alone becomes midnight. A value that has a zone already is kept.
pub fn zoned(date: &str, offset: time::UtcOffset, instant: bool) -> String {
    let (hours, minutes, _) = offset.as_hms();
    let zone = if offset.is_utc() {
        "Z".to_owned()
    } else {
        format!(
            "{}{:02}:{:02}",
            if offset.is_negative() { '-' } else { '+' },
            hours.unsigned_abs(),
            minutes.unsigned_abs()
        )
    };
    match date.split_once('T') {
        Some((_, time)) if time.ends_with('Z') || time.contains(['+', '-']) => date.to_owned(),
        Some(_) => format!("{date}{zone}"),
        None if instant => format!("{date}T00:00:00{zone}"),
        None => date.to_owned(),
    }
}

/// Stage 3 for one result: LOINC code, UCUM unit, its confidence from the evidence, and
/// whether a person must look at it (confidence below `review_threshold`).
pub fn map_result(extracted: ExtractedResult, review_threshold: f64) -> MappedResult {
    let table = LoincTable::builtin();
    let printed_ucum = extracted.unit.as_deref().and_then(ucum::normalize);
    let loinc = table.lookup(&extracted.name, printed_ucum.as_deref());
    let entry = loinc.as_ref().and_then(|m| table.entry(&m.code));
    let mut reasons: Vec<String> = Vec::new();
    // The product of the evidence against the result (1 when there is none).
    let mut evidence = 1.0;
    let ucum_unit = match (&extracted.unit, &printed_ucum, entry) {
        (_, Some(unit), Some(entry)) => match entry.repaired_unit(unit) {
            Some(repaired) if !entry.fits(unit) || unit_misread(unit, &repaired) => {
                reasons.push(format!("the unit was read as {unit}, taken as {repaired}"));
                evidence *= 0.7;
                Some(entry.preferred_unit(&repaired))
            }
            // A real unit the test is never printed in (`Pa` for MCH's `pg`) is OCR's
            // misreading of one it is, like a garbled one.
            _ if !entry.fits(unit) => match extracted
                .unit
                .as_deref()
                .and_then(|printed| close_unit(printed, entry))
            {
                Some(repaired) => {
                    reasons.push(format!("the unit was read as {unit}, taken as {repaired}"));
                    evidence *= 0.7;
                    Some(entry.preferred_unit(&repaired))
                }
                None => {
                    reasons.push("the unit does not fit the test".into());
                    evidence *= 0.6;
                    Some(entry.preferred_unit(unit))
                }
            },
            _ => Some(entry.preferred_unit(unit)),
        },
        (_, Some(unit), None) => Some(unit.clone()),
        (Some(printed), None, Some(entry)) => match close_unit(printed, entry) {
            // An OCR misreading of one of the test's units (`ugidL`, `g/d`).
            Some(unit) => {
                reasons.push(format!("the unit was read as {printed}, taken as {unit}"));
                evidence *= 0.7;
                Some(entry.preferred_unit(&unit))
            }
            None => {
                reasons.push("the unit is not recognised".into());
                evidence *= 0.6;
                None
            }
        },
        (Some(_), None, None) => {
            reasons.push("the unit is not recognised".into());
            evidence *= 0.6;
            None
        }
        (None, None, Some(entry)) if entry.is_dimensionless() => entry.unit.clone(),
        (None, None, Some(entry)) => {
            if entry.unit.is_some() && extracted.value.is_some() {
                reasons.push("the unit is missing".into());
                evidence *= 0.85;
            }
            None
        }
        (None, None, None) => None,
    };
    if loinc.is_none() {
        reasons.push("unknown test: kept as printed, without a LOINC code".into());
        evidence *= 0.5;
    }
    let quantitative = entry.is_some_and(|entry| entry.unit.is_some());
    if extracted.value.is_none() && quantitative {
        reasons.push("the value is not a number".into());
        evidence *= 0.5;
    }
    if let Some(value) = extracted.value
        && !plausible(value, extracted.range_low, extracted.range_high)
    {
        reasons.push("the value is far outside its reference range".into());
        evidence *= 0.6;
    }
    let confidence = extracted.confidence * loinc.as_ref().map_or(1.0, |m| m.confidence) * evidence;
    let review_reason = (confidence < review_threshold).then(|| {
        reasons.insert(0, format!("low confidence ({confidence:.2})"));
        reasons.join("; ")
    });
    MappedResult {
        extracted,
        loinc,
        ucum_unit,
        review_reason,
        confidence,
    }
}

/// The UCUM form of the one unit the test is printed in that `printed` (not a unit) is at most
/// two edits away from, once the letters OCR confuses are folded together (`meg/dt` for
/// `mcg/dL`, `mmoV/L` for `mmol/L`); else, when the test is printed in one unit only (`pg`,
/// `%`), that unit. `None` when there is none or two different ones.
fn close_unit(printed: &str, entry: &crate::loinc::LoincEntry) -> Option<String> {
    let printed = ocr_fold(printed);
    let mut best: Option<(usize, String)> = None;
    let mut tied = false;
    // The listed spellings, and `mcg` for `u` (as labs print micrograms).
    let spellings = entry.printed_units.iter().flat_map(|unit| {
        let micro = unit
            .strip_prefix('u')
            .filter(|rest| rest.starts_with('g'))
            .map(|rest| format!("mc{rest}"));
        std::iter::once(unit.clone()).chain(micro)
    });
    for candidate in spellings {
        let distance = strsim::levenshtein(&printed, &ocr_fold(&candidate));
        if distance > 2 || distance * 2 >= candidate.chars().count() {
            continue;
        }
        let Some(unit) = ucum::normalize(&candidate) else {
            continue;
        };
        match &best {
            Some((d, u)) if distance == *d && *u != unit => tied = true,
            Some((d, _)) if distance >= *d => {}
            _ => {
                best = Some((distance, unit));
                tied = false;
            }
        }
    }
    if let Some((_, unit)) = best.filter(|_| !tied) {
        return Some(unit);
    }
    only_unit(entry)
}

/// The UCUM form of the one unit the test is printed in (`pg` for MCH, `U/L` for an enzyme
/// listed with `IU/L` too, `µIU/mL` for insulin listed with `mIU/L`, the same quantity); `None`
/// when it has several of different size.
fn only_unit(entry: &crate::loinc::LoincEntry) -> Option<String> {
    // The usual unit first, so that of units of one size the usual spelling is kept.
    let mut units: Vec<String> = Vec::new();
    for unit in entry.unit.iter().chain(&entry.units) {
        let unit = entry.preferred_unit(unit);
        if !units.iter().any(|kept| ucum::same_magnitude(kept, &unit)) {
            units.push(unit);
        }
    }
    match &units[..] {
        [only] => Some(only.clone()),
        _ => None,
    }
}

/// `printed` in lower case with the characters OCR mistakes for each other made one
/// (`e`/`c`, `t`/`l`/`i`/`1`/`|`, `0`/`o`, `9`/`g`, `v`/`l`).
fn ocr_fold(printed: &str) -> String {
    printed
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'e' => 'c',
            't' | 'i' | '1' | '|' | '!' | 'v' => 'l',
            '0' => 'o',
            '9' | 'q' => 'g',
            other => other,
        })
        .collect()
}

/// Values no living patient has, for tests usually printed with one decimal: (LOINC code,
/// UCUM unit, lowest, highest). Deliberately wide (compatible with life, not normal ranges):
/// they only catch a value ten times too large.
const PHYSIOLOGIC_LIMITS: &[(&str, &str, f64, f64)] = &[
    ("718-7", "g/dL", 2.0, 25.0),    // hemoglobin
    ("4544-3", "%", 8.0, 75.0),      // hematocrit
    ("787-2", "fL", 45.0, 150.0),    // MCV
    ("785-6", "pg", 10.0, 50.0),     // MCH
    ("786-4", "g/dL", 20.0, 45.0),   // MCHC
    ("788-0", "%", 8.0, 35.0),       // RDW
    ("32623-1", "fL", 5.0, 20.0),    // mean platelet volume
    ("2823-3", "mmol/L", 1.0, 10.0), // potassium, serum
    ("6298-4", "mmol/L", 1.0, 10.0), // potassium, blood
    ("17861-6", "mg/dL", 3.0, 20.0), // calcium
    ("2777-1", "mg/dL", 0.5, 15.0),  // phosphate
    ("19123-9", "mg/dL", 0.5, 10.0), // magnesium
    ("2885-2", "g/dL", 2.0, 15.0),   // total protein
    ("1751-7", "g/dL", 0.5, 7.0),    // albumin
    ("10834-0", "g/dL", 0.5, 10.0),  // globulin
    ("3084-1", "mg/dL", 0.5, 25.0),  // urate
    ("4548-4", "%", 3.0, 20.0),      // hemoglobin A1c
    ("3024-7", "ng/dL", 0.1, 10.0),  // free T4
    ("6301-6", "{INR}", 0.5, 10.0),  // INR
];

/// OCR only: a number whose unit OCR lost (an empty cell, a unit merged into the range), for
/// a test printed in one unit only, is in that unit — at a confidence that needs review.
fn lost_unit_from_table(extracted: &mut ExtractedResult) {
    if extracted.unit.is_some() || extracted.value.is_none() {
        return;
    }
    let table = LoincTable::builtin();
    let Some(entry) = table.lookup_entry(&extracted.name, None) else {
        return;
    };
    if entry.unit.is_none() || entry.is_dimensionless() {
        return;
    }
    let Some(only) = only_unit(entry).or_else(|| unit_by_limits(entry, extracted)) else {
        return;
    };
    let printed = entry.printed_units.iter().find(|printed| {
        ucum::normalize(printed).is_some_and(|unit| entry.preferred_unit(&unit) == only)
    });
    if let Some(printed) = printed {
        extracted.unit = Some(printed.clone());
        extracted.confidence = extracted.confidence.min(0.6);
    }
}

/// Limits no living patient's value passes, for tests printed in units of different size
/// (glucose in mg/dL or mg/L, albumin in g/dL or g/L), in the test's usual unit: with
/// [`PHYSIOLOGIC_LIMITS`], they tell which unit a number and its range were printed in.
const UNIT_LIMITS: &[(&str, &str, f64, f64)] = &[
    ("2345-7", "mg/dL", 10.0, 2000.0), // glucose, serum
];

/// The one unit of `entry` (of units of different size) in which the number and its range
/// are possible for any patient, when the limits are known and exactly one unit fits.
fn unit_by_limits(entry: &crate::loinc::LoincEntry, extracted: &ExtractedResult) -> Option<String> {
    let usual = entry.unit.as_deref()?;
    let &(_, unit, low, high) = PHYSIOLOGIC_LIMITS
        .iter()
        .chain(UNIT_LIMITS)
        .find(|(code, _, _, _)| *code == entry.code)?;
    let (base, usual_factor) = ucum::magnitude(unit)?;
    if unit != usual {
        return None;
    }
    let mut numbers = vec![extracted.value?];
    numbers.extend(
        [extracted.range_low, extracted.range_high]
            .into_iter()
            .flatten()
            .filter(|bound| *bound > 0.0),
    );
    let mut fitting: Vec<String> = Vec::new();
    for candidate in entry.units.iter().chain(&entry.unit) {
        let (candidate_base, factor) = ucum::magnitude(candidate)?;
        if candidate_base != base {
            return None;
        }
        // A number in the candidate unit, in the usual one.
        let scale = factor / usual_factor;
        let fits = numbers.iter().all(|n| (low..=high).contains(&(n * scale)));
        if fits
            && !fitting
                .iter()
                .any(|kept| ucum::same_magnitude(kept, candidate))
        {
            fitting.push(candidate.clone());
        }
    }
    match &fitting[..] {
        [only] => Some(entry.preferred_unit(only)),
        _ => None,
    }
}

/// OCR only: a whole number ten times beyond what any patient has for the test (potassium
/// `48` mmol/L, HbA1c `44` %), which a decimal point makes possible, lost its point — and so
/// did its range when that is out of bounds too (`35-51`). The value is read with the point,
/// at a confidence that needs review. Tests printed in another unit are left alone.
fn restore_by_limits(extracted: &mut ExtractedResult) {
    let Some(value) = extracted.value else {
        return;
    };
    if extracted.comparator.is_some()
        || extracted.value_text.contains(['.', ','])
        || !extracted.value_text.chars().all(|c| c.is_ascii_digit())
    {
        return;
    }
    let table = LoincTable::builtin();
    let printed = extracted.unit.as_deref().and_then(ucum::normalize);
    let Some(entry) = table.lookup_entry(&extracted.name, printed.as_deref()) else {
        return;
    };
    let Some(&(_, unit, low, high)) = PHYSIOLOGIC_LIMITS
        .iter()
        .find(|(code, _, _, _)| *code == entry.code)
    else {
        return;
    };
    if printed
        .as_deref()
        .is_some_and(|printed| entry.preferred_unit(printed) != unit)
    {
        return;
    }
    let restored = value / 10.0;
    if value <= high || restored < low || restored > high {
        return;
    }
    let text = &extracted.value_text;
    extracted.value_text = format!("{}.{}", &text[..text.len() - 1], &text[text.len() - 1..]);
    extracted.value = Some(restored);
    for bound in [&mut extracted.range_low, &mut extracted.range_high] {
        if let Some(b) = bound.as_mut()
            && *b > high
        {
            *b /= 10.0;
        }
    }
    extracted.confidence = extracted.confidence.min(0.6);
}

/// Whether `value` is plausible for the printed reference range: at most ten times its upper
/// bound, and (when positive) at least a twentieth of its lower one — a misplaced decimal point
/// or a digit run into the next column fails this. Without a range nothing is known against it.
fn plausible(value: f64, low: Option<f64>, high: Option<f64>) -> bool {
    let above = high.is_some_and(|high| high > 0.0 && value > 10.0 * high);
    let below = low.is_some_and(|low| low > 0.0 && value > 0.0 && value < low / 20.0);
    !(above || below)
}

/// Whether `printed` is a typical OCR misreading of `repaired` even though both are valid
/// units of the test's dimension: a micro sign lost or read as `p` (`mol/L`, `pmol/L`), or
/// `µIU` read as `U`.
fn unit_misread(printed: &str, repaired: &str) -> bool {
    let international = |prefix: &str| {
        printed
            .strip_prefix("U/")
            .is_some_and(|rest| repaired.strip_prefix(prefix) == Some(rest))
    };
    repaired.strip_prefix('u') == Some(printed)
        || (printed.starts_with('p') && repaired.strip_prefix('u') == printed.strip_prefix('p'))
        || international("u[IU]/")
        || international("m[IU]/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extracted(
        name: &str,
        value: Option<f64>,
        unit: Option<&str>,
        confidence: f64,
    ) -> ExtractedResult {
        ExtractedResult {
            name: name.into(),
            value_text: value.map_or("Positive".into(), |v| v.to_string()),
            value,
            comparator: None,
            unit: unit.map(str::to_owned),
            range_low: None,
            range_high: None,
            range_text: None,
            flag: None,
            confidence,
            calculated: false,
        }
    }

    #[test]
    fn a_value_ten_times_beyond_any_patients_lost_its_point() {
        let mut potassium = extracted("Potassium", Some(48.0), Some("mmol/L"), 0.97);
        potassium.value_text = "48".into();
        potassium.range_low = Some(35.0);
        potassium.range_high = Some(51.0);
        restore_by_limits(&mut potassium);
        assert_eq!(potassium.value, Some(4.8));
        assert_eq!(potassium.value_text, "4.8");
        assert_eq!(
            (potassium.range_low, potassium.range_high),
            (Some(3.5), Some(5.1))
        );
        assert!(map_result(potassium, 0.75).review_reason.is_some());
        // Possible values, other units, printed points and unknown tests are left alone.
        for (name, value, text, unit) in [
            ("Potassium", 6.5, "6.5", "mmol/L"),
            ("Potassium", 9.0, "9", "mmol/L"),
            ("Hemoglobin", 142.0, "142", "g/L"),
            ("Hemoglobin", 142.0, "142.", "g/dL"),
            ("Glucose", 480.0, "480", "mg/dL"),
            ("Potassium", 480.0, "480", "mmol/L"),
        ] {
            let mut result = extracted(name, Some(value), Some(unit), 0.97);
            result.value_text = text.into();
            restore_by_limits(&mut result);
            assert_eq!(result.value, Some(value), "{name} {text} {unit}");
        }
    }

    #[test]
    fn a_lost_unit_is_the_tests_only_one_and_reviewed() {
        let mut mch = extracted("MCH", Some(29.1), None, 0.97);
        lost_unit_from_table(&mut mch);
        assert_eq!(mch.unit.as_deref(), Some("pg"));
        let mapped = map_result(mch, 0.75);
        assert_eq!(mapped.ucum_unit.as_deref(), Some("pg"));
        assert!(mapped.review_reason.is_some());
        // Issue #20: insulin's µIU/mL and mIU/L are one quantity: the usual spelling.
        let mut insulin = extracted("Insulin", Some(8.4), None, 0.97);
        lost_unit_from_table(&mut insulin);
        let mapped = map_result(insulin, 0.75);
        assert_eq!(mapped.ucum_unit.as_deref(), Some("u[IU]/mL"));
        assert!(mapped.review_reason.is_some());
        // Units of different size: the one where the value and its range are possible.
        let mut glucose = extracted("Glucose", Some(112.0), None, 0.97);
        (glucose.range_low, glucose.range_high) = (Some(70.0), Some(99.0));
        lost_unit_from_table(&mut glucose);
        assert_eq!(glucose.unit.as_deref(), Some("mg/dL"));
        assert!(glucose.confidence < 0.75);
        assert!(map_result(glucose, 0.75).review_reason.is_some());
        let mut albumin = extracted("Albumin", Some(42.0), None, 0.97);
        (albumin.range_low, albumin.range_high) = (Some(35.0), Some(50.0));
        lost_unit_from_table(&mut albumin);
        assert_eq!(albumin.unit.as_deref(), Some("g/L"));
        let mut albumin = extracted("Albumin", Some(4.2), None, 0.97);
        (albumin.range_low, albumin.range_high) = (Some(3.5), Some(5.0));
        lost_unit_from_table(&mut albumin);
        assert_eq!(albumin.unit.as_deref(), Some("g/dL"));
        // Not when both sizes are possible (no range), nor for a dimensionless test.
        for name in ["Glucose", "INR"] {
            let mut result = extracted(name, Some(5.4), None, 0.97);
            lost_unit_from_table(&mut result);
            assert_eq!(result.unit, None, "{name}");
            assert_eq!(result.confidence, 0.97, "{name}");
        }
    }

    #[test]
    fn a_clean_result_is_coded_and_needs_no_review() {
        let mapped = map_result(
            extracted("Hemoglobin", Some(13.5), Some("g/dl"), 0.97),
            0.75,
        );
        assert_eq!(
            mapped.loinc.as_ref().map(|m| m.code.as_str()),
            Some("718-7")
        );
        assert_eq!(mapped.ucum_unit.as_deref(), Some("g/dL"));
        assert_eq!(mapped.review_reason, None);
    }

    #[test]
    fn equivalent_units_take_the_tests_usual_spelling() {
        let sodium = map_result(extracted("Sodium", Some(139.0), Some("mEq/L"), 0.97), 0.75);
        assert_eq!(sodium.ucum_unit.as_deref(), Some("mmol/L"));
        let alt = map_result(extracted("ALT", Some(30.0), Some("IU/L"), 0.97), 0.75);
        assert_eq!(alt.ucum_unit.as_deref(), Some("U/L"));
        // Not for an unknown test: the printed unit's UCUM form stays.
        let unknown = map_result(extracted("Zonulin", Some(1.0), Some("IU/L"), 0.97), 0.75);
        assert_eq!(unknown.ucum_unit.as_deref(), Some("[IU]/L"));
    }

    #[test]
    fn review_reasons() {
        let unknown = map_result(
            extracted("Zonulin factor", Some(42.0), Some("ng/mL"), 0.97),
            0.75,
        );
        assert!(unknown.loinc.is_none());
        assert!(
            unknown
                .review_reason
                .as_deref()
                .is_some_and(|r| r.contains("unknown test"))
        );
        let low = map_result(extracted("Hemoglobin", Some(13.5), Some("g/dL"), 0.5), 0.75);
        assert!(
            low.review_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("low confidence"))
        );
        let not_a_number = map_result(extracted("Hemoglobin", None, None, 0.97), 0.75);
        assert!(
            not_a_number
                .review_reason
                .as_deref()
                .is_some_and(|r| r.contains("not a number"))
        );
        let bad_unit = map_result(
            extracted("Hemoglobin", Some(13.5), Some("furlongs"), 0.97),
            0.75,
        );
        assert!(
            bad_unit
                .review_reason
                .as_deref()
                .is_some_and(|r| r.contains("not recognised"))
        );
        let wrong_unit = map_result(extracted("Hemoglobin", Some(13.5), Some("min"), 0.97), 0.75);
        assert!(
            wrong_unit
                .review_reason
                .as_deref()
                .is_some_and(|r| r.contains("does not fit"))
        );
        // OCR'd micro signs: a unit the test is not reported in becomes the one it is.
        let ammonia = map_result(extracted("Ammonia", Some(21.0), Some("mol/L"), 0.97), 0.75);
        assert_eq!(ammonia.ucum_unit.as_deref(), Some("umol/L"));
        assert!(
            ammonia
                .review_reason
                .as_deref()
                .is_some_and(|r| r.contains("read as mol/L"))
        );
        let homocysteine = map_result(
            extracted("Homocysteine", Some(10.0), Some("pmol/L"), 0.97),
            0.75,
        );
        assert_eq!(homocysteine.ucum_unit.as_deref(), Some("umol/L"));
        // An OCR'd unit that is no unit at all, close to one of the test's: repaired, reviewed.
        let iron = map_result(extracted("Iron", Some(90.0), Some("ugidL"), 0.97), 0.75);
        assert_eq!(iron.ucum_unit.as_deref(), Some("ug/dL"));
        assert!(
            iron.review_reason
                .as_deref()
                .is_some_and(|r| r.contains("read as ugidL"))
        );
        // OCR's confusions folded (`e`/`c`, `t`/`l`), `mcg` for `ug`: repaired, reviewed.
        let tibc = map_result(
            extracted(
                "Total Iron Binding Capacity",
                Some(432.0),
                Some("meg/dt"),
                0.97,
            ),
            0.75,
        );
        assert_eq!(tibc.ucum_unit.as_deref(), Some("ug/dL"));
        assert!(tibc.review_reason.is_some());
        // A test printed in one unit only takes it for an unreadable one, reviewed.
        let mch = map_result(extracted("MCH", Some(27.3), Some("po"), 0.97), 0.75);
        assert_eq!(mch.ucum_unit.as_deref(), Some("pg"));
        assert!(
            mch.review_reason
                .as_deref()
                .is_some_and(|r| r.contains("read as po"))
        );
        // A real unit the test is never printed in is a misreading too (MCH's `pg` as `Pa`).
        let mch = map_result(extracted("MCH", Some(27.3), Some("Pa"), 0.97), 0.75);
        assert_eq!(mch.ucum_unit.as_deref(), Some("pg"));
        assert!(
            mch.review_reason
                .as_deref()
                .is_some_and(|r| r.contains("read as Pa"))
        );
        // Not a test printed in several units of different size.
        let glucose = map_result(extracted("Glucose", Some(5.4), Some("xq"), 0.97), 0.75);
        assert_eq!(glucose.ucum_unit, None);
        assert!(glucose.review_reason.is_some());
        // An enzyme's `[IU]/L` is its `U/L`: one unit, taken for an unreadable one.
        let alp = map_result(
            extracted("Alkaline Phosphatase", Some(82.0), Some("xyz"), 0.97),
            0.75,
        );
        assert_eq!(alp.ucum_unit.as_deref(), Some("U/L"));
        // A listed unit is never changed.
        let b12 = map_result(
            extracted("Vitamin B12", Some(300.0), Some("pmol/L"), 0.97),
            0.75,
        );
        assert_eq!(b12.ucum_unit.as_deref(), Some("pmol/L"));
        // A qualitative test needs no unit and no number.
        let nitrite = map_result(extracted("Nitrite", None, None, 0.97), 0.75);
        assert_eq!(nitrite.review_reason, None);
        // A dimensionless test takes its unit from the table.
        let inr = map_result(extracted("INR", Some(1.1), None, 0.97), 0.75);
        assert_eq!(inr.ucum_unit.as_deref(), Some("{INR}"));
        assert_eq!(inr.review_reason, None);
    }
}
