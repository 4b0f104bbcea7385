//! The fake X's write side, built from X's public documentation (`docs/x-target.md`):
//!
//! - `POST /2/tweets` (201 `{"data":{"id","text"}}`; 400 over 280 by X's weighted count, for
//!   unknown fields, bad media; 403 for a duplicate text, for a reply or quote the parent's
//!   author did not summon, for an app-only token; 401 for bad credentials; 429 with
//!   `x-rate-limit-*` headers and a real 15-minute window), `DELETE /2/tweets/{id}` and
//!   `DELETE /2/users/{id}/retweets/{tweet_id}` (50 per 15 minutes per user, with their
//!   headers; 429 beyond; a post that is gone is 404), `POST /2/users/{id}/retweets`,
//!   `GET /2/users/me`. No idempotency key: the same request
//!   twice makes two posts (or a duplicate refusal). Posts appear on the account's timeline
//!   (the read side's `GET /2/users/{id}/tweets`) as X shows them: links as `t.co`, `&`,
//!   `<`, `>` escaped, a media link appended.
//! - media: `initialize`, `append` (multipart, `segment_index`), `finalize`, `STATUS` with
//!   `processing_info` moving `pending` → `in_progress` → `succeeded` (or failed) on the fake's
//!   clock, each state with its `check_after_secs`; `POST /2/media/metadata` (alt text up to
//!   1,000 characters).
//! - credentials: OAuth 1.0a signatures checked (HMAC-SHA1, computed here independently of
//!   the client, nonces never accepted twice), OAuth 2.0 user bearer tokens with a token
//!   endpoint whose refresh tokens rotate and are single use (a replay revokes the grant).
//! - faults: a post that is created and then answered late (a timeout) or with a 5xx.
//!
//! Every call is counted by method and route so tests can assert exactly-once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::{FakeX, Refusal};

/// The writing account's user id and handle.
pub const WRITER_ID: &str = "7700000000000000001";
pub const WRITER_NAME: &str = "fediorg";
/// The OAuth 1.0a keys the fake accepts.
pub const CONSUMER_KEY: &str = "fake-consumer-key";
pub const CONSUMER_SECRET: &str = "fake-consumer-secret";
pub const ACCESS_TOKEN: &str = "7700000000000000001-fake-access";
pub const ACCESS_SECRET: &str = "fake-access-secret";
/// The OAuth 2.0 client id of the token endpoint.
pub const CLIENT_ID: &str = "fake-client-id";
/// The token the read side is asked with for a request whose write credentials were
/// checked here (see [`translate_auth`]).
const READ_AS_WRITER: &str = "fake-read-as-writer";

/// A fault for the next post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostFault {
    /// The post is created, and the answer comes only after this many real milliseconds
    /// (longer than the client's timeout: the outcome is unknown to it).
    CreatedThenLate(u64),
    /// The post is created, then answered with this status (a gateway error).
    CreatedThenStatus(u16),
}

/// How the next video's (or GIF's) processing ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Succeeds,
    Fails,
}

#[derive(Debug)]
struct Upload {
    category: String,
    total: u64,
    received: BTreeMap<u32, u64>,
    finalized_at: Option<DateTime<Utc>>,
    ending: Ending,
    alt_text: Option<String>,
    processing_ms: i64,
}

#[derive(Debug)]
struct Win {
    limit: u64,
    remaining: u64,
    reset: i64,
    period: i64,
}

impl Win {
    fn new(limit: u64, period: i64, now: i64) -> Self {
        Self {
            limit,
            remaining: limit,
            reset: now + period,
            period,
        }
    }

    /// Takes one call; `false` when the window is used up.
    fn take(&mut self, now: i64) -> bool {
        if now >= self.reset {
            self.remaining = self.limit;
            self.reset = now + self.period;
        }
        if self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        true
    }

    fn headers(&self, prefix: &str, out: &mut HeaderMap) {
        out.insert(
            axum::http::HeaderName::try_from(format!("{prefix}-limit")).unwrap(),
            self.limit.into(),
        );
        out.insert(
            axum::http::HeaderName::try_from(format!("{prefix}-remaining")).unwrap(),
            self.remaining.into(),
        );
        out.insert(
            axum::http::HeaderName::try_from(format!("{prefix}-reset")).unwrap(),
            self.reset.into(),
        );
    }
}

