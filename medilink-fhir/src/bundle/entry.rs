//! Parsing of Bundle entries (`request.method`, `request.url`, `ifMatch`, `ifNoneExist`) and
//! the transaction's staging: conditional resolution, id assignment and reference rewriting.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::clock::IdGen;
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult, IssueCode};
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::patch::apply_json_patch;
use crate::store::{ResourceStore, StoredResource, WriteOp};

/// The HTTP verb of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// What an entry's `request.url` names.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// `Type` (create, search).
    Type(ResourceType),
    /// `Type/id`.
    Instance(ResourceType, ResourceId),
    /// `Type/id/_history/vid`.
    Version(ResourceType, ResourceId, VersionId),
    /// `Type?query` (conditional update/delete, search).
    Conditional(ResourceType, String),
    /// `metadata` (the CapabilityStatement; GET only).
    Metadata,
}

/// A parsed entry.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) full_url: Option<String>,
    pub(super) method: Method,
    pub(super) target: Target,
    pub(super) resource: Option<Value>,
    pub(super) if_match: Option<VersionId>,
    pub(super) if_none_exist: Option<String>,
}

fn invalid(path: &str, message: impl Into<String>) -> FhirError {
    FhirError::invalid(IssueCode::Invalid, Some(path.to_owned()), message)
}

/// Parses `W/"3"`, `"3"` or `3`.
pub(super) fn parse_etag(etag: &str) -> FhirResult<VersionId> {
    let bare = etag.trim().trim_start_matches("W/").trim_matches('"');
    bare.parse()
}

