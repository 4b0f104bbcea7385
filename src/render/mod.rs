//! The renderer: a [`Post`] becomes the parts one target will receive, with fediverse
//! manners, under the route's policy. Pure: no IO, no `Result`. Anything that could not be
//! rendered as the source had it becomes a [`RenderWarning`] next to the parts
//! (ARCHITECTURE.md "Boundaries": a core that computes `(T, Vec<Error>)`).
//!
//! - `count.rs`: length by the target's rule; `split.rs`: thread parts at paragraph,
//!   sentence, then word boundaries;
//! - `body.rs`: the text with facets rendered, using `links.rs` (tracking parameters,
//!   own-post links) and `mentions.rs` (the mention form that never notifies a stranger);
//! - `cw.rs`: the content warning;
//! - here: reposts as links, quotes, media and alt text, numbering, the backfill dressing,
//!   visibility of continuation parts, replies onto mirrored statuses.
//!
//! A part's text is `body [" i/n"] ["\n\n" dressing]`: the body is a slice of the rendered
//! post text cut at whitespace, the numbering (when the route numbers and there are
//! several parts) follows it, and the dressing (date line, link to the original; backfill
//! only) closes the first part. All three count against the limit, and so does the
//! content warning, which every part repeats.

mod body;
pub mod count;
mod cw;

pub use cw::WarnedBy;
mod links;
mod mentions;
mod split;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::config::{AltTextPolicy, Visibility};
use crate::model::{
    FacetKind, Media, MediaKind, MediaSource, MirroredPost, Post, PostId, PostKind,
};
use crate::policy::RoutePolicy;
use crate::profile::TargetProfile;

/// One status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The status text.
    pub text: String,
    /// The content warning, if any.
    pub spoiler_text: Option<String>,
    /// Marked sensitive: media hidden behind a click (always so under a content warning).
    pub sensitive: bool,
    /// Attachments.
    pub media: Vec<PartMedia>,
    /// Who sees it.
    pub visibility: Visibility,
    /// ISO 639 language, when known.
    pub language: Option<String>,
    /// What this status replies to.
    pub reply_to: ReplyTo,
    /// A status on this target to quote natively (only when the target supports quote
    /// posts and the quoted post is mirrored there); otherwise quotes are links in the text.
    pub quote_of: Option<String>,
    /// Instead of posting, boost this status on the target (`reposts = "boost"`); the other
    /// fields are then empty.
    pub boost_of: Option<String>,
}

/// One attachment of a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartMedia {
    /// Photo, video or GIF.
    pub kind: MediaKind,
    /// Where to read the bytes.
    pub source: MediaSource,
    /// The description (alt text), already within the target's limit.
    pub description: Option<String>,
}

/// What a part replies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// Starts a new conversation.
    Nothing,
    /// The previous part of the same rendered post (its id is known only after posting).
    PreviousPart,
    /// An already mirrored status on this target.
    Status(String),
}

/// A problem the renderer worked around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderWarning {
    /// The part it concerns.
    pub part: usize,
    /// What happened, for a person.
    pub message: String,
}

/// The renderer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// At least one part.
    pub parts: Vec<Part>,
    /// Problems worked around.
    pub warnings: Vec<RenderWarning>,
}

/// What the renderer needs to know about already mirrored posts, looked up by the caller
/// beforehand (for the ids [`wanted_lookups`] lists) so that rendering stays pure.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    mirrored: HashMap<PostId, MirroredPost>,
}

impl Lookups {
    /// Records that `id` was mirrored on this target as `post`.
    pub fn insert(&mut self, id: PostId, post: MirroredPost) {
        self.mirrored.insert(id, post);
    }

    fn get(&self, id: Option<&PostId>) -> Option<&MirroredPost> {
        id.and_then(|id| self.mirrored.get(id))
    }
}