/// The write side's state, inside the fake's one lock.
#[derive(Debug, Default)]
pub struct Writes {
    calls: BTreeMap<String, u64>,
    nonces: BTreeSet<String>,
    bad_signatures: u64,
    /// Valid OAuth 2.0 access tokens and when each expires.
    access_tokens: BTreeMap<String, DateTime<Utc>>,
    /// The grant's current refresh token; spent ones revoke the grant when replayed.
    refresh_token: Option<String>,
    spent_refresh: BTreeSet<String>,
    issued: u64,
    uploads: BTreeMap<String, Upload>,
    next_media: u64,
    next_ending: Option<Ending>,
    post_window: Option<Win>,
    app_day: Option<Win>,
    /// Deletes and undone reposts, per user (X: 50 per 15 minutes each).
    delete_window: Option<Win>,
    /// Posts deleted and reposts undone (the original's id), in order.
    pub deleted: Vec<String>,
    pub unreposted: Vec<String>,
    fault: Option<PostFault>,
    /// Whether quotes are allowed (X's Enterprise plan).
    quotes_allowed: bool,
    /// How long a video or GIF takes to process, in milliseconds (`None`: 3 s).
    processing_ms: Option<i64>,
    /// Replies refused whoever the parent's author is (X's rule read strictly: a thread of
    /// one's own not counted as summoned).
    strict_replies: bool,
    /// Posts refused with a 429 whatever the window says, by number (1-based, counted
    /// from the fake's start).
    post_429: BTreeSet<u64>,
    posts_tried: u64,
    /// Ids of the posts made through the write API, oldest first.
    made: Vec<u64>,
}

impl FakeX {
    /// The write routes, merged into the fake's router.
    pub(super) fn write_routes() -> Router<FakeX> {
        Router::new()
            .route("/2/tweets", post(create_post))
            .route("/2/tweets/{id}", delete(delete_post))
            .route("/2/users/{id}/retweets", post(repost))
            .route("/2/users/{id}/retweets/{tweet_id}", delete(unrepost))
            .route("/2/users/me", get(me))
            .route("/2/media/upload/initialize", post(initialize))
            .route(
                "/2/media/upload/{id}/append",
                post(append).layer(DefaultBodyLimit::max(8 * 1024 * 1024)),
            )
            .route("/2/media/upload/{id}/finalize", post(finalize))
            .route("/2/media/upload", get(status))
            .route("/2/media/metadata", post(metadata))
            .route("/2/oauth2/token", post(token))
            .route("/oauth/request_token", post(super::oauth::request_token))
            .route("/oauth/access_token", post(super::oauth::access_token))
    }

    /// Registers the writing account (as a user of the read side too) and the token its
    /// checked reads are answered with.
    pub(super) fn init_writes(&self) {
        self.add_user(WRITER_ID, WRITER_NAME);
        self.accept_token(READ_AS_WRITER);
        let now = self.clock.now().timestamp();
        let mut inner = self.lock();
        inner.writes.post_window = Some(Win::new(100, 900, now));
        inner.writes.delete_window = Some(Win::new(50, 900, now));
        inner.writes.app_day = Some(Win::new(10_000, 86_400, now));
    }

    /// Calls so far of `route` (`"POST /2/tweets"`, `"GET /2/media/upload"`, ...).
    pub fn write_calls(&self, route: &str) -> u64 {
        self.lock().writes.calls.get(route).copied().unwrap_or(0)
    }

    /// Requests refused for a bad OAuth 1.0a signature or a replayed nonce.
    pub fn bad_signatures(&self) -> u64 {
        self.lock().writes.bad_signatures
    }

    /// The posts made through the write API, oldest first, as stored (X's rendition).
    pub fn made_posts(&self) -> Vec<Value> {
        let inner = self.lock();
        inner
            .writes
            .made
            .iter()
            .filter_map(|id| inner.tweets.get(id).map(|t| t.json.clone()))
            .collect()
    }

    /// Sets the window of `POST /2/tweets`: `limit` posts per `period_secs`.
    pub fn set_post_window(&self, limit: u64, period_secs: i64) {
        let now = self.clock.now().timestamp();
        self.lock().writes.post_window = Some(Win::new(limit, period_secs, now));
    }

    /// The next post gets `fault`.
    pub fn fault_next_post(&self, fault: PostFault) {
        self.lock().writes.fault = Some(fault);
    }

