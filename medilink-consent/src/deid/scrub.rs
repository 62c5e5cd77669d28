//! The element rules applied at every depth of a kept element: drop identifying keys, reduce
//! dates to the year, pseudonymise references, reduce addresses, cap ages at 90. Empty objects
//! and arrays left behind are removed, so the output has no `{}` or `[]`.

use serde_json::{Map, Value, json};

use super::pseudonym::Pseudonymizer;
use super::rules::{DROPPED_EVERYWHERE, KEPT_EXTENSIONS, RESTRICTED_ZIP3};

/// Keys whose string values are codes, never dates, even when they look like one.
const NOT_TEMPORAL: &[&str] = &["code", "system", "version", "unit", "reference"];

/// Age units (UCUM codes, then common spellings of `unit`) and how many of them make a year.
const AGE_UNITS_PER_YEAR: &[(&str, f64)] = &[
    ("a", 1.0),
    ("year", 1.0),
    ("years", 1.0),
    ("yr", 1.0),
    ("yrs", 1.0),
    ("y", 1.0),
    ("mo", 12.0),
    ("month", 12.0),
    ("months", 12.0),
    ("wk", 52.1775),
    ("week", 52.1775),
    ("weeks", 52.1775),
    ("d", 365.25),
    ("day", 365.25),
    ("days", 365.25),
    ("h", 8766.0),
    ("min", 525_960.0),
];

/// The element rules for one resource.
#[derive(Debug)]
pub(super) struct Scrubber<'a> {
    pub(super) pseudonyms: &'a Pseudonymizer,
    /// The contained resources that are exported: their ids in the input and in the output
    /// (`#id` references to them are rewritten, all others dropped).
    pub(super) kept_contained: &'a [(String, String)],
    pub(super) keep_zip3: bool,
}

impl Scrubber<'_> {
    /// The scrubbed value of the element `key`, or `None` when nothing of it is exported.
    pub(super) fn element(&self, key: &str, value: &Value) -> Option<Value> {
        if DROPPED_EVERYWHERE.contains(&key) || key.starts_with('_') || key == "id" {
            return None;
        }
        match (key, value) {
            ("extension", Value::Array(extensions)) => {
                non_empty_array(extensions.iter().filter_map(kept_extension).collect())
            }
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
            (_, Value::Object(quantity)) if key.ends_with("Age") => self.age(quantity),
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

    /// An age: 90 years or more becomes `>= 90 a` ("90 or older"); an age of 90 or more in a
    /// unit we do not know is dropped rather than guessed.
    pub(super) fn age(&self, quantity: &Map<String, Value>) -> Option<Value> {
        let value = quantity.get("value").and_then(Value::as_f64);
        match age_years(quantity) {
            Ok(Some(years)) if years >= 90.0 => Some(json!({
                "value": 90,
                "comparator": ">=",
                "unit": "years",
                "system": "http://unitsofmeasure.org",
                "code": "a"
            })),
            Err(()) if value.is_some_and(|value| value >= 90.0) => None,
            _ => self.object(quantity),
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
            // SampledData.data holds the samples, not an attachment's content.
            if key == "data" && map.contains_key("dimensions") {
                out.insert(key.clone(), value.clone());
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

/// A kept extension, rebuilt from its `url` and `valueCode` only (nothing else rides along).
fn kept_extension(extension: &Value) -> Option<Value> {
    let url = extension.get("url").and_then(Value::as_str)?;
    let code = extension.get("valueCode").and_then(Value::as_str)?;
    KEPT_EXTENSIONS
        .contains(&url)
        .then(|| json!({ "url": url, "valueCode": code }))
}

fn non_empty_array(items: Vec<Value>) -> Option<Value> {
    (!items.is_empty()).then_some(Value::Array(items))
}

/// The age in years of an age quantity: `Err(())` when it has a value but no unit we know.
fn age_years(quantity: &Map<String, Value>) -> Result<Option<f64>, ()> {
    let Some(value) = quantity.get("value").and_then(Value::as_f64) else {
        return Ok(None);
    };
    let unit_of = |key: &str| {
        let unit = quantity.get(key).and_then(Value::as_str)?;
        AGE_UNITS_PER_YEAR
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit.trim()))
            .map(|(_, per_year)| *per_year)
    };
    let per_year = unit_of("code").or_else(|| unit_of("unit")).ok_or(())?;
    Ok(Some(value / per_year))
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
