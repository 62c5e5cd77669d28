//! The rule-based extractor: result lines of table-like lab reports.
//!
//! A line is split into the test name and the rest in one of three ways, the first that reads
//! well wins: `Name: value unit (Ref: a-b) H`; columns separated by two or more spaces (tabs,
//! `|` and dotted leaders count as separators); or, when OCR collapsed the spacing, the
//! earliest word that starts a readable "value [unit] [range] [flag]" tail. In the tail the
//! value comes first; the range and the flag are found by shape wherever they are; what is left
//! is the unit. Lines that look like headers, patient details or dates are skipped; a line with
//! neither unit nor range is kept only when its name is a known test.

use std::sync::OnceLock;

use async_trait::async_trait;
use regex::Regex;

use super::values::{self, Number};
use super::{ExtractedReport, ExtractedResult, Extractor};
use crate::error::IngestResult;
use crate::loinc::{LoincMatch, LoincTable, MatchKind, normalize_name, ucum};
use crate::text::{DocumentText, TextOrigin};

mod clean;
mod dates;
mod layout;

use clean::{clean_line, strip_footnotes};
use dates::Dates;

/// The default extractor: rules over the text's lines, no network.
#[derive(Debug, Clone, Copy)]
pub struct RuleExtractor {
    table: &'static LoincTable,
}

impl Default for RuleExtractor {
    fn default() -> Self {
        RuleExtractor {
            table: LoincTable::builtin(),
        }
    }
}

#[async_trait]
impl Extractor for RuleExtractor {
    async fn extract(&self, text: &DocumentText) -> IngestResult<ExtractedReport> {
        Ok(self.extract_document(text))
    }
}

/// Words that start lines which are never results.
const NOT_RESULTS: &[&str] = &[
    "patient",
    "name",
    "dob",
    "birth",
    "age",
    "sex",
    "gender",
    "mrn",
    "id",
    "account",
    "acct",
    "accession",
    "page",
    "phone",
    "tel",
    "fax",
    "address",
    "physician",
    "doctor",
    "dr",
    "ordered",
    "ordering",
    "provider",
    "collected",
    "collection",
    "received",
    "reported",
    "report",
    "printed",
    "specimen",
    "sample",
    "lab",
    "laboratory",
    "reference",
    "ref",
    "comment",
    "comments",
    "note",
    "notes",
    "method",
    "time",
    "date",
    "location",
    "clinic",
    "npi",
    "room",
    "bed",
    "requisition",
    "order",
    "drawn",
    "issued",
    "final",
    "status",
    "signed",
    "verified",
    "approved",
    "performed",
    "electronically",
    "end",
    "continued",
    "www",
    "http",
    "https",
    "email",
    "client",
    "insurance",
    "mr",
    "mrs",
    "ms",
];

impl RuleExtractor {
    /// Extracts from plain text (pages joined by newlines) of a PDF text layer.
    pub fn extract_text(&self, text: &str) -> ExtractedReport {
        self.extract_lines(text, TextOrigin::TextLayer)
    }

    /// Extracts from a document: a page with word positions and a table header is read as
    /// a table (columns from the header's x-positions, the `layout` module); any other page
    /// line by line.
    pub fn extract_document(&self, text: &DocumentText) -> ExtractedReport {
        let mut dates = Dates::default();
        let mut results = Vec::new();
        let mut tables = layout::Tables::default();
        for (index, page) in text.pages.iter().enumerate() {
            let words = text.words.get(index).filter(|words| !words.is_empty());
            if let Some(words) = words
                && let Some(found) =
                    layout::read_page(self, words, text.origin, &mut tables, &mut dates)
            {
                results.extend(found);
                continue;
            }
            results.extend(self.read_lines(page, text.origin, &mut dates));
        }
        let (report_date, issued) = dates.finish();
        ExtractedReport {
            report_date,
            issued,
            results,
        }
    }

    /// Extracts from text that came from `origin`: OCR text gets lost decimal points back.
    pub fn extract_lines(&self, text: &str, origin: TextOrigin) -> ExtractedReport {
        let mut dates = Dates::default();
        let results = self.read_lines(text, origin, &mut dates);
        let (report_date, issued) = dates.finish();
        ExtractedReport {
            report_date,
            issued,
            results,
        }
    }

