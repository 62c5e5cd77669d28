//! Held-out design `euro`: a European laboratory's report on A4, in English. What differs from
//! a US report: per-litre SI units (`mmol/L`, `µmol/L`, `g/L`, `x10^9/L`; on half the
//! documents written with a small `l`, `mmol/l`), decimal commas (`5,4`), the reference range
//! printed *before* the result (`Test | Ref. range | Result | | Unit`), results right-aligned
//! with `+`/`-` beside them for above/below the range, sentence-case names, sometimes with the
//! abbreviation in brackets, `DD.MM.YYYY HH:MM` dates, section headings with the specimen
//! material, `¹` after tests outside the accreditation with a footnote, and a calculated LDL
//! (Friedewald, mmol/L) marked `(calc.)`.

use super::{Flag, Results, Sample, Sheet, Units, When, dates, draw, draw_panel, finish, width};
use crate::designs::{Report, Rng};

const SECTIONS: &[(&str, &str, &[&str])] = &[
    ("Clinical chemistry", "serum", &["cmp", "liver", "pancreas"]),
    ("Electrolytes and minerals", "serum", &["minerals"]),
    ("Lipids", "serum", &["lipid"]),
    ("Haematology", "EDTA blood", &["cbc", "diff"]),
    ("Coagulation", "citrate plasma", &["coag"]),
    ("Diabetes", "EDTA blood", &["diabetes"]),
    ("Proteins and inflammation", "serum", &["inflammation"]),
    ("Iron metabolism", "serum", &["iron"]),
    ("Endocrinology", "serum", &["thyroid", "endocrine"]),
    ("Vitamins", "serum", &["vitamins"]),
    ("Cardiac markers", "serum", &["cardiac"]),
];

/// `07.12.2026 08:15`.
fn euro_date(when: When) -> String {
    format!(
        "{:02}.{:02}.{:04} {:02}:{:02}",
        when.day, when.month, when.year, when.hour, when.minute
    )
}

/// `5.4` → `5,4`.
fn comma(text: &str) -> String {
    text.replace('.', ",")
}

