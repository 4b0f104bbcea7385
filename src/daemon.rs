//! The daemon (`run`) and its one-shot form (`once`): one task per live source (X account or
//! feed), each polling on its cron schedule and mirroring what it finds to the routes that
//! read it (DESIGN.md "Scheduling and budgets").
//!
//! - **Schedules**: the next tick is always computed from *now*, after a cycle ends, so ticks
//!   missed while a cycle ran long are skipped, never bunched. Each tick gets a random delay
//!   of up to a tenth of the interval (at most [`DaemonOptions::max_jitter`]), so a hundred
//!   sources on `0 * * * * *` do not all call at second 0. The first cycle runs at start.
//! - **Isolation**: a failing source logs and tries again at its next tick; one whose token is
//!   refused (401/403) or whose account is gone stops alone, naming its routes. A failing
//!   target is the ledger's business (retry, then quarantine) and never stops a source.
//! - **Bounded deliveries**: each target admits [`DaemonOptions::deliveries_per_target`]
//!   posts at once, whichever sources they come from.
//! - **Shutdown**: cancelling the token stops polling at once (waits and requests are
//!   abandoned: they only read); a post being delivered is finished, its parts' ledger
//!   states telling the next start what happened. Tasks get [`DaemonOptions::drain`] to
//!   finish, well inside systemd's 10 s; after that the process may leave safely anyway.
//! - **systemd**: `READY=1` once the tasks run, `WATCHDOG=1` at half of `WatchdogSec=` from
//!   the same runtime (a stuck runtime stops the pings), `STOPPING=1` on shutdown.
//! - **Cursors** move only after a post is in the ledger for every route of its source.

pub mod notify;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use crate::clock::SharedClock;
use crate::config::{Settings, SourceSettings};
use crate::metrics::Metrics;
use crate::model::{Post, PostId};
use crate::pipeline::{PipelineError, RouteMirror};
use crate::sources::feed::{FeedError, FeedSource};
use crate::sources::x::{XClient, XError, XSource};
use crate::store::{Ledger, StoreError};

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
    /// Where polls, deliveries and stops are counted (`[metrics]`; off by default).
    pub metrics: Metrics,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            max_jitter: Duration::from_secs(30),
            deliveries_per_target: 2,
            drain: Duration::from_secs(8),
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
    /// The ledger failed while mirroring: stop the source (nothing can be recorded).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
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
            SourceError::Pipeline(_) | SourceError::Store(_) => true,
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
    async fn poll(&mut self, ledger: &Ledger) -> Result<Vec<LivePost>, SourceError> {
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

    /// Posts whose parts a previous run left to deliver on these routes, read again from
    /// the source. Feeds cannot be asked for an old item; their leftovers wait in the ledger
    /// (and show in `status`).
    async fn recover(
        &mut self,
        ledger: &Ledger,
        routes: &[RouteMirror],
    ) -> Result<Vec<LivePost>, SourceError> {
        let LiveSource::X(x) = self else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        for route in routes {
            ids.extend(ledger.unfinished_posts(route.route())?);
        }
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

    /// The post is in the ledger for every route: move the cursor past it.
    fn handled(
        &mut self,
        ledger: &Ledger,
        post: &Post,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            LiveSource::X(x) => x.advance(ledger, post.id.as_str(), now),
            LiveSource::Feed(f) => f.handled(ledger, &post.id, now),
        }
    }

    /// Every post of the poll is handled.
    fn finished(&mut self, ledger: &Ledger, now: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            LiveSource::X(_) => Ok(()),
            LiveSource::Feed(f) => f.finished(ledger, now),
        }
    }
}

/// What all tasks share.
#[derive(Debug)]
struct Shared {
    ledger: Arc<Ledger>,
    clock: SharedClock,
    cancel: CancellationToken,
    gates: HashMap<String, Arc<Semaphore>>,
    options: DaemonOptions,
}

