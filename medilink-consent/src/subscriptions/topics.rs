//! The subscription topics the server ships (R4 has no `SubscriptionTopic` resource: the
//! Backport IG names topics by canonical URL, and the CapabilityStatement lists them), each
//! with the search parameters a subscriber may filter on, and [`Filter`]: a subscription's
//! `_criteria` filters, parsed and matched against a resource.
//!
//! A topic fires on every version of its resource type: created, updated or deleted
//! (`new or changed`). Filters are ANDed; the values of one filter are ORed. `patient`
//! matches a resource that belongs to that patient by the access rule (any reference to the
//! `Patient`, `referenced_patients`), every other filter is the official R4 search
//! parameter of that name evaluated on the resource (token values: `code`, `system|code`,
//! `|code`, `system|`).
//!
//! The topics are also served as resources, as the Backport IG does in R4: each is a
//! `Basic` ([`Topic::as_basic`], id [`Topic::basic_id`]) read at `Basic/{id}` and found by
//! `GET [base]/Basic?code=SubscriptionTopic`.

use medilink_fhir::fhirpath::{Item, evaluate};
use medilink_fhir::search::compartment::referenced_patients;
use medilink_fhir::search::registry;
use medilink_fhir::{FhirError, FhirResult, ResourceType};
use serde_json::{Value, json};

/// Where the shipped topics' canonical URLs start.
pub const TOPIC_BASE: &str = "https://medilink.example/fhir/SubscriptionTopic/";

/// One shipped topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    /// Its canonical URL.
    pub url: &'static str,
    /// A human title.
    pub title: &'static str,
    /// The resource type whose versions it fires on.
    pub resource_type: ResourceType,
    /// The filter parameters a subscription may use.
    pub filters: &'static [&'static str],
}

/// Every topic the server ships.
pub const TOPICS: [Topic; 6] = [
    Topic {
        url: "https://medilink.example/fhir/SubscriptionTopic/observation",
        title: "A patient's Observation created, changed or deleted",
        resource_type: ResourceType::Observation,
        filters: &["patient", "code", "category", "status"],
    },
    Topic {
        url: "https://medilink.example/fhir/SubscriptionTopic/diagnostic-report",
        title: "A patient's DiagnosticReport created, changed or deleted",
        resource_type: ResourceType::DiagnosticReport,
        filters: &["patient", "code", "category", "status"],
    },
    Topic {
        url: "https://medilink.example/fhir/SubscriptionTopic/medication-request",
        title: "A patient's MedicationRequest created, changed or deleted",
        resource_type: ResourceType::MedicationRequest,
        filters: &["patient", "code", "status", "intent"],
    },
    Topic {
        url: "https://medilink.example/fhir/SubscriptionTopic/encounter",
        title: "A patient's Encounter created, changed or deleted",
        resource_type: ResourceType::Encounter,
        filters: &["patient", "status", "class", "type"],
    },
    Topic {
        url: "https://medilink.example/fhir/SubscriptionTopic/consent",
        title: "A patient's Consent created, changed or revoked",
        resource_type: ResourceType::Consent,
        filters: &["patient", "status"],
    },
    // The portals' live view of document jobs (issue #21): the ingest job records its progress
    // on the uploaded document's `DocumentReference` (`medilink_ingest::job::INGEST_EXTENSION`).
    Topic {
        url: "https://medilink.example/fhir/SubscriptionTopic/document-reference",
        title: "A patient's DocumentReference created or changed (an upload and its processing)",
        resource_type: ResourceType::DocumentReference,
        filters: &["patient", "status", "type"],
    },
];

/// The shipped topic with this canonical URL (a `|version` suffix is ignored).
pub fn topic(url: &str) -> Option<&'static Topic> {
    let url = url.split('|').next().unwrap_or(url);
    TOPICS.iter().find(|topic| topic.url == url)
}

/// The canonical base of the FHIR R4B cross-version extensions the Backport IG represents an
/// R4 `SubscriptionTopic` with (on a `Basic`).
pub const TOPIC_EXTENSION: &str =
    "http://hl7.org/fhir/4.3/StructureDefinition/extension-SubscriptionTopic";
/// Where the id of a topic's `Basic` starts.
const BASIC_ID_PREFIX: &str = "subscription-topic-";

impl Topic {
    /// The id of the `Basic` that represents it (`subscription-topic-observation`).
    pub fn basic_id(&self) -> String {
        let name = self.url.rsplit('/').next().unwrap_or(self.url);
        format!("{BASIC_ID_PREFIX}{name}")
    }

