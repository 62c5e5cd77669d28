//! Hand-written checks of the R4 primitive types in their JSON form (JSON type, lexical format,
//! numeric range). They follow the official regexes kept in the model (`regex`), which the unit
//! tests cross-check. Errors are short lowercase messages that never echo the value.

use serde_json::Value;

use super::temporal::{is_date, is_date_time, is_instant, is_time};

/// Checks `value` as the JSON form of the primitive type `type_code`.
pub(crate) fn check(type_code: &str, value: &Value) -> Result<(), &'static str> {
    match type_code {
        "boolean" => match value {
            Value::Bool(_) => Ok(()),
            _ => Err("expected a json boolean"),
        },
        "integer" | "positiveInt" | "unsignedInt" | "decimal" => {
            let Value::Number(number) = value else {
                return Err("expected a json number");
            };
            check_number(type_code, &number.to_string())
        }
        _ => {
            let Value::String(text) = value else {
                return Err("expected a json string");
            };
            if text.is_empty() {
                return Err("empty string is not allowed");
            }
            // The R4 string rules: no control characters but tab, carriage return and line
            // feed (a NUL, in particular, cannot be stored in a PostgreSQL text column).
            if text
                .chars()
                .any(|ch| ch < ' ' && !matches!(ch, '\t' | '\r' | '\n'))
            {
                return Err(
                    "control characters other than tab, carriage return and line feed are not allowed",
                );
            }
            check_text(type_code, text)
        }
    }
}

fn check_number(type_code: &str, text: &str) -> Result<(), &'static str> {
    if type_code == "decimal" {
        return if is_decimal(text) {
            Ok(())
        } else {
            Err("invalid decimal")
        };
    }
    if !is_integer(text) {
        return Err("expected an integer");
    }
    let Ok(number) = text.parse::<i64>() else {
        return Err("integer out of range");
    };
    let (low, message) = match type_code {
        "positiveInt" => (1, "expected a positive integer"),
        "unsignedInt" => (0, "expected a non-negative integer"),
        _ => (i64::from(i32::MIN), "integer out of range"),
    };
    if number < low || number > i64::from(i32::MAX) {
        return Err(message);
    }
    Ok(())
}

fn check_text(type_code: &str, text: &str) -> Result<(), &'static str> {
    let ok = match type_code {
        "date" => is_date(text),
        "dateTime" => is_date_time(text),
        "instant" => is_instant(text),
        "time" => is_time(text),
        "id" => {
            text.len() <= 64
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
        "code" => is_code(text),
        "uri" | "url" | "canonical" => !text.chars().any(char::is_whitespace),
        "oid" => is_oid(text),
        "uuid" => is_uuid(text),
        "base64Binary" => is_base64(text),
        "xhtml" => text.trim_start().starts_with("<div"),
        // string, markdown: any non-empty text
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match type_code {
        "date" => "invalid date format",
        "dateTime" => "invalid dateTime format",
        "instant" => "invalid instant format",
        "time" => "invalid time format",
        "id" => "invalid id format",
        "code" => "invalid code format",
        "oid" => "invalid oid format",
        "uuid" => "invalid uuid format",
        "base64Binary" => "invalid base64Binary content",
        "xhtml" => "xhtml must be a div element",
        _ => "invalid uri format",
    })
}

/// `-?(0|[1-9][0-9]*)`
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    is_plain_digits(digits)
}

