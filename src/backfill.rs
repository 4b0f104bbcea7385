//! The backfill drivers: `backfill` from an archive (here) and from the X API
//! ([`api`]). Each finds posts, oldest first, and hands them to the route's
//! [`Engine`] in the backfill lane; the engine decides, renders, records and delivers.
//!
//! An archive backfill reads and normalises the whole archive before the ledger is opened
//! (`prepare`), so a broken archive writes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::budget::BudgetPool;
use crate::clock::Clock;
use crate::config::{ConfigError, Settings, SourceSettings};
use crate::engine::{Context, Engine, Lane, Offer, SetupError, Tally};
use crate::model::Post;
use crate::progress::Progress;
use crate::sources::archive::{Archive, ArchiveContents, ArchiveError};
use crate::store::{Ledger, StoreError};

mod api;

pub use api::{api_backfill, ApiBackfillReport};

/// What `backfill` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    /// The route to fill.
    pub route: String,
    /// An archive to read instead of the route's own archive source.
    pub archive: Option<PathBuf>,
    /// Only posts created on or after this day (UTC).
    pub since: Option<NaiveDate>,
    /// Only posts created on or before this day (UTC).
    pub until: Option<NaiveDate>,
    /// Deliver at most this many posts, then stop.
    pub limit: Option<usize>,
    /// Show what would be posted; write nothing anywhere.
    pub dry_run: bool,
    /// Cancelled (by a signal) to stop: every wait ends, the post in hand is settled.
    pub cancel: CancellationToken,
    /// Where time comes from (rate-limit waits, backoff, ledger times); tests move it.
    pub clock: Clock,
    /// The rate-limit budgets of the process (shared with live routes delivering to the
    /// same accounts, when there are any).
    pub budgets: BudgetPool,
}

impl BackfillOptions {
    /// The engine context these options describe.
    fn context(&self) -> Context {
        Context {
            lane: Lane::Backfill,
            cancel: self.cancel.clone(),
            clock: self.clock.clone(),
            dry_run: self.dry_run,
            budgets: self.budgets.clone(),
        }
    }
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Posts read from the archive (circle posts not included).
    pub posts_read: usize,
    /// Archive entries that could not be read as posts.
    pub malformed: usize,
    /// Circle posts left out.
    pub circle_excluded: usize,
    /// Posts inside the date range.
    pub in_range: usize,
    /// Post × target pairs already done in an earlier run.
    pub already_done: usize,
    /// Post × target pairs skipped by the route policy.
    pub skipped: usize,
    /// Posts with at least one part delivered in this run.
    pub posts_delivered: usize,
    /// Parts delivered in this run.
    pub parts_delivered: usize,
    /// Parts found interrupted and adopted from the target.
    pub parts_reconciled: usize,
    /// Parts that failed in this run (retried next time, or quarantined).
    pub parts_failed: usize,
    /// Posts previewed (`--dry-run`).
    pub previewed: usize,
    /// What the previewed posts would cost on targets that bill their writes (X): price
    /// and posts, by target.
    pub preview_cost: std::collections::BTreeMap<String, (crate::targets::Usd, usize)>,
    /// Targets that could not be delivered to in this run, with the reason (a refused
    /// token, an unreachable server); their posts wait in the ledger, the other targets
    /// went on.
    pub targets_stopped: Vec<(String, String)>,
    /// Parts of the route still to deliver after the run (waiting for a target, due again
    /// later, interrupted): the backfill is not finished while there are any.
    pub parts_left: u64,
}

impl BackfillReport {
    /// Adds what the engine did.
    pub fn add(&mut self, t: &Tally) {
        self.already_done += t.already_done;
        self.skipped += t.skipped;
        self.posts_delivered += t.posts_delivered;
        self.parts_delivered += t.parts_delivered;
        self.parts_reconciled += t.parts_reconciled;
        self.parts_failed += t.parts_failed;
        self.previewed += t.previewed;
        for (target, (cost, posts)) in &t.preview_cost {
            let entry = self.preview_cost.entry(target.clone()).or_default();
            entry.0 += *cost;
            entry.1 += posts;
        }
    }
}

