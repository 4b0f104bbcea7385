//! Backfills handed to the running daemon, and the daemon's heartbeat.
//!
//! A `backfill` started while a daemon runs does not deliver itself (it would spend the
//! same accounts' rate-limit windows without knowing about the live posts): it records a
//! job here, and the daemon runs it in the backfill lane, next to its live routes and on
//! their budgets. A job is resumable: its posts' ledger rows say what is done.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};

use super::{parse_timestamp, timestamp, Ledger, StoreError};

/// A backfill for the daemon to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillJob {
    /// The job's number.
    pub id: i64,
    /// The route to fill.
    pub route: String,
    /// An archive to read instead of the route's archive source.
    pub archive: Option<String>,
    /// Read the X API instead of an archive.
    pub from_api: bool,
    /// Only posts from this day on.
    pub since: Option<NaiveDate>,
    /// Only posts up to this day.
    pub until: Option<NaiveDate>,
    /// Deliver at most this many posts.
    pub limit: Option<u64>,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// What happened (the summary, or why it failed).
    pub note: Option<String>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// What the daemon's heartbeat says about the process that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Its process id.
    pub pid: u32,
    /// The machine, boot and pid namespace it ran in (see `src/alive.rs`); `None` when
    /// unknown (not Linux, or a heartbeat written by an older birdbridge).
    pub host: Option<String>,
    /// When the process started, in the kernel's clock ticks since boot (`/proc/<pid>/stat`),
    /// so a pid reused by another process is told apart; `None` when unknown.
    pub started: Option<u64>,
}

impl Ledger {
    /// Queues a backfill for the daemon; returns its number.
    pub fn queue_job(&self, job: &BackfillJob, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO backfill_jobs (route, archive, from_api, since, until, post_limit, \
             state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7)",
        )?
        .execute(params![
            job.route,
            job.archive,
            job.from_api,
            job.since.map(|d| d.to_string()),
            job.until.map(|d| d.to_string()),
            job.limit.and_then(|l| i64::try_from(l).ok()),
            timestamp(now),
        ])?;
        Ok(conn.last_insert_rowid())
    }

    /// The job to run next: one left `running` by a daemon that stopped, else the oldest
    /// queued one.
    pub fn next_job(&self) -> Result<Option<BackfillJob>, StoreError> {
        Ok(self
            .jobs_where("state IN ('running', 'queued') ORDER BY state = 'queued', id LIMIT 1")?
            .pop())
    }

    /// Every job, newest first, at most `limit` (for `status`).
    pub fn jobs(&self, limit: u32) -> Result<Vec<BackfillJob>, StoreError> {
        self.jobs_where(&format!("1 ORDER BY id DESC LIMIT {limit}"))
    }

    /// Moves a job to `state` with a note.
    pub fn set_job_state(
        &self,
        id: i64,
        state: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE backfill_jobs SET state = ?2, note = coalesce(?3, note), updated_at = ?4 \
                 WHERE id = ?1",
            )?
            .execute(params![id, state, note, timestamp(now)])?;
        Ok(())
    }

    /// The daemon says it is alive.
    pub fn beat(&self, beat: &Heartbeat, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO daemon_heartbeat (id, pid, host, started, beat_at) \
                 VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, \
                 host = excluded.host, started = excluded.started, beat_at = excluded.beat_at",
            )?
            .execute(params![
                beat.pid,
                beat.host,
                beat.started.and_then(|s| i64::try_from(s).ok()),
                timestamp(now)
            ])?;
        Ok(())
    }

    /// The daemon stopped.
    pub fn clear_beat(&self) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM daemon_heartbeat", [])?;
        Ok(())
    }

    /// The heartbeat, if it was written at or after `since`. Whether its process still runs
    /// is `alive::running_daemon`'s question.
    pub fn live_daemon(&self, since: DateTime<Utc>) -> Result<Option<Heartbeat>, StoreError> {
        let row: Option<(Heartbeat, String)> = self
            .conn()
            .query_row(
                "SELECT pid, host, started, beat_at FROM daemon_heartbeat WHERE id = 1",
                [],
                |row| {
                    let started: Option<i64> = row.get(2)?;
                    Ok((
                        Heartbeat {
                            pid: row.get(0)?,
                            host: row.get(1)?,
                            started: started.and_then(|s| u64::try_from(s).ok()),
                        },
                        row.get(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((beat, at)) = row else {
            return Ok(None);
        };
        Ok((parse_timestamp(at)? >= since).then_some(beat))
    }

    fn jobs_where(&self, clause: &str) -> Result<Vec<BackfillJob>, StoreError> {
        let day = |d: Option<String>| d.and_then(|d| d.parse::<NaiveDate>().ok());
        self.conn()
            .prepare(&format!(
                "SELECT id, route, archive, from_api, since, until, post_limit, state, note, \
                 updated_at FROM backfill_jobs WHERE {clause}"
            ))?
            .query_and_then([], |row| {
                Ok(BackfillJob {
                    id: row.get(0)?,
                    route: row.get(1)?,
                    archive: row.get(2)?,
                    from_api: row.get(3)?,
                    since: day(row.get(4)?),
                    until: day(row.get(5)?),
                    limit: row
                        .get::<_, Option<i64>>(6)?
                        .and_then(|l| u64::try_from(l).ok()),
                    state: row.get(7)?,
                    note: row.get(8)?,
                    updated_at: parse_timestamp(row.get(9)?)?,
                })
            })?
            .collect()
    }
}
