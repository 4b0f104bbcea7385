//! RSS and Atom items (as feed-rs reads them) to [`Post`], following the conventions of the
//! bridges that turn X accounts into feeds (FORMATS.md "RSS/Atom"):
//!
//! - Nitter titles start with `RT by @owner: ` (a repost; the link names the original's
//!   author and id), `R to @user: ` (a reply) or `Pinned: `;
//! - the status id comes from the link (`https://<host>/<user>/status/<id>#m`, or an X link
//!   on RSS-Bridge), else from a numeric `guid`; other feeds keep their `guid`;
//! - the text comes from the HTML description, **sanitised to plain text**: tags are dropped,
//!   only links survive (as link, mention or hashtag facets), scripts and styles vanish;
//! - images come from enclosures and `<img>` tags, each URL checked by
//!   [`crate::fetch::check_url`] (refused ones are dropped and listed);
//! - a `<blockquote>` is a quoted post: its status link becomes the quote reference and its
//!   text is left out (the renderer links the quote instead).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use feed_rs::model::Entry;

use super::archive::parse_status_url;
use super::entities::unescape_html;
use crate::fetch::check_url;
use crate::model::{
    Author, Facet, FacetKind, Media, MediaKind, MediaSource, Post, PostId, PostRef, References,
};

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
        .map(|t| unescape_html(t.content.trim()).into_owned())
        .unwrap_or_default();
    let (prefix, _) = classify(&title);
    let html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()));
    let mut body = match &html {
        Some(html) => html_to_text(html),
        None => Html {
            text: title.clone(),
            ..Html::default()
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
    references.quote_of = body.quote.take();

    let (media, refused_media) = media_of(entry, &body.images, cx.allow_private_media);

    let url = match &status {
        Some((user, id)) => Post::canonical_url(user, id),
        None => link.unwrap_or_default(),
    };
    let post = Post {
        id,
        author: Author {
            id: None,
            username: author_name,
            display_name: None,
        },
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
fn strip_leading(body: &mut Html, title: &str, stripped: &str) {
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

/// Sanitised HTML: plain text with link facets, the images, and the quoted post.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html {
    /// The text, whitespace collapsed, paragraphs as blank lines.
    pub text: String,
    /// Links, mentions and hashtags as byte ranges into `text`.
    pub facets: Vec<Facet>,
    /// `src` of every `<img>`, in order.
    pub images: Vec<String>,
    /// The first status linked inside a `<blockquote>`.
    pub quote: Option<PostRef>,
}

/// Turns untrusted HTML into plain text: no markup survives, so nothing in it can act on a
/// reader. Links keep their target (as the text, for bare links, or a facet over the
/// anchor's `@name` or `#tag`); `<script>` and `<style>` contents are dropped; a
/// `<blockquote>` is left out of the text and searched for a quoted status.
pub fn html_to_text(html: &str) -> Html {
    let mut out = Builder::default();
    let mut rest = html;
    let mut skip_until: Option<&'static str> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.text(rest, skip_until.is_some());
            break;
        };
        out.text(&rest[..lt], skip_until.is_some());
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            continue;
        }
        let Some(tag) = read_tag(rest) else {
            if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
                // A tag cut short or malformed: dropped up to its end, as a browser would.
                rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
            } else {
                // A lone `<`: text, as a browser would show it.
                out.text("<", skip_until.is_some());
                rest = &rest[1..];
            }
            continue;
        };
        rest = &rest[tag.len..];
        if let Some(until) = skip_until {
            if tag.closing && tag.name == until {
                skip_until = None;
            }
            continue;
        }
        match (tag.name.as_str(), tag.closing) {
            ("script", false) => skip_until = Some("script"),
            ("style", false) => skip_until = Some("style"),
            ("br", _) => out.newline(1),
            ("p" | "div" | "li" | "ul" | "ol" | "hr" | "h1" | "h2" | "h3" | "h4" | "footer", _) => {
                out.newline(2);
            }
            ("blockquote", false) => {
                out.newline(2);
                out.quote_depth += 1;
            }
            ("blockquote", true) => {
                out.quote_depth = out.quote_depth.saturating_sub(1);
                out.newline(2);
            }
            ("a", false) => out.open_link(tag.attr("href")),
            ("a", true) => out.close_link(),
            ("img", false) => {
                if let Some(src) = tag.attr("src") {
                    out.images.push(src);
                }
            }
            _ => {}
        }
    }
    out.finish()
}

