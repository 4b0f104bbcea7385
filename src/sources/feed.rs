//! The RSS/Atom source: the fallback way of reading an X account (through Nitter,
//! RSS-Bridge and similar) or any other feed.
//!
//! Each poll is a conditional GET (`If-None-Match`, `If-Modified-Since`): an unchanged feed
//! costs a 304 and nothing else. A feed has no "since" parameter, so the source remembers
//! the ids of the items it has handed over (its cursor in the ledger, with the validators);
//! new items are the ones not among them. A new source starts after the items present at its
//! first poll (or with the newest N, `start = "latest:N"`), so a route never floods.
//! The validators are saved only once every new item is handled: a crash in between must
//! not turn the next poll into a 304 that hides the unhandled items.
//! The ledger is read and written on the blocking pool ([`Ledger::call`]): one read per
//! poll, and a write only when a new source starts.

use std::sync::Arc;

use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{kept, BoxFuture, CursorMove, Found, Http, Setup, Source, SourceError};
use crate::clock::Clock;
use crate::config::{FeedSourceSettings, StartAt};
use crate::media::stage::MediaStage;
use crate::model::{Author, Post};
use crate::normalize::feed::{normalize_entry, FeedContext};
use crate::store::{Ledger, StoreError};

/// Feeds larger than this are refused (a Nitter feed is some tens of kilobytes).
const MAX_FEED_BYTES: usize = 5 * 1024 * 1024;