    fn read_lines(
        &self,
        text: &str,
        origin: TextOrigin,
        dates: &mut Dates,
    ) -> Vec<ExtractedResult> {
        let mut results = Vec::new();
        for raw in text.lines() {
            let line = clean_line(raw);
            if line.trim().is_empty() {
                continue;
            }
            if !values::dates(&line).is_empty() {
                dates.offer_line(&line);
                continue;
            }
            if let Some((mut result, range)) = self.result_line(&line) {
                if origin == TextOrigin::Ocr {
                    restore_decimal_point(&mut result, range.as_ref());
                    garbled_unit_in_name(&mut result);
                }
                results.push(result);
            }
        }
        results
    }

    /// One result from one cleaned line, if it is a result line.
    /// The result and its range as printed.
    fn result_line(&self, line: &str) -> Option<(ExtractedResult, Option<values::Range>)> {
        let mut candidates: Vec<(String, Tail, f64)> = Vec::new();
        if let Some((name, rest)) = colon_split(line)
            && let Some(tail) = tail(&rest)
        {
            candidates.push((name, tail, 1.0));
        }
        let cells: Vec<&str> = cell_separator()
            .split(line.trim())
            .filter(|cell| !cell.trim().is_empty())
            .collect();
        if cells.len() >= 2
            && let Some(tail) = tail(&cells[1..].join(" "))
        {
            candidates.push((cells[0].trim().to_owned(), tail, 1.0));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for split in 1..words.len() {
            if let Some(tail) = tail(&words[split..].join(" "))
                && tail.clean
            {
                candidates.push((words[..split].join(" "), tail, 0.95));
                break;
            }
        }
        let (name, tail, factor) = candidates
            .into_iter()
            .filter(|(name, _, _)| plausible_name(name))
            .max_by(|a, b| {
                let score = |c: &(String, Tail, f64)| (u8::from(c.1.clean), c.2 >= 1.0);
                score(a).cmp(&score(b)).then(std::cmp::Ordering::Greater)
            })?;
        self.finish(&name, tail, factor, false)
    }

    /// The result of a name and the tail read after it; `factor` scales the confidence
    /// (how well the line fit its reading). With `strict`, an unknown test needs both a unit
    /// and a range. A derived value (`(calc)`, a ratio, `estimated`) is kept only when its
    /// name is a known test, and then flagged calculated.
    fn finish(
        &self,
        name: &str,
        mut tail: Tail,
        factor: f64,
        strict: bool,
    ) -> Option<(ExtractedResult, Option<values::Range>)> {
        let mut name = self.roman_one(name).unwrap_or_else(|| tidy_name(name));
        // A unit printed with the name (`eAG (mg/dL)`, `Glucose (mg/dL)`).
        if tail.unit.is_none()
            && let Some((bare, unit, ucum_unit)) = unit_in_name(&name)
        {
            name = bare;
            tail.unit = Some(unit);
            tail.ucum = Some(ucum_unit);
        }
        let derived = derived_name(&name);
        if derived {
            // `(calc)` marks the value, it is not part of the test's name (`CALC` would
            // otherwise read as calcitonin).
            name = strip_derived_marker(&name);
        }
        let mut known = self
            .table
            .lookup(&name, tail.ucum.as_deref())
            .filter(|m| m.kind != MatchKind::Fuzzy || m.confidence >= 0.7);
        let mut trimmed = false;
        if known.is_none()
            && (tail.unit.is_some() || tail.range.is_some())
            && let Some((prefix, found)) = self.known_prefix(&name, tail.ucum.as_deref())
        {
            // OCR noise after the name (leader dots read as letters): keep the known part.
            name = prefix;
            known = Some(found);
            trimmed = true;
        }
        if known.is_none() {
            let letters = name.chars().filter(|c| c.is_alphabetic()).count();
            if derived
                || letters < 2
                || (tail.unit.is_none() && tail.range.is_none())
                || (strict && (tail.unit.is_none() || tail.range.is_none()))
            {
                return None;
            }
        }
        let calculated = derived
            || known
                .as_ref()
                .and_then(|m| self.table.entry(&m.code))
                .is_some_and(|entry| calculated_display(&entry.display));
        let mut confidence = 0.97 * factor;
        if !tail.clean {
            confidence -= 0.25;
        }
        if tail.repaired {
            confidence -= 0.1;
        }
        if tail.noise {
            confidence -= 0.1;
        }
        if trimmed {
            confidence -= 0.1;
        }
        if tail.number.is_some() && tail.unit.is_none() && !unitless(known.as_ref()) {
            confidence -= 0.1;
        }
        if tail.range.is_none() {
            confidence -= 0.05;
        }
        if name.chars().any(|c| c.is_ascii_digit()) && known.is_none() {
            confidence -= 0.1;
        }
        let range = tail.range;
        let result = ExtractedResult {
            name,
            value_text: tail.value_text,
            value: tail.number.as_ref().map(|n| n.value),
            comparator: tail
                .number
                .as_ref()
                .and_then(|n| n.comparator.map(str::to_owned)),
            unit: tail.unit,
            range_low: range.as_ref().and_then(|r| r.low),
            range_high: range.as_ref().and_then(|r| r.high),
            range_text: range
                .as_ref()
                .and_then(|r| r.text.clone())
                .or(tail.range_words),
            flag: tail.flag,
            confidence: confidence.clamp(0.0, 1.0),
            calculated,
        };
        Some((result, range))
    }
}

impl RuleExtractor {
    /// The longest run of `name`'s words that is a known test name, after at most two short
    /// leading specks (`3 Uric Acid`, `; Iron`) and before any trailing noise.
    fn known_prefix(&self, name: &str, ucum_unit: Option<&str>) -> Option<(String, LoincMatch)> {
        let all: Vec<&str> = name.split_whitespace().collect();
        let skippable = all
            .iter()
            .take(2)
            .take_while(|word| word.chars().count() <= 2)
            .count();
        (0..=skippable).find_map(|skip| {
            let words = &all[skip..];
            let longest = if skip == 0 {
                words.len().saturating_sub(1)
            } else {
                words.len()
            };
            (1..=longest)
                .rev()
                .find_map(|length| self.known_name(&words[..length], ucum_unit))
        })
    }

