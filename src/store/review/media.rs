//! Media of held posts by media id, and the copies of downloaded media kept next to the
//! ledger (`<ledger file>-media/`) until the post is settled.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::super::{Ledger, StoreError};

/// A media item of a held post, by its media id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMedia {
    pub id: i64,
    pub route: String,
    pub source_post_id: String,
    /// The index in the post's media.
    pub media_index: u32,
    /// The kept copy of a downloaded item; `None` for archive media (read from the archive)
    /// and for items that could not be downloaded.
    pub file: Option<PathBuf>,
    pub mime: Option<String>,
}

impl Ledger {
    /// One media item by its media id, if the ledger knows it.
    pub fn held_media(&self, id: i64) -> Result<Option<HeldMedia>, StoreError> {
        let dir = self.media_dir();
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT route, source_post_id, media_index, file, mime FROM held_media \
                 WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok(HeldMedia {
                    id,
                    route: row.get(0)?,
                    source_post_id: row.get(1)?,
                    media_index: row.get(2)?,
                    file: row
                        .get::<_, Option<String>>(3)?
                        .and_then(|f| dir.as_ref().map(|d| d.join(f))),
                    mime: row.get(4)?,
                })
            })
            .optional()?)
    }

    /// The folder kept copies of held posts' media go to: `<ledger file>-media`, next to
    /// the ledger; `None` for a ledger in memory.
    pub fn media_dir(&self) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        let mut name = path.file_name()?.to_os_string();
        name.push("-media");
        Some(path.with_file_name(name))
    }

    /// Keeps a copy of a downloaded media item of a held post (copied from `from`, e.g. a
    /// staged download), so the desk shows it and a release uploads it, until the post is
    /// settled. Returns whether it was kept (a ledger in memory keeps nothing).
    pub fn keep_media_copy(
        &self,
        route: &str,
        source_post_id: &str,
        media_index: u32,
        from: &Path,
        mime: &str,
    ) -> Result<bool, StoreError> {
        let Some(dir) = self.media_dir() else {
            return Ok(false);
        };
        let id: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT id FROM held_media WHERE route = ?1 AND source_post_id = ?2 \
                 AND media_index = ?3",
            )?
            .query_row(params![route, source_post_id, media_index], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(id) = id else {
            return Ok(false);
        };
        let copy_error = |path: &Path, source| StoreError::MediaCopy {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| copy_error(&dir, e))?;
        let name = format!("{id}.{}", crate::media::extension(mime));
        let partial = dir.join(format!("{name}.partial"));
        std::fs::copy(from, &partial).map_err(|e| copy_error(&partial, e))?;
        std::fs::rename(&partial, dir.join(&name)).map_err(|e| copy_error(&partial, e))?;
        self.conn()
            .prepare_cached("UPDATE held_media SET file = ?2, mime = ?3 WHERE id = ?1")?
            .execute(params![id, name, mime])?;
        Ok(true)
    }

    /// Forgets the kept copy and media of a post no target needs any more (every hold
    /// dropped, or released and delivered or skipped); removes the media files. The holds,
    /// edits and audit rows stay as the record. Returns whether it forgot.
    pub fn forget_reviewed(&self, route: &str, source_post_id: &str) -> Result<bool, StoreError> {
        let files = {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let needed: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM review_holds AS h WHERE h.route = ?1 \
                 AND h.source_post_id = ?2 AND (h.state = 'held' OR (h.state = 'released' \
                 AND EXISTS (SELECT 1 FROM parts AS q WHERE q.route = h.route \
                     AND q.source_post_id = h.source_post_id AND q.target = h.target \
                     AND q.state NOT IN ('posted', 'skipped')))))",
                [route, source_post_id],
                |row| row.get(0),
            )?;
            if needed {
                return Ok(false);
            }
            let files: Vec<String> = tx
                .prepare_cached(
                    "SELECT file FROM held_media WHERE route = ?1 AND source_post_id = ?2 \
                     AND file IS NOT NULL",
                )?
                .query_map([route, source_post_id], |row| row.get(0))?
                .collect::<Result<Vec<_>, _>>()?;
            tx.execute(
                "DELETE FROM held_media WHERE route = ?1 AND source_post_id = ?2",
                [route, source_post_id],
            )?;
            let gone = tx.execute(
                "DELETE FROM review_posts WHERE route = ?1 AND source_post_id = ?2",
                [route, source_post_id],
            )?;
            tx.commit()?;
            if gone == 0 {
                return Ok(false);
            }
            files
        };
        if let Some(dir) = self.media_dir() {
            for f in files {
                // Gone already is as good as removed.
                let _ = std::fs::remove_file(dir.join(f));
            }
        }
        Ok(true)
    }
}
