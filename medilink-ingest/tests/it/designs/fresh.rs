//! The held-out designs of round 3 (issue #20): four report styles written from what real lab
//! reports look like, by an author who did not read the extractor and did not see how it was
//! changed in the same round. They are measured only; a rule chosen from their misses would
//! spoil them (see BENCHMARKS.md). Each design is a module of its own; this one holds what they
//! share: a test drawn from the catalog with its value and ground truth, a page writer, dates
//! and an approximate Helvetica text width.
//!
//! Ground truth: the printed value (a `<x` value counts as `x`, as in the other designs), the
//! catalog's LOINC code and the UCUM unit of the printed unit, the collection date (→ effective)
//! and the reported date (→ issued). A derived value is in the truth only when it has its own
//! LOINC code and is really calculated from the other results printed; it is then listed as
//! calculated. Notes, comments, legends, previous results and footnotes are not results.

pub(crate) mod cumulative;
pub(crate) mod euro;
pub(crate) mod friendly;
pub(crate) mod lis;

use serde_json::Value;

use super::{Design, FIRST, Item, LAST, Report, Rng, catalog};
use crate::support::score::{Truth, TruthResult};

/// Generates report `index` of a fresh design (same inputs, same report).
pub(crate) fn generate(design: Design, index: u64) -> Report {
    let mut rng = Rng::new(index * 1000 + design as u64 * 7919 + 0x3F5);
    match design {
        Design::Euro => euro::generate(&mut rng, index),
        Design::Lis => lis::generate(&mut rng, index),
        Design::Cumulative => cumulative::generate(&mut rng, index),
        Design::Friendly => friendly::generate(&mut rng, index),
        other => unreachable!("{other:?} is not a fresh design"),
    }
}

/// Which of a test's units a report prints, and in which printed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Units {
    /// A per-litre unit where the catalog has one (`mmol/L`, `g/L`, `10*9/L`); else, and
    /// otherwise, the catalog's first (US conventional) unit.
    pub(crate) per_litre: bool,
    /// Which of the catalog's printed forms (`K/uL` or `x10^3/uL`): one per report, as a
    /// laboratory prints its units the same way throughout.
    pub(crate) form: usize,
}

impl Units {
    pub(crate) fn conventional(rng: &mut Rng) -> Self {
        Units {
            per_litre: false,
            form: rng.below(3),
        }
    }
    pub(crate) fn per_litre(rng: &mut Rng) -> Self {
        Units {
            per_litre: true,
            form: rng.below(3),
        }
    }
}

/// High, low or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    Normal,
    High,
    Low,
}

/// A drawn test result.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) loinc: String,
    pub(crate) panel: String,
    /// The catalog's name, then its abbreviations, then its synonyms.
    pub(crate) names: Vec<String>,
    pub(crate) abbreviations: Vec<String>,
    pub(crate) ucum: String,
    /// How the unit is printed (one of the catalog's printed forms).
    pub(crate) unit: String,
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) decimals: usize,
    pub(crate) value: f64,
    /// Printed as `<value` (below the limit of quantitation).
    pub(crate) below_limit: bool,
}

impl Sample {
    /// `x` with the test's decimals (a point).
    pub(crate) fn number(&self, x: f64) -> String {
        let decimals = self.decimals;
        format!("{x:.decimals$}")
    }

    /// The value as printed, with a point.
    pub(crate) fn value_text(&self) -> String {
        if self.below_limit {
            format!("<{}", self.number(self.value))
        } else {
            self.number(self.value)
        }
    }

    pub(crate) fn flag(&self) -> Flag {
        if self.below_limit {
            Flag::Normal
        } else if self.value > self.high {
            Flag::High
        } else if self.value < self.low {
            Flag::Low
        } else {
            Flag::Normal
        }
    }

    /// The shortest of the test's names.
    pub(crate) fn shortest_name(&self) -> String {
        self.names
            .iter()
            .min_by_key(|n| n.chars().count())
            .cloned()
            .unwrap_or_default()
    }

    /// Prints the value below the limit of quantitation (`<x`), for tests whose range starts
    /// at zero.
    pub(crate) fn make_below_limit(&mut self) {
        let factor = 10f64.powi(self.decimals as i32);
        self.value = ((self.high / 10.0) * factor).round().max(1.0) / factor;
        self.below_limit = true;
    }

    /// A fresh value of the same test (a previous result).
    pub(crate) fn redraw(&self, rng: &mut Rng) -> f64 {
        value_around(rng, self.low, self.high, self.decimals)
    }
}

/// A value around the interval `low`–`high`: about a third of them outside it.
pub(crate) fn value_around(rng: &mut Rng, low: f64, high: f64, decimals: usize) -> f64 {
    let span = (high - low).max(high * 0.1);
    let mut value = low - 0.3 * span + rng.unit() * 1.6 * span;
    let factor = 10f64.powi(decimals as i32);
    value = (value * factor).round() / factor;
    if value <= 0.0 {
        value = ((high * 0.5) * factor).round().max(1.0) / factor;
    }
    value
}

