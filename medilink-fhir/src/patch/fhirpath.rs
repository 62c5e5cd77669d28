//! FHIRPath Patch (R4 `fhirpatch.html`): a `Parameters` resource whose `operation` parameters
//! `add`, `insert`, `delete`, `replace` and `move` elements located by FHIRPath expressions.
//!
//! The expressions are evaluated by [`crate::fhirpath`] over the resource; the nodes found are
//! references into it, turned into JSON Pointers by identity, and the operation is applied to
//! a copy. Whether a property added repeats (an array) comes from the R4 model. `insert` and
//! `move` name the list as `path` (its last step a plain element name): the list is that name
//! under the element the rest of the path selects.

use serde_json::{Map, Value};

use crate::error::{FhirError, FhirResult, IssueCode};
use crate::fhirpath::{Expression, Item, evaluate};

/// Applies a FHIRPath Patch `Parameters` document to `resource`, returning the patched
/// resource; a failing operation leaves nothing applied.
pub fn apply_fhirpath_patch(resource: &Value, patch: &Value) -> FhirResult<Value> {
    if patch.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(invalid(
            "a FHIRPath Patch document is a Parameters resource",
        ));
    }
    let mut patched = resource.clone();
    for parameter in patch["parameter"].as_array().into_iter().flatten() {
        if parameter["name"] != "operation" {
            return Err(invalid("a FHIRPath Patch parameter is named operation"));
        }
        let operation = Operation::parse(parameter)?;
        operation.apply(&mut patched)?;
    }
    for immutable in ["resourceType", "id"] {
        if patched.get(immutable) != resource.get(immutable) {
            return Err(FhirError::unprocessable(format!(
                "FHIRPath Patch must not change {immutable}"
            )));
        }
    }
    Ok(patched)
}

fn invalid(message: impl Into<String>) -> FhirError {
    FhirError::invalid(IssueCode::Invalid, None, message)
}

/// A path for messages (client text, shortened).
fn shown(path: &str) -> String {
    path.chars().take(200).collect()
}

/// One `operation` parameter.
#[derive(Debug)]
struct Operation<'p> {
    kind: &'p str,
    path: &'p str,
    name: Option<&'p str>,
    value: Option<&'p Value>,
    index: Option<usize>,
    source: Option<usize>,
    destination: Option<usize>,
}

