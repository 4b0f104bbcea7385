//! A fake X API v2 on 127.0.0.1, for tests and the daemon benchmark. It serves real fixture
//! posts and generated ones with the real API's semantics where birdbridge depends on them:
//! `since_id` and `until_id` (exclusive), `start_time`/`end_time`, `max_results` (5..100,
//! else 400), `pagination_token`, `exclude=retweets,replies`, newest first, `includes` for
//! the returned posts, `meta`, bearer tokens (401 when wrong or revoked), the
//! `x-rate-limit-*` headers with a real window (429 with code 88 when used up), injected
//! 429s, and billable reads counted per post returned (empty answers are free). Its media
//! host (`media.rs`) serves the posts' photos and videos on the same address; its write
//! side (`write.rs`) takes posts, reposts, deletes and media uploads from the X target.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the fake"
)]

pub mod media;
pub mod oauth;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use birdbridge::clock::Clock;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// One stored post with what a response must include for it.
#[derive(Debug, Clone)]
pub struct Tweet {
    pub id: u64,
    pub author_id: String,
    pub created_at: Option<DateTime<Utc>>,
    pub json: Value,
    pub inc_tweets: Vec<Value>,
    pub inc_media: Vec<Value>,
    pub inc_users: Vec<Value>,
}

/// Billable reads and requests, as X would bill them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    pub posts: u64,
    pub users: u64,
    pub requests: u64,
    pub rate_limited: u64,
}

#[derive(Debug)]
struct Window {
    limit: u64,
    remaining: u64,
    reset: i64,
}

#[derive(Debug)]
pub struct Inner {
    users: BTreeMap<String, Value>,
    tweets: BTreeMap<u64, Tweet>,
    tokens: BTreeSet<String>,
    window: Window,
    /// Timeline request numbers (1-based) answered with a 429 whatever the window says.
    inject_429: BTreeSet<u64>,
    timeline_requests: u64,
    /// Posts per page at most, whatever `max_results` says (the real API may send fewer).
    page_cap: usize,
    reads: Reads,
    /// Every request's path and query, in order.
    pub log: Vec<String>,
    /// The media host (see `media.rs`).
    files: media::Files,
    /// The write API (see `write.rs`).
    writes: write::Writes,
    /// The authorisation endpoints (see `oauth.rs`).
    grants: oauth::Grants,
}

/// The fake; clones share the same state.
#[derive(Clone)]
pub struct FakeX {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    clock: Clock,
}

impl std::fmt::Debug for FakeX {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeX")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A response that ends a request early (boxed: responses are large).
type Refusal = Box<Response>;

/// The bearer token the fake accepts unless told otherwise.
pub const TOKEN: &str = "test-bearer-token";

/// Window size of the timeline endpoint per token (the real one is 900 or 10,000).
pub const DEFAULT_LIMIT: u64 = 900;

impl FakeX {
    /// Starts the fake on the current runtime. `clock` drives its rate-limit windows and
    /// the dates of generated posts.
    pub async fn start(clock: Clock) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Self::new(listener.local_addr().unwrap(), clock);
        let app = fake.router();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        fake
    }

    /// Starts the fake on its own thread and runtime (for tests that run the binary).
    pub fn start_in_thread(clock: Clock) -> Self {
        Self::start_on_port(clock, 0)
    }

    /// As [`FakeX::start_in_thread`], on a chosen port of 127.0.0.1 (0: any free one).
    pub fn start_on_port(clock: Clock, port: u16) -> Self {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let fake = Self::new(std_listener.local_addr().unwrap(), clock);
        let app = fake.router();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        fake
    }

