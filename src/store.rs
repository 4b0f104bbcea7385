//! The ledger: an `SQLite` file that records every mirrored part, so nothing is posted twice.
//!
//! It is the single source of truth for "was this mirrored, and where" (ARCHITECTURE.md, "Exactly
//! once"). Intent is recorded before any remote call and the result after it:
//!
//! ```text
//! plan_post ──► planned ──begin_attempt──► posting ──mark_posted / adopt_spending──► posted
//!                  ▲                          │
//!                  │                          └──mark_failed──► failed ──begin_attempt──► posting
//!                  │                                 (attempts >= max) ──► quarantined
//!                  └───────────────requeue─────────────────────────────────────┘
//! mark_skipped ──► skipped (audit trail: why a post was not mirrored; final)
//! hold_for_review ──► held ──release_review──► planned    held ──drop_review──► skipped
//!
//! posted ──begin_retract──► retracting ──mark_retracted──► retracted (taken back; final)
//!                              │  ▲
//!                              │  └── retract_failed (stays, retried) / retracting again
//!                              └──retract_given_up──► posted (the server refused it)
//! ```
//!
//! Taking back (`retract`, deletes that follow the source) is in `store/retract.rs`:
//! `retracting` is written before the target is asked to delete (or unboost), so a part found
//! in it was interrupted and is simply asked again (a delete or an unboost is safe to
//! repeat; a status already gone counts as taken back).
//!
//! Every state change is one `BEGIN IMMEDIATE` transaction that reads the row, checks the
//! transition and writes it, so of two processes (or two handles) moving the same part only
//! one succeeds; the other gets [`StoreError::InvalidTransition`]. The ledger decides *whether*
//! a change is legal, never *when*: backoff times are stored for the caller to honour.
//!
//! Timestamps are stored as fixed-width RFC 3339 text in UTC with microseconds (see
//! `schema.rs`); times given to the ledger are truncated to the microsecond so that what a call
//! returns equals what a later read returns.
//!
//! Nothing here takes or stores a secret, and nothing should: the file is an audit trail that
//! operators copy and share when reporting bugs.

mod backup;
mod call;
mod fediverse;
mod jobs;
mod kept;
mod report;
mod retract;
mod review;
mod schema;
mod short_links;
mod sources;
mod spend;
mod targets;
#[cfg(test)]
mod tests;

/// Defined with the model, where the renderer reads it without depending on the ledger.
pub use crate::model::MirroredPost;
pub use backup::BackupReport;
pub use kept::{KeepPost, UnreadableKept};
pub use targets::{CachedProfile, NotAReply, SavedBudget, NOT_A_REPLY};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rusqlite::{params, Connection, Params, Row, TransactionBehavior};
use sha2::{Digest, Sha256};

pub use operator::{AuditEntry, PartFilter};
pub use report::DeliveryTimes;
pub use retract::{
    BoostAnswer, Candidate, ItemWork, NewJob, RetractCause, RetractItem, RetractJob, RetractRunner,
    Taking,
};
pub use review::{
    EditField, HeldMedia, NewHold, QueueAt, QueueFilter, QueueItem, QueueKey, QueuePage,
    ReviewAudit, ReviewError, ReviewHold, ReviewState, ReviewSummary, ReviewedPost,
};
pub use short_links::ShortLink;
pub use sources::{ReadCount, ReadKind};
pub use spend::DaySpend;

/// Identifies one part of one mirrored post on one target. Unique in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartKey {
    pub route: String,
    pub source_post_id: String,
    pub target: String,
    pub part_index: u32,
}

impl PartKey {
    /// Builds a key from its four fields.
    pub fn new(
        route: impl Into<String>,
        source_post_id: impl Into<String>,
        target: impl Into<String>,
        part_index: u32,
    ) -> Self {
        Self {
            route: route.into(),
            source_post_id: source_post_id.into(),
            target: target.into(),
            part_index,
        }
    }
}

impl fmt::Display for PartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route {} post {} target {} part {}",
            self.route, self.source_post_id, self.target, self.part_index
        )
    }
}

