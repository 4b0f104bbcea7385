//! What a person changes by hand through the operator commands (`quarantine retry|drop`,
//! `hold release`), and the audit trail of those changes.
//!
//! Each command is one `BEGIN IMMEDIATE` transaction that selects the rows it may change,
//! checks their state inside the transaction, changes them and writes one `operator_audit`
//! row per part (or held post) changed; so a daemon moving the same part at the same time
//! either runs before (and the command sees its result) or after (and sees the command's).
//! Audit rows never hold a secret: only names, ids, states and the operator's note.

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    parse_timestamp, query_parts, timestamp, Ledger, PartKey, PartRecord, StoreError, HELD_PREFIX,
};

/// Which parts an operator command applies to; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartFilter {
    pub route: Option<String>,
    pub target: Option<String>,
    pub source_post_id: Option<String>,
}

impl PartFilter {
    /// The filter's values as the `?1`..`?3` parameters of [`PartFilter::SQL`].
    fn params(&self) -> [Option<&str>; 3] {
        [
            self.route.as_deref(),
            self.target.as_deref(),
            self.source_post_id.as_deref(),
        ]
    }

    /// The `WHERE` conditions matching [`PartFilter::params`].
    const SQL: &'static str =
        "(?1 IS NULL OR route = ?1) AND (?2 IS NULL OR target = ?2) AND (?3 IS NULL OR source_post_id = ?3)";
}

/// One change a person made, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The command, e.g. `quarantine retry`.
    pub command: String,
    pub route: String,
    pub target: String,
    pub source_post_id: String,
    /// The part changed; `None` when the command acts on a whole post (a hold).
    pub part_index: Option<u32>,
    /// What changed, e.g. `quarantined → planned`.
    pub change: String,
    /// The operator's reason, when the command takes one.
    pub note: Option<String>,
}

/// The `WHERE` clause of a quarantined part that a person must decide on (not a hold).
const QUARANTINED_NOT_HELD: &str = "state = 'quarantined' \
     AND NOT (attempts = 0 AND last_error IS NULL AND substr(reason, 1, length(?4)) = ?4)";

/// The `WHERE` clause of a held row (see [`Ledger::mark_held`]).
const HELD: &str = "state = 'quarantined' \
     AND attempts = 0 AND last_error IS NULL AND substr(reason, 1, length(?4)) = ?4";

impl Ledger {
    /// Quarantined parts matching `filter` (holds excluded: see [`Ledger::held`]), longest
    /// quarantined first.
    pub fn quarantined_matching(&self, filter: &PartFilter) -> Result<Vec<PartRecord>, StoreError> {
        select(&self.conn(), QUARANTINED_NOT_HELD, filter)
    }

    /// Posts held back for a person (see [`Ledger::mark_held`]) matching `filter`, oldest
    /// first.
    pub fn held(&self, filter: &PartFilter) -> Result<Vec<PartRecord>, StoreError> {
        select(&self.conn(), HELD, filter)
    }

