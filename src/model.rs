//! The neutral post model: what every source produces and every renderer consumes.
//!
//! Sources convert their wire formats (archive JSON, X API v2 JSON, feed XML) into these
//! types at their edge, so nothing downstream ever sees a wire type. Per rust-analyzer's
//! "Serialization" rule these types do not derive `Serialize`: the ledger writes explicit
//! columns, and the dry-run target builds its own output records.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// A post's stable id at its source (an X status id such as `"1577730467436138524"`).
///
/// Kept as a string: X ids exceed `f64` precision in JSON, and feed ids need not be numeric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PostId(pub String);

impl PostId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The account's numeric id at the source, when known.
    pub id: Option<String>,
    /// The handle without `@` (for example `Wikipedia`).
    pub username: String,
    /// The display name, when known.
    pub display_name: Option<String>,
}

impl Author {
    /// An author known only by handle (no id, no display name).
    pub fn named(username: impl Into<String>) -> Self {
        Self {
            id: None,
            username: username.into(),
            display_name: None,
        }
    }
}

/// One post, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Stable id at the source.
    pub id: PostId,
    /// The author (for an archive, its owner).
    pub author: Author,
    /// When the post was created.
    pub created_at: DateTime<Utc>,
    /// Plain Unicode text: HTML entities decoded, `t.co` links replaced by their expanded URL,
    /// the trailing media link and the quoted-post link removed.
    pub text: String,
    /// Links, mentions and hashtags, as byte ranges into [`Post::text`], in text order.
    pub facets: Vec<Facet>,
    /// Attached media, in display order.
    pub media: Vec<Media>,
    /// Replies, quotes and reposts.
    pub references: References,
    /// The source marked the post (or its media) as possibly sensitive.
    pub sensitive: bool,
    /// BCP 47 language tag as the source reports it (`"en"`); `None` when unknown or `und`.
    pub language: Option<String>,
    /// The canonical URL of the original post (`https://x.com/<user>/status/<id>`).
    pub url: String,
}

impl Post {
    /// The canonical `x.com` URL of a status.
    pub fn canonical_url(username: &str, id: &PostId) -> String {
        format!("https://x.com/{username}/status/{id}")
    }

    /// The post's hashtags, lowercased (the route's tag rules ignore case).
    pub fn tags_lowercase(&self) -> Vec<String> {
        self.facets
            .iter()
            .filter_map(|f| match &f.kind {
                FacetKind::Hashtag { tag } => Some(tag.to_lowercase()),
                _ => None,
            })
            .collect()
    }

    /// Makes the link facet at `index` point at `url` and show it in the text, moving the
    /// facets after it; the facet list keeps its order. Does nothing when `index` is not a
    /// link facet or its range is not in the text.
    pub fn replace_link(&mut self, index: usize, url: &str) {
        let Some(facet) = self.facets.get(index) else {
            return;
        };
        let range = facet.range.clone();
        if !matches!(facet.kind, FacetKind::Link { .. }) || self.text.get(range.clone()).is_none() {
            return;
        }
        self.text.replace_range(range.clone(), url);
        self.facets[index] = Facet {
            range: range.start..range.start + url.len(),
            kind: FacetKind::Link {
                url: url.to_owned(),
            },
        };
        let moved = |at: usize| at - range.end + range.start + url.len();
        for (i, later) in self.facets.iter_mut().enumerate() {
            if i != index && later.range.start >= range.end {
                later.range = moved(later.range.start)..moved(later.range.end);
            }
        }
    }
}

/// A span of [`Post::text`] with a meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facet {
    /// Byte range into the post text; always on `char` boundaries.
    pub range: Range<usize>,
    /// What the span is.
    pub kind: FacetKind,
}

/// The kinds of facet a post text can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacetKind {
    /// A link; the text span shows `url` (already expanded from `t.co`).
    Link {
        /// The expanded target URL.
        url: String,
    },
    /// An `@mention`; the span includes the `@`.
    Mention {
        /// The handle without the leading `@`: an X handle (`ann`), or a fediverse handle
        /// with its server (`ann@example.social`), never a bare fediverse name.
        username: String,
    },
    /// A `#hashtag`; the span includes the `#`.
    Hashtag {
        /// The tag without `#`.
        tag: String,
    },
}

/// The kind of a media attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A still image.
    Photo,
    /// A video (an MP4 file).
    Video,
    /// An animated GIF, which X stores and serves as a silent looping MP4.
    Gif,
}

impl MediaKind {
    /// A stable lower-case name, used in the ledger and in dry-run output.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
            MediaKind::Gif => "gif",
        }
    }
}

/// Where the bytes of a media attachment can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A file on disk (an unpacked archive's `tweets_media/` folder).
    File(PathBuf),
    /// An entry inside a zip archive.
    ZipEntry {
        /// The zip file.
        archive: PathBuf,
        /// The entry's name inside the zip (`data/tweets_media/<id>-<name>.jpg`).
        entry: String,
    },
    /// A remote URL (X API media, feed images); downloaded through the guarded fetcher.
    Url(String),
    /// The source mentions media but its bytes are not available (archives without media
    /// files); the renderer links [`Media::original_url`] instead.
    Unavailable,
}

/// One attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Photo, video or GIF.
    pub kind: MediaKind,
    /// Where to read the bytes.
    pub source: MediaSource,
    /// The author's description (alt text), when the source has one.
    pub alt_text: Option<String>,
    /// Pixel width, when known.
    pub width: Option<u32>,
    /// Pixel height, when known.
    pub height: Option<u32>,
    /// A public URL of the original media, used as a fallback link when the file cannot be
    /// delivered.
    pub original_url: Option<String>,
}

