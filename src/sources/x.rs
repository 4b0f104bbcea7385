//! The X API v2 source: resolves the account once, then polls `GET /2/users/:id/tweets` for
//! posts after the cursor, paging until caught up, and hands them over oldest first.
//!
//! Money and manners (docs/formats.md "X API v2: a user's posts"): reads are billed per post returned, so the user
//! id is kept in the ledger and never looked up again, a new source learns where to start
//! from the user lookup's `most_recent_tweet_id` instead of a page of posts, reposts are
//! filtered by the server (`exclude=retweets`) when no route mirrors them, and every billed
//! read is counted in the ledger. Rate limits are read from the `x-rate-limit-*` headers:
//! when none are left, or on a 429, the client waits for the reset instead of asking again.
//! A 401 or 403 means the token is wrong or revoked: the source stops and says so.
//!
//! The source never moves its own cursor (except to start a new source): the caller does,
//! after each post is in the ledger ([`Source::handled`]).
//! Every ledger call runs on the blocking pool ([`Ledger::call`]); a poll that finds nothing
//! new makes none.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    BoxFuture, CursorMove, FollowDeletes, Found, Http, SavedCursor, Setup, Source, SourceError,
};
use crate::clock::Clock;
use crate::config::{ConfigError, Secret, StartAt, XSourceSettings};
use crate::media::stage::MediaStage;
use crate::model::{Author, Post, PostId};
use crate::normalize::x::{
    id_order, parse_page, parse_user, snowflake_at, Page, ParseError, XPost, XUser, EXPANSIONS,
    MEDIA_FIELDS, TWEET_FIELDS, USER_FIELDS,
};
use crate::short_links::ShortLinks;
use crate::store::{Ledger, ReadKind, StoreError};

/// The most posts one timeline page may carry.
const PAGE_SIZE: u32 = 100;

/// The fewest posts a timeline page may be asked for.
const MIN_PAGE_SIZE: u32 = 5;

/// Pages read in one poll at most: the API reaches only the newest 3,200 posts anyway.
const MAX_PAGES: usize = 32;

/// A 429 without a usable reset header waits this long.
const DEFAULT_RATE_WAIT: Duration = Duration::from_secs(60);

/// No reset is trusted further away than this: the longest X window is 15 minutes (24 h
/// for some app caps, but then the next poll asks again anyway).
const MAX_RATE_WAIT: Duration = Duration::from_secs(16 * 60);

/// 429s in a row for one request before the poll gives up until its next tick.
const MAX_RATE_RETRIES: u32 = 3;

/// What went wrong talking to the X API; the variant says what the caller does.
#[derive(Debug, thiserror::Error)]
pub enum XError {
    /// 401 or 403: the token is wrong, revoked, or lacks access. Stop this source and tell
    /// the operator; polling again cannot help.
    #[error("the X API refused the token (HTTP {status}): {detail}")]
    Auth {
        /// 401 or 403.
        status: u16,
        /// The API's explanation.
        detail: String,
    },
    /// The account does not exist or is suspended: stop this source.
    #[error("no X account @{username}: {detail}")]
    NoAccount {
        /// The configured handle.
        username: String,
        /// The API's explanation.
        detail: String,
    },
    /// Still rate limited after waiting: try again at the next tick.
    #[error("rate limited by the X API until {reset}")]
    RateLimited {
        /// When the window resets.
        reset: DateTime<Utc>,
    },
    /// The network or the server failed (timeouts, 5xx, a body cut short): try again at
    /// the next tick.
    #[error("the X API request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// An unexpected answer (4xx other than the above): try again at the next tick; the
    /// detail tells the operator what the API disliked.
    #[error("the X API answered HTTP {status}: {detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// The answer was not what the API documents: try again at the next tick.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The ledger failed: stop and report.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Shutdown was requested while waiting.
    #[error("stopped while waiting for the X API")]
    Cancelled,
}