/// The life of a part. See ARCHITECTURE.md "Exactly once, in detail".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartState {
    Planned,
    Posting,
    Posted,
    Failed,
    Quarantined,
    Skipped,
    /// Planned for a person's review: rendered and counted, never sent until released
    /// (`planned`) or dropped (`skipped`); see `store/review.rs`.
    Held,
    /// Being taken back: the target is (or was, before a crash) asked to delete it.
    Retracting,
    /// Taken back on the target (deleted, or its boost undone); final: never posted again.
    Retracted,
}

impl PartState {
    /// The name stored in the ledger's `state` column; stable across releases.
    pub fn as_str(self) -> &'static str {
        match self {
            PartState::Planned => "planned",
            PartState::Posting => "posting",
            PartState::Posted => "posted",
            PartState::Failed => "failed",
            PartState::Quarantined => "quarantined",
            PartState::Skipped => "skipped",
            PartState::Held => "held",
            PartState::Retracting => "retracting",
            PartState::Retracted => "retracted",
        }
    }
}

impl fmt::Display for PartState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PartState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "planned" => PartState::Planned,
            "posting" => PartState::Posting,
            "posted" => PartState::Posted,
            "failed" => PartState::Failed,
            "quarantined" => PartState::Quarantined,
            "skipped" => PartState::Skipped,
            "held" => PartState::Held,
            "retracting" => PartState::Retracting,
            "retracted" => PartState::Retracted,
            _ => {
                return Err(StoreError::UnknownState {
                    state: s.to_owned(),
                })
            }
        })
    }
}

/// How the reason of a held post starts (see [`Ledger::mark_held`]).
pub const HELD_PREFIX: &str = "held: ";

impl PartRecord {
    /// Whether this row holds a post back for a person (see [`Ledger::mark_held`]).
    pub fn is_held(&self) -> bool {
        self.state == PartState::Quarantined
            && self.attempts == 0
            && self.last_error.is_none()
            && self
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with(HELD_PREFIX))
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub key: PartKey,
    pub state: PartState,
    /// [`idempotency_key`] of `key`, stored so an operator can match server logs to rows.
    pub idempotency_key: String,
    /// The status id on the target, once `posted`.
    pub remote_id: Option<String>,
    /// The status URL on the target, when the server gave one.
    pub remote_url: Option<String>,
    /// Attempts stamped by `begin_attempt` (reset by `requeue`).
    pub attempts: u32,
    /// The latest failure, kept for the audit even after a later success.
    pub last_error: Option<String>,
    /// When a `failed` part may be tried again; `None` in every other state.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why a `skipped` post was not mirrored.
    pub reason: Option<String>,
    /// The last change to the row.
    pub updated_at: DateTime<Utc>,
}

/// Counts of one state for one route and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    pub route: String,
    pub target: String,
    pub state: PartState,
    pub count: u64,
}

/// A source's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub source: String,
    pub value: String,
    pub updated_at: DateTime<Utc>,
}

/// How long a commit waits for the disk (measured with `benches/ledger.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: a commit returns only once it is on disk. The default, because the
    /// `posting` stamp written before a remote call must survive a power loss: if it were lost,
    /// the part would look `planned` again and be posted a second time, possibly after the
    /// server's idempotency window has closed.
    #[default]
    Full,
    /// `synchronous=NORMAL`: in WAL mode the file stays consistent, but the last commits before
    /// a power loss (not a process crash) may be lost. Faster; only for throwaway ledgers.
    Normal,
}

