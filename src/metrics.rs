//! Metrics and health of the daemon (`[metrics] listen`): a [`Metrics`] handle the daemon
//! updates as it polls and delivers, and the ledger's counts read at each scrape; served as
//! Prometheus/`OpenMetrics` text at `/metrics` and as a health check at `/healthz` by
//! [`server`].
//!
//! What comes from where:
//! - the daemon (through the handle): polls by outcome, posts delivered and parts failed per
//!   source, the lag from a post's creation to its delivery, each source's last good poll,
//!   sources that stopped, targets whose posts wait (unreachable, or their token refused;
//!   [`crate::engine`] keeps their parts planned and reconnects);
//! - the ledger (at scrape time, off the event loop): parts by route, target and state, held
//!   posts (the review queue) and how long the oldest has waited, rate-limit budgets per target and family, billable X reads and their estimated
//!   cost at the configured prices.
//!
//! A handle made with [`Metrics::off`] (the default) records nothing and costs nothing, so the
//! daemon updates it unconditionally.

pub mod server;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::clock::Clock;
use crate::config::{Settings, SourceSettings};
use crate::store::{Ledger, StoreError};

/// A metric's labels, as `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;

/// A gauge holding a float.
type FloatGauge = Gauge<f64, AtomicU64>;

/// The handle the daemon updates; cheap to clone (one shared set of metrics).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("on", &self.inner.is_some())
            .finish()
    }
}

/// What `/healthz` needs to know of one source.
#[derive(Debug, Clone)]
struct SourceHealth {
    /// The time between two polls.
    interval: Duration,
    /// The last poll that worked, or when the daemon started watching it.
    last_good: DateTime<Utc>,
    /// Whether a poll ever worked (else `last_good` is the start).
    polled: bool,
    stopped: bool,
}

struct Inner {
    registry: Registry,
    clock: Clock,
    /// Prices per X source: (post read, user lookup), in US dollars.
    prices: BTreeMap<String, (f64, f64)>,
    sources: Mutex<BTreeMap<String, SourceHealth>>,
    /// Targets that cannot be delivered to now, by (route, target), with why.
    targets_waiting: Mutex<BTreeMap<(String, String), String>>,
    polls: Family<Labels, Counter>,
    posts_delivered: Family<Labels, Counter>,
    parts_failed: Family<Labels, Counter>,
    lag: Family<Labels, Histogram, fn() -> Histogram>,
    since_good_poll: Family<Labels, FloatGauge>,
    source_stopped: Family<Labels, Gauge>,
    target_waiting: Family<Labels, Gauge>,
    parts: Family<Labels, Gauge>,
    held: Family<Labels, Gauge>,
    review_oldest: FloatGauge,
    backfill_jobs: Family<Labels, Gauge>,
    budget_remaining: Family<Labels, Gauge>,
    budget_limit: Family<Labels, Gauge>,
    x_reads: Family<Labels, Gauge>,
    x_cost: Family<Labels, FloatGauge>,
}

/// Lag buckets: 1 s to about 12 days, doubling.
fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 21))
}

impl Metrics {
    /// A handle that records nothing.
    pub fn off() -> Self {
        Self::default()
    }

    /// A handle that records, with `clock` telling the time of polls and deliveries (the
    /// daemon's clock) and the prices of `settings`' X sources.
    pub fn new(settings: &Settings, clock: Clock) -> Self {
        let mut inner = Inner {
            prices: settings
                .sources
                .iter()
                .filter_map(|(name, s)| match s {
                    SourceSettings::X(x) => {
                        Some((name.clone(), (x.post_read_price, x.user_read_price)))
                    }
                    _ => None,
                })
                .collect(),
            clock,
            sources: Mutex::default(),
            targets_waiting: Mutex::default(),
            polls: Family::default(),
            posts_delivered: Family::default(),
            parts_failed: Family::default(),
            lag: Family::new_with_constructor(lag_histogram),
            since_good_poll: Family::default(),
            source_stopped: Family::default(),
            target_waiting: Family::default(),
            parts: Family::default(),
            held: Family::default(),
            review_oldest: FloatGauge::default(),
            backfill_jobs: Family::default(),
            budget_remaining: Family::default(),
            budget_limit: Family::default(),
            x_reads: Family::default(),
            x_cost: Family::default(),
            registry: Registry::default(),
        };
        let mut registry = Registry::with_prefix("birdbridge");
        inner.register(&mut registry);
        inner.registry = registry;
        Self {
            inner: Some(Arc::new(inner)),
        }
    }

