//! Unit tests of the validator, one small resource per rule.

use serde_json::{Value, json};

use super::check;
use crate::error::IssueCode;

/// `(code, expression)` of every issue.
fn issues(resource: Value) -> Vec<(IssueCode, String)> {
    check(&resource)
        .into_iter()
        .map(|issue| (issue.code, issue.expression.unwrap_or_default()))
        .collect()
}

fn assert_valid(resource: Value) {
    let found = issues(resource);
    assert!(found.is_empty(), "unexpected issues: {found:?}");
}

fn assert_issue(resource: Value, code: IssueCode, expression: &str) {
    let found = issues(resource);
    assert!(
        found.iter().any(|(c, e)| *c == code && e == expression),
        "expected {code:?} at {expression}, got {found:?}"
    );
}

#[test]
fn model_loads() {
    assert!(super::model::MODEL.is_resource("Patient"));
    assert!(super::model::MODEL.is_primitive("dateTime"));
}

#[test]
fn resource_type() {
    assert_valid(json!({"resourceType": "Patient"}));
    assert_issue(
        json!({"resourceType": "Patientt"}),
        IssueCode::NotSupported,
        "resourceType",
    );
    assert_issue(
        json!({"resourceType": "DomainResource"}),
        IssueCode::NotSupported,
        "resourceType",
    );
    assert_issue(json!({"id": "x"}), IssueCode::Required, "resourceType");
    assert_issue(json!([1]), IssueCode::Structure, "Resource");
}

#[test]
fn unknown_elements() {
    assert_issue(
        json!({"resourceType": "Patient", "foo": 1}),
        IssueCode::Structure,
        "Patient.foo",
    );
    assert_issue(
        json!({"resourceType": "Patient", "contact": [{"name": {"famly": "x"}}]}),
        IssueCode::Structure,
        "Patient.contact[0].name.famly",
    );
}

#[test]
fn primitive_formats_and_json_types() {
    assert_valid(json!({"resourceType": "Patient", "birthDate": "1970-01-01", "active": true}));
    assert_issue(
        json!({"resourceType": "Patient", "birthDate": "1970-13-01"}),
        IssueCode::Value,
        "Patient.birthDate",
    );
    assert_issue(
        json!({"resourceType": "Patient", "active": "true"}),
        IssueCode::Value,
        "Patient.active",
    );
    assert_issue(
        json!({"resourceType": "Patient", "id": "a b"}),
        IssueCode::Value,
        "Patient.id",
    );
    assert_issue(
        json!({"resourceType": "Patient", "gender": ""}),
        IssueCode::Value,
        "Patient.gender",
    );
    let found = check(&json!({"resourceType": "Patient", "birthDate": "secret"}));
    assert!(
        found
            .iter()
            .all(|issue| !issue.diagnostics.contains("secret"))
    );
}

#[test]
fn cardinality() {
    assert_issue(
        json!({"resourceType": "Observation", "code": {"text": "x"}}),
        IssueCode::Required,
        "Observation.status",
    );
    assert_issue(
        json!({"resourceType": "Patient", "gender": ["male"]}),
        IssueCode::Structure,
        "Patient.gender",
    );
    assert_issue(
        json!({"resourceType": "Patient", "name": {"family": "x"}}),
        IssueCode::Structure,
        "Patient.name",
    );
    assert_issue(
        json!({"resourceType": "Patient", "name": []}),
        IssueCode::Structure,
        "Patient.name",
    );
    assert_issue(
        json!({"resourceType": "Patient", "name": [{}]}),
        IssueCode::Structure,
        "Patient.name[0]",
    );
}

