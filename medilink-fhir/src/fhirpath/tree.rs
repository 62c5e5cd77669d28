//! Tree functions: the direct children of a node (for `children()`/`descendants()`) and
//! `resolve()` of references (contained resources, or the target type only).

use serde_json::Value;

use super::Item;
use super::eval::{Env, navigate};
use super::types;

type Items<'a> = Vec<Item<'a>>;

/// The direct children of a node, in document order.
pub(crate) fn children<'a>(item: &Item<'a>) -> Items<'a> {
    let mut out = Vec::new();
    let Item::Node {
        value: Value::Object(object),
        ..
    } = item
    else {
        return out;
    };
    let mut seen: Vec<&str> = Vec::new();
    for key in object.keys() {
        let base = key.trim_start_matches('_');
        if key == "resourceType" || seen.contains(&base) {
            continue;
        }
        seen.push(base);
        let name = element_name(item, base);
        // errors only arise for unknown elements, which children() skips
        let _ = navigate(item, &name, &mut out);
    }
    out
}

/// `valueQuantity` → `value` when the model says `value` is a choice.
fn element_name(item: &Item<'_>, key: &str) -> String {
    if let Item::Node { meta, .. } = item
        && let Some(path) = meta.model_path
        && types::child(path, key).is_none()
    {
        for (i, _) in key.char_indices().skip(1) {
            let (name, suffix) = key.split_at(i);
            if suffix.starts_with(char::is_uppercase)
                && let Some(child) = types::child(path, name)
                && child.choice
                && types::choice_suffix(child, suffix).is_some()
            {
                return name.to_owned();
            }
        }
    }
    key.to_owned()
}

/// `resolve()`: a contained resource for `#id`, the bundle entry's resource when the root is a
/// Bundle holding it, otherwise only the target type.
pub(crate) fn resolve<'a>(item: &Item<'a>, env: &Env<'a>) -> Option<Item<'a>> {
    let reference = match item {
        Item::Node { value, .. } => match value {
            Value::Object(object) => object.get("reference")?.as_str()?,
            Value::String(text) => text.as_str(),
            _ => return None,
        },
        Item::String(text) => text.as_str(),
        _ => return None,
    };
    let Item::Node { value: root, .. } = &env.root else {
        return None;
    };
    if let Some(id) = reference.strip_prefix('#') {
        let contained = root.get("contained")?.as_array()?;
        let found = contained
            .iter()
            .find(|r| r.get("id").and_then(Value::as_str) == Some(id))?;
        let type_name = found
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(types::intern);
        return Some(Item::node(found, type_name));
    }
    let path = reference.split("/_history/").next()?;
    let mut segments = path.rsplit('/');
    let _id = segments.next()?;
    let resource_type = segments.next()?;
    if types::kind(resource_type) != Some(types::Kind::Resource) {
        return None;
    }
    Some(Item::Resolved {
        resource_type: resource_type.to_owned(),
    })
}
