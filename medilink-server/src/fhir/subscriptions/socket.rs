//! One subscription websocket: the client sends `bind-with-token <token>` (one or more
//! times, one subscription each); the server answers each binding with a `handshake`
//! notification, then sends every event numbered after it bound (decided for the owner when
//! sent, by `Subscriptions::ws_next`), and a `heartbeat` when the subscription asks for one
//! and nothing else went out for that long. An unknown or spent token gets an
//! OperationOutcome and the socket closes; so does a subscription deleted or turned off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use medilink_consent::subscriptions::notification::NotificationType;
use medilink_consent::subscriptions::{Subscriptions, WsBinding};
use serde_json::json;

use super::text;

/// How often a bound socket looks for new events.
const POLL: Duration = Duration::from_millis(200);
/// How long a socket may stay unbound.
const BIND_WITHIN: Duration = Duration::from_secs(60);

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

/// Serves one socket until the client leaves or a binding ends.
pub(super) async fn serve(subscriptions: Arc<Subscriptions>, mut socket: WebSocket) {
    let mut bound: Vec<Bound> = Vec::new();
    let opened = Instant::now();
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(body))) => {
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
                for entry in &mut bound {
                    if !send_due(&subscriptions, &mut socket, entry).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Sends one binding's due notifications (and heartbeat); `false`: close the socket.
async fn send_due(
    subscriptions: &Subscriptions,
    socket: &mut WebSocket,
    entry: &mut Bound,
) -> bool {
    let due = match subscriptions.ws_next(&mut entry.binding).await {
        Ok(Some(due)) => due,
        Ok(None) => return false,
        Err(err) => {
            tracing::warn!(subscription = %entry.binding.id, error = %err, "websocket notifications not read");
            return true;
        }
    };
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
