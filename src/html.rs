//! The one reader of HTML that reaches birdbridge from outside: a feed item's description,
//! a fediverse status's `content` (reconciliation, and the fediverse source). It turns
//! untrusted markup into plain text with facets, so nothing in it can act on a reader.
//!
//! The markup is parsed by html5ever (through scraper's tree), the HTML standard's parsing
//! algorithm as browsers run it: every named and numeric character reference is decoded,
//! broken or unknown ones are left as a browser leaves them, and malformed markup is
//! repaired the standard way instead of guessed at. Reading the tree:
//!
//! - text is laid out as a browser shows it: runs of HTML whitespace collapse to one space,
//!   block elements (`p`, `div`, `li`, `blockquote`, headings, ...) start new lines, a
//!   paragraph is separated by a blank line as Mastodon shows it, `<br>` breaks a line, and
//!   `<pre>` keeps its whitespace; a text never holds more than one blank line in a row;
//! - links (`http`/`https` only) become facets over their text: a link that shows an
//!   address (Mastodon's shortened display, with its hidden `invisible` spans, included)
//!   shows its `href` in full; a fediverse mention (`<a class="u-url mention">`, or a link
//!   to a `/@name` or `/users/name` profile) becomes `@name@host`, the full handle, so it
//!   can never read as a bare `@name` meaning someone else on another server; other `@name`
//!   links are X handles (the X-to-feed bridges' convention); `#tag` links are hashtags;
//! - `<img>` sources are collected, not shown; scripts, styles, templates, embedded
//!   documents, media players and SVG/MathML are dropped with their content;
//! - optionally, `<blockquote>`s are left out and only their links collected (a feed's
//!   quoted post, which the renderer links instead).
//!
//! Work is bounded: the input is cut at [`MAX_HTML_BYTES`] and [`MAX_TAGS`] (both far
//! beyond any post) before parsing, the tree is walked without recursion, and the text
//! grows linearly with the input.

use std::ops::Range;

use ego_tree::iter::Edge;
use ego_tree::NodeId;
use html5ever::tendril::TendrilSink;
use html5ever::{local_name, ns, ParseOpts, QualName};
use scraper::node::Element;
use scraper::{Html, HtmlTreeSink, Node};

use crate::model::{Facet, FacetKind};

/// The most HTML read from one input, in bytes; the rest is cut (at a character boundary)
/// and [`PlainText::truncated`] says so. Beyond any status a server sends (a 5,000-character
/// status with its links is some 10 kB of HTML) and any post a target takes as one thread.
pub const MAX_HTML_BYTES: usize = 32 * 1024;

/// The most tags (start and end) read from one input; the input is cut before the next.
/// The standard's tree building costs up to the depth of the open elements per tag, so
/// hostile markup (thousands of unclosed `<div>`s, misnested formatting) costs the square
/// of its tags; this bound keeps the worst case under 30 ms (`cargo bench --bench html`).
/// A status has tens of tags; 1,024 is a long article.
pub const MAX_TAGS: usize = 1024;

/// How to read a piece of HTML.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Leave `<blockquote>` content out of the text and list its links in
    /// [`PlainText::quoted_links`] (a feed item's quoted post).
    pub omit_blockquotes: bool,
    /// The URL a link shows and points at, given its `href`; `None` keeps the `href`.
    /// The feed source points a Nitter status link at its `x.com` original.
    pub canonical_link: Option<fn(&str) -> Option<String>>,
}

/// HTML read as plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainText {
    /// The text, trimmed, paragraphs as blank lines.
    pub text: String,
    /// Links, mentions and hashtags as byte ranges into `text`, in text order, never
    /// overlapping, on character boundaries.
    pub facets: Vec<Facet>,
    /// The `src` of every `<img>`, in document order (unchecked: the caller decides which
    /// addresses it fetches).
    pub images: Vec<String>,
    /// The `http`/`https` links inside left-out blockquotes, in document order (empty
    /// unless [`Options::omit_blockquotes`]).
    pub quoted_links: Vec<String>,
    /// The input went past [`MAX_HTML_BYTES`] or [`MAX_TAGS`] and only its start was read.
    pub truncated: bool,
}

