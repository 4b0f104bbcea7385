//! Long posts ("note tweets") from an archive's `data/note-tweet.js`, and how they are joined
//! to their truncated copy in `tweets.js`.
//!
//! A note's `noteTweetId` is not the post id, and nothing in `tweets.js` names the note. So a
//! post and a note are joined when they were created in the same second and the post's
//! truncated text (up to its first `t.co` link, without the trailing "…") begins the note's
//! text, whitespace runs compared as one space. Note text is plain, not HTML-escaped.
//!
//! Accepted shape, leniently: each element is `{"noteTweet": {...}}` or the note itself, with
//! `noteTweetId`, `createdAt` (ISO 8601), and `core.text`; entity lists `core.urls`
//! (`shortUrl`, `expandedUrl`), `core.mentions` (`screenName`) and `core.hashtags` (`text`),
//! each with optional `fromIndex`/`toIndex` (code points, numbers or strings; `snake_case`
//! spellings too). An entity whose indices do not fit is found by its text instead.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::entities::{unescape_html, Entity, EntityKind};
use super::lenient::{null_as_default, IdText, Num};

/// One long post's full text and entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The note's own id (not a post id).
    pub id: Option<String>,
    /// When it was created; matched to the post's second.
    pub created_at: DateTime<Utc>,
    /// The full text, not HTML-escaped.
    pub text: String,
    /// Links, mentions and hashtags in `text`.
    pub entities: Vec<Entity>,
}

