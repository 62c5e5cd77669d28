//! Drug identity: the caller's medication (an RxNorm code and/or free text) becomes a
//! [`ResolvedDrug`] with its ingredients and their classes, through the [`KnowledgeBase`].
//!
//! Names match case-insensitively after [`normalise`]: lower case, punctuation other than `-`
//! and `'` turned into spaces, spaces collapsed. A free text resolves by finding known names,
//! synonyms and brands as word sequences in it, longest first, so "Acetaminophen 325 MG /
//! Oxycodone Hydrochloride 5 MG Oral Tablet" yields two ingredients; a salt word right after a
//! name ("Warfarin Sodium", "Penicillin V Potassium") belongs to that name. A code resolves
//! through `rxnorm.json`; with both, the code wins and the text is the fallback.

use serde::{Deserialize, Serialize};

use crate::kb::{KnowledgeBase, NameTarget};

/// The RxNorm code system.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// Salt and ester words dropped after a known name.
pub(crate) const SALTS: &[&str] = &[
    "hydrochloride",
    "hydrocholoride",
    "hcl",
    "sodium",
    "potassium",
    "calcium",
    "hyclate",
    "maleate",
    "besylate",
    "tartrate",
    "bitartrate",
    "succinate",
    "mesylate",
    "citrate",
    "phosphate",
    "sulfate",
    "acetate",
    "hydrobromide",
    "propionate",
    "fumarate",
];

/// A medication as a caller names it: a coding and/or a text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicationInput {
    /// The code system (RxNorm is understood; others fall back to the text).
    #[serde(default)]
    pub system: Option<String>,
    /// The code.
    #[serde(default)]
    pub code: Option<String>,
    /// Free text: a product name, brand, ingredient or class.
    #[serde(default)]
    pub text: Option<String>,
}

impl MedicationInput {
    /// A medication named by text only.
    pub fn text(text: impl Into<String>) -> Self {
        MedicationInput {
            system: None,
            code: None,
            text: Some(text.into()),
        }
    }

    /// A medication named by an RxNorm code.
    pub fn rxnorm(code: impl Into<String>) -> Self {
        MedicationInput {
            system: Some(RXNORM.to_owned()),
            code: Some(code.into()),
            text: None,
        }
    }
}

/// One active ingredient (or, for an allergy or a rule stated for a class, the class itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingredient {
    /// Canonical lower-case name (`warfarin`, or a class name such as `penicillins`).
    pub name: String,
    /// Display name.
    pub display: String,
    /// The classes it belongs to, closed over parents (`penicillins`, `beta-lactams`).
    pub classes: Vec<String>,
}

impl Ingredient {
    /// Whether this is `term` or belongs to the class `term`.
    pub fn is_or_belongs_to(&self, term: &str) -> bool {
        self.name == term || self.classes.iter().any(|class| class == term)
    }
}

/// A medication resolved to its ingredients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedDrug {
    /// What the caller gave (the text, else the code), for display.
    pub input: String,
    /// Display name of the product or ingredient, when recognised.
    pub name: Option<String>,
    /// The ingredients; empty when nothing was recognised.
    pub ingredients: Vec<Ingredient>,
    /// The RxNorm code, when one was given and known.
    pub rxnorm: Option<String>,
}

impl ResolvedDrug {
    /// Whether any ingredient was recognised.
    pub fn recognised(&self) -> bool {
        !self.ingredients.is_empty()
    }

    /// The name to show: the product name when recognised, else the caller's input.
    pub fn display(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.input)
    }
}

/// One entry of a drug search: a generic or brand name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrugSummary {
    /// The name found (brand or generic, display form).
    pub name: String,
    /// The generic (ingredient) display name.
    pub generic: String,
    /// Whether `name` is a brand name.
    pub brand: bool,
    /// The RxNorm ingredient code, when known.
    pub rxnorm: Option<String>,
    /// The ingredient's classes.
    pub classes: Vec<String>,
}

/// Lower case, punctuation other than `-` and `'` as spaces, whitespace collapsed.
pub fn normalise(text: &str) -> String {
    tokens(text).join(" ")
}

/// The words of a text, lower case.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '.'))
        .map(|word| {
            word.trim_matches(|c: char| c == '.' || c == '-' || c == '\'')
                .to_lowercase()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

impl KnowledgeBase {
    /// Resolves a medication: the RxNorm code when known, else the text.
    pub fn resolve(&self, input: &MedicationInput) -> ResolvedDrug {
        let code = input
            .code
            .as_deref()
            .map(str::trim)
            .filter(|code| !code.is_empty());
        let shown = input
            .text
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .or(code)
            .unwrap_or("")
            .to_owned();
        let is_rxnorm = input
            .system
            .as_deref()
            .is_none_or(|system| system == RXNORM);
        if let Some(code) = code.filter(|_| is_rxnorm)
            && let Some(product) = self.rxnorm_product(code)
        {
            let ingredients: Vec<Ingredient> = product
                .ingredients
                .iter()
                .filter_map(|name| self.ingredient(name))
                .collect();
            if !ingredients.is_empty() {
                return ResolvedDrug {
                    input: shown,
                    name: Some(product.display.clone()),
                    ingredients,
                    rxnorm: Some(code.to_owned()),
                };
            }
        }
        let (name, ingredients) = match input.text.as_deref() {
            Some(text) => self.resolve_text(text),
            None => (None, Vec::new()),
        };
        ResolvedDrug {
            input: shown,
            name,
            ingredients,
            rxnorm: None,
        }
    }

    /// The known names in a free text, longest first, as (display of what matched, ingredients).
    fn resolve_text(&self, text: &str) -> (Option<String>, Vec<Ingredient>) {
        let words = tokens(text);
        let mut matched: Vec<String> = Vec::new();
        let mut ingredients: Vec<Ingredient> = Vec::new();
        let mut at = 0;
        while at < words.len() {
            let longest = self.max_words().min(words.len() - at);
            let mut hit = None;
            for n_words in (1..=longest).rev() {
                let phrase = words[at..at + n_words].join(" ");
                if let Some(target) = self.name_target(&phrase) {
                    hit = Some((n_words, phrase, target));
                    break;
                }
            }
            let Some((n_words, phrase, target)) = hit else {
                at += 1;
                continue;
            };
            at += n_words;
            while at < words.len() && SALTS.contains(&words[at].as_str()) {
                at += 1;
            }
            let names: Vec<&str> = match target {
                NameTarget::Drug(name) | NameTarget::Class(name) => vec![name.as_str()],
                NameTarget::Product(names) => names.iter().map(String::as_str).collect(),
            };
            let mut added = false;
            for name in names {
                if ingredients.iter().any(|known| known.name == name) {
                    continue;
                }
                if let Some(ingredient) = self.ingredient(name) {
                    ingredients.push(ingredient);
                    added = true;
                }
            }
            if added {
                matched.push(title_case(&phrase));
            }
        }
        let name = (!matched.is_empty()).then(|| matched.join(" / "));
        (name, ingredients)
    }
}

/// "nitro-dur" -> "Nitro-dur", "st john's wort" -> "St John's Wort".
pub(crate) fn title_case(phrase: &str) -> String {
    phrase
        .split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_keeps_hyphens_and_apostrophes() {
        assert_eq!(normalise("  St. John's   WORT, "), "st john's wort");
        assert_eq!(normalise("Coumadin 5mg"), "coumadin 5mg");
        assert_eq!(normalise("5-HTP"), "5-htp");
        assert_eq!(normalise("\u{0}\u{feff}"), "");
    }
}
