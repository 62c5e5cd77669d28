//! Held-out design `friendly`: a patient-portal printout written for the patient, not a table.
//! Each result is a card: the test's name in bold; the value and unit printed together
//! (`112 mg/dL`) either on the name's line or on the next (`Your result: 112 mg/dL`), with a
//! status word (`High`, `Above normal`, `Normal`, ...); the range as a sentence (`Normal range:
//! 70 - 99 mg/dL`, `less than 3.00 mg/L`); then a sentence or two of explanation, which can
//! contain numbers and units of its own (`A fasting value of 126 mg/dL or more ...`). Friendly
//! section titles (`Cholesterol (lipid panel)`), month-name dates with a 12-hour clock, a
//! "printed on" line in the footer, and the non-HDL cholesterol calculated from the panel.

use super::{Flag, Results, Sample, Sheet, Units, When, dates, draw, draw_panel, finish, wrap};
use crate::designs::{Report, Rng};

const LEFT: f64 = 56.0;
const VALUE_X: f64 = 330.0;
const STATUS_X: f64 = 455.0;
const BOTTOM: f64 = 792.0 - 66.0;
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// (title, panels, keep).
const SECTIONS: &[(&str, &[&str], f64)] = &[
    ("Blood count (CBC)", &["cbc"], 0.6),
    ("Metabolic panel", &["cmp"], 0.6),
    ("Cholesterol (lipid panel)", &["lipid"], 0.0),
    ("Diabetes tests", &["diabetes"], 0.9),
    ("Thyroid tests", &["thyroid"], 0.7),
    ("Iron tests", &["iron"], 0.7),
    ("Vitamins", &["vitamins"], 0.9),
    ("Liver tests", &["liver"], 0.6),
    ("Inflammation tests", &["inflammation"], 0.7),
    ("Kidney and urine tests", &["urine"], 0.9),
    ("Heart tests", &["cardiac"], 0.6),
    ("Hormone tests", &["endocrine"], 0.5),
];

fn explanation(sample: &Sample) -> &'static str {
    match sample.loinc.as_str() {
        "2345-7" => {
            "Glucose is the main sugar in your blood. A fasting value of 126 mg/dL or more on two tests can mean diabetes."
        }
        "4548-4" => "This test shows your average blood sugar over the past 2 to 3 months.",
        "2093-3" => {
            "Cholesterol is a fat carried in your blood. High levels over many years raise the risk of heart disease."
        }
        "2085-9" => "HDL is the \"good\" cholesterol: a higher value is usually better.",
        "2571-8" => {
            "Triglycerides are a type of fat. Eating shortly before the test can raise them."
        }
        "43396-1" => {
            "Your total cholesterol minus your HDL. It is worked out from the two results above, not measured separately."
        }
        "2160-0" => "Creatinine is a waste product that healthy kidneys filter out of your blood.",
        "3016-3" => "TSH tells your thyroid gland how much hormone to make.",
        "718-7" => {
            "Hemoglobin carries oxygen in your red blood cells. A low value can mean anemia."
        }
        "2276-4" => "Ferritin shows how much iron your body has stored.",
        "62292-8" => {
            "Vitamin D keeps your bones strong. Many labs consider less than 20 ng/mL too low."
        }
        "2823-3" => "Potassium helps your nerves and muscles, including your heart, work properly.",
        _ => match sample.panel.as_str() {
            "cbc" => "Part of your complete blood count, which looks at the cells in your blood.",
            "cmp" => {
                "Part of a panel that checks your kidneys, liver, blood sugar and body salts (electrolytes)."
            }
            "liver" => "Liver tests show how well your liver is working.",
            "thyroid" => "Thyroid tests show how well your thyroid gland is working.",
            "iron" => "Iron tests help find out whether you have too little or too much iron.",
            "inflammation" => "This test shows whether there is inflammation in your body.",
            "cardiac" => "This test helps your care team check your heart.",
            "urine" => "This urine test helps check how well your kidneys are working.",
            _ => "Your care team will explain what this result means for you.",
        },
    }
}

