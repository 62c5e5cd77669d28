//! FHIR `history` at instance, type and system level: `GET [base]/{type}/{id}/_history`,
//! `GET [base]/{type}/_history`, `GET [base]/_history`, with `_since`, `_at`, `_count` and
//! cursor paging (`_cursor`, carried by the `next` link).

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use medilink_fhir::clock::format_instant;
use medilink_fhir::{
    FhirError, HistoryPage, HistoryQuery, HistoryScope, IssueCode, StoredResource,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::{Base, InstancePath, TypePath};
use crate::fhir::response::{FhirResponse, etag};
use crate::state::AppState;

/// Page size when `_count` is absent.
const DEFAULT_COUNT: usize = 50;
/// Largest page size.
const MAX_COUNT: usize = 1000;
/// The paging cursor parameter of `next` links.
const CURSOR: &str = "_cursor";

/// The query parameters of a history request, validated.
#[derive(Debug, Clone)]
pub(crate) struct HistoryParams {
    since: Option<OffsetDateTime>,
    at: Option<OffsetDateTime>,
    count: usize,
    before_seq: Option<u64>,
    /// The request path below the FHIR base, e.g. `/Patient/_history`.
    path: String,
    /// Every query parameter except the cursor, for the paging links.
    pairs: Vec<(String, String)>,
}

impl HistoryParams {
    fn query(&self, scope: HistoryScope) -> HistoryQuery {
        HistoryQuery {
            scope,
            since: self.since,
            at: self.at,
            count: self.count.max(1),
            before_seq: self.before_seq,
        }
    }

    fn link(&self, base: &str, cursor: Option<u64>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(&self.pairs);
        if let Some(cursor) = cursor {
            query.append_pair(CURSOR, &cursor.to_string());
        }
        let query = query.finish();
        match query.is_empty() {
            true => format!("{base}{}", self.path),
            false => format!("{base}{}?{query}", self.path),
        }
    }
}

/// Parses a FHIR `instant` or `dateTime` (a partial date means its first instant, UTC).
fn parse_instant(name: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            IssueCode::Value,
            format!("{name} must be a FHIR instant or dateTime, e.g. 2024-01-31T10:00:00Z"),
        )
    };
    if value.contains('T') {
        return OffsetDateTime::parse(value, &Rfc3339).map_err(|_| invalid());
    }
    let parts: Vec<&str> = value.split('-').collect();
    let digits = |text: &str, len: usize| -> Option<u32> {
        (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())?
    };
    let (year, month, day) = match parts.as_slice() {
        [y] => (digits(y, 4), Some(1), Some(1)),
        [y, m] => (digits(y, 4), digits(m, 2), Some(1)),
        [y, m, d] => (digits(y, 4), digits(m, 2), digits(d, 2)),
        _ => return Err(invalid()),
    };
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return Err(invalid());
    };
    let month = time::Month::try_from(u8::try_from(month).map_err(|_| invalid())?)
        .map_err(|_| invalid())?;
    let date =
        time::Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| invalid())?;
    Ok(date.midnight().assume_utc())
}

impl<S: Send + Sync> FromRequestParts<S> for HistoryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path();
        let mut params = HistoryParams {
            since: None,
            at: None,
            count: DEFAULT_COUNT,
            before_seq: None,
            path: path.strip_prefix("/fhir/R4").unwrap_or(path).to_owned(),
            pairs: Vec::new(),
        };
        let query = parts.uri.query().unwrap_or_default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "_since" => params.since = Some(parse_instant("_since", &value)?),
                "_at" => params.at = Some(parse_instant("_at", &value)?),
                "_count" => {
                    let count: usize = value.parse().map_err(|_| {
                        ApiError::bad_request(
                            IssueCode::Value,
                            "_count must be a non-negative integer",
                        )
                    })?;
                    params.count = count.min(MAX_COUNT);
                }
                CURSOR => {
                    let cursor = value.parse().map_err(|_| {
                        ApiError::bad_request(
                            IssueCode::Value,
                            "_cursor must come from a next link",
                        )
                    })?;
                    params.before_seq = Some(cursor);
                    continue;
                }
                _ => {}
            }
            params.pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(params)
    }
}

