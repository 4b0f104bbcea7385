//! X API v2 responses to [`Post`]: pages of `GET /2/users/:id/tweets` (and `GET /2/tweets`)
//! and the user of `GET /2/users/by/username/:username`. Pure: the HTTP client is
//! [`crate::sources::x`]; this module is given the body text.
//!
//! What the API sends, and what is done with it (docs/formats.md "X API v2: a user's posts"):
//! - long posts carry their full text in `note_tweet.text` with its own entities; `text` is
//!   cut, so the note wins;
//! - entity offsets count code points into the HTML-escaped text: sliced first, unescaped
//!   after ([`splice`]);
//! - the trailing media link (`entities.urls[]` with a `media_key`) and the quoted post's
//!   trailing status link are removed; reply mentions hidden by `display_text_range` too;
//! - a repost's own `text` is `RT @user: ` and often cut with "…": the reposted post from
//!   `includes.tweets` gives the text, entities and media; without it (deleted, protected:
//!   a partial `errors[]` entry) the cut text is used, without its prefix;
//! - media come from `includes.media` by key: photos by `url`, videos and GIFs by their
//!   best MP4 variant by bit rate (the HLS variant has no bit rate), with the preview image
//!   as the fallback link;
//! - `created_at` when asked for, else the time encoded in the id (a snowflake).

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::archive::{language, parse_status_url};
use super::entities::{hidden_reply_mentions, retweeted_user, splice, Entity, EntityKind, Spliced};
use super::lenient::{null_as_default, Flag, IdText, Num};
use crate::model::{Author, Media, MediaKind, MediaSource, Post, PostId, PostRef, References};

/// The `tweet.fields` every timeline request asks for (docs/formats.md "Fields").
pub const TWEET_FIELDS: &str = "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,attachments,entities,note_tweet,display_text_range,lang,possibly_sensitive,withheld,edit_history_tweet_ids,author_id";
/// The `expansions` every timeline request asks for.
pub const EXPANSIONS: &str = "attachments.media_keys,referenced_tweets.id,referenced_tweets.id.author_id,author_id,in_reply_to_user_id";
/// The `media.fields` every timeline request asks for.
pub const MEDIA_FIELDS: &str =
    "type,url,alt_text,variants,preview_image_url,width,height,duration_ms";
/// The `user.fields` of the username lookup. `most_recent_tweet_id` lets a new source find
/// its starting point with the lookup it needs anyway, instead of a billed page of posts.
/// Timeline requests need no `user.fields`: `id`, `name` and `username` are the default.
pub const USER_FIELDS: &str = "username,name,most_recent_tweet_id";

/// One post of a page, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct XPost {
    /// The post.
    pub post: Post,
    /// Every version of the post, oldest first, this one last (`edit_history_tweet_ids`);
    /// a single id for a post that was never edited.
    pub edit_history: Vec<PostId>,
    /// Things worth a log line that the model has no place for (withheld countries).
    pub notes: Vec<String>,
}

impl XPost {
    /// The earlier versions of an edited post, newest first; empty when never edited.
    pub fn earlier_versions(&self) -> Vec<PostId> {
        self.edit_history
            .iter()
            .rev()
            .filter(|id| **id != self.post.id)
            .cloned()
            .collect()
    }
}

/// A page of posts, normalised, newest first as the API sends them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The posts that could be read.
    pub posts: Vec<XPost>,
    /// How many posts the page returned (billed), readable or not.
    pub returned: usize,
    /// Entries of `data` that could not be read, with why.
    pub malformed: Vec<String>,
    /// The partial errors (`errors[]`) as one line each.
    pub errors: Vec<String>,
    /// The ids a lookup asked for that X answered as not found (`errors[]` with type
    /// `resource-not-found` about `ids`): posts deleted, or never there.
    pub missing: Vec<PostId>,
    /// `meta.next_token`: more (older) posts are there.
    pub next_token: Option<String>,
    /// `meta.newest_id`.
    pub newest_id: Option<PostId>,
}

/// An X account, as `GET /2/users/by/username/:username` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XUser {
    /// The account, with its id.
    pub author: Author,
    /// Its newest post, when the API said (`most_recent_tweet_id`).
    pub most_recent_post: Option<PostId>,
}