pub(super) fn parse_entry(entry: Value) -> FhirResult<Entry> {
    let Value::Object(mut entry) = entry else {
        return Err(invalid("Bundle.entry", "each entry must be an object"));
    };
    let request = entry
        .get("request")
        .ok_or_else(|| invalid("Bundle.entry.request", "each entry needs a request"))?;
    let method = match request.get("method").and_then(Value::as_str) {
        Some("GET") | Some("HEAD") => Method::Get,
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some("DELETE") => Method::Delete,
        _ => {
            return Err(invalid(
                "Bundle.entry.request.method",
                "unknown or missing request method",
            ));
        }
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Bundle.entry.request.url", "missing request url"))?;
    let target = match url.split('?').next().unwrap_or_default().trim_matches('/') {
        "metadata" if method == Method::Get => Target::Metadata,
        _ => parse_target(url)?,
    };
    let if_match = request
        .get("ifMatch")
        .and_then(Value::as_str)
        .map(parse_etag)
        .transpose()?;
    let if_none_exist = request
        .get("ifNoneExist")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let full_url = entry
        .get("fullUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let resource = entry.remove("resource");
    if matches!(method, Method::Post | Method::Put)
        && let Some(resource) = &resource
    {
        check_resource_matches_url(resource, &target)?;
    }
    Ok(Entry {
        full_url,
        method,
        target,
        resource,
        if_match,
        if_none_exist,
    })
}

/// A POST or PUT entry's resource must be of the type its `request.url` names, and a PUT to
/// `Type/id` must carry that id.
fn check_resource_matches_url(resource: &Value, target: &Target) -> FhirResult<()> {
    let url_type = match target {
        Target::Type(t) | Target::Instance(t, _) | Target::Conditional(t, _) => *t,
        Target::Version(t, _, _) => *t,
        Target::Metadata => return Ok(()),
    };
    let body_type = resource.get("resourceType").and_then(Value::as_str);
    if body_type != Some(url_type.as_str()) {
        return Err(FhirError::TypeMismatch {
            url: url_type,
            body: body_type.unwrap_or_default().chars().take(64).collect(),
        });
    }
    if let Target::Instance(_, id) = target {
        let body_id = resource.get("id").and_then(Value::as_str);
        if body_id != Some(id.as_str()) {
            return Err(FhirError::IdMismatch {
                url: id.to_string(),
                body: body_id.unwrap_or_default().chars().take(64).collect(),
            });
        }
    }
    Ok(())
}

/// Parses a relative (or absolute) request url into a [`Target`].
pub(super) fn parse_target(url: &str) -> FhirResult<Target> {
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let start = segments
        .iter()
        .position(|s| ResourceType::from_name(s).is_some())
        .ok_or_else(|| {
            invalid(
                "Bundle.entry.request.url",
                "the url names no known resource type",
            )
        })?;
    let resource_type: ResourceType = segments[start].parse()?;
    match (&segments[start + 1..], query) {
        ([], None) => Ok(Target::Type(resource_type)),
        ([], Some(query)) => Ok(Target::Conditional(resource_type, query.to_owned())),
        ([id], None) => Ok(Target::Instance(resource_type, id.parse()?)),
        ([id, "_history", version], None) => Ok(Target::Version(
            resource_type,
            id.parse()?,
            version.parse()?,
        )),
        _ => Err(invalid(
            "Bundle.entry.request.url",
            "unsupported request url form",
        )),
    }
}

pub(super) fn unsupported() -> FhirError {
    FhirError::Unsupported {
        feature: "this combination of request method and url in a bundle".to_owned(),
    }
}

impl Entry {
    /// The JSON Patch of a PATCH entry: a Binary with `application/json-patch+json` content.
    pub(super) fn patch_document(&self) -> FhirResult<Value> {
        let resource = self.resource.as_ref().ok_or_else(|| {
            invalid(
                "Bundle.entry.resource",
                "a PATCH entry needs a Binary holding a JSON Patch",
            )
        })?;
        let is_json_patch = resource.get("resourceType").and_then(Value::as_str) == Some("Binary")
            && resource.get("contentType").and_then(Value::as_str)
                == Some("application/json-patch+json");
        if !is_json_patch {
            return Err(FhirError::Unsupported {
                feature: "PATCH entries other than a Binary of application/json-patch+json"
                    .to_owned(),
            });
        }
        let data = resource
            .get("data")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| {
                invalid(
                    "Bundle.entry.resource.data",
                    "the patch is not valid base64",
                )
            })?;
        serde_json::from_slice(&bytes)
            .map_err(|_| invalid("Bundle.entry.resource.data", "the patch is not valid JSON"))
    }
}

/// Applies a JSON Patch to a stored resource.
pub(super) fn apply_patch(current: &StoredResource, patch: &Value) -> FhirResult<Value> {
    let text = current.json.as_deref().unwrap_or("{}");
    let resource: Value = serde_json::from_str(text).map_err(|err| FhirError::Internal {
        source: Box::new(err),
    })?;
    apply_json_patch(&resource, patch)
}

/// A transaction entry after staging.
pub(super) enum Staged {
    Write(WriteOp),
    Matched(StoredResource),
    Read(Entry),
    /// A conditional delete that matched nothing: nothing to write, reported as deleted.
    Nothing,
}

/// Resolves conditionals, assigns ids and records `fullUrl` → `Type/id` aliases.
pub(super) async fn stage(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ids: &dyn IdGen,
    entry: Entry,
    aliases: &mut HashMap<String, String>,
) -> FhirResult<Staged> {
    let mut alias = |full_url: &Option<String>, ty: ResourceType, id: &ResourceId| {
        if let Some(full_url) = full_url {
            aliases.insert(full_url.clone(), format!("{ty}/{id}"));
        }
    };
    let staged = match (entry.method, entry.target.clone()) {
        (Method::Post, Target::Type(ty)) => {
            if let Some(query) = &entry.if_none_exist
                && let Some(found) = super::resolve_one(store, ctx, ty, query, "create").await?
            {
                alias(&entry.full_url, ty, &found.id);
                return Ok(Staged::Matched(found));
            }
            let id = ResourceId::new(ids.new_id())?;
            alias(&entry.full_url, ty, &id);
            let resource = entry.resource.ok_or_else(super::missing_resource)?;
            Staged::Write(WriteOp::Create {
                resource,
                id: Some(id),
            })
        }
        (Method::Put, Target::Instance(ty, id)) => {
            alias(&entry.full_url, ty, &id);
            let resource = entry.resource.ok_or_else(super::missing_resource)?;
            Staged::Write(WriteOp::Update {
                resource_type: ty,
                id,
                resource,
                if_match: entry.if_match,
            })
        }
        (Method::Put, Target::Conditional(ty, query)) => {
            let mut resource = entry.resource.ok_or_else(super::missing_resource)?;
            let matched = super::resolve_one(store, ctx, ty, &query, "update").await?;
            let fresh = matched.is_none() && resource.get("id").is_none();
            let id = crate::conditional::update_target(ty, matched.as_ref(), &resource, || {
                ResourceId::new(ids.new_id())
            })?;
            alias(&entry.full_url, ty, &id);
            resource["id"] = Value::String(id.to_string());
            if fresh {
                // No match and no id in the body: a create with a server-assigned id.
                Staged::Write(WriteOp::Create {
                    resource,
                    id: Some(id),
                })
            } else {
                Staged::Write(WriteOp::Update {
                    resource_type: ty,
                    id,
                    resource,
                    if_match: entry.if_match,
                })
            }
        }
        (Method::Patch, Target::Instance(ty, id)) => {
            let patch = entry.patch_document()?;
            let current = store.read(ctx, ty, &id).await?;
            let patched = apply_patch(&current, &patch)?;
            alias(&entry.full_url, ty, &id);
            let if_match = entry.if_match.or(Some(current.version_id));
            Staged::Write(WriteOp::Update {
                resource_type: ty,
                id,
                resource: patched,
                if_match,
            })
        }
        (Method::Delete, Target::Instance(ty, id)) => Staged::Write(WriteOp::Delete {
            resource_type: ty,
            id,
            if_match: entry.if_match,
        }),
        (Method::Delete, Target::Conditional(ty, query)) => {
            match super::resolve_one(store, ctx, ty, &query, "delete").await? {
                Some(found) => Staged::Write(WriteOp::Delete {
                    resource_type: ty,
                    id: found.id,
                    if_match: None,
                }),
                None => Staged::Nothing,
            }
        }
        // Reads, searches and `metadata` run after the writes (R4 allows them in a
        // transaction; they see its result).
        (Method::Get, _) => Staged::Read(entry),
        _ => return Err(unsupported()),
    };
    Ok(staged)
}

/// Rewrites `Reference.reference` values: bundle `fullUrl`s and conditional references.
pub(super) struct ReferenceResolver<'a> {
    store: &'a dyn ResourceStore,
    ctx: &'a RequestContext,
    aliases: HashMap<String, String>,
}

