//! System values behind collection items: conversion of resource nodes to
//! `Boolean`/`Integer`/`Decimal`/`String`/`Date`/`DateTime`/`Time`/`Quantity`, equality,
//! equivalence, ordering and type names.

use std::cmp::Ordering;

use serde_json::Value;

use super::temporal::{self, Temporal};
use super::types;
use super::{Item, NodeMeta};

/// A system value (what operators work on).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Bool(bool),
    Int(i64),
    Dec(f64),
    Str(String),
    Date(Temporal),
    DateTime(Temporal),
    Time(Temporal),
    /// Value and unit.
    Quantity(f64, String),
}

impl<'a> Item<'a> {
    /// A node with a known type and model path.
    pub(crate) fn node(value: &'a Value, type_name: Option<&'static str>) -> Item<'a> {
        Item::Node {
            value,
            type_name,
            meta: NodeMeta {
                model_path: type_name,
                companion: None,
            },
        }
    }

    /// The system value of this item, if it has one (complex nodes have none, except
    /// quantities).
    pub(crate) fn to_val(&self) -> Option<Val> {
        Some(match self {
            Item::Boolean(b) => Val::Bool(*b),
            Item::Integer(i) => Val::Int(*i),
            Item::Decimal(d) => Val::Dec(d.parse().ok()?),
            Item::String(s) => Val::Str(s.clone()),
            Item::Date(d) => Val::Date(temporal::parse(d, false)?),
            Item::DateTime(d) => Val::DateTime(temporal::parse(d, false)?),
            Item::Time(t) => Val::Time(temporal::parse(t, true)?),
            Item::Quantity { value, unit } => Val::Quantity(value.parse().ok()?, unit.clone()),
            Item::Resolved { .. } => return None,
            Item::Node {
                value, type_name, ..
            } => return node_val(value, *type_name),
        })
    }

    /// The type name `is`/`ofType` test against, with its namespace.
    pub(crate) fn type_info(&self) -> (&'static str, String) {
        let system = |name: &str| ("System", name.to_owned());
        match self {
            Item::Boolean(_) => system("Boolean"),
            Item::Integer(_) => system("Integer"),
            Item::Decimal(_) => system("Decimal"),
            Item::String(_) => system("String"),
            Item::Date(_) => system("Date"),
            Item::DateTime(_) => system("DateTime"),
            Item::Time(_) => system("Time"),
            Item::Quantity { .. } => system("Quantity"),
            Item::Resolved { resource_type } => ("FHIR", resource_type.clone()),
            Item::Node { type_name, .. } => ("FHIR", type_name.unwrap_or("Element").to_owned()),
        }
    }

    /// Whether this item is of type `wanted` (`Quantity`, `FHIR.string`, `System.Integer`).
    pub(crate) fn is_type(&self, wanted: &str) -> bool {
        let (namespace, name) = self.type_info();
        let (wanted_namespace, wanted_name) = match wanted.split_once('.') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, wanted),
        };
        if wanted_namespace.is_some_and(|ns| ns != namespace) {
            return false;
        }
        if namespace == "System" {
            return name == wanted_name;
        }
        types::derives_from(&name, wanted_name)
    }
}

/// The system value of a resource node.
fn node_val(value: &Value, type_name: Option<&str>) -> Option<Val> {
    let type_name = type_name.unwrap_or("");
    if let Value::Object(object) = value {
        if !types::derives_from(type_name, "Quantity") {
            return None;
        }
        let number = object.get("value")?.as_f64()?;
        let unit = object
            .get("code")
            .or_else(|| object.get("unit"))
            .and_then(Value::as_str)
            .unwrap_or("1");
        return Some(Val::Quantity(number, unit.to_owned()));
    }
    Some(match (type_name, value) {
        (_, Value::Bool(b)) => Val::Bool(*b),
        ("integer" | "positiveInt" | "unsignedInt", Value::Number(n)) => Val::Int(n.as_i64()?),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) if type_name.is_empty() => Val::Int(i),
            _ => Val::Dec(n.as_f64()?),
        },
        ("date", Value::String(s)) => Val::Date(temporal::parse(s, false)?),
        ("dateTime" | "instant", Value::String(s)) => Val::DateTime(temporal::parse(s, false)?),
        ("time", Value::String(s)) => Val::Time(temporal::parse(s, true)?),
        (_, Value::String(s)) => Val::Str(s.clone()),
        _ => return None,
    })
}

