//! Review holds: posts that wait for a person (the route's or target's `review`, or
//! `alt_text = "hold"`) before they go out, and what the person changes beside them.
//!
//! A held post is planned like any other (its parts rendered and counted), as `held` rows
//! that nothing delivers. Beside them the ledger keeps, per post and target, the hold (why,
//! its state, the limits it was rendered for, a version every change bumps), the post itself
//! whole (so the desk shows it and a release delivers it without asking the source again),
//! a person's edits of each copy, an audit row per change (who, when, what), and a media id
//! per media item; downloaded media are copied under the ledger's folder
//! (`<ledger file>-media/`) so they stay until the post is settled.
//!
//! ```text
//! hold_for_review ──► held ──edit_review (version + 1)──► held
//!                      │
//!                      ├──release_review──► released  (parts held → planned)
//!                      └──drop_review────► dropped   (parts held → skipped, with the reason)
//! ```
//!
//! Each change is one `BEGIN IMMEDIATE` transaction that reads the hold, checks its state
//! (and, for a form, the version it was made from) and writes, so of two people (or the
//! desk and the command line) releasing the same post at once exactly one does; the other
//! is told it was released meanwhile, and nothing is delivered twice.
//!
//! A released post is delivered by the review deliverer (`src/release.rs`) from the
//! copy kept here, with its edits; it claims the post first ([`Ledger::claim_reviewed`]),
//! so two processes never deliver the same post at once.

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

mod media;
mod queue;

pub use media::HeldMedia;
pub use queue::{
    QueueAt, QueueFilter, QueueItem, QueueKey, QueuePage, ReviewAudit, ReviewSummary, ReviewedPost,
};

use super::{
    idempotency_key, kept, optional_timestamp, parse_timestamp, timestamp, Ledger, PartKey,
    StoreError,
};
use crate::model::Post;

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewState {
    /// Waiting for a person.
    Held,
    /// Released: delivered (or being delivered) with the edits.
    Released,
    /// Dropped: its parts are skipped, with the reason.
    Dropped,
}

impl ReviewState {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Held => "held",
            ReviewState::Released => "released",
            ReviewState::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "held" => ReviewState::Held,
            "released" => ReviewState::Released,
            "dropped" => ReviewState::Dropped,
            other => {
                return Err(StoreError::UnknownState {
                    state: other.to_owned(),
                })
            }
        })
    }
}

/// The hold of one post on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewHold {
    pub route: String,
    pub source_post_id: String,
    pub target: String,
    pub state: ReviewState,
    /// The setting that held it: `undescribed`, `warned`, `all` (`review`) or `alt_text`.
    pub rule: String,
    /// Why, for a person.
    pub reason: String,
    /// Held during a backfill (its copies get the backfill dressing).
    pub backfill: bool,
    /// The target's limits the post was rendered for (`review::limits_json`); `None` when
    /// the target was never reached.
    pub limits: Option<String>,
    /// Bumped by every change: a form carries the version it was made from.
    pub version: i64,
    pub held_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    /// Why it was dropped.
    pub note: Option<String>,
}

/// One field a person edits on a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EditField {
    /// The description of the media item at this index of the post's media.
    Description(u32),
    /// The content warning ("" clears it).
    Warning,
    /// `true` or `false`.
    Sensitive,
    /// The text before it is split into parts.
    Text,
    /// A visibility name.
    Visibility,
}

impl EditField {
    fn column(self) -> (&'static str, u32) {
        match self {
            EditField::Description(i) => ("description", i),
            EditField::Warning => ("warning", 0),
            EditField::Sensitive => ("sensitive", 0),
            EditField::Text => ("text", 0),
            EditField::Visibility => ("visibility", 0),
        }
    }

    fn from_column(field: &str, item: u32) -> Option<Self> {
        Some(match field {
            "description" => EditField::Description(item),
            "warning" => EditField::Warning,
            "sensitive" => EditField::Sensitive,
            "text" => EditField::Text,
            "visibility" => EditField::Visibility,
            _ => return None,
        })
    }

