//! The fediverse source (`kind = "fediverse"`): the operator's own account on a fediverse
//! server, read through megalodon (`reader.rs`), for organisations that post on the
//! fediverse first and mirror to X or to other fediverse accounts.
//!
//! - **Account**: `verify_account_credentials` names the account the token belongs to.
//! - **New statuses**: the account's statuses after the cursor (the newest status handled),
//!   oldest first. megalodon has no `min_id`, and `since_id` answers with the *newest*
//!   statuses after the cursor, so pages go backwards (`max_id` = the oldest of the last
//!   page, `since_id` kept) until a page is not full: nothing between two pages is lost.
//!   The server's order is kept (ids are opaque: numbers on Mastodon, ULIDs on
//!   `GoToSocial`, flake ids on Pleroma).
//! - **Streaming** (`stream.rs`): Mastodon, Pleroma/Akkoma and `GoToSocial` push new
//!   statuses on the `user` stream; an event of the account wakes the daemon
//!   ([`Source::news`]), which polls at once. Every (re)connection is followed by that same
//!   read after the cursor, so a status created while the stream was down is read then. The
//!   schedule stays as the fallback (the only way on Friendica, Pixelfed and Firefish).
//! - **Edits**: a `status.update` event, or (each poll while no stream is connected, and
//!   after every reconnect) a status among the newest page with an `edited_at` newer than
//!   its mirrored version, becomes a post of its own ([`crate::normalize::fedi::version_id`])
//!   whose earlier version is the status: the engine edits the mirrored statuses (or records
//!   that a target cannot edit). Only statuses some route had are offered, each version once.
//! - **Deletes**: the stream's `delete` events, handed over by [`Source::take_deleted`].
//! - **Visibility**: followers-only, direct and local statuses are never handed over; the
//!   cursor still moves past them ([`Source::finished`]).
//! - A new source mirrors nothing old (`start = "latest"`), or the newest N statuses;
//!   `backfill --from-api` reads the account's history ([`FediverseSource::range`]).
//! - A server megalodon cannot read (snac) stops the source with an error naming the server
//!   and the call; so does a refused token. The network and the server's errors are tried
//!   again at the next tick.

mod reader;
mod stream;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use megalodon::entities::Status;
use megalodon::megalodon::GetAccountStatusesInputOptions;
use megalodon::SNS;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use reader::FediSourceError;
use reader::Reader;
use stream::{Event, Stream, TokenIn};

use super::{BoxFuture, CursorMove, Found, SavedCursor, Setup, Source, SourceError};
use crate::clock::Clock;
use crate::config::{ConfigError, FediverseSourceSettings, Secret, StartAt};
use crate::media::stage::MediaStage;
use crate::model::{Author, Post, PostId};
use crate::normalize::fedi::{normalize_status, version_id, FediStatus};
use crate::store::Ledger;

/// Statuses per page (Mastodon's most).
const PAGE: u32 = 40;
/// Pages read after the cursor in one poll at most (4,000 statuses): beyond, the oldest of
/// them are left out with a warning (`backfill --from-api` reads them).
const MAX_PAGES: usize = 100;
/// The cursor of an account that had no status when its source started: every status is new.
const FROM_THE_START: &str = "-";

/// One configured `kind = "fediverse"` source.
#[derive(Debug)]
pub struct FediverseSource {
    name: String,
    settings: FediverseSourceSettings,
    token: Secret,
    clock: Clock,
    cancel: CancellationToken,
    reader: Option<Reader>,
    account: Option<Author>,
    cursor: SavedCursor,
    /// The newest status the last poll saw (public or not): the cursor once it is handled.
    newest: Option<String>,
    stream: Option<Stream>,
    /// Whether the stream is connected (else each poll also looks for edits).
    streaming: bool,
    /// Look for edits among the newest statuses at the next poll (after a reconnect).
    catch_up: bool,
    /// Statuses the stream said were edited, to read at the next poll.
    edited: Vec<String>,
    /// Statuses the stream said were deleted, for [`Source::take_deleted`].
    deleted: Vec<PostId>,
    /// Versions of edited statuses already weighed (offered, or not the routes' to edit).
    versions_seen: HashSet<String>,
}

impl FediverseSource {
    /// The source named `name`.
    ///
    /// # Errors
    /// Its token cannot be read.
    pub fn from_settings(
        name: &str,
        settings: &FediverseSourceSettings,
        setup: &Setup,
    ) -> Result<Self, ConfigError> {
        let token = settings.token.load(&format!("sources.{name}"))?;
        Ok(Self {
            name: name.to_owned(),
            settings: settings.clone(),
            token,
            clock: setup.clock.clone(),
            cancel: setup.cancel.clone(),
            reader: None,
            account: None,
            cursor: SavedCursor::new(name),
            newest: None,
            stream: None,
            streaming: false,
            catch_up: false,
            edited: Vec::new(),
            deleted: Vec::new(),
            versions_seen: HashSet::new(),
        })
    }

