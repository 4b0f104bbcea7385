//! Feed posts kept in the ledger while a route of their source still has parts left for them.
//!
//! A feed cannot be asked for an old item: once its cursor is past a post whose target was
//! down, the feed may never list it again (it scrolled off, or the daemon restarted). So the
//! normalised post is kept here, written in the same transaction as the cursor that moves
//! past it, and a restarted daemon offers it from here. The copy goes when no route of the
//! source needs it any more (every part posted or skipped); a quarantined or held part keeps
//! it, since a person's `quarantine retry` or `hold release` brings the post back.
//!
//! The model types do not derive `Serialize` (ARCHITECTURE.md, "No wire types past a
//! source"): the stored shape is the explicit, versioned [`KeptPost`] below, so a change of
//! the model never silently changes what older rows mean.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{timestamp, Ledger, StoreError};
use crate::model::{
    Author, Facet, FacetKind, Media, MediaKind, MediaSource, Post, PostId, PostRef, References,
};

/// The version of the stored shape; a reader refuses any other.
const SHAPE: u32 = 1;

/// Whether a route of the source (`?2`, a JSON array of route names) still needs post `?1`:
/// a part not posted or skipped (planned, in flight, failed, quarantined or held), or a
/// person's hold release not planned yet.
const NEEDED: &str = "(EXISTS (SELECT 1 FROM parts AS p WHERE p.source_post_id = ?1 \
         AND p.route IN (SELECT value FROM json_each(?2)) \
         AND p.state NOT IN ('posted', 'skipped')) \
     OR EXISTS (SELECT 1 FROM hold_releases AS h WHERE h.source_post_id = ?1 \
         AND h.route IN (SELECT value FROM json_each(?2)) \
         AND NOT EXISTS (SELECT 1 FROM parts AS q WHERE q.route = h.route \
             AND q.source_post_id = h.source_post_id AND q.target = h.target)))";

/// A post to keep while its source's routes need it.
#[derive(Debug, Clone, Copy)]
pub struct KeepPost<'a> {
    /// The source's name in the configuration.
    pub source: &'a str,
    /// The routes reading the source.
    pub routes: &'a [String],
    /// The post.
    pub post: &'a Post,
}

/// A kept post that could not be read back (a hand edit, or a row of a newer shape).
#[derive(Debug, thiserror::Error)]
#[error("the kept copy of post {post_id} cannot be read: {reason}")]
pub struct UnreadableKept {
    /// The post's id.
    pub post_id: String,
    /// Why.
    pub reason: String,
}