    /// `quarantine retry`: every quarantined part matching `filter` goes back to `planned`
    /// with its attempts reset (its last error is kept), so the next run or cycle that
    /// reaches its post delivers it. Returns the parts moved.
    pub fn retry_quarantined(
        &self,
        filter: &PartFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<PartKey>, StoreError> {
        let now = timestamp(now.trunc_subsecs(6));
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let parts = select(&tx, QUARANTINED_NOT_HELD, filter)?;
        for part in &parts {
            let k = &part.key;
            let changed = tx
                .prepare_cached(
                    "UPDATE parts SET state = 'planned', attempts = 0, next_attempt_at = NULL, \
                     updated_at = ?5 WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 \
                     AND part_index = ?4 AND state = 'quarantined'",
                )?
                .execute(params![
                    k.route,
                    k.source_post_id,
                    k.target,
                    k.part_index,
                    now
                ])?;
            debug_assert_eq!(changed, 1);
            audit(
                &tx,
                &now,
                "quarantine retry",
                k,
                Some(k.part_index),
                "quarantined → planned",
                None,
            )?;
        }
        tx.commit()?;
        Ok(parts.into_iter().map(|p| p.key).collect())
    }

    /// `quarantine drop`: gives up the posts with a quarantined part matching `filter`, on
    /// that target. Every part of such a post still waiting (quarantined, planned behind it
    /// in the thread, or failed) becomes `skipped` with the reason
    /// `dropped by an operator: NOTE`, so nothing retries it and the ledger keeps why. Posted
    /// parts stay posted; a part in `posting` (a delivery may be in flight) is left alone.
    /// Returns the parts moved.
    pub fn drop_quarantined(
        &self,
        filter: &PartFilter,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<PartKey>, StoreError> {
        let now = timestamp(now.trunc_subsecs(6));
        let reason = format!("dropped by an operator: {note}");
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut posts: Vec<(String, String, String)> = select(&tx, QUARANTINED_NOT_HELD, filter)?
            .into_iter()
            .map(|p| (p.key.route, p.key.source_post_id, p.key.target))
            .collect();
        posts.dedup();
        let mut moved = Vec::new();
        for (route, post, target) in posts {
            let waiting = query_parts(
                &tx,
                select_parts!(
                    "WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 \
                     AND state IN ('quarantined', 'planned', 'failed') ORDER BY part_index"
                ),
                params![route, post, target],
            )?;
            for part in waiting {
                let from = part.state.as_str();
                skip_unsent(&tx, &part.key, from, &reason, &now, "quarantine drop", note)?;
                moved.push(part.key);
            }
        }
        tx.commit()?;
        Ok(moved)
    }

    /// `hold release`: releases one held post on the targets matching `target` (all of the
    /// route's when `None`) without changing the route's policy. The held row is removed and
    /// the release recorded, so the next run that reads the post mirrors it although the
    /// policy would hold it (see [`Ledger::hold_released`]). Returns the held rows removed.
    pub fn release_hold(
        &self,
        route: &str,
        source_post_id: &str,
        target: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PartRecord>, StoreError> {
        let now = timestamp(now.trunc_subsecs(6));
        let filter = PartFilter {
            route: Some(route.to_owned()),
            target: target.map(str::to_owned),
            source_post_id: Some(source_post_id.to_owned()),
        };
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = select(&tx, HELD, &filter)?;
        for row in &held {
            let k = &row.key;
            let reason = row.reason.as_deref().unwrap_or_default();
            tx.prepare_cached(
                "DELETE FROM parts WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 \
                 AND part_index = ?4 AND state = 'quarantined'",
            )?
            .execute(params![k.route, k.source_post_id, k.target, k.part_index])?;
            tx.prepare_cached(
                "INSERT INTO hold_releases (route, source_post_id, target, reason, released_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE \
                 SET reason = excluded.reason, released_at = excluded.released_at",
            )?
            .execute(params![k.route, k.source_post_id, k.target, reason, now])?;
            audit(
                &tx,
                &now,
                "hold release",
                k,
                None,
                "held → released (mirrored by the next run despite the policy)",
                Some(reason),
            )?;
        }
        tx.commit()?;
        Ok(held)
    }

    /// Whether a person released this post from a hold on this target (`hold release`): the
    /// delivery engine then mirrors it although the policy holds it.
    pub fn hold_released(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM hold_releases \
                 WHERE route = ?1 AND source_post_id = ?2 AND target = ?3",
            )?
            .query_row([route, source_post_id, target], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// A number that grows with every operator change (the latest audit row's id; 0 before
    /// any): the daemon compares it between cycles to notice `quarantine retry` and `hold
    /// release`, whose parts it then reads again.
    pub fn operator_change_mark(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM operator_audit")?
            .query_row([], |row| row.get(0))?)
    }

    /// The `limit` latest operator changes, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT at, command, route, target, source_post_id, part_index, change, note \
                 FROM operator_audit ORDER BY id DESC LIMIT ?1",
            )?
            .query_and_then([limit], |row| {
                Ok(AuditEntry {
                    at: parse_timestamp(row.get(0)?)?,
                    command: row.get(1)?,
                    route: row.get(2)?,
                    target: row.get(3)?,
                    source_post_id: row.get(4)?,
                    part_index: row.get(5)?,
                    change: row.get(6)?,
                    note: row.get(7)?,
                })
            })?
            .collect()
    }
}

/// Parts matching `filter` and the state condition `condition` (which may use `?4`, the
/// held prefix), oldest change first.
fn select(
    conn: &Connection,
    condition: &str,
    filter: &PartFilter,
) -> Result<Vec<PartRecord>, StoreError> {
    let [route, target, post] = filter.params();
    query_parts(
        conn,
        &format!(
            select_parts!("WHERE {} AND {} ORDER BY route, target, source_post_id, part_index"),
            condition,
            PartFilter::SQL
        ),
        params![route, target, post, HELD_PREFIX],
    )
}

/// Skips a part that was never sent (`from` is its state) for `reason`, with its audit
/// row, inside the caller's transaction.
pub(super) fn skip_unsent(
    tx: &Connection,
    key: &PartKey,
    from: &str,
    reason: &str,
    now: &str,
    command: &str,
    note: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE parts SET state = 'skipped', reason = ?5, next_attempt_at = NULL, \
         updated_at = ?6 WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 \
         AND part_index = ?4",
    )?
    .execute(params![
        key.route,
        key.source_post_id,
        key.target,
        key.part_index,
        reason,
        now
    ])?;
    let change = format!("{from} → skipped");
    audit(
        tx,
        now,
        command,
        key,
        Some(key.part_index),
        &change,
        Some(note),
    )
}

