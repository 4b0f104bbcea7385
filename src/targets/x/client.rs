//! Every call birdbridge makes to X's write API (`docs/x-target.md`), with the account's
//! user-context credentials: posts (create, delete, repost), the account (`/2/users/me`)
//! and its recent posts (what reconciliation reads), and media (chunked upload streamed
//! from a file, processing status, alt text: in `client/chunked.rs`).
//!
//! The client knows HTTP and X's answers, nothing else: no ledger, no budget. Each call
//! returns X's value with the answer's rate limits ([`Answered`]), or a [`Failed`] whose
//! [`XError`] says what to do next. Every request carries the client's timeout. Nothing is
//! ever resent on its own, except once after an OAuth 2.0 access token was refused and
//! renewed (a 401 means X did nothing).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::multipart::Form;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use url::Url;

use super::answer::{classify, transport, Answered, CallKind, Failed, RateLimits, XError};
use super::oauth1::OAuth1Keys;
use super::oauth2::UserToken;
use crate::clock::Clock;

mod chunked;

pub use crate::targets::ready::MediaBody;
use chunked::chunk_part;
pub use chunked::Uploaded;

/// How the account's requests are authorised.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// OAuth 1.0a user context: every request signed.
    OAuth1(OAuth1Keys),
    /// OAuth 2.0 user context: a bearer token, refreshed from its file.
    OAuth2(Arc<UserToken>),
}

/// The default size of one uploaded chunk: 4 MiB, so a 512 MB video takes 128 of the 1,000
/// segments X allows.
pub const DEFAULT_CHUNK: u64 = 4 * 1024 * 1024;

/// One X account's write API.
#[derive(Debug, Clone)]
pub struct XApi {
    http: Client,
    base: String,
    credentials: Credentials,
    timeout: Duration,
    clock: Clock,
    chunk: u64,
}

/// A post to create.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewPost<'a> {
    /// The text (may be empty when there is media).
    pub text: &'a str,
    /// Uploaded media ids, at most four.
    pub media_ids: &'a [String],
    /// The post it replies to.
    pub reply_to: Option<&'a str>,
    /// The post it quotes (X's Enterprise plan only, since 2026-04-20).
    pub quote_of: Option<&'a str>,
}

/// A created post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// Its text as X stored it.
    pub text: String,
}

/// The authenticated account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its user id (the `{id}` of `/2/users/{id}/...`).
    pub id: String,
    /// Its handle.
    pub username: String,
}

/// Which of the account's posts to read.
#[derive(Debug, Clone, Default)]
pub struct OwnPostsQuery {
    /// Only posts created at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Posts per page, 5 to 100 (X's bounds; clamped).
    pub max_results: u8,
    /// The page after the one that gave this token.
    pub pagination_token: Option<String>,
}

/// One of the account's own posts, as reconciliation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPost {
    /// Its id.
    pub id: String,
    /// Its text as X shows it (links as `t.co`, `&` as `&amp;`).
    pub text: String,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// The post it replies to.
    pub reply_to: Option<String>,
    /// The post it quotes.
    pub quote_of: Option<String>,
    /// The post it reposts (a retweet).
    pub repost_of: Option<String>,
    /// How many media it carries.
    pub media: usize,
}

/// A page of the account's posts, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPage {
    /// The posts.
    pub posts: Vec<OwnPost>,
    /// The token of the next (older) page.
    pub next_token: Option<String>,
}

/// What a request sends.
enum Body<'a> {
    None,
    Json(Value),
    Chunk {
        media: MediaBody<'a>,
        offset: u64,
        len: u64,
        segment: u32,
    },
}

/// One request, rebuilt for each attempt.
struct Request<'a> {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Body<'a>,
    kind: CallKind,
}

impl Request<'_> {
    /// A request with no query and no body, safe to repeat: the calls that send more, or
    /// write, set theirs on it.
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
            kind: CallKind::Repeatable,
        }
    }
}

/// A success's status, body and limits.
struct Raw {
    status: u16,
    body: Value,
    limits: RateLimits,
}

