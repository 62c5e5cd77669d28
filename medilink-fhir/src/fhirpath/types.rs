//! Type information for navigation: which JSON properties an element path has, with their
//! FHIR types (choice elements expanded by suffix), and the R4 type hierarchy used by `is`,
//! `as` and `ofType`.
//!
//! The index is built from the same vendored `data/r4-model.json` as the validator. The
//! validator's indexed model lives in a module private to `validate`, so this module keeps
//! its own small index (paths and types only) rather than widening that module's visibility.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

const MODEL_JSON: &str = include_str!("../../data/r4-model.json");

/// The navigation index, built on first use.
static INDEX: LazyLock<TypeIndex> = LazyLock::new(|| {
    let raw: RawModel = serde_json::from_str(MODEL_JSON)
        .expect("invariant: the vendored r4-model.json is valid (checked by validate tests)");
    TypeIndex::build(raw)
});

#[derive(Deserialize)]
struct RawModel {
    types: HashMap<String, RawType>,
}

#[derive(Deserialize)]
struct RawType {
    k: String,
    e: Vec<RawElement>,
}

#[derive(Deserialize)]
struct RawElement {
    p: String,
    #[serde(default)]
    t: Vec<String>,
    #[serde(default)]
    r: Option<String>,
}

/// Kind of a named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Resource,
    Complex,
    Primitive,
}

/// One child element of a model path.
#[derive(Debug)]
pub(crate) struct Child {
    /// The allowed type codes (one unless a choice).
    pub(crate) types: Vec<String>,
    /// Whether the element is a choice `name[x]`.
    pub(crate) choice: bool,
    /// Where the children of a value of this element are defined: the element path for
    /// backbone elements and content references, `None` to use the value's type.
    pub(crate) children_at: Option<String>,
}

#[derive(Debug)]
struct TypeIndex {
    kinds: HashMap<String, Kind>,
    /// Model path → element name (without `[x]`) → child.
    children: HashMap<String, HashMap<String, Child>>,
}

impl TypeIndex {
    fn build(raw: RawModel) -> TypeIndex {
        let mut kinds = HashMap::new();
        let mut children: HashMap<String, HashMap<String, Child>> = HashMap::new();
        for (name, raw_type) in raw.types {
            let kind = match raw_type.k.as_str() {
                "resource" => Kind::Resource,
                "primitive-type" => Kind::Primitive,
                _ => Kind::Complex,
            };
            for element in &raw_type.e {
                let Some((parent, last)) = element.p.rsplit_once('.') else {
                    continue;
                };
                let prefix = format!("{}.", element.p);
                let has_children = raw_type.e.iter().any(|e| e.p.starts_with(&prefix));
                let children_at = match &element.r {
                    Some(target) => Some(target.trim_start_matches('#').to_owned()),
                    None if has_children => Some(element.p.clone()),
                    None => None,
                };
                let choice = last.ends_with("[x]");
                children.entry(parent.to_owned()).or_default().insert(
                    last.trim_end_matches("[x]").to_owned(),
                    Child {
                        types: element.t.clone(),
                        choice,
                        children_at,
                    },
                );
            }
            kinds.insert(name, kind);
        }
        TypeIndex { kinds, children }
    }
}

/// The kind of a type name, if R4 defines it.
pub(crate) fn kind(type_name: &str) -> Option<Kind> {
    INDEX.kinds.get(type_name).copied()
}

/// The canonical `'static` spelling of a type name, if R4 defines it.
pub(crate) fn intern(type_name: &str) -> Option<&'static str> {
    INDEX
        .kinds
        .get_key_value(type_name)
        .map(|(key, _)| key.as_str())
}

/// The children defined under a model path (type name or element path), if any.
pub(crate) fn child(model_path: &str, name: &str) -> Option<&'static Child> {
    INDEX.children.get(model_path)?.get(name)
}

/// Whether `model_path` is known to the model (so unknown children are semantic errors).
pub(crate) fn has_children(model_path: &str) -> bool {
    INDEX.children.contains_key(model_path)
}

/// Whether a type specifier names a System or R4 type (`FHIR.` / `System.` prefixes allowed).
pub(crate) fn is_known_type(specifier: &str) -> bool {
    let (namespace, name) = match specifier.split_once('.') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, specifier),
    };
    let system = matches!(
        name,
        "Boolean" | "Integer" | "Decimal" | "String" | "Date" | "DateTime" | "Time" | "Quantity"
    );
    let fhir = kind(name).is_some()
        || matches!(
            name,
            "Resource" | "DomainResource" | "Element" | "BackboneElement"
        );
    match namespace {
        Some("System") => true,
        Some("FHIR") => fhir,
        Some(_) => false,
        None => system || fhir,
    }
}

/// The base type of a type, following the R4 hierarchy (`None` at the top).
pub(crate) fn base(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "Resource" | "Element" => return None,
        "DomainResource" | "Bundle" | "Binary" | "Parameters" => "Resource",
        "Age" | "Count" | "Distance" | "Duration" | "MoneyQuantity" | "SimpleQuantity" => {
            "Quantity"
        }
        other => match kind(other)? {
            Kind::Resource => "DomainResource",
            Kind::Complex if other == "BackboneElement" => "Element",
            Kind::Complex => "Element",
            Kind::Primitive => return None,
        },
    })
}

/// Whether `type_name` is `wanted` or derives from it.
pub(crate) fn derives_from(type_name: &str, wanted: &str) -> bool {
    let mut current = Some(type_name);
    while let Some(name) = current {
        if name == wanted {
            return true;
        }
        current = base(name);
    }
    false
}

/// `valueQuantity` with element `value` → the type code `Quantity`, matching case-insensitively
/// on the first letter against the element's allowed types.
pub(crate) fn choice_suffix<'c>(child: &'c Child, suffix: &str) -> Option<&'c str> {
    child
        .types
        .iter()
        .find(|t| {
            let mut chars = t.chars();
            chars.next().is_some_and(|first| {
                suffix.starts_with(first.to_ascii_uppercase()) && suffix[1..] == *chars.as_str()
            })
        })
        .map(String::as_str)
}
