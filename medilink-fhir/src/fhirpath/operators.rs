//! The binary operators: union, equality and equivalence, comparison, three-valued boolean
//! logic, membership, string concatenation and arithmetic (numbers, quantities, dates).

use std::cmp::Ordering;

use super::eval::{singleton_val, to_bool, union};
use super::value::{self, Val};
use super::{FhirPathError, Item};

fn boolean<'a>(value: Option<bool>) -> Vec<Item<'a>> {
    value.map(Item::Boolean).into_iter().collect()
}

pub(crate) fn binary<'a>(
    op: &str,
    left: Vec<Item<'a>>,
    right: Vec<Item<'a>>,
) -> Result<Vec<Item<'a>>, FhirPathError> {
    Ok(match op {
        "|" => union(left, right),
        "=" | "!=" => {
            if left.is_empty() || right.is_empty() {
                return Ok(Vec::new());
            }
            let mut result = Some(left.len() == right.len());
            if result == Some(true) {
                for (a, b) in left.iter().zip(&right) {
                    match value::item_equals(a, b) {
                        Some(true) => {}
                        Some(false) => {
                            result = Some(false);
                            break;
                        }
                        None => result = None,
                    }
                }
            }
            boolean(result.map(|equal| equal == (op == "=")))
        }
        "~" | "!~" => {
            let equivalent = left.len() == right.len()
                && left
                    .iter()
                    .all(|a| right.iter().any(|b| value::item_equivalent(a, b)));
            vec![Item::Boolean(equivalent == (op == "~"))]
        }
        "<" | "<=" | ">" | ">=" => {
            let (Some(a), Some(b)) = (singleton_val(&left)?, singleton_val(&right)?) else {
                return Ok(Vec::new());
            };
            let Some(ordering) = value::compare(&a, &b) else {
                if std::mem::discriminant(&a) != std::mem::discriminant(&b)
                    && !matches!(
                        (&a, &b),
                        (Val::Int(_) | Val::Dec(_), Val::Int(_) | Val::Dec(_))
                            | (
                                Val::Date(_) | Val::DateTime(_),
                                Val::Date(_) | Val::DateTime(_)
                            )
                    )
                {
                    return Err(FhirPathError::eval(
                        "cannot compare values of different types",
                    ));
                }
                return Ok(Vec::new());
            };
            vec![Item::Boolean(match op {
                "<" => ordering == Ordering::Less,
                "<=" => ordering != Ordering::Greater,
                ">" => ordering == Ordering::Greater,
                _ => ordering != Ordering::Less,
            })]
        }
        "and" => boolean(match (to_bool(&left)?, to_bool(&right)?) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }),
        "or" => boolean(match (to_bool(&left)?, to_bool(&right)?) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        }),
        "xor" => boolean(match (to_bool(&left)?, to_bool(&right)?) {
            (Some(a), Some(b)) => Some(a != b),
            _ => None,
        }),
        "implies" => boolean(match (to_bool(&left)?, to_bool(&right)?) {
            (Some(false), _) | (_, Some(true)) => Some(true),
            (Some(true), other) => other,
            (None, _) => None,
        }),
        "in" | "contains" => {
            let (needle, haystack) = if op == "in" {
                (left, right)
            } else {
                (right, left)
            };
            match needle.as_slice() {
                [] => Vec::new(),
                [item] => vec![Item::Boolean(
                    haystack
                        .iter()
                        .any(|h| value::item_equals(item, h) == Some(true)),
                )],
                _ => return Err(FhirPathError::eval("membership needs a single item")),
            }
        }
        "&" => {
            let text = |items: &[Item<'_>]| -> Result<String, FhirPathError> {
                Ok(singleton_val(items)?
                    .map(|v| v.to_text())
                    .unwrap_or_default())
            };
            vec![Item::String(text(&left)? + &text(&right)?)]
        }
        _ => arithmetic(op, singleton_val(&left)?, singleton_val(&right)?)?,
    })
}

fn arithmetic<'a>(
    op: &str,
    left: Option<Val>,
    right: Option<Val>,
) -> Result<Vec<Item<'a>>, FhirPathError> {
    let (Some(a), Some(b)) = (left, right) else {
        return Ok(Vec::new());
    };
    let result = match (&a, &b) {
        (Val::Int(x), Val::Int(y)) => match op {
            "+" => x.checked_add(*y).map(Val::Int),
            "-" => x.checked_sub(*y).map(Val::Int),
            "*" => x.checked_mul(*y).map(Val::Int),
            "/" => (*y != 0).then(|| Val::Dec(*x as f64 / *y as f64)),
            "div" => x.checked_div(*y).map(Val::Int),
            _ => x.checked_rem(*y).map(Val::Int),
        },
        (Val::Int(_) | Val::Dec(_), Val::Int(_) | Val::Dec(_)) => {
            let (x, y) = (number(&a), number(&b));
            match op {
                "+" => Some(Val::Dec(x + y)),
                "-" => Some(Val::Dec(x - y)),
                "*" => Some(Val::Dec(x * y)),
                "/" => (y != 0.0).then(|| Val::Dec(x / y)),
                "div" => (y != 0.0).then(|| Val::Int((x / y).trunc() as i64)),
                _ => (y != 0.0).then(|| Val::Dec(x % y)),
            }
        }
        (Val::Str(x), Val::Str(y)) if op == "+" => Some(Val::Str(format!("{x}{y}"))),
        (Val::Date(t) | Val::DateTime(t), Val::Quantity(amount, unit))
            if op == "+" || op == "-" =>
        {
            let amount = if op == "-" { -amount } else { *amount };
            let moved = t
                .add(amount, unit)
                .ok_or_else(|| FhirPathError::eval("invalid date arithmetic"))?;
            Some(match a {
                Val::Date(_) => Val::Date(moved),
                _ => Val::DateTime(moved),
            })
        }
        (Val::Quantity(x, unit_x), Val::Quantity(y, unit_y)) => match op {
            "+" if unit_x == unit_y => Some(Val::Quantity(x + y, unit_x.clone())),
            "-" if unit_x == unit_y => Some(Val::Quantity(x - y, unit_x.clone())),
            "*" => Some(Val::Quantity(x * y, format!("{unit_x}.{unit_y}"))),
            "/" if unit_x == unit_y => Some(Val::Quantity(x / y, "1".to_owned())),
            _ => None,
        },
        (Val::Quantity(x, unit), Val::Int(_) | Val::Dec(_)) => match op {
            "*" => Some(Val::Quantity(x * number(&b), unit.clone())),
            "/" => Some(Val::Quantity(x / number(&b), unit.clone())),
            _ => None,
        },
        _ => return Err(FhirPathError::eval("invalid operand types for arithmetic")),
    };
    Ok(result.map(Val::into_item).into_iter().collect())
}

fn number(value: &Val) -> f64 {
    match value {
        Val::Int(i) => *i as f64,
        Val::Dec(d) => *d,
        _ => f64::NAN,
    }
}