    /// The field as the audit trail names it.
    pub fn describe(self) -> String {
        match self {
            EditField::Description(i) => format!("description of media {}", i + 1),
            EditField::Warning => "content warning".to_owned(),
            EditField::Sensitive => "sensitive flag".to_owned(),
            EditField::Text => "text".to_owned(),
            EditField::Visibility => "visibility".to_owned(),
        }
    }
}

/// Why a person's change was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No hold of this post (on this target).
    #[error("no held post {post} on route {route}{}: see `birdbridge hold list`", target.as_deref().map(|t| format!(" for target {t}")).unwrap_or_default())]
    Unknown {
        route: String,
        post: String,
        target: Option<String>,
    },
    /// It was released or dropped meanwhile.
    #[error("post {post} on target {target} was {state} meanwhile{}: nothing changed", by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default())]
    Decided {
        post: String,
        target: String,
        state: &'static str,
        by: Option<String>,
    },
    /// The form was made from an earlier version (someone changed the post meanwhile).
    #[error("post {post} on target {target} was changed meanwhile (by {by}): reload it and try again; nothing changed")]
    Stale {
        post: String,
        target: String,
        by: String,
    },
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ReviewError {
    fn from(e: rusqlite::Error) -> Self {
        ReviewError::Store(StoreError::Sqlite(e))
    }
}

/// What [`Ledger::hold_for_review`] records.
#[derive(Debug, Clone, Copy)]
pub struct NewHold<'a> {
    pub route: &'a str,
    pub post: &'a Post,
    pub target: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    pub backfill: bool,
    pub limits: Option<&'a str>,
    /// The parts the post was rendered as (1 while the target's limits are unknown).
    pub parts: u32,
}

const HOLD_COLUMNS: &str = "route, source_post_id, target, state, rule, reason, backfill, \
     limits, version, held_at, decided_at, decided_by, note";

