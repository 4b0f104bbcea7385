//! The review queue as people read it: a page of held posts with the counts its filters
//! offer, a post with its holds and media, the next one, the audit trail and the numbers
//! `status` and the metrics show.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::super::{kept, parse_timestamp, timestamp, Ledger, StoreError};
use super::{select_holds, HeldMedia, ReviewHold};
use crate::model::Post;

/// Which held posts the queue shows; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub route: Option<String>,
    pub target: Option<String>,
    /// A hold's `rule`.
    pub rule: Option<String>,
}

/// One post in the queue.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub route: String,
    pub source_post_id: String,
    pub posted_at: DateTime<Utc>,
    pub held_at: DateTime<Utc>,
    /// The targets it is held for.
    pub targets: Vec<String>,
    /// The rules that held it.
    pub rules: Vec<String>,
    /// The post's text (from its kept copy).
    pub text: String,
    /// How many media items it has.
    pub media: usize,
}

/// Where a page of the queue starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAt {
    /// The oldest held posts.
    First,
    /// The posts after this one.
    After(QueueKey),
    /// The posts before this one.
    Before(QueueKey),
}

/// A post's place in the queue: its date, then its id and route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKey {
    pub posted_at: DateTime<Utc>,
    pub source_post_id: String,
    pub route: String,
}

impl QueueItem {
    /// This item's place in the queue.
    pub fn key(&self) -> QueueKey {
        QueueKey {
            posted_at: self.posted_at,
            source_post_id: self.source_post_id.clone(),
            route: self.route.clone(),
        }
    }
}

/// A page of the queue with the counts the filters offer.
#[derive(Debug, Clone, Default)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Held posts after the page's last.
    pub has_later: bool,
    /// Held posts before the page's first.
    pub has_earlier: bool,
    /// Held posts matching the filter.
    pub total: u64,
    /// Held posts per route, target and rule (whatever the filter).
    pub by_route: Vec<(String, u64)>,
    pub by_target: Vec<(String, u64)>,
    pub by_rule: Vec<(String, u64)>,
}

/// The queue in numbers (`status`, metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewSummary {
    /// Held posts (a post held on two targets counts once).
    pub held_posts: u64,
    /// Held (post, target) pairs per route and target.
    pub per_target: Vec<(String, String, u64)>,
    /// When the longest-waiting hold began.
    pub oldest_held_at: Option<DateTime<Utc>>,
    /// Released posts whose delivery is not finished yet.
    pub released_waiting: u64,
}

/// A held post as the desk shows it.
#[derive(Debug, Clone)]
pub struct ReviewedPost {
    /// The post; an error when its kept copy cannot be read.
    pub post: Result<Post, String>,
    /// Its holds, one per target, by target name.
    pub holds: Vec<ReviewHold>,
    /// Its media ids, by media index.
    pub media: Vec<HeldMedia>,
}

/// One change a person made, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAudit {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub route: String,
    pub source_post_id: String,
    pub target: String,
    pub change: String,
    pub note: Option<String>,
}

