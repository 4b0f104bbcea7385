//! The one clock of the program: "now" and "sleep until", for schedules, rate-limit windows,
//! backoff and ledger times, plus the one jitter function. Tests drive a [`ManualClock`]
//! instead of sleeping (ARCHITECTURE.md "Time").
//!
//! Schedules and the servers' rate-limit resets are wall-clock times, so the clock speaks
//! [`DateTime<Utc>`], not monotonic instants.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

/// Where time comes from: the system, or a clock a test moves. Cheap to clone; every part
/// of a run (daemon, sources, targets, budgets) shares one.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Real time; sleeps really wait.
    #[default]
    System,
    /// Test time (see [`ManualClock`]).
    Manual(Arc<ManualClock>),
}

/// The longest single real sleep: after it the wall clock is read again, so a suspended
/// machine or a clock that was set does not leave the daemon sleeping towards a stale
/// deadline.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

impl Clock {
    /// A manual clock at `start` whose sleeps complete at once, moving the time to their end
    /// (as tokio's paused time does), and a handle to it.
    pub fn manual(start: DateTime<Utc>) -> (Self, Arc<ManualClock>) {
        let clock = ManualClock::auto(start);
        (Clock::Manual(Arc::clone(&clock)), clock)
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(m) => m.now(),
        }
    }

    /// Completes once [`Clock::now`] has reached `when` (at once when it has already).
    pub async fn sleep_until(&self, when: DateTime<Utc>) {
        match self {
            Clock::System => loop {
                let Ok(left) = (when - Utc::now()).to_std() else {
                    return;
                };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(MAX_SLEEP)).await;
            },
            Clock::Manual(m) => m.sleep_until(when).await,
        }
    }

    /// Waits for `duration`.
    pub async fn sleep(&self, duration: Duration) {
        let until = self.now() + duration;
        self.sleep_until(until).await;
    }
}

impl From<Arc<ManualClock>> for Clock {
    fn from(clock: Arc<ManualClock>) -> Self {
        Clock::Manual(clock)
    }
}

/// A clock that moves only when told to: by [`ManualClock::advance`], or, when made with
/// [`ManualClock::auto`], by every sleep jumping straight to its end. For tests and
/// simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
    auto: bool,
    /// Time moved forward so far (by sleeps and advances).
    slept: Mutex<Duration>,
}

impl ManualClock {
    /// A clock standing at `start` until advanced; sleepers wait for [`ManualClock::advance`].
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
            auto: false,
            slept: Mutex::new(Duration::zero()),
        })
    }

    /// A clock at `start` whose sleeps complete at once, moving the time to their end.
    pub fn auto(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
            auto: true,
            slept: Mutex::new(Duration::zero()),
        })
    }

    /// The clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    /// Moves the time forward by `by`, waking the sleeps that are due.
    pub fn advance(&self, by: Duration) {
        if by <= Duration::zero() {
            return;
        }
        self.now.send_modify(|now| *now += by);
        *self.slept.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// The time moved forward so far (by sleeps and by [`ManualClock::advance`]).
    pub fn slept(&self) -> Duration {
        *self.slept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep_until(&self, when: DateTime<Utc>) {
        if self.auto {
            self.advance(when - self.now());
            // Let the other tasks see the new time, as a real sleep would.
            tokio::task::yield_now().await;
            return;
        }
        let mut rx = self.now.subscribe();
        // The sender lives as long as `self`, which this future borrows.
        let _ = rx.wait_for(|now| *now >= when).await;
    }
}

/// A random duration in `[0, max)`: the one jitter of the program, so retries, reconnects
/// and schedules of many parts, sources and birdbridge instances do not arrive together.
pub fn jitter(max: Duration) -> Duration {
    let max_ms = max.num_milliseconds();
    if max_ms <= 0 {
        return Duration::zero();
    }
    Duration::milliseconds(fastrand::i64(0..max_ms))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_advanced_past_them() {
        let clock = ManualClock::new(start());
        let woken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, w) = (Clock::from(Arc::clone(&clock)), Arc::clone(&woken));
        let sleeper = tokio::spawn(async move {
            c.sleep_until(start() + Duration::seconds(10)).await;
            w.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        tokio::task::yield_now().await;
        clock.advance(Duration::seconds(9));
        tokio::task::yield_now().await;
        assert!(!woken.load(std::sync::atomic::Ordering::SeqCst));
        clock.advance(Duration::seconds(1));
        sleeper.await.unwrap();
        assert!(woken.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_auto_clock_jumps_to_the_end_of_each_sleep_and_never_back() {
        let (clock, handle) = Clock::manual(start());
        clock.sleep_until(start() + Duration::seconds(30)).await;
        assert_eq!(clock.now(), start() + Duration::seconds(30));
        clock.sleep_until(start()).await;
        assert_eq!(clock.now(), start() + Duration::seconds(30));
        assert_eq!(handle.slept(), Duration::seconds(30));
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..200 {
            let j = jitter(Duration::seconds(2));
            assert!(j >= Duration::zero() && j < Duration::seconds(2), "{j}");
        }
        assert_eq!(jitter(Duration::zero()), Duration::zero());
    }
}