/// Reads `html` (a fragment, as a status or an item description holds) as plain text with
/// facets; blockquotes are kept as paragraphs and links point at their `href`.
pub fn to_text(html: &str) -> PlainText {
    to_text_with(html, &Options::default())
}

/// Reads `html` as plain text with facets, as `options` say.
pub fn to_text_with(html: &str, options: &Options) -> PlainText {
    let (html, truncated) = bounded(html);
    let dom = Html::parse_fragment(html);
    let mut reader = Reader::new(*options);
    for edge in dom.tree.root().traverse() {
        match edge {
            Edge::Open(node) => reader.open(node.id(), node.value()),
            Edge::Close(node) => reader.close(node.id(), node.value()),
        }
    }
    let mut read = reader.finish();
    read.truncated = truncated;
    read
}

/// Decodes the character references in `text` and nothing else, as a browser reads a
/// `<title>`: `&rsquo;` becomes `’`, a `<b>` stays text. For fields that hold escaped
/// text rather than markup (an RSS item's title). Cut at [`MAX_HTML_BYTES`] like HTML.
pub fn decode_entities(text: &str) -> String {
    let text = &text[..byte_bound(text)];
    if !text.contains(['&', '\r', '\0', '\u{feff}']) {
        return text.to_owned();
    }
    // The standard's fragment parsing with a `<title>` context reads the input as RCDATA:
    // character references decoded, no tags; nothing can end it, since the tokenizer has
    // seen no start tag an end tag could match.
    let dom = html5ever::driver::parse_fragment(
        HtmlTreeSink::new(Html::new_fragment()),
        ParseOpts::default(),
        QualName::new(None, ns!(html), local_name!("title")),
        Vec::new(),
        false,
    )
    .one(text);
    dom.tree
        .root()
        .descendants()
        .filter_map(|n| n.value().as_text())
        .map(|t| &**t)
        .collect()
}

/// `html` cut to [`MAX_HTML_BYTES`] and before its tag past [`MAX_TAGS`], and whether it
/// was cut. Tags are counted as the tokenizer starts them (`<` or `</` then a letter),
/// inside comments and scripts too: counting too many only cuts earlier.
fn bounded(html: &str) -> (&str, bool) {
    let mut end = byte_bound(html);
    let bytes = &html.as_bytes()[..end];
    let mut tags = 0;
    for at in (0..bytes.len()).filter(|&i| bytes[i] == b'<') {
        let name = if bytes.get(at + 1) == Some(&b'/') {
            at + 2
        } else {
            at + 1
        };
        if bytes.get(name).is_some_and(u8::is_ascii_alphabetic) {
            tags += 1;
            if tags > MAX_TAGS {
                end = at;
                break;
            }
        }
    }
    (&html[..end], end < html.len())
}

/// The length of `text` cut to [`MAX_HTML_BYTES`] at a character boundary.
fn byte_bound(text: &str) -> usize {
    let mut end = text.len().min(MAX_HTML_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// How an element takes part in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Not shown, and neither is its content.
    Skip,
    /// Shown inline (`span`, `b`, `code`...): only its text counts.
    Inline,
    /// Starts and ends a line.
    Line,
    /// Starts and ends a paragraph (a blank line around it).
    Paragraph,
}

fn role(name: &str) -> Role {
    match name {
        "script" | "style" | "template" | "noscript" | "head" | "title" | "iframe" | "object"
        | "embed" | "video" | "audio" | "canvas" | "svg" | "math" | "select" | "textarea"
        | "datalist" | "frameset" | "frame" => Role::Skip,
        "p" | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol"
        | "dl" | "hr" | "table" | "figure" | "address" | "details" | "fieldset" | "form"
        | "menu" => Role::Paragraph,
        "div" | "li" | "dt" | "dd" | "tr" | "section" | "article" | "header" | "footer" | "nav"
        | "aside" | "main" | "figcaption" | "summary" | "caption" | "legend" | "center"
        | "hgroup" | "search" => Role::Line,
        _ => Role::Inline,
    }
}

/// The whitespace HTML collapses (not U+00A0, which a browser keeps).
fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}')
}

