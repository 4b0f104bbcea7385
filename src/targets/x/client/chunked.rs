//! Media through X's chunked upload (`docs/x-target.md`): `initialize`, one `append` per
//! chunk streamed from the file, `finalize`, the processing status polled on the run's
//! clock, and the description (`/2/media/metadata`). Apart from the posts' calls because
//! it is the one place that streams request bodies and waits on X's processing.

use reqwest::multipart::Part;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::sync::CancellationToken;

use super::{unreadable, Body, Request, XApi};
use crate::targets::ready::MediaBody;
use crate::targets::x::answer::{Answered, CallKind, Failed, RateLimits, XError};
use crate::targets::x::media::{Category, Processing, State, ALT_TEXT_MAX};

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The media id to attach.
    pub id: String,
    /// Where X's processing stands after `finalize` (wait with
    /// [`XApi::wait_for_processing`] unless it succeeded).
    pub processing: Processing,
}

impl XApi {
    /// Uploads a media file in chunks: `initialize`, one `append` per chunk (streamed from
    /// the file), `finalize`. The file's size is checked against its category's limit
    /// first. Returns the media id and X's processing state; the limits are the last
    /// answer's.
    ///
    /// # Errors
    /// [`XError::Invalid`] for a type X does not take or a file over its limit (nothing
    /// sent); otherwise see [`XError`]. An upload no post uses is dropped by X, so a failed
    /// one is simply started again.
    pub async fn upload(
        &self,
        media: MediaBody<'_>,
        mime: &str,
    ) -> Result<Answered<Uploaded>, Failed> {
        let category = Category::of_mime(mime).ok_or_else(|| XError::Invalid {
            message: format!("X does not take {mime} media in a post"),
        })?;
        let size = media.size();
        if size == 0 {
            return Err(XError::Invalid {
                message: "the media file is empty".to_owned(),
            }
            .into());
        }
        if size > category.max_bytes() {
            return Err(XError::Invalid {
                message: format!(
                    "{mime} of {size} bytes is over X's {} MB limit for {}",
                    category.max_bytes() / (1024 * 1024),
                    category.as_str()
                ),
            }
            .into());
        }
        let id = self.media_initialize(size, mime, category).await?.value;
        let mut offset = 0;
        let mut segment = 0;
        while offset < size {
            let len = self.chunk.min(size - offset);
            self.media_append(&id, segment, media, offset, len).await?;
            offset += len;
            segment += 1;
        }
        let done = self.media_finalize(&id).await?;
        Ok(Answered {
            value: Uploaded {
                id,
                processing: done.value,
            },
            limits: done.limits,
        })
    }

