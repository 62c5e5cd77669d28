//! Unit tests of the Bulk Data kick-off parameters and levels.

use super::*;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn parse(pairs: &[(&str, &str)]) -> Result<ExportRequest, FhirError> {
    ExportRequest::parse(ExportLevel::System, &params(pairs), "u".to_owned())
}

#[test]
fn kick_off_parameters_are_validated() {
    let request = parse(&[
        ("_outputFormat", "ndjson"),
        ("_type", "Patient, Observation"),
        ("_since", "2024-01-01T00:00:00Z"),
    ])
    .expect("valid");
    assert_eq!(request.types, ["Patient", "Observation"]);
    assert_eq!(request.since.as_deref(), Some("2024-01-01T00:00:00Z"));
    for bad in [
        ("_outputFormat", "application/fhir+json"),
        ("_type", "Patient,Nonsense"),
        ("_since", "yesterday"),
        ("_typeFilter", "Observation?code=x"),
        ("_elements", "id"),
        ("includeAssociatedData", "LatestProvenanceResources"),
        ("unknown", "1"),
    ] {
        assert!(parse(&[bad]).is_err(), "{bad:?}");
    }
}

#[test]
fn patient_levels_read_compartment_types_only() {
    let mut request = parse(&[("_type", "Observation,Organization")]).expect("valid");
    assert_eq!(request.resource_types().len(), 2);
    request.level = ExportLevel::Patients;
    assert_eq!(request.resource_types(), [ResourceType::Observation]);
    request.types.clear();
    assert!(request.resource_types().contains(&ResourceType::Patient));
    assert!(
        !request
            .resource_types()
            .contains(&ResourceType::Organization)
    );
}
