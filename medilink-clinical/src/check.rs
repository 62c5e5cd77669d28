//! The check: a proposed medication against the patient's other medications and allergies.
//!
//! [`InteractionSource`] answers "which rules apply to this pair of drugs"; [`OfflineSource`]
//! is the vendored base, `openfda::OpenFdaSource` an online one. The [`Checker`] asks each of
//! its sources about every pair (proposed × proposed, proposed × active), decides allergy
//! cross-reactivity from the base's rules, and returns [`Finding`]s, most severe first, one per
//! key. A source that fails leaves the others' findings standing and is reported in
//! [`CheckOutcome::warnings`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::drug::{Ingredient, ResolvedDrug};
use crate::error::ClinicalError;
use crate::kb::KnowledgeBase;
use crate::rules::{InteractionRule, Severity, side_matches};

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// Two drugs interact.
    Interaction,
    /// The drug is, or cross-reacts with, something the patient is allergic to.
    Allergy,
}

/// What the proposed drug conflicts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The other drug, or the allergy's substance.
    pub display: String,
    /// Its resource (`MedicationRequest/123`, `AllergyIntolerance/9`), when known.
    pub reference: Option<String>,
}

/// One problem with a proposed drug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable key: `interaction:<a>+<b>` (ingredient names, sorted) or
    /// `allergy:<allergen>:<ingredient>`. The same finding on the same data has the same key.
    pub key: String,
    /// Interaction or allergy.
    pub kind: FindingKind,
    /// How serious.
    pub severity: Severity,
    /// What happens.
    pub summary: String,
    /// Why.
    pub mechanism: Option<String>,
    /// What to do.
    pub recommendation: Option<String>,
    /// Citation of the rule.
    pub source: String,
    /// For allergies: the strength of the cross-reactivity evidence.
    pub evidence: Option<String>,
    /// The proposed drug (display).
    pub medication: String,
    /// What it conflicts with.
    pub conflicting: Conflict,
}

/// A medication the patient takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveMedication {
    /// The resolved drug.
    pub drug: ResolvedDrug,
    /// Its resource (`MedicationRequest/123`).
    pub reference: Option<String>,
}

/// An allergy or intolerance of the patient to a drug or class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveAllergy {
    /// The substance, resolved (its ingredients may be classes such as `penicillins`).
    pub substance: ResolvedDrug,
    /// Its resource (`AllergyIntolerance/9`).
    pub reference: Option<String>,
    /// `low`, `high`, `unable-to-assess`, when recorded.
    pub criticality: Option<String>,
}

/// A source of interaction rules.
#[async_trait]
pub trait InteractionSource: Send + Sync + std::fmt::Debug {
    /// A short name for warnings (`offline`, `openfda`).
    fn name(&self) -> &'static str {
        "source"
    }

    /// The rules that apply to this pair of drugs (to any pair of their ingredients).
    async fn interactions(
        &self,
        a: &ResolvedDrug,
        b: &ResolvedDrug,
    ) -> Result<Vec<InteractionRule>, ClinicalError>;
}

/// The vendored offline base ([`KnowledgeBase::offline`]). Never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineSource;

impl OfflineSource {
    /// The rules of the offline base for a pair, without the async wrapper.
    pub fn rules(a: &ResolvedDrug, b: &ResolvedDrug) -> Vec<InteractionRule> {
        let kb = KnowledgeBase::offline();
        let mut found: Vec<InteractionRule> = Vec::new();
        for x in &a.ingredients {
            for rule in kb.candidate_rules(x) {
                if found.iter().any(|known| known.id == rule.id) {
                    continue;
                }
                if b.ingredients
                    .iter()
                    .any(|y| y.name != x.name && rule.matches(x, y))
                {
                    found.push(rule.clone());
                }
            }
        }
        found
    }
}

#[async_trait]
impl InteractionSource for OfflineSource {
    fn name(&self) -> &'static str {
        "offline"
    }

    async fn interactions(
        &self,
        a: &ResolvedDrug,
        b: &ResolvedDrug,
    ) -> Result<Vec<InteractionRule>, ClinicalError> {
        Ok(OfflineSource::rules(a, b))
    }
}

/// The findings of a check and the sources that could not answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    /// Most severe first, one per key.
    pub findings: Vec<Finding>,
    /// One line per failed source call (`openfda: drug source openfda timed out`); empty when
    /// every source answered.
    pub warnings: Vec<String>,
}

