//! Entity splicing: turns a source text plus its entities (links, mentions, hashtags, spans to
//! drop) into [`crate::model::Post::text`] and its facets.
//!
//! X's entity indices count Unicode code points into the text as X stores it, which for
//! posts is HTML-escaped (`&amp;`, `&lt;`, `&gt;`). So the text is sliced at the indices
//! first and each plain piece is unescaped after; facets are then byte ranges into the
//! result. Indices are checked against what the span should read (the `t.co` URL, `@name`,
//! `#tag`); when they do not fit (an export that counted UTF-16 units, or shifted text), the
//! entity is looked up by its text after the previous one instead, and dropped if absent.

use std::borrow::Cow;
use std::ops::Range;

use super::lenient::Num;
use crate::model::{Facet, FacetKind};

/// One annotated span of a source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Code-point range into the source text, end exclusive.
    pub range: Range<usize>,
    /// What the span is and what to put in its place.
    pub kind: EntityKind,
}

/// What an [`Entity`] stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityKind {
    /// A shortened link, replaced by its expanded URL (which gets a link facet).
    Link {
        /// The `t.co` URL as it appears in the source text.
        short: String,
        /// The target URL shown instead.
        expanded: String,
    },
    /// An `@mention`, kept as written.
    Mention {
        /// The handle without `@`.
        username: String,
    },
    /// A `#hashtag`, kept as written.
    Hashtag {
        /// The tag without `#`.
        tag: String,
    },
    /// A span to delete: the trailing media link, a quoted post's link, hidden reply mentions.
    Remove {
        /// What the span should read, to check the indices; `None` trusts them.
        shown: Option<String>,
    },
}

/// Plain text with facets, the result of [`splice`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spliced {
    /// The plain Unicode text.
    pub text: String,
    /// Facets as byte ranges into `text`, in text order.
    pub facets: Vec<Facet>,
}

impl Spliced {
    /// Deletes a repost's `RT @user:` prefix and the whitespace after it, when the text
    /// starts with it (`user` from [`retweeted_user`]).
    pub fn strip_repost_prefix(&mut self, user: &str) {
        let prefix = format!("RT @{user}:");
        if self.text.starts_with(&prefix) {
            self.strip_leading(prefix.len());
        }
    }

    /// Deletes the first `bytes` bytes (a `RT @user: ` prefix, for instance) and the
    /// whitespace after them, shifting the facets; facets inside the cut are dropped.
    ///
    /// `bytes` must lie on a char boundary; a larger or misplaced cut does nothing, because
    /// it would mean the caller measured a different text.
    fn strip_leading(&mut self, bytes: usize) {
        let Some(rest) = self.text.get(bytes..) else {
            return;
        };
        let cut = bytes + (rest.len() - rest.trim_start().len());
        self.text.drain(..cut);
        self.facets.retain(|f| f.range.start >= cut);
        for facet in &mut self.facets {
            facet.range = facet.range.start - cut..facet.range.end - cut;
        }
    }

    /// Removes trailing whitespace (left where a trailing link was removed).
    fn trim_end(&mut self) {
        let len = self.text.trim_end().len();
        self.text.truncate(len);
        self.facets.retain(|f| f.range.end <= len);
    }
}

/// The handle in a `RT @user: ` prefix.
pub fn retweeted_user(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("RT @")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0 && rest[end..].starts_with(':')).then(|| &rest[..end])
}