/// Rounds `value` to `decimals`.
pub(crate) fn round(value: f64, decimals: usize) -> f64 {
    let factor = 10f64.powi(decimals as i32);
    (value * factor).round() / factor
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn sample_of(rng: &mut Rng, test: &Value, units: Units) -> Option<Sample> {
    let list = test["units"].as_array()?;
    let unit = if units.per_litre {
        list.iter()
            .find(|u| u["ucum"].as_str().is_some_and(|c| c.ends_with("/L")))
            .or(list.first())?
    } else {
        list.first()?
    };
    let (low, high) = (unit["low"].as_f64()?, unit["high"].as_f64()?);
    let decimals = unit["decimals"].as_u64().unwrap_or(0) as usize;
    let abbreviations = strings(&test["abbreviations"]);
    let mut names = vec![test["name"].as_str()?.to_owned()];
    names.extend(abbreviations.iter().cloned());
    names.extend(strings(&test["synonyms"]));
    let printed = strings(&unit["printed"]);
    Some(Sample {
        loinc: test["loinc"].as_str()?.to_owned(),
        panel: test["panel"].as_str().unwrap_or_default().to_owned(),
        names,
        abbreviations,
        ucum: unit["ucum"].as_str()?.to_owned(),
        unit: printed.get(units.form % printed.len().max(1))?.clone(),
        low,
        high,
        decimals,
        value: value_around(rng, low, high, decimals),
        below_limit: false,
    })
}

/// The test with `loinc`, drawn.
pub(crate) fn draw(rng: &mut Rng, loinc: &str, units: Units) -> Option<Sample> {
    let test = catalog().iter().find(|t| t["loinc"] == loinc)?;
    sample_of(rng, test, units)
}

/// The tests of `panel` in catalog order, each kept with probability `keep`.
pub(crate) fn draw_panel(rng: &mut Rng, panel: &str, units: Units, keep: f64) -> Vec<Sample> {
    let mut out = Vec::new();
    for test in catalog().iter().filter(|t| t["panel"] == panel) {
        if !rng.chance(keep) {
            continue;
        }
        if let Some(sample) = sample_of(rng, test, units) {
            out.push(sample);
        }
    }
    out
}

/// Approximate width of `text` in Helvetica at `size` points (from the font's metrics, rounded).
pub(crate) fn width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            '0'..='9' => 0.556,
            ' ' | ',' | '.' | ':' | ';' | 'i' | 'j' | 'l' | '!' | '|' | '\'' | '/' => 0.278,
            'f' | 't' | 'I' | '(' | ')' | '[' | ']' | '-' => 0.333,
            'r' => 0.333,
            'm' | 'w' => 0.833,
            'M' | 'W' => 0.86,
            '%' => 0.889,
            'A'..='Z' => 0.68,
            'a'..='z' => 0.54,
            _ => 0.584,
        })
        .sum::<f64>()
        * size
}

/// `text` cut into lines of at most `room` points at `size`.
pub(crate) fn wrap(text: &str, size: f64, room: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size) > room && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line = word.to_owned();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Places text page by page; `y` is the baseline from the top.
#[derive(Debug)]
pub(crate) struct Sheet {
    pub(crate) width: f64,
    pub(crate) height: f64,
    pub(crate) page: usize,
    pub(crate) y: f64,
    pub(crate) items: Vec<Item>,
}

impl Sheet {
    pub(crate) fn new(width: f64, height: f64) -> Self {
        Sheet {
            width,
            height,
            page: 0,
            y: 0.0,
            items: Vec::new(),
        }
    }

    /// Helvetica at the current line.
    pub(crate) fn text(&mut self, x: f64, size: f64, bold: bool, text: impl Into<String>) {
        let y = self.y;
        self.at(x, y, size, bold, false, text);
    }

    /// Courier at the current line.
    pub(crate) fn mono(&mut self, x: f64, size: f64, bold: bool, text: impl Into<String>) {
        let y = self.y;
        self.at(x, y, size, bold, true, text);
    }

    pub(crate) fn at(
        &mut self,
        x: f64,
        y: f64,
        size: f64,
        bold: bool,
        mono: bool,
        text: impl Into<String>,
    ) {
        let text = text.into();
        if text.trim().is_empty() {
            return;
        }
        self.items.push(Item {
            page: self.page,
            x,
            y,
            size,
            bold,
            mono,
            text,
        });
    }
}

/// A date and time of day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct When {
    pub(crate) year: i32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
}

impl When {
    pub(crate) fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
    /// `12/07/2026`.
    pub(crate) fn us(self) -> String {
        format!("{:02}/{:02}/{:04}", self.month, self.day, self.year)
    }
    /// `0815`.
    pub(crate) fn military(self) -> String {
        format!("{:02}{:02}", self.hour, self.minute)
    }
    /// `8:15 AM`.
    pub(crate) fn clock(self) -> String {
        let hour = match self.hour % 12 {
            0 => 12,
            h => h,
        };
        let half = if self.hour < 12 { "AM" } else { "PM" };
        format!("{hour}:{:02} {half}", self.minute)
    }
}