/// `GET [base]/{type}/{id}/_history`.
pub(crate) async fn instance_history(
    State(app): State<AppState>,
    caller: RequestCaller,
    base: Base,
    InstancePath(resource_type, id): InstancePath,
    params: HistoryParams,
) -> Result<FhirResponse, ApiError> {
    history(
        app,
        caller,
        base,
        HistoryScope::Instance(resource_type, id),
        params,
    )
    .await
}

/// `GET [base]/{type}/_history`.
pub(crate) async fn type_history(
    State(app): State<AppState>,
    caller: RequestCaller,
    base: Base,
    TypePath(resource_type): TypePath,
    params: HistoryParams,
) -> Result<FhirResponse, ApiError> {
    history(app, caller, base, HistoryScope::Type(resource_type), params).await
}

/// `GET [base]/_history`.
pub(crate) async fn system_history(
    State(app): State<AppState>,
    caller: RequestCaller,
    base: Base,
    params: HistoryParams,
) -> Result<FhirResponse, ApiError> {
    history(app, caller, base, HistoryScope::System, params).await
}

async fn history(
    app: AppState,
    caller: RequestCaller,
    Base(base): Base,
    scope: HistoryScope,
    params: HistoryParams,
) -> Result<FhirResponse, ApiError> {
    let query = params.query(scope);
    let page = app.store.history(caller.context(), &query).await?;
    if let HistoryScope::Instance(resource_type, id) = &query.scope {
        let unfiltered =
            params.since.is_none() && params.at.is_none() && params.before_seq.is_none();
        if page.total == 0 && unfiltered {
            let (resource_type, id) = (*resource_type, id.clone());
            return Err(FhirError::NotFound { resource_type, id }.into());
        }
    }
    let bundle = render(&base, &params, page, app.ids.new_id())?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// The history Bundle of one page.
fn render(
    base: &str,
    params: &HistoryParams,
    page: HistoryPage,
    id: String,
) -> Result<Value, FhirError> {
    let mut links = vec![json!({"relation": "self", "url": params.link(base, params.before_seq)})];
    if let Some(next) = page.next_before_seq.filter(|_| params.count > 0) {
        links.push(json!({"relation": "next", "url": params.link(base, Some(next))}));
    }
    let entries = match params.count {
        0 => Vec::new(),
        _ => page
            .entries
            .iter()
            .map(|stored| entry(base, stored))
            .collect::<Result<_, _>>()?,
    };
    Ok(json!({
        "resourceType": "Bundle",
        "id": id,
        "type": "history",
        "total": page.total,
        "link": links,
        "entry": entries,
    }))
}

fn entry(base: &str, stored: &StoredResource) -> Result<Value, FhirError> {
    let mut entry = Map::new();
    entry.insert(
        "fullUrl".into(),
        json!(format!("{base}/{}", stored.reference())),
    );
    if let Some(text) = &stored.json {
        let resource: Value = serde_json::from_str(text).map_err(|err| FhirError::Internal {
            source: Box::new(err),
        })?;
        entry.insert("resource".into(), resource);
    }
    let (url, status) = match stored.method() {
        "POST" => (stored.resource_type.to_string(), "201 Created"),
        "DELETE" => (stored.reference(), "204 No Content"),
        _ => (stored.reference(), "200 OK"),
    };
    entry.insert(
        "request".into(),
        json!({"method": stored.method(), "url": url}),
    );
    entry.insert(
        "response".into(),
        json!({
            "status": status,
            "etag": etag(stored.version_id),
            "lastModified": format_instant(stored.last_updated),
        }),
    );
    Ok(Value::Object(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_partial_dates_parse() {
        let full = parse_instant("_since", "2024-01-31T10:00:00.5+01:00").ok();
        assert_eq!(
            full,
            Some(time::macros::datetime!(2024-01-31 09:00:00.5 UTC))
        );
        let day = parse_instant("_since", "2024-02-29").ok();
        assert_eq!(day, Some(time::macros::datetime!(2024-02-29 0:00 UTC)));
        let year = parse_instant("_since", "2023").ok();
        assert_eq!(year, Some(time::macros::datetime!(2023-01-01 0:00 UTC)));
        for bad in [
            "yesterday",
            "2024-13",
            "2023-02-29",
            "2024-01-01T10:00",
            "24",
            "",
        ] {
            assert!(parse_instant("_at", bad).is_err(), "{bad}");
        }
    }
}
