//! One attachment to X (`docs/x-target.md`, "Media"): its type and size checked against
//! X's categories before anything is read or downloaded, read from the archive (a zip
//! entry into memory, a file streamed chunk by chunk) or taken from the post's
//! [`MediaStage`] (remote media downloaded once for every target), uploaded in chunks,
//! waited for while X processes it (a video or GIF), then given its description. What X
//! cannot take is [`Upload::CannotGo`] with the reason: the engine links the original
//! instead. Recording the upload is the engine's job.

use chrono::Duration;

use super::answer::XError;
use super::calls::{target_error, XCalls};
use super::client::MediaBody;
use super::media::{Category, State};
use crate::blocking::off_the_loop;
use crate::budget::Family;
use crate::media::stage::MediaStage;
use crate::media::{self, MediaFile};
use crate::model::MediaSource;
use crate::render::PartMedia;
use crate::targets::{TargetError, Upload};

/// Uploads one attachment and sets its description, once X has processed it.
///
/// # Errors
/// [`TargetError::Interrupted`] when the run is asked to stop (during a download, the
/// upload, a processing wait); the other failures of the calls.
pub async fn upload(
    calls: &XCalls,
    m: &PartMedia,
    stage: Option<&MediaStage>,
    processing: Duration,
) -> Result<Upload, TargetError> {
    let fail = |e: XError| target_error(calls.account().target(), calls.account().now(), e);
    let guess = media::mime_type(m.kind, &media::location(&m.source));
    let Some(category) = Category::of_mime(guess) else {
        return Ok(Upload::CannotGo(format!(
            "X does not take {guess} in a post"
        )));
    };
    let remote = matches!(m.source, MediaSource::Url(_));
    let prepared = tokio::select! {
        biased;
        () = calls.account().cancel().cancelled(), if remote => return Err(TargetError::Interrupted),
        prepared = prepare(m, category, stage) => prepared?,
    };
    let (body, mime) = match &prepared {
        Ok(Prepared::Bytes(f)) => (MediaBody::Bytes(&f.bytes), f.mime.to_owned()),
        Ok(Prepared::File { path, size, mime }) => {
            (MediaBody::File { path, size: *size }, (*mime).to_owned())
        }
        Ok(Prepared::Staged(s)) => (
            MediaBody::File {
                path: &s.path,
                size: s.size,
            },
            s.mime.clone(),
        ),
        Err(reason) => return Ok(Upload::CannotGo(reason.clone())),
    };
    let api = calls.api();
    let uploaded = match calls
        .call(Some(Family::Media), true, || api.upload(body, &mime))
        .await
    {
        Ok(uploaded) => uploaded,
        Err(XError::Invalid { message }) => return Ok(Upload::CannotGo(message)),
        Err(XError::Rejected {
            status, message, ..
        }) => {
            return Ok(Upload::CannotGo(format!(
                "X refused it (HTTP {status}: {message})"
            )))
        }
        Err(e) => return Err(fail(e)),
    };
    if uploaded.processing.state != State::Succeeded {
        let waited = api
            .wait_for_processing(
                &uploaded.id,
                uploaded.processing,
                calls.account().cancel(),
                processing,
            )
            .await;
        match waited.map_err(|f| f.error) {
            Ok(_) => {}
            Err(XError::MediaFailed { message }) => {
                return Ok(Upload::CannotGo(format!(
                    "X could not process it: {message}"
                )))
            }
            Err(e) => return Err(fail(e)),
        }
    }
    if let Some(alt) = m.description.as_deref().filter(|d| !d.trim().is_empty()) {
        calls
            .call(None, true, || api.media_metadata(&uploaded.id, alt))
            .await
            .map_err(fail)?;
    }
    Ok(Upload::Stored {
        media_id: uploaded.id,
        processed: true,
    })
}

/// Media ready to upload: bytes read from a zip, a file of an unpacked archive, or a
/// downloaded file. Files are streamed, never read whole.
enum Prepared {
    Bytes(MediaFile),
    File {
        path: std::path::PathBuf,
        size: u64,
        mime: &'static str,
    },
    Staged(std::sync::Arc<crate::media::stage::Staged>),
}

/// Reads (archive) or downloads (remote) the media within its category's size, or says why
/// X cannot take it (the inner error). Archive files are read on the blocking pool.
async fn prepare(
    m: &PartMedia,
    category: Category,
    stage: Option<&MediaStage>,
) -> Result<Result<Prepared, String>, TargetError> {
    let limit = category.max_bytes();
    if let MediaSource::Url(url) = &m.source {
        let Some(stage) = stage else {
            return Ok(Err("remote media is not downloaded on this path".to_owned()));
        };
        let staged = match stage.get(url, m.kind, limit).await {
            Ok(staged) => staged,
            Err(reason) => return Ok(Err(reason)),
        };
        return Ok(match Category::of_mime(&staged.mime) {
            None => Err(format!("X does not take {} in a post", staged.mime)),
            Some(c) if staged.size > c.max_bytes() => Err(format!(
                "{} bytes, X takes at most {} for {}",
                staged.size,
                c.max_bytes(),
                c.as_str()
            )),
            Some(_) => Ok(Prepared::Staged(staged)),
        });
    }
    let guess = media::mime_type(m.kind, &media::location(&m.source));
    let source = m.source.clone();
    let size = match read_off_the_loop(move || media::size(&source)).await? {
        Ok(size) => size,
        Err(reason) => return Ok(Err(reason)),
    };
    if size > limit {
        return Ok(Err(format!(
            "{size} bytes, X takes at most {limit} for {}",
            category.as_str()
        )));
    }
    if let MediaSource::File(path) = &m.source {
        return Ok(Ok(Prepared::File {
            path: path.clone(),
            size,
            mime: guess,
        }));
    }
    let (source, kind) = (m.source.clone(), m.kind);
    Ok(read_off_the_loop(move || media::read(&source, kind, limit))
        .await?
        .map(Prepared::Bytes))
}

/// Media file work on the blocking pool: a file that cannot be read cannot go (the inner
/// error, linked instead); a runtime shutting down under it sends nothing.
async fn read_off_the_loop<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, media::MediaError> + Send + 'static,
) -> Result<Result<T, String>, TargetError> {
    match off_the_loop(work).await {
        Ok(read) => Ok(read.map_err(|e| e.to_string())),
        Err(_) => Err(TargetError::Interrupted),
    }
}