impl XError {
    /// Whether this error stops the source for good (until the configuration is fixed and
    /// the daemon restarted).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            XError::Auth { .. } | XError::NoAccount { .. } | XError::Store(_)
        )
    }
}

/// What the rate-limit headers last said.
#[derive(Debug, Clone, Copy)]
struct RateLimit {
    remaining: u64,
    reset: DateTime<Utc>,
}

/// An X API v2 client for one token. Holds the rate-limit state of its last answer.
pub struct XClient {
    http: Http,
    base: String,
    token: Secret,
    clock: Clock,
    cancel: CancellationToken,
    limit: Option<RateLimit>,
    /// The timeline URL of the last account asked for, with the fields every request asks
    /// for: built once and copied for each poll, as parsing a long URL was the largest part
    /// of an idle poll's work.
    timeline_url: Option<(String, Url)>,
}

impl std::fmt::Debug for XClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XClient")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// What a timeline request asks for, besides the fields every request asks for.
#[derive(Debug, Clone, Default)]
pub struct TimelineQuery {
    /// Only posts newer than this id.
    pub since_id: Option<String>,
    /// Only posts older than this id.
    pub until_id: Option<String>,
    /// Only posts created at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Only posts created before this time.
    pub end_time: Option<DateTime<Utc>>,
    /// Posts per page, 5 to 100.
    pub max_results: u32,
    /// Leave reposts out (server side, so they are not billed).
    pub exclude_retweets: bool,
    /// The next page of an earlier answer.
    pub pagination_token: Option<String>,
}

