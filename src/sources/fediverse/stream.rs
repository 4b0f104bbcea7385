//! The server's `user` stream (`GET /api/v1/streaming?stream=user` as a WebSocket), read by
//! birdbridge's own task rather than megalodon's streaming (ARCHITECTURE.md, "Sources"):
//! megalodon 1.3 reconnects with a blocking `std::thread::sleep` (it would stall the
//! daemon's one-thread runtime), has no stop handle, puts the token in the URL, drops the
//! events it does not know and says nothing of a reconnect, after which the source must read
//! what it missed. This task runs on the daemon's runtime, waits on tokio timers, stops with
//! the run's cancellation token (or when the source is dropped), sends the token in a header,
//! and tells the source when it (re)connected so the source reads the account's statuses
//! after its cursor.
//!
//! Frames are `{"stream": [...], "event": ..., "payload": "<JSON as a string>"}`
//! (`docs/formats.md`, "Fediverse streaming"). The `user` stream carries the whole home
//! timeline: only the account's own statuses count. An `update` is only a nudge (the poll
//! after the cursor reads the status through megalodon); a `status.update` names an edited
//! status; a `delete` names a deleted one (its payload is the bare id, whose author the
//! stream does not say: every id is handed on, and only mirrored ones matter).

use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Secret;

/// The first wait before connecting again; doubled after each failure up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between two connection attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// A connection silent for this long (no event, no ping: Mastodon and `GoToSocial` ping
/// every 30 s or so) is taken for dead and opened again.
const SILENCE: Duration = Duration::from_secs(120);
/// Events waiting for the source; the reader waits when it is full.
const QUEUE: usize = 1024;

/// How the server wants the token: Mastodon reads `Authorization: Bearer`; `GoToSocial`
/// and Pleroma/Akkoma read it from `Sec-WebSocket-Protocol` (each also takes a query
/// parameter, which would put it in URLs and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenIn {
    /// `Authorization: Bearer <token>`.
    Authorization,
    /// `Sec-WebSocket-Protocol: <token>`.
    Protocol,
}

/// What the stream tells the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Event {
    /// (Re)connected: read what may have been missed.
    Connected,
    /// A new status of the account.
    Update,
    /// A status of the account was edited (its id).
    Edit(String),
    /// A status was deleted (its id).
    Delete(String),
    /// The connection closed (the source polls for edits until it is back).
    Closed,
}

/// A running stream: its events, and its task (stopped when this is dropped).
#[derive(Debug)]
pub(super) struct Stream {
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream {
    /// Starts reading `url` (`ws://` or `wss://`, the streaming endpoint with
    /// `stream=user`) as the account `own_id`.
    pub(super) fn start(
        url: String,
        token: Secret,
        token_in: TokenIn,
        own_id: String,
        cancel: CancellationToken,
    ) -> Self {
        let (tx, events) = mpsc::channel(QUEUE);
        let reader = Reading {
            url,
            token,
            token_in,
            own_id,
            cancel,
            tx,
        };
        Self {
            events,
            task: tokio::spawn(reader.run()),
        }
    }

    /// The next event; `None` once the stream has stopped for good (a refused token).
    /// Cancel-safe.
    pub(super) async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// An event already waiting, if any.
    pub(super) fn ready(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }
}

/// The stream's task.
struct Reading {
    url: String,
    token: Secret,
    token_in: TokenIn,
    own_id: String,
    cancel: CancellationToken,
    tx: mpsc::Sender<Event>,
}

/// Why a connection ended.
enum Ended {
    /// Try again after a wait.
    Again,
    /// Stop streaming: the server refused the token (the source's polls will say so).
    Refused,
    /// Shutdown, or the source is gone.
    Stop,
}

impl Reading {
    async fn run(self) {
        let mut wait = FIRST_WAIT;
        loop {
            let started = tokio::time::Instant::now();
            let ended = tokio::select! {
                () = self.cancel.cancelled() => Ended::Stop,
                ended = self.connection() => ended,
            };
            match ended {
                Ended::Stop => return,
                Ended::Refused => {
                    warn!("the server refused the token on its streaming connection; polling only");
                    return;
                }
                Ended::Again => {}
            }
            if started.elapsed() > MAX_WAIT {
                wait = FIRST_WAIT;
            }
            let jittered = wait + wait.mul_f64(fastrand::f64() / 4.0);
            debug!(
                wait_ms = jittered.as_millis(),
                "streaming connection closed; connecting again"
            );
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(jittered) => {}
            }
            wait = (wait * 2).min(MAX_WAIT);
        }
    }

