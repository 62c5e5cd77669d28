//! Conditional interactions through search: conditional create (`If-None-Exist`), conditional
//! update (`PUT [type]?criteria`), conditional delete (`DELETE [type]?criteria`) and
//! conditional references (`Type?criteria` inside a transaction).
//!
//! The criteria are parsed strictly ([`SearchQuery::parse`] with `strict = true`: an unknown
//! parameter is a 400, never silently ignored, because ignoring a criterion widens the match),
//! run through [`ResourceStore::search`] with `_count=2` and `_total=none`, and the spec's
//! 0 / 1 / many rule is applied; many is [`FhirError::MultipleMatches`] (412).

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult};
use crate::model::{ResourceId, ResourceType};
use crate::search::limits::{MAX_CONDITIONAL_CRITERIA, exceeded};
use crate::search::{SearchQuery, TotalMode};
use crate::store::{ResourceStore, StoredResource, WriteOutcome};

/// What a conditional create did.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// Nothing matched: the resource was created.
    Created(StoredResource),
    /// Exactly one resource matched: nothing was written.
    Existing(StoredResource),
}

impl CreateOutcome {
    /// The stored resource and whether it was created.
    pub fn into_parts(self) -> (StoredResource, bool) {
        match self {
            CreateOutcome::Created(stored) => (stored, true),
            CreateOutcome::Existing(stored) => (stored, false),
        }
    }
}

