//! Stage 3: test names to LOINC, units to UCUM.
//!
//! The table (`data/loinc.tsv`, embedded at build time) lists common laboratory tests with
//! their LOINC code, long common name, abbreviations, synonyms and UCUM unit. A printed name is
//! matched in three steps: the table's names (ignoring case, punctuation and spacing), then
//! abbreviations and synonyms, then the closest name by Jaro–Winkler similarity. Each step is
//! tried on the name as printed and on an OCR-folded form (`0`→`o`, `1`/`|`→`l`, `5`→`s`), and
//! on the name with a parenthesised part removed (`Hemoglobin (HGB)`). When several rows share
//! a name (glucose in mg/dL and in mmol/L; neutrophils in % and per volume) the printed unit
//! picks the row whose unit has the same dimension; without a unit the first row wins.

pub mod ucum;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How a name was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The table's name, ignoring case and punctuation.
    Exact,
    /// A listed abbreviation or synonym.
    Synonym,
    /// Closest name by string similarity.
    Fuzzy,
}

/// A LOINC code for a printed test name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoincMatch {
    /// The LOINC code (`718-7`).
    pub code: String,
    /// The LOINC display (`Hemoglobin [Mass/volume] in Blood`).
    pub display: String,
    /// How it was matched.
    pub kind: MatchKind,
    /// Confidence, 0–1.
    pub confidence: f64,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct LoincEntry {
    /// The LOINC code.
    pub code: String,
    /// The LOINC long common name.
    pub display: String,
    /// Abbreviations as printed on reports (`HGB`, `ALT`).
    pub abbreviations: Vec<String>,
    /// Other names (`Haemoglobin`, `SGPT`).
    pub synonyms: Vec<String>,
    /// The usual UCUM unit; `None` for qualitative tests.
    pub unit: Option<String>,
    /// Units the test is printed with, as printed (`K/uL`, `x10^9/L`).
    pub printed_units: Vec<String>,
    /// The UCUM forms of `printed_units`.
    pub units: Vec<String>,
}

impl LoincEntry {
    /// Whether a UCUM unit can express this test (listed, or of the same dimension).
    pub fn fits(&self, ucum_unit: &str) -> bool {
        self.unit.is_none() || self.unit_fit(ucum_unit) > 0
    }

    /// The unit to record for a printed unit (UCUM): the test's usual unit when the two have
    /// the same magnitude by definition — `meq/L` for the monovalent ions that list it, the
    /// enzyme `[IU]/L` for tests counted in `U/L` — otherwise the printed unit.
    pub fn preferred_unit(&self, ucum_unit: &str) -> String {
        let usual = self.unit.as_deref().unwrap_or_default();
        let same = match (ucum_unit, usual) {
            ("meq/L", "mmol/L") => self.units.iter().any(|unit| unit == "meq/L"),
            ("[IU]/L", "U/L") => true,
            _ => false,
        };
        if same {
            usual.to_owned()
        } else {
            ucum_unit.to_owned()
        }
    }

    /// A reading of a unit that OCR may have garbled (`mol/L` for µmol/L, `pmol/L` for µmol/L,
    /// `U/mL` for µIU/mL, `mg/(24.h)` for mg/dL, `ng` for ng/dL) that this test is listed with,
    /// when `ucum_unit` itself is not listed.
    pub fn repaired_unit(&self, ucum_unit: &str) -> Option<String> {
        let listed =
            |unit: &str| self.unit.as_deref() == Some(unit) || self.units.iter().any(|u| u == unit);
        if self.unit.is_none() || listed(ucum_unit) {
            return None;
        }
        let mut candidates = vec![format!("u{ucum_unit}")];
        if let Some(rest) = ucum_unit.strip_prefix('p') {
            candidates.push(format!("u{rest}"));
        }
        if let Some(rest) = ucum_unit.strip_prefix('u') {
            candidates.push(format!("p{rest}"));
        }
        if let Some(rest) = ucum_unit.strip_prefix("U/") {
            candidates.push(format!("u[IU]/{rest}"));
            candidates.push(format!("m[IU]/{rest}"));
        }
        if let Some(stem) = ucum_unit.strip_suffix("/(24.h)") {
            candidates.push(format!("{stem}/dL"));
        }
        if !ucum_unit.contains('/') {
            for volume in ["dL", "mL", "L"] {
                candidates.push(format!("{ucum_unit}/{volume}"));
            }
        }
        candidates.into_iter().find(|candidate| listed(candidate))
    }

