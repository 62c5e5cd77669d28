//! Required bindings: `code` values and `Coding`s (whose system the value set covers) must be in
//! the expanded value set. Value sets the model could not expand offline are not checked.

use serde_json::{Map, Value};

use super::model::{ElementDef, Expansion, MODEL};
use super::walk::Walker;
use crate::error::IssueCode;

const NOT_IN_VALUE_SET: &str = "code is not in the required value set";

fn expansion(element: &ElementDef) -> Option<&'static Expansion> {
    let url = element.binding.as_deref()?;
    MODEL.value_sets.get(url)?.as_ref()
}

/// A bound primitive (`code`, `string`, `uri`): its value must be one of the value set's codes.
pub(crate) fn check_code(walker: &mut Walker, element: &ElementDef, value: &Value, location: &str) {
    let (Some(expansion), Some(code)) = (expansion(element), value.as_str()) else {
        return;
    };
    if !expansion.values().any(|codes| codes.contains(code)) {
        walker.report(IssueCode::CodeInvalid, location, NOT_IN_VALUE_SET);
    }
}

/// A bound `Coding` or `CodeableConcept`: codings of a system the value set covers must use
/// one of its codes.
pub(crate) fn check_coded(
    walker: &mut Walker,
    element: &ElementDef,
    type_code: &str,
    object: &Map<String, Value>,
    location: &str,
) {
    let Some(expansion) = expansion(element) else {
        return;
    };
    match type_code {
        "Coding" => check_coding(walker, expansion, object, location),
        "CodeableConcept" => {
            let Some(Value::Array(codings)) = object.get("coding") else {
                return;
            };
            for (position, coding) in codings.iter().enumerate() {
                if let Value::Object(coding) = coding {
                    let coding_location = format!("{location}.coding[{position}]");
                    check_coding(walker, expansion, coding, &coding_location);
                }
            }
        }
        _ => {}
    }
}

fn check_coding(
    walker: &mut Walker,
    expansion: &Expansion,
    coding: &Map<String, Value>,
    location: &str,
) {
    let system = coding.get("system").and_then(Value::as_str);
    let code = coding.get("code").and_then(Value::as_str);
    let (Some(system), Some(code)) = (system, code) else {
        return;
    };
    if let Some(codes) = expansion.get(system)
        && !codes.contains(code)
    {
        walker.report(
            IssueCode::CodeInvalid,
            &format!("{location}.code"),
            NOT_IN_VALUE_SET,
        );
    }
}
