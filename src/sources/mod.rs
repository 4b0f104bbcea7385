//! Sources: where posts come from. Each converts its wire format into [`crate::model::Post`]
//! at its edge and is used through the [`Source`] trait: the daemon polls its sources on
//! their schedules (and wakes early for one that has [`Source::news`]), the backfill drivers
//! read an archive or the X API through the same posts and cursors. A new kind of source is
//! a module here implementing [`Source`], its settings, and one line in [`live`].

pub mod archive;
pub mod fediverse;
pub mod feed;
pub(crate) mod kept;
pub mod x;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::clock::Clock;
use crate::config::{ConfigError, SourceSettings};
use crate::media::stage::MediaStage;
use crate::model::{Author, Post, PostId};
use crate::short_links::{Asking, ExpandError, ShortLinks};
use crate::store::{Ledger, StoreError};

/// A boxed future that may move between threads: what the methods of [`Source`] return, so
/// the daemon can hold its sources as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A post a source found, with the earlier versions of an edited post.
#[derive(Debug, Clone)]
pub struct Found {
    /// The post.
    pub post: Post,
    /// Earlier versions, newest first; empty unless the post was edited.
    pub earlier: Vec<PostId>,
}

impl From<Post> for Found {
    fn from(post: Post) -> Self {
        Self {
            post,
            earlier: Vec::new(),
        }
    }
}

impl Found {
    /// This post with its `t.co` links resolved by `links` (`None`: a source whose posts
    /// have none), for a driver to hand to the engine (`src/short_links.rs` says why there).
    ///
    /// # Errors
    /// See [`ExpandError`].
    pub async fn expanded(
        &self,
        links: Option<&ShortLinks>,
        how: Asking<'_>,
    ) -> Result<Cow<'_, Found>, ExpandError> {
        let Some(links) = links else {
            return Ok(Cow::Borrowed(self));
        };
        Ok(match links.expand(&self.post, how).await? {
            Some(post) => Cow::Owned(Found {
                post,
                earlier: self.earlier.clone(),
            }),
            None => Cow::Borrowed(self),
        })
    }
}

/// A source's cursor to save in the ledger: its name and the value past the posts handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorMove {
    /// The source's name (the cursor's key in the ledger).
    pub source: String,
    /// The new value.
    pub value: String,
}

/// A live source's cursor as last read from or written to the ledger: read from it once,
/// then kept in memory, so an idle poll costs no ledger read.
#[derive(Debug)]
pub(crate) struct SavedCursor {
    /// The source's name (the cursor's key in the ledger).
    source: String,
    value: Option<String>,
    read: bool,
}

impl SavedCursor {
    /// The cursor of source `source`, not read yet.
    pub(crate) fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            value: None,
            read: false,
        }
    }

    /// The saved value, read from the ledger the first time.
    pub(crate) async fn read(
        &mut self,
        ledger: &Arc<Ledger>,
    ) -> Result<Option<String>, StoreError> {
        if !self.read {
            let name = self.source.clone();
            self.value = ledger
                .call(move |l| Ok(l.cursor(&name)?.map(|c| c.value)))
                .await?;
            self.read = true;
        }
        Ok(self.value.clone())
    }

    /// Saves `value` (a new source's start), off the event loop.
    pub(crate) async fn save(
        &mut self,
        ledger: &Arc<Ledger>,
        value: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let (name, saved) = (self.source.clone(), value.to_owned());
        ledger
            .call(move |l| l.set_cursor(&name, &saved, now))
            .await?;
        self.moved(value.to_owned());
        Ok(())
    }

    /// The value as the ledger has it (or will, once the caller saves the last move).
    pub(crate) fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Moves the cursor to `value`: kept here, and returned for the caller to save.
    pub(crate) fn moved(&mut self, value: String) -> CursorMove {
        self.value = Some(value.clone());
        self.read = true;
        CursorMove {
            source: self.source.clone(),
            value,
        }
    }
}

/// A source of posts. The caller moves the cursor: a source says what the cursor becomes
/// ([`Source::handled`], [`Source::finished`]) and the caller saves it once the post is in
/// the ledger for every route, so a crash never leaves the cursor past an unrecorded post.
///
/// Every ledger call a source makes goes through [`Ledger::call`] (the event loop never
/// waits for the disk). Waits and requests end when the run's cancellation token is
/// cancelled, with [`SourceError::Cancelled`].
pub trait Source: fmt::Debug + Send {
    /// The source's name in the configuration (also its cursor's key in the ledger).
    fn name(&self) -> &str;