impl XClient {
    /// A client for `base` (`https://api.x.com`, or a local fake) with `token`. `http` is
    /// shared by every source of the daemon.
    pub fn new(
        http: Http,
        base: &str,
        token: Secret,
        clock: Clock,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            clock,
            cancel,
            limit: None,
            timeline_url: None,
        }
    }

    /// Looks up an account by handle (one billed user read).
    ///
    /// # Errors
    /// See [`XError`]; an unknown handle is [`XError::NoAccount`].
    pub async fn user_by_username(&mut self, username: &str) -> Result<XUser, XError> {
        let url = self.url(
            &format!("/2/users/by/username/{username}"),
            &format!("user.fields={USER_FIELDS}"),
        )?;
        let body = self.get(url).await?;
        parse_user(&body).map_err(|err| match err {
            ParseError::NoUser(detail) => XError::NoAccount {
                username: username.to_owned(),
                detail,
            },
            other @ ParseError::Json(_) => XError::Parse(other),
        })
    }

    /// One page of an account's timeline, newest first.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn timeline(
        &mut self,
        owner: &Author,
        user_id: &str,
        q: &TimelineQuery,
    ) -> Result<Page, XError> {
        let mut url = match &self.timeline_url {
            Some((id, url)) if id == user_id => url.clone(),
            _ => {
                let url = self.url(&format!("/2/users/{user_id}/tweets"), &post_fields())?;
                self.timeline_url = Some((user_id.to_owned(), url.clone()));
                url
            }
        };
        let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let optional = [
            ("since_id", q.since_id.clone()),
            ("until_id", q.until_id.clone()),
            ("start_time", q.start_time.map(rfc3339)),
            ("end_time", q.end_time.map(rfc3339)),
            ("pagination_token", q.pagination_token.clone()),
            ("exclude", q.exclude_retweets.then(|| "retweets".to_owned())),
        ];
        url.query_pairs_mut()
            .append_pair(
                "max_results",
                &q.max_results.clamp(MIN_PAGE_SIZE, PAGE_SIZE).to_string(),
            )
            .extend_pairs(optional.iter().filter_map(|(k, v)| Some((k, v.as_ref()?))));
        let body = self.get(url).await?;
        Ok(parse_page(&body, owner)?)
    }

    /// Posts by id (at most 100), as `GET /2/tweets` returns them.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn tweets(&mut self, owner: &Author, ids: &[String]) -> Result<Page, XError> {
        let url = self.url(
            "/2/tweets",
            &format!("ids={}&{}", ids.join(","), post_fields()),
        )?;
        let body = self.get(url).await?;
        Ok(parse_page(&body, owner)?)
    }

    /// `path` under the base URL, with `query` as written (parsed by reqwest, so a bad URL
    /// fails as a request would).
    fn url(&self, path: &str, query: &str) -> Result<Url, XError> {
        let request = self
            .http
            .client()
            .get(format!("{}{path}?{query}", self.base))
            .build()
            .map_err(XError::Transport)?;
        Ok(request.url().clone())
    }

    /// GET with the bearer token, waiting out rate limits. Returns the body of a 200.
    async fn get(&mut self, url: Url) -> Result<String, XError> {
        let mut limited = 0;
        loop {
            if let Some(limit) = self.limit.filter(|l| l.remaining == 0) {
                if limit.reset > self.clock.now() {
                    info!(reset = %limit.reset, "X API rate limit used up; waiting for the reset");
                    self.wait_until(limit.reset).await?;
                }
                self.limit = None;
            }
            let (status, limit, body) = tokio::select! {
                () = self.cancel.cancelled() => return Err(XError::Cancelled),
                answer = self.send(&url) => answer?,
            };
            if limit.is_some() {
                self.limit = limit;
            }
            debug!(%url, status = status.as_u16(), remaining = limit.map(|l| l.remaining), "X API answered");
            match status {
                StatusCode::OK => return Ok(body),
                StatusCode::TOO_MANY_REQUESTS => {
                    let now = self.clock.now();
                    let reset = limit
                        .map(|l| l.reset)
                        .filter(|r| *r > now)
                        .unwrap_or_else(|| now + chrono_duration(DEFAULT_RATE_WAIT));
                    let reset = reset.min(now + chrono_duration(MAX_RATE_WAIT));
                    limited += 1;
                    if limited > MAX_RATE_RETRIES {
                        return Err(XError::RateLimited { reset });
                    }
                    warn!(%reset, "X API answered 429 (rate limited); waiting for the reset");
                    self.wait_until(reset).await?;
                    self.limit = None;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(XError::Auth {
                        status: status.as_u16(),
                        detail: detail(&body),
                    })
                }
                _ => {
                    return Err(XError::Status {
                        status: status.as_u16(),
                        detail: detail(&body),
                    })
                }
            }
        }
    }

    /// One GET in its turn ([`Http::turn`]): the status, the rate-limit headers and the body.
    async fn send(&self, url: &Url) -> Result<(StatusCode, Option<RateLimit>, String), XError> {
        let _turn = self.http.turn().await;
        let response = self
            .http
            .client()
            .get(url.clone())
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(XError::Transport)?;
        let status = response.status();
        let limit = rate_limit(response.headers());
        let body = response.text().await.map_err(XError::Transport)?;
        Ok((status, limit, body))
    }

    async fn wait_until(&self, when: DateTime<Utc>) -> Result<(), XError> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(XError::Cancelled),
            () = self.clock.sleep_until(when) => Ok(()),
        }
    }
}

/// The fields and expansions every request for posts asks for, as a query. The commas stay
/// as they are (the API documents them so): a shorter URL is less to parse, here and in
/// reqwest.
fn post_fields() -> String {
    format!("tweet.fields={TWEET_FIELDS}&expansions={EXPANSIONS}&media.fields={MEDIA_FIELDS}")
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The `x-rate-limit-remaining` and `x-rate-limit-reset` headers, when both are there.
fn rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
    let number =
        |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let remaining = u64::try_from(number("x-rate-limit-remaining")?).ok()?;
    let reset = Utc
        .timestamp_opt(number("x-rate-limit-reset")?, 0)
        .single()?;
    Some(RateLimit { remaining, reset })
}