impl Durability {
    fn pragma_value(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// What went wrong in the ledger, grouped by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The ledger's folder could not be created: the operator fixes the path or permissions.
    #[error("cannot create the ledger folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file could not be opened or set up (not a database, no permission, or locked by
    /// another process for longer than the busy timeout): stop and report.
    #[error("cannot open the ledger {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer birdbridge; it is left untouched. The operator upgrades
    /// or points `[ledger] path` elsewhere.
    #[error(
        "the ledger {path} has schema version {found}, but this birdbridge knows versions up to \
         {known}: it was written by a newer birdbridge; upgrade, or set [ledger] path to another file"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A schema migration failed and was rolled back; the file is still at the previous
    /// version. Stop and report.
    #[error("cannot migrate the ledger {path} to schema version {version}")]
    Migrate {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// The part is not in a state this change may start from. Either another process moved it
    /// first, or the caller's view is stale: do not call the target for it; re-read the part.
    #[error("ledger part ({key}) cannot go from {from} to {to}")]
    InvalidTransition {
        key: PartKey,
        from: PartState,
        to: PartState,
    },
    /// The part was never planned: a caller bug (plan before attempting).
    #[error("ledger part ({key}) was never planned")]
    UnknownPart { key: PartKey },
    /// A row holds a state this binary does not know (hand edits, or a newer birdbridge that
    /// did not bump the schema): stop and report.
    #[error("the ledger holds the unknown part state {state:?}")]
    UnknownState { state: String },
    /// A row holds a timestamp that is not RFC 3339 (hand edits): stop and report.
    #[error("the ledger holds the malformed timestamp {value:?}")]
    BadTimestamp {
        value: String,
        #[source]
        source: chrono::ParseError,
    },
    /// The runtime shut down while an async caller waited for a ledger call
    /// ([`Ledger::call`]): its outcome is unknown to the caller, which stops.
    #[error("a ledger call was abandoned at shutdown")]
    Abandoned,
    /// A held post's media could not be copied next to the ledger (disk full, permissions).
    #[error("cannot keep a copy of a held post's media at {path}")]
    MediaCopy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A query failed (disk full, read-only file, locked longer than the busy timeout). The
    /// transaction was rolled back, so the ledger is as it was before the call.
    #[error("ledger query failed")]
    Sqlite(#[from] rusqlite::Error),
}

/// The ledger handle; owns the connection.
///
/// Calls are synchronous and wait for the disk (and for another process's write lock), so
/// async code makes them through [`Ledger::call`], on the blocking pool. The handle is
/// `Sync`: share one per process behind an `Arc`; its calls are serialised on an internal
/// lock. Several processes may open the same file.
#[derive(Debug)]
pub struct Ledger {
    conn: Mutex<Connection>,
    /// The ledger file (`None` in memory): held posts' media are kept next to it.
    path: Option<PathBuf>,
}

/// A domain tag hashed before the key fields, so the scheme can change (v2) without any
/// chance of a new key equalling an old one.
const IDEMPOTENCY_DOMAIN: &[u8] = b"birdbridge part v1\0";

/// Hex digits kept from the SHA-256: 128 bits, far past any collision risk in one account.
const IDEMPOTENCY_HEX_LEN: usize = 32;

/// The deterministic idempotency key for a part: the same key after any crash or retry.
///
/// Lower-case hex of SHA-256 over a domain tag, then each text field as its byte length
/// (8 bytes, big-endian) and its bytes, then the part index (4 bytes, big-endian), truncated to
/// 32 digits. The length prefixes keep `("a", "bc")` and `("ab", "c")` apart. Changing this
/// function makes every in-flight retry a new request: add a new domain tag instead.
pub fn idempotency_key(key: &PartKey) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hash = Sha256::new();
    hash.update(IDEMPOTENCY_DOMAIN);
    for field in [&key.route, &key.source_post_id, &key.target] {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field.as_bytes());
    }
    hash.update(key.part_index.to_be_bytes());
    let digest = hash.finalize();
    let mut out = String::with_capacity(IDEMPOTENCY_HEX_LEN);
    for byte in &digest[..IDEMPOTENCY_HEX_LEN / 2] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Expands to a `SELECT` of every [`PartRecord`] column (in [`part_from_row`]'s order)
/// followed by the given clause, as one string literal so statements can be cached.
macro_rules! select_parts {
    ($tail:literal) => {
        concat!(
            "SELECT route, source_post_id, target, part_index, state, idempotency_key, ",
            "remote_id, remote_url, attempts, last_error, next_attempt_at, reason, updated_at ",
            "FROM parts ",
            $tail
        )
    };
}

// After `select_parts!`, which they use.
mod operator;
mod waiting;

pub use jobs::{BackfillJob, Heartbeat};
pub use waiting::WaitingGroup;

impl Ledger {
    /// Opens (creating it and its folder if needed) and migrates the ledger at `path`, with
    /// [`Durability::Full`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::default())
    }

    /// Opens the ledger at `path` with a chosen durability (benchmarks, throwaway ledgers).
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut ledger = Self::prepare(conn, path, durability)?;
        ledger.path = Some(path.to_path_buf());
        Ok(ledger)
    }

    /// A private ledger in memory, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::prepare(conn, path, Durability::default())
    }