impl<'p> Operation<'p> {
    fn parse(parameter: &'p Value) -> FhirResult<Operation<'p>> {
        let parts = parameter["part"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let part = |name: &str| parts.iter().find(|part| part["name"] == name);
        let text = |name: &str, key: &str| part(name).and_then(|part| part[key].as_str());
        let number = |name: &str| -> FhirResult<Option<usize>> {
            match part(name) {
                None => Ok(None),
                Some(part) => part["valueInteger"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| {
                        invalid(format!(
                            "FHIRPath Patch {name} is a non-negative valueInteger"
                        ))
                    }),
            }
        };
        let kind = text("type", "valueCode")
            .ok_or_else(|| invalid("a FHIRPath Patch operation needs a type (valueCode)"))?;
        let path = text("path", "valueString")
            .ok_or_else(|| invalid("a FHIRPath Patch operation needs a path (valueString)"))?;
        Ok(Operation {
            kind,
            path,
            name: text("name", "valueString"),
            value: part("value"),
            index: number("index")?,
            source: number("source")?,
            destination: number("destination")?,
        })
    }

    fn apply(&self, resource: &mut Value) -> FhirResult<()> {
        match self.kind {
            "add" => self.add(resource),
            "insert" => self.insert(resource),
            "delete" => self.delete(resource),
            "replace" => self.replace(resource),
            "move" => self.move_item(resource),
            other => Err(invalid(format!(
                "unknown FHIRPath Patch operation type {}",
                shown(other)
            ))),
        }
    }

    fn required<T>(&self, value: Option<T>, what: &str) -> FhirResult<T> {
        value.ok_or_else(|| invalid(format!("FHIRPath Patch {} needs {what}", self.kind)))
    }

    fn add(&self, resource: &mut Value) -> FhirResult<()> {
        let name = self.required(self.name, "a name")?;
        let value = self.required(self.value, "a value")?;
        let (pointer, model_path) = self.single(resource, "adding")?;
        let (repeats, children) = model_path
            .and_then(|path| crate::validate::child_shape(path, name))
            .unwrap_or((false, None));
        let value = part_value(value, children.as_deref())?;
        let container = resource
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| {
                FhirError::unprocessable(format!(
                    "{} is not an element that can have children",
                    shown(self.path)
                ))
            })?;
        match container.get_mut(name) {
            Some(Value::Array(items)) => items.push(value),
            Some(_) if !repeats => {
                return Err(FhirError::unprocessable(format!(
                    "{name} already has a value at {} (use replace)",
                    shown(self.path)
                )));
            }
            _ if repeats => {
                container.insert(name.to_owned(), Value::Array(vec![value]));
            }
            _ => {
                container.insert(name.to_owned(), value);
            }
        }
        Ok(())
    }

    fn insert(&self, resource: &mut Value) -> FhirResult<()> {
        let index = self.required(self.index, "an index")?;
        let value = self.required(self.value, "a value")?;
        let (list, children) = self.list(resource)?;
        let value = part_value(value, children.as_deref())?;
        if index > list.len() {
            return Err(FhirError::unprocessable(format!(
                "insert index {index} is beyond the {} elements of {}",
                list.len(),
                shown(self.path)
            )));
        }
        list.insert(index, value);
        Ok(())
    }

    fn move_item(&self, resource: &mut Value) -> FhirResult<()> {
        let source = self.required(self.source, "a source")?;
        let destination = self.required(self.destination, "a destination")?;
        let (list, _) = self.list(resource)?;
        if source >= list.len() || destination >= list.len() {
            return Err(FhirError::unprocessable(format!(
                "move {source} to {destination} is outside the {} elements of {}",
                list.len(),
                shown(self.path)
            )));
        }
        let item = list.remove(source);
        list.insert(destination, item);
        Ok(())
    }

    fn replace(&self, resource: &mut Value) -> FhirResult<()> {
        let value = self.required(self.value, "a value")?;
        let (pointer, model_path) = self.single(resource, "replacing")?;
        let value = part_value(value, model_path)?;
        if let Some(target) = resource.pointer_mut(&pointer) {
            *target = value;
        }
        Ok(())
    }

    fn delete(&self, resource: &mut Value) -> FhirResult<()> {
        let pointers = locate(resource, self.path)?;
        let pointer = match pointers.as_slice() {
            [] => return Ok(()),
            [(pointer, _)] => pointer.clone(),
            _ => {
                return Err(FhirError::unprocessable(format!(
                    "{} selects {} elements; delete removes one",
                    shown(self.path),
                    pointers.len()
                )));
            }
        };
        remove(resource, &pointer);
        Ok(())
    }

    /// The one node `path` selects (its pointer and model path); none or several: 422.
    fn single(&self, resource: &Value, doing: &str) -> FhirResult<(String, Option<&'static str>)> {
        let mut found = locate(resource, self.path)?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(FhirError::unprocessable(format!(
                "No content found at {} when {doing}",
                shown(self.path)
            ))),
            n => Err(FhirError::unprocessable(format!(
                "{} selects {n} elements when {doing}; it must select one",
                shown(self.path)
            ))),
        }
    }

    /// The list `path` names (created empty when missing) and its elements' model path.
    fn list<'r>(
        &self,
        resource: &'r mut Value,
    ) -> FhirResult<(&'r mut Vec<Value>, Option<String>)> {
        let (parent, name) = split_last_step(self.path).ok_or_else(|| {
            invalid(format!(
                "the path of {} must end in an element name: {}",
                self.kind,
                shown(self.path)
            ))
        })?;
        let mut found = locate(resource, parent)?;
        if found.len() != 1 {
            return Err(FhirError::unprocessable(format!(
                "No content found at {} ({})",
                shown(self.path),
                self.kind
            )));
        }
        let (pointer, model_path) = found.remove(0);
        let children = model_path
            .and_then(|path| crate::validate::child_shape(path, name))
            .and_then(|(_, children)| children);
        let not_a_list = || FhirError::unprocessable(format!("{} is not a list", shown(self.path)));
        let container = resource
            .pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(not_a_list)?;
        let list = container
            .entry(name.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        match list {
            Value::Array(items) => Ok((items, children)),
            _ => Err(not_a_list()),
        }
    }
}

