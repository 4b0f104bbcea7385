//! A fake Mastodon-API server on 127.0.0.1 for the fediverse tests and the budget benchmark,
//! with one personality per server kind that behaves like the real server
//! (`docs/servers.md` has the facts and their sources; `servers.rs` the table of
//! differences). The main ones:
//!
//! - `Mastodon`: v1 and v2 instance documents, `verify_credentials`, media v2 with
//!   asynchronous processing of videos (202, then 206 on `GET /api/v1/media/:id` until ready,
//!   422 on a status that uses unprocessed media), idempotency keys honoured for an hour,
//!   account statuses, three rate-limit families (statuses, media, all requests) in fixed
//!   epoch-aligned windows announced in `X-RateLimit-*` headers (ISO reset), 429 with
//!   `Retry-After` beyond them;
//! - `GoToSocial`: strict JSON booleans (a string is a 400), text + spoiler counted in code
//!   points with URLs at full length, 400 over the limit, idempotency keys ignored, requests
//!   limited per client with an ISO reset cut down to the whole second (the window ends
//!   later within it) and 429 without `Retry-After`, 418 without a `User-Agent`;
//! - `Takahe`: HTML error pages (a bad token is a 400 "Invalid Bearer token" on every call),
//!   a reply to an unknown status published on its own, a reblog answered with the original
//!   status, edits that make a status public, images only, no rate-limit headers;
//! - `Minimal`: no v2 instance, no rate-limit headers, no limits enforced;
//! - `Snac`, `Akkoma`, `Pixelfed`, `Friendica`, `Iceshrimp`: see `servers.rs`.
//!
//! Edits, boosts, undone boosts and native quotes (a flag claiming Mastodon 4.5) are in
//! `actions.rs`. Deletes are counted in a `deletes` window on Mastodon (30 per 30 minutes,
//! with unreblogs); a status deleted once is 404 after.
//!
//! Time comes from a `birdbridge::clock::Clock`: the tests share a manual clock with the
//! client, so windows, processing and waits are deterministic and take no real time.
//! Failures can be injected into chosen status posts (429, 503, a slow answer after the
//! status was created), and the token can expire after a number of statuses.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::result_large_err,
    clippy::too_many_lines,
    clippy::format_collect,
    reason = "test support shared by the tests and a benchmark: each uses part of it, and \
              answers are built and refused the way axum handlers do"
)]

mod actions;
pub mod faults;
mod markdown;
pub mod shapes;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use birdbridge::clock::Clock;

pub mod oauth;
use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Timelike, Utc};
use serde_json::{json, Value};

mod one_answer;
pub mod read;
pub mod servers;

/// The access token the fake accepts.
pub const TOKEN: &str = "fake-token-0123456789";

/// Which server the fake behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    Mastodon,
    GoToSocial,
    Minimal,
    Snac,
    Akkoma,
    Pixelfed,
    Friendica,
    Iceshrimp,
    Takahe,
}

/// A rate-limit family's window: `limit` calls per `period`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub limit: u32,
    pub period: Duration,
}

/// Something to do to one status post instead of (or besides) the normal answer.
#[derive(Debug, Clone)]
pub enum Injection {
    /// Answer 429 (with `Retry-After` seconds, if given).
    TooMany { retry_after: Option<u64> },
    /// Answer 503 with `Retry-After` seconds.
    Unavailable { retry_after: u64 },
    /// Create the status, then answer only after this real delay.
    SlowAnswer(std::time::Duration),
    /// Remember the idempotency key (as Pixelfed does first), then fail with a 500 without
    /// creating the status.
    KeyThenFail,
    /// Publish the status on its own whatever its `in_reply_to_id` (200,
    /// `in_reply_to_id: null`), as Takahē does with a reply to a status it does not know.
    PublishedAlone,
}

/// A status as the fake stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub text: String,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub visibility: String,
    pub language: Option<String>,
    pub in_reply_to_id: Option<String>,
    pub media_ids: Vec<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Kept only by a fake that quotes natively (see `actions.rs`).
    pub quoted_status_id: Option<String>,
}

/// An upload as the fake stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMedia {
    pub id: String,
    pub content_type: String,
    pub file_name: String,
    pub size: usize,
    pub description: Option<String>,
    pub ready_at: DateTime<Utc>,
}

/// One request, as logged.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug)]
struct Window {
    limit: Limit,
    index: i64,
    count: u32,
}

