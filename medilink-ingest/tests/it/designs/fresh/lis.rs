//! Held-out design `lis`: a hospital laboratory information system's printout, as many
//! hospitals still print it: Courier, every line one fixed-width run of text padded with spaces
//! (no table in the PDF, only columns of characters), capitals, a patient block repeated on
//! every page with two-digit years and military times (`COLLECTED: 12/07/26 0815`), sections
//! (`CHEMISTRY`, `HEMATOLOGY`, ...), on every other document dotted leaders after the name
//! (`GLUCOSE.............. 112`), flags `H`/`L` and critical `HH`/`LL` with a call-back note
//! under the result, hemolysis comments, `<x` values, ranges as `70-99` (sometimes in brackets),
//! a flag legend, and the anion gap calculated from the electrolytes (`ANION GAP (CALC)`).

use super::{Flag, Results, Sample, Sheet, Units, When, dates, draw, draw_panel, finish, round};
use crate::designs::{Report, Rng};

const SIZE: f64 = 8.5;
const LINE: f64 = 10.5;
const LEFT: f64 = 40.0;
const RULE: usize = 90;
const BOTTOM: f64 = 792.0 - 64.0;

/// Sections after chemistry: (title, panels, keep).
const SECTIONS: &[(&str, &[&str], f64)] = &[
    ("HEMATOLOGY", &["cbc", "diff"], 0.75),
    ("COAGULATION", &["coag"], 0.9),
    ("LIPIDS", &["lipid"], 0.7),
    ("ENDOCRINOLOGY", &["thyroid", "diabetes", "endocrine"], 0.4),
    (
        "SPECIAL CHEMISTRY",
        &["iron", "vitamins", "inflammation"],
        0.45,
    ),
    ("CARDIAC", &["cardiac"], 0.6),
];

/// The basic metabolic panel, printed in full: sodium, potassium, chloride, CO2, BUN,
/// creatinine, glucose, calcium.
const BMP: &[&str] = &[
    "2951-2", "2823-3", "2075-0", "2028-9", "3094-0", "2160-0", "2345-7", "17861-6",
];

/// Critical values drawn now and then: (LOINC, critical low interval, critical high interval).
/// An interval values are drawn from.
type Interval = Option<(f64, f64)>;

const CRITICAL: &[(&str, Interval, Interval)] = &[
    ("2823-3", Some((2.4, 2.8)), Some((6.3, 7.1))),
    ("2951-2", Some((114.0, 119.0)), Some((161.0, 166.0))),
    ("2345-7", Some((32.0, 45.0)), Some((455.0, 540.0))),
    ("17861-6", Some((5.8, 6.4)), Some((13.1, 14.2))),
    ("718-7", Some((5.6, 6.8)), None),
    ("777-3", Some((11.0, 19.0)), None),
    ("6690-2", Some((0.9, 1.4)), Some((31.0, 42.0))),
    ("10839-9", None, Some((0.12, 0.95))),
];

/// `12/07/26 0815`.
fn short_date(when: When) -> String {
    format!(
        "{:02}/{:02}/{:02} {}",
        when.month,
        when.day,
        when.year % 100,
        when.military()
    )
}

struct Layout {
    sheet: Sheet,
    header: Vec<String>,
    footer: String,
}

impl Layout {
    fn line(&mut self, bold: bool, text: impl Into<String>) {
        self.sheet.mono(LEFT, SIZE, bold, text);
        self.sheet.y += LINE;
    }

    fn page_header(&mut self) {
        self.sheet.y = 42.0;
        for (i, line) in self.header.clone().into_iter().enumerate() {
            self.line(i == 0, line);
        }
    }

    fn footer(&mut self) {
        let page = self.sheet.page + 1;
        let text = format!("{}   PAGE {page} OF PAGES", self.footer);
        let y = self.sheet.height - 36.0;
        self.sheet.at(LEFT, y, SIZE, false, true, text);
    }

