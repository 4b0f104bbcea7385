//! RSS and Atom items (as feed-rs reads them) to [`Post`], following the conventions of the
//! bridges that turn X accounts into feeds (docs/formats.md "RSS and Atom feeds"):
//!
//! - Nitter titles start with `RT by @owner: ` (a repost; the link names the original's
//!   author and id), `R to @user: ` (a reply) or `Pinned: `;
//! - the status id comes from the link (`https://<host>/<user>/status/<id>#m`, or an X link
//!   on RSS-Bridge), else from a numeric `guid`; other feeds keep their `guid`;
//! - the text comes from the HTML description, **read as plain text** by [`crate::html`]:
//!   tags are dropped, only links survive (as link, mention or hashtag facets), scripts and
//!   styles vanish; the title is escaped text, its character references decoded;
//! - images come from enclosures and `<img>` tags, each URL checked by
//!   [`crate::fetch::check_url`] (refused ones are dropped and listed);
//! - a `<blockquote>` is a quoted post: its status link becomes the quote reference and its
//!   text is left out (the renderer links the quote instead).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use feed_rs::model::Entry;

use super::archive::parse_status_url;
use crate::fetch::check_url;
use crate::html::{self, PlainText};
use crate::model::{Author, Media, MediaKind, MediaSource, Post, PostId, PostRef, References};

/// One feed item, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPost {
    /// The post.
    pub post: Post,
    /// Media URLs that were refused, with why, for the log.
    pub refused_media: Vec<String>,
}

/// What normalising an item needs besides the item.
#[derive(Debug, Clone, Copy)]
pub struct FeedContext<'a> {
    /// The author when an item names none (the source's name).
    pub fallback_author: &'a str,
    /// Whether media may point at private, loopback or link-local addresses.
    pub allow_private_media: bool,
    /// The time to give items without a date.
    pub now: DateTime<Utc>,
}

/// Normalises one item. Items without any text, link or id are `None`.
pub fn normalize_entry(entry: &Entry, cx: &FeedContext<'_>) -> Option<FeedPost> {
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .map(|l| l.href.clone());
    let status = link.as_deref().and_then(status_link);
    let title = entry
        .title
        .as_ref()
        .map(|t| html::decode_entities(&t.content).trim().to_owned())
        .unwrap_or_default();
    let (prefix, _) = classify(&title);
    let html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()));
    let mut body = match &html {
        Some(html) => html::to_text_with(html, &READ),
        None => PlainText {
            text: title.clone(),
            ..PlainText::default()
        },
    };
    let stripped_title = strip_prefix(&title, prefix);
    if body.text.is_empty() {
        stripped_title.clone_into(&mut body.text);
        body.facets.clear();
    }
    strip_leading(&mut body, &title, stripped_title);

    let id = match &status {
        Some((_, id)) => id.clone(),
        None if !entry.id.trim().is_empty() => PostId::new(entry.id.trim()),
        None => PostId::new(link.clone()?),
    };
    if body.truncated {
        tracing::warn!(
            post = %id,
            "the item's HTML is longer than a post can be; its end is left out"
        );
    }
    let link_user = status.as_ref().map(|(user, _)| user.clone());
    let item_author = entry
        .authors
        .first()
        .and_then(|p| p.name.clone())
        .map(|n| n.trim().trim_start_matches('@').to_owned())
        .filter(|n| !n.is_empty());
    let mut references = References::default();
    let author_name = match prefix {
        Prefix::RepostBy(owner) => {
            references.repost_of = Some(PostRef {
                url: status.as_ref().map(|(u, id)| Post::canonical_url(u, id)),
                id: status.as_ref().map(|(_, id)| id.clone()),
                username: link_user.clone(),
            });
            owner.to_owned()
        }
        Prefix::ReplyTo(parent) => {
            references.reply_to = Some(PostRef {
                id: None,
                username: Some(parent.to_owned()),
                url: None,
            });
            link_user
                .clone()
                .or(item_author)
                .unwrap_or_else(|| cx.fallback_author.to_owned())
        }
        Prefix::Pinned | Prefix::None => link_user
            .clone()
            .or(item_author)
            .unwrap_or_else(|| cx.fallback_author.to_owned()),
    };
    references.quote_of = quoted(&body.quoted_links);

    let (media, refused_media) = media_of(entry, &body.images, cx.allow_private_media);

    let url = match &status {
        Some((user, id)) => Post::canonical_url(user, id),
        None => link.unwrap_or_default(),
    };
    let post = Post {
        id,
        author: Author::named(author_name),
        created_at: entry.published.or(entry.updated).unwrap_or(cx.now),
        text: body.text,
        facets: body.facets,
        media,
        references,
        sensitive: false,
        language: entry.language.clone(),
        url,
    };
    Some(FeedPost {
        post,
        refused_media,
    })
}

