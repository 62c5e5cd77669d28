//! The function library: existence, filtering and projection, subsetting, combining, boolean
//! and utility functions, tree navigation and the FHIR additions (`extension`, `resolve`,
//! `hasValue`). Conversion, string and math functions are in [`super::library`].

use std::cmp::Ordering;

use serde_json::Value;

use super::eval::{Env, eval, navigate, singleton_val, to_bool, union};
use super::parser::Ast;
use super::types;
use super::value::{Val, compare, item_equals};
use super::{FhirPathError, Item};
use super::{library, tree};

type Items<'a> = Vec<Item<'a>>;

/// Calls function `name` on `focus`; `outer` is the input the call was evaluated against (used
/// for non-lambda arguments).
pub(crate) fn call<'a>(
    name: &str,
    args: &[Ast],
    focus: Items<'a>,
    outer: &[Item<'a>],
    env: &Env<'a>,
) -> Result<Items<'a>, FhirPathError> {
    let arity = |n: std::ops::RangeInclusive<usize>| {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            Err(FhirPathError::Arity {
                name: name.to_owned(),
            })
        }
    };
    let arg = |i: usize| -> Result<Items<'a>, FhirPathError> {
        match args.get(i) {
            Some(ast) => eval(ast, outer, env),
            None => Ok(Vec::new()),
        }
    };
    let boolean = |b: bool| Ok(vec![Item::Boolean(b)]);
    match name {
        "empty" => {
            arity(0..=0)?;
            boolean(focus.is_empty())
        }
        "exists" => {
            arity(0..=1)?;
            if args.is_empty() {
                boolean(!focus.is_empty())
            } else {
                boolean(!filter(&args[0], focus, env)?.is_empty())
            }
        }
        "all" => {
            arity(1..=1)?;
            let mut all = true;
            for (i, item) in focus.iter().enumerate() {
                let result = eval(&args[0], std::slice::from_ref(item), &scoped(env, item, i))?;
                if to_bool(&result)? != Some(true) {
                    all = false;
                }
            }
            boolean(all)
        }
        "allTrue" | "anyTrue" | "allFalse" | "anyFalse" => {
            arity(0..=0)?;
            let wanted = name.ends_with("True");
            let mut matches = focus
                .iter()
                .map(|item| matches!(item.to_val(), Some(Val::Bool(b)) if b == wanted));
            boolean(if name.starts_with("all") {
                matches.all(|m| m)
            } else {
                matches.any(|m| m)
            })
        }
        "subsetOf" | "supersetOf" => {
            arity(1..=1)?;
            let other = arg(0)?;
            let (small, big) = if name == "subsetOf" {
                (&focus, &other)
            } else {
                (&other, &focus)
            };
            boolean(small.iter().all(|a| contains(big, a)))
        }
        "count" => {
            arity(0..=0)?;
            Ok(vec![Item::Integer(
                i64::try_from(focus.len()).unwrap_or(i64::MAX),
            )])
        }
        "distinct" => {
            arity(0..=0)?;
            Ok(union(focus, Vec::new()))
        }
        "isDistinct" => {
            arity(0..=0)?;
            let n = focus.len();
            boolean(union(focus, Vec::new()).len() == n)
        }
        "where" => {
            arity(1..=1)?;
            filter(&args[0], focus, env)
        }
        "select" => {
            arity(1..=1)?;
            let mut out = Vec::new();
            for (i, item) in focus.iter().enumerate() {
                out.extend(eval(
                    &args[0],
                    std::slice::from_ref(item),
                    &scoped(env, item, i),
                )?);
            }
            Ok(out)
        }
        "repeat" => {
            arity(1..=1)?;
            let mut out: Items<'a> = Vec::new();
            let mut frontier = focus;
            while !frontier.is_empty() {
                let mut next = Vec::new();
                for (i, item) in frontier.iter().enumerate() {
                    for found in eval(&args[0], std::slice::from_ref(item), &scoped(env, item, i))?
                    {
                        if !contains(&out, &found) {
                            out.push(found.clone());
                            next.push(found);
                        }
                    }
                }
                frontier = next;
            }
            Ok(out)
        }
        "ofType" | "as" | "is" => {
            arity(1..=1)?;
            let type_name = type_argument(&args[0])?;
            if !types::is_known_type(&type_name) {
                return Err(FhirPathError::eval("unknown type"));
            }
            if name == "is" {
                return match focus.as_slice() {
                    [] => Ok(Vec::new()),
                    [item] => boolean(item.is_type(&type_name)),
                    _ => Err(FhirPathError::eval("'is' needs a single item")),
                };
            }
            Ok(focus
                .into_iter()
                .filter(|item| item.is_type(&type_name))
                .collect())
        }
        "single" => match focus.len() {
            0 | 1 => Ok(focus),
            _ => Err(FhirPathError::eval("single() found several items")),
        },
        "first" => Ok(focus.into_iter().take(1).collect()),
        "last" => Ok(focus.into_iter().last().into_iter().collect()),
        "tail" => Ok(focus.into_iter().skip(1).collect()),
        "skip" | "take" => {
            arity(1..=1)?;
            let count = match singleton_val(&arg(0)?)? {
                Some(Val::Int(n)) => usize::try_from(n.max(0)).unwrap_or(0),
                _ => return Err(FhirPathError::eval("skip/take need an integer")),
            };
            Ok(if name == "skip" {
                focus.into_iter().skip(count).collect()
            } else {
                focus.into_iter().take(count).collect()
            })
        }
        "intersect" => {
            arity(1..=1)?;
            let other = arg(0)?;
            let kept = focus.into_iter().filter(|a| contains(&other, a)).collect();
            Ok(union(kept, Vec::new()))
        }
        "exclude" => {
            arity(1..=1)?;
            let other = arg(0)?;
            Ok(focus.into_iter().filter(|a| !contains(&other, a)).collect())
        }
        "union" => {
            arity(1..=1)?;
            Ok(union(focus, arg(0)?))
        }
        "combine" => {
            arity(1..=1)?;
            let mut out = focus;
            out.extend(arg(0)?);
            Ok(out)
        }
        "not" => {
            arity(0..=0)?;
            Ok(to_bool(&focus)?
                .map(|b| Item::Boolean(!b))
                .into_iter()
                .collect())
        }
        "iif" => {
            arity(2..=3)?;
            if focus.len() > 1 {
                return Err(FhirPathError::eval("iif needs a single input"));
            }
            let criterion = match focus.first() {
                Some(item) => {
                    let mut inner = env.clone();
                    inner.this = Some(item.clone());
                    eval(&args[0], std::slice::from_ref(item), &inner)?
                }
                None => eval(&args[0], outer, env)?,
            };
            let chosen = match criterion.as_slice() {
                [] => 2,
                [Item::Boolean(b)] => {
                    if *b {
                        1
                    } else {
                        2
                    }
                }
                [item] => match item.to_val() {
                    Some(Val::Bool(true)) => 1,
                    Some(Val::Bool(false)) => 2,
                    _ => return Err(FhirPathError::eval("iif criterion must be a boolean")),
                },
                _ => return Err(FhirPathError::eval("iif criterion must be a boolean")),
            };
            match (args.get(chosen), focus.first()) {
                (None, _) => Ok(Vec::new()),
                (Some(ast), Some(item)) => {
                    let mut inner = env.clone();
                    inner.this = Some(item.clone());
                    eval(ast, std::slice::from_ref(item), &inner)
                }
                (Some(ast), None) => eval(ast, outer, env),
            }
        }
        "children" => {
            arity(0..=0)?;
            Ok(focus.iter().flat_map(tree::children).collect())
        }
        "descendants" => {
            arity(0..=0)?;
            let mut out = Vec::new();
            let mut frontier = focus;
            while !frontier.is_empty() {
                let next: Items<'a> = frontier.iter().flat_map(tree::children).collect();
                out.extend(next.iter().cloned());
                frontier = next;
            }
            Ok(out)
        }
        "trace" => Ok(focus),
        "sort" => sort(args, focus, env),
        "aggregate" => {
            arity(1..=2)?;
            let mut total = arg(1)?;
            for (i, item) in focus.iter().enumerate() {
                let mut inner = scoped(env, item, i);
                inner.total = Some(total);
                total = eval(&args[0], std::slice::from_ref(item), &inner)?;
            }
            Ok(total)
        }
        "extension" => {
            arity(1..=1)?;
            let url = match singleton_val(&arg(0)?)? {
                Some(Val::Str(url)) => url,
                _ => return Err(FhirPathError::eval("extension() needs a url string")),
            };
            let mut extensions = Vec::new();
            for item in &focus {
                navigate(item, "extension", &mut extensions)?;
            }
            Ok(extensions
                .into_iter()
                .filter(|ext| match ext {
                    Item::Node { value, .. } => {
                        value.get("url").and_then(Value::as_str) == Some(url.as_str())
                    }
                    _ => false,
                })
                .collect())
        }
        "resolve" => Ok(focus
            .iter()
            .filter_map(|item| tree::resolve(item, env))
            .collect()),
        "hasValue" => boolean(matches!(
            focus.as_slice(),
            [Item::Node { value, .. }] if !value.is_object() && !value.is_array()
        )),
        "getValue" => Ok(focus
            .into_iter()
            .filter(|item| matches!(item, Item::Node { value, .. } if !value.is_object()))
            .collect()),
        "htmlChecks" => boolean(true),
        "join" => {
            arity(0..=1)?;
            let separator = match singleton_val(&arg(0)?)? {
                Some(Val::Str(s)) => s,
                _ => String::new(),
            };
            let parts: Vec<String> = focus
                .iter()
                .filter_map(|item| item.to_val().map(|v| v.to_text()))
                .collect();
            Ok(vec![Item::String(parts.join(&separator))])
        }
        "today" | "now" | "timeOfDay" => library::clock(name),
        _ => library::call(name, focus, &|i| arg(i), args.len()),
    }
}