    /// The next finalized video or GIF fails processing.
    pub fn next_processing_fails(&self) {
        self.lock().writes.next_ending = Some(Ending::Fails);
    }

    /// Allows quote posts (an Enterprise plan).
    pub fn allow_quotes(&self) {
        self.lock().writes.quotes_allowed = true;
    }

    /// Videos and GIFs take `ms` milliseconds to process from now on (0: ready at once).
    pub fn set_processing_ms(&self, ms: i64) {
        self.lock().writes.processing_ms = Some(ms);
    }

    /// Refuses every reply from now on, to the account's own posts too.
    pub fn refuse_all_replies(&self) {
        self.lock().writes.strict_replies = true;
    }

    /// The `n`th post request from now on (1-based, counted from the fake's start) gets a
    /// 429 until the post window's reset, whatever the window says.
    pub fn inject_post_429(&self, n: u64) {
        self.lock().writes.post_429.insert(n);
    }

    /// Post ids made through the write API, oldest first, with what each replies to and
    /// how many media it carries: `(id, text as sent, reply parent, media)`.
    pub fn made(&self) -> Vec<(String, String, Option<String>, usize)> {
        self.made_posts()
            .iter()
            .map(|p| {
                let parent = p["referenced_tweets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["type"] == "replied_to")
                    .and_then(|r| r["id"].as_str())
                    .map(str::to_owned);
                (
                    p["id"].as_str().unwrap_or_default().to_owned(),
                    p["birdbridge_fake_sent"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    parent,
                    p["attachments"]["media_keys"]
                        .as_array()
                        .map_or(0, Vec::len),
                )
            })
            .collect()
    }

    /// The ids of the media of upload sessions finalized so far, with their category.
    pub fn uploads(&self) -> Vec<(String, String)> {
        self.lock()
            .writes
            .uploads
            .iter()
            .filter(|(_, u)| u.finalized_at.is_some())
            .map(|(id, u)| (id.clone(), u.category.clone()))
            .collect()
    }

    /// Starts an OAuth 2.0 grant: `access` valid for `valid_secs`, and `refresh`.
    pub fn grant(&self, access: &str, valid_secs: i64, refresh: &str) {
        let until = self.clock.now() + Duration::seconds(valid_secs);
        let mut inner = self.lock();
        inner.writes.access_tokens.insert(access.to_owned(), until);
        inner.writes.refresh_token = Some(refresh.to_owned());
    }

    /// Ends every OAuth 2.0 access token now (X's answer to them becomes 401).
    pub fn expire_access_tokens(&self) {
        self.lock().writes.access_tokens.clear();
    }

    /// The grant's current refresh token.
    pub fn current_refresh_token(&self) -> Option<String> {
        self.lock().writes.refresh_token.clone()
    }

    /// The alt text stored for upload `id`.
    pub fn alt_text(&self, id: &str) -> Option<String> {
        self.lock()
            .writes
            .uploads
            .get(id)
            .and_then(|u| u.alt_text.clone())
    }

    /// Bytes received for upload `id`, per segment.
    pub fn segments(&self, id: &str) -> Vec<(u32, u64)> {
        self.lock()
            .writes
            .uploads
            .get(id)
            .map(|u| u.received.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    fn count(&self, route: &str) {
        *self
            .lock()
            .writes
            .calls
            .entry(route.to_owned())
            .or_default() += 1;
    }

    /// Checks a write request's credentials; `Err` is the answer to send.
    fn check(
        &self,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Some(oauth) = auth.strip_prefix("OAuth ") {
            if self.signature_ok(method, uri, oauth) {
                return Ok(());
            }
            self.lock().writes.bad_signatures += 1;
            return Err(Box::new(unauthorized()));
        }
        if let Some(token) = auth.strip_prefix("Bearer ") {
            let now = self.clock.now();
            let inner = self.lock();
            if inner
                .writes
                .access_tokens
                .get(token)
                .is_some_and(|until| *until > now)
            {
                return Ok(());
            }
            if inner.tokens.contains(token) {
                // An app-only token: X wants user context for writes.
                return Err(Box::new(problem(
                    StatusCode::FORBIDDEN,
                    "https://api.x.com/2/problems/unsupported-authentication",
                    "Unsupported Authentication",
                    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
                )));
            }
        }
        Err(Box::new(unauthorized()))
    }

    /// RFC 5849 verification (`oauth.rs`): the fake's access token or one the PIN flow
    /// issued, each nonce good once.
    fn signature_ok(&self, method: &Method, uri: &axum::http::Uri, header: &str) -> bool {
        let verified =
            super::oauth::verify(&self.url(), method, uri, header, |token| match token {
                Some(ACCESS_TOKEN) => Some(ACCESS_SECRET.to_owned()),
                Some(other) => self.issued_secret(other),
                None => None,
            });
        // A nonce is good once.
        verified.is_some_and(|oauth| {
            let nonce = oauth.get("oauth_nonce").cloned().unwrap_or_default();
            self.lock().writes.nonces.insert(nonce)
        })
    }

    /// The windows' headers after taking one post; `Err` is the 429 to send.
    /// Takes one delete (or undone repost) from the user's window: its headers, or a 429.
    fn take_delete(&self) -> Result<HeaderMap, Refusal> {
        let now = self.clock.now().timestamp();
        let mut inner = self.lock();
        let Some(window) = inner.writes.delete_window.as_mut() else {
            return Ok(HeaderMap::new());
        };
        let ok = window.take(now);
        let mut headers = HeaderMap::new();
        window.headers("x-rate-limit", &mut headers);
        if ok {
            Ok(headers)
        } else {
            inner.reads.rate_limited += 1;
            Err(Box::new((
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                Json(json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})),
            )
                .into_response()))
        }
    }

    /// Posts deleted through the write API so far, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.lock().writes.deleted.clone()
    }

    /// Reposts undone so far (the originals' ids), in order.
    pub fn unreposted(&self) -> Vec<String> {
        self.lock().writes.unreposted.clone()
    }

    fn take_post(&self) -> Result<HeaderMap, Refusal> {
        let now = self.clock.now().timestamp();
        let mut inner = self.lock();
        let w = &mut inner.writes;
        w.posts_tried += 1;
        let injected = w.post_429.remove(&w.posts_tried);
        let (Some(window), Some(day)) = (w.post_window.as_mut(), w.app_day.as_mut()) else {
            return Ok(HeaderMap::new());
        };
        if injected {
            window.remaining = 0;
        }
        let ok = !injected && window.take(now) && day.take(now);
        let mut headers = HeaderMap::new();
        window.headers("x-rate-limit", &mut headers);
        day.headers("x-app-limit-24hour", &mut headers);
        if ok {
            Ok(headers)
        } else {
            Err(Box::new((
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                Json(json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})),
            )
                .into_response()))
        }
    }
}

fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response {
    (
        status,
        Json(json!({"type": kind, "title": title, "detail": detail, "status": status.as_u16()})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "about:blank",
        "Unauthorized",
        "Unauthorized",
    )
}

fn invalid(detail: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"errors": [{"message": detail}], "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.x.com/2/problems/invalid-request"}),
        ),
    )
        .into_response()
}

/// Read requests (the account's timeline, for reconciliation) carrying write credentials
/// checked here are handed to the read side with a token it accepts; anything else passes
/// through untouched.
pub async fn translate_auth(State(fake): State<FakeX>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let is_write_route = write_route(&method, req.uri().path()).is_some();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let user_context = auth.starts_with("OAuth ")
        || auth
            .strip_prefix("Bearer ")
            .is_some_and(|t| fake.lock().writes.access_tokens.contains_key(t));
    if !is_write_route && user_context {
        fake.count(&format!("{method} {}", req.uri().path()));
        if fake.check(&method, req.uri(), req.headers()).is_ok() {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {READ_AS_WRITER}").parse().unwrap(),
            );
        }
    }
    next.run(req).await
}

/// The counted name of a write route, if `path` is one.
fn write_route(method: &Method, path: &str) -> Option<String> {
    let route = if path.starts_with("/2/media/upload/") && path.ends_with("/append") {
        "/2/media/upload/{id}/append".to_owned()
    } else if path.starts_with("/2/media/upload/") && path.ends_with("/finalize") {
        "/2/media/upload/{id}/finalize".to_owned()
    } else if path.starts_with("/2/media/")
        || path == "/2/users/me"
        || path == "/2/oauth2/token"
        || (path == "/2/tweets" && method == Method::POST)
    {
        path.to_owned()
    } else if path.starts_with("/2/tweets/") && method == Method::DELETE {
        "/2/tweets/{id}".to_owned()
    } else if path.starts_with("/2/users/") && path.ends_with("/retweets") {
        "/2/users/{id}/retweets".to_owned()
    } else if path.starts_with("/2/users/") && path.contains("/retweets/") {
        "/2/users/{id}/retweets/{tweet_id}".to_owned()
    } else {
        return None;
    };
    Some(format!("{method} {route}"))
}