impl Ledger {
    /// Holds a post for review on a target: its parts planned as `held`, the hold, the post
    /// kept whole and a media id per media item, in one transaction. Only when nothing of
    /// the post was attempted there (no row, a plan made while the target was down, or a
    /// hold of an earlier birdbridge); returns whether it held.
    pub fn hold_for_review(&self, h: &NewHold<'_>, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (route, id, target) = (h.route, h.post.id.as_str(), h.target);
        let now = timestamp(now.trunc_subsecs(6));
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = super::select_post(&tx, route, id, target)?;
        let replaceable = existing
            .iter()
            .all(|r| (r.state == super::PartState::Planned && r.attempts == 0) || r.is_held());
        if !replaceable {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM parts WHERE route = ?1 AND source_post_id = ?2 AND target = ?3",
            params![route, id, target],
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO parts (route, source_post_id, target, part_index, state, \
             idempotency_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'held', ?5, ?6, ?6)",
        )?;
        for i in 0..h.parts.max(1) {
            let key = PartKey::new(route, id, target, i);
            insert.execute(params![route, id, target, i, idempotency_key(&key), now])?;
        }
        drop(insert);
        tx.execute(
            &format!(
                "INSERT INTO review_holds ({HOLD_COLUMNS}) \
                 VALUES (?1, ?2, ?3, 'held', ?4, ?5, ?6, ?7, 1, ?8, NULL, NULL, NULL) \
                 ON CONFLICT DO UPDATE SET state = 'held', rule = excluded.rule, \
                 reason = excluded.reason, backfill = excluded.backfill, limits = excluded.limits, \
                 version = version + 1, held_at = excluded.held_at, decided_at = NULL, \
                 decided_by = NULL, note = NULL"
            ),
            params![route, id, target, h.rule, h.reason, h.backfill, h.limits, now],
        )?;
        tx.execute(
            "INSERT INTO review_posts (route, source_post_id, post, posted_at, kept_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET post = excluded.post",
            params![
                route,
                id,
                kept::encode(h.post),
                timestamp(h.post.created_at),
                now
            ],
        )?;
        for i in 0..h.post.media.len() {
            tx.execute(
                "INSERT INTO held_media (route, source_post_id, media_index, kept_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![route, id, i, now],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// The hold of a post on a target, if it was ever held there.
    pub fn review_hold(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Option<ReviewHold>, StoreError> {
        select_hold(&self.conn(), route, source_post_id, target)
    }

    /// Every hold of a post (one per target), by target; empty when it was never held.
    pub fn review_holds(
        &self,
        route: &str,
        source_post_id: &str,
    ) -> Result<Vec<ReviewHold>, StoreError> {
        select_holds(&self.conn(), route, source_post_id)
    }

    /// Records the target's limits for a hold planned while they were unknown (or have
    /// changed), so the desk counts against them.
    pub fn refresh_hold_limits(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        limits: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE review_holds SET limits = ?4 WHERE route = ?1 AND source_post_id = ?2 \
                 AND target = ?3 AND state = 'held' AND limits IS NOT ?4",
            )?
            .execute(params![route, source_post_id, target, limits])?;
        Ok(())
    }

    /// A person's edits of one copy.
    pub fn review_edits(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Vec<(EditField, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT field, item, value FROM review_edits \
             WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 ORDER BY field, item",
        )?;
        let rows = stmt
            .query_map(params![route, source_post_id, target], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(field, item, value)| Some((EditField::from_column(&field, item)?, value)))
            .collect())
    }

    /// Sets (or, with `value` `None`, removes) a person's edit of one field of a held copy,
    /// with an audit row; returns the hold's new version. `expected` is the version the
    /// person's form was made from (`None` from the command line: the latest).
    pub fn edit_review(
        &self,
        key: (&str, &str, &str),
        field: EditField,
        value: Option<&str>,
        expected: Option<i64>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, ReviewError> {
        self.edit_review_fields(key, &[(field, value)], expected, actor, now)
    }

    /// Several edits of one held copy in one transaction (a form), each changed field with
    /// its audit row; returns the hold's version after them (unchanged when nothing
    /// changed).
    pub fn edit_review_fields(
        &self,
        (route, id, target): (&str, &str, &str),
        fields: &[(EditField, Option<&str>)],
        expected: Option<i64>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, ReviewError> {
        let now = timestamp(now.trunc_subsecs(6));
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hold = held(&tx, route, id, target, expected)?;
        let mut changed = false;
        for (field, value) in fields {
            let (name, item) = field.column();
            let previous: Option<String> = tx
                .query_row(
                    "SELECT value FROM review_edits WHERE route = ?1 AND source_post_id = ?2 \
                     AND target = ?3 AND field = ?4 AND item = ?5",
                    params![route, id, target, name, item],
                    |row| row.get(0),
                )
                .optional()?;
            if previous.as_deref() == *value {
                continue;
            }
            match value {
                Some(value) => tx.execute(
                    "INSERT INTO review_edits (route, source_post_id, target, field, item, \
                     value, edited_at, edited_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT DO UPDATE SET value = excluded.value, \
                     edited_at = excluded.edited_at, edited_by = excluded.edited_by",
                    params![route, id, target, name, item, value, now, actor],
                )?,
                None => tx.execute(
                    "DELETE FROM review_edits WHERE route = ?1 AND source_post_id = ?2 \
                     AND target = ?3 AND field = ?4 AND item = ?5",
                    params![route, id, target, name, item],
                )?,
            };
            let change = match value {
                Some(v) => format!("{} set to {v:?}", field.describe()),
                None => format!("{} back to the rendered one", field.describe()),
            };
            audit(&tx, &now, actor, (route, id, target), &change, None)?;
            changed = true;
        }
        if !changed {
            return Ok(hold.version);
        }
        bump(&tx, route, id, target)?;
        tx.commit()?;
        Ok(hold.version + 1)
    }

    /// Releases a held post on `target` (every target holding it when `None`): the hold
    /// becomes `released` and its parts `planned`, with an audit row, in one transaction.
    /// Returns the targets released. Of two releases at once, one wins and the other gets
    /// [`ReviewError::Decided`].
    pub fn release_review(
        &self,
        route: &str,
        source_post_id: &str,
        target: Option<&str>,
        expected: Option<i64>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, ReviewError> {
        self.decide(
            (route, source_post_id, target),
            expected,
            actor,
            None,
            now,
            |tx, t, now| {
                tx.execute(
                    "UPDATE parts SET state = 'planned', updated_at = ?4 WHERE route = ?1 \
                     AND source_post_id = ?2 AND target = ?3 AND state = 'held'",
                    params![route, source_post_id, t, now],
                )?;
                Ok(ReviewState::Released)
            },
        )
    }

    /// Drops a held post on `target` (every target holding it when `None`): the hold becomes
    /// `dropped` and its parts `skipped` with the reason, with an audit row, in one
    /// transaction. Returns the targets dropped.
    pub fn drop_review(
        &self,
        route: &str,
        source_post_id: &str,
        target: Option<&str>,
        expected: Option<i64>,
        (actor, note): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, ReviewError> {
        let reason = format!("dropped on review by {actor}: {note}");
        self.decide(
            (route, source_post_id, target),
            expected,
            actor,
            Some(note),
            now,
            |tx, t, now| {
                tx.execute(
                    "UPDATE parts SET state = 'skipped', reason = ?4, updated_at = ?5 \
                     WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 AND state = 'held'",
                    params![route, source_post_id, t, reason, now],
                )?;
                Ok(ReviewState::Dropped)
            },
        )
    }

    /// The shared shape of a release and a drop (see there).
    fn decide(
        &self,
        (route, id, target): (&str, &str, Option<&str>),
        expected: Option<i64>,
        actor: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
        parts: impl Fn(&Connection, &str, &str) -> rusqlite::Result<ReviewState>,
    ) -> Result<Vec<String>, ReviewError> {
        let now = timestamp(now.trunc_subsecs(6));
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let holds = select_holds(&tx, route, id)?;
        let matching: Vec<&ReviewHold> = holds
            .iter()
            .filter(|h| target.is_none_or(|t| t == h.target))
            .collect();
        let Some(first) = matching.first() else {
            return Err(ReviewError::Unknown {
                route: route.to_owned(),
                post: id.to_owned(),
                target: target.map(str::to_owned),
            });
        };
        let open: Vec<&&ReviewHold> = matching
            .iter()
            .filter(|h| h.state == ReviewState::Held)
            .collect();
        if open.is_empty() {
            return Err(ReviewError::Decided {
                post: id.to_owned(),
                target: first.target.clone(),
                state: first.state.as_str(),
                by: first.decided_by.clone(),
            });
        }
        let mut decided = Vec::new();
        for h in open {
            if expected.is_some_and(|v| v != h.version) {
                return Err(stale(&tx, h)?);
            }
            let state = parts(&tx, &h.target, &now)?;
            close_hold(&tx, &now, actor, (route, id, &h.target), state, note)?;
            decided.push(h.target.clone());
        }
        tx.commit()?;
        Ok(decided)
    }

    /// Whether a post has parts to deliver on a target that are not under review (those are
    /// the review deliverer's).
    pub fn post_has_work(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM parts WHERE route = ?1 AND source_post_id = ?2 \
                 AND target = ?3 AND state IN ('planned', 'posting', 'failed')) \
                 AND NOT EXISTS (SELECT 1 FROM review_holds WHERE route = ?1 \
                 AND source_post_id = ?2 AND target = ?3)",
            )?
            .query_row([route, source_post_id, target], |row| row.get(0))?)
    }

    /// Released posts with parts left to deliver and no live claim, oldest post first.
    pub fn released_work(&self, now: DateTime<Utc>) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT p.route, p.source_post_id FROM review_posts AS p \
             WHERE (p.claimed_until IS NULL OR p.claimed_until < ?1) \
             AND EXISTS (SELECT 1 FROM review_holds AS h JOIN parts AS q \
                 ON q.route = h.route AND q.source_post_id = h.source_post_id \
                 AND q.target = h.target \
                 WHERE h.route = p.route AND h.source_post_id = p.source_post_id \
                 AND h.state = 'released' AND q.state IN ('planned', 'posting', 'failed')) \
             ORDER BY p.posted_at, p.source_post_id",
        )?;
        let rows = stmt
            .query_map([timestamp(now)], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Claims the delivery of a released post for `holder` until `until`; returns whether
    /// it did (no one else holds a claim that has not run out). The claim is renewed by
    /// claiming again, and given back with [`Ledger::unclaim_reviewed`].
    pub fn claim_reviewed(
        &self,
        route: &str,
        source_post_id: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE review_posts SET claimed_by = ?3, claimed_until = ?4 \
                 WHERE route = ?1 AND source_post_id = ?2 AND (claimed_until IS NULL \
                 OR claimed_until < ?5 OR claimed_by = ?3)",
            )?
            .execute(params![
                route,
                source_post_id,
                holder,
                timestamp(until),
                timestamp(now)
            ])?;
        Ok(changed == 1)
    }

    /// Gives back a claim of `holder`.
    pub fn unclaim_reviewed(
        &self,
        route: &str,
        source_post_id: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE review_posts SET claimed_by = NULL, claimed_until = NULL \
                 WHERE route = ?1 AND source_post_id = ?2 AND claimed_by = ?3",
            )?
            .execute(params![route, source_post_id, holder])?;
        Ok(())
    }
}

fn select_hold(
    conn: &Connection,
    route: &str,
    id: &str,
    target: &str,
) -> Result<Option<ReviewHold>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {HOLD_COLUMNS} FROM review_holds \
         WHERE route = ?1 AND source_post_id = ?2 AND target = ?3"
    ))?
    .query_and_then([route, id, target], hold_from_row)?
    .next()
    .transpose()
}