    /// Whether the test's usual unit is dimensionless (pH, specific gravity, INR, ratios).
    pub fn is_dimensionless(&self) -> bool {
        matches!(
            self.unit.as_deref(),
            Some("[pH]" | "1" | "{ratio}" | "{INR}" | "{titer}")
        )
    }

    /// How well a printed unit (already UCUM) fits this row: 2 listed, 1 same dimension, 0 not.
    fn unit_fit(&self, ucum_unit: &str) -> u8 {
        let listed = self.unit.as_deref() == Some(ucum_unit)
            || self.units.iter().any(|unit| unit == ucum_unit);
        if listed {
            return 2;
        }
        match &self.unit {
            Some(unit) if ucum::dimension(unit) == ucum::dimension(ucum_unit) => 1,
            _ => 0,
        }
    }
}

/// The table with its name indexes.
#[derive(Debug)]
pub struct LoincTable {
    entries: Vec<LoincEntry>,
    /// Normalised name → rows, in table order, with how the name is listed.
    by_name: HashMap<String, Vec<(usize, MatchKind)>>,
    /// OCR-folded name → rows.
    by_folded: HashMap<String, Vec<(usize, MatchKind)>>,
    /// Every normalised name of at least 4 characters, for fuzzy matching.
    names: Vec<FuzzyName>,
    /// Per row: the other rows of the same analyte (sharing the common name).
    siblings: Vec<Vec<usize>>,
}

/// A name prepared for fuzzy matching.
#[derive(Debug)]
struct FuzzyName {
    key: String,
    folded: String,
    index: usize,
}

/// Below this Jaro–Winkler similarity a fuzzy candidate is not a match.
const FUZZY_FLOOR: f64 = 0.88;

