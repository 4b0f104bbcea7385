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
use super::media::{Category, State};
use crate::budget::Family;
use crate::media::stage::MediaStage;
use crate::render::PartMedia;
use crate::targets::ready::{self, Takes};
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
    let cancel = calls.account().cancel();
    let ready = match ready::prepare(m, &XTakes, stage, cancel).await? {
        Ok(ready) => ready,
        Err(reason) => return Ok(Upload::CannotGo(reason)),
    };
    let (body, _, mime) = ready.parts();
    let api = calls.api();
    let uploaded = match calls
        .call(Some(Family::Media), true, || api.upload(body, mime))
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

/// X's categories: a type X takes in a post, within its category's limit.
struct XTakes;

impl Takes for XTakes {
    fn limit(&self, mime: &str) -> Result<Option<u64>, String> {
        Category::of_mime(mime)
            .map(|c| Some(c.max_bytes()))
            .ok_or_else(|| format!("X does not take {mime} in a post"))
    }

    fn too_large(&self, size: u64, limit: u64, mime: &str) -> String {
        let category = Category::of_mime(mime).map_or("media", Category::as_str);
        format!("{size} bytes, X takes at most {limit} for {category}")
    }
}
