//! The daemon (`run`) and its one-shot form (`once`): one task per live source (X account or
//! feed), each polling on its cron schedule and handing what it finds to the delivery
//! engines ([`crate::engine`]) of the routes that read it, in the live lane (DESIGN.md
//! "Scheduling and budgets").
//!
//! - **Schedules**: the next tick is always computed from *now*, after a cycle ends, so ticks
//!   missed while a cycle ran long are skipped, never bunched. Each tick gets a random delay
//!   of up to a tenth of the interval (at most [`DaemonOptions::max_jitter`]), in whole
//!   seconds, so a hundred sources on `0 * * * * *` do not all call at second 0, and those
//!   due in the same second share one wakeup. The first cycle runs at start.
//! - **Isolation**: a failing source logs and tries again at its next tick; one whose token is
//!   refused (401/403) or whose account is gone stops alone, naming its routes. A failing
//!   target never stops a source: its parts wait in the ledger (retried with backoff, the
//!   target reconnected; a refused target token is tried again each cycle), and posts with
//!   parts left are offered again at every cycle (after a restart, read again from X, or
//!   for a feed from the copy kept in the ledger: see `daemon/kept.rs`).
//! - **Backfills** started next to the daemon are queued in the ledger and run here, in the
//!   backfill lane, on the same per-account budgets ([`DaemonOptions::budgets`]).
//! - **Media**: one [`MediaStage`] per post, shared by every route and target of the source:
//!   each remote media item is downloaded once, whatever their number.
//! - **Bounded deliveries**: each target admits [`DaemonOptions::deliveries_per_target`]
//!   posts at once, whichever sources they come from.
//! - **Shutdown**: cancelling the token stops polling at once (waits and requests are
//!   abandoned: they only read) and ends every delivery wait (rate limits, backoff, media
//!   downloads and processing polls); a part
//!   in flight is settled, its ledger state telling the next start what happened. Tasks get [`DaemonOptions::drain`] to
//!   finish, well inside systemd's 10 s; after that the process may leave safely anyway.
//! - **systemd**: `READY=1` once the tasks run, `WATCHDOG=1` at half of `WatchdogSec=` from
//!   the same runtime (a stuck runtime stops the pings), `STOPPING=1` on shutdown.
//! - **Cursors** move only after a post is in the ledger for every route of its source.
//! - **Operator changes** (`quarantine retry`, `hold release`) are noticed at the next cycle
//!   (the ledger's operator-change mark moved): the leftovers are read again. The mark is
//!   read for all sources at once, at most every [`OPERATOR_MARK_AGE`], so an idle poll
//!   makes no ledger call (a change is seen by a source's first cycle that starts that long
//!   after it).
//! - **Metrics** ([`DaemonOptions::metrics`], off by default): polls, deliveries and their
//!   lag, stopped sources, and after each delivery the targets each engine cannot deliver to
//!   (their posts wait), which `/healthz` reports until they answer again.

mod alive;
mod jobs;
mod kept;
mod mark;
pub mod notify;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use crate::budget::BudgetPool;
use crate::clock::{jitter, Clock};
use crate::config::{Settings, SourceSettings};
use crate::engine::{Context, Engine, Lane, Offer, SetupError, Tally};
use crate::media::stage::MediaStage;
use crate::metrics::Metrics;
use crate::model::{Post, PostId};
use crate::progress::Progress;
use crate::sources::feed::{FeedError, FeedSource};
use crate::sources::x::{XClient, XError, XSource};
use crate::store::{Ledger, StoreError};

pub use alive::{running_daemon, this_process};
pub use jobs::{HEARTBEAT, HEARTBEAT_STALE};
use mark::OperatorMark;
pub use mark::OPERATOR_MARK_AGE;
pub use notify::Notifier;