#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, String)>,
    /// Bytes the tag takes in the source.
    len: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| unescape_html(v.trim()).into_owned())
    }
}

/// Reads the tag at the start of `s` (which starts with `<`), quotes in attributes
/// respected. `None` when it is not a tag (`< 3`, or never closed).
fn read_tag(s: &str) -> Option<Tag> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if *bytes.get(i)? == b'>' {
            break;
        }
        let (attr, value, next) = read_attr(s, i)?;
        i = next;
        if !attr.is_empty() {
            attrs.push((attr, value));
        }
    }
    Some(Tag {
        name,
        closing,
        attrs,
        len: i + 1,
    })
}

/// Reads one `name`, `name=value`, `name="value"` or `name='value'` at byte `i`; returns
/// it and the byte after it. `None` when a quote is never closed.
fn read_attr(s: &str, mut i: usize) -> Option<(String, String, usize)> {
    let bytes = s.as_bytes();
    let start = i;
    while i < bytes.len()
        && !matches!(bytes[i], b'=' | b'>' | b'/')
        && !bytes[i].is_ascii_whitespace()
    {
        i += 1;
    }
    let attr = s[start..i].to_ascii_lowercase();
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if bytes.get(i) != Some(&b'=') {
        return Some((attr, String::new(), i));
    }
    i += 1;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    if let quote @ (b'"' | b'\'') = *bytes.get(i)? {
        let end = s[i + 1..].find(char::from(quote))? + i + 1;
        return Some((attr, s[i + 1..end].to_owned(), end + 1));
    }
    let value_start = i;
    while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    Some((attr, s[value_start..i].to_owned(), i))
}

#[derive(Debug, Default)]
struct Builder {
    text: String,
    facets: Vec<Facet>,
    images: Vec<String>,
    quote: Option<PostRef>,
    quote_depth: usize,
    /// Line breaks owed before the next text (1 or 2).
    pending_breaks: usize,
    /// The open anchor: its target and where its text starts.
    link: Option<(Option<String>, usize)>,
    /// Text of the open anchor inside a quote (not in `text`).
    quote_link_text: String,
}

impl Builder {
    fn text(&mut self, raw: &str, skipping: bool) {
        if skipping || raw.is_empty() {
            return;
        }
        let decoded = unescape_html(raw)
            .replace('\u{a0}', " ")
            .replace("&nbsp;", " ");
        if self.quote_depth > 0 {
            return;
        }
        let mut words = decoded.split_whitespace().peekable();
        let leading_space = decoded.starts_with(char::is_whitespace);
        let trailing_space = decoded.ends_with(char::is_whitespace);
        if words.peek().is_none() {
            if leading_space && !self.text.is_empty() && self.pending_breaks == 0 {
                self.space();
            }
            return;
        }
        self.flush_breaks();
        if leading_space {
            self.space();
        }
        let joined = words.collect::<Vec<_>>().join(" ");
        self.text.push_str(&joined);
        if trailing_space {
            self.space();
        }
    }