/// Checks proposed drugs against each other, active medications and allergies.
#[derive(Debug, Clone)]
pub struct Checker {
    sources: Vec<Arc<dyn InteractionSource>>,
}

impl Checker {
    /// A checker over the vendored base only.
    pub fn offline() -> Checker {
        Checker::new(Arc::new(OfflineSource))
    }

    /// A checker over one source.
    pub fn new(source: Arc<dyn InteractionSource>) -> Checker {
        Checker {
            sources: vec![source],
        }
    }

    /// A checker over several sources, in priority order: for a finding several sources
    /// report, the first source's wins (put [`OfflineSource`] first; an online source then
    /// adds only what the base lacks).
    pub fn with_sources(sources: Vec<Arc<dyn InteractionSource>>) -> Checker {
        Checker { sources }
    }

    /// Findings of `proposed` against each other (every pair among them), against `active` and
    /// against `allergies`, most severe first, deduplicated by key. Fails only when every
    /// source failed (a lone online source that is down); use [`Checker::check_outcome`] to learn about a degraded source.
    pub async fn check(
        &self,
        proposed: &[ResolvedDrug],
        active: &[ActiveMedication],
        allergies: &[ActiveAllergy],
    ) -> Result<Vec<Finding>, ClinicalError> {
        let (outcome, error) = self.run(proposed, active, allergies).await;
        match error {
            Some(error) if self.all_failed(&outcome) => Err(error),
            _ => Ok(outcome.findings),
        }
    }

    /// Like [`Checker::check`], never failing: the sources that could not answer are named in
    /// the warnings and their findings are missing.
    pub async fn check_outcome(
        &self,
        proposed: &[ResolvedDrug],
        active: &[ActiveMedication],
        allergies: &[ActiveAllergy],
    ) -> CheckOutcome {
        self.run(proposed, active, allergies).await.0
    }

    fn all_failed(&self, outcome: &CheckOutcome) -> bool {
        self.sources.iter().all(|source| {
            outcome
                .warnings
                .iter()
                .any(|warning| warning.starts_with(&format!("{}:", source.name())))
        })
    }

    async fn run(
        &self,
        proposed: &[ResolvedDrug],
        active: &[ActiveMedication],
        allergies: &[ActiveAllergy],
    ) -> (CheckOutcome, Option<ClinicalError>) {
        // key -> (source priority, finding)
        let mut by_key: BTreeMap<String, (usize, Finding)> = BTreeMap::new();
        let mut warnings: Vec<String> = Vec::new();
        let mut first_error = None;

        let mut pairs: Vec<(&ResolvedDrug, &ResolvedDrug, Option<&str>)> = Vec::new();
        for (index, drug) in proposed.iter().enumerate() {
            for other in &proposed[index + 1..] {
                pairs.push((drug, other, None));
            }
            for medication in active {
                pairs.push((drug, &medication.drug, medication.reference.as_deref()));
            }
        }
        for (priority, source) in self.sources.iter().enumerate() {
            for (drug, other, reference) in &pairs {
                if !drug.recognised() || !other.recognised() {
                    continue;
                }
                match source.interactions(drug, other).await {
                    Ok(rules) => {
                        for rule in &rules {
                            for finding in interaction_findings(rule, drug, other, *reference) {
                                keep(&mut by_key, priority, finding);
                            }
                        }
                    }
                    Err(error) => {
                        let warning = format!("{}: {error}", source.name());
                        tracing::warn!(source = source.name(), %error, "drug interaction source failed");
                        if !warnings.contains(&warning) {
                            warnings.push(warning);
                        }
                        first_error.get_or_insert(error);
                    }
                }
            }
        }
        let kb = KnowledgeBase::offline();
        for drug in proposed {
            for allergy in allergies {
                for finding in allergy_findings(kb, drug, allergy) {
                    keep(&mut by_key, 0, finding);
                }
            }
        }
        let mut findings: Vec<Finding> = by_key.into_values().map(|(_, finding)| finding).collect();
        findings.sort_by(|x, y| y.severity.cmp(&x.severity).then_with(|| x.key.cmp(&y.key)));
        (CheckOutcome { findings, warnings }, first_error)
    }
}

/// Keeps the finding of the first source, the most severe within a source.
fn keep(by_key: &mut BTreeMap<String, (usize, Finding)>, priority: usize, finding: Finding) {
    match by_key.get(&finding.key) {
        Some((known_priority, known))
            if *known_priority < priority
                || (*known_priority == priority && known.severity >= finding.severity) => {}
        _ => {
            by_key.insert(finding.key.clone(), (priority, finding));
        }
    }
}

