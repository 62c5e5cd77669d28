use std::collections::HashSet;

use super::*;

fn code(name: &str, unit: Option<&str>) -> Option<String> {
    LoincTable::builtin().lookup(name, unit).map(|m| m.code)
}

#[test]
fn the_builtin_table_parses_with_valid_codes_and_units() {
    let table = LoincTable::parse(include_str!("../../data/loinc.tsv")).expect("parses");
    assert!(
        table.entries().len() >= 300,
        "{} rows",
        table.entries().len()
    );
    let mut codes = HashSet::new();
    for entry in table.entries() {
        assert!(codes.insert(&entry.code), "duplicate {}", entry.code);
        assert!(!entry.display.is_empty());
        assert!(
            !entry.abbreviations.is_empty() || !entry.synonyms.is_empty(),
            "{} has no names",
            entry.code
        );
        if let Some(unit) = &entry.unit {
            // Every listed unit is UCUM already: normalising it changes nothing.
            assert_eq!(
                ucum::normalize(unit).as_deref(),
                Some(unit.as_str()),
                "{}: unit {unit}",
                entry.code
            );
        }
    }
}

#[test]
fn rejects_a_malformed_table() {
    assert!(LoincTable::parse("718-7\tHemoglobin\n").is_err());
    // Check digit wrong.
    assert!(LoincTable::parse("718-6\tHemoglobin\tHGB\t-\tg/dL\t-\n").is_err());
    assert!(LoincTable::parse("718-7\tHemoglobin\tHGB\t-\tg/dL\t-\n").is_ok());
}

#[test]
fn check_digits() {
    assert_eq!(loinc_check_digit("718"), 7);
    assert_eq!(loinc_check_digit("2345"), 7);
    assert_eq!(loinc_check_digit("4548"), 4);
    assert!(is_loinc_code("62292-8"));
    assert!(!is_loinc_code("62292-9"));
    assert!(!is_loinc_code("abc-1"));
}

#[test]
fn exact_synonym_and_abbreviation_matches() {
    let table = LoincTable::builtin();
    let m = table.lookup("Hemoglobin", Some("g/dL")).expect("match");
    assert_eq!((m.code.as_str(), m.kind), ("718-7", MatchKind::Exact));
    assert!(m.confidence > 0.95);
    let m = table.lookup("HGB", None).expect("match");
    assert_eq!((m.code.as_str(), m.kind), ("718-7", MatchKind::Synonym));
    assert_eq!(code("ALT (SGPT)", Some("U/L")).as_deref(), Some("1742-6"));
    assert_eq!(code("SGOT", None).as_deref(), Some("1920-8"));
    assert_eq!(
        code("Glucose, Fasting", Some("mg/dL")).as_deref(),
        Some("1558-6")
    );
    assert_eq!(code("WBC", Some("10*9/L")).as_deref(), Some("6690-2"));
    assert_eq!(code("hemoglobin a1c", Some("%")).as_deref(), Some("4548-4"));
    assert_eq!(code("TSH", Some("u[IU]/mL")).as_deref(), Some("3016-3"));
    assert_eq!(
        code("Hemoglobin (HGB)", Some("g/dL")).as_deref(),
        Some("718-7")
    );
    assert_eq!(
        code("25-OH Vitamin D", Some("ng/mL")).as_deref(),
        Some("62292-8")
    );
}

#[test]
fn the_unit_decides_between_rows_sharing_a_name() {
    assert_eq!(code("Glucose", Some("mg/dL")).as_deref(), Some("2345-7"));
    assert_eq!(code("Glucose", Some("mmol/L")).as_deref(), Some("14749-6"));
    assert_eq!(code("Glucose", None).as_deref(), Some("2345-7"));
    assert_eq!(code("Neutrophils", Some("%")).as_deref(), Some("770-8"));
    assert_eq!(
        code("Neutrophils", Some("10*9/L")).as_deref(),
        Some("751-8")
    );
    assert_eq!(
        code("Creatinine", Some("umol/L")).as_deref(),
        Some("14682-9")
    );
    assert_eq!(code("Cholesterol", Some("g/L")).as_deref(), Some("2093-3"));
    // A unit that fits no row keeps the first row, with less confidence.
    let m = LoincTable::builtin()
        .lookup("Glucose", Some("%"))
        .expect("match");
    assert_eq!(m.code, "2345-7");
    assert!(m.confidence < 0.85);
}

#[test]
fn ocr_noise_and_fuzzy_names() {
    assert_eq!(code("Hem0globin", Some("g/dL")).as_deref(), Some("718-7"));
    assert_eq!(code("P1atelets", None).as_deref(), Some("777-3"));
    let m = LoincTable::builtin()
        .lookup("Haemoglobn", Some("g/dL"))
        .expect("fuzzy match");
    assert_eq!((m.code.as_str(), m.kind), ("718-7", MatchKind::Fuzzy));
    assert!(m.confidence < 0.9);
    let m = LoincTable::builtin()
        .lookup("Alkaline Phosphatse", Some("U/L"))
        .expect("fuzzy match");
    assert_eq!(m.code, "6768-6");
}

#[test]
fn unknown_names_do_not_match() {
    for name in ["Zzyzx factor", "Patient name", "Page", "", "  ", "Specimen"] {
        assert_eq!(code(name, None), None, "{name}");
    }
}

#[test]
fn name_normalisation() {
    assert_eq!(normalize_name("  Glucose,  FASTING "), "glucose fasting");
    assert_eq!(normalize_name("NEUT%"), "neut %");
    assert_eq!(normalize_name("Neutrophils (%)"), "neutrophils %");
    assert_eq!(normalize_name("NEUT#"), "neut #");
    assert_eq!(normalize_name("HDL-C"), "hdl c");
    assert_eq!(normalize_name("25(OH)D"), "25 oh d");
}
