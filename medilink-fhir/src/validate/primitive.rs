//! Hand-written checks of the R4 primitive types in their JSON form (JSON type, lexical format,
//! numeric range). They follow the official regexes kept in the model (`regex`), which the unit
//! tests cross-check. Errors are short lowercase messages that never echo the value.

use serde_json::Value;

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
            check_text(type_code, text)
        }
    }
}

fn check_number(type_code: &str, text: &str) -> Result<(), &'static str> {
    if type_code == "decimal" {
        return if is_decimal(text) { Ok(()) } else { Err("invalid decimal") };
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
        "id" => text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
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

/// `-?(0|[1-9][0-9]*)`, with the leading `+` that positiveInt's regex allows.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
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

/// `n` ASCII digits at the start of `text`, parsed.
fn digits(text: &str, n: usize) -> Option<u32> {
    let part = text.get(..n)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; returns the rest after the full date when there is one.
fn parse_date(text: &str) -> Option<(&str, bool)> {
    let year = digits(text, 4)?;
    if year == 0 {
        return None;
    }
    let rest = &text[4..];
    let Some(rest) = rest.strip_prefix('-') else {
        return Some((rest, false));
    };
    let month = digits(rest, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let rest = &rest[2..];
    let Some(rest) = rest.strip_prefix('-') else {
        return Some((rest, false));
    };
    let day = digits(rest, 2)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((&rest[2..], true))
}

/// `hh:mm:ss(.f+)?`; returns the rest.
fn parse_time(text: &str) -> Option<&str> {
    let hour = digits(text, 2)?;
    let minute = digits(text.get(3..)?, 2)?;
    let second = digits(text.get(6..)?, 2)?;
    if text.get(2..3)? != ":" || text.get(5..6)? != ":" || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let rest = &text[8..];
    match rest.strip_prefix('.') {
        Some(fraction) => {
            let n_digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            (n_digits > 0).then(|| &fraction[n_digits..])
        }
        None => Some(rest),
    }
}

/// `Z` or `(+|-)hh:mm` with hh ≤ 14.
fn is_zone(text: &str) -> bool {
    if text == "Z" {
        return true;
    }
    let Some(offset) = text.strip_prefix(['+', '-']) else {
        return false;
    };
    offset.len() == 5
        && &offset[2..3] == ":"
        && matches!((digits(offset, 2), digits(&offset[3..], 2)), (Some(h), Some(m)) if (h < 14 && m < 60) || (h == 14 && m == 0))
}

fn is_date(text: &str) -> bool {
    matches!(parse_date(text), Some(("", _)))
}

fn is_date_time(text: &str) -> bool {
    match parse_date(text) {
        Some(("", _)) => true,
        Some((rest, true)) => rest
            .strip_prefix('T')
            .and_then(parse_time)
            .is_some_and(is_zone),
        _ => false,
    }
}

fn is_instant(text: &str) -> bool {
    match parse_date(text) {
        Some((rest, true)) => rest
            .strip_prefix('T')
            .and_then(parse_time)
            .is_some_and(is_zone),
        _ => false,
    }
}

fn is_time(text: &str) -> bool {
    parse_time(text) == Some("")
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
            group.len() == len && group.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    fn dates_and_times() {
        for good in ["2024", "2024-02", "2024-02-29"] {
            assert!(is_date(good), "{good}");
        }
        for bad in ["24", "2023-02-29", "2024-13", "2024-1-01", "2024-01-01T10:00:00Z"] {
            assert!(!is_date(bad), "{bad}");
        }
        assert!(is_date_time("2015-02-07T13:28:17.239+02:00"));
        assert!(is_date_time("2015-02"));
        assert!(!is_date_time("2015-02-07T13:28:17"));
        assert!(!is_date_time("2015-02-07T13:28Z"));
        assert!(is_instant("2015-02-07T13:28:17Z"));
        assert!(!is_instant("2015-02-07"));
        assert!(is_time("23:59:60.5"));
        assert!(!is_time("24:00:00"));
        assert!(!is_zone("+15:00"));
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
        assert!(ok("uuid", json!("urn:uuid:c757873d-ec9a-4326-a141-556f43239520")));
        assert!(!ok("uuid", json!("c757873d-ec9a-4326-a141-556f43239520")));
        assert!(ok("base64Binary", json!("aGVsbG8=")));
        assert!(!ok("base64Binary", json!("aGVsbG8")));
        assert!(ok("xhtml", json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>")));
    }

    #[test]
    fn messages_do_not_echo_values() {
        let message = check("date", &json!("secret-1999")).expect_err("invalid");
        assert_eq!(message, "invalid date format");
    }
}
