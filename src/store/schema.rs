//! The ledger's connection settings and its schema history (migrations by `PRAGMA user_version`).
//!
//! Never edit a migration that has shipped, only append a new one: a ledger file records how
//! far it has migrated as a number, so an edited step would never be re-run on files that
//! already passed it, and those files would silently differ from new ones.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};

use super::{Durability, StoreError};

/// How long a statement waits for another process's write lock before failing with
/// `SQLITE_BUSY`. Ledger transactions are a few statements long, so 5 s means "something is
/// wrong", not "someone is busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one step per entry; entry `n` takes `user_version` from `n` to `n + 1`.
///
/// Append only (see the module docs). Each step runs in its own transaction together with
/// its `user_version` bump, so a crash leaves the file at a whole version.
///
/// Timestamps are RFC 3339 text in UTC with exactly six fractional digits and a `Z`
/// (`2024-05-01T12:00:00.000000Z`): readable in the `sqlite3` shell, and fixed width so text
/// order is time order. The `state` column is deliberately not limited by a CHECK: adding a
/// state later should be a new migration's business, not a table rebuild; the code rejects
/// unknown states when it reads them.
const MIGRATIONS: &[&str] = &[
    // 1: parts and cursors.
    "CREATE TABLE parts (
        id              INTEGER PRIMARY KEY,
        route           TEXT    NOT NULL,
        source_post_id  TEXT    NOT NULL,
        target          TEXT    NOT NULL,
        part_index      INTEGER NOT NULL CHECK (part_index >= 0),
        state           TEXT    NOT NULL,
        idempotency_key TEXT    NOT NULL,
        remote_id       TEXT,
        remote_url      TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        last_error      TEXT,
        next_attempt_at TEXT,
        reason          TEXT,
        created_at      TEXT    NOT NULL,
        updated_at      TEXT    NOT NULL,
        UNIQUE (route, source_post_id, target, part_index),
        CHECK (state <> 'posted' OR remote_id IS NOT NULL)
    ) STRICT;
    CREATE INDEX parts_by_state ON parts (state);
    CREATE INDEX parts_with_errors ON parts (updated_at) WHERE last_error IS NOT NULL;
    CREATE TABLE cursors (
        source     TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;",
    // 2: what fediverse delivery remembers besides parts: each target's server profile
    // (refreshed on an interval), media uploaded for a part (so a retry does not upload
    // twice), warnings per part, and rate-limit budgets (for `status` and restarts).
    "CREATE TABLE target_profiles (
        target     TEXT PRIMARY KEY,
        url        TEXT NOT NULL,
        profile    TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE part_media (
        route           TEXT    NOT NULL,
        source_post_id  TEXT    NOT NULL,
        target          TEXT    NOT NULL,
        part_index      INTEGER NOT NULL,
        media_index     INTEGER NOT NULL,
        remote_media_id TEXT    NOT NULL,
        uploaded_at     TEXT    NOT NULL,
        PRIMARY KEY (route, source_post_id, target, part_index, media_index)
    ) STRICT;
    CREATE TABLE part_warnings (
        id             INTEGER PRIMARY KEY,
        route          TEXT    NOT NULL,
        source_post_id TEXT    NOT NULL,
        target         TEXT    NOT NULL,
        part_index     INTEGER NOT NULL,
        message        TEXT    NOT NULL,
        created_at     TEXT    NOT NULL,
        UNIQUE (route, source_post_id, target, part_index, message)
    ) STRICT;
    CREATE TABLE budgets (
        target       TEXT    NOT NULL,
        family       TEXT    NOT NULL,
        window_limit INTEGER NOT NULL,
        remaining    INTEGER NOT NULL,
        reset_at     TEXT    NOT NULL,
        period_ms    INTEGER NOT NULL,
        paused_until TEXT,
        updated_at   TEXT    NOT NULL,
        PRIMARY KEY (target, family)
    ) STRICT;",
    // 3: live mirroring: X user ids resolved once (a lookup is billed), billable reads per
    // source and UTC day, and the links from an edited post's new version to the version
    // whose statuses it edited.
    "CREATE TABLE x_users (
        username    TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL,
        resolved_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE billable_reads (
        source TEXT    NOT NULL,
        day    TEXT    NOT NULL,
        kind   TEXT    NOT NULL,
        count  INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (source, day, kind)
    ) STRICT;
    CREATE TABLE edits (
        route            TEXT NOT NULL,
        target           TEXT NOT NULL,
        source_post_id   TEXT NOT NULL,
        previous_post_id TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        PRIMARY KEY (route, target, source_post_id)
    ) STRICT;",
    // 4: backfills handed to the running daemon (so they share its rate-limit budgets and
    // leave the live lane its reserve), and the daemon's heartbeat that tells `backfill`
    // whether one runs.
    "CREATE TABLE backfill_jobs (
        id         INTEGER PRIMARY KEY,
        route      TEXT    NOT NULL,
        archive    TEXT,
        from_api   INTEGER NOT NULL CHECK (from_api IN (0, 1)),
        since      TEXT,
        until      TEXT,
        post_limit INTEGER CHECK (post_limit >= 0),
        state      TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        note       TEXT,
        created_at TEXT    NOT NULL,
        updated_at TEXT    NOT NULL
    ) STRICT;
    CREATE TABLE daemon_heartbeat (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        pid     INTEGER NOT NULL,
        beat_at TEXT    NOT NULL
    ) STRICT;",
    // 5: operator commands: what a person changed by hand (`quarantine retry|drop`,
    // `hold release`), one row per part or post changed, never a secret; and the posts a
    // person released from a hold, which the next run mirrors although the policy holds them.
    "CREATE TABLE operator_audit (
        id             INTEGER PRIMARY KEY,
        at             TEXT    NOT NULL,
        command        TEXT    NOT NULL,
        route          TEXT    NOT NULL,
        target         TEXT    NOT NULL,
        source_post_id TEXT    NOT NULL,
        part_index     INTEGER,
        change         TEXT    NOT NULL,
        note           TEXT
    ) STRICT;
    CREATE TABLE hold_releases (
        route          TEXT NOT NULL,
        source_post_id TEXT NOT NULL,
        target         TEXT NOT NULL,
        reason         TEXT NOT NULL,
        released_at    TEXT NOT NULL,
        PRIMARY KEY (route, source_post_id, target)
    ) STRICT;",
    // 6: whether a saved rate-limit window was announced by the server or is a guess from
    // the kind's known limits (`status` says which).
    "ALTER TABLE budgets ADD COLUMN announced INTEGER NOT NULL DEFAULT 0 CHECK (announced IN (0, 1));",
    // 7: feed posts kept while any route of their source has parts left for them (a feed
    // cannot be asked for an old item, so a restarted daemon offers them from here). The post
    // is JSON in the shape of `store/kept.rs` (with its own version number).
    "CREATE TABLE kept_posts (
        source  TEXT NOT NULL,
        post_id TEXT NOT NULL,
        post    TEXT NOT NULL,
        kept_at TEXT NOT NULL,
        PRIMARY KEY (source, post_id)
    ) STRICT;",
    // 8: which machine, boot and pid namespace wrote the daemon heartbeat, and when its
    // process started: a fresh heartbeat of a process that is gone (SIGKILL, OOM) on this same
    // machine no longer makes `backfill` queue its work for nobody.
    "ALTER TABLE daemon_heartbeat ADD COLUMN host TEXT;
    ALTER TABLE daemon_heartbeat ADD COLUMN started INTEGER;",
    // 9: t.co links X did not expand, asked once where they lead: the answer (`resolved`), or
    // why there is none (`failure`, asked again after a while), and the post and source the
    // link was met in, for `status`.
    "CREATE TABLE short_links (
        url      TEXT PRIMARY KEY,
        resolved TEXT,
        failure  TEXT,
        source   TEXT NOT NULL,
        post_id  TEXT NOT NULL,
        asked_at TEXT NOT NULL,
        CHECK ((resolved IS NULL) <> (failure IS NULL))
    ) STRICT;",
    // 10: review holds (`store/review.rs`). A held post's parts are `held` rows; the hold
    // itself (per target: why, its state, the limits it was planned for, a version every
    // change bumps so a stale form is told apart), the post kept whole (per route, as
    // `store/kept.rs` writes it, with a delivery claim), a person's edits per copy, their
    // audit trail (who, when, what; apart from `operator_audit`, whose id is the daemon's
    // re-read mark), and a media id per media item (a kept copy of downloaded media, under
    // the ledger's folder).
    "CREATE TABLE review_holds (
        route          TEXT    NOT NULL,
        source_post_id TEXT    NOT NULL,
        target         TEXT    NOT NULL,
        state          TEXT    NOT NULL CHECK (state IN ('held', 'released', 'dropped')),
        rule           TEXT    NOT NULL,
        reason         TEXT    NOT NULL,
        backfill       INTEGER NOT NULL CHECK (backfill IN (0, 1)),
        limits         TEXT,
        version        INTEGER NOT NULL DEFAULT 1,
        held_at        TEXT    NOT NULL,
        decided_at     TEXT,
        decided_by     TEXT,
        note           TEXT,
        PRIMARY KEY (route, source_post_id, target)
    ) STRICT;
    CREATE INDEX review_holds_by_state ON review_holds (state, held_at);
    CREATE INDEX review_holds_by_route ON review_holds (state, route, source_post_id, target, rule);
    CREATE INDEX review_holds_by_target ON review_holds (state, target, route, source_post_id);
    CREATE INDEX review_holds_by_rule ON review_holds (state, rule, route, source_post_id);
    CREATE TABLE review_posts (
        route          TEXT NOT NULL,
        source_post_id TEXT NOT NULL,
        post           TEXT NOT NULL,
        posted_at      TEXT NOT NULL,
        kept_at        TEXT NOT NULL,
        claimed_by     TEXT,
        claimed_until  TEXT,
        PRIMARY KEY (route, source_post_id)
    ) STRICT;
    CREATE INDEX review_posts_by_date ON review_posts (posted_at, source_post_id, route);
    CREATE TABLE review_edits (
        route          TEXT    NOT NULL,
        source_post_id TEXT    NOT NULL,
        target         TEXT    NOT NULL,
        field          TEXT    NOT NULL
            CHECK (field IN ('description', 'warning', 'sensitive', 'text', 'visibility')),
        item           INTEGER NOT NULL DEFAULT 0,
        value          TEXT    NOT NULL,
        edited_at      TEXT    NOT NULL,
        edited_by      TEXT    NOT NULL,
        PRIMARY KEY (route, source_post_id, target, field, item)
    ) STRICT;
    CREATE TABLE review_audit (
        id             INTEGER PRIMARY KEY,
        at             TEXT NOT NULL,
        actor          TEXT NOT NULL,
        route          TEXT NOT NULL,
        source_post_id TEXT NOT NULL,
        target         TEXT NOT NULL,
        change         TEXT NOT NULL,
        note           TEXT
    ) STRICT;
    CREATE INDEX review_audit_by_post ON review_audit (route, source_post_id);
    CREATE TABLE held_media (
        id             INTEGER PRIMARY KEY,
        route          TEXT    NOT NULL,
        source_post_id TEXT    NOT NULL,
        media_index    INTEGER NOT NULL,
        file           TEXT,
        mime           TEXT,
        kept_at        TEXT    NOT NULL,
        UNIQUE (route, source_post_id, media_index)
    ) STRICT;",
    // 11: taking posts back (`retract`, deletes that follow the source). What each boost's
    // answer was (the status boosted, and whether the id the server answered with is the
    // boost's own or the original's), so a boost is undone as a boost and never deleted;
    // retraction jobs (what was asked, who runs it) and the posts each takes back, in the
    // order they go (newest first), with their tries.
    "CREATE TABLE part_boosts (
        route          TEXT    NOT NULL,
        source_post_id TEXT    NOT NULL,
        target         TEXT    NOT NULL,
        part_index     INTEGER NOT NULL,
        original_id    TEXT    NOT NULL,
        answer         TEXT    NOT NULL CHECK (answer IN ('own', 'original')),
        PRIMARY KEY (route, source_post_id, target, part_index)
    ) STRICT;
    CREATE TABLE retraction_jobs (
        id         INTEGER PRIMARY KEY,
        route      TEXT    NOT NULL,
        target     TEXT,
        selection  TEXT    NOT NULL,
        cause      TEXT    NOT NULL CHECK (cause IN ('operator', 'source')),
        runner     TEXT    NOT NULL CHECK (runner IN ('command', 'daemon')),
        state      TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        note       TEXT,
        created_at TEXT    NOT NULL,
        updated_at TEXT    NOT NULL
    ) STRICT;
    CREATE TABLE retraction_items (
        job            INTEGER NOT NULL REFERENCES retraction_jobs (id),
        source_post_id TEXT    NOT NULL,
        target         TEXT    NOT NULL,
        position       INTEGER NOT NULL,
        state          TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
        tries          INTEGER NOT NULL DEFAULT 0 CHECK (tries >= 0),
        last_error     TEXT,
        next_try_at    TEXT,
        PRIMARY KEY (job, source_post_id, target)
    ) STRICT;
    CREATE INDEX retraction_items_by_state ON retraction_items (job, state, position);",
    // 12: what each target's writes cost, per UTC day (X bills every post): the spend of
    // the parts recorded as posted or adopted that day, priced when recorded, so a daily
    // spending cap survives restarts.
    "CREATE TABLE target_spend (
        target TEXT    NOT NULL,
        day    TEXT    NOT NULL,
        micros INTEGER NOT NULL CHECK (micros >= 0),
        parts  INTEGER NOT NULL CHECK (parts >= 0),
        posts  INTEGER NOT NULL CHECK (posts >= 0),
        PRIMARY KEY (target, day)
    ) STRICT;",
];