/// The posts whose mirrored statuses [`render`] may use for `post`: the post it replies
/// to, the post it quotes, and the author's own posts it links to.
pub fn wanted_lookups(post: &Post) -> Vec<PostId> {
    let refs = &post.references;
    let mut ids: Vec<PostId> = [&refs.reply_to, &refs.quote_of]
        .into_iter()
        .flatten()
        .filter_map(|r| r.id.clone())
        .collect();
    for facet in &post.facets {
        if let FacetKind::Link { url } = &facet.kind {
            if let Some(id) = links::own_status(url, &post.author.username) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// A person's edits to one copy of a held post (the desk, `birdbridge hold ...`), applied
/// by [`render_edited`] over what the renderer would make: each `None` leaves the rendered
/// value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyEdits {
    /// Descriptions by the index of the media item in [`Post::media`].
    pub descriptions: BTreeMap<usize, String>,
    /// The content warning: `Some(None)` clears it.
    pub warning: Option<Option<String>>,
    /// Whether the media are marked sensitive (a status under a warning always is).
    pub sensitive: Option<bool>,
    /// The text before the renderer splits it, numbers the parts and adds the backfill
    /// dressing (the [`EditBase::text`] a person starts from).
    pub text: Option<String>,
    /// Who sees the first part (later parts are never wider than
    /// `continuation_visibility`).
    pub visibility: Option<Visibility>,
}

/// What a person edits a copy from: the text before it is split, and the warning with what
/// set each of its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditBase {
    /// The whole text, as [`render`] splits it into parts.
    pub text: String,
    /// The warning as rendered for the target.
    pub warning: Option<String>,
    /// Each label and the setting that put it there.
    pub warned_by: Vec<(String, WarnedBy)>,
}

/// Renders `post` for one target.
pub fn render(
    post: &Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    lookups: &Lookups,
) -> Rendered {
    render_edited(post, profile, policy, lookups, &CopyEdits::default())
}

/// The text and warning [`render`] starts from for `post` on this target.
pub fn edit_base(
    post: &Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    lookups: &Lookups,
) -> EditBase {
    let mut warnings = Vec::new();
    let prepared = prepare(post, profile, policy, lookups, &mut warnings);
    EditBase {
        text: prepared.text,
        warning: prepared.spoiler_text,
        warned_by: warning_sources(post, policy),
    }
}

/// Each label of the warning `post` gets on this route, with the setting that put it
/// there, before duplicates are removed.
pub fn warning_sources(post: &Post, policy: &RoutePolicy) -> Vec<(String, WarnedBy)> {
    // Mentions do not reach the first line's warning label.
    let body = body::body(post, policy, &Lookups::default(), true);
    cw::sources(post, policy, body.first_line_warning.as_deref())
        .into_iter()
        .map(|(label, by)| (label.to_owned(), by))
        .collect()
}

/// The text before splitting and what goes with it.
struct Prepared<'p> {
    text: String,
    spoiler_text: Option<String>,
    quote_of: Option<String>,
    /// Attached media with their index in [`Post::media`].
    media: Vec<(usize, &'p Media)>,
}

fn prepare<'p>(
    post: &'p Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    lookups: &Lookups,
    warnings: &mut Vec<RenderWarning>,
) -> Prepared<'p> {
    let body = body::body(post, policy, lookups, profile.at_handles);
    let spoiler_text = cw::warning(
        post,
        policy,
        body.first_line_warning.as_deref(),
        profile.max_spoiler_characters,
    );
    let mut text = body.text;
    if post.kind() == PostKind::Repost {
        text = repost_text(post, profile, policy, &text, warnings);
    }
    let quote_of = quote(post, profile, policy, lookups, &mut text);
    let mut media = Vec::new();
    let mut unavailable = Vec::new();
    for (i, m) in post.media.iter().enumerate() {
        if m.source == MediaSource::Unavailable {
            unavailable.push(m);
        } else {
            media.push((i, m));
        }
    }
    let text = append_media_links(text, &unavailable, profile.own_links, warnings);
    Prepared {
        text,
        spoiler_text,
        quote_of,
        media,
    }
}

