//! The fake's read side, for the fediverse source: statuses the account writes on the
//! server (created, edited, deleted by the test), its statuses paged as Mastodon pages them
//! (`since_id` answers the newest after it, `max_id` pages back, `min_id` forwards), a status
//! by id, media files to download, and the `user` stream as a WebSocket in Mastodon's frame
//! format (`{"stream": ["user"], "event": ..., "payload": "<JSON as a string>"}`; `GoToSocial`
//! and Akkoma send the same). The stream carries the home timeline, so statuses of a followed
//! account come through it too. The token is taken from `Authorization: Bearer`,
//! `Sec-WebSocket-Protocol` (echoed back, as servers do) or the `access_token` query; each
//! connection records which, so a test can check the token stayed out of the URL.
//!
//! Shapes follow the personality: Akkoma's statuses carry the `pleroma` object; the
//! personalities without streaming (Pixelfed, Friendica, snac, ...) answer the stream 404.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::SecondsFormat;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{FakeFedi, FakeState, Personality, Shared, TOKEN};

/// A one-pixel PNG, the body of every image file.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// What the read side keeps.
#[derive(Debug, Default)]
pub struct ReadState {
    /// Statuses the account wrote on the server (JSON as served), oldest first.
    pub authored: Vec<Value>,
    /// Open stream connections.
    streams: Vec<mpsc::UnboundedSender<String>>,
    /// Refuse stream connections with this status.
    pub refuse_streams: Option<StatusCode>,
    /// How each stream connection carried the token (`header`, `protocol`, `query`).
    pub stream_logins: Vec<&'static str>,
}

/// A status for the account to write.
#[derive(Debug, Clone, Default)]
pub struct NewStatus {
    pub text: String,
    pub spoiler: String,
    /// `public` when empty.
    pub visibility: String,
    pub in_reply_to: Option<String>,
    /// Images, each with its description.
    pub images: Vec<String>,
    pub reblog_of: Option<String>,
    /// Accounts mentioned at the start (`user@host`), as Mastodon links them.
    pub mentions: Vec<String>,
}

impl NewStatus {
    /// A public status saying `text`.
    pub fn says(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }
}

/// The routes of the read side.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/streaming", get(streaming))
        .route("/files/{name}", get(file))
}

impl FakeFedi {
    /// The account writes `new`; followers of the stream hear of it. Returns its id.
    pub fn author(&self, new: &NewStatus) -> String {
        let mut st = self.state();
        let id = st.next_id();
        let now = st.now();
        let base = st.base.clone();
        let media: Vec<Value> = new
            .images
            .iter()
            .enumerate()
            .map(|(i, description)| {
                json!({
                    "id": format!("{id}{i}"), "type": "image",
                    "url": format!("{base}/files/{id}-{i}.png"),
                    "preview_url": format!("{base}/files/{id}-{i}.png"),
                    "remote_url": null, "text_url": null, "blurhash": null,
                    "meta": {"original": {"width": 1, "height": 1}},
                    "description": description
                })
            })
            .collect();
        let reblog = new.reblog_of.as_ref().map(|original| {
            st.read
                .authored
                .iter()
                .find(|s| s["id"] == original.as_str())
                .cloned()
                .expect("a status of the account to reblog")
        });
        let mut content = super::html(&new.text);
        let mut mentioned = Vec::new();
        if !new.mentions.is_empty() {
            let links: Vec<String> = new
                .mentions
                .iter()
                .map(|acct| {
                    let (user, host) = acct.split_once('@').expect("user@host");
                    let url = format!("https://{host}/@{user}");
                    mentioned.push(json!({"id": acct, "username": user, "acct": acct, "url": url}));
                    format!(
                        "<span class=\"h-card\" translate=\"no\"><a href=\"{url}\" class=\"u-url mention\">@<span>{user}</span></a></span>"
                    )
                })
                .collect();
            content = content.replacen("<p>", &format!("<p>{} ", links.join(" ")), 1);
        }
        let visibility = if new.visibility.is_empty() {
            "public".to_owned()
        } else {
            new.visibility.clone()
        };
        let mut status = json!({
            "id": id, "uri": format!("{base}/users/mirror/statuses/{id}"),
            "url": format!("{base}/@mirror/{id}"),
            "account": st.account_json(),
            "in_reply_to_id": new.in_reply_to,
            "in_reply_to_account_id": new.in_reply_to.as_ref().map(|_| "1"),
            "reblog": reblog, "content": content,
            "created_at": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "edited_at": null, "emojis": [], "replies_count": 0, "reblogs_count": 0,
            "favourites_count": 0, "reblogged": false, "favourited": false, "muted": false,
            "sensitive": !new.spoiler.is_empty(), "spoiler_text": new.spoiler,
            "visibility": visibility, "media_attachments": media, "mentions": mentioned, "tags": [],
            "card": null, "poll": null, "application": null, "language": "en", "pinned": false,
            "bookmarked": false
        });
        shape(st.personality, &mut status);
        st.read.authored.push(status.clone());
        if visibility != "direct" {
            broadcast(&mut st, "update", &status.to_string());
        }
        id
    }

