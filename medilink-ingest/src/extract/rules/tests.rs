use super::*;

fn extract(text: &str) -> ExtractedReport {
    RuleExtractor::default().extract_text(text)
}

/// (name, value_text, unit, low, high, flag)
type Row = (
    String,
    String,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);

fn rows(report: &ExtractedReport) -> Vec<Row> {
    report
        .results
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.value_text.clone(),
                r.unit.clone(),
                r.range_low,
                r.range_high,
                r.flag.clone(),
            )
        })
        .collect()
}

fn row(
    name: &str,
    value: &str,
    unit: Option<&str>,
    low: Option<f64>,
    high: Option<f64>,
    flag: Option<&str>,
) -> Row {
    (
        name.to_owned(),
        value.to_owned(),
        unit.map(str::to_owned),
        low,
        high,
        flag.map(str::to_owned),
    )
}

#[test]
fn column_layout_with_header_and_patient_block() {
    let text = "\
GREENFIELD DIAGNOSTICS                      Page 1 of 1
Patient: Synthetic Person          DOB: 1980-05-02        MRN: 000123
Collected: 2026-03-14 08:30        Reported: 2026-03-15 14:02

COMPLETE BLOOD COUNT
Test                      Result     Units        Reference Range    Flag
WBC                       11.8       x10^9/L      4.0 - 10.0         H
Hemoglobin                13.5       g/dL         13.0 - 17.0
Platelets                 250        x10^3/uL     150 - 400
Neutrophils %             72.1       %            40.0-75.0
Creatinine                <0.01      mg/dL        0.70-1.30          L
HDL Cholesterol           38         mg/dL        >40                L
";
    let report = extract(text);
    // The printed time is kept (local, no zone: the pipeline adds it); the report date is issued.
    assert_eq!(report.report_date.as_deref(), Some("2026-03-14T08:30:00"));
    assert_eq!(report.issued.as_deref(), Some("2026-03-15T14:02:00"));
    assert_eq!(
        rows(&report),
        vec![
            row(
                "WBC",
                "11.8",
                Some("x10^9/L"),
                Some(4.0),
                Some(10.0),
                Some("H")
            ),
            row(
                "Hemoglobin",
                "13.5",
                Some("g/dL"),
                Some(13.0),
                Some(17.0),
                None
            ),
            row(
                "Platelets",
                "250",
                Some("x10^3/uL"),
                Some(150.0),
                Some(400.0),
                None
            ),
            row(
                "Neutrophils %",
                "72.1",
                Some("%"),
                Some(40.0),
                Some(75.0),
                None
            ),
            row(
                "Creatinine",
                "<0.01",
                Some("mg/dL"),
                Some(0.7),
                Some(1.3),
                Some("L")
            ),
            row(
                "HDL Cholesterol",
                "38",
                Some("mg/dL"),
                Some(40.0),
                None,
                Some("L")
            ),
        ]
    );
    let creatinine = &report.results[4];
    assert_eq!(creatinine.comparator.as_deref(), Some("<"));
    assert_eq!(creatinine.value, Some(0.01));
    assert_eq!(report.results[5].range_text.as_deref(), Some(">40"));
    assert!(report.results.iter().all(|r| r.confidence > 0.85));
}

#[test]
fn colon_layout_with_ref_in_parentheses() {
    let text = "\
Date: 03/14/2026
Glucose: 105 mg/dL (Ref: 70-99) H
Sodium: 139 mEq/L (Ref: 136-145)
TSH: 2.15 uIU/mL (Ref: 0.40-4.50)
Urine Protein: Negative (Ref: Negative)
";
    let report = extract(text);
    assert_eq!(report.report_date.as_deref(), Some("2026-03-14"));
    assert_eq!(
        rows(&report),
        vec![
            row(
                "Glucose",
                "105",
                Some("mg/dL"),
                Some(70.0),
                Some(99.0),
                Some("H")
            ),
            row(
                "Sodium",
                "139",
                Some("mEq/L"),
                Some(136.0),
                Some(145.0),
                None
            ),
            row("TSH", "2.15", Some("uIU/mL"), Some(0.4), Some(4.5), None),
            row("Urine Protein", "Negative", None, None, None, None),
        ]
    );
    assert_eq!(report.results[3].value, None);
    assert_eq!(report.results[3].range_text.as_deref(), Some("Negative"));
}

