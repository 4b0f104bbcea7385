//! Parts that wait for their target (its server unreachable, its token refused) or for an
//! earlier post of their thread: why they wait, re-planning once the target's limits are
//! known, and the list `status` shows.
//!
//! A post found while its target cannot be reached is planned at once, so it is never lost:
//! with the target's limits cached in the ledger, as the parts those limits give; without
//! them, as a single placeholder part 0. Both are ordinary `planned` rows that were never
//! attempted, which is what makes re-planning safe: nothing of them was ever sent.

use chrono::{DateTime, Utc};
use rusqlite::{params, TransactionBehavior};

use super::{
    insert_first_row_on, insert_planned, optional_timestamp, query_parts, select_post, timestamp,
    Ledger, StoreError,
};
use super::{PartRecord, PartState};

/// Parts that wait for the same reason (see [`Ledger::waiting_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingGroup {
    /// The route.
    pub route: String,
    /// The target.
    pub target: String,
    /// `planned` (never tried, or waiting for the target), `posting` (interrupted) or
    /// `failed` (due again later).
    pub state: PartState,
    /// Why they wait; empty when nothing held them up yet.
    pub why: String,
    /// Posts concerned.
    pub posts: u64,
    /// Parts concerned.
    pub parts: u64,
    /// The earliest time one of them is due again, for failed parts.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Ledger {
    /// Like [`Ledger::plan_post`], but a plan none of whose parts was ever attempted (all
    /// `planned`, no attempt) is replaced when `part_count` differs: the post was planned
    /// with a placeholder or with limits the server no longer has. Any other plan is kept.
    pub fn replan_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        part_count: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PartRecord>, StoreError> {
        {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing = select_post(&tx, route, source_post_id, target)?;
            let untouched = existing
                .iter()
                .all(|r| r.state == PartState::Planned && r.attempts == 0);
            if existing.is_empty() || !untouched || existing.len() == part_count as usize {
                drop(tx);
                drop(conn);
                return self.plan_post(route, source_post_id, target, part_count, now);
            }
            tx.execute(
                "DELETE FROM parts WHERE route = ?1 AND source_post_id = ?2 AND target = ?3",
                params![route, source_post_id, target],
            )?;
            insert_planned(&tx, route, source_post_id, target, part_count, now)?;
            tx.commit()?;
        }
        tracing::debug!(
            route,
            source_post_id,
            target,
            parts = part_count,
            "re-planned a post that was never attempted"
        );
        self.parts_of_post(route, source_post_id, target)
    }

    /// Records the post as skipped on the target with `reason`, when nothing of it was
    /// attempted there: no row yet, or only a plan none of whose parts was tried (made while
    /// the target could not be reached). Returns whether it did; any other record is kept.
    pub fn skip_unattempted(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        // One transaction: a crash leaves either the plan or the skip, never neither.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = select_post(&tx, route, source_post_id, target)?;
        if !existing
            .iter()
            .all(|r| r.state == PartState::Planned && r.attempts == 0)
        {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM parts WHERE route = ?1 AND source_post_id = ?2 AND target = ?3",
            params![route, source_post_id, target],
        )?;
        insert_first_row_on(
            &tx,
            route,
            source_post_id,
            target,
            PartState::Skipped,
            reason,
            now,
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Records why the `planned` parts of a post wait (shown by `status`).
    pub fn note_waiting(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE parts SET last_error = ?4, updated_at = ?5 WHERE route = ?1 \
                 AND source_post_id = ?2 AND target = ?3 AND state = 'planned' \
                 AND last_error IS NOT ?4",
            )?
            .execute(params![route, source_post_id, target, why, timestamp(now)])?;
        Ok(())
    }

    /// Every part still to deliver (planned, interrupted, or failed and due again later),
    /// oldest first, at most `limit`.
    pub fn waiting_parts(&self, limit: u32) -> Result<Vec<PartRecord>, StoreError> {
        query_parts(
            &self.conn(),
            select_parts!(
                "WHERE state IN ('planned', 'posting', 'failed') \
                 ORDER BY route, target, source_post_id, part_index LIMIT ?1"
            ),
            [limit],
        )
    }

    /// Parts still to deliver, grouped by route, target and why they wait (the last error,
    /// or "due" for parts nothing has held up), with the number of posts and parts and
    /// the earliest time one of them is due again.
    pub fn waiting_summary(&self) -> Result<Vec<WaitingGroup>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT route, target, state, coalesce(last_error, ''), \
                 count(DISTINCT source_post_id), count(*), min(next_attempt_at) FROM parts \
                 WHERE state IN ('planned', 'posting', 'failed') \
                 GROUP BY route, target, state, last_error ORDER BY route, target, state",
            )?
            .query_and_then([], |row| {
                Ok(WaitingGroup {
                    route: row.get(0)?,
                    target: row.get(1)?,
                    state: row.get::<_, String>(2)?.parse()?,
                    why: row.get(3)?,
                    posts: row.get(4)?,
                    parts: row.get(5)?,
                    next_attempt_at: optional_timestamp(row, 6)?,
                })
            })?
            .collect()
    }

    /// How many parts are still to deliver on `route` (see [`Ledger::waiting_parts`]).
    pub fn waiting_count(&self, route: &str) -> Result<u64, StoreError> {
        Ok(self.conn().prepare_cached(
            "SELECT count(*) FROM parts WHERE route = ?1 AND state IN ('planned', 'posting', 'failed')",
        )?
        .query_row([route], |row| row.get(0))?)
    }
}