    /// The account edits status `id` to say `text` (`status.update` on the stream).
    pub fn edit_authored(&self, id: &str, text: &str) {
        let mut st = self.state();
        let now = st.now();
        let status = st
            .read
            .authored
            .iter_mut()
            .find(|s| s["id"] == id)
            .expect("a status of the account");
        status["content"] = json!(super::html(text));
        status["edited_at"] = json!(now.to_rfc3339_opts(SecondsFormat::Millis, true));
        let payload = status.to_string();
        broadcast(&mut st, "status.update", &payload);
    }

    /// The account deletes status `id` (`delete` on the stream).
    pub fn delete_authored(&self, id: &str) {
        let mut st = self.state();
        st.read.authored.retain(|s| s["id"] != id);
        broadcast(&mut st, "delete", id);
    }

    /// A followed account writes a status: it comes through the stream (the home timeline),
    /// not in the account's statuses.
    pub fn stranger_writes(&self, text: &str) -> String {
        let mut st = self.state();
        let id = st.next_id();
        let mut account = st.account_json();
        account["id"] = json!("2");
        account["username"] = json!("stranger");
        account["acct"] = json!("stranger@elsewhere.example");
        let now = st.now();
        let status = json!({
            "id": id, "uri": format!("https://elsewhere.example/statuses/{id}"), "url": null,
            "account": account, "in_reply_to_id": null, "in_reply_to_account_id": null,
            "reblog": null, "content": super::html(text),
            "created_at": now.to_rfc3339_opts(SecondsFormat::Millis, true), "edited_at": null,
            "emojis": [], "replies_count": 0, "reblogs_count": 0, "favourites_count": 0,
            "sensitive": false, "spoiler_text": "", "visibility": "public",
            "media_attachments": [], "mentions": [], "tags": [], "card": null, "poll": null
        });
        broadcast(&mut st, "update", &status.to_string());
        id
    }

    /// Closes every open stream connection (as a restarting server does).
    pub fn kill_streams(&self) {
        self.state().read.streams.clear();
    }

    /// Refuses stream connections with `status` (`None`: accepts them again).
    pub fn refuse_streams(&self, status: Option<StatusCode>) {
        self.state().read.refuse_streams = status;
    }

    /// Stream connections open now.
    pub fn open_streams(&self) -> usize {
        let mut st = self.state();
        st.read.streams.retain(|s| !s.is_closed());
        st.read.streams.len()
    }

    /// How each stream connection so far carried the token.
    pub fn stream_logins(&self) -> Vec<&'static str> {
        self.state().read.stream_logins.clone()
    }
}

/// Adds what `p` sends beyond Mastodon's shape.
fn shape(p: Personality, status: &mut Value) {
    if p == Personality::Akkoma {
        let text = status["content"].clone();
        let spoiler = status["spoiler_text"].clone();
        status["pleroma"] = json!({"local": true, "conversation_id": 1,
            "content": {"text/plain": text}, "spoiler_text": {"text/plain": spoiler},
            "in_reply_to_account_acct": null, "emoji_reactions": [], "parent_visible": true,
            "thread_muted": false, "expires_at": null});
    }
    if p == Personality::GoToSocial {
        status.as_object_mut().map(|o| o.remove("edited_at"));
    }
}

/// Sends an event to every open stream connection.
fn broadcast(st: &mut FakeState, event: &str, payload: &str) {
    let frame = json!({"stream": ["user"], "event": event, "payload": payload}).to_string();
    st.read.streams.retain(|s| s.send(frame.clone()).is_ok());
}