    /// The megalodon client, made (and the server's kind detected) the first time.
    async fn reader(&mut self) -> Result<&Reader, FediSourceError> {
        if self.reader.is_none() {
            let reader = Reader::connect(
                self.settings.server,
                &self.settings.url,
                &self.token,
                self.settings.request_timeout,
                self.cancel.clone(),
            )
            .await?;
            info!(source = %self.name, server = %reader.sns(), "reading the fediverse account through megalodon");
            self.reader = Some(reader);
        }
        Ok(self.reader.as_ref().expect("made above"))
    }

    /// The account, resolved the first time.
    async fn resolve_account(&mut self) -> Result<Author, FediSourceError> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let account = self.reader().await?.account().await?;
        let author = Author {
            id: Some(account.id.clone()),
            username: account.username.clone(),
            display_name: Some(account.display_name.clone()).filter(|d| !d.is_empty()),
        };
        info!(source = %self.name, account = %account.acct, id = %account.id, "fediverse account resolved");
        self.account = Some(author.clone());
        Ok(author)
    }

    /// Starts the stream once the account is known, where the server has one and the
    /// settings want it.
    async fn start_stream(&mut self, own_id: &str) -> Result<(), FediSourceError> {
        if self.stream.is_some() || !self.settings.stream {
            return Ok(());
        }
        let reader = self.reader().await?;
        if !reader.streams() {
            return Ok(());
        }
        let token_in = if *reader.sns() == SNS::Mastodon {
            TokenIn::Authorization
        } else {
            TokenIn::Protocol
        };
        let base = reader.streaming_url().await?;
        let url = format!(
            "{}/api/v1/streaming?stream=user",
            websocket_base(base.trim_end_matches('/'))
        );
        self.stream = Some(Stream::start(
            url,
            self.token.clone(),
            token_in,
            own_id.to_owned(),
            self.cancel.clone(),
        ));
        Ok(())
    }

    /// New statuses after the cursor (oldest first) and edits, as posts to hand over.
    async fn read_new(&mut self, ledger: &Arc<Ledger>) -> Result<Vec<Found>, FediSourceError> {
        let account = self.resolve_account().await?;
        let own_id = account.id.clone().unwrap_or_default();
        self.start_stream(&own_id).await?;
        let cursor = self.cursor.read(ledger).await?;
        self.newest = None;
        let statuses = match (cursor, &self.settings.start) {
            (Some(cursor), _) => {
                let since = (cursor != FROM_THE_START).then_some(cursor);
                self.after(&own_id, since.as_deref()).await?
            }
            (None, StartAt::Latest(n)) => {
                let n = *n;
                let mut newest = self.pages(&own_id, None, Some(n.max(1))).await?;
                let start = newest
                    .first()
                    .map_or(FROM_THE_START.to_owned(), |s| s.id.clone());
                if n == 0 {
                    info!(source = %self.name, cursor = %start, "new source: starting after the newest status");
                    self.cursor.save(ledger, &start, self.clock.now()).await?;
                    return Ok(Vec::new());
                }
                newest.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                newest.reverse();
                info!(source = %self.name, statuses = newest.len(), "new source: starting with the newest statuses");
                self.newest = Some(start);
                newest
            }
            (None, StartAt::After(id)) => {
                let id = id.clone();
                self.cursor.save(ledger, &id, self.clock.now()).await?;
                self.after(&own_id, Some(&id)).await?
            }
        };
        let new_ids: HashSet<String> = statuses.iter().map(|s| s.id.clone()).collect();
        let mut found = self.hand_over(&statuses, &own_id);
        found.extend(self.edits(ledger, &own_id, &new_ids).await?);
        Ok(found)
    }

    /// The statuses after `since` (all of them when `None`), oldest first; remembers the
    /// newest for [`Source::finished`].
    async fn after(
        &mut self,
        own_id: &str,
        since: Option<&str>,
    ) -> Result<Vec<Status>, FediSourceError> {
        let mut statuses = self.pages(own_id, since, None).await?;
        if let Some(newest) = statuses.first() {
            self.newest = Some(newest.id.clone());
        }
        statuses.retain(|s| Some(s.id.as_str()) != since);
        statuses.reverse();
        Ok(statuses)
    }

    /// Pages of the account's statuses, newest first: after `since` (all when `None`),
    /// `enough` at most.
    async fn pages(
        &mut self,
        own_id: &str,
        since: Option<&str>,
        enough: Option<u32>,
    ) -> Result<Vec<Status>, FediSourceError> {
        let limit = enough.map_or(PAGE, |n| n.clamp(1, PAGE));
        let mut options = GetAccountStatusesInputOptions {
            limit: Some(limit),
            since_id: since.map(str::to_owned),
            ..GetAccountStatusesInputOptions::default()
        };
        let mut all: Vec<Status> = Vec::new();
        for page in 0.. {
            if page == MAX_PAGES {
                warn!(source = %self.name, statuses = all.len(), "more new statuses than one poll reads; the oldest are left to `backfill --from-api`");
                break;
            }
            let reader = self.reader().await?;
            let got = reader.statuses(own_id, &options).await?;
            let full = got.len() >= limit as usize;
            let Some(oldest) = got.last().map(|s| s.id.clone()) else {
                break;
            };
            for status in got {
                if !all.iter().any(|s| s.id == status.id) {
                    all.push(status);
                }
            }
            let done = enough.is_some_and(|n| all.len() >= n as usize);
            if !full || done || options.max_id.as_deref() == Some(oldest.as_str()) {
                break;
            }
            options.max_id = Some(oldest);
        }
        Ok(all)
    }

    /// The public statuses as posts; the others are left out (logged).
    fn hand_over(&self, statuses: &[Status], own_id: &str) -> Vec<Found> {
        statuses
            .iter()
            .filter_map(|status| {
                let read = normalize_status(status, own_id);
                if read.public {
                    Some(Found::from(read.post))
                } else {
                    debug!(source = %self.name, status = %status.id, visibility = read.visibility, "not mirrored: not public");
                    None
                }
            })
            .collect()
    }

    /// Edited statuses to hand over as new versions: those the stream named, and (after a
    /// reconnect, or each poll while no stream is connected) those among the newest page
    /// whose `edited_at` says they changed. `new` are this poll's new statuses (handed over
    /// whole already).
    async fn edits(
        &mut self,
        ledger: &Arc<Ledger>,
        own_id: &str,
        new: &HashSet<String>,
    ) -> Result<Vec<Found>, FediSourceError> {
        let mut candidates: Vec<FediStatus> = Vec::new();
        for id in std::mem::take(&mut self.edited) {
            if new.contains(&id) {
                continue;
            }
            let reader = self.reader().await?;
            if let Some(status) = reader.status(&id).await? {
                if status.account.id == own_id {
                    candidates.push(normalize_status(&status, own_id));
                }
            }
        }
        if std::mem::take(&mut self.catch_up) || !self.streaming {
            let newest = self.pages(own_id, None, Some(PAGE)).await?;
            candidates.extend(
                newest
                    .iter()
                    .filter(|s| s.edited_at.is_some() && !new.contains(&s.id))
                    .map(|s| normalize_status(s, own_id)),
            );
        }
        let mut weigh = Vec::new();
        for status in candidates {
            if !status.public {
                continue;
            }
            let version = version_id(&status);
            if self.versions_seen.insert(version.0.clone()) {
                weigh.push((status, version));
            }
        }
        if weigh.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = weigh
            .iter()
            .flat_map(|(s, v)| [s.post.id.0.clone(), v.0.clone()])
            .collect();
        let known: HashSet<String> = ledger
            .call(move |l| l.known_posts(&ids))
            .await?
            .into_iter()
            .collect();
        let mut found = Vec::new();
        for (status, version) in weigh {
            let original = status.post.id.clone();
            if !known.contains(original.as_str()) || known.contains(version.as_str()) {
                continue;
            }
            info!(source = %self.name, status = %original, version = %version, "edited status: handing over its new version");
            let mut post = status.post;
            post.id = version;
            found.push(Found {
                post,
                earlier: vec![original],
            });
        }
        Ok(found)
    }

    /// The account's public statuses created within `[start, end)`, oldest first, for
    /// `backfill --from-api`: the account's statuses read backwards from the newest.
    ///
    /// # Errors
    /// See [`FediSourceError`].
    pub async fn range(
        &mut self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Vec<Found>, FediSourceError> {
        let account = self.resolve_account().await?;
        let own_id = account.id.clone().unwrap_or_default();
        let mut options = GetAccountStatusesInputOptions {
            limit: Some(PAGE),
            ..GetAccountStatusesInputOptions::default()
        };
        let mut statuses: Vec<Status> = Vec::new();
        loop {
            let reader = self.reader().await?;
            let page = reader.statuses(&own_id, &options).await?;
            let Some(oldest) = page.last().map(|s| (s.id.clone(), s.created_at)) else {
                break;
            };
            let full = page.len() >= PAGE as usize;
            statuses.extend(page.into_iter().filter(|s| {
                start.is_none_or(|t| s.created_at >= t) && end.is_none_or(|t| s.created_at < t)
            }));
            if !full
                || start.is_some_and(|t| oldest.1 < t)
                || options.max_id.as_deref() == Some(oldest.0.as_str())
            {
                break;
            }
            options.max_id = Some(oldest.0);
        }
        statuses.reverse();
        Ok(self.hand_over(&statuses, &own_id))
    }

    /// The statuses with these ids (a version of an edited status by its version id), as
    /// far as the server still has them, oldest first by creation.
    async fn read_ids(&mut self, ids: &[String]) -> Result<Vec<Found>, FediSourceError> {
        let account = self.resolve_account().await?;
        let own_id = account.id.clone().unwrap_or_default();
        let mut found = Vec::new();
        for id in ids {
            let (status_id, version) = match id.split_once(".edit.") {
                Some((status, _)) => (status, true),
                None => (id.as_str(), false),
            };
            let reader = self.reader().await?;
            let Some(status) = reader.status(status_id).await? else {
                info!(source = %self.name, status = %status_id, "a status to retry is gone from the server; not mirrored");
                continue;
            };
            let read = normalize_status(&status, &own_id);
            if !read.public || status.account.id != own_id {
                continue;
            }
            if version {
                if version_id(&read).as_str() != id {
                    info!(source = %self.name, version = %id, "a version to retry was edited again since; the newer version is handed over when seen");
                    continue;
                }
                let mut post = read.post;
                let original = post.id.clone();
                post.id = PostId::new(id.clone());
                found.push(Found {
                    post,
                    earlier: vec![original],
                });
            } else {
                found.push(Found::from(read.post));
            }
        }
        found.sort_by_key(|f| f.post.created_at);
        Ok(found)
    }

    /// Takes the stream's events waiting now: edits and deletes remembered, a
    /// (re)connection asks for a catch-up read. Returns whether any is news for a poll.
    fn absorb(&mut self, event: Event) -> bool {
        match event {
            Event::Connected => {
                self.streaming = true;
                self.catch_up = true;
                true
            }
            Event::Update => true,
            Event::Edit(id) => {
                if !self.edited.contains(&id) {
                    self.edited.push(id);
                }
                true
            }
            Event::Delete(id) => {
                self.deleted.push(PostId::new(id));
                true
            }
            Event::Closed => {
                self.streaming = false;
                false
            }
        }
    }
}