/// Formats a decimal without float noise.
pub(crate) fn format_decimal(number: f64) -> String {
    let text = format!("{number:.8}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

impl Val {
    /// Back to an item.
    pub(crate) fn into_item<'a>(self) -> Item<'a> {
        match self {
            Val::Bool(b) => Item::Boolean(b),
            Val::Int(i) => Item::Integer(i),
            Val::Dec(d) => Item::Decimal(format_decimal(d)),
            Val::Str(s) => Item::String(s),
            Val::Date(t) => Item::Date(t.format()),
            Val::DateTime(t) => Item::DateTime(t.format()),
            Val::Time(t) => Item::Time(t.format()),
            Val::Quantity(value, unit) => Item::Quantity {
                value: format_decimal(value),
                unit,
            },
        }
    }

    /// Text form (`toString()`).
    pub(crate) fn to_text(&self) -> String {
        match self {
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Dec(d) => format_decimal(*d),
            Val::Str(s) => s.clone(),
            Val::Date(t) | Val::DateTime(t) | Val::Time(t) => t.format(),
            Val::Quantity(value, unit) if is_calendar_word(unit) => {
                format!("{} {unit}", format_decimal(*value))
            }
            Val::Quantity(value, unit) => format!("{} '{unit}'", format_decimal(*value)),
        }
    }
}

fn is_calendar_word(unit: &str) -> bool {
    unit.len() > 2 && unit.chars().all(|c| c.is_ascii_lowercase()) && canonical_unit(unit) != unit
        || matches!(unit, "year" | "years" | "month" | "months")
}

/// Normalizes calendar words and their UCUM equivalents for quantity comparison.
fn canonical_unit(unit: &str) -> &str {
    match unit {
        "year" | "years" => "year",
        "month" | "months" => "month",
        "week" | "weeks" | "wk" => "wk",
        "day" | "days" | "d" => "d",
        "hour" | "hours" | "h" => "h",
        "minute" | "minutes" | "min" => "min",
        "second" | "seconds" | "s" => "s",
        "millisecond" | "milliseconds" | "ms" => "ms",
        _ => unit,
    }
}

/// A quantity in a base unit where a simple conversion exists.
fn base_quantity(value: f64, unit: &str) -> (f64, &str) {
    match canonical_unit(unit) {
        "mg" => (value / 1000.0, "g"),
        "kg" => (value * 1000.0, "g"),
        "cm" => (value / 100.0, "m"),
        "mm" => (value / 1000.0, "m"),
        "min" => (value * 60.0, "s"),
        "h" => (value * 3600.0, "s"),
        "wk" => (value * 7.0, "d"),
        "ms" => (value / 1000.0, "s"),
        other => (value, other),
    }
}

/// Ordering of two values; `None` when not comparable (different types, precision).
pub(crate) fn compare(left: &Val, right: &Val) -> Option<Ordering> {
    match (left, right) {
        (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Val::Dec(b)) => (*a as f64).partial_cmp(b),
        (Val::Dec(a), Val::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Val::Dec(a), Val::Dec(b)) => a.partial_cmp(b),
        (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
        (Val::Date(a) | Val::DateTime(a), Val::Date(b) | Val::DateTime(b))
        | (Val::Time(a), Val::Time(b)) => a.compare(b),
        (Val::Quantity(a, unit_a), Val::Quantity(b, unit_b)) => {
            let (a, unit_a) = base_quantity(*a, unit_a);
            let (b, unit_b) = base_quantity(*b, unit_b);
            if unit_a == unit_b {
                a.partial_cmp(&b)
            } else {
                None
            }
        }
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// `=` on single values: `None` when the result is empty (uncertain precision).
pub(crate) fn equals(left: &Val, right: &Val) -> Option<bool> {
    match (left, right) {
        (Val::Date(a) | Val::DateTime(a), Val::Date(b) | Val::DateTime(b))
        | (Val::Time(a), Val::Time(b)) => a.compare(b).map(|o| o == Ordering::Equal),
        (Val::Date(_) | Val::DateTime(_) | Val::Time(_), _) => Some(false),
        (Val::Quantity(_, unit_a), Val::Quantity(_, unit_b)) => match compare(left, right) {
            Some(ordering) => Some(ordering == Ordering::Equal),
            None if is_calendar_word(unit_a) || is_calendar_word(unit_b) => None,
            None => Some(false),
        },
        _ => Some(compare(left, right) == Some(Ordering::Equal)),
    }
}

/// `~` on single values.
pub(crate) fn equivalent(left: &Val, right: &Val) -> bool {
    match (left, right) {
        (Val::Str(a), Val::Str(b)) => normalize(a) == normalize(b),
        (Val::Dec(_) | Val::Int(_), Val::Dec(_) | Val::Int(_)) => {
            let (a, b) = (as_f64(left), as_f64(right));
            let precision = decimals(left).min(decimals(right));
            let factor = 10f64.powi(precision as i32);
            (a * factor).round() == (b * factor).round()
        }
        _ => compare(left, right) == Some(Ordering::Equal),
    }
}

fn as_f64(value: &Val) -> f64 {
    match value {
        Val::Int(i) => *i as f64,
        Val::Dec(d) => *d,
        _ => 0.0,
    }
}

fn decimals(value: &Val) -> usize {
    match value {
        Val::Dec(d) => format_decimal(*d)
            .split_once('.')
            .map_or(0, |(_, fraction)| fraction.len()),
        _ => 0,
    }
}

fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Equality of two items (complex nodes compare as JSON).
pub(crate) fn item_equals(left: &Item<'_>, right: &Item<'_>) -> Option<bool> {
    match (left.to_val(), right.to_val()) {
        (Some(a), Some(b)) => equals(&a, &b),
        (None, None) => Some(match (left, right) {
            (Item::Node { value: a, .. }, Item::Node { value: b, .. }) => a == b,
            (Item::Resolved { resource_type: a }, Item::Resolved { resource_type: b }) => a == b,
            _ => false,
        }),
        _ => Some(false),
    }
}

/// Equivalence of two items.
pub(crate) fn item_equivalent(left: &Item<'_>, right: &Item<'_>) -> bool {
    match (left.to_val(), right.to_val()) {
        (Some(a), Some(b)) => equivalent(&a, &b),
        (None, None) => item_equals(left, right) == Some(true),
        _ => false,
    }
}