/// Splices `source` (HTML-escaped when `escaped`) with `entities` into plain text and facets,
/// and trims trailing whitespace.
///
/// Entities that overlap an earlier one or whose text cannot be found are skipped: a post
/// with a slightly wrong entity still reads right, only without that facet.
pub fn splice(source: &str, escaped: bool, mut entities: Vec<Entity>) -> Spliced {
    // Removals first on equal starts, so hidden reply mentions win over their own mention
    // entities.
    entities.sort_by_key(|e| (e.range.start, !matches!(e.kind, EntityKind::Remove { .. })));
    let starts = char_starts(source);

    let mut out = Spliced {
        text: String::with_capacity(source.len()),
        facets: Vec::new(),
    };
    let mut pos = 0;
    for entity in entities {
        let Some(span) = locate(source, &starts, &entity, pos) else {
            tracing::debug!(entity = ?entity, "entity does not fit the text; skipped");
            continue;
        };
        push_plain(&mut out.text, &source[pos..span.start], escaped);
        let start = out.text.len();
        let kind = match entity.kind {
            EntityKind::Link { expanded, .. } => {
                out.text.push_str(&expanded);
                Some(FacetKind::Link { url: expanded })
            }
            EntityKind::Mention { username } => {
                push_plain(&mut out.text, &source[span.clone()], escaped);
                Some(FacetKind::Mention { username })
            }
            EntityKind::Hashtag { tag } => {
                push_plain(&mut out.text, &source[span.clone()], escaped);
                Some(FacetKind::Hashtag { tag })
            }
            EntityKind::Remove { .. } => None,
        };
        if let Some(kind) = kind {
            out.facets.push(Facet {
                range: start..out.text.len(),
                kind,
            });
        }
        pos = span.end;
    }
    push_plain(&mut out.text, &source[pos..], escaped);
    out.trim_end();
    out
}

/// Byte offset of every char of `text`, plus `text.len()` as the end of the last one.
fn char_starts(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect()
}

/// The byte range of `entity` in `source`, at or after byte `from`: at its indices when they
/// show what the entity says, else at the first occurrence of its text.
fn locate(source: &str, starts: &[usize], entity: &Entity, from: usize) -> Option<Range<usize>> {
    let Range { start, end } = entity.range;
    let by_index = (start <= end && end < starts.len()).then(|| starts[start]..starts[end]);
    if let Some(span) = by_index {
        if span.start >= from && shows(&source[span.clone()], &entity.kind) {
            return Some(span);
        }
    }
    let (needle, word) = match &entity.kind {
        EntityKind::Link { short, .. } => (short.clone(), false),
        EntityKind::Mention { username } => (format!("@{username}"), true),
        EntityKind::Hashtag { tag } => (format!("#{tag}"), true),
        EntityKind::Remove { shown: Some(text) } => (text.clone(), false),
        EntityKind::Remove { shown: None } => return None,
    };
    find_token(source, &needle, from, word)
}

/// Whether `slice` reads as `kind` says it should.
fn shows(slice: &str, kind: &EntityKind) -> bool {
    let sigil_then = |sigils: [char; 2], rest: &str| {
        let mut chars = slice.chars();
        chars.next().is_some_and(|c| sigils.contains(&c))
            && chars.as_str().to_lowercase() == rest.to_lowercase()
    };
    match kind {
        EntityKind::Link { short, .. } => slice.eq_ignore_ascii_case(short),
        EntityKind::Mention { username } => sigil_then(['@', '＠'], username),
        EntityKind::Hashtag { tag } => sigil_then(['#', '＃'], tag),
        EntityKind::Remove { shown } => shown.as_deref().is_none_or(|s| s == slice),
    }
}

