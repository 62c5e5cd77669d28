//! CDS Hooks 2.0 (<https://cds-hooks.hl7.org/2.0/>) data types and card building, without
//! HTTP: the discovery entries of the two services ([`services`]), the hook request, the
//! draft orders it carries ([`draft_medications`]) and one [`Card`] per finding ([`cards`]).
//!
//! Card and suggestion uuids are derived (uuid v5) from the draft order and the finding key,
//! so the same finding on the same draft always has the same card uuid (and no random source
//! is needed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::check::Finding;
use crate::drug::{MedicationInput, normalise, tokens};
use crate::fhir::medication_of;
use crate::kb::KnowledgeBase;
use crate::rules::Severity;

/// Id of the order-select service.
pub const SELECT_SERVICE: &str = "medilink-drug-interactions-select";
/// Id of the order-sign service.
pub const SIGN_SERVICE: &str = "medilink-drug-interactions-sign";

/// A CDS service of the discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Service id (the path segment under `/cds-services`).
    pub id: String,
    /// The hook it answers (`order-select`, `order-sign`).
    pub hook: String,
    /// Human-readable name.
    pub title: String,
    /// What it does.
    pub description: String,
    /// Prefetch templates.
    pub prefetch: BTreeMap<String, String>,
}

/// The services MediLink offers: drug interaction and allergy checks on order-select and
/// order-sign.
pub fn services() -> Vec<Service> {
    let prefetch: BTreeMap<String, String> = [
        ("patient", "Patient/{{context.patientId}}"),
        (
            "medications",
            "MedicationRequest?patient={{context.patientId}}&status=active",
        ),
        (
            "allergies",
            "AllergyIntolerance?patient={{context.patientId}}&clinical-status=active",
        ),
    ]
    .into_iter()
    .map(|(key, template)| (key.to_owned(), template.to_owned()))
    .collect();
    vec![
        Service {
            id: SELECT_SERVICE.to_owned(),
            hook: "order-select".to_owned(),
            title: "MediLink drug interaction and allergy check".to_owned(),
            description: "Checks the selected medication orders against each other, the \
                          patient's active medications and allergies."
                .to_owned(),
            prefetch: prefetch.clone(),
        },
        Service {
            id: SIGN_SERVICE.to_owned(),
            hook: "order-sign".to_owned(),
            title: "MediLink drug interaction and allergy check at signing".to_owned(),
            description: "Checks the medication orders about to be signed against each other, \
                          the patient's active medications and allergies."
                .to_owned(),
            prefetch,
        },
    ]
}

/// A hook call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRequest {
    /// The hook (`order-select`, `order-sign`).
    pub hook: String,
    /// Unique id of this call.
    pub hook_instance: String,
    /// The FHIR server the EHR offers, if any.
    #[serde(default)]
    pub fhir_server: Option<String>,
    /// The hook's context.
    pub context: HookContext,
    /// Prefetched resources by key (a key may be null when the EHR could not fetch it).
    #[serde(default)]
    pub prefetch: Option<BTreeMap<String, Option<Value>>>,
}

/// The context of an order-select / order-sign call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookContext {
    /// The user (`Practitioner/123`).
    pub user_id: String,
    /// The patient id.
    pub patient_id: String,
    /// The encounter id, if any.
    #[serde(default)]
    pub encounter_id: Option<String>,
    /// order-select: the newly selected orders (`MedicationRequest/<id>`).
    #[serde(default)]
    pub selections: Vec<String>,
    /// The draft orders: a Bundle.
    #[serde(default)]
    pub draft_orders: Value,
}

/// A coding (as CDS Hooks uses it in cards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    /// Code system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Code.
    pub code: String,
    /// Display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Where a card's information comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Short name of the source.
    pub label: String,
    /// Link to more about the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Topic of the card, for analytics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Coding>,
}

/// A change a suggestion proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `create`, `update` or `delete`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the action does.
    pub description: String,
    /// The resource to create or update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    /// For delete: the resources to remove (`MedicationRequest/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<Vec<String>>,
}

/// A suggestion on a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    /// What the suggestion does.
    pub label: String,
    /// Its id, for feedback.
    pub uuid: String,
    /// Whether it is the recommended choice.
    pub is_recommended: bool,
    /// The changes (none for a label-only suggestion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// A CDS Hooks card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// Its id, for feedback.
    pub uuid: String,
    /// One line, at most 140 characters.
    pub summary: String,
    /// Markdown detail.
    pub detail: String,
    /// `info`, `warning` or `critical`.
    pub indicator: String,
    /// Where the information comes from.
    pub source: Source,
    /// What the clinician may do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    /// `at-most-one` when there are suggestions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_behavior: Option<String>,
    /// Reasons a clinician may give for overriding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
}

/// A hook response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CdsResponse {
    /// The cards.
    pub cards: Vec<Card>,
    /// Actions the EHR applies without asking.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_actions: Vec<Action>,
}

/// The draft MedicationRequests of `draftOrders` as (`MedicationRequest/<id>`, medication), in
/// bundle order; entries without an id or a medication are skipped.
pub fn draft_medications(request: &HookRequest) -> Vec<(String, MedicationInput)> {
    let entries: &[Value] = request
        .context
        .draft_orders
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| entry.get("resource"))
        .filter(|resource| {
            resource.get("resourceType").and_then(Value::as_str) == Some("MedicationRequest")
        })
        .filter_map(|resource| {
            let id = resource.get("id").and_then(Value::as_str)?;
            Some((format!("MedicationRequest/{id}"), medication_of(resource)?))
        })
        .collect()
}