    /// A name ending in a lone `|`, `l`, `1` or `!` that OCR made of a Roman one, when the
    /// name with `I` is a known test by name (`Troponin |` → `Troponin I`, not the shorter
    /// `Troponin`, which would take another code). A table border stays trimmed otherwise.
    fn roman_one(&self, name: &str) -> Option<String> {
        let (stem, last) = name.trim().rsplit_once(char::is_whitespace)?;
        if !matches!(last, "|" | "l" | "1" | "!") {
            return None;
        }
        let candidate = format!("{} I", tidy_name(stem));
        self.table
            .lookup(&candidate, None)
            .filter(|m| m.kind != MatchKind::Fuzzy)
            .map(|_| candidate)
    }

    /// `first second` when that is a test's name and `second` alone is not (the rest of a
    /// long name wrapped onto the next line, `Thyroid Stimulating` + `Hormone`), and `first`
    /// alone is not one either or only by a fuzzy match.
    fn continued(&self, first: &str, second: &str) -> Option<String> {
        let exact = |name: &str| {
            self.table
                .lookup(&tidy_name(name), None)
                .is_some_and(|m| m.kind != MatchKind::Fuzzy)
        };
        let whole = tidy_name(&format!("{first} {second}"));
        (exact(&whole) && !exact(first) && !exact(second)).then_some(whole)
    }

