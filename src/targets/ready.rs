//! One attachment made ready for a target's upload, the same steps for every target: its
//! type and size checked against what the target takes ([`Takes`]) before anything is read
//! or downloaded, and again on what arrived; read from the archive (a zip entry into
//! memory, a file streamed) or taken from the post's [`MediaStage`] (remote media
//! downloaded once for every target). What cannot go is a reason: the engine links the
//! original instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::blocking::off_the_loop;
use crate::media::stage::{MediaStage, Staged};
use crate::media::{self, MediaFile};
use crate::model::MediaSource;
use crate::render::PartMedia;
use crate::targets::TargetError;

/// What a target takes, by media type.
pub trait Takes {
    /// The most bytes of `mime` the target takes (`None`: no limit known), or why it takes
    /// no file of that type.
    ///
    /// # Errors
    /// The reason, worded for the note that links the original instead.
    fn limit(&self, mime: &str) -> Result<Option<u64>, String>;

    /// Why a file of `mime` of `size` bytes, over `limit`, cannot go.
    fn too_large(&self, size: u64, limit: u64, mime: &str) -> String;
}

/// A media file's bytes.
#[derive(Debug, Clone, Copy)]
pub enum MediaBody<'a> {
    /// In memory (archive media).
    Bytes(&'a [u8]),
    /// A file on disk, streamed (never read whole into memory).
    File {
        /// Where it is.
        path: &'a Path,
        /// Its size in bytes.
        size: u64,
    },
}

impl MediaBody<'_> {
    /// The size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            MediaBody::Bytes(b) => b.len() as u64,
            MediaBody::File { size, .. } => *size,
        }
    }
}

/// Media ready to upload: bytes read from a zip, a file of an unpacked archive, or a
/// downloaded file. Files are streamed, never read whole.
#[derive(Debug)]
pub enum Ready {
    /// Read from a zip entry.
    Bytes(MediaFile),
    /// A file of an unpacked archive.
    File {
        /// Where it is.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// Its name, with an extension matching its type.
        file_name: String,
        /// Its type, guessed from the name and the kind.
        mime: &'static str,
    },
    /// Downloaded.
    Staged(Arc<Staged>),
}

impl Ready {
    /// What to send: the content, a file name with an extension matching the type (servers
    /// guess the type from it), and the MIME type.
    pub fn parts(&self) -> (MediaBody<'_>, &str, &str) {
        match self {
            Ready::Bytes(f) => (MediaBody::Bytes(&f.bytes), &f.file_name, f.mime),
            Ready::File {
                path,
                size,
                file_name,
                mime,
            } => (MediaBody::File { path, size: *size }, file_name, mime),
            Ready::Staged(s) => (
                MediaBody::File {
                    path: &s.path,
                    size: s.size,
                },
                &s.file_name,
                &s.mime,
            ),
        }
    }
}

/// Reads (archive) or downloads (remote) `m` for a target that takes `takes`, or says why
/// it cannot go (the inner error). A download can take long (a large video): a stop request
/// (`cancel`) ends it, its temporary file goes with it, and the part stays due. Archive
/// files are read on the blocking pool: opening a zip archive reads its whole central
/// directory, and an entry is read into memory, which for a video in a large archive would
/// stall the one-thread event loop.
///
/// # Errors
/// [`TargetError::Interrupted`] when the run is asked to stop during a download, or the
/// runtime shuts down under a read.
pub async fn prepare(
    m: &PartMedia,
    takes: &impl Takes,
    stage: Option<&MediaStage>,
    cancel: &CancellationToken,
) -> Result<Result<Ready, String>, TargetError> {
    let guess = media::mime_type(m.kind, &media::location(&m.source));
    let limit = match takes.limit(guess) {
        Ok(limit) => limit,
        Err(reason) => return Ok(Err(reason)),
    };
    let MediaSource::Url(url) = &m.source else {
        return read(m, takes, guess, limit.unwrap_or(u64::MAX)).await;
    };
    let Some(stage) = stage else {
        return Ok(Err("remote media is not downloaded on this path".to_owned()));
    };
    let limit = limit.unwrap_or(crate::fetch::DEFAULT_MAX_BYTES);
    let staged = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(TargetError::Interrupted),
        staged = stage.get(url, m.kind, limit) => staged,
    };
    Ok(staged.and_then(|staged| {
        let limit = takes
            .limit(&staged.mime)?
            .unwrap_or(crate::fetch::DEFAULT_MAX_BYTES);
        if staged.size > limit {
            return Err(takes.too_large(staged.size, limit, &staged.mime));
        }
        Ok(Ready::Staged(staged))
    }))
}

/// An archive's media, of type `guess`, within `limit` bytes: a file streamed, a zip entry
/// read into memory.
async fn read(
    m: &PartMedia,
    takes: &impl Takes,
    guess: &'static str,
    limit: u64,
) -> Result<Result<Ready, String>, TargetError> {
    let source = m.source.clone();
    let size = match off_the_loop_read(move || media::size(&source)).await? {
        Ok(size) => size,
        Err(reason) => return Ok(Err(reason)),
    };
    if size > limit {
        return Ok(Err(takes.too_large(size, limit, guess)));
    }
    if let MediaSource::File(path) = &m.source {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("media");
        return Ok(Ok(Ready::File {
            path: path.clone(),
            size,
            file_name: media::with_extension(name, guess),
            mime: guess,
        }));
    }
    let (source, kind) = (m.source.clone(), m.kind);
    Ok(off_the_loop_read(move || media::read(&source, kind, limit))
        .await?
        .map(Ready::Bytes))
}

/// Media file work on the blocking pool: a file that cannot be read cannot go (the inner
/// error, linked instead); a runtime shutting down under it sends nothing.
async fn off_the_loop_read<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, media::MediaError> + Send + 'static,
) -> Result<Result<T, String>, TargetError> {
    match off_the_loop(work).await {
        Ok(read) => Ok(read.map_err(|e| e.to_string())),
        Err(_) => Err(TargetError::Interrupted),
    }
}
