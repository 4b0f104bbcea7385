//! The backfill drivers: `backfill` from an archive (here) and from the X API
//! (`backfill/api.rs`). Each reads its posts through a [`Source`] and hands them, oldest first, to the
//! route's [`Engine`] in the backfill lane (`deliver_all`); the engine decides, renders,
//! records and delivers.
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
use crate::engine::{route_settings, Context, Engine, Lane, Offer, SetupError};
use crate::progress::Progress;
use crate::report::DeliveryReport;
use crate::short_links::{Asking, ExpandError, ShortLinks, TCO_URL};
use crate::sources::archive::{ArchiveError, ArchiveSource, RemoteMedia};
use crate::sources::{CursorMove, Found, Source, SourceError};
use crate::store::{Ledger, StoreError};

mod api;

pub use api::api_backfill;

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
    /// `--from-api` on a route whose source is not an X or fediverse account.
    #[error("route `{route}` reads source `{source_name}`, which is not an X or fediverse account: --from-api needs one")]
    NotXSource {
        /// The route.
        route: String,
        /// Its source.
        source_name: String,
    },
    /// The X API failed (`--from-api`).
    #[error(transparent)]
    XApi(#[from] crate::sources::x::XError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
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
    source: ArchiveSource,
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
    route_settings(settings, &opts.route)?;
    let found = archive_of(settings, opts)?;
    let engine = Engine::new(
        settings,
        &opts.route,
        opts.context(),
        Progress::new(false, false),
    )?;
    let source = ArchiveSource::read(&found.cursor, &found.path, found.remote)?
        .with_short_links(found.short_links);
    Ok(Prepared { source, engine })
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
) -> Result<DeliveryReport, BackfillError> {
    let Prepared {
        mut source,
        mut engine,
    } = prepared;
    engine.set_progress(progress.clone());
    let mut report = DeliveryReport {
        posts_found: source.len(),
        malformed: source.malformed().len(),
        circle_excluded: source.circle_excluded(),
        ..DeliveryReport::default()
    };
    engine.record_malformed(ledger, source.malformed()).await?;
    let posts: Vec<Found> = source
        .poll(ledger)
        .await?
        .into_iter()
        .filter(|p| in_range(p, opts))
        .collect();
    report.in_range = posts.len();
    engine.connect(ledger, posts.len()).await?;
    let run = Run {
        ledger,
        opts,
        progress,
        // The cursor tells a person how far the backfill got; resuming relies on the
        // ledger's rows.
        cursor: Cursor::Moved,
    };
    deliver_all(&mut engine, &mut source, &posts, &run, &mut report).await?;
    finish(&engine, ledger, opts, &mut report).await?;
    Ok(report)
}

/// What [`deliver_all`] runs with.
#[derive(Debug, Clone, Copy)]
struct Run<'a> {
    ledger: &'a Arc<Ledger>,
    opts: &'a BackfillOptions,
    progress: &'a Progress,
    cursor: Cursor,
}

/// Whether a backfill moves its source's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// After each post that changed the ledger.
    Moved,
    /// Never (`--from-api` leaves the live cursor to the daemon).
    Left,
}