#[derive(Deserialize)]
struct Element<'a> {
    #[serde(borrow, rename = "noteTweet")]
    note_tweet: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawNote {
    #[serde(alias = "note_tweet_id")]
    note_tweet_id: Option<IdText>,
    #[serde(alias = "created_at")]
    created_at: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    core: RawCore,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCore {
    text: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    urls: Vec<RawUrl>,
    #[serde(deserialize_with = "null_as_default")]
    mentions: Vec<RawMention>,
    #[serde(deserialize_with = "null_as_default")]
    hashtags: Vec<RawHashtag>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSpan {
    #[serde(alias = "from_index", alias = "start")]
    from_index: Option<Num>,
    #[serde(alias = "to_index", alias = "end")]
    to_index: Option<Num>,
}

impl RawSpan {
    /// The code-point range; a missing index makes a range that never fits, so the entity is
    /// found by its text.
    fn range(&self) -> std::ops::Range<usize> {
        match (self.from_index, self.to_index) {
            (Some(from), Some(to)) => from.index()..to.index(),
            _ => usize::MAX..usize::MAX,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawUrl {
    #[serde(alias = "short_url", alias = "url")]
    short_url: Option<String>,
    #[serde(alias = "expanded_url")]
    expanded_url: Option<String>,
    #[serde(flatten)]
    span: RawSpan,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMention {
    #[serde(alias = "screen_name", alias = "username")]
    screen_name: Option<String>,
    #[serde(flatten)]
    span: RawSpan,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHashtag {
    #[serde(alias = "tag")]
    text: Option<String>,
    #[serde(flatten)]
    span: RawSpan,
}

/// Reads one element of `note-tweet.js`.
///
/// # Errors
/// A message saying what is missing or malformed, for the malformed-entry report.
pub fn parse_note(element: &str) -> Result<Note, String> {
    let inner = serde_json::from_str::<Element<'_>>(element)
        .map_err(|e| format!("not a note object: {e}"))?
        .note_tweet
        .map_or(element, RawValue::get);
    let raw: RawNote = serde_json::from_str(inner).map_err(|e| format!("unreadable note: {e}"))?;
    let created = raw.created_at.ok_or("note has no createdAt")?;
    let created_at = DateTime::parse_from_rfc3339(&created)
        .map_err(|e| format!("note createdAt {created:?} is not an ISO 8601 date: {e}"))?
        .with_timezone(&Utc);
    let text = raw.core.text.ok_or("note has no core.text")?;

    let mut entities = Vec::new();
    for url in raw.core.urls {
        let Some(short) = url.short_url else { continue };
        let expanded = url.expanded_url.unwrap_or_else(|| short.clone());
        entities.push(Entity {
            range: url.span.range(),
            kind: EntityKind::Link { short, expanded },
        });
    }
    for mention in raw.core.mentions {
        if let Some(username) = mention.screen_name {
            entities.push(Entity {
                range: mention.span.range(),
                kind: EntityKind::Mention { username },
            });
        }
    }
    for hashtag in raw.core.hashtags {
        if let Some(tag) = hashtag.text {
            entities.push(Entity {
                range: hashtag.span.range(),
                kind: EntityKind::Hashtag { tag },
            });
        }
    }
    Ok(Note {
        id: raw.note_tweet_id.map(|id| id.0),
        created_at,
        text,
        entities,
    })
}

/// Notes by creation second, for joining while `tweets.js` streams past.
#[derive(Debug, Default)]
pub struct NoteIndex {
    by_second: HashMap<i64, Vec<Note>>,
}

impl NoteIndex {
    /// Adds a note.
    pub fn insert(&mut self, note: Note) {
        self.by_second
            .entry(note.created_at.timestamp())
            .or_default()
            .push(note);
    }

    /// How many notes are indexed.
    pub fn len(&self) -> usize {
        self.by_second.values().map(Vec::len).sum()
    }

    /// Whether no notes are indexed.
    pub fn is_empty(&self) -> bool {
        self.by_second.is_empty()
    }

    /// The note of a post created at `created_at` whose text, HTML-escaped as in
    /// `tweets.js`, is `escaped_text`.
    ///
    /// A post whose text is only links matches a note of its second only when that note is
    /// the only one of that second.
    pub fn find(&self, created_at: DateTime<Utc>, escaped_text: &str) -> Option<&Note> {
        let candidates = self.by_second.get(&created_at.timestamp())?;
        let prefix = truncated_prefix(&unescape_html(escaped_text));
        if prefix.is_empty() {
            return match candidates.as_slice() {
                [only] => Some(only),
                _ => None,
            };
        }
        candidates
            .iter()
            .find(|note| collapse_whitespace(&note.text).starts_with(&prefix))
    }
}

/// The part of a truncated post's text that its note must begin with: up to the first `t.co`
/// link (links are shortened anew in each copy, and the "show more" link trails the cut),
/// without a trailing "…" or "...", whitespace runs collapsed.
fn truncated_prefix(text: &str) -> String {
    let cut = ["https://t.co/", "http://t.co/"]
        .iter()
        .filter_map(|link| text.find(link))
        .min()
        .unwrap_or(text.len());
    let head = text[..cut].trim_end();
    let head = head
        .strip_suffix('…')
        .or_else(|| head.strip_suffix("..."))
        .unwrap_or(head);
    collapse_whitespace(head.trim_end())
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(created: &str, text: &str) -> Note {
        parse_note(&format!(
            r#"{{"noteTweet": {{"noteTweetId": "9", "createdAt": "{created}", "core": {{"text": {}}}}}}}"#,
            serde_json::to_string(text).unwrap()
        ))
        .unwrap()
    }

    #[test]
    fn joins_by_second_and_prefix() {
        let mut index = NoteIndex::default();
        index.insert(note(
            "2023-02-08T15:12:34.000Z",
            "Fish &  chips, a long story",
        ));
        index.insert(note("2023-02-08T15:12:34.000Z", "Another note"));
        let at = DateTime::parse_from_rfc3339("2023-02-08T15:12:34Z")
            .unwrap()
            .with_timezone(&Utc);
        let found = index.find(at, "Fish &amp; chips, a lo… https://t.co/x");
        assert_eq!(found.unwrap().text, "Fish &  chips, a long story");
        assert!(index.find(at, "Unrelated short post").is_none());
        assert!(index
            .find(at + chrono::Duration::seconds(1), "Fish")
            .is_none());
        assert!(
            index.find(at, "https://t.co/x").is_none(),
            "two notes that second"
        );
    }

    #[test]
    fn rejects_notes_without_text_or_date() {
        assert!(parse_note(r#"{"noteTweet": {"createdAt": "2023-01-01T00:00:00Z"}}"#).is_err());
        assert!(parse_note(r#"{"noteTweet": {"core": {"text": "x"}}}"#).is_err());
        assert!(parse_note("[1]").is_err());
    }
}
