//! Index extraction: evaluates every search parameter of a resource's type and turns the
//! values into rows of the per-type index tables.

use serde_json::Value;

use super::normalize::{Range, date_range, normalize_string, parse_number};
use super::registry::{ParamType, SearchParam, registry, split_union};
use crate::fhirpath::{Item, evaluate};
use crate::model::ResourceType;

/// A token value: system (optional) and code.
pub(crate) type Token = (Option<String>, String);

/// A reference row: (param, target type, target id, absolute url).
pub(crate) type ReferenceRow = (String, Option<String>, Option<String>, Option<String>);

/// One row of `search_composite`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CompositeRow {
    pub(crate) param: String,
    pub(crate) s1: Option<String>,
    pub(crate) k1: String,
    pub(crate) s2: Option<String>,
    pub(crate) k2: Option<String>,
    pub(crate) n2: Option<f64>,
    pub(crate) lo2: Option<i64>,
    pub(crate) hi2: Option<i64>,
    pub(crate) n3: Option<f64>,
}

/// Every index row of one resource.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexRows {
    /// (param, normalized, exact)
    pub(crate) strings: Vec<(String, String, String)>,
    /// (param, system, code)
    pub(crate) tokens: Vec<(String, Option<String>, String)>,
    /// (param, target type, target id, url)
    pub(crate) references: Vec<ReferenceRow>,
    /// (param, low, high)
    pub(crate) dates: Vec<(String, i64, i64)>,
    /// (param, value)
    pub(crate) numbers: Vec<(String, f64)>,
    /// (param, system, code, value)
    pub(crate) quantities: Vec<(String, Option<String>, Option<String>, f64)>,
    /// (param, uri)
    pub(crate) uris: Vec<(String, String)>,
    pub(crate) composites: Vec<CompositeRow>,
}

impl IndexRows {
    /// The one-column summary of the resource's patients (its [`PATIENTS_PARAM`] rows): `None`
    /// when it names none, the id when it names exactly one, [`MANY_PATIENTS`] otherwise.
    ///
    /// [`PATIENTS_PARAM`]: crate::search::compartment::PATIENTS_PARAM
    /// [`MANY_PATIENTS`]: crate::search::compartment::MANY_PATIENTS
    pub(crate) fn patient_marker(&self) -> Option<String> {
        let mut patients = self
            .references
            .iter()
            .filter(|(param, ..)| param == crate::search::compartment::PATIENTS_PARAM)
            .filter_map(|(_, _, id, _)| id.as_deref());
        let first = patients.next()?;
        Some(match patients.find(|other| *other != first) {
            None => first.to_owned(),
            Some(_) => crate::search::compartment::MANY_PATIENTS.to_owned(),
        })
    }
}

/// Parameters served from the resource table or the full-text index, not from index rows.
pub(crate) fn is_table_param(code: &str) -> bool {
    matches!(
        code,
        "_id" | "_lastUpdated" | "_text" | "_content" | "_list" | "_query" | "_has" | "_type"
    )
}

/// Extracts the index rows of `resource` (a live resource of `resource_type` stored as `id`;
/// the body of a create has no id yet).
pub(crate) fn extract(resource_type: ResourceType, id: &str, resource: &Value) -> IndexRows {
    let mut rows = IndexRows::default();
    for param in registry().params(resource_type) {
        if is_table_param(&param.code) || param.kind == ParamType::Special {
            continue;
        }
        for expression in &param.expressions {
            let items = match evaluate(expression, resource) {
                Ok(items) => items,
                Err(err) => {
                    tracing::debug!(param = %param.code, %resource_type, error = %err, "search expression failed");
                    continue;
                }
            };
            for item in &items {
                index_item(param, item, resource, &mut rows);
            }
        }
    }
    let mut patients = crate::search::compartment::referenced_patients(resource);
    if resource_type == ResourceType::Patient && !patients.iter().any(|p| p == id) {
        patients.push(id.to_owned());
    }
    for patient in patients {
        rows.references.push((
            crate::search::compartment::PATIENTS_PARAM.to_owned(),
            Some(ResourceType::Patient.as_str().to_owned()),
            Some(patient),
            None,
        ));
    }
    rows.strings
        .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows.strings.dedup();
    rows.tokens.sort();
    rows.tokens.dedup();
    rows.references.sort();
    rows.references.dedup();
    rows.dates.sort();
    rows.dates.dedup();
    rows.numbers
        .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows.numbers.dedup();
    rows.quantities
        .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows.quantities.dedup();
    rows.uris.sort();
    rows.uris.dedup();
    rows
}