fn select_holds(conn: &Connection, route: &str, id: &str) -> Result<Vec<ReviewHold>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {HOLD_COLUMNS} FROM review_holds \
         WHERE route = ?1 AND source_post_id = ?2 ORDER BY target"
    ))?
    .query_and_then([route, id], hold_from_row)?
    .collect()
}

/// The hold a change applies to: it exists, is held, and (for a form) is at `expected`.
fn held(
    tx: &Connection,
    route: &str,
    id: &str,
    target: &str,
    expected: Option<i64>,
) -> Result<ReviewHold, ReviewError> {
    let Some(hold) = select_hold(tx, route, id, target)? else {
        return Err(ReviewError::Unknown {
            route: route.to_owned(),
            post: id.to_owned(),
            target: Some(target.to_owned()),
        });
    };
    if hold.state != ReviewState::Held {
        return Err(ReviewError::Decided {
            post: id.to_owned(),
            target: target.to_owned(),
            state: hold.state.as_str(),
            by: hold.decided_by,
        });
    }
    if expected.is_some_and(|v| v != hold.version) {
        return Err(stale(tx, &hold)?);
    }
    Ok(hold)
}

/// The refusal of a form made from an older version, naming who changed the post last.
fn stale(tx: &Connection, hold: &ReviewHold) -> Result<ReviewError, StoreError> {
    let by: Option<String> = tx
        .query_row(
            "SELECT actor FROM review_audit WHERE route = ?1 AND source_post_id = ?2 \
             AND target = ?3 ORDER BY id DESC LIMIT 1",
            params![hold.route, hold.source_post_id, hold.target],
            |row| row.get(0),
        )
        .optional()?;
    Ok(ReviewError::Stale {
        post: hold.source_post_id.clone(),
        target: hold.target.clone(),
        by: by.unwrap_or_else(|| "someone".to_owned()),
    })
}

