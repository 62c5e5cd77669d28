//! [`SubscriptionSpec`]: a `Subscription` resource in the Backport IG's R4 profile, read and
//! checked. `criteria` is the topic's canonical URL; filters are `_criteria` extensions
//! (`backport-filter-criteria`); `channel.type` is `rest-hook` (with an `http(s)` `endpoint`
//! and optional `header`s `Name: value`) or `websocket`; the payload's content is the
//! `backport-payload-content` extension on `channel._payload` (`empty` when absent);
//! `backport-heartbeat-period`, `backport-timeout` and `backport-max-count` on `channel`;
//! `end`, after which the subscription is `off`. Errors: a `422` for what
//! the server cannot serve (an unknown topic, a filter the topic lacks, another channel or
//! MIME type), a `400` for a malformed value (an endpoint that is not an http(s) URL, a bad
//! header, a bad number).

use std::time::Duration;

use medilink_fhir::{FhirError, FhirResult, Issue, IssueCode};
use serde_json::Value;

use super::topics::{Filter, Topic, parse_filters, topic};

/// The Backport IG's canonical base of its extensions and profiles.
pub const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";
/// The R4 Subscription profile of the Backport IG.
pub const SUBSCRIPTION_PROFILE: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription";
const FILTER_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria";
const CONTENT_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
const HEARTBEAT_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period";
const TIMEOUT_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-timeout";
const MAX_COUNT_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-max-count";
/// Most events one notification carries, whatever `maxCount` asks.
const MAX_COUNT: usize = 100;
/// Longest rest-hook timeout honoured.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The rest-hook timeout without `backport-timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers a subscriber may not set (the transport's own).
const RESERVED_HEADERS: [&str; 4] = ["content-length", "host", "transfer-encoding", "connection"];

/// How much of the focus a notification carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// No focus at all: only that something happened (and the event count).
    Empty,
    /// The focus's reference.
    IdOnly,
    /// The focus resource itself (what the subscriber may read when it is sent).
    FullResource,
}

impl Content {
    /// The IG's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Content::Empty => "empty",
            Content::IdOnly => "id-only",
            Content::FullResource => "full-resource",
        }
    }

    /// The content a code names.
    pub fn parse(code: &str) -> Option<Content> {
        match code {
            "empty" => Some(Content::Empty),
            "id-only" => Some(Content::IdOnly),
            "full-resource" => Some(Content::FullResource),
            _ => None,
        }
    }
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// An HTTP POST of each notification Bundle.
    RestHook {
        /// The http(s) URL.
        endpoint: String,
        /// Headers sent with each POST.
        headers: Vec<(String, String)>,
        /// How long one POST may take.
        timeout: Duration,
    },
    /// A websocket bound with a token from `$get-ws-binding-token`.
    Websocket,
}

impl Channel {
    /// The channel type's code.
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::RestHook { .. } => "rest-hook",
            Channel::Websocket => "websocket",
        }
    }
}

/// A checked subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSpec {
    /// The topic.
    pub topic: &'static Topic,
    /// Its filters (ANDed).
    pub filters: Vec<Filter>,
    /// The channel.
    pub channel: Channel,
    /// The payload's content.
    pub content: Content,
    /// The heartbeat period, when asked for.
    pub heartbeat: Option<Duration>,
    /// Whether its owner turned it off.
    pub off: bool,
    /// When it ends (`Subscription.end`): from then on it is `off`.
    pub end: Option<time::OffsetDateTime>,
    /// Most events one notification carries (`backport-max-count`; 1 without it).
    pub max_count: usize,
}

fn invalid(expression: &str, diagnostics: impl Into<String>) -> FhirError {
    FhirError::Invalid {
        issues: vec![Issue::error(
            IssueCode::Value,
            Some(expression.to_owned()),
            diagnostics,
        )],
    }
}

fn unprocessable(message: impl Into<String>) -> FhirError {
    FhirError::Unprocessable {
        message: message.into(),
    }
}

/// The extensions with `url` of `element`'s `extension` array.
fn extensions<'a>(element: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    element["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |extension| extension["url"].as_str() == Some(url))
}

/// The whole number of the extension with `url` on `element`.
fn whole(element: &Value, url: &str, expression: &str) -> FhirResult<Option<u64>> {
    let Some(extension) = extensions(element, url).next() else {
        return Ok(None);
    };
    extension
        .get("valueUnsignedInt")
        .or_else(|| extension.get("valuePositiveInt"))
        .and_then(Value::as_u64)
        .map(Some)
        .ok_or_else(|| invalid(expression, "expected a whole number"))
}

fn seconds(element: &Value, url: &str, expression: &str) -> FhirResult<Option<Duration>> {
    Ok(whole(element, url, expression)?.map(Duration::from_secs))
}