fn index_item(param: &SearchParam, item: &Item<'_>, root: &Value, rows: &mut IndexRows) {
    let code = &param.code;
    match param.kind {
        ParamType::String => {
            for text in strings_of(item) {
                push_string(rows, code, &text);
            }
        }
        ParamType::Token => {
            for (system, value) in tokens_of(item, Some((code, rows))) {
                rows.tokens.push((code.clone(), system, value));
            }
        }
        ParamType::Reference => reference_of(code, item, rows),
        ParamType::Date => {
            if let Some(range) = range_of(item) {
                rows.dates.push((code.clone(), range.low, range.high));
            }
        }
        ParamType::Number => {
            if let Some(value) = number_of(item) {
                rows.numbers.push((code.clone(), value));
            }
        }
        ParamType::Quantity => {
            for (system, unit, value) in quantities_of(item) {
                rows.quantities.push((code.clone(), system, unit, value));
            }
        }
        ParamType::Uri => {
            if let Some(uri) = scalar_text(item) {
                rows.uris.push((code.clone(), uri));
            }
        }
        ParamType::Composite => {
            if let Item::Node { value, .. } = item {
                composite_rows(param, value, root, rows);
            }
        }
        ParamType::Special => {}
    }
}

fn push_string(rows: &mut IndexRows, param: &str, text: &str) {
    let norm = normalize_string(text);
    if !norm.is_empty() {
        rows.strings.push((param.to_owned(), norm, text.to_owned()));
    }
}

fn str_field<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn str_list<'v>(value: &'v Value, key: &str) -> Vec<&'v str> {
    match value.get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(one)) => vec![one.as_str()],
        _ => Vec::new(),
    }
}