impl LoincTable {
    /// The table shipped with the crate.
    pub fn builtin() -> &'static LoincTable {
        static TABLE: OnceLock<LoincTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            LoincTable::parse(include_str!("../../data/loinc.tsv"))
                .expect("invariant: the embedded LOINC table parses (checked by a unit test)")
        })
    }

    /// Parses the tab-separated table format of `data/loinc.tsv`.
    pub fn parse(text: &str) -> Result<LoincTable, String> {
        let mut entries = Vec::new();
        let mut unknown_units = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let columns: Vec<&str> = line.split('\t').collect();
            let [code, display, abbreviations, synonyms, unit, units] = columns[..] else {
                return Err(format!("line {}: expected 6 columns", number + 1));
            };
            if !is_loinc_code(code) {
                return Err(format!("line {}: `{code}` is not a LOINC code", number + 1));
            }
            let list = |column: &str| -> Vec<String> {
                column
                    .split('|')
                    .map(str::trim)
                    .filter(|item| !item.is_empty() && *item != "-")
                    .map(str::to_owned)
                    .collect()
            };
            let printed_units = list(units);
            let mut ucum_units: Vec<String> = Vec::new();
            for printed in &printed_units {
                let Some(ucum_unit) = ucum::normalize(printed) else {
                    unknown_units.push(format!("line {}: `{printed}`", number + 1));
                    continue;
                };
                if !ucum_units.contains(&ucum_unit) {
                    ucum_units.push(ucum_unit);
                }
            }
            entries.push(LoincEntry {
                code: code.to_owned(),
                display: display.to_owned(),
                abbreviations: list(abbreviations),
                synonyms: list(synonyms),
                unit: (unit != "-").then(|| unit.to_owned()),
                printed_units,
                units: ucum_units,
            });
        }
        if !unknown_units.is_empty() {
            return Err(format!("unknown units: {}", unknown_units.join(", ")));
        }
        Ok(LoincTable::index(entries))
    }

    fn index(entries: Vec<LoincEntry>) -> LoincTable {
        let mut by_name: HashMap<String, Vec<(usize, MatchKind)>> = HashMap::new();
        let mut by_folded: HashMap<String, Vec<(usize, MatchKind)>> = HashMap::new();
        let mut names = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let exact = std::iter::once(&entry.display)
                .chain(entry.synonyms.first())
                .map(|name| (name, MatchKind::Exact));
            let other = entry
                .synonyms
                .iter()
                .skip(1)
                .chain(&entry.abbreviations)
                .map(|name| (name, MatchKind::Synonym));
            for (name, kind) in exact.chain(other) {
                let key = normalize_name(name);
                if key.is_empty() {
                    continue;
                }
                for (map, key) in [
                    (&mut by_name, key.clone()),
                    (&mut by_folded, fold_ocr(&key)),
                ] {
                    let rows = map.entry(key).or_default();
                    if !rows.iter().any(|(row, _)| *row == index) {
                        rows.push((index, kind));
                    }
                }
                if key.len() >= 4
                    && !names
                        .iter()
                        .any(|n: &FuzzyName| n.key == key && n.index == index)
                {
                    names.push(FuzzyName {
                        folded: fold_ocr(&key),
                        key,
                        index,
                    });
                }
            }
        }
        let mut by_common: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            if let Some(common) = entry.synonyms.first() {
                by_common
                    .entry(normalize_name(common))
                    .or_default()
                    .push(index);
            }
        }
        let mut siblings = vec![Vec::new(); entries.len()];
        for rows in by_common.values() {
            for &row in rows {
                siblings[row] = rows.iter().copied().filter(|&other| other != row).collect();
            }
        }
        LoincTable {
            entries,
            by_name,
            by_folded,
            names,
            siblings,
        }
    }

    /// Whether two codes name the same analyte: the same code, or rows sharing their common
    /// name (the mass and the molar glucose codes).
    pub fn same_analyte(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        let position = |code: &str| self.entries.iter().position(|entry| entry.code == code);
        match (position(a), position(b)) {
            (Some(a), Some(b)) => self.siblings[a].contains(&b),
            _ => false,
        }
    }

    /// All rows.
    pub fn entries(&self) -> &[LoincEntry] {
        &self.entries
    }

    /// The row of `code`.
    pub fn entry(&self, code: &str) -> Option<&LoincEntry> {
        self.entries.iter().find(|entry| entry.code == code)
    }

    /// The LOINC code of a printed test name, using the printed unit (already UCUM) to choose
    /// between rows that share the name.
    pub fn lookup(&self, printed_name: &str, ucum_unit: Option<&str>) -> Option<LoincMatch> {
        let (index, kind, confidence) = self.best(printed_name, ucum_unit)?;
        let entry = &self.entries[index];
        Some(LoincMatch {
            code: entry.code.clone(),
            display: entry.display.clone(),
            kind,
            confidence,
        })
    }

    /// The table row behind [`LoincTable::lookup`].
    pub fn lookup_entry(&self, printed_name: &str, ucum_unit: Option<&str>) -> Option<&LoincEntry> {
        self.best(printed_name, ucum_unit)
            .map(|(index, _, _)| &self.entries[index])
    }

    fn best(&self, printed_name: &str, ucum_unit: Option<&str>) -> Option<(usize, MatchKind, f64)> {
        let key = normalize_name(printed_name);
        if key.is_empty() {
            return None;
        }
        let mut variants = vec![(key.clone(), 1.0)];
        if let Some(stripped) = without_parenthesised(printed_name) {
            variants.push((normalize_name(&stripped), 0.97));
        }
        if let Some(inner) = parenthesised(printed_name) {
            variants.push((normalize_name(&inner), 0.93));
        }
        for (variant, factor) in &variants {
            if variant.is_empty() {
                continue;
            }
            if let Some(rows) = self.by_name.get(variant) {
                let (index, kind, fit) = self.choose(rows, ucum_unit);
                return Some((index, kind, factor * base_confidence(kind) * fit));
            }
            if let Some(rows) = self.by_folded.get(&fold_ocr(variant)) {
                let (index, kind, fit) = self.choose(rows, ucum_unit);
                return Some((index, kind, factor * 0.92 * base_confidence(kind) * fit));
            }
        }
        self.fuzzy(&key, ucum_unit)
    }

    /// The row among `rows` (all named alike) that fits the unit best; the factor lowers the
    /// confidence when the unit fits none of them.
    fn choose(
        &self,
        rows: &[(usize, MatchKind)],
        ucum_unit: Option<&str>,
    ) -> (usize, MatchKind, f64) {
        let first = rows[0];
        let Some(unit) = ucum_unit else {
            return (first.0, first.1, 1.0);
        };
        let mut best = (first, 0u8);
        for &row in rows {
            let fit = self.entries[row.0].unit_fit(unit);
            if fit > best.1 {
                best = (row, fit);
            }
        }
        if best.1 == 0 {
            // A name listed on one row only: a sibling of the same analyte may fit the unit
            // (`VIT B12` in pmol/L is the molar B12 code).
            for &sibling in &self.siblings[best.0.0] {
                let fit = self.entries[sibling].unit_fit(unit);
                if fit > best.1 {
                    best = ((sibling, best.0.1), fit);
                }
            }
        }
        let factor = match (best.1, self.entries[best.0.0].unit.is_some()) {
            (0, true) => 0.8,
            _ => 1.0,
        };
        (best.0.0, best.0.1, factor)
    }

    fn fuzzy(&self, key: &str, ucum_unit: Option<&str>) -> Option<(usize, MatchKind, f64)> {
        if key.len() < 4 {
            return None;
        }
        let folded = fold_ocr(key);
        let key_words = key.split(' ').count();
        let mut best: Option<(f64, usize)> = None;
        for name in &self.names {
            // Names of very different lengths are never close enough.
            let (a, b) = (key.len(), name.key.len());
            if a.abs_diff(b) * 2 > a.max(b) {
                continue;
            }
            let mut score = strsim::jaro_winkler(key, &name.key)
                .max(strsim::jaro_winkler(&folded, &name.folded) * 0.98);
            if key_words > 1 || name.key.contains(' ') {
                score = score.max(token_similarity(key, &name.key));
            }
            let index = name.index;
            let better = match best {
                None => true,
                Some((best_score, best_index)) => {
                    score > best_score + 1e-9
                        || ((score - best_score).abs() <= 1e-9
                            && self.unit_preferred(index, best_index, ucum_unit))
                }
            };
            if better {
                best = Some((score, index));
            }
        }
        let (score, index) = best?;
        if score < FUZZY_FLOOR {
            return None;
        }
        let unit_factor = match ucum_unit {
            Some(unit)
                if self.entries[index].unit.is_some()
                    && self.entries[index].unit_fit(unit) == 0 =>
            {
                0.8
            }
            _ => 1.0,
        };
        // 0.88 similarity → 0.55 confidence, 1.0 → 0.85: a fuzzy match is never certain.
        let confidence = 0.55 + (score - FUZZY_FLOOR) / (1.0 - FUZZY_FLOOR) * 0.30;
        Some((index, MatchKind::Fuzzy, confidence * unit_factor))
    }

    fn unit_preferred(&self, candidate: usize, current: usize, ucum_unit: Option<&str>) -> bool {
        match ucum_unit {
            Some(unit) => {
                self.entries[candidate].unit_fit(unit) > self.entries[current].unit_fit(unit)
            }
            None => false,
        }
    }
}

