//! FHIR `search-type`: `GET [base]/{type}?params` and `POST [base]/{type}/_search` (form body),
//! rendered as a `searchset` Bundle; and the conditional interactions that select their
//! target by search: create with `If-None-Exist`, `PUT [base]/{type}?criteria` and
//! `DELETE [base]/{type}?criteria` (the 0/1/many rules live in [`medilink_fhir::conditional`]).
//!
//! The search itself is [`FhirAccess::search`]: `_text` and `_content` are answered by the
//! full-text index first (caught up so that the caller's own writes are visible), its hits
//! become an `_id` criterion, and the guarded store's search applies every other parameter,
//! sorting and paging. This module parses the request and renders the Bundle; [`entry`] and
//! [`outcome_entry`] are the Bundle entries of every `searchset` (also `$everything`).

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use medilink_consent::FhirAccess;
use medilink_consent::fhir_access::TypesCursor;
use medilink_fhir::conditional;
use medilink_fhir::search::compartment::{COMPARTMENTS, compartment_params};
use medilink_fhir::search::shape::shape;
use medilink_fhir::search::{Criterion, SearchPage, SearchQuery, Summary};
use medilink_fhir::{
    ErrorKind, FhirError, FhirResult, Issue, IssueCode, RequestContext, ResourceId, ResourceType,
    StoredResource,
};
use serde_json::{Map, Value, json};

use crate::context::RequestCaller;
use crate::error::{ApiError, information, operation_outcome};
use crate::fhir::extract::{Base, FhirJson, IfMatch, InstancePath, ResourceBody, TypePath};
use crate::fhir::response::{FhirResponse, Prefer, ReturnPreference};
use crate::state::AppState;

/// The paging cursor parameter.
const CURSOR: &str = "_cursor";

/// The parameters of a search request: the URL query (and for `POST _search` the form body
/// after it), decoded, in order, repeats kept; `_format` and `_pretty` removed. `strict` is
/// `Prefer: handling=strict`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchParams {
    pub(crate) pairs: Vec<(String, String)>,
    pub(crate) strict: bool,
}

fn decode_pairs(text: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(text)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .filter(|(name, _)| name != "_format" && name != "_pretty")
}

/// Whether `Prefer` asks for `handling=strict`.
fn strict_handling(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split([',', ';']))
        .any(|token| token.trim().eq_ignore_ascii_case("handling=strict"))
}

impl<S: Send + Sync> FromRequest<S> for SearchParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let strict = strict_handling(request.headers());
        let query = request.uri().query().unwrap_or_default().to_owned();
        let mut pairs: Vec<(String, String)> = decode_pairs(query.as_bytes()).collect();
        if request.method() == axum::http::Method::POST {
            let form = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .is_some_and(|media| {
                    media
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                });
            if !form {
                return Err(ApiError::unsupported_media_type(
                    "_search parameters must be sent as application/x-www-form-urlencoded",
                ));
            }
            let body = Bytes::from_request(request, state).await.map_err(|_| {
                ApiError::bad_request(IssueCode::Structure, "the request body could not be read")
            })?;
            pairs.extend(decode_pairs(&body));
        }
        Ok(SearchParams { pairs, strict })
    }
}

