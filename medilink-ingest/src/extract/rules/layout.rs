//! Tables read from word positions (the PDF text layer's glyph boxes, tesseract's word boxes).
//!
//! Words become lines (same vertical centre) and lines become cells (a gap wider than about
//! an em). A line whose cells are column titles (`Test`, `Result`, `Flag`, `Units`,
//! `Reference Range` and their usual variants) is a table header: its cells' x-positions are
//! the columns, and a second `Test` title starts a second table beside the first (two-column
//! pages). Every later line — on this page and the next ones, until another header — has its
//! cells put in the column whose title starts at or before them, so the column order, a flag
//! in its own column or glued to the value (`112 H`), and units in their own column, in the
//! header (`Result (mg/dL)`) or beside the name (`eAG (mg/dL)`) are all read the same way. A
//! column titled as an earlier result (`Previous`, `Prior`, `Last`) is never read; a word with
//! dotted leaders inside (`Glucose.......112`) is two cells.
//!
//! Sections: a line with only a name is held for the next line (a result printed on two
//! lines, name above values) unless it is a section heading (`CHEMISTRY`); a long name wrapped
//! onto the next line, above or below the values, is joined when only the whole is a known
//! test's name; a name with a colon (`Deficiency: < 20 ng/mL`, `Comment: …`)
//! is a note, never a result; an unknown name needs both a unit and a range; a derived value
//! (`(calc)`, a ratio, `estimated`) is kept only with its own LOINC code, flagged calculated.
//! Dates are labelled by the text before them in their cell, else by the cell to their left,
//! else by the title above them (a row of labels over a row of dates).

use std::sync::OnceLock;

use regex::Regex;

use super::dates::{Dates, with_time};
use super::{RuleExtractor, clean_line, garbled_unit_in_name, restore_decimal_point, tail};
use crate::extract::{ExtractedResult, values};
use crate::loinc::ucum;
use crate::text::{TextOrigin, Word};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Test,
    Result,
    Flag,
    Unit,
    Range,
    /// An earlier result printed beside the current one (`Previous`, `Prior`, `Last`): read
    /// never, so it cannot be taken for the current value.
    Previous,
}

const ROLES: [Role; 6] = [
    Role::Test,
    Role::Result,
    Role::Flag,
    Role::Unit,
    Role::Range,
    Role::Previous,
];

/// Words on one line that belong together (gaps narrower than about an em).
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    x0: f64,
    x1: f64,
}

/// One line of cells, left to right.
#[derive(Debug, Clone)]
struct Line {
    cells: Vec<Cell>,
    top: f64,
    bottom: f64,
    em: f64,
}

#[derive(Debug, Clone)]
struct Column {
    role: Role,
    x0: f64,
}

/// One table: its columns, the x-range its cells start in, and a unit from its header.
#[derive(Debug, Clone)]
struct Table {
    columns: Vec<Column>,
    left: f64,
    right: f64,
    unit: Option<String>,
}

/// The tables in force (a table goes on over a page break until a new header).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    active: Vec<Table>,
}

/// Gaps wider than this many ems separate cells.
const CELL_GAP: f64 = 0.9;

fn lines(words: &[Word]) -> Vec<Line> {
    let mut grouped: Vec<(Vec<&Word>, f64, f64)> = Vec::new();
    for word in words {
        if word.text.trim().is_empty() {
            continue;
        }
        let center = (word.top + word.bottom) / 2.0;
        let em = word.size.max(1e-6);
        match grouped.last_mut() {
            Some((line, line_center, line_em))
                if (center - *line_center).abs() <= 0.5 * line_em.max(em) =>
            {
                line.push(word);
                *line_center =
                    (*line_center * (line.len() - 1) as f64 + center) / line.len() as f64;
                *line_em = line_em.max(em);
            }
            _ => grouped.push((vec![word], center, em)),
        }
    }
    grouped
        .into_iter()
        .map(|(mut words, _, _)| {
            words.sort_by(|a, b| a.x0.total_cmp(&b.x0));
            let mut sizes: Vec<f64> = words.iter().map(|w| w.size).collect();
            sizes.sort_by(f64::total_cmp);
            let em = sizes[sizes.len() / 2].max(1e-6);
            let mut cells: Vec<Cell> = Vec::new();
            for word in &words {
                match cells.last_mut() {
                    Some(cell) if word.x0 - cell.x1 <= CELL_GAP * em => {
                        cell.text.push(' ');
                        cell.text.push_str(&word.text);
                        cell.x1 = cell.x1.max(word.x1);
                    }
                    _ => cells.push(Cell {
                        text: word.text.clone(),
                        x0: word.x0,
                        x1: word.x1,
                    }),
                }
            }
            Line {
                cells: cells.into_iter().flat_map(split_leaders).collect(),
                top: words.iter().map(|w| w.top).fold(f64::INFINITY, f64::min),
                bottom: words
                    .iter()
                    .map(|w| w.bottom)
                    .fold(f64::NEG_INFINITY, f64::max),
                em,
            }
        })
        .collect()
}