    /// Whether this handle records.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// The daemon polls `source` on `schedule`: it counts as unhealthy once two of its
    /// intervals pass without a good poll.
    pub fn watch_source(&self, source: &str, schedule: &cron::Schedule) {
        let Some(i) = &self.inner else { return };
        let now = i.clock.now();
        let mut ticks = schedule.after(&now);
        let interval = match (ticks.next(), ticks.next()) {
            (Some(a), Some(b)) => (b - a).to_std().unwrap_or(Duration::from_secs(60)),
            _ => Duration::MAX,
        };
        lock(&i.sources).insert(
            source.to_owned(),
            SourceHealth {
                interval,
                last_good: now,
                polled: false,
                stopped: false,
            },
        );
        i.source_stopped
            .get_or_create(&source_labels(source))
            .set(0);
    }

    /// A poll of `source` worked.
    pub fn poll_ok(&self, source: &str) {
        let Some(i) = &self.inner else { return };
        let now = i.clock.now();
        if let Some(h) = lock(&i.sources).get_mut(source) {
            h.last_good = now;
            h.polled = true;
        }
        i.polls.get_or_create(&poll_labels(source, "ok")).inc();
    }

    /// A poll of `source` failed; it is tried again at the next tick.
    pub fn poll_failed(&self, source: &str) {
        let Some(i) = &self.inner else { return };
        i.polls.get_or_create(&poll_labels(source, "failed")).inc();
    }

    /// `source` stopped for good.
    pub fn source_stopped(&self, source: &str) {
        let Some(i) = &self.inner else { return };
        if let Some(h) = lock(&i.sources).get_mut(source) {
            h.stopped = true;
        }
        i.source_stopped
            .get_or_create(&source_labels(source))
            .set(1);
    }

    /// The targets of `route` (`targets`) as its delivery engine sees them now: those in
    /// `waiting` cannot be delivered to (the server does not answer, or the token was
    /// refused; `why` is shown by `/healthz`) and their posts wait in the ledger; the others
    /// deliver. A target that answers again is healthy again.
    pub fn targets_waiting<'a>(
        &self,
        route: &str,
        targets: impl Iterator<Item = &'a str>,
        waiting: &[(String, String)],
    ) {
        let Some(i) = &self.inner else { return };
        let mut map = lock(&i.targets_waiting);
        for target in targets {
            let key = (route.to_owned(), target.to_owned());
            let why = waiting.iter().find(|(t, _)| t == target).map(|(_, w)| w);
            let labels = vec![("route", key.0.clone()), ("target", key.1.clone())];
            i.target_waiting
                .get_or_create(&labels)
                .set(i64::from(why.is_some()));
            match why {
                Some(why) => map.insert(key, why.clone()),
                None => map.remove(&key),
            };
        }
    }

    /// A post of `source`, created at `created_at`, was delivered (at least one part) on
    /// `route`.
    pub fn delivered(&self, source: &str, route: &str, created_at: DateTime<Utc>) {
        let Some(i) = &self.inner else { return };
        let labels = vec![("source", source.to_owned()), ("route", route.to_owned())];
        i.posts_delivered.get_or_create(&labels).inc();
        #[expect(
            clippy::cast_precision_loss,
            reason = "lags are far below 2^52 milliseconds"
        )]
        let lag = (i.clock.now() - created_at).num_milliseconds().max(0) as f64 / 1000.0;
        i.lag.get_or_create(&labels).observe(lag);
    }

    /// `n` delivery attempts of `source`'s posts failed.
    pub fn parts_failed(&self, source: &str, n: usize) {
        let Some(i) = &self.inner else { return };
        if n > 0 {
            i.parts_failed
                .get_or_create(&source_labels(source))
                .inc_by(n as u64);
        }
    }

    /// Whether every watched source polled within two intervals, none stopped and no target
    /// has posts waiting because it cannot be delivered to; with one line per problem when
    /// not.
    pub fn health(&self) -> (bool, Vec<String>) {
        let Some(i) = &self.inner else {
            return (true, Vec::new());
        };
        let now = i.clock.now();
        let mut problems = Vec::new();
        for (name, h) in lock(&i.sources).iter() {
            let late = (now - h.last_good).to_std().unwrap_or_default();
            if h.stopped {
                problems.push(format!("source {name} stopped"));
            } else if late > h.interval.saturating_mul(2) {
                problems.push(format!(
                    "source {name}: no good poll for {}s (interval {}s){}",
                    late.as_secs(),
                    h.interval.as_secs(),
                    if h.polled { "" } else { ", none since start" }
                ));
            }
        }
        for ((route, target), why) in lock(&i.targets_waiting).iter() {
            problems.push(format!(
                "target {target} (route {route}) cannot be delivered to, its posts wait: {why}"
            ));
        }
        (problems.is_empty(), problems)
    }

    /// The metrics as `OpenMetrics` text, after reading the ledger's counts. Blocking (it
    /// reads the ledger): call it from `spawn_blocking`.
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub fn render(&self, ledger: &Ledger) -> Result<String, StoreError> {
        let Some(i) = &self.inner else {
            return Ok(String::new());
        };
        i.refresh(ledger)?;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &i.registry);
        Ok(out)
    }
}