#[derive(Debug)]
pub struct FakeState {
    pub personality: Personality,
    clock: Clock,
    base: String,
    token_valid: bool,
    pub expire_token_after: Option<usize>,
    pub statuses: Vec<Stored>,
    pub media: Vec<StoredMedia>,
    next_id: u64,
    idempotency: HashMap<String, (String, DateTime<Utc>)>,
    windows: HashMap<&'static str, Window>,
    /// Injections by the ordinal of the status post (1 = first POST /api/v1/statuses).
    injections: HashMap<usize, Injection>,
    status_posts: usize,
    /// Characters the server really accepts (it may advertise more).
    pub enforce_max_chars: Option<usize>,
    pub advertise_max_chars: usize,
    /// How long a video takes to process.
    pub processing: Duration,
    /// What `/api/v2/instance` announces for images (mastodon).
    pub image_size_limit: u64,
    /// What `/api/v2/instance` announces for videos (mastodon).
    pub video_size_limit: u64,
    pub supported_mime_types: Vec<&'static str>,
    pub log: Vec<Logged>,
    pub too_many: u32,
    pub deleted: HashSet<String>,
    /// When each rate-limit window started (every family), in order.
    pub window_starts: Vec<DateTime<Utc>>,
    /// Fields left out of the account JSON (a server that does not send them).
    pub account_drops: Vec<&'static str>,
    pub actions: actions::Actions,
    pub oauth: oauth::OAuthState,
    /// The account's own statuses and the stream (`read.rs`).
    pub read: read::ReadState,
    /// The nodeinfo link `/.well-known/nodeinfo` names, when not the fake's own.
    pub nodeinfo_href: Option<String>,
}

/// A running fake server.
#[derive(Debug, Clone)]
pub struct FakeFedi {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    /// Faults planned for chosen calls (`faults.rs`).
    pub faults: faults::Faults,
}

type Shared = Arc<Mutex<FakeState>>;

impl FakeFedi {
    /// Starts a fake on a free port of 127.0.0.1, in the current tokio runtime.
    pub async fn start(personality: Personality, clock: Clock) -> Self {
        Self::start_on_port(personality, clock, 0).await
    }

    /// Starts a fake on `port` of 127.0.0.1 (0: a free one): a test can point a target at
    /// a port where nothing listens yet, and bring the server up later.
    pub async fn start_on_port(personality: Personality, clock: Clock, port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut windows = HashMap::new();
        let mut add = |name, limit, secs| {
            windows.insert(
                name,
                Window {
                    limit: Limit {
                        limit,
                        period: Duration::seconds(secs),
                    },
                    index: -1,
                    count: 0,
                },
            );
        };
        match personality {
            Personality::Mastodon => {
                add("statuses", 300, 3 * 3600);
                add("media", 30, 30 * 60);
                // Deletes and unreblogs together, as Mastodon's `throttle_api_delete`.
                add("deletes", 30, 30 * 60);
                add("requests", 300, 5 * 60);
            }
            Personality::GoToSocial => add("requests", 300, 5 * 60),
            Personality::Minimal
            | Personality::Snac
            | Personality::Akkoma
            | Personality::Pixelfed
            | Personality::Friendica
            | Personality::Iceshrimp
            | Personality::Takahe => {}
        }
        let traits = servers::of(personality);
        let state = Arc::new(Mutex::new(FakeState {
            personality,
            clock,
            base: url.clone(),
            token_valid: true,
            expire_token_after: None,
            statuses: Vec::new(),
            media: Vec::new(),
            next_id: 100_000,
            idempotency: HashMap::new(),
            windows,
            injections: HashMap::new(),
            status_posts: 0,
            enforce_max_chars: traits.enforced_characters,
            advertise_max_chars: traits.max_characters,
            processing: Duration::seconds(5),
            image_size_limit: 16_777_216,
            video_size_limit: 103_809_024,
            supported_mime_types: traits.media_types.to_vec(),
            log: Vec::new(),
            too_many: 0,
            deleted: HashSet::new(),
            window_starts: Vec::new(),
            account_drops: Vec::new(),
            actions: actions::Actions::default(),
            oauth: oauth::OAuthState::default(),
            read: read::ReadState::default(),
            nodeinfo_href: None,
        }));
        let app = Router::new()
            .route("/api/v1/instance", get(instance_v1))
            .route("/api/v2/instance", get(instance_v2))
            .route("/.well-known/nodeinfo", get(nodeinfo_index))
            .route("/nodeinfo/2.0", get(nodeinfo))
            .route("/nodeinfo/2.0/", get(nodeinfo))
            .route(
                "/api/v1/accounts/verify_credentials",
                get(verify_credentials),
            )
            .route("/api/v1/accounts/{id}/statuses", get(account_statuses))
            .route("/api/v2/media", post(upload_media))
            .route("/api/v1/media/{id}", get(get_media))
            .route("/api/v1/statuses", post(post_status))
            .route(
                "/api/v1/statuses/{id}",
                delete(delete_status)
                    .put(actions::edit_status)
                    .get(read::get_status),
            )
            .route("/api/v1/statuses/{id}/reblog", post(actions::reblog))
            .route("/api/v1/statuses/{id}/unreblog", post(actions::unreblog))
            .merge(oauth::routes())
            .merge(read::routes())
            // Uploads are read piece by piece (a 200 MB video is counted, not kept).
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        let faults = faults::Faults::default();
        let app = app.layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            faults::layer,
        ));
        if traits.closes_after_answer {
            let listener = one_answer::OneAnswerListener(listener);
            tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            });
        } else {
            tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            });
        }
        Self { url, state, faults }
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// Statuses in creation order.
    pub fn statuses(&self) -> Vec<Stored> {
        self.state().statuses.clone()
    }

    pub fn media(&self, id: &str) -> StoredMedia {
        self.state()
            .media
            .iter()
            .find(|m| m.id == id)
            .cloned()
            .unwrap()
    }

    pub fn too_many(&self) -> u32 {
        self.state().too_many
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state().log.clone()
    }

    /// Sets a family's window (`statuses`, `media`, `requests`).
    pub fn set_limit(&self, family: &'static str, limit: u32, period: Duration) {
        self.state().windows.insert(
            family,
            Window {
                limit: Limit { limit, period },
                index: -1,
                count: 0,
            },
        );
    }

    /// Injects a failure into the `nth` status post (1-based).
    pub fn inject(&self, nth: usize, injection: Injection) {
        self.state().injections.insert(nth, injection);
    }

    pub fn set_token_valid(&self, valid: bool) {
        let mut s = self.state();
        s.token_valid = valid;
        if valid {
            s.expire_token_after = None;
        }
    }
}

