//! Held-out design `cumulative`: a reference laboratory's patient report with the previous
//! result beside the current one, as large US reference labs print it: `Tests | Current Result
//! and Flag | Previous Result and Date | Units | Reference Interval`. Only the current result is
//! the truth; the previous one (a value and its date, on about 60 % of the rows) is not. The
//! flag is a word (`High`/`Low`) after the value in the same column; each test name carries a
//! small raised site code (`01`, `02`) naming the performing laboratory in a footnote block;
//! long names wrap onto a second line; a panel heading can be the same words as its only test
//! (`Hemoglobin A1c`); interpretive comments run several lines (with numbers and units in
//! them); four dates (collected with a time and `Local`, received, sometimes entered, reported)
//! and a `Date Issued` in the footer of every page; globulin calculated from total protein and
//! albumin and the LDL from the lipid panel (`LDL Chol Calc (NIH)`).

use super::{
    Flag, Results, Sample, Sheet, Units, dates, draw, draw_panel, finish, round, width, wrap,
};
use crate::designs::{Report, Rng};

const LEFT: f64 = 40.0;
const CURRENT_X: f64 = 198.0;
const FLAG_X: f64 = 236.0;
const PREVIOUS_X: f64 = 290.0;
const PREVIOUS_DATE_X: f64 = 326.0;
const UNIT_X: f64 = 406.0;
const RANGE_X: f64 = 472.0;
const NAME_ROOM: f64 = 138.0;
const BOTTOM: f64 = 792.0 - 72.0;

/// (heading, panel, site code).
const PANELS: &[(&str, &str, &str)] = &[
    ("CBC With Differential/Platelet", "cbc", "01"),
    ("Comp. Metabolic Panel (14)", "cmp", "01"),
    ("Lipid Panel", "lipid", "01"),
    ("Hemoglobin A1c", "diabetes", "01"),
    ("Thyroid Panel", "thyroid", "01"),
    ("Iron and TIBC", "iron", "01"),
    ("Vitamin D, 25-Hydroxy", "vitamins", "02"),
    ("Hepatic Function Panel (7)", "liver", "01"),
    ("Inflammation Markers", "inflammation", "01"),
    ("Magnesium, Phosphorus, Uric Acid", "minerals", "01"),
    ("Cardiac Markers", "cardiac", "02"),
    ("Prothrombin Time (PT) and aPTT", "coag", "01"),
    ("Hormones", "endocrine", "02"),
];

struct Layout {
    sheet: Sheet,
    /// (x, lines down, size, bold, text).
    header: Vec<(f64, f64, f64, bool, String)>,
    issued: String,
}

impl Layout {
    fn page_header(&mut self) {
        self.sheet.y = 42.0;
        for (x, dy, size, bold, text) in self.header.clone() {
            self.sheet.y += dy;
            self.sheet.text(x, size, bold, text);
        }
        self.sheet.y += 22.0;
        for (x, label) in [
            (LEFT, "Tests"),
            (CURRENT_X, "Current Result and Flag"),
            (PREVIOUS_X, "Previous Result and Date"),
            (UNIT_X, "Units"),
            (RANGE_X, "Reference Interval"),
        ] {
            self.sheet.text(x, 7.5, true, label);
        }
        self.sheet.y += 14.0;
    }

    fn footer(&mut self) {
        let y = self.sheet.height - 34.0;
        let page = self.sheet.page + 1;
        let text = format!("Date Issued: {}      FINAL REPORT", self.issued);
        self.sheet.at(LEFT, y, 7.0, false, false, text);
        self.sheet.at(
            self.sheet.width - 96.0,
            y,
            7.0,
            false,
            false,
            format!("Page {page} of PAGES"),
        );
        self.sheet.at(
            LEFT,
            y + 9.0,
            6.5,
            false,
            false,
            "This document contains private and confidential health information protected by state and federal law.",
        );
    }

    fn ensure(&mut self, height: f64) {
        if self.sheet.y + height <= BOTTOM {
            return;
        }
        self.footer();
        self.sheet.page += 1;
        self.page_header();
    }

