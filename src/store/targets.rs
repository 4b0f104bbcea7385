//! What the ledger keeps about targets besides the parts (schema version 2): each
//! target's server profile with the time it was read, the media uploaded for a part, warnings
//! per part, and rate-limit budgets.
//!
//! The profile is stored as the text the target gives (its own JSON), so the ledger does not
//! need to know what a profile holds.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rusqlite::params;

use super::{
    optional_timestamp, parse_timestamp, timestamp, Ledger, PartKey, PartState, StoreError,
};
use crate::budget::{Family, Window};

/// A target's server profile as cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedProfile {
    /// The server URL it was read from (a changed URL means the cache is stale).
    pub url: String,
    /// The profile, as the target wrote it.
    pub profile: String,
    /// When it was read.
    pub fetched_at: DateTime<Utc>,
}

/// A saved rate-limit window of one target and family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBudget {
    /// The target.
    pub target: String,
    /// The family.
    pub family: Family,
    /// The window as last known.
    pub window: Window,
    /// When it was saved.
    pub updated_at: DateTime<Utc>,
}

/// How the warning about a part the server published without the reply it was sent as
/// starts: the engine writes it, `status` lists such parts, and a resumed thread does not
/// reply to them.
pub const NOT_A_REPLY: &str = "not a reply: ";

/// A part the server published on its own (or under another status) although it was sent
/// as a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAReply {
    /// The part.
    pub key: PartKey,
    /// Its status on the target.
    pub remote_id: Option<String>,
    /// The warning (what was asked, what the server answered).
    pub message: String,
}

