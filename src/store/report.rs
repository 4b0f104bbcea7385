//! Read-only summaries of the ledger for `status` and the metrics endpoint: what still waits
//! (and since when), and when each route last delivered to each target.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{optional_timestamp, query_parts, Ledger, PartRecord, StoreError};

/// Delivery times of one route on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTimes {
    pub route: String,
    pub target: String,
    /// When the oldest part still waiting (planned, posting, failed; not quarantined) was
    /// planned: how far delivery lags behind planning.
    pub oldest_waiting_since: Option<DateTime<Utc>>,
    /// The latest delivery (a part reaching `posted`).
    pub last_posted_at: Option<DateTime<Utc>>,
}

impl Ledger {
    /// Parts not settled yet (planned, posting, failed, quarantined), of `route` or of
    /// every route, oldest change first, at most `limit`; and how many there are in all.
    pub fn unsettled_parts(
        &self,
        route: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<PartRecord>, u64), StoreError> {
        let conn = self.conn();
        let parts = query_parts(
            &conn,
            concat!(
                "SELECT route, source_post_id, target, part_index, state, idempotency_key, ",
                "remote_id, remote_url, attempts, last_error, next_attempt_at, reason, updated_at ",
                "FROM parts WHERE state IN ('planned', 'posting', 'failed', 'quarantined') ",
                "AND (?1 IS NULL OR route = ?1) ORDER BY updated_at, id LIMIT ?2"
            ),
            params![route, limit],
        )?;
        let total = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM parts \
                 WHERE state IN ('planned', 'posting', 'failed', 'quarantined') \
                 AND (?1 IS NULL OR route = ?1)",
            )?
            .query_row([route], |row| row.get(0))?;
        Ok((parts, total))
    }

    /// [`DeliveryTimes`] of every route and target in the ledger, by route then target.
    pub fn delivery_times(&self) -> Result<Vec<DeliveryTimes>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT route, target, \
                     MIN(CASE WHEN state IN ('planned', 'posting', 'failed') THEN created_at END), \
                     MAX(CASE WHEN state = 'posted' THEN updated_at END) \
                 FROM parts GROUP BY route, target ORDER BY route, target",
            )?
            .query_and_then([], |row| {
                Ok(DeliveryTimes {
                    route: row.get(0)?,
                    target: row.get(1)?,
                    oldest_waiting_since: optional_timestamp(row, 2)?,
                    last_posted_at: optional_timestamp(row, 3)?,
                })
            })?
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::t;
    use crate::store::PartKey;

    #[test]
    fn unsettled_parts_and_delivery_times_follow_the_states() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger.plan_post("r", "1", "a", 2, t(1)).unwrap();
        let k = PartKey::new("r", "1", "a", 0);
        ledger.begin_attempt(&k, t(2)).unwrap();
        ledger.mark_posted(&k, "x", None, t(3)).unwrap();
        ledger.plan_post("r", "2", "a", 1, t(4)).unwrap();
        ledger.plan_post("s", "3", "a", 1, t(5)).unwrap();
        ledger.mark_skipped("s", "4", "a", "reply", t(6)).unwrap();

        let (parts, total) = ledger.unsettled_parts(Some("r"), 1).unwrap();
        assert_eq!(total, 2);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].key, PartKey::new("r", "1", "a", 1));
        assert_eq!(ledger.unsettled_parts(None, 10).unwrap().1, 3);

        let times = ledger.delivery_times().unwrap();
        assert_eq!(times.len(), 2);
        assert_eq!(times[0].oldest_waiting_since, Some(t(1)));
        assert_eq!(times[0].last_posted_at, Some(t(3)));
        assert_eq!(times[1].oldest_waiting_since, Some(t(5)));
        assert_eq!(times[1].last_posted_at, None);
    }
}
