//! The one growing wait: every retry, reconnect and pause that waits longer each time in a
//! row (a part's next attempt, a target's reconnect, a call's retry, a media-processing
//! poll, a 429 that names no time) doubles from a first wait up to a cap. Where many
//! clients may fail together (parts, targets, calls), the wait gets up to a quarter more
//! at random ([`Backoff::jittered`]), so they do not come back together.

use chrono::Duration;

use crate::clock::jitter;

/// A wait that doubles with every step, from `first` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
}

impl Backoff {
    /// Starts at `first`, never longer than `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Self { first, cap }
    }

    /// The wait at step `n` (from 0): `first × 2ⁿ`, at most the cap.
    pub fn nth(self, n: u32) -> Duration {
        let ms = self
            .first
            .num_milliseconds()
            .saturating_mul(2i64.saturating_pow(n));
        Duration::milliseconds(ms).min(self.cap)
    }

    /// [`Backoff::nth`] plus a random part of up to a quarter of it.
    pub fn jittered(self, n: u32) -> Duration {
        let wait = self.nth(n);
        wait + jitter(wait / 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_doubles_from_the_first_wait_up_to_the_cap() {
        let b = Backoff::new(Duration::seconds(30), Duration::minutes(30));
        let waits: Vec<i64> = (0..8).map(|n| b.nth(n).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1800, 1800]);
        assert_eq!(b.nth(u32::MAX), Duration::minutes(30));
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let b = Backoff::new(Duration::seconds(8), Duration::minutes(1));
        for _ in 0..100 {
            let w = b.jittered(1);
            assert!(
                w >= Duration::seconds(16) && w < Duration::seconds(20),
                "{w}"
            );
        }
    }
}