/// An `<a>` being read.
#[derive(Debug)]
struct OpenLink {
    node: NodeId,
    /// Where its text starts in the output (before any whitespace owed).
    start: usize,
    /// Its `href`, when it is an `http`/`https` URL with a host.
    href: Option<Href>,
    /// Marked as a mention (`class="mention"`, not a hashtag).
    mention_class: bool,
    /// Marked as a hashtag (`class="hashtag"` or `rel="tag"`).
    tag_class: bool,
}

#[derive(Debug)]
struct Href {
    /// The attribute as written (decoded, trimmed).
    raw: String,
    host: String,
    path: String,
}

fn href_of(element: &Element) -> Option<Href> {
    let raw = element.attr("href")?.trim();
    let parsed = url::Url::parse(raw).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    Some(Href {
        raw: raw.to_owned(),
        host: parsed.host_str()?.to_owned(),
        path: parsed.path().to_owned(),
    })
}

/// Whether an attribute holding a space-separated list (`class`, `rel`) names `word`.
fn names(element: &Element, attr: &str, word: &str) -> bool {
    element.attr(attr).is_some_and(|v| {
        v.split_ascii_whitespace()
            .any(|w| w.eq_ignore_ascii_case(word))
    })
}

/// Walks the tree once, writing the text.
#[derive(Debug)]
struct Reader {
    options: Options,
    out: String,
    facets: Vec<Facet>,
    images: Vec<String>,
    quoted_links: Vec<String>,
    /// Whitespace seen since the last character written; becomes one space.
    space: bool,
    /// Line breaks owed before the next character: 1 ends a line, 2 a paragraph.
    breaks: u8,
    /// The element whose content is being dropped.
    skipping: Option<NodeId>,
    /// Open `<pre>` elements (whitespace kept inside).
    pre_depth: usize,
    /// Open left-out blockquotes.
    quote_depth: usize,
    /// The outermost open link (links cannot nest; any inner one is read as text).
    link: Option<OpenLink>,
}

impl Reader {
    fn new(options: Options) -> Self {
        Self {
            options,
            out: String::new(),
            facets: Vec::new(),
            images: Vec::new(),
            quoted_links: Vec::new(),
            space: false,
            breaks: 0,
            skipping: None,
            pre_depth: 0,
            quote_depth: 0,
            link: None,
        }
    }

    fn open(&mut self, id: NodeId, node: &Node) {
        if self.skipping.is_some() {
            return;
        }
        match node {
            Node::Text(text) => self.text(&text.text),
            Node::Element(element) => self.open_element(id, element),
            _ => {}
        }
    }

    fn close(&mut self, id: NodeId, node: &Node) {
        if let Some(skipped) = self.skipping {
            if skipped == id {
                self.skipping = None;
            }
            return;
        }
        let Node::Element(element) = node else {
            return;
        };
        let name = element.name();
        match role(name) {
            Role::Paragraph => self.block(2),
            Role::Line => self.block(1),
            Role::Inline | Role::Skip => {}
        }
        match name {
            "pre" => self.pre_depth = self.pre_depth.saturating_sub(1),
            "blockquote" if self.options.omit_blockquotes => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            "a" if self.link.as_ref().is_some_and(|l| l.node == id) => {
                if let Some(link) = self.link.take() {
                    self.close_link(link);
                }
            }
            _ => {}
        }
    }