    fn prepare(
        mut conn: Connection,
        path: &Path,
        durability: Durability,
    ) -> Result<Self, StoreError> {
        schema::configure(&conn, path, durability)?;
        schema::migrate(&mut conn, path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: None,
        })
    }

    /// The connection. A panic while it was held cannot have left a transaction half done
    /// (rusqlite rolls back on drop), so a poisoned lock is safe to take over.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One part, if it is in the ledger.
    pub fn part(&self, key: &PartKey) -> Result<Option<PartRecord>, StoreError> {
        select_part(&self.conn(), key)
    }

    /// Every part of a post on a target, by part index (empty when the post is not in the
    /// ledger for that target).
    pub fn parts_of_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Vec<PartRecord>, StoreError> {
        select_post(&self.conn(), route, source_post_id, target)
    }

    /// Records the intent to mirror a post as `part_count` parts, and returns the post's plan.
    ///
    /// The first plan wins: when the post already has rows on this target (planned, posted,
    /// skipped, anything), nothing is inserted and those rows are returned, so re-planning
    /// never changes a post, and a renderer that now splits the post differently cannot add a
    /// stray part to a thread that was already posted. The caller works from the returned rows;
    /// their count may differ from `part_count`.
    pub fn plan_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        part_count: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PartRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = select_post(&tx, route, source_post_id, target)?;
        if !existing.is_empty() {
            if existing.len() != part_count as usize {
                tracing::debug!(
                    route,
                    source_post_id,
                    target,
                    planned = existing.len(),
                    asked = part_count,
                    "post already planned with another part count; keeping the first plan"
                );
            }
            return Ok(existing);
        }
        insert_planned(&tx, route, source_post_id, target, part_count, now)?;
        let planned = select_post(&tx, route, source_post_id, target)?;
        tx.commit()?;
        Ok(planned)
    }

    /// Stamps an attempt before the remote call: `planned` or `failed` → `posting`,
    /// `attempts + 1`. Returns the updated part.
    ///
    /// Only one caller can win this for a part; the loser gets
    /// [`StoreError::InvalidTransition`] and must not post.
    pub fn begin_attempt(
        &self,
        key: &PartKey,
        now: DateTime<Utc>,
    ) -> Result<PartRecord, StoreError> {
        self.change(
            key,
            &[PartState::Planned, PartState::Failed],
            PartState::Posting,
            |part| {
                part.state = PartState::Posting;
                part.attempts = part.attempts.saturating_add(1);
                part.next_attempt_at = None;
            },
            now,
        )
    }

    /// Records the server's answer to the attempt in flight: `posting` → `posted`.
    ///
    /// Only from `posting`: a success can only belong to an attempt that was stamped and not
    /// yet settled. A success reported for a `failed` or `quarantined` part means two
    /// deliveries of one part overlapped (or a settled attempt was reported twice), which is
    /// the bug this ledger exists to catch, so it is refused rather than hidden; such a part
    /// goes through reconciliation ([`Ledger::adopt_spending`]) after its next `begin_attempt`.
    pub fn mark_posted(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.mark_posted_spending(key, remote_id, remote_url, 0, now)
    }

    /// `posting` → `posted`, and (when `micros` is not 0) what the target billed for it
    /// added to the target's spend of the day, and `also` in the same transaction (what a
    /// boost's answer was, say).
    fn settle_posted_and(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        micros: u64,
        now: DateTime<Utc>,
        also: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<PartRecord, StoreError> {
        self.change_and(
            key,
            &[PartState::Posting],
            PartState::Posted,
            |part| {
                part.state = PartState::Posted;
                part.remote_id = Some(remote_id.to_owned());
                part.remote_url = remote_url.map(str::to_owned);
                part.next_attempt_at = None;
            },
            |tx| {
                spend::add(tx, key, micros, now)?;
                also(tx)
            },
            now,
        )
    }

    /// Records a failed attempt: `posting` → `failed` (to be retried at `next_attempt_at`), or
    /// → `quarantined` once `attempts >= max_attempts` (retried only on request). Returns the
    /// new state. The error text is kept until the next failure, even after success.
    pub fn mark_failed(
        &self,
        key: &PartKey,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<PartState, StoreError> {
        let part = self.change(
            key,
            &[PartState::Posting],
            PartState::Failed,
            |part| {
                part.last_error = Some(error.to_owned());
                if part.attempts >= max_attempts {
                    part.state = PartState::Quarantined;
                    part.next_attempt_at = None;
                } else {
                    part.state = PartState::Failed;
                    part.next_attempt_at = Some(next_attempt_at.trunc_subsecs(6));
                }
            },
            now,
        )?;
        if part.state == PartState::Quarantined {
            tracing::warn!(part = %key, attempts = part.attempts, error, "part quarantined");
        }
        Ok(part.state)
    }

    /// Retries a quarantined part on request: `quarantined` → `planned`, with the attempt count
    /// reset (so it gets the full number of attempts again). The last error is kept.
    pub fn requeue(&self, key: &PartKey, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.change(
            key,
            &[PartState::Quarantined],
            PartState::Planned,
            |part| {
                part.state = PartState::Planned;
                part.attempts = 0;
                part.next_attempt_at = None;
            },
            now,
        )?;
        Ok(())
    }

    /// Records why a post is not mirrored to a target, as a `skipped` part 0, but only when the
    /// post has no row at all on that target. Returns whether it inserted: a planned, posted or
    /// earlier skipped post is never overwritten.
    pub fn mark_skipped(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(insert_first_row_on(
            &self.conn(),
            route,
            source_post_id,
            target,
            PartState::Skipped,
            reason,
            now,
        )?)
    }

    /// Holds a post back from a target for a person to decide (the route's
    /// `alt_text = "hold"`): records a `quarantined` part 0 whose reason starts with
    /// [`HELD_PREFIX`] and which never had an attempt, so `status` lists it and nothing
    /// retries it. Only when the post has no row on that target yet; returns whether it
    /// inserted. No schema change: a held post is an ordinary quarantined row.
    pub fn mark_held(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        debug_assert!(reason.starts_with(HELD_PREFIX), "{reason}");
        Ok(insert_first_row_on(
            &self.conn(),
            route,
            source_post_id,
            target,
            PartState::Quarantined,
            reason,
            now,
        )?)
    }

    /// Releases a post held by [`Ledger::mark_held`] (the route's policy no longer holds
    /// it): deletes its held row, so the post is planned afresh. Returns whether there was
    /// one. Rows of posts that were planned or attempted are never touched.
    pub fn release_held(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .conn()
            .prepare_cached(
                "DELETE FROM parts WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 \
                 AND state = 'quarantined' AND attempts = 0 AND last_error IS NULL \
                 AND substr(reason, 1, length(?4)) = ?4",
            )?
            .execute(params![route, source_post_id, target, HELD_PREFIX])?;
        Ok(deleted > 0)
    }

    /// Where a post was mirrored on a target: `Some` only when every part is `posted`.
    pub fn mirrored_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Option<MirroredPost>, StoreError> {
        let parts = self.parts_of_post(route, source_post_id, target)?;
        Ok(mirrored(&parts))
    }

    /// A source's saved position.
    pub fn cursor(&self, source: &str) -> Result<Option<Cursor>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT source, value, updated_at FROM cursors WHERE source = ?1")?;
        query_cursors(&mut stmt, [source]).map(|cursors| cursors.into_iter().next())
    }

    /// Saves a source's position, replacing the previous one.
    pub fn set_cursor(
        &self,
        source: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        save_cursor(&self.conn(), source, value, now)
    }

    /// How many parts are in each state, per route and target; ordered by route, target, then
    /// state in life order (planned first).
    pub fn state_counts(&self) -> Result<Vec<StateCount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT route, target, state, COUNT(*) FROM parts GROUP BY route, target, state",
        )?;
        let mut counts = stmt
            .query_and_then([], |row| {
                Ok(StateCount {
                    route: row.get(0)?,
                    target: row.get(1)?,
                    state: row.get::<_, String>(2)?.parse()?,
                    count: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, StoreError>>()?;
        counts.sort_by(|a, b| (&a.route, &a.target, a.state).cmp(&(&b.route, &b.target, b.state)));
        Ok(counts)
    }

    /// The `limit` most recently changed parts that carry an error, newest first, whatever
    /// their state now.
    pub fn recent_errors(&self, limit: u32) -> Result<Vec<PartRecord>, StoreError> {
        query_parts(
            &self.conn(),
            select_parts!(
                "WHERE last_error IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT ?1"
            ),
            [limit],
        )
    }

    /// Every quarantined part, longest quarantined first.
    pub fn quarantined(&self) -> Result<Vec<PartRecord>, StoreError> {
        query_parts(
            &self.conn(),
            select_parts!("WHERE state = 'quarantined' ORDER BY updated_at, id"),
            [],
        )
    }

    /// Every saved source position, by source name.
    pub fn cursors(&self) -> Result<Vec<Cursor>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT source, value, updated_at FROM cursors ORDER BY source")?;
        query_cursors(&mut stmt, [])
    }

    /// Moves one part in one immediate transaction: reads it, checks that its state is in
    /// `allowed_from` (else [`StoreError::InvalidTransition`] towards `to`), applies `edit`,
    /// stamps `updated_at` and writes every mutable column back. Returns the part as written.
    fn change(
        &self,
        key: &PartKey,
        allowed_from: &[PartState],
        to: PartState,
        edit: impl FnOnce(&mut PartRecord),
        now: DateTime<Utc>,
    ) -> Result<PartRecord, StoreError> {
        self.change_and(key, allowed_from, to, edit, |_| Ok(()), now)
    }

    /// [`Ledger::change`], and `also` in the same transaction once the part is written.
    fn change_and(
        &self,
        key: &PartKey,
        allowed_from: &[PartState],
        to: PartState,
        edit: impl FnOnce(&mut PartRecord),
        also: impl FnOnce(&Connection) -> rusqlite::Result<()>,
        now: DateTime<Utc>,
    ) -> Result<PartRecord, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut part =
            select_part(&tx, key)?.ok_or_else(|| StoreError::UnknownPart { key: key.clone() })?;
        if !allowed_from.contains(&part.state) {
            return Err(StoreError::InvalidTransition {
                key: key.clone(),
                from: part.state,
                to,
            });
        }
        edit(&mut part);
        part.updated_at = now.trunc_subsecs(6);
        tx.prepare_cached(
            "UPDATE parts SET state = ?5, remote_id = ?6, remote_url = ?7, attempts = ?8, \
             last_error = ?9, next_attempt_at = ?10, updated_at = ?11, reason = ?12 \
             WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 AND part_index = ?4",
        )?
        .execute(params![
            key.route,
            key.source_post_id,
            key.target,
            key.part_index,
            part.state.as_str(),
            part.remote_id,
            part.remote_url,
            part.attempts,
            part.last_error,
            part.next_attempt_at.map(timestamp),
            timestamp(part.updated_at),
            part.reason,
        ])?;
        also(&tx)?;
        tx.commit()?;
        Ok(part)
    }
}