#[test]
fn dotted_leaders_pipes_and_ocr_noise() {
    let text = "\
Report date: 14 Mar 2026
| Hemoglobin ........ | l3.5 | g/dl | 13.0-17.0 |
Hematocrit . . . . . . 41,2 % 40,0-52,0
| Potassium | 5.9 H | mmol/L | 3.5 - 5.1 |
MCV ______ 88 fL 80-100
";
    let report = extract(text);
    assert_eq!(report.report_date.as_deref(), Some("2026-03-14"));
    assert_eq!(
        rows(&report),
        vec![
            row(
                "Hemoglobin",
                "13.5",
                Some("g/dl"),
                Some(13.0),
                Some(17.0),
                None
            ),
            row(
                "Hematocrit",
                "41.2",
                Some("%"),
                Some(40.0),
                Some(52.0),
                None
            ),
            row(
                "Potassium",
                "5.9",
                Some("mmol/L"),
                Some(3.5),
                Some(5.1),
                Some("H")
            ),
            row("MCV", "88", Some("fL"), Some(80.0), Some(100.0), None),
        ]
    );
    // The repaired value is less certain than the clean ones.
    assert!(report.results[0].confidence < report.results[3].confidence);
}

#[test]
fn single_spaced_ocr_lines_split_at_the_value() {
    let text = "\
CA 19-9 12 U/mL 0-37
Vitamin B12 450 pg/mL 200-900
25-OH Vitamin D 18 ng/mL 30-100 L
Anion gap 3 12 mmol/L 3-11 H
Free T4 1.2 ng/dL 0.8-1.8
";
    let report = extract(text);
    assert_eq!(
        rows(&report),
        vec![
            row("CA 19-9", "12", Some("U/mL"), Some(0.0), Some(37.0), None),
            row(
                "Vitamin B12",
                "450",
                Some("pg/mL"),
                Some(200.0),
                Some(900.0),
                None
            ),
            row(
                "25-OH Vitamin D",
                "18",
                Some("ng/mL"),
                Some(30.0),
                Some(100.0),
                Some("L")
            ),
            row(
                "Anion gap 3",
                "12",
                Some("mmol/L"),
                Some(3.0),
                Some(11.0),
                Some("H")
            ),
            row("Free T4", "1.2", Some("ng/dL"), Some(0.8), Some(1.8), None),
        ]
    );
}

#[test]
fn flag_between_value_and_unit_and_unitless_tests() {
    let text = "\
Test          Result  Flag  Units     Reference
Glucose       142     H     mg/dL     70-99
INR           1.1                     0.8-1.2
Specific Gravity  1.020           1.005-1.030
pH            6.0                     5.0-8.0
";
    let report = extract(text);
    assert_eq!(
        rows(&report),
        vec![
            row(
                "Glucose",
                "142",
                Some("mg/dL"),
                Some(70.0),
                Some(99.0),
                Some("H")
            ),
            row("INR", "1.1", None, Some(0.8), Some(1.2), None),
            row(
                "Specific Gravity",
                "1.020",
                None,
                Some(1.005),
                Some(1.03),
                None
            ),
            row("pH", "6.0", None, Some(5.0), Some(8.0), None),
        ]
    );
}

#[test]
fn lines_that_are_not_results_are_skipped() {
    let text = "\
Patient ID 12345
Page 2 of 3
Phone: 555 0100
Age: 46 years
Sample No 998877
Physician: Dr Someone
Lorem ipsum 42
Fasting: Yes
Comment: repeat in 3 months
";
    let report = extract(text);
    assert_eq!(rows(&report), Vec::<Row>::new());
    assert_eq!(report.report_date, None);
}

#[test]
fn birth_dates_are_not_report_dates_and_collection_wins() {
    let report = extract("DOB: 01/02/1970\nReported: 2026-03-16\nDate collected: 15 Mar 2026\n");
    assert_eq!(report.report_date.as_deref(), Some("2026-03-15"));
    let report = extract("Name: X    DOB: 1970-01-02    Collected: 2026-03-14\n");
    assert_eq!(report.report_date.as_deref(), Some("2026-03-14"));
}

