//! [`FhirAccess`]: the read use cases that combine the consent-guarded store with the
//! full-text index — a type search with `_text`/`_content` ([`FhirAccess::search`]), the
//! cross-resource full text of `/api/search` ([`FhirAccess::search_everywhere`]), a search
//! across types by the common parameters ([`FhirAccess::search_types`]) and a
//! patient's `$everything` ([`FhirAccess::everything`]).
//!
//! There is one full-text orchestration, [`FhirAccess::full_text`]: the index is caught up
//! with the store's change feed first (so the caller's own writes are found), then asked for
//! at most [`FULLTEXT_LIMIT`] hits, best first. The index only proposes candidates `Type/id`;
//! they always go through the guarded store's search as a [`Criterion::Ids`] criterion, so the
//! guard's restriction is part of the query and nothing the caller may not see is returned or
//! counted.

use std::collections::{HashMap, HashSet};

use medilink_fhir::clock::to_micros;
use medilink_fhir::fulltext::{FullTextHit, FullTextQuery, SearchIndex, catch_up};
use medilink_fhir::search::compartment::patient_compartment_params;
use medilink_fhir::search::normalize::date_range;
use medilink_fhir::search::query::MAX_COUNT;
use medilink_fhir::search::{Criterion, SearchPage, SearchQuery, Summary, TotalMode};
use medilink_fhir::{
    FhirError, FhirResult, Issue, IssueCode, RequestContext, ResourceId, ResourceStore,
    ResourceType, Severity, StoredResource,
};
use serde::Serialize;
use serde_json::Value;

use crate::guard::ConsentGuard;

/// Full-text hits taken from the index at most, for every full-text use case: a type search
/// with `_text`/`_content` (which then says so in a warning) and `/api/search` (whose `total`
/// counts the permitted matches among them).
pub const FULLTEXT_LIMIT: usize = 10_000;

/// Most resources one `$everything` result holds (the patient included).
pub const EVERYTHING_LIMIT: usize = 5000;

/// Default and largest number of results of [`FhirAccess::search_everywhere`].
pub const DEFAULT_TEXT_RESULTS: usize = 20;
/// See [`DEFAULT_TEXT_RESULTS`].
pub const MAX_TEXT_RESULTS: usize = 100;

/// Reads through the consent guard, with the full-text index beside it.
#[derive(Debug, Clone, Copy)]
pub struct FhirAccess<'a, S> {
    store: &'a ConsentGuard<S>,
    index: &'a dyn SearchIndex,
}

/// The hits of one full-text query.
#[derive(Debug, Clone, Default)]
pub struct FullTextHits {
    /// Best first, at most [`FULLTEXT_LIMIT`].
    pub hits: Vec<FullTextHit>,
    /// Whether the limit cut the list (there may be more matches).
    pub truncated: bool,
}

/// One result of [`FhirAccess::search_everywhere`] (its JSON form is the `/api/search` item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextMatch {
    /// The resource's type.
    #[serde(rename = "resourceType", serialize_with = "type_name")]
    pub resource_type: ResourceType,
    /// The resource's id.
    pub id: String,
    /// A short label: a name, a code's text or a title, when the resource has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

fn type_name<S: serde::Serializer>(ty: &ResourceType, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(ty.as_str())
}

/// The answer of [`FhirAccess::search_everywhere`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TextMatches {
    /// The best matches the caller may see, best first.
    pub results: Vec<TextMatch>,
    /// How many of the best [`FULLTEXT_LIMIT`] candidates the caller may see.
    pub total: usize,
}

/// A patient and their Patient compartment, as the caller may see them.
#[derive(Debug, Clone)]
pub struct Everything {
    /// The patient first, then each compartment type's resources in type order (live
    /// versions only), at most [`EVERYTHING_LIMIT`] in all.
    pub resources: Vec<StoredResource>,
    /// Whether [`EVERYTHING_LIMIT`] cut the compartment short.
    pub capped: bool,
}

impl Everything {
    /// The warning a capped result carries.
    pub fn warning(&self) -> Option<Issue> {
        self.capped.then(|| Issue {
            severity: Severity::Warning,
            code: IssueCode::TooLong,
            expression: None,
            diagnostics: format!(
                "only the first {EVERYTHING_LIMIT} resources of the compartment are returned"
            ),
        })
    }
}

/// Where a page of [`FhirAccess::search_types`] starts: the index of a type in the searched
/// list and that type's own paging cursor. Its text form is `{index}.{cursor}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypesCursor {
    /// The index of the type in the list searched.
    pub type_index: usize,
    /// The type's own cursor (`None`: its first page).
    pub cursor: Option<String>,
}