impl XApi {
    /// The API at `base` (`https://api.x.com`, no trailing slash) for the account of
    /// `credentials`. `http` is the process's shared client; every request is bounded by
    /// `timeout`; `clock` gives signing times, token expiries and processing waits.
    pub fn new(
        http: Client,
        base: &str,
        credentials: Credentials,
        timeout: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            credentials,
            timeout,
            clock,
            chunk: DEFAULT_CHUNK,
        }
    }

    /// How long a request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Uploads in chunks of `bytes` (at least 1) instead of [`DEFAULT_CHUNK`].
    #[must_use]
    pub fn with_chunk_size(mut self, bytes: u64) -> Self {
        self.chunk = bytes.max(1);
        self
    }

    /// `GET /2/users/me`: whose credentials these are.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn me(&self) -> Result<Answered<Account>, Failed> {
        let raw = self.call(Request::new(Method::GET, "/2/users/me")).await?;
        let data = &raw.body["data"];
        match (data["id"].as_str(), data["username"].as_str()) {
            (Some(id), Some(username)) => Ok(Answered {
                value: Account {
                    id: id.to_owned(),
                    username: username.to_owned(),
                },
                limits: raw.limits,
            }),
            _ => Err(unreadable(
                CallKind::Repeatable,
                raw,
                "no account in the answer",
            )),
        }
    }

    /// `POST /2/tweets`.
    ///
    /// # Errors
    /// See [`XError`]; a timeout, a broken connection, a 5xx or an unreadable success is
    /// [`XError::UnknownOutcome`]: read the account's posts before sending it again.
    pub async fn create_post(&self, post: &NewPost<'_>) -> Result<Answered<Created>, Failed> {
        let mut body = json!({ "text": post.text });
        if !post.media_ids.is_empty() {
            body["media"] = json!({ "media_ids": post.media_ids });
        }
        if let Some(parent) = post.reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        if let Some(quoted) = post.quote_of {
            body["quote_tweet_id"] = json!(quoted);
        }
        let kind = CallKind::Write {
            reply_or_quote: post.reply_to.is_some() || post.quote_of.is_some(),
        };
        let raw = self
            .call(Request {
                body: Body::Json(body),
                kind,
                ..Request::new(Method::POST, "/2/tweets")
            })
            .await?;
        let data = &raw.body["data"];
        match data["id"].as_str() {
            Some(id) => Ok(Answered {
                value: Created {
                    id: id.to_owned(),
                    text: data["text"].as_str().unwrap_or_default().to_owned(),
                },
                limits: raw.limits,
            }),
            None => Err(unreadable(kind, raw, "the answer names no post")),
        }
    }

    /// `DELETE /2/tweets/{id}`: whether X says it is deleted.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn delete_post(&self, id: &str) -> Result<Answered<bool>, Failed> {
        let raw = self
            .call(Request::new(Method::DELETE, format!("/2/tweets/{id}")))
            .await?;
        Ok(Answered {
            value: raw.body["data"]["deleted"].as_bool().unwrap_or(false),
            limits: raw.limits,
        })
    }

    /// `DELETE /2/users/{user_id}/retweets/{post_id}`: undoes the account's repost of
    /// `post_id` (the original); whether X says it is still reposted. Safe to repeat.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn unrepost(&self, user_id: &str, post_id: &str) -> Result<Answered<bool>, Failed> {
        let raw = self
            .call(Request::new(
                Method::DELETE,
                format!("/2/users/{user_id}/retweets/{post_id}"),
            ))
            .await?;
        Ok(Answered {
            value: raw.body["data"]["retweeted"].as_bool().unwrap_or(false),
            limits: raw.limits,
        })
    }

    /// `POST /2/users/{user_id}/retweets`: reposts `post_id` as the account; the repost's
    /// own id when X names it (`data.id`, or `data.rest_id` as X has answered too).
    ///
    /// # Errors
    /// See [`XError`]; an unknown outcome is settled by reading the account's posts.
    pub async fn repost(
        &self,
        user_id: &str,
        post_id: &str,
    ) -> Result<Answered<Option<String>>, Failed> {
        let raw = self
            .call(Request {
                body: Body::Json(json!({ "tweet_id": post_id })),
                kind: CallKind::Write {
                    reply_or_quote: false,
                },
                ..Request::new(Method::POST, format!("/2/users/{user_id}/retweets"))
            })
            .await?;
        let data = &raw.body["data"];
        let id = ["id", "rest_id"]
            .iter()
            .find_map(|k| data[*k].as_str())
            .map(str::to_owned);
        Ok(Answered {
            value: id,
            limits: raw.limits,
        })
    }

    /// `GET /2/users/{user_id}/tweets`: a page of the account's own posts, newest first.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn own_posts(
        &self,
        user_id: &str,
        query: &OwnPostsQuery,
    ) -> Result<Answered<OwnPage>, Failed> {
        let mut q = vec![
            ("max_results", query.max_results.clamp(5, 100).to_string()),
            (
                "tweet.fields",
                "created_at,referenced_tweets,attachments".to_owned(),
            ),
        ];
        if let Some(start) = query.start_time {
            q.push((
                "start_time",
                start.to_rfc3339_opts(SecondsFormat::Secs, true),
            ));
        }
        if let Some(token) = &query.pagination_token {
            q.push(("pagination_token", token.clone()));
        }
        let raw = self
            .call(Request {
                query: q,
                ..Request::new(Method::GET, format!("/2/users/{user_id}/tweets"))
            })
            .await?;
        let posts = raw.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(own_post)
            .collect();
        Ok(Answered {
            value: OwnPage {
                posts,
                next_token: raw.body["meta"]["next_token"].as_str().map(str::to_owned),
            },
            limits: raw.limits,
        })
    }

    /// Sends a request; with OAuth 2.0, a 401 renews the access token and sends it once
    /// more (X did nothing with a refused request).
    async fn call(&self, req: Request<'_>) -> Result<Raw, Failed> {
        let url = self.url(&req)?;
        let (auth, bearer) = self.authorization(&req.method, &url).await?;
        let first = self.send(&req, &url, auth).await?;
        let Some(refused) = bearer.filter(|_| first.status == 401) else {
            return settle(&req, first);
        };
        let Credentials::OAuth2(token) = &self.credentials else {
            return settle(&req, first);
        };
        let renewed = token
            .renew_after_refusal(&refused, &self.http, self.clock.now(), self.timeout)
            .await
            .map_err(XError::from)?;
        let again = self.send(&req, &url, bearer_header(&renewed)?).await?;
        settle(&req, again)
    }

    fn url(&self, req: &Request<'_>) -> Result<Url, Failed> {
        let text = format!("{}{}", self.base, req.path);
        let parsed = if req.query.is_empty() {
            Url::parse(&text)
        } else {
            Url::parse_with_params(&text, &req.query)
        };
        parsed.map_err(|e| {
            XError::Invalid {
                message: format!("bad X API address {text}: {e}"),
            }
            .into()
        })
    }

    /// The `Authorization` header, and the bearer token it carries (OAuth 2.0).
    async fn authorization(
        &self,
        method: &Method,
        url: &Url,
    ) -> Result<(HeaderValue, Option<crate::config::Secret>), Failed> {
        match &self.credentials {
            Credentials::OAuth1(keys) => {
                let signed =
                    keys.authorization(method.as_str(), url, &[], self.clock.now().timestamp());
                Ok((sensitive(signed.expose())?, None))
            }
            Credentials::OAuth2(token) => {
                let access = token
                    .access(&self.http, self.clock.now(), self.timeout)
                    .await
                    .map_err(XError::from)?;
                Ok((bearer_header(&access)?, Some(access)))
            }
        }
    }

    /// One attempt: builds, sends and reads the request.
    async fn send(&self, req: &Request<'_>, url: &Url, auth: HeaderValue) -> Result<Raw, Failed> {
        let mut builder = self
            .http
            .request(req.method.clone(), url.clone())
            .header(AUTHORIZATION, auth)
            .timeout(self.timeout);
        builder = match &req.body {
            Body::None => builder,
            Body::Json(v) => builder.json(v),
            Body::Chunk {
                media,
                offset,
                len,
                segment,
            } => {
                let part = chunk_part(*media, *offset, *len).await?;
                builder.multipart(
                    Form::new()
                        .text("segment_index", segment.to_string())
                        .part("media", part),
                )
            }
        };
        let res = builder
            .send()
            .await
            .map_err(|e| Failed::from(transport(req.kind, &e)))?;
        let status = res.status().as_u16();
        let limits = RateLimits::parse(res.headers(), self.clock.now());
        let text = match res.text().await {
            Ok(text) => text,
            Err(e) => {
                return Err(Failed {
                    error: transport(req.kind, &e),
                    limits: Box::new(limits),
                })
            }
        };
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Raw {
            status,
            body,
            limits,
        })
    }
}

