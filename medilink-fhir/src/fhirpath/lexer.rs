//! Tokenizer for FHIRPath source text: identifiers (plain and backtick-delimited), string,
//! number and date/time literals, `$`/`%` variables, operators and both comment styles.

use super::FhirPathError;

/// One lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A plain identifier or keyword (`name`, `and`, `true`).
    Ident(String),
    /// A backtick-delimited identifier (never a keyword).
    Quoted(String),
    /// A string literal, unescaped.
    Str(String),
    /// A number literal, as written.
    Number(String),
    /// A date/time literal without the `@` (`2014-01-01T10`, `T10:30`).
    DateTime(String),
    /// `$this`, `$index`, `$total`.
    Var(String),
    /// `%name` or `%`name``.
    Env(String),
    /// Punctuation or an operator symbol.
    Sym(&'static str),
}

const SYMBOLS: [&str; 22] = [
    "!=", "!~", "<=", ">=", "<", ">", ".", ",", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/",
    "|", "&", "=", "~",
];

/// Splits `src` into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, FhirPathError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            loop {
                if i + 1 >= chars.len() {
                    return Err(syntax("unterminated comment"));
                }
                if chars[i] == '*' && chars[i + 1] == '/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
        } else if c == '\'' || c == '`' {
            let (text, next) = quoted(&chars, i, c)?;
            tokens.push(if c == '\'' {
                Token::Str(text)
            } else {
                Token::Quoted(text)
            });
            i = next;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c == '@' {
            let start = i + 1;
            i += 1;
            while i < chars.len() {
                let c = chars[i];
                let fraction = c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
                if !(c.is_ascii_digit() || ":-+TZ".contains(c) || fraction) {
                    break;
                }
                i += 1;
            }
            if start == i {
                return Err(syntax("empty date/time literal"));
            }
            tokens.push(Token::DateTime(chars[start..i].iter().collect()));
        } else if c == '$' || c == '%' || c.is_alphabetic() || c == '_' {
            if c == '%' && chars.get(i + 1) == Some(&'`') {
                let (text, next) = quoted(&chars, i + 1, '`')?;
                tokens.push(Token::Env(text));
                i = next;
                continue;
            }
            if c == '%' && chars.get(i + 1) == Some(&'\'') {
                let (text, next) = quoted(&chars, i + 1, '\'')?;
                tokens.push(Token::Env(text));
                i = next;
                continue;
            }
            let start = if c == '$' || c == '%' { i + 1 } else { i };
            i = start;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(match c {
                '$' => Token::Var(word),
                '%' => Token::Env(word),
                _ => Token::Ident(word),
            });
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                return Err(syntax("unexpected character"));
            };
            tokens.push(Token::Sym(symbol));
            i += symbol.len();
        }
    }
    Ok(tokens)
}

/// Reads a quoted literal starting at `start` (the opening quote); returns the unescaped
/// text and the index after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Result<(String, usize), FhirPathError> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return Ok((text, i + 1));
        }
        if c == '\\' {
            i += 1;
            let escaped = *chars.get(i).ok_or_else(|| syntax("unterminated string"))?;
            match escaped {
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                'f' => text.push('\u{c}'),
                'u' => {
                    let hex: String = chars.get(i + 1..i + 5).unwrap_or_default().iter().collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| syntax("invalid unicode escape"))?;
                    text.push(code);
                    i += 4;
                }
                other => text.push(other),
            }
        } else {
            text.push(c);
        }
        i += 1;
    }
    Err(syntax("unterminated string"))
}

fn syntax(message: &'static str) -> FhirPathError {
    FhirPathError::Syntax { message }
}