/// A post's relations to other posts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// The post this one replies to.
    pub reply_to: Option<PostRef>,
    /// The post this one quotes.
    pub quote_of: Option<PostRef>,
    /// The post this one reposts (retweets).
    pub repost_of: Option<PostRef>,
}

/// A reference to another post, as much as the source tells about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRef {
    /// The referenced post's id; archives omit it for retweets.
    pub id: Option<PostId>,
    /// The referenced post's author handle, when known.
    pub username: Option<String>,
    /// The referenced post's URL, when known.
    pub url: Option<String>,
}

impl PostRef {
    /// A post on X by its id, with its canonical URL; `i` stands in for a handle that is
    /// not known (X redirects `/i/status/<id>` to the post).
    pub fn on_x(id: PostId, username: Option<String>) -> Self {
        Self {
            url: Some(Post::canonical_url(username.as_deref().unwrap_or("i"), &id)),
            id: Some(id),
            username,
        }
    }
}

/// The id and handle of a status URL on `twitter.com` or `x.com`
/// (`https://x.com/<user>/status/<id>`, with any suffix or query), if `url` is one.
/// `/i/web/status/<id>` links (X's "show more" link of a truncated post) are not.
pub fn parse_status_url(url: &str) -> Option<(String, PostId)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let host = host
        .strip_prefix("www.")
        .or_else(|| host.strip_prefix("mobile."))
        .unwrap_or(&host);
    if host != "twitter.com" && host != "x.com" {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.split('/');
    let user = segments.next()?;
    let status = segments.next()?;
    let id = segments.next()?;
    let handle_ok = !user.is_empty()
        && user.len() <= 15
        && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && user != "i";
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    (handle_ok && id_ok && (status == "status" || status == "statuses"))
        .then(|| (user.to_owned(), PostId::new(id)))
}

/// A post as mirrored on one target: its first part (what links and quotes point at) and
/// its last part (what a reply continues from). The ledger answers with it; the renderer
/// reads it to thread replies and link quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredPost {
    /// The first part's remote status id.
    pub first_id: String,
    /// The first part's remote URL, when the target gave one.
    pub first_url: Option<String>,
    /// The last part's remote status id.
    pub last_id: String,
}

/// A post a source found but could not read: recorded as skipped on every target, so the
/// audit trail says why it never appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Its id, when it could be read.
    pub id: Option<PostId>,
    /// Where it is: `data/tweets.js, entry 17` (entries counted from 1).
    pub location: String,
    /// Why it was skipped.
    pub reason: String,
}

/// How a post relates to the account that is being mirrored; the route policy decides
/// per kind whether to mirror it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// An ordinary post, or part of the owner's own thread.
    Original,
    /// A reply to someone else's post.
    ReplyToOther,
    /// A repost of someone's post.
    Repost,
    /// A post quoting another post.
    Quote,
}

impl Post {
    /// Classifies the post relative to its own author.
    pub fn kind(&self) -> PostKind {
        if self.references.repost_of.is_some() {
            return PostKind::Repost;
        }
        if let Some(parent) = &self.references.reply_to {
            let own = parent
                .username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(&self.author.username));
            if !own {
                return PostKind::ReplyToOther;
            }
        }
        if self.references.quote_of.is_some() {
            return PostKind::Quote;
        }
        PostKind::Original
    }
}

#[cfg(test)]
impl Post {
    /// A post for unit tests: `text` by `me`, made at the start of 2024, with no facets,
    /// media or references; a test sets what it is about with struct update syntax.
    pub(crate) fn sample(id: &str, text: &str) -> Self {
        use chrono::TimeZone;

        Self {
            id: PostId::new(id),
            author: Author::named("me"),
            created_at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
            text: text.to_owned(),
            facets: Vec::new(),
            media: Vec::new(),
            references: References::default(),
            sensitive: false,
            language: None,
            url: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_link_moves_the_facets_after_it() {
        let text = "see https://t.co/a and #tag then https://t.co/b";
        let at = |s: &str| text.find(s).unwrap();
        let link = |s: &str| Facet {
            range: at(s)..at(s) + s.len(),
            kind: FacetKind::Link { url: s.to_owned() },
        };
        let mut post = Post {
            facets: vec![
                link("https://t.co/a"),
                Facet {
                    range: at("#tag")..at("#tag") + 4,
                    kind: FacetKind::Hashtag { tag: "tag".into() },
                },
                link("https://t.co/b"),
            ],
            ..Post::sample("1", text)
        };
        post.replace_link(0, "https://example.org/a-long-page");
        post.replace_link(2, "http://x.y");
        assert_eq!(
            post.text,
            "see https://example.org/a-long-page and #tag then http://x.y"
        );
        let spans: Vec<String> = post
            .facets
            .iter()
            .map(|f| post.text[f.range.clone()].to_owned())
            .collect();
        assert_eq!(
            spans,
            ["https://example.org/a-long-page", "#tag", "http://x.y"]
        );
        assert_eq!(
            post.facets[2].kind,
            FacetKind::Link {
                url: "http://x.y".into()
            }
        );
        // Not a link: nothing changes.
        let before = post.clone();
        post.replace_link(1, "https://nope.example");
        post.replace_link(7, "https://nope.example");
        assert_eq!(post, before);
    }
}