impl FakeState {
    /// The status `id`, while the server still has it (not deleted).
    fn live(&self, id: &str) -> Option<&Stored> {
        self.statuses
            .iter()
            .find(|s| s.id == id && !self.deleted.contains(&s.id))
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn log(&mut self, method: &'static str, path: &str, status: StatusCode, headers: &HeaderMap) {
        let at = self.now();
        self.log.push(Logged {
            at,
            method,
            path: path.to_owned(),
            status: status.as_u16(),
            user_agent: headers
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.too_many += 1;
        }
    }

    /// User agent, token and rate limits, in the order servers check them. `families`
    /// are counted (`requests` is always counted). Returns the rate-limit headers to send.
    fn admit(
        &mut self,
        headers: &HeaderMap,
        auth: bool,
        families: &[&'static str],
    ) -> Result<HeaderMap, Response> {
        let traits = servers::of(self.personality);
        if traits.needs_user_agent && !headers.contains_key("user-agent") {
            return Err((StatusCode::IM_A_TEAPOT, "no user agent").into_response());
        }
        if auth {
            let given = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if given != Some(TOKEN) || !self.token_valid {
                if traits.html_errors {
                    return Err(servers::error_answer(
                        self.personality,
                        StatusCode::BAD_REQUEST,
                        "Invalid Bearer token",
                    ));
                }
                return Err((
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "The access token is invalid"})),
                )
                    .into_response());
            }
        }
        let now = self.now();
        let from_first_request = traits.window_from_first_request;
        let mut tightest: Option<(u32, u32, DateTime<Utc>)> = None;
        let mut over: Option<DateTime<Utc>> = None;
        let mut counted: Vec<&'static str> = vec!["requests"];
        counted.extend(families.iter().copied().filter(|f| *f != "requests"));
        for name in counted {
            let Some(w) = self.windows.get_mut(name) else {
                continue;
            };
            let period_ms = w.limit.period.num_milliseconds();
            // GoToSocial: a window starts at the first request after the last one ended;
            // Mastodon: windows aligned to the epoch. `index` is the window's start (ms).
            let index = if from_first_request {
                if w.index < 0 || now.timestamp_millis() >= w.index + period_ms {
                    now.timestamp_millis()
                } else {
                    w.index
                }
            } else {
                now.timestamp_millis().div_euclid(period_ms) * period_ms
            };
            if index != w.index {
                w.index = index;
                w.count = 0;
                self.window_starts
                    .push(Utc.timestamp_millis_opt(index).unwrap());
            }
            w.count += 1;
            let reset = Utc.timestamp_millis_opt(index + period_ms).unwrap();
            let remaining = w.limit.limit.saturating_sub(w.count);
            if w.count > w.limit.limit {
                over = Some(over.map_or(reset, |o: DateTime<Utc>| o.max(reset)));
            }
            if tightest.is_none_or(|(_, r, _)| remaining < r) {
                tightest = Some((w.limit.limit, remaining, reset));
            }
        }
        let mut out = HeaderMap::new();
        if let Some((limit, remaining, reset)) = tightest {
            out.insert("x-ratelimit-limit", HeaderValue::from(limit));
            out.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
            let announced = if traits.whole_second_resets {
                reset.with_nanosecond(0).unwrap_or(reset)
            } else {
                reset
            };
            let iso = announced.to_rfc3339_opts(SecondsFormat::Millis, true);
            out.insert("x-ratelimit-reset", HeaderValue::from_str(&iso).unwrap());
        }
        if let Some(reset) = over {
            let mut h = out.clone();
            if traits.retry_after {
                let secs = ((reset - now).num_milliseconds().max(0) + 999) / 1000;
                h.insert("retry-after", HeaderValue::from(secs));
            }
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                h,
                Json(json!({"error": "Too many requests"})),
            )
                .into_response());
        }
        Ok(out)
    }

    fn account_json(&self) -> Value {
        let mut account = servers::account(self.personality, &self.base, self.statuses.len());
        if let Some(o) = account.as_object_mut() {
            for gone in &self.account_drops {
                o.remove(*gone);
            }
        }
        account
    }

    fn media_json(&self, m: &StoredMedia) -> Value {
        let ready = self.now() >= m.ready_at;
        let kind = if m.content_type.starts_with("video/") {
            "video"
        } else {
            "image"
        };
        json!({
            "id": m.id, "type": kind,
            "url": ready.then(|| format!("{}/media/{}", self.base, m.id)),
            "preview_url": format!("{}/media/{}/small", self.base, m.id),
            "remote_url": null, "text_url": null, "meta": null,
            "description": m.description, "blurhash": null
        })
    }

    fn status_json(&self, s: &Stored) -> Value {
        let media: Vec<Value> = s
            .media_ids
            .iter()
            .filter_map(|id| self.media.iter().find(|m| &m.id == id))
            .map(|m| self.media_json(m))
            .collect();
        json!({
            "id": s.id, "uri": format!("{}/users/mirror/statuses/{}", self.base, s.id),
            "url": format!("{}/@mirror/{}", self.base, s.id),
            "account": self.account_json(),
            "in_reply_to_id": s.in_reply_to_id, "in_reply_to_account_id": s.in_reply_to_id.as_ref().map(|_| "1"),
            "reblog": null, "content": html(&s.text),
            "created_at": s.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "edited_at": null, "emojis": [], "replies_count": 0, "reblogs_count": 0,
            "favourites_count": 0, "reblogged": false, "favourited": false, "muted": false,
            "sensitive": s.sensitive, "spoiler_text": s.spoiler_text, "visibility": s.visibility,
            "media_attachments": media, "mentions": [], "tags": [], "card": null, "poll": null,
            "application": null, "language": s.language, "pinned": false, "bookmarked": false
        })
    }

    /// The server's length of a status, by its rule.
    fn length(&self, text: &str, spoiler: &str) -> usize {
        let traits = servers::of(self.personality);
        if traits.utf16_lengths {
            // .NET string lengths, URLs at full length, text and spoiler together.
            return text.encode_utf16().count() + spoiler.encode_utf16().count();
        }
        if traits.counts_text_only {
            // Code points of the text alone, URLs at full length.
            return text.chars().count();
        }
        if traits.urls_at_full_length {
            // Code points, URLs at full length, text and spoiler together.
            return text.chars().count() + spoiler.chars().count();
        }
        // Every URL as 23, the rest in code points (close enough for the fake).
        spoiler.chars().count()
            + text
                .split(' ')
                .map(|w| {
                    if w.starts_with("http://") || w.starts_with("https://") {
                        23
                    } else {
                        w.chars().count()
                    }
                })
                .sum::<usize>()
            + text.matches(' ').count()
    }
}