/// The key of an interaction between two ingredients: the same in either order.
pub fn interaction_key(x: &str, y: &str) -> String {
    let (first, second) = if x <= y { (x, y) } else { (y, x) };
    format!("interaction:{first}+{second}")
}

fn interaction_findings(
    rule: &InteractionRule,
    drug: &ResolvedDrug,
    other: &ResolvedDrug,
    reference: Option<&str>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for x in &drug.ingredients {
        for y in &other.ingredients {
            if x.name == y.name || !rule.matches(x, y) {
                continue;
            }
            findings.push(Finding {
                key: interaction_key(&x.name, &y.name),
                kind: FindingKind::Interaction,
                severity: rule.severity,
                summary: format!("{} + {}: {}", x.display, y.display, rule.summary),
                mechanism: rule.mechanism.clone(),
                recommendation: rule.recommendation.clone(),
                source: rule.source.clone(),
                evidence: None,
                medication: drug.display().to_owned(),
                conflicting: Conflict {
                    display: other.display().to_owned(),
                    reference: reference.map(str::to_owned),
                },
            });
        }
    }
    findings
}

fn allergy_findings(
    kb: &KnowledgeBase,
    drug: &ResolvedDrug,
    allergy: &ActiveAllergy,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for allergen in &allergy.substance.ingredients {
        for ingredient in &drug.ingredients {
            let Some((severity, evidence, source)) = allergy_match(kb, allergen, ingredient) else {
                continue;
            };
            let recommendation = match severity {
                Severity::Contraindicated | Severity::Serious => {
                    "Do not give unless the allergy has been ruled out (e.g. by allergy testing); choose an agent from an unrelated class."
                }
                _ => {
                    "Weigh the low cross-reactivity risk; monitor for a reaction or choose an unrelated agent."
                }
            };
            findings.push(Finding {
                key: format!("allergy:{}:{}", allergen.name, ingredient.name),
                kind: FindingKind::Allergy,
                severity,
                summary: format!(
                    "{} and a recorded allergy to {}: {}",
                    ingredient.display, allergen.display, evidence
                ),
                mechanism: None,
                recommendation: Some(recommendation.to_owned()),
                source,
                evidence: Some(evidence),
                medication: drug.display().to_owned(),
                conflicting: Conflict {
                    display: allergy.substance.display().to_owned(),
                    reference: allergy.reference.clone(),
                },
            });
        }
    }
    findings
}

/// How an allergy to `allergen` bears on `ingredient`: same drug, same class, a cross-reactive
/// class (the most severe applicable rule), or not at all.
fn allergy_match(
    kb: &KnowledgeBase,
    allergen: &Ingredient,
    ingredient: &Ingredient,
) -> Option<(Severity, String, String)> {
    const SOURCE: &str = "MediLink allergy rules (same drug or same class)";
    if allergen.name == ingredient.name {
        return Some((
            Severity::Contraindicated,
            "same drug".to_owned(),
            SOURCE.to_owned(),
        ));
    }
    if kb.is_class(&allergen.name) && ingredient.classes.contains(&allergen.name) {
        return Some((
            Severity::Serious,
            format!("same class ({})", allergen.display),
            SOURCE.to_owned(),
        ));
    }
    if let Some(class) = allergen
        .classes
        .iter()
        .find(|class| kb.is_allergy_group(class) && ingredient.classes.contains(class))
    {
        let display = kb.display_of(class).unwrap_or(class);
        return Some((
            Severity::Serious,
            format!("same class ({display})"),
            SOURCE.to_owned(),
        ));
    }
    kb.allergy_rules()
        .iter()
        .filter(|rule| {
            side_matches(std::slice::from_ref(&rule.allergen), allergen)
                && side_matches(std::slice::from_ref(&rule.target), ingredient)
        })
        .max_by_key(|rule| rule.severity)
        .map(|rule| (rule.severity, rule.evidence.clone(), rule.source.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_has_one_key_in_either_order() {
        assert_eq!(
            interaction_key("warfarin", "aspirin"),
            interaction_key("aspirin", "warfarin")
        );
        assert_eq!(
            interaction_key("warfarin", "aspirin"),
            "interaction:aspirin+warfarin"
        );
    }
}