    /// The Backport IG 1.1.0 leaves topic definitions out of scope in R4 (its
    /// `components.md`, "Subscription Topics in R4": discovery is the CapabilityStatement's
    /// `capabilitystatement-subscriptiontopic-canonical` extension, which the server sends);
    /// this `Basic` is a MediLink addition following the IG's later CI build (1.2.0-ballot,
    /// `input/fsh/BackportTopics.fsh`).
    ///
    /// The topic as the Backport IG represents a `SubscriptionTopic` in R4: a `Basic` whose
    /// `code` is `SubscriptionTopic` (`http://hl7.org/fhir/fhir-types`), with the R4B
    /// cross-version extensions `url`, `title`, `status` (a modifier extension),
    /// `resourceTrigger` (the resource and its create, update and delete interactions) and one
    /// `canFilterBy` per filter parameter.
    pub fn as_basic(&self) -> Value {
        let extension = |name: &str| format!("{TOPIC_EXTENSION}.{name}");
        let resource = self.resource_type.as_str();
        let mut extensions = vec![
            json!({"url": extension("url"), "valueUri": self.url}),
            json!({"url": extension("title"), "valueString": self.title}),
            json!({"url": extension("resourceTrigger"), "extension": [
                {"url": "description", "valueMarkdown": self.title},
                {"url": "resource", "valueUri": resource},
                {"url": "supportedInteraction", "valueCode": "create"},
                {"url": "supportedInteraction", "valueCode": "update"},
                {"url": "supportedInteraction", "valueCode": "delete"},
            ]}),
        ];
        for filter in self.filters {
            let description = if *filter == "patient" {
                "The patient the resource belongs to (Patient/id or id)".to_owned()
            } else {
                format!("The R4 search parameter {resource}.{filter} (token)")
            };
            extensions.push(json!({"url": extension("canFilterBy"), "extension": [
                {"url": "description", "valueMarkdown": description},
                {"url": "resource", "valueUri": resource},
                {"url": "filterParameter", "valueString": filter},
            ]}));
        }
        json!({
            "resourceType": "Basic",
            "id": self.basic_id(),
            "extension": extensions,
            "modifierExtension": [{"url": extension("status"), "valueCode": "active"}],
            "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types",
                                 "code": "SubscriptionTopic"}]},
        })
    }
}

/// The shipped topic whose `Basic` has this id.
pub fn topic_by_basic_id(id: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|topic| topic.basic_id() == id)
}

/// Whether a search of `Basic` with `pairs` asks for the topics: its only parameter is
/// `code` (any of its values `SubscriptionTopic` or `http://hl7.org/fhir/fhir-types|SubscriptionTopic`),
/// with perhaps `_count`.
pub fn asks_for_topics(pairs: &[(String, String)]) -> bool {
    let mut code = false;
    for (name, value) in pairs {
        match name.as_str() {
            "code" => {
                code = value.split(',').any(|value| {
                    matches!(
                        value,
                        "SubscriptionTopic" | "http://hl7.org/fhir/fhir-types|SubscriptionTopic"
                    )
                });
                if !code {
                    return false;
                }
            }
            "_count" => {}
            _ => return false,
        }
    }
    code
}

/// One filter of a subscription: a parameter and the values it accepts (any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The parameter (one of the topic's [`Topic::filters`]).
    pub param: String,
    /// The accepted values.
    pub values: Vec<String>,
}

fn unprocessable(message: impl Into<String>) -> FhirError {
    FhirError::Unprocessable {
        message: message.into(),
    }
}

/// Parses one `_criteria` filter (`Observation?patient=Patient/1&code=http://loinc.org|1-8`,
/// or the query alone) for `topic`: a `422` names a type that is not the topic's, a parameter
/// the topic lacks, a modifier, or an empty value.
pub fn parse_filters(topic: &Topic, criteria: &str) -> FhirResult<Vec<Filter>> {
    let query = match criteria.split_once('?') {
        Some((resource_type, query)) => {
            if !resource_type.is_empty() && resource_type != topic.resource_type.as_str() {
                return Err(unprocessable(format!(
                    "filter criteria name {resource_type}, but the topic is about {}",
                    topic.resource_type.as_str()
                )));
            }
            query
        }
        None => criteria,
    };
    let mut filters = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name);
        if name.contains(':') {
            return Err(unprocessable(format!(
                "filter {name}: modifiers are not supported"
            )));
        }
        if !topic.filters.contains(&name.as_str()) {
            return Err(unprocessable(format!(
                "the topic {} cannot be filtered by {name} (it can by: {})",
                topic.url,
                topic.filters.join(", ")
            )));
        }
        let values: Vec<String> = value
            .split(',')
            .map(decode)
            .filter(|value| !value.is_empty())
            .collect();
        if values.is_empty() {
            return Err(unprocessable(format!("filter {name} has no value")));
        }
        filters.push(Filter {
            param: name,
            values,
        });
    }
    Ok(filters)
}