/// Counts the call and checks its credentials.
fn admit_write(
    fake: &FakeX,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    if let Some(route) = write_route(method, uri.path()) {
        fake.count(&route);
    }
    fake.check(method, uri, headers)
}

/// X's rendition of a post's text: `&`, `<`, `>` escaped, links replaced by `t.co` links
/// (a link ends at whitespace, which stays as it was).
fn rendition(text: &str, n: u64) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    let mut rest = escaped.as_str();
    while !rest.is_empty() {
        let space = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..space]);
        rest = &rest[space..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.starts_with("http://") || word.starts_with("https://") {
            i += 1;
            let _ = write!(out, "https://t.co/{n:04}x{i}");
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    out
}

async fn create_post(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    let limits = match fake.take_post() {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not a JSON object.");
    };
    if let Some(unknown) = req.keys().find(|k| {
        ![
            "text",
            "media",
            "reply",
            "quote_tweet_id",
            "reply_settings",
            "poll",
        ]
        .contains(&k.as_str())
    }) {
        return invalid(&format!("The query parameter [{unknown}] is not one of [text,media,reply,quote_tweet_id,reply_settings,poll]"));
    }
    let text = req.get("text").and_then(Value::as_str).unwrap_or_default();
    let media_ids: Vec<String> = req
        .get("media")
        .and_then(|m| m["media_ids"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if text.is_empty() && media_ids.is_empty() {
        return invalid("Post text or media is required.");
    }
    if birdbridge::render::count::x_weighted::length(text) > 280 {
        return invalid("Your Post text is too long.");
    }
    let reply_to = req
        .get("reply")
        .and_then(|r| r["in_reply_to_tweet_id"].as_str())
        .map(str::to_owned);
    let quote_of = req
        .get("quote_tweet_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let extra = match accept_post(
        &fake,
        text,
        &media_ids,
        reply_to.as_ref(),
        quote_of.as_ref(),
    ) {
        Ok(extra) => extra,
        Err(r) => return *r,
    };
    let n = fake.lock().writes.made.len() as u64 + 1;
    let mut shown = rendition(text, n);
    if !media_ids.is_empty() {
        shown = format!("{shown} https://t.co/{n:04}media");
        shown = shown.trim_start().to_owned();
    }
    let id = fake.post(WRITER_ID, &shown, extra);
    let fault = {
        let mut inner = fake.lock();
        inner.writes.made.push(id);
        inner.writes.fault.take()
    };
    match fault {
        Some(PostFault::CreatedThenLate(ms)) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        Some(PostFault::CreatedThenStatus(status)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                limits,
                "upstream connect error or disconnect/reset before headers",
            )
                .into_response();
        }
        None => {}
    }
    (
        StatusCode::CREATED,
        limits,
        Json(json!({"data": {"id": id.to_string(), "text": shown, "edit_history_tweet_ids": [id.to_string()]}})),
    )
        .into_response()
}

/// Checks a new post against the account's posts and X's rules (media ready and fitting,
/// no duplicate, the reply rule, quotes allowed); `Ok` is what to store with it.
fn accept_post(
    fake: &FakeX,
    text: &str,
    media_ids: &[String],
    reply_to: Option<&String>,
    quote_of: Option<&String>,
) -> Result<Value, Refusal> {
    let inner = fake.lock();
    // Media: each ready, and what one post may hold.
    let mut categories = Vec::new();
    for id in media_ids {
        let now = fake.clock.now();
        let Some(upload) = inner.writes.uploads.get(id) else {
            return Err(Box::new(invalid(&format!(
                "Your media IDs are invalid: {id}"
            ))));
        };
        if processing(upload, now)["state"] != "succeeded" {
            return Err(Box::new(invalid(
                "Your media IDs are invalid or not ready.",
            )));
        }
        categories.push(upload.category.clone());
    }
    let fits = categories.is_empty()
        || categories.len() == 1
        || (categories.len() <= 4 && categories.iter().all(|c| c == "tweet_image"));
    if !fits {
        return Err(Box::new(invalid(
            "Your media IDs are invalid: a post holds 4 images or 1 GIF or 1 video.",
        )));
    }
    // Duplicate: the same text as one of the account's posts.
    let normal = rendition(text, 0);
    let duplicate = !text.is_empty()
        && inner.writes.made.iter().any(|id| {
            inner.tweets.get(id).is_some_and(|t| {
                t.json["birdbridge_fake_sent"]
                    .as_str()
                    .map(|s| rendition(s, 0))
                    == Some(normal.clone())
            })
        });
    if duplicate {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "Forbidden",
            "You are not allowed to create a Tweet with duplicate content.",
        )));
    }
    // The reply rule: the parent's author is the account, or mentioned it.
    let mut refs = Vec::new();
    if let Some(parent) = reply_to {
        let Some(p) = parent
            .parse::<u64>()
            .ok()
            .and_then(|id| inner.tweets.get(&id))
        else {
            return Err(Box::new(invalid(
                "The Post you are replying to has been deleted or is not visible to you.",
            )));
        };
        let summoned = (p.author_id == WRITER_ID && !inner.writes.strict_replies)
            || p.json["text"]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains(&format!("@{WRITER_NAME}")));
        if !summoned {
            return Err(Box::new(reply_rule()));
        }
        refs.push(json!({"type": "replied_to", "id": parent}));
    }
    if let Some(quoted) = quote_of {
        if !inner.writes.quotes_allowed {
            return Err(Box::new(reply_rule()));
        }
        refs.push(json!({"type": "quoted", "id": quoted}));
    }
    let mut extra = json!({ "birdbridge_fake_sent": text });
    if !refs.is_empty() {
        extra["referenced_tweets"] = json!(refs);
    }
    if !media_ids.is_empty() {
        let keys: Vec<String> = media_ids.iter().map(|id| format!("3_{id}")).collect();
        extra["attachments"] = json!({ "media_keys": keys });
    }
    Ok(extra)
}