/// `GET [base]/{type}` and `POST [base]/{type}/_search`: a `searchset` Bundle.
pub(crate) async fn search(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    TypePath(resource_type): TypePath,
    params: SearchParams,
) -> Result<FhirResponse, ApiError> {
    let (pairs, strict) = (&params.pairs, params.strict);
    // Issue #21: the shipped subscription topics, as the Backport IG serves them in R4.
    if resource_type == ResourceType::Basic
        && medilink_consent::subscriptions::topics::asks_for_topics(pairs)
    {
        let bundle = super::subscriptions::topics_searchset(&app, &base);
        return Ok(FhirResponse::json(StatusCode::OK, bundle));
    }
    let bundle = searchset(&app, caller.context(), &base, resource_type, pairs, strict).await?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// The `searchset` Bundle of a search of `resource_type` (also of a search entry of a batch or
/// transaction).
pub(crate) async fn searchset(
    app: &AppState,
    ctx: &RequestContext,
    base: &str,
    resource_type: ResourceType,
    pairs: &[(String, String)],
    strict: bool,
) -> Result<Value, ApiError> {
    let query = SearchQuery::parse(resource_type, pairs, strict)?;
    let links = Links::new(base, resource_type, pairs).used_by(&query);
    run(app, ctx, base, query, &links).await
}

async fn run(
    app: &AppState,
    ctx: &RequestContext,
    base: &str,
    query: SearchQuery,
    links: &Links,
) -> Result<Value, ApiError> {
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let (page, notes) = access.search(ctx, query.clone()).await?;
    Ok(render(base, links, &query, page, notes, app.ids.new_id())?)
}

/// The parameters a system-level search takes: those every resource type has, the page size,
/// the paging cursor and `_type`.
const SYSTEM_PARAMS: [&str; 11] = [
    "_id",
    "_list",
    "_lastUpdated",
    "_tag",
    "_profile",
    "_security",
    "_text",
    "_content",
    "_type",
    "_count",
    CURSOR,
];

/// `GET [base]?params`: a search across every type (or those `_type` lists) by the
/// parameters common to all resources, through the consent guard type by type
/// ([`FhirAccess::search_types`]), in pages of at most `_count` matches linked by `next`.
pub(crate) async fn system_search(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    params: SearchParams,
) -> Result<FhirResponse, ApiError> {
    let (types, criteria, probe) = system_query(&params)?;
    let count = probe.count.max(1);
    let from = system_cursor(probe.cursor.as_deref())?;
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let found = access.search_types(caller.context(), &types, &criteria, count, from);
    let (matches, next) = found.await?;
    let page = SearchPage {
        matches,
        next_cursor: next.map(|next| next.encode()),
        ..SearchPage::default()
    };
    let mut links = Links::new(&base, ResourceType::Patient, &params.pairs);
    links.path.clone_from(&base);
    let bundle = render(&base, &links, &probe, page, Vec::new(), app.ids.new_id())?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// The start of a system search page: its `_cursor` (none: the first page).
fn system_cursor(cursor: Option<&str>) -> Result<TypesCursor, ApiError> {
    match cursor {
        None => Ok(TypesCursor::default()),
        Some(text) => TypesCursor::decode(text).ok_or_else(|| {
            ApiError::bad_request(IssueCode::Invalid, "_cursor is not a cursor of this search")
        }),
    }
}

/// A system search's types, per-type criteria and parsed parameters (for `_count`).
type SystemQuery = (Vec<ResourceType>, Vec<(String, String)>, SearchQuery);

/// The [`SystemQuery`] of a system search's parameters; parameters other than
/// [`SYSTEM_PARAMS`] are refused.
fn system_query(params: &SearchParams) -> Result<SystemQuery, ApiError> {
    if let Some((name, _)) = params
        .pairs
        .iter()
        .find(|(name, _)| !SYSTEM_PARAMS.contains(&name.as_str()))
    {
        let name: String = name.chars().take(64).collect();
        return Err(ApiError::bad_request(
            IssueCode::NotSupported,
            format!(
                "a search across all types takes {} only, not {name}",
                SYSTEM_PARAMS.join(", ")
            ),
        ));
    }
    let mut types = Vec::new();
    for (_, value) in params.pairs.iter().filter(|(name, _)| name == "_type") {
        for name in value.split(',').map(str::trim) {
            types.push(
                ResourceType::from_name(name)
                    .ok_or_else(|| ApiError::unknown_resource_type(name))?,
            );
        }
    }
    if types.is_empty() {
        // Every type but `Subscription`, which its owner reads at its own endpoint only
        // (issue #21: its endpoint and headers may hold secrets; generic paths never show it).
        types = ResourceType::ALL
            .iter()
            .copied()
            .filter(|resource_type| *resource_type != ResourceType::Subscription)
            .collect();
    }
    let criteria: Vec<(String, String)> = params
        .pairs
        .iter()
        .filter(|(name, _)| !["_type", "_count", CURSOR].contains(&name.as_str()))
        .cloned()
        .collect();
    let probe = SearchQuery::parse(ResourceType::Patient, &params.pairs_without_type(), true)?;
    Ok((types, criteria, probe))
}

impl SearchParams {
    /// The parameters without `_type` (which a per-type query does not take).
    fn pairs_without_type(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(name, _)| name != "_type")
            .cloned()
            .collect()
    }
}

/// `{compartment}/{id}/{type}` of a compartment search: the compartment's type, its id and the
/// searched type.
pub(crate) struct CompartmentPath(ResourceType, ResourceId, ResourceType);

impl<S: Send + Sync> FromRequestParts<S> for CompartmentPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let InstancePath(compartment, id) = InstancePath::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(IssueCode::Value, rejection.body_text()))?;
        let name = params
            .iter()
            .find(|(name, _)| *name == "target")
            .map(|(_, value)| value)
            .unwrap_or_default();
        let target =
            ResourceType::from_name(name).ok_or_else(|| ApiError::unknown_resource_type(name))?;
        if !COMPARTMENTS.contains(&compartment) {
            return Err(ApiError::with_kind(
                ErrorKind::NotFound,
                IssueCode::NotSupported,
                "compartment searches are supported in the Patient, Encounter, RelatedPerson, \
                 Practitioner and Device compartments only",
            ));
        }
        if target == compartment || compartment_params(compartment, target).is_empty() {
            return Err(ApiError::bad_request(
                IssueCode::NotSupported,
                format!("{target} is not in the {compartment} compartment"),
            ));
        }
        Ok(CompartmentPath(compartment, id, target))
    }
}

