//! `/fhir/R4/Subscription` (issue #21, Subscriptions R5 Backport IG on R4): create, read,
//! update, delete and list the caller's own subscriptions, `$status`, `$events`,
//! `$get-ws-binding-token`, and the websocket at `/fhir/R4/$subscription-ws` where a client
//! binds with `bind-with-token <token>`. The work is `medilink_consent::subscriptions`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use medilink_consent::subscriptions::Owned;
use medilink_consent::subscriptions::spec::Content;
use medilink_fhir::IssueCode;
use medilink_fhir::clock::format_instant;
use serde_json::{Value, json};

use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::{Base, FhirJson, IfMatch, Origin};
use crate::fhir::response::{FhirResponse, Prefer, ReturnPreference};
use crate::state::AppState;

mod socket;

/// `POST [base]/Subscription`: `201` with the stored subscription (status `active`).
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    FhirJson(body): FhirJson,
) -> Result<FhirResponse, ApiError> {
    let owned = app
        .subscriptions
        .create(caller.context(), &base, body)
        .await?;
    let prefer = prefer.or(ReturnPreference::Representation);
    Ok(FhirResponse::written(owned.stored, true, prefer, &base))
}

/// `GET [base]/Subscription`: the caller's own subscriptions, a `searchset`, narrowed by the
/// search parameters the Backport IG's R4 server statement asks for: `url` (the channel's
/// endpoint, exact), `status` and `_id` (each a comma-separated list of alternatives, repeated
/// parameters all apply). Other parameters are ignored, as FHIR's lenient handling allows.
pub(crate) async fn list(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    RawQuery(query): RawQuery,
) -> Result<FhirResponse, ApiError> {
    let filters = ListFilters::parse(query.as_deref());
    let owned = app.subscriptions.list(caller.context()).await?;
    let entry: Vec<Value> = owned
        .iter()
        .map(|owned| entry(&base, owned))
        .filter(|entry| filters.matches(&entry["resource"]))
        .collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "id": app.ids.new_id(),
        "type": "searchset",
        "timestamp": format_instant(app.clock.now()),
        "total": entry.len(),
        "entry": entry,
    });
    Ok(FhirResponse::json(axum::http::StatusCode::OK, bundle))
}

/// The search parameters of `GET [base]/Subscription`: per parameter, the alternatives of
/// each occurrence (all occurrences must match, one alternative of each).
#[derive(Debug, Default)]
struct ListFilters {
    url: Vec<Vec<String>>,
    status: Vec<Vec<String>>,
    id: Vec<Vec<String>>,
}

impl ListFilters {
    fn parse(query: Option<&str>) -> Self {
        let mut filters = ListFilters::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let target = match name.as_ref() {
                "url" => &mut filters.url,
                "status" => &mut filters.status,
                "_id" => &mut filters.id,
                _ => continue,
            };
            // A uri is compared whole (it may hold commas); tokens are comma-separated.
            let alternatives = if name == "url" {
                vec![value.into_owned()]
            } else {
                value.split(',').map(str::to_owned).collect()
            };
            target.push(alternatives);
        }
        filters
    }

    fn matches(&self, resource: &Value) -> bool {
        let field = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let all = |occurrences: &[Vec<String>], actual: String| {
            occurrences
                .iter()
                .all(|alternatives| alternatives.contains(&actual))
        };
        all(&self.url, field(&resource["channel"]["endpoint"]))
            && all(&self.status, field(&resource["status"]))
            && all(&self.id, field(&resource["id"]))
    }
}

fn entry(base: &str, owned: &Owned) -> Value {
    let resource: Value = owned
        .stored
        .json
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    json!({
        "fullUrl": format!("{base}/Subscription/{}", owned.stored.id),
        "resource": resource,
        "search": {"mode": "match"},
    })
}