    /// `POST /2/media/upload/initialize`: a new upload session's media id.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn media_initialize(
        &self,
        total_bytes: u64,
        mime: &str,
        category: Category,
    ) -> Result<Answered<String>, Failed> {
        let raw = self
            .call(Request {
                body: Body::Json(json!({
                    "media_type": mime,
                    "total_bytes": total_bytes,
                    "media_category": category.as_str(),
                })),
                ..Request::new(Method::POST, "/2/media/upload/initialize")
            })
            .await?;
        match raw.body["data"]["id"].as_str() {
            Some(id) => Ok(Answered {
                value: id.to_owned(),
                limits: raw.limits,
            }),
            None => Err(unreadable(CallKind::Repeatable, raw, "no media id")),
        }
    }

    /// `POST /2/media/upload/{id}/append`: bytes `offset..offset+len` of `media` as segment
    /// `segment` (multipart, streamed).
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn media_append(
        &self,
        id: &str,
        segment: u32,
        media: MediaBody<'_>,
        offset: u64,
        len: u64,
    ) -> Result<Answered<()>, Failed> {
        let raw = self
            .call(Request {
                body: Body::Chunk {
                    media,
                    offset,
                    len,
                    segment,
                },
                ..Request::new(Method::POST, format!("/2/media/upload/{id}/append"))
            })
            .await?;
        Ok(Answered {
            value: (),
            limits: raw.limits,
        })
    }

    /// `POST /2/media/upload/{id}/finalize`: the upload is complete; X's processing state.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn media_finalize(&self, id: &str) -> Result<Answered<Processing>, Failed> {
        let raw = self
            .call(Request::new(
                Method::POST,
                format!("/2/media/upload/{id}/finalize"),
            ))
            .await?;
        Ok(Answered {
            value: Processing::read(&raw.body["data"]),
            limits: raw.limits,
        })
    }

    /// `GET /2/media/upload?media_id=&command=STATUS`: X's processing state.
    ///
    /// # Errors
    /// See [`XError`].
    pub async fn media_status(&self, id: &str) -> Result<Answered<Processing>, Failed> {
        let raw = self
            .call(Request {
                query: vec![
                    ("media_id", id.to_owned()),
                    ("command", "STATUS".to_owned()),
                ],
                ..Request::new(Method::GET, "/2/media/upload")
            })
            .await?;
        Ok(Answered {
            value: Processing::read(&raw.body["data"]),
            limits: raw.limits,
        })
    }

    /// Waits for X to process upload `id`, starting from `first` (what `finalize` said):
    /// each wait is X's `check_after_secs` (1 s when it names none) on the client's clock,
    /// and ends early when `cancel` fires. Gives up once `max_wait` has passed. The limits
    /// are the last status answer's.
    ///
    /// # Errors
    /// [`XError::MediaFailed`] (failed, or not done within `max_wait`),
    /// [`XError::Interrupted`], or a status call's error.
    pub async fn wait_for_processing(
        &self,
        id: &str,
        first: Processing,
        cancel: &CancellationToken,
        max_wait: chrono::Duration,
    ) -> Result<Answered<()>, Failed> {
        let give_up_at = self.clock.now() + max_wait;
        let mut processing = first;
        let mut limits = RateLimits::default();
        loop {
            match processing.state {
                State::Succeeded => return Ok(Answered { value: (), limits }),
                State::Failed => {
                    return Err(Failed {
                        error: XError::MediaFailed {
                            message: processing
                                .error
                                .unwrap_or_else(|| "processing failed".to_owned()),
                        },
                        limits: Box::new(limits),
                    })
                }
                State::Pending | State::InProgress => {}
            }
            let wait = chrono::Duration::seconds(
                i64::try_from(processing.check_after_secs.unwrap_or(1).max(1)).unwrap_or(60),
            );
            if self.clock.now() + wait > give_up_at {
                return Err(Failed {
                    error: XError::MediaFailed {
                        message: format!("still processing after {} s", max_wait.num_seconds()),
                    },
                    limits: Box::new(limits),
                });
            }
            tokio::select! {
                () = self.clock.sleep(wait) => {}
                () = cancel.cancelled() => return Err(XError::Interrupted.into()),
            }
            let answer = self.media_status(id).await?;
            processing = answer.value;
            limits = answer.limits;
        }
    }

    /// `POST /2/media/metadata`: the alt text of upload `id`.
    ///
    /// # Errors
    /// [`XError::Invalid`] for a text over 1,000 characters (nothing sent); otherwise see
    /// [`XError`].
    pub async fn media_metadata(&self, id: &str, alt_text: &str) -> Result<Answered<()>, Failed> {
        let length = alt_text.chars().count();
        if length > ALT_TEXT_MAX {
            return Err(XError::Invalid {
                message: format!(
                    "alt text of {length} characters is over X's limit of {ALT_TEXT_MAX}"
                ),
            }
            .into());
        }
        let raw = self
            .call(Request {
                body: Body::Json(json!({
                    "id": id,
                    "metadata": { "alt_text": { "text": alt_text } },
                })),
                ..Request::new(Method::POST, "/2/media/metadata")
            })
            .await?;
        Ok(Answered {
            value: (),
            limits: raw.limits,
        })
    }
}

/// The multipart part of one chunk: a slice of the bytes, or of the file streamed from
/// `offset`.
pub(super) async fn chunk_part(
    media: MediaBody<'_>,
    offset: u64,
    len: u64,
) -> Result<Part, Failed> {
    let unreadable = |what: String| Failed::from(XError::Invalid { message: what });
    let part = match media {
        MediaBody::Bytes(bytes) => {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = usize::try_from(offset + len)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            Part::bytes(bytes[start..end].to_vec())
        }
        MediaBody::File { path, .. } => {
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| unreadable(format!("cannot read {}: {e}", path.display())))?;
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| unreadable(format!("cannot read {}: {e}", path.display())))?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
            Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
        }
    };
    Ok(part
        .file_name("media")
        .mime_str("application/octet-stream")
        .unwrap_or_else(|_| unreachable!("a fixed, valid MIME type")))
}