/// Renders `post` for one target with a person's edits over it: the same splitting,
/// counting and limits as [`render`], so a released copy obeys the target as any other.
pub fn render_edited(
    post: &Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    lookups: &Lookups,
    edits: &CopyEdits,
) -> Rendered {
    let s = &policy.settings;
    let mut warnings = Vec::new();
    let prepared = prepare(post, profile, policy, lookups, &mut warnings);
    let spoiler_text = match &edits.warning {
        Some(edited) => edited.clone().filter(|w| !w.trim().is_empty()),
        None => prepared.spoiler_text,
    };
    let text = edits.text.clone().unwrap_or(prepared.text);
    let quote_of = prepared.quote_of;
    let media = prepared.media;
    let groups = media_groups(&media, profile);

    let layout = Layout {
        profile,
        spoiler_text: spoiler_text.as_deref(),
        numbering: s.numbering,
        dressing: dressing(post, policy, profile.own_links),
    };
    let texts = layout.split(&text, groups.len(), &mut warnings);

    let reply_to_first = first_reply_target(post, lookups, &mut warnings);
    let mut first_visibility = s.visibility;
    if post.kind() == PostKind::ReplyToOther {
        first_visibility = narrowest(first_visibility, Visibility::Unlisted);
    }
    if post.kind() != PostKind::ReplyToOther && matches!(reply_to_first, ReplyTo::Status(_)) {
        // A later post of the author's own thread: one timeline entry per thread.
        first_visibility = narrowest(first_visibility, s.continuation_visibility);
    }
    // A person's choice is taken as it is.
    let first_visibility = edits.visibility.unwrap_or(first_visibility);
    let later_visibility = narrowest(first_visibility, s.continuation_visibility);
    let mut parts: Vec<Part> = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| Part {
            text,
            spoiler_text: spoiler_text.clone(),
            // A status behind a content warning is marked sensitive: Mastodon does so by
            // itself, but Pixelfed keeps the warning only on a status marked sensitive.
            sensitive: spoiler_text.is_some(),
            media: Vec::new(),
            visibility: if i == 0 {
                first_visibility
            } else {
                later_visibility
            },
            language: post.language.clone(),
            reply_to: if i == 0 {
                reply_to_first.clone()
            } else {
                ReplyTo::PreviousPart
            },
            quote_of: if i == 0 { quote_of.clone() } else { None },
            boost_of: None,
        })
        .collect();

    let sensitive_media = edits.sensitive.unwrap_or(post.sensitive);
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            let alone = |g: &[(usize, &Media)]| {
                profile.video_alone
                    && g.iter()
                        .any(|(_, m)| matches!(m.kind, MediaKind::Video | MediaKind::Gif))
            };
            let message = if alone(group) || alone(&groups[i - 1]) {
                format!(
                    "a video or GIF needs a status of its own here (or up to {} images): moved to part {}",
                    profile.max_media_attachments,
                    i + 1
                )
            } else {
                format!(
                    "{} attachments, {} allowed per status: moved to part {}",
                    media.len(),
                    profile.max_media_attachments,
                    i + 1
                )
            };
            warnings.push(RenderWarning { part: i, message });
        }
        let part = &mut parts[i];
        part.sensitive |= sensitive_media;
        for (index, m) in group {
            let given = edits.descriptions.get(index).map(String::as_str);
            part.media
                .push(render_media(m, given, profile, policy, i, &mut warnings));
        }
    }
    warnings.sort_by_key(|w| w.part);
    Rendered { parts, warnings }
}

