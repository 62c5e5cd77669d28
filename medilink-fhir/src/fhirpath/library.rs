//! Functions on single system values: conversions (`toInteger`, `convertsToDate`, …), strings
//! (`substring`, `matches`, `replace`, …), math (`round`, `sqrt`, …) and the clock (`now`).

use regex::Regex;

use super::eval::{decimal_item, singleton_val};
use super::temporal;
use super::value::Val;
use super::{FhirPathError, Item};

type Items<'a> = Vec<Item<'a>>;
type ArgFn<'f, 'a> = &'f dyn Fn(usize) -> Result<Items<'a>, FhirPathError>;

/// `today()`, `now()`, `timeOfDay()` from the system clock (UTC).
pub(crate) fn clock<'a>(name: &str) -> Result<Items<'a>, FhirPathError> {
    #[allow(
        clippy::disallowed_methods,
        reason = "FHIRPath now()/today(): no Clock reaches the evaluator yet (tidy: AMBIENT_ALLOWED)"
    )]
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let clock = format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second());
    Ok(vec![match name {
        "today" => Item::Date(date),
        "now" => Item::DateTime(format!("{date}T{clock}Z")),
        _ => Item::Time(clock),
    }])
}

/// Calls a value function; `arg(i)` evaluates argument `i`.
pub(crate) fn call<'a>(
    name: &str,
    focus: Items<'a>,
    arg: ArgFn<'_, 'a>,
    n_args: usize,
) -> Result<Items<'a>, FhirPathError> {
    let input = singleton_val(&focus)?;
    let Some(input) = input else {
        if focus.is_empty() && is_known(name) {
            return Ok(Vec::new());
        }
        if is_known(name) {
            // a complex node: no system value
            return Ok(if name.starts_with("convertsTo") {
                vec![Item::Boolean(false)]
            } else {
                Vec::new()
            });
        }
        return Err(FhirPathError::UnknownFunction {
            name: name.to_owned(),
        });
    };
    let string_arg = |i: usize| -> Result<Option<String>, FhirPathError> {
        match singleton_val(&arg(i)?)? {
            Some(Val::Str(s)) => Ok(Some(s)),
            None => Ok(None),
            Some(_) => Err(FhirPathError::eval("expected a string argument")),
        }
    };
    let int_arg = |i: usize| -> Result<Option<i64>, FhirPathError> {
        match singleton_val(&arg(i)?)? {
            Some(Val::Int(n)) => Ok(Some(n)),
            None => Ok(None),
            Some(_) => Err(FhirPathError::eval("expected an integer argument")),
        }
    };
    if let Some(target) = name.strip_prefix("convertsTo") {
        return Ok(vec![Item::Boolean(convert(&input, target).is_some())]);
    }
    if let Some(target) = name.strip_prefix("to")
        && !matches!(name, "toChars")
    {
        if target == "String" {
            return Ok(vec![Item::String(input.to_text())]);
        }
        return Ok(convert(&input, target)
            .map(Val::into_item)
            .into_iter()
            .collect());
    }
    let text = match &input {
        Val::Str(s) => Some(s.as_str()),
        _ => None,
    };
    let one = |item: Item<'a>| Ok(vec![item]);
    let string_only = || text.ok_or_else(|| FhirPathError::eval("expected a string input"));
    match name {
        "length" => one(Item::Integer(string_only()?.chars().count() as i64)),
        "upper" => one(Item::String(string_only()?.to_uppercase())),
        "lower" => one(Item::String(string_only()?.to_lowercase())),
        "trim" => one(Item::String(string_only()?.trim().to_owned())),
        "toChars" => Ok(string_only()?
            .chars()
            .map(|c| Item::String(c.to_string()))
            .collect()),
        "startsWith" | "endsWith" | "contains" | "indexOf" => {
            let s = string_only()?;
            let Some(needle) = string_arg(0)? else {
                return Ok(Vec::new());
            };
            one(match name {
                "startsWith" => Item::Boolean(s.starts_with(&needle)),
                "endsWith" => Item::Boolean(s.ends_with(&needle)),
                "contains" => Item::Boolean(s.contains(&needle)),
                _ => Item::Integer(match s.find(&needle) {
                    Some(byte) => s[..byte].chars().count() as i64,
                    None => -1,
                }),
            })
        }
        "substring" => {
            let chars: Vec<char> = string_only()?.chars().collect();
            let Some(start) = int_arg(0)? else {
                return Ok(Vec::new());
            };
            if start < 0 || start as usize >= chars.len() {
                return Ok(Vec::new());
            }
            let start = start as usize;
            let end = match (n_args > 1).then(|| int_arg(1)).transpose()?.flatten() {
                Some(length) => (start + length.max(0) as usize).min(chars.len()),
                None => chars.len(),
            };
            one(Item::String(chars[start..end].iter().collect()))
        }
        "matches" | "matchesFull" | "replaceMatches" => {
            let s = string_only()?;
            let Some(pattern) = string_arg(0)? else {
                return Ok(Vec::new());
            };
            if pattern.is_empty() && name == "replaceMatches" {
                return one(Item::String(s.to_owned()));
            }
            let anchored = if name == "matchesFull" {
                format!("^(?:{pattern})$")
            } else {
                format!("(?s){pattern}")
            };
            let regex = Regex::new(&anchored)
                .map_err(|_| FhirPathError::eval("invalid regular expression"))?;
            if name == "replaceMatches" {
                let Some(replacement) = string_arg(1)? else {
                    return Ok(Vec::new());
                };
                return one(Item::String(
                    regex.replace_all(s, replacement.as_str()).into_owned(),
                ));
            }
            one(Item::Boolean(regex.is_match(s)))
        }
        "replace" => {
            let s = string_only()?;
            let (Some(pattern), Some(replacement)) = (string_arg(0)?, string_arg(1)?) else {
                return Ok(Vec::new());
            };
            one(Item::String(if pattern.is_empty() {
                let mut out = replacement.clone();
                for c in s.chars() {
                    out.push(c);
                    out.push_str(&replacement);
                }
                out
            } else {
                s.replace(&pattern, &replacement)
            }))
        }
        "split" => {
            let s = string_only()?;
            let Some(separator) = string_arg(0)? else {
                return Ok(Vec::new());
            };
            Ok(s.split(separator.as_str())
                .map(|part| Item::String(part.to_owned()))
                .collect())
        }
        "encode" | "decode" | "escape" | "unescape" => {
            let s = string_only()?;
            let Some(format) = string_arg(0)? else {
                return Ok(Vec::new());
            };
            Ok(super::codec::apply(name, &format, s)
                .map(Item::String)
                .into_iter()
                .collect())
        }
        "abs" | "ceiling" | "floor" | "exp" | "ln" | "sqrt" | "truncate" | "round" | "log"
        | "power" => math(name, &input, arg),
        _ => Err(FhirPathError::UnknownFunction {
            name: name.to_owned(),
        }),
    }
}