impl TypesCursor {
    /// The cursor's text form.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.type_index,
            self.cursor.as_deref().unwrap_or("")
        )
    }

    /// Parses [`Self::encode`]'s form; `None` when it is not one.
    pub fn decode(text: &str) -> Option<TypesCursor> {
        let (index, cursor) = text.split_once('.')?;
        Some(TypesCursor {
            type_index: index.parse().ok()?,
            cursor: Some(cursor.to_owned()).filter(|cursor| !cursor.is_empty()),
        })
    }
}

/// The R4 `$everything` parameters that narrow the result (issue #18).
#[derive(Debug, Clone, Default)]
pub struct EverythingFilter {
    /// `_since`: only resources last updated at or after this FHIR instant.
    pub since: Option<String>,
    /// `_type`: only resources of these types (empty: every type).
    pub types: Vec<ResourceType>,
}

impl EverythingFilter {
    /// Whether `stored` was last updated at or after `_since` (or there is none).
    fn admits(&self, stored: &StoredResource) -> bool {
        let since = self.since.as_deref().and_then(date_range);
        since.is_none_or(|range| to_micros(stored.last_updated) >= range.low)
    }

    /// The search criteria of `_since` (as `_lastUpdated=ge…`).
    fn criteria(&self) -> Vec<(String, String)> {
        self.since
            .iter()
            .map(|since| ("_lastUpdated".to_owned(), format!("ge{since}")))
            .collect()
    }
}

