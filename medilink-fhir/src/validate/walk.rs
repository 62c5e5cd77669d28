//! The recursive walk over a resource's JSON, driven by the model: known elements, choice types,
//! cardinality, `_element` companions, nested data types, backbone elements, content references,
//! contained resources, primitive formats and required bindings.

use serde_json::{Map, Value};

use super::companion::companion_location;
use super::model::{ElementDef, MODEL, Max, Node};
use super::{binding, primitive};
use crate::error::{Issue, IssueCode};
use crate::model::ResourceType;

/// Stop collecting after this many issues (the rest is noise).
const MAX_ISSUES: usize = 100;

/// Collects issues during one walk.
#[derive(Debug, Default)]
pub(crate) struct Walker {
    pub(crate) issues: Vec<Issue>,
}

impl Walker {
    /// Records an error-severity issue at `location` (a FHIRPath-style path).
    pub(crate) fn report(&mut self, code: IssueCode, location: &str, message: &str) {
        if self.issues.len() < MAX_ISSUES {
            self.issues
                .push(Issue::error(code, Some(location.to_owned()), message));
        }
    }

    /// Validates a resource found at `location` (empty at the top level). `expected` is the
    /// declared type of the element holding it (`Resource` when any resource is allowed).
    pub(crate) fn resource(&mut self, value: &Value, location: &str, expected: &str) {
        let Value::Object(object) = value else {
            self.report(
                IssueCode::Structure,
                or_root(location),
                "resource must be a json object",
            );
            return;
        };
        let Some(type_value) = object.get("resourceType") else {
            self.report(
                IssueCode::Required,
                &join(location, "resourceType"),
                "missing resourceType",
            );
            return;
        };
        let Some(type_name) = type_value.as_str() else {
            self.report(
                IssueCode::Structure,
                &join(location, "resourceType"),
                "resourceType must be a string",
            );
            return;
        };
        let known = ResourceType::from_name(type_name).is_some()
            && MODEL.type_def(type_name).is_some_and(|t| !t.is_abstract);
        if !known {
            self.report(
                IssueCode::NotSupported,
                &join(location, "resourceType"),
                "unknown resource type",
            );
            return;
        }
        if expected != "Resource" && expected != type_name {
            self.report(
                IssueCode::Structure,
                &join(location, "resourceType"),
                "resource type not allowed here",
            );
            return;
        }
        let location = if location.is_empty() {
            type_name.to_owned()
        } else {
            location.to_owned()
        };
        self.object(object, type_name, &location, true);
    }

    /// Validates the properties of `object` against the children of `node_path`.
    pub(super) fn object(
        &mut self,
        object: &Map<String, Value>,
        node_path: &str,
        location: &str,
        is_resource: bool,
    ) {
        if object.is_empty() {
            self.report(
                IssueCode::Structure,
                location,
                "empty object is not allowed",
            );
            return;
        }
        let Some(node) = MODEL.node(node_path) else {
            self.report(
                IssueCode::Structure,
                location,
                "element cannot have properties",
            );
            return;
        };
        let mut seen_choice: Vec<usize> = Vec::new();
        for (key, value) in object {
            if is_resource && key == "resourceType" {
                continue;
            }
            let (base, is_companion) = match key.strip_prefix('_') {
                Some(base) => (base, true),
                None => (key.as_str(), false),
            };
            let child = join(location, key);
            let Some(prop) = node.props.get(base) else {
                self.report(IssueCode::Structure, &child, "unknown element");
                continue;
            };
            let element = MODEL.element(prop.element);
            let type_code = element
                .types
                .get(prop.type_index)
                .map_or("", String::as_str);
            if is_companion {
                if !MODEL.is_primitive(type_code) {
                    self.report(IssueCode::Structure, &child, "unknown element");
                } else if !object.contains_key(base) {
                    self.companion(element, type_code, value, None, &child);
                }
                continue; // checked together with its primitive
            }
            if element.is_choice() {
                if seen_choice.contains(&prop.element) {
                    self.report(
                        IssueCode::Structure,
                        &child,
                        "only one type of a choice element is allowed",
                    );
                    continue;
                }
                seen_choice.push(prop.element);
            }
            let companion = object.get(&format!("_{key}"));
            self.element(element, type_code, value, companion, &child);
        }
        self.required(node, object, location);
    }