fn is_plain_digits(digits: &str) -> bool {
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_decimal(text: &str) -> bool {
    let text = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((int_part, frac)) => (int_part, Some(frac)),
        None => (mantissa, None),
    };
    let frac_ok = frac_part.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    let exp_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    is_plain_digits(int_part) && frac_ok && exp_ok
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or doubled whitespace.
fn is_code(text: &str) -> bool {
    text.split(char::is_whitespace).all(|part| !part.is_empty())
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
fn is_oid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first_ok = arcs.next().is_some_and(|a| matches!(a, "0" | "1" | "2"));
    let mut n_more = 0;
    let rest_ok = arcs.all(|a| {
        n_more += 1;
        is_plain_digits(a)
    });
    first_ok && rest_ok && n_more > 0
}

/// `urn:uuid:` and a lowercase 8-4-4-4-12 hex uuid.
fn is_uuid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
            group.len() == len
                && group
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Base64 alphabet and padding, whitespace ignored, length a multiple of 4.
fn is_base64(text: &str) -> bool {
    let mut n_chars = 0usize;
    let mut n_padding = 0usize;
    for b in text.bytes() {
        match b {
            b if b.is_ascii_whitespace() => continue,
            b'=' => n_padding += 1,
            b if n_padding > 0 => return b == b'=',
            b if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' => {}
            _ => return false,
        }
        n_chars += 1;
    }
    n_padding <= 2 && n_chars.is_multiple_of(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(type_code: &str, value: Value) -> bool {
        check(type_code, &value).is_ok()
    }

    #[test]
    fn json_types() {
        assert!(ok("boolean", json!(true)));
        assert!(!ok("boolean", json!("true")));
        assert!(!ok("integer", json!("1")));
        assert!(!ok("string", json!(1)));
        assert!(!ok("string", json!("")));
    }

    #[test]
    fn numbers() {
        let parse = |text: &str| serde_json::from_str::<Value>(text).expect("test json");
        assert!(ok("integer", parse("-12")));
        assert!(!ok("integer", parse("1.5")));
        assert!(!ok("integer", parse("2147483648")));
        assert!(ok("unsignedInt", parse("0")));
        assert!(!ok("unsignedInt", parse("-1")));
        assert!(!ok("positiveInt", parse("0")));
        assert!(ok("decimal", parse("1.50")));
        assert!(ok("decimal", parse("-0.5e-3")));
        assert_eq!(parse("1.50").to_string(), "1.50");
    }

    #[test]
    fn control_characters_other_than_tab_cr_lf_are_refused() {
        assert!(!ok("string", json!("a\u{0}b")));
        assert!(!ok("markdown", json!("\u{1b}[31m")));
        assert!(!ok("uri", json!("urn:x\u{0}")));
        assert!(ok("string", json!("tab\tcr\rlf\n")));
        assert!(ok("string", json!("\u{7f}\u{85} are not below U+0020")));
    }

    #[test]
    fn strings() {
        assert!(ok("code", json!("a b")));
        assert!(!ok("code", json!(" a")));
        assert!(!ok("code", json!("a  b")));
        assert!(ok("id", json!("a-B.9")));
        assert!(!ok("id", json!("a_b")));
        assert!(!ok("uri", json!("a b")));
        assert!(ok("oid", json!("urn:oid:1.2.3")));
        assert!(!ok("oid", json!("urn:oid:3.2")));
        assert!(ok(
            "uuid",
            json!("urn:uuid:c757873d-ec9a-4326-a141-556f43239520")
        ));
        assert!(!ok("uuid", json!("c757873d-ec9a-4326-a141-556f43239520")));
        assert!(ok("base64Binary", json!("aGVsbG8=")));
        assert!(!ok("base64Binary", json!("aGVsbG8")));
        assert!(ok(
            "xhtml",
            json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>")
        ));
    }

    /// The hand-written checks agree with the official regexes on samples where they should.
    #[test]
    fn agrees_with_the_official_regexes() {
        let model: Value =
            serde_json::from_str(crate::validate::model::MODEL_JSON).expect("model json");
        let samples: &[(&str, &[&str])] = &[
            (
                "date",
                &[
                    "2024",
                    "2024-02",
                    "2024-02-28",
                    "24",
                    "2024-13",
                    "2024-00-01",
                    "2024-01-32",
                    "0000",
                ],
            ),
            (
                "dateTime",
                &[
                    "2024",
                    "2024-01-01T10:00:00Z",
                    "2024-01-01T10:00:00.5+14:00",
                    "2024-01-01T10:00",
                    "2024-01-01T10:00:00+14:30",
                    "2024-01-01T24:00:00Z",
                ],
            ),
            (
                "instant",
                &["2024-01-01T10:00:00Z", "2024-01-01", "2024-01-01T10:00:00"],
            ),
            ("time", &["10:00:00", "23:59:59.999", "24:00:00", "10:00"]),
            ("id", &["abc-1.2", "a_b", "a b"]),
            ("code", &["a", "a b", " a", "a ", "a  b"]),
            ("uri", &["http://x", "urn:a:b", "a b"]),
            (
                "oid",
                &["urn:oid:1.2.3", "urn:oid:1", "urn:oid:1.02", "1.2.3"],
            ),
            (
                "uuid",
                &[
                    "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
                    "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
                ],
            ),
            ("base64Binary", &["aGVsbG8=", "aGVs bG8=", "a$b="]),
            ("decimal", &["0", "-1.50", "1e5", "01", "1.", ".5"]),
            ("integer", &["0", "-5", "05", "1.0"]),
            ("positiveInt", &["1", "0", "+7"]),
            ("unsignedInt", &["0", "12", "-1"]),
        ];
        for (type_code, values) in samples {
            let pattern = model["regex"][*type_code]
                .as_str()
                .expect("regex in the model");
            let regex = regex::Regex::new(&format!("^(?:{pattern})$")).expect("valid regex");
            for sample in *values {
                let ours = match *type_code {
                    "decimal" | "integer" | "positiveInt" | "unsignedInt" => {
                        check_number(type_code, sample).is_ok()
                    }
                    _ => check_text(type_code, sample).is_ok(),
                };
                assert_eq!(ours, regex.is_match(sample), "{type_code} {sample:?}");
            }
        }
    }

    #[test]
    fn messages_do_not_echo_values() {
        let message = check("date", &json!("secret-1999")).expect_err("invalid");
        assert_eq!(message, "invalid date format");
    }
}