/// Tunables of the daemon; [`DaemonOptions::default`] is what `run` uses.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The most a tick is delayed at random (a tenth of the interval when that is less).
    pub max_jitter: Duration,
    /// Posts delivered to one target at once, over all sources.
    pub deliveries_per_target: usize,
    /// How long tasks may take to finish after shutdown was asked for.
    pub drain: Duration,
    /// The rate-limit budgets of the target accounts; a backfill run in the same process
    /// shares them, so it cannot take the live lane's reserve.
    pub budgets: BudgetPool,
    /// Where polls, deliveries and waiting targets are counted (`[metrics]`; off by
    /// default).
    pub metrics: Metrics,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            max_jitter: Duration::from_secs(30),
            deliveries_per_target: 2,
            drain: Duration::from_secs(8),
            budgets: BudgetPool::default(),
            metrics: Metrics::off(),
        }
    }
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// No route reads a live source that could be started: fix the configuration (the log
    /// says why each source or route was left out).
    #[error("nothing to run: no route reads an X or feed source that could be started")]
    NothingToRun,
    /// The HTTP client could not be set up (TLS backend): report it.
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// A source's failure; [`SourceError::is_fatal`] tells whether it stops the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// See [`XError`].
    #[error(transparent)]
    X(#[from] XError),
    /// See [`FeedError`].
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The ledger failed while delivering: stop the source (nothing can be recorded).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The ledger failed while moving the cursor: stop the source.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SourceError {
    /// Whether the source stops until the daemon is restarted.
    pub fn is_fatal(&self) -> bool {
        match self {
            SourceError::X(e) => e.is_fatal(),
            SourceError::Feed(e) => e.is_fatal(),
            SourceError::Setup(_) | SourceError::Store(_) => true,
        }
    }
}

/// A post a live source found, with the earlier versions of an edited post (newest first).
#[derive(Debug, Clone)]
pub struct LivePost {
    /// The post.
    pub post: Post,
    /// Earlier versions, newest first; empty unless the post was edited.
    pub earlier: Vec<PostId>,
}

/// The live sources, a closed set.
#[derive(Debug)]
enum LiveSource {
    X(Box<XSource>),
    Feed(Box<FeedSource>),
}

impl LiveSource {
    async fn poll(&mut self, ledger: &Arc<Ledger>) -> Result<Vec<LivePost>, SourceError> {
        Ok(match self {
            LiveSource::X(x) => x
                .poll(ledger)
                .await?
                .posts
                .into_iter()
                .map(|p| LivePost {
                    earlier: p.earlier_versions(),
                    post: p.post,
                })
                .collect(),
            LiveSource::Feed(f) => f
                .poll(ledger)
                .await?
                .into_iter()
                .map(|post| LivePost {
                    post,
                    earlier: Vec::new(),
                })
                .collect(),
        })
    }

    /// Posts whose parts a previous run left to deliver on these routes: read again from
    /// X; a feed cannot be asked for an old item, so its posts come from the copies kept in
    /// the ledger (`name` is the source's).
    async fn recover(
        &mut self,
        ledger: &Arc<Ledger>,
        name: &str,
        routes: &[Engine],
    ) -> Result<Vec<LivePost>, SourceError> {
        let x = match self {
            LiveSource::X(x) => x,
            LiveSource::Feed(_) => {
                return Ok(kept::recover(ledger, name, route_names(routes)).await?)
            }
        };
        let routes: Vec<String> = routes.iter().map(|r| r.route().to_owned()).collect();
        let mut ids = ledger
            .call(move |l| {
                let mut ids = Vec::new();
                for route in &routes {
                    ids.extend(l.unfinished_posts(route)?);
                }
                Ok(ids)
            })
            .await?;
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        info!(
            posts = ids.len(),
            "reading again the posts a previous run left unfinished"
        );
        Ok(x.lookup(ledger, &ids)
            .await?
            .into_iter()
            .map(|p| LivePost {
                earlier: p.earlier_versions(),
                post: p.post,
            })
            .collect())
    }

    /// The post is in the ledger for every route: the cursor past it, as (source, value),
    /// to save.
    fn handled(&mut self, post: &Post) -> (String, String) {
        match self {
            LiveSource::X(x) => x.cursor_after(post.id.as_str()),
            LiveSource::Feed(f) => f.handled(&post.id),
        }
    }

    /// Whether handled posts with parts left are kept in the ledger: a feed cannot be asked
    /// for them again.
    fn keeps_posts(&self) -> bool {
        matches!(self, LiveSource::Feed(_))
    }

    /// Every post of the poll is handled: the cursor to save, if it changed.
    fn finished(&mut self) -> Option<(String, String)> {
        match self {
            LiveSource::X(_) => None,
            LiveSource::Feed(f) => f.finished(),
        }
    }
}

/// What all tasks share.
#[derive(Debug)]
struct Shared {
    settings: Arc<Settings>,
    ledger: Arc<Ledger>,
    clock: Clock,
    cancel: CancellationToken,
    gates: HashMap<String, Arc<Semaphore>>,
    options: DaemonOptions,
    /// The ledger's operator-change mark, read for all sources at once.
    operator_mark: OperatorMark,
}

/// One source and the routes reading it.
#[derive(Debug)]
struct SourceTask {
    name: String,
    schedule: cron::Schedule,
    source: LiveSource,
    routes: Vec<Engine>,
    /// Posts with parts still to deliver (failed, waiting for their retry time).
    retry: Vec<LivePost>,
    /// Whether the posts a previous run left unfinished were read again.
    recovered: bool,
    /// The ledger's operator-change mark when the leftovers were last read: a person's
    /// `quarantine retry` or `hold release` since then makes the next cycle read them again.
    operator_mark: i64,
    /// The time between two ticks, measured once (it bounds the jitter).
    interval: Option<Duration>,
    /// The source's `allow_private_media`: whether its posts' media may be downloaded from
    /// private, loopback or link-local addresses.
    allow_private_media: bool,
}

/// What one cycle of one source did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CycleReport {
    /// New posts the source handed over.
    pub posts_found: usize,
    /// Posts with at least one part delivered (over all routes).
    pub posts_delivered: usize,
    /// Parts that failed (retried later).
    pub parts_failed: usize,
    /// Sources that stopped for good (token refused, account gone, ledger failure).
    pub sources_stopped: usize,
    /// Sources whose poll failed this time (network, server, rate limit).
    pub sources_failed: usize,
    /// After [`Daemon::once`]: parts of the daemon's routes still to deliver (waiting for
    /// an unreachable target or a valid token, or due again later).
    pub parts_left: u64,
}