/// `December 7, 2026 at 8:15 AM`, `Dec 7, 2026 8:15 AM` or `12/7/2026 8:15 AM`.
fn long_date(style: usize, when: When) -> String {
    let month = MONTHS[when.month as usize - 1];
    match style {
        0 => format!("{month} {}, {} at {}", when.day, when.year, when.clock()),
        1 => format!(
            "{} {}, {} {}",
            &month[..3],
            when.day,
            when.year,
            when.clock()
        ),
        _ => format!("{}/{}/{} {}", when.month, when.day, when.year, when.clock()),
    }
}

struct Layout {
    sheet: Sheet,
    footer: String,
}

impl Layout {
    fn footer(&mut self) {
        let y = self.sheet.height - 34.0;
        let page = self.sheet.page + 1;
        let text = self.footer.clone();
        self.sheet.at(LEFT, y, 7.0, false, false, text);
        self.sheet.at(
            self.sheet.width - 110.0,
            y,
            7.0,
            false,
            false,
            format!("Page {page} of PAGES"),
        );
    }

    fn ensure(&mut self, height: f64) {
        if self.sheet.y + height <= BOTTOM {
            return;
        }
        self.footer();
        self.sheet.page += 1;
        self.sheet.y = 56.0;
    }
}

pub(crate) fn generate(rng: &mut Rng, index: u64) -> Report {
    let (first, last) = super::patient(rng);
    let dates = dates(rng);
    let units = Units::conventional(rng);
    let style = rng.below(3);
    let value_below = rng.chance(0.5);
    let (range_label, words) = *rng.pick(&[
        ("Normal range", ("High", "Low", "Normal")),
        ("Standard range", ("Above normal", "Below normal", "Normal")),
        ("Reference range", ("High", "Low", "In range")),
    ]);
    let (collected_label, reported_label) = *rng.pick(&[
        ("Collected:", "Results reported:"),
        ("Collected on", "Resulted on"),
        ("Specimen collected", "Result date"),
    ]);
    let clinic = *rng.pick(&["Maple Grove Health", "Riverside Family Medicine"]);
    let printed = When {
        hour: (dates.reported.hour + 3).min(23),
        ..dates.reported
    };
    let mut layout = Layout {
        sheet: Sheet::new(612.0, 792.0),
        footer: format!(
            "{clinic} \u{b7} MyHealth portal \u{b7} Printed {}",
            long_date(1, printed)
        ),
    };
    let sheet = &mut layout.sheet;
    sheet.y = 56.0;
    sheet.text(LEFT, 17.0, true, "Your Test Results");
    sheet.text(420.0, 10.0, true, clinic);
    sheet.y += 24.0;
    sheet.text(LEFT, 11.0, true, format!("{first} {last}"));
    sheet.y += 14.0;
    sheet.text(
        LEFT,
        9.0,
        false,
        format!(
            "Date of birth: May 17, 1980   \u{b7}   MRN {}",
            100_000 + index * 37
        ),
    );
    sheet.y += 12.0;
    sheet.text(LEFT, 9.0, false, "Ordered by: Dr. A. Example");
    sheet.y += 18.0;
    sheet.text(
        LEFT,
        9.0,
        false,
        format!("{collected_label} {}", long_date(style, dates.collected)),
    );
    sheet.y += 12.0;
    sheet.text(
        LEFT,
        9.0,
        false,
        format!("{reported_label} {}", long_date(style, dates.reported)),
    );
    sheet.y += 18.0;
    for line in wrap(
        "Here are your results. A result outside the normal range is not always a problem: your care team will contact you if anything needs follow-up.",
        8.5,
        480.0,
    ) {
        sheet.text(LEFT, 8.5, false, line);
        sheet.y += 10.5;
    }
    sheet.y += 10.0;

    let wanted = 2 + rng.below(3);
    let mut chosen: Vec<usize> = Vec::new();
    while chosen.len() < wanted {
        let section = rng.below(SECTIONS.len());
        if !chosen.contains(&section) {
            chosen.push(section);
        }
    }
    let mut results = Results::default();
    for section in chosen {
        let (title, panels, keep) = SECTIONS[section];
        let mut samples: Vec<(Sample, bool)> = panels
            .iter()
            .flat_map(|panel| draw_panel(rng, panel, units, keep))
            .filter(|s| !matches!(s.loinc.as_str(), "43396-1" | "33037-3" | "10834-0"))
            .map(|s| (s, false))
            .collect();
        // The albumin/creatinine ratio is the ratio of the two urine results printed with it.
        let urine = |loinc: &str| {
            samples
                .iter()
                .find(|(s, _)| s.loinc == loinc)
                .map(|(s, _)| s.value)
        };
        match (urine("14957-5"), urine("2161-8")) {
            (Some(albumin), Some(creatinine)) => {
                for (sample, _) in &mut samples {
                    if sample.loinc == "9318-7" {
                        sample.value = super::round(albumin / creatinine * 100.0, 1).max(0.1);
                    }
                }
            }
            _ => samples.retain(|(s, _)| s.loinc != "9318-7"),
        }
        if title.starts_with("Cholesterol") {
            let drawn: Vec<Sample> = ["2093-3", "2085-9", "13457-7", "2571-8"]
                .iter()
                .filter_map(|loinc| draw(rng, loinc, units))
                .collect();
            let total = drawn.iter().find(|s| s.loinc == "2093-3").map(|s| s.value);
            let hdl = drawn.iter().find(|s| s.loinc == "2085-9").map(|s| s.value);
            samples.extend(drawn.into_iter().map(|s| (s, false)));
            if let (Some(total), Some(hdl)) = (total, hdl)
                && let Some(mut non_hdl) = draw(rng, "43396-1", units)
                && total - hdl >= 30.0
            {
                non_hdl.value = total - hdl;
                samples.push((non_hdl, true));
            }
        }
        if samples.is_empty() {
            continue;
        }
        layout.ensure(80.0);
        layout.sheet.y += 6.0;
        layout.sheet.text(LEFT - 8.0, 12.5, true, title);
        layout.sheet.y += 18.0;
        for (mut sample, calculated) in samples {
            if sample.low == 0.0 && !calculated && rng.chance(0.2) {
                sample.make_below_limit();
            }
            let name = if calculated {
                "Non-HDL Cholesterol (calculated)".to_owned()
            } else {
                sample.names[0].clone()
            };
            let about = wrap(explanation(&sample), 8.0, 440.0);
            let lines = 2 + usize::from(value_below) + about.len();
            layout.ensure(12.0 * lines as f64 + 8.0);
            let status = match sample.flag() {
                Flag::High => words.0,
                Flag::Low => words.1,
                Flag::Normal => words.2,
            };
            let value = format!("{} {}", sample.value_text(), sample.unit);
            let sheet = &mut layout.sheet;
            sheet.text(LEFT, 10.5, true, name.clone());
            if value_below {
                sheet.y += 13.0;
                sheet.text(LEFT, 9.5, false, format!("Your result: {value}"));
                sheet.text(LEFT + 200.0, 9.5, true, status);
            } else {
                sheet.text(VALUE_X, 10.5, true, value);
                sheet.text(STATUS_X, 9.5, false, status);
            }
            results.add(&sample, &name, sheet.page, calculated);
            sheet.y += 12.0;
            let range = if calculated {
                format!("{range_label}: less than 130 {}", sample.unit)
            } else if sample.low == 0.0 {
                format!(
                    "{range_label}: less than {} {}",
                    sample.number(sample.high),
                    sample.unit
                )
            } else {
                format!(
                    "{range_label}: {} - {} {}",
                    sample.number(sample.low),
                    sample.number(sample.high),
                    sample.unit
                )
            };
            sheet.text(LEFT, 8.5, false, range);
            sheet.y += 11.0;
            for line in about {
                sheet.text(LEFT, 8.0, false, line);
                sheet.y += 10.0;
            }
            sheet.y += 9.0;
        }
    }
    layout.footer();
    finish(layout.sheet, results, &dates)
}