/// The text of a primitive item.
fn scalar_text(item: &Item<'_>) -> Option<String> {
    match item {
        Item::Node {
            value: Value::String(s),
            ..
        } => Some(s.clone()),
        Item::Node {
            value: Value::Bool(b),
            ..
        }
        | Item::Boolean(b) => Some(b.to_string()),
        Item::Node {
            value: Value::Number(n),
            ..
        } => Some(n.to_string()),
        Item::String(s) | Item::Decimal(s) | Item::Date(s) | Item::DateTime(s) | Item::Time(s) => {
            Some(s.clone())
        }
        Item::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings_of(item: &Item<'_>) -> Vec<String> {
    let Item::Node {
        value, type_name, ..
    } = item
    else {
        return scalar_text(item).into_iter().collect();
    };
    let keys: &[&str] = match *type_name {
        Some("HumanName") => &["family", "given", "prefix", "suffix", "text"],
        Some("Address") => &[
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
            "text",
        ],
        Some("CodeableConcept") => &["text"],
        Some("Coding") => &["display"],
        Some("Identifier") => &["value"],
        Some("ContactPoint") => &["value"],
        Some("Annotation") => &["text"],
        _ => return scalar_text(item).into_iter().collect(),
    };
    let mut out: Vec<String> = keys
        .iter()
        .flat_map(|k| str_list(value, k))
        .map(str::to_owned)
        .collect();
    if *type_name == Some("CodeableConcept")
        && let Some(Value::Array(codings)) = value.get("coding")
    {
        {
            out.extend(
                codings
                    .iter()
                    .filter_map(|c| str_field(c, "display"))
                    .map(str::to_owned),
            );
        }
    }
    out
}

/// Token values of an item; with `text_sink`, also the `:text` and `:of-type` rows.
fn tokens_of(item: &Item<'_>, text_sink: Option<(&String, &mut IndexRows)>) -> Vec<Token> {
    let Item::Node {
        value, type_name, ..
    } = item
    else {
        return scalar_text(item).map(|t| (None, t)).into_iter().collect();
    };
    let coding = |c: &Value| -> Option<Token> {
        Some((
            str_field(c, "system").map(str::to_owned),
            str_field(c, "code")?.to_owned(),
        ))
    };
    let mut texts: Vec<&str> = Vec::new();
    let mut extra: Vec<(String, Option<String>, String)> = Vec::new();
    let tokens: Vec<Token> = match *type_name {
        Some("Coding") => {
            texts.extend(str_field(value, "display"));
            coding(value).into_iter().collect()
        }
        Some("CodeableConcept") => {
            texts.extend(str_field(value, "text"));
            let codings = value
                .get("coding")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            texts.extend(
                value
                    .get("coding")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| str_field(c, "display")),
            );
            codings.iter().filter_map(coding).collect()
        }
        Some("Identifier") => {
            let Some(id_value) = str_field(value, "value") else {
                return Vec::new();
            };
            if let Some(kind) = value.get("type") {
                texts.extend(str_field(kind, "text"));
                for c in kind
                    .get("coding")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(code) = str_field(c, "code") {
                        extra.push((
                            ":of-type".to_owned(),
                            str_field(c, "system").map(str::to_owned),
                            format!("{code}|{id_value}"),
                        ));
                    }
                }
            }
            vec![(
                str_field(value, "system").map(str::to_owned),
                id_value.to_owned(),
            )]
        }
        Some("ContactPoint") => {
            let Some(cp_value) = str_field(value, "value") else {
                return Vec::new();
            };
            vec![
                (
                    str_field(value, "system").map(str::to_owned),
                    cp_value.to_owned(),
                ),
                (None, cp_value.to_owned()),
            ]
        }
        _ => scalar_text(item).map(|t| (None, t)).into_iter().collect(),
    };
    if let Some((param, rows)) = text_sink {
        for text in texts {
            push_string(rows, &format!("{param}:text"), text);
        }
        for (suffix, system, code) in extra {
            rows.tokens.push((format!("{param}{suffix}"), system, code));
        }
    }
    tokens
}

/// Splits a reference into type and id when it is `Type/id` (possibly absolute or versioned).
pub(crate) fn split_reference(reference: &str) -> Option<(ResourceType, String)> {
    let path = reference.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = match segments.iter().rposition(|s| *s == "_history") {
        Some(h) if h >= 2 => h - 2,
        Some(_) => return None,
        None => segments.len().checked_sub(2)?,
    };
    let resource_type = ResourceType::from_name(segments.get(at)?)?;
    let id = segments.get(at + 1)?;
    crate::model::ResourceId::is_valid(id).then(|| (resource_type, (*id).to_owned()))
}

fn reference_of(code: &String, item: &Item<'_>, rows: &mut IndexRows) {
    let Item::Node { value, .. } = item else {
        return;
    };
    let reference = match value {
        Value::String(canonical) => Some(canonical.as_str()),
        Value::Object(_) => {
            if let Some(identifier) = value.get("identifier")
                && let Some(id_value) = str_field(identifier, "value")
            {
                {
                    rows.tokens.push((
                        format!("{code}:identifier"),
                        str_field(identifier, "system").map(str::to_owned),
                        id_value.to_owned(),
                    ));
                }
            }
            str_field(value, "reference")
        }
        _ => None,
    };
    let Some(reference) = reference else { return };
    if reference.starts_with('#') {
        return;
    }
    let absolute = reference.contains("://") || reference.starts_with("urn:");
    let (target_type, target_id) = match split_reference(reference) {
        Some((t, id)) if !reference.starts_with("urn:") => (Some(t.as_str().to_owned()), Some(id)),
        _ => (None, None),
    };
    let url = absolute.then(|| reference.to_owned());
    rows.references
        .push((code.clone(), target_type, target_id, url));
}