#[test]
fn an_unknown_test_with_a_unit_is_kept() {
    let report = extract("Zonulin factor   42   ng/mL   10-50\n");
    assert_eq!(
        rows(&report),
        vec![row(
            "Zonulin factor",
            "42",
            Some("ng/mL"),
            Some(10.0),
            Some(50.0),
            None
        )]
    );
}

#[test]
fn ocr_text_gets_a_lost_decimal_point_back() {
    let text = "Neut%   615   %   40.0-75.0\nWBC   45   x10^9/L   4.0-10.0\nPLT   250   K/uL   150-400\n\
        Retic   04   %   05-25\nWBC   12   x10^9/L   4-10\nFerritin   12   ng/mL   30.0-400.0\n";
    let ocr = RuleExtractor::default().extract_lines(text, TextOrigin::Ocr);
    assert_eq!(ocr.results[0].value, Some(61.5));
    assert_eq!(ocr.results[0].value_text, "61.5");
    assert!(ocr.results[0].confidence <= 0.6);
    // A whole number beside a range printed with decimals: the range's decimals.
    assert_eq!(ocr.results[1].value, Some(4.5));
    assert!(ocr.results[1].confidence <= 0.6);
    // A range without decimals says nothing about the value's.
    assert_eq!(ocr.results[2].value, Some(250.0));
    assert_eq!(ocr.results[4].value, Some(12.0));
    // A leading zero is a lost point, whatever the range.
    assert_eq!(ocr.results[3].value, Some(0.4));
    assert!(ocr.results[3].confidence <= 0.6);
    // Not when the point would make it implausible (1.2 against 30.0–400.0).
    assert_eq!(ocr.results[5].value, Some(12.0));
    // A text layer is never second-guessed.
    let layer = RuleExtractor::default().extract_text(text);
    assert_eq!(layer.results[0].value, Some(615.0));
    // Issue #20: a range whose points were lost too (`05-25`, the lower bound's leading zero
    // tells) gets them back, and then the value its range's decimals.
    let retic = RuleExtractor::default().extract_lines("Retic   15   %   05-25\n", TextOrigin::Ocr);
    let retic = &retic.results[0];
    assert_eq!(
        (retic.value, retic.range_low, retic.range_high),
        (Some(1.5), Some(0.5), Some(2.5))
    );
    assert!(retic.confidence <= 0.6);
    // A range printed without a leading zero is left alone (`5-25` may be meant).
    let plain = RuleExtractor::default().extract_lines("Retic   15   %   5-25\n", TextOrigin::Ocr);
    assert_eq!(
        (plain.results[0].value, plain.results[0].range_low),
        (Some(15.0), Some(5.0))
    );
}

#[test]
fn ocr_text_keeps_a_garbled_unit_printed_with_the_name_as_the_unit() {
    let text = "TOTAL IRON BINDING CAPACITY (meg/dt)   224   250 - 450\nHemoglobin (HGB)   13.5   13.0 - 17.0\nVitamin D (fasting)   31   30 - 100\n";
    let ocr = RuleExtractor::default().extract_lines(text, TextOrigin::Ocr);
    let got: Vec<(&str, Option<&str>)> = ocr
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.unit.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("TOTAL IRON BINDING CAPACITY", Some("meg/dt")),
            ("Hemoglobin (HGB)", None),
            ("Vitamin D (fasting)", None),
        ]
    );
    // A text layer's name is left as printed.
    let layer = RuleExtractor::default().extract_text(text);
    assert_eq!(layer.results[0].unit, None);
}

#[test]
fn a_roman_one_read_as_a_pipe_keeps_the_longer_name() {
    // A name cell as the layout reader passes it (the line reader makes a lone `|` a gap).
    let rules = RuleExtractor::default();
    assert_eq!(rules.roman_one("Troponin |").as_deref(), Some("Troponin I"));
    assert_eq!(rules.roman_one("Troponin l").as_deref(), Some("Troponin I"));
    // A table rule after a name that has no `I` form stays a rule.
    assert_eq!(rules.roman_one("Glucose |"), None);
    assert_eq!(rules.roman_one("Troponin"), None);
}