/// Why a backfill could not run.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The route or one of its targets cannot be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The route's source is not an archive and no `--archive` was given.
    #[error("route `{route}` reads source `{source_name}`, which is not an archive: pass --archive PATH")]
    NoArchive {
        /// The route.
        route: String,
        /// Its source.
        source_name: String,
    },
    /// `--from-api` on a route whose source is not an X account.
    #[error("route `{route}` reads source `{source_name}`, which is not an X account: --from-api needs one")]
    NotXSource {
        /// The route.
        route: String,
        /// Its source.
        source_name: String,
    },
    /// The X API failed (`--from-api`).
    #[error(transparent)]
    XApi(#[from] crate::sources::x::XError),
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The archive could not be read; nothing was written.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A backfill that has read its archive and built its targets, and has written nothing.
#[derive(Debug)]
pub struct Prepared {
    contents: ArchiveContents,
    cursor_name: String,
    engine: Engine,
}

/// [`prepare`] on the blocking pool: reading a whole archive takes seconds to minutes, and on
/// the one-thread runtime it would stall the signal path (and, in the daemon, polling and the
/// watchdog) meanwhile. A panic inside goes on unwinding here.
///
/// # Errors
/// Those of [`prepare`]; [`StoreError::Abandoned`] when the runtime shut down first.
pub async fn prepare_off_the_loop(
    settings: Arc<Settings>,
    opts: BackfillOptions,
) -> Result<Prepared, BackfillError> {
    crate::blocking::off_the_loop(move || prepare(&settings, &opts))
        .await
        .map_err(|_| StoreError::Abandoned)?
}

/// Reads the archive and builds the route's engine. Done before the ledger is opened, so a
/// broken archive or configuration leaves no trace.
///
/// # Errors
/// Unknown route, a route without an archive, a target whose token cannot be read, an
/// unreadable archive.
pub fn prepare(settings: &Settings, opts: &BackfillOptions) -> Result<Prepared, BackfillError> {
    if !settings.routes.contains_key(&opts.route) {
        return Err(SetupError::UnknownRoute {
            file: settings.file.clone(),
            route: opts.route.clone(),
        }
        .into());
    }
    let (archive_path, cursor_name) = archive_of(settings, opts)?;
    let engine = Engine::new(
        settings,
        &opts.route,
        opts.context(),
        Progress::new(false, false),
    )?;
    let archive = Archive::open(&archive_path)?;
    let contents = archive.load()?;
    info!(
        archive = %archive_path.display(),
        owner = %archive.owner().username,
        posts = contents.posts.len(),
        malformed = contents.malformed.len(),
        circle_excluded = contents.circle_excluded,
        "archive read"
    );
    Ok(Prepared {
        contents,
        cursor_name,
        engine,
    })
}

/// Runs a prepared backfill: the archive's posts in the date range, oldest first, through
/// the route's engine.
///
/// # Errors
/// Ledger failures. A failing part is not an error: it is recorded, counted in the report,
/// and the other posts go on; a target that cannot be reached keeps its posts planned.
pub async fn backfill(
    prepared: Prepared,
    ledger: &Arc<Ledger>,
    opts: &BackfillOptions,
    progress: &Progress,
) -> Result<BackfillReport, BackfillError> {
    let Prepared {
        contents,
        cursor_name,
        mut engine,
    } = prepared;
    engine.set_progress(progress.clone());
    let mut report = BackfillReport {
        posts_read: contents.posts.len(),
        malformed: contents.malformed.len(),
        circle_excluded: contents.circle_excluded,
        ..BackfillReport::default()
    };
    engine.record_malformed(ledger, &contents.malformed).await?;
    let posts: Vec<&Post> = contents
        .posts
        .iter()
        .filter(|p| in_range(p, opts))
        .collect();
    report.in_range = posts.len();
    engine.connect(ledger, posts.len()).await?;
    progress.start(posts.len() as u64);
    let mut tally = Tally::default();
    for post in posts {
        if stops_here(opts, &tally) {
            break;
        }
        // Archive media is local: no remote media to download.
        let offer = Offer {
            post,
            earlier: &[],
            media: None,
        };
        let outcome = engine.deliver(ledger, offer, &mut tally).await?;
        // The cursor tells a person how far the backfill got; resuming relies on the
        // ledger rows. Writing it only when the post changed something keeps a rerun over
        // an already mirrored archive free of a durable write per post.
        if outcome.changed && !opts.dry_run {
            let (name, id, now) = (cursor_name.clone(), post.id.0.clone(), opts.clock.now());
            ledger.call(move |l| l.set_cursor(&name, &id, now)).await?;
        }
        progress.advance();
    }
    progress.finish();
    report.add(&tally);
    report.targets_stopped = engine.targets_waiting();
    if !opts.dry_run {
        let route = opts.route.clone();
        report.parts_left = ledger.call(move |l| l.waiting_count(&route)).await?;
    }
    Ok(report)
}

/// Finds the archive to read, and the cursor name its progress is kept under.
fn archive_of(
    settings: &Settings,
    opts: &BackfillOptions,
) -> Result<(PathBuf, String), BackfillError> {
    let route = &settings.routes[&opts.route];
    let source = settings.sources.get(&route.source);
    match (&opts.archive, source) {
        (Some(path), _) => Ok((path.clone(), format!("{}+archive", route.source))),
        (None, Some(SourceSettings::Archive(a))) => Ok((a.path.clone(), route.source.clone())),
        (None, _) => Err(BackfillError::NoArchive {
            route: opts.route.clone(),
            source_name: route.source.clone(),
        }),
    }
}

/// Whether a backfill stops before its next post: on request (it resumes where it stopped
/// when run again), or once `--limit` posts were delivered. Says which in the log.
pub(crate) fn stops_here(opts: &BackfillOptions, tally: &Tally) -> bool {
    if opts.cancel.is_cancelled() {
        info!("stopping on request; rerun to continue");
        return true;
    }
    if opts.limit.is_some_and(|l| tally.posts_delivered >= l) {
        info!(limit = opts.limit, "limit reached; stopping");
        return true;
    }
    false
}

fn in_range(post: &Post, opts: &BackfillOptions) -> bool {
    let day = post.created_at.date_naive();
    opts.since.is_none_or(|s| day >= s) && opts.until.is_none_or(|u| day <= u)
}
