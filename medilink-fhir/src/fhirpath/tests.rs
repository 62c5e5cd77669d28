//! Unit tests of the FHIRPath evaluator: representative search-parameter expressions on the
//! official R4 examples, plus operator and function semantics.

use serde_json::{Value, json};

use super::{Expression, Item, evaluate};

fn example(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/fhirpath/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("example file exists");
    serde_json::from_str(&text).expect("example is json")
}

fn run<'a>(src: &str, resource: &'a Value) -> Vec<Item<'a>> {
    let expr = Expression::parse(src).expect("expression parses");
    evaluate(&expr, resource).expect("expression evaluates")
}

fn texts(items: &[Item<'_>]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Item::Node { value, .. } => match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            Item::String(s) | Item::Decimal(s) | Item::Date(s) | Item::DateTime(s) => s.clone(),
            Item::Boolean(b) => b.to_string(),
            Item::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn observation_value_as_quantity() {
    let observation = example("observation-example");
    let items = run("Observation.value as Quantity", &observation);
    assert_eq!(items.len(), 1);
    assert!(matches!(
        items[0],
        Item::Node {
            type_name: Some("Quantity"),
            ..
        }
    ));
    let items = run("(Observation.value as CodeableConcept)", &observation);
    assert!(items.is_empty());
    let items = run("Observation.value.ofType(Quantity).value", &observation);
    assert!(matches!(
        items[0],
        Item::Node {
            type_name: Some("decimal"),
            ..
        }
    ));
}

#[test]
fn patient_paths_and_where() {
    let patient = example("patient-example");
    let given = run("Patient.name.given", &patient);
    assert_eq!(texts(&given), ["Peter", "James", "Jim", "Peter", "James"]);
    assert_eq!(texts(&run("name.given.first()", &patient)), ["Peter"]);
    assert!(run("Observation.status", &patient).is_empty());
    let phones = run(
        "Patient.telecom.where(system='phone' and use='work')",
        &patient,
    );
    assert_eq!(phones.len(), 1);
    assert!(matches!(
        phones[0],
        Item::Node {
            type_name: Some("ContactPoint"),
            ..
        }
    ));
    assert!(run("Patient.telecom.where(system='email')", &patient).is_empty());
    let birth = run("Patient.birthDate", &patient);
    assert!(matches!(
        birth[0],
        Item::Node {
            type_name: Some("date"),
            ..
        }
    ));
    let union = run("Patient.name.family | Patient.name.family", &patient);
    assert_eq!(texts(&union), ["Chalmers", "Windsor"]);
}

#[test]
fn resolve_type_test() {
    let account = json!({
        "resourceType": "Account",
        "status": "active",
        "subject": [{"reference": "Patient/1"}, {"reference": "Device/2"}]
    });
    let items = run("Account.subject.where(resolve() is Patient)", &account);
    assert_eq!(items.len(), 1);
    assert!(matches!(
        items[0],
        Item::Node {
            type_name: Some("Reference"),
            ..
        }
    ));
    let contained = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "contained": [{"resourceType": "Patient", "id": "p"}],
        "subject": {"reference": "#p"}
    });
    let items = run("Observation.subject.resolve()", &contained);
    assert!(matches!(
        items[0],
        Item::Node {
            type_name: Some("Patient"),
            ..
        }
    ));
}

#[test]
fn indexer_and_extension() {
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "document",
        "entry": [{"resource": {"resourceType": "Composition", "status": "final"}}]
    });
    let items = run("Bundle.entry[0].resource", &bundle);
    assert!(matches!(
        items[0],
        Item::Node {
            type_name: Some("Composition"),
            ..
        }
    ));
    let patient = json!({
        "resourceType": "Patient",
        "extension": [{"url": "http://x/a", "valueString": "hello"}],
        "birthDate": "1970-01-01",
        "_birthDate": {"extension": [{"url": "http://x/t", "valueTime": "10:00:00"}]}
    });
    assert_eq!(
        texts(&run("Patient.extension('http://x/a').value", &patient)),
        ["hello"]
    );
    assert_eq!(
        texts(&run(
            "Patient.extension.where(url='http://x/a').value",
            &patient
        )),
        ["hello"]
    );
    assert_eq!(
        texts(&run(
            "Patient.birthDate.extension('http://x/t').value",
            &patient
        )),
        ["10:00:00"]
    );
}

#[test]
fn operators() {
    let empty = json!({"resourceType": "Basic"});
    let check = |src: &str, expected: &[&str]| {
        assert_eq!(texts(&run(src, &empty)), expected, "{src}");
    };
    check("1 + 2 * 3", &["7"]);
    check("(1 | 2 | 2).count()", &["2"]);
    check("{} and true", &[]);
    check("{} and false", &["false"]);
    check("true or {}", &["true"]);
    check("'abc' = 'abc'", &["true"]);
    check("'abc' = 'ABC'", &["false"]);
    check("'abc' ~ 'ABC'", &["true"]);
    check("@2012-04-15 < @2012-04-16", &["true"]);
    check("@2012-04-15 = @2012-04", &[]);
    check("@2012-01-31 + 1 month", &["2012-02-29"]);
    check("'abcdef'.substring(2, 3)", &["cde"]);
    check(
        "(1 | 2 | 3).where($this > 1).select($this * 2)",
        &["4", "6"],
    );
    assert!(Expression::parse("2 + 2 /").is_err());
}