/// One source and the routes reading it.
#[derive(Debug)]
struct SourceTask {
    name: String,
    schedule: cron::Schedule,
    source: LiveSource,
    routes: Vec<RouteMirror>,
    /// Posts with parts still to deliver (failed, waiting for their retry time).
    retry: Vec<LivePost>,
    /// Whether the posts a previous run left unfinished were read again.
    recovered: bool,
    /// The ledger's operator-change mark when the leftovers were last read: a person's
    /// `quarantine retry` or `hold release` since then makes the next cycle read them again.
    operator_mark: i64,
    /// The time between two ticks, measured once (it bounds the jitter).
    interval: Option<Duration>,
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
        clock: SharedClock,
        cancel: CancellationToken,
        options: DaemonOptions,
    ) -> Result<Self, DaemonError> {
        let http = XClient::http_client().map_err(DaemonError::Http)?;
        let mut tasks = Vec::new();
        let mut gates = HashMap::new();
        for (name, source) in &settings.sources {
            let mut routes = Vec::new();
            for (route_name, route) in settings.routes.iter().filter(|(_, r)| &r.source == name) {
                if matches!(source, SourceSettings::Archive(_)) {
                    debug!(route = %route_name, "archive route: left to `backfill`");
                    continue;
                }
                match RouteMirror::new(settings, route_name, false) {
                    Ok(mirror) => {
                        for target in &route.targets {
                            gates.entry(target.clone()).or_insert_with(|| {
                                Arc::new(Semaphore::new(options.deliveries_per_target.max(1)))
                            });
                        }
                        routes.push(mirror);
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
                    .map(RouteMirror::route)
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
                        Arc::clone(&clock),
                        cancel.clone(),
                    );
                    let exclude_retweets = !routes.iter().any(RouteMirror::mirrors_reposts);
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
            });
        }
        if tasks.is_empty() {
            return Err(DaemonError::NothingToRun);
        }
        Ok(Self {
            tasks,
            shared: Arc::new(Shared {
                ledger,
                clock,
                cancel,
                gates,
                options,
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
        let drained = tokio::time::timeout(shared.options.drain, async {
            while let Some(joined) = set.join_next().await {
                if let Ok(report) = joined {
                    total.add(&report);
                }
            }
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
        total
    }
}

impl SourceTask {
    async fn run(mut self, shared: Arc<Shared>) -> CycleReport {
        let mut report = CycleReport::default();
        let mut next =
            Some(shared.clock.now() + jitter(&self.name, shared.options.max_jitter / 10));
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
        Some(tick + jitter(&self.name, max))
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
                let routes: Vec<&str> = self.routes.iter().map(RouteMirror::route).collect();
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
        let mark = ledger.operator_change_mark()?;
        if mark != self.operator_mark {
            self.operator_mark = mark;
            self.recovered = false;
        }
        if !self.recovered {
            let leftovers = self.source.recover(&ledger, &self.routes).await?;
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
            self.mirror(shared, &post, &mut report).await?;
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
            self.mirror(shared, &post, &mut report).await?;
            self.source
                .handled(&ledger, &post.post, shared.clock.now())?;
        }
        self.source.finished(&ledger, shared.clock.now())?;
        Ok(report)
    }

    /// Mirrors one post to every route, holding a delivery permit of each target.
    async fn mirror(
        &mut self,
        shared: &Shared,
        post: &LivePost,
        report: &mut CycleReport,
    ) -> Result<(), SourceError> {
        let span = tracing::info_span!("post", post = %post.post.id);
        let mut unfinished = false;
        for route in &mut self.routes {
            let _permits = permits(shared, route).await;
            let done = route
                .mirror(&shared.ledger, &post.post, &post.earlier)
                .instrument(span.clone())
                .await?;
            report.posts_delivered += done.posts_delivered;
            report.parts_failed += done.parts_failed;
            let metrics = &shared.options.metrics;
            if done.posts_delivered > 0 {
                metrics.delivered(&self.name, route.route(), post.post.created_at);
            }
            metrics.parts_failed(&self.name, done.parts_failed);
            for (target, why) in route.stopped_targets() {
                metrics.target_stopped(target, why);
            }
            unfinished |= route.unfinished(&shared.ledger, post.post.id.as_str())?;
        }
        if unfinished {
            self.retry.push(post.clone());
        }
        Ok(())
    }
}

/// One delivery permit per target of the route, taken in name order (every task does, so
/// two tasks cannot each hold what the other waits for).
async fn permits(shared: &Shared, route: &RouteMirror) -> Vec<OwnedSemaphorePermit> {
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

/// A random delay in `[0, max)`. The standard library's hasher keys are random per process,
/// which is all the randomness a schedule needs.
fn jitter(seed: &str, max: Duration) -> chrono::Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return chrono::Duration::zero();
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(seed.as_bytes());
    let ms = hasher.finish() % max_ms;
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(0))
}