/// The drafts to check as proposed: on order-select with selections, the selected ones;
/// otherwise all of [`draft_medications`].
pub fn selected_medications(request: &HookRequest) -> Vec<(String, MedicationInput)> {
    let drafts = draft_medications(request);
    if request.hook != "order-select" || request.context.selections.is_empty() {
        return drafts;
    }
    drafts
        .into_iter()
        .filter(|(reference, _)| request.context.selections.contains(reference))
        .collect()
}

/// The CDS Hooks indicator of a severity: contraindicated -> critical, serious -> warning,
/// moderate and minor -> info.
pub fn indicator(severity: Severity) -> &'static str {
    match severity {
        Severity::Contraindicated => "critical",
        Severity::Serious => "warning",
        Severity::Moderate | Severity::Minor => "info",
    }
}

const OVERRIDE_SYSTEM: &str = "https://medilink.example/fhir/CodeSystem/cds-override-reason";

fn override_reasons() -> Vec<Coding> {
    [
        (
            "patient-aware",
            "Patient is aware of the risk and will be monitored",
        ),
        ("benefit-outweighs-risk", "Benefit outweighs the risk"),
        (
            "allergy-not-confirmed",
            "Allergy or interaction does not apply to this patient",
        ),
    ]
    .into_iter()
    .map(|(code, display)| Coding {
        system: Some(OVERRIDE_SYSTEM.to_owned()),
        code: code.to_owned(),
        display: Some(display.to_owned()),
    })
    .collect()
}

fn card_uuid(draft_reference: &str, key: &str, part: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("medilink:cds:{draft_reference}:{key}:{part}").as_bytes(),
    )
    .to_string()
}

/// At most `limit` characters, cut at a character boundary with an ellipsis.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A drug the recommendation proposes instead ("Use acetaminophen for pain …"), when the base
/// knows it.
fn alternative(kb: &KnowledgeBase, finding: &Finding) -> Option<String> {
    let recommendation = finding.recommendation.as_deref()?;
    for sentence in recommendation.split(['.', ';']) {
        let words = tokens(sentence);
        let Some(at) = words
            .iter()
            .position(|word| word == "use" || word == "consider" || word == "prefer")
        else {
            continue;
        };
        let rest = words[at + 1..].join(" ");
        let resolved = kb.resolve(&MedicationInput::text(rest));
        if let Some(ingredient) = resolved.ingredients.first()
            && normalise(&finding.medication) != ingredient.name
        {
            return Some(ingredient.display.clone());
        }
    }
    None
}

/// One card per finding, for the draft order `draft_reference` (`MedicationRequest/<id>`):
/// a suggestion to remove the draft (a delete action) and, when the recommendation names a
/// drug the base knows, a label-only suggestion to use it instead.
pub fn cards(findings: &[Finding], draft_reference: &str) -> Vec<Card> {
    let kb = KnowledgeBase::offline();
    findings
        .iter()
        .map(|finding| {
            let mut detail = format!(
                "**{}** ({})\n\n{}",
                finding.medication, finding.severity, finding.summary
            );
            if let Some(mechanism) = &finding.mechanism {
                detail.push_str(&format!("\n\n*Mechanism:* {mechanism}"));
            }
            if let Some(evidence) = &finding.evidence {
                detail.push_str(&format!("\n\n*Evidence:* {evidence}"));
            }
            if let Some(recommendation) = &finding.recommendation {
                detail.push_str(&format!("\n\n*Recommendation:* {recommendation}"));
            }
            detail.push_str(&format!(
                "\n\n*Conflicts with:* {}",
                finding.conflicting.display
            ));
            let mut suggestions = vec![Suggestion {
                label: truncate(&format!("Remove the order for {}", finding.medication), 140),
                uuid: card_uuid(draft_reference, &finding.key, "remove"),
                is_recommended: finding.severity == Severity::Contraindicated,
                actions: vec![Action {
                    kind: "delete".to_owned(),
                    description: format!("Remove the draft order {draft_reference}"),
                    resource: None,
                    resource_id: Some(vec![draft_reference.to_owned()]),
                }],
            }];
            if let Some(instead) = alternative(kb, finding) {
                suggestions.push(Suggestion {
                    label: format!("Consider {instead} instead"),
                    uuid: card_uuid(draft_reference, &finding.key, "replace"),
                    is_recommended: false,
                    actions: Vec::new(),
                });
            }
            let what = match finding.kind {
                crate::check::FindingKind::Interaction => {
                    format!(
                        "{} interacts with {}",
                        finding.medication, finding.conflicting.display
                    )
                }
                crate::check::FindingKind::Allergy => {
                    format!(
                        "{}: allergy to {}",
                        finding.medication, finding.conflicting.display
                    )
                }
            };
            Card {
                uuid: card_uuid(draft_reference, &finding.key, "card"),
                summary: truncate(&format!("{} ({})", what, finding.severity), 140),
                detail,
                indicator: indicator(finding.severity).to_owned(),
                source: Source {
                    label: truncate(&finding.source, 140),
                    url: None,
                    topic: Some(Coding {
                        system: Some(
                            "https://medilink.example/fhir/CodeSystem/cds-finding".to_owned(),
                        ),
                        code: finding.key.clone(),
                        display: None,
                    }),
                },
                suggestions,
                selection_behavior: Some("at-most-one".to_owned()),
                override_reasons: override_reasons(),
            }
        })
        .collect()
}
