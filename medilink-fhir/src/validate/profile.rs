//! Profiles: validation against constraint `StructureDefinition`s stored in the server
//! (`derivation = constraint`, found by canonical `url`, optionally `url|version`).
//!
//! A profile's elements (its differential, else its snapshot; the profiles it derives from
//! when they are stored too) are checked on top of the base definitions ([`super::check`]):
//!
//! - cardinality (`min`/`max` per instance of the parent element; `0..0` prohibits);
//! - `fixed[x]` (equal) and `pattern[x]` (the value holds at least the pattern);
//! - `required` bindings to a ValueSet stored in the server (its `expansion`, or its
//!   `compose.include` listing concepts) or one of the R4 value sets known offline; a value set
//!   that cannot be enumerated gives a warning saying so;
//! - slices of discriminator type `value` / `pattern` (e.g. `Observation.category`,
//!   `identifier.system`, extensions by `url`) and choice slices (`value[x]:valueQuantity`):
//!   each slice's cardinality and its elements' constraints on the items that belong to it.
//!   Other slices (`type`, `profile`, `exists` discriminators) are reported as not checked.
//!
//! `mustSupport` needs nothing; invariants (FHIRPath `constraint`s) are not evaluated; a
//! profile on an element's type (`type.profile`, e.g. US Core's race extension) is not checked
//! (an information issue says so when the resource has such an element).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::model::MODEL;
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult, Issue, IssueCode, Severity};
use crate::model::ResourceType;
use crate::search::SearchQuery;
use crate::store::{ResourceStore, WriteHook, WriteOp};

/// How many stored profiles a profile may derive from (its `baseDefinition` chain).
const MAX_DEPTH: usize = 8;

/// One element constraint of a profile.
#[derive(Debug, Clone)]
struct Element {
    /// The element id (`Observation.category:VSCat.coding`), or its path when it has none.
    id: String,
    min: Option<u64>,
    /// `None`: unbounded (`*`) or not constrained.
    max: Option<u64>,
    fixed: Option<Value>,
    pattern: Option<Value>,
    /// A `required` binding's value set canonical.
    required_binding: Option<String>,
    /// `slicing.discriminator` as `(type, path)`; `None` when the element is not sliced here.
    discriminators: Option<Vec<(String, String)>>,
    /// `type[0].profile[0]` (an extension slice's extension url).
    type_profile: Option<String>,
}

/// A constraint `StructureDefinition`, parsed for checking.
#[derive(Debug, Clone)]
pub struct Profile {
    url: String,
    resource_type: String,
    base: Option<String>,
    elements: Vec<Element>,
}

/// The codes of a value set: `(system, code)` pairs (system empty when unknown).
#[derive(Debug, Clone, Default)]
pub struct ValueSetCodes {
    codes: HashSet<(String, String)>,
    bare: HashSet<String>,
}

impl ValueSetCodes {
    fn insert(&mut self, system: &str, code: &str) {
        self.codes.insert((system.to_owned(), code.to_owned()));
        self.bare.insert(code.to_owned());
    }

    fn contains(&self, system: Option<&str>, code: &str) -> bool {
        match system {
            Some(system) => self.codes.contains(&(system.to_owned(), code.to_owned())),
            None => self.bare.contains(code),
        }
    }

