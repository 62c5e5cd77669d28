//! `_element` companions of primitives (`_birthDate`, `_given`): JSON objects holding only `id`
//! and `extension`, shaped like their primitive and, for arrays, aligned with it item by item.

use serde_json::Value;

use super::model::ElementDef;
use super::walk::{Walker, join};
use crate::error::IssueCode;

impl Walker {
    /// A `_name` companion: shape like its primitive, and each item an `Element` (id, extension).
    pub(super) fn companion(
        &mut self,
        element: &ElementDef,
        type_code: &str,
        companion: &Value,
        value: Option<&Value>,
        location: &str,
    ) {
        let location = companion_location(location);
        match (companion, value) {
            (Value::Array(_), Some(value)) if !value.is_array() => {
                self.report(
                    IssueCode::Structure,
                    &location,
                    "primitive extension must match its value's shape",
                );
            }
            (Value::Array(items), None) => {
                if self.shape(element, companion, &location) {
                    for (position, item) in items.iter().enumerate() {
                        self.companion_item(
                            type_code,
                            Some(item).filter(|i| !i.is_null()),
                            &format!("{location}[{position}]"),
                        );
                    }
                }
            }
            (_, Some(Value::Array(_))) => {
                self.report(
                    IssueCode::Structure,
                    &location,
                    "primitive extension must match its value's shape",
                );
            }
            _ => {
                if self.shape(element, companion, &location) {
                    self.companion_item(type_code, Some(companion), &location);
                }
            }
        }
    }

    /// One companion object: only `id` and `extension`.
    pub(super) fn companion_item(
        &mut self,
        type_code: &str,
        companion: Option<&Value>,
        location: &str,
    ) {
        let Some(companion) = companion else { return };
        let Value::Object(object) = companion else {
            self.report(
                IssueCode::Structure,
                location,
                "primitive extension must be a json object",
            );
            return;
        };
        if object.contains_key("value") {
            self.report(
                IssueCode::Structure,
                &join(location, "value"),
                "unknown element",
            );
            return;
        }
        self.object(object, type_code, location, false);
    }
}

/// `Patient.birthDate` → `Patient._birthDate`.
pub(super) fn companion_location(location: &str) -> String {
    match location.rsplit_once('.') {
        Some((parent, name)) if !name.starts_with('_') => format!("{parent}._{name}"),
        _ => location.to_owned(),
    }
}