/// `GET [base]/Subscription/{id}`: the caller's own (another's is `404`).
pub(crate) async fn read(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<FhirResponse, ApiError> {
    let owned = app.subscriptions.read(caller.context(), &id).await?;
    Ok(FhirResponse::resource(owned.stored))
}

/// `PUT [base]/Subscription/{id}`: replaces the caller's own (`If-Match` honoured).
pub(crate) async fn update(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    if_match: IfMatch,
    Path(id): Path<String>,
    FhirJson(body): FhirJson,
) -> Result<FhirResponse, ApiError> {
    let version = if_match.one_version()?;
    let owned = app
        .subscriptions
        .update(caller.context(), &id, body, version)
        .await?;
    let prefer = prefer.or(ReturnPreference::Representation);
    Ok(FhirResponse::written(owned.stored, false, prefer, &base))
}

/// `DELETE [base]/Subscription/{id}`: `204`; its events go with it.
pub(crate) async fn delete(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<FhirResponse, ApiError> {
    app.subscriptions.delete(caller.context(), &id).await?;
    Ok(FhirResponse::no_content())
}

/// `GET [base]/Subscription/{id}/$status`: a `searchset` with the status `Parameters`.
pub(crate) async fn status(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<FhirResponse, ApiError> {
    let bundle = app.subscriptions.status(caller.context(), &id).await?;
    Ok(FhirResponse::json(axum::http::StatusCode::OK, bundle))
}

/// The parameters of `$events`: `eventsSinceNumber`, `eventsUntilNumber`, `content`.
type EventsQuery = (Option<u64>, Option<u64>, Option<Content>);

/// Parses the query of `$events` (`400` for a bad number or content code).
fn events_query(query: Option<&str>) -> Result<EventsQuery, ApiError> {
    let mut parsed = (None, None, None);
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let number = || {
            value.parse::<u64>().map(Some).map_err(|_| {
                ApiError::bad_request(IssueCode::Value, format!("{name} is an event number"))
            })
        };
        match name.as_ref() {
            "eventsSinceNumber" => parsed.0 = number()?,
            "eventsUntilNumber" => parsed.1 = number()?,
            "content" => {
                parsed.2 = Some(Content::parse(&value).ok_or_else(|| {
                    ApiError::bad_request(
                        IssueCode::Value,
                        "content is empty, id-only or full-resource",
                    )
                })?);
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// `GET [base]/Subscription/{id}/$events`: the events numbered in a range, each decided
/// for the caller now, as a `history` notification Bundle (`query-event`).
pub(crate) async fn events(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<FhirResponse, ApiError> {
    let (since, until, content) = events_query(query.as_deref())?;
    let bundle = app
        .subscriptions
        .events(caller.context(), &id, since, until, content)
        .await?;
    Ok(FhirResponse::json(axum::http::StatusCode::OK, bundle))
}

/// `GET [base]/Subscription/{id}/$get-ws-binding-token`: a `Parameters` with the token, its
/// expiration, the subscription and the websocket URL.
pub(crate) async fn ws_token(
    State(app): State<AppState>,
    caller: RequestCaller,
    Origin(origin): Origin,
    Path(id): Path<String>,
) -> Result<FhirResponse, ApiError> {
    let (token, expires) = app.subscriptions.ws_token(caller.context(), &id).await?;
    let socket = origin.replacen("http", "ws", 1);
    let parameters = json!({"resourceType": "Parameters", "parameter": [
        {"name": "token", "valueString": token},
        {"name": "expiration", "valueDateTime": format_instant(expires)},
        {"name": "subscription", "valueString": id},
        {"name": "websocket-url", "valueUrl": format!("{socket}/fhir/R4/$subscription-ws")},
    ]});
    Ok(FhirResponse::json(axum::http::StatusCode::OK, parameters))
}

/// `GET [base]/$subscription-ws`: the websocket (public: the binding token is the
/// credential); a request that is not a websocket upgrade is a `400`.
pub(crate) async fn websocket(
    State(app): State<AppState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::bad_request(IssueCode::NotSupported, "this is a websocket endpoint")
    })?;
    let subscriptions = app.subscriptions.clone();
    let notices = app.notifications.store().clone();
    Ok(upgrade
        .on_upgrade(move |socket: WebSocket| socket::serve(subscriptions, notices, socket))
        .into_response())
}

/// The shipped subscription topics as a `searchset` of `Basic` resources (the answer of
/// `GET [base]/Basic?code=SubscriptionTopic`).
pub(crate) fn topics_searchset(app: &AppState, base: &str) -> Value {
    use medilink_consent::subscriptions::topics::TOPICS;
    let entry: Vec<Value> = TOPICS
        .iter()
        .map(|topic| {
            json!({
                "fullUrl": format!("{base}/Basic/{}", topic.basic_id()),
                "resource": topic.as_basic(),
                "search": {"mode": "match"},
            })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "id": app.ids.new_id(),
        "type": "searchset",
        "timestamp": format_instant(app.clock.now()),
        "total": entry.len(),
        "entry": entry,
    })
}

/// A text frame.
fn text(body: String) -> Message {
    Message::Text(body.into())
}
