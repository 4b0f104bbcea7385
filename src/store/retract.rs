//! Taking posts back: retraction jobs (`retract`, deletes that follow the source), the posts
//! each job takes back, the moves of a part from `posted` through `retracting` to
//! `retracted`, and what each boost's answer was, so a boost is undone as a boost.
//!
//! A job lists its posts (one row per post and target) when it is made, in the order they
//! are taken back: newest first, so a reply goes before the post it replies to; within a
//! post, the last part first. In the same transaction, whatever of those posts was not sent
//! yet (planned, failed, quarantined; held for review too when the source deleted the post)
//! becomes `skipped` with the reason, so nothing sends it while the job runs; a post a job
//! names that has no row on a target yet gets a `skipped` one, so it is never mirrored there.
//!
//! Each part then moves `posted → retracting` (before the target is called) `→ retracted`
//! (after the server said so, or said it is gone), each move one checked transaction with
//! its audit row. A part left `retracting` by a crash is simply asked again: deleting a
//! status or undoing a boost twice is harmless. A retracted part keeps its remote id, for
//! the audit.

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::operator::{audit, skip_unsent};
use super::{
    insert_first_row_on, parse_timestamp, select_post, timestamp, Ledger, PartKey, PartRecord,
    PartState, ReviewState, StoreError,
};

/// Why posts are taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetractCause {
    /// A person asked (`birdbridge retract`).
    Operator,
    /// The post was deleted at its source (a route with `deletes = "follow"`).
    Source,
}

impl RetractCause {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            RetractCause::Operator => "operator",
            RetractCause::Source => "source",
        }
    }

    /// The command the audit trail names.
    pub fn command(self) -> &'static str {
        match self {
            RetractCause::Operator => "retract",
            RetractCause::Source => "deletes follow",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "source" {
            RetractCause::Source
        } else {
            RetractCause::Operator
        }
    }
}

/// Who runs a retraction job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetractRunner {
    /// The `retract` command itself (no daemon ran on the ledger).
    Command,
    /// The daemon, as a job next to its live routes.
    Daemon,
}

impl RetractRunner {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            RetractRunner::Command => "command",
            RetractRunner::Daemon => "daemon",
        }
    }
}

/// What a server answered a boost with: its id is the boost's own (Mastodon: a new status
/// whose `reblog` is the original), or the original's (Takahē answers with the original
/// status itself; X may not name the repost). Either way the boost is undone on the
/// original, and that id is never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoostAnswer {
    /// The answer's id is the boost's own.
    Own,
    /// The answer's id is the original status's.
    Original,
}

impl BoostAnswer {
    /// What the answer `answered` to a boost of `original` was.
    pub fn of(answered: &str, original: &str) -> Self {
        if answered == original {
            BoostAnswer::Original
        } else {
            BoostAnswer::Own
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            BoostAnswer::Own => "own",
            BoostAnswer::Original => "original",
        }
    }
}

/// A retraction job, with how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetractJob {
    pub id: i64,
    pub route: String,
    /// Only this target (`None`: every target of the route).
    pub target: Option<String>,
    /// What was asked, as a person reads it (`--all`, `--post 123`, `deleted at the source`).
    pub selection: String,
    pub cause: RetractCause,
    /// `command` or `daemon`.
    pub runner: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Posts (per target) the job takes back.
    pub posts: u64,
    /// Of which taken back.
    pub done: u64,
    /// Of which given up (the server refused).
    pub failed: u64,
}

/// One post on one target a job takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetractItem {
    pub job: i64,
    pub source_post_id: String,
    pub target: String,
    /// Tries that failed so far.
    pub tries: u32,
}

/// A part to take back and how: delete the status `remote_id`, or undo the boost of
/// `boost_of` (never delete `remote_id` then: it may be the original's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taking {
    pub key: PartKey,
    pub remote_id: String,
    /// The status boosted, when the part is a boost.
    pub boost_of: Option<String>,
}

/// What a job's item has to do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemWork {
    /// The parts to take back, the last part first.
    pub takings: Vec<Taking>,
    /// A part is being delivered right now (`posting`): the item waits for it to settle.
    pub in_flight: bool,
}

