//! Unit tests (issue #20): the variety of report a new lab brings, on small hand-made lines and
//! word boxes — decimal commas, SI units, dotted leaders, section headings, flag variants, a
//! previous-result column, range spellings, footnote markers, names wrapped onto two lines.

use super::dates::Dates;
use super::layout::{Tables, read_page};
use super::*;
use crate::text::Word;

/// (name, value, unit, low, high, flag) of each result.
type Got = (
    String,
    Option<f64>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);

fn got(results: &[ExtractedResult]) -> Vec<Got> {
    results
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.value,
                r.unit.clone(),
                r.range_low,
                r.range_high,
                r.flag.clone(),
            )
        })
        .collect()
}

fn want(
    name: &str,
    value: f64,
    unit: Option<&str>,
    low: Option<f64>,
    high: Option<f64>,
    flag: Option<&str>,
) -> Got {
    (
        name.to_owned(),
        Some(value),
        unit.map(str::to_owned),
        low,
        high,
        flag.map(str::to_owned),
    )
}

fn lines(text: &str) -> Vec<ExtractedResult> {
    RuleExtractor::default().extract_text(text).results
}

/// Words of `cells` (x, text) on a line at `y`, 6 units a character, size 10.
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

fn table(rows: &[Vec<Word>]) -> Vec<ExtractedResult> {
    let words: Vec<Word> = rows.iter().flatten().cloned().collect();
    read_page(
        &RuleExtractor::default(),
        &words,
        TextOrigin::TextLayer,
        &mut Tables::default(),
        &mut Dates::default(),
    )
    .unwrap_or_else(|| {
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        panic!("no table in {texts:?}")
    })
}

fn header(y: f64) -> Vec<Word> {
    line(
        y,
        &[
            (0.0, "Test"),
            (200.0, "Result"),
            (260.0, "Flag"),
            (300.0, "Units"),
            (380.0, "Reference Range"),
        ],
    )
}

#[test]
fn decimal_commas_and_si_units() {
    let results = lines(
        "Glucose   5,4   mmol/L   3,9 - 5,5\nCreatinine   88   µmol/L   62 - 106\n\
         Albumin   42   g/L   35 - 50\nUrea   1,250   mmol/L   2,5 - 7,5\n",
    );
    assert_eq!(
        got(&results)[..3],
        [
            want("Glucose", 5.4, Some("mmol/L"), Some(3.9), Some(5.5), None),
            want(
                "Creatinine",
                88.0,
                Some("µmol/L"),
                Some(62.0),
                Some(106.0),
                None
            ),
            want("Albumin", 42.0, Some("g/L"), Some(35.0), Some(50.0), None),
        ]
    );
    // SI units map to the SI rows of the table with their UCUM codes.
    for (result, code, ucum_unit) in [
        (&results[0], "14749-6", "mmol/L"),
        (&results[1], "14682-9", "umol/L"),
        (&results[2], "1751-7", "g/L"),
    ] {
        let mapped = crate::pipeline::map_result(result.clone(), 0.75);
        assert_eq!(
            mapped.loinc.as_ref().map(|m| m.code.as_str()),
            Some(code),
            "{}",
            result.name
        );
        assert_eq!(mapped.ucum_unit.as_deref(), Some(ucum_unit));
        assert_eq!(mapped.review_reason, None, "{}", result.name);
    }
    // `1,250` with three digits after the comma is a thousands separator, never 1.25.
    assert_eq!(results[3].value, Some(1250.0));
}

#[test]
fn dotted_leaders_without_spaces() {
    assert_eq!(
        got(&lines(
            "Glucose.......112 mg/dL 70-99\nSodium..........139 mmol/L 136-145\n"
        )),
        [
            want(
                "Glucose",
                112.0,
                Some("mg/dL"),
                Some(70.0),
                Some(99.0),
                None
            ),
            want(
                "Sodium",
                139.0,
                Some("mmol/L"),
                Some(136.0),
                Some(145.0),
                None
            ),
        ]
    );
    // One word of a text layer under a table header: split at the leaders into two columns.
    let results = table(&[
        header(0.0),
        line(14.0, &[(0.0, "Glucose..........................112")]),
        line(28.0, &[(0.0, "Sodium"), (200.0, "139"), (300.0, "mmol/L")]),
    ]);
    assert_eq!(
        got(&results)
            .iter()
            .map(|g| (g.0.as_str(), g.1))
            .collect::<Vec<_>>(),
        [("Glucose", Some(112.0)), ("Sodium", Some(139.0))]
    );
}