/// A success as it is, anything else as its error.
fn settle(req: &Request<'_>, raw: Raw) -> Result<Raw, Failed> {
    if (200..300).contains(&raw.status) {
        Ok(raw)
    } else {
        Err(Failed {
            error: classify(req.kind, raw.status, &raw.body, &raw.limits),
            limits: Box::new(raw.limits),
        })
    }
}

/// A success X answered without what it should carry: for a write, an unknown outcome.
fn unreadable(kind: CallKind, raw: Raw, what: &str) -> Failed {
    let message = format!("HTTP {}, {what}", raw.status);
    let error = match kind {
        CallKind::Write { .. } => XError::UnknownOutcome { message },
        CallKind::Repeatable => XError::Transient {
            status: Some(raw.status),
            message,
        },
    };
    Failed {
        error,
        limits: Box::new(raw.limits),
    }
}

fn bearer_header(token: &crate::config::Secret) -> Result<HeaderValue, Failed> {
    sensitive(&format!("Bearer {}", token.expose()))
}

/// A header value marked sensitive, so no `Debug` of the request shows it.
fn sensitive(value: &str) -> Result<HeaderValue, Failed> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Failed::from(XError::Invalid {
            message: "the credentials hold characters that cannot go in a header".to_owned(),
        })
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// One post of a timeline page, read leniently; `None` without an id.
fn own_post(v: &Value) -> Option<OwnPost> {
    let referenced = |kind: &str| {
        v["referenced_tweets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["type"] == kind)
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
    };
    Some(OwnPost {
        id: v["id"].as_str()?.to_owned(),
        text: v["text"].as_str().unwrap_or_default().to_owned(),
        created_at: v["created_at"]
            .as_str()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.with_timezone(&Utc)),
        reply_to: referenced("replied_to"),
        quote_of: referenced("quoted"),
        repost_of: referenced("retweeted"),
        media: v["attachments"]["media_keys"]
            .as_array()
            .map_or(0, Vec::len),
    })
}