/// The post on a target as [`MirroredPost`], when all its parts are posted.
fn mirrored(parts: &[PartRecord]) -> Option<MirroredPost> {
    let (first, last) = (parts.first()?, parts.last()?);
    if parts.iter().any(|part| part.state != PartState::Posted) {
        return None;
    }
    Some(MirroredPost {
        first_id: first.remote_id.clone()?,
        first_url: first.remote_url.clone(),
        last_id: last.remote_id.clone()?,
    })
}

fn select_part(conn: &Connection, key: &PartKey) -> Result<Option<PartRecord>, StoreError> {
    let parts = query_parts(
        conn,
        select_parts!(
            "WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 AND part_index = ?4"
        ),
        params![key.route, key.source_post_id, key.target, key.part_index],
    )?;
    Ok(parts.into_iter().next())
}

/// Inserts part 0 of a post in `state` with `reason` on `conn` (a transaction too), only
/// when the post has no row on that target yet; returns whether it did. One statement, so
/// the check and the insert are one transaction.
fn insert_first_row_on(
    conn: &Connection,
    route: &str,
    source_post_id: &str,
    target: &str,
    state: PartState,
    reason: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let key = PartKey::new(route, source_post_id, target, 0);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO parts (route, source_post_id, target, part_index, state, \
             idempotency_key, reason, created_at, updated_at) \
             SELECT ?1, ?2, ?3, 0, ?7, ?4, ?5, ?6, ?6 \
             WHERE NOT EXISTS (SELECT 1 FROM parts \
                 WHERE route = ?1 AND source_post_id = ?2 AND target = ?3)",
        )?
        .execute(params![
            route,
            source_post_id,
            target,
            idempotency_key(&key),
            reason,
            timestamp(now),
            state.as_str(),
        ])?;
    Ok(inserted == 1)
}

