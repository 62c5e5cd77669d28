//! The rule types of the knowledge base: [`Severity`], [`InteractionRule`] (a drug pair) and
//! [`AllergyRule`] (an allergen class that cross-reacts with another), as the vendored data
//! files under `data/` hold them.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::drug::Ingredient;

/// How serious a finding is. `Ord` ranks by severity: [`Severity::Contraindicated`] is the
/// greatest (so `max()` is the most severe) and [`Severity::Minor`] the least.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Do not combine (ONC high-priority pairs; labels that say contraindicated / do not use).
    Contraindicated,
    /// Avoid or monitor closely: risk of serious harm.
    Serious,
    /// Clinically relevant; adjust or monitor.
    Moderate,
    /// Little clinical relevance; be aware.
    Minor,
}

impl Severity {
    /// Every severity, the most severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Contraindicated,
        Severity::Serious,
        Severity::Moderate,
        Severity::Minor,
    ];

    /// The lower-case code (`contraindicated`, `serious`, `moderate`, `minor`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Contraindicated => "contraindicated",
            Severity::Serious => "serious",
            Severity::Moderate => "moderate",
            Severity::Minor => "minor",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Severity::Contraindicated => 3,
            Severity::Serious => 2,
            Severity::Moderate => 1,
            Severity::Minor => 0,
        }
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An interaction between two drugs or classes. Each side lists canonical names of
/// ingredients or classes (`"warfarin"`, `"nsaids"`); a side matches an ingredient whose name
/// or one of whose classes it lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionRule {
    /// Stable id within its source (`mcp-1`, `onc-4`, `openfda:<set id>:<name>`).
    pub id: String,
    /// One side: ingredient or class names.
    pub a: Vec<String>,
    /// The other side.
    pub b: Vec<String>,
    /// How serious the interaction is.
    pub severity: Severity,
    /// What happens.
    pub summary: String,
    /// Why it happens.
    #[serde(default)]
    pub mechanism: Option<String>,
    /// What to do.
    #[serde(default)]
    pub recommendation: Option<String>,
    /// Where the rule comes from (citation).
    pub source: String,
}

impl InteractionRule {
    /// Whether the rule applies to this pair of ingredients, in either order.
    pub fn matches(&self, x: &Ingredient, y: &Ingredient) -> bool {
        (side_matches(&self.a, x) && side_matches(&self.b, y))
            || (side_matches(&self.a, y) && side_matches(&self.b, x))
    }
}

/// Whether a rule side names the ingredient or one of its classes.
pub(crate) fn side_matches(side: &[String], ingredient: &Ingredient) -> bool {
    side.iter().any(|term| ingredient.is_or_belongs_to(term))
}

/// An allergy cross-reactivity rule: an allergy to `allergen` (an ingredient or class) flags a
/// proposed drug in `target`. "Same drug" and "same class" are decided by the checker itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllergyRule {
    /// The allergen: ingredient or class name.
    pub allergen: String,
    /// The cross-reactive ingredient or class.
    pub target: String,
    /// How serious a match is.
    pub severity: Severity,
    /// The strength of the evidence, shown with the finding.
    pub evidence: String,
    /// Citation.
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contraindicated_is_the_most_severe() {
        let mut all = vec![
            Severity::Minor,
            Severity::Contraindicated,
            Severity::Moderate,
            Severity::Serious,
        ];
        all.sort_by(|a, b| b.cmp(a));
        assert_eq!(all, Severity::ALL);
        assert_eq!(all.iter().max(), Some(&Severity::Contraindicated));
        assert_eq!(
            serde_json::to_string(&Severity::Contraindicated)
                .ok()
                .as_deref(),
            Some("\"contraindicated\"")
        );
    }
}
