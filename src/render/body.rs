//! The body of a mirrored post: the source text with every facet rendered for the
//! fediverse (links cleaned or pointed at mirrored statuses, mentions in their safe form,
//! the opt-in tag removed), leading reply mentions of a self-thread dropped, and a first
//! line `CW: ...` taken out for the content warning.

use super::{links, mentions, Lookups};
use crate::model::{FacetKind, Post, PostKind};
use crate::policy::RoutePolicy;

/// The body and what was taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Body {
    /// The text, trimmed.
    pub(super) text: String,
    /// The label of a first-line content warning, if the post had one.
    pub(super) first_line_warning: Option<String>,
}

/// Renders the body of `post`; `at_handles` as the target's profile says
/// ([`crate::profile::TargetProfile::at_handles`]).
pub(super) fn body(post: &Post, policy: &RoutePolicy, lookups: &Lookups, at_handles: bool) -> Body {
    let s = &policy.settings;
    let text = post.text.as_str();
    let mut start = 0;
    let self_thread = post.kind() == PostKind::Original && post.references.reply_to.is_some();
    if self_thread {
        start = after_leading_mentions(post);
    }
    start += text[start..].len() - text[start..].trim_start().len();
    let mut first_line_warning = None;
    if s.content_warning_first_line {
        if let Some((label, rest)) = super::cw::first_line(&text[start..]) {
            first_line_warning = Some(label);
            start += rest;
        }
    }

    let mut out = String::with_capacity(text.len());
    let mut pos = start;
    for facet in post.facets.iter().filter(|f| f.range.start >= start) {
        let (Some(gap), Some(span)) = (
            text.get(pos..facet.range.start),
            text.get(facet.range.clone()),
        ) else {
            // Facets are sorted and on char boundaries by contract; one that is not is
            // left as plain text rather than guessed at.
            continue;
        };
        out.push_str(&mentions::neutralise(
            gap,
            out.chars().next_back(),
            &s.mention_map,
        ));
        pos = facet.range.end;
        let after = &text[pos..];
        match &facet.kind {
            FacetKind::Link { url } => out.push_str(&link(url, post, policy, lookups)),
            FacetKind::Mention { username } => {
                let rendered = mentions::mention(username, &s.mention_map, at_handles);
                let is_url = rendered.starts_with("https://");
                out.push_str(&rendered);
                if is_url && mentions::needs_separator(after) {
                    out.push(' ');
                }
            }
            FacetKind::Hashtag { tag } => {
                let opt_in = s
                    .opt_in_tag
                    .as_deref()
                    .is_some_and(|t| t == tag.to_lowercase());
                if opt_in {
                    // Take one space with the tag, so "a #xp b" becomes "a b".
                    if after.is_empty() || after.starts_with(char::is_whitespace) {
                        while out.ends_with(' ') {
                            out.pop();
                        }
                    }
                } else {
                    out.push_str(span);
                }
            }
        }
    }
    if let Some(rest) = text.get(pos..) {
        out.push_str(&mentions::neutralise(
            rest,
            out.chars().next_back(),
            &s.mention_map,
        ));
    }
    Body {
        text: out.trim().to_owned(),
        first_line_warning,
    }
}

/// A link as it should appear: a link to one of the author's own posts becomes its
/// mirrored status when the ledger knows it; every other link loses its tracking
/// parameters.
fn link(url: &str, post: &Post, policy: &RoutePolicy, lookups: &Lookups) -> String {
    if policy.settings.rewrite_own_links {
        let mirrored = links::own_status(url, &post.author.username)
            .and_then(|id| lookups.get(Some(&id)))
            .and_then(|m| m.first_url.clone());
        if let Some(mirrored) = mirrored {
            return mirrored;
        }
    }
    links::strip_tracking(url, &policy.settings.tracking_parameters)
}

/// The byte offset after the mentions a self-thread reply starts with (they only address
/// the author's own earlier post).
fn after_leading_mentions(post: &Post) -> usize {
    let mut start = 0;
    for facet in &post.facets {
        let Some(gap) = post.text.get(start..facet.range.start) else {
            break;
        };
        let is_mention = matches!(facet.kind, FacetKind::Mention { .. });
        if !is_mention || !gap.trim().is_empty() {
            break;
        }
        start = facet.range.end;
    }
    start
}
