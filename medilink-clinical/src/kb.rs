//! The vendored knowledge base: `data/*.json` embedded with `include_str!` and parsed once
//! into lookup tables ([`KnowledgeBase::offline`]).
//!
//! `drugs.json` holds every drug and class the rules name, with synonyms, brand names and
//! classes; `rxnorm.json` RxNorm codes with their ingredients; `interactions.json` and
//! `onc_high_priority.json` the interaction rules; `allergy_rules.json` the allergy
//! cross-reactivity rules. `data/README.md` says where each comes from.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::drug::{DrugSummary, Ingredient, SALTS, normalise, title_case};
use crate::rules::{AllergyRule, InteractionRule};

const DRUGS_JSON: &str = include_str!("../data/drugs.json");
const RXNORM_JSON: &str = include_str!("../data/rxnorm.json");
const INTERACTIONS_JSON: &str = include_str!("../data/interactions.json");
const ONC_JSON: &str = include_str!("../data/onc_high_priority.json");
const ALLERGY_RULES_JSON: &str = include_str!("../data/allergy_rules.json");

/// `drugs.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct DrugsFile {
    pub(crate) classes: Vec<ClassEntry>,
    pub(crate) drugs: Vec<DrugEntry>,
    pub(crate) products: Vec<ProductEntry>,
}

/// A drug class.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ClassEntry {
    pub(crate) name: String,
    pub(crate) display: String,
    #[serde(default)]
    pub(crate) parents: Vec<String>,
    #[serde(default)]
    pub(crate) synonyms: Vec<String>,
    #[serde(default)]
    pub(crate) allergy_group: bool,
}

/// A drug (ingredient) or other substance the rules name.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DrugEntry {
    pub(crate) name: String,
    pub(crate) display: String,
    #[serde(default)]
    pub(crate) synonyms: Vec<String>,
    #[serde(default)]
    pub(crate) brands: Vec<String>,
    #[serde(default)]
    pub(crate) classes: Vec<String>,
    #[serde(default)]
    pub(crate) substance: bool,
}

/// A multi-ingredient brand or abbreviation.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProductEntry {
    pub(crate) name: String,
    pub(crate) ingredients: Vec<String>,
}

/// An entry of `rxnorm.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RxNormProduct {
    pub(crate) display: String,
    pub(crate) ingredients: Vec<String>,
}

/// What a known name stands for.
#[derive(Debug, Clone)]
pub(crate) enum NameTarget {
    Drug(String),
    Class(String),
    Product(Vec<String>),
}

#[derive(Debug)]
struct SearchEntry {
    key: String,
    summary: DrugSummary,
}

/// The drug knowledge: names, classes, RxNorm codes, interaction and allergy rules.
#[derive(Debug)]
pub struct KnowledgeBase {
    drugs: HashMap<String, DrugEntry>,
    classes: HashMap<String, ClassEntry>,
    names: HashMap<String, NameTarget>,
    max_words: usize,
    rxnorm: HashMap<String, RxNormProduct>,
    rxnorm_of_ingredient: HashMap<String, String>,
    search: Vec<SearchEntry>,
    interactions: Vec<InteractionRule>,
    rules_by_term: HashMap<String, Vec<usize>>,
    allergy_rules: Vec<AllergyRule>,
}

static OFFLINE: LazyLock<KnowledgeBase> = LazyLock::new(|| {
    KnowledgeBase::from_json(
        DRUGS_JSON,
        RXNORM_JSON,
        &[ONC_JSON, INTERACTIONS_JSON],
        ALLERGY_RULES_JSON,
    )
    .expect("invariant: the vendored data parses (tested by data_files_parse)")
});

