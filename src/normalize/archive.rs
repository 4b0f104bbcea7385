//! Data-archive post objects to [`Post`]: the v1.1-style tweets of `data/tweets.js` and of the
//! classic (pre-2019) `data/js/tweets/YYYY_MM.js` files, which share one shape.
//!
//! Pure: file access is the source's job ([`crate::sources::archive`]); this module is given
//! one array element's JSON, the owner, the long-post notes, and a function telling whether a
//! media file is in the archive.
//!
//! The differences between the generations, all handled here:
//! - text in `full_text` (current) or `text` (classic); both HTML-escaped;
//! - `created_at` as `Wed Oct 10 20:19:24 +0000 2018` (current) or
//!   `2018-10-10 20:19:24 +0000` (classic);
//! - numbers as strings (current) or numbers (classic);
//! - retweets as `RT @user: …` text only (current) or with a `retweeted_status` (classic);
//! - alt text absent (current), `ext_alt_text` (v1.1 exports) or `media_alt` (classic);
//! - media `sizes` as an object keyed by name (current) or an array of `{h, resize, w}`
//!   objects (classic);
//! - classic retweet texts cut by UTF-16 units, which can leave half a surrogate pair.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entities::{hidden_reply_mentions, retweeted_user, splice, Entity, EntityKind, Spliced};
use super::lenient::{null_as_default, Flag, IdText, Num};
use super::note_tweet::NoteIndex;
use crate::model::{
    Author, FacetKind, Media, MediaKind, MediaSource, Post, PostId, PostRef, References,
};

/// Defined with the model, where the renderer reads it too.
pub use crate::model::parse_status_url;

/// What a post needs from its archive besides its own JSON.
pub struct TweetContext<'a> {
    /// The archive's owner, the author of every post.
    pub owner: &'a Author,
    /// Long-post notes to join with truncated posts.
    pub notes: &'a NoteIndex,
    /// Finds a media file by its archive file name (`<post id>-<basename>`), `None` when the
    /// archive does not hold it.
    pub locate_media: &'a dyn Fn(&str) -> Option<MediaSource>,
}

impl std::fmt::Debug for TweetContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TweetContext")
            .field("owner", &self.owner)
            .field("notes", &self.notes.len())
            .finish_non_exhaustive()
    }
}

/// A normalised archive post.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivePost {
    /// The post.
    pub post: Post,
    /// All versions of the post when it was edited, oldest first (`edit_info`); the archive
    /// holds each version as its own post, and only the newest one should be mirrored.
    pub edit_versions: Vec<PostId>,
}

/// Why an element could not become a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TweetError {
    /// The post id, when it could be read.
    pub id: Option<PostId>,
    /// What is wrong, for the malformed-entry report.
    pub reason: String,
}

