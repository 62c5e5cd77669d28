//! Unit tests of the de-identification rules.

use serde_json::{Value, json};
use time::macros::datetime;

use super::pseudonym::Pseudonymizer;
use super::scrub::{is_temporal, zip3};
use super::*;

const KEY: [u8; 32] = [7; 32];

fn deidentifier(keep_zip3: bool) -> Deidentifier {
    let mut options = DeidOptions::new(datetime!(2026-11-29 12:00 UTC));
    options.keep_zip3 = keep_zip3;
    Deidentifier::new(&KEY, options)
}

#[test]
fn temporal_values_are_recognised() {
    for text in [
        "2016",
        "2016-03",
        "2016-03-28",
        "2016-03-28T09:30:00Z",
        "2016-03-28T09:30",
    ] {
        assert!(is_temporal(text), "{text}");
    }
    for text in [
        "201",
        "2345-7",
        "20160328",
        "2016-3-28",
        "abcd",
        "2016-03-28 09:30",
        "1.2.3",
    ] {
        assert!(!is_temporal(text), "{text}");
    }
}

#[test]
fn zip_codes_keep_three_digits_and_restricted_prefixes_become_000() {
    assert_eq!(zip3("02139").as_deref(), Some("021"));
    assert_eq!(zip3("02139-4307").as_deref(), Some("021"));
    for restricted in super::rules::RESTRICTED_ZIP3 {
        assert_eq!(zip3(&format!("{restricted}45")).as_deref(), Some("000"));
    }
    assert_eq!(super::rules::RESTRICTED_ZIP3.len(), 17);
    assert_eq!(zip3("3999"), None);
    assert_eq!(zip3("SW1A 1AA"), None);
}

#[test]
fn references_are_pseudonymised_in_every_form() {
    let pseudonyms = Pseudonymizer::new(&KEY);
    let expected = format!("Patient/{}", pseudonyms.id("Patient", "123"));
    for form in [
        "Patient/123",
        "Patient/123/_history/4",
        "https://example.org/fhir/R4/Patient/123",
        "http://example.org/Patient/123/_history/1",
    ] {
        assert_eq!(
            pseudonyms.reference(form, &[]).as_deref(),
            Some(expected.as_str()),
            "{form}"
        );
    }
    let uuid = pseudonyms
        .reference("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", &[])
        .expect("a uuid reference survives");
    assert!(uuid.starts_with("urn:uuid:") && uuid.len() == 45, "{uuid}");
    assert!(!uuid.contains("0c3151bd"));
    let kept = [("med1".to_owned(), "c1".to_owned())];
    assert_eq!(pseudonyms.reference("#med1", &kept).as_deref(), Some("#c1"));
    assert_eq!(pseudonyms.reference("#gone", &kept), None);
    for dropped in [
        "Patient?identifier=123",
        "urn:oid:1.2.3",
        "123",
        "patient/123",
    ] {
        assert_eq!(pseudonyms.reference(dropped, &[]), None, "{dropped}");
    }
    let id = pseudonyms.id("Patient", "123");
    assert_eq!(id.len(), 32);
    assert!(pseudonym::is_fhir_id(&id));
    assert_ne!(id, pseudonyms.id("Observation", "123"));
}

#[test]
fn birth_dates_of_people_aged_90_or_more_share_one_bucket() {
    let deid = deidentifier(false);
    let cases = [
        ("1974-12-25", "1974"),
        ("1937-06-01", "1937"),
        ("1936-12-31", "1936"),
        ("1936-01-01", "1936"),
        ("1921-03-04", "1936"),
        ("1899", "1936"),
    ];
    for (birth_date, expected) in cases {
        let patient = json!({"resourceType": "Patient", "id": "p", "birthDate": birth_date});
        let out = deid.deidentify(&patient).expect("exported");
        assert_eq!(out["birthDate"], expected, "{birth_date}");
    }
}