#[test]
fn choice_types() {
    let observation = |extra: Value| {
        let mut base =
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        base
    };
    assert_valid(observation(
        json!({"valueQuantity": {"value": 1.5, "unit": "kg"}}),
    ));
    assert_valid(observation(json!({"valueString": "x"})));
    assert_issue(
        observation(json!({"valueFoo": "x"})),
        IssueCode::Structure,
        "Observation.valueFoo",
    );
    assert_issue(
        observation(json!({"valueMarkdown": "x"})),
        IssueCode::Structure,
        "Observation.valueMarkdown",
    );
    let both = observation(json!({"valueString": "x", "valueBoolean": true}));
    assert_issue(both, IssueCode::Structure, "Observation.valueBoolean");
}

#[test]
fn primitive_extensions() {
    let extension = json!({"extension": [{"url": "http://example.org/x", "valueCode": "masked"}]});
    assert_valid(json!({"resourceType": "Patient", "_birthDate": extension.clone()}));
    assert_valid(
        json!({"resourceType": "Patient", "name": [{"given": ["a", null], "_given": [null, extension.clone()]}]}),
    );
    assert_issue(
        json!({"resourceType": "Patient", "name": [{"given": ["a", null]}]}),
        IssueCode::Structure,
        "Patient.name[0].given[1]",
    );
    assert_issue(
        json!({"resourceType": "Patient", "name": [{"given": ["a"], "_given": [null, null]}]}),
        IssueCode::Structure,
        "Patient.name[0].given",
    );
    assert_issue(
        json!({"resourceType": "Patient", "_birthDate": {"value": "x"}}),
        IssueCode::Structure,
        "Patient._birthDate.value",
    );
    assert_issue(
        json!({"resourceType": "Patient", "_name": {"id": "x"}}),
        IssueCode::Structure,
        "Patient._name",
    );
}

#[test]
fn nested_types_and_extensions() {
    assert_issue(
        json!({"resourceType": "Patient", "extension": [{"valueString": "x"}]}),
        IssueCode::Required,
        "Patient.extension[0].url",
    );
    assert_issue(
        json!({"resourceType": "Patient", "managingOrganization": {"reference": "Organization/1", "foo": 1}}),
        IssueCode::Structure,
        "Patient.managingOrganization.foo",
    );
    assert_issue(
        json!({"resourceType": "Patient", "extension": [{"url": "http://x", "valueQuantity": {"value": "1"}}]}),
        IssueCode::Value,
        "Patient.extension[0].valueQuantity.value",
    );
}

#[test]
fn content_references() {
    let questionnaire = json!({
        "resourceType": "Questionnaire", "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "string"}]}]
    });
    assert_valid(questionnaire);
    assert_issue(
        json!({"resourceType": "Questionnaire", "status": "draft",
               "item": [{"linkId": "1", "type": "group", "item": [{"type": "string"}]}]}),
        IssueCode::Required,
        "Questionnaire.item[0].item[0].linkId",
    );
}

#[test]
fn contained_and_bundled_resources() {
    assert_issue(
        json!({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "bogus": 1}]}),
        IssueCode::Structure,
        "Patient.contained[0].bogus",
    );
    assert_issue(
        json!({"resourceType": "Bundle", "type": "collection",
               "entry": [{"resource": {"resourceType": "Patient", "gender": "x"}}]}),
        IssueCode::CodeInvalid,
        "Bundle.entry[0].resource.gender",
    );
    assert_issue(
        json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "1"}}]}),
        IssueCode::Required,
        "Bundle.entry[0].resource.resourceType",
    );
}

#[test]
fn required_bindings() {
    assert_valid(json!({"resourceType": "Patient", "gender": "female"}));
    assert_issue(
        json!({"resourceType": "Patient", "gender": "f"}),
        IssueCode::CodeInvalid,
        "Patient.gender",
    );
    let coding = |code: &str| {
        json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
            "resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code}}}]})
    };
    assert_valid(coding("AMB"));
    // codings of systems the value set does not cover are not judged
    assert_valid(
        json!({"resourceType": "Patient", "maritalStatus": {"coding": [{"system": "http://example.org", "code": "zz"}]}}),
    );
}