    /// A test row: the name (wrapped), its site code, the current result and flag, the
    /// previous result and date, unit and interval.
    fn row(&mut self, name: &str, site: &str, sample: &Sample, previous: Option<(String, String)>) {
        let lines = wrap(name, 9.0, NAME_ROOM);
        self.ensure(12.0 * lines.len() as f64);
        let top = self.sheet.y;
        for (i, line) in lines.iter().enumerate() {
            self.sheet.text(
                LEFT + if i > 0 { 6.0 } else { 0.0 },
                9.0,
                false,
                line.clone(),
            );
            if i + 1 == lines.len() {
                let x = LEFT + if i > 0 { 6.0 } else { 0.0 } + width(line, 9.0) + 2.0;
                let y = self.sheet.y - 3.5;
                self.sheet.at(x, y, 5.5, false, false, site);
            }
            if i + 1 < lines.len() {
                self.sheet.y += 10.0;
            }
        }
        let bottom = self.sheet.y;
        self.sheet.y = top;
        self.sheet.text(CURRENT_X, 9.0, true, sample.value_text());
        match sample.flag() {
            Flag::High => self.sheet.text(FLAG_X, 9.0, true, "High"),
            Flag::Low => self.sheet.text(FLAG_X, 9.0, true, "Low"),
            Flag::Normal => {}
        }
        if let Some((value, date)) = previous {
            self.sheet.text(PREVIOUS_X, 9.0, false, value);
            self.sheet.text(PREVIOUS_DATE_X, 8.0, false, date);
        }
        self.sheet.text(UNIT_X, 9.0, false, sample.unit.clone());
        let range = if sample.low == 0.0 {
            format!("0-{}", sample.number(sample.high))
        } else {
            format!(
                "{}-{}",
                sample.number(sample.low),
                sample.number(sample.high)
            )
        };
        self.sheet.text(RANGE_X, 9.0, false, range);
        self.sheet.y = bottom + 12.0;
    }

    fn comment(&mut self, lines: &[&str]) {
        for line in lines {
            self.ensure(10.0);
            self.sheet.text(LEFT + 60.0, 7.5, false, *line);
            self.sheet.y += 9.5;
        }
        self.sheet.y += 3.0;
    }
}