#[test]
fn ages_of_90_or_more_become_90_or_older() {
    let deid = deidentifier(false);
    let condition = |value: Value, code: &str| {
        json!({
            "resourceType": "Condition",
            "id": "c",
            "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "39065001"}]},
            "onsetAge": {"value": value, "unit": "x", "system": "http://unitsofmeasure.org", "code": code}
        })
    };
    let old = deid
        .deidentify(&condition(json!(97), "a"))
        .expect("exported");
    assert_eq!(old["onsetAge"]["value"], 90);
    assert_eq!(old["onsetAge"]["comparator"], ">=");
    let old_in_months = deid
        .deidentify(&condition(json!(1100), "mo"))
        .expect("exported");
    assert_eq!(old_in_months["onsetAge"]["value"], 90);
    let young = deid
        .deidentify(&condition(json!(42), "a"))
        .expect("exported");
    assert_eq!(young["onsetAge"]["value"], 42);
    assert!(young["onsetAge"].get("comparator").is_none());
}

#[test]
fn modifier_extensions_and_implicit_rules_are_refused() {
    let deid = deidentifier(false);
    let nested = json!({
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "component": [{
            "modifierExtension": [{"url": "http://example.org/x", "valueBoolean": true}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}
        }]
    });
    let err = deid.deidentify(&nested).expect_err("refused");
    assert!(
        matches!(&err, DeidError::ModifierExtension { path } if path == "Observation.component[0].modifierExtension"),
        "{err:?}"
    );
    assert_eq!(err.kind(), medilink_fhir::ErrorKind::Unprocessable);
    let rules = json!({"resourceType": "Patient", "implicitRules": "http://example.org/rules"});
    assert!(matches!(
        deid.deidentify(&rules),
        Err(DeidError::ImplicitRules { .. })
    ));
}

#[test]
fn identifying_types_and_non_resources_are_refused() {
    let deid = deidentifier(false);
    for resource_type in [
        "Person",
        "RelatedPerson",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Account",
        "Coverage",
        "Device",
        "Bundle",
    ] {
        let resource = json!({"resourceType": resource_type, "id": "x"});
        assert!(
            matches!(deid.deidentify(&resource), Err(DeidError::UnsupportedType { resource_type: ref refused }) if refused == resource_type),
            "{resource_type}"
        );
    }
    assert!(matches!(
        deid.deidentify(&json!([1])),
        Err(DeidError::NotAResource)
    ));
    let odd = deid.deidentify(&json!({"resourceType": "Peter Smith 123"}));
    assert!(
        matches!(odd, Err(DeidError::UnsupportedType { resource_type }) if resource_type == "(invalid)")
    );
}

#[test]
fn a_required_element_left_empty_is_refused() {
    let deid = deidentifier(false);
    let text_only = json!({
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"text": "weight of Peter Chalmers"}
    });
    assert!(matches!(
        deid.deidentify(&text_only),
        Err(DeidError::InvalidOutput { expression, .. }) if expression.contains("code")
    ));
}

#[test]
fn addresses_keep_state_country_and_zip3_only_when_asked() {
    let patient = json!({
        "resourceType": "Patient",
        "id": "p",
        "address": [
            {"use": "home", "line": ["1 Main St"], "city": "Springfield", "district": "Hampden",
             "state": "MA", "postalCode": "01103", "country": "US"},
            {"line": ["2 Elm St"], "city": "Lebanon", "state": "NH", "postalCode": "03601"},
            {"city": "Melbourne", "postalCode": "3000", "country": "Australia"}
        ]
    });
    let with_zip3 = deidentifier(true).deidentify(&patient).expect("exported");
    assert_eq!(
        with_zip3["address"],
        json!([
            {"use": "home", "state": "MA", "country": "US", "postalCode": "011"},
            {"state": "NH", "postalCode": "000"},
            {"country": "Australia"}
        ])
    );
    let without = deidentifier(false).deidentify(&patient).expect("exported");
    assert_eq!(
        without["address"],
        json!([{"use": "home", "state": "MA", "country": "US"}, {"state": "NH"}, {"country": "Australia"}])
    );
}