impl CycleReport {
    fn add(&mut self, other: &CycleReport) {
        self.posts_found += other.posts_found;
        self.posts_delivered += other.posts_delivered;
        self.parts_failed += other.parts_failed;
        self.sources_stopped += other.sources_stopped;
        self.sources_failed += other.sources_failed;
    }
}

/// The daemon, built from the settings and ready to run.
#[derive(Debug)]
pub struct Daemon {
    tasks: Vec<SourceTask>,
    shared: Arc<Shared>,
}

impl Daemon {
    /// Builds one task per live source that a route reads. Sources whose token cannot be
    /// read and routes whose targets cannot be built are left out with an error in the log;
    /// the others run.
    ///
    /// # Errors
    /// [`DaemonError::NothingToRun`] when nothing is left; [`DaemonError::Http`].
    pub fn build(
        settings: &Settings,
        ledger: Arc<Ledger>,
        clock: Clock,
        cancel: CancellationToken,
        options: DaemonOptions,
    ) -> Result<Self, DaemonError> {
        let http = XClient::http_client().map_err(DaemonError::Http)?;
        let mut tasks = Vec::new();
        let mut gates = HashMap::new();
        // One budget per target account, whichever routes deliver to it.
        let budgets = options.budgets.clone();
        for (name, source) in &settings.sources {
            let mut routes = Vec::new();
            for (route_name, route) in settings.routes.iter().filter(|(_, r)| &r.source == name) {
                if matches!(source, SourceSettings::Archive(_)) {
                    debug!(route = %route_name, "archive route: left to `backfill`");
                    continue;
                }
                let ctx = Context {
                    lane: Lane::Live,
                    cancel: cancel.clone(),
                    clock: clock.clone(),
                    dry_run: false,
                    budgets: budgets.clone(),
                };
                // No bar: the daemon runs unattended. Previews of the dry-run target go to
                // stderr, the log, so stdout stays free for JSON lines.
                match Engine::new(settings, route_name, ctx, Progress::new(false, true)) {
                    Ok(engine) => {
                        for target in &route.targets {
                            gates.entry(target.clone()).or_insert_with(|| {
                                Arc::new(Semaphore::new(options.deliveries_per_target.max(1)))
                            });
                        }
                        routes.push(engine);
                    }
                    Err(err) => error!(route = %route_name, error = %err, "route left out"),
                }
            }
            if routes.is_empty() {
                continue;
            }
            let route_names = || {
                routes
                    .iter()
                    .map(Engine::route)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (live, schedule) = match source {
                SourceSettings::Archive(_) => continue,
                SourceSettings::X(x) => {
                    let token = match x.token.load(&format!("sources.{name}")) {
                        Ok(token) => token,
                        Err(err) => {
                            error!(source = %name, routes = %route_names(), error = %err, "source left out: its token cannot be read");
                            continue;
                        }
                    };
                    let client = XClient::new(
                        http.clone(),
                        &x.api_url,
                        token,
                        clock.clone(),
                        cancel.clone(),
                    );
                    let exclude_retweets = !routes.iter().any(Engine::mirrors_reposts);
                    let source = XSource::new(name, x.clone(), client, exclude_retweets);
                    (LiveSource::X(Box::new(source)), &x.schedule)
                }
                SourceSettings::Feed(f) => {
                    let source = FeedSource::new(name, f.clone(), http.clone(), cancel.clone());
                    (LiveSource::Feed(Box::new(source)), &f.schedule)
                }
            };
            let Ok(schedule) = cron::Schedule::from_str(schedule) else {
                // Loading the settings checked the expression already.
                error!(source = %name, "source left out: its schedule does not parse");
                continue;
            };
            tasks.push(SourceTask {
                name: name.clone(),
                schedule,
                source: live,
                routes,
                retry: Vec::new(),
                recovered: false,
                operator_mark: 0,
                interval: None,
                allow_private_media: allows_private_media(source),
            });
        }
        if tasks.is_empty() {
            return Err(DaemonError::NothingToRun);
        }
        Ok(Self {
            tasks,
            shared: Arc::new(Shared {
                settings: Arc::new(settings.clone()),
                ledger,
                clock,
                cancel,
                gates,
                options,
                operator_mark: OperatorMark::default(),
            }),
        })
    }

    /// The names of the sources that will run, with their routes.
    pub fn sources(&self) -> BTreeMap<String, Vec<String>> {
        self.tasks
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.routes.iter().map(|r| r.route().to_owned()).collect(),
                )
            })
            .collect()
    }

    /// Runs until the cancellation token is cancelled, then lets the tasks finish the post
    /// in hand (for at most [`DaemonOptions::drain`]). Returns what all cycles did.
    pub async fn run(self, notifier: &Notifier) -> CycleReport {
        let Daemon { tasks, shared } = self;
        info!(sources = tasks.len(), "daemon started");
        let mut set = JoinSet::new();
        for task in tasks {
            shared
                .options
                .metrics
                .watch_source(&task.name, &task.schedule);
            let span = tracing::info_span!("source", source = %task.name);
            set.spawn(task.run(Arc::clone(&shared)).instrument(span));
        }
        // A child token: stopped with the daemon, and also when every source stopped.
        let runner_cancel = shared.cancel.child_token();
        let runner = jobs::JobRunner {
            settings: Arc::clone(&shared.settings),
            ledger: Arc::clone(&shared.ledger),
            clock: shared.clock.clone(),
            cancel: runner_cancel.clone(),
            budgets: shared.options.budgets.clone(),
        };
        let heartbeat = tokio::spawn(runner.clone().heartbeat());
        let backfills = tokio::spawn(runner.run().instrument(tracing::info_span!("backfill")));
        notifier.notify("READY=1");
        let watchdog = Notifier::watchdog_interval();
        let mut total = CycleReport::default();
        let mut ping = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                () = shared.cancel.cancelled() => break,
                _ = ping.tick(), if watchdog.is_some() => notifier.notify("WATCHDOG=1"),
                joined = set.join_next() => match joined {
                    Some(Ok(report)) => total.add(&report),
                    Some(Err(err)) => error!(error = %err, "a source task panicked"),
                    None => {
                        warn!("every source has stopped");
                        break;
                    }
                },
            }
        }
        notifier.notify("STOPPING=1");
        info!("shutting down: finishing the posts in hand");
        runner_cancel.cancel();
        let drained = tokio::time::timeout(shared.options.drain, async {
            while let Some(joined) = set.join_next().await {
                if let Ok(report) = joined {
                    total.add(&report);
                }
            }
            let _ = backfills.await;
            let _ = heartbeat.await;
        })
        .await;
        if drained.is_err() {
            warn!("tasks still busy after the drain time; leaving (their ledger states are safe)");
            set.abort_all();
        }
        info!(posts_delivered = total.posts_delivered, "daemon stopped");
        total
    }

    /// Runs one cycle of every source, at once, and returns what they did together.
    pub async fn once(self) -> CycleReport {
        let Daemon { tasks, shared } = self;
        let routes: Vec<String> = tasks
            .iter()
            .flat_map(|t| t.routes.iter().map(|r| r.route().to_owned()))
            .collect();
        let mut set = JoinSet::new();
        for mut task in tasks {
            let shared = Arc::clone(&shared);
            let span = tracing::info_span!("source", source = %task.name);
            set.spawn(
                async move {
                    let mut report = CycleReport::default();
                    task.cycle_logged(&shared, &mut report).await;
                    report
                }
                .instrument(span),
            );
        }
        let mut total = CycleReport::default();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(report) => total.add(&report),
                Err(err) => {
                    error!(error = %err, "a source task panicked");
                    total.sources_stopped += 1;
                }
            }
        }
        for route in routes {
            match shared.ledger.call(move |l| l.waiting_count(&route)).await {
                Ok(n) => total.parts_left += n,
                Err(err) => {
                    error!(error = %err, "cannot count the parts left to deliver");
                    total.sources_stopped += 1;
                }
            }
        }
        total
    }
}