/// `Alanine Aminotransferase` → `Alanine aminotransferase` (capitalised words after the first
/// are lowered; abbreviations and single letters stay).
fn sentence_case(name: &str) -> String {
    name.split(' ')
        .enumerate()
        .map(|(i, word)| {
            let mut chars = word.chars();
            let lowered_rest = chars.clone().skip(1).all(|c| !c.is_uppercase());
            match chars.next() {
                Some(first)
                    if i > 0
                        && first.is_uppercase()
                        && lowered_rest
                        && word.chars().count() > 1 =>
                {
                    word.to_lowercase()
                }
                _ => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Layout<'a> {
    sheet: Sheet,
    lab: &'a str,
    order: String,
    patient: String,
    small_l: bool,
    spaced_ranges: bool,
}

const LEFT: f64 = 42.0;
const RANGE_X: f64 = 228.0;
const RESULT_RIGHT: f64 = 372.0;
const FLAG_X: f64 = 378.0;
const UNIT_X: f64 = 400.0;
const BOTTOM: f64 = 842.0 - 70.0;

impl Layout<'_> {
    fn footer(&mut self) {
        let y = self.sheet.height - 32.0;
        let lab = self.lab.to_owned();
        let order = self.order.clone();
        self.sheet.at(
            LEFT,
            y,
            7.0,
            false,
            false,
            format!("{lab} \u{b7} Report {order}"),
        );
        let page = self.sheet.page + 1;
        self.sheet.at(
            self.sheet.width - 100.0,
            y,
            7.0,
            false,
            false,
            format!("Page {page} of PAGES"),
        );
    }

    fn column_header(&mut self) {
        for (x, label) in [
            (LEFT, "Test"),
            (RANGE_X, "Ref. range"),
            (RESULT_RIGHT - width("Result", 8.0), "Result"),
            (UNIT_X, "Unit"),
        ] {
            self.sheet.text(x, 8.0, true, label);
        }
        self.sheet.y += 13.0;
    }

    /// Room for `height` points more, or a new page with a short header.
    fn ensure(&mut self, height: f64) {
        if self.sheet.y + height <= BOTTOM {
            return;
        }
        self.footer();
        self.sheet.page += 1;
        self.sheet.y = 48.0;
        let lab = self.lab.to_owned();
        self.sheet.text(LEFT, 11.0, true, lab);
        self.sheet.y += 14.0;
        let line = format!("Patient: {} \u{b7} Order no. {}", self.patient, self.order);
        self.sheet.text(LEFT, 8.0, false, line);
        self.sheet.y += 20.0;
        self.column_header();
    }

    fn unit(&self, unit: &str) -> String {
        if self.small_l {
            unit.replace("/L", "/l")
        } else {
            unit.to_owned()
        }
    }

    fn range(&self, sample: &Sample) -> String {
        if sample.low == 0.0 {
            format!("< {}", comma(&sample.number(sample.high)))
        } else if self.spaced_ranges {
            format!(
                "{} - {}",
                comma(&sample.number(sample.low)),
                comma(&sample.number(sample.high))
            )
        } else {
            format!(
                "{}-{}",
                comma(&sample.number(sample.low)),
                comma(&sample.number(sample.high))
            )
        }
    }

    fn row(&mut self, name: &str, sample: &Sample) {
        self.ensure(12.0);
        self.sheet.text(LEFT, 9.0, false, name);
        let range = self.range(sample);
        self.sheet.text(RANGE_X, 9.0, false, range);
        let value = if sample.below_limit {
            format!("< {}", comma(&sample.number(sample.value)))
        } else {
            comma(&sample.value_text())
        };
        self.sheet
            .text(RESULT_RIGHT - width(&value, 9.0), 9.0, true, value);
        match sample.flag() {
            Flag::High => self.sheet.text(FLAG_X, 9.0, true, "+"),
            Flag::Low => self.sheet.text(FLAG_X, 9.0, true, "-"),
            Flag::Normal => {}
        }
        let unit = self.unit(&sample.unit);
        self.sheet.text(UNIT_X, 9.0, false, unit);
        self.sheet.y += 12.0;
    }
}

pub(crate) fn generate(rng: &mut Rng, index: u64) -> Report {
    let lab = *rng.pick(&[
        "Rhine Valley Medical Laboratory",
        "Nordlicht Laboratory Medicine MVZ",
        "Laboratoire Central Exemplaire",
    ]);
    let (first, last) = super::patient(rng);
    let dates = dates(rng);
    let units = Units::per_litre(rng);
    let order = format!(
        "{:02}{:02}{:02}{:04}",
        dates.collected.year % 100,
        dates.collected.month,
        dates.collected.day,
        100 + index * 7
    );
    let mut layout = Layout {
        sheet: Sheet::new(595.0, 842.0),
        lab,
        order: order.clone(),
        patient: format!("{last}, {first}"),
        small_l: rng.chance(0.5),
        spaced_ranges: rng.chance(0.5),
    };
    let sheet = &mut layout.sheet;
    sheet.y = 48.0;
    sheet.text(LEFT, 13.0, true, lab);
    sheet.text(
        380.0,
        7.0,
        false,
        "Accredited to DIN EN ISO 15189 \u{b7} D-ML-99999-01-00",
    );
    sheet.y += 12.0;
    sheet.text(
        LEFT,
        7.5,
        false,
        "Example Street 12 \u{b7} 12345 Sampletown \u{b7} Tel. +49 555 0100 \u{b7} Fax +49 555 0101",
    );
    sheet.y += 22.0;
    let (taken, received, reported) = if rng.chance(0.5) {
        ("Sample taken:", "Received:", "Report date:")
    } else {
        ("Collection:", "Sample receipt:", "Validated:")
    };
    let rows = [
        (
            "Patient:",
            format!("{last}, {first}"),
            "Date of birth:",
            "17.05.1980".to_owned(),
        ),
        ("Order no.:", order.clone(), "Sex:", "female".to_owned()),
        (
            "Sender:",
            "Dr. A. Example, general practice".to_owned(),
            "Insurance:",
            "statutory".to_owned(),
        ),
        (
            taken,
            euro_date(dates.collected),
            received,
            euro_date(dates.received),
        ),
        (
            reported,
            euro_date(dates.reported),
            "Status:",
            "final report".to_owned(),
        ),
    ];
    for (label, value, label2, value2) in rows {
        sheet.text(LEFT, 8.5, true, label);
        sheet.text(LEFT + 78.0, 8.5, false, value);
        sheet.text(320.0, 8.5, true, label2);
        sheet.text(320.0 + 72.0, 8.5, false, value2);
        sheet.y += 12.0;
    }
    sheet.y += 14.0;
    layout.column_header();

    // Sections: three to five, in the laboratory's order.
    let wanted = 3 + rng.below(3);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < wanted {
        let section = rng.below(SECTIONS.len());
        if !chosen.contains(&section) {
            chosen.push(section);
        }
    }
    chosen.sort_unstable();
    let mut results = Results::default();
    let mut footnote = false;
    for section in chosen {
        let (title, material, panels) = SECTIONS[section];
        let mut samples: Vec<Sample> = Vec::new();
        for panel in panels {
            let keep = if *panel == "lipid" { 0.0 } else { 0.6 };
            samples.extend(draw_panel(rng, panel, units, keep));
        }
        let mut ldl = None;
        if title == "Lipids" {
            // The lipid profile: measured total, HDL and triglycerides, calculated LDL.
            for loinc in ["2093-3", "2085-9", "2571-8"] {
                samples.extend(draw(rng, loinc, units));
            }
            if let (Some(total), Some(hdl), Some(trig)) = (
                samples.iter().find(|s| s.loinc == "2093-3"),
                samples.iter().find(|s| s.loinc == "2085-9"),
                samples.iter().find(|s| s.loinc == "2571-8"),
            ) {
                let value = super::round(total.value - hdl.value - trig.value / 2.2, 2);
                if let Some(mut sample) = draw(rng, "13457-7", units)
                    && trig.value < 4.5
                    && value >= 0.5
                {
                    sample.value = value;
                    ldl = Some(sample);
                }
            }
            if rng.chance(0.4) {
                samples.extend(draw(rng, "10835-7", units));
            }
        }
        // The anion gap is calculated; this laboratory does not report it.
        samples.retain(|s| s.loinc != "33037-3");
        if samples.is_empty() {
            continue;
        }
        layout.ensure(40.0);
        layout.sheet.y += 4.0;
        layout.sheet.text(LEFT, 9.5, true, title);
        layout
            .sheet
            .text(RANGE_X, 8.0, false, format!("Material: {material}"));
        layout.sheet.y += 13.0;
        for mut sample in samples {
            if sample.low == 0.0 && rng.chance(0.25) {
                sample.make_below_limit();
            }
            let base = sentence_case(&sample.names[0]);
            let mut name = match sample.abbreviations.first() {
                Some(abbreviation) if rng.chance(0.25) && base != *abbreviation => {
                    format!("{base} ({abbreviation})")
                }
                _ => base,
            };
            if width(&name, 9.0) > RANGE_X - LEFT - 10.0 {
                name = sample.shortest_name();
            }
            let printed = if rng.chance(0.12) {
                footnote = true;
                format!("{name}\u{b9}")
            } else {
                name.clone()
            };
            layout.row(&printed, &sample);
            results.add(&sample, &name, layout.sheet.page, false);
        }
        if let Some(ldl) = ldl {
            let name = "LDL cholesterol (calc.)";
            layout.row(name, &ldl);
            results.add(&ldl, name, layout.sheet.page, true);
        }
        layout.sheet.y += 6.0;
    }
    layout.ensure(60.0);
    layout.sheet.y += 10.0;
    let mut notes = vec!["+ above the reference range, - below the reference range.".to_owned()];
    if !results.calculated.is_empty() {
        notes.push("LDL cholesterol calculated by the Friedewald formula (valid for triglycerides below 4,5 mmol/l).".to_owned());
    }
    if footnote {
        notes.push("\u{b9} Test not covered by the accreditation.".to_owned());
    }
    notes.push(
        "Medically validated by Dr. med. A. Example, specialist in laboratory medicine.".into(),
    );
    for note in notes {
        layout.sheet.text(LEFT, 7.5, false, note);
        layout.sheet.y += 10.0;
    }
    layout.footer();
    finish(layout.sheet, results, &dates)
}