pub(crate) fn generate(rng: &mut Rng, index: u64) -> Report {
    let (first, last) = super::patient(rng);
    let dates = dates(rng);
    let units = Units::conventional(rng);
    let reported = dates.reported;
    let mut header = vec![
        (
            LEFT,
            0.0,
            13.0,
            true,
            "Ridgeway Clinical Laboratories".to_owned(),
        ),
        (455.0, 0.0, 11.0, true, "Patient Report".to_owned()),
        (
            LEFT,
            18.0,
            8.0,
            false,
            format!("Patient ID: {}", 100_000 + index * 37),
        ),
        (
            210.0,
            0.0,
            8.0,
            false,
            format!(
                "Specimen ID: {:03}-{:03}-{:04}-0",
                300 + index % 97,
                dates.collected.month * 28 + dates.collected.day,
                87 + index
            ),
        ),
        (
            430.0,
            0.0,
            8.0,
            false,
            format!("Acct #: {:05}", 4400 + index),
        ),
        (LEFT, 12.0, 9.5, true, format!("{last}, {first}")),
        (210.0, 0.0, 8.0, false, "DOB: 05/17/1980".to_owned()),
        (320.0, 0.0, 8.0, false, "Age(y/m/d): 046/06/20".to_owned()),
        (430.0, 0.0, 8.0, false, "Sex: Female".to_owned()),
        (
            LEFT,
            14.0,
            8.0,
            false,
            format!(
                "Date Collected: {} {} Local",
                dates.collected.us(),
                dates.collected.military()
            ),
        ),
        (
            250.0,
            0.0,
            8.0,
            false,
            format!("Date Received: {}", dates.received.us()),
        ),
    ];
    if rng.chance(0.5) {
        header.push((
            LEFT,
            11.0,
            8.0,
            false,
            format!("Date Entered: {}", dates.received.us()),
        ));
        header.push((
            250.0,
            0.0,
            8.0,
            false,
            format!("Date Reported: {}", reported.us()),
        ));
    } else {
        header.push((
            410.0,
            0.0,
            8.0,
            false,
            format!("Date Reported: {}", reported.us()),
        ));
    }
    header.push((
        LEFT,
        11.0,
        8.0,
        false,
        format!(
            "Ordering Physician: A Example      Fasting: {}",
            if rng.chance(0.6) { "Yes" } else { "No" }
        ),
    ));
    let mut layout = Layout {
        sheet: Sheet::new(612.0, 792.0),
        header,
        issued: format!(
            "{:02}/{:02}/{:02} {:02}{:02} ET",
            reported.month,
            reported.day,
            reported.year % 100,
            (reported.hour + 1).min(23),
            reported.minute
        ),
    };
    layout.page_header();

    let wanted = 2 + rng.below(3);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < wanted {
        let panel = rng.below(PANELS.len());
        if !chosen.contains(&panel) {
            chosen.push(panel);
        }
    }
    let previous_date = format!(
        "{:02}/{:02}/{:04}",
        1 + rng.below(12),
        1 + rng.below(28),
        2025
    );
    let mut results = Results::default();
    let mut sites = Vec::new();
    for panel_index in chosen {
        let (heading, panel, site) = PANELS[panel_index];
        let mut samples = match panel {
            "diabetes" => draw(rng, "4548-4", units).into_iter().collect(),
            "vitamins" => draw(rng, "62292-8", units).into_iter().collect(),
            "cbc" => {
                let mut s = draw_panel(rng, "cbc", units, 0.8);
                s.extend(draw_panel(rng, "diff", units, 0.5));
                s
            }
            other => draw_panel(rng, other, units, 0.7),
        };
        // Calculated here: globulin from total protein and albumin, the LDL from the lipids.
        samples.retain(|s| !matches!(s.loinc.as_str(), "10834-0" | "13457-7" | "33037-3"));
        let mut derived: Option<(Sample, &str)> = None;
        if panel == "cmp" {
            let protein = samples
                .iter()
                .find(|s| s.loinc == "2885-2")
                .map(|s| s.value);
            let albumin = samples
                .iter()
                .find(|s| s.loinc == "1751-7")
                .map(|s| s.value);
            if let (Some(protein), Some(albumin)) = (protein, albumin)
                && let Some(mut globulin) = draw(rng, "10834-0", units)
            {
                globulin.value = round(protein - albumin, 1);
                if globulin.value >= 0.5 {
                    derived = Some((globulin, "Globulin, Total"));
                }
            }
        }
        if panel == "lipid" {
            let value = |loinc: &str| samples.iter().find(|s| s.loinc == loinc).map(|s| s.value);
            if let (Some(total), Some(hdl), Some(trig)) =
                (value("2093-3"), value("2085-9"), value("2571-8"))
                && let Some(mut ldl) = draw(rng, "13457-7", units)
            {
                ldl.value = round(total - hdl - trig / 5.0, 0);
                if ldl.value >= 20.0 && trig < 400.0 {
                    derived = Some((ldl, "LDL Chol Calc (NIH)"));
                }
            }
        }
        if samples.is_empty() {
            continue;
        }
        if !sites.contains(&site) {
            sites.push(site);
        }
        layout.ensure(30.0);
        layout.sheet.y += 4.0;
        layout.sheet.text(LEFT, 9.5, true, heading);
        layout.sheet.y += 13.0;
        let rows = samples
            .into_iter()
            .map(|s| (s, None))
            .chain(derived.map(|(s, name)| (s, Some(name))));
        for (sample, derived_name) in rows {
            let name = derived_name.map_or_else(|| sample.names[0].clone(), str::to_owned);
            let previous = rng.chance(0.6).then(|| {
                let mut value = sample.redraw(rng);
                if (value - sample.value).abs() < 1e-9 {
                    value += 10f64.powi(-(sample.decimals as i32));
                }
                (sample.number(value), previous_date.clone())
            });
            layout.row(&name, site, &sample, previous);
            results.add(&sample, &name, layout.sheet.page, derived_name.is_some());
            match sample.loinc.as_str() {
                "4548-4" => layout.comment(&[
                    "Please Note:",
                    "Prediabetes: 5.7 - 6.4",
                    "Diabetes: >6.4",
                    "Glycemic control for adults with diabetes: <7.0",
                ]),
                "62292-8" => layout.comment(&[
                    "Vitamin D deficiency has been defined by the Institute of",
                    "Medicine and an Endocrine Society practice guideline as a",
                    "level of serum 25-OH vitamin D less than 20 ng/mL (1,2).",
                    "The Endocrine Society went on to further define vitamin D",
                    "insufficiency as a level between 21 and 29 ng/mL (2).",
                ]),
                "2093-3" if rng.chance(0.5) => {
                    layout.comment(&["Total cholesterol is desirable below 200 mg/dL in adults."])
                }
                _ => {}
            }
        }
        layout.sheet.y += 4.0;
    }
    layout.ensure(50.0);
    layout.sheet.y += 10.0;
    for site in sites {
        let (code, name, director) = if site == "01" {
            ("RC", "Ridgeway Clinical Laboratories", "Dir: A Example, MD")
        } else {
            ("RS", "Ridgeway Specialty Testing", "Dir: B Example, PhD")
        };
        layout.sheet.text(LEFT, 7.5, false, site);
        layout.sheet.text(LEFT + 18.0, 7.5, false, code);
        layout.sheet.text(
            LEFT + 40.0,
            7.5,
            false,
            format!("{name}, 100 Example Way, Springfield, ST 00000"),
        );
        layout.sheet.text(430.0, 7.5, false, director);
        layout.sheet.y += 10.0;
    }
    layout.sheet.text(
        LEFT,
        7.5,
        false,
        "For inquiries, the physician may contact Branch: 555-0100 Lab: 555-0199",
    );
    layout.footer();
    finish(layout.sheet, results, &dates)
}
