//! A SMART app's granular scopes in the guard (issue #17): `patient/Observation.rs?category=…`
//! limits the app to resources of those categories — planned into a search as a `category`
//! criterion of the search restriction, which the planner applies to the searched type and
//! at every chain and `_has` hop into it (so totals and paging count only those, and no
//! criterion can test an excluded resource), and checked on every single resource the guard
//! decides on (reads, includes, history, subscription notifications).

use medilink_fhir::search::{Criterion, Modifier, SearchValue, TokenValue, registry};
use medilink_fhir::{FhirError, FhirResult, ResourceType, StoredResource};
use medilink_platform::Caller;
use medilink_platform::smart::scopes::Category;
use serde_json::Value;

/// The `category` criterion a search of `resource_type` gets from the caller's app (`None`:
/// no granular scope limits it). A type without a `category` parameter cannot be limited by
/// one: forbidden.
pub(super) fn category_criterion(
    principal: &Caller,
    resource_type: ResourceType,
) -> FhirResult<Option<Criterion>> {
    let Some(categories) = principal
        .app()
        .and_then(|app| app.categories(resource_type))
    else {
        return Ok(None);
    };
    let Some(param) = registry().param(resource_type, "category") else {
        return Err(FhirError::Forbidden {
            reason: "the app's scopes do not allow this",
        });
    };
    let values = categories
        .into_iter()
        .map(|Category { system, code }| {
            SearchValue::Token(TokenValue {
                system: system.map(Some),
                code: Some(code),
            })
        })
        .collect();
    Ok(Some(Criterion::Param {
        param: param.clone(),
        modifier: Modifier::None,
        values,
    }))
}

/// The criteria a search restriction applies to every resource of `resource_type` the query
/// reaches — the searched type and every chain and `_has` hop into it: the caller's app's
/// category criterion; a type its granular scopes limit that has no `category` parameter
/// matches nothing.
pub(super) fn hop_criteria(principal: &Caller, resource_type: ResourceType) -> Vec<Criterion> {
    match category_criterion(principal, resource_type) {
        Ok(None) => Vec::new(),
        Ok(Some(criterion)) => vec![criterion],
        Err(_) => vec![Criterion::Ids(Vec::new())],
    }
}

/// Whether the caller's app may see `stored` by its categories (always, without a granular
/// scope for its type).
pub(super) fn category_allows(principal: &Caller, stored: &StoredResource) -> bool {
    let Some(categories) = principal
        .app()
        .and_then(|app| app.categories(stored.resource_type))
    else {
        return true;
    };
    let Some(resource) = stored
        .json
        .as_deref()
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
    else {
        return false;
    };
    let codings = resource["category"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&resource["category"]))
        .flat_map(|concept| concept["coding"].as_array().into_iter().flatten());
    codings.into_iter().any(|coding| {
        coding["code"].as_str().is_some_and(|code| {
            categories
                .iter()
                .any(|category| category.matches(coding["system"].as_str(), code))
        })
    })
}