    /// The codes of a stored `ValueSet`: its expansion's `contains` (nested ones too), else
    /// the concepts its `compose.include`s list (minus `compose.exclude`'s). `Err`: why the
    /// value set cannot be enumerated (an include of a whole code system, a filter, another
    /// value set).
    pub fn of_value_set(value_set: &Value) -> Result<ValueSetCodes, &'static str> {
        let mut codes = ValueSetCodes::default();
        if let Some(contains) = value_set["expansion"]["contains"].as_array() {
            collect_contains(contains, &mut codes);
            return Ok(codes);
        }
        let Some(includes) = value_set["compose"]["include"].as_array() else {
            return Err("it has neither an expansion nor a compose.include");
        };
        for include in includes {
            if include.get("filter").is_some() || include.get("valueSet").is_some() {
                return Err("an include uses a filter or another value set");
            }
            let Some(concepts) = include["concept"].as_array() else {
                return Err("an include names a whole code system");
            };
            let system = include["system"].as_str().unwrap_or_default();
            for concept in concepts {
                if let Some(code) = concept["code"].as_str() {
                    codes.insert(system, code);
                }
            }
        }
        for exclude in value_set["compose"]["exclude"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let system = exclude["system"].as_str().unwrap_or_default();
            for concept in exclude["concept"].as_array().into_iter().flatten() {
                if let Some(code) = concept["code"].as_str() {
                    codes.codes.remove(&(system.to_owned(), code.to_owned()));
                }
            }
        }
        codes.bare = codes.codes.iter().map(|(_, code)| code.clone()).collect();
        Ok(codes)
    }

    /// One of the R4 value sets the base validator expanded offline.
    fn offline(url: &str) -> Option<ValueSetCodes> {
        let expansion = MODEL.value_sets.get(url)?.as_ref()?;
        let mut codes = ValueSetCodes::default();
        for (system, values) in expansion {
            for code in values {
                codes.insert(system, code);
            }
        }
        Some(codes)
    }
}

fn collect_contains(contains: &[Value], codes: &mut ValueSetCodes) {
    for item in contains {
        if let Some(code) = item["code"].as_str() {
            codes.insert(item["system"].as_str().unwrap_or_default(), code);
        }
        if let Some(nested) = item["contains"].as_array() {
            collect_contains(nested, codes);
        }
    }
}

/// A value set as the check sees it: its codes, or why it cannot be checked.
pub type ValueSetLookup = HashMap<String, Result<ValueSetCodes, String>>;

/// The value of the first key of `object` starting with `prefix` (`fixedUri`, `patternCoding`).
fn prefixed(object: &Map<String, Value>, prefix: &str) -> Option<Value> {
    object
        .iter()
        .find(|(key, _)| {
            key.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        })
        .map(|(_, value)| value.clone())
}

