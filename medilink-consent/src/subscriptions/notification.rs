//! The Backport IG's R4 notification Bundles: a `history` Bundle whose first entry is the
//! `Parameters` of the subscription's status (`backport-subscription-status-r4`:
//! `subscription`, `topic`, `status`, `type`, `events-since-subscription-start`, one
//! `notification-event` per event with `event-number`, `timestamp` and, unless the content is
//! `empty`, `focus`), then, unless `empty`, one entry per focus (its request and, for
//! `full-resource`, the resource). `$status` answers a `searchset` of the status alone.

use medilink_fhir::clock::format_instant;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::spec::Content;

/// The notification Bundle profile (R4).
pub const NOTIFICATION_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4";
/// The subscription status Parameters profile (R4).
pub const STATUS_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4";

/// What a notification is (the IG's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationType {
    /// Sent when a websocket binds.
    Handshake,
    /// Sent when nothing else was for a heartbeat period.
    Heartbeat,
    /// Events.
    EventNotification,
    /// The answer of `$status`.
    QueryStatus,
    /// The answer of `$events`.
    QueryEvent,
}

impl NotificationType {
    /// The IG's code.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Handshake => "handshake",
            NotificationType::Heartbeat => "heartbeat",
            NotificationType::EventNotification => "event-notification",
            NotificationType::QueryStatus => "query-status",
            NotificationType::QueryEvent => "query-event",
        }
    }
}

/// The status part of every notification.
#[derive(Debug, Clone)]
pub struct StatusPart<'a> {
    /// The subscription's id.
    pub id: &'a str,
    /// The FHIR base URL it lives at.
    pub base: &'a str,
    /// The topic's canonical URL.
    pub topic: &'a str,
    /// Its status code.
    pub status: &'a str,
    /// Events since the subscription started.
    pub events: u64,
    /// The last delivery error, if any (`$status`).
    pub error: Option<&'a str>,
}

/// One event, decided for the subscriber.
#[derive(Debug, Clone)]
pub struct EventPart {
    /// Its number.
    pub number: u64,
    /// When the focus version was written.
    pub at: OffsetDateTime,
    /// The focus's type.
    pub resource_type: String,
    /// The focus's id.
    pub id: String,
    /// The interaction (`POST`, `PUT`, `DELETE`).
    pub method: &'static str,
    /// The focus version, when the content is `full-resource` and it is not a deletion.
    pub resource: Option<Value>,
}

/// The status `Parameters`.
fn parameters(
    status: &StatusPart<'_>,
    kind: NotificationType,
    events: &[EventPart],
    content: Content,
    id: &str,
) -> Value {
    let mut parameter = vec![
        json!({"name": "subscription",
               "valueReference": {"reference": format!("{}/Subscription/{}", status.base, status.id)}}),
        json!({"name": "topic", "valueCanonical": status.topic}),
        json!({"name": "status", "valueCode": status.status}),
        json!({"name": "type", "valueCode": kind.as_str()}),
        json!({"name": "events-since-subscription-start", "valueString": status.events.to_string()}),
    ];
    for event in events {
        let mut part = vec![
            json!({"name": "event-number", "valueString": event.number.to_string()}),
            json!({"name": "timestamp", "valueInstant": format_instant(event.at)}),
        ];
        if content != Content::Empty {
            part.push(json!({"name": "focus", "valueReference": {
                "reference": format!("{}/{}/{}", status.base, event.resource_type, event.id)}}));
        }
        parameter.push(json!({"name": "notification-event", "part": part}));
    }
    if let Some(error) = status.error {
        parameter.push(json!({"name": "error", "valueCodeableConcept": {"text": error}}));
    }
    json!({
        "resourceType": "Parameters",
        "id": id,
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameter,
    })
}

/// A notification Bundle (`history`) of `kind` with `events` (see the module documentation).
pub fn notification(
    bundle_id: &str,
    now: OffsetDateTime,
    status: &StatusPart<'_>,
    kind: NotificationType,
    events: &[EventPart],
    content: Content,
) -> Value {
    let status_id = format!("{bundle_id}-status");
    let mut entry = vec![json!({
        "fullUrl": format!("urn:uuid:{status_id}"),
        "resource": parameters(status, kind, events, content, &status_id),
        "request": {"method": "GET", "url": format!("Subscription/{}/$status", status.id)},
        "response": {"status": "200"},
    })];
    if content != Content::Empty {
        for event in events {
            let url = format!("{}/{}", event.resource_type, event.id);
            let mut item = json!({
                "fullUrl": format!("{}/{url}", status.base),
                "request": {"method": event.method, "url": url},
                "response": {"status": match event.method {
                    "POST" => "201", "DELETE" => "204", _ => "200"}},
            });
            if let Some(resource) = &event.resource {
                item["resource"] = resource.clone();
            }
            entry.push(item);
        }
    }
    json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": format_instant(now),
        "entry": entry,
    })
}

/// The answer of `$status`: a `searchset` with the status `Parameters`.
pub fn status_bundle(bundle_id: &str, now: OffsetDateTime, status: &StatusPart<'_>) -> Value {
    let status_id = format!("{bundle_id}-status");
    json!({
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "searchset",
        "timestamp": format_instant(now),
        "total": 1,
        "entry": [{
            "fullUrl": format!("urn:uuid:{status_id}"),
            "resource": parameters(status, NotificationType::QueryStatus, &[], Content::Empty, &status_id),
            "search": {"mode": "match"},
        }],
    })
}