/// Mastodon-like HTML: paragraphs, line breaks, escaped text, links with hidden spans.
fn html(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let line = |l: &str| {
        l.split(' ')
            .map(|w| {
                if let Some(rest) = w.strip_prefix("https://") {
                    let (shown, hidden) = rest.split_at(rest.len().min(20));
                    format!(
                        "<a href=\"{}\" rel=\"nofollow noopener\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">{}</span><span class=\"invisible\">{}</span></a>",
                        escape(w),
                        escape(shown),
                        escape(hidden)
                    )
                } else {
                    escape(w)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    text.split("\n\n")
        .map(|p| {
            format!(
                "<p>{}</p>",
                p.split('\n').map(line).collect::<Vec<_>>().join("<br />")
            )
        })
        .collect()
}

fn respond(
    st: &mut FakeState,
    method: &'static str,
    path: &str,
    req: &HeaderMap,
    mut headers: HeaderMap,
    status: StatusCode,
    body: Value,
) -> Response {
    st.log(method, path, status, req);
    if !servers::of(st.personality).rate_headers {
        headers.clear();
    }
    (status, headers, Json(body)).into_response()
}

/// A 404 for an id the server does not hold, as the personality writes it (Mastodon's
/// "Record not found", Takahē's HTML page).
fn not_found(
    st: &mut FakeState,
    method: &'static str,
    path: &str,
    req: &HeaderMap,
    rate: HeaderMap,
) -> Response {
    if servers::error_page(st.personality, StatusCode::NOT_FOUND).is_some() {
        let r = servers::error_answer(st.personality, StatusCode::NOT_FOUND, "");
        return refuse(st, method, path, req, r);
    }
    respond(
        st,
        method,
        path,
        req,
        rate,
        StatusCode::NOT_FOUND,
        json!({"error": "Record not found"}),
    )
}

fn refuse(
    st: &mut FakeState,
    method: &'static str,
    path: &str,
    req: &HeaderMap,
    r: Response,
) -> Response {
    st.log(method, path, r.status(), req);
    r
}

async fn instance_v1(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let rate = match st.admit(&h, false, &[]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "GET", "/api/v1/instance", &h, r),
    };
    let mut body = servers::instance_v1(st.personality, &st.base);
    if let Some(c) = body.pointer_mut("/configuration/statuses/max_characters") {
        *c = json!(st.advertise_max_chars);
    }
    respond(
        &mut st,
        "GET",
        "/api/v1/instance",
        &h,
        rate,
        StatusCode::OK,
        body,
    )
}

async fn instance_v2(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let rate = match st.admit(&h, false, &[]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "GET", "/api/v2/instance", &h, r),
    };
    if let Some((status, page)) = servers::no_instance_v2(st.personality) {
        st.log("GET", "/api/v2/instance", status, &h);
        return (status, [("content-type", "text/html")], page).into_response();
    }
    let (status, body) = match st.personality {
        Personality::Minimal
        | Personality::Snac
        | Personality::Akkoma
        | Personality::Pixelfed
        | Personality::Friendica => {
            unreachable!("no v2 instance")
        }
        Personality::Mastodon => (
            StatusCode::OK,
            json!({
                "domain": "fake.test", "version": actions::mastodon_version(&st).0,
                "api_versions": actions::mastodon_version(&st).1,
                "configuration": {
                    "statuses": {"max_characters": st.advertise_max_chars, "max_media_attachments": 4, "characters_reserved_per_url": 23},
                    "media_attachments": {
                        "supported_mime_types": st.supported_mime_types,
                        "image_size_limit": st.image_size_limit, "video_size_limit": st.video_size_limit, "description_limit": 1500
                    }
                }
            }),
        ),
        Personality::Iceshrimp => (
            StatusCode::OK,
            json!({
                "version": "4.2.1 (compatible; Iceshrimp.NET/2024.1-beta5", "domain": "ice.test",
                "title": "ice.test", "source_url": "https://iceshrimp.dev/iceshrimp/iceshrimp.net",
                "configuration": {
                    "statuses": {"supported_mime_types": ["text/x.misskeymarkdown"], "max_characters": st.advertise_max_chars, "max_media_attachments": 16, "characters_reserved_per_url": 23},
                    "media_attachments": {"supported_mime_types": st.supported_mime_types, "image_size_limit": 10_485_760}
                },
                "usage": {"users": {"active_month": 1}}
            }),
        ),
        // `api/views/instance.py` `instance_info_v2`.
        Personality::Takahe => (
            StatusCode::OK,
            json!({
                "domain": st.base.trim_start_matches("http://"), "title": "Takahē",
                "version": "takahe/0.11.0", "source_url": "https://github.com/jointakahe/takahe",
                "description": "", "email": "", "urls": {},
                "usage": {"users": {"active_month": 1}}, "thumbnail": {"url": ""}, "languages": ["en"],
                "configuration": {
                    "urls": {}, "accounts": {"max_featured_tags": 0},
                    "statuses": {"max_characters": st.advertise_max_chars, "max_media_attachments": 4, "characters_reserved_per_url": 23},
                    "media_attachments": {
                        "supported_mime_types": st.supported_mime_types,
                        "image_size_limit": 10 * 1024 * 1024, "image_matrix_limit": 2000 * 2000,
                        "video_size_limit": 0, "video_frame_rate_limit": 60, "video_matrix_limit": 2000 * 2000
                    },
                    "polls": {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2_629_746},
                    "translation": {"enabled": false}
                },
                "registrations": {"enabled": false, "approval_required": false, "message": null},
                "contact": {"email": "", "account": null}, "rules": []
            }),
        ),
        Personality::GoToSocial => (
            StatusCode::OK,
            json!({
                "domain": "gts.test", "version": "0.17.0 git-abc",
                "configuration": {
                    "statuses": {"max_characters": st.advertise_max_chars, "max_media_attachments": 6, "characters_reserved_per_url": 25},
                    "media_attachments": {
                        "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"],
                        "image_size_limit": 41_943_040, "video_size_limit": 41_943_040, "description_limit": 1500
                    }
                }
            }),
        ),
    };
    respond(&mut st, "GET", "/api/v2/instance", &h, rate, status, body)
}

async fn nodeinfo_index(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let href = if servers::of(st.personality).nodeinfo_link_https {
        format!(
            "https://{}/nodeinfo/2.0/",
            st.base.trim_start_matches("http://")
        )
    } else {
        st.nodeinfo_href
            .clone()
            .unwrap_or_else(|| format!("{}/nodeinfo/2.0", st.base))
    };
    let body = json!({"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": href}]});
    respond(
        &mut st,
        "GET",
        "/.well-known/nodeinfo",
        &h,
        HeaderMap::new(),
        StatusCode::OK,
        body,
    )
}