fn is_known(name: &str) -> bool {
    name.starts_with("to")
        || name.starts_with("convertsTo")
        || matches!(
            name,
            "length"
                | "upper"
                | "lower"
                | "trim"
                | "startsWith"
                | "endsWith"
                | "contains"
                | "indexOf"
                | "substring"
                | "matches"
                | "matchesFull"
                | "replaceMatches"
                | "replace"
                | "split"
                | "abs"
                | "ceiling"
                | "floor"
                | "exp"
                | "ln"
                | "sqrt"
                | "truncate"
                | "round"
                | "log"
                | "power"
                | "encode"
                | "decode"
                | "escape"
                | "unescape"
        )
}

fn math<'a>(name: &str, input: &Val, arg: ArgFn<'_, 'a>) -> Result<Items<'a>, FhirPathError> {
    let number = match input {
        Val::Int(i) => *i as f64,
        Val::Dec(d) => *d,
        Val::Quantity(v, unit) if name == "abs" => {
            return Ok(vec![Val::Quantity(v.abs(), unit.clone()).into_item()]);
        }
        _ => return Err(FhirPathError::eval("expected a number")),
    };
    let second = || -> Result<Option<f64>, FhirPathError> {
        Ok(match singleton_val(&arg(0)?)? {
            Some(Val::Int(i)) => Some(i as f64),
            Some(Val::Dec(d)) => Some(d),
            _ => None,
        })
    };
    let is_int = matches!(input, Val::Int(_));
    let result = match name {
        "abs" if is_int => return Ok(vec![Item::Integer((number as i64).abs())]),
        "abs" => number.abs(),
        "ceiling" => return Ok(vec![Item::Integer(number.ceil() as i64)]),
        "floor" => return Ok(vec![Item::Integer(number.floor() as i64)]),
        "truncate" => return Ok(vec![Item::Integer(number.trunc() as i64)]),
        "exp" => number.exp(),
        "ln" => number.ln(),
        "sqrt" => number.sqrt(),
        "log" => match second()? {
            Some(base) => number.ln() / base.ln(),
            None => return Ok(Vec::new()),
        },
        "power" => match second()? {
            Some(exponent) => {
                let result = number.powf(exponent);
                if is_int && exponent.fract() == 0.0 && exponent >= 0.0 {
                    return Ok(vec![Item::Integer(result as i64)]);
                }
                result
            }
            None => return Ok(Vec::new()),
        },
        _ => {
            let digits = second()?.unwrap_or(0.0);
            let factor = 10f64.powi(digits as i32);
            let rounded = (number * factor).round() / factor;
            return Ok(vec![Item::Decimal(format!(
                "{rounded:.*}",
                digits as usize
            ))]);
        }
    };
    if result.is_nan() || result.is_infinite() {
        return Ok(Vec::new());
    }
    Ok(vec![decimal_item(result)])
}