fn reply_rule() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "https://api.x.com/2/problems/not-authorized-for-resource",
        "Forbidden",
        "You can only reply to or quote posts where you are mentioned or are the author.",
    )
}

async fn delete_post(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    let limits = match fake.take_delete() {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let mut inner = fake.lock();
    let Some(key) = id
        .parse::<u64>()
        .ok()
        .filter(|k| inner.tweets.contains_key(k))
    else {
        return problem(
            StatusCode::NOT_FOUND,
            "https://api.x.com/2/problems/resource-not-found",
            "Not Found Error",
            &format!("Could not find post with id: [{id}]."),
        );
    };
    if inner.tweets[&key].author_id != WRITER_ID {
        return problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "Forbidden",
            "You are not allowed to delete a Tweet that is not yours.",
        );
    }
    inner.tweets.remove(&key);
    inner.writes.deleted.push(id);
    (limits, Json(json!({"data": {"deleted": true}}))).into_response()
}

/// `DELETE /2/users/{id}/retweets/{tweet_id}`: undoes the user's repost of `tweet_id`
/// (the repost made through the write API leaves the timeline); `retweeted: false` also
/// when there was none, as X answers.
async fn unrepost(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((user, tweet_id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    if user != WRITER_ID {
        return problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "Forbidden",
            "You are not permitted to perform this action.",
        );
    }
    let limits = match fake.take_delete() {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let mut inner = fake.lock();
    let reposts: Vec<u64> = inner
        .tweets
        .values()
        .filter(|t| {
            t.author_id == WRITER_ID
                && t.json["referenced_tweets"].as_array().is_some_and(|r| {
                    r.iter()
                        .any(|r| r["type"] == "retweeted" && r["id"] == tweet_id.as_str())
                })
        })
        .map(|t| t.id)
        .collect();
    for id in reposts {
        inner.tweets.remove(&id);
    }
    inner.writes.unreposted.push(tweet_id);
    (limits, Json(json!({"data": {"retweeted": false}}))).into_response()
}

async fn repost(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(user): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    if user != WRITER_ID {
        return problem(
            StatusCode::FORBIDDEN,
            "about:blank",
            "Forbidden",
            "You are not permitted to perform this action.",
        );
    }
    let Some(target) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["tweet_id"].as_str().map(str::to_owned))
    else {
        return invalid("`tweet_id` is required.");
    };
    let original = {
        let inner = fake.lock();
        target
            .parse::<u64>()
            .ok()
            .and_then(|id| inner.tweets.get(&id).map(|t| t.json["text"].clone()))
    };
    let Some(original) = original else {
        return invalid("The Post you are reposting has been deleted or is not visible to you.");
    };
    let id = fake.post(
        WRITER_ID,
        &format!(
            "RT @{WRITER_NAME}: {}",
            original.as_str().unwrap_or_default()
        ),
        json!({"referenced_tweets": [{"type": "retweeted", "id": target}]}),
    );
    fake.lock().writes.made.push(id);
    Json(json!({"data": {"retweeted": true, "rest_id": id.to_string()}})).into_response()
}

async fn me(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    Json(json!({"data": {"id": WRITER_ID, "name": "Fedi Org", "username": WRITER_NAME}}))
        .into_response()
}

const MB: u64 = 1024 * 1024;

async fn initialize(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not JSON.");
    };
    let media_type = req["media_type"].as_str().unwrap_or_default().to_owned();
    let category = req["media_category"]
        .as_str()
        .unwrap_or("tweet_image")
        .to_owned();
    let total = req["total_bytes"].as_u64().unwrap_or(0);
    let limit = match category.as_str() {
        "tweet_image" => 5 * MB,
        "tweet_gif" => 15 * MB,
        "tweet_video" | "amplify_video" => 512 * MB,
        _ => return invalid("media_category is not one of the allowed values"),
    };
    let type_fits = match category.as_str() {
        "tweet_image" => media_type.starts_with("image/") && media_type != "image/gif",
        "tweet_gif" => media_type == "image/gif",
        _ => media_type.starts_with("video/"),
    };
    if !type_fits {
        return invalid(&format!(
            "media_type {media_type} does not fit media_category {category}"
        ));
    }
    if total > limit {
        return invalid(&format!("total_bytes {total} is over the {category} limit"));
    }
    let mut inner = fake.lock();
    inner.writes.next_media += 1;
    let id = format!("{}", 1_900_000_000_000_000_000u64 + inner.writes.next_media);
    let ending = if category == "tweet_image" {
        Ending::Succeeds
    } else {
        inner.writes.next_ending.take().unwrap_or(Ending::Succeeds)
    };
    let processing_ms = inner.writes.processing_ms.unwrap_or(3000);
    inner.writes.uploads.insert(
        id.clone(),
        Upload {
            category,
            total,
            received: BTreeMap::new(),
            finalized_at: None,
            ending,
            alt_text: None,
            processing_ms,
        },
    );
    Json(json!({"data": {"id": id, "media_key": format!("3_{id}"), "expires_after_secs": 86_400}}))
        .into_response()
}

