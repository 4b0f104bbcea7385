//! Ledger integration tests on real files: schema migration, WAL, reopening, refusing newer
//! schemas, the UNIQUE key, and two handles racing for the same part.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use birdbridge::store::{Ledger, PartKey, PartState, StoreError, HELD_PREFIX};
use chrono::{DateTime, TimeZone, Utc};
use rstest::rstest;
use rusqlite::Connection;
use tempfile::TempDir;

fn t(seconds: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, seconds).unwrap()
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[rstest]
#[case::missing_file_in_missing_folders("state/nested/ledger.sqlite", false)]
#[case::empty_file("ledger.sqlite", true)]
fn a_new_file_is_migrated_and_in_wal_mode(#[case] name: &str, #[case] exists: bool) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(name);
    if exists {
        std::fs::File::create(&path).unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(user_version(&path), 12);

    // journal_mode=WAL is stored in the file, so a fresh connection sees it.
    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "backfill_jobs",
            "billable_reads",
            "budgets",
            "cursors",
            "daemon_heartbeat",
            "edits",
            "held_media",
            "hold_releases",
            "kept_posts",
            "operator_audit",
            "part_boosts",
            "part_media",
            "part_warnings",
            "parts",
            "retraction_items",
            "retraction_jobs",
            "review_audit",
            "review_edits",
            "review_holds",
            "review_posts",
            "short_links",
            "target_profiles",
            "target_spend",
            "x_users"
        ]
    );
    drop(ledger);
}

#[test]
fn processes_opening_a_new_file_at_once_migrate_it_once() {
    let dir = TempDir::new().unwrap();
    let path = Arc::new(dir.path().join("ledger.sqlite"));
    let barrier = Arc::new(Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                Ledger::open(&path).map(drop)
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    assert_eq!(user_version(&path), 12);
}

#[test]
fn reopening_keeps_the_data_and_the_version() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let planned = {
        let ledger = Ledger::open(&path).unwrap();
        let parts = ledger.plan_post("r", "1", "t", 2, t(0)).unwrap();
        ledger.begin_attempt(&parts[0].key, t(1)).unwrap();
        ledger.mark_posted(&parts[0].key, "77", None, t(2)).unwrap();
        ledger.set_cursor("src", "1", t(3)).unwrap();
        ledger.parts_of_post("r", "1", "t").unwrap()
    };
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.parts_of_post("r", "1", "t").unwrap(), planned);
    assert_eq!(planned[0].state, PartState::Posted);
    assert_eq!(ledger.cursor("src").unwrap().unwrap().value, "1");
    assert_eq!(user_version(&path), 12);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ledger.sqlite");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();

    let err = Ledger::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99,
                known: 12,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("newer birdbridge"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");

    assert_eq!(user_version(&path), 99);
    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "a refused file is not switched to WAL");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_with_its_path() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ledger.sqlite");
    std::fs::write(
        &path,
        "definitely not SQLite, just some text long enough to have a header",
    )
    .unwrap();
    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[test]
fn the_unique_key_holds_against_raw_inserts() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let ledger = Ledger::open(&path).unwrap();
    ledger.plan_post("r", "1", "t", 1, t(0)).unwrap();

    let raw = Connection::open(&path).unwrap();
    let duplicate = raw.execute(
        "INSERT INTO parts (route, source_post_id, target, part_index, state, idempotency_key, \
         created_at, updated_at) VALUES ('r', '1', 't', 0, 'planned', 'x', 'now', 'now')",
        [],
    );
    let err = duplicate.unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation),
        "{err}"
    );
    assert_eq!(ledger.parts_of_post("r", "1", "t").unwrap().len(), 1);
}

#[test]
fn two_handles_cannot_both_begin_the_same_part() {
    const PARTS: u32 = 20;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let first = Ledger::open(&path).unwrap();
    let second = Ledger::open(&path).unwrap();
    first.plan_post("r", "1", "t", PARTS, t(0)).unwrap();

    // Both handles race for every part at the same moment; exactly one may win each. The
    // threads only collect outcomes (a panic there would leave the other at the barrier).
    let barrier = Arc::new(Barrier::new(2));
    let race = |ledger: Ledger| {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            (0..PARTS)
                .map(|index| {
                    barrier.wait();
                    ledger.begin_attempt(&PartKey::new("r", "1", "t", index), t(1))
                })
                .collect::<Vec<_>>()
        })
    };
    let (a, b) = (race(first), race(second));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for (index, outcomes) in a.into_iter().zip(b).enumerate() {
        match outcomes {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => {
                assert_eq!((won.state, won.attempts), (PartState::Posting, 1));
                assert!(
                    matches!(
                        lost,
                        StoreError::InvalidTransition {
                            from: PartState::Posting,
                            to: PartState::Posting,
                            ..
                        }
                    ),
                    "part {index}: {lost:?}"
                );
            }
            other => panic!("part {index}: exactly one handle must win, got {other:?}"),
        }
    }

    let ledger = Ledger::open(&path).unwrap();
    for part in ledger.parts_of_post("r", "1", "t").unwrap() {
        assert_eq!((part.state, part.attempts), (PartState::Posting, 1));
    }
}

#[test]
fn a_held_post_is_quarantined_without_attempts_and_released_only_by_request() {
    let dir = TempDir::new().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
    let reason = format!("{HELD_PREFIX}photo 1 of 1 without alt text");
    assert!(ledger.mark_held("r", "1", "t", &reason, t(0)).unwrap());
    assert!(
        !ledger.mark_held("r", "1", "t", &reason, t(1)).unwrap(),
        "held once"
    );
    let rows = ledger.parts_of_post("r", "1", "t").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, PartState::Quarantined);
    assert!(rows[0].is_held());
    assert_eq!(ledger.quarantined().unwrap(), rows);

    // A quarantined part that failed for real is not a hold and is never released.
    let key = PartKey::new("r", "2", "t", 0);
    ledger.plan_post("r", "2", "t", 1, t(0)).unwrap();
    ledger.begin_attempt(&key, t(1)).unwrap();
    ledger.mark_failed(&key, "boom", t(2), 1, t(2)).unwrap();
    assert!(!ledger.part(&key).unwrap().unwrap().is_held());
    assert!(!ledger.release_held("r", "2", "t").unwrap());
    // Nor is a post that was never held.
    assert!(!ledger.release_held("r", "3", "t").unwrap());

    assert!(ledger.release_held("r", "1", "t").unwrap());
    assert!(ledger.parts_of_post("r", "1", "t").unwrap().is_empty());
    assert_eq!(
        ledger.part(&key).unwrap().unwrap().state,
        PartState::Quarantined
    );
}