/// What went wrong reading a feed; the variant says what the caller does.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Network failure or timeout: try again at the next tick.
    #[error("cannot fetch the feed {url}: {source}")]
    Transport {
        /// The feed URL.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status: try again at the next tick.
    #[error("the feed {url} answered HTTP {status}")]
    Status {
        /// The feed URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The feed is larger than 5 MB: try again at the next tick (and look at the feed).
    #[error("the feed {url} is larger than {MAX_FEED_BYTES} bytes")]
    TooLarge {
        /// The feed URL.
        url: String,
    },
    /// Not RSS or Atom: try again at the next tick (and look at the feed).
    #[error("the feed {url} cannot be read: {reason}")]
    Parse {
        /// The feed URL.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The ledger failed: stop the source.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Shutdown was requested during the request.
    #[error("stopped while reading the feed")]
    Cancelled,
}

impl FeedError {
    /// Whether this error stops the source for good.
    pub fn is_fatal(&self) -> bool {
        matches!(self, FeedError::Store(_))
    }
}

/// What the source keeps in its ledger cursor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FeedCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    /// Ids of items already handed over (or present when the source started).
    #[serde(default)]
    seen: Vec<String>,
}

impl FeedCursor {
    /// The cursor as the ledger stores it.
    fn value(&self) -> String {
        // Serialising strings and lists cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One configured `kind = "feed"` source.
#[derive(Debug)]
pub struct FeedSource {
    name: String,
    settings: FeedSourceSettings,
    http: Http,
    clock: Clock,
    cancel: CancellationToken,
    /// The cursor as saved in the ledger.
    saved: Option<FeedCursor>,
    /// The cursor to save once the current poll's items are all handled.
    pending: Option<FeedCursor>,
}

impl FeedSource {
    /// The source named `name`, fetching with the client every source shares (`setup`).
    pub fn new(name: &str, settings: FeedSourceSettings, setup: &Setup) -> Self {
        Self {
            name: name.to_owned(),
            settings,
            http: setup.http.clone(),
            clock: setup.clock.clone(),
            cancel: setup.cancel.clone(),
            saved: None,
            pending: None,
        }
    }

    /// New items, oldest first.
    ///
    /// # Errors
    /// See [`FeedError`].
    async fn read_new(&mut self, ledger: &Arc<Ledger>) -> Result<Vec<Post>, FeedError> {
        let name = self.name.clone();
        let saved = match ledger.call(move |l| l.cursor(&name)).await? {
            Some(c) => Some(serde_json::from_str::<FeedCursor>(&c.value).unwrap_or_else(|err| {
                warn!(source = %self.name, error = %err, "unreadable feed cursor; starting afresh");
                FeedCursor::default()
            })),
            None => None,
        };
        let url = self.settings.url.clone();
        let Some((body, etag, last_modified)) = self.fetch(saved.as_ref()).await? else {
            debug!(source = %self.name, "feed not modified");
            self.saved = saved;
            return Ok(Vec::new());
        };
        let feed = feed_rs::parser::Builder::new()
            .base_uri(Some(&url))
            .build()
            .parse(body.as_slice())
            .map_err(|err| FeedError::Parse {
                url: url.clone(),
                reason: err.to_string(),
            })?;
        let cx = FeedContext {
            fallback_author: &self.name,
            allow_private_media: self.settings.allow_private_media,
            now: self.clock.now(),
        };
        let mut posts: Vec<Post> = Vec::new();
        for entry in &feed.entries {
            let Some(item) = normalize_entry(entry, &cx) else {
                debug!(source = %self.name, id = %entry.id, "feed item without text or id; skipped");
                continue;
            };
            for refused in &item.refused_media {
                warn!(source = %self.name, post = %item.post.id, reason = %refused, "feed media refused");
            }
            if !posts.iter().any(|p| p.id == item.post.id) {
                posts.push(item.post);
            }
        }
        // Feeds list newest first; oldest first here, by date where items have one.
        posts.reverse();
        posts.sort_by_key(|p| p.created_at);
        let current: Vec<String> = posts.iter().map(|p| p.id.0.clone()).collect();
        let is_new = saved.is_none();
        let new: Vec<Post> = if let Some(c) = &saved {
            posts
                .into_iter()
                .filter(|p| !c.seen.contains(&p.id.0))
                .collect()
        } else {
            {
                let keep = match self.settings.start {
                    StartAt::Latest(n) => usize::try_from(n).unwrap_or(usize::MAX),
                    StartAt::After(_) => 0,
                };
                let skip = posts.len().saturating_sub(keep);
                info!(source = %self.name, present = posts.len(), mirrored = posts.len() - skip, "new feed source: starting after the items present now");
                posts.into_iter().skip(skip).collect()
            }
        };
        let mut start = saved.unwrap_or_default();
        if is_new {
            // A new source: the items left out count as seen from now on.
            start.seen = current
                .iter()
                .filter(|id| !new.iter().any(|p| &p.id.0 == *id))
                .cloned()
                .collect();
            let (name, value, now) = (self.name.clone(), start.value(), self.clock.now());
            ledger
                .call(move |l| l.set_cursor(&name, &value, now))
                .await?;
        }
        self.saved = Some(start);
        self.pending = Some(FeedCursor {
            etag,
            last_modified,
            seen: current,
        });
        Ok(new)
    }

    /// GETs the feed, conditionally; `None` for 304 Not Modified. Returns the body and the
    /// `ETag` and `Last-Modified` validators.
    async fn fetch(
        &self,
        saved: Option<&FeedCursor>,
    ) -> Result<Option<(Vec<u8>, Option<String>, Option<String>)>, FeedError> {
        let url = &self.settings.url;
        let mut request = self.http.client().get(url);
        if let Some(c) = saved {
            if let Some(etag) = &c.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &c.last_modified {
                request = request.header(IF_MODIFIED_SINCE, modified);
            }
        }
        let transport = |source| FeedError::Transport {
            url: url.clone(),
            source,
        };
        // The turn is held until the body is read.
        let _turn = tokio::select! {
            () = self.cancel.cancelled() => return Err(FeedError::Cancelled),
            turn = self.http.turn() => turn,
        };
        let mut response = tokio::select! {
            () = self.cancel.cancelled() => return Err(FeedError::Cancelled),
            r = request.send() => r.map_err(transport)?,
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(FeedError::Status {
                url: url.clone(),
                status: status.as_u16(),
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_FEED_BYTES {
                return Err(FeedError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some((body, etag, last_modified)))
    }
}

impl Source for FeedSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "feed"
    }

    /// A feed names no account of its own: the source's name stands in, as it does for an
    /// item without an author.
    fn account<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Author, SourceError>> {
        let account = Author::named(self.name.clone());
        Box::pin(async move { Ok(account) })
    }

    fn poll<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move {
            let posts = self.read_new(ledger).await?;
            Ok(posts.into_iter().map(Found::from).collect())
        })
    }

    /// A feed cannot be asked for an old item: the posts come from the copies kept in the
    /// ledger (`sources/kept.rs`).
    fn lookup<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move { Ok(kept::lookup(ledger, &self.name, ids.to_vec()).await?) })
    }

    /// From the kept copies, dropping first those no route needs any more.
    fn recover<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
        routes: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move { Ok(kept::recover(ledger, &self.name, routes.to_vec()).await?) })
    }

    /// Never hand the item over again: the cursor's seen ids with this one.
    fn handled(&mut self, post: &Post) -> CursorMove {
        let saved = self.saved.get_or_insert_with(FeedCursor::default);
        if !saved.seen.contains(&post.id.0) {
            saved.seen.push(post.id.0.clone());
        }
        CursorMove {
            source: self.name.clone(),
            value: saved.value(),
        }
    }

    fn keeps_posts(&self) -> bool {
        true
    }

    /// The validators and the current ids, once every new item of the poll is handled.
    fn finished(&mut self) -> Option<CursorMove> {
        let pending = self.pending.take()?;
        let value = pending.value();
        self.saved = Some(pending);
        Some(CursorMove {
            source: self.name.clone(),
            value,
        })
    }

    fn media_stage(&self) -> Option<MediaStage> {
        Some(MediaStage::new(self.settings.allow_private_media))
    }
}

/// A failing ledger stops the source; the rest is tried again at the next tick.
impl From<FeedError> for SourceError {
    fn from(err: FeedError) -> Self {
        match err {
            FeedError::Cancelled => SourceError::Cancelled,
            err if err.is_fatal() => SourceError::Fatal(Box::new(err)),
            err => SourceError::Transient(Box::new(err)),
        }
    }
}