/// `GET [base]/{compartment}/{id}/{type}?params` (`Patient/{id}/Observation`,
/// `Encounter/{id}/Observation`, …): the resources of `type` in that resource's compartment
/// (the official R4 CompartmentDefinition's parameters) that match `params`, searched through
/// the consent guard like `GET [base]/{type}?params`.
pub(crate) async fn compartment(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    CompartmentPath(compartment, id, resource_type): CompartmentPath,
    params: SearchParams,
) -> Result<FhirResponse, ApiError> {
    let mut query = SearchQuery::parse(resource_type, &params.pairs, params.strict)?;
    query
        .criteria
        .push(if compartment == ResourceType::Patient {
            Criterion::PatientCompartment(vec![id.as_str().to_owned()])
        } else {
            Criterion::Compartment {
                compartment,
                id: id.as_str().to_owned(),
            }
        });
    let mut links = Links::new(&base, resource_type, &params.pairs).used_by(&query);
    links.path = format!("{base}/{compartment}/{id}/{resource_type}");
    let bundle = run(&app, caller.context(), &base, query, &links).await?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// The parameters of a query string, decoded, in order (`_format` and `_pretty` removed).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    criteria(Some(query))
}

/// The Bundle links of one search: the request as received, and the same parameters with
/// another cursor.
struct Links {
    path: String,
    /// Every parameter but the cursor, in request order.
    pairs: Vec<(String, String)>,
    /// The cursor of this request.
    cursor: Option<String>,
}

impl Links {
    fn new(base: &str, resource_type: ResourceType, pairs: &[(String, String)]) -> Links {
        Links {
            path: format!("{base}/{resource_type}"),
            pairs: pairs
                .iter()
                .filter(|(name, _)| name != CURSOR)
                .cloned()
                .collect(),
            cursor: pairs
                .iter()
                .rev()
                .find(|(name, _)| name == CURSOR)
                .map(|(_, value)| value.clone()),
        }
    }

    /// The links without the parameters `query` ignored (lenient handling, issue #18): the
    /// `self` link shows the search actually run, so a client sees a filter was dropped.
    fn used_by(mut self, query: &SearchQuery) -> Links {
        let ignored: Vec<&str> = (query.ignored.iter())
            .filter_map(|issue| issue.expression.as_deref())
            .collect();
        self.pairs
            .retain(|(name, _)| !ignored.contains(&name.as_str()));
        self
    }

    fn url(&self, cursor: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(&self.pairs);
        if let Some(cursor) = cursor {
            query.append_pair(CURSOR, cursor);
        }
        let query = query.finish();
        match query.is_empty() {
            true => self.path.clone(),
            false => format!("{}?{query}", self.path),
        }
    }
}