/// The WebSocket address of a streaming base URL (`https://` → `wss://`).
fn websocket_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}

impl Source for FediverseSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "fediverse"
    }

    fn account<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Author, SourceError>> {
        Box::pin(async move { Ok(self.resolve_account().await?) })
    }

    fn poll<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move {
            // Events that came while the last cycle ran.
            while let Some(event) = self.stream.as_mut().and_then(Stream::ready) {
                self.absorb(event);
            }
            Ok(self.read_new(ledger).await?)
        })
    }

    /// Reads the statuses again: one deleted meanwhile (or no longer public) is not
    /// mirrored.
    fn lookup<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move { Ok(self.read_ids(ids).await?) })
    }

    /// A new status moves the cursor to its id; a new version of an edited status leaves
    /// it where it is.
    fn handled(&mut self, post: &Post) -> CursorMove {
        if !post.id.as_str().contains(".edit.") {
            return self.cursor.moved(post.id.0.clone());
        }
        CursorMove {
            source: self.name.clone(),
            value: self.cursor.value().unwrap_or(FROM_THE_START).to_owned(),
        }
    }

    /// Past the newest status the poll saw, public or not.
    fn finished(&mut self) -> Option<CursorMove> {
        let newest = self.newest.take()?;
        if self.cursor.value() == Some(newest.as_str()) {
            return None;
        }
        Some(self.cursor.moved(newest))
    }

    fn media_stage(&self) -> Option<MediaStage> {
        Some(MediaStage::new(self.settings.allow_private_media))
    }

    /// The stream's events of the account: a new or edited status, a delete, a
    /// (re)connection after which the statuses after the cursor are read again.
    fn news(&mut self) -> Option<BoxFuture<'_, ()>> {
        self.stream.as_ref()?;
        Some(Box::pin(async move {
            loop {
                let Some(stream) = self.stream.as_mut() else {
                    return std::future::pending().await;
                };
                if let Some(event) = stream.next().await {
                    if self.absorb(event) {
                        return;
                    }
                } else {
                    // The stream stopped for good (the token was refused): polls only.
                    self.stream = None;
                    self.streaming = false;
                }
            }
        }))
    }

    fn take_deleted(&mut self) -> Vec<PostId> {
        std::mem::take(&mut self.deleted)
    }
}

/// A server megalodon cannot read, a refused token or a failing ledger stops the source;
/// the rest is tried again at the next tick.
impl From<FediSourceError> for SourceError {
    fn from(err: FediSourceError) -> Self {
        match err {
            FediSourceError::Cancelled => SourceError::Cancelled,
            err if err.is_fatal() => SourceError::Fatal(Box::new(err)),
            err => SourceError::Transient(Box::new(err)),
        }
    }
}