    fn space(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
            self.text.push(' ');
        }
    }

    fn newline(&mut self, n: usize) {
        if self.quote_depth == 0 && !self.text.is_empty() {
            self.pending_breaks = self.pending_breaks.max(n);
        }
    }

    fn flush_breaks(&mut self) {
        if self.pending_breaks > 0 {
            let len = self.text.trim_end_matches(' ').len();
            self.text.truncate(len);
            for _ in 0..self.pending_breaks {
                self.text.push('\n');
            }
            self.pending_breaks = 0;
        }
    }

    fn open_link(&mut self, href: Option<String>) {
        let href = href.filter(|h| h.starts_with("http://") || h.starts_with("https://"));
        if self.quote_depth > 0 {
            if self.quote.is_none() {
                if let Some((user, id)) = href.as_deref().and_then(status_link) {
                    self.quote = Some(PostRef {
                        url: Some(Post::canonical_url(&user, &id)),
                        id: Some(id),
                        username: Some(user),
                    });
                }
            }
            self.quote_link_text.clear();
            return;
        }
        self.flush_breaks();
        self.link = Some((href, self.text.len()));
    }

    fn close_link(&mut self) {
        let Some((href, start)) = self.link.take() else {
            return;
        };
        let shown = self.text[start..].trim().to_owned();
        let Some(href) = href else {
            return;
        };
        let facet = if let Some(name) = shown.strip_prefix('@').filter(|n| is_word(n)) {
            FacetKind::Mention {
                username: name.to_owned(),
            }
        } else if let Some(tag) = shown.strip_prefix('#').filter(|t| is_word(t)) {
            FacetKind::Hashtag {
                tag: tag.to_owned(),
            }
        } else if shown.is_empty() {
            // An anchor around an image only: the image is collected on its own.
            return;
        } else {
            // Bare and shortened links show their target in full; the renderer counts
            // URLs the way the target does, so length is no reason to shorten them.
            let url = match status_link(&href) {
                Some((user, id)) => Post::canonical_url(&user, &id),
                None => href,
            };
            let looks_like_url = shown.contains('.') && !shown.contains(' ');
            if looks_like_url {
                self.text.truncate(start);
                self.text.push_str(&url);
            }
            let range = if looks_like_url {
                start..self.text.len()
            } else {
                start + (self.text[start..].len() - self.text[start..].trim_start().len())
                    ..self.text.trim_end().len()
            };
            self.facets.push(Facet {
                range,
                kind: FacetKind::Link { url },
            });
            return;
        };
        let lead = self.text[start..].len() - self.text[start..].trim_start().len();
        let end = self.text.trim_end().len();
        self.facets.push(Facet {
            range: start + lead..end,
            kind: facet,
        });
    }

    fn finish(mut self) -> Html {
        let len = self.text.trim_end().len();
        self.text.truncate(len);
        self.facets
            .retain(|f| f.range.end <= len && f.range.start < f.range.end);
        Html {
            text: self.text,
            facets: self.facets,
            images: self.images,
            quote: self.quote,
        }
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link_urls(h: &Html) -> Vec<(&str, &FacetKind)> {
        h.facets
            .iter()
            .map(|f| (&h.text[f.range.clone()], &f.kind))
            .collect()
    }

    #[test]
    fn markup_becomes_text_with_links() {
        let h = html_to_text(
            "<p>Hello <a href=\"https://nitter.net/ann\">@ann</a> &amp; <b>bold</b> \
             <a href='https://example.org/a?b=1&amp;c=2'>example.org/a…</a></p>\
             <p>two<br>lines <a href=\"https://nitter.net/search?q=%23rust\">#rust</a></p>\
             <script>alert(1)</script><style>p{}</style><a href=\"javascript:alert(1)\">click</a>",
        );
        assert_eq!(
            h.text,
            "Hello @ann & bold https://example.org/a?b=1&c=2\n\ntwo\nlines #rust\n\nclick"
        );
        let facets = link_urls(&h);
        assert_eq!(facets[0].0, "@ann");
        assert_eq!(
            facets[1],
            (
                "https://example.org/a?b=1&c=2",
                &FacetKind::Link {
                    url: "https://example.org/a?b=1&c=2".into()
                }
            )
        );
        assert_eq!(facets[2].1, &FacetKind::Hashtag { tag: "rust".into() });
        assert_eq!(facets.len(), 3);
    }

    #[test]
    fn quotes_and_images_are_taken_out() {
        let h = html_to_text(
            "<p>Look</p><img src=\"https://nitter.net/pic/media%2Fa.jpg\" />\
             <hr/><blockquote><b>Bob (@bob)</b><p>quoted words</p><footer>— <cite>\
             <a href=\"https://nitter.net/bob/status/42#m\">nitter.net/bob/status/42#m</a></cite></footer></blockquote>",
        );
        assert_eq!(h.text, "Look");
        assert_eq!(h.images, ["https://nitter.net/pic/media%2Fa.jpg"]);
        let quote = h.quote.unwrap();
        assert_eq!(quote.id, Some(PostId::new("42")));
        assert_eq!(quote.url.as_deref(), Some("https://x.com/bob/status/42"));
    }

    #[test]
    fn broken_markup_stays_readable() {
        let h = html_to_text("a < b and <a href=\"https://x.org\">x.org</a> <i>oops");
        assert_eq!(h.text, "a < b and https://x.org oops");
        assert_eq!(html_to_text("<p unclosed=\"").text, "");
    }

    #[test]
    fn prefixes_are_recognised() {
        assert_eq!(classify("RT by @owner: hi").0, Prefix::RepostBy("owner"));
        assert_eq!(classify("R to @ann: hi").0, Prefix::ReplyTo("ann"));
        assert_eq!(classify("Pinned: hi").0, Prefix::Pinned);
        assert_eq!(classify("RT by @: hi").0, Prefix::None);
        assert_eq!(strip_prefix("R to @ann: hi", Prefix::ReplyTo("ann")), "hi");
    }
}