/// A post (on one target) a job may take back, with what the ledger has of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub source_post_id: String,
    pub target: String,
    /// When its first row was written (the time it was first planned).
    pub first_planned: DateTime<Utc>,
    /// Its rows, by part index.
    pub parts: Vec<PartRecord>,
    /// For each row, the status it boosted when it is a boost (undone there, not
    /// deleted).
    pub boosts: Vec<Option<String>>,
}

/// A new job.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub route: &'a str,
    pub target: Option<&'a str>,
    pub selection: &'a str,
    pub cause: RetractCause,
    pub runner: RetractRunner,
    pub state: &'a str,
}

/// States whose parts a retraction cancels (nothing of them reached the server).
const UNSENT: &str = "('planned', 'failed', 'quarantined')";

/// The same, and parts held for review: what a delete at the source cancels.
const UNSENT_OR_HELD: &str = "('planned', 'failed', 'quarantined', 'held')";

impl Ledger {
    /// A boost the server took (or that reconciliation found): `posting` → `posted` as
    /// [`Ledger::mark_posted_spending`] records it, and in the same transaction what the
    /// answer's id is (the boost's own, or the original `original`'s), so taking it back
    /// undoes the boost and never deletes that id.
    pub fn mark_boost_posted(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        micros: u64,
        original: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let answer = BoostAnswer::of(remote_id, original);
        self.settle_posted_and(key, remote_id, remote_url, micros, now, |tx| {
            record_boost_on(tx, key, original, answer)
        })?;
        Ok(())
    }

    /// Records what a server answered a boost with (see [`BoostAnswer`]).
    pub fn record_boost(
        &self,
        key: &PartKey,
        original: &str,
        answer: BoostAnswer,
    ) -> Result<(), StoreError> {
        record_boost_on(&self.conn(), key, original, answer)?;
        Ok(())
    }