/// The quoted post: the first status linked inside a `<blockquote>`.
fn quoted(links: &[String]) -> Option<PostRef> {
    let (user, id) = links.iter().find_map(|href| status_link(href))?;
    Some(PostRef {
        url: Some(Post::canonical_url(&user, &id)),
        id: Some(id),
        username: Some(user),
    })
}

/// Enclosures and `<img>` images, each URL checked; refused ones are listed with why.
fn media_of(entry: &Entry, images: &[String], allow_private: bool) -> (Vec<Media>, Vec<String>) {
    let mut refused_media = Vec::new();
    let mut seen = HashSet::new();
    let mut media = Vec::new();
    let enclosures = entry.media.iter().flat_map(|m| &m.content).filter_map(|c| {
        let kind = c.content_type.as_ref().map(ToString::to_string);
        let kind = match kind.as_deref() {
            Some(t) if t.starts_with("image/gif") => MediaKind::Gif,
            Some(t) if t.starts_with("image/") => MediaKind::Photo,
            Some(t) if t.starts_with("video/") => MediaKind::Video,
            _ => return None,
        };
        Some((kind, c.url.as_ref()?.to_string()))
    });
    let images = images.iter().map(|u| (MediaKind::Photo, u.clone()));
    for (kind, url) in enclosures.chain(images) {
        if !seen.insert(url.clone()) {
            continue;
        }
        match check_url(&url, allow_private) {
            Ok(_) => media.push(Media {
                kind,
                source: MediaSource::Url(url.clone()),
                alt_text: None,
                width: None,
                height: None,
                original_url: Some(url),
            }),
            Err(refused) => refused_media.push(refused.to_string()),
        }
    }

    (media, refused_media)
}

/// The title prefixes of Nitter-style feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix<'a> {
    RepostBy(&'a str),
    ReplyTo(&'a str),
    Pinned,
    None,
}

fn classify(title: &str) -> (Prefix<'_>, usize) {
    let handle = |rest: &'_ str| -> Option<usize> {
        let end = rest.find(':')?;
        let name = &rest[..end];
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .then_some(end)
    };
    if let Some(rest) = title.strip_prefix("RT by @") {
        if let Some(end) = handle(rest) {
            return (Prefix::RepostBy(&rest[..end]), "RT by @".len() + end + 1);
        }
    }
    if let Some(rest) = title.strip_prefix("R to @") {
        if let Some(end) = handle(rest) {
            return (Prefix::ReplyTo(&rest[..end]), "R to @".len() + end + 1);
        }
    }
    if title.starts_with("Pinned:") {
        return (Prefix::Pinned, "Pinned:".len());
    }
    (Prefix::None, 0)
}

fn strip_prefix<'t>(title: &'t str, prefix: Prefix<'_>) -> &'t str {
    let (found, len) = classify(title);
    if found == prefix {
        title[len..].trim_start()
    } else {
        title
    }
}

/// Removes the title's prefix from the body when the body repeats it.
fn strip_leading(body: &mut PlainText, title: &str, stripped: &str) {
    let prefix_len = title.len() - stripped.len();
    let prefix = title[..prefix_len].trim_end();
    if prefix.is_empty() || !body.text.starts_with(prefix) {
        return;
    }
    let rest = &body.text[prefix.len()..];
    let cut = prefix.len() + (rest.len() - rest.trim_start().len());
    body.text.drain(..cut);
    body.facets.retain(|f| f.range.start >= cut);
    for f in &mut body.facets {
        f.range = f.range.start - cut..f.range.end - cut;
    }
}

/// How an item's HTML is read: a `<blockquote>` is a quoted post (linked by the renderer,
/// so its text is left out), and a status link on a bridge points at its `x.com` original.
const READ: html::Options = html::Options {
    omit_blockquotes: true,
    canonical_link: Some(canonical_status),
};

fn canonical_status(href: &str) -> Option<String> {
    status_link(href).map(|(user, id)| Post::canonical_url(&user, &id))
}

/// `(user, id)` of a status link on any host: `https://<host>/<user>/status/<id>`, as
/// Nitter and X write them.
fn status_link(url: &str) -> Option<(String, PostId)> {
    if let Some(found) = parse_status_url(url) {
        return Some(found);
    }
    let parsed = url::Url::parse(url).ok()?;
    let mut segments = parsed.path_segments()?;
    let user = segments.next()?;
    let status = segments.next()?;
    let id = segments.next()?;
    let ok = !user.is_empty()
        && user.len() <= 15
        && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && status == "status"
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| (user.to_owned(), PostId::new(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_recognised() {
        assert_eq!(classify("RT by @owner: hi").0, Prefix::RepostBy("owner"));
        assert_eq!(classify("R to @ann: hi").0, Prefix::ReplyTo("ann"));
        assert_eq!(classify("Pinned: hi").0, Prefix::Pinned);
        assert_eq!(classify("RT by @: hi").0, Prefix::None);
        assert_eq!(strip_prefix("R to @ann: hi", Prefix::ReplyTo("ann")), "hi");
    }
}
