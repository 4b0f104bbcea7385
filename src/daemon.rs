//! The daemon (`run`) and its one-shot form (`once`): one task per live source (any
//! [`Source`] with a schedule: an X account, a feed), each polling on its cron schedule and
//! handing what it finds to the delivery engines ([`crate::engine`]) of the routes that read
//! it, in the live lane (ARCHITECTURE.md "Scheduling and budgets"). The daemon knows sources only
//! through the trait: a new kind of source changes nothing here.
//!
//! - **Schedules**: the next tick is always computed from *now*, after a cycle ends, so ticks
//!   missed while a cycle ran long are skipped, never bunched. Each tick gets a random delay
//!   of up to a tenth of the interval (at most [`DaemonOptions::max_jitter`]), in whole
//!   seconds, so a hundred sources on `0 * * * * *` do not all call at second 0, and those
//!   due in the same second share one wakeup. The first cycle runs at start. A source the
//!   server pushes to ([`Source::news`]) also runs a cycle as soon as it has news; its
//!   schedule stays, as the fallback.
//! - **Isolation**: a failing source logs and tries again at its next tick; one whose token is
//!   refused (401/403) or whose account is gone stops alone, naming its routes. A failing
//!   target never stops a source: its parts wait in the ledger (retried with backoff, the
//!   target reconnected; a refused target token is tried again each cycle), and posts with
//!   parts left are offered again at every cycle (after a restart, [`Source::recover`]:
//!   read again from X, or for a feed from the copy kept in the ledger, `sources/kept.rs`).
//! - **Backfills** started next to the daemon are queued in the ledger and run here, in the
//!   backfill lane, on the same per-account budgets ([`DaemonOptions::budgets`]).
//! - **Media**: one [`MediaStage`](crate::media::stage::MediaStage) per post, shared by every route and target of the source:
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

mod jobs;
mod mark;
pub mod notify;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use crate::budget::BudgetPool;
use crate::clock::{jitter, Clock};
use crate::config::{DeletesPolicy, Settings};
use crate::engine::{Context, Engine, Lane, Offer};
use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::report::DeliveryReport;
use crate::retract::daemon::{self as retractions, RetractionRunner};
use crate::short_links::Asking;
use crate::sources::{self, kept, CursorMove, FollowDeletes, Found, Setup, Source, SourceError};
use crate::store::{Ledger, StoreError};

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
    /// Wakes the retraction runner when a source reports deletes.
    retractions: Arc<Notify>,
}