impl Ledger {
    /// The post is in the ledger for every route: keeps its copy (when a route still needs
    /// it) and saves the source's cursor past it, in one transaction, so no crash can leave
    /// the cursor past a post that is neither delivered nor kept.
    pub fn post_handled(
        &self,
        (source, value): (&str, &str),
        keep: Option<KeepPost<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(keep) = keep {
            tx.prepare_cached(&format!(
                "INSERT INTO kept_posts (source, post_id, post, kept_at) \
                 SELECT ?3, ?1, ?4, ?5 WHERE {NEEDED} \
                 ON CONFLICT (source, post_id) DO UPDATE \
                 SET post = excluded.post, kept_at = excluded.kept_at"
            ))?
            .execute(params![
                keep.post.id.as_str(),
                json_list(keep.routes),
                keep.source,
                encode(keep.post),
                timestamp(now)
            ])?;
        }
        super::save_cursor(&tx, source, value, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes the kept copies of `source` that none of `routes` needs any more: of one
    /// post, or of all of them (`post_id` `None`). Returns how many went.
    pub fn forget_settled(
        &self,
        source: &str,
        routes: &[String],
        post_id: Option<&str>,
    ) -> Result<usize, StoreError> {
        let needed = NEEDED.replace("?1", "k.post_id");
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "DELETE FROM kept_posts AS k WHERE k.source = ?3 \
                 AND (?1 IS NULL OR k.post_id = ?1) AND NOT {needed}"
            ))?
            .execute(params![post_id, json_list(routes), source])?)
    }

    /// The kept copies of `source` whose posts are among `ids`, read back; a copy that cannot
    /// be read is returned as its error, for the caller to report.
    pub fn kept_posts(
        &self,
        source: &str,
        ids: &[String],
    ) -> Result<Vec<Result<Post, UnreadableKept>>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT post_id, post FROM kept_posts WHERE source = ?1 \
             AND post_id IN (SELECT value FROM json_each(?2)) ORDER BY post_id",
        )?;
        let posts = stmt
            .query_map(params![source, json_list(ids)], |row| {
                let post_id = row.get(0)?;
                Ok(decode(&row.get::<_, String>(1)?)
                    .map_err(|reason| UnreadableKept { post_id, reason }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(posts)
    }
}

/// Names or ids as a JSON array, for `json_each`.
fn json_list(names: &[String]) -> String {
    // Serialising strings cannot fail.
    serde_json::to_string(names).unwrap_or_default()
}

/// The post as the ledger keeps it.
pub(super) fn encode(post: &Post) -> String {
    // Strings, numbers and booleans only: serialising cannot fail.
    serde_json::to_string(&KeptPost::from(post)).unwrap_or_default()
}

/// A kept post read back.
pub(super) fn decode(json: &str) -> Result<Post, String> {
    let kept: KeptPost = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if kept.v != SHAPE {
        return Err(format!(
            "stored shape {} (this birdbridge reads {SHAPE})",
            kept.v
        ));
    }
    Ok(kept.into())
}

/// The stored shape of a [`Post`], version [`SHAPE`]. Field names are part of the ledger's
/// format: rename nothing; a change is a new version.
#[derive(Debug, Serialize, Deserialize)]
struct KeptPost {
    v: u32,
    id: String,
    author: KeptAuthor,
    created_at: DateTime<Utc>,
    text: String,
    facets: Vec<KeptFacet>,
    media: Vec<KeptMedia>,
    reply_to: Option<KeptRef>,
    quote_of: Option<KeptRef>,
    repost_of: Option<KeptRef>,
    sensitive: bool,
    language: Option<String>,
    url: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeptAuthor {
    id: Option<String>,
    username: String,
    display_name: Option<String>,
}

/// A facet: byte range into the text and what it is.
#[derive(Debug, Serialize, Deserialize)]
struct KeptFacet {
    start: usize,
    end: usize,
    #[serde(flatten)]
    kind: KeptFacetKind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KeptFacetKind {
    Link { url: String },
    Mention { username: String },
    Hashtag { tag: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct KeptMedia {
    kind: KeptMediaKind,
    source: KeptMediaSource,
    alt_text: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    original_url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KeptMediaKind {
    Photo,
    Video,
    Gif,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
enum KeptMediaSource {
    File { path: PathBuf },
    Zip { archive: PathBuf, entry: String },
    Url { url: String },
    Unavailable,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeptRef {
    id: Option<String>,
    username: Option<String>,
    url: Option<String>,
}

impl From<&Post> for KeptPost {
    fn from(p: &Post) -> Self {
        let r = |r: &Option<PostRef>| {
            r.as_ref().map(|r| KeptRef {
                id: r.id.as_ref().map(|id| id.0.clone()),
                username: r.username.clone(),
                url: r.url.clone(),
            })
        };
        Self {
            v: SHAPE,
            id: p.id.0.clone(),
            author: KeptAuthor {
                id: p.author.id.clone(),
                username: p.author.username.clone(),
                display_name: p.author.display_name.clone(),
            },
            created_at: p.created_at,
            text: p.text.clone(),
            facets: p
                .facets
                .iter()
                .map(|f| KeptFacet {
                    start: f.range.start,
                    end: f.range.end,
                    kind: match &f.kind {
                        FacetKind::Link { url } => KeptFacetKind::Link { url: url.clone() },
                        FacetKind::Mention { username } => KeptFacetKind::Mention {
                            username: username.clone(),
                        },
                        FacetKind::Hashtag { tag } => KeptFacetKind::Hashtag { tag: tag.clone() },
                    },
                })
                .collect(),
            media: p.media.iter().map(KeptMedia::from).collect(),
            reply_to: r(&p.references.reply_to),
            quote_of: r(&p.references.quote_of),
            repost_of: r(&p.references.repost_of),
            sensitive: p.sensitive,
            language: p.language.clone(),
            url: p.url.clone(),
        }
    }
}

impl From<&Media> for KeptMedia {
    fn from(m: &Media) -> Self {
        Self {
            kind: match m.kind {
                MediaKind::Photo => KeptMediaKind::Photo,
                MediaKind::Video => KeptMediaKind::Video,
                MediaKind::Gif => KeptMediaKind::Gif,
            },
            source: match &m.source {
                MediaSource::File(path) => KeptMediaSource::File { path: path.clone() },
                MediaSource::ZipEntry { archive, entry } => KeptMediaSource::Zip {
                    archive: archive.clone(),
                    entry: entry.clone(),
                },
                MediaSource::Url(url) => KeptMediaSource::Url { url: url.clone() },
                MediaSource::Unavailable => KeptMediaSource::Unavailable,
            },
            alt_text: m.alt_text.clone(),
            width: m.width,
            height: m.height,
            original_url: m.original_url.clone(),
        }
    }
}

impl From<KeptPost> for Post {
    fn from(k: KeptPost) -> Self {
        let r = |r: Option<KeptRef>| {
            r.map(|r| PostRef {
                id: r.id.map(PostId),
                username: r.username,
                url: r.url,
            })
        };
        Post {
            id: PostId(k.id),
            author: Author {
                id: k.author.id,
                username: k.author.username,
                display_name: k.author.display_name,
            },
            created_at: k.created_at,
            text: k.text,
            facets: k
                .facets
                .into_iter()
                .map(|f| Facet {
                    range: f.start..f.end,
                    kind: match f.kind {
                        KeptFacetKind::Link { url } => FacetKind::Link { url },
                        KeptFacetKind::Mention { username } => FacetKind::Mention { username },
                        KeptFacetKind::Hashtag { tag } => FacetKind::Hashtag { tag },
                    },
                })
                .collect(),
            media: k.media.into_iter().map(Media::from).collect(),
            references: References {
                reply_to: r(k.reply_to),
                quote_of: r(k.quote_of),
                repost_of: r(k.repost_of),
            },
            sensitive: k.sensitive,
            language: k.language,
            url: k.url,
        }
    }
}

impl From<KeptMedia> for Media {
    fn from(m: KeptMedia) -> Self {
        Media {
            kind: match m.kind {
                KeptMediaKind::Photo => MediaKind::Photo,
                KeptMediaKind::Video => MediaKind::Video,
                KeptMediaKind::Gif => MediaKind::Gif,
            },
            source: match m.source {
                KeptMediaSource::File { path } => MediaSource::File(path),
                KeptMediaSource::Zip { archive, entry } => MediaSource::ZipEntry { archive, entry },
                KeptMediaSource::Url { url } => MediaSource::Url(url),
                KeptMediaSource::Unavailable => MediaSource::Unavailable,
            },
            alt_text: m.alt_text,
            width: m.width,
            height: m.height,
            original_url: m.original_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::PartKey;

    fn at(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, s).unwrap()
    }

    fn post(id: &str) -> Post {
        let text = "Hi @ann #tag https://example.org".to_owned();
        Post {
            id: PostId::new(id),
            author: Author {
                id: None,
                username: "bb".into(),
                display_name: Some("B B".into()),
            },
            created_at: at(1),
            facets: vec![
                Facet {
                    range: 3..7,
                    kind: FacetKind::Mention {
                        username: "ann".into(),
                    },
                },
                Facet {
                    range: 8..12,
                    kind: FacetKind::Hashtag { tag: "tag".into() },
                },
                Facet {
                    range: 13..text.len(),
                    kind: FacetKind::Link {
                        url: "https://example.org".into(),
                    },
                },
            ],
            text,
            media: vec![
                Media {
                    kind: MediaKind::Photo,
                    source: MediaSource::Url("https://n.example/pic.jpg".into()),
                    alt_text: Some("a bird".into()),
                    width: Some(4),
                    height: None,
                    original_url: None,
                },
                Media {
                    kind: MediaKind::Gif,
                    source: MediaSource::Unavailable,
                    alt_text: None,
                    width: None,
                    height: None,
                    original_url: Some("https://n.example/g".into()),
                },
            ],
            references: References {
                reply_to: Some(PostRef {
                    id: Some(PostId::new("0")),
                    username: Some("bb".into()),
                    url: None,
                }),
                quote_of: None,
                repost_of: None,
            },
            sensitive: true,
            language: Some("en".into()),
            url: "https://n.example/bb/status/1".into(),
        }
    }

    #[test]
    fn a_post_reads_back_as_it_was_written() {
        let p = post("1");
        assert_eq!(decode(&encode(&p)).unwrap(), p);
    }

    /// The stored shape is the ledger's format: this is what a row written today holds.
    #[test]
    fn the_stored_shape_is_stable() {
        let json: serde_json::Value = serde_json::from_str(&encode(&post("1"))).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["created_at"], "2026-01-01T12:00:01Z");
        assert_eq!(
            json["facets"][0],
            serde_json::json!({"start": 3, "end": 7, "kind": "mention", "username": "ann"})
        );
        assert_eq!(
            json["media"][0]["source"],
            serde_json::json!({"from": "url", "url": "https://n.example/pic.jpg"})
        );
        assert_eq!(
            json["media"][1]["source"],
            serde_json::json!({"from": "unavailable"})
        );
        assert_eq!(json["reply_to"]["id"], "0");
        let newer = encode(&post("1")).replace("\"v\":1", "\"v\":2");
        assert!(decode(&newer).unwrap_err().contains("stored shape 2"));
    }

    #[test]
    fn a_post_is_kept_while_a_route_needs_it_and_forgotten_after() {
        let ledger = Ledger::open_in_memory().unwrap();
        let routes = ["r".to_owned(), "s".to_owned()];
        let (done, waiting) = (post("1"), post("2"));
        ledger.plan_post("r", "1", "t", 1, at(0)).unwrap();
        let key = PartKey::new("r", "1", "t", 0);
        ledger.begin_attempt(&key, at(0)).unwrap();
        ledger.mark_posted(&key, "x", None, at(0)).unwrap();
        ledger.plan_post("r", "2", "t", 1, at(0)).unwrap();
        for p in [&done, &waiting] {
            let keep = KeepPost {
                source: "feed",
                routes: &routes,
                post: p,
            };
            ledger
                .post_handled(("feed", "cursor"), Some(keep), at(1))
                .unwrap();
        }
        assert_eq!(ledger.cursor("feed").unwrap().unwrap().value, "cursor");
        let ids = ["1".to_owned(), "2".to_owned()];
        let kept: Vec<Post> = ledger
            .kept_posts("feed", &ids)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            kept,
            std::slice::from_ref(&waiting),
            "a delivered post is not kept"
        );
        assert!(ledger.kept_posts("other", &ids).unwrap().is_empty());

        // Still waiting: nothing goes; delivered: its copy goes.
        assert_eq!(ledger.forget_settled("feed", &routes, None).unwrap(), 0);
        let key = PartKey::new("r", "2", "t", 0);
        ledger.begin_attempt(&key, at(2)).unwrap();
        ledger.mark_posted(&key, "y", None, at(2)).unwrap();
        assert_eq!(
            ledger.forget_settled("feed", &routes, Some("3")).unwrap(),
            0
        );
        assert_eq!(
            ledger.forget_settled("feed", &routes, Some("2")).unwrap(),
            1
        );
        assert!(ledger.kept_posts("feed", &ids).unwrap().is_empty());
    }

    #[test]
    fn a_held_post_keeps_its_copy() {
        let ledger = Ledger::open_in_memory().unwrap();
        let routes = ["r".to_owned()];
        ledger
            .mark_held("r", "1", "t", "held: sensitive media", at(0))
            .unwrap();
        let p = post("1");
        let keep = KeepPost {
            source: "feed",
            routes: &routes,
            post: &p,
        };
        ledger
            .post_handled(("feed", "c"), Some(keep), at(1))
            .unwrap();
        assert_eq!(ledger.forget_settled("feed", &routes, None).unwrap(), 0);
        assert_eq!(ledger.kept_posts("feed", &["1".into()]).unwrap().len(), 1);
        // A route that no longer reads the source does not keep it.
        assert_eq!(
            ledger.forget_settled("feed", &["s".into()], None).unwrap(),
            1
        );
    }
}