fn base_confidence(kind: MatchKind) -> f64 {
    match kind {
        MatchKind::Exact => 1.0,
        MatchKind::Synonym => 0.97,
        MatchKind::Fuzzy => 0.8,
    }
}

fn is_loinc_code(code: &str) -> bool {
    let Some((number, check)) = code.split_once('-') else {
        return false;
    };
    !number.is_empty()
        && number.len() <= 7
        && number.bytes().all(|b| b.is_ascii_digit())
        && check.len() == 1
        && check.bytes().all(|b| b.is_ascii_digit())
        && loinc_check_digit(number) == check.as_bytes()[0] - b'0'
}

/// The LOINC mod-10 check digit (the Luhn variant LOINC uses).
fn loinc_check_digit(number: &str) -> u8 {
    let digits: Vec<u32> = number.bytes().map(|b| u32::from(b - b'0')).collect();
    let mut sum = 0;
    for (position, digit) in digits.iter().rev().enumerate() {
        if position % 2 == 0 {
            let doubled = digit * 2;
            sum += doubled / 10 + doubled % 10;
        } else {
            sum += digit;
        }
    }
    ((10 - sum % 10) % 10) as u8
}

/// Lower case, punctuation to spaces (keeping `%`, `#` and `+` as words), single spaces.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for character in name.chars() {
        let piece: Option<char> = match character {
            c if c.is_alphanumeric() => Some(c),
            '%' | '#' | '+' => Some(character),
            _ => None,
        };
        match piece {
            Some(c) => {
                let standalone = matches!(c, '%' | '#' | '+');
                if (pending_space || standalone) && !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                for lower in c.to_lowercase() {
                    out.push(match lower {
                        'æ' => 'a',
                        'é' | 'è' => 'e',
                        'ö' => 'o',
                        'ü' => 'u',
                        other => other,
                    });
                }
                pending_space = standalone;
            }
            None => pending_space = true,
        }
    }
    out.trim().to_owned()
}