    /// One connection, read until it ends.
    async fn connection(&self) -> Ended {
        let Ok(mut request) = self.url.as_str().into_client_request() else {
            warn!("the streaming URL cannot be used; polling only");
            return Ended::Stop;
        };
        let Ok(token) = HeaderValue::from_str(self.token.expose()) else {
            return Ended::Refused;
        };
        let headers = request.headers_mut();
        headers.insert(
            "user-agent",
            HeaderValue::from_static(crate::http::USER_AGENT),
        );
        match self.token_in {
            TokenIn::Authorization => {
                let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
                else {
                    return Ended::Refused;
                };
                headers.insert("authorization", bearer);
            }
            TokenIn::Protocol => {
                headers.insert("sec-websocket-protocol", token);
            }
        }
        let mut socket = match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => socket,
            Err(WsError::Http(answer))
                if matches!(
                    answer.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                return Ended::Refused
            }
            Err(WsError::Http(answer)) => {
                debug!(
                    status = answer.status().as_u16(),
                    "the server refused the streaming connection"
                );
                return Ended::Again;
            }
            Err(err) => {
                debug!(error = %err, "cannot open the streaming connection");
                return Ended::Again;
            }
        };
        info!("streaming connection open");
        if self.tx.send(Event::Connected).await.is_err() {
            return Ended::Stop;
        }
        let ended = self.read(&mut socket).await;
        if matches!(ended, Ended::Again) && self.tx.send(Event::Closed).await.is_err() {
            return Ended::Stop;
        }
        ended
    }

    /// Reads an open connection until it ends.
    async fn read(
        &self,
        socket: &mut tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Ended {
        loop {
            let frame = match tokio::time::timeout(SILENCE, socket.next()).await {
                Err(_) => {
                    warn!(
                        silent_secs = SILENCE.as_secs(),
                        "streaming connection silent; opening it again"
                    );
                    return Ended::Again;
                }
                Ok(None) => return Ended::Again,
                Ok(Some(Err(err))) => {
                    debug!(error = %err, "streaming connection broken");
                    return Ended::Again;
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => return Ended::Again,
                // Pings are answered by the WebSocket layer as it reads.
                _ => continue,
            };
            if let Some(event) = read_frame(&text, &self.own_id) {
                if self.tx.send(event).await.is_err() {
                    return Ended::Stop;
                }
            }
        }
    }
}

/// A frame as servers send it.
#[derive(Debug, Deserialize)]
struct Frame {
    event: String,
    #[serde(default)]
    payload: Value,
}

/// What a text frame means for the source, if anything.
fn read_frame(text: &str, own_id: &str) -> Option<Event> {
    let frame: Frame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(err) => {
            debug!(error = %err, "unreadable streaming frame");
            return None;
        }
    };
    // The payload is a JSON document in a string (an object on some servers), or for
    // `delete` the bare id.
    let payload = match frame.payload {
        Value::String(s) if frame.event != "delete" => {
            serde_json::from_str(&s).unwrap_or(Value::String(s))
        }
        other => other,
    };
    let own = |status: &Value| {
        status
            .pointer("/account/id")
            .and_then(Value::as_str)
            .is_some_and(|id| id == own_id)
    };
    let id = |status: &Value| status.get("id").and_then(Value::as_str).map(str::to_owned);
    match frame.event.as_str() {
        "update" if own(&payload) => Some(Event::Update),
        "status.update" if own(&payload) => id(&payload).map(Event::Edit),
        "delete" => match payload {
            Value::String(id) => Some(Event::Delete(id)),
            Value::Number(n) => Some(Event::Delete(n.to_string())),
            _ => None,
        },
        other => {
            debug!(event = other, "streaming event not for this source");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let status = |account: &str| {
            serde_json::to_string(&serde_json::json!({"id": "7", "account": {"id": account}}))
                .unwrap()
        };
        let frame = |event: &str, payload: &str| {
            serde_json::json!({"stream": ["user"], "event": event, "payload": payload}).to_string()
        };
        assert_eq!(
            read_frame(&frame("update", &status("1")), "1"),
            Some(Event::Update)
        );
        assert_eq!(
            read_frame(&frame("update", &status("2")), "1"),
            None,
            "a followed account"
        );
        assert_eq!(
            read_frame(&frame("status.update", &status("1")), "1"),
            Some(Event::Edit("7".into()))
        );
        assert_eq!(read_frame(&frame("status.update", &status("2")), "1"), None);
        assert_eq!(
            read_frame(&frame("delete", "109"), "1"),
            Some(Event::Delete("109".into()))
        );
        assert_eq!(read_frame(&frame("notification", "{}"), "1"), None);
        assert_eq!(read_frame(&frame("filters_changed", ""), "1"), None);
        assert_eq!(read_frame("not json", "1"), None);
        // A payload sent as an object rather than a string.
        let object =
            serde_json::json!({"event": "update", "payload": {"id": "8", "account": {"id": "1"}}});
        assert_eq!(read_frame(&object.to_string(), "1"), Some(Event::Update));
    }
}