impl Profile {
    /// Parses a `StructureDefinition` with `derivation = constraint` on a resource type.
    pub fn parse(definition: &Value) -> Result<Profile, String> {
        if definition["resourceType"] != "StructureDefinition" {
            return Err("not a StructureDefinition".to_owned());
        }
        if definition["derivation"] != "constraint" {
            return Err(
                "not a constraint StructureDefinition (derivation is not constraint)".to_owned(),
            );
        }
        let url = definition["url"].as_str().unwrap_or_default().to_owned();
        let resource_type = definition["type"].as_str().unwrap_or_default().to_owned();
        if ResourceType::from_name(&resource_type).is_none() {
            return Err(format!("{url} does not constrain a resource type"));
        }
        let list = definition["differential"]["element"]
            .as_array()
            .filter(|elements| !elements.is_empty())
            .or_else(|| definition["snapshot"]["element"].as_array());
        let Some(list) = list else {
            return Err(format!("{url} has no elements"));
        };
        let mut elements = Vec::new();
        for raw in list {
            let Value::Object(object) = raw else { continue };
            let id = object
                .get("id")
                .or_else(|| object.get("path"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if id.is_empty() {
                continue;
            }
            let binding = &raw["binding"];
            let discriminators = raw["slicing"].as_object().map(|slicing| {
                slicing
                    .get("discriminator")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        (
                            d["type"].as_str().unwrap_or_default().to_owned(),
                            d["path"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            });
            elements.push(Element {
                id,
                min: raw["min"].as_u64(),
                max: raw["max"].as_str().and_then(|max| max.parse().ok()),
                fixed: prefixed(object, "fixed"),
                pattern: prefixed(object, "pattern"),
                required_binding: (binding["strength"] == "required")
                    .then(|| binding["valueSet"].as_str().map(str::to_owned))
                    .flatten(),
                discriminators,
                type_profile: raw["type"][0]["profile"][0].as_str().map(str::to_owned),
            });
        }
        Ok(Profile {
            url,
            resource_type,
            base: definition["baseDefinition"].as_str().map(str::to_owned),
            elements,
        })
    }

    /// The canonical url.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The value sets its required bindings name.
    pub fn value_sets(&self) -> Vec<String> {
        let mut urls: Vec<String> = self
            .elements
            .iter()
            .filter_map(|element| element.required_binding.clone())
            .collect();
        urls.sort();
        urls.dedup();
        urls
    }

    /// Every problem of `resource` against this profile; `value_sets` holds each of
    /// [`Profile::value_sets`] (a missing one counts as not enumerable).
    pub fn check(&self, resource: &Value, value_sets: &ValueSetLookup) -> Vec<Issue> {
        let mut checker = Checker {
            profile: self,
            resource,
            value_sets,
            issues: Vec::new(),
            unchecked: HashSet::new(),
        };
        if resource["resourceType"].as_str() != Some(self.resource_type.as_str()) {
            checker.error(
                IssueCode::Invalid,
                None,
                format!(
                    "the profile constrains {}, not this resource type",
                    self.resource_type
                ),
            );
            return checker.issues;
        }
        for element in &self.elements {
            checker.element(element);
        }
        checker.issues
    }
}

/// A node of the resource: its FHIRPath location, its JSON property name and its value.
type Node<'v> = (String, String, &'v Value);

/// Whether a node belongs to a slice.
type Members = Box<dyn Fn(&Node<'_>) -> bool>;

struct Checker<'a, 'v> {
    profile: &'a Profile,
    resource: &'v Value,
    value_sets: &'a ValueSetLookup,
    issues: Vec<Issue>,
    /// Slices already reported as not checked.
    unchecked: HashSet<String>,
}

impl<'v> Checker<'_, 'v> {
    fn error(&mut self, code: IssueCode, expression: Option<String>, diagnostics: String) {
        self.issues.push(Issue::error(
            code,
            expression,
            format!("{diagnostics} (profile {})", self.profile.url),
        ));
    }

    fn note(&mut self, severity: Severity, code: IssueCode, expression: String, text: String) {
        self.issues.push(Issue {
            severity,
            code,
            expression: Some(expression),
            diagnostics: format!("{text} (profile {})", self.profile.url),
        });
    }

    fn element(&mut self, element: &Element) {
        let Some((parent_id, last)) = element.id.rsplit_once('.') else {
            return; // the root
        };
        let parents = self.instances(parent_id);
        let (property, slice) = match last.split_once(':') {
            Some((property, slice)) => (property, Some(slice)),
            None => (last, None),
        };
        let members = match slice {
            None => None,
            Some(slice) => match self.membership(&element.id, property, slice) {
                Some(members) => Some(members),
                None => {
                    if self.unchecked.insert(element.id.clone()) {
                        self.note(
                            Severity::Information,
                            IssueCode::NotSupported,
                            element.id.clone(),
                            "slice not checked: only value and pattern discriminators are"
                                .to_owned(),
                        );
                    }
                    return;
                }
            },
        };
        let mut nodes = Vec::new();
        for (location, _, parent) in &parents {
            let mut children = children(parent, location, property);
            if let Some(members) = &members {
                children.retain(|node| members(node));
            }
            let count = children.len() as u64;
            let at = format!("{location}.{property}");
            if let Some(min) = element.min
                && count < min
            {
                let what = slice.map_or(String::new(), |slice| format!(" in slice {slice}"));
                self.error(
                    IssueCode::Required,
                    Some(at.clone()),
                    format!("{count} value(s){what}, the profile requires at least {min}"),
                );
            }
            if let Some(max) = element.max
                && count > max
            {
                let text = if max == 0 {
                    "the profile prohibits this element".to_owned()
                } else {
                    format!("{count} value(s), the profile allows at most {max}")
                };
                self.error(IssueCode::Structure, Some(at), text);
            }
            nodes.extend(children);
        }
        // A profile on the element's type (an extension slice's `us-core-race`, a complex
        // type's profile): the slice is told by url, the profile's own elements are not checked.
        if let Some(type_profile) = &element.type_profile
            && !nodes.is_empty()
            && self.unchecked.insert(element.id.clone())
        {
            self.note(
                Severity::Information,
                IssueCode::NotSupported,
                element.id.clone(),
                format!("the type's profile {type_profile} is not checked"),
            );
        }
        for (location, _, value) in nodes {
            if let Some(fixed) = &element.fixed
                && value != fixed
            {
                self.error(
                    IssueCode::Value,
                    Some(location.clone()),
                    "the value differs from the profile's fixed value".to_owned(),
                );
            }
            if let Some(pattern) = &element.pattern
                && !matches_pattern(value, pattern)
            {
                self.error(
                    IssueCode::Value,
                    Some(location.clone()),
                    "the value does not match the profile's pattern".to_owned(),
                );
            }
            if let Some(url) = &element.required_binding {
                self.binding(url, &location, value);
            }
        }
    }

    fn binding(&mut self, url: &str, location: &str, value: &Value) {
        let value_sets = self.value_sets;
        let codes = match value_sets.get(url) {
            Some(Ok(codes)) => codes,
            Some(Err(why)) => {
                let text = format!("required binding to {url} not checked: {why}");
                self.note(
                    Severity::Warning,
                    IssueCode::NotSupported,
                    location.to_owned(),
                    text,
                );
                return;
            }
            None => {
                let text = format!(
                    "required binding to {url} not checked: the value set is not available"
                );
                self.note(
                    Severity::Warning,
                    IssueCode::NotSupported,
                    location.to_owned(),
                    text,
                );
                return;
            }
        };
        let coding_ok = |coding: &Value| {
            coding["code"]
                .as_str()
                .is_some_and(|code| codes.contains(coding["system"].as_str(), code))
        };
        let ok = match value {
            Value::String(code) => codes.contains(None, code),
            Value::Object(object) if object.contains_key("coding") => value["coding"]
                .as_array()
                .is_some_and(|codings| codings.iter().any(coding_ok)),
            Value::Object(object) if object.contains_key("code") => coding_ok(value),
            // A CodeableConcept with text only, or an element without a code.
            _ => return,
        };
        if !ok {
            self.error(
                IssueCode::CodeInvalid,
                Some(location.to_owned()),
                format!("no code from the required value set {url}"),
            );
        }
    }

    /// Every node the element id `id` reaches (slices narrowed to their members; a slice that
    /// cannot be decided reaches nothing).
    fn instances(&self, id: &str) -> Vec<Node<'v>> {
        let mut segments = id.split('.');
        let root = segments.next().unwrap_or_default().to_owned();
        let mut nodes: Vec<Node<'v>> = vec![(root.clone(), String::new(), self.resource)];
        let mut prefix = root;
        for segment in segments {
            prefix = format!("{prefix}.{segment}");
            let (property, slice) = match segment.split_once(':') {
                Some((property, slice)) => (property, Some(slice)),
                None => (segment, None),
            };
            let mut next = Vec::new();
            for (location, _, value) in &nodes {
                next.extend(children(value, location, property));
            }
            if let Some(slice) = slice {
                match self.membership(&prefix, property, slice) {
                    Some(members) => next.retain(|node| members(node)),
                    None => next.clear(),
                }
            }
            nodes = next;
        }
        nodes
    }

    /// How to tell the members of slice `slice_id` (`…property:slice`): `None` when it cannot
    /// be decided by value.
    fn membership(&self, slice_id: &str, property: &str, slice: &str) -> Option<Members> {
        // A choice slice (`value[x]:valueQuantity`): the property spelled with that type.
        if let Some(stem) = property.strip_suffix("[x]") {
            if slice.starts_with(stem) && slice.len() > stem.len() {
                let name = slice.to_owned();
                return Some(Box::new(move |node: &Node<'_>| node.1 == name));
            }
            return None;
        }
        let sliced_id = &slice_id[..slice_id.len() - slice.len() - 1];
        let discriminators = self
            .profile
            .elements
            .iter()
            .find(|element| element.id == sliced_id)
            .and_then(|element| element.discriminators.clone());
        let slice_element = self.profile.elements.iter().find(|e| e.id == slice_id)?;
        // (relative path, expected value, is a pattern)
        let mut tests: Vec<(String, Value, bool)> = Vec::new();
        let constraint_at = |relative: &str| -> Option<(Value, bool)> {
            let id = if relative == "$this" {
                slice_id.to_owned()
            } else {
                format!("{slice_id}.{relative}")
            };
            let element = self.profile.elements.iter().find(|e| e.id == id)?;
            element
                .fixed
                .clone()
                .map(|fixed| (fixed, false))
                .or_else(|| element.pattern.clone().map(|pattern| (pattern, true)))
        };
        match discriminators {
            Some(discriminators) if !discriminators.is_empty() => {
                for (kind, path) in discriminators {
                    if kind != "value" && kind != "pattern" {
                        return None;
                    }
                    if path.contains('(') {
                        return None;
                    }
                    if let Some((value, pattern)) = constraint_at(&path) {
                        tests.push((path, value, pattern));
                    } else if path == "url" && property.ends_with("xtension") {
                        tests.push((
                            path,
                            Value::String(slice_element.type_profile.clone()?),
                            false,
                        ));
                    } else {
                        return None;
                    }
                }
            }
            // Not sliced in this profile's elements (a derived profile's differential): every
            // fixed or pattern value of the slice itself decides.
            _ => {
                let prefix = format!("{slice_id}.");
                for element in &self.profile.elements {
                    let relative = if element.id == slice_id {
                        "$this".to_owned()
                    } else if let Some(rest) = element.id.strip_prefix(&prefix) {
                        if rest.contains(':') {
                            continue;
                        }
                        rest.to_owned()
                    } else {
                        continue;
                    };
                    if let Some(fixed) = &element.fixed {
                        tests.push((relative, fixed.clone(), false));
                    } else if let Some(pattern) = &element.pattern {
                        tests.push((relative, pattern.clone(), true));
                    }
                }
                if tests.is_empty() && property.ends_with("xtension") {
                    tests.push((
                        "url".to_owned(),
                        Value::String(slice_element.type_profile.clone()?),
                        false,
                    ));
                }
                if tests.is_empty() {
                    return None;
                }
            }
        }
        Some(Box::new(move |node: &Node<'_>| {
            tests.iter().all(|(path, expected, pattern)| {
                let mut values = vec![node.2];
                if path != "$this" {
                    for step in path.split('.') {
                        values = values
                            .into_iter()
                            .flat_map(|value| children(value, "", step))
                            .map(|(_, _, value)| value)
                            .collect();
                    }
                }
                values.into_iter().any(|value| {
                    if *pattern {
                        matches_pattern(value, expected)
                    } else {
                        value == expected
                    }
                })
            })
        }))
    }
}

/// The values of `property` of `value` (an array's items one by one), with their locations;
/// `name[x]` matches any choice `nameType`.
fn children<'v>(value: &'v Value, location: &str, property: &str) -> Vec<Node<'v>> {
    let Value::Object(object) = value else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut push = |name: &str, child: &'v Value| match child {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                found.push((format!("{location}.{name}[{index}]"), name.to_owned(), item));
            }
        }
        other => found.push((format!("{location}.{name}"), name.to_owned(), other)),
    };
    match property.strip_suffix("[x]") {
        Some(stem) => {
            for (name, child) in object {
                if name
                    .strip_prefix(stem)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
                {
                    push(name, child);
                }
            }
        }
        None => {
            if let Some(child) = object.get(property) {
                push(property, child);
            }
        }
    }
    found
}