impl Inner {
    /// Registers every family in `r` (families are shared handles: updates show).
    fn register(&self, r: &mut Registry) {
        let i = self;
        r.register(
            "source_polls",
            "Polls of a live source, by outcome (ok, failed)",
            i.polls.clone(),
        );
        r.register(
            "posts_delivered",
            "Posts with at least one part delivered, per source and route",
            i.posts_delivered.clone(),
        );
        r.register(
            "parts_failed",
            "Delivery attempts that failed (retried, then quarantined), per source",
            i.parts_failed.clone(),
        );
        r.register_with_unit(
            "delivery_lag",
            "Time from a post's creation at the source to its delivery",
            Unit::Seconds,
            i.lag.clone(),
        );
        r.register_with_unit(
            "source_since_good_poll",
            "Time since the source's last good poll (since start when none yet)",
            Unit::Seconds,
            i.since_good_poll.clone(),
        );
        r.register(
            "source_stopped",
            "1 when the source stopped for good (token refused, account gone)",
            i.source_stopped.clone(),
        );
        r.register(
            "target_waiting",
            "1 while the route's target cannot be delivered to (unreachable, or its token refused): its posts wait in the ledger",
            i.target_waiting.clone(),
        );
        r.register(
            "parts",
            "Parts (statuses) in the ledger, by route, target and state",
            i.parts.clone(),
        );
        r.register(
            "posts_held",
            "Posts held for review (the desk's queue), by route and target",
            i.held.clone(),
        );
        r.register(
            "review_oldest_held_seconds",
            "How long the longest-waiting post of the review queue has waited (0 when none waits)",
            i.review_oldest.clone(),
        );
        r.register(
            "backfill_jobs",
            "Backfills queued for the daemon, by route and state (queued, running, done, failed); their deliveries show in birdbridge_parts",
            i.backfill_jobs.clone(),
        );
        r.register(
            "budget_remaining",
            "Calls left in the target's rate-limit window, by family (as last seen)",
            i.budget_remaining.clone(),
        );
        r.register(
            "budget_limit",
            "Calls per rate-limit window, by target and family (as last seen)",
            i.budget_limit.clone(),
        );
        r.register(
            "x_reads",
            "Billable X API reads, by source and kind (post, user), all days",
            i.x_reads.clone(),
        );
        r.register(
            "x_reads_cost_dollars",
            "Estimated cost of the X API reads at the configured prices, in US dollars",
            i.x_cost.clone(),
        );
    }