impl<'a, S: ResourceStore + 'static> FhirAccess<'a, S> {
    /// Reads through `store`, with `index` following its change feed.
    pub fn new(store: &'a ConsentGuard<S>, index: &'a dyn SearchIndex) -> Self {
        FhirAccess { store, index }
    }

    /// The full-text orchestration: catches the index up with the store's change feed, then
    /// returns the best [`FULLTEXT_LIMIT`] hits of `text` (`_text`) and `content` (`_content`)
    /// among `resource_types` (empty: all). Candidates only: consent is applied by the search
    /// they are handed to.
    pub async fn full_text(
        &self,
        text: Option<String>,
        content: Option<String>,
        resource_types: Vec<ResourceType>,
    ) -> FhirResult<FullTextHits> {
        catch_up(self.store, self.index).await?;
        let hits = self
            .index
            .query(&FullTextQuery {
                text,
                content,
                resource_types,
                limit: FULLTEXT_LIMIT,
            })
            .await?;
        let truncated = hits.len() >= FULLTEXT_LIMIT;
        Ok(FullTextHits { hits, truncated })
    }

    /// A type search (`GET [base]/{type}?…`): `_summary=count` asks for the total only;
    /// `_text`/`_content` are answered by [`Self::full_text`] first, whose hits become an `_id`
    /// criterion, and the guarded store's search applies every other parameter, sorting and
    /// paging. Returns the page and extra warnings for the Bundle's outcome entry.
    pub async fn search(
        &self,
        ctx: &RequestContext,
        mut query: SearchQuery,
    ) -> FhirResult<(SearchPage, Vec<Issue>)> {
        let mut notes = Vec::new();
        if query.summary == Summary::Count {
            query.count = 0;
            if query.total == TotalMode::None {
                query.total = TotalMode::Accurate;
            }
        }
        if let Some(list) = query.list.take() {
            match self.list_members(ctx, &list, query.resource_type).await? {
                Some(ids) if !ids.is_empty() => query.criteria.push(Criterion::Ids(ids)),
                _ => {
                    let total = (query.total != TotalMode::None).then_some(0);
                    let page = SearchPage {
                        total,
                        ..SearchPage::default()
                    };
                    return Ok((page, notes));
                }
            }
        }
        if query.text.is_some() || query.content.is_some() {
            let (text, content) = (query.text.take(), query.content.take());
            let found = self
                .full_text(text, content, vec![query.resource_type])
                .await?;
            if found.truncated {
                notes.push(Issue {
                    severity: Severity::Warning,
                    code: IssueCode::TooLong,
                    expression: None,
                    diagnostics: format!(
                        "only the best {FULLTEXT_LIMIT} full-text matches are used"
                    ),
                });
            }
            if found.hits.is_empty() {
                let total = (query.total != TotalMode::None).then_some(0);
                let page = SearchPage {
                    total,
                    ..SearchPage::default()
                };
                return Ok((page, notes));
            }
            let ids = found
                .hits
                .into_iter()
                .map(|hit| hit.id.to_string())
                .collect();
            query.criteria.push(Criterion::Ids(ids));
        }
        let page = self.store.search(ctx, &query).await?;
        Ok((page, notes))
    }

    /// `_list` (issue #18): the ids of the entries of `List/{list}` of `resource_type`, the
    /// List read through the guard; `None` when the caller may not see it (or it does not
    /// exist), so a hidden List and a missing one both match nothing. The members are then
    /// searched through the guard too: a List never reveals an entry the caller may not see.
    async fn list_members(
        &self,
        ctx: &RequestContext,
        list: &str,
        resource_type: ResourceType,
    ) -> FhirResult<Option<Vec<String>>> {
        let id = ResourceId::new(list.to_owned())?;
        let stored = match self.store.read(ctx, ResourceType::List, &id).await {
            Ok(stored) => stored,
            Err(
                FhirError::NotFound { .. } | FhirError::Gone { .. } | FhirError::Forbidden { .. },
            ) => return Ok(None),
            Err(err) => return Err(err),
        };
        let resource: Value = match stored.json.as_deref().map(serde_json::from_str) {
            Some(Ok(resource)) => resource,
            _ => return Ok(None),
        };
        let prefix = format!("{resource_type}/");
        let ids = resource["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["deleted"] != Value::Bool(true))
            .filter_map(|entry| entry["item"]["reference"].as_str())
            .filter_map(|reference| reference.strip_prefix(&prefix))
            .filter(|id| ResourceId::is_valid(id))
            .map(str::to_owned)
            .collect();
        Ok(Some(ids))
    }

    /// A system-level search (`GET [base]?…`, issue #18): `criteria` (parameters every type
    /// has) searched with [`Self::search`] in each of `types` in turn, from `from` on, until
    /// `count` matches. Returns them and where the next page starts (`None`: no more).
    pub async fn search_types(
        &self,
        ctx: &RequestContext,
        types: &[ResourceType],
        criteria: &[(String, String)],
        count: usize,
        from: TypesCursor,
    ) -> FhirResult<(Vec<StoredResource>, Option<TypesCursor>)> {
        let mut matches = Vec::new();
        let mut cursor = from.cursor;
        for (index, resource_type) in types.iter().enumerate().skip(from.type_index) {
            let remaining = count.saturating_sub(matches.len());
            if remaining == 0 {
                let next = TypesCursor {
                    type_index: index,
                    cursor: None,
                };
                return Ok((matches, Some(next)));
            }
            let mut query = SearchQuery::parse(*resource_type, criteria, true)?;
            query.count = remaining;
            query.cursor = cursor.take();
            query.total = TotalMode::None;
            let (page, _) = self.search(ctx, query).await?;
            matches.extend(page.matches);
            if let Some(next) = page.next_cursor {
                let next = TypesCursor {
                    type_index: index,
                    cursor: Some(next),
                };
                return Ok((matches, Some(next)));
            }
        }
        Ok((matches, None))
    }

    /// Cross-resource full text (`/api/search`): the candidates of `q` (every type), each
    /// type's candidates searched through the guard (types the caller's role never sees
    /// contribute nothing), then ranked by the index's order. `total` counts the permitted
    /// matches among the best [`FULLTEXT_LIMIT`] candidates; `results` holds the best `limit`
    /// of them (clamped to 1..=[`MAX_TEXT_RESULTS`]).
    pub async fn search_everywhere(
        &self,
        ctx: &RequestContext,
        q: &str,
        limit: usize,
    ) -> FhirResult<TextMatches> {
        let limit = limit.clamp(1, MAX_TEXT_RESULTS);
        let hits = self
            .full_text(None, Some(q.to_owned()), Vec::new())
            .await?
            .hits;
        let mut by_type: HashMap<ResourceType, Vec<String>> = HashMap::new();
        for hit in &hits {
            by_type
                .entry(hit.resource_type)
                .or_default()
                .push(hit.id.as_str().to_owned());
        }
        let mut permitted = HashMap::new();
        for (resource_type, ids) in by_type {
            self.permitted(ctx, resource_type, &ids, &mut permitted)
                .await?;
        }
        Ok(rank(&hits, &permitted, limit))
    }

    /// Adds the resources among `ids` of `resource_type` that the caller may see to
    /// `permitted`; nothing when the role never sees the type.
    async fn permitted(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        ids: &[String],
        permitted: &mut HashMap<(ResourceType, String), StoredResource>,
    ) -> FhirResult<()> {
        for chunk in ids.chunks(MAX_COUNT) {
            let mut query = SearchQuery::parse(resource_type, &[], false)?;
            query.criteria.push(Criterion::Ids(chunk.to_vec()));
            query.count = MAX_COUNT;
            let page = match self.store.search(ctx, &query).await {
                Ok(page) => page,
                // The role never sees this type: it contributes nothing.
                Err(FhirError::Forbidden { .. }) => return Ok(()),
                Err(err) => return Err(err),
            };
            for stored in page.matches {
                permitted.insert((resource_type, stored.id.as_str().to_owned()), stored);
            }
        }
        Ok(())
    }

    /// `Patient/{id}/$everything`: the patient (one the caller may not see is not found,
    /// exactly like a missing one), then each compartment type searched with
    /// [`Criterion::PatientCompartment`] of that one patient, to which the guard adds the
    /// caller's own restriction; at most [`EVERYTHING_LIMIT`] resources.
    pub async fn everything(
        &self,
        ctx: &RequestContext,
        id: &ResourceId,
    ) -> FhirResult<Everything> {
        let all = EverythingFilter::default();
        self.everything_up_to(ctx, id, &all, EVERYTHING_LIMIT).await
    }

    /// [`Self::everything`] narrowed by `filter` (`_since`, `_type`).
    pub async fn everything_filtered(
        &self,
        ctx: &RequestContext,
        id: &ResourceId,
        filter: &EverythingFilter,
    ) -> FhirResult<Everything> {
        self.everything_up_to(ctx, id, filter, EVERYTHING_LIMIT)
            .await
    }

    /// [`Self::everything_filtered`] with at most `limit` resources.
    async fn everything_up_to(
        &self,
        ctx: &RequestContext,
        id: &ResourceId,
        filter: &EverythingFilter,
        limit: usize,
    ) -> FhirResult<Everything> {
        let patient = self.store.read(ctx, ResourceType::Patient, id).await?;
        let since = filter.criteria();
        let mut everything = Everything {
            resources: Vec::new(),
            capped: false,
        };
        let wanted =
            |resource_type| filter.types.is_empty() || filter.types.contains(&resource_type);
        if wanted(ResourceType::Patient) && filter.admits(&patient) {
            everything.resources.extend(live(patient));
        }
        for resource_type in ResourceType::ALL {
            if resource_type == ResourceType::Patient
                || patient_compartment_params(resource_type).is_empty()
                || !wanted(resource_type)
            {
                continue;
            }
            let mut query = SearchQuery::parse(resource_type, &since, true)?;
            query
                .criteria
                .push(Criterion::PatientCompartment(vec![id.as_str().to_owned()]));
            query.count = MAX_COUNT;
            if !self
                .compartment_type(ctx, query, limit, &mut everything)
                .await?
            {
                break;
            }
        }
        Ok(everything)
    }

    /// Adds every page of `query` to `everything`; `false` once it holds `limit` resources.
    /// A type the caller may not search at all (its role, a SMART app's scopes) adds nothing.
    async fn compartment_type(
        &self,
        ctx: &RequestContext,
        mut query: SearchQuery,
        limit: usize,
        everything: &mut Everything,
    ) -> FhirResult<bool> {
        loop {
            let page = match self.store.search(ctx, &query).await {
                Ok(page) => page,
                Err(FhirError::Forbidden { .. }) if query.cursor.is_none() => return Ok(true),
                Err(err) => return Err(err),
            };
            for stored in page.matches {
                if everything.resources.len() >= limit {
                    everything.capped = true;
                    return Ok(false);
                }
                everything.resources.extend(live(stored));
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok(true),
            }
        }
    }
}