/// The useful part of an error body: `detail`, `title`, or `errors[0].message`, else the
/// start of the text.
fn detail(body: &str) -> String {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let pick = |v: &serde_json::Value| -> Option<String> {
        v.get("detail")
            .or_else(|| v.get("title"))
            .or_else(|| v.get("message"))
            .and_then(|d| d.as_str())
            .map(str::to_owned)
    };
    json.as_ref()
        .and_then(|j| pick(j).or_else(|| j.get("errors")?.as_array()?.first().and_then(pick)))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// One configured `kind = "x"` source.
#[derive(Debug)]
pub struct XSource {
    name: String,
    settings: XSourceSettings,
    client: XClient,
    exclude_retweets: bool,
    /// The account, once resolved.
    account: Option<Author>,
    /// The newest post id the user lookup reported, used once to start a new source.
    most_recent: Option<PostId>,
    cursor: SavedCursor,
    /// The routes following this source's deletes, and how it looks for them.
    follow: Option<FollowDeletes>,
    /// When the next deletes check is due (`None`: at the next poll).
    next_check: Option<DateTime<Utc>>,
    /// Posts a deletes check found gone, for [`Source::take_deleted`].
    deleted: Vec<PostId>,
    /// Resolves the `t.co` links X did not expand.
    short_links: ShortLinks,
}

/// What a poll found.
#[derive(Debug, Default)]
struct Poll {
    /// New posts, oldest first. After each is in the ledger, set the cursor to its id.
    posts: Vec<XPost>,
    /// Pages that were read.
    pages: usize,
    /// Posts the pages returned, readable or not: the billed reads.
    returned: usize,
}

impl XSource {
    /// The source named `name`, reading with the client every source shares (`setup`).
    ///
    /// # Errors
    /// Its token cannot be read.
    pub fn from_settings(
        name: &str,
        settings: &XSourceSettings,
        setup: &Setup,
    ) -> Result<Self, ConfigError> {
        let token = settings.token.load(&format!("sources.{name}"))?;
        let client = XClient::new(
            setup.http.clone(),
            &settings.api_url,
            token,
            setup.clock.clone(),
            setup.cancel.clone(),
        );
        Ok(Self {
            name: name.to_owned(),
            settings: settings.clone(),
            client,
            exclude_retweets: !setup.reposts_wanted,
            account: None,
            most_recent: None,
            cursor: SavedCursor::new(name),
            follow: None,
            next_check: None,
            deleted: Vec::new(),
            short_links: ShortLinks::new(&settings.tco_url, settings.allow_private_media),
        })
    }

    /// When due, looks up again (100 a request) the posts the routes following this
    /// source's deletes mirrored within their window: X answers a post that is gone under
    /// `errors` as not found, and bills only the posts still there (counted as reads, and
    /// apart as the checks' reads). What is gone waits for [`Source::take_deleted`].
    ///
    /// # Errors
    /// See [`XError`].
    async fn check_deletes(&mut self, ledger: &Arc<Ledger>) -> Result<(), XError> {
        let Some(follow) = self.follow.clone() else {
            return Ok(());
        };
        let now = self.client.clock.now();
        let key = format!("{}+deletes-check", self.name);
        if self.next_check.is_none() {
            // The last check's time, kept in the ledger: `once` from cron is a new process
            // every minute, and must not check every minute.
            let k = key.clone();
            let last = ledger.call(move |l| l.cursor(&k)).await?;
            let last = last.and_then(|c| DateTime::parse_from_rfc3339(&c.value).ok());
            self.next_check = Some(last.map_or(now, |t| t.with_timezone(&Utc) + follow.every));
        }
        if self.next_check.is_some_and(|at| at > now) {
            return Ok(());
        }
        self.next_check = Some(now + follow.every);
        let since = now - follow.window;
        let routes = follow.routes.clone();
        let stamp = now.to_rfc3339();
        let ids = ledger
            .call(move |l| {
                l.set_cursor(&key, &stamp, now)?;
                l.recently_mirrored(&routes, since)
            })
            .await?;
        if ids.is_empty() {
            return Ok(());
        }
        let account = self.resolve_account(ledger).await?;
        let mut gone = Vec::new();
        for chunk in ids.chunks(usize::try_from(PAGE_SIZE).unwrap_or(100)) {
            let page = self.client.tweets(&account, chunk).await?;
            self.bill(ledger, page.returned, Some(ReadKind::DeletesCheck))
                .await?;
            gone.extend(page.missing.into_iter().filter(|id| chunk.contains(&id.0)));
        }
        info!(source = %self.name, checked = ids.len(), gone = gone.len(), "deletes check");
        self.deleted.extend(gone);
        Ok(())
    }

    /// The account this source reads, resolving it the first time (from the ledger, or with
    /// one billed lookup that is then kept in the ledger).
    ///
    /// # Errors
    /// See [`XError`].
    async fn resolve_account(&mut self, ledger: &Arc<Ledger>) -> Result<Author, XError> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let username = self.settings.username.clone();
        let known = {
            let username = username.clone();
            ledger.call(move |l| l.x_user_id(&username)).await?
        };
        let account = if let Some(id) = known {
            Author {
                id: Some(id),
                username,
                display_name: None,
            }
        } else {
            let user = self.client.user_by_username(&username).await?;
            let now = self.client.clock.now();
            let id = user.author.id.clone().unwrap_or_default();
            let (name, handle, user_id) = (self.name.clone(), username.clone(), id.clone());
            ledger
                .call(move |l| {
                    l.add_billable_reads(&name, ReadKind::User, 1, now)?;
                    l.set_x_user_id(&handle, &user_id, now)
                })
                .await?;
            info!(source = %self.name, username = %username, user_id = %id, "X account resolved");
            self.most_recent = user.most_recent_post;
            user.author
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// New posts since the cursor, oldest first. A source without a cursor starts as its
    /// `start` setting says: after the newest post (the cursor is set here, nothing is
    /// returned), with the newest N posts, or after a given id.
    ///
    /// # Errors
    /// See [`XError`]; [`XError::is_fatal`] tells whether to stop the source.
    async fn read_new(&mut self, ledger: &Arc<Ledger>) -> Result<Poll, XError> {
        let account = self.resolve_account(ledger).await?;
        let cursor = self.cursor.read(ledger).await?;
        let mut poll = Poll::default();
        let since_id = match (cursor, &self.settings.start) {
            (Some(cursor), _) => cursor,
            (None, StartAt::After(id)) => {
                let id = id.clone();
                self.cursor
                    .save(ledger, &id, self.client.clock.now())
                    .await?;
                id
            }
            (None, StartAt::Latest(0)) => {
                let newest = match self.most_recent.take() {
                    Some(id) => Some(id),
                    None => self
                        .newest(ledger, &account, MIN_PAGE_SIZE, &mut poll)
                        .await?
                        .first()
                        .map(|p| p.post.id.clone()),
                };
                // An account without posts starts at the id a post made now would get.
                let now = self.client.clock.now();
                let cursor = newest.map_or_else(|| snowflake_at(now), |id| id.0);
                info!(source = %self.name, cursor = %cursor, "new source: starting after the newest post");
                self.cursor.save(ledger, &cursor, now).await?;
                return Ok(poll);
            }
            (None, StartAt::Latest(n)) => {
                let n = *n;
                let mut posts = self.newest(ledger, &account, n, &mut poll).await?;
                posts.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                posts.reverse();
                info!(source = %self.name, posts = posts.len(), "new source: starting with the newest posts");
                poll.posts = posts;
                return Ok(poll);
            }
        };
        let query = TimelineQuery {
            since_id: Some(since_id.clone()),
            max_results: PAGE_SIZE,
            exclude_retweets: self.exclude_retweets,
            ..TimelineQuery::default()
        };
        let mut posts = self.pages(ledger, &account, query, None, &mut poll).await?;
        // The API's order is newest first; sort anyway, so an odd answer cannot make the
        // cursor jump past an unmirrored post.
        posts.retain(|p| id_order(p.post.id.as_str(), &since_id).is_gt());
        posts.sort_by(|a, b| id_order(a.post.id.as_str(), b.post.id.as_str()));
        posts.dedup_by(|a, b| a.post.id == b.post.id);
        poll.posts = posts;
        Ok(poll)
    }

    /// The posts with these ids (billed), oldest first: after a restart, the posts whose
    /// parts were still to deliver, which the cursor has already passed.
    ///
    /// # Errors
    /// See [`XError`].
    async fn read_ids(
        &mut self,
        ledger: &Arc<Ledger>,
        ids: &[String],
    ) -> Result<Vec<XPost>, XError> {
        let account = self.resolve_account(ledger).await?;
        let mut posts = Vec::new();
        for chunk in ids.chunks(usize::try_from(PAGE_SIZE).unwrap_or(100)) {
            let page = self.client.tweets(&account, chunk).await?;
            self.bill(ledger, page.returned, None).await?;
            for problem in &page.errors {
                warn!(source = %self.name, problem = %problem, "a post to retry cannot be read again");
            }
            posts.extend(page.posts);
        }
        posts.sort_by(|a, b| id_order(a.post.id.as_str(), b.post.id.as_str()));
        Ok(posts)
    }

    /// Posts of the account within a time range, oldest first, for `backfill --from-api`:
    /// the timeline read backwards within the API's window.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn range(
        &mut self,
        ledger: &Arc<Ledger>,
        start_time: Option<DateTime<Utc>>,
        end_time: Option<DateTime<Utc>>,
    ) -> Result<Vec<Found>, XError> {
        let account = self.resolve_account(ledger).await?;
        let mut poll = Poll::default();
        let query = TimelineQuery {
            start_time,
            end_time,
            max_results: PAGE_SIZE,
            exclude_retweets: self.exclude_retweets,
            ..TimelineQuery::default()
        };
        let mut posts = self.pages(ledger, &account, query, None, &mut poll).await?;
        posts.sort_by(|a, b| id_order(a.post.id.as_str(), b.post.id.as_str()));
        posts.dedup_by(|a, b| a.post.id == b.post.id);
        Ok(found(posts))
    }

    /// The newest `n` posts (at least one page), newest first.
    async fn newest(
        &mut self,
        ledger: &Arc<Ledger>,
        account: &Author,
        n: u32,
        poll: &mut Poll,
    ) -> Result<Vec<XPost>, XError> {
        let query = TimelineQuery {
            max_results: n.clamp(MIN_PAGE_SIZE, PAGE_SIZE),
            exclude_retweets: self.exclude_retweets,
            ..TimelineQuery::default()
        };
        let want = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        self.pages(ledger, account, query, Some(want), poll).await
    }

    /// Reads pages until the API has no more (or `enough` posts are in), newest first.
    /// Every page's posts are billable reads, counted in the ledger once at the end (also
    /// when a page fails: what the earlier pages returned was billed all the same).
    async fn pages(
        &mut self,
        ledger: &Arc<Ledger>,
        account: &Author,
        query: TimelineQuery,
        enough: Option<usize>,
        poll: &mut Poll,
    ) -> Result<Vec<XPost>, XError> {
        let before = poll.returned;
        let result = self.read_pages(account, query, enough, poll).await;
        self.bill(ledger, poll.returned - before, None).await?;
        result
    }

    /// [`XSource::pages`] without the ledger: counts the pages and the posts they returned
    /// in `poll`.
    async fn read_pages(
        &mut self,
        account: &Author,
        mut query: TimelineQuery,
        enough: Option<usize>,
        poll: &mut Poll,
    ) -> Result<Vec<XPost>, XError> {
        let user_id = account.id.as_deref().unwrap_or_default();
        let mut posts = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.client.timeline(account, user_id, &query).await?;
            poll.pages += 1;
            poll.returned += page.returned;
            for problem in &page.errors {
                debug!(source = %self.name, problem = %problem, "partial error in an X API page");
            }
            for reason in &page.malformed {
                warn!(source = %self.name, reason = %reason, "unreadable post in an X API page; skipped");
            }
            posts.extend(page.posts);
            match page.next_token {
                Some(token) if enough.is_none_or(|e| posts.len() < e) => {
                    query.pagination_token = Some(token);
                }
                _ => break,
            }
        }
        Ok(posts)
    }

    /// Counts `returned` billed post reads in the ledger, off the event loop; nothing at all
    /// when none were returned (an idle poll costs no ledger call). A deletes check's reads
    /// are counted as post reads, and apart (`also`).
    async fn bill(
        &self,
        ledger: &Arc<Ledger>,
        returned: usize,
        also: Option<ReadKind>,
    ) -> Result<(), StoreError> {
        if returned == 0 {
            return Ok(());
        }
        let count = u64::try_from(returned).unwrap_or(u64::MAX);
        let (name, now) = (self.name.clone(), self.client.clock.now());
        ledger
            .call(move |l| {
                for kind in std::iter::once(ReadKind::Post).chain(also) {
                    l.add_billable_reads(&name, kind, count, now)?;
                }
                Ok(())
            })
            .await
    }
}