    /// The configuration's `kind` of the source (`x`, `feed`, `archive`).
    fn kind(&self) -> &'static str;

    /// The account whose posts these are, resolved the first time (and kept).
    fn account<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Author, SourceError>>;

    /// New posts after the cursor, oldest first. A source without a cursor starts as its
    /// `start` setting says (it may save that first cursor itself).
    fn poll<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>>;

    /// The posts with these ids that the source can still give, oldest first.
    fn lookup<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>>;

    /// The posts whose parts a previous run left to deliver on `routes` (which the cursor
    /// has passed), oldest first: by default the routes' unfinished posts, looked up.
    fn recover<'a>(
        &'a mut self,
        ledger: &'a Arc<Ledger>,
        routes: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async move {
            let ids = unfinished_posts(ledger, routes.to_vec()).await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            info!(
                posts = ids.len(),
                "reading again the posts a previous run left unfinished"
            );
            self.lookup(ledger, &ids).await
        })
    }

    /// `post` is in the ledger for every route: the cursor past it, for the caller to save.
    fn handled(&mut self, post: &Post) -> CursorMove;

    /// Whether a handled post with parts left is kept whole in the ledger (`sources/kept.rs`), for a
    /// source that cannot be asked for it again (a feed).
    fn keeps_posts(&self) -> bool {
        false
    }

    /// Every post of the last poll is handled: the cursor to save, when it changed.
    fn finished(&mut self) -> Option<CursorMove> {
        None
    }

    /// A stage for one post's remote media (downloaded once for every route and target),
    /// with the source's `allow_private_media`; `None` when its media are local files.
    fn media_stage(&self) -> Option<MediaStage>;

    /// How the `t.co` links X did not expand in this source's posts are resolved (the
    /// drivers hand each post to [`Found::expanded`] before the engine);
    /// `None`, the default, for a source whose posts have none.
    fn short_links(&self) -> Option<&ShortLinks> {
        None
    }

    /// For a source the server pushes to (a streaming connection): completes when there is
    /// news, so the daemon runs a cycle now rather than at the next tick (the schedule
    /// stays, as the fallback). The future must be cancel-safe: the daemon drops it when the
    /// tick or shutdown comes first, and asks again after the cycle; and it must not
    /// complete again and again without news (a broken stream leaves the source to its
    /// schedule until it is back). `None`, the default: the source is only polled.
    fn news(&mut self) -> Option<BoxFuture<'_, ()>> {
        None
    }

    /// Posts this source saw deleted since the last call (a delete event of a stream, or
    /// an X post a deletes check found gone). The daemon calls it after each poll and hands
    /// the ids to the retraction path (the routes with `deletes = "follow"` take their
    /// statuses back; a post not mirrored yet never is). By default none: a feed cannot
    /// tell a delete from an item that left the feed.
    fn take_deleted(&mut self) -> Vec<PostId> {
        Vec::new()
    }

    /// Tells the source which routes follow its deletes (`deletes = "follow"`), before its
    /// first poll: a source that is not told of deletes but can look for them (X) does so
    /// as `follow` says. By default nothing: a source told of deletes reports them anyway
    /// ([`Source::take_deleted`]), and a feed cannot tell.
    fn follow_deletes(&mut self, follow: FollowDeletes) {
        let _ = follow;
    }
}

/// Why a source could not give its posts; [`SourceError::is_fatal`] tells whether it stops.
/// Each source classifies its own errors (its `From` impl); the message is the source's.
#[derive(Debug)]
pub enum SourceError {
    /// The source stops until the daemon is restarted: its token was refused, its account
    /// is gone, the ledger failed.
    Fatal(Box<dyn std::error::Error + Send + Sync>),
    /// Tried again at the next tick: the network, the server, a rate limit, an answer that
    /// could not be read.
    Transient(Box<dyn std::error::Error + Send + Sync>),
    /// Shutdown was asked for during a wait or a request.
    Cancelled,
}

impl SourceError {
    /// Whether the source stops until the daemon is restarted.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SourceError::Fatal(_))
    }

    /// Whether the source stopped because shutdown was asked for.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SourceError::Cancelled)
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Fatal(e) | SourceError::Transient(e) => e.fmt(f),
            SourceError::Cancelled => f.write_str("stopped on request"),
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SourceError::Fatal(e) | SourceError::Transient(e) => e.source(),
            SourceError::Cancelled => None,
        }
    }
}

