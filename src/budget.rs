//! Rate-limit budgets of one target account, per family of calls (statuses, media, deletes,
//! all requests), and the clock they are measured with (ARCHITECTURE.md "Scheduling and budgets").
//!
//! A budget is seeded from the limits the server kind is known to have (Mastodon: 300
//! statuses / 3 h, 30 media / 30 min, 30 deletes / 30 min, 300 requests / 5 min; windows
//! fixed and aligned to epoch time): a guess, until the server says otherwise. Then the
//! server's `X-RateLimit-*` headers rule: the first answer's headers set the window, and it
//! ends when the server said it resets (an ISO time, epoch seconds or a delta), not at a
//! boundary of birdbridge's own; once it has ended, the next answer announces the next one
//! (`GoToSocial` starts a client's window at its first request, Mastodon at epoch-aligned
//! boundaries; both are followed the same way). A server that announces nothing (snac) keeps
//! the guess, and `status` says so ([`Window::announced`]).
//!
//! A reset announced in whole seconds (`GoToSocial` writes `…T15:15:03.000Z`, its window
//! really ending later within that second) is taken to end with that second: a request sent
//! a few milliseconds after the announced second would still be counted in the old window.
//!
//! A call takes one unit of its own family and one of `requests` before it is made; when a
//! family is empty the caller waits until it resets (never past the announced reset), so the
//! server should almost never have to answer 429. A 429 or 503 pauses the family (a 503, the
//! whole account) until what the server said: `Retry-After`, else the reset in the 429's own
//! headers, else a short probe; then the server is asked again and its answer says what is
//! left. No window is ever invented past what the server announced.
//!
//! Backfill may use only a share of each window ([`Priority::Backfill`]), so live posts find
//! room next to a long backfill.
//!
//! Time comes from the one [`crate::clock::Clock`] (re-exported here for the code that
//! measures budgets with it), so tests drive windows, waits and backoff without sleeping.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::backoff::Backoff;

/// The families of calls a server limits separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// New statuses.
    Statuses,
    /// Media uploads.
    Media,
    /// Deletes.
    Deletes,
    /// Reposts, where the server limits them apart from new posts (X).
    Reposts,
    /// Every request, whatever it is.
    Requests,
}

impl Family {
    /// Every family, in the order reports list them.
    pub const ALL: [Family; 5] = [
        Family::Statuses,
        Family::Media,
        Family::Deletes,
        Family::Reposts,
        Family::Requests,
    ];

    /// A stable lower-case name (ledger column, `status` output).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Statuses => "statuses",
            Family::Media => "media",
            Family::Deletes => "deletes",
            Family::Reposts => "reposts",
            Family::Requests => "requests",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Family {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown rate-limit family {s:?}"))
    }
}

/// A limit a server kind is known to have: `limit` calls per fixed `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed {
    /// The family it limits.
    pub family: Family,
    /// Calls per window.
    pub limit: u32,
    /// Window length; windows start at multiples of it since the epoch.
    pub period: Duration,
}

/// What a budget knows about one family's current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Calls per window.
    pub limit: u32,
    /// Calls left in this window.
    pub remaining: u32,
    /// When this window ends and `remaining` goes back to `limit`.
    pub reset_at: DateTime<Utc>,
    /// Window length, used to roll over when no header says otherwise.
    pub period: Duration,
    /// No call of this family before this time (a 429 or 503 said so).
    pub paused_until: Option<DateTime<Utc>>,
    /// Whether the server announced this window in its headers; if not, it is birdbridge's
    /// guess from the kind's known limits.
    pub announced: bool,
}

impl Window {
    fn seeded(seed: Seed, now: DateTime<Utc>) -> Self {
        Self {
            limit: seed.limit,
            remaining: seed.limit,
            reset_at: aligned_end(now, seed.period),
            period: seed.period,
            paused_until: None,
            announced: false,
        }
    }