async fn nodeinfo(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let t = servers::of(st.personality);
    let body = json!({"version": "2.0", "software": {"name": t.software, "version": t.version},
        "protocols": ["activitypub"], "services": {"inbound": [], "outbound": []},
        "openRegistrations": false, "usage": {"users": {"total": 1}}, "metadata": {}});
    respond(
        &mut st,
        "GET",
        "/nodeinfo/2.0",
        &h,
        HeaderMap::new(),
        StatusCode::OK,
        body,
    )
}

async fn verify_credentials(State(s): State<Shared>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/accounts/verify_credentials";
    let rate = match st.admit(&h, true, &[]) {
        Ok(r) => r,
        Err(r) => {
            let bad_token = servers::of(st.personality).bad_token_on_verify;
            let r = if r.status() == StatusCode::UNAUTHORIZED && bad_token != r.status() {
                (bad_token, Json(json!({"error": "access denied"}))).into_response()
            } else {
                r
            };
            return refuse(&mut st, "GET", path, &h, r);
        }
    };
    let body = st.account_json();
    respond(&mut st, "GET", path, &h, rate, StatusCode::OK, body)
}

async fn account_statuses(
    State(s): State<Shared>,
    Path(_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/accounts/:id/statuses";
    let rate = match st.admit(&h, true, &[]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "GET", path, &h, r),
    };
    let list = read::page(&st, &q);
    respond(
        &mut st,
        "GET",
        path,
        &h,
        rate,
        StatusCode::OK,
        Value::Array(list),
    )
}