#[test]
fn extensions_meta_and_displays_are_reduced() {
    let observation = json!({
        "resourceType": "Observation",
        "id": "o",
        "meta": {"versionId": "3", "lastUpdated": "2026-01-02T03:04:05Z", "source": "#abc",
                 "profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"],
                 "tag": [{"system": "http://example.org", "code": "mrn-123"}]},
        "extension": [{"url": "http://example.org/home-town", "valueString": "Springfield"}],
        "status": "final",
        "_status": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}]},
        "subject": {"reference": "Patient/p", "display": "Peter Chalmers"},
        "performer": [{"display": "Dr Adam Careful"}],
        "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
    });
    let out = deidentifier(false)
        .deidentify(&observation)
        .expect("exported");
    let deid = deidentifier(false);
    assert_eq!(
        out,
        json!({
            "resourceType": "Observation",
            "id": deid.pseudonym("Observation", "o"),
            "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}]},
            "subject": {"reference": format!("Patient/{}", deid.pseudonym("Patient", "p"))},
            "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
        })
    );
}

#[test]
fn ages_in_unknown_units_and_age_observations_are_handled() {
    let deid = deidentifier(false);
    let observation = |code: &str, quantity: Value| {
        json!({
            "resourceType": "Observation",
            "id": "o",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": quantity
        })
    };
    let age = deid
        .deidentify(&observation("30525-0", json!({"value": 93, "unit": "yr"})))
        .expect("exported");
    assert_eq!(age["valueQuantity"]["value"], 90);
    assert_eq!(age["valueQuantity"]["comparator"], ">=");
    let unknown_unit = deid
        .deidentify(&observation(
            "30525-0",
            json!({"value": 93, "unit": "moons"}),
        ))
        .expect("exported");
    assert!(unknown_unit.get("valueQuantity").is_none());
    let weight = deid
        .deidentify(&observation("29463-7", json!({"value": 93, "unit": "kg"})))
        .expect("exported");
    assert_eq!(weight["valueQuantity"], json!({"value": 93, "unit": "kg"}));
}

#[test]
fn contained_resources_get_new_ids_and_sampled_data_keeps_its_samples() {
    let request = json!({
        "resourceType": "MedicationRequest",
        "id": "rx",
        "contained": [
            {"resourceType": "Provenance", "id": "sig"},
            {"resourceType": "Medication", "id": "MRN-123-med",
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430127000"}]},
             "batch": {"lotNumber": "AAJN11K"}}
        ],
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "#MRN-123-med"},
        "subject": {"reference": "Patient/p"},
        "supportingInformation": [{"reference": "#sig"}]
    });
    let out = deidentifier(false).deidentify(&request).expect("exported");
    assert_eq!(
        out["contained"],
        json!([{"resourceType": "Medication", "id": "c1",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "430127000"}]}}])
    );
    assert_eq!(out["medicationReference"]["reference"], "#c1");
    assert!(out.get("supportingInformation").is_none());
    let sampled = json!({
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "131328"}]},
        "valueSampledData": {"origin": {"value": 2048}, "period": 10, "dimensions": 1, "data": "2041 2043 2037"}
    });
    let out = deidentifier(false).deidentify(&sampled).expect("exported");
    assert_eq!(out["valueSampledData"]["data"], "2041 2043 2037");
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let deid = Deidentifier::new(
        &[0xab; 32],
        DeidOptions::new(datetime!(2026-11-29 12:00 UTC)),
    );
    let debug = format!("{deid:?}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(
        !debug.contains("171") && !debug.contains("0xab") && !debug.contains("ab, ab"),
        "{debug}"
    );
}