/// One source and the routes reading it.
#[derive(Debug)]
struct SourceTask {
    schedule: cron::Schedule,
    source: Box<dyn Source>,
    routes: Vec<Engine>,
    /// The routes' names, in order.
    route_names: Vec<String>,
    /// Posts with parts still to deliver (failed, waiting for their retry time).
    retry: Vec<Found>,
    /// Whether the posts a previous run left unfinished were read again.
    recovered: bool,
    /// The ledger's operator-change mark when the leftovers were last read: a person's
    /// `quarantine retry` or `hold release` since then makes the next cycle read them again.
    operator_mark: i64,
    /// The time between two ticks, measured once (it bounds the jitter).
    interval: Option<Duration>,
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
        let http = sources::Http::new().map_err(DaemonError::Http)?;
        let mut tasks = Vec::new();
        let mut gates = HashMap::new();
        for (name, source) in &settings.sources {
            let Some(expression) = sources::schedule(source) else {
                debug!(source = %name, "not polled: read by `backfill` only");
                continue;
            };
            let routes = live_routes(settings, name, &clock, &cancel, &options, &mut gates);
            if routes.is_empty() {
                continue;
            }
            let route_names: Vec<String> = routes.iter().map(|r| r.route().to_owned()).collect();
            let setup = Setup {
                http: http.clone(),
                clock: clock.clone(),
                cancel: cancel.clone(),
                reposts_wanted: routes.iter().any(Engine::mirrors_reposts),
            };
            let mut live = match sources::live(name, source, &setup) {
                Ok(Some(live)) => live,
                Ok(None) => continue,
                Err(err) => {
                    error!(source = %name, routes = %route_names.join(", "), error = %err, "source left out: its token cannot be read");
                    continue;
                }
            };
            if let Some(follow) = deletes_followed(settings, &route_names) {
                live.follow_deletes(follow);
            }
            let Ok(schedule) = cron::Schedule::from_str(expression) else {
                // Loading the settings checked the expression already.
                error!(source = %name, "source left out: its schedule does not parse");
                continue;
            };
            tasks.push(SourceTask {
                schedule,
                source: live,
                routes,
                route_names,
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
                settings: Arc::new(settings.clone()),
                ledger,
                clock,
                cancel,
                gates,
                options,
                operator_mark: OperatorMark::default(),
                retractions: Arc::new(Notify::new()),
            }),
        })
    }

    /// The names of the sources that will run, with their routes.
    pub fn sources(&self) -> BTreeMap<String, Vec<String>> {
        self.tasks
            .iter()
            .map(|t| (t.source.name().to_owned(), t.route_names.clone()))
            .collect()
    }

    /// Runs until the cancellation token is cancelled, then lets the tasks finish the post
    /// in hand (for at most [`DaemonOptions::drain`]). Returns what all cycles did.
    pub async fn run(self, notifier: &Notifier) -> DeliveryReport {
        let Daemon { tasks, shared } = self;
        info!(sources = tasks.len(), "daemon started");
        let mut set = JoinSet::new();
        for task in tasks {
            shared
                .options
                .metrics
                .watch_source(task.source.name(), &task.schedule);
            let span = task.span();
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
        let retractions = tokio::spawn(
            shared
                .retraction_runner(runner_cancel.clone())
                .run()
                .instrument(tracing::info_span!("retract")),
        );
        notifier.notify("READY=1");
        let watchdog = Notifier::watchdog_interval();
        let mut total = DeliveryReport::default();
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
            let _ = retractions.await;
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
    pub async fn once(self) -> DeliveryReport {
        let Daemon { tasks, shared } = self;
        let routes: Vec<String> = tasks
            .iter()
            .flat_map(|t| t.route_names.iter().cloned())
            .collect();
        let mut set = JoinSet::new();
        for mut task in tasks {
            let shared = Arc::clone(&shared);
            let span = task.span();
            set.spawn(
                async move {
                    let mut report = DeliveryReport::default();
                    task.cycle_logged(&shared, &mut report).await;
                    report
                }
                .instrument(span),
            );
        }
        let mut total = DeliveryReport::default();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(report) => total.add(&report),
                Err(err) => {
                    error!(error = %err, "a source task panicked");
                    total.sources_stopped += 1;
                }
            }
        }
        // Posts the sources found deleted: taken back now, as the daemon would.
        shared
            .retraction_runner(shared.cancel.clone())
            .run_due()
            .await;
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

impl Shared {
    /// The runner of the daemon's retraction jobs, stopped by `cancel`.
    fn retraction_runner(&self, cancel: CancellationToken) -> RetractionRunner {
        RetractionRunner {
            settings: Arc::clone(&self.settings),
            ledger: Arc::clone(&self.ledger),
            clock: self.clock.clone(),
            cancel,
            budgets: self.options.budgets.clone(),
            wake: Arc::clone(&self.retractions),
        }
    }
}

impl SourceTask {
    /// The span of the task's log lines: the source's name and kind.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("source", source = %self.source.name(), kind = self.source.kind())
    }

    async fn run(mut self, shared: Arc<Shared>) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let mut next = Some(shared.clock.now() + schedule_jitter(shared.options.max_jitter / 10));
        while let Some(at) = next {
            tokio::select! {
                () = shared.cancel.cancelled() => break,
                () = shared.clock.sleep_until(at) => {}
                () = news(self.source.as_mut()) => debug!("the source has news: polling now"),
            }
            // Boxed: a cycle's future holds a whole delivery (engine, target, media), some
            // kilobytes; allocated while the cycle runs, it is not kept in every idle
            // source's task (a thousand sources are a thousand tasks).
            if !Box::pin(self.cycle_logged(&shared, &mut report)).await {
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
    async fn cycle_logged(&mut self, shared: &Shared, total: &mut DeliveryReport) -> bool {
        let metrics = &shared.options.metrics;
        match self.cycle(shared).await {
            Ok(report) => {
                metrics.poll_ok(self.source.name());
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
            Err(err) if err.is_cancelled() => false,
            Err(err) if err.is_fatal() => {
                metrics.source_stopped(self.source.name());
                error!(
                    routes = %self.route_names.join(", "),
                    error = %err,
                    "source stopped: its routes get no new posts until the problem is fixed and birdbridge restarted"
                );
                total.sources_stopped += 1;
                false
            }
            Err(err) => {
                metrics.poll_failed(self.source.name());
                warn!(error = %err, "poll failed; trying again at the next tick");
                total.sources_failed += 1;
                true
            }
        }
    }

    /// One poll: posts still owed from earlier cycles first, then the new ones, oldest
    /// first, each to every route; the cursor moves after each post.
    async fn cycle(&mut self, shared: &Shared) -> Result<DeliveryReport, SourceError> {
        let mut report = DeliveryReport::default();
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
            let leftovers = self.source.recover(&ledger, &self.route_names).await?;
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
                let routes = self.route_names.clone();
                kept::forget_if_settled(&ledger, self.source.name(), routes, post.post.id.as_str())
                    .await?;
            }
        }
        let posts = self.source.poll(&ledger).await?;
        report.posts_found = posts.len();
        self.follow_deletes(shared).await?;
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
                source: self.source.name().to_owned(),
                routes: self.route_names.clone(),
                post: post.post.clone(),
            });
            kept::handled(&ledger, cursor, keep, shared.clock.now()).await?;
        }
        if let Some(cursor) = self.source.finished() {
            save_cursor(&ledger, cursor, shared.clock.now()).await?;
        }
        Ok(report)
    }

    /// Hands the posts the source saw deleted to the retraction path (the routes that
    /// follow deletes take them back; a post not mirrored yet never is) before anything of
    /// this cycle is delivered, and forgets them as leftovers.
    async fn follow_deletes(&mut self, shared: &Shared) -> Result<(), SourceError> {
        let deleted = self.source.take_deleted();
        if deleted.is_empty() {
            return Ok(());
        }
        self.retry.retain(|f| !deleted.contains(&f.post.id));
        let now = shared.clock.now();
        let jobs = retractions::follow_deletes(
            &shared.ledger,
            &shared.settings,
            &self.route_names,
            deleted,
            now,
        )
        .await?;
        if jobs > 0 {
            shared.retractions.notify_one();
        }
        Ok(())
    }

    /// Delivers one post to every route, holding a delivery permit of each target. Returns
    /// whether parts are left (the post is offered again at the next cycle).
    async fn deliver(
        &mut self,
        shared: &Shared,
        post: &Found,
        report: &mut DeliveryReport,
    ) -> Result<bool, SourceError> {
        let span = tracing::info_span!("post", post = %post.post.id);
        let mut unfinished = false;
        let asking = Asking {
            ledger: &shared.ledger,
            clock: &shared.clock,
            cancel: &shared.cancel,
            dry_run: false,
            source: self.source.name(),
        };
        let post = &*post.expanded(self.source.short_links(), asking).await?;
        // One download per remote media item of the post, for every route and target; the
        // files go when the stage does, after the post.
        let media = self.source.media_stage();
        let offer = Offer {
            post: &post.post,
            earlier: &post.earlier,
            media: media.as_ref(),
        };
        let metrics = &shared.options.metrics;
        for route in &mut self.routes {
            let _permits = permits(shared, route).await;
            let mut done = DeliveryReport::default();
            route
                .deliver(&shared.ledger, offer, &mut done)
                .instrument(span.clone())
                .await?;
            report.add(&done);
            if done.posts_delivered > 0 {
                metrics.delivered(self.source.name(), route.route(), post.post.created_at);
            }
            metrics.parts_failed(self.source.name(), done.parts_failed);
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

/// Completes when a source the server pushes to has news ([`Source::news`]); never for a
/// source that is only polled.
async fn news(source: &mut dyn Source) {
    match source.news() {
        Some(news) => news.await,
        None => std::future::pending().await,
    }
}

/// The engines of the routes reading source `name`, in the live lane; a route whose targets
/// cannot be built is left out, with an error in the log. Registers a delivery gate per
/// target.
fn live_routes(
    settings: &Settings,
    name: &str,
    clock: &Clock,
    cancel: &CancellationToken,
    options: &DaemonOptions,
    gates: &mut HashMap<String, Arc<Semaphore>>,
) -> Vec<Engine> {
    let mut routes = Vec::new();
    for (route_name, route) in settings.routes.iter().filter(|(_, r)| r.source == name) {
        let ctx = Context {
            lane: Lane::Live,
            cancel: cancel.clone(),
            clock: clock.clone(),
            dry_run: false,
            // One budget per target account, whichever routes deliver to it.
            budgets: options.budgets.clone(),
        };
        // No bar: the daemon runs unattended. Previews of the dry-run target go to stderr,
        // the log, so stdout stays free for JSON lines.
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
    routes
}

/// The routes among `routes` that follow their source's deletes, with how far back and
/// how often a source that must look for them (X) does.
fn deletes_followed(settings: &Settings, routes: &[String]) -> Option<FollowDeletes> {
    let follow: Vec<&String> = routes
        .iter()
        .filter(|r| settings.routes[*r].deletes == DeletesPolicy::Follow)
        .collect();
    let settings_of = |r: &&String| &settings.routes[*r];
    Some(FollowDeletes {
        window: follow.iter().map(|r| settings_of(r).deletes_window).max()?,
        every: follow.iter().map(|r| settings_of(r).deletes_check).min()?,
        routes: follow.into_iter().cloned().collect(),
    })
}

/// Saves a source's cursor, off the event loop.
async fn save_cursor(
    ledger: &Arc<Ledger>,
    cursor: CursorMove,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    ledger
        .call(move |l| l.set_cursor(&cursor.source, &cursor.value, now))
        .await
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

/// A random delay in `[0, max)` before a tick, in whole seconds (none when `max` is less than
/// a second): the sources due in the same second wake together, one wakeup of the runtime
/// for all of them (with warm caches), instead of one each at a random millisecond.
fn schedule_jitter(max: Duration) -> chrono::Duration {
    let delay = jitter(chrono::Duration::from_std(max).unwrap_or(chrono::Duration::zero()));
    chrono::Duration::seconds(delay.num_seconds())
}

#[cfg(test)]
mod tests;