/// Converts a value to `target` (`Boolean`, `Integer`, `Decimal`, `Date`, `DateTime`, `Time`,
/// `Quantity`, `String`); `None` when it does not convert.
fn convert(value: &Val, target: &str) -> Option<Val> {
    Some(match (target, value) {
        ("String", v) => Val::Str(v.to_text()),
        ("Boolean", Val::Bool(b)) => Val::Bool(*b),
        ("Boolean", Val::Int(i)) if *i == 0 || *i == 1 => Val::Bool(*i == 1),
        ("Boolean", Val::Dec(d)) if *d == 0.0 || *d == 1.0 => Val::Bool(*d == 1.0),
        ("Boolean", Val::Str(s)) => match s.to_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Val::Bool(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Val::Bool(false),
            _ => return None,
        },
        ("Integer", Val::Int(i)) => Val::Int(*i),
        ("Integer", Val::Bool(b)) => Val::Int(i64::from(*b)),
        ("Integer", Val::Str(s)) => Val::Int(s.parse().ok()?),
        ("Decimal", Val::Int(i)) => Val::Dec(*i as f64),
        ("Decimal", Val::Dec(d)) => Val::Dec(*d),
        ("Decimal", Val::Bool(b)) => Val::Dec(if *b { 1.0 } else { 0.0 }),
        ("Decimal", Val::Str(s)) => {
            let valid = Regex::new(r"^[+-]?\d+(\.\d+)?$")
                .expect("invariant: the decimal pattern is a valid regex")
                .is_match(s);
            if !valid {
                return None;
            }
            Val::Dec(s.parse().ok()?)
        }
        ("Date", Val::Date(t) | Val::DateTime(t)) => {
            let mut t = t.clone();
            t.parts.truncate(3);
            t.offset = None;
            Val::Date(t)
        }
        ("Date", Val::Str(s)) => {
            let t = temporal::parse(s, false)?;
            if t.parts.len() > 3 {
                return None;
            }
            Val::Date(t)
        }
        ("DateTime", Val::Date(t) | Val::DateTime(t)) => Val::DateTime(t.clone()),
        ("DateTime", Val::Str(s)) => Val::DateTime(temporal::parse(s, false)?),
        ("Time", Val::Time(t)) => Val::Time(t.clone()),
        ("Time", Val::Str(s)) => Val::Time(temporal::parse(s, true)?),
        ("Quantity", Val::Quantity(v, u)) => Val::Quantity(*v, u.clone()),
        ("Quantity", Val::Int(i)) => Val::Quantity(*i as f64, "1".to_owned()),
        ("Quantity", Val::Dec(d)) => Val::Quantity(*d, "1".to_owned()),
        ("Quantity", Val::Bool(b)) => Val::Quantity(if *b { 1.0 } else { 0.0 }, "1".to_owned()),
        ("Quantity", Val::Str(s)) => parse_quantity(s)?,
        _ => return None,
    })
}

/// `'5.5 \'mg\''`, `'1 day'`, `'4'` as a quantity.
fn parse_quantity(text: &str) -> Option<Val> {
    let regex = Regex::new(r"^([+-]?\d+(?:\.\d+)?)\s*(?:'([^']+)'|([a-z]+))?$")
        .expect("invariant: the quantity pattern is a valid regex");
    let captures = regex.captures(text.trim())?;
    let value: f64 = captures.get(1)?.as_str().parse().ok()?;
    let unit = match (captures.get(2), captures.get(3)) {
        (Some(quoted), _) => quoted.as_str().to_owned(),
        (None, Some(word)) => {
            let word = word.as_str();
            let known = [
                "year",
                "month",
                "week",
                "day",
                "hour",
                "minute",
                "second",
                "millisecond",
            ];
            if !known.contains(&word.trim_end_matches('s')) {
                return None;
            }
            word.to_owned()
        }
        (None, None) => "1".to_owned(),
    };
    Some(Val::Quantity(value, unit))
}