/// A change to a held copy: forms made before it are stale.
fn bump(tx: &Connection, route: &str, id: &str, target: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE review_holds SET version = version + 1 \
         WHERE route = ?1 AND source_post_id = ?2 AND target = ?3",
        params![route, id, target],
    )?;
    Ok(())
}

/// Closes the open hold of a post on a target as `state` (released or dropped), with its
/// audit row; whether a hold was open. Every decision goes through here: a person's on the
/// desk or the command line, and a delete at the source (`store/retract.rs`).
pub(super) fn close_hold(
    tx: &Connection,
    now: &str,
    actor: &str,
    (route, id, target): (&str, &str, &str),
    state: ReviewState,
    note: Option<&str>,
) -> rusqlite::Result<bool> {
    let closed = tx
        .prepare_cached(
            "UPDATE review_holds SET state = ?4, decided_at = ?5, decided_by = ?6, \
             note = ?7, version = version + 1 WHERE route = ?1 AND source_post_id = ?2 \
             AND target = ?3 AND state = 'held'",
        )?
        .execute(params![route, id, target, state.as_str(), now, actor, note])?;
    if closed > 0 {
        let change = format!("held → {}", state.as_str());
        audit(tx, now, actor, (route, id, target), &change, note)?;
    }
    Ok(closed > 0)
}