    /// Reports required children that are missing from `object`.
    fn required(&mut self, node: &Node, object: &Map<String, Value>, location: &str) {
        for &index in &node.elements {
            let element = MODEL.element(index);
            if element.min == 0 {
                continue;
            }
            let present = object.iter().any(|(key, _)| {
                let base = key.strip_prefix('_').unwrap_or(key);
                node.props
                    .get(base)
                    .is_some_and(|prop| prop.element == index)
            });
            if !present {
                self.report(
                    IssueCode::Required,
                    &join(location, &element.name),
                    "missing required element",
                );
            } else if element.min > 1 {
                let count = object
                    .get(&element.name)
                    .and_then(Value::as_array)
                    .map_or(1, Vec::len);
                if count < element.min as usize {
                    self.report(
                        IssueCode::Required,
                        &join(location, &element.name),
                        "too few repetitions",
                    );
                }
            }
        }
    }

    /// Validates one property `value` (and its `_` companion) populating `element` as `type_code`.
    fn element(
        &mut self,
        element: &ElementDef,
        type_code: &str,
        value: &Value,
        companion: Option<&Value>,
        location: &str,
    ) {
        if !self.shape(element, value, location) {
            return;
        }
        let is_primitive = MODEL.is_primitive(type_code);
        match value {
            Value::Array(items) => {
                let companion_base = companion_location(location);
                let companions = match companion {
                    Some(Value::Array(companions)) if companions.len() == items.len() => {
                        Some(companions)
                    }
                    Some(_) => {
                        self.report(
                            IssueCode::Structure,
                            location,
                            "primitive extension array does not align with its values",
                        );
                        None
                    }
                    None => None,
                };
                for (position, item) in items.iter().enumerate() {
                    let item_location = format!("{location}[{position}]");
                    let companion_location = format!("{companion_base}[{position}]");
                    let item_companion = companions
                        .and_then(|c| c.get(position))
                        .filter(|c| !c.is_null());
                    if item.is_null() {
                        if !is_primitive || item_companion.is_none() {
                            self.report(
                                IssueCode::Structure,
                                &item_location,
                                "null is only allowed in primitive arrays with extensions",
                            );
                        } else {
                            self.companion_item(type_code, item_companion, &companion_location);
                        }
                        continue;
                    }
                    self.value(element, type_code, item, &item_location);
                    if is_primitive {
                        self.companion_item(type_code, item_companion, &companion_location);
                    }
                }
            }
            _ => {
                self.value(element, type_code, value, location);
                if let Some(companion) = companion {
                    self.companion(element, type_code, companion, Some(value), location);
                }
            }
        }
    }

    /// Checks array-ness and size against the cardinality; false when the value is unusable.
    pub(super) fn shape(&mut self, element: &ElementDef, value: &Value, location: &str) -> bool {
        match (element.max, value) {
            (Max::Bounded(0), _) => {
                self.report(IssueCode::Structure, location, "element is not allowed");
                false
            }
            (Max::Bounded(1), Value::Array(_)) => {
                self.report(
                    IssueCode::Structure,
                    location,
                    "element cannot repeat; expected a single value, not an array",
                );
                false
            }
            (Max::Bounded(1), _) => true,
            (_, Value::Array(items)) if items.is_empty() => {
                self.report(IssueCode::Structure, location, "empty array is not allowed");
                false
            }
            (Max::Bounded(max), Value::Array(items)) if items.len() > max as usize => {
                self.report(IssueCode::Structure, location, "too many repetitions");
                true
            }
            (_, Value::Array(_)) => true,
            _ => {
                self.report(
                    IssueCode::Structure,
                    location,
                    "repeating element must be a json array",
                );
                false
            }
        }
    }

    /// One (non-array) value of `element` as `type_code`.
    fn value(&mut self, element: &ElementDef, type_code: &str, value: &Value, location: &str) {
        if MODEL.is_primitive(type_code) {
            if let Err(message) = primitive::check(type_code, value) {
                self.report(IssueCode::Value, location, message);
            } else if element.binding.is_some() {
                binding::check_code(self, element, value, location);
            }
            return;
        }
        if MODEL.is_resource(type_code) {
            self.resource(value, location, type_code);
            return;
        }
        let Value::Object(object) = value else {
            self.report(IssueCode::Structure, location, "expected a json object");
            return;
        };
        if let Some(target) = &element.content_ref {
            self.object(object, target, location, false);
        } else if element.has_children {
            self.object(object, &element.path, location, false);
        } else {
            self.object(object, type_code, location, false);
        }
        if element.binding.is_some() {
            binding::check_coded(self, element, type_code, object, location);
        }
    }
}

/// `location.name`, or `name` at the root.
pub(super) fn join(location: &str, name: &str) -> String {
    if location.is_empty() {
        name.to_owned()
    } else {
        format!("{location}.{name}")
    }
}

fn or_root(location: &str) -> &str {
    if location.is_empty() {
        "Resource"
    } else {
        location
    }
}