    /// The posts of `route` (on `target`, or every target) that have something a retraction
    /// would take back or cancel: a part posted, being delivered, being taken back, or not
    /// sent yet. Posts only skipped or already retracted are left out. With `post`, only
    /// that post. Newest plan first (the order they are taken back in).
    pub fn retraction_candidates(
        &self,
        route: &str,
        target: Option<&str>,
        post: Option<&str>,
    ) -> Result<Vec<Candidate>, StoreError> {
        let conn = self.conn();
        let keys: Vec<(String, String, String)> = conn
            .prepare_cached(
                "SELECT source_post_id, target, MIN(created_at) FROM parts \
                 WHERE route = ?1 AND (?2 IS NULL OR target = ?2) \
                 AND (?3 IS NULL OR source_post_id = ?3) \
                 GROUP BY source_post_id, target \
                 HAVING SUM(state IN ('posted', 'posting', 'retracting', 'planned', 'failed', \
                     'quarantined')) > 0 \
                 ORDER BY MIN(id) DESC",
            )?
            .query_map(params![route, target, post], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        keys.into_iter()
            .map(|(source_post_id, target, first)| {
                let parts = select_post(&conn, route, &source_post_id, &target)?;
                let boosts = parts
                    .iter()
                    .map(|p| match &p.remote_id {
                        Some(id) => boost_of(&conn, &p.key, id),
                        None => Ok(None),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Candidate {
                    source_post_id,
                    target,
                    first_planned: parse_timestamp(first)?,
                    parts,
                    boosts,
                })
            })
            .collect()
    }

    /// Makes a retraction job for `items` (post, target), taken back in that order, and in
    /// the same transaction cancels what of those posts was not sent yet (`skipped`, with
    /// the reason and an audit row); a post without any row on its target gets a `skipped`
    /// one when `never_mirror` (a post named by id, or deleted at the source), so it is
    /// never mirrored there. Returns the job's number.
    pub fn create_retraction(
        &self,
        job: &NewJob<'_>,
        items: &[(String, String)],
        never_mirror: bool,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let stamp = timestamp(now.trunc_subsecs(6));
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "INSERT INTO retraction_jobs (route, target, selection, cause, runner, state, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )?
        .execute(params![
            job.route,
            job.target,
            job.selection,
            job.cause.as_str(),
            job.runner.as_str(),
            job.state,
            stamp
        ])?;
        let id = tx.last_insert_rowid();
        let note = job_note(id, job.cause, job.selection);
        for (position, (post, target)) in items.iter().enumerate() {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO retraction_items (job, source_post_id, target, position, \
                 state) VALUES (?1, ?2, ?3, ?4, 'pending')",
            )?
            .execute(params![
                id,
                post,
                target,
                i64::try_from(position).unwrap_or(i64::MAX)
            ])?;
            let key = PartKey::new(job.route, post.as_str(), target.as_str(), 0);
            cancel_unsent(&tx, &key, job.cause, &note, &stamp)?;
            if never_mirror {
                let reason = unmirrored_reason(job.cause, &note);
                if insert_first_row_on(
                    &tx,
                    job.route,
                    post,
                    target,
                    PartState::Skipped,
                    &reason,
                    now,
                )? {
                    audit(
                        &tx,
                        &stamp,
                        job.cause.command(),
                        &key,
                        Some(0),
                        "(not mirrored) → skipped",
                        Some(&note),
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// The job a daemon runs next: one of its unfinished jobs with a post due now (or with
    /// none left, to be closed), deletes that follow the source first (they are news), then
    /// the oldest. Without one: when the next post of its jobs is due again.
    pub fn next_retraction_job(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Option<RetractJob>, Option<DateTime<Utc>>), StoreError> {
        let now = timestamp(now);
        let job = self
            .retraction_jobs_where(&format!(
                "j.runner = 'daemon' AND j.state IN ('running', 'queued') AND ( \
                 EXISTS (SELECT 1 FROM retraction_items i WHERE i.job = j.id \
                     AND i.state = 'pending' AND (i.next_try_at IS NULL OR i.next_try_at <= '{now}')) \
                 OR NOT EXISTS (SELECT 1 FROM retraction_items i WHERE i.job = j.id \
                     AND i.state = 'pending')) \
                 ORDER BY j.cause = 'operator', j.id LIMIT 1"
            ))?
            .pop();
        if job.is_some() {
            return Ok((job, None));
        }
        let next: Option<String> = self
            .conn()
            .prepare_cached(
                "SELECT MIN(i.next_try_at) FROM retraction_items i \
                 JOIN retraction_jobs j ON j.id = i.job \
                 WHERE j.runner = 'daemon' AND j.state IN ('running', 'queued') \
                 AND i.state = 'pending'",
            )?
            .query_row([], |row| row.get(0))?;
        Ok((None, next.map(parse_timestamp).transpose()?))
    }

    /// A job left unfinished by an earlier `retract` command with the same route, target
    /// and selection (it was stopped or killed): the command resumes it instead of making
    /// a new one.
    pub fn unfinished_retraction(
        &self,
        route: &str,
        target: Option<&str>,
        selection: &str,
    ) -> Result<Option<RetractJob>, StoreError> {
        let jobs = self.retraction_jobs_where(
            "j.runner = 'command' AND j.state IN ('running', 'queued') ORDER BY j.id DESC",
        )?;
        Ok(jobs.into_iter().find(|j| {
            j.route == route && j.target.as_deref() == target && j.selection == selection
        }))
    }

    /// One job, by number.
    pub fn retraction_job(&self, id: i64) -> Result<Option<RetractJob>, StoreError> {
        Ok(self.retraction_jobs_where(&format!("j.id = {id}"))?.pop())
    }

    /// The latest jobs, newest first, at most `limit` (for `status`).
    pub fn retraction_jobs(&self, limit: u32) -> Result<Vec<RetractJob>, StoreError> {
        self.retraction_jobs_where(&format!("1 ORDER BY j.id DESC LIMIT {limit}"))
    }

    /// Moves a job to `state`, with a note when given.
    pub fn set_retraction_state(
        &self,
        id: i64,
        state: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE retraction_jobs SET state = ?2, note = coalesce(?3, note), \
                 updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, state, note, timestamp(now)])?;
        Ok(())
    }

    /// The job's posts still to take back and due now (not waiting for a retry), in the
    /// order they go; and when the next of the others is due.
    pub fn due_retraction_items(
        &self,
        job: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<RetractItem>, Option<DateTime<Utc>>), StoreError> {
        let conn = self.conn();
        let now = timestamp(now);
        let due = conn
            .prepare_cached(
                "SELECT source_post_id, target, tries FROM retraction_items \
                 WHERE job = ?1 AND state = 'pending' \
                 AND (next_try_at IS NULL OR next_try_at <= ?2) ORDER BY position",
            )?
            .query_map(params![job, now], |row| {
                Ok(RetractItem {
                    job,
                    source_post_id: row.get(0)?,
                    target: row.get(1)?,
                    tries: row.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let later: Option<String> = conn
            .prepare_cached(
                "SELECT MIN(next_try_at) FROM retraction_items \
                 WHERE job = ?1 AND state = 'pending' AND next_try_at > ?2",
            )?
            .query_row(params![job, now], |row| row.get(0))?;
        Ok((due, later.map(parse_timestamp).transpose()?))
    }

    /// Posts of the job still to take back (due or waiting for a retry).
    pub fn pending_retraction_items(&self, job: i64) -> Result<u64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM retraction_items WHERE job = ?1 AND state = 'pending'",
            )?
            .query_row([job], |row| row.get(0))?)
    }

    /// What one item has to do now: what of its post was not sent is cancelled first (a
    /// part that failed since the job was made), then its parts to take back, the last part
    /// first, each with how (a boost is undone on its original).
    pub fn retraction_work(
        &self,
        job: &RetractJob,
        item: &RetractItem,
        now: DateTime<Utc>,
    ) -> Result<ItemWork, StoreError> {
        let stamp = timestamp(now.trunc_subsecs(6));
        let note = job_note(job.id, job.cause, &job.selection);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let key = PartKey::new(&job.route, &item.source_post_id, &item.target, 0);
        cancel_unsent(&tx, &key, job.cause, &note, &stamp)?;
        let rows = select_post(&tx, &job.route, &item.source_post_id, &item.target)?;
        let mut work = ItemWork {
            in_flight: rows.iter().any(|r| r.state == PartState::Posting),
            takings: Vec::new(),
        };
        for r in rows.iter().rev() {
            if !matches!(r.state, PartState::Posted | PartState::Retracting) {
                continue;
            }
            let Some(remote_id) = r.remote_id.clone() else {
                continue;
            };
            let boost_of = boost_of(&tx, &r.key, &remote_id)?;
            work.takings.push(Taking {
                key: r.key.clone(),
                remote_id,
                boost_of,
            });
        }
        tx.commit()?;
        Ok(work)
    }

    /// Stamps the taking back of a part before the target is asked: `posted` (or a
    /// `retracting` left by an interrupted run) → `retracting`.
    pub fn begin_retract(&self, key: &PartKey, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.change(
            key,
            &[PartState::Posted, PartState::Retracting],
            PartState::Retracting,
            |part| {
                part.state = PartState::Retracting;
                part.next_attempt_at = None;
            },
            now,
        )?;
        Ok(())
    }

    /// The server took the part back (or said it was gone already): `retracting` →
    /// `retracted`, with why, and its audit row, in one transaction.
    pub fn mark_retracted(
        &self,
        key: &PartKey,
        job: &RetractJob,
        already_gone: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let note = job_note(job.id, job.cause, &job.selection);
        let reason = match job.cause {
            RetractCause::Operator => format!("retracted by an operator ({note})"),
            RetractCause::Source => format!("deleted at the source ({note})"),
        };
        let change = if already_gone {
            "posted → retracted (already gone from the server)"
        } else {
            "posted → retracted"
        };
        let stamp = timestamp(now.trunc_subsecs(6));
        self.change_and(
            key,
            &[PartState::Retracting],
            PartState::Retracted,
            |part| {
                part.state = PartState::Retracted;
                part.next_attempt_at = None;
                part.reason = Some(reason);
            },
            |tx| {
                audit(
                    tx,
                    &stamp,
                    job.cause.command(),
                    key,
                    Some(key.part_index),
                    change,
                    Some(&note),
                )
            },
            now,
        )?;
        Ok(())
    }

    /// Taking the part back failed and will be tried again: it stays `retracting`, with
    /// the error.
    pub fn retract_failed(
        &self,
        key: &PartKey,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change(
            key,
            &[PartState::Retracting],
            PartState::Retracting,
            |part| part.last_error = Some(format!("taking back: {error}")),
            now,
        )?;
        Ok(())
    }

    /// The server refuses to take the part back, again and again: `retracting` → `posted`
    /// (it is still there), with the error and an audit row.
    pub fn retract_given_up(
        &self,
        key: &PartKey,
        job: &RetractJob,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let note = job_note(job.id, job.cause, &job.selection);
        let stamp = timestamp(now.trunc_subsecs(6));
        self.change_and(
            key,
            &[PartState::Retracting],
            PartState::Posted,
            |part| {
                part.state = PartState::Posted;
                part.last_error = Some(format!("could not be taken back: {error}"));
            },
            |tx| {
                audit(
                    tx,
                    &stamp,
                    job.cause.command(),
                    key,
                    Some(key.part_index),
                    "retracting → posted (the server refused to take it back)",
                    Some(&note),
                )
            },
            now,
        )?;
        Ok(())
    }

    /// Settles an item: `done` (everything of the post on the target taken back or
    /// cancelled) or `failed` (given up), with the error.
    pub fn finish_retraction_item(
        &self,
        item: &RetractItem,
        failed: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE retraction_items SET state = ?4, last_error = coalesce(?5, last_error), \
                 next_try_at = NULL WHERE job = ?1 AND source_post_id = ?2 AND target = ?3",
            )?
            .execute(params![
                item.job,
                item.source_post_id,
                item.target,
                if failed.is_some() { "failed" } else { "done" },
                failed
            ])?;
        Ok(())
    }

    /// An item to try again at `next_try_at`; `counted` when the try counts towards giving
    /// up (the server refused or failed, not a stop request or a target down).
    pub fn retry_retraction_item(
        &self,
        item: &RetractItem,
        error: &str,
        next_try_at: DateTime<Utc>,
        counted: bool,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE retraction_items SET tries = tries + ?4, last_error = ?5, \
                 next_try_at = ?6 WHERE job = ?1 AND source_post_id = ?2 AND target = ?3",
            )?
            .execute(params![
                item.job,
                item.source_post_id,
                item.target,
                i64::from(counted),
                error,
                timestamp(next_try_at)
            ])?;
        Ok(())
    }

    /// Posts of `routes` mirrored (or planned) at or after `since`, which a deletes check
    /// looks up at their source: a part posted since then, or not sent yet.
    pub fn recently_mirrored(
        &self,
        routes: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT source_post_id FROM parts \
             WHERE route IN (SELECT value FROM json_each(?1)) AND ( \
                 (state = 'posted' AND updated_at >= ?2) \
                 OR (state IN ('planned', 'posting', 'failed') AND created_at >= ?2)) \
             ORDER BY source_post_id",
        )?;
        let routes = serde_json::to_string(routes).unwrap_or_else(|_| "[]".to_owned());
        let rows = stmt
            .query_map(params![routes, timestamp(since)], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    fn retraction_jobs_where(&self, clause: &str) -> Result<Vec<RetractJob>, StoreError> {
        self.conn()
            .prepare(&format!(
                "SELECT j.id, j.route, j.target, j.selection, j.cause, j.runner, j.state, \
                 j.note, j.created_at, j.updated_at, \
                 (SELECT COUNT(*) FROM retraction_items i WHERE i.job = j.id), \
                 (SELECT COUNT(*) FROM retraction_items i \
                     WHERE i.job = j.id AND i.state = 'done'), \
                 (SELECT COUNT(*) FROM retraction_items i \
                     WHERE i.job = j.id AND i.state = 'failed') \
                 FROM retraction_jobs j WHERE {clause}"
            ))?
            .query_and_then([], |row| {
                Ok(RetractJob {
                    id: row.get(0)?,
                    route: row.get(1)?,
                    target: row.get(2)?,
                    selection: row.get(3)?,
                    cause: RetractCause::parse(&row.get::<_, String>(4)?),
                    runner: row.get(5)?,
                    state: row.get(6)?,
                    note: row.get(7)?,
                    created_at: parse_timestamp(row.get(8)?)?,
                    updated_at: parse_timestamp(row.get(9)?)?,
                    posts: row.get(10)?,
                    done: row.get(11)?,
                    failed: row.get(12)?,
                })
            })?
            .collect()
    }
}

/// How a job is named in reasons and the audit trail.
fn job_note(id: i64, cause: RetractCause, selection: &str) -> String {
    match cause {
        RetractCause::Operator => format!("job {id}: {selection}"),
        RetractCause::Source => format!("job {id}"),
    }
}

/// Why a post a job names is never mirrored where it has no row yet.
fn unmirrored_reason(cause: RetractCause, note: &str) -> String {
    match cause {
        RetractCause::Operator => {
            format!("retracted by an operator before it was mirrored ({note})")
        }
        RetractCause::Source => format!("deleted at the source before it was mirrored ({note})"),
    }
}

/// The parts of `key`'s post on its target that were not sent (planned, failed,
/// quarantined) become `skipped` with the reason, each with an audit row. A post held for
/// review stays the desk's when a person retracts (they may be describing it), but one
/// deleted at the source is dropped from the desk too: released later, it would be
/// mirrored after its author deleted it.
fn cancel_unsent(
    tx: &Connection,
    key: &PartKey,
    cause: RetractCause,
    note: &str,
    stamp: &str,
) -> Result<(), StoreError> {
    let reason = match cause {
        RetractCause::Operator => format!("retracted by an operator before delivery ({note})"),
        RetractCause::Source => format!("deleted at the source before delivery ({note})"),
    };
    let states = match cause {
        RetractCause::Operator => UNSENT,
        RetractCause::Source => UNSENT_OR_HELD,
    };
    if cause == RetractCause::Source {
        let post = (
            key.route.as_str(),
            key.source_post_id.as_str(),
            key.target.as_str(),
        );
        let (actor, dropped) = (cause.command(), ReviewState::Dropped);
        super::review::close_hold(tx, stamp, actor, post, dropped, Some(&reason))?;
    }
    let unsent: Vec<(u32, String)> = tx
        .prepare_cached(&format!(
            "SELECT part_index, state FROM parts WHERE route = ?1 AND source_post_id = ?2 \
             AND target = ?3 AND state IN {states} ORDER BY part_index"
        ))?
        .query_map(params![key.route, key.source_post_id, key.target], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (index, state) in unsent {
        let part = PartKey {
            part_index: index,
            ..key.clone()
        };
        skip_unsent(tx, &part, &state, &reason, stamp, cause.command(), note)?;
    }
    Ok(())
}

/// The status a part boosted, when it is a boost: as recorded with its answer, or, for a
/// part recorded before boosts were (an older ledger), when an earlier part on the same
/// target carries the same remote id (the server answered the boost with the original).
fn boost_of(tx: &Connection, key: &PartKey, remote_id: &str) -> Result<Option<String>, StoreError> {
    let recorded: Option<String> = tx
        .prepare_cached(
            "SELECT original_id FROM part_boosts WHERE route = ?1 AND source_post_id = ?2 \
             AND target = ?3 AND part_index = ?4",
        )?
        .query_row(
            params![key.route, key.source_post_id, key.target, key.part_index],
            |row| row.get(0),
        )
        .optional()?;
    if recorded.is_some() {
        return Ok(recorded);
    }
    let shared = tx
        .prepare_cached(
            "SELECT 1 FROM parts AS p, parts AS q WHERE p.route = ?1 AND p.source_post_id = ?2 \
             AND p.target = ?3 AND p.part_index = ?4 AND q.target = p.target \
             AND q.remote_id = ?5 AND q.id < p.id",
        )?
        .query_row(
            params![
                key.route,
                key.source_post_id,
                key.target,
                key.part_index,
                remote_id
            ],
            |_| Ok(()),
        )
        .optional()?;
    Ok(shared.map(|()| remote_id.to_owned()))
}

/// Records what a server answered a boost with, next to the part, on `conn` (the
/// transaction that records the part posted).
fn record_boost_on(
    conn: &Connection,
    key: &PartKey,
    original: &str,
    answer: BoostAnswer,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
            "INSERT INTO part_boosts (route, source_post_id, target, part_index, original_id, \
             answer) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT DO UPDATE SET original_id = excluded.original_id, answer = excluded.answer",
        )?
        .execute(params![
            key.route,
            key.source_post_id,
            key.target,
            key.part_index,
            original,
            answer.as_str()
        ])?;
    Ok(())
}

#[cfg(test)]
mod tests;