/// Writes one audit row inside the caller's transaction.
fn audit(
    tx: &Connection,
    now: &str,
    actor: &str,
    (route, id, target): (&str, &str, &str),
    change: &str,
    note: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO review_audit (at, actor, route, source_post_id, target, change, note) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![now, actor, route, id, target, change, note])?;
    Ok(())
}

/// A row of [`HOLD_COLUMNS`], its text columns checked.
fn hold_from_row(row: &rusqlite::Row<'_>) -> Result<ReviewHold, StoreError> {
    Ok(ReviewHold {
        route: row.get(0)?,
        source_post_id: row.get(1)?,
        target: row.get(2)?,
        state: ReviewState::parse(&row.get::<_, String>(3)?)?,
        rule: row.get(4)?,
        reason: row.get(5)?,
        backfill: row.get(6)?,
        limits: row.get(7)?,
        version: row.get(8)?,
        held_at: parse_timestamp(row.get(9)?)?,
        decided_at: optional_timestamp(row, 10)?,
        decided_by: row.get(11)?,
        note: row.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use chrono::TimeZone;

    use super::*;
    use crate::model::{Media, MediaKind, MediaSource};
    use crate::store::tests::t;
    use crate::store::PartState;

    fn post(id: &str, minute: u32) -> Post {
        Post {
            created_at: Utc.with_ymd_and_hms(2020, 1, 1, 0, minute, 0).unwrap(),
            media: vec![Media {
                kind: MediaKind::Photo,
                source: MediaSource::Url(format!("https://pbs.example/{id}.jpg")),
                alt_text: None,
                width: None,
                height: None,
                original_url: None,
            }],
            ..Post::sample(id, &format!("post {id}"))
        }
    }

    fn hold(l: &Ledger, p: &Post, target: &str, parts: u32) -> bool {
        l.hold_for_review(
            &NewHold {
                route: "r",
                post: p,
                target,
                rule: "undescribed",
                reason: "photo 1 of 1 without a description",
                backfill: false,
                limits: None,
                parts,
            },
            t(0),
        )
        .unwrap()
    }

    fn states(l: &Ledger, id: &str, target: &str) -> Vec<PartState> {
        l.parts_of_post("r", id, target)
            .unwrap()
            .iter()
            .map(|p| p.state)
            .collect()
    }

    #[test]
    fn a_hold_plans_held_parts_and_keeps_the_post() {
        let l = Ledger::open_in_memory().unwrap();
        let p = post("1", 0);
        assert!(hold(&l, &p, "a", 2));
        assert_eq!(states(&l, "1", "a"), [PartState::Held, PartState::Held]);
        let reviewed = l.reviewed_post("r", "1").unwrap().unwrap();
        assert_eq!(reviewed.post.unwrap(), p);
        assert_eq!(reviewed.media.len(), 1);
        assert!(!l.post_has_work("r", "1", "a").unwrap());
        assert!(l.unfinished_posts("r").unwrap().is_empty());
        // A post something of which was attempted is not held.
        l.plan_post("r", "2", "a", 1, t(0)).unwrap();
        let k = PartKey::new("r", "2", "a", 0);
        l.begin_attempt(&k, t(1)).unwrap();
        assert!(!hold(&l, &post("2", 1), "a", 1));
    }

    #[test]
    fn edits_are_versioned_audited_and_refused_once_decided() {
        let l = Ledger::open_in_memory().unwrap();
        hold(&l, &post("1", 0), "a", 1);
        let key = ("r", "1", "a");
        let v = l
            .edit_review(
                key,
                EditField::Description(0),
                Some("a cat"),
                Some(1),
                "desk:Ann",
                t(1),
            )
            .unwrap();
        assert_eq!(v, 2);
        // Unchanged: no new version, no audit row.
        assert_eq!(
            l.edit_review(
                key,
                EditField::Description(0),
                Some("a cat"),
                Some(2),
                "desk:Bo",
                t(2)
            )
            .unwrap(),
            2
        );
        // A form made from version 1 is stale now.
        let stale = l
            .edit_review(key, EditField::Warning, Some("x"), Some(1), "desk:Bo", t(3))
            .unwrap_err();
        assert!(matches!(stale, ReviewError::Stale { ref by, .. } if by == "desk:Ann"));
        assert_eq!(
            l.review_edits("r", "1", "a").unwrap(),
            [(EditField::Description(0), "a cat".to_owned())]
        );
        l.release_review("r", "1", None, None, "cli:root", t(4))
            .unwrap();
        assert_eq!(states(&l, "1", "a"), [PartState::Planned]);
        let late = l
            .edit_review(key, EditField::Text, Some("late"), None, "desk:Ann", t(5))
            .unwrap_err();
        assert!(
            late.to_string().contains("released meanwhile by cli:root"),
            "{late}"
        );
        let audit = l.review_audit("r", "1").unwrap();
        let changes: Vec<&str> = audit.iter().map(|a| a.change.as_str()).collect();
        assert_eq!(
            changes,
            ["description of media 1 set to \"a cat\"", "held → released"]
        );
        assert_eq!(l.released_work(t(6)).unwrap(), [("r".into(), "1".into())]);
    }

    #[test]
    fn of_releases_at_once_exactly_one_wins() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let l = Ledger::open(&path).unwrap();
        hold(&l, &post("1", 0), "a", 1);
        hold(&l, &post("1", 0), "b", 1);
        drop(l);
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (barrier, path) = (Arc::clone(&barrier), path.clone());
                std::thread::spawn(move || {
                    // Separate connections, as separate processes would have.
                    let l = Ledger::open(&path).unwrap();
                    barrier.wait();
                    l.release_review("r", "1", None, None, &format!("p{i}"), t(1))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        assert_eq!(won[0], &["a".to_owned(), "b".to_owned()]);
        for lost in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(matches!(lost, ReviewError::Decided { .. }), "{lost}");
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(states(&l, "1", "a"), [PartState::Planned]);
        assert_eq!(l.review_audit("r", "1").unwrap().len(), 2);
    }

    #[test]
    fn a_claim_keeps_a_second_deliverer_out_until_it_runs_out() {
        let l = Ledger::open_in_memory().unwrap();
        hold(&l, &post("1", 0), "a", 1);
        l.release_review("r", "1", None, None, "x", t(0)).unwrap();
        let until = t(0) + chrono::Duration::minutes(10);
        assert!(l.claim_reviewed("r", "1", "one", until, t(1)).unwrap());
        assert!(!l.claim_reviewed("r", "1", "two", until, t(2)).unwrap());
        assert!(l.released_work(t(3)).unwrap().is_empty());
        assert!(
            l.claim_reviewed("r", "1", "one", until, t(4)).unwrap(),
            "renewed"
        );
        let later = until + chrono::Duration::seconds(1);
        assert!(l
            .claim_reviewed(
                "r",
                "1",
                "two",
                later + chrono::Duration::minutes(10),
                later
            )
            .unwrap());
        l.unclaim_reviewed("r", "1", "two").unwrap();
        assert_eq!(l.released_work(t(5)).unwrap().len(), 1);
    }

    #[test]
    fn the_queue_is_oldest_first_with_counts_and_a_drop_settles_the_post() {
        let l = Ledger::open_in_memory().unwrap();
        hold(&l, &post("late", 30), "a", 1);
        hold(&l, &post("early", 10), "a", 1);
        hold(&l, &post("early", 10), "b", 1);
        let page = l
            .review_queue(&QueueFilter::default(), &QueueAt::First, 10)
            .unwrap();
        let ids: Vec<&str> = page
            .items
            .iter()
            .map(|i| i.source_post_id.as_str())
            .collect();
        assert_eq!(ids, ["early", "late"]);
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0].targets, ["a", "b"]);
        assert_eq!(page.by_target, [("a".into(), 2), ("b".into(), 1)]);
        let only_b = QueueFilter {
            target: Some("b".into()),
            ..QueueFilter::default()
        };
        assert_eq!(
            l.review_queue(&only_b, &QueueAt::First, 10).unwrap().total,
            1
        );
        let one = l
            .review_queue(&QueueFilter::default(), &QueueAt::First, 1)
            .unwrap();
        assert!(one.has_later && !one.has_earlier);
        let next = l
            .review_queue(
                &QueueFilter::default(),
                &QueueAt::After(one.items[0].key()),
                1,
            )
            .unwrap();
        assert_eq!(next.items[0].source_post_id, "late");
        assert!(!next.has_later && next.has_earlier);
        let back = l
            .review_queue(
                &QueueFilter::default(),
                &QueueAt::Before(next.items[0].key()),
                5,
            )
            .unwrap();
        assert_eq!(back.items[0].source_post_id, "early");
        assert_eq!(
            l.next_held("r", "early").unwrap(),
            Some(("r".into(), "late".into()))
        );
        let summary = l.review_summary().unwrap();
        assert_eq!(
            (summary.held_posts, summary.oldest_held_at),
            (2, Some(t(0)))
        );

        l.drop_review("r", "early", None, None, ("desk:Ann", "duplicate"), t(1))
            .unwrap();
        assert_eq!(states(&l, "early", "a"), [PartState::Skipped]);
        assert!(l.forget_reviewed("r", "early").unwrap());
        assert!(l.reviewed_post("r", "early").unwrap().is_none());
        assert!(!l.forget_reviewed("r", "late").unwrap(), "still held");
        let unknown = l
            .release_review("r", "nope", None, None, "x", t(2))
            .unwrap_err();
        assert!(matches!(unknown, ReviewError::Unknown { .. }));
    }

    /// A delete at the source drops a held post from the desk (released later, it would be
    /// mirrored after its author deleted it); a person's `retract` leaves it to the desk.
    #[test]
    fn a_post_deleted_at_the_source_leaves_the_desk_and_a_retract_leaves_it_there() {
        use crate::store::{NewJob, RetractCause, RetractRunner};
        let l = Ledger::open_in_memory().unwrap();
        let (gone, kept) = (post("1", 0), post("2", 1));
        assert!(hold(&l, &gone, "a", 2));
        assert!(hold(&l, &kept, "a", 1));
        for (cause, id) in [(RetractCause::Source, "1"), (RetractCause::Operator, "2")] {
            let job = NewJob {
                route: "r",
                target: None,
                selection: id,
                cause,
                runner: RetractRunner::Daemon,
                state: "running",
            };
            let items = [(id.to_owned(), "a".to_owned())];
            l.create_retraction(&job, &items, true, t(1)).unwrap();
        }
        assert_eq!(
            states(&l, "1", "a"),
            [PartState::Skipped, PartState::Skipped]
        );
        let parts = l.parts_of_post("r", "1", "a").unwrap();
        assert!(parts[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("deleted at the source before delivery")));
        let refused = l
            .release_review("r", "1", None, None, "someone", t(2))
            .unwrap_err();
        assert!(
            matches!(
                &refused,
                ReviewError::Decided {
                    state: "dropped",
                    ..
                }
            ),
            "{refused:?}"
        );
        // The hold's trail (what the desk shows) says who dropped it; each part's skip is
        // in the operator audit.
        assert!(l
            .review_audit("r", "1")
            .unwrap()
            .iter()
            .any(|e| e.actor == "deletes follow" && e.change == "held → dropped"));
        assert!(l
            .audit_log(20)
            .unwrap()
            .iter()
            .any(|e| e.command == "deletes follow" && e.change == "held → skipped"));
        // The person's retraction left post 2 held: it is still theirs to release.
        assert_eq!(states(&l, "2", "a"), [PartState::Held]);
        assert_eq!(
            l.release_review("r", "2", None, None, "someone", t(2))
                .unwrap(),
            ["a"]
        );
    }
}