    /// Starts a new window when the current one is over. A guessed window rolls on by whole
    /// periods (aligned as Mastodon's are); an announced one ends where the server said, and
    /// the next answer's headers say when the new one ends (until then, a period from now:
    /// a window that starts at the first request ends no earlier).
    fn roll(&mut self, now: DateTime<Utc>) {
        if now >= self.reset_at {
            self.remaining = self.limit;
            let period = self.period.max(Duration::seconds(1));
            if self.announced {
                self.reset_at = now + period;
            } else {
                let behind = (now - self.reset_at).num_milliseconds() / period.num_milliseconds();
                self.reset_at += period * i32::try_from(behind + 1).unwrap_or(i32::MAX);
            }
        }
        if self.paused_until.is_some_and(|until| now >= until) {
            self.paused_until = None;
        }
    }

    /// Calls held back from backfill under `priority`.
    fn reserved(&self, priority: Priority) -> u32 {
        match priority {
            Priority::Live => 0,
            Priority::Backfill { share } => {
                let kept = f64::from(self.limit) * (1.0 - share.clamp(0.0, 1.0));
                // Saturating float-to-int conversion; limits are far below u32::MAX.
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "clamped to 0..=limit above"
                )]
                let kept = kept.ceil() as u32;
                kept.min(self.limit.saturating_sub(1))
            }
        }
    }
}

/// The end of the epoch-aligned window of length `period` that contains `now`.
fn aligned_end(now: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    let period_ms = period.num_milliseconds().max(1);
    let now_ms = now.timestamp_millis();
    let end = (now_ms.div_euclid(period_ms) + 1) * period_ms;
    Utc.timestamp_millis_opt(end)
        .single()
        .unwrap_or(now + period)
}

/// Whose call it is: live posts may use the whole budget, backfill a share of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Priority {
    /// A live post (or an operator's command): may use every call left.
    Live,
    /// A backfill: may use `share` (0 to 1) of each window.
    Backfill {
        /// The fraction of each window backfill may use.
        share: f64,
    },
}

impl Priority {
    /// The priority of `lane`'s calls on a target whose backfill may use `backfill_share`
    /// of each window.
    pub fn of(lane: Lane, backfill_share: f64) -> Self {
        match lane {
            Lane::Live => Priority::Live,
            Lane::Backfill => Priority::Backfill {
                share: backfill_share,
            },
        }
    }
}

/// Whose posts these are: the delivery engine's lane, and so the priority of every call a
/// target makes for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// Posts found live: may use a target's whole rate-limit budget.
    #[default]
    Live,
    /// A backfill: may use each target's `backfill_share` of the budget.
    Backfill,
}

/// The rate-limit headers of one answer, as far as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-RateLimit-Limit`.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset`, resolved to a time.
    pub reset_at: Option<DateTime<Utc>>,
    /// `Retry-After`, resolved to a time.
    pub retry_at: Option<DateTime<Utc>>,
}

impl RateHeaders {
    /// Reads the headers leniently: a header that is absent or unreadable is `None`.
    /// `X-RateLimit-Reset` may be an ISO 8601 time (Mastodon, `GoToSocial`), epoch seconds,
    /// or seconds from now (small numbers); `Retry-After` seconds or an HTTP date.
    pub fn parse(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        Self {
            limit: text("x-ratelimit-limit").and_then(|v| v.parse().ok()),
            remaining: text("x-ratelimit-remaining").and_then(|v| v.parse().ok()),
            reset_at: text("x-ratelimit-reset").and_then(|v| parse_reset(v, now)),
            retry_at: text("retry-after").and_then(|v| parse_retry_after(v, now)),
        }
    }

    /// Whether the server sent any rate-limit header at all.
    pub fn any(&self) -> bool {
        self.limit.is_some() || self.remaining.is_some() || self.reset_at.is_some()
    }
}

/// Epoch seconds are told from "seconds from now" by size: no window is 30 years long.
const EPOCH_SECONDS_FROM: i64 = 1_000_000_000;