/// A cell with dotted leaders inside (`Glucose.......112`, one word in a text layer) as the
/// cells on either side of them, placed by their share of the characters.
fn split_leaders(cell: Cell) -> Vec<Cell> {
    static LEADERS: OnceLock<Regex> = OnceLock::new();
    let leaders = LEADERS.get_or_init(|| {
        Regex::new(r"(?:\s*[._·…]){3,}\s*|\s*…+\s*").expect("invariant: valid regex")
    });
    let characters = cell.text.chars().count().max(1) as f64;
    let width = cell.x1 - cell.x0;
    let x_at =
        |byte: usize| cell.x0 + width * cell.text[..byte].chars().count() as f64 / characters;
    let mut parts = Vec::new();
    let mut start = 0;
    for found in leaders.find_iter(&cell.text) {
        parts.push((start, found.start()));
        start = found.end();
    }
    if parts.is_empty() {
        return vec![cell];
    }
    parts.push((start, cell.text.len()));
    parts
        .into_iter()
        .filter(|(from, to)| !cell.text[*from..*to].trim().is_empty())
        .map(|(from, to)| Cell {
            text: cell.text[from..to].trim().to_owned(),
            x0: x_at(from),
            x1: x_at(to),
        })
        .collect()
}

/// The role a column title names, and a unit printed in it (`Result (mg/dL)`).
fn role_of(title: &str) -> Option<(Role, Option<String>)> {
    let trimmed = title.trim();
    let mut base = trimmed;
    let mut unit = None;
    if let Some(open) = trimmed.find('(')
        && let Some(inner) = trimmed[open + 1..].strip_suffix(')')
        && ucum::normalize(inner.trim()).is_some()
    {
        unit = Some(inner.trim().to_owned());
        base = &trimmed[..open];
    }
    let text = base.to_lowercase();
    let text: String = text
        .chars()
        .map(|c| {
            if c == '.' || c == ':' || c == '_' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // `Previous Result`, `Prior (11/02/2026)`, `Last Value`: an earlier result.
    let first = text.split(' ').next().unwrap_or_default();
    if matches!(first, "previous" | "prior" | "last" | "earlier" | "old") {
        return Some((Role::Previous, None));
    }
    let role = match text.as_str() {
        "test" | "tests" | "test name" | "analyte" | "analytes" | "component" | "components"
        | "description" | "test description" | "examination" | "parameter" | "investigation"
        | "procedure" | "determination" => Role::Test,
        "result" | "results" | "value" | "your value" | "result value" | "observed value"
        | "measured value" | "finding" | "current result" | "current" | "current value"
        | "this result" | "today" => Role::Result,
        "flag" | "flags" | "abn" | "abnormal" | "abnormal flag" | "status" | "ind"
        | "indicator" | "h/l" | "alert" => Role::Flag,
        "unit" | "units" | "uom" | "unit of measure" => Role::Unit,
        "range"
        | "ref"
        | "reference"
        | "reference range"
        | "ref range"
        | "reference interval"
        | "ref interval"
        | "normal range"
        | "normal values"
        | "standard range"
        | "expected range"
        | "reference values"
        | "ref values"
        | "biological reference interval"
        | "reference ranges" => Role::Range,
        _ => return None,
    };
    Some((role, unit))
}

/// The tables a header line starts, if it is one.
fn header(line: &Line) -> Option<Vec<Table>> {
    let roles: Vec<Option<(Role, Option<String>)>> =
        line.cells.iter().map(|c| role_of(&c.text)).collect();
    let named = roles.iter().flatten().count();
    let has = |role: Role| roles.iter().flatten().any(|(r, _)| *r == role);
    if named < 3 || !has(Role::Test) || !has(Role::Result) || named * 10 < line.cells.len() * 7 {
        return None;
    }
    let mut tables: Vec<Table> = Vec::new();
    for (cell, role) in line.cells.iter().zip(roles) {
        let Some((role, unit)) = role else { continue };
        if role == Role::Test || tables.is_empty() {
            tables.push(Table {
                columns: Vec::new(),
                left: cell.x0 - 2.0 * line.em,
                right: f64::INFINITY,
                unit: None,
            });
        }
        if let Some(table) = tables.last_mut() {
            table.columns.push(Column { role, x0: cell.x0 });
            if role == Role::Result && unit.is_some() {
                table.unit = unit;
            }
        }
    }
    for index in 1..tables.len() {
        let start = tables[index].columns[0].x0 - 0.5 * line.em;
        tables[index - 1].right = start;
        tables[index].left = start;
    }
    Some(tables)
}

/// The column of a cell starting at `x0`: the last whose title starts at or before it.
fn column_of(table: &Table, x0: f64, em: f64) -> usize {
    table
        .columns
        .iter()
        .rposition(|column| x0 + 0.8 * em >= column.x0)
        .unwrap_or(0)
}

/// Offers the dates of `line` with their labels.
fn offer_dates(line: &Line, above: &[Line], dates: &mut Dates) {
    for (index, cell) in line.cells.iter().enumerate() {
        let mut label_start = 0;
        for (date, start, end) in values::dates(&cell.text) {
            let mut label = cell.text[label_start..start].to_owned();
            let (date, time) = with_time(date, &cell.text[end..]);
            label_start = end + time;
            if label.chars().filter(|c| c.is_alphabetic()).count() < 2 {
                let left = index
                    .checked_sub(1)
                    .and_then(|i| line.cells.get(i))
                    .filter(|c| values::dates(&c.text).is_empty());
                let over = above.iter().rev().take(2).find_map(|row| {
                    row.cells.iter().find(|c| {
                        c.x0 < cell.x1 && c.x1 > cell.x0 && values::dates(&c.text).is_empty()
                    })
                });
                if let Some(found) = left
                    .filter(|c| c.text.trim_end().ends_with(':'))
                    .or(over)
                    .or(left)
                {
                    label = found.text.clone();
                }
            }
            dates.offer(&label, date);
        }
    }
}

/// A result as read from its line, to read it again when its name goes on below.
#[derive(Debug, Clone)]
struct Read {
    /// Where the result is in the page's results.
    index: usize,
    name: String,
    tail_text: String,
    fit: f64,
    bottom: f64,
}

impl Read {
    /// The result of this line under `name`.
    fn again(
        &self,
        extractor: &RuleExtractor,
        name: &str,
        origin: TextOrigin,
    ) -> Option<ExtractedResult> {
        let tail = tail(&self.tail_text)?;
        let (mut result, range) = extractor.finish(name, tail, self.fit, true)?;
        if origin == TextOrigin::Ocr {
            restore_decimal_point(&mut result, range.as_ref());
            garbled_unit_in_name(&mut result);
        }
        Some(result)
    }
}

/// Section headings of lab reports (`CHEMISTRY`, `Hematology`): never a test's name, nor the
/// first line of one.
fn section(name: &str) -> bool {
    const SECTIONS: &[&str] = &[
        "chemistry",
        "clinical chemistry",
        "general chemistry",
        "hematology",
        "haematology",
        "immunology",
        "serology",
        "endocrinology",
        "urinalysis",
        "microbiology",
        "coagulation",
        "special chemistry",
        "biochemistry",
        "immunochemistry",
        "toxicology",
        "lipids",
        "electrolytes",
    ];
    let key = crate::loinc::normalize_name(name);
    SECTIONS.contains(&key.as_str())
}

/// The results of a page read as tables, or `None` when the page has no table (no header on
/// it and none in force from an earlier page): then it is read line by line.
pub(crate) fn read_page(
    extractor: &RuleExtractor,
    words: &[Word],
    origin: TextOrigin,
    tables: &mut Tables,
    dates: &mut Dates,
) -> Option<Vec<ExtractedResult>> {
    let lines = lines(words);
    if tables.active.is_empty() && !lines.iter().any(|line| header(line).is_some()) {
        return None;
    }
    let mut results = Vec::new();
    // Per table: a name printed alone on the line before, with the bottom of that line.
    let mut pending: Vec<Option<(String, f64)>> = vec![None; tables.active.len()];
    // Per table: the last result read, which a name wrapped onto the next line may continue.
    let mut last: Vec<Option<Read>> = vec![None; tables.active.len()];
    for (index, line) in lines.iter().enumerate() {
        if let Some(found) = header(line) {
            tables.active = found;
            pending = vec![None; tables.active.len()];
            last = vec![None; tables.active.len()];
            continue;
        }
        let joined: Vec<&str> = line.cells.iter().map(|c| c.text.as_str()).collect();
        if !values::dates(&joined.join("  ")).is_empty() {
            offer_dates(line, &lines[..index], dates);
            continue;
        }
        for (number, table) in tables.active.iter().enumerate() {
            let cells: Vec<&Cell> = line
                .cells
                .iter()
                .filter(|c| c.x0 >= table.left && c.x0 < table.right)
                .collect();
            if cells.is_empty() {
                continue;
            }
            let mut texts: [Vec<&str>; 6] = Default::default();
            let mut fit = 1.0;
            for cell in &cells {
                let column = column_of(table, cell.x0, line.em);
                if let Some(next) = table.columns.get(column + 1)
                    && cell.x1 > next.x0 + 0.5 * line.em
                {
                    // The cell runs into the next column.
                    fit *= 0.92;
                }
                let role = table.columns[column].role;
                let slot = ROLES.iter().position(|r| *r == role).unwrap_or(0);
                texts[slot].push(cell.text.as_str());
            }
            let [name, value, flag, unit, range, _previous] = texts.map(|t| t.join(" "));
            let close = |bottom: f64| line.top - bottom < 1.5 * line.em;
            if value.is_empty() && flag.is_empty() && unit.is_empty() && range.is_empty() {
                // The rest of a long name wrapped under its result (`Thyroid Stimulating` /
                // `Hormone`): the result is read again with the whole name.
                if let Some(previous) = last[number].as_mut()
                    && close(previous.bottom)
                    && let Some(whole) = extractor.continued(&previous.name, &name)
                    && let Some(result) = previous.again(extractor, &whole, origin)
                {
                    results[previous.index] = result;
                    previous.name = whole;
                    previous.bottom = line.bottom;
                    continue;
                }
                // A name alone: the first line of a two-line result, a heading or a note.
                pending[number] = (!name.contains(':') && !name.is_empty() && !section(&name))
                    .then(|| (name.clone(), line.bottom));
                last[number] = None;
                continue;
            }
            let held = pending[number].take().filter(|(_, bottom)| close(*bottom));
            let name = match held {
                Some((held, _)) if name.is_empty() => held,
                // A long name wrapped before its values (`Thyroid Stimulating` / `Hormone 2.10`).
                Some((held, _)) => extractor.continued(&held, &name).unwrap_or(name),
                None if name.is_empty() => continue,
                None => name,
            };
            if name.contains(':') || value.is_empty() {
                continue;
            }
            let unit = if unit.is_empty() {
                table.unit.clone().unwrap_or_default()
            } else {
                unit
            };
            let read = Read {
                index: results.len(),
                name,
                tail_text: clean_line(&format!("{value} {flag} {unit}  {range}")),
                fit,
                bottom: line.bottom,
            };
            if let Some(result) = read.again(extractor, &read.name, origin) {
                results.push(result);
                last[number] = Some(read);
            }
        }
    }
    Some(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of `cells` (x, text) on a line at `y`, 10 units a character, size 10.
    fn line(y: f64, cells: &[(f64, &str)]) -> Vec<Word> {
        let mut out = Vec::new();
        for (x, text) in cells {
            let mut x = *x;
            for word in text.split(' ') {
                let width = 6.0 * word.chars().count() as f64;
                out.push(Word {
                    text: word.into(),
                    x0: x,
                    x1: x + width,
                    top: y,
                    bottom: y + 10.0,
                    size: 10.0,
                });
                x += width + 3.0;
            }
        }
        out
    }

    fn read(rows: &[Vec<Word>]) -> (Vec<ExtractedResult>, Option<String>, Option<String>) {
        let words: Vec<Word> = rows.iter().flatten().cloned().collect();
        let mut dates = Dates::default();
        let results = read_page(
            &RuleExtractor::default(),
            &words,
            TextOrigin::TextLayer,
            &mut Tables::default(),
            &mut dates,
        )
        .expect("a table");
        let (effective, issued) = dates.finish();
        (results, effective, issued)
    }

    #[test]
    fn columns_in_any_order_with_flags_notes_two_lines_and_stacked_dates() {
        let (results, effective, issued) = read(&[
            line(0.0, &[(0.0, "Collection Date"), (200.0, "Report Date")]),
            line(14.0, &[(0.0, "03/14/2026"), (200.0, "03/16/2026")]),
            line(
                40.0,
                &[
                    (0.0, "Test"),
                    (150.0, "Units"),
                    (220.0, "Reference Range"),
                    (330.0, "Result"),
                    (400.0, "Flag"),
                ],
            ),
            line(
                54.0,
                &[
                    (0.0, "Glucose"),
                    (150.0, "mg/dL"),
                    (220.0, "70 - 99"),
                    (330.0, "112"),
                    (400.0, "H"),
                ],
            ),
            line(
                68.0,
                &[
                    (0.0, "Creatinine"),
                    (150.0, "mg/dL"),
                    (220.0, "0.60 - 1.30"),
                    (330.0, "1.42 H"),
                ],
            ),
            line(82.0, &[(12.0, "Deficiency: < 20 ng/mL")]),
            line(
                96.0,
                &[
                    (0.0, "HEMOGLOBIN A1c"),
                    (150.0, "%"),
                    (220.0, "4.0 - 5.6"),
                    (330.0, "6.8"),
                    (400.0, "H"),
                ],
            ),
            line(110.0, &[(0.0, "eAG (mg/dL)"), (330.0, "148")]),
            line(
                124.0,
                &[
                    (0.0, "LDL/HDL Ratio (calc)"),
                    (220.0, "<3.6"),
                    (330.0, "2.1"),
                ],
            ),
            line(138.0, &[(0.0, "Thyroid Stimulating Hormone")]),
            line(
                152.0,
                &[(150.0, "uIU/mL"), (220.0, "0.45 - 4.50"), (330.0, "2.10")],
            ),
        ]);
        type Got = (String, String, Option<String>, Option<String>, bool);
        let got: Vec<Got> = results
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.value_text.clone(),
                    r.unit.clone(),
                    r.flag.clone(),
                    r.calculated,
                )
            })
            .collect();
        let want = |n: &str, v: &str, u: Option<&str>, f: Option<&str>, c: bool| {
            (
                n.to_owned(),
                v.to_owned(),
                u.map(str::to_owned),
                f.map(str::to_owned),
                c,
            )
        };
        assert_eq!(
            got,
            vec![
                want("Glucose", "112", Some("mg/dL"), Some("H"), false),
                want("Creatinine", "1.42", Some("mg/dL"), Some("H"), false),
                want("HEMOGLOBIN A1c", "6.8", Some("%"), Some("H"), false),
                want("eAG", "148", Some("mg/dL"), None, true),
                want(
                    "Thyroid Stimulating Hormone",
                    "2.10",
                    Some("uIU/mL"),
                    None,
                    false
                ),
            ]
        );
        assert_eq!(effective.as_deref(), Some("2026-03-14"));
        assert_eq!(issued.as_deref(), Some("2026-03-16"));
    }

    #[test]
    fn two_tables_side_by_side() {
        let (results, _, _) = read(&[
            line(
                0.0,
                &[
                    (0.0, "Test"),
                    (100.0, "Result"),
                    (160.0, "Units"),
                    (300.0, "Test"),
                    (400.0, "Result"),
                    (460.0, "Units"),
                ],
            ),
            line(
                14.0,
                &[
                    (0.0, "Sodium"),
                    (100.0, "139"),
                    (160.0, "mmol/L"),
                    (300.0, "Potassium"),
                    (400.0, "5.6 H"),
                    (460.0, "mmol/L"),
                ],
            ),
        ]);
        let names: Vec<(&str, Option<f64>)> =
            results.iter().map(|r| (r.name.as_str(), r.value)).collect();
        assert_eq!(names, [("Sodium", Some(139.0)), ("Potassium", Some(5.6))]);
    }

    #[test]
    fn a_page_without_a_header_is_left_to_the_line_reader() {
        let words = line(0.0, &[(0.0, "Glucose: 105 mg/dL (Ref: 70-99)")]);
        let found = read_page(
            &RuleExtractor::default(),
            &words,
            TextOrigin::TextLayer,
            &mut Tables::default(),
            &mut Dates::default(),
        );
        assert!(found.is_none());
    }
}