    fn ensure(&mut self, lines: usize) {
        if self.sheet.y + LINE * lines as f64 <= BOTTOM {
            return;
        }
        self.sheet
            .mono(LEFT, SIZE, false, "** CONTINUED ON NEXT PAGE **");
        self.footer();
        self.sheet.page += 1;
        self.page_header();
    }
}

pub(crate) fn generate(rng: &mut Rng, index: u64) -> Report {
    let (first, last) = super::patient(rng);
    let dates = dates(rng);
    let units = Units::conventional(rng);
    let hospital = *rng.pick(&[
        "ST. EXAMPLE REGIONAL MEDICAL CENTER",
        "NORTH COUNTY GENERAL HOSPITAL",
        "LAKEVIEW UNIVERSITY HOSPITAL",
    ]);
    let mrn = format!("{:09}", 1_200_000 + index * 37);
    let name = format!("{}, {}", last.to_uppercase(), first.to_uppercase());
    let rule = "=".repeat(RULE);
    let header = vec![
        format!("{hospital:<62}{:>28}", "LABORATORY REPORT"),
        format!(
            "{:<62}{:>28}",
            "DEPARTMENT OF PATHOLOGY AND LABORATORY MEDICINE", "CLIA 99D7654321"
        ),
        rule.clone(),
        format!("PATIENT: {name:<27}MRN: {mrn:<12}DOB: 05/17/1980  AGE: 46Y  SEX: F"),
        format!(
            "LOCATION: 4W-{:<3}                 ATTENDING: EXAMPLE, A MD     ACCT: {}",
            400 + index % 40,
            26_000_000 + index * 11
        ),
        format!(
            "ACCESSION: {:02}-{:03}-{:05}         STATUS: FINAL",
            dates.collected.year % 100,
            dates.collected.month * 28 + dates.collected.day,
            87 + index
        ),
        format!(
            "COLLECTED: {}   RECEIVED: {}   REPORTED: {}",
            short_date(dates.collected),
            short_date(dates.received),
            short_date(dates.reported)
        ),
        rule.clone(),
        format!(
            "{:<30}{:<12}{:<6}{:<14}{}",
            "TEST", "RESULT", "FLAG", "UNITS", "REFERENCE RANGE"
        ),
        "-".repeat(RULE),
    ];
    let printed = When {
        minute: (dates.reported.minute + 3) % 60,
        ..dates.reported
    };
    let mut layout = Layout {
        sheet: Sheet::new(612.0, 792.0),
        header,
        footer: format!("{name}   MRN: {mrn}   PRINTED: {}", short_date(printed)),
    };
    layout.page_header();
    // Every other document has dotted leaders, so that any run of consecutive documents has both.
    let leaders = index % 2 == 1;
    let brackets = rng.chance(0.3);

    // Chemistry: the basic metabolic panel, the anion gap from it, and some liver and mineral
    // tests.
    let mut chemistry: Vec<Sample> = BMP
        .iter()
        .filter_map(|loinc| draw(rng, loinc, units))
        .collect();
    let value_of = |samples: &[Sample], loinc: &str| {
        samples.iter().find(|s| s.loinc == loinc).map(|s| s.value)
    };
    let mut anion_gap = None;
    if let (Some(na), Some(cl), Some(co2)) = (
        value_of(&chemistry, "2951-2"),
        value_of(&chemistry, "2075-0"),
        value_of(&chemistry, "2028-9"),
    ) {
        let gap = round(na - cl - co2, 0);
        if let Some(mut sample) = draw(rng, "33037-3", units)
            && gap >= 1.0
        {
            sample.value = gap;
            anion_gap = Some(sample);
        }
    }
    for panel in ["liver", "minerals"] {
        if rng.chance(0.5) {
            chemistry.extend(draw_panel(rng, panel, units, 0.6));
        }
    }
    let mut sections: Vec<(&str, Vec<Sample>, Option<Sample>)> =
        vec![("CHEMISTRY", chemistry, anion_gap)];
    let wanted = 1 + rng.below(3);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < wanted {
        let section = rng.below(SECTIONS.len());
        if !chosen.contains(&section) {
            chosen.push(section);
        }
    }
    chosen.sort_unstable();
    for section in chosen {
        let (title, panels, keep) = SECTIONS[section];
        let samples: Vec<Sample> = panels
            .iter()
            .flat_map(|panel| draw_panel(rng, panel, units, keep))
            .collect();
        sections.push((title, samples, None));
    }

    let mut results = Results::default();
    let critical_call = |when: When| {
        format!(
            "  ** CRITICAL RESULT CALLED TO AND READ BACK BY J SMITH RN {} **",
            short_date(When {
                minute: (when.minute + 17) % 60,
                ..when
            })
        )
    };
    for (title, samples, derived) in sections {
        if samples.is_empty() {
            continue;
        }
        layout.ensure(3);
        layout.sheet.y += 3.0;
        layout.line(true, title);
        let rows = samples
            .into_iter()
            .map(|s| (s, false))
            .chain(derived.map(|s| (s, true)));
        for (mut sample, calculated) in rows {
            let mut critical = None;
            if let Some((_, low, high)) = CRITICAL.iter().find(|c| c.0 == sample.loinc)
                && !calculated
                && rng.chance(0.15)
            {
                let (interval, flag) = match (low, high) {
                    (Some(low), Some(_)) if rng.chance(0.5) => (low, "LL"),
                    (_, Some(high)) => (high, "HH"),
                    (Some(low), None) => (low, "LL"),
                    (None, None) => unreachable!("a critical interval"),
                };
                let value = interval.0 + rng.unit() * (interval.1 - interval.0);
                sample.value = round(value, sample.decimals);
                critical = Some(flag);
            }
            if sample.low == 0.0 && critical.is_none() && !calculated && rng.chance(0.3) {
                sample.make_below_limit();
            }
            let hematology = matches!(sample.panel.as_str(), "cbc" | "diff");
            let mut name = if calculated {
                "ANION GAP (CALC)".to_owned()
            } else if hematology && !sample.abbreviations.is_empty() && rng.chance(0.7) {
                sample.abbreviations[0].to_uppercase()
            } else {
                sample.names[0].to_uppercase()
            };
            if name.chars().count() > 27 {
                name = sample.shortest_name().to_uppercase();
            }
            let flag = critical.unwrap_or(match sample.flag() {
                Flag::High => "H",
                Flag::Low => "L",
                Flag::Normal => "",
            });
            let range = if sample.low == 0.0 {
                format!("<{}", sample.number(sample.high))
            } else {
                format!(
                    "{}-{}",
                    sample.number(sample.low),
                    sample.number(sample.high)
                )
            };
            let range = if brackets {
                format!("({range})")
            } else {
                range
            };
            let lead = if leaders {
                format!("{name} {}", ".".repeat(28 - name.chars().count()))
            } else {
                name.clone()
            };
            let text = format!(
                "{lead:<30}{:<12}{flag:<6}{:<14}{range}",
                sample.value_text(),
                sample.unit
            );
            let notes = usize::from(critical.is_some());
            layout.ensure(1 + notes);
            layout.line(false, text.trim_end());
            if critical.is_some() {
                layout.line(false, critical_call(dates.collected));
            } else if sample.loinc == "2823-3" && flag == "H" && rng.chance(0.5) {
                layout.ensure(1);
                layout.line(
                    false,
                    "  COMMENT: SLIGHTLY HEMOLYZED SPECIMEN. POTASSIUM MAY BE FALSELY ELEVATED.",
                );
            }
            results.add(&sample, &name, layout.sheet.page, calculated);
        }
        layout.sheet.y += 4.0;
    }
    layout.ensure(4);
    layout.sheet.y += 4.0;
    layout.line(false, "-".repeat(RULE));
    layout.line(
        false,
        "FLAG LEGEND: L=LOW  H=HIGH  LL=CRITICAL LOW  HH=CRITICAL HIGH  A=ABNORMAL  C=CORRECTED",
    );
    layout.line(
        false,
        "ANION GAP = NA - (CL + CO2). REFERENCE RANGES APPLY TO ADULTS.",
    );
    layout.line(false, "*** END OF REPORT ***");
    layout.footer();
    finish(layout.sheet, results, &dates)
}