impl<'a> ReferenceResolver<'a> {
    pub(super) fn new(
        store: &'a dyn ResourceStore,
        ctx: &'a RequestContext,
        aliases: HashMap<String, String>,
    ) -> Self {
        ReferenceResolver {
            store,
            ctx,
            aliases,
        }
    }

    /// Rewrites the references of `op`, the write of the entry whose `fullUrl` is `full_url`.
    pub(super) async fn rewrite_op(
        &mut self,
        op: &mut WriteOp,
        full_url: Option<&str>,
    ) -> FhirResult<()> {
        let resource = match op {
            WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } => resource,
            WriteOp::Delete { .. } => return Ok(()),
        };
        let mut references = Vec::new();
        collect_references(resource, &mut references);
        // Relative references of this entry that name another entry's `fullUrl` once resolved
        // against this entry's base (R4 Bundle "Resolving references in Bundles").
        let base = full_url.and_then(fhir_base);
        let mut relative: HashMap<String, String> = HashMap::new();
        for reference in references {
            if self.aliases.contains_key(&reference) {
                continue;
            }
            if let Some(base) = base
                && is_relative_instance(&reference)
                && let Some(target) = self.aliases.get(&format!("{base}/{reference}"))
            {
                relative.insert(reference, target.clone());
                continue;
            }
            if let Some((type_name, query)) = reference.split_once('?') {
                if let Some(ty) = ResourceType::from_name(type_name) {
                    let id = super::resolve_one(self.store, self.ctx, ty, query, "reference")
                        .await?
                        .ok_or_else(|| {
                            FhirError::unprocessable(format!(
                                "the conditional reference to {ty} matched no resource"
                            ))
                        })?
                        .id;
                    self.aliases.insert(reference.clone(), format!("{ty}/{id}"));
                }
            } else if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
                return Err(FhirError::unprocessable(
                    "a urn reference names no entry of this transaction",
                ));
            }
        }
        replace_references(resource, &self.aliases);
        replace_references(resource, &relative);
        Ok(())
    }
}

