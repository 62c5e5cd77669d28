//! Stage 3: test names to LOINC, units to UCUM.

use serde::{Deserialize, Serialize};

/// How a name was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The table's name, ignoring case and punctuation.
    Exact,
    /// A listed abbreviation or synonym.
    Synonym,
    /// Closest name by string similarity.
    Fuzzy,
}

/// A LOINC code for a printed test name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoincMatch {
    /// The LOINC code (`718-7`).
    pub code: String,
    /// The LOINC display (`Hemoglobin [Mass/volume] in Blood`).
    pub display: String,
    /// How it was matched.
    pub kind: MatchKind,
    /// Confidence, 0–1.
    pub confidence: f64,
}