    fn known_name(&self, words: &[&str], ucum_unit: Option<&str>) -> Option<(String, LoincMatch)> {
        let name = tidy_name(&words.join(" "));
        let letters = name.chars().filter(|c| c.is_alphanumeric()).count();
        if letters < 2 {
            return None;
        }
        self.table
            .lookup(&name, ucum_unit)
            .filter(|m| m.kind != MatchKind::Fuzzy || m.confidence >= 0.75)
            .map(|found| (name, found))
    }
}

/// OCR often loses a decimal point (`61.5` read as `615`, `5.6` as `56`, `0.4` as `04`).
/// Labs print a value with the decimals of its reference range, so a whole number beside a
/// range printed with decimals, which is plausible for that range with the range's decimals
/// restored, is read that way (a number with a leading zero has lost the point after it) — at
/// a confidence low enough that a person confirms it. A range whose lower bound has a leading
/// zero (`05-25`) lost its points first: both bounds are read with the lower one's decimals
/// (`0.5-2.5`), when that keeps the range in order.
fn restore_decimal_point(result: &mut ExtractedResult, range: Option<&values::Range>) {
    let mut decimals = range.map_or(0, |range| range.decimals);
    if let Some(restored) = range.and_then(range_without_points) {
        (result.range_low, result.range_high) = (Some(restored.0), Some(restored.1));
        decimals = restored.2;
        result.confidence = result.confidence.min(0.6);
    }
    let Some(value) = result.value else {
        return;
    };
    if result.comparator.is_some() || result.value_text.contains(['.', ',']) {
        return;
    }
    let digits = result.value_text.trim_start_matches('-');
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return;
    }
    let decimals = if digits.len() >= 2 && digits.starts_with('0') {
        // No lab prints a leading zero before a whole number: `04` is `0.4`, whatever the
        // range (often read the same way, `05-25`).
        digits.len() - 1
    } else {
        let (Some(low), Some(high)) = (result.range_low, result.range_high) else {
            return;
        };
        // A value is printed with its range's decimals: a whole number beside a range
        // printed with decimals has lost its point when the point makes it plausible (at
        // least a sixth of the lower bound, at most six times the upper one).
        let plausible = |v: f64| v >= low / 6.0 && v <= high * 6.0;
        if decimals == 0
            || digits.len() <= decimals
            || !plausible(value / 10f64.powi(decimals as i32))
        {
            return;
        }
        decimals
    };
    let restored = value / 10f64.powi(decimals as i32);
    let split = result.value_text.len() - decimals;
    result.value_text = format!(
        "{}.{}",
        &result.value_text[..split],
        &result.value_text[split..]
    );
    result.value = Some(restored);
    result.confidence = result.confidence.min(0.6);
}

/// `05-25` → (0.5, 2.5, 1 decimal): the bounds of a two-sided range whose lower bound is printed
/// with a leading zero and no point (no lab prints `05`), both read with that bound's decimals,
/// when the upper bound is a whole number with more digits and the range stays in order.
fn range_without_points(range: &values::Range) -> Option<(f64, f64, usize)> {
    let (Some(low), Some(high)) = (&range.printed.0, &range.printed.1) else {
        return None;
    };
    let whole = |text: &str| !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
    if !whole(low) || !whole(high) || low.len() < 2 || !low.starts_with('0') {
        return None;
    }
    let decimals = low.len() - 1;
    if high.len() <= decimals {
        return None;
    }
    let scale = 10f64.powi(decimals as i32);
    let (low, high) = (
        low.parse::<f64>().ok()? / scale,
        high.parse::<f64>().ok()? / scale,
    );
    (low < high).then_some((low, high, decimals))
}

/// OCR only: a unit printed with the name that OCR garbled (`TIBC (meg/dt)`, `MCH (P9)`) is
/// the unit as read, not part of the name; the mapping repairs it or questions it.
fn garbled_unit_in_name(result: &mut ExtractedResult) {
    if result.unit.is_some() {
        return;
    }
    let Some(open) = result.name.rfind('(') else {
        return;
    };
    let Some(inner) = result.name[open + 1..].strip_suffix(')') else {
        return;
    };
    let (inner, bare) = (inner.trim(), result.name[..open].trim());
    if bare.is_empty()
        || inner.is_empty()
        || inner.len() > 10
        || inner.contains(char::is_whitespace)
        || !inner
            .chars()
            .any(|c| c == '/' || c == '%' || c.is_ascii_digit())
        || LoincTable::builtin()
            .lookup(inner, None)
            .is_some_and(|m| m.kind != MatchKind::Fuzzy)
    {
        return;
    }
    result.unit = Some(inner.to_owned());
    result.name = bare.to_owned();
}

/// Whether a test is reported without a unit (pH, specific gravity, INR, ratios).
fn unitless(known: Option<&crate::loinc::LoincMatch>) -> bool {
    known
        .and_then(|known| LoincTable::builtin().entry(&known.code))
        .is_some_and(|entry| entry.unit.is_none() || entry.is_dimensionless())
}