async fn append(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    let (mut segment, mut bytes) = (None, None);
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("segment_index") => {
                segment = field.text().await.ok().and_then(|t| t.parse::<u32>().ok());
            }
            Some("media") => bytes = field.bytes().await.ok().map(|b| b.len() as u64),
            _ => return invalid("unknown field"),
        }
    }
    let (Some(segment), Some(bytes)) = (segment, bytes) else {
        return invalid("`media` and `segment_index` are required.");
    };
    if segment > 999 {
        return invalid("segment_index must be between 0 and 999");
    }
    let mut inner = fake.lock();
    let Some(upload) = inner.writes.uploads.get_mut(&id) else {
        return invalid("Unknown media id.");
    };
    upload.received.insert(segment, bytes);
    Json(json!({"data": {"expires_at": 1_900_000_000}})).into_response()
}

/// The processing state of an upload at `now`: an image is ready at once; a video or GIF
/// is pending for a third of its processing time (3 s unless set), in progress until it
/// is over, then done.
fn processing(upload: &Upload, now: DateTime<Utc>) -> Value {
    let Some(at) = upload.finalized_at else {
        return json!({"state": "pending", "check_after_secs": 1});
    };
    if upload.category == "tweet_image" {
        return json!({"state": "succeeded"});
    }
    let age = (now - at).num_milliseconds();
    let total = upload.processing_ms;
    match (age, upload.ending) {
        (a, _) if a < total / 3 => json!({"state": "pending", "check_after_secs": 1}),
        (a, _) if a < total => {
            json!({"state": "in_progress", "check_after_secs": 2, "progress_percent": 50})
        }
        (_, Ending::Succeeds) => json!({"state": "succeeded", "progress_percent": 100}),
        (_, Ending::Fails) => json!({"state": "failed", "progress_percent": 100,
            "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}}),
    }
}

fn media_data(id: &str, upload: &Upload, now: DateTime<Utc>) -> Value {
    let mut data = json!({"id": id, "media_key": format!("3_{id}"), "size": upload.total, "expires_after_secs": 86_400});
    if upload.category != "tweet_image" {
        data["processing_info"] = processing(upload, now);
    }
    data
}

async fn finalize(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    let now = fake.clock.now();
    let mut inner = fake.lock();
    let Some(upload) = inner.writes.uploads.get_mut(&id) else {
        return invalid("Unknown media id.");
    };
    let received: u64 = upload.received.values().sum();
    let contiguous = upload
        .received
        .keys()
        .copied()
        .eq(0..u32::try_from(upload.received.len()).unwrap());
    if received != upload.total || !contiguous {
        return invalid(&format!(
            "File size mismatch: got {received} bytes in {} segments, expected {}",
            upload.received.len(),
            upload.total
        ));
    }
    upload.finalized_at = Some(now);
    Json(json!({"data": media_data(&id, upload, now)})).into_response()
}

async fn status(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    if query.get("command").map(String::as_str) != Some("STATUS") {
        return invalid("command must be STATUS");
    }
    let id = query.get("media_id").cloned().unwrap_or_default();
    let now = fake.clock.now();
    let inner = fake.lock();
    match inner.writes.uploads.get(&id) {
        Some(upload) if upload.finalized_at.is_some() => {
            Json(json!({"data": media_data(&id, upload, now)})).into_response()
        }
        _ => invalid("Unknown or unfinished media id."),
    }
}

async fn metadata(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit_write(&fake, &method, &uri, &headers) {
        return *r;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not JSON.");
    };
    let id = req["id"].as_str().unwrap_or_default().to_owned();
    let Some(text) = req["metadata"]["alt_text"]["text"].as_str() else {
        return invalid("metadata.alt_text.text is required.");
    };
    if text.chars().count() > 1000 {
        return invalid("alt_text.text must be at most 1000 characters.");
    }
    let mut inner = fake.lock();
    let Some(upload) = inner.writes.uploads.get_mut(&id) else {
        return invalid("Unknown media id.");
    };
    upload.alt_text = Some(text.to_owned());
    Json(json!({"data": {"id": id, "associated_metadata": {"alt_text": {"text": text}}}}))
        .into_response()
}

/// The OAuth 2.0 token endpoint, refresh grant only: a new access token and a new refresh
/// token; the old refresh token is spent, and using a spent one revokes the grant.
async fn token(
    State(fake): State<FakeX>,
    method: Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    if let Some(route) = write_route(&method, uri.path()) {
        fake.count(&route);
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let refused = |detail: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": detail})),
        )
            .into_response()
    };
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return refused("Missing required parameter [client_id].");
    }
    let now = fake.clock.now();
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {}
        Some("authorization_code") => {
            if let Err(detail) = super::oauth::exchange_code(&fake, &form) {
                return refused(detail);
            }
            let mut inner = fake.lock();
            return issue(&mut inner.writes, now);
        }
        _ => return refused("Missing required parameter [grant_type]."),
    }
    let given = form.get("refresh_token").cloned().unwrap_or_default();
    let mut inner = fake.lock();
    let w = &mut inner.writes;
    if w.refresh_token.as_deref() != Some(given.as_str()) {
        if w.spent_refresh.contains(&given) {
            // A replay: the whole grant is revoked.
            w.refresh_token = None;
            w.access_tokens.clear();
        }
        return refused("Value passed for the token was invalid.");
    }
    w.spent_refresh.insert(given);
    issue(w, now)
}

/// A new access token and refresh token for the grant.
fn issue(w: &mut Writes, now: DateTime<Utc>) -> Response {
    w.issued += 1;
    let access = format!("fake-access-{}", w.issued);
    let refresh = format!("fake-refresh-{}", w.issued);
    w.access_tokens
        .insert(access.clone(), now + Duration::seconds(7200));
    w.refresh_token = Some(refresh.clone());
    Json(json!({"token_type": "bearer", "expires_in": 7200, "access_token": access,
        "scope": "tweet.read tweet.write users.read media.write offline.access", "refresh_token": refresh}))
        .into_response()
}