/// The version if it is not a deletion.
fn live(stored: StoredResource) -> Option<StoredResource> {
    (!stored.is_deleted()).then_some(stored)
}

/// The permitted hits in the index's order, without repeats, the best `limit` of them.
fn rank(
    hits: &[FullTextHit],
    permitted: &HashMap<(ResourceType, String), StoredResource>,
    limit: usize,
) -> TextMatches {
    let mut seen = HashSet::new();
    let mut results = Vec::new();
    for hit in hits {
        let key = (hit.resource_type, hit.id.as_str().to_owned());
        if results.len() >= limit || seen.contains(&key) {
            continue;
        }
        let Some(stored) = permitted.get(&key) else {
            continue;
        };
        let resource: Option<Value> = stored
            .json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok());
        results.push(TextMatch {
            resource_type: hit.resource_type,
            id: hit.id.as_str().to_owned(),
            display: resource.as_ref().and_then(display),
        });
        seen.insert(key);
    }
    TextMatches {
        results,
        total: permitted.len(),
    }
}

/// A short label for a result: a name, a code's text, or nothing.
fn display(resource: &Value) -> Option<String> {
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(name) = resource["name"].as_array().and_then(|names| names.first()) {
        if let Some(text) = text(&name["text"]) {
            return Some(text);
        }
        let mut parts: Vec<String> = name["given"]
            .as_array()
            .map(|given| given.iter().filter_map(text).collect())
            .unwrap_or_default();
        parts.extend(text(&name["family"]));
        if !parts.is_empty() {
            return Some(parts.join(" "));
        }
    }
    text(&resource["name"])
        .or_else(|| text(&resource["code"]["text"]))
        .or_else(|| text(&resource["code"]["coding"][0]["display"]))
        .or_else(|| text(&resource["title"]))
}

#[cfg(test)]
mod tests;