impl KnowledgeBase {
    /// The vendored offline base, parsed on first use.
    pub fn offline() -> &'static KnowledgeBase {
        &OFFLINE
    }

    /// Builds a base from the JSON of the data files (the interaction files in priority
    /// order: the first rule for a pair wins when severities tie).
    pub(crate) fn from_json(
        drugs: &str,
        rxnorm: &str,
        interaction_files: &[&str],
        allergy_rules: &str,
    ) -> Result<KnowledgeBase, serde_json::Error> {
        let drugs_file: DrugsFile = serde_json::from_str(drugs)?;
        let rxnorm: HashMap<String, RxNormProduct> = serde_json::from_str(rxnorm)?;
        let mut interactions: Vec<InteractionRule> = Vec::new();
        for file in interaction_files {
            interactions.extend(serde_json::from_str::<Vec<InteractionRule>>(file)?);
        }
        let allergy_rules: Vec<AllergyRule> = serde_json::from_str(allergy_rules)?;

        let mut names: HashMap<String, NameTarget> = HashMap::new();
        let classes: HashMap<String, ClassEntry> = drugs_file
            .classes
            .into_iter()
            .map(|class| (class.name.clone(), class))
            .collect();
        for class in classes.values() {
            for name in std::iter::once(&class.name).chain(&class.synonyms) {
                names.insert(normalise(name), NameTarget::Class(class.name.clone()));
            }
        }
        // drugs after classes: a drug named like a class synonym keeps the class meaning only
        // if no drug has that exact name
        for drug in &drugs_file.drugs {
            names.insert(normalise(&drug.name), NameTarget::Drug(drug.name.clone()));
        }
        for drug in &drugs_file.drugs {
            for alias in drug.synonyms.iter().chain(&drug.brands) {
                names
                    .entry(normalise(alias))
                    .or_insert_with(|| NameTarget::Drug(drug.name.clone()));
            }
        }
        for product in &drugs_file.products {
            names
                .entry(normalise(&product.name))
                .or_insert_with(|| NameTarget::Product(product.ingredients.clone()));
        }
        names.remove("");
        let max_words = names
            .keys()
            .map(|name| name.split(' ').count())
            .max()
            .unwrap_or(1);

        let mut rxnorm_of_ingredient = HashMap::new();
        for (code, product) in &rxnorm {
            if let [only] = product.ingredients.as_slice()
                && normalise(&product.display) == normalise(only)
            {
                rxnorm_of_ingredient.insert(only.clone(), code.clone());
            }
        }

        let mut rules_by_term: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, rule) in interactions.iter().enumerate() {
            let terms: HashSet<&String> = rule.a.iter().chain(&rule.b).collect();
            for term in terms {
                rules_by_term.entry(term.clone()).or_default().push(index);
            }
        }

        let drugs: HashMap<String, DrugEntry> = drugs_file
            .drugs
            .into_iter()
            .map(|drug| (drug.name.clone(), drug))
            .collect();
        let mut search = Vec::new();
        for drug in drugs.values().filter(|drug| !drug.substance) {
            let summary = |name: &str, brand: bool| DrugSummary {
                name: if brand {
                    title_case(name)
                } else {
                    drug.display.clone()
                },
                generic: drug.display.clone(),
                brand,
                rxnorm: rxnorm_of_ingredient.get(&drug.name).cloned(),
                classes: drug.classes.clone(),
            };
            search.push(SearchEntry {
                key: normalise(&drug.name),
                summary: summary(&drug.name, false),
            });
            for brand in &drug.brands {
                search.push(SearchEntry {
                    key: normalise(brand),
                    summary: summary(brand, true),
                });
            }
        }
        search.sort_by(|x, y| (x.key.len(), &x.key).cmp(&(y.key.len(), &y.key)));

        Ok(KnowledgeBase {
            drugs,
            classes,
            names,
            max_words,
            rxnorm,
            rxnorm_of_ingredient,
            search,
            interactions,
            rules_by_term,
            allergy_rules,
        })
    }

    pub(crate) fn max_words(&self) -> usize {
        self.max_words
    }

    /// What a normalised name stands for; a trailing salt is dropped when the bare name is known.
    pub(crate) fn name_target(&self, phrase: &str) -> Option<&NameTarget> {
        self.names.get(phrase).or_else(|| {
            let (bare, last) = phrase.rsplit_once(' ')?;
            SALTS
                .contains(&last)
                .then(|| self.names.get(bare))
                .flatten()
        })
    }

    pub(crate) fn rxnorm_product(&self, code: &str) -> Option<&RxNormProduct> {
        self.rxnorm.get(code)
    }

    /// The ingredient (or class) of a canonical name.
    pub(crate) fn ingredient(&self, name: &str) -> Option<Ingredient> {
        if let Some(drug) = self.drugs.get(name) {
            return Some(Ingredient {
                name: drug.name.clone(),
                display: drug.display.clone(),
                classes: drug.classes.clone(),
            });
        }
        self.classes.get(name).map(|class| Ingredient {
            name: class.name.clone(),
            display: class.display.clone(),
            classes: class.parents.clone(),
        })
    }

    /// Whether the canonical name is a class (rather than an ingredient).
    pub fn is_class(&self, name: &str) -> bool {
        self.classes.contains_key(name) && !self.drugs.contains_key(name)
    }

    /// Whether the canonical name is a non-drug substance (food, alcohol, smoking).
    pub fn is_substance(&self, name: &str) -> bool {
        self.drugs.get(name).is_some_and(|drug| drug.substance)
    }

    /// Whether an allergy to one member of this class is an allergy to its class.
    pub(crate) fn is_allergy_group(&self, class: &str) -> bool {
        self.classes
            .get(class)
            .is_some_and(|class| class.allergy_group)
    }

    /// The display name of a class or ingredient.
    pub fn display_of(&self, name: &str) -> Option<&str> {
        self.drugs
            .get(name)
            .map(|drug| drug.display.as_str())
            .or_else(|| self.classes.get(name).map(|class| class.display.as_str()))
    }

    /// Every canonical name (ingredients and classes).
    pub fn known_names(&self) -> impl Iterator<Item = &str> {
        self.drugs
            .keys()
            .chain(self.classes.keys())
            .map(String::as_str)
    }

    /// Every RxNorm code of the base.
    pub fn rxnorm_codes(&self) -> impl Iterator<Item = &str> {
        self.rxnorm.keys().map(String::as_str)
    }

    /// The RxNorm ingredient code of a canonical ingredient name, when known.
    pub fn rxnorm_of(&self, name: &str) -> Option<&str> {
        self.rxnorm_of_ingredient.get(name).map(String::as_str)
    }

    /// Every interaction rule (ONC list first, then the MCP table).
    pub fn interaction_rules(&self) -> &[InteractionRule] {
        &self.interactions
    }

    /// Every allergy cross-reactivity rule.
    pub fn allergy_rules(&self) -> &[AllergyRule] {
        &self.allergy_rules
    }

    /// The rules that may apply to an ingredient (naming it or one of its classes).
    pub(crate) fn candidate_rules(
        &self,
        ingredient: &Ingredient,
    ) -> impl Iterator<Item = &InteractionRule> {
        let mut indexes: Vec<usize> = std::iter::once(&ingredient.name)
            .chain(&ingredient.classes)
            .filter_map(|term| self.rules_by_term.get(term))
            .flatten()
            .copied()
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes.into_iter().map(|index| &self.interactions[index])
    }

    /// Drugs whose generic or brand name starts with (first) or contains the query, for a
    /// "choose a drug" box; at most `limit`.
    pub fn search(&self, query: &str, limit: usize) -> Vec<DrugSummary> {
        let query = normalise(query);
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        let prefix = self
            .search
            .iter()
            .filter(|entry| entry.key.starts_with(&query));
        let inner = self
            .search
            .iter()
            .filter(|entry| !entry.key.starts_with(&query) && entry.key.contains(&query));
        prefix
            .chain(inner)
            .take(limit)
            .map(|entry| entry.summary.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_parse() {
        let kb = KnowledgeBase::from_json(
            DRUGS_JSON,
            RXNORM_JSON,
            &[ONC_JSON, INTERACTIONS_JSON],
            ALLERGY_RULES_JSON,
        );
        assert!(kb.is_ok(), "{:?}", kb.err());
    }
}