/// Finds `needle` in `haystack` at or after byte `from`, ignoring ASCII case; with `word`,
/// only where no handle or tag character follows (so `@ann` does not match `@anna`).
fn find_token(haystack: &str, needle: &str, from: usize, word: bool) -> Option<Range<usize>> {
    let hay = haystack.as_bytes();
    let pat = needle.as_bytes();
    if pat.is_empty() || from > hay.len() {
        return None;
    }
    (from..=hay.len().checked_sub(pat.len())?)
        .filter(|&i| haystack.is_char_boundary(i))
        .find(|&i| {
            hay[i..i + pat.len()].eq_ignore_ascii_case(pat)
                && !(word
                    && haystack[i + pat.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_'))
        })
        .map(|i| i..i + pat.len())
}

fn push_plain(out: &mut String, piece: &str, escaped: bool) {
    if escaped {
        out.push_str(&unescape_html(piece));
    } else {
        out.push_str(piece);
    }
}

/// Decodes the HTML escapes X writes into post text: `&amp;`, `&lt;`, `&gt;`, and leniently
/// `&quot;`, `&apos;` and numeric references (`&#39;`, `&#x1F600;`). Anything else stays as
/// written, so a literal `&` in the text survives.
pub fn unescape_html(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Bytes, not a `str` window: a window end could split a multi-byte character.
        let decoded = rest.as_bytes()[1..rest.len().min(12)]
            .iter()
            .position(|&b| b == b';')
            .and_then(|semi| decode_reference(&rest[1..=semi]).map(|c| (c, semi + 2)));
        if let Some((c, len)) = decoded {
            out.push(c);
            rest = &rest[len..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character of one reference body (`amp`, `#39`, `#x27`), if it is one we decode.
fn decode_reference(body: &str) -> Option<char> {
    match body {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = body.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// The reply mentions X puts in front of a reply and hides by starting `display_text_range`
/// after them (archive and API alike); removed when that span holds only mentions.
pub fn hidden_reply_mentions(display_text_range: Option<&[Num]>, text: &str) -> Option<Entity> {
    let start = display_text_range?.first()?.index();
    if start == 0 {
        return None;
    }
    let head: String = text.chars().take(start).collect();
    let only_mentions = head
        .split_whitespace()
        .all(|word| word.starts_with('@') && word.len() > 1);
    (only_mentions && head.chars().count() == start).then_some(Entity {
        range: 0..start,
        kind: EntityKind::Remove { shown: None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(range: Range<usize>, short: &str, expanded: &str) -> Entity {
        Entity {
            range,
            kind: EntityKind::Link {
                short: short.into(),
                expanded: expanded.into(),
            },
        }
    }

    #[test]
    fn unescapes_known_references_only() {
        assert_eq!(unescape_html("a &amp; b &lt;c&gt;"), "a & b <c>");
        assert_eq!(unescape_html("&gt; I don’t"), "> I don’t");
        assert_eq!(unescape_html("&quot;x&#39;s&#x21;"), "\"x's!");
        assert_eq!(unescape_html("AT&T &nbsp; & &;"), "AT&T &nbsp; & &;");
        assert!(matches!(unescape_html("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn code_points_after_emoji_and_escapes() {
        // "🎉" is one code point but four bytes; "&amp;" is five code points of escaped text.
        let source = "🎉 &amp; https://t.co/abc end";
        let out = splice(
            source,
            true,
            vec![link(8..24, "https://t.co/abc", "https://example.org/x")],
        );
        assert_eq!(out.text, "🎉 & https://example.org/x end");
        assert_eq!(out.facets[0].range, 7..28);

        // The same handle twice: only code-point indices pick the second one.
        let source = "🎉 &amp; @ann, @ann";
        let mention = Entity {
            range: 14..18,
            kind: EntityKind::Mention {
                username: "ann".into(),
            },
        };
        let out = splice(source, true, vec![mention]);
        assert_eq!(out.text, "🎉 & @ann, @ann");
        assert_eq!(out.facets[0].range, 13..17);
    }

    #[test]
    fn wrong_indices_fall_back_to_the_text() {
        // Indices as UTF-16 units would be one too far after the emoji.
        let source = "🎉 hi @ann and @anna";
        let entity = Entity {
            range: 16..21,
            kind: EntityKind::Mention {
                username: "anna".into(),
            },
        };
        let out = splice(source, false, vec![entity]);
        assert_eq!(&out.text[out.facets[0].range.clone()], "@anna");
    }

    #[test]
    fn strip_leading_shifts_facets() {
        let mut out = splice(
            "RT @bob: see #tag",
            false,
            vec![
                Entity {
                    range: 3..7,
                    kind: EntityKind::Mention {
                        username: "bob".into(),
                    },
                },
                Entity {
                    range: 13..17,
                    kind: EntityKind::Hashtag { tag: "tag".into() },
                },
            ],
        );
        out.strip_leading("RT @bob:".len());
        assert_eq!(out.text, "see #tag");
        assert_eq!(out.facets.len(), 1);
        assert_eq!(&out.text[out.facets[0].range.clone()], "#tag");
    }
}