    fn open_element(&mut self, id: NodeId, element: &Element) {
        let name = element.name();
        match role(name) {
            Role::Skip => {
                self.skipping = Some(id);
                return;
            }
            Role::Paragraph => self.block(2),
            Role::Line => self.block(1),
            Role::Inline => {}
        }
        match name {
            "br" => self.line_break(),
            "img"
                if names(element, "class", "custom-emoji")
                    || names(element, "class", "emojione") =>
            {
                // A custom emoji (Mastodon's feeds): its `:shortcode:`, as the API gives it.
                if let Some(alt) = element.attr("alt") {
                    self.text(alt);
                }
            }
            "img" => {
                if let Some(src) = element.attr("src").map(str::trim) {
                    if !src.is_empty() {
                        self.images.push(src.to_owned());
                    }
                }
            }
            "pre" => self.pre_depth += 1,
            "blockquote" if self.options.omit_blockquotes => self.quote_depth += 1,
            "a" if self.quote_depth > 0 => {
                if let Some(href) = href_of(element) {
                    self.quoted_links.push(href.raw);
                }
            }
            "a" if self.link.is_none() => {
                self.link = Some(OpenLink {
                    node: id,
                    start: self.out.len(),
                    href: href_of(element),
                    mention_class: names(element, "class", "mention")
                        && !names(element, "class", "hashtag"),
                    tag_class: names(element, "class", "hashtag") || names(element, "rel", "tag"),
                });
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.quote_depth > 0 {
            return;
        }
        for c in text.chars() {
            if self.pre_depth > 0 {
                match c {
                    '\n' => self.line_break_kept(),
                    c if is_html_space(c) => self.put_kept(' '),
                    c => self.put(c),
                }
            } else if is_html_space(c) {
                self.space = true;
            } else {
                self.put(c);
            }
        }
    }

    /// Writes `c` after the breaks or the space owed (neither at the very start).
    fn put(&mut self, c: char) {
        if !self.out.is_empty() {
            if self.breaks > 0 {
                self.trim_end();
                for _ in 0..self.breaks {
                    self.out.push('\n');
                }
            } else if self.space && !self.out.ends_with('\n') {
                self.out.push(' ');
            }
        }
        self.breaks = 0;
        self.space = false;
        self.out.push(c);
    }

    /// Writes whitespace that `<pre>` keeps.
    fn put_kept(&mut self, c: char) {
        if self.breaks > 0 || self.out.is_empty() {
            // Whitespace starting a line in `<pre>` is kept once text follows it; leading
            // whitespace of the whole text is trimmed at the end anyway.
            self.put(c);
        } else {
            self.space = false;
            self.out.push(c);
        }
    }

    /// A line break that `<pre>` keeps: empty lines included, up to one blank line.
    fn line_break_kept(&mut self) {
        if self.out.ends_with("\n\n") {
            return;
        }
        if self.breaks > 0 {
            self.breaks = (self.breaks + 1).min(2);
        } else {
            self.trim_end_spaces();
            self.out.push('\n');
        }
    }

    /// A block boundary: `n` line breaks owed (at least), whitespace around it dropped.
    fn block(&mut self, n: u8) {
        self.breaks = self.breaks.max(n);
        self.space = false;
    }

    /// `<br>`: one more line break, up to a blank line.
    fn line_break(&mut self) {
        self.breaks = (self.breaks + 1).min(2);
        self.space = false;
    }

    fn trim_end(&mut self) {
        self.truncate(self.out.trim_end_matches(is_html_space).len());
    }

    fn trim_end_spaces(&mut self) {
        self.truncate(self.out.trim_end_matches([' ', '\t']).len());
    }

    /// Cuts the text to `len` bytes; an open link never starts past the end.
    fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
        if let Some(link) = &mut self.link {
            link.start = link.start.min(len);
        }
    }

    /// Turns a closed link's text into a facet.
    fn close_link(&mut self, link: OpenLink) {
        let Some(href) = link.href else {
            return;
        };
        let mut start = link.start.min(self.out.len());
        start += self.out[start..].len() - self.out[start..].trim_start().len();
        let end = start + self.out[start..].trim_end().len();
        if start >= end {
            // An anchor around an image only: the image is collected on its own.
            return;
        }
        let free_from = self.facets.last().map_or(0, |f| f.range.end);
        if link.mention_class
            && !self.out[start..].starts_with('@')
            && self
                .out
                .get(free_from..start)
                .is_some_and(|s| s.ends_with('@'))
        {
            // Friendica writes the `@` before the anchor.
            start -= 1;
        }
        let shown = &self.out[start..end];
        let fediverse =
            link.mention_class || href.path.starts_with("/@") || href.path.starts_with("/users/");
        if let Some(handle) = shown
            .strip_prefix('@')
            .and_then(|name| handle(name, &href.host, fediverse))
        {
            let written = format!("@{handle}");
            self.replace(
                start..end,
                &written,
                FacetKind::Mention { username: handle },
            );
            return;
        }
        if let Some(tag) = shown.strip_prefix('#').filter(|t| {
            is_word(t) || (link.tag_class && !t.is_empty() && !t.contains(char::is_whitespace))
        }) {
            let kind = FacetKind::Hashtag {
                tag: tag.to_owned(),
            };
            self.facets.push(Facet {
                range: start..end,
                kind,
            });
            return;
        }
        let shows_address = shown.contains('.') && !shown.contains(char::is_whitespace);
        let url = self
            .options
            .canonical_link
            .and_then(|canonical| canonical(&href.raw))
            .unwrap_or(href.raw);
        // A link showing an address (bare, shortened, or with hidden parts) shows it in
        // full; the renderer counts URLs the way the target does, so length is no reason
        // to shorten it. A link over words keeps the words.
        if shows_address {
            let written = url.clone();
            self.replace(start..end, &written, FacetKind::Link { url });
        } else {
            self.facets.push(Facet {
                range: start..end,
                kind: FacetKind::Link { url },
            });
        }
    }

    /// Writes `written` in place of `range`, with a facet of `kind` over it.
    fn replace(&mut self, range: Range<usize>, written: &str, kind: FacetKind) {
        let start = range.start;
        self.out.replace_range(range, written);
        self.facets.push(Facet {
            range: start..start + written.len(),
            kind,
        });
    }

    fn finish(mut self) -> PlainText {
        // Any whitespace at the ends goes, no-break spaces too: nothing shows there.
        self.truncate(self.out.trim_end().len());
        let end = self.out.len();
        let lead = end - self.out.trim_start().len();
        self.out.drain(..lead);
        let facets = self
            .facets
            .into_iter()
            .filter(|f| f.range.start >= lead && f.range.end <= end)
            .map(|f| Facet {
                range: shift(&f.range, lead),
                kind: f.kind,
            })
            .collect();
        PlainText {
            text: self.out,
            facets,
            images: self.images,
            quoted_links: self.quoted_links,
            truncated: false,
        }
    }
}

fn shift(range: &Range<usize>, by: usize) -> Range<usize> {
    range.start - by..range.end - by
}

/// The handle a link showing `@name` stands for: `name@domain` as shown, `name@host` for a
/// fediverse profile, `name` (an X handle) otherwise; `None` when `name` is not a handle.
fn handle(name: &str, host: &str, fediverse: bool) -> Option<String> {
    match name.split_once('@') {
        Some((user, domain)) => {
            (is_user(user) && is_domain(domain)).then(|| format!("{user}@{domain}"))
        }
        None if fediverse => is_user(name).then(|| format!("{name}@{host}")),
        None => is_word(name).then(|| name.to_owned()),
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// A fediverse user name: letters, digits, `_`, and the `.` and `-` some servers allow.
fn is_user(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_domain(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

#[cfg(test)]
mod tests;
