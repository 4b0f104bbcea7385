//! Fediverse statuses (as megalodon reads them, `megalodon::entities::Status`) to [`Post`]
//! (`docs/formats.md`, "Fediverse statuses"):
//!
//! - the HTML `content` is read by the one HTML reader ([`crate::html`]): paragraphs, line
//!   breaks, links (Mastodon's shortened display becomes the whole URL), hashtags and mention
//!   links; a mention's server comes from the status's `mentions[].acct` where it names one
//!   (a local account's `acct` has none: the server of its profile link), so `@ann` on
//!   another server is `ann@example.social`, never a bare name;
//! - `spoiler_text` becomes the post's first line `CW: …`, which the renderer reads as the
//!   post's content warning; `sensitive` carries over when there is no warning (under a
//!   warning every rendered status is marked sensitive anyway);
//! - media keep their descriptions: images, GIFs (`gifv`) and videos are downloaded for the
//!   targets; audio (which no target's upload path takes) is linked instead;
//! - a poll becomes its options as lines of text; custom emoji stay as their `:name:` text;
//! - a reblog is a repost of the original (its text and media), a quote a quote, a reply
//!   to the account's own status a thread;
//! - `public` and `unlisted` statuses may be mirrored; `private` (followers only), `direct`
//!   and `local` never are ([`FediStatus::public`]).
//!
//! An edited status keeps its id on the server; each version is a post of its own here
//! ([`version_id`]), whose earlier version is the status's id, so the engine edits the
//! mirrored statuses as it does for X's edits.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use megalodon::entities::attachment::AttachmentType;
use megalodon::entities::status::StatusVisibility;
use megalodon::entities::{Attachment, QuotedStatus, Status};
use sha2::{Digest, Sha256};

use crate::html;
use crate::model::{
    Author, Facet, FacetKind, Media, MediaKind, MediaSource, Post, PostId, PostRef, References,
};

/// A status read as a post, with what the source decides on.
#[derive(Debug, Clone, PartialEq)]
pub struct FediStatus {
    /// The post (its id is the status's id).
    pub post: Post,
    /// Whether the status may be mirrored: `public` or `unlisted`.
    pub public: bool,
    /// Its visibility as the server named it, for the log.
    pub visibility: &'static str,
    /// When it was last edited, if the server says (megalodon's `GoToSocial` entity does not).
    pub edited_at: Option<DateTime<Utc>>,
}

/// Reads `status`. `own_id` is the account being mirrored (a reply to it is a thread).
pub fn normalize_status(status: &Status, own_id: &str) -> FediStatus {
    let author = Author {
        id: Some(status.account.id.clone()),
        username: status.account.username.clone(),
        display_name: Some(status.account.display_name.clone()).filter(|d| !d.is_empty()),
    };
    let (shown, repost_of) = match &status.reblog {
        Some(original) => (
            original.as_ref(),
            Some(PostRef {
                id: Some(PostId::new(original.id.clone())),
                username: Some(full_acct(&original.account.acct, &original.account.url)),
                url: Some(status_url(original)),
            }),
        ),
        None => (status, None),
    };
    let (text, facets) = text_and_facets(shown);
    let reply_to = shown.in_reply_to_id.as_ref().map(|id| PostRef {
        id: Some(PostId::new(id.clone())),
        username: Some(reply_username(shown, own_id)),
        url: None,
    });
    let quote_of = shown.quote.as_ref().and_then(quote_ref);
    let post = Post {
        id: PostId::new(status.id.clone()),
        author,
        created_at: status.created_at,
        text,
        facets,
        media: shown.media_attachments.iter().map(media).collect(),
        references: References {
            reply_to: if repost_of.is_some() { None } else { reply_to },
            quote_of: if repost_of.is_some() { None } else { quote_of },
            repost_of,
        },
        sensitive: shown.sensitive && shown.spoiler_text.trim().is_empty(),
        language: shown
            .language
            .clone()
            .filter(|l| !l.is_empty() && l != "und"),
        url: status_url(status),
    };
    let (public, visibility) = match status.visibility {
        StatusVisibility::Public => (true, "public"),
        StatusVisibility::Unlisted => (true, "unlisted"),
        StatusVisibility::Private => (false, "private"),
        StatusVisibility::Direct => (false, "direct"),
        StatusVisibility::Local => (false, "local"),
    };
    FediStatus {
        post,
        public,
        visibility,
        edited_at: status.edited_at,
    }
}

/// The id of one version of an edited status: the status's id, then when it was edited
/// (or, where the server does not say, a digest of what the version shows), so every
/// version is a post of its own and the same version read twice is the same post.
pub fn version_id(status: &FediStatus) -> PostId {
    let id = status.post.id.as_str();
    if let Some(at) = status.edited_at {
        PostId::new(format!("{id}.edit.{}", at.timestamp_millis()))
    } else {
        let mut digest = Sha256::new();
        digest.update(status.post.text.as_bytes());
        for m in &status.post.media {
            digest.update([0]);
            digest.update(m.alt_text.as_deref().unwrap_or_default().as_bytes());
        }
        let hex: String = digest.finalize()[..8]
            .iter()
            .fold(String::new(), |mut out, b| {
                let _ = write!(out, "{b:02x}");
                out
            });
        PostId::new(format!("{id}.edit.{hex}"))
    }
}