impl Source for XSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "x"
    }

    fn account<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Author, SourceError>> {
        Box::pin(async move { Ok(self.resolve_account(ledger).await?) })
    }

    /// New posts, and when a route follows this source's deletes and a check is due, the
    /// posts found gone (a failed check is tried again at the next poll; the posts stand).
    fn poll<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move {
            let posts = found(self.read_new(ledger).await?.posts);
            match self.check_deletes(ledger).await {
                Ok(()) => {}
                Err(XError::Cancelled) => return Err(SourceError::Cancelled),
                Err(err) => {
                    warn!(source = %self.name, error = %err, "deletes check failed; trying again at the next poll");
                    self.next_check = None;
                }
            }
            Ok(posts)
        })
    }

    fn take_deleted(&mut self) -> Vec<PostId> {
        std::mem::take(&mut self.deleted)
    }

    /// X does not say what was deleted: the posts mirrored within `follow.window` are looked
    /// up again every `follow.every` (see `check_deletes`).
    fn follow_deletes(&mut self, follow: FollowDeletes) {
        self.follow = Some(follow);
    }

    /// Reads the posts again from X (billed): one deleted there meanwhile (or whose account
    /// went private) is not found, and so not mirrored.
    fn lookup<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move { Ok(found(self.read_ids(ledger, ids).await?)) })
    }

    /// The cursor is the post's id, kept in memory too (an idle poll reads no ledger).
    fn handled(&mut self, post: &Post) -> CursorMove {
        self.cursor.moved(post.id.0.clone())
    }

    fn media_stage(&self) -> Option<MediaStage> {
        Some(MediaStage::new(self.settings.allow_private_media))
    }

    fn short_links(&self) -> Option<&ShortLinks> {
        Some(&self.short_links)
    }
}

/// A refused token or a missing account stops the source, as a failing ledger does; the
/// rest is tried again at the next tick.
impl From<XError> for SourceError {
    fn from(err: XError) -> Self {
        match err {
            XError::Cancelled => SourceError::Cancelled,
            err if err.is_fatal() => SourceError::Fatal(Box::new(err)),
            err => SourceError::Transient(Box::new(err)),
        }
    }
}

/// The posts with their earlier versions (newest first).
fn found(posts: Vec<XPost>) -> Vec<Found> {
    posts
        .into_iter()
        .map(|p| Found {
            earlier: p.earlier_versions(),
            post: p.post,
        })
        .collect()
}