/// Whether `value` holds `pattern`: equal primitives, every pattern property held by the
/// value's, every pattern array item held by some value item.
fn matches_pattern(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(value), Value::Object(pattern)) => pattern.iter().all(|(key, expected)| {
            value
                .get(key)
                .is_some_and(|actual| matches_pattern(actual, expected))
        }),
        (Value::Array(values), Value::Array(patterns)) => patterns.iter().all(|expected| {
            values
                .iter()
                .any(|actual| matches_pattern(actual, expected))
        }),
        // A repeating element against a single pattern item.
        (Value::Array(values), expected) => values
            .iter()
            .any(|actual| matches_pattern(actual, expected)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (value, pattern) => value == pattern,
    }
}

/// The stored resources of `resource_type` whose `url` search matches `canonical`
/// (`url|version` supported by the search), parsed.
async fn by_canonical(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    canonical: &str,
) -> FhirResult<Vec<Value>> {
    let params = [("url".to_owned(), canonical.to_owned())];
    let query = SearchQuery::parse(resource_type, &params, true)?;
    let page = store.search(ctx, &query).await?;
    Ok(page
        .matches
        .iter()
        .filter_map(|stored| stored.json.as_deref())
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect())
}

/// The profile stored under `canonical` (a constraint StructureDefinition), with the stored
/// profiles it derives from (nearest first). `Ok(None)`: no such profile is stored.
pub async fn resolve(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    canonical: &str,
) -> FhirResult<Option<Vec<Profile>>> {
    let mut chain: Vec<Profile> = Vec::new();
    let mut next = Some(canonical.to_owned());
    while let Some(url) = next.take() {
        if chain.len() >= MAX_DEPTH || chain.iter().any(|profile| profile.url == url) {
            break;
        }
        let found = by_canonical(store, ctx, ResourceType::StructureDefinition, &url).await?;
        let Some(profile) = found
            .iter()
            .find_map(|definition| Profile::parse(definition).ok())
        else {
            break;
        };
        next.clone_from(&profile.base);
        chain.push(profile);
    }
    Ok((!chain.is_empty()).then_some(chain))
}