/// The status's text with its warning as the first line, and the facets.
fn text_and_facets(status: &Status) -> (String, Vec<Facet>) {
    let read = html::to_text(&status.content);
    let mut text = read.text;
    let mut facets = read.facets;
    for facet in &mut facets {
        if let FacetKind::Mention { username } = &mut facet.kind {
            if let Some(acct) = mention_acct(status, username) {
                *username = acct;
            }
        }
    }
    if let Some(poll) = &status.poll {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let options: Vec<String> = poll
            .options
            .iter()
            .map(|o| format!("○ {}", o.title.trim()))
            .collect();
        text.push_str(&options.join("\n"));
    }
    let warning = one_line(&status.spoiler_text);
    if !warning.is_empty() {
        let prefix = format!("CW: {warning}\n");
        for facet in &mut facets {
            facet.range = facet.range.start + prefix.len()..facet.range.end + prefix.len();
        }
        text.insert_str(0, &prefix);
    }
    (text, facets)
}

/// `text` on one line: its whitespace runs as single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The full handle (`user@server`) of the mention the HTML reader read as `read`
/// (`user@host` of the profile link), from the status's `mentions`.
fn mention_acct(status: &Status, read: &str) -> Option<String> {
    let (user, host) = read.split_once('@')?;
    let same_user = |m: &&megalodon::entities::Mention| m.username.eq_ignore_ascii_case(user);
    let by_link = status
        .mentions
        .iter()
        .filter(same_user)
        .find(|m| url_host(&m.url).is_some_and(|h| h.eq_ignore_ascii_case(host)));
    let only = || {
        let mut named = status.mentions.iter().filter(same_user);
        let first = named.next()?;
        named.next().is_none().then_some(first)
    };
    let m = by_link.or_else(only)?;
    Some(full_acct(&m.acct, &m.url))
}

/// `acct` with its server: a local account's `acct` has none, so the server of its profile
/// link is added.
fn full_acct(acct: &str, profile_url: &str) -> String {
    let acct = acct.trim_start_matches('@');
    if acct.contains('@') {
        return acct.to_owned();
    }
    match url_host(profile_url) {
        Some(host) => format!("{acct}@{host}"),
        None => acct.to_owned(),
    }
}

fn url_host(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.host_str().map(str::to_owned)
}

/// The author a reply answers: the account itself (a thread), else the replied-to account
/// as the status's mentions name it.
fn reply_username(status: &Status, own_id: &str) -> String {
    match status.in_reply_to_account_id.as_deref() {
        Some(id) if id == own_id || id == status.account.id => status.account.username.clone(),
        Some(id) => status
            .mentions
            .iter()
            .find(|m| m.id == id)
            .map_or_else(|| format!("account {id}"), |m| full_acct(&m.acct, &m.url)),
        // Servers that leave the account out: a reply is to someone else unless proven own.
        None => "another account".to_owned(),
    }
}

fn quote_ref(quote: &QuotedStatus) -> Option<PostRef> {
    match quote {
        QuotedStatus::Quote(q) => {
            let quoted = q.quoted_status.as_ref()?;
            Some(PostRef {
                id: Some(PostId::new(quoted.id.clone())),
                username: Some(full_acct(&quoted.account.acct, &quoted.account.url)),
                url: Some(status_url(quoted)),
            })
        }
        QuotedStatus::ShallowQuote(q) => Some(PostRef {
            id: Some(PostId::new(q.quoted_status_id.clone()?)),
            username: None,
            url: None,
        }),
    }
}

fn status_url(status: &Status) -> String {
    status.url.clone().unwrap_or_else(|| status.uri.clone())
}

/// One attachment: images, GIFs and videos downloaded; audio (and what the server could not
/// name) linked, as no target's upload path takes it.
fn media(a: &Attachment) -> Media {
    let url = if a.url.is_empty() {
        a.remote_url.clone().unwrap_or_default()
    } else {
        a.url.clone()
    };
    let (kind, downloaded) = match a.r#type {
        AttachmentType::Image => (MediaKind::Photo, true),
        AttachmentType::Gifv => (MediaKind::Gif, true),
        AttachmentType::Video => (MediaKind::Video, true),
        AttachmentType::Audio | AttachmentType::Unknown => (MediaKind::Video, false),
    };
    let meta = a.meta.as_ref();
    let original = meta.and_then(|m| m.original.as_ref());
    let width = original
        .and_then(|o| o.width)
        .or(meta.and_then(|m| m.width));
    let height = original
        .and_then(|o| o.height)
        .or(meta.and_then(|m| m.height));
    Media {
        kind,
        source: if downloaded && !url.is_empty() {
            MediaSource::Url(url.clone())
        } else {
            MediaSource::Unavailable
        },
        alt_text: a
            .description
            .clone()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        width,
        height,
        original_url: Some(url).filter(|u| !u.is_empty()),
    }
}

#[cfg(test)]
mod tests;