/// Why a body could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not the JSON shape of an API answer.
    #[error("not an X API v2 answer: {0}")]
    Json(#[from] serde_json::Error),
    /// A user lookup without the user (the account does not exist or is suspended).
    #[error("no such account: {0}")]
    NoUser(String),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPage<'a> {
    #[serde(borrow, deserialize_with = "null_as_default")]
    data: Vec<&'a RawValue>,
    #[serde(deserialize_with = "null_as_default")]
    includes: RawIncludes,
    #[serde(deserialize_with = "null_as_default")]
    errors: Vec<RawProblem>,
    #[serde(deserialize_with = "null_as_default")]
    meta: RawMeta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawIncludes {
    #[serde(deserialize_with = "null_as_default")]
    users: Vec<RawUser>,
    #[serde(deserialize_with = "null_as_default")]
    tweets: Vec<serde_json::Value>,
    #[serde(deserialize_with = "null_as_default")]
    media: Vec<RawMedia>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProblem {
    title: Option<String>,
    detail: Option<String>,
    message: Option<String>,
    /// RFC 7807 `type`: `…/problems/resource-not-found` for a post that is gone.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// The request parameter the problem is about (`ids` for a lookup's own ids).
    parameter: Option<String>,
    resource_id: Option<IdText>,
    value: Option<IdText>,
}

impl RawProblem {
    /// The id of a post the lookup asked for that X does not have (deleted, or never
    /// there): a not-found problem about the `ids` parameter. A referenced post that is
    /// gone, or a post X will not show (a protected account: an authorization problem), is
    /// not one.
    fn missing_id(&self) -> Option<PostId> {
        let not_found = self
            .kind
            .as_deref()
            .map_or(self.title.as_deref() == Some("Not Found Error"), |k| {
                k.ends_with("/resource-not-found")
            });
        let about_ids = self.parameter.as_deref().is_none_or(|p| p == "ids");
        (not_found && about_ids)
            .then(|| self.resource_id.as_ref().or(self.value.as_ref()))
            .flatten()
            .map(|id| PostId(id.0.clone()))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMeta {
    next_token: Option<String>,
    newest_id: Option<IdText>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawUser {
    id: Option<IdText>,
    username: Option<String>,
    name: Option<String>,
    most_recent_tweet_id: Option<IdText>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTweet {
    id: Option<IdText>,
    text: Option<String>,
    created_at: Option<String>,
    author_id: Option<IdText>,
    in_reply_to_user_id: Option<IdText>,
    #[serde(deserialize_with = "null_as_default")]
    referenced_tweets: Vec<RawReference>,
    attachments: Option<RawAttachments>,
    entities: Option<RawEntities>,
    note_tweet: Option<RawNote>,
    display_text_range: Option<Vec<Num>>,
    lang: Option<String>,
    possibly_sensitive: Option<Flag>,
    withheld: Option<RawWithheld>,
    #[serde(deserialize_with = "null_as_default")]
    edit_history_tweet_ids: Vec<IdText>,
}

impl RawUser {
    /// The account, when the answer names its id and handle.
    fn author(&self) -> Option<Author> {
        Some(Author {
            id: Some(self.id.clone()?.0),
            username: self.username.clone()?,
            display_name: self.name.clone(),
        })
    }
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(rename = "type")]
    kind: String,
    id: IdText,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAttachments {
    #[serde(deserialize_with = "null_as_default")]
    media_keys: Vec<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawEntities {
    #[serde(deserialize_with = "null_as_default")]
    urls: Vec<RawUrl>,
    #[serde(deserialize_with = "null_as_default")]
    mentions: Vec<RawMention>,
    #[serde(deserialize_with = "null_as_default")]
    hashtags: Vec<RawHashtag>,
}

#[derive(Deserialize, Clone)]
struct RawUrl {
    start: Num,
    end: Num,
    url: String,
    expanded_url: Option<String>,
    media_key: Option<String>,
}

#[derive(Deserialize, Clone)]
struct RawMention {
    start: Num,
    end: Num,
    username: String,
}

#[derive(Deserialize, Clone)]
struct RawHashtag {
    start: Num,
    end: Num,
    tag: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNote {
    text: Option<String>,
    entities: Option<RawEntities>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawWithheld {
    copyright: Option<Flag>,
    #[serde(deserialize_with = "null_as_default")]
    country_codes: Vec<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawMedia {
    media_key: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    preview_image_url: Option<String>,
    alt_text: Option<String>,
    width: Option<Num>,
    height: Option<Num>,
    #[serde(deserialize_with = "null_as_default")]
    variants: Vec<RawVariant>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawVariant {
    bit_rate: Option<Num>,
    content_type: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct RawUserAnswer {
    data: Option<RawUser>,
    #[serde(default, deserialize_with = "null_as_default")]
    errors: Vec<RawProblem>,
}

/// What a page's `includes` let a post look up.
struct Includes {
    users: HashMap<String, RawUser>,
    tweets: HashMap<String, RawTweet>,
    media: HashMap<String, RawMedia>,
}

/// Reads a page of posts. `owner` is the timeline's account, the author when a post does not
/// name one the page explains. Entries that cannot be read are listed in
/// [`Page::malformed`]; the others are normalised.
///
/// # Errors
/// When the body is not an API answer at all.
pub fn parse_page(body: &str, owner: &Author) -> Result<Page, ParseError> {
    let raw: RawPage<'_> = serde_json::from_str(body)?;
    let includes = Includes {
        users: raw
            .includes
            .users
            .into_iter()
            .filter_map(|u| Some((u.id.clone()?.0, u)))
            .collect(),
        tweets: raw
            .includes
            .tweets
            .into_iter()
            .filter_map(|t| serde_json::from_value::<RawTweet>(t).ok())
            .filter_map(|t| Some((t.id.clone()?.0, t)))
            .collect(),
        media: raw
            .includes
            .media
            .into_iter()
            .filter_map(|m| Some((m.media_key.clone()?, m)))
            .collect(),
    };
    let mut page = Page {
        returned: raw.data.len(),
        errors: raw.errors.iter().map(problem_line).collect(),
        missing: raw
            .errors
            .iter()
            .filter_map(RawProblem::missing_id)
            .collect(),
        next_token: raw.meta.next_token.filter(|t| !t.is_empty()),
        newest_id: raw.meta.newest_id.map(|id| PostId(id.0)),
        ..Page::default()
    };
    for entry in raw.data {
        match serde_json::from_str::<RawTweet>(entry.get()) {
            Ok(tweet) => match normalize(&tweet, &includes, owner) {
                Ok(post) => page.posts.push(post),
                Err(reason) => page.malformed.push(reason),
            },
            Err(err) => page.malformed.push(format!("unreadable post: {err}")),
        }
    }
    Ok(page)
}

/// Reads the answer to a username lookup.
///
/// # Errors
/// When the body is not an API answer, or names no user.
pub fn parse_user(body: &str) -> Result<XUser, ParseError> {
    let raw: RawUserAnswer = serde_json::from_str(body)?;
    let Some((user, author)) = raw.data.as_ref().and_then(|u| Some((u, u.author()?))) else {
        let problems: Vec<String> = raw.errors.iter().map(problem_line).collect();
        return Err(ParseError::NoUser(problems.join("; ")));
    };
    Ok(XUser {
        author,
        most_recent_post: user.most_recent_tweet_id.clone().map(|id| PostId(id.0)),
    })
}

fn problem_line(p: &RawProblem) -> String {
    [
        p.title.as_deref(),
        p.detail.as_deref().or(p.message.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(": ")
}

/// The time an X id was made: ids are snowflakes, milliseconds since X's epoch shifted left.
pub fn snowflake_time(id: &str) -> Option<DateTime<Utc>> {
    const X_EPOCH_MS: i64 = 1_288_834_974_657;
    let id: u64 = id.parse().ok()?;
    let ms = i64::try_from(id >> 22).ok()? + X_EPOCH_MS;
    Utc.timestamp_millis_opt(ms).single()
}

/// The smallest id X could give a post made at `time` (the inverse of [`snowflake_time`]):
/// a cursor for "everything after now" when an account has no posts yet.
pub fn snowflake_at(time: DateTime<Utc>) -> String {
    const X_EPOCH_MS: i64 = 1_288_834_974_657;
    let ms = u64::try_from(time.timestamp_millis() - X_EPOCH_MS).unwrap_or(0);
    (ms << 22).to_string()
}

/// Compares two numeric post ids (longer is newer; equal lengths compare as text).
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn normalize(tweet: &RawTweet, inc: &Includes, owner: &Author) -> Result<XPost, String> {
    let id = tweet
        .id
        .as_ref()
        .map(|id| PostId(id.0.clone()))
        .ok_or("post has no id")?;
    let created_at = tweet
        .created_at
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.with_timezone(&Utc))
        .or_else(|| snowflake_time(id.as_str()))
        .ok_or_else(|| format!("post {id} has no readable created_at"))?;
    let author = tweet
        .author_id
        .as_ref()
        .and_then(|a| inc.users.get(&a.0))
        .and_then(RawUser::author)
        .unwrap_or_else(|| owner.clone());

    let (references, content) = references_of(tweet, inc);
    let quoted = references
        .quote_of
        .as_ref()
        .and_then(|q| q.id.clone())
        .or_else(|| {
            content
                .referenced_tweets
                .iter()
                .find(|r| r.kind == "quoted")
                .map(|r| PostId(r.id.0.clone()))
        });
    let strip_rt = references.repost_of.is_some() && std::ptr::eq(content, tweet);
    let spliced = text_of(content, quoted.as_ref(), strip_rt)
        .ok_or_else(|| format!("post {id} has no text"))?;

    let mut notes = Vec::new();
    if let Some(w) = &tweet.withheld {
        if w.copyright.is_some_and(|c| c.0) {
            notes.push("withheld for copyright".to_owned());
        }
        if !w.country_codes.is_empty() {
            notes.push(format!("withheld in {}", w.country_codes.join(", ")));
        }
    }
    let edit_history = if tweet.edit_history_tweet_ids.is_empty() {
        vec![id.clone()]
    } else {
        tweet
            .edit_history_tweet_ids
            .iter()
            .map(|i| PostId(i.0.clone()))
            .collect()
    };
    let post = Post {
        url: Post::canonical_url(&author.username, &id),
        author,
        created_at,
        text: spliced.text,
        facets: spliced.facets,
        media: media_of(content, inc),
        references,
        sensitive: tweet.possibly_sensitive.is_some_and(|f| f.0)
            || content.possibly_sensitive.is_some_and(|f| f.0),
        language: content
            .lang
            .as_deref()
            .or(tweet.lang.as_deref())
            .and_then(language),
        id,
    };
    Ok(XPost {
        post,
        edit_history,
        notes,
    })
}

/// The post's replies, quotes and reposts, and the post whose text and media it shows: the
/// reposted original when the page includes it, else the post itself.
fn references_of<'t>(tweet: &'t RawTweet, inc: &'t Includes) -> (References, &'t RawTweet) {
    let mut references = References::default();
    let mut content = tweet;
    for r in &tweet.referenced_tweets {
        let id = PostId(r.id.0.clone());
        let found = inc.tweets.get(&r.id.0);
        let username = found
            .and_then(|t| t.author_id.as_ref())
            .and_then(|a| inc.users.get(&a.0))
            .and_then(|u| u.username.clone());
        match r.kind.as_str() {
            "replied_to" => {
                let username = username.or_else(|| {
                    tweet
                        .in_reply_to_user_id
                        .as_ref()
                        .and_then(|u| inc.users.get(&u.0))
                        .and_then(|u| u.username.clone())
                });
                references.reply_to = Some(PostRef::on_x(id, username));
            }
            "quoted" => references.quote_of = Some(PostRef::on_x(id, username)),
            "retweeted" => {
                let username = username.or_else(|| {
                    retweeted_user(tweet.text.as_deref().unwrap_or_default()).map(str::to_owned)
                });
                references.repost_of = Some(PostRef::on_x(id, username));
                if let Some(original) = found {
                    content = original;
                }
            }
            _ => {}
        }
    }
    // A repost's reply and quote are the original's business, not the repost's.
    if references.repost_of.is_some() {
        references.reply_to = None;
        references.quote_of = None;
    }
    (references, content)
}

/// The plain text of `tweet`: its note when it has one, else its text, with entities
/// spliced in. `strip_rt` is for a repost whose original is not in the page: it keeps its
/// cut text, minus the `RT @user:` prefix.
fn text_of(tweet: &RawTweet, quoted: Option<&PostId>, strip_rt: bool) -> Option<Spliced> {
    let note = tweet
        .note_tweet
        .as_ref()
        .and_then(|n| Some((n.text.as_deref()?, n.entities.as_ref())));
    let (source, entities) = match note {
        Some((text, entities)) => (text, entities),
        None => (tweet.text.as_deref()?, tweet.entities.as_ref()),
    };
    let mut list = entities.map(|e| entities_of(e, quoted)).unwrap_or_default();
    if note.is_none() {
        list.extend(hidden_reply_mentions(
            tweet.display_text_range.as_deref(),
            source,
        ));
    }
    let mut spliced = splice(source, true, list);
    if strip_rt {
        if let Some(user) = retweeted_user(source) {
            spliced.strip_repost_prefix(user);
        }
    }
    Some(spliced)
}

/// Links, mentions and hashtags; media links and the quoted post's trailing link as removals.
fn entities_of(entities: &RawEntities, quoted: Option<&PostId>) -> Vec<Entity> {
    let mut out = Vec::new();
    let last_url_start = entities.urls.iter().map(|u| u.start).max();
    for u in &entities.urls {
        let range = u.start.index()..u.end.index();
        let expanded = u
            .expanded_url
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| u.url.clone());
        let quote_link = Some(u.start) == last_url_start
            && quoted.is_some_and(|q| parse_status_url(&expanded).is_some_and(|(_, id)| id == *q));
        let kind = if u.media_key.is_some() || quote_link {
            EntityKind::Remove {
                shown: Some(u.url.clone()),
            }
        } else {
            EntityKind::Link {
                short: u.url.clone(),
                expanded,
            }
        };
        out.push(Entity { range, kind });
    }
    for m in &entities.mentions {
        out.push(Entity {
            range: m.start.index()..m.end.index(),
            kind: EntityKind::Mention {
                username: m.username.clone(),
            },
        });
    }
    for h in &entities.hashtags {
        out.push(Entity {
            range: h.start.index()..h.end.index(),
            kind: EntityKind::Hashtag { tag: h.tag.clone() },
        });
    }
    out
}

fn media_of(tweet: &RawTweet, inc: &Includes) -> Vec<Media> {
    let keys = tweet
        .attachments
        .as_ref()
        .map(|a| a.media_keys.as_slice())
        .unwrap_or_default();
    keys.iter()
        .filter_map(|key| inc.media.get(key))
        .filter_map(media)
        .collect()
}

fn media(m: &RawMedia) -> Option<Media> {
    let kind = match m.kind.as_deref()? {
        "photo" => MediaKind::Photo,
        "video" => MediaKind::Video,
        "animated_gif" => MediaKind::Gif,
        other => {
            tracing::debug!(kind = other, "unknown media type; skipped");
            return None;
        }
    };
    let (source, original_url) = if kind == MediaKind::Photo {
        let url = m.url.clone()?;
        (MediaSource::Url(url.clone()), Some(url))
    } else {
        let best = m
            .variants
            .iter()
            .filter(|v| v.content_type.as_deref() == Some("video/mp4"))
            .filter_map(|v| Some((v.bit_rate.unwrap_or_default(), v.url.clone()?)))
            .max_by_key(|(rate, _)| *rate)
            .map(|(_, url)| url);
        match best {
            Some(url) => (MediaSource::Url(url.clone()), Some(url)),
            None => (MediaSource::Unavailable, m.preview_image_url.clone()),
        }
    };
    let to_u32 = |n: Option<Num>| n.and_then(|n| u32::try_from(n.0).ok()).filter(|v| *v > 0);
    Some(Media {
        kind,
        source,
        alt_text: m.alt_text.clone().filter(|a| !a.trim().is_empty()),
        width: to_u32(m.width),
        height: to_u32(m.height),
        original_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FacetKind;

    fn owner() -> Author {
        Author {
            id: Some("1".into()),
            username: "owner".into(),
            display_name: None,
        }
    }

    #[test]
    fn a_repost_with_cut_text_takes_the_original() {
        let body = r#"{"data":[{"id":"20","text":"RT @orig: The full text is longer than th…",
            "author_id":"1","referenced_tweets":[{"type":"retweeted","id":"10"}],
            "entities":{"mentions":[{"start":3,"end":8,"username":"orig"}]}}],
          "includes":{"users":[{"id":"1","username":"owner"},{"id":"2","username":"orig"}],
            "tweets":[{"id":"10","author_id":"2","text":"The full text is longer than this &amp; ends here https://t.co/x",
              "entities":{"urls":[{"start":49,"end":63,"url":"https://t.co/x","expanded_url":"https://example.org/a"}]}}]}}"#;
        let page = parse_page(body, &owner()).unwrap();
        let post = &page.posts[0].post;
        assert_eq!(
            post.text,
            "The full text is longer than this & ends here https://example.org/a"
        );
        let repost = post.references.repost_of.as_ref().unwrap();
        assert_eq!(repost.id.as_ref().unwrap().as_str(), "10");
        assert_eq!(repost.username.as_deref(), Some("orig"));
        assert_eq!(repost.url.as_deref(), Some("https://x.com/orig/status/10"));
        assert_eq!(post.author.username, "owner");
    }

    #[test]
    fn a_repost_whose_original_is_gone_keeps_its_text_without_the_prefix() {
        let body = r#"{"data":[{"id":"20","text":"RT @orig: cut…",
            "referenced_tweets":[{"type":"retweeted","id":"10"}]}],
          "errors":[{"title":"Not Found Error","detail":"Could not find tweet with referenced_tweets.id: [10]."}]}"#;
        let page = parse_page(body, &owner()).unwrap();
        assert_eq!(page.posts[0].post.text, "cut…");
        assert_eq!(
            page.posts[0]
                .post
                .references
                .repost_of
                .as_ref()
                .unwrap()
                .username
                .as_deref(),
            Some("orig")
        );
        assert_eq!(page.errors.len(), 1);
        assert!(page.errors[0].starts_with("Not Found Error: "));
    }

    #[test]
    fn a_lookup_names_the_posts_it_did_not_find() {
        // As X answers `GET /2/tweets?ids=1,2,3` when 2 is deleted and 3 is protected; the
        // quoted post of 1 is gone too.
        let body = r#"{"data":[{"id":"1","text":"here"}],
          "errors":[
            {"value":"2","detail":"Could not find tweet with ids: [2].","title":"Not Found Error",
             "resource_type":"tweet","parameter":"ids","resource_id":"2",
             "type":"https://api.twitter.com/2/problems/resource-not-found"},
            {"value":"3","detail":"Sorry, you are not authorized to see the Tweet with ids: [3].",
             "title":"Authorization Error","resource_type":"tweet","parameter":"ids",
             "resource_id":"3","type":"https://api.twitter.com/2/problems/not-authorized-for-resource"},
            {"value":"9","detail":"Could not find tweet with referenced_tweets.id: [9].",
             "title":"Not Found Error","resource_type":"tweet","parameter":"referenced_tweets.id",
             "resource_id":"9","type":"https://api.twitter.com/2/problems/resource-not-found"}]}"#;
        let page = parse_page(body, &owner()).unwrap();
        assert_eq!(page.posts.len(), 1);
        assert_eq!(page.missing, [PostId::new("2")]);
        assert_eq!(page.errors.len(), 3);
    }

    #[test]
    fn a_note_tweet_wins_over_the_cut_text() {
        let body = r#"{"data":[{"id":"5","text":"Short start… https://t.co/more",
            "note_tweet":{"text":"Short start and a much longer end #tag","entities":{"hashtags":[{"start":34,"end":38,"tag":"tag"}]}}}]}"#;
        let post = &parse_page(body, &owner()).unwrap().posts[0].post;
        assert_eq!(post.text, "Short start and a much longer end #tag");
        assert_eq!(
            post.facets[0].kind,
            FacetKind::Hashtag { tag: "tag".into() }
        );
    }

    #[test]
    fn hidden_reply_mentions_go_and_replies_name_their_parent() {
        let body = r#"{"data":[{"id":"7","text":"@owner @ann thanks!","display_text_range":[12,19],
            "in_reply_to_user_id":"1","referenced_tweets":[{"type":"replied_to","id":"6"}],
            "entities":{"mentions":[{"start":0,"end":6,"username":"owner"},{"start":7,"end":11,"username":"ann"}]}}],
            "includes":{"users":[{"id":"1","username":"owner"}]}}"#;
        let post = &parse_page(body, &owner()).unwrap().posts[0].post;
        assert_eq!(post.text, "thanks!");
        let parent = post.references.reply_to.as_ref().unwrap();
        assert_eq!(parent.username.as_deref(), Some("owner"));
        assert_eq!(post.kind(), crate::model::PostKind::Original);
    }

    #[test]
    fn ids_order_numerically_and_snowflakes_tell_the_time() {
        assert!(id_order("999", "1000").is_lt());
        assert!(id_order("1577730467436138524", "1565318587736285184").is_gt());
        let t = snowflake_time("1577730467436138524").unwrap();
        assert_eq!(t.format("%Y-%m-%d").to_string(), "2022-10-05");
        let back = snowflake_at(t);
        assert!(id_order(&back, "1577730467436138524").is_le());
        assert_eq!(snowflake_time(&back), Some(t));
    }

    #[test]
    fn users_are_read_with_their_newest_post() {
        let user = parse_user(
            r#"{"data":{"id":"783214","name":"Twitter","username":"Twitter","most_recent_tweet_id":"9"}}"#,
        )
        .unwrap();
        assert_eq!(user.author.id.as_deref(), Some("783214"));
        assert_eq!(user.most_recent_post, Some(PostId::new("9")));
        let err = parse_user(r#"{"errors":[{"title":"Not Found Error","detail":"Could not find user with username: [nobody]."}]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("Could not find user"), "{err}");
    }
}