fn range_of(item: &Item<'_>) -> Option<Range> {
    match item {
        Item::Node {
            value, type_name, ..
        } => match (*type_name, value) {
            (_, Value::String(text)) => date_range(text),
            (Some("Period"), _) => {
                let low = str_field(value, "start")
                    .and_then(date_range)
                    .map_or(i64::MIN, |r| r.low);
                let high = str_field(value, "end")
                    .and_then(date_range)
                    .map_or(i64::MAX, |r| r.high);
                (value.get("start").is_some() || value.get("end").is_some())
                    .then_some(Range { low, high })
            }
            (Some("Timing"), _) => {
                let events: Vec<Range> = str_list(value, "event")
                    .into_iter()
                    .filter_map(date_range)
                    .collect();
                let bounds = value.get("repeat").and_then(|r| r.get("boundsPeriod"));
                let mut ranges = events;
                if let Some(period) = bounds {
                    let low = str_field(period, "start")
                        .and_then(date_range)
                        .map_or(i64::MIN, |r| r.low);
                    let high = str_field(period, "end")
                        .and_then(date_range)
                        .map_or(i64::MAX, |r| r.high);
                    ranges.push(Range { low, high });
                }
                let low = ranges.iter().map(|r| r.low).min()?;
                let high = ranges.iter().map(|r| r.high).max()?;
                Some(Range { low, high })
            }
            _ => None,
        },
        Item::Date(text) | Item::DateTime(text) | Item::String(text) => date_range(text),
        _ => None,
    }
}

fn number_of(item: &Item<'_>) -> Option<f64> {
    match item {
        Item::Node {
            value: Value::Number(n),
            ..
        } => n.as_f64(),
        Item::Node {
            value,
            type_name: Some("Quantity" | "Age" | "Duration" | "Count" | "Distance"),
            ..
        } => value.get("value")?.as_f64(),
        Item::Integer(n) => Some(*n as f64),
        Item::Decimal(text) => parse_number(text).map(|n| n.value),
        _ => None,
    }
}

fn quantities_of(item: &Item<'_>) -> Vec<(Option<String>, Option<String>, f64)> {
    let Item::Node {
        value, type_name, ..
    } = item
    else {
        return Vec::new();
    };
    let one = |q: &Value| -> Vec<(Option<String>, Option<String>, f64)> {
        let Some(number) = q.get("value").and_then(Value::as_f64) else {
            return Vec::new();
        };
        let system = str_field(q, "system").map(str::to_owned);
        let code = str_field(q, "code")
            .or_else(|| str_field(q, "currency"))
            .map(str::to_owned);
        let mut out = vec![(system, code.clone(), number)];
        if let Some(unit) = str_field(q, "unit")
            && code.as_deref() != Some(unit)
        {
            {
                out.push((None, Some(unit.to_owned()), number));
            }
        }
        out
    };
    match *type_name {
        Some("Range") => ["low", "high"]
            .iter()
            .filter_map(|k| value.get(*k))
            .flat_map(one)
            .collect(),
        _ => one(value),
    }
}

/// Navigates a component expression (`code`, `value.as(Quantity) | value.as(Range)`,
/// `%resource.a.b`) from `node`, returning the values with their choice type.
fn component_items<'v>(
    node: &'v Value,
    root: &'v Value,
    source: &str,
) -> Vec<(&'v Value, Option<String>)> {
    let mut out = Vec::new();
    for branch in split_union(source) {
        let (mut current, path) = match branch.strip_prefix("%resource.") {
            Some(rest) => (root, rest.to_owned()),
            None => (node, branch.clone()),
        };
        let (path, wanted) = match path.split_once(".as(") {
            Some((p, t)) => (p.to_owned(), Some(t.trim_end_matches(')').to_owned())),
            None => (path, None),
        };
        let mut found: Option<(&Value, Option<String>)> = None;
        let steps: Vec<&str> = path.split('.').collect();
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            if let Some(next) = current.get(*step) {
                current = next;
                if last {
                    found = Some((next, None));
                }
            } else if last {
                let choice = current.as_object().and_then(|m| {
                    m.iter().find(|(k, _)| {
                        k.starts_with(step)
                            && k.len() > step.len()
                            && k[step.len()..].starts_with(|c: char| c.is_ascii_uppercase())
                            && wanted
                                .as_ref()
                                .is_none_or(|w| k[step.len()..].eq_ignore_ascii_case(w))
                    })
                });
                found = choice.map(|(k, v)| (v, Some(k[step.len()..].to_owned())));
            } else {
                break;
            }
        }
        if let Some(hit) = found {
            out.push(hit);
        }
    }
    out
}

