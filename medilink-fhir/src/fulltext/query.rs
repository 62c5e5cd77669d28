//! The text analysis shared by indexing and querying, and the translation of a `_text` /
//! `_content` value into a Tantivy query.
//!
//! Words are split on anything that is not a letter or digit, lowercased and folded to ASCII
//! (`José` → `jose`), so search is case- and accent-insensitive. A query is a list of words
//! and `"quoted phrases"`, all of which must match. A word that the analyzer splits
//! (`o'brien`, `2024-01-01`) must match as a phrase.

use tantivy::Term;
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// The name the analyzer is registered under in the index.
pub(super) const ANALYZER: &str = "medilink_text";

/// Tokens longer than this (base64 blobs, hashes) are not indexed.
const MAX_TOKEN_BYTES: usize = 64;

/// Splits, lowercases and ASCII-folds.
pub(super) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The analyzed tokens of `text`.
pub(super) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// A query string as clauses, each a run of tokens that must occur in this order (one token:
/// a plain word). Words that analyze to nothing (punctuation) are dropped.
pub(super) fn clauses(analyzer: &mut TextAnalyzer, query: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (n, part) in query.split('"').enumerate() {
        let quoted = n % 2 == 1;
        if quoted {
            out.push(tokens(analyzer, part));
        } else {
            out.extend(part.split_whitespace().map(|word| tokens(analyzer, word)));
        }
    }
    out.retain(|clause| !clause.is_empty());
    out
}

/// A query that requires every clause in `field`.
pub(super) fn all_clauses(field: Field, clauses: &[Vec<String>]) -> Vec<(Occur, Box<dyn Query>)> {
    clauses
        .iter()
        .map(|clause| {
            let terms: Vec<Term> = clause
                .iter()
                .map(|token| Term::from_field_text(field, token))
                .collect();
            let query: Box<dyn Query> = match <[Term; 1]>::try_from(terms) {
                Ok([term]) => Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                Err(terms) => Box::new(PhraseQuery::new(terms)),
            };
            (Occur::Must, query)
        })
        .collect()
}

/// A filter that matches any of `values` in the raw `field`.
pub(super) fn any_of(field: Field, values: impl IntoIterator<Item = String>) -> Box<dyn Query> {
    let terms = values
        .into_iter()
        .map(|value| Term::from_field_text(field, &value))
        .collect();
    Box::new(BooleanQuery::new_multiterms_query(terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_folded() {
        assert_eq!(
            tokens(&mut analyzer(), "José ÉLODIE Müller-Straße 42"),
            vec!["jose", "elodie", "muller", "strasse", "42"]
        );
    }

    #[test]
    fn query_splits_words_and_phrases() {
        let mut analyzer = analyzer();
        assert_eq!(
            clauses(
                &mut analyzer,
                r#"Chest  "Pain at rest" o'brien -- "unclosed phrase"#
            ),
            vec![
                vec!["chest".to_owned()],
                vec!["pain".to_owned(), "at".to_owned(), "rest".to_owned()],
                vec!["o".to_owned(), "brien".to_owned()],
                vec!["unclosed".to_owned(), "phrase".to_owned()],
            ]
        );
        assert!(clauses(&mut analyzer, r#" "" -- !"#).is_empty());
    }
}