impl SourceTask {
    async fn run(mut self, shared: Arc<Shared>) -> CycleReport {
        let mut report = CycleReport::default();
        let mut next = Some(shared.clock.now() + schedule_jitter(shared.options.max_jitter / 10));
        while let Some(at) = next {
            tokio::select! {
                () = shared.cancel.cancelled() => break,
                () = shared.clock.sleep_until(at) => {}
            }
            if !self.cycle_logged(&shared, &mut report).await {
                break;
            }
            next = self.next_tick(&shared);
        }
        report
    }

    /// The next tick after now, with jitter; `None` when the schedule has no more ticks.
    fn next_tick(&mut self, shared: &Shared) -> Option<DateTime<Utc>> {
        let tick = self.schedule.after(&shared.clock.now()).next()?;
        let interval = *self.interval.get_or_insert_with(|| {
            self.schedule
                .after(&tick)
                .next()
                .and_then(|after| (after - tick).to_std().ok())
                .unwrap_or(shared.options.max_jitter)
        });
        let max = (interval / 10).min(shared.options.max_jitter);
        Some(tick + schedule_jitter(max))
    }

    /// Runs a cycle and logs its outcome. Returns whether the source goes on.
    async fn cycle_logged(&mut self, shared: &Shared, total: &mut CycleReport) -> bool {
        match self.cycle(shared).await {
            Ok(report) => {
                shared.options.metrics.poll_ok(&self.name);
                if report.posts_found > 0 || report.parts_failed > 0 {
                    info!(
                        posts_found = report.posts_found,
                        posts_delivered = report.posts_delivered,
                        parts_failed = report.parts_failed,
                        "cycle done"
                    );
                } else {
                    debug!("cycle done: nothing new");
                }
                total.add(&report);
                true
            }
            Err(SourceError::X(XError::Cancelled) | SourceError::Feed(FeedError::Cancelled)) => {
                false
            }
            Err(err) if err.is_fatal() => {
                shared.options.metrics.source_stopped(&self.name);
                let routes: Vec<&str> = self.routes.iter().map(Engine::route).collect();
                error!(
                    routes = %routes.join(", "),
                    error = %err,
                    "source stopped: its routes get no new posts until the problem is fixed and birdbridge restarted"
                );
                total.sources_stopped += 1;
                false
            }
            Err(err) => {
                shared.options.metrics.poll_failed(&self.name);
                warn!(error = %err, "poll failed; trying again at the next tick");
                total.sources_failed += 1;
                true
            }
        }
    }