/// The resource of a stored version, parsed; `None` for a deletion.
pub(crate) fn parse_stored(stored: &StoredResource) -> FhirResult<Option<Value>> {
    stored
        .json
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|err| FhirError::Internal {
            source: Box::new(err),
        })
}

/// A `searchset` entry: `fullUrl`, the resource and its search mode (`match`, `include`).
pub(crate) fn entry(base: &str, stored: &StoredResource, resource: Value, mode: &str) -> Value {
    json!({
        "fullUrl": format!("{base}/{}", stored.reference()),
        "resource": resource,
        "search": {"mode": mode},
    })
}

/// The `outcome` entry of a `searchset` carrying `issues` (warnings).
pub(crate) fn outcome_entry(issues: &[Issue]) -> Value {
    json!({
        "resource": operation_outcome(issues),
        "search": {"mode": "outcome"},
    })
}

/// The `searchset` Bundle of one page.
fn render(
    base: &str,
    links: &Links,
    query: &SearchQuery,
    page: SearchPage,
    notes: Vec<Issue>,
    id: String,
) -> FhirResult<Value> {
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), json!("Bundle"));
    bundle.insert("id".into(), json!(id));
    bundle.insert("type".into(), json!("searchset"));
    if let Some(total) = page.total {
        bundle.insert("total".into(), json!(total));
    }
    let mut link = vec![json!({"relation": "self", "url": links.url(links.cursor.as_deref())})];
    if query.summary != Summary::Count {
        if let Some(next) = &page.next_cursor {
            link.push(json!({"relation": "next", "url": links.url(Some(next))}));
        }
        if let Some(previous) = &page.previous_cursor {
            link.push(json!({"relation": "previous", "url": links.url(Some(previous))}));
        }
    }
    bundle.insert("link".into(), Value::Array(link));
    let mut entries = Vec::new();
    if query.summary != Summary::Count {
        for stored in &page.matches {
            if let Some(mut resource) = parse_stored(stored)? {
                shape(&mut resource, query.summary, &query.elements);
                entries.push(entry(base, stored, resource, "match"));
            }
        }
        for stored in &page.includes {
            if let Some(mut resource) = parse_stored(stored)? {
                // Issue #18: _summary and _elements shape included resources too.
                shape(&mut resource, query.summary, &query.elements);
                entries.push(entry(base, stored, resource, "include"));
            }
        }
        let mut warnings = query.ignored.clone();
        for warning in page.warnings.into_iter().chain(notes) {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        if !warnings.is_empty() {
            entries.push(outcome_entry(&warnings));
        }
    }
    if !entries.is_empty() {
        bundle.insert("entry".into(), Value::Array(entries));
    }
    Ok(Value::Object(bundle))
}

/// The raw criteria of a conditional request: its URL query, decoded.
fn criteria(request_query: Option<&str>) -> Vec<(String, String)> {
    decode_pairs(request_query.unwrap_or_default().as_bytes()).collect()
}

/// `{type}?criteria` of a conditional update or delete.
pub(crate) struct ConditionalTarget(ResourceType, Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for ConditionalTarget {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let TypePath(resource_type) = TypePath::from_request_parts(parts, state).await?;
        Ok(ConditionalTarget(
            resource_type,
            criteria(parts.uri.query()),
        ))
    }
}

/// The criteria of a conditional create: `If-None-Exist`, or (issue #18) the URL's query
/// string (`POST Patient?identifier=…`, as some clients send), never silently ignored; both
/// with different criteria are refused. `None`: a plain create.
pub(crate) struct CreateCriteria(Option<Vec<(String, String)>>);

impl<S: Send + Sync> FromRequestParts<S> for CreateCriteria {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let header = match parts.headers.get("if-none-exist") {
            None => None,
            Some(value) => Some(criteria(Some(value.to_str().map_err(|_| {
                ApiError::bad_request(IssueCode::Value, "If-None-Exist must be a query string")
            })?))),
        };
        let url = Some(criteria(parts.uri.query())).filter(|pairs| !pairs.is_empty());
        match (header, url) {
            (Some(header), Some(url)) if header != url => Err(ApiError::bad_request(
                IssueCode::Invalid,
                "the query string and If-None-Exist name different conditions",
            )),
            (header, url) => Ok(CreateCriteria(header.or(url))),
        }
    }
}

