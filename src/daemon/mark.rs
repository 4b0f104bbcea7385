//! The ledger's operator-change mark as the daemon last read it, shared by every source.
//!
//! Each cycle compares the mark with the one it saw before, to notice a person's `quarantine
//! retry` or `hold release` (made by another process). Read by every cycle, that was one
//! ledger call (a hop to the blocking pool and a query) per idle poll; a hundred sources on
//! the same schedule start their cycles within a few seconds of each other (the jitter), so
//! one read serves them all.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::store::{Ledger, StoreError};

/// How old a mark a cycle may use: a change is seen by a source's first cycle that starts at
/// least this long after it.
pub const OPERATOR_MARK_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// The mark and when it was read.
#[derive(Debug, Default)]
pub(super) struct OperatorMark(Mutex<Option<(DateTime<Utc>, i64)>>);

impl OperatorMark {
    /// The mark, read again from the ledger when the last read is [`OPERATOR_MARK_AGE`] old
    /// or older at `now` (or lies in the future: the clock went back).
    pub(super) async fn get(
        &self,
        ledger: &Arc<Ledger>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut cached = self.0.lock().await;
        if let Some((at, mark)) = *cached {
            if (now - at).to_std().is_ok_and(|age| age < OPERATOR_MARK_AGE) {
                return Ok(mark);
            }
        }
        let mark = ledger.call(Ledger::operator_change_mark).await?;
        *cached = Some((now, mark));
        Ok(mark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PartFilter, PartKey};

    /// A person retries post `id`'s quarantined part: the mark moves.
    fn operator_change(ledger: &Ledger, id: &str, now: DateTime<Utc>) -> i64 {
        let key = PartKey::new("r", id.to_owned(), "out", 0);
        ledger.plan_post("r", id, "out", 1, now).unwrap();
        ledger.begin_attempt(&key, now).unwrap();
        ledger.mark_failed(&key, "HTTP 422", now, 1, now).unwrap();
        let filter = PartFilter {
            source_post_id: Some(id.to_owned()),
            ..PartFilter::default()
        };
        assert_eq!(ledger.retry_quarantined(&filter, now).unwrap(), [key]);
        ledger.operator_change_mark().unwrap()
    }

    /// A change made after a read is seen once the read is [`OPERATOR_MARK_AGE`] old, not
    /// before; and at once when the clock went back.
    #[tokio::test]
    async fn one_read_serves_the_cycles_within_the_age() {
        let dir = tempfile::TempDir::new().unwrap();
        let ledger = Arc::new(Ledger::open(&dir.path().join("ledger.sqlite")).unwrap());
        let start = Utc::now();
        let age = chrono::Duration::from_std(OPERATOR_MARK_AGE).unwrap();
        let mark = OperatorMark::default();
        let before = mark.get(&ledger, start).await.unwrap();

        let first = operator_change(&ledger, "1", start);
        assert_ne!(first, before);
        let almost = start + age - chrono::Duration::milliseconds(1);
        assert_eq!(mark.get(&ledger, almost).await.unwrap(), before);
        assert_eq!(mark.get(&ledger, start + age).await.unwrap(), first);

        // Last read at `start + age`; the clock is set back to `start`.
        let second = operator_change(&ledger, "2", start);
        assert_ne!(second, first);
        assert_eq!(mark.get(&ledger, start).await.unwrap(), second);
    }
}