/// The value sets `profiles` bind to: stored ones (by canonical), else the R4 ones known
/// offline.
pub async fn value_sets(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    profiles: &[Profile],
) -> FhirResult<ValueSetLookup> {
    let mut lookup = ValueSetLookup::new();
    for url in profiles.iter().flat_map(Profile::value_sets) {
        if lookup.contains_key(&url) {
            continue;
        }
        let stored = by_canonical(store, ctx, ResourceType::ValueSet, &url).await?;
        let codes = match stored.first() {
            Some(value_set) => ValueSetCodes::of_value_set(value_set)
                .map_err(|why| format!("the stored value set: {why}")),
            None => {
                let plain = url.split('|').next().unwrap_or_default();
                ValueSetCodes::offline(plain).ok_or_else(|| {
                    "the value set is neither stored in the server nor known offline".to_owned()
                })
            }
        };
        lookup.insert(url, codes);
    }
    Ok(lookup)
}

/// The problems of `resource` against the stored profile `canonical` (and the stored
/// profiles it derives from). `Ok(None)`: no such profile is stored.
pub async fn check_against(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource: &Value,
    canonical: &str,
) -> FhirResult<Option<Vec<Issue>>> {
    let Some(chain) = resolve(store, ctx, canonical).await? else {
        return Ok(None);
    };
    let value_sets = value_sets(store, ctx, &chain).await?;
    Ok(Some(
        chain
            .iter()
            .flat_map(|profile| profile.check(resource, &value_sets))
            .collect(),
    ))
}

