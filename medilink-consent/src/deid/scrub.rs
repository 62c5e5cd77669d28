//! The element rules applied at every depth of a kept element: drop identifying keys, reduce
//! dates to the year, pseudonymise references, reduce addresses, cap ages at 90. Empty objects
//! and arrays left behind are removed, so the output has no `{}` or `[]`.

use serde_json::{Map, Value, json};

use super::pseudonym::Pseudonymizer;
use super::rules::{DROPPED_EVERYWHERE, KEPT_EXTENSIONS, RESTRICTED_ZIP3};

/// Keys whose string values are codes, never dates, even when they look like one.
const NOT_TEMPORAL: &[&str] = &["code", "system", "version", "unit", "reference"];

/// UCUM age units and how many of them make a year.
const AGE_UNITS_PER_YEAR: &[(&str, f64)] = &[
    ("a", 1.0),
    ("mo", 12.0),
    ("wk", 52.1775),
    ("d", 365.25),
    ("h", 8766.0),
    ("min", 525_960.0),
];

/// The element rules for one resource.
#[derive(Debug)]
pub(super) struct Scrubber<'a> {
    pub(super) pseudonyms: &'a Pseudonymizer,
    /// Ids of the contained resources that are exported (`#id` references to them survive).
    pub(super) kept_contained: &'a [String],
    pub(super) keep_zip3: bool,
}

impl Scrubber<'_> {
    /// The scrubbed value of the element `key`, or `None` when nothing of it is exported.
    pub(super) fn element(&self, key: &str, value: &Value) -> Option<Value> {
        if DROPPED_EVERYWHERE.contains(&key) || key.starts_with('_') || key == "id" {
            return None;
        }
        match (key, value) {
            ("extension", Value::Array(extensions)) => non_empty_array(
                extensions
                    .iter()
                    .filter(|extension| {
                        extension
                            .get("url")
                            .and_then(Value::as_str)
                            .is_some_and(|url| KEPT_EXTENSIONS.contains(&url))
                    })
                    .cloned()
                    .collect(),
            ),
            ("extension", _) => None,
            ("address", Value::Array(addresses)) => non_empty_array(
                addresses
                    .iter()
                    .filter_map(|address| self.address(address))
                    .collect(),
            ),
            ("address", address) => self.address(address),
            ("reference", Value::String(reference)) => self
                .pseudonyms
                .reference(reference, self.kept_contained)
                .map(Value::String),
            (_, Value::Object(quantity)) if key.ends_with("Age") => match age_years(quantity) {
                Some(years) if years >= 90.0 => Some(json!({
                    "value": 90,
                    "comparator": ">=",
                    "unit": "years",
                    "system": "http://unitsofmeasure.org",
                    "code": "a"
                })),
                _ => self.object(quantity),
            },
            (_, Value::String(text)) if !NOT_TEMPORAL.contains(&key) && is_temporal(text) => {
                Some(Value::String(text[..4].to_owned()))
            }
            (_, Value::String(text)) if text.is_empty() => None,
            (_, Value::Array(items)) => non_empty_array(
                items
                    .iter()
                    .filter_map(|item| self.element(key, item))
                    .collect(),
            ),
            (_, Value::Object(map)) => self.object(map),
            (_, Value::Null) => None,
            (_, other) => Some(other.clone()),
        }
    }

    /// A complex value: every member scrubbed; `display` survives only next to a `code`
    /// (a Coding's display is terminology, a Reference's display is a name).
    fn object(&self, map: &Map<String, Value>) -> Option<Value> {
        let has_code = map.get("code").is_some_and(Value::is_string);
        let mut out = Map::new();
        for (key, value) in map {
            if key == "display" && !has_code {
                continue;
            }
            if let Some(scrubbed) = self.element(key, value) {
                out.insert(key.clone(), scrubbed);
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// An address reduced to `use`, `type`, `state`, `country`, the period's years and, for a
    /// US ZIP code with `keep_zip3`, its first three digits (`000` for the restricted ones).
    fn address(&self, address: &Value) -> Option<Value> {
        let map = address.as_object()?;
        let mut out = Map::new();
        for key in ["use", "type", "state", "country", "period"] {
            if let Some(value) = map.get(key).and_then(|value| self.element(key, value)) {
                out.insert(key.to_owned(), value);
            }
        }
        let country = map.get("country").and_then(Value::as_str);
        if self.keep_zip3
            && is_us(country)
            && let Some(zip3) = map.get("postalCode").and_then(Value::as_str).and_then(zip3)
        {
            out.insert("postalCode".to_owned(), Value::String(zip3));
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

fn non_empty_array(items: Vec<Value>) -> Option<Value> {
    (!items.is_empty()).then_some(Value::Array(items))
}

/// The age in years of an `Age` quantity, when its unit is a UCUM time unit.
fn age_years(quantity: &Map<String, Value>) -> Option<f64> {
    let value = quantity.get("value")?.as_f64()?;
    let code = quantity.get("code")?.as_str()?;
    let (_, per_year) = AGE_UNITS_PER_YEAR.iter().find(|(unit, _)| *unit == code)?;
    Some(value / per_year)
}

/// Whether `text` is an R4 `date`, `dateTime` or `instant` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm…`).
pub(super) fn is_temporal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    if !digits(0..4) {
        return false;
    }
    match bytes.len() {
        4 => true,
        7 => bytes[4] == b'-' && digits(5..7),
        10 => bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10),
        _ => {
            bytes.len() > 10
                && bytes[4] == b'-'
                && digits(5..7)
                && bytes[7] == b'-'
                && digits(8..10)
                && bytes[10] == b'T'
        }
    }
}

fn is_us(country: Option<&str>) -> bool {
    country.is_none_or(|country| {
        ["US", "USA", "United States", "United States of America"]
            .iter()
            .any(|name| name.eq_ignore_ascii_case(country.trim()))
    })
}

/// The exported ZIP3 of a US ZIP code (`12345` or `12345-6789`), or `None` when `zip` is not one.
pub(super) fn zip3(zip: &str) -> Option<String> {
    let zip = zip.trim();
    let (five, plus4) = zip.split_once('-').unwrap_or((zip, ""));
    let is_zip = five.len() == 5
        && five.bytes().all(|b| b.is_ascii_digit())
        && (plus4.is_empty() || (plus4.len() == 4 && plus4.bytes().all(|b| b.is_ascii_digit())));
    if !is_zip {
        return None;
    }
    let prefix = &five[..3];
    Some(if RESTRICTED_ZIP3.contains(&prefix) {
        "000".to_owned()
    } else {
        prefix.to_owned()
    })
}