    fn new(addr: SocketAddr, clock: Clock) -> Self {
        let reset = clock.now().timestamp() + 900;
        let fake = Self {
            addr,
            inner: Arc::new(Mutex::new(Inner {
                users: BTreeMap::new(),
                tweets: BTreeMap::new(),
                tokens: BTreeSet::from([TOKEN.to_owned()]),
                window: Window {
                    limit: DEFAULT_LIMIT,
                    remaining: DEFAULT_LIMIT,
                    reset,
                },
                inject_429: BTreeSet::new(),
                timeline_requests: 0,
                page_cap: 100,
                reads: Reads::default(),
                log: Vec::new(),
                files: media::Files::default(),
                writes: write::Writes::default(),
                grants: oauth::Grants::default(),
            })),
            clock,
        };
        fake.init_writes();
        fake
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/2/users/by/username/{username}", get(user_by_username))
            .route("/2/users/{id}/tweets", get(timeline))
            .route("/2/tweets", get(lookup))
            .route("/media/{name}", get(media::serve))
            .merge(Self::write_routes())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                write::translate_auth,
            ))
            .with_state(self.clone())
    }

    /// The base URL to configure as `api_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Adds an account.
    pub fn add_user(&self, id: &str, username: &str) {
        self.lock().users.insert(
            username.to_ascii_lowercase(),
            json!({ "id": id, "username": username, "name": username }),
        );
    }

    /// Accepts another token too.
    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.insert(token.to_owned());
    }

    /// Refuses a token from now on (401).
    pub fn revoke(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// The `n`th timeline request from now on (1-based, counted from the fake's start)
    /// gets a 429.
    pub fn inject_429(&self, n: u64) {
        self.lock().inject_429.insert(n);
    }

    /// Sends at most `cap` posts per page from now on, with a `next_token` for the rest.
    pub fn set_page_cap(&self, cap: usize) {
        self.lock().page_cap = cap;
    }

    /// Timeline requests so far.
    pub fn timeline_requests(&self) -> u64 {
        self.lock().timeline_requests
    }

    /// Sets the rate-limit window: `limit` requests until the clock passes `reset`.
    pub fn set_window(&self, limit: u64, reset: DateTime<Utc>) {
        let mut inner = self.lock();
        inner.window = Window {
            limit,
            remaining: limit,
            reset: reset.timestamp(),
        };
    }

    /// Billable reads so far.
    pub fn reads(&self) -> Reads {
        self.lock().reads
    }

    /// Every request so far, as `path?query`.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// An id as X makes them: the time in the high bits (a snowflake), above every id
    /// stored.
    fn next_id(&self, inner: &Inner) -> u64 {
        let ms =
            u64::try_from(self.clock.now().timestamp_millis() - 1_288_834_974_657).unwrap_or(0);
        let newest = inner.tweets.keys().next_back().copied().unwrap_or(0);
        (ms << 22).max(newest + 1)
    }

    /// Adds a post by `author_id` with `text` and returns its id. `extra` fields are merged
    /// into the post object (`entities`, `referenced_tweets`, ...).
    pub fn post(&self, author_id: &str, text: &str, extra: Value) -> u64 {
        let mut inner = self.lock();
        let id = self.next_id(&inner);
        let created = self.clock.now();
        let mut json = json!({
            "id": id.to_string(),
            "text": text,
            "author_id": author_id,
            "created_at": created.to_rfc3339_opts(SecondsFormat::Millis, true),
            "edit_history_tweet_ids": [id.to_string()],
            "lang": "en",
            "possibly_sensitive": false,
        });
        if let (Some(obj), Value::Object(more)) = (json.as_object_mut(), extra) {
            obj.extend(more);
        }
        let author = inner
            .users
            .values()
            .find(|u| u["id"] == author_id)
            .cloned()
            .into_iter()
            .collect();
        inner.tweets.insert(
            id,
            Tweet {
                id,
                author_id: author_id.to_owned(),
                created_at: Some(created),
                json,
                inc_tweets: Vec::new(),
                inc_media: Vec::new(),
                inc_users: author,
            },
        );
        id
    }

    /// Deletes post `id` at the source (as its author would on X): gone from the
    /// timeline, and a lookup names it under `errors` as not found.
    pub fn remove(&self, id: u64) {
        self.lock().tweets.remove(&id);
    }

    /// Adds `n` generated posts by `author_id`; returns their ids, oldest first.
    pub fn posts(&self, author_id: &str, n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| self.post(author_id, &format!("generated post {i}"), json!({})))
            .collect()
    }

    /// Replaces post `id` by a new version with `text` (an edit): the timeline then shows
    /// only the new version, whose `edit_history_tweet_ids` lists both.
    pub fn edit(&self, id: u64, text: &str) -> u64 {
        let (author, history) = {
            let inner = self.lock();
            let old = &inner.tweets[&id];
            let history: Vec<Value> = old.json["edit_history_tweet_ids"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (old.author_id.clone(), history)
        };
        let new_id = self.post(&author, text, json!({}));
        let mut inner = self.lock();
        inner.tweets.remove(&id);
        let mut history = history;
        history.push(json!(new_id.to_string()));
        if let Some(t) = inner.tweets.get_mut(&new_id) {
            t.json["edit_history_tweet_ids"] = Value::Array(history);
        }
        new_id
    }

    /// Stores every post of a real page (`{"data": [...], "includes": {...}}`), each with
    /// the part of the page's `includes` it needs.
    pub fn load_page(&self, page: &Value) {
        let includes = &page["includes"];
        let by = |list: &str, key: &str| -> BTreeMap<String, Value> {
            includes[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| Some((v[key].as_str()?.to_owned(), v.clone())))
                .collect()
        };
        let (tweets, media, users) = (
            by("tweets", "id"),
            by("media", "media_key"),
            by("users", "id"),
        );
        let mut inner = self.lock();
        for user in users.values() {
            if let Some(name) = user["username"].as_str() {
                inner
                    .users
                    .entry(name.to_ascii_lowercase())
                    .or_insert_with(|| user.clone());
            }
        }
        for post in page["data"].as_array().into_iter().flatten() {
            let Some(id) = post["id"].as_str().and_then(|i| i.parse::<u64>().ok()) else {
                continue;
            };
            let referenced: Vec<Value> = post["referenced_tweets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| tweets.get(r["id"].as_str()?).cloned())
                .collect();
            let media_keys = std::iter::once(post)
                .chain(referenced.iter())
                .flat_map(|t| {
                    t["attachments"]["media_keys"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                });
            let inc_media = media_keys
                .filter_map(|k| media.get(k.as_str()?).cloned())
                .collect();
            let user_ids = std::iter::once(post)
                .chain(referenced.iter())
                .flat_map(|t| [t["author_id"].clone(), t["in_reply_to_user_id"].clone()]);
            let inc_users = user_ids
                .filter_map(|u| users.get(u.as_str()?).cloned())
                .collect();
            inner.tweets.insert(
                id,
                Tweet {
                    id,
                    author_id: post["author_id"].as_str().unwrap_or_default().to_owned(),
                    created_at: post["created_at"]
                        .as_str()
                        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                        .map(|c| c.with_timezone(&Utc)),
                    json: post.clone(),
                    inc_tweets: referenced,
                    inc_media,
                    inc_users,
                },
            );
        }
    }

    /// Checks the bearer token and the rate-limit window; `Err` is the response to send.
    fn admit(&self, headers: &HeaderMap, timeline: bool) -> Result<HeaderMap, Refusal> {
        let mut inner = self.lock();
        inner.reads.requests += 1;
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !inner.tokens.contains(token) {
            return Err(Box::new(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})),
                )
                    .into_response(),
            ));
        }
        let now = self.clock.now().timestamp();
        if now >= inner.window.reset {
            inner.window.remaining = inner.window.limit;
            inner.window.reset = now + 900;
        }
        let injected = if timeline {
            inner.timeline_requests += 1;
            let n = inner.timeline_requests;
            inner.inject_429.remove(&n)
        } else {
            false
        };
        let limited = injected || inner.window.remaining == 0;
        if !limited {
            inner.window.remaining -= 1;
        }
        let mut out = HeaderMap::new();
        out.insert("x-rate-limit-limit", inner.window.limit.into());
        out.insert(
            "x-rate-limit-remaining",
            (if injected { 0 } else { inner.window.remaining }).into(),
        );
        out.insert("x-rate-limit-reset", inner.window.reset.into());
        if limited {
            inner.reads.rate_limited += 1;
            return Err(Box::new(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    out,
                    Json(json!({"errors": [{"code": 88, "message": "Rate limit exceeded"}]})),
                )
                    .into_response(),
            ));
        }
        Ok(out)
    }
}