/// `POST [base]/{type}`: creates with a server-assigned id (a body id is ignored; `201`), or,
/// with criteria ([`CreateCriteria`]), conditionally (no match: `201`; one match: `200` with
/// it and nothing written; several: `412`).
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    TypePath(resource_type): TypePath,
    CreateCriteria(criteria): CreateCriteria,
    ResourceBody(body): ResourceBody,
) -> Result<FhirResponse, ApiError> {
    crate::fhir::extract::expect_type(&body, resource_type)?;
    let ctx = caller.context();
    let outcome = conditional::create_unless_exists(
        &app.store,
        ctx,
        resource_type,
        criteria.as_deref(),
        body,
    );
    let (stored, created) = outcome.await?.into_parts();
    let prefer = prefer.or(ReturnPreference::Representation);
    Ok(FhirResponse::written(stored, created, prefer, &base))
}

/// `PUT [base]/{type}?criteria`: no match creates (`201`), one match is updated (`200`),
/// several are `412`.
pub(crate) async fn conditional_update(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    if_match: IfMatch,
    ConditionalTarget(resource_type, criteria): ConditionalTarget,
    FhirJson(body): FhirJson,
) -> Result<FhirResponse, ApiError> {
    let if_match = if_match.one_version()?;
    crate::fhir::extract::expect_type(&body, resource_type)?;
    let ctx = caller.context();
    let outcome = conditional::update(&app.store, ctx, resource_type, &criteria, body, if_match);
    let outcome = outcome.await?;
    let prefer = prefer.or(ReturnPreference::Representation);
    let (stored, created) = (outcome.stored, outcome.created);
    Ok(FhirResponse::written(stored, created, prefer, &base))
}

/// `DELETE [base]/{type}?criteria`: no match is `204`, one match is deleted (`200`), several
/// are `412`.
pub(crate) async fn conditional_delete(
    State(app): State<AppState>,
    caller: RequestCaller,
    ConditionalTarget(resource_type, criteria): ConditionalTarget,
) -> Result<FhirResponse, ApiError> {
    let store = &app.store;
    let deleted = conditional::delete(store, caller.context(), resource_type, &criteria).await?;
    Ok(match deleted {
        Some(outcome) => {
            let message = format!("deleted {}", outcome.stored.reference());
            FhirResponse::json(StatusCode::OK, information(message)).versioned(&outcome.stored)
        }
        None => FhirResponse::no_content(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_order_and_repeats_and_swap_the_cursor() {
        let pairs = vec![
            ("_id".to_owned(), "a".to_owned()),
            ("_cursor".to_owned(), "c1".to_owned()),
            ("_id".to_owned(), "b|c".to_owned()),
        ];
        let links = Links::new("http://h/fhir/R4", ResourceType::Patient, &pairs);
        assert_eq!(
            links.url(links.cursor.as_deref()),
            "http://h/fhir/R4/Patient?_id=a&_id=b%7Cc&_cursor=c1"
        );
        assert_eq!(
            links.url(Some("c2")),
            "http://h/fhir/R4/Patient?_id=a&_id=b%7Cc&_cursor=c2"
        );
        assert_eq!(
            Links::new("http://h/fhir/R4", ResourceType::Patient, &[]).url(None),
            "http://h/fhir/R4/Patient"
        );
    }

    #[test]
    fn decoding_strips_format_and_keeps_repeats() {
        let pairs: Vec<_> =
            decode_pairs(b"_id=a&_format=json&_id=b&name=J%C3%B6+x&_pretty=true").collect();
        assert_eq!(
            pairs,
            vec![
                ("_id".to_owned(), "a".to_owned()),
                ("_id".to_owned(), "b".to_owned()),
                ("name".to_owned(), "Jö x".to_owned()),
            ]
        );
    }

    #[test]
    fn prefer_handling_strict_is_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!strict_handling(&headers));
        headers.insert(
            "prefer",
            "return=minimal, handling=strict".parse().expect("value"),
        );
        assert!(strict_handling(&headers));
        headers.insert("prefer", "handling=lenient".parse().expect("value"));
        assert!(!strict_handling(&headers));
    }
}