fn composite_rows(param: &SearchParam, node: &Value, root: &Value, rows: &mut IndexRows) {
    let mut first: Vec<(Option<String>, String)> = Vec::new();
    let Some(head) = param.components.first() else {
        return;
    };
    for (value, choice) in component_items(node, root, &head.source) {
        let item = Item::Node {
            value,
            type_name: choice_type(value, choice.as_deref(), head.kind),
            meta: Default::default(),
        };
        match head.kind {
            ParamType::Reference => {
                if let Some(reference) = str_field(value, "reference") {
                    first.push((None, reference.to_owned()));
                }
            }
            _ => first.extend(tokens_of(&item, None)),
        }
    }
    let mut seconds: Vec<CompositeRow> = Vec::new();
    if let Some(second) = param.components.get(1) {
        for (value, choice) in component_items(node, root, &second.source) {
            let item = Item::Node {
                value,
                type_name: choice_type(value, choice.as_deref(), second.kind),
                meta: Default::default(),
            };
            match second.kind {
                ParamType::Token => seconds.extend(tokens_of(&item, None).into_iter().map(
                    |(s, k)| CompositeRow {
                        s2: s,
                        k2: Some(k),
                        ..Default::default()
                    },
                )),
                ParamType::Quantity => seconds.extend(quantities_of(&item).into_iter().map(
                    |(s, k, n)| CompositeRow {
                        s2: s,
                        k2: k,
                        n2: Some(n),
                        ..Default::default()
                    },
                )),
                ParamType::Date => seconds.extend(range_of(&item).map(|r| CompositeRow {
                    lo2: Some(r.low),
                    hi2: Some(r.high),
                    ..Default::default()
                })),
                ParamType::String => {
                    seconds.extend(strings_of(&item).into_iter().map(|s| CompositeRow {
                        k2: Some(normalize_string(&s)),
                        ..Default::default()
                    }))
                }
                ParamType::Number => seconds.extend(number_of(&item).map(|n| CompositeRow {
                    n2: Some(n),
                    ..Default::default()
                })),
                _ => {}
            }
        }
    }
    let third: Vec<f64> = param
        .components
        .get(2)
        .map(|c| {
            component_items(node, root, &c.source)
                .into_iter()
                .filter_map(|(v, _)| v.as_f64())
                .collect()
        })
        .unwrap_or_default();
    for (s1, k1) in &first {
        for second in &seconds {
            let base = CompositeRow {
                param: param.code.clone(),
                s1: s1.clone(),
                k1: k1.clone(),
                ..second.clone()
            };
            if third.is_empty() {
                rows.composites.push(base);
            } else {
                rows.composites.extend(third.iter().map(|n3| CompositeRow {
                    n3: Some(*n3),
                    ..base.clone()
                }));
            }
        }
    }
}

/// The FHIR type of a component value: from its choice suffix, else guessed from the shape.
fn choice_type(value: &Value, choice: Option<&str>, kind: ParamType) -> Option<&'static str> {
    const TYPES: [&str; 8] = [
        "Quantity",
        "CodeableConcept",
        "Coding",
        "Range",
        "Period",
        "Identifier",
        "Reference",
        "Age",
    ];
    if let Some(choice) = choice {
        return TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(choice))
            .copied();
    }
    match (kind, value) {
        (ParamType::Token, Value::Object(map))
            if map.contains_key("coding") || map.contains_key("text") =>
        {
            Some("CodeableConcept")
        }
        (ParamType::Token, Value::Object(map)) if map.contains_key("code") => Some("Coding"),
        (ParamType::Quantity, Value::Object(_)) => Some("Quantity"),
        _ => None,
    }
}