impl Ledger {
    /// The `limit` most recent parts the server published without the reply they were sent
    /// as, newest first.
    pub fn not_replies(&self, limit: u32) -> Result<Vec<NotAReply>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT w.route, w.source_post_id, w.target, w.part_index, w.message, p.remote_id \
             FROM part_warnings w LEFT JOIN parts p ON p.route = w.route \
             AND p.source_post_id = w.source_post_id AND p.target = w.target \
             AND p.part_index = w.part_index \
             WHERE substr(w.message, 1, length(?1)) = ?1 ORDER BY w.id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![NOT_A_REPLY, limit], |row| {
                Ok(NotAReply {
                    key: PartKey::new(
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get(3)?,
                    ),
                    message: row.get(4)?,
                    remote_id: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The parts of a post on a target that the server published without the reply they
    /// were sent as.
    pub fn parts_not_replies(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT part_index FROM part_warnings WHERE route = ?1 AND source_post_id = ?2 \
             AND target = ?3 AND substr(message, 1, length(?4)) = ?4 ORDER BY part_index",
        )?;
        let rows = stmt
            .query_map(params![route, source_post_id, target, NOT_A_REPLY], |row| {
                row.get::<_, u32>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The cached profile of `target`, if any.
    pub fn cached_profile(&self, target: &str) -> Result<Option<CachedProfile>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT url, profile, fetched_at FROM target_profiles WHERE target = ?1",
            )?
            .query_and_then([target], |row| {
                Ok(CachedProfile {
                    url: row.get(0)?,
                    profile: row.get(1)?,
                    fetched_at: parse_timestamp(row.get(2)?)?,
                })
            })?
            .next()
            .transpose()
    }

    /// Replaces the cached profile of `target`.
    pub fn save_profile(
        &self,
        target: &str,
        url: &str,
        profile: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO target_profiles (target, url, profile, fetched_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (target) DO UPDATE SET \
                 url = excluded.url, profile = excluded.profile, fetched_at = excluded.fetched_at",
            )?
            .execute(params![target, url, profile, timestamp(now)])?;
        Ok(())
    }

    /// Media already uploaded for a part, as `(media index, remote media id)`, uploaded no
    /// earlier than `since` (servers delete unattached media after a while).
    pub fn uploaded_media(
        &self,
        key: &PartKey,
        since: DateTime<Utc>,
    ) -> Result<Vec<(u32, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT media_index, remote_media_id FROM part_media \
             WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 AND part_index = ?4 \
             AND uploaded_at >= ?5 ORDER BY media_index",
        )?;
        let rows = stmt
            .query_map(
                params![
                    key.route,
                    key.source_post_id,
                    key.target,
                    key.part_index,
                    timestamp(since)
                ],
                |row| Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records a media upload for a part, as soon as the server has answered, so a retry
    /// reuses it.
    pub fn record_uploaded_media(
        &self,
        key: &PartKey,
        media_index: u32,
        remote_media_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO part_media (route, source_post_id, target, part_index, media_index, \
                 remote_media_id, uploaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT DO UPDATE SET remote_media_id = excluded.remote_media_id, \
                 uploaded_at = excluded.uploaded_at",
            )?
            .execute(params![
                key.route,
                key.source_post_id,
                key.target,
                key.part_index,
                media_index,
                remote_media_id,
                timestamp(now)
            ])?;
        Ok(())
    }

    /// Records a warning about a part (once per distinct message).
    pub fn add_warning(
        &self,
        key: &PartKey,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO part_warnings (route, source_post_id, target, part_index, \
                 message, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key.route,
                key.source_post_id,
                key.target,
                key.part_index,
                message,
                timestamp(now)
            ])?;
        Ok(())
    }

    /// The warnings recorded about a part, oldest first.
    pub fn warnings(&self, key: &PartKey) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT message FROM part_warnings WHERE route = ?1 AND source_post_id = ?2 \
             AND target = ?3 AND part_index = ?4 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(
                params![key.route, key.source_post_id, key.target, key.part_index],
                |row| row.get::<_, String>(0),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Posts of a route already settled on a target (every part posted, skipped or
    /// quarantined), for estimates.
    pub fn settled_posts(&self, route: &str, target: &str) -> Result<u64, StoreError> {
        let n = self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT source_post_id FROM parts \
                 WHERE route = ?1 AND target = ?2 GROUP BY source_post_id \
                 HAVING SUM(state NOT IN ('posted', 'skipped', 'quarantined')) = 0)",
            )?
            .query_row([route, target], |row| row.get(0))?;
        Ok(n)
    }

    /// An attempt the server certainly did not act on (refused the credentials, asked to
    /// come back later, or the run was stopped before the call): `posting` → `failed`, due
    /// at `next_attempt_at`, without counting the attempt towards quarantine.
    pub fn mark_not_sent(
        &self,
        key: &PartKey,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change(
            key,
            &[PartState::Posting],
            PartState::Failed,
            |part| {
                part.state = PartState::Failed;
                part.attempts = part.attempts.saturating_sub(1);
                part.last_error = Some(error.to_owned());
                part.next_attempt_at = Some(next_attempt_at.trunc_subsecs(6));
            },
            now,
        )?;
        Ok(())
    }

    /// Saves a target's budget windows, replacing the previous ones.
    pub fn save_budgets<'w>(
        &self,
        target: &str,
        windows: impl IntoIterator<Item = (&'w Family, &'w Window)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO budgets (target, family, window_limit, remaining, reset_at, \
                 period_ms, paused_until, updated_at, announced) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (target, family) DO UPDATE SET window_limit = excluded.window_limit, \
                 remaining = excluded.remaining, reset_at = excluded.reset_at, \
                 period_ms = excluded.period_ms, paused_until = excluded.paused_until, \
                 updated_at = excluded.updated_at, announced = excluded.announced",
            )?;
            for (family, w) in windows {
                stmt.execute(params![
                    target,
                    family.as_str(),
                    w.limit,
                    w.remaining,
                    timestamp(w.reset_at),
                    w.period.num_milliseconds(),
                    w.paused_until.map(timestamp),
                    timestamp(now),
                    w.announced
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Saved budget windows, of one target or (with `None`) of all, by target and family.
    pub fn budgets(&self, target: Option<&str>) -> Result<Vec<SavedBudget>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT target, family, window_limit, remaining, reset_at, period_ms, paused_until, \
             updated_at, announced FROM budgets WHERE ?1 IS NULL OR target = ?1 \
             ORDER BY target, family",
        )?;
        let rows = stmt.query_and_then([target], |row| {
            // A family this binary does not know (a newer birdbridge) is left out.
            let Ok(family) = row.get::<_, String>(1)?.parse::<Family>() else {
                return Ok(None);
            };
            Ok(Some(SavedBudget {
                target: row.get(0)?,
                family,
                window: Window {
                    limit: row.get(2)?,
                    remaining: row.get(3)?,
                    reset_at: parse_timestamp(row.get(4)?)?,
                    period: Duration::milliseconds(row.get(5)?),
                    paused_until: optional_timestamp(row, 6)?,
                    announced: row.get(8)?,
                },
                updated_at: parse_timestamp(row.get(7)?)?,
            }))
        })?;
        rows.filter_map(Result::transpose).collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_714_564_800 + secs, 0).unwrap()
    }

    #[test]
    fn profiles_are_cached_and_replaced() {
        let ledger = Ledger::open_in_memory().unwrap();
        assert_eq!(ledger.cached_profile("m").unwrap(), None);
        ledger.save_profile("m", "https://a", "{}", t(0)).unwrap();
        ledger
            .save_profile("m", "https://b", "{\"x\":1}", t(5))
            .unwrap();
        let got = ledger.cached_profile("m").unwrap().unwrap();
        assert_eq!(
            (got.url.as_str(), got.profile.as_str()),
            ("https://b", "{\"x\":1}")
        );
        assert_eq!(got.fetched_at, t(5));
    }

    #[test]
    fn uploaded_media_are_found_while_young() {
        let ledger = Ledger::open_in_memory().unwrap();
        let key = PartKey::new("r", "1", "m", 0);
        ledger.record_uploaded_media(&key, 1, "m-2", t(10)).unwrap();
        ledger.record_uploaded_media(&key, 0, "m-1", t(20)).unwrap();
        assert_eq!(
            ledger.uploaded_media(&key, t(0)).unwrap(),
            [(0, "m-1".to_owned()), (1, "m-2".to_owned())]
        );
        assert_eq!(ledger.uploaded_media(&key, t(15)).unwrap().len(), 1);
        let other = PartKey::new("r", "1", "m", 1);
        assert!(ledger.uploaded_media(&other, t(0)).unwrap().is_empty());
    }

    #[test]
    fn warnings_are_kept_once_each() {
        let ledger = Ledger::open_in_memory().unwrap();
        let key = PartKey::new("r", "1", "m", 0);
        ledger.add_warning(&key, "too big", t(0)).unwrap();
        ledger.add_warning(&key, "too big", t(1)).unwrap();
        ledger.add_warning(&key, "no alt", t(2)).unwrap();
        assert_eq!(ledger.warnings(&key).unwrap(), ["too big", "no alt"]);
    }

    #[test]
    fn parts_published_without_their_reply_are_found_by_their_warning() {
        let ledger = Ledger::open_in_memory().unwrap();
        let parts = ledger.plan_post("r", "1", "m", 3, t(0)).unwrap();
        ledger.begin_attempt(&parts[1].key, t(1)).unwrap();
        ledger
            .mark_posted(&parts[1].key, "s-2", None, t(2))
            .unwrap();
        let message = format!("{NOT_A_REPLY}asked to reply to s-1, published on its own");
        ledger.add_warning(&parts[1].key, &message, t(2)).unwrap();
        ledger
            .add_warning(&parts[2].key, "no alt text", t(2))
            .unwrap();
        assert_eq!(ledger.parts_not_replies("r", "1", "m").unwrap(), [1]);
        assert!(ledger.parts_not_replies("r", "2", "m").unwrap().is_empty());
        let found = ledger.not_replies(10).unwrap();
        assert_eq!(
            found,
            [NotAReply {
                key: parts[1].key.clone(),
                remote_id: Some("s-2".into()),
                message,
            }]
        );
    }

    #[test]
    fn a_refused_attempt_does_not_count() {
        let ledger = Ledger::open_in_memory().unwrap();
        let parts = ledger.plan_post("r", "1", "m", 1, t(0)).unwrap();
        let key = &parts[0].key;
        ledger.begin_attempt(key, t(1)).unwrap();
        ledger
            .mark_not_sent(key, "token expired", t(9), t(2))
            .unwrap();
        let part = ledger.part(key).unwrap().unwrap();
        assert_eq!(
            (part.state, part.attempts, part.next_attempt_at),
            (PartState::Failed, 0, Some(t(9)))
        );
        assert!(ledger.mark_not_sent(key, "again", t(9), t(3)).is_err());
    }

    #[test]
    fn settled_posts_count_only_finished_ones() {
        let ledger = Ledger::open_in_memory().unwrap();
        let a = ledger.plan_post("r", "a", "m", 2, t(0)).unwrap();
        ledger.plan_post("r", "b", "m", 1, t(0)).unwrap();
        ledger.mark_skipped("r", "c", "m", "repost", t(0)).unwrap();
        for p in &a {
            ledger.begin_attempt(&p.key, t(1)).unwrap();
            ledger.mark_posted(&p.key, "1", None, t(2)).unwrap();
        }
        assert_eq!(ledger.settled_posts("r", "m").unwrap(), 2);
        assert_eq!(ledger.settled_posts("r", "other").unwrap(), 0);
    }

    #[test]
    fn budgets_round_trip() {
        let ledger = Ledger::open_in_memory().unwrap();
        let w = Window {
            limit: 30,
            remaining: 3,
            reset_at: t(600),
            period: Duration::minutes(30),
            paused_until: Some(t(60)),
            announced: true,
        };
        let windows = [(Family::Media, w.clone())];
        ledger
            .save_budgets("m", windows.iter().map(|(f, w)| (f, w)), t(1))
            .unwrap();
        let saved = ledger.budgets(Some("m")).unwrap();
        assert_eq!(saved.len(), 1);
        assert_eq!((saved[0].family, &saved[0].window), (Family::Media, &w));
        assert!(ledger.budgets(Some("n")).unwrap().is_empty());
        assert_eq!(ledger.budgets(None).unwrap().len(), 1);
    }
}
