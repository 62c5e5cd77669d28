//! The tree-walking evaluator: identifiers and member navigation over the JSON (with model
//! types and choice elements), variables, indexers, type operators and the binary operators.
//! Functions live in [`super::functions`].

use serde_json::Value;

use super::parser::{Ast, Literal};
use super::types::{self, Kind};
use super::value::{self, Val, format_decimal};
use super::{Expression, FhirPathError, Item, NodeMeta, functions, operators};

/// Evaluates `expr` with `resource` as `%resource`, `%context` and initial `$this`.
pub fn evaluate<'a>(
    expr: &Expression,
    resource: &'a Value,
) -> Result<Vec<Item<'a>>, FhirPathError> {
    let type_name = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(types::intern);
    let root = Item::node(resource, type_name);
    let env = Env {
        root: root.clone(),
        this: Some(root.clone()),
        index: None,
        total: None,
    };
    eval(&expr.ast, &[root], &env)
}

/// Variables in scope.
#[derive(Debug, Clone)]
pub(crate) struct Env<'a> {
    pub(crate) root: Item<'a>,
    pub(crate) this: Option<Item<'a>>,
    pub(crate) index: Option<usize>,
    pub(crate) total: Option<Vec<Item<'a>>>,
}

/// Evaluates `ast` with `input` as the focus for identifiers and functions.
pub(crate) fn eval<'a>(
    ast: &Ast,
    input: &[Item<'a>],
    env: &Env<'a>,
) -> Result<Vec<Item<'a>>, FhirPathError> {
    Ok(match ast {
        Ast::Literal(literal) => literal_items(literal).into_iter().collect(),
        Ast::Ident(name) => {
            let mut out = Vec::new();
            let mut navigation = Navigation::default();
            for item in input {
                if let Some(type_name) = resource_type(item)
                    && name.starts_with(char::is_uppercase)
                {
                    if types::derives_from(type_name, name) {
                        out.push(item.clone());
                        continue;
                    }
                    if types::kind(name) == Some(Kind::Resource) {
                        continue;
                    }
                }
                navigation.record(navigate(item, name, &mut out));
            }
            navigation.finish()?;
            out
        }
        Ast::Member(base, name) => {
            let mut out = Vec::new();
            let mut navigation = Navigation::default();
            for item in eval(base, input, env)? {
                navigation.record(navigate(&item, name, &mut out));
            }
            navigation.finish()?;
            out
        }
        Ast::Var(name) => match name.as_str() {
            "this" => env.this.iter().cloned().collect(),
            "index" => env
                .index
                .map(|i| Item::Integer(i64::try_from(i).unwrap_or(i64::MAX)))
                .into_iter()
                .collect(),
            "total" => env.total.clone().unwrap_or_default(),
            _ => return Err(FhirPathError::eval("unknown variable")),
        },
        Ast::Env(name) => environment(name, env)?,
        Ast::Call(base, name, args) => {
            let focus = match base {
                Some(base) => eval(base, input, env)?,
                None => input.to_vec(),
            };
            functions::call(name, args, focus, input, env)?
        }
        Ast::Index(base, index) => {
            let items = eval(base, input, env)?;
            let index = eval(index, input, env)?;
            match singleton_val(&index)? {
                Some(Val::Int(i)) => usize::try_from(i)
                    .ok()
                    .and_then(|i| items.into_iter().nth(i))
                    .into_iter()
                    .collect(),
                None => Vec::new(),
                Some(_) => return Err(FhirPathError::eval("indexer must be an integer")),
            }
        }
        Ast::Negate(inner) => {
            let items = eval(inner, input, env)?;
            match singleton_val(&items)? {
                None => Vec::new(),
                Some(Val::Int(i)) => vec![Item::Integer(-i)],
                Some(Val::Dec(d)) => vec![Val::Dec(-d).into_item()],
                Some(Val::Quantity(v, unit)) => vec![Val::Quantity(-v, unit).into_item()],
                Some(_) => return Err(FhirPathError::eval("cannot negate a non-number")),
            }
        }
        Ast::TypeTest(is, base, type_name) => {
            if !types::is_known_type(type_name) {
                return Err(FhirPathError::eval("unknown type"));
            }
            let items = eval(base, input, env)?;
            if *is {
                match items.as_slice() {
                    [] => Vec::new(),
                    [item] => vec![Item::Boolean(item.is_type(type_name))],
                    _ => return Err(FhirPathError::eval("'is' needs a single item")),
                }
            } else {
                items
                    .into_iter()
                    .filter(|item| item.is_type(type_name))
                    .collect()
            }
        }
        Ast::Binary(op, left, right) => {
            let left = eval(left, input, env)?;
            let right = eval(right, input, env)?;
            operators::binary(op, left, right)?
        }
    })
}