/// Splits a URL query string (`a=1&b=x%7Cy`) into decoded `(name, value)` pairs, keeping order
/// and repeats. `+` decodes to a space, as in form encoding.
pub fn parse_query_string(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Parses conditional criteria strictly; criteria that select nothing in particular (no
/// parameter at all) or that need the full-text index are refused.
pub fn parse_criteria(
    resource_type: ResourceType,
    params: &[(String, String)],
) -> FhirResult<SearchQuery> {
    if params.len() > MAX_CONDITIONAL_CRITERIA {
        return Err(exceeded(
            "the number of criteria of a conditional operation",
            MAX_CONDITIONAL_CRITERIA,
            format!("{} criteria were given", params.len()),
        ));
    }
    let mut query = SearchQuery::parse(resource_type, params, true)?;
    if query.text.is_some() || query.content.is_some() {
        return Err(FhirError::Unsupported {
            feature: "_text or _content in conditional criteria".to_owned(),
        });
    }
    if query.criteria.is_empty() {
        return Err(FhirError::bad_request(
            "conditional criteria need at least one search parameter",
        ));
    }
    query.count = 2;
    query.total = TotalMode::None;
    query.cursor = None;
    query.includes.clear();
    query.revincludes.clear();
    query.sort.clear();
    Ok(query)
}

/// The resource the criteria select: `None` for no match, the match for exactly one, and
/// [`FhirError::MultipleMatches`] for more. `operation` names the interaction in that error.
pub async fn resolve(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    params: &[(String, String)],
    operation: &'static str,
) -> FhirResult<Option<StoredResource>> {
    let query = parse_criteria(resource_type, params)?;
    let page = store.search(ctx, &query).await?;
    let count = page.matches.len();
    let first = page.matches.into_iter().next();
    match count {
        0 | 1 => Ok(first),
        matches => Err(FhirError::MultipleMatches {
            resource_type,
            operation,
            matches,
        }),
    }
}

/// Conditional create: creates `resource` unless the criteria match. One match returns it
/// (nothing written); several are [`FhirError::MultipleMatches`].
pub async fn create(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    criteria: &[(String, String)],
    resource: Value,
) -> FhirResult<CreateOutcome> {
    match resolve(store, ctx, resource_type, criteria, "create").await? {
        Some(existing) => Ok(CreateOutcome::Existing(existing)),
        None => Ok(CreateOutcome::Created(store.create(ctx, resource).await?)),
    }
}

/// `POST [base]/{type}`: a plain create without `criteria`, with them (`If-None-Exist`) a
/// conditional [`create`].
pub async fn create_unless_exists(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    criteria: Option<&[(String, String)]>,
    resource: Value,
) -> FhirResult<CreateOutcome> {
    match criteria {
        Some(criteria) => create(store, ctx, resource_type, criteria, resource).await,
        None => Ok(CreateOutcome::Created(store.create(ctx, resource).await?)),
    }
}

/// The id a conditional update writes to: the match's id (a different id in the body is a
/// 400), or on no match the body's id (update as create) or `new_id()`.
pub fn update_target(
    resource_type: ResourceType,
    matched: Option<&StoredResource>,
    resource: &Value,
    new_id: impl FnOnce() -> FhirResult<ResourceId>,
) -> FhirResult<ResourceId> {
    let body_id = resource.get("id").and_then(Value::as_str);
    match (matched, body_id) {
        (Some(found), Some(body)) if body != found.id.as_str() => Err(FhirError::IdMismatch {
            url: format!("{resource_type}/{}", found.id),
            body: body.chars().take(64).collect(),
        }),
        (Some(found), _) => Ok(found.id.clone()),
        (None, Some(body)) => ResourceId::new(body),
        (None, None) => new_id(),
    }
}

/// Conditional update: no match creates (with the body's id, or a server-assigned one), one
/// match is updated, several are [`FhirError::MultipleMatches`].
pub async fn update(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    criteria: &[(String, String)],
    mut resource: Value,
    if_match: Option<crate::model::VersionId>,
) -> FhirResult<WriteOutcome> {
    let matched = resolve(store, ctx, resource_type, criteria, "update").await?;
    if matched.is_none() && resource.get("id").is_none() {
        let stored = store.create(ctx, resource).await?;
        return Ok(WriteOutcome {
            stored,
            created: true,
        });
    }
    let id = update_target(resource_type, matched.as_ref(), &resource, || {
        Err(FhirError::bad_request("invariant: an id is present"))
    })?;
    resource["id"] = Value::String(id.to_string());
    store
        .update(ctx, resource_type, &id, resource, if_match)
        .await
}

/// Conditional delete: no match deletes nothing (`None`), one match is deleted, several are
/// [`FhirError::MultipleMatches`].
pub async fn delete(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: ResourceType,
    criteria: &[(String, String)],
) -> FhirResult<Option<WriteOutcome>> {
    match resolve(store, ctx, resource_type, criteria, "delete").await? {
        Some(found) => store.delete(ctx, resource_type, &found.id, None).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_strings_decode_in_order_with_repeats() {
        assert_eq!(
            parse_query_string("?identifier=http%3A%2F%2Fx%7C1&_id=a&_id=b+c&flag"),
            vec![
                ("identifier".to_owned(), "http://x|1".to_owned()),
                ("_id".to_owned(), "a".to_owned()),
                ("_id".to_owned(), "b c".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn criteria_are_strict_and_not_empty() {
        let params = parse_query_string("nonsense=1");
        assert!(parse_criteria(ResourceType::Patient, &params).is_err());
        assert!(parse_criteria(ResourceType::Patient, &[]).is_err());
        let query = parse_criteria(
            ResourceType::Patient,
            &parse_query_string("identifier=urn:x|1&_count=50"),
        )
        .expect("valid");
        assert_eq!(query.count, 2);
        assert_eq!(query.total, TotalMode::None);
        assert_eq!(query.criteria.len(), 1);
    }

    #[test]
    fn update_targets_follow_the_match() {
        let none = || Ok(ResourceId::new("fresh").expect("id"));
        let target = update_target(ResourceType::Patient, None, &json!({}), none).expect("id");
        assert_eq!(target.as_str(), "fresh");
        let body = json!({"id": "mine"});
        let target = update_target(ResourceType::Patient, None, &body, none).expect("id");
        assert_eq!(target.as_str(), "mine");
    }
}