/// The report's dates: collected ≤ received ≤ reported (all in 2026, days ≤ 28).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dates {
    pub(crate) collected: When,
    pub(crate) received: When,
    pub(crate) reported: When,
}

pub(crate) fn dates(rng: &mut Rng) -> Dates {
    let month = 1 + rng.below(12) as u32;
    let day = 1 + rng.below(26) as u32;
    let collected = When {
        year: 2026,
        month,
        day,
        hour: 6 + rng.below(5) as u32,
        minute: rng.below(60) as u32,
    };
    let next_day = rng.chance(0.3);
    let received = When {
        day: day + u32::from(next_day),
        hour: if next_day {
            7 + rng.below(3) as u32
        } else {
            collected.hour + 1 + rng.below(3) as u32
        },
        minute: rng.below(60) as u32,
        ..collected
    };
    let reported = When {
        day: received.day + 1 + u32::from(rng.chance(0.3)),
        hour: 9 + rng.below(9) as u32,
        minute: rng.below(60) as u32,
        ..collected
    };
    Dates {
        collected,
        received,
        reported,
    }
}

/// A made-up patient: (first, last).
pub(crate) fn patient(rng: &mut Rng) -> (&'static str, &'static str) {
    (*rng.pick(FIRST), *rng.pick(LAST))
}

/// The ground truth being collected while a report is laid out.
#[derive(Debug, Default)]
pub(crate) struct Results {
    results: Vec<TruthResult>,
    pages: Vec<usize>,
    calculated: Vec<String>,
}

impl Results {
    /// `sample` printed as `name` on `page`; `calculated` for a derived value.
    pub(crate) fn add(&mut self, sample: &Sample, name: &str, page: usize, calculated: bool) {
        self.results.push(TruthResult {
            printed_name: name.to_owned(),
            loinc: sample.loinc.clone(),
            value: sample.value,
            unit: sample.ucum.clone(),
        });
        self.pages.push(page);
        if calculated {
            self.calculated.push(sample.loinc.clone());
        }
    }
}

/// The finished report: `PAGES` in any text becomes the page count.
pub(crate) fn finish(mut sheet: Sheet, results: Results, dates: &Dates) -> Report {
    let pages = sheet.page + 1;
    for item in &mut sheet.items {
        if item.text.contains("PAGES") {
            item.text = item.text.replace("PAGES", &pages.to_string());
        }
    }
    Report {
        page_size: (sheet.width, sheet.height),
        pages,
        items: sheet.items,
        truth: Truth {
            kind: "text_pdf".into(),
            report_date: Some(dates.collected.iso()),
            results: results.results,
        },
        issued: dates.reported.iso(),
        calculated: results.calculated,
        result_pages: results.pages,
    }
}

/// The generator itself: every fresh report keeps its text on the page, prints each result of
/// its ground truth (name and value) on the page the truth says, and is reported after it was
/// collected. A broken generator would make the held-out figures meaningless.
#[test]
fn fresh_designs_stay_on_the_page_and_print_their_truth() {
    for design in Design::ALL.into_iter().filter(|d| d.held_out()) {
        for index in 0..30 {
            let report = generate(design, index);
            let label = format!("{} #{index}", design.name());
            assert!(!report.truth.results.is_empty(), "{label}");
            assert_eq!(report.truth.results.len(), report.result_pages.len());
            assert!(
                report.truth.report_date.as_deref() < Some(report.issued.as_str()),
                "{label}"
            );
            let (page_width, page_height) = report.page_size;
            for item in &report.items {
                let extent = if item.mono {
                    0.6 * item.size * item.text.chars().count() as f64
                } else {
                    width(&item.text, item.size)
                };
                assert!(
                    item.x >= 20.0
                        && item.x + extent <= page_width - 20.0
                        && (20.0..=page_height - 20.0).contains(&item.y)
                        && item.page < report.pages,
                    "{label}: off the page: {item:?}"
                );
            }
            for (result, page) in report.truth.results.iter().zip(&report.result_pages) {
                let texts: Vec<&str> = report
                    .items
                    .iter()
                    .filter(|i| i.page == *page)
                    .map(|i| i.text.as_str())
                    .collect();
                let first_word = result.printed_name.split(' ').next().unwrap_or_default();
                assert!(
                    texts.iter().any(|t| t.contains(first_word)),
                    "{label}: {} not on page {page}",
                    result.printed_name
                );
                let printed = (0..=3).any(|decimals| {
                    let point = format!("{:.decimals$}", result.value);
                    let comma = point.replace('.', ",");
                    texts
                        .iter()
                        .any(|t| t.split([' ', '<']).any(|w| w == point || w == comma))
                });
                assert!(
                    printed,
                    "{label}: the value {} of {} is not printed on page {page}",
                    result.value, result.printed_name
                );
            }
        }
    }
}