    /// One poll: posts still owed from earlier cycles first, then the new ones, oldest
    /// first, each to every route; the cursor moves after each post.
    async fn cycle(&mut self, shared: &Shared) -> Result<CycleReport, SourceError> {
        let mut report = CycleReport::default();
        let ledger = Arc::clone(&shared.ledger);
        for route in &mut self.routes {
            route.new_cycle();
        }
        // A person's `quarantine retry` or `hold release` since the last look: read the
        // leftovers again, so this cycle delivers them.
        let mark = shared
            .operator_mark
            .get(&ledger, shared.clock.now())
            .await?;
        if mark != self.operator_mark {
            self.operator_mark = mark;
            self.recovered = false;
        }
        if !self.recovered {
            let leftovers = self
                .source
                .recover(&ledger, &self.name, &self.routes)
                .await?;
            self.retry
                .retain(|p| leftovers.iter().all(|l| l.post.id != p.post.id));
            self.retry.extend(leftovers);
            self.recovered = true;
        }
        for post in std::mem::take(&mut self.retry) {
            if shared.cancel.is_cancelled() {
                self.retry.push(post);
                continue;
            }
            let unfinished = self.deliver(shared, &post, &mut report).await?;
            if !unfinished && self.source.keeps_posts() {
                kept::forget_if_settled(
                    &ledger,
                    &self.name,
                    route_names(&self.routes),
                    post.post.id.as_str(),
                )
                .await?;
            }
        }
        let posts = self.source.poll(&ledger).await?;
        report.posts_found = posts.len();
        for post in posts {
            // Deliveries to the dry-run target (and ledger writes) never wait, so give the
            // runtime a turn here: the signal handler and the other sources run in between.
            tokio::task::yield_now().await;
            if shared.cancel.is_cancelled() {
                info!("stopping before the next post; the cursor is past the last one handled");
                return Ok(report);
            }
            self.deliver(shared, &post, &mut report).await?;
            let cursor = self.source.handled(&post.post);
            let keep = self.source.keeps_posts().then(|| kept::Keep {
                source: self.name.clone(),
                routes: route_names(&self.routes),
                post: post.post.clone(),
            });
            kept::handled(&ledger, cursor, keep, shared.clock.now()).await?;
        }
        if let Some(cursor) = self.source.finished() {
            save_cursor(&ledger, cursor, shared.clock.now()).await?;
        }
        Ok(report)
    }

