//! `birdbridge backup PATH`: a consistent copy of the ledger while the daemon may be writing
//! to it. `VACUUM INTO` reads the database inside one read transaction (WAL readers do not
//! block writers, nor are they blocked), so the copy is the ledger as of one commit, with the
//! WAL folded in: unlike copying the file, which can catch the main file and its `-wal`
//! sidecar at different moments.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Ledger, StoreError};

/// What a backup holds, read back from the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy's schema version.
    pub schema_version: i64,
    /// Rows in `parts`.
    pub parts: u64,
}

impl Ledger {
    /// Writes a consistent copy of the ledger to `dest`, which must not exist, then checks
    /// the copy (`PRAGMA integrity_check`) and returns what it holds.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when `dest` exists, its folder is missing or not writable, or
    /// the copy fails its check.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        let dest_text = dest.to_string_lossy();
        self.conn()
            .execute("VACUUM INTO ?1", [dest_text.as_ref()])?;
        let copy = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("the copy fails its integrity check: {check}")),
            )));
        }
        Ok(BackupReport {
            schema_version: copy.pragma_query_value(None, "user_version", |r| r.get(0))?,
            parts: copy.query_row("SELECT COUNT(*) FROM parts", [], |r| r.get(0))?,
        })
    }
}