/// Percent-decoding of a query component (`+` is a space); invalid escapes stay as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[at]) {
            (Some(byte), _) => {
                out.push(byte);
                at += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `resource` (of the topic's type) passes every filter.
pub fn matches(topic: &Topic, filters: &[Filter], resource: &Value) -> bool {
    filters.iter().all(|filter| {
        if filter.param == "patient" {
            let patients = referenced_patients(resource);
            return filter.values.iter().any(|value| {
                let id = value.strip_prefix("Patient/").unwrap_or(value);
                patients.iter().any(|patient| patient == id)
            });
        }
        let Some(param) = registry().param(topic.resource_type, &filter.param) else {
            return false;
        };
        param.expressions.iter().any(|expression| {
            let Ok(items) = evaluate(expression, resource) else {
                return false;
            };
            items.iter().any(|item| match item {
                Item::Node { value, .. } => filter
                    .values
                    .iter()
                    .any(|wanted| token_matches(value, wanted)),
                _ => false,
            })
        })
    })
}

/// Whether a token-like element (a code, a `Coding`, a `CodeableConcept`, an `Identifier`)
/// matches `wanted` (`code`, `system|code`, `|code` or `system|`).
fn token_matches(value: &Value, wanted: &str) -> bool {
    let (system, code) = match wanted.split_once('|') {
        Some((system, code)) => (Some(system), code),
        None => (None, wanted),
    };
    let coding = |coding: &Value| {
        let system_ok = match system {
            None => true,
            Some("") => coding.get("system").is_none(),
            Some(system) => coding.get("system").and_then(Value::as_str) == Some(system),
        };
        let code_ok = code.is_empty()
            || coding
                .get("code")
                .or_else(|| coding.get("value"))
                .and_then(Value::as_str)
                == Some(code);
        system_ok && code_ok
    };
    match value {
        Value::String(text) => system.is_none_or(str::is_empty) && text == code,
        Value::Object(object) => match object.get("coding").and_then(Value::as_array) {
            Some(codings) => codings.iter().any(coding),
            None => coding(value),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_is_a_search_parameter_of_its_topic() {
        for topic in &TOPICS {
            for filter in topic.filters {
                assert!(
                    *filter == "patient" || registry().param(topic.resource_type, filter).is_some(),
                    "{} {filter}",
                    topic.url
                );
            }
        }
    }

    #[test]
    fn filters_parse_and_match() {
        let topic = topic(&format!("{TOPIC_BASE}observation")).expect("topic");
        let filters = parse_filters(
            topic,
            "Observation?patient=Patient/p1&code=http://loinc.org%7C2345-7,1-8",
        )
        .expect("filters");
        assert_eq!(filters[1].values, ["http://loinc.org|2345-7", "1-8"]);
        let observation = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "Patient/p1"}});
        assert!(matches(topic, &filters, &observation));
        let other = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "9-9"}]},
            "subject": {"reference": "Patient/p1"}});
        assert!(!matches(topic, &filters, &other));
        let elsewhere = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "Patient/p2"}});
        assert!(!matches(topic, &filters, &elsewhere));
        let status = parse_filters(topic, "status=final").expect("status");
        assert!(matches(topic, &status, &other));
        assert!(!matches(
            topic,
            &parse_filters(topic, "status=amended").unwrap(),
            &other
        ));
    }

    #[test]
    fn bad_filters_are_refused() {
        let topic = topic(&format!("{TOPIC_BASE}encounter")).expect("topic");
        for bad in [
            "Observation?patient=1",
            "code=1",
            "patient:missing=true",
            "status=",
        ] {
            assert!(parse_filters(topic, bad).is_err(), "{bad}");
        }
        assert!(super::topic("https://example.org/nope").is_none());
    }
}