    /// Delivers one post to every route, holding a delivery permit of each target. Returns
    /// whether parts are left (the post is offered again at the next cycle).
    async fn deliver(
        &mut self,
        shared: &Shared,
        post: &LivePost,
        report: &mut CycleReport,
    ) -> Result<bool, SourceError> {
        let span = tracing::info_span!("post", post = %post.post.id);
        let mut unfinished = false;
        // One download per remote media item of the post, for every route and target; the
        // files go when the stage does, after the post.
        let media = MediaStage::new(self.allow_private_media);
        let offer = Offer {
            post: &post.post,
            earlier: &post.earlier,
            media: Some(&media),
        };
        for route in &mut self.routes {
            let _permits = permits(shared, route).await;
            let mut done = Tally::default();
            route
                .deliver(&shared.ledger, offer, &mut done)
                .instrument(span.clone())
                .await?;
            report.posts_delivered += done.posts_delivered;
            report.parts_failed += done.parts_failed;
            let metrics = &shared.options.metrics;
            if done.posts_delivered > 0 {
                metrics.delivered(&self.name, route.route(), post.post.created_at);
            }
            metrics.parts_failed(&self.name, done.parts_failed);
            metrics.targets_waiting(
                route.route(),
                route.target_names(),
                &route.targets_waiting(),
            );
            unfinished |= route
                .unfinished(&shared.ledger, post.post.id.as_str())
                .await?;
        }
        if unfinished {
            self.retry.push(post.clone());
        }
        Ok(unfinished)
    }
}

