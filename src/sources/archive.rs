//! The Twitter data archive source (a `.zip` or an unpacked folder).
//!
//! SKELETON: API fixed, bodies to be written (helper: archive).

use std::path::{Path, PathBuf};

use crate::model::{Author, Post, PostId};

/// An opened archive: its owner is known, its posts are not yet read.
#[derive(Debug)]
pub struct Archive {}

/// What an archive holds, ready for backfill.
#[derive(Debug)]
pub struct ArchiveContents {
    /// Posts sorted oldest first (ties broken by id), circle posts removed.
    pub posts: Vec<Post>,
    /// Entries that could not be read as posts; the rest of the file was read.
    pub malformed: Vec<Malformed>,
    /// How many circle posts were excluded.
    pub circle_excluded: usize,
}

/// A single post that could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Its id, when it could be read.
    pub id: Option<PostId>,
    /// Where it is: `data/tweets.js, entry 17`.
    pub location: String,
    /// Why it was skipped.
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("todo")]
    Todo,
}

impl Archive {
    pub fn open(path: &Path) -> Result<Self, ArchiveError> {
        todo!()
    }
    pub fn owner(&self) -> &Author {
        todo!()
    }
    pub fn path(&self) -> &Path {
        todo!()
    }
    pub fn load(&self) -> Result<ArchiveContents, ArchiveError> {
        todo!()
    }
}
