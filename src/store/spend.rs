//! What each target's writes cost, per UTC day (X bills every post; `docs/x-target.md`,
//! "Prices"): the price of every part recorded as posted or adopted, added in the same
//! transaction as the part's new state, so the spend a daily cap is held to is what was
//! actually posted, and a restart does not reset it. Amounts are millionths of a dollar.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{Ledger, PartKey, StoreError};

/// One target's spend on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySpend {
    /// The target's name.
    pub target: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// What it cost, in millionths of a dollar.
    pub micros: u64,
    /// Parts (posts on the target) billed.
    pub parts: u64,
    /// Source posts whose first part was billed that day.
    pub posts: u64,
}

/// Adds a part's price to its target's spend of the UTC day of `now` (nothing for a free
/// part).
pub(super) fn add(
    tx: &Connection,
    key: &PartKey,
    micros: u64,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    if micros == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO target_spend (target, day, micros, parts, posts) VALUES (?1, ?2, ?3, 1, ?4) \
         ON CONFLICT (target, day) DO UPDATE SET micros = micros + excluded.micros, \
         parts = parts + 1, posts = posts + excluded.posts",
    )?
    .execute(params![
        key.target,
        day(now),
        i64::try_from(micros).unwrap_or(i64::MAX),
        i64::from(key.part_index == 0),
    ])?;
    Ok(())
}

/// How the table writes a day.
const DAY: &str = "%Y-%m-%d";

fn day(now: DateTime<Utc>) -> String {
    now.format(DAY).to_string()
}

impl DaySpend {
    /// A row's sums (never negative) as one target's spend of one day.
    fn from_row(target: String, day: NaiveDate, (micros, parts, posts): (i64, i64, i64)) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            target,
            day,
            micros: n(micros),
            parts: n(parts),
            posts: n(posts),
        }
    }
}

impl Ledger {
    /// [`Ledger::mark_posted`], with the part's price (millionths of a dollar) added to its
    /// target's spend of the day in the same transaction.
    pub fn mark_posted_spending(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        micros: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.settle_posted_and(key, remote_id, remote_url, micros, now, |_| Ok(()))?;
        Ok(())
    }

    /// Reconciliation found the part's status on the server (an attempt whose answer was
    /// lost): `posting` → `posted` with that status, without posting again, and the part's
    /// price added to its target's spend of the day (the target had it, so it was billed)
    /// in the same transaction.
    pub fn adopt_spending(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        micros: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.mark_posted_spending(key, remote_id, remote_url, micros, now)?;
        tracing::info!(part = %key, remote_id, "adopted a post found on the target");
        Ok(())
    }

    /// What `target` spent on `on` (zeros for a day without spending).
    pub fn spent_on(&self, target: &str, on: NaiveDate) -> Result<DaySpend, StoreError> {
        let row: Option<(i64, i64, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT micros, parts, posts FROM target_spend WHERE target = ?1 AND day = ?2",
            )?
            .query_row(params![target, on.format(DAY).to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        Ok(DaySpend::from_row(
            target.to_owned(),
            on,
            row.unwrap_or_default(),
        ))
    }

    /// Every target's spend per day from `since` on, by target, then day.
    pub fn spending(&self, since: NaiveDate) -> Result<Vec<DaySpend>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT target, day, micros, parts, posts FROM target_spend WHERE day >= ?1 \
                 ORDER BY target, day",
            )?
            .query_and_then([since.format(DAY).to_string()], |r| {
                let day: String = r.get(1)?;
                let day = NaiveDate::parse_from_str(&day, DAY)
                    .map_err(|source| StoreError::BadTimestamp { value: day, source })?;
                Ok(DaySpend::from_row(
                    r.get(0)?,
                    day,
                    (r.get(2)?, r.get(3)?, r.get(4)?),
                ))
            })?
            .collect()
    }
}
