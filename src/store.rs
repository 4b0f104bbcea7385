//! The ledger: a SQLite file that records every mirrored part, so nothing is posted twice.
//!
//! SKELETON: API fixed, bodies to be written (helper: store).

use std::path::Path;

use chrono::{DateTime, Utc};

/// Identifies one part of one mirrored post on one target. Unique in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartKey {
    pub route: String,
    pub source_post_id: String,
    pub target: String,
    pub part_index: u32,
}

/// The life of a part. See DESIGN.md "Exactly once".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartState {
    Planned,
    Posting,
    Posted,
    Failed,
    Quarantined,
    Skipped,
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub key: PartKey,
    pub state: PartState,
    pub idempotency_key: String,
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A mirrored post on one target: its first part (what links and quotes point at) and
/// its last part (what a reply continues from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredPost {
    pub first_id: String,
    pub first_url: Option<String>,
    pub last_id: String,
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("todo")]
    Todo,
}

/// The ledger handle; owns the connection.
#[derive(Debug)]
pub struct Ledger {}

/// The deterministic idempotency key for a part: the same key after any crash or retry.
pub fn idempotency_key(key: &PartKey) -> String {
    todo!()
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        todo!()
    }
    pub fn open_in_memory() -> Result<Self, StoreError> {
        todo!()
    }
    pub fn part(&self, key: &PartKey) -> Result<Option<PartRecord>, StoreError> {
        todo!()
    }
    pub fn parts_of_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Vec<PartRecord>, StoreError> {
        todo!()
    }
    pub fn plan_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        part_count: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PartRecord>, StoreError> {
        todo!()
    }
    pub fn begin_attempt(
        &self,
        key: &PartKey,
        now: DateTime<Utc>,
    ) -> Result<PartRecord, StoreError> {
        todo!()
    }
    pub fn mark_posted(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        todo!()
    }
    pub fn mark_failed(
        &self,
        key: &PartKey,
        error: &str,
        next_attempt_at: DateTime<Utc>,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<PartState, StoreError> {
        todo!()
    }
    pub fn mark_skipped(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        todo!()
    }
    pub fn mirrored_post(
        &self,
        route: &str,
        source_post_id: &str,
        target: &str,
    ) -> Result<Option<MirroredPost>, StoreError> {
        todo!()
    }
    pub fn cursor(&self, source: &str) -> Result<Option<Cursor>, StoreError> {
        todo!()
    }
    pub fn set_cursor(
        &self,
        source: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        todo!()
    }
    pub fn state_counts(&self) -> Result<Vec<StateCount>, StoreError> {
        todo!()
    }
    pub fn recent_errors(&self, limit: u32) -> Result<Vec<PartRecord>, StoreError> {
        todo!()
    }
    pub fn quarantined(&self) -> Result<Vec<PartRecord>, StoreError> {
        todo!()
    }
    pub fn cursors(&self) -> Result<Vec<Cursor>, StoreError> {
        todo!()
    }
}
impl PartState {
    pub fn as_str(self) -> &'static str {
        todo!()
    }
}
impl Ledger {
    pub fn adopt(
        &self,
        key: &PartKey,
        remote_id: &str,
        remote_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        todo!()
    }
}