async fn upload_media(State(s): State<Shared>, h: HeaderMap, mut form: Multipart) -> Response {
    let mut file: Option<(String, String, usize)> = None;
    let mut description = None;
    while let Ok(Some(mut field)) = form.next_field().await {
        match field.name() {
            Some("file") => {
                let content_type = field.content_type().unwrap_or("").to_owned();
                let name = field.file_name().unwrap_or("").to_owned();
                let mut size = 0;
                while let Ok(Some(chunk)) = field.chunk().await {
                    size += chunk.len();
                }
                file = Some((content_type, name, size));
            }
            Some("description") => description = Some(field.text().await.unwrap()),
            _ => {}
        }
    }
    let mut st = s.lock().unwrap();
    let path = "/api/v2/media";
    let rate = match st.admit(&h, true, &["media"]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "POST", path, &h, r),
    };
    let Some((content_type, file_name, size)) = file else {
        return respond(
            &mut st,
            "POST",
            path,
            &h,
            rate,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "File can't be blank"}),
        );
    };
    if !st.supported_mime_types.contains(&content_type.as_str()) {
        return respond(
            &mut st,
            "POST",
            path,
            &h,
            rate,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "Validation failed: File content type is invalid"}),
        );
    }
    let asynchronous =
        st.personality == Personality::Mastodon && content_type.starts_with("video/");
    let now = st.now();
    let m = StoredMedia {
        id: st.next_id(),
        content_type,
        file_name,
        size,
        description,
        ready_at: if asynchronous {
            now + st.processing
        } else {
            now
        },
    };
    let body = actions::shape_media(&st, st.media_json(&m));
    st.media.push(m);
    let status = if asynchronous {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    respond(&mut st, "POST", path, &h, rate, status, body)
}