/// The end of the window `X-RateLimit-Reset` announces. A time in whole seconds may have been
/// cut down to the second (`GoToSocial` does: its window ends later within that second), so
/// it is taken to end with that second; a finer time is taken as it is.
fn parse_reset(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let announced = if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        time.with_timezone(&Utc)
    } else {
        let seconds: f64 = value.parse().ok()?;
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "finite, non-negative and checked below"
        )]
        let millis = (seconds * 1000.0).round() as i64;
        if millis / 1000 >= EPOCH_SECONDS_FROM {
            Utc.timestamp_millis_opt(millis).single()?
        } else {
            now + Duration::milliseconds(millis)
        }
    };
    Some(end_of_whole_second(announced))
}

/// `time`, or the end of its second when it is a whole second (see [`parse_reset`]).
fn end_of_whole_second(time: DateTime<Utc>) -> DateTime<Utc> {
    if time.timestamp_subsec_nanos() == 0 {
        time + Duration::seconds(1)
    } else {
        time
    }
}

fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(now + Duration::seconds(i64::from(seconds)));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long to pause after a 429 that names no time (no `Retry-After`, no reset still to
/// come): a short probe, 5 s, doubled for each such 429 in a row, up to a minute. The server
/// is then asked again, and its answer says what is left; a whole window is never guessed.
fn blind_pause(consecutive: u32) -> Duration {
    Backoff::new(Duration::seconds(5), Duration::minutes(1)).nth(consecutive)
}

/// The budgets of one target account. See the module docs.
#[derive(Debug, Clone)]
pub struct Budget {
    windows: BTreeMap<Family, Window>,
    /// Families whose window a server corrected in this run. Mastodon reports its tightest
    /// family on each call, so a call of such a family is held to what the server said and
    /// not also to the `requests` guess, which only reads (that report `requests`) correct.
    confirmed: BTreeSet<Family>,
    /// 429s in a row without a time to wait for.
    blind_429s: u32,
}

impl Budget {
    /// A budget with the given known limits; families without a seed are unlimited until a
    /// header says otherwise.
    pub fn seeded(seeds: &[Seed], now: DateTime<Utc>) -> Self {
        Self {
            windows: seeds
                .iter()
                .map(|s| (s.family, Window::seeded(*s, now)))
                .collect(),
            confirmed: BTreeSet::new(),
            blind_429s: 0,
        }
    }

    /// Replaces what the seeds assumed with windows saved earlier (by [`Budget::windows`]),
    /// so a restarted run does not spend a window the previous run already used.
    pub fn restore(&mut self, saved: impl IntoIterator<Item = (Family, Window)>) {
        self.windows.extend(saved);
    }

    /// The current windows, for `status` and for saving.
    pub fn windows(&self) -> &BTreeMap<Family, Window> {
        &self.windows
    }

    /// Takes one call of `family` (and one of `requests`) if both have room for `priority`
    /// now. Otherwise takes nothing and returns the earliest time worth asking again.
    pub fn try_take(
        &mut self,
        family: Family,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let families: &[Family] = if family == Family::Requests || self.confirmed.contains(&family)
        {
            &[family]
        } else {
            &[family, Family::Requests]
        };
        let mut wait_until: Option<DateTime<Utc>> = None;
        for f in families {
            let Some(w) = self.windows.get_mut(f) else {
                continue;
            };
            w.roll(now);
            let blocked_until = match w.paused_until {
                Some(until) => Some(until),
                None if w.remaining <= w.reserved(priority) => Some(w.reset_at),
                None => None,
            };
            if let Some(until) = blocked_until {
                wait_until = Some(wait_until.map_or(until, |t| t.max(until)));
            }
        }
        if let Some(until) = wait_until {
            return Err(until);
        }
        for f in families {
            if let Some(w) = self.windows.get_mut(f) {
                w.remaining = w.remaining.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Corrects the `family` window from an answer's headers (what the server counted is
    /// the truth). Mastodon reports its tightest family on a status post, which is the one
    /// worth knowing about.
    pub fn observe(&mut self, family: Family, headers: &RateHeaders, now: DateTime<Utc>) {
        if !headers.any() {
            return;
        }
        self.blind_429s = 0;
        self.confirmed.insert(family);
        let w = self.windows.entry(family).or_insert_with(|| Window {
            limit: headers.limit.unwrap_or(u32::MAX),
            remaining: headers.remaining.unwrap_or(u32::MAX),
            reset_at: headers.reset_at.unwrap_or(now + Duration::minutes(5)),
            period: Duration::minutes(5),
            paused_until: None,
            announced: true,
        });
        w.roll(now);
        // A guess the server contradicts is dropped whole: its period too.
        let guess_wrong = !w.announced && headers.limit.is_some_and(|l| l != w.limit);
        if let Some(limit) = headers.limit {
            w.limit = limit;
        }
        // An answer counted in a window that has ended since (its reset is past) says
        // nothing of the window now running: its `remaining` is not carried over.
        let ended = headers.reset_at.is_some_and(|r| r <= now);
        if let Some(remaining) = headers.remaining.filter(|_| !ended) {
            w.remaining = remaining.min(w.limit);
        }
        if let Some(reset) = headers.reset_at.filter(|r| *r > now) {
            // The window's length, as far as it shows: the time from an answer to the reset
            // is the full period at a window's first call.
            if guess_wrong || reset - now > w.period {
                w.period = reset - now;
            }
            w.reset_at = reset;
        }
        w.announced = true;
    }

    /// A 429 for a call of `family`: pauses it until `Retry-After`, else the reset that
    /// answer announces, else a short probe that grows with each such 429 in a row; the
    /// window then ends with the pause (the next answer tells what the server counts), so
    /// no window of birdbridge's own keeps the family waiting past it. Returns until when.
    pub fn rate_limited(
        &mut self,
        family: Family,
        headers: &RateHeaders,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let until = headers
            .retry_at
            .or(headers.reset_at)
            .filter(|t| *t > now)
            .unwrap_or_else(|| {
                self.blind_429s += 1;
                now + blind_pause(self.blind_429s - 1)
            });
        let w = self.windows.entry(family).or_insert_with(|| Window {
            limit: headers.limit.unwrap_or(1),
            remaining: 0,
            reset_at: until,
            period: until - now,
            paused_until: None,
            announced: headers.any(),
        });
        w.remaining = 0;
        w.reset_at = until;
        w.paused_until = Some(until);
        until
    }

    /// A 503 (or another "come back later"): pauses every family until `until`.
    pub fn pause_all(&mut self, until: DateTime<Utc>) {
        for w in self.windows.values_mut() {
            w.paused_until = Some(w.paused_until.map_or(until, |t| t.max(until)));
        }
        self.windows
            .entry(Family::Requests)
            .or_insert_with(|| Window {
                limit: u32::MAX,
                remaining: u32::MAX,
                reset_at: until,
                period: Duration::minutes(5),
                paused_until: Some(until),
                announced: false,
            });
    }

    /// Sustained calls per hour of `family` (and of the requests it needs, `requests_per`
    /// each) under `priority`: what the windows allow in the long run.
    pub fn per_hour(&self, family: Family, requests_per: u32, priority: Priority) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "window lengths are far below 2^52 ms"
        )]
        let rate = |w: &Window, per: u32| {
            let usable = f64::from(w.limit - w.reserved(priority));
            let hours = w.period.num_milliseconds().max(1) as f64 / 3_600_000.0;
            usable / hours / f64::from(per.max(1))
        };
        let mut best = f64::INFINITY;
        if let Some(w) = self.windows.get(&family) {
            best = best.min(rate(w, 1));
        }
        if let Some(w) = self.windows.get(&Family::Requests) {
            best = best.min(rate(w, requests_per));
        }
        best
    }
}

/// The budgets of the accounts one process delivers to, shared by every client of the
/// same account (a daemon's live routes and a backfill running in it), so that the live
/// lane's reserve holds across them: backfill can only use its share of the one window.
#[derive(Debug, Clone, Default)]
pub struct BudgetPool(Arc<Mutex<HashMap<String, SharedBudget>>>);

/// One account's budget in a [`BudgetPool`].
pub type SharedBudget = Arc<Mutex<PooledBudget>>;

/// A budget and whether the windows saved by an earlier run were read into it yet.
#[derive(Debug)]
pub struct PooledBudget {
    /// The budget.
    pub budget: Budget,
    /// Whether the saved windows were restored (done once, by the first client to
    /// connect; later ones must not go back to older figures).
    pub restored: bool,
}

impl BudgetPool {
    /// The budget of the account `key` (its target name and server), made by `seed` for
    /// the first client.
    pub fn entry(&self, key: &str, seed: impl FnOnce() -> Budget) -> SharedBudget {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(key.to_owned()).or_insert_with(|| {
            Arc::new(Mutex::new(PooledBudget {
                budget: seed(),
                restored: false,
            }))
        }))
    }
}

