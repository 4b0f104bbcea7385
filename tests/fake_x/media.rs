//! The fake X API's media host (`pbs.twimg.com` and `video.twimg.com` in real life), on the
//! fake's own loopback address: photos, videos and GIFs (MP4) of any size, generated on the
//! fly while they are sent (a 200 MB video is never in memory), with a `Content-Length`;
//! a file can be made to answer 404. Requests are counted per file.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::FakeX;

/// One file the media host serves.
#[derive(Debug, Clone)]
struct File {
    content_type: &'static str,
    size: u64,
    gone: bool,
}

/// The media host's files and how often each was asked for.
#[derive(Debug, Default)]
pub struct Files {
    files: BTreeMap<String, File>,
    requests: BTreeMap<String, usize>,
}

/// A media item of a post, as [`FakeX::post_with_media`] attaches it.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// `photo`, `video` or `animated_gif`.
    pub kind: &'a str,
    /// The file name on the media host (also the media key).
    pub name: &'a str,
    /// Bytes of the file (the best variant, for videos).
    pub size: u64,
    /// Alt text.
    pub alt: Option<&'a str>,
}

impl FakeX {
    /// Adds a post with media, served by the fake's media host; returns the post's id.
    /// Videos and GIFs get a low-rate MP4, the best MP4 (`<name>`), and an HLS playlist, as
    /// X sends them.
    pub fn post_with_media(&self, author_id: &str, text: &str, items: &[Item<'_>]) -> u64 {
        let id = self.post(author_id, text, json!({}));
        self.attach(id, items);
        id
    }

    /// Edits post `id` (see [`FakeX::edit`]) into a new version with `text` and `items`.
    pub fn edit_with_media(&self, id: u64, text: &str, items: &[Item<'_>]) -> u64 {
        let new = self.edit(id, text);
        self.attach(new, items);
        new
    }

    /// Attaches media to post `id`, served by the media host.
    fn attach(&self, id: u64, items: &[Item<'_>]) {
        let base = self.url();
        let mut media = Vec::new();
        for item in items {
            let key = format!("3_{}", item.name);
            let url = format!("{base}/media/{}", item.name);
            let mut m = json!({"media_key": key, "type": item.kind, "width": 1280, "height": 720});
            if let Some(alt) = item.alt {
                m["alt_text"] = json!(alt);
            }
            if item.kind == "photo" {
                m["url"] = json!(url);
                self.serve_file(item.name, "image/jpeg", item.size);
            } else {
                let low = format!("low-{}", item.name);
                m["preview_image_url"] = json!(format!("{base}/media/thumb-{}.jpg", item.name));
                m["variants"] = json!([
                    {"bit_rate": 256_000, "content_type": "video/mp4", "url": format!("{base}/media/{low}")},
                    {"content_type": "application/x-mpegURL", "url": format!("{base}/media/{}.m3u8", item.name)},
                    {"bit_rate": 2_176_000, "content_type": "video/mp4", "url": url},
                ]);
                self.serve_file(item.name, "video/mp4", item.size);
                self.serve_file(&low, "video/mp4", item.size / 4);
            }
            media.push(m);
        }
        let keys: Vec<Value> = media.iter().map(|m| m["media_key"].clone()).collect();
        if let Some(t) = self.lock().tweets.get_mut(&id) {
            t.json["attachments"] = json!({"media_keys": keys});
            t.inc_media = media;
        }
    }

    /// Serves `name` as `size` bytes of `content_type`.
    pub fn serve_file(&self, name: &str, content_type: &'static str, size: u64) {
        self.lock().files.files.insert(
            name.to_owned(),
            File {
                content_type,
                size,
                gone: false,
            },
        );
    }

    /// `name` answers 404 from now on.
    pub fn remove_file(&self, name: &str) {
        if let Some(f) = self.lock().files.files.get_mut(name) {
            f.gone = true;
        }
    }

    /// How many times `name` was asked for.
    pub fn file_requests(&self, name: &str) -> usize {
        self.lock().files.requests.get(name).copied().unwrap_or(0)
    }
}

pub async fn serve(State(fake): State<FakeX>, Path(name): Path<String>) -> Response {
    let file = {
        let mut inner = fake.lock();
        *inner.files.requests.entry(name.clone()).or_default() += 1;
        inner.files.files.get(&name).cloned()
    };
    match file {
        Some(f) if !f.gone => (
            [
                (header::CONTENT_TYPE, f.content_type.to_owned()),
                (header::CONTENT_LENGTH, f.size.to_string()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                Generated { left: f.size },
                64 * 1024,
            )),
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

/// `left` bytes of filler, made as they are read.
struct Generated {
    left: u64,
}

impl tokio::io::AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        buf.initialize_unfilled_to(n).fill(0x5a);
        buf.advance(n);
        self.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}