#[derive(Deserialize)]
struct Element<'a> {
    #[serde(borrow)]
    tweet: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IdOnly {
    id_str: Option<IdText>,
    id: Option<IdText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTweet {
    id_str: Option<IdText>,
    id: Option<IdText>,
    full_text: Option<String>,
    text: Option<String>,
    created_at: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    entities: RawEntities,
    extended_entities: Option<RawExtended>,
    in_reply_to_status_id_str: Option<IdText>,
    in_reply_to_status_id: Option<IdText>,
    in_reply_to_screen_name: Option<String>,
    display_text_range: Option<Vec<Num>>,
    lang: Option<String>,
    possibly_sensitive: Option<Flag>,
    edit_info: Option<RawEditInfo>,
    retweeted_status: Option<Box<RawTweet>>,
    #[serde(deserialize_with = "hint")]
    user: Option<RawUser>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEntities {
    #[serde(deserialize_with = "null_as_default")]
    hashtags: Vec<RawHashtag>,
    #[serde(deserialize_with = "null_as_default")]
    user_mentions: Vec<RawMention>,
    #[serde(deserialize_with = "null_as_default")]
    urls: Vec<RawUrl>,
    #[serde(deserialize_with = "null_as_default")]
    media: Vec<RawMedia>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawExtended {
    #[serde(deserialize_with = "null_as_default")]
    media: Vec<RawMedia>,
}

#[derive(Deserialize)]
struct RawHashtag {
    text: String,
    indices: Vec<Num>,
}

#[derive(Deserialize)]
struct RawMention {
    screen_name: String,
    indices: Vec<Num>,
}

#[derive(Deserialize)]
struct RawUrl {
    url: String,
    expanded_url: Option<String>,
    indices: Vec<Num>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMedia {
    url: Option<String>,
    indices: Option<Vec<Num>>,
    media_url_https: Option<String>,
    media_url: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(deserialize_with = "hint")]
    sizes: Option<RawSizes>,
    #[serde(deserialize_with = "hint")]
    original_info: Option<RawOriginalInfo>,
    video_info: Option<RawVideoInfo>,
    ext_alt_text: Option<String>,
    media_alt: Option<String>,
}

/// The renditions of a photo: an object keyed by name (`{"large": {...}, "thumb": {...}}`,
/// current archives and the API) or an array of `{"h", "resize", "w"}` objects (classic
/// archives).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSizes {
    Named { large: Option<RawSize> },
    Listed(Vec<RawSize>),
}

impl RawSizes {
    /// The largest rendition scaled to fit (never a cropped thumbnail), which is the
    /// photo's own size or the closest to it.
    fn largest(&self) -> Option<&RawSize> {
        match self {
            RawSizes::Named { large } => large.as_ref(),
            RawSizes::Listed(sizes) => sizes
                .iter()
                .filter(|s| s.resize.as_deref() != Some("crop"))
                .max_by_key(|s| u128::from(s.w.0) * u128::from(s.h.0)),
        }
    }
}

#[derive(Deserialize)]
struct RawSize {
    w: Num,
    h: Num,
    resize: Option<String>,
}

/// Reads a field that is only a hint (pixel sizes) leniently: a shape this reader does not
/// know gives `None` instead of making the whole post unreadable.
fn hint<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).ok())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOriginalInfo {
    width: Option<Num>,
    height: Option<Num>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawVideoInfo {
    #[serde(deserialize_with = "null_as_default")]
    variants: Vec<RawVariant>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawVariant {
    bitrate: Option<Num>,
    content_type: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawEditInfo {
    initial: Option<RawEditIds>,
    edit: Option<RawEdit>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawEditIds {
    edit_tweet_ids: Vec<IdText>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawEdit {
    edit_control_initial: Option<RawEditIds>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUser {
    screen_name: Option<String>,
}

/// Normalises one element of a posts file: `{"tweet": {...}}` (current archive) or a bare
/// post object (classic archive, 2019 `tweet.js`).
///
/// # Errors
/// [`TweetError`] when the element is not a post object or lacks its id, date or text.
pub fn normalize_tweet(element: &str, ctx: &TweetContext<'_>) -> Result<ArchivePost, TweetError> {
    let raw = parse_raw(element)?;
    let id = raw
        .id_str
        .clone()
        .or_else(|| raw.id.clone())
        .map(|id| PostId(id.0))
        .ok_or_else(|| TweetError {
            id: None,
            reason: "post has no id_str".into(),
        })?;
    let fail = |reason: String| TweetError {
        id: Some(id.clone()),
        reason,
    };
    let created_text = raw
        .created_at
        .as_deref()
        .ok_or_else(|| fail("post has no created_at".into()))?;
    let created_at = parse_created_at(created_text)
        .ok_or_else(|| fail(format!("created_at {created_text:?} is not a date")))?;
    let source_text = raw
        .full_text
        .as_deref()
        .or(raw.text.as_deref())
        .ok_or_else(|| fail("post has no full_text".into()))?;

    let mut references = References {
        reply_to: reply_to(&raw),
        ..References::default()
    };
    // The text, entities and media of a repost are those of the reposted post: in full in a
    // classic `retweeted_status`, else the `RT @user: ` text, often cut with "…".
    let (spliced, media_owner) = if let Some(original) = raw.retweeted_status.as_deref() {
        let username = original.user.as_ref().and_then(|u| u.screen_name.clone());
        references.repost_of = Some(
            match original.id_str.clone().or_else(|| original.id.clone()) {
                Some(oid) => PostRef::on_x(PostId(oid.0), username),
                None => PostRef {
                    id: None,
                    username,
                    url: None,
                },
            },
        );
        let text = original
            .full_text
            .as_deref()
            .or(original.text.as_deref())
            .unwrap_or(source_text);
        (splice(text, true, entities_of(original, text)), original)
    } else if let Some(username) = retweeted_user(source_text) {
        let mut spliced = splice(source_text, true, entities_of(&raw, source_text));
        spliced.strip_repost_prefix(username);
        references.repost_of = Some(PostRef {
            id: None,
            username: Some(username.to_owned()),
            url: None,
        });
        (spliced, &raw)
    } else {
        let mut spliced = if let Some(note) = ctx.notes.find(created_at, source_text) {
            splice(&note.text, false, note.entities.clone())
        } else {
            let mut entities = entities_of(&raw, source_text);
            entities.extend(hidden_reply_mentions(
                raw.display_text_range.as_deref(),
                source_text,
            ));
            splice(source_text, true, entities)
        };
        references.quote_of = take_quote(&mut spliced);
        (spliced, &raw)
    };

    let post = Post {
        author: ctx.owner.clone(),
        created_at,
        text: spliced.text,
        facets: spliced.facets,
        media: media_of(media_owner, id.as_str(), ctx.locate_media),
        references,
        sensitive: raw.possibly_sensitive.is_some_and(|f| f.0),
        language: raw.lang.as_deref().and_then(language),
        url: Post::canonical_url(&ctx.owner.username, &id),
        id,
    };
    Ok(ArchivePost {
        edit_versions: edit_versions(&raw),
        post,
    })
}

/// The post object of an element, its lone surrogate halves repaired.
fn parse_raw(element: &str) -> Result<RawTweet, TweetError> {
    let inner = serde_json::from_str::<Element<'_>>(element)
        .map_err(|e| TweetError {
            id: None,
            reason: format!("not a post object: {e}"),
        })?
        .tweet
        .map_or(element, RawValue::get);
    match serde_json::from_str(inner) {
        Err(e) if e.to_string().contains("surrogate") => {
            serde_json::from_str(&replace_lone_surrogates(inner))
        }
        parsed => parsed,
    }
    .map_err(|e| TweetError {
        id: serde_json::from_str::<IdOnly>(inner)
            .ok()
            .and_then(|only| only.id_str.or(only.id))
            .map(|id| PostId(id.0)),
        reason: format!("unreadable post: {e}"),
    })
}

/// Replaces `\uD800`..`\uDFFF` escapes that are not a well-formed surrogate pair with
/// `\uFFFD`. Classic archives cut long retweet texts by UTF-16 units, which can split an
/// emoji's pair; JSON parsers refuse the lone half, and the post would be lost for one
/// character. Escaped backslashes (`\\u`) are left alone.
fn replace_lone_surrogates(json: &str) -> String {
    fn unit_at(bytes: &[u8], at: usize) -> Option<u16> {
        let hex = bytes.get(at..at + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit_at(bytes, i) {
            Some(0xD800..=0xDBFF) => {
                if matches!(unit_at(bytes, i + 6), Some(0xDC00..=0xDFFF)) {
                    i += 12;
                } else {
                    out.push_str(&json[copied..i]);
                    out.push_str("\\uFFFD");
                    i += 6;
                    copied = i;
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.push_str(&json[copied..i]);
                out.push_str("\\uFFFD");
                i += 6;
                copied = i;
            }
            // Any other escape, `\\` included, is two bytes (plus hex digits, which
            // hold no backslash).
            _ => i += 2,
        }
    }
    out.push_str(&json[copied..]);
    out
}

/// Parses both archive date formats, always UTC offsets in practice.
pub fn parse_created_at(text: &str) -> Option<DateTime<Utc>> {
    ["%a %b %d %H:%M:%S %z %Y", "%Y-%m-%d %H:%M:%S %z"]
        .iter()
        .find_map(|format| DateTime::parse_from_str(text.trim(), format).ok())
        .map(|date| date.with_timezone(&Utc))
}

/// The language tag to report: `None` for "undetermined" and for X's private codes
/// (`qme` media only, `qht` hashtags only, `zxx` no text, ...), which servers reject as
/// languages.
pub fn language(lang: &str) -> Option<String> {
    match lang.trim() {
        "" | "und" | "zxx" | "qam" | "qct" | "qht" | "qme" | "qst" => None,
        other => Some(other.to_owned()),
    }
}

fn reply_to(raw: &RawTweet) -> Option<PostRef> {
    let id = raw
        .in_reply_to_status_id_str
        .clone()
        .or_else(|| raw.in_reply_to_status_id.clone())
        .filter(|id| !id.0.is_empty())?;
    Some(PostRef::on_x(
        PostId(id.0),
        raw.in_reply_to_screen_name.clone(),
    ))
}

fn range_of(indices: &[Num]) -> Option<std::ops::Range<usize>> {
    match indices {
        [start, end, ..] => Some(start.index()..end.index()),
        _ => None,
    }
}

/// The entities of `raw` whose text is `text`: links, mentions, hashtags, and the media
/// link to remove.
fn entities_of(raw: &RawTweet, text: &str) -> Vec<Entity> {
    let mut out = Vec::new();
    let entities = &raw.entities;
    for url in &entities.urls {
        let Some(range) = range_of(&url.indices) else {
            continue;
        };
        let expanded = url
            .expanded_url
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| url.url.clone());
        out.push(Entity {
            range,
            kind: EntityKind::Link {
                short: url.url.clone(),
                expanded,
            },
        });
    }
    for mention in &entities.user_mentions {
        if let Some(range) = range_of(&mention.indices) {
            out.push(Entity {
                range,
                kind: EntityKind::Mention {
                    username: mention.screen_name.clone(),
                },
            });
        }
    }
    for hashtag in &entities.hashtags {
        if let Some(range) = range_of(&hashtag.indices) {
            out.push(Entity {
                range,
                kind: EntityKind::Hashtag {
                    tag: hashtag.text.clone(),
                },
            });
        }
    }
    // Every attachment carries the same trailing link; remove it once.
    let media_links = media_list(raw).iter().filter_map(|m| {
        let url = m.url.clone()?;
        Some((range_of(m.indices.as_deref()?)?, url))
    });
    let mut removed: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (range, url) in media_links {
        if !removed.iter().any(|(r, u)| *r == range && *u == url) && text.contains(&url) {
            removed.push((range, url));
        }
    }
    out.extend(removed.into_iter().map(|(range, url)| Entity {
        range,
        kind: EntityKind::Remove { shown: Some(url) },
    }));
    out
}

/// The quoted post: the last status link. A quote's link trails the text, and is removed
/// there; a status link inside the text stays, as the author wrote it.
fn take_quote(spliced: &mut Spliced) -> Option<PostRef> {
    let (index, (username, id)) =
        spliced
            .facets
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, facet)| match &facet.kind {
                FacetKind::Link { url } => parse_status_url(url).map(|found| (i, found)),
                _ => None,
            })?;
    if spliced.facets[index].range.end == spliced.text.len() {
        let start = spliced.facets[index].range.start;
        spliced.facets.remove(index);
        spliced.text.truncate(start);
        let len = spliced.text.trim_end().len();
        spliced.text.truncate(len);
    }
    Some(PostRef::on_x(id, Some(username)))
}

fn media_list(raw: &RawTweet) -> &[RawMedia] {
    match raw.extended_entities.as_ref() {
        Some(extended) if !extended.media.is_empty() => &extended.media,
        _ => &raw.entities.media,
    }
}

/// The attachments, in display order, with their files looked up in the archive.
fn media_of(
    raw: &RawTweet,
    post_id: &str,
    locate: &dyn Fn(&str) -> Option<MediaSource>,
) -> Vec<Media> {
    let mut out = Vec::new();
    for media in media_list(raw) {
        let kind = match media.kind.as_deref() {
            // Classic archives omit the type; they only ever held photos.
            Some("photo") | None => MediaKind::Photo,
            Some("video") => MediaKind::Video,
            Some("animated_gif") => MediaKind::Gif,
            Some(other) => {
                tracing::debug!(post = post_id, kind = other, "unknown media type; skipped");
                continue;
            }
        };
        let photo_url = media
            .media_url_https
            .clone()
            .or_else(|| media.media_url.clone());
        let (original_url, candidates) = if kind == MediaKind::Photo {
            let names = photo_url
                .iter()
                .filter_map(|u| basename(u))
                .collect::<Vec<_>>();
            (photo_url.clone(), names)
        } else {
            let mut mp4: Vec<&RawVariant> = media
                .video_info
                .iter()
                .flat_map(|info| &info.variants)
                .filter(|v| v.content_type.as_deref() == Some("video/mp4") && v.url.is_some())
                .collect();
            mp4.sort_by_key(|v| std::cmp::Reverse(v.bitrate.unwrap_or_default()));
            let names = mp4
                .iter()
                .filter_map(|v| v.url.as_deref().and_then(basename))
                .collect();
            (mp4.first().and_then(|v| v.url.clone()), names)
        };
        let source = candidates
            .iter()
            .find_map(|name| locate(&format!("{post_id}-{name}")))
            .unwrap_or(MediaSource::Unavailable);
        let (width, height) = dimensions(media);
        let alt_text = media
            .ext_alt_text
            .clone()
            .or_else(|| media.media_alt.clone())
            .filter(|alt| !alt.trim().is_empty());
        out.push(Media {
            kind,
            source,
            alt_text,
            width,
            height,
            original_url,
        });
    }
    out
}

/// Pixel size from `original_info`, else from the `large` rendition.
fn dimensions(media: &RawMedia) -> (Option<u32>, Option<u32>) {
    let to_u32 = |n: Num| u32::try_from(n.0).ok().filter(|&v| v > 0);
    if let Some(RawOriginalInfo {
        width: Some(w),
        height: Some(h),
    }) = media.original_info
    {
        if let (Some(w), Some(h)) = (to_u32(w), to_u32(h)) {
            return (Some(w), Some(h));
        }
    }
    media
        .sizes
        .as_ref()
        .and_then(RawSizes::largest)
        .map_or((None, None), |large| (to_u32(large.w), to_u32(large.h)))
}

/// The last path segment of a URL, without query or fragment.
fn basename(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && !path.ends_with("//")).then_some(name)
}

fn edit_versions(raw: &RawTweet) -> Vec<PostId> {
    let Some(info) = raw.edit_info.as_ref() else {
        return Vec::new();
    };
    let ids = info
        .initial
        .as_ref()
        .or_else(|| {
            info.edit
                .as_ref()
                .and_then(|e| e.edit_control_initial.as_ref())
        })
        .map(|ids| ids.edit_tweet_ids.as_slice())
        .unwrap_or_default();
    if ids.len() < 2 {
        return Vec::new();
    }
    ids.iter().map(|id| PostId(id.0.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let cases = [
            (r#""cut \uD83D\u2026""#, "cut \u{fffd}\u{2026}"),
            (r#""\uDD01 x""#, "\u{fffd} x"),
            (r#""pair \uD83D\uDD01 ok""#, "pair \u{1f501} ok"),
            (r#""not an escape \\uD83D""#, "not an escape \\uD83D"),
            (r#""end \uD83D""#, "end \u{fffd}"),
        ];
        for (json, want) in cases {
            let text: String = serde_json::from_str(&replace_lone_surrogates(json)).unwrap();
            assert_eq!(text, want, "{json}");
        }
    }

    #[test]
    fn a_post_with_a_cut_surrogate_pair_is_read() {
        let owner = Author::named("o");
        let notes = NoteIndex::default();
        let ctx = TweetContext {
            owner: &owner,
            notes: &notes,
            locate_media: &|_| None,
        };
        let element = r#"{"id_str": "1", "text": "RT @a: cut \uD83D\u2026",
            "created_at": "2018-01-01 00:00:00 +0000"}"#;
        let post = normalize_tweet(element, &ctx).unwrap().post;
        assert_eq!(post.text, "cut \u{fffd}\u{2026}");
    }
}
