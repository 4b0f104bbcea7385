//! Media uploads: one attachment at a time, checked against the server's types and sizes
//! before anything is read or downloaded and again on what arrived, read from the archive
//! (a zip entry into memory, a file streamed) or taken from the post's [`MediaStage`]
//! (remote media downloaded once for every target), then `POST /api/v2/media` with its
//! description; and the processing polls a status waits for. Recording an upload is the
//! engine's job: it is handed back as [`Upload::Stored`].

use std::time::Duration as StdDuration;

use chrono::Duration;
use tracing::warn;

use super::calls::{Calls, MAX_TRANSIENT_RETRIES};
use super::client::Upload as Request;
use super::lenient;
use super::profile::InstanceProfile;
use crate::backoff::Backoff;
use crate::budget::Family;
use crate::media::stage::MediaStage;
use crate::render::PartMedia;
use crate::targets::ready::{prepare, Takes};
use crate::targets::{TargetError, Upload};

/// Polls of a media item that is still being processed.
const MAX_MEDIA_POLLS: u32 = 12;
/// The pause before each poll of a media item being processed.
const MEDIA_POLLS: Backoff = Backoff::new(Duration::seconds(1), Duration::seconds(30));

/// Why an attachment was not uploaded.
enum NotUploaded {
    /// The server cannot take it; the post goes out with a link instead.
    CannotGo(String),
    /// The call failed; the part fails.
    Failed(TargetError),
}

impl From<String> for NotUploaded {
    fn from(reason: String) -> Self {
        NotUploaded::CannotGo(reason)
    }
}

/// Uploads one attachment. [`Upload::CannotGo`] when the server cannot take it (too large,
/// wrong type, refused, or remote media that cannot be downloaded): the engine links the
/// original instead.
///
/// # Errors
/// [`TargetError::Interrupted`] when the run is asked to stop during a download or a wait;
/// the other failures of the call.
pub async fn upload(
    calls: &Calls,
    profile: &InstanceProfile,
    m: &PartMedia,
    stage: Option<&MediaStage>,
) -> Result<Upload, TargetError> {
    match try_upload(calls, profile, m, stage).await {
        Ok(stored) => Ok(stored),
        Err(NotUploaded::CannotGo(reason)) => Ok(Upload::CannotGo(reason)),
        Err(NotUploaded::Failed(e)) => Err(e),
    }
}

async fn try_upload(
    calls: &Calls,
    profile: &InstanceProfile,
    m: &PartMedia,
    stage: Option<&MediaStage>,
) -> Result<Upload, NotUploaded> {
    let cancel = calls.account().cancel();
    let ready = prepare(m, profile, stage, cancel)
        .await
        .map_err(NotUploaded::Failed)??;
    let (body, file_name, mime) = ready.parts();
    let size = body.size();
    let request = Request {
        body,
        file_name,
        mime,
        description: m.description.as_deref(),
    };
    // Uploads are bigger than other requests: more time, by size (10 s per MB).
    let timeout = calls.api().timeout() * 4 + StdDuration::from_secs(size / 100_000);
    let (mut waits, mut retries) = (0, 0);
    let request = &request;
    let upload = move || calls.api().upload_media(request, timeout);
    loop {
        let sent = calls.send(Family::Media, &mut waits, upload).await;
        let failure = match sent.map_err(NotUploaded::Failed)? {
            Ok(answer) => match answer.status {
                200..=299 => {
                    // Asking again gives the same answer: not temporary.
                    let Some(id) = lenient::id(&answer.body["id"]) else {
                        let missing = lenient::Missing {
                            field: "id".to_owned(),
                            call: "POST /api/v2/media",
                            software: profile.software(),
                        };
                        return Err(NotUploaded::Failed(TargetError::Setup {
                            message: missing.to_string(),
                        }));
                    };
                    return Ok(Upload::Stored {
                        media_id: id,
                        processed: lenient::media_ready(&answer.body),
                    });
                }
                s @ (413 | 415 | 422) => {
                    return Err(NotUploaded::CannotGo(format!(
                        "the server refused it (HTTP {s}: {})",
                        answer.message()
                    )))
                }
                500..=599 => format!("HTTP {}: {}", answer.status, answer.message()),
                _ => return Err(NotUploaded::Failed(calls.answer_error(&answer))),
            },
            Err(t) => t.to_string(),
        };
        // An upload that failed half way is harmless to repeat: the server drops
        // unattached media.
        if retries >= MAX_TRANSIENT_RETRIES {
            return Err(NotUploaded::Failed(TargetError::Transient {
                message: format!("media upload failed: {failure}"),
            }));
        }
        retries += 1;
        warn!(target = %calls.account().target(), error = %failure, "media upload failed; retrying");
        calls
            .retry_pause(retries)
            .await
            .map_err(NotUploaded::Failed)?;
    }
}

/// Polls a media item until the server has processed it (206, or no `url` yet, while
/// it works), with growing pauses up to a bound. An item still not ready is left to the
/// status post, which the server refuses (422) until it is. Cancellation ends the wait
/// with [`TargetError::Interrupted`]; the upload is recorded, so the retry reuses it.
pub async fn wait_processed(calls: &Calls, id: &str) -> Result<(), TargetError> {
    for poll in 0..MAX_MEDIA_POLLS {
        calls.account().pause(MEDIA_POLLS.nth(poll)).await?;
        calls.take(Family::Requests).await?;
        match calls.api().get_media(id).await {
            Ok(answer) => {
                calls.observe(Family::Requests, &answer.headers);
                match answer.status {
                    200 if lenient::media_ready(&answer.body) => return Ok(()),
                    200 | 206 => {}
                    401 | 403 => return Err(calls.answer_error(&answer)),
                    429 | 503 => calls.back_off_rate(Family::Requests, &answer),
                    // A server that cannot show an upload (404: GoToSocial before it
                    // processes, small servers) may still accept it in a status.
                    _ => return Ok(()),
                }
            }
            Err(t) => {
                warn!(target = %calls.account().target(), media = id, error = %t, "cannot ask about media processing; asking again");
            }
        }
    }
    warn!(target = %calls.account().target(), media = id, "media still processing; posting anyway");
    Ok(())
}

/// The server's profile: the types it accepts, within its limits.
impl Takes for InstanceProfile {
    fn limit(&self, mime: &str) -> Result<Option<u64>, String> {
        if self.accepts(mime) {
            Ok(self.size_limit(mime))
        } else {
            Err(format!("the server does not accept {mime}"))
        }
    }

    fn too_large(&self, size: u64, limit: u64, _mime: &str) -> String {
        format!("{size} bytes, the server accepts at most {limit}")
    }
}