impl SubscriptionSpec {
    /// Reads and checks `resource` (see the module documentation).
    pub fn parse(resource: &Value) -> FhirResult<SubscriptionSpec> {
        if resource["resourceType"].as_str() != Some("Subscription") {
            return Err(invalid("Subscription", "expected a Subscription"));
        }
        let criteria = resource["criteria"].as_str().ok_or_else(|| {
            invalid(
                "Subscription.criteria",
                "the topic's canonical URL is required",
            )
        })?;
        let topic = topic(criteria).ok_or_else(|| {
            unprocessable(format!(
                "unknown subscription topic {criteria}: see the CapabilityStatement for the topics served"
            ))
        })?;
        let mut filters = Vec::new();
        for extension in extensions(&resource["_criteria"], FILTER_URL) {
            let text = extension["valueString"].as_str().ok_or_else(|| {
                invalid(
                    "Subscription.criteria.extension",
                    "a filter is a valueString",
                )
            })?;
            filters.extend(parse_filters(topic, text)?);
        }
        let channel_json = &resource["channel"];
        let channel = match channel_json["type"].as_str() {
            Some("rest-hook") => rest_hook(channel_json)?,
            Some("websocket") => Channel::Websocket,
            Some(other) => {
                return Err(unprocessable(format!(
                    "channel type {other} is not supported (rest-hook, websocket)"
                )));
            }
            None => {
                return Err(invalid(
                    "Subscription.channel.type",
                    "the channel type is required",
                ));
            }
        };
        if let Some(payload) = channel_json["payload"].as_str()
            && !matches!(payload, "application/fhir+json" | "application/json")
        {
            return Err(unprocessable(format!(
                "payload {payload} is not supported (application/fhir+json)"
            )));
        }
        let content = match extensions(&channel_json["_payload"], CONTENT_URL).next() {
            None => Content::Empty,
            Some(extension) => extension["valueCode"]
                .as_str()
                .and_then(Content::parse)
                .ok_or_else(|| {
                    invalid(
                        "Subscription.channel.payload.extension",
                        "payload content is empty, id-only or full-resource",
                    )
                })?,
        };
        let heartbeat = seconds(
            channel_json,
            HEARTBEAT_URL,
            "Subscription.channel.extension",
        )?
        .filter(|period| !period.is_zero());
        let end = match &resource["end"] {
            Value::Null => None,
            value => Some(
                value
                    .as_str()
                    .and_then(|text| {
                        time::OffsetDateTime::parse(
                            text,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .ok_or_else(|| {
                        invalid("Subscription.end", "end is an instant with a time zone")
                    })?,
            ),
        };
        let max_count = match whole(
            channel_json,
            MAX_COUNT_URL,
            "Subscription.channel.extension",
        )? {
            None => 1,
            Some(0) => {
                return Err(invalid(
                    "Subscription.channel.extension",
                    "maxCount is at least 1",
                ));
            }
            Some(count) => usize::try_from(count).unwrap_or(MAX_COUNT).min(MAX_COUNT),
        };
        let off = match resource["status"].as_str() {
            Some("requested" | "active" | "error") => false,
            Some("off") => true,
            _ => {
                return Err(invalid(
                    "Subscription.status",
                    "status is requested, active, error or off",
                ));
            }
        };
        Ok(SubscriptionSpec {
            topic,
            filters,
            channel,
            content,
            heartbeat,
            off,
            end,
            max_count,
        })
    }
}

fn rest_hook(channel: &Value) -> FhirResult<Channel> {
    let endpoint = channel["endpoint"].as_str().unwrap_or_default();
    let valid = reqwest::Url::parse(endpoint).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty())
    });
    if !valid {
        return Err(invalid(
            "Subscription.channel.endpoint",
            "a rest-hook endpoint is an absolute http or https URL",
        ));
    }
    let mut headers = Vec::new();
    for header in channel["header"].as_array().into_iter().flatten() {
        let parsed = header
            .as_str()
            .and_then(|text| text.split_once(':'))
            .and_then(|(name, value)| {
                let name = name.trim();
                let value = value.trim();
                let ok = !name.is_empty()
                    && reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && reqwest::header::HeaderValue::from_str(value).is_ok()
                    && !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str());
                ok.then(|| (name.to_owned(), value.to_owned()))
            });
        headers.push(
            parsed.ok_or_else(|| {
                invalid("Subscription.channel.header", "a header is `Name: value`")
            })?,
        );
    }
    let timeout = seconds(channel, TIMEOUT_URL, "Subscription.channel.extension")?
        .filter(|timeout| !timeout.is_zero())
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(MAX_TIMEOUT);
    Ok(Channel::RestHook {
        endpoint: endpoint.to_owned(),
        headers,
        timeout,
    })
}