#[test]
fn section_headings_are_not_results_nor_names() {
    let text = "CHEMISTRY\nGlucose   112   mg/dL   70-99\nHEMATOLOGY\nHemoglobin   13.5   g/dL   13.0-17.0\n";
    let names: Vec<String> = lines(text).into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["Glucose", "Hemoglobin"]);
    // In a table: a heading above a row without a name is not that row's name.
    let results = table(&[
        header(0.0),
        line(14.0, &[(0.0, "HEMATOLOGY")]),
        line(
            28.0,
            &[(200.0, "13.5"), (300.0, "g/dL"), (380.0, "13.0 - 17.0")],
        ),
        line(42.0, &[(0.0, "CHEMISTRY")]),
        line(56.0, &[(0.0, "Glucose"), (200.0, "112"), (300.0, "mg/dL")]),
    ]);
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Glucose"]);
}

#[test]
fn flag_variants_in_a_column_and_on_a_line() {
    let results = table(&[
        header(0.0),
        line(
            14.0,
            &[
                (0.0, "Glucose"),
                (200.0, "112"),
                (260.0, "*"),
                (300.0, "mg/dL"),
            ],
        ),
        line(
            28.0,
            &[
                (0.0, "Potassium"),
                (200.0, "6.9"),
                (260.0, "HH"),
                (300.0, "mmol/L"),
            ],
        ),
        line(
            42.0,
            &[
                (0.0, "Sodium"),
                (200.0, "118"),
                (260.0, "LL"),
                (300.0, "mmol/L"),
            ],
        ),
        line(
            56.0,
            &[
                (0.0, "Calcium"),
                (200.0, "14.1"),
                (260.0, "CRIT"),
                (300.0, "mg/dL"),
            ],
        ),
        line(
            70.0,
            &[
                (0.0, "Chloride"),
                (200.0, "111"),
                (260.0, "A"),
                (300.0, "mmol/L"),
            ],
        ),
        line(
            84.0,
            &[
                (0.0, "Magnesium"),
                (200.0, "1.2"),
                (260.0, "!"),
                (300.0, "mg/dL"),
            ],
        ),
        line(
            98.0,
            &[
                (0.0, "Iron"),
                (200.0, "20"),
                (260.0, "Abnormal"),
                (300.0, "ug/dL"),
            ],
        ),
    ]);
    let flags: Vec<(Option<f64>, Option<&str>)> = results
        .iter()
        .map(|r| (r.value, r.flag.as_deref()))
        .collect();
    assert_eq!(
        flags,
        [
            (Some(112.0), Some("*")),
            (Some(6.9), Some("HH")),
            (Some(118.0), Some("LL")),
            (Some(14.1), Some("CRIT")),
            (Some(111.0), Some("A")),
            (Some(1.2), Some("!")),
            (Some(20.0), Some("Abnormal")),
        ]
    );
    let on_lines = lines("Glucose   112 !   mg/dL   70-99\nSodium   118 LL   mmol/L   136-145\n");
    assert_eq!(on_lines[0].flag.as_deref(), Some("!"));
    assert_eq!(on_lines[1].flag.as_deref(), Some("LL"));
    assert_eq!(on_lines[1].value, Some(118.0));
}

#[test]
fn the_current_result_is_taken_beside_a_previous_one() {
    for title in [
        "Previous",
        "Prior Result",
        "Last Value",
        "Previous (11/02/2026)",
    ] {
        let results = table(&[
            line(
                0.0,
                &[
                    (0.0, "Test"),
                    (150.0, title),
                    (300.0, "Current"),
                    (360.0, "Units"),
                    (440.0, "Range"),
                ],
            ),
            line(
                14.0,
                &[
                    (0.0, "Glucose"),
                    (150.0, "98"),
                    (300.0, "112"),
                    (360.0, "mg/dL"),
                    (440.0, "70 - 99"),
                ],
            ),
        ]);
        assert_eq!(
            got(&results),
            [want(
                "Glucose",
                112.0,
                Some("mg/dL"),
                Some(70.0),
                Some(99.0),
                None
            )],
            "{title}"
        );
    }
    // Positive control: with a title that does not say "earlier" the first number is taken.
    let results = table(&[
        line(
            0.0,
            &[
                (0.0, "Test"),
                (150.0, "Result"),
                (260.0, "Current"),
                (320.0, "Units"),
                (400.0, "Range"),
            ],
        ),
        line(
            14.0,
            &[
                (0.0, "Glucose"),
                (150.0, "98"),
                (260.0, "112"),
                (320.0, "mg/dL"),
                (400.0, "70 - 99"),
            ],
        ),
    ]);
    assert_eq!(results.first().and_then(|r| r.value), Some(98.0));
}