async fn get_media(State(s): State<Shared>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/media/:id";
    let rate = match st.admit(&h, true, &[]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "GET", path, &h, r),
    };
    let Some(m) = st.media.iter().find(|m| m.id == id).cloned() else {
        return not_found(&mut st, "GET", path, &h, rate);
    };
    // Takahē reads the author of the status the upload belongs to, and fails on an upload
    // no status uses yet (`api/views/media.py` `get_media`).
    if servers::of(st.personality).html_errors
        && !st.statuses.iter().any(|s| s.media_ids.contains(&id))
    {
        let r = servers::error_answer(st.personality, StatusCode::INTERNAL_SERVER_ERROR, "");
        return refuse(&mut st, "GET", path, &h, r);
    }
    let status = if st.now() >= m.ready_at {
        StatusCode::OK
    } else {
        StatusCode::PARTIAL_CONTENT
    };
    let body = actions::shape_media(&st, st.media_json(&m));
    respond(&mut st, "GET", path, &h, rate, status, body)
}

async fn post_status(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let (response, delay) = create_status(&mut s.lock().unwrap(), &h, &body);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    response
}

fn create_status(
    st: &mut FakeState,
    h: &HeaderMap,
    body: &[u8],
) -> (Response, Option<std::time::Duration>) {
    let path = "/api/v1/statuses";
    let rate = match st.admit(h, true, &["statuses"]) {
        Ok(r) => r,
        Err(r) => return (refuse(st, "POST", path, h, r), None),
    };
    // Every answer below is logged as this request's and carries its rate-limit headers.
    let answer = |st: &mut FakeState, status: StatusCode, body: Value| {
        respond(st, "POST", path, h, rate.clone(), status, body)
    };
    st.status_posts += 1;
    let mut delay = None;
    let mut published_alone = false;
    match st.injections.remove(&st.status_posts) {
        Some(Injection::TooMany { retry_after }) => {
            let mut hh = rate.clone();
            if let Some(secs) = retry_after {
                hh.insert("retry-after", HeaderValue::from(secs));
            }
            let r = (
                StatusCode::TOO_MANY_REQUESTS,
                hh,
                Json(json!({"error": "Too many requests"})),
            )
                .into_response();
            return (refuse(st, "POST", path, h, r), None);
        }
        Some(Injection::Unavailable { retry_after }) => {
            let mut hh = HeaderMap::new();
            hh.insert("retry-after", HeaderValue::from(retry_after));
            let r = (StatusCode::SERVICE_UNAVAILABLE, hh, "Service Unavailable").into_response();
            return (refuse(st, "POST", path, h, r), None);
        }
        Some(Injection::SlowAnswer(d)) => delay = Some(d),
        Some(Injection::PublishedAlone) => published_alone = true,
        Some(Injection::KeyThenFail) => {
            if let Some(k) = h.get("idempotency-key").and_then(|v| v.to_str().ok()) {
                let now = st.now();
                st.idempotency.insert(k.to_owned(), (String::new(), now));
            }
            let r = (StatusCode::INTERNAL_SERVER_ERROR, "Server Error").into_response();
            return (refuse(st, "POST", path, h, r), None);
        }
        None => {}
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return (
            answer(
                st,
                StatusCode::BAD_REQUEST,
                json!({"error": "Bad Request: not JSON"}),
            ),
            None,
        );
    };
    let strict = servers::of(st.personality).strict_booleans;
    let sensitive = match &req["sensitive"] {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::String(s) if !strict => s == "true",
        _ => {
            return (
                answer(
                    st,
                    StatusCode::BAD_REQUEST,
                    json!({"error": "Bad Request: sensitive must be a boolean"}),
                ),
                None,
            )
        }
    };
    if let Some((status, message)) = servers::refuse_post(st.personality, &req) {
        let body = servers::error_body(st.personality, &message);
        return (answer(st, status, body), None);
    }
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = st.now();
    if servers::of(st.personality).refuses_repeated_key {
        if let Some(k) = &key {
            if st
                .idempotency
                .get(k)
                .is_some_and(|(_, at)| now - *at < Duration::hours(1))
            {
                let body = servers::error_body(st.personality, "Duplicate idempotency key.");
                return (answer(st, StatusCode::BAD_REQUEST, body), None);
            }
        }
    }
    if servers::of(st.personality).honours_idempotency {
        if let Some(k) = &key {
            if let Some((id, at)) = st.idempotency.get(k).cloned() {
                if now - at < Duration::hours(1) {
                    let existing = st.statuses.iter().find(|s| s.id == id).cloned().unwrap();
                    let body = st.status_json(&existing);
                    return (answer(st, StatusCode::OK, body), delay);
                }
            }
        }
    }
    let text = req["status"].as_str().unwrap_or("").to_owned();
    let spoiler = req["spoiler_text"].as_str().unwrap_or("").to_owned();
    let media_ids: Vec<String> = req["media_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for id in &media_ids {
        let Some(m) = st.media.iter().find(|m| &m.id == id) else {
            return (
                answer(
                    st,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Validation failed: media not found"}),
                ),
                None,
            );
        };
        if now < m.ready_at {
            return (
                answer(
                    st,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "Cannot attach files that have not finished processing. Try again in a moment!"}),
                ),
                None,
            );
        }
    }
    if let Some(max) = st.enforce_max_chars {
        if st.length(&text, &spoiler) > max {
            let status = servers::of(st.personality).over_limit;
            let msg = servers::over_limit_message(st.personality, max);
            let body = servers::error_body(st.personality, &msg);
            return (answer(st, status, body), None);
        }
    }
    let mut in_reply_to_id = req["in_reply_to_id"].as_str().map(str::to_owned);
    if let Some(parent) = &in_reply_to_id {
        let known = st.live(parent).is_some();
        if published_alone || (!known && servers::of(st.personality).reply_to_unknown_published) {
            // Published on its own, as if it replied to nothing.
            in_reply_to_id = None;
        } else if !known {
            return (
                answer(
                    st,
                    StatusCode::NOT_FOUND,
                    json!({"error": "Record not found"}),
                ),
                None,
            );
        }
    }
    if let Some(n) = st.expire_token_after {
        if st.statuses.len() >= n {
            st.token_valid = false;
            let r = (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "The access token expired"})),
            )
                .into_response();
            return (refuse(st, "POST", path, h, r), None);
        }
    }
    let spoiler = if servers::of(st.personality).cw_needs_sensitive && !sensitive {
        String::new()
    } else {
        spoiler
    };
    let stored = Stored {
        id: st.next_id(),
        text: servers::shown_text(st.personality, &text),
        spoiler_text: spoiler,
        sensitive,
        visibility: req["visibility"].as_str().unwrap_or("public").to_owned(),
        language: req["language"].as_str().map(str::to_owned),
        in_reply_to_id,
        media_ids,
        idempotency_key: key.clone(),
        created_at: now,
        quoted_status_id: actions::quoted_status_id(st, &req),
    };
    if let Some(k) = key {
        st.idempotency.insert(k, (stored.id.clone(), now));
    }
    let body = st.status_json(&stored);
    st.statuses.push(stored);
    (answer(st, StatusCode::OK, body), delay)
}

async fn delete_status(State(s): State<Shared>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/statuses/:id";
    let rate = match st.admit(&h, true, &["deletes"]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "DELETE", path, &h, r),
    };
    let Some(found) = st.live(&id).cloned() else {
        return not_found(&mut st, "DELETE", path, &h, rate);
    };
    st.deleted.insert(id.clone());
    st.actions.deletes.push(id);
    // GoToSocial answers with the deleted status' source text, unlike Mastodon's entity.
    let body = match st.personality {
        Personality::GoToSocial => json!({"id": found.id, "text": found.text}),
        Personality::Friendica => json!([]),
        _ => st.status_json(&found),
    };
    respond(&mut st, "DELETE", path, &h, rate, StatusCode::OK, body)
}