async fn user_by_username(
    State(fake): State<FakeX>,
    Path(username): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.lock()
        .log
        .push(format!("/2/users/by/username/{username}"));
    let limits = match fake.admit(&headers, false) {
        Ok(h) => h,
        Err(response) => return *response,
    };
    let mut inner = fake.lock();
    let Some(mut user) = inner.users.get(&username.to_ascii_lowercase()).cloned() else {
        return (limits, Json(json!({"errors": [{
            "value": username, "detail": format!("Could not find user with username: [{username}]."),
            "title": "Not Found Error", "resource_type": "user", "parameter": "username",
            "type": "https://api.twitter.com/2/problems/resource-not-found"}]})))
            .into_response();
    };
    let fields = query.get("user.fields").cloned().unwrap_or_default();
    if fields.split(',').any(|f| f == "most_recent_tweet_id") {
        let id = user["id"].clone();
        if let Some(newest) = inner
            .tweets
            .values()
            .rev()
            .find(|t| json!(t.author_id) == id)
        {
            user["most_recent_tweet_id"] = json!(newest.id.to_string());
        }
    }
    inner.reads.users += 1;
    (limits, Json(json!({ "data": user }))).into_response()
}

/// `GET /2/tweets?ids=...`: the posts that exist, newest first, and a `Not Found Error` for
/// each id that does not.
async fn lookup(
    State(fake): State<FakeX>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.lock().log.push(format!(
        "/2/tweets?ids={}",
        query.get("ids").cloned().unwrap_or_default()
    ));
    let limits = match fake.admit(&headers, false) {
        Ok(h) => h,
        Err(response) => return *response,
    };
    let mut inner = fake.lock();
    let ids: Vec<&str> = query
        .get("ids")
        .map(|i| i.split(',').collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 100 {
        return *bad_request("`ids` must name 1 to 100 posts");
    }
    let found: Vec<&Tweet> = ids
        .iter()
        .filter_map(|id| inner.tweets.get(&id.parse::<u64>().ok()?))
        .collect();
    let errors: Vec<Value> = ids
        .iter()
        .filter(|id| !found.iter().any(|t| t.id.to_string() == **id))
        .map(|id| json!({"value": id, "detail": format!("Could not find tweet with ids: [{id}]."), "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids", "resource_id": id, "type": "https://api.twitter.com/2/problems/resource-not-found"}))
        .collect();
    let data: Vec<Value> = found.iter().map(|t| t.json.clone()).collect();
    // The expansions the client asks for, as on the timeline: a post read again keeps its
    // media, referenced posts and authors.
    let includes = |list: fn(&Tweet) -> &Vec<Value>| -> Vec<Value> {
        found.iter().flat_map(|t| list(t).clone()).collect()
    };
    let returned = data.len() as u64;
    let mut body = json!({"data": data, "includes": {
        "tweets": includes(|t| &t.inc_tweets),
        "media": includes(|t| &t.inc_media),
        "users": includes(|t| &t.inc_users),
    }});
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors);
    }
    inner.reads.posts += returned;
    (limits, Json(body)).into_response()
}