/// OCR confusions folded to one letter, applied to both sides of a comparison.
fn fold_ocr(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' | '|' | '!' => 'l',
            '5' => 's',
            '8' => 'b',
            'e' => 'c',
            'q' => 'g',
            '4' => 'a',
            other => other,
        })
        .collect::<String>()
        .replace("rn", "m")
        .replace("vv", "w")
}

/// Token-set similarity: the share of words one name has in the other, by best word match.
fn token_similarity(a: &str, b: &str) -> f64 {
    let a_tokens: Vec<&str> = a.split(' ').collect();
    let b_tokens: Vec<&str> = b.split(' ').collect();
    if a_tokens.len() < 2 && b_tokens.len() < 2 {
        return 0.0;
    }
    let score = |from: &[&str], to: &[&str]| -> f64 {
        from.iter()
            .map(|word| {
                to.iter()
                    .map(|other| strsim::jaro_winkler(word, other))
                    .fold(0.0, f64::max)
            })
            .sum::<f64>()
            / from.len() as f64
    };
    // Both directions must agree, so `glucose` does not match `glucose fasting` fully.
    score(&a_tokens, &b_tokens).min(score(&b_tokens, &a_tokens)) * 0.97
}

fn parenthesised(name: &str) -> Option<String> {
    let open = name.find('(')?;
    let close = name[open..].find(')')? + open;
    let inner = name[open + 1..close].trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

fn without_parenthesised(name: &str) -> Option<String> {
    let open = name.find('(')?;
    let close = name[open..]
        .find(')')
        .map(|i| i + open)
        .unwrap_or(name.len() - 1);
    let mut out = String::new();
    out.push_str(&name[..open]);
    out.push(' ');
    out.push_str(name.get(close + 1..).unwrap_or_default());
    let out = out.trim().to_owned();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests;