/// The base of an absolute `fullUrl` of the form `{base}/{Type}/{id}` (`None` for `urn:`
/// fullUrls and other forms).
fn fhir_base(full_url: &str) -> Option<&str> {
    if !(full_url.starts_with("http://") || full_url.starts_with("https://")) {
        return None;
    }
    let path = full_url.split(['?', '#']).next().unwrap_or(full_url);
    let (rest, id) = path.rsplit_once('/')?;
    let (base, type_name) = rest.rsplit_once('/')?;
    (ResourceType::from_name(type_name).is_some() && ResourceId::is_valid(id)).then_some(base)
}

/// `Type/id` (optionally `/_history/v`): a relative literal reference.
fn is_relative_instance(reference: &str) -> bool {
    let segments: Vec<&str> = reference.split('/').collect();
    match segments.as_slice() {
        [type_name, id] | [type_name, id, "_history", _] => {
            ResourceType::from_name(type_name).is_some() && ResourceId::is_valid(id)
        }
        _ => false,
    }
}

fn collect_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("reference", Value::String(reference)) => out.push(reference.clone()),
                    _ => collect_references(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}

fn replace_references(value: &mut Value, aliases: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if let ("reference", Value::String(reference)) = (key.as_str(), &mut *child) {
                    if let Some(target) = aliases.get(reference.as_str()) {
                        *reference = target.clone();
                    }
                } else {
                    replace_references(child, aliases);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_references(item, aliases)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_urls_parse_into_targets() {
        assert!(matches!(
            parse_target("Patient"),
            Ok(Target::Type(ResourceType::Patient))
        ));
        assert!(matches!(
            parse_target("Patient/1"),
            Ok(Target::Instance(ResourceType::Patient, _))
        ));
        assert!(matches!(
            parse_target("/Patient/1/_history/2"),
            Ok(Target::Version(_, _, VersionId(2)))
        ));
        assert!(matches!(
            parse_target("http://x/fhir/R4/Patient?identifier=a|b"),
            Ok(Target::Conditional(_, _))
        ));
        assert!(parse_target("Nope/1").is_err());
        assert!(parse_target("Patient/bad id").is_err());
    }

    #[test]
    fn etags_parse_weak_and_bare() {
        assert_eq!(parse_etag("W/\"3\"").unwrap(), VersionId(3));
        assert_eq!(parse_etag("3").unwrap(), VersionId(3));
        assert!(parse_etag("W/\"x\"").is_err());
    }

    #[test]
    fn absolute_full_urls_give_the_base_of_relative_references() {
        assert_eq!(
            fhir_base("http://example.com/fhir/Patient/0"),
            Some("http://example.com/fhir")
        );
        assert_eq!(fhir_base("urn:uuid:1"), None);
        assert_eq!(fhir_base("http://example.com/fhir/Nope/0"), None);
        assert!(is_relative_instance("Patient/0"));
        assert!(!is_relative_instance("http://x/Patient/0"));
        assert!(!is_relative_instance("Patient?identifier=a"));
    }

    #[test]
    fn references_are_rewritten_in_nested_elements() {
        let mut resource = json!({"subject": {"reference": "urn:uuid:1"},
            "part": [{"x": {"reference": "urn:uuid:2"}}], "reference": "keep"});
        let aliases = HashMap::from([
            ("urn:uuid:1".to_owned(), "Patient/a".to_owned()),
            ("urn:uuid:2".to_owned(), "Encounter/b".to_owned()),
        ]);
        replace_references(&mut resource, &aliases);
        assert_eq!(resource["subject"]["reference"], "Patient/a");
        assert_eq!(resource["part"][0]["x"]["reference"], "Encounter/b");
        assert_eq!(resource["reference"], "keep");
    }
}
