//! Line clean-up before a line is read: table rules, tabs and dotted leaders become column
//! gaps, dashes are unified, OCR's leaders and specks are dropped, footnote markers come off.

use std::sync::OnceLock;

use regex::Regex;

use crate::extract::values;

/// Tabs and stray `|` become column gaps; dotted leaders too; dashes are unified.
pub(super) fn clean_line(raw: &str) -> String {
    static LEADERS: OnceLock<Regex> = OnceLock::new();
    let leaders = LEADERS.get_or_init(|| {
        Regex::new(r"(?:\s*[._·]){3,}\s*|\s+-{2,}\s+").expect("invariant: valid regex")
    });
    let mut line = String::with_capacity(raw.len());
    let characters: Vec<char> = raw.chars().collect();
    for (index, &character) in characters.iter().enumerate() {
        match character {
            '\t' => line.push_str("  "),
            '|' | '¦' => {
                // A pipe between digits is an OCR'd `1`; elsewhere it is a table rule.
                let before = index.checked_sub(1).and_then(|i| characters.get(i));
                let after = characters.get(index + 1);
                let digit = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_digit() || *c == '.');
                if digit(before) || digit(after) {
                    line.push('|');
                } else {
                    line.push_str("  ");
                }
            }
            '–' | '—' | '−' => line.push('-'),
            '\u{a0}' => line.push(' '),
            other => line.push(other),
        }
    }
    let line = leaders.replace_all(&line, "  ");
    strip_footnotes(&drop_noise(&line))
}

/// Footnote markers glued to a name or a value (`Glucose¹`, `112²`, `Ferritin*1`, `5.4†`) off
/// the word; a unit's own superscript (`m²`, `x10⁹/L`) stays: only a number or a word of three
/// letters or more loses one.
pub(super) fn strip_footnotes(text: &str) -> String {
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let token = TOKEN.get_or_init(|| {
        Regex::new(r"(\S+?)(?:[¹²³⁴⁵⁶⁷⁸⁹⁰†‡§]+|\*[0-9])(\s|$)").expect("invariant: valid regex")
    });
    token
        .replace_all(text, |captures: &regex::Captures<'_>| {
            let word = &captures[1];
            let letters = word.chars().filter(|c| c.is_alphabetic()).count();
            let number = values::number(word).is_some_and(|n| !n.repaired);
            let keep = if number || (letters >= 3 && word.chars().all(char::is_alphabetic)) {
                word.to_owned()
            } else {
                captures[0].trim_end().to_owned()
            };
            format!("{keep}{}", &captures[2])
        })
        .into_owned()
}

/// Characters OCR makes of dotted leaders (`ccecsceeeneerenae…`) and of specks.
const LEADER_CHARACTERS: &str = "ceoasnrtuigqvdl.,:;'`·";

/// Whether `token` is OCR'd leader dots: long, from a handful of round letters, mostly c and e.
fn is_leader(token: &str) -> bool {
    let length = token.chars().count();
    length >= 6
        && token.chars().all(|c| LEADER_CHARACTERS.contains(c))
        && token.chars().filter(|c| matches!(c, 'c' | 'e')).count() * 2 >= length
}

/// Whether `token` is a speck: lone punctuation (`‘`, `;`, `_`), never a value or a flag.
fn is_speck(token: &str) -> bool {
    token.chars().all(|c| {
        matches!(
            c,
            '‘' | '’'
                | '\''
                | '`'
                | '"'
                | '“'
                | '”'
                | ';'
                | ':'
                | '_'
                | ','
                | '~'
                | '.'
                | '»'
                | '«'
        )
    })
}

/// Removes OCR leaders (with the short fragments stuck to them) and specks, keeping the column
/// gaps they leave.
fn drop_noise(line: &str) -> String {
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let token = TOKEN.get_or_init(|| Regex::new(r"\S+").expect("invariant: valid regex"));
    let tokens: Vec<(usize, usize, &str)> = token
        .find_iter(line)
        .map(|m| (m.start(), m.end(), m.as_str()))
        .collect();
    let mut drop: Vec<bool> = tokens
        .iter()
        .map(|(_, _, text)| is_leader(text) || is_speck(text))
        .collect();
    // Short lower-case fragments next to a leader belong to it (`ou. cceecs… eens`).
    for index in 0..tokens.len() {
        if !is_leader(tokens[index].2) {
            continue;
        }
        for neighbour in [index.checked_sub(1), Some(index + 1)]
            .into_iter()
            .flatten()
        {
            if let Some((_, _, text)) = tokens.get(neighbour)
                && text.chars().count() <= 5
                && text.chars().all(|c| LEADER_CHARACTERS.contains(c))
            {
                drop[neighbour] = true;
            }
        }
    }
    if !drop.iter().any(|d| *d) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for ((start, end, _), dropped) in tokens.iter().zip(&drop) {
        if *dropped {
            out.push_str(&line[last..*start]);
            out.push_str("  ");
            last = *end;
        }
    }
    out.push_str(&line[last..]);
    out
}
