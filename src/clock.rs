//! Time for the daemon and the live sources: "now" and "sleep until", behind a trait so tests
//! can drive schedules and rate-limit waits by hand instead of sleeping (STYLE.md §7).
//!
//! Schedules and the X API's rate-limit resets are wall-clock times, so the clock speaks
//! [`DateTime<Utc>`], not monotonic instants.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A boxed sleep, so the trait can be used as `dyn Clock`.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A source of the current time and of sleeps.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Completes once [`Clock::now`] has reached `when` (at once when it has already).
    fn sleep_until(&self, when: DateTime<Utc>) -> Sleep<'_>;
}

/// The clock the daemon shares between its tasks.
pub type SharedClock = Arc<dyn Clock>;

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The longest single sleep: after it the wall clock is read again, so a suspended machine
/// or a clock that was set does not leave the daemon sleeping towards a stale deadline.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, when: DateTime<Utc>) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                let Ok(left) = (when - Utc::now()).to_std() else {
                    return;
                };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(MAX_SLEEP)).await;
            }
        })
    }
}

/// A clock that moves only when told to: by [`ManualClock::advance`], or, when made with
/// [`ManualClock::auto`], by every sleep jumping straight to its end (as tokio's paused time
/// does). For tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
    auto: bool,
}

impl ManualClock {
    /// A clock standing at `start` until advanced.
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
            auto: false,
        })
    }

    /// A clock at `start` whose sleeps complete at once, moving the time to their end.
    pub fn auto(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
            auto: true,
        })
    }

    /// Moves the time forward by `by`, waking the sleeps that are due.
    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, when: DateTime<Utc>) -> Sleep<'_> {
        if self.auto {
            self.now.send_if_modified(|now| {
                let later = when > *now;
                if later {
                    *now = when;
                }
                later
            });
            return Box::pin(std::future::ready(()));
        }
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, which this future borrows.
            let _ = rx.wait_for(|now| *now >= when).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_advanced_past_them() {
        let clock = ManualClock::new(start());
        let woken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, w) = (Arc::clone(&clock), Arc::clone(&woken));
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
        let clock = ManualClock::auto(start());
        clock.sleep_until(start() + Duration::seconds(30)).await;
        assert_eq!(clock.now(), start() + Duration::seconds(30));
        clock.sleep_until(start()).await;
        assert_eq!(clock.now(), start() + Duration::seconds(30));
    }
}