/// The canonicals of `resource`'s `meta.profile`.
pub fn declared_profiles(resource: &Value) -> Vec<String> {
    resource["meta"]["profile"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// A [`WriteHook`] refusing a create or update whose `meta.profile` names a profile stored in
/// the server that the resource does not conform to ([`FhirError::NotConformant`], 422). A
/// profile that is not stored is not checked (it may be published anywhere; refusing it would
/// refuse every resource tagged with an implementation guide this server was never given).
#[derive(Debug, Clone)]
pub struct ProfileCheck<S> {
    store: S,
}

impl<S: ResourceStore> ProfileCheck<S> {
    /// Looks profiles and value sets up in `store`.
    pub fn new(store: S) -> Self {
        ProfileCheck { store }
    }
}

#[async_trait]
impl<S: ResourceStore> WriteHook for ProfileCheck<S> {
    async fn before(
        &self,
        ctx: &RequestContext,
        op: &mut WriteOp,
        _earlier: &[WriteOp],
    ) -> FhirResult<()> {
        let resource = match op {
            WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => resource,
            WriteOp::Delete { .. } => return Ok(()),
        };
        let mut issues = Vec::new();
        for canonical in declared_profiles(resource) {
            if let Some(found) = check_against(&self.store, ctx, resource, &canonical).await? {
                issues.extend(found.into_iter().filter(|i| i.severity == Severity::Error));
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(FhirError::NotConformant { issues })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn profile(elements: Value) -> Profile {
        Profile::parse(
            &json!({"resourceType": "StructureDefinition", "url": "urn:p",
            "type": "Patient", "derivation": "constraint", "differential": {"element": elements}}),
        )
        .expect("parses")
    }

    fn expressions(issues: &[Issue]) -> Vec<(Severity, String)> {
        issues
            .iter()
            .map(|issue| (issue.severity, issue.expression.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn only_constraint_definitions_are_profiles() {
        let base = json!({"resourceType": "StructureDefinition", "url": "u", "type": "Patient",
            "derivation": "specialization", "differential": {"element": [{"id": "Patient"}]}});
        assert!(Profile::parse(&base).is_err());
        assert!(Profile::parse(&json!({"resourceType": "ValueSet"})).is_err());
    }

    #[test]
    fn extension_slices_are_told_by_url_and_identifier_slices_by_system() {
        let profile = profile(json!([
            {"id": "Patient.extension", "path": "Patient.extension",
                "slicing": {"rules": "open", "discriminator": [{"type": "value", "path": "url"}]}},
            {"id": "Patient.extension:race", "path": "Patient.extension", "sliceName": "race",
                "min": 1, "max": "1", "type": [{"code": "Extension", "profile": ["urn:race"]}]},
            {"id": "Patient.identifier", "path": "Patient.identifier",
                "slicing": {"rules": "open", "discriminator": [{"type": "value", "path": "system"}]}},
            {"id": "Patient.identifier:mrn", "path": "Patient.identifier", "sliceName": "mrn",
                "max": "1"},
            {"id": "Patient.identifier:mrn.system", "path": "Patient.identifier.system",
                "fixedUri": "urn:mrn"},
            {"id": "Patient.identifier:mrn.value", "path": "Patient.identifier.value", "min": 1},
            {"id": "Patient.photo", "path": "Patient.photo", "max": "0"},
        ]));
        let lookup = ValueSetLookup::new();
        let good = json!({"resourceType": "Patient",
            "extension": [{"url": "urn:other", "valueString": "x"},
                {"url": "urn:race", "valueString": "y"}],
            "identifier": [{"system": "urn:other"}, {"system": "urn:mrn", "value": "1"}]});
        assert_eq!(
            expressions(&profile.check(&good, &lookup)),
            vec![(Severity::Information, "Patient.extension:race".to_owned())]
        );
        let bad = json!({"resourceType": "Patient",
            "extension": [{"url": "urn:other", "valueString": "x"}],
            "identifier": [{"system": "urn:mrn"}, {"system": "urn:mrn", "value": "2"}],
            "photo": [{"contentType": "image/png"}]});
        assert_eq!(
            expressions(&profile.check(&bad, &lookup)),
            vec![
                (Severity::Error, "Patient.extension".to_owned()),
                (Severity::Error, "Patient.identifier".to_owned()),
                (Severity::Error, "Patient.identifier[0].value".to_owned()),
                (Severity::Error, "Patient.photo".to_owned()),
            ]
        );
        let other = json!({"resourceType": "Observation"});
        assert_eq!(profile.check(&other, &lookup).len(), 1);
    }

    #[test]
    fn patterns_hold_when_the_value_has_at_least_the_pattern() {
        let pattern = json!({"coding": [{"system": "s", "code": "c"}]});
        let value = json!({"coding": [{"system": "t", "code": "d"},
            {"system": "s", "code": "c", "display": "C"}], "text": "x"});
        assert!(matches_pattern(&value, &pattern));
        assert!(!matches_pattern(
            &json!({"coding": [{"system": "s"}]}),
            &pattern
        ));
        assert!(matches_pattern(&json!(1.0), &json!(1)));
    }

    #[test]
    fn value_sets_enumerate_expansions_and_listed_concepts_only() {
        let expanded = json!({"expansion": {"contains": [{"system": "s", "code": "a",
            "contains": [{"system": "s", "code": "b"}]}]}});
        let codes = ValueSetCodes::of_value_set(&expanded).expect("enumerable");
        assert!(codes.contains(Some("s"), "b") && codes.contains(None, "a"));
        assert!(!codes.contains(Some("t"), "a"));
        let listed = json!({"compose": {"include": [{"system": "s",
            "concept": [{"code": "a"}, {"code": "b"}]}],
            "exclude": [{"system": "s", "concept": [{"code": "b"}]}]}});
        let codes = ValueSetCodes::of_value_set(&listed).expect("enumerable");
        assert!(codes.contains(Some("s"), "a") && !codes.contains(None, "b"));
        let whole = json!({"compose": {"include": [{"system": "s"}]}});
        assert!(ValueSetCodes::of_value_set(&whole).is_err());
        assert!(
            ValueSetCodes::offline("http://hl7.org/fhir/ValueSet/administrative-gender").is_some()
        );
    }
}