/// `sort(keys…)`: ascending by each key, descending for a key written `-key`.
fn sort<'a>(args: &[Ast], focus: Items<'a>, env: &Env<'a>) -> Result<Items<'a>, FhirPathError> {
    let mut keyed = Vec::with_capacity(focus.len());
    for (i, item) in focus.into_iter().enumerate() {
        let mut keys = Vec::new();
        if args.is_empty() {
            keys.push((item.to_val(), false));
        }
        for arg in args {
            let (ast, descending) = match arg {
                Ast::Negate(inner) => (inner.as_ref(), true),
                other => (other, false),
            };
            let result = eval(ast, std::slice::from_ref(&item), &scoped(env, &item, i))?;
            keys.push((singleton_val(&result)?, descending));
        }
        keyed.push((keys, item));
    }
    keyed.sort_by(|(a, _), (b, _)| {
        for ((x, descending), (y, _)) in a.iter().zip(b) {
            let ordering = match (x, y) {
                (Some(x), Some(y)) => compare(x, y).unwrap_or(Ordering::Equal),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    Ok(keyed.into_iter().map(|(_, item)| item).collect())
}

/// Env for evaluating a lambda on one item.
fn scoped<'a>(env: &Env<'a>, item: &Item<'a>, index: usize) -> Env<'a> {
    Env {
        root: env.root.clone(),
        this: Some(item.clone()),
        index: Some(index),
        total: env.total.clone(),
    }
}

/// `where(criterion)`.
fn filter<'a>(
    criterion: &Ast,
    focus: Items<'a>,
    env: &Env<'a>,
) -> Result<Items<'a>, FhirPathError> {
    let mut out = Vec::new();
    for (i, item) in focus.into_iter().enumerate() {
        let result = eval(
            criterion,
            std::slice::from_ref(&item),
            &scoped(env, &item, i),
        )?;
        if to_bool(&result)? == Some(true) {
            out.push(item);
        }
    }
    Ok(out)
}

fn contains(items: &[Item<'_>], wanted: &Item<'_>) -> bool {
    items
        .iter()
        .any(|item| item_equals(item, wanted) == Some(true))
}

/// The type name in `ofType(Quantity)` / `as(FHIR.string)`.
fn type_argument(ast: &Ast) -> Result<String, FhirPathError> {
    match ast {
        Ast::Ident(name) => Ok(name.clone()),
        Ast::Member(base, name) => Ok(format!("{}.{name}", type_argument(base)?)),
        _ => Err(FhirPathError::eval("expected a type name")),
    }
}