impl From<StoreError> for SourceError {
    fn from(err: StoreError) -> Self {
        SourceError::Fatal(Box::new(err))
    }
}

impl From<ExpandError> for SourceError {
    fn from(err: ExpandError) -> Self {
        match err {
            ExpandError::Store(e) => e.into(),
            ExpandError::Cancelled => Self::Cancelled,
        }
    }
}

/// Requests the sources have in flight at once, over all of them: as many as the client
/// keeps idle connections to one host, so every poll finds one to reuse. Whole-second
/// jitter wakes the sources due in the same second together (a sixth of a thousand sources
/// on a one-minute schedule); unbounded, most of them opened a connection of their own,
/// which was closed again after the answer (a TLS handshake per poll against the real API).
pub const REQUESTS_AT_ONCE: usize = 32;

/// The HTTP client every X and feed source of the process shares (one connection pool, one
/// TLS setup), and the turns that keep its requests within [`REQUESTS_AT_ONCE`].
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    turns: Arc<Semaphore>,
}

impl Http {
    /// The client with the settings every X and feed request uses.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(crate::http::USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // Kept open between polls (a minute apart at most on the usual schedules): a
            // new TLS connection per poll would be most of an idle daemon's work.
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(REQUESTS_AT_ONCE)
            .build()?;
        Ok(Self {
            client,
            turns: Arc::new(Semaphore::new(REQUESTS_AT_ONCE)),
        })
    }

    /// The client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Waits for a turn to send a request; hold it until the answer is read, and not
    /// during a wait (a rate limit). (The turns are never closed, so there always is one.)
    pub async fn turn(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.turns).acquire_owned().await.ok()
    }
}

/// What a live source is built with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The HTTP client every source of the process shares.
    pub http: Http,
    /// The program's clock.
    pub clock: Clock,
    /// Ends every wait and request.
    pub cancel: CancellationToken,
    /// Whether a route reading the source mirrors reposts (an X source asks the server to
    /// leave them out otherwise, so they are not billed).
    pub reposts_wanted: bool,
}

/// How a source looks for posts deleted at it, for the routes that follow its deletes: the
/// posts those routes mirrored within `window` are looked up every `every`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowDeletes {
    /// The routes with `deletes = "follow"`.
    pub routes: Vec<String>,
    /// How far back (the routes' longest `deletes_window`).
    pub window: chrono::Duration,
    /// How often (the routes' shortest `deletes_check`).
    pub every: chrono::Duration,
}

/// The cron expression of a source the daemon polls; `None` for one only `backfill` reads
/// (an archive).
pub fn schedule(settings: &SourceSettings) -> Option<&str> {
    match settings {
        SourceSettings::X(x) => Some(&x.schedule),
        SourceSettings::Feed(f) => Some(&f.schedule),
        SourceSettings::Fediverse(f) => Some(&f.schedule),
        SourceSettings::Archive(_) => None,
    }
}

/// The live source named `name` ([`schedule`] says which are live).
///
/// # Errors
/// Its token cannot be read.
pub fn live(
    name: &str,
    settings: &SourceSettings,
    setup: &Setup,
) -> Result<Option<Box<dyn Source>>, ConfigError> {
    Ok(match settings {
        SourceSettings::X(x) => Some(Box::new(x::XSource::from_settings(name, x, setup)?)),
        SourceSettings::Feed(f) => Some(Box::new(feed::FeedSource::new(name, f.clone(), setup))),
        SourceSettings::Fediverse(f) => Some(Box::new(fediverse::FediverseSource::from_settings(
            name, f, setup,
        )?)),
        SourceSettings::Archive(_) => None,
    })
}

/// The posts of `routes` with parts left to deliver (planned, failed, interrupted, or a
/// hold released), by id, sorted, in one ledger call.
pub(crate) async fn unfinished_posts(
    ledger: &Arc<Ledger>,
    routes: Vec<String>,
) -> Result<Vec<String>, StoreError> {
    ledger.call(move |l| unfinished_of(l, &routes)).await
}

/// [`unfinished_posts`] within a ledger call.
fn unfinished_of(ledger: &Ledger, routes: &[String]) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    for route in routes {
        ids.extend(ledger.unfinished_posts(route)?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