/// Whether `p` has a streaming API.
fn streams(p: Personality) -> bool {
    matches!(
        p,
        Personality::Mastodon | Personality::GoToSocial | Personality::Akkoma
    )
}

async fn streaming(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let protocol = h
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let login = if h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(TOKEN)
    {
        Some("header")
    } else if protocol.as_deref() == Some(TOKEN) {
        Some("protocol")
    } else if q.get("access_token").map(String::as_str) == Some(TOKEN) {
        Some("query")
    } else {
        None
    };
    let (tx, rx) = mpsc::unbounded_channel();
    {
        let mut st = s.lock().unwrap();
        if !streams(st.personality) {
            st.log("GET", "/api/v1/streaming", StatusCode::NOT_FOUND, &h);
            return (StatusCode::NOT_FOUND, Json(json!({"error": "Not found"}))).into_response();
        }
        if let Some(status) = st.read.refuse_streams {
            st.log("GET", "/api/v1/streaming", status, &h);
            return (status, Json(json!({"error": "refused"}))).into_response();
        }
        let Some(login) = login.filter(|_| q.get("stream").map(String::as_str) == Some("user"))
        else {
            st.log("GET", "/api/v1/streaming", StatusCode::UNAUTHORIZED, &h);
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "Error: Missing access token"})),
            )
                .into_response();
        };
        st.read.stream_logins.push(login);
        st.read.streams.push(tx);
        st.log(
            "GET",
            "/api/v1/streaming",
            StatusCode::SWITCHING_PROTOCOLS,
            &h,
        );
    }
    let ws = match protocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    ws.on_upgrade(move |socket| pump(socket, rx))
}

/// Sends the frames of one connection until either side goes.
async fn pump(mut socket: WebSocket, mut rx: mpsc::UnboundedReceiver<String>) {
    loop {
        tokio::select! {
            frame = rx.recv() => if let Some(text) = frame {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            } else {
                let _ = socket.send(Message::Close(None)).await;
                return;
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

async fn file(Path(name): Path<String>) -> Response {
    if std::path::Path::new(&name)
        .extension()
        .is_some_and(|e| e == "png")
    {
        ([("content-type", "image/png")], PNG).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// `GET /api/v1/statuses/:id`: a status the account wrote (or one birdbridge posted).
pub async fn get_status(State(s): State<Shared>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/statuses/:id";
    let rate = match st.admit(&h, true, &[]) {
        Ok(r) => r,
        Err(r) => return super::refuse(&mut st, "GET", path, &h, r),
    };
    let found = st
        .read
        .authored
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned()
        .or_else(|| st.live(&id).map(|s| st.status_json(s)));
    match found {
        Some(body) => super::respond(&mut st, "GET", path, &h, rate, StatusCode::OK, body),
        None => super::respond(
            &mut st,
            "GET",
            path,
            &h,
            rate,
            StatusCode::NOT_FOUND,
            json!({"error": "Record not found"}),
        ),
    }
}

/// The account's statuses, newest first, as Mastodon pages them: the ones the account wrote
/// and the ones birdbridge posted, by id (numbers, so they sort as they were made).
pub fn page(st: &FakeState, q: &HashMap<String, String>) -> Vec<Value> {
    let number = |v: &Value| {
        v["id"]
            .as_str()
            .and_then(|i| i.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut all: Vec<Value> = st.read.authored.clone();
    all.extend(
        st.statuses
            .iter()
            .filter(|s| !st.deleted.contains(&s.id))
            .map(|s| st.status_json(s)),
    );
    all.sort_by_key(|v| std::cmp::Reverse(number(v)));
    let bound = |key: &str| q.get(key).and_then(|v| v.parse::<u64>().ok());
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .min(40);
    all.retain(|v| {
        let n = number(v);
        bound("since_id").is_none_or(|b| n > b)
            && bound("min_id").is_none_or(|b| n > b)
            && bound("max_id").is_none_or(|b| n < b)
    });
    if bound("min_id").is_some() {
        // `min_id` pages forwards: the oldest after it, still answered newest first.
        let keep = all.len().saturating_sub(limit);
        all.drain(..keep);
    } else {
        all.truncate(limit);
    }
    all
}