/// Navigation of one name over a collection: an unknown element is an error only when no
/// item of the collection has the element (a collection of mixed types, as `descendants()`
/// yields, is navigated leniently).
#[derive(Debug, Default)]
struct Navigation {
    n_ok: usize,
    error: Option<FhirPathError>,
}

impl Navigation {
    fn record(&mut self, result: Result<(), FhirPathError>) {
        match result {
            Ok(()) => self.n_ok += 1,
            Err(error) => self.error = Some(error),
        }
    }

    fn finish(self) -> Result<(), FhirPathError> {
        match self.error {
            Some(error) if self.n_ok == 0 => Err(error),
            _ => Ok(()),
        }
    }
}

/// The resource type of a resource node.
fn resource_type(item: &Item<'_>) -> Option<&'static str> {
    match item {
        Item::Node {
            type_name: Some(name),
            ..
        } if types::kind(name) == Some(Kind::Resource) => Some(name),
        _ => None,
    }
}

fn literal_items<'a>(literal: &Literal) -> Option<Item<'a>> {
    Some(match literal {
        Literal::Empty => return None,
        Literal::Boolean(b) => Item::Boolean(*b),
        Literal::String(s) => Item::String(s.clone()),
        Literal::Integer(i) => Item::Integer(*i),
        Literal::Decimal(d) => Item::Decimal(d.clone()),
        Literal::Date(d) => Item::Date(d.clone()),
        Literal::DateTime(d) => Item::DateTime(d.trim_end_matches('T').to_owned()),
        Literal::Time(t) => Item::Time(t.clone()),
        Literal::Quantity(value, unit) => Item::Quantity {
            value: value.clone(),
            unit: unit.clone(),
        },
    })
}

fn environment<'a>(name: &str, env: &Env<'a>) -> Result<Vec<Item<'a>>, FhirPathError> {
    let text = match name {
        "resource" | "context" | "rootResource" => return Ok(vec![env.root.clone()]),
        "ucum" => "http://unitsofmeasure.org".to_owned(),
        "sct" => "http://snomed.info/sct".to_owned(),
        "loinc" => "http://loinc.org".to_owned(),
        other => {
            if let Some(id) = other.strip_prefix("vs-") {
                format!("http://hl7.org/fhir/ValueSet/{id}")
            } else if let Some(id) = other.strip_prefix("ext-") {
                format!("http://hl7.org/fhir/StructureDefinition/{id}")
            } else {
                return Err(FhirPathError::eval("unknown environment variable"));
            }
        }
    };
    Ok(vec![Item::String(text)])
}

