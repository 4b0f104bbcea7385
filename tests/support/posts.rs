//! A post of `@someone` with one media file, for the tests that hand a post to the engine
//! directly.

use std::path::Path;

use birdbridge::model::{Author, Media, MediaKind, MediaSource, Post, PostId, References};
use chrono::{DateTime, Utc};

/// Post `1` saying `text` at `created_at`, with one `kind` file of `bytes` bytes written at
/// `path` and described as `alt_text`.
pub fn one_media_post(
    path: &Path,
    (kind, bytes): (MediaKind, usize),
    text: &str,
    alt_text: &str,
    created_at: DateTime<Utc>,
) -> Post {
    std::fs::write(path, vec![7u8; bytes]).unwrap();
    Post {
        id: PostId::new("1"),
        author: Author {
            id: None,
            username: "someone".into(),
            display_name: None,
        },
        created_at,
        text: text.into(),
        facets: Vec::new(),
        media: vec![Media {
            kind,
            source: MediaSource::File(path.to_path_buf()),
            alt_text: Some(alt_text.into()),
            width: None,
            height: None,
            original_url: None,
        }],
        references: References::default(),
        sensitive: false,
        language: None,
        url: "https://x.com/someone/status/1".into(),
    }
}