#[expect(
    clippy::unnecessary_box_returns,
    reason = "every caller returns it as a Refusal"
)]
fn bad_request(message: &str) -> Refusal {
    Box::new(
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": [{"parameters": {}, "message": message}], "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"})),
        )
            .into_response(),
    )
}

/// The query of a timeline request, checked as the API checks it.
struct Params {
    max: usize,
    since: Option<u64>,
    until: Option<u64>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    older_than: Option<u64>,
    no_retweets: bool,
    no_replies: bool,
}

fn params(query: &BTreeMap<String, String>) -> Result<Params, Refusal> {
    let max = match query.get("max_results").map(|m| m.parse()) {
        None => 10,
        Some(Ok(m)) if (5..=100).contains(&m) => m,
        Some(_) => {
            return Err(bad_request(
                "The `max_results` query parameter value is not between 5 and 100",
            ))
        }
    };
    let id = |name: &str| -> Result<Option<u64>, Refusal> {
        query
            .get(name)
            .map(|v| v.parse().map_err(|_| bad_request(&format!("bad {name}"))))
            .transpose()
    };
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, Refusal> {
        query
            .get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| bad_request(&format!("bad {name}")))
            })
            .transpose()
    };
    let older_than = query
        .get("pagination_token")
        .map(|t| {
            t.strip_prefix("older-than-")
                .and_then(|i| i.parse::<u64>().ok())
                .ok_or_else(|| bad_request("invalid pagination_token"))
        })
        .transpose()?;
    let exclude = query.get("exclude").cloned().unwrap_or_default();
    Ok(Params {
        max,
        since: id("since_id")?,
        until: id("until_id")?,
        start: time("start_time")?,
        end: time("end_time")?,
        older_than,
        no_retweets: exclude.contains("retweets"),
        no_replies: exclude.contains("replies"),
    })
}