    /// Sets the ledger-derived gauges and the time since each source's good poll.
    fn refresh(&self, ledger: &Ledger) -> Result<(), StoreError> {
        let now = self.clock.now();
        for (name, h) in lock(&self.sources).iter() {
            let since = (now - h.last_good).num_milliseconds().max(0);
            #[expect(clippy::cast_precision_loss, reason = "far below 2^52 ms")]
            self.since_good_poll
                .get_or_create(&source_labels(name))
                .set(since as f64 / 1000.0);
        }
        let counts = ledger.state_counts()?;
        self.parts.clear();
        for c in counts {
            let labels = vec![
                ("route", c.route),
                ("target", c.target),
                ("state", c.state.as_str().to_owned()),
            ];
            self.parts
                .get_or_create(&labels)
                .set(i64::try_from(c.count).unwrap_or(i64::MAX));
        }
        self.held.clear();
        for h in ledger.held(&crate::store::PartFilter::default())? {
            self.held
                .get_or_create(&vec![("route", h.key.route), ("target", h.key.target)])
                .inc();
        }
        let review = ledger.review_summary()?;
        for (route, target, n) in review.per_target {
            self.held
                .get_or_create(&vec![("route", route), ("target", target)])
                .inc_by(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let oldest = review
            .oldest_held_at
            .map_or(0, |t| (now - t).num_milliseconds().max(0));
        #[expect(clippy::cast_precision_loss, reason = "far below 2^52 ms")]
        self.review_oldest.set(oldest as f64 / 1000.0);
        self.backfill_jobs.clear();
        for job in ledger.jobs(u32::MAX)? {
            self.backfill_jobs
                .get_or_create(&vec![("route", job.route), ("state", job.state)])
                .inc();
        }
        self.budget_remaining.clear();
        self.budget_limit.clear();
        for b in ledger.budgets(None)? {
            let labels = vec![
                ("target", b.target),
                ("family", b.family.as_str().to_owned()),
            ];
            self.budget_remaining
                .get_or_create(&labels)
                .set(i64::from(b.window.remaining));
            self.budget_limit
                .get_or_create(&labels)
                .set(i64::from(b.window.limit));
        }
        self.x_reads.clear();
        self.x_cost.clear();
        for r in ledger.billable_reads(now)? {
            let (post_price, user_price) = self.prices.get(&r.source).copied().unwrap_or((
                crate::config::XSourceSettings::DEFAULT_POST_READ_PRICE,
                crate::config::XSourceSettings::DEFAULT_USER_READ_PRICE,
            ));
            #[expect(clippy::cast_precision_loss, reason = "read counts are far below 2^52")]
            let cost = r.posts as f64 * post_price + r.users as f64 * user_price;
            for (kind, n) in [("post", r.posts), ("user", r.users)] {
                self.x_reads
                    .get_or_create(&vec![
                        ("source", r.source.clone()),
                        ("kind", kind.to_owned()),
                    ])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            self.x_cost
                .get_or_create(&source_labels(&r.source))
                .set(cost);
        }
        Ok(())
    }
}

fn source_labels(source: &str) -> Labels {
    vec![("source", source.to_owned())]
}

fn poll_labels(source: &str, outcome: &str) -> Labels {
    vec![
        ("source", source.to_owned()),
        ("outcome", outcome.to_owned()),
    ]
}

/// A lock whose holder cannot leave the data half changed (every update is one assignment).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::clock::ManualClock;

    fn settings() -> Settings {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("bridge.toml");
        std::fs::write(
            &file,
            "[sources.s]\nkind = \"archive\"\npath = \"a\"\n[targets.t]\nkind = \"dry-run\"\n\
             [routes.r]\nsource = \"s\"\ntargets = [\"t\"]\n",
        )
        .unwrap();
        Settings::load_with_env(&file, HashMap::new()).unwrap()
    }

    #[test]
    fn health_needs_a_good_poll_within_two_intervals_and_nothing_stopped() {
        let clock = ManualClock::new(Utc::now());
        let metrics = Metrics::new(&settings(), Clock::from(Arc::clone(&clock)));
        let every_minute: cron::Schedule = "0 * * * * *".parse().unwrap();
        metrics.watch_source("a", &every_minute);
        assert!(metrics.health().0, "a source just started is healthy");
        clock.advance(chrono::Duration::seconds(119));
        assert!(metrics.health().0);
        clock.advance(chrono::Duration::seconds(2));
        let (healthy, problems) = metrics.health();
        assert!(!healthy);
        assert_eq!(
            problems,
            ["source a: no good poll for 121s (interval 60s), none since start"]
        );
        metrics.poll_failed("a");
        assert!(!metrics.health().0, "a failed poll is not a good one");
        metrics.poll_ok("a");
        assert!(metrics.health().0);
        let waiting = [("t".to_owned(), "token refused".to_owned())];
        metrics.targets_waiting("r", ["t"].into_iter(), &waiting);
        assert_eq!(
            metrics.health().1,
            ["target t (route r) cannot be delivered to, its posts wait: token refused"]
        );
        metrics.targets_waiting("r", ["t"].into_iter(), &[]);
        assert!(metrics.health().0, "a target that answers again is healthy");
    }

    #[test]
    fn backfill_jobs_are_counted_by_route_and_state() {
        let metrics = Metrics::new(&settings(), Clock::System);
        let ledger = Ledger::open_in_memory().unwrap();
        let now = Utc::now();
        let job = crate::store::BackfillJob {
            id: 0,
            route: "r".to_owned(),
            archive: None,
            from_api: false,
            since: None,
            until: None,
            limit: None,
            state: "queued".to_owned(),
            note: None,
            updated_at: now,
        };
        for _ in 0..3 {
            ledger.queue_job(&job, now).unwrap();
        }
        ledger
            .set_job_state(1, "done", Some("12 posts"), now)
            .unwrap();
        let text = metrics.render(&ledger).unwrap();
        let line =
            |state: &str| format!("birdbridge_backfill_jobs{{route=\"r\",state=\"{state}\"}}");
        assert!(text.contains(&format!("{} 2\n", line("queued"))), "{text}");
        assert!(text.contains(&format!("{} 1\n", line("done"))), "{text}");
    }

    #[test]
    fn an_off_handle_records_nothing_and_is_healthy() {
        let metrics = Metrics::off();
        metrics.source_stopped("a");
        assert_eq!(metrics.health(), (true, Vec::new()));
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(metrics.render(&ledger).unwrap(), "");
    }
}