/// Inserts parts `0..part_count` of a post as `planned`, each with its idempotency key: the
/// one shape of a plan, for a first plan and a replacement alike.
fn insert_planned(
    tx: &Connection,
    route: &str,
    source_post_id: &str,
    target: &str,
    part_count: u32,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let now = timestamp(now);
    let mut insert = tx.prepare_cached(
        "INSERT INTO parts (route, source_post_id, target, part_index, state, \
         idempotency_key, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'planned', ?5, ?6, ?6)",
    )?;
    for part_index in 0..part_count {
        let key = PartKey::new(route, source_post_id, target, part_index);
        insert.execute(params![
            route,
            source_post_id,
            target,
            part_index,
            idempotency_key(&key),
            now,
        ])?;
    }
    Ok(())
}

fn select_post(
    conn: &Connection,
    route: &str,
    source_post_id: &str,
    target: &str,
) -> Result<Vec<PartRecord>, StoreError> {
    query_parts(
        conn,
        select_parts!(
            "WHERE route = ?1 AND source_post_id = ?2 AND target = ?3 ORDER BY part_index"
        ),
        [route, source_post_id, target],
    )
}

/// Runs a [`select_parts!`] query and decodes its rows.
fn query_parts(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<PartRecord>, StoreError> {
    conn.prepare_cached(sql)?
        .query_and_then(params, part_from_row)?
        .collect()
}

/// Saves a source's position on `conn` (a transaction too, so a cursor can move together
/// with what it moves past).
pub(crate) fn save_cursor(
    conn: &rusqlite::Connection,
    source: &str,
    value: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO cursors (source, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (source) DO UPDATE \
         SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![source, value, timestamp(now)])?;
    Ok(())
}

fn query_cursors(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl Params,
) -> Result<Vec<Cursor>, StoreError> {
    stmt.query_and_then(params, |row| {
        Ok(Cursor {
            source: row.get(0)?,
            value: row.get(1)?,
            updated_at: parse_timestamp(row.get(2)?)?,
        })
    })?
    .collect()
}

/// A part row of a [`select_parts!`] query, its text columns checked.
fn part_from_row(row: &Row<'_>) -> Result<PartRecord, StoreError> {
    Ok(PartRecord {
        key: PartKey {
            route: row.get(0)?,
            source_post_id: row.get(1)?,
            target: row.get(2)?,
            part_index: row.get(3)?,
        },
        state: row.get::<_, String>(4)?.parse()?,
        idempotency_key: row.get(5)?,
        remote_id: row.get(6)?,
        remote_url: row.get(7)?,
        attempts: row.get(8)?,
        last_error: row.get(9)?,
        next_attempt_at: optional_timestamp(row, 10)?,
        reason: row.get(11)?,
        updated_at: parse_timestamp(row.get(12)?)?,
    })
}

/// The stored form of a time: fixed-width RFC 3339, UTC, microseconds (sorts as text).
fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The time in column `idx` of `row`, if it is not NULL.
fn optional_timestamp(row: &Row<'_>, idx: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.get::<_, Option<String>>(idx)?
        .map(parse_timestamp)
        .transpose()
}

fn parse_timestamp(value: String) -> Result<DateTime<Utc>, StoreError> {
    match DateTime::parse_from_rfc3339(&value) {
        Ok(time) => Ok(time.with_timezone(&Utc)),
        Err(source) => Err(StoreError::BadTimestamp { value, source }),
    }
}