/// The post's media in groups, one group per part, in order: at most
/// `max_media_attachments` each, and a video or GIF alone where the profile says so
/// ([`TargetProfile::video_alone`]).
/// Each item keeps its index in [`Post::media`].
fn media_groups<'m>(
    media: &[(usize, &'m Media)],
    profile: &TargetProfile,
) -> Vec<Vec<(usize, &'m Media)>> {
    let per_part = profile.max_media_attachments.max(1);
    let mut groups: Vec<Vec<(usize, &Media)>> = Vec::new();
    let mut open = false;
    for &(i, m) in media {
        let alone = profile.video_alone && matches!(m.kind, MediaKind::Video | MediaKind::Gif);
        match groups.last_mut() {
            Some(group) if open && !alone && group.len() < per_part => group.push((i, m)),
            _ => groups.push(vec![(i, m)]),
        }
        open = !alone;
    }
    groups
}

/// A repost under `reposts = "boost"` whose original is mirrored on the target as
/// `original`: one part that boosts the original's first status.
pub fn boost(post: &Post, policy: &RoutePolicy, original: &MirroredPost) -> Rendered {
    Rendered {
        parts: vec![Part {
            text: String::new(),
            spoiler_text: None,
            sensitive: false,
            media: Vec::new(),
            visibility: policy.settings.visibility,
            language: post.language.clone(),
            reply_to: ReplyTo::Nothing,
            quote_of: None,
            boost_of: Some(original.first_id.clone()),
        }],
        warnings: Vec::new(),
    }
}

/// Why a link birdbridge would add is left out.
const NO_OWN_LINKS: &str = "the target takes no links of birdbridge's own (links = \"drop\")";

/// The narrower of two visibilities (public < unlisted < private < direct).
fn narrowest(a: Visibility, b: Visibility) -> Visibility {
    let rank = |v: Visibility| Visibility::ALL.iter().position(|x| *x == v);
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// `reposts = "link"`: "Reposted from <who>:", the reposted text, and the original's link.
fn repost_text(
    post: &Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    text: &str,
    warnings: &mut Vec<RenderWarning>,
) -> String {
    let original = post.references.repost_of.as_ref();
    let who = original.and_then(|r| r.username.as_deref()).map_or_else(
        || "an account on X".to_owned(),
        |u| mentions::mention(u, &policy.settings.mention_map, profile.at_handles),
    );
    let mut out = format!("Reposted from {who}:");
    push_paragraph(&mut out, text);
    match original.and_then(|r| r.url.as_deref()) {
        Some(_) if !profile.own_links => warnings.push(RenderWarning {
            part: 0,
            message: NO_OWN_LINKS.to_owned(),
        }),
        Some(url) => push_paragraph(
            &mut out,
            &links::strip_tracking(url, &policy.settings.tracking_parameters),
        ),
        None => warnings.push(RenderWarning {
            part: 0,
            message: "repost: the source does not give the original's link (archives do not)"
                .to_owned(),
        }),
    }
    out
}

/// A quote: natively when the target supports quote posts and the quoted post is mirrored
/// there (returns the status to quote); else a link to the mirrored status when there is
/// one, or to the original, as the last paragraph of `text`.
fn quote(
    post: &Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    lookups: &Lookups,
    text: &mut String,
) -> Option<String> {
    let quoted = post.references.quote_of.as_ref()?;
    let mirrored = lookups.get(quoted.id.as_ref());
    if profile.supports_quote_posts {
        if let Some(m) = mirrored {
            return Some(m.first_id.clone());
        }
    }
    let url = mirrored.and_then(|m| m.first_url.clone()).or_else(|| {
        quoted
            .url
            .as_deref()
            .map(|u| links::strip_tracking(u, &policy.settings.tracking_parameters))
    });
    if let Some(url) = url.filter(|_| profile.own_links) {
        push_paragraph(text, &url);
    }
    None
}

/// The backfill dressing: the date line and the link to the original (where the target
/// takes links of birdbridge's own), one per line.
fn dressing(post: &Post, policy: &RoutePolicy, own_links: bool) -> Option<String> {
    if !policy.backfill {
        return None;
    }
    let s = &policy.settings;
    let mut lines = Vec::new();
    if let Some(template) = &s.backfill_date_line {
        let date = post.created_at.format("%Y-%m-%d").to_string();
        lines.push(template.replace("{date}", &date));
    }
    if s.backfill_link && own_links {
        lines.push(post.url.clone());
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn push_paragraph(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(line);
}

fn append_media_links(
    mut text: String,
    unavailable: &[&Media],
    own_links: bool,
    warnings: &mut Vec<RenderWarning>,
) -> String {
    for m in unavailable {
        match &m.original_url {
            Some(_) if !own_links => warnings.push(RenderWarning {
                part: 0,
                message: format!(
                    "{} file not in the archive; not linked ({NO_OWN_LINKS})",
                    m.kind.as_str()
                ),
            }),
            Some(url) => {
                push_paragraph(&mut text, &media_link(m.kind, url, m.alt_text.as_deref()));
                warnings.push(RenderWarning {
                    part: 0,
                    message: format!(
                        "{} file not in the archive: linked to the original instead",
                        m.kind.as_str()
                    ),
                });
            }
            None => warnings.push(RenderWarning {
                part: 0,
                message: format!(
                    "{} file not in the archive and no original URL: left out",
                    m.kind.as_str()
                ),
            }),
        }
    }
    text
}

/// A media item linked in the text instead of attached: the link to the original, and its
/// description (when the author gave one) on the next line, so that a reader of the text
/// still has it.
pub fn media_link(kind: MediaKind, url: &str, description: Option<&str>) -> String {
    match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => format!("{url}\n{} description: {d}", kind_names(kind).1),
        None => url.to_owned(),
    }
}

/// What every part carries besides its body, and how the parts are measured.
struct Layout<'a> {
    profile: &'a TargetProfile,
    spoiler_text: Option<&'a str>,
    numbering: bool,
    dressing: Option<String>,
}

impl Layout<'_> {
    /// The part texts for `text`: at least `min_parts` (one per group of attachments),
    /// each within the limit with its numbering, dressing and content warning. The
    /// numbering's width depends on the number of parts, so the split reserves room for a
    /// guess and splits again in the rare case the number of digits grows.
    fn split(
        &self,
        text: &str,
        min_parts: usize,
        warnings: &mut Vec<RenderWarning>,
    ) -> Vec<String> {
        let text = text.trim();
        let limit = self.profile.max_characters;
        let single = self.compose(text, 0, 1);
        if min_parts <= 1 && self.length(&single) <= limit {
            return vec![single];
        }
        let measure = |t: &str| count::length(self.profile, None, t);
        let fixed = count::length(self.profile, self.spoiler_text, "");
        let dressing = self
            .dressing
            .as_ref()
            .map_or(0, |d| measure(&format!("\n\n{d}")));
        let mut guess = 9;
        let pieces = loop {
            let reserve = if self.numbering {
                measure(&format!(" {guess}/{guess}"))
            } else {
                0
            };
            let budget = |i: usize| {
                let first = if i == 0 { dressing } else { 0 };
                limit.saturating_sub(fixed + reserve + first)
            };
            let pieces = split::split(text, budget, measure);
            if !self.numbering || pieces.len().max(min_parts) <= guess {
                break pieces;
            }
            guess = guess * 10 + 9;
        };
        let total = pieces.len().max(min_parts).max(1);
        if pieces.len() > 1 {
            warnings.push(RenderWarning {
                part: 0,
                message: format!(
                    "text longer than {limit} characters: split into {} parts",
                    pieces.len()
                ),
            });
        }
        let mut texts = Vec::with_capacity(total);
        for i in 0..total {
            let piece = pieces.get(i);
            if piece.is_some_and(|p| p.forced) {
                warnings.push(RenderWarning {
                    part: i,
                    message: "a word longer than a whole status was cut".to_owned(),
                });
            }
            texts.push(self.compose(piece.map_or("", |p| p.text.as_str()), i, total));
        }
        texts
    }

    /// Part `i` of `total`: `body [" i/n"] ["\n\n" dressing]`.
    fn compose(&self, body: &str, i: usize, total: usize) -> String {
        let mut text = body.to_owned();
        if self.numbering && total > 1 {
            if !text.is_empty() {
                text.push(' ');
            }
            let _ = write!(text, "{}/{total}", i + 1);
        }
        if i == 0 {
            if let Some(dressing) = &self.dressing {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(dressing);
            }
        }
        text
    }

    fn length(&self, text: &str) -> usize {
        count::length(self.profile, self.spoiler_text, text)
    }
}

fn first_reply_target(
    post: &Post,
    lookups: &Lookups,
    warnings: &mut Vec<RenderWarning>,
) -> ReplyTo {
    let Some(parent) = &post.references.reply_to else {
        return ReplyTo::Nothing;
    };
    if let Some(mirrored) = lookups.get(parent.id.as_ref()) {
        return ReplyTo::Status(mirrored.last_id.clone());
    }
    warnings.push(RenderWarning {
        part: 0,
        message: "replies to a post that is not mirrored here: posted as a new conversation"
            .to_owned(),
    });
    ReplyTo::Nothing
}

/// One attachment; `edited` is a person's description, which wins over the source's.
fn render_media(
    m: &Media,
    edited: Option<&str>,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    part: usize,
    warnings: &mut Vec<RenderWarning>,
) -> PartMedia {
    let kind = m.kind.as_str();
    let given = edited
        .or(m.alt_text.as_deref())
        .filter(|a| !a.trim().is_empty());
    let description = match (given, policy.settings.alt_text) {
        (Some(alt), _) => Some(cut_description(
            alt,
            profile.description_limit,
            part,
            warnings,
        )),
        (None, AltTextPolicy::Fallback) => {
            warnings.push(RenderWarning {
                part,
                message: format!("{kind} has no alt text: described with the route's fallback"),
            });
            let fallback = fallback_description(&policy.settings.alt_text_fallback, m.kind);
            Some(cut_description(
                &fallback,
                profile.description_limit,
                part,
                warnings,
            ))
        }
        (None, AltTextPolicy::Omit | AltTextPolicy::Hold) => {
            warnings.push(RenderWarning {
                part,
                message: format!("{kind} has no alt text: posted without a description"),
            });
            None
        }
    };
    PartMedia {
        kind: m.kind,
        source: m.source.clone(),
        description,
    }
}

/// The route's fallback description with `{kind}` and `{Kind}` filled in.
fn fallback_description(template: &str, kind: MediaKind) -> String {
    let (lower, upper) = kind_names(kind);
    template.replace("{kind}", lower).replace("{Kind}", upper)
}

/// A media kind as a reader calls it, in lower case and capitalised.
fn kind_names(kind: MediaKind) -> (&'static str, &'static str) {
    match kind {
        MediaKind::Photo => ("image", "Image"),
        MediaKind::Video => ("video", "Video"),
        MediaKind::Gif => ("animated GIF", "Animated GIF"),
    }
}

/// Cuts alt text to the limit at a word boundary, with an ellipsis.
fn cut_description(
    alt: &str,
    limit: usize,
    part: usize,
    warnings: &mut Vec<RenderWarning>,
) -> String {
    if alt.chars().count() <= limit {
        return alt.to_owned();
    }
    let keep: String = alt.chars().take(limit.saturating_sub(1)).collect();
    let cut = match keep.rfind(char::is_whitespace) {
        Some(i) if i > keep.len() / 2 => keep[..i].trim_end(),
        _ => keep.as_str(),
    };
    warnings.push(RenderWarning {
        part,
        message: format!("alt text cut to {limit} characters"),
    });
    format!("{cut}…")
}

#[cfg(test)]
mod tests;