/// The part of a line after the name.
#[derive(Debug)]
struct Tail {
    value_text: String,
    number: Option<Number>,
    unit: Option<String>,
    ucum: Option<String>,
    range: Option<values::Range>,
    range_words: Option<String>,
    flag: Option<String>,
    repaired: bool,
    /// Everything after the value was understood.
    clean: bool,
    /// Stray characters were ignored.
    noise: bool,
}

/// Reads "value [unit] [range] [flag]" in any order after the value.
fn tail(text: &str) -> Option<Tail> {
    let text = text.trim();
    let (value_text, number, mut flag, rest) = value_prefix(text)?;
    let mut rest = format!(" {rest} ");
    let range = values::range(&rest);
    if let Some(range) = &range {
        rest.replace_range(range.span.0..range.span.1, " ");
    }
    if flag.is_none()
        && let Some((word, (start, end))) = values::flag(&rest)
    {
        flag = Some(word);
        rest.replace_range(start..end, " ");
    }
    let leftover = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let leftover = leftover
        .trim_matches(|c: char| c == '(' || c == ')' || c == ':' || c == ',' || c == '-')
        .trim();
    let mut range_words = None;
    let mut noise = false;
    let first_word = leftover.split_whitespace().next().unwrap_or_default();
    let (unit, ucum_unit, clean) = if leftover.is_empty() {
        (None, None, true)
    } else if let Some(ucum_unit) = ucum::normalize(leftover) {
        (Some(leftover.to_owned()), Some(ucum_unit), true)
    } else if let Some(ucum_unit) = ucum::normalize(first_word).filter(|_| {
        // A unit followed by a stray letter or two (`% i`).
        leftover[first_word.len()..]
            .split_whitespace()
            .all(|junk| junk.chars().count() <= 2)
    }) {
        noise = true;
        (Some(first_word.to_owned()), Some(ucum_unit), true)
    } else if let Some((unit, ucum_unit)) = trimmed_unit(first_word) {
        // A unit with a stray letter or two glued on (`ng/dlb`).
        noise = true;
        (Some(unit.to_owned()), Some(ucum_unit), true)
    } else if let Some(words) = values::qualitative(
        leftover
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .trim_start_matches("Ref:")
            .trim(),
    ) {
        range_words = Some(words.to_owned());
        (None, None, true)
    } else {
        // Something unit-like but unknown: keep it as printed, mark the line unclean.
        let unit_like = leftover.len() <= 16
            && !leftover.contains(' ')
            && leftover.chars().any(|c| c.is_alphabetic() || c == '%');
        (unit_like.then(|| leftover.to_owned()), None, false)
    };
    let repaired = number.as_ref().is_some_and(|n| n.repaired);
    Some(Tail {
        value_text,
        number,
        unit,
        ucum: ucum_unit,
        range,
        range_words,
        flag,
        repaired,
        clean,
        noise,
    })
}

/// The value at the start of `text`: its text, number, an attached flag and the rest.
fn value_prefix(text: &str) -> Option<(String, Option<Number>, Option<String>, String)> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    let mut rest: Vec<&str> = words.collect();
    // `< 0.01`: comparator and number as two words.
    let first_owned;
    let first = if matches!(first, "<" | ">" | "<=" | ">=" | "≤" | "≥") && !rest.is_empty() {
        first_owned = format!("{first}{}", rest.remove(0));
        first_owned.as_str()
    } else {
        first
    };
    // `.1.3` (a speck before the number).
    let first = match first.strip_prefix(['.', ',']) {
        Some(stripped) if stripped.contains(['.', ',']) => stripped,
        _ => first,
    };
    if let Some(number) = values::number(first) {
        return Some((number.text.clone(), Some(number), None, rest.join(" ")));
    }
    // A unit glued to the number (`61.5%`, `2.80K/uL`).
    if let Some((number, unit)) = glued_unit(first) {
        let rest = std::iter::once(unit)
            .chain(rest)
            .collect::<Vec<_>>()
            .join(" ");
        return Some((number.text.clone(), Some(number), None, rest));
    }
    if let Some((value, attached)) = values::trailing_flag(first)
        && let Some(number) = values::number(value)
    {
        return Some((
            number.text.clone(),
            Some(number),
            Some(attached.to_owned()),
            rest.join(" "),
        ));
    }
    // Qualitative values of one or two words.
    if !rest.is_empty() {
        let two = format!("{first} {}", rest[0]);
        if let Some(word) = values::qualitative(&two) {
            return Some((word.to_owned(), None, None, rest[1..].join(" ")));
        }
    }
    values::qualitative(first).map(|word| (word.to_owned(), None, None, rest.join(" ")))
}

