//! What the ledger keeps about sources besides parts and cursors: X user ids (resolving
//! a handle is a billed lookup, so it is done once), billable reads per source and UTC day
//! (for the cost estimate in `status`), and edit links (which earlier version's statuses a
//! new version of an edited post was written over).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{timestamp, Ledger, StoreError};

/// What an X API read was billed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadKind {
    /// A post returned by a timeline or lookup request.
    Post,
    /// A user returned by a username lookup.
    User,
    /// A post returned by a deletes check (`deletes = "follow"`): counted as a [`ReadKind::Post`]
    /// too, and apart, so `status` can say what the checks cost.
    DeletesCheck,
}

impl ReadKind {
    /// The name stored in the ledger; stable across releases.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadKind::Post => "post",
            ReadKind::User => "user",
            ReadKind::DeletesCheck => "check",
        }
    }
}

/// Billable reads of one source, all days together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCount {
    /// The source's name in the configuration.
    pub source: String,
    /// Posts read.
    pub posts: u64,
    /// Users looked up.
    pub users: u64,
    /// Posts read on the current UTC day.
    pub posts_today: u64,
}

impl Ledger {
    /// The X user id a handle resolved to, if it was resolved before. Handles are compared
    /// without regard to case, as X does.
    pub fn x_user_id(&self, username: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT user_id FROM x_users WHERE username = ?1")?
            .query_row([username.to_ascii_lowercase()], |row| row.get(0))
            .optional()?)
    }

    /// Remembers the X user id of a handle.
    pub fn set_x_user_id(
        &self,
        username: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO x_users (username, user_id, resolved_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (username) DO UPDATE \
                 SET user_id = excluded.user_id, resolved_at = excluded.resolved_at",
            )?
            .execute(params![
                username.to_ascii_lowercase(),
                user_id,
                timestamp(now)
            ])?;
        Ok(())
    }

    /// Adds `count` billable reads of `kind` to `source` on the UTC day of `now`.
    pub fn add_billable_reads(
        &self,
        source: &str,
        kind: ReadKind,
        count: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if count == 0 {
            return Ok(());
        }
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.conn()
            .prepare_cached(
                "INSERT INTO billable_reads (source, day, kind, count) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (source, day, kind) DO UPDATE SET count = count + excluded.count",
            )?
            .execute(params![
                source,
                now.format("%Y-%m-%d").to_string(),
                kind.as_str(),
                count
            ])?;
        Ok(())
    }

    /// Posts read by deletes checks per source (all days, and on the UTC day of `now`), by
    /// source name; sources without any are left out.
    pub fn deletes_check_reads(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT source, SUM(count), SUM(CASE WHEN day = ?1 THEN count ELSE 0 END) \
             FROM billable_reads WHERE kind = 'check' GROUP BY source ORDER BY source",
        )?;
        let rows = stmt
            .query_map([now.format("%Y-%m-%d").to_string()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Billable reads per source, by source name; `now` decides which day is "today".
    pub fn billable_reads(&self, now: DateTime<Utc>) -> Result<Vec<ReadCount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT source, \
                 SUM(CASE WHEN kind = 'post' THEN count ELSE 0 END), \
                 SUM(CASE WHEN kind = 'user' THEN count ELSE 0 END), \
                 SUM(CASE WHEN kind = 'post' AND day = ?1 THEN count ELSE 0 END) \
             FROM billable_reads GROUP BY source ORDER BY source",
        )?;
        let rows = stmt
            .query_map([now.format("%Y-%m-%d").to_string()], |row| {
                Ok(ReadCount {
                    source: row.get(0)?,
                    posts: row.get(1)?,
                    users: row.get(2)?,
                    posts_today: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Posts of `route` with parts still to deliver (planned, interrupted, or failed and
    /// waiting for a retry) or released from a hold by a person and not planned yet, for a
    /// restarted daemon to offer again.
    pub fn unfinished_posts(&self, route: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT source_post_id FROM parts \
             WHERE route = ?1 AND state IN ('planned', 'posting', 'failed') \
             AND NOT EXISTS (SELECT 1 FROM review_holds AS r WHERE r.route = parts.route \
                 AND r.source_post_id = parts.source_post_id AND r.target = parts.target) \
             UNION SELECT source_post_id FROM hold_releases AS h WHERE route = ?1 \
             AND NOT EXISTS (SELECT 1 FROM parts AS p WHERE p.route = h.route \
                 AND p.source_post_id = h.source_post_id AND p.target = h.target) \
             ORDER BY source_post_id",
        )?;
        let rows = stmt
            .query_map([route], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// Records that `source_post_id` (a new version of an edited post) was delivered to
    /// `target` by editing the statuses of `previous_post_id`. The first record wins.
    pub fn record_edit(
        &self,
        route: &str,
        target: &str,
        source_post_id: &str,
        previous_post_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO edits (route, target, source_post_id, previous_post_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                route,
                target,
                source_post_id,
                previous_post_id,
                timestamp(now)
            ])?;
        Ok(())
    }

    /// The earlier version whose statuses `source_post_id` was written over on `target`,
    /// if it was delivered as an edit.
    pub fn edited_version(
        &self,
        route: &str,
        target: &str,
        source_post_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT previous_post_id FROM edits \
                 WHERE route = ?1 AND target = ?2 AND source_post_id = ?3",
            )?
            .query_row([route, target, source_post_id], |row| row.get(0))
            .optional()?)
    }

    /// How many posts were delivered as edits, per route and target.
    pub fn edit_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT route, target, COUNT(*) FROM edits GROUP BY route, target ORDER BY route, target",
        )?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap()
    }

    #[test]
    fn user_ids_are_kept_per_handle_in_any_case() {
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(ledger.x_user_id("Wikipedia").unwrap(), None);
        ledger.set_x_user_id("Wikipedia", "11", at(1)).unwrap();
        assert_eq!(
            ledger.x_user_id("wikipedia").unwrap().as_deref(),
            Some("11")
        );
        ledger.set_x_user_id("WIKIPEDIA", "12", at(2)).unwrap();
        assert_eq!(
            ledger.x_user_id("Wikipedia").unwrap().as_deref(),
            Some("12")
        );
    }

    #[test]
    fn reads_add_up_per_source_and_day() {
        let ledger = Ledger::open_in_memory().unwrap();
        for (source, kind, count, day) in [
            ("a", ReadKind::Post, 5, 1),
            ("a", ReadKind::Post, 2, 2),
            ("a", ReadKind::User, 1, 1),
            ("b", ReadKind::Post, 0, 2),
            ("b", ReadKind::User, 1, 2),
        ] {
            ledger
                .add_billable_reads(source, kind, count, at(day))
                .unwrap();
        }
        let reads = ledger.billable_reads(at(2)).unwrap();
        assert_eq!(
            reads,
            [
                ReadCount {
                    source: "a".into(),
                    posts: 7,
                    users: 1,
                    posts_today: 2
                },
                ReadCount {
                    source: "b".into(),
                    posts: 0,
                    users: 1,
                    posts_today: 0
                },
            ]
        );
    }

    #[test]
    fn unfinished_posts_are_those_with_work_left() {
        use crate::store::PartKey;
        let ledger = Ledger::open_in_memory().unwrap();
        ledger.plan_post("r", "1", "t", 1, at(1)).unwrap();
        ledger.plan_post("r", "2", "t", 1, at(1)).unwrap();
        let key = PartKey::new("r", "2", "t", 0);
        ledger.begin_attempt(&key, at(1)).unwrap();
        ledger.mark_posted(&key, "s", None, at(1)).unwrap();
        ledger.mark_skipped("r", "3", "t", "policy", at(1)).unwrap();
        ledger.plan_post("other", "4", "t", 1, at(1)).unwrap();
        assert_eq!(ledger.unfinished_posts("r").unwrap(), ["1"]);
    }

    #[test]
    fn the_first_edit_link_wins() {
        let ledger = Ledger::open_in_memory().unwrap();
        ledger.record_edit("r", "t", "2", "1", at(1)).unwrap();
        ledger.record_edit("r", "t", "2", "0", at(2)).unwrap();
        assert_eq!(
            ledger.edited_version("r", "t", "2").unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(ledger.edited_version("r", "u", "2").unwrap(), None);
        assert_eq!(ledger.edit_counts().unwrap(), [("r".into(), "t".into(), 1)]);
    }
}