/// The JSON Pointers (and model paths) of the nodes `path` selects in `resource`.
fn locate(resource: &Value, path: &str) -> FhirResult<Vec<(String, Option<&'static str>)>> {
    let expression = Expression::parse(path)
        .map_err(|err| invalid(format!("FHIRPath Patch path {}: {err}", shown(path))))?;
    let items = evaluate(&expression, resource).map_err(|err| {
        FhirError::unprocessable(format!("FHIRPath Patch path {}: {err}", shown(path)))
    })?;
    items
        .iter()
        .map(|item| match item {
            Item::Node { value, meta, .. } => pointer_to(resource, value)
                .map(|pointer| (pointer, meta.model_path()))
                .ok_or_else(|| {
                    invalid(format!(
                        "{} selects no element of the resource",
                        shown(path)
                    ))
                }),
            _ => Err(invalid(format!(
                "{} selects a value, not an element of the resource",
                shown(path)
            ))),
        })
        .collect()
}

/// The JSON Pointer of `target` (by identity) inside `root`.
fn pointer_to(root: &Value, target: &Value) -> Option<String> {
    if std::ptr::eq(root, target) {
        return Some(String::new());
    }
    let step = |key: String, child: &Value| {
        pointer_to(child, target)
            .map(|rest| format!("/{}{rest}", key.replace('~', "~0").replace('/', "~1")))
    };
    match root {
        Value::Object(object) => object
            .iter()
            .find_map(|(key, child)| step(key.clone(), child)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, child)| step(index.to_string(), child)),
        _ => None,
    }
}

/// Removes the value at `pointer`: an array element or a property (with a primitive's `_name`
/// companion); an array or element left empty goes too (FHIR JSON has no empty ones).
fn remove(resource: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    let Some(container) = resource.pointer_mut(parent) else {
        return;
    };
    match container {
        Value::Array(items) => {
            if let Ok(index) = key.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
            if items.is_empty() {
                remove(resource, parent);
            }
        }
        Value::Object(object) => {
            object.remove(&key);
            object.remove(&format!("_{key}"));
            if object.is_empty() && !parent.is_empty() {
                remove(resource, parent);
            }
        }
        _ => {}
    }
}

/// Splits `a.b.where(x).c` into `a.b.where(x)` and `c` (the last step must be a name).
fn split_last_step(path: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut last_dot = None;
    for (index, ch) in path.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            '.' if !quoted && depth == 0 => last_dot = Some(index),
            _ => {}
        }
    }
    let dot = last_dot?;
    let (parent, name) = (&path[..dot], &path[dot + 1..]);
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then_some((parent, name))
}

/// The JSON value of a `value` part: its `value[x]`, or (an anonymous type) an object built
/// from its own parts, each again a `value[x]` or parts; `model_path` says which of those
/// properties repeat.
fn part_value(part: &Value, model_path: Option<&str>) -> FhirResult<Value> {
    if let Some(object) = part.as_object() {
        if let Some((_, value)) = object
            .iter()
            .find(|(key, _)| key.starts_with("value") && key.len() > "value".len())
        {
            return Ok(value.clone());
        }
        if let Some(parts) = object.get("part").and_then(Value::as_array) {
            let mut built = Map::new();
            for part in parts {
                let name = part["name"]
                    .as_str()
                    .ok_or_else(|| invalid("a FHIRPath Patch value part needs a name"))?;
                let (repeats, children) = model_path
                    .and_then(|path| crate::validate::child_shape(path, name))
                    .unwrap_or((false, None));
                let value = part_value(part, children.as_deref())?;
                match (built.get_mut(name), repeats) {
                    (Some(Value::Array(items)), _) => items.push(value),
                    (None, true) => {
                        built.insert(name.to_owned(), Value::Array(vec![value]));
                    }
                    (None, false) => {
                        built.insert(name.to_owned(), value);
                    }
                    (Some(_), _) => {
                        return Err(invalid(format!(
                            "the value part {name} repeats but is single"
                        )));
                    }
                }
            }
            return Ok(Value::Object(built));
        }
    }
    Err(invalid("a FHIRPath Patch value has a value[x] or parts"))
}