impl Ledger {
    /// A page of the queue of held posts, oldest post first, from `at`, with the counts
    /// per route, target and rule. Pages are found by key (the post's date, id and route),
    /// not by offset, so a page deep in a long queue costs what the first does.
    pub fn review_queue(
        &self,
        filter: &QueueFilter,
        at: &QueueAt,
        limit: u64,
    ) -> Result<QueuePage, StoreError> {
        // SQLite's integers are signed: far beyond any queue, within them.
        let limit = limit.min(1 << 40);
        let conn = self.conn();
        let wanted = "h.state = 'held' AND (?1 IS NULL OR h.route = ?1) \
             AND (?2 IS NULL OR h.target = ?2) AND (?3 IS NULL OR h.rule = ?3)";
        let f = params![filter.route, filter.target, filter.rule];
        let total: u64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM (SELECT DISTINCT h.route, h.source_post_id \
                 FROM review_holds AS h WHERE {wanted})"
            ))?
            .query_row(f, |row| row.get(0))?;
        let (key, before) = match at {
            QueueAt::First => (None, false),
            QueueAt::After(k) => (Some(k), false),
            QueueAt::Before(k) => (Some(k), true),
        };
        let (compare, order) = if before { ("<", "DESC") } else { (">", "") };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT p.route, p.source_post_id, p.posted_at, p.post \
             FROM review_posts AS p WHERE EXISTS (SELECT 1 FROM review_holds AS h \
              WHERE h.route = p.route AND h.source_post_id = p.source_post_id AND {wanted}) \
             AND (?4 IS NULL OR (p.posted_at, p.source_post_id, p.route) {compare} (?4, ?5, ?6)) \
             ORDER BY p.posted_at {order}, p.source_post_id {order}, p.route {order} LIMIT ?7"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    filter.route,
                    filter.target,
                    filter.rule,
                    key.map(|k| timestamp(k.posted_at)),
                    key.map(|k| k.source_post_id.as_str()),
                    key.map(|k| k.route.as_str()),
                    limit.saturating_add(1),
                ],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        // One row past the page tells whether there is more that way.
        let more = u64::try_from(rows.len()).unwrap_or(u64::MAX) > limit;
        let mut items = Vec::with_capacity(rows.len());
        // Each page post's holds by its key: a lookup each, whatever the queue's length.
        let mut holds = conn.prepare_cached(
            "SELECT target, rule, held_at FROM review_holds \
             WHERE route = ?1 AND source_post_id = ?2 AND state = 'held' ORDER BY target",
        )?;
        for (route, source_post_id, posted_at, json) in rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            let post = kept::decode(&json);
            let held: Vec<(String, String, String)> = holds
                .query_map([&route, &source_post_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let held_at = held
                .iter()
                .map(|(_, _, at)| at.clone())
                .min()
                .unwrap_or_else(|| posted_at.clone());
            let mut rules: Vec<String> = held.iter().map(|(_, rule, _)| rule.clone()).collect();
            rules.dedup();
            items.push(QueueItem {
                route,
                source_post_id,
                posted_at: parse_timestamp(posted_at)?,
                held_at: parse_timestamp(held_at)?,
                targets: held.into_iter().map(|(target, _, _)| target).collect(),
                rules,
                text: post
                    .as_ref()
                    .map_or_else(|e| format!("(unreadable: {e})"), |p| p.text.clone()),
                media: post.as_ref().map_or(0, |p| p.media.len()),
            });
        }
        if before {
            items.reverse();
        }
        let (by_route, by_target, by_rule) = queue_counts(&conn)?;
        Ok(QueuePage {
            items,
            total,
            has_later: if before { key.is_some() } else { more },
            has_earlier: if before { more } else { key.is_some() },
            by_route,
            by_target,
            by_rule,
        })
    }

    /// The next held post after `(route, post)` in queue order (oldest post first).
    pub fn next_held(
        &self,
        route: &str,
        source_post_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let conn = self.conn();
        let at: Option<String> = conn
            .prepare_cached(
                "SELECT posted_at FROM review_posts WHERE route = ?1 AND source_post_id = ?2",
            )?
            .query_row([route, source_post_id], |row| row.get(0))
            .optional()?;
        let at = at.unwrap_or_default();
        let next = conn
            .prepare_cached(
                "SELECT p.route, p.source_post_id FROM review_posts AS p \
                 WHERE (p.posted_at, p.source_post_id, p.route) > (?3, ?2, ?1) \
                 AND EXISTS (SELECT 1 FROM review_holds AS h WHERE h.route = p.route \
                 AND h.source_post_id = p.source_post_id AND h.state = 'held') \
                 ORDER BY p.posted_at, p.source_post_id, p.route LIMIT 1",
            )?
            .query_row(params![route, source_post_id, at], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        Ok(next)
    }

    /// The queue in numbers.
    pub fn review_summary(&self) -> Result<ReviewSummary, StoreError> {
        let conn = self.conn();
        let (held_posts, oldest): (u64, Option<String>) = conn
            .prepare_cached(
                "SELECT count(DISTINCT route || char(31) || source_post_id), min(held_at) \
                 FROM review_holds WHERE state = 'held'",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let per_target = conn
            .prepare_cached(
                "SELECT route, target, count(*) FROM review_holds WHERE state = 'held' \
                 GROUP BY route, target ORDER BY route, target",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let released_waiting: u64 = conn
            .prepare_cached(
                "SELECT count(DISTINCT h.route || char(31) || h.source_post_id) \
                 FROM review_holds AS h JOIN parts AS q ON q.route = h.route \
                 AND q.source_post_id = h.source_post_id AND q.target = h.target \
                 WHERE h.state = 'released' AND q.state IN ('planned', 'posting', 'failed')",
            )?
            .query_row([], |row| row.get(0))?;
        Ok(ReviewSummary {
            held_posts,
            per_target,
            oldest_held_at: oldest.map(parse_timestamp).transpose()?,
            released_waiting,
        })
    }
    /// A post under review (held, released or dropped), as the desk shows it; `None` when
    /// it was never held or is settled and forgotten.
    pub fn reviewed_post(
        &self,
        route: &str,
        source_post_id: &str,
    ) -> Result<Option<ReviewedPost>, StoreError> {
        let conn = self.conn();
        let json: Option<String> = conn
            .prepare_cached(
                "SELECT post FROM review_posts WHERE route = ?1 AND source_post_id = ?2",
            )?
            .query_row([route, source_post_id], |row| row.get(0))
            .optional()?;
        let Some(json) = json else {
            return Ok(None);
        };
        let holds = select_holds(&conn, route, source_post_id)?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, media_index, file, mime FROM held_media \
             WHERE route = ?1 AND source_post_id = ?2 ORDER BY media_index",
        )?;
        let dir = self.media_dir();
        let media = stmt
            .query_map([route, source_post_id], |row| {
                Ok(HeldMedia {
                    id: row.get(0)?,
                    route: route.to_owned(),
                    source_post_id: source_post_id.to_owned(),
                    media_index: row.get(1)?,
                    file: row
                        .get::<_, Option<String>>(2)?
                        .and_then(|f| dir.as_ref().map(|d| d.join(f))),
                    mime: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(ReviewedPost {
            post: kept::decode(&json),
            holds,
            media,
        }))
    }

    /// The audit trail of one post's review, oldest first.
    pub fn review_audit(
        &self,
        route: &str,
        source_post_id: &str,
    ) -> Result<Vec<ReviewAudit>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT at, actor, route, source_post_id, target, change, note \
                 FROM review_audit WHERE route = ?1 AND source_post_id = ?2 ORDER BY id",
            )?
            .query_and_then([route, source_post_id], |row| {
                Ok(ReviewAudit {
                    at: parse_timestamp(row.get(0)?)?,
                    actor: row.get(1)?,
                    route: row.get(2)?,
                    source_post_id: row.get(3)?,
                    target: row.get(4)?,
                    change: row.get(5)?,
                    note: row.get(6)?,
                })
            })?
            .collect()
    }
}

/// Held posts per route, target and rule, each read from its own covering index
/// (migration 10).
#[expect(clippy::type_complexity, reason = "three lists of (name, count)")]
fn queue_counts(
    conn: &rusqlite::Connection,
) -> Result<(Vec<(String, u64)>, Vec<(String, u64)>, Vec<(String, u64)>), StoreError> {
    let counts = |sql: &str| -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    };
    Ok((
        counts(
            "SELECT route, count(DISTINCT source_post_id) FROM review_holds \
             WHERE state = 'held' GROUP BY route ORDER BY route",
        )?,
        counts(
            "SELECT target, count(*) FROM review_holds WHERE state = 'held' \
             GROUP BY target ORDER BY target",
        )?,
        counts(
            "SELECT rule, count(*) FROM (SELECT rule FROM review_holds \
             WHERE state = 'held' GROUP BY rule, route, source_post_id) \
             GROUP BY rule ORDER BY rule",
        )?,
    ))
}
