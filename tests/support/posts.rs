//! A post of `@someone` with one media file, and the part a target receives for it, for the
//! tests that hand a part to a target directly.

use std::path::Path;

use birdbridge::config::Visibility;
use birdbridge::model::{Author, MediaKind, MediaSource, Post, PostId, References};
use birdbridge::render::{Part, PartMedia, ReplyTo};
use chrono::{DateTime, Utc};

/// Post `1` saying `text` at `created_at`, with one `kind` file of `bytes` bytes written at
/// `path` and described as `description`, and its one part.
pub fn one_media_post(
    path: &Path,
    (kind, bytes): (MediaKind, usize),
    text: &str,
    description: &str,
    created_at: DateTime<Utc>,
) -> (Post, Part) {
    std::fs::write(path, vec![7u8; bytes]).unwrap();
    let post = Post {
        id: PostId::new("1"),
        author: Author {
            id: None,
            username: "someone".into(),
            display_name: None,
        },
        created_at,
        text: text.into(),
        facets: Vec::new(),
        media: Vec::new(),
        references: References::default(),
        sensitive: false,
        language: None,
        url: "https://x.com/someone/status/1".into(),
    };
    let part = Part {
        text: text.into(),
        spoiler_text: None,
        sensitive: false,
        media: vec![PartMedia {
            kind,
            source: MediaSource::File(path.to_path_buf()),
            description: Some(description.into()),
        }],
        visibility: Visibility::Public,
        language: None,
        reply_to: ReplyTo::Nothing,
        quote_of: None,
        boost_of: None,
    };
    (post, part)
}
