//! Clinical knowledge for MediLink (issue #13): drug identity, drug-drug interactions, allergy
//! cross-reactivity and CDS Hooks cards, over vendored offline data. No HTTP server code lives
//! here; the server's routes call into this crate.
//!
//! - [`drug`]: a medication (RxNorm code and/or free text such as "Coumadin 5mg" or
//!   "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet") becomes a
//!   [`ResolvedDrug`] with ingredients and their classes ([`KnowledgeBase::resolve`]);
//!   [`KnowledgeBase::search`] serves a "choose a drug" box.
//! - [`check`]: the [`Checker`] asks its [`InteractionSource`]s about every pair of drugs and
//!   applies the allergy rules; [`OfflineSource`] is the vendored base, [`openfda`] an online
//!   source behind the same trait.
//! - [`fhir`]: active medications and allergies read from FHIR resources.
//! - [`cds`]: CDS Hooks 2.0 types, services and cards.
//!
//! # Data and licences
//!
//! Everything the base knows is under `data/` (see `data/README.md`), embedded at compile time
//! and parsed once; the build never downloads anything:
//! - `interactions.json`: the interaction table of the `drug-interaction-mcp` package (MIT,
//!   © 2026 Pillright), each side reduced to canonical names;
//! - `onc_high_priority.json`: the ONC high-priority drug-drug interaction list (Phansalkar et
//!   al., JAMIA 2012;19(5):735-743), every pair contraindicated;
//! - `drugs.json`: the drugs and classes the rules name, with brand names and MeSH tree numbers
//!   from the `drug-named-entity-recognition` package (MIT, © 2023 Fast Data Science Ltd) and a
//!   hand table of pharmacological classes MeSH chemical trees do not express (CYP3A4
//!   inhibitors, serotonergic agents, QT-prolonging agents, …);
//! - `allergy_rules.json`: cross-reactivity rules, each with its literature source;
//! - `rxnorm.json`: RxNorm codes of the Synthea sample data with their ingredients, plus the
//!   ingredient codes (RXCUI) of common drugs.
//!
//! The licence texts are in `data/LICENSES/`. Regenerate every file with
//! `python3 tools/clinical/regen.py` (Python 3 stdlib; pip fetches the two wheels).
//!
//! # Severity mapping
//!
//! | [`Severity`] | From |
//! |---|---|
//! | `contraindicated` | every ONC pair; an MCP `danger` entry whose text says "contraindicated", "do not use", "do not combine" or "avoid combination" (not followed by "unless") |
//! | `serious` | other MCP `danger` entries |
//! | `moderate` | MCP `warning` |
//! | `minor` | MCP `caution` |
//!
//! Allergies: the same ingredient is contraindicated, the same allergy class (penicillins,
//! cephalosporins, sulfonamide antibiotics, …) serious, a cross-reactive class as its rule says.
//!
//! This is decision support over a small public data set, not a complete drug compendium: an
//! empty result means "nothing known", never "safe".
//!
//! # Quick start
//!
//! ```
//! use medilink_clinical::{Checker, KnowledgeBase, MedicationInput};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), medilink_clinical::ClinicalError> {
//! let knowledge = KnowledgeBase::offline();
//! let named = |text: &str| MedicationInput { text: Some(text.to_owned()), ..Default::default() };
//! // A brand name and an ingredient, resolved to ingredients and classes.
//! let warfarin = knowledge.resolve(&named("Coumadin 5mg"));
//! let aspirin = knowledge.resolve(&named("aspirin"));
//! let findings = Checker::offline().check(&[warfarin, aspirin], &[], &[]).await?;
//! assert_eq!(findings[0].key, "interaction:aspirin+warfarin");
//! # Ok(())
//! # }
//! ```
//!
//! This crate has no feature flags; [`OpenFdaSource`] asks the openFDA API over HTTPS when a
//! host adds it to a [`Checker`].
#![warn(missing_docs)]

pub mod cds;
pub mod check;
pub mod drug;
pub mod error;
pub mod fhir;
pub mod gate;
mod kb;
pub mod openfda;
pub mod record;
pub mod rules;
pub mod service;

pub use check::{
    ActiveAllergy, ActiveMedication, CheckOutcome, Checker, Conflict, Finding, FindingKind,
    InteractionSource, OfflineSource,
};
pub use drug::{DrugSummary, Ingredient, MedicationInput, ResolvedDrug};
pub use error::{ClinicalError, ClinicalResult};
pub use kb::KnowledgeBase;
pub use openfda::OpenFdaSource;
pub use rules::{AllergyRule, InteractionRule, Severity};