/// Known limits of Mastodon (docs/servers.md "Mastodon, the reference").
pub fn mastodon_seeds() -> Vec<Seed> {
    vec![
        Seed {
            family: Family::Statuses,
            limit: 300,
            period: Duration::hours(3),
        },
        Seed {
            family: Family::Media,
            limit: 30,
            period: Duration::minutes(30),
        },
        Seed {
            family: Family::Deletes,
            limit: 30,
            period: Duration::minutes(30),
        },
        Seed {
            family: Family::Requests,
            limit: 300,
            period: Duration::minutes(5),
        },
    ]
}

/// "34 h", "12 min", "40 s": a duration for an ETA.
pub fn human_duration(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 2 * 86_400 {
        format!("{} days", s / 86_400)
    } else if s >= 2 * 3600 {
        format!("{} h", s / 3600)
    } else if s >= 120 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};
    use rstest::rstest;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn seeds(limit: u32, secs: i64) -> Vec<Seed> {
        vec![Seed {
            family: Family::Statuses,
            limit,
            period: Duration::seconds(secs),
        }]
    }

    #[test]
    fn windows_are_aligned_to_the_epoch_and_refill_at_reset() {
        let now = t("2024-05-01T12:00:07Z");
        let mut b = Budget::seeded(&seeds(2, 10), now);
        assert_eq!(b.try_take(Family::Statuses, Priority::Live, now), Ok(()));
        assert_eq!(b.try_take(Family::Statuses, Priority::Live, now), Ok(()));
        let reset = t("2024-05-01T12:00:10Z");
        assert_eq!(
            b.try_take(Family::Statuses, Priority::Live, now),
            Err(reset)
        );
        assert_eq!(b.try_take(Family::Statuses, Priority::Live, reset), Ok(()));
        // Far later: the window is rolled by whole periods, still aligned.
        let later = t("2024-05-01T12:01:05Z");
        assert_eq!(b.try_take(Family::Statuses, Priority::Live, later), Ok(()));
        assert_eq!(
            b.windows()[&Family::Statuses].reset_at,
            t("2024-05-01T12:01:10Z")
        );
    }

    #[rstest]
    #[case(1.0, 10)]
    #[case(0.5, 5)]
    #[case(0.8, 8)]
    #[case(0.0, 1)]
    fn backfill_uses_only_its_share(#[case] share: f64, #[case] allowed: usize) {
        let now = t("2024-05-01T12:00:00Z");
        let mut b = Budget::seeded(&seeds(10, 60), now);
        let taken = (0..20)
            .take_while(|_| {
                b.try_take(Family::Statuses, Priority::Backfill { share }, now)
                    .is_ok()
            })
            .count();
        assert_eq!(taken, allowed);
        // Live posts still find the rest, and nothing beyond the window.
        let live = (0..20)
            .take_while(|_| b.try_take(Family::Statuses, Priority::Live, now).is_ok())
            .count();
        assert_eq!(taken + live, 10);
    }

    #[test]
    fn headers_correct_the_seed() {
        let now = t("2024-05-01T12:00:00Z");
        let mut b = Budget::seeded(&mastodon_seeds(), now);
        let h = RateHeaders {
            limit: Some(30),
            remaining: Some(0),
            reset_at: Some(t("2024-05-01T12:00:04Z")),
            retry_at: None,
        };
        b.observe(Family::Statuses, &h, now);
        assert_eq!(
            b.try_take(Family::Statuses, Priority::Live, now),
            Err(t("2024-05-01T12:00:04Z"))
        );
        // A read is not a status: only `requests` is asked.
        assert!(b.try_take(Family::Requests, Priority::Live, now).is_ok());
    }

    #[rstest]
    #[case::iso_whole_second("2024-05-01T12:00:13.000Z", "2024-05-01T12:00:14Z")]
    #[case::iso_in_a_second("2024-05-01T12:00:13.250Z", "2024-05-01T12:00:13.250Z")]
    #[case::epoch_seconds("1714564813", "2024-05-01T12:00:14Z")]
    #[case::delta("10", "2024-05-01T12:00:14Z")]
    fn an_announced_window_ends_where_the_server_says(
        #[case] reset: &'static str,
        #[case] end: &str,
    ) {
        // The guess is 300 / 5 min aligned (ends 12:05:00); the server's window started at
        // our first request, 12:00:03, and holds 3 calls until the reset it announces (a
        // whole second stands for the end of that second).
        let first = t("2024-05-01T12:00:03Z");
        let mut b = Budget::seeded(&mastodon_seeds(), first);
        assert!(!b.windows()[&Family::Requests].announced);
        assert!(b.try_take(Family::Requests, Priority::Live, first).is_ok());
        let mut map = HeaderMap::new();
        map.insert("x-ratelimit-limit", HeaderValue::from_static("3"));
        map.insert("x-ratelimit-remaining", HeaderValue::from_static("2"));
        map.insert("x-ratelimit-reset", HeaderValue::from_static(reset));
        b.observe(Family::Requests, &RateHeaders::parse(&map, first), first);
        assert!(b.windows()[&Family::Requests].announced);
        let end = t(end);
        assert_eq!(b.windows()[&Family::Requests].period, end - first);
        assert!(b.try_take(Family::Requests, Priority::Live, first).is_ok());
        assert!(b.try_take(Family::Requests, Priority::Live, first).is_ok());
        // Never past the announced reset, and not at a boundary of our own.
        assert_eq!(
            b.try_take(Family::Requests, Priority::Live, first),
            Err(end)
        );
        assert!(b.try_take(Family::Requests, Priority::Live, end).is_ok());
        // The next answer announces the next window, wherever it ends.
        let later = t("2024-05-01T12:00:20Z");
        let next = RateHeaders {
            limit: Some(3),
            remaining: Some(0),
            reset_at: Some(later),
            retry_at: None,
        };
        b.observe(Family::Requests, &next, end);
        assert_eq!(
            b.try_take(Family::Requests, Priority::Live, end),
            Err(later)
        );
    }

    /// `GoToSocial` announces `…T15:15:03.000Z` for a window that really ends later within
    /// that second: the budget waits to the end of the second, not to its start.
    #[test]
    fn a_reset_in_whole_seconds_is_waited_out_to_the_end_of_that_second() {
        let now = t("2024-05-01T15:10:03.400Z");
        let mut b = Budget::seeded(&[], now);
        let mut map = HeaderMap::new();
        map.insert("x-ratelimit-limit", HeaderValue::from_static("300"));
        map.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        map.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("2024-05-01T15:15:03.000Z"),
        );
        b.observe(Family::Requests, &RateHeaders::parse(&map, now), now);
        let announced = t("2024-05-01T15:15:03Z");
        assert_eq!(
            b.try_take(Family::Requests, Priority::Live, announced),
            Err(t("2024-05-01T15:15:04Z"))
        );
        let three_ms_after = t("2024-05-01T15:15:03.003Z");
        assert!(b
            .try_take(Family::Requests, Priority::Live, three_ms_after)
            .is_err());
        assert!(b
            .try_take(Family::Requests, Priority::Live, t("2024-05-01T15:15:04Z"))
            .is_ok());
    }

    /// An answer the server counted in a window that has ended since (its reset is past)
    /// says nothing about the window now running: a backfill that got such an answer does not
    /// wait a whole invented window for it.
    #[test]
    fn an_answer_from_an_ended_window_leaves_the_new_one_alone() {
        let start = t("2024-05-01T15:10:03.400Z");
        let mut b = Budget::seeded(&[], start);
        let announce = |remaining: u32, reset: DateTime<Utc>| RateHeaders {
            limit: Some(300),
            remaining: Some(remaining),
            reset_at: Some(reset),
            retry_at: None,
        };
        let reset = t("2024-05-01T15:15:03.400Z");
        b.observe(Family::Requests, &announce(150, reset), start);
        let backfill = Priority::Backfill { share: 0.5 };
        assert_eq!(b.try_take(Family::Requests, backfill, start), Err(reset));
        // At the reset a request goes out and is answered by the old window.
        assert!(b.try_take(Family::Requests, backfill, reset).is_ok());
        let after = reset + Duration::milliseconds(3);
        b.observe(Family::Requests, &announce(149, reset), after);
        assert!(b.try_take(Family::Requests, backfill, after).is_ok());
    }

    #[test]
    fn a_family_the_server_reports_on_is_not_also_held_to_the_requests_guess() {
        let now = t("2024-05-01T12:00:00Z");
        let mut b = Budget::seeded(
            &[Seed {
                family: Family::Requests,
                limit: 1,
                period: Duration::minutes(5),
            }],
            now,
        );
        assert!(b.try_take(Family::Statuses, Priority::Live, now).is_ok());
        assert!(b.try_take(Family::Statuses, Priority::Live, now).is_err());
        let h = RateHeaders {
            limit: Some(30),
            remaining: Some(29),
            reset_at: Some(t("2024-05-01T12:00:10Z")),
            retry_at: None,
        };
        b.observe(Family::Statuses, &h, now);
        assert!(b.try_take(Family::Statuses, Priority::Live, now).is_ok());
        assert!(b.try_take(Family::Requests, Priority::Live, now).is_err());
    }

    #[test]
    fn a_429_pauses_until_retry_after_then_reset_then_a_short_probe() {
        let now = t("2024-05-01T12:00:00Z");
        let mut b = Budget::seeded(&[], now);
        let with_retry = RateHeaders {
            retry_at: Some(t("2024-05-01T12:00:30Z")),
            reset_at: Some(t("2024-05-01T12:05:00Z")),
            ..RateHeaders::default()
        };
        assert_eq!(
            b.rate_limited(Family::Statuses, &with_retry, now),
            t("2024-05-01T12:00:30Z")
        );
        let reset_only = RateHeaders {
            reset_at: Some(t("2024-05-01T12:05:00Z")),
            ..RateHeaders::default()
        };
        assert_eq!(
            b.rate_limited(Family::Media, &reset_only, now),
            t("2024-05-01T12:05:00Z")
        );
        let first = b.rate_limited(Family::Deletes, &RateHeaders::default(), now);
        let second = b.rate_limited(Family::Deletes, &RateHeaders::default(), now);
        assert_eq!(first - now, Duration::seconds(5));
        assert_eq!(second - now, Duration::seconds(10));
        assert_eq!(
            b.try_take(Family::Statuses, Priority::Live, now),
            Err(t("2024-05-01T12:00:30Z"))
        );
        // Once the pause is over the server is asked again.
        assert!(b
            .try_take(Family::Statuses, Priority::Live, t("2024-05-01T12:00:30Z"))
            .is_ok());
    }

    /// What a real `GoToSocial` did: the window used up, a request at the announced reset
    /// refused with a 429 that names no time still to come (no `Retry-After`, the reset it
    /// repeats is the second just gone). The budget probes again within seconds instead of
    /// pausing for a minute and then idling for a whole window of its own.
    #[test]
    fn a_429_without_a_time_to_come_is_followed_by_a_short_probe_not_a_window() {
        let start = t("2024-05-01T15:10:03.400Z");
        let mut b = Budget::seeded(&[], start);
        let used_up = RateHeaders {
            limit: Some(300),
            remaining: Some(0),
            reset_at: Some(t("2024-05-01T15:15:03Z")),
            retry_at: None,
        };
        b.observe(Family::Requests, &used_up, start);
        let at = t("2024-05-01T15:15:03.003Z");
        assert!(b.try_take(Family::Requests, Priority::Live, at).is_ok());
        b.observe(Family::Requests, &used_up, at);
        let until = b.rate_limited(Family::Requests, &used_up, at);
        assert_eq!(until - at, Duration::seconds(5));
        assert_eq!(b.try_take(Family::Requests, Priority::Live, at), Err(until));
        assert!(b.try_take(Family::Requests, Priority::Live, until).is_ok());
    }

    #[test]
    fn a_503_pauses_everything() {
        let now = t("2024-05-01T12:00:00Z");
        let mut b = Budget::seeded(&mastodon_seeds(), now);
        b.pause_all(t("2024-05-01T12:00:20Z"));
        for f in Family::ALL {
            assert_eq!(
                b.try_take(f, Priority::Live, now),
                Err(t("2024-05-01T12:00:20Z"))
            );
        }
        assert!(b
            .try_take(Family::Statuses, Priority::Live, t("2024-05-01T12:00:20Z"))
            .is_ok());
    }

    #[rstest]
    #[case(&[("x-ratelimit-reset", "2024-05-01T12:05:00.000Z")], Some("2024-05-01T12:05:01Z"), None)]
    #[case(&[("x-ratelimit-reset", "2024-05-01T12:05:00.250Z")], Some("2024-05-01T12:05:00.250Z"), None)]
    #[case(&[("x-ratelimit-reset", "2024-05-01T12:05:00.123456+00:00")], Some("2024-05-01T12:05:00.123456Z"), None)]
    #[case(&[("x-ratelimit-reset", "1714565100")], Some("2024-05-01T12:05:01Z"), None)]
    #[case(&[("x-ratelimit-reset", "1714565100.5")], Some("2024-05-01T12:05:00.500Z"), None)]
    #[case(&[("x-ratelimit-reset", "30")], Some("2024-05-01T12:00:31Z"), None)]
    #[case(&[("x-ratelimit-reset", "soon")], None, None)]
    #[case(&[("retry-after", "15")], None, Some("2024-05-01T12:00:15Z"))]
    #[case(&[("retry-after", "Wed, 01 May 2024 12:01:00 GMT")], None, Some("2024-05-01T12:01:00Z"))]
    fn headers_are_read_leniently(
        #[case] pairs: &[(&'static str, &'static str)],
        #[case] reset: Option<&str>,
        #[case] retry: Option<&str>,
    ) {
        let now = t("2024-05-01T12:00:00Z");
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        let h = RateHeaders::parse(&map, now);
        assert_eq!(h.reset_at, reset.map(t));
        assert_eq!(h.retry_at, retry.map(t));
    }

    #[test]
    fn per_hour_follows_the_tightest_family() {
        let now = t("2024-05-01T12:00:00Z");
        let b = Budget::seeded(&mastodon_seeds(), now);
        // 300 statuses / 3 h = 100/h; requests allow 3600/h for one request per status.
        assert!((b.per_hour(Family::Statuses, 1, Priority::Live) - 100.0).abs() < 1e-9);
        let half = b.per_hour(Family::Statuses, 1, Priority::Backfill { share: 0.5 });
        assert!((half - 50.0).abs() < 1e-9);
    }
}