/// Pushes the children called `name` of `item` (flattening arrays) onto `out`.
pub(crate) fn navigate<'a>(
    item: &Item<'a>,
    name: &str,
    out: &mut Vec<Item<'a>>,
) -> Result<(), FhirPathError> {
    let Item::Node { value, meta, .. } = item else {
        return Ok(());
    };
    let Value::Object(object) = value else {
        // a primitive: its id and extensions live in the companion
        if let Some(Value::Object(companion)) = meta.companion
            && let Some(child) = companion.get(name)
        {
            let child_type = if name == "extension" {
                Some("Extension")
            } else {
                Some("string")
            };
            push_values(child, None, child_type, child_type, out);
        }
        return Ok(());
    };
    let model_path = meta.model_path.filter(|path| types::has_children(path));
    let Some(model_path) = model_path else {
        // no model information: plain JSON navigation
        if let Some(child) = object.get(name) {
            push_values(child, object.get(&format!("_{name}")), None, None, out);
        }
        return Ok(());
    };
    let Some(child) = types::child(model_path, name) else {
        return Err(FhirPathError::UnknownElement {
            name: name.to_owned(),
            type_name: model_path.to_owned(),
        });
    };
    let type_codes: Vec<&'static str> = if child.choice {
        child.types.iter().map(String::as_str).collect()
    } else {
        vec![
            child
                .types
                .first()
                .map_or("BackboneElement", String::as_str),
        ]
    };
    for type_code in type_codes {
        let key = if child.choice {
            let mut key = name.to_owned();
            let mut chars = type_code.chars();
            if let Some(first) = chars.next() {
                key.push(first.to_ascii_uppercase());
                key.push_str(chars.as_str());
            }
            key
        } else {
            name.to_owned()
        };
        let companion = object.get(&format!("_{key}"));
        let Some(child_value) = object.get(&key) else {
            continue;
        };
        let type_name = types::intern(type_code);
        let children_at = child.children_at.as_deref().or(type_name);
        push_values(child_value, companion, type_name, children_at, out);
    }
    Ok(())
}

fn push_values<'a>(
    value: &'a Value,
    companion: Option<&'a Value>,
    type_name: Option<&'static str>,
    children_at: Option<&'static str>,
    out: &mut Vec<Item<'a>>,
) {
    let make = |value: &'a Value, companion: Option<&'a Value>| {
        // a contained or inline resource carries its own type
        let own_type = value
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(types::intern)
            .filter(|_| type_name.is_none_or(|t| types::kind(t) == Some(Kind::Resource)));
        Item::Node {
            value,
            type_name: own_type.or(type_name),
            meta: NodeMeta {
                model_path: own_type.or(children_at),
                companion,
            },
        }
    };
    match value {
        Value::Array(values) => {
            for (i, element) in values.iter().enumerate() {
                if element.is_null() {
                    continue;
                }
                let companion = companion.and_then(|c| c.get(i)).filter(|c| !c.is_null());
                out.push(make(element, companion));
            }
        }
        Value::Null => {}
        single => out.push(make(single, companion)),
    }
}

/// The single value of a collection: `None` when empty, an error when there are several.
pub(crate) fn singleton_val(items: &[Item<'_>]) -> Result<Option<Val>, FhirPathError> {
    match items {
        [] => Ok(None),
        [item] => Ok(item.to_val()),
        _ => Err(FhirPathError::eval("expected a single item")),
    }
}

/// A collection as a boolean for logic operators (empty → `None`).
pub(crate) fn to_bool(items: &[Item<'_>]) -> Result<Option<bool>, FhirPathError> {
    match items {
        [] => Ok(None),
        [Item::Boolean(b)] => Ok(Some(*b)),
        [item] => match item.to_val() {
            Some(Val::Bool(b)) => Ok(Some(b)),
            _ => Ok(Some(true)),
        },
        _ => Err(FhirPathError::eval("expected a single boolean")),
    }
}

/// Union with de-duplication by value.
pub(crate) fn union<'a>(left: Vec<Item<'a>>, right: Vec<Item<'a>>) -> Vec<Item<'a>> {
    let mut out: Vec<Item<'a>> = Vec::new();
    for item in left.into_iter().chain(right) {
        if !out
            .iter()
            .any(|seen| value::item_equals(seen, &item) == Some(true))
        {
            out.push(item);
        }
    }
    out
}

/// Decimal text of a number (for functions returning decimals).
pub(crate) fn decimal_item<'a>(number: f64) -> Item<'a> {
    Item::Decimal(format_decimal(number))
}