/// Hands `posts` to the engine, oldest first, until done, stopped on request, or `--limit`
/// posts were delivered. With [`Cursor::Moved`], the source's cursor moves past each post
/// that changed something: a rerun over an already mirrored archive makes no durable write
/// per post.
async fn deliver_all(
    engine: &mut Engine,
    source: &mut dyn Source,
    posts: &[Found],
    run: &Run<'_>,
    report: &mut DeliveryReport,
) -> Result<(), BackfillError> {
    let Run {
        ledger,
        opts,
        progress,
        cursor,
    } = *run;
    progress.start(posts.len() as u64);
    for found in posts {
        if stops_here(opts, report) {
            break;
        }
        let asking = Asking {
            ledger,
            clock: &opts.clock,
            cancel: &opts.cancel,
            dry_run: opts.dry_run,
            source: source.name(),
        };
        let found = match found.expanded(source.short_links(), asking).await {
            Ok(found) => found,
            Err(ExpandError::Store(e)) => return Err(e.into()),
            Err(ExpandError::Cancelled) => {
                info!("stopping on request; rerun to continue");
                break;
            }
        };
        // One download per remote media item for all the route's targets (an archive's
        // own files are read where they are); the files go with the stage, after the post.
        let media = source.media_stage();
        let offer = Offer {
            post: &found.post,
            earlier: &found.earlier,
            media: media.as_ref(),
        };
        let outcome = engine.deliver(ledger, offer, report).await?;
        if cursor == Cursor::Moved && outcome.changed && !opts.dry_run {
            let CursorMove { source, value } = source.handled(&found.post);
            let now = opts.clock.now();
            ledger
                .call(move |l| l.set_cursor(&source, &value, now))
                .await?;
        }
        progress.advance();
    }
    progress.finish();
    Ok(())
}

/// The end of a run: the targets that could not be delivered to, and the route's parts
/// left.
async fn finish(
    engine: &Engine,
    ledger: &Arc<Ledger>,
    opts: &BackfillOptions,
    report: &mut DeliveryReport,
) -> Result<(), StoreError> {
    report.targets_stopped = engine.targets_waiting();
    if !opts.dry_run {
        let route = opts.route.clone();
        report.parts_left = ledger.call(move |l| l.waiting_count(&route)).await?;
    }
    Ok(())
}

/// The archive a backfill reads, and how.
struct ArchiveToRead {
    path: PathBuf,
    /// The name its progress is kept under.
    cursor: String,
    remote: RemoteMedia,
    short_links: ShortLinks,
}

/// Finds the archive to read: the route's archive source with its settings, or
/// `--archive` (with the route's archive source's settings when it reads one, and the
/// `t.co` settings of its X source when it reads one of those).
fn archive_of(settings: &Settings, opts: &BackfillOptions) -> Result<ArchiveToRead, BackfillError> {
    let route = &settings.routes[&opts.route];
    let source = settings.sources.get(&route.source);
    match (&opts.archive, source) {
        (_, Some(SourceSettings::Archive(a))) => {
            let cursor = if opts.archive.is_some() {
                format!("{}+archive", route.source)
            } else {
                route.source.clone()
            };
            Ok(ArchiveToRead {
                path: opts.archive.clone().unwrap_or_else(|| a.path.clone()),
                cursor,
                remote: RemoteMedia::from_settings(a),
                short_links: ShortLinks::new(&a.tco_url, a.allow_private_media),
            })
        }
        (Some(path), source) => Ok(ArchiveToRead {
            path: path.clone(),
            cursor: format!("{}+archive", route.source),
            remote: RemoteMedia::default(),
            short_links: match source {
                Some(SourceSettings::X(x)) => ShortLinks::new(&x.tco_url, x.allow_private_media),
                _ => ShortLinks::new(TCO_URL, false),
            },
        }),
        (None, _) => Err(BackfillError::NoArchive {
            route: opts.route.clone(),
            source_name: route.source.clone(),
        }),
    }
}

/// Whether a backfill stops before its next post: on request (it resumes where it stopped
/// when run again), or once `--limit` posts were delivered. Says which in the log.
fn stops_here(opts: &BackfillOptions, report: &DeliveryReport) -> bool {
    if opts.cancel.is_cancelled() {
        info!("stopping on request; rerun to continue");
        return true;
    }
    if opts.limit.is_some_and(|l| report.posts_delivered >= l) {
        info!(limit = opts.limit, "limit reached; stopping");
        return true;
    }
    false
}

fn in_range(found: &Found, opts: &BackfillOptions) -> bool {
    let day = found.post.created_at.date_naive();
    opts.since.is_none_or(|s| day >= s) && opts.until.is_none_or(|u| day <= u)
}