async fn timeline(
    State(fake): State<FakeX>,
    Path(user_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let line = format!(
        "/2/users/{user_id}/tweets?{}",
        query
            .iter()
            .filter(|(k, _)| !k.ends_with("fields") && *k != "expansions")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    fake.lock().log.push(line);
    let limits = match fake.admit(&headers, true) {
        Ok(h) => h,
        Err(response) => return *response,
    };
    let p = match params(&query) {
        Ok(p) => p,
        Err(response) => return *response,
    };
    let mut inner = fake.lock();
    let body = page(&inner, &user_id, &p);
    inner.reads.posts += body["data"].as_array().map_or(0, Vec::len) as u64;
    (limits, Json(body)).into_response()
}

/// The answer to a timeline request: newest first, one page, with `includes` and `meta`.
fn page(inner: &Inner, user_id: &str, p: &Params) -> Value {
    let kind_is = |t: &Tweet, kind: &str| {
        t.json["referenced_tweets"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["type"] == kind))
    };
    let matching: Vec<&Tweet> = inner
        .tweets
        .values()
        .rev()
        .filter(|t| t.author_id == user_id)
        .filter(|t| p.since.is_none_or(|s| t.id > s) && p.until.is_none_or(|u| t.id < u))
        .filter(|t| p.older_than.is_none_or(|o| t.id < o))
        .filter(|t| {
            let at = t.created_at;
            p.start.is_none_or(|s| at.is_some_and(|a| a >= s))
                && p.end.is_none_or(|e| at.is_some_and(|a| a < e))
        })
        .filter(|t| {
            !(p.no_retweets && kind_is(t, "retweeted") || p.no_replies && kind_is(t, "replied_to"))
        })
        .collect();
    let page: Vec<&Tweet> = matching
        .iter()
        .take(p.max.min(inner.page_cap))
        .copied()
        .collect();
    let (Some(newest), Some(oldest)) = (page.first(), page.last()) else {
        return json!({"meta": {"result_count": 0}});
    };
    let mut meta = json!({
        "result_count": page.len(),
        "newest_id": newest.id.to_string(),
        "oldest_id": oldest.id.to_string(),
    });
    if matching.len() > page.len() {
        meta["next_token"] = json!(format!("older-than-{}", oldest.id));
    }
    let dedup = |lists: Vec<&Vec<Value>>, key: &str| -> Vec<Value> {
        let mut seen = BTreeSet::new();
        lists
            .into_iter()
            .flatten()
            .filter(|v| seen.insert(v[key].to_string()))
            .cloned()
            .collect()
    };
    let includes = json!({
        "tweets": dedup(page.iter().map(|t| &t.inc_tweets).collect(), "id"),
        "media": dedup(page.iter().map(|t| &t.inc_media).collect(), "media_key"),
        "users": dedup(page.iter().map(|t| &t.inc_users).collect(), "id"),
    });
    let data: Vec<Value> = page.iter().map(|t| t.json.clone()).collect();
    json!({"data": data, "includes": includes, "meta": meta})
}