/// The schema version this binary writes and understands.
pub(super) fn known_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Applies the per-connection settings, refusing a ledger from a newer birdbridge first so that
/// such a file is not touched at all.
pub(super) fn configure(
    conn: &Connection,
    path: &Path,
    durability: Durability,
) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    // The first read of the file: also where "file is not a database" shows up.
    let found = user_version(conn).map_err(open_error)?;
    refuse_newer(found, path)?;

    let mode = wal_mode(conn).map_err(open_error)?;
    // An in-memory database answers "memory"; a file on a filesystem without shared memory
    // may stay in "delete" mode, which is slower but just as safe.
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(path = %path.display(), journal_mode = %mode, "ledger is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", durability.pragma_value())
        .map_err(open_error)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_error)?;
    Ok(())
}

/// Brings the schema up to [`known_version`], one step per transaction.
///
/// The version is read again inside each write transaction, so two processes opening a fresh
/// file at once do not both run the same step: the second waits for the lock, then sees the
/// new version.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let migrate_error = |version, source| StoreError::Migrate {
            path: path.to_path_buf(),
            version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_error)?;
        let found = user_version(&tx).map_err(open_error)?;
        refuse_newer(found, path)?;
        let Some(step) = usize::try_from(found)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
        else {
            // Already current: nothing to commit, the transaction rolls back on drop.
            return Ok(());
        };
        let next = found + 1;
        tx.execute_batch(step).map_err(|e| migrate_error(next, e))?;
        tx.pragma_update(None, "user_version", next)
            .map_err(|e| migrate_error(next, e))?;
        tx.commit().map_err(|e| migrate_error(next, e))?;
        tracing::info!(path = %path.display(), version = next, "ledger schema migrated");
    }
}

/// Switches the file to WAL and returns the mode it is in. The switch needs the file to
/// itself for a moment; while another process migrates the same new file, the library answers
/// `SQLITE_BUSY` at once instead of waiting (waiting there could deadlock), so the switch is
/// tried again until the busy timeout.
fn wal_mode(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn refuse_newer(found: i64, path: &Path) -> Result<(), StoreError> {
    let known = known_version();
    if found > known {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(())
}