/// Saves a source's cursor, off the event loop.
async fn save_cursor(
    ledger: &Arc<Ledger>,
    (source, value): (String, String),
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    ledger
        .call(move |l| l.set_cursor(&source, &value, now))
        .await
}

/// The names of the routes.
fn route_names(routes: &[Engine]) -> Vec<String> {
    routes.iter().map(|r| r.route().to_owned()).collect()
}

/// One delivery permit per target of the route, taken in name order (every task does, so
/// two tasks cannot each hold what the other waits for).
async fn permits(shared: &Shared, route: &Engine) -> Vec<OwnedSemaphorePermit> {
    let mut names: Vec<&str> = route.target_names().collect();
    names.sort_unstable();
    names.dedup();
    let mut held = Vec::with_capacity(names.len());
    for name in names {
        if let Some(gate) = shared.gates.get(name) {
            if let Ok(permit) = Arc::clone(gate).acquire_owned().await {
                held.push(permit);
            }
        }
    }
    held
}

/// The source's `allow_private_media` (archives have no remote media).
fn allows_private_media(source: &SourceSettings) -> bool {
    match source {
        SourceSettings::X(x) => x.allow_private_media,
        SourceSettings::Feed(f) => f.allow_private_media,
        SourceSettings::Archive(_) => false,
    }
}

/// A random delay in `[0, max)` before a tick, in whole seconds (none when `max` is less than
/// a second): the sources due in the same second wake together, one wakeup of the runtime
/// for all of them (with warm caches), instead of one each at a random millisecond.
fn schedule_jitter(max: Duration) -> chrono::Duration {
    let delay = jitter(chrono::Duration::from_std(max).unwrap_or(chrono::Duration::zero()));
    chrono::Duration::seconds(delay.num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_delayed_by_whole_seconds_below_the_maximum() {
        let delays: std::collections::BTreeSet<i64> = (0..1000)
            .map(|_| schedule_jitter(Duration::from_secs(6)))
            .map(|d| {
                assert_eq!(d.subsec_nanos(), 0, "{d}");
                d.num_seconds()
            })
            .collect();
        assert_eq!(delays, (0..6).collect());
        assert_eq!(
            schedule_jitter(Duration::from_millis(999)),
            chrono::Duration::zero()
        );
    }
}