/// Writes one audit row inside the caller's transaction.
pub(super) fn audit(
    tx: &Connection,
    now: &str,
    command: &str,
    key: &PartKey,
    part_index: Option<u32>,
    change: &str,
    note: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO operator_audit \
         (at, command, route, target, source_post_id, part_index, change, note) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        now,
        command,
        key.route,
        key.target,
        key.source_post_id,
        part_index,
        change,
        note
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::t;
    use crate::store::PartState;

    /// A post of `parts` parts whose part `bad` is quarantined after one attempt.
    fn quarantine(ledger: &Ledger, route: &str, post: &str, target: &str, parts: u32, bad: u32) {
        ledger.plan_post(route, post, target, parts, t(0)).unwrap();
        for i in 0..bad {
            let k = PartKey::new(route, post, target, i);
            ledger.begin_attempt(&k, t(1)).unwrap();
            ledger
                .mark_posted(&k, &format!("r{i}"), None, t(1))
                .unwrap();
        }
        let k = PartKey::new(route, post, target, bad);
        ledger.begin_attempt(&k, t(2)).unwrap();
        ledger.mark_failed(&k, "HTTP 422", t(3), 1, t(2)).unwrap();
    }

    fn states(ledger: &Ledger, route: &str, post: &str, target: &str) -> Vec<PartState> {
        ledger
            .parts_of_post(route, post, target)
            .unwrap()
            .iter()
            .map(|p| p.state)
            .collect()
    }

    #[test]
    fn retry_moves_only_the_matching_quarantined_parts_and_audits_each() {
        let ledger = Ledger::open_in_memory().unwrap();
        quarantine(&ledger, "r", "1", "a", 1, 0);
        quarantine(&ledger, "r", "2", "a", 1, 0);
        quarantine(&ledger, "other", "3", "a", 1, 0);
        ledger
            .mark_held("r", "4", "a", "held: photo without alt", t(0))
            .unwrap();
        let filter = PartFilter {
            route: Some("r".into()),
            ..PartFilter::default()
        };
        let moved = ledger.retry_quarantined(&filter, t(9)).unwrap();
        assert_eq!(
            moved,
            vec![
                PartKey::new("r", "1", "a", 0),
                PartKey::new("r", "2", "a", 0)
            ]
        );
        let part = ledger
            .part(&PartKey::new("r", "1", "a", 0))
            .unwrap()
            .unwrap();
        assert_eq!((part.state, part.attempts), (PartState::Planned, 0));
        assert_eq!(part.last_error.as_deref(), Some("HTTP 422"));
        assert_eq!(states(&ledger, "other", "3", "a"), [PartState::Quarantined]);
        assert_eq!(ledger.held(&PartFilter::default()).unwrap().len(), 1);
        let log = ledger.audit_log(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].source_post_id, "2");
        assert_eq!(log[0].change, "quarantined → planned");
        assert_eq!(log[0].at, t(9));
        // Nothing left to retry: no change, no audit row.
        assert!(ledger.retry_quarantined(&filter, t(10)).unwrap().is_empty());
        assert_eq!(ledger.audit_log(10).unwrap().len(), 2);
    }

    #[test]
    fn drop_gives_up_the_rest_of_the_thread_and_keeps_posted_parts() {
        let ledger = Ledger::open_in_memory().unwrap();
        quarantine(&ledger, "r", "1", "a", 3, 1);
        quarantine(&ledger, "r", "1", "b", 1, 0);
        let filter = PartFilter {
            target: Some("a".into()),
            source_post_id: Some("1".into()),
            ..PartFilter::default()
        };
        let moved = ledger.drop_quarantined(&filter, "rejected", t(9)).unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(
            states(&ledger, "r", "1", "a"),
            [PartState::Posted, PartState::Skipped, PartState::Skipped]
        );
        assert_eq!(states(&ledger, "r", "1", "b"), [PartState::Quarantined]);
        let part = ledger
            .part(&PartKey::new("r", "1", "a", 2))
            .unwrap()
            .unwrap();
        assert_eq!(
            part.reason.as_deref(),
            Some("dropped by an operator: rejected")
        );
        let log = ledger.audit_log(10).unwrap();
        let changes: Vec<&str> = log.iter().map(|e| e.change.as_str()).collect();
        assert_eq!(changes, ["planned → skipped", "quarantined → skipped"]);
        assert_eq!(log[0].note.as_deref(), Some("rejected"));
    }

    #[test]
    fn release_removes_the_hold_and_records_the_release() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .mark_held("r", "4", "a", "held: photo without alt", t(0))
            .unwrap();
        ledger
            .mark_held("r", "4", "b", "held: photo without alt", t(0))
            .unwrap();
        quarantine(&ledger, "r", "4", "c", 1, 0);
        let released = ledger.release_hold("r", "4", Some("a"), t(5)).unwrap();
        assert_eq!(released.len(), 1);
        assert!(ledger.parts_of_post("r", "4", "a").unwrap().is_empty());
        assert!(ledger.hold_released("r", "4", "a").unwrap());
        assert!(!ledger.hold_released("r", "4", "b").unwrap());
        assert_eq!(states(&ledger, "r", "4", "b"), [PartState::Quarantined]);
        // A quarantined (attempted) part is not a hold and is not released.
        assert!(ledger
            .release_hold("r", "4", Some("c"), t(6))
            .unwrap()
            .is_empty());
        let log = ledger.audit_log(10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].command.as_str(), log[0].part_index),
            ("hold release", None)
        );
        assert_eq!(log[0].note.as_deref(), Some("held: photo without alt"));
    }

    #[test]
    fn a_released_post_is_offered_again_until_it_is_planned() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger
            .mark_held("r", "4", "a", "held: photo without alt", t(0))
            .unwrap();
        assert!(ledger.unfinished_posts("r").unwrap().is_empty());
        ledger.release_hold("r", "4", None, t(1)).unwrap();
        // A restarted daemon reads it again from the source...
        assert_eq!(ledger.unfinished_posts("r").unwrap(), ["4"]);
        // ...and once it is delivered, it is not offered again.
        ledger.plan_post("r", "4", "a", 1, t(2)).unwrap();
        let k = PartKey::new("r", "4", "a", 0);
        ledger.begin_attempt(&k, t(3)).unwrap();
        ledger.mark_posted(&k, "x", None, t(3)).unwrap();
        assert!(ledger.unfinished_posts("r").unwrap().is_empty());
    }
}
