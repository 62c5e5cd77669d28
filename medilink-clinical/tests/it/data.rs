//! The vendored data: every entry parses and names only known drugs and classes.

use std::collections::HashSet;

use medilink_clinical::{KnowledgeBase, MedicationInput};

#[test]
fn every_rule_names_only_known_names() {
    let kb = KnowledgeBase::offline();
    let known: HashSet<&str> = kb.known_names().collect();
    assert!(kb.interaction_rules().len() > 150);
    for rule in kb.interaction_rules() {
        assert!(!rule.a.is_empty() && !rule.b.is_empty(), "{}", rule.id);
        for name in rule.a.iter().chain(&rule.b) {
            assert!(known.contains(name.as_str()), "{}: unknown {name}", rule.id);
        }
        assert!(
            !rule.summary.is_empty() && !rule.source.is_empty(),
            "{}",
            rule.id
        );
    }
    assert!(
        kb.interaction_rules()
            .iter()
            .any(|rule| rule.id.starts_with("onc-"))
    );
    for rule in kb.allergy_rules() {
        assert!(known.contains(rule.allergen.as_str()), "{}", rule.allergen);
        assert!(known.contains(rule.target.as_str()), "{}", rule.target);
        assert!(!rule.evidence.is_empty() && !rule.source.is_empty());
    }
}

#[test]
fn every_rxnorm_code_resolves() {
    let kb = KnowledgeBase::offline();
    let codes: Vec<&str> = kb.rxnorm_codes().collect();
    assert!(codes.len() > 100);
    for code in codes {
        let resolved = kb.resolve(&MedicationInput::rxnorm(code));
        assert!(resolved.recognised(), "{code}");
        assert_eq!(resolved.rxnorm.as_deref(), Some(code));
    }
}

#[test]
fn the_data_stays_small() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(meta) = entry.metadata()
            && meta.is_file()
        {
            total += meta.len();
        }
    }
    assert!(total > 0 && total < 1_000_000, "{total} bytes");
}
