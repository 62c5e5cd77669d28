//! The registry of search parameters: the official R4 SearchParameter definitions (vendored in
//! `data/search-parameters.json`), indexed by resource type and code, with their FHIRPath
//! expressions parsed once and split per base type.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;

use crate::fhirpath::Expression;
use crate::model::ResourceType;

/// The type of a search parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs, reason = "the variant names are the R4 codes")]
pub enum ParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl ParamType {
    /// The R4 code.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Number => "number",
            ParamType::Date => "date",
            ParamType::String => "string",
            ParamType::Token => "token",
            ParamType::Reference => "reference",
            ParamType::Composite => "composite",
            ParamType::Quantity => "quantity",
            ParamType::Uri => "uri",
            ParamType::Special => "special",
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawBundle {
    entry: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
struct RawEntry {
    resource: RawParam,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParam {
    url: String,
    code: String,
    #[serde(rename = "type")]
    kind: ParamType,
    #[serde(default)]
    base: Vec<String>,
    expression: Option<String>,
    #[serde(default)]
    target: Vec<String>,
    #[serde(default)]
    component: Vec<RawComponent>,
}

#[derive(Debug, Deserialize)]
struct RawComponent {
    definition: String,
    expression: String,
}

/// One component of a composite parameter.
#[derive(Debug)]
pub struct Component {
    /// The component's own parameter type (from its definition).
    pub kind: ParamType,
    /// Expression relative to the composite's element.
    pub expression: Expression,
    /// The expression's source text.
    pub source: String,
}

/// A search parameter as it applies to one resource type.
#[derive(Debug)]
pub struct SearchParam {
    /// The code used in URLs (`birthdate`, `_id`, …).
    pub code: String,
    /// The canonical URL of the definition.
    pub url: String,
    /// Its type.
    pub kind: ParamType,
    /// The parsed expression branches that apply to this resource type (empty for parameters
    /// served from the resource table, like `_id` and `_lastUpdated`, or with no expression).
    pub expressions: Vec<Expression>,
    /// Target types of a reference parameter (empty = any).
    pub targets: Vec<ResourceType>,
    /// Components of a composite parameter.
    pub components: Vec<Component>,
}

/// All search parameters, by resource type and code.
#[derive(Debug, Default)]
pub struct Registry {
    by_type: HashMap<ResourceType, HashMap<String, Arc<SearchParam>>>,
    /// Definitions that did not load (code, reason), reported by the coverage test.
    pub skipped: Vec<(String, String)>,
    /// How many definitions were read.
    pub definitions: usize,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    Registry::from_json(include_str!("../../data/search-parameters.json"))
        .expect("invariant: the vendored search parameters parse")
});

/// The registry of the official R4 search parameters.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    /// Builds a registry from a Bundle of SearchParameter resources.
    pub fn from_json(text: &str) -> Result<Registry, serde_json::Error> {
        let bundle: RawBundle = serde_json::from_str(text)?;
        let raws: Vec<RawParam> = bundle.entry.into_iter().map(|e| e.resource).collect();
        let kinds: HashMap<&str, ParamType> =
            raws.iter().map(|r| (r.url.as_str(), r.kind)).collect();
        let mut registry = Registry {
            definitions: raws.len(),
            ..Registry::default()
        };
        for raw in &raws {
            if let Err(reason) = registry.add(raw, &kinds) {
                registry.skipped.push((raw.code.clone(), reason));
            }
        }
        Ok(registry)
    }

    fn add(&mut self, raw: &RawParam, kinds: &HashMap<&str, ParamType>) -> Result<(), String> {
        let mut components = Vec::new();
        for component in &raw.component {
            let kind = *kinds
                .get(component.definition.as_str())
                .ok_or_else(|| format!("unknown component {}", component.definition))?;
            let expression = Expression::parse(&component.expression).map_err(|e| e.to_string())?;
            components.push(Component {
                kind,
                expression,
                source: component.expression.clone(),
            });
        }
        let branches = match &raw.expression {
            Some(expression) => split_union(expression),
            None => Vec::new(),
        };
        let targets = raw
            .target
            .iter()
            .filter_map(|t| ResourceType::from_name(t))
            .collect::<Vec<_>>();
        let components = Arc::new(components);
        for base in &raw.base {
            let types: Vec<ResourceType> = match base.as_str() {
                "Resource" => ResourceType::ALL.to_vec(),
                "DomainResource" => ResourceType::ALL
                    .into_iter()
                    .filter(|t| {
                        !matches!(
                            t,
                            ResourceType::Bundle | ResourceType::Binary | ResourceType::Parameters
                        )
                    })
                    .collect(),
                other => match ResourceType::from_name(other) {
                    Some(t) => vec![t],
                    None => return Err(format!("unknown base {other}")),
                },
            };
            for resource_type in types {
                let expressions = branches
                    .iter()
                    .filter(|b| applies_to(b, resource_type, base))
                    .map(|b| {
                        Expression::parse(&rebase(b, base, resource_type))
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let param = SearchParam {
                    code: raw.code.clone(),
                    url: raw.url.clone(),
                    kind: raw.kind,
                    expressions,
                    targets: targets.clone(),
                    components: components_for(&components),
                };
                self.by_type
                    .entry(resource_type)
                    .or_default()
                    .insert(raw.code.clone(), Arc::new(param));
            }
        }
        Ok(())
    }

    /// The parameter `code` of `resource_type`.
    pub fn param(&self, resource_type: ResourceType, code: &str) -> Option<&Arc<SearchParam>> {
        self.by_type.get(&resource_type)?.get(code)
    }

    /// Every parameter of `resource_type`.
    pub fn params(&self, resource_type: ResourceType) -> impl Iterator<Item = &Arc<SearchParam>> {
        self.by_type
            .get(&resource_type)
            .into_iter()
            .flat_map(|m| m.values())
    }
}

fn components_for(components: &Arc<Vec<Component>>) -> Vec<Component> {
    components
        .iter()
        .map(|c| Component {
            kind: c.kind,
            expression: c.expression.clone(),
            source: c.source.clone(),
        })
        .collect()
}

/// Splits `a | b | (c | d)` at its top-level `|` (outside parentheses and quotes).
pub(crate) fn split_union(expression: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, ch) in expression.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            '|' if !quoted && depth == 0 => {
                parts.push(expression[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(expression[start..].trim().to_owned());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// `Resource.meta.tag` → `Patient.meta.tag`: generic roots become the concrete type.
fn rebase(branch: &str, base: &str, resource_type: ResourceType) -> String {
    if matches!(base, "Resource" | "DomainResource") && branch.starts_with(base) {
        format!("{}{}", resource_type.as_str(), &branch[base.len()..])
    } else {
        branch.to_owned()
    }
}

/// Whether a branch applies to `resource_type`: it starts with that type's name (possibly
/// inside parentheses), or with the generic base (`Resource.meta…`).
fn applies_to(branch: &str, resource_type: ResourceType, base: &str) -> bool {
    let head = branch.trim_start_matches('(').trim_start();
    let name: String = head
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let generic = ResourceType::from_name(&name).is_none()
        && !matches!(name.as_str(), "Resource" | "DomainResource");
    name == resource_type.as_str() || name == base || generic
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coverage of the official definitions (reported in BENCHMARKS.md / the issue): every
    /// definition loads; all but `special` ones and those served elsewhere (`_id`,
    /// `_lastUpdated` from the resource table, `_text`/`_content` from the full-text index,
    /// `_query`/`_list`) are extracted into index rows.
    #[test]
    fn coverage_of_the_official_definitions() {
        let registry = registry();
        let mut indexed = std::collections::HashSet::new();
        let mut elsewhere = std::collections::HashSet::new();
        for ty in ResourceType::ALL {
            for param in registry.params(ty) {
                if crate::search::extract::is_table_param(&param.code) {
                    elsewhere.insert(param.url.clone());
                } else if param.kind != ParamType::Special && !param.expressions.is_empty() {
                    indexed.insert(param.url.clone());
                }
            }
        }
        assert_eq!(registry.definitions, 1378);
        assert_eq!(indexed.len(), 1372, "definitions extracted into index rows");
        assert_eq!(elsewhere.len(), 5, "{elsewhere:?}");
    }

    #[test]
    fn unions_split_at_top_level_only() {
        assert_eq!(
            split_union("A.b | (C.d as Quantity) | E.f.where(g = 'x|y')"),
            vec!["A.b", "(C.d as Quantity)", "E.f.where(g = 'x|y')"]
        );
    }

    #[test]
    fn the_official_parameters_load_per_type() {
        let registry = registry();
        assert_eq!(registry.definitions, 1378);
        assert!(registry.skipped.is_empty(), "{:?}", registry.skipped);
        let subject = registry
            .param(ResourceType::Observation, "patient")
            .expect("Observation.patient");
        assert_eq!(subject.kind, ParamType::Reference);
        assert_eq!(
            subject.expressions.len(),
            1,
            "only the Observation branch of the shared union"
        );
        let birthdate = registry
            .param(ResourceType::Patient, "birthdate")
            .expect("birthdate");
        assert_eq!(birthdate.kind, ParamType::Date);
        assert!(registry.param(ResourceType::Patient, "_id").is_some());
        assert!(
            registry
                .param(ResourceType::Observation, "_lastUpdated")
                .is_some()
        );
        let composite = registry
            .param(ResourceType::Observation, "code-value-quantity")
            .expect("composite");
        assert_eq!(composite.components.len(), 2);
        assert_eq!(composite.components[1].kind, ParamType::Quantity);
    }
}
