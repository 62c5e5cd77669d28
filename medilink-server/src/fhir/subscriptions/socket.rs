//! One subscription websocket: the client sends `bind-with-token <token>` (one or more
//! times, one subscription each); the server answers each binding with a `handshake`
//! notification, then sends every event numbered after it bound (decided for the owner when
//! sent, by `Subscriptions::ws_next`), and a `heartbeat` when the subscription asks for one
//! and nothing else went out for that long. An unknown or spent token gets an
//! OperationOutcome and the socket closes; so does a subscription deleted or turned off.
//!
//! MediLink's one addition (issue #21, for the portals): after a binding, the client may send
//! `watch-notifications`. The socket then sends, at once and whenever the bound subscription's
//! owner gets a new in-app notice or reads one, a `Parameters` with `event` =
//! `notifications-changed` and `unread` (a count; no notice content). Only the owner's own
//! inbox is watched, and never for a subscription made through a SMART app (OperationOutcome,
//! the socket stays open). In-app notices are not FHIR resources, so no topic can carry them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use medilink_consent::subscriptions::notification::NotificationType;
use medilink_consent::subscriptions::{Subscriptions, WsBinding};
use medilink_platform::UserId;
use medilink_platform::notifications::NotificationStore;
use serde_json::json;

use super::text;

/// How often a bound socket looks for new events.
const POLL: Duration = Duration::from_millis(200);
/// How long a socket may stay unbound.
const BIND_WITHIN: Duration = Duration::from_secs(60);
/// How often a socket that watches its owner's notices looks at the inbox.
const NOTICES_EVERY: Duration = Duration::from_secs(1);
/// The command that asks for the owner's notice events.
const WATCH_NOTIFICATIONS: &str = "watch-notifications";

/// The inbox a socket watches: whose, and what it last told (newest notice, unread count).
struct Watch {
    owner: UserId,
    told: Option<(Option<u64>, u64)>,
    looked: Instant,
}

struct Bound {
    binding: WsBinding,
    last_sent: Instant,
}

fn outcome(diagnostics: &str) -> Message {
    text(
        json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "security", "diagnostics": diagnostics}]})
        .to_string(),
    )
}

/// Binds the socket with `token`: sends the handshake; `None`: close the socket.
async fn bind(subscriptions: &Subscriptions, socket: &mut WebSocket, token: &str) -> Option<Bound> {
    let Ok(Some(binding)) = subscriptions.bind(token.trim()).await else {
        let _ = socket
            .send(outcome("unknown, expired or spent token"))
            .await;
        return None;
    };
    let Ok(Some(handshake)) = subscriptions
        .ws_signal(&binding, NotificationType::Handshake)
        .await
    else {
        return None;
    };
    socket.send(text(handshake)).await.ok()?;
    Some(Bound {
        binding,
        last_sent: Instant::now(),
    })
}

/// The `notifications-changed` event (see the module docs).
fn notices_event(unread: u64) -> Message {
    text(
        json!({"resourceType": "Parameters", "parameter": [
            {"name": "event", "valueCode": "notifications-changed"},
            {"name": "unread", "valueUnsignedInt": unread}]})
        .to_string(),
    )
}

/// Tells the watched inbox's change, if any; `false`: close the socket.
async fn send_notices(
    notices: &dyn NotificationStore,
    socket: &mut WebSocket,
    watch: &mut Watch,
) -> bool {
    watch.looked = Instant::now();
    let newest = notices.list(&watch.owner, 1, None).await;
    let unread = notices.unread(&watch.owner).await;
    let (Ok(newest), Ok(unread)) = (newest, unread) else {
        tracing::warn!("websocket: the owner's notices not read");
        return true;
    };
    let now = (newest.first().map(|notice| notice.seq), unread);
    if watch.told == Some(now) {
        return true;
    }
    watch.told = Some(now);
    socket.send(notices_event(unread)).await.is_ok()
}

/// Serves one socket until the client leaves or a binding ends.
pub(super) async fn serve(
    subscriptions: Arc<Subscriptions>,
    notices: Arc<dyn NotificationStore>,
    mut socket: WebSocket,
) {
    let mut bound: Vec<Bound> = Vec::new();
    let mut watch: Option<Watch> = None;
    let opened = Instant::now();
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(body))) => {
                    if body.as_str().trim() == WATCH_NOTIFICATIONS {
                        match bound.last() {
                            Some(last) if !last.binding.through_app => {
                                let mut watching = Watch {
                                    owner: last.binding.owner.clone(),
                                    told: None,
                                    looked: Instant::now(),
                                };
                                if !send_notices(notices.as_ref(), &mut socket, &mut watching).await {
                                    return;
                                }
                                watch = Some(watching);
                            }
                            _ => {
                                let refused = outcome("bind a subscription of your own first");
                                if socket.send(refused).await.is_err() {
                                    return;
                                }
                            }
                        }
                        continue;
                    }
                    let Some(token) = body.as_str().trim().strip_prefix("bind-with-token ") else {
                        continue;
                    };
                    match bind(&subscriptions, &mut socket, token).await {
                        Some(entry) => bound.push(entry),
                        None => return,
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                if bound.is_empty() && opened.elapsed() > BIND_WITHIN {
                    return;
                }
                if !bound.is_empty() && !send_due(&subscriptions, &mut socket, &mut bound).await {
                    return;
                }
                if let Some(watching) = &mut watch
                    && watching.looked.elapsed() >= NOTICES_EVERY
                    && !send_notices(notices.as_ref(), &mut socket, watching).await
                {
                    return;
                }
            }
        }
    }
}

/// Sends every binding's due notifications (and heartbeats), their states read in one round
/// trip; `false`: close the socket.
async fn send_due(
    subscriptions: &Subscriptions,
    socket: &mut WebSocket,
    bound: &mut [Bound],
) -> bool {
    let due = {
        let mut bindings: Vec<&mut WsBinding> =
            bound.iter_mut().map(|entry| &mut entry.binding).collect();
        subscriptions.ws_next_each(&mut bindings).await
    };
    let due = match due {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(error = %err, "websocket notifications not read");
            return true;
        }
    };
    for (entry, due) in bound.iter_mut().zip(due) {
        let due = match due {
            Ok(Some(due)) => due,
            Ok(None) => return false,
            Err(err) => {
                tracing::warn!(subscription = %entry.binding.id, error = %err, "websocket notifications not read");
                continue;
            }
        };
        if !send_one(subscriptions, socket, entry, due).await {
            return false;
        }
    }
    true
}

/// Sends one binding's `due` notifications (and heartbeat); `false`: close the socket.
async fn send_one(
    subscriptions: &Subscriptions,
    socket: &mut WebSocket,
    entry: &mut Bound,
    due: Vec<String>,
) -> bool {
    for notification in due {
        if socket.send(text(notification)).await.is_err() {
            return false;
        }
        entry.last_sent = Instant::now();
    }
    if let Some(period) = entry.binding.heartbeat
        && entry.last_sent.elapsed() >= period
    {
        match subscriptions
            .ws_signal(&entry.binding, NotificationType::Heartbeat)
            .await
        {
            Ok(Some(heartbeat)) => {
                if socket.send(text(heartbeat)).await.is_err() {
                    return false;
                }
                entry.last_sent = Instant::now();
            }
            Ok(None) => return false,
            Err(_) => {}
        }
    }
    true
}