#[test]
fn range_spellings() {
    let results = lines(
        "Glucose   112   mg/dL   70 – 99\nHemoglobin A1c   5.4   %   <= 5.6\n\
         CRP   3   mg/L   up to 5\nLDL Cholesterol   95   mg/dL   ≤ 100\n",
    );
    assert_eq!(
        got(&results),
        [
            want(
                "Glucose",
                112.0,
                Some("mg/dL"),
                Some(70.0),
                Some(99.0),
                None
            ),
            want("Hemoglobin A1c", 5.4, Some("%"), None, Some(5.6), None),
            want("CRP", 3.0, Some("mg/L"), None, Some(5.0), None),
            want(
                "LDL Cholesterol",
                95.0,
                Some("mg/dL"),
                None,
                Some(100.0),
                None
            ),
        ]
    );
    assert_eq!(results[2].range_text.as_deref(), Some("<=5"));
}

#[test]
fn footnote_markers_glued_to_names_and_values() {
    let results = lines(
        "Glucose¹   112   mg/dL   70-99\nFerritin*1   45²   ng/mL   30-400\n\
         eGFR   92†   mL/min/1.73m²   >60\n",
    );
    assert_eq!(
        got(&results)[..2],
        [
            want(
                "Glucose",
                112.0,
                Some("mg/dL"),
                Some(70.0),
                Some(99.0),
                None
            ),
            want(
                "Ferritin",
                45.0,
                Some("ng/mL"),
                Some(30.0),
                Some(400.0),
                None
            ),
        ]
    );
    assert_eq!(results[2].value, Some(92.0));
    // The unit's own superscript stays.
    assert_eq!(results[2].unit.as_deref(), Some("mL/min/1.73m²"));
    // A clean reading: no confidence lost to the marker.
    assert!(results.iter().all(|r| r.confidence > 0.9));
    // In a table's name column too.
    let results = table(&[
        header(0.0),
        line(14.0, &[(0.0, "Sodium²"), (200.0, "139"), (300.0, "mmol/L")]),
    ]);
    assert_eq!(results[0].name, "Sodium");
}

#[test]
fn long_names_wrapped_onto_two_lines() {
    // The rest of the name under the row with the values.
    let results = table(&[
        header(0.0),
        line(
            14.0,
            &[
                (0.0, "Thyroid Stimulating"),
                (200.0, "2.10"),
                (300.0, "uIU/mL"),
                (380.0, "0.45 - 4.50"),
            ],
        ),
        line(26.0, &[(0.0, "Hormone")]),
        line(40.0, &[(0.0, "Sodium"), (200.0, "139"), (300.0, "mmol/L")]),
    ]);
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Thyroid Stimulating Hormone", "Sodium"]);
    // The first part of the name above the row with the rest and the values.
    let results = table(&[
        header(0.0),
        line(14.0, &[(0.0, "Thyroid Stimulating")]),
        line(
            26.0,
            &[
                (0.0, "Hormone"),
                (200.0, "2.10"),
                (300.0, "uIU/mL"),
                (380.0, "0.45 - 4.50"),
            ],
        ),
    ]);
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Thyroid Stimulating Hormone"]);
    // A known name is not glued to the next row's (two results, not one).
    let results = table(&[
        header(0.0),
        line(14.0, &[(0.0, "Glucose"), (200.0, "112"), (300.0, "mg/dL")]),
        line(26.0, &[(0.0, "Sodium"), (200.0, "139"), (300.0, "mmol/L")]),
    ]);
    assert_eq!(results.len(), 2);
}