/// `ng/dlb` → `ng/dl`: a unit once one or two stray trailing letters are dropped.
fn trimmed_unit(word: &str) -> Option<(&str, String)> {
    if !word.contains('/') {
        return None;
    }
    (1..=2).find_map(|cut| {
        let end = word.char_indices().rev().nth(cut - 1)?.0;
        let unit = &word[..end];
        ucum::normalize(unit).map(|ucum_unit| (unit, ucum_unit))
    })
}

/// `61.5%` → (61.5, `%`), when the tail is a unit.
fn glued_unit(token: &str) -> Option<(Number, &str)> {
    let split = token
        .char_indices()
        .find(|(index, c)| {
            *index > 0 && !(c.is_ascii_digit() || matches!(c, '.' | ',' | '<' | '>' | '='))
        })
        .map(|(index, _)| index)?;
    let (number, unit) = token.split_at(split);
    let number = values::number(number)?;
    ucum::normalize(unit).map(|_| (number, unit))
}

/// `Name: rest` when the part before the first colon reads as a test name.
fn colon_split(line: &str) -> Option<(String, String)> {
    let (name, rest) = line.split_once(':')?;
    let name = name.trim();
    if name.is_empty() || name.len() > 60 || rest.trim().is_empty() {
        return None;
    }
    Some((name.to_owned(), rest.trim().to_owned()))
}

fn cell_separator() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\s{2,}").expect("invariant: valid regex"))
}

fn plausible_name(name: &str) -> bool {
    let letters = name.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 1 || name.len() > 70 {
        return false;
    }
    let key = normalize_name(name);
    let first = key.split(' ').next().unwrap_or_default();
    !NOT_RESULTS.contains(&first) && !NOT_RESULTS.contains(&key.as_str())
}

/// Trailing punctuation, a footnote marker and a leading bullet or asterisk off the name.
fn tidy_name(name: &str) -> String {
    strip_footnotes(name.trim())
        .trim()
        .trim_start_matches(['*', '-', '•', '>', '#'])
        .trim_end_matches([':', '.', ',', '-', '*', '|', ';', '_'])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Name (unit)` → (`Name`, `unit`, its UCUM form), when the parentheses hold a unit.
fn unit_in_name(name: &str) -> Option<(String, String, String)> {
    let open = name.rfind('(')?;
    let inner = name[open + 1..].strip_suffix(')')?.trim();
    let ucum_unit = ucum::normalize(inner)?;
    let bare = name[..open].trim();
    (!bare.is_empty()).then(|| (bare.to_owned(), inner.to_owned(), ucum_unit))
}

/// Whether a printed name marks a derived value: `(calc)`, `calculated`, `estimated`, a
/// ratio.
fn derived_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.split(|c: char| !c.is_alphanumeric()).any(|word| {
        matches!(
            word,
            "calc" | "calculated" | "estimated" | "ratio" | "derived"
        )
    })
}

/// `Name (calc)` → `Name`.
fn strip_derived_marker(name: &str) -> String {
    let lower = name.to_lowercase();
    for marker in [
        "(calculated)",
        "(calc.)",
        "(calc)",
        ", calculated",
        " calculated",
        " calc",
    ] {
        if let Some(at) = lower.rfind(marker) {
            let mut bare = name.to_owned();
            bare.replace_range(at..at + marker.len(), "");
            return tidy_name(&bare);
        }
    }
    name.to_owned()
}

/// Whether a LOINC display names a calculated quantity (`Estimated from`, `predicted`,
/// `calculated`).
fn calculated_display(display: &str) -> bool {
    let lower = display.to_lowercase();
    lower.contains("estimated") || lower.contains("predicted") || lower.contains("calculated")
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod variety;
