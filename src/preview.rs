//! A short, readable preview of rendered posts, for a person watching a dry run: each part
//! with its visibility (when not public, or when there are several parts), content warning,
//! text, media with their descriptions, what it replies to or quotes, and the warnings that
//! concern that part right under it.

use std::fmt::Write as _;

use crate::config::Visibility;
use crate::model::Post;
use crate::render::{Rendered, ReplyTo};
use crate::targets::dry_run::media_location;

/// A post as it would appear on one target: each part with its text, media, reply and
/// the warnings that concern it.
pub fn post(route: &str, target: &str, post: &Post, rendered: &Rendered) -> String {
    let mut out = String::new();
    let total = rendered.parts.len();
    let _ = writeln!(
        out,
        "── {route} → {target} · {} · {} · {}",
        post.id,
        post.created_at.format("%Y-%m-%d"),
        if total == 1 {
            "1 part".to_owned()
        } else {
            format!("{total} parts")
        }
    );
    for (i, part) in rendered.parts.iter().enumerate() {
        if total > 1 {
            let _ = writeln!(out, "  [{}/{total} · {}]", i + 1, part.visibility.as_str());
        } else if part.visibility != Visibility::Public {
            let _ = writeln!(out, "  [{}]", part.visibility.as_str());
        }
        if let Some(cw) = &part.spoiler_text {
            let _ = writeln!(out, "  CW: {cw}");
        }
        for line in part.text.lines() {
            let _ = writeln!(out, "  │ {line}");
        }
        for m in &part.media {
            let alt = m
                .description
                .as_deref()
                .map_or_else(|| "(no alt text)".to_owned(), |d| format!("alt: {d:?}"));
            let _ = writeln!(
                out,
                "  ▣ {} {} {alt}",
                m.kind.as_str(),
                media_location(&m.source)
            );
        }
        if let Some(id) = &part.quote_of {
            let _ = writeln!(out, "  ❝ quotes mirrored status {id}");
        }
        if let Some(id) = &part.boost_of {
            let _ = writeln!(out, "  ⟳ boosts mirrored status {id}");
        }
        if let ReplyTo::Status(id) = &part.reply_to {
            let _ = writeln!(out, "  ↳ replies to mirrored status {id}");
        }
        for w in rendered.warnings.iter().filter(|w| w.part == i) {
            let _ = writeln!(out, "  ⚠ {}", w.message);
        }
    }
    out
}

/// A post held back from a target (`alt_text = "hold"`), with the reason.
pub fn held(route: &str, target: &str, post: &Post, reason: &str) -> String {
    format!(
        "── {route} → {target} · {} · {} · not posted, {reason}\n",
        post.id,
        post.created_at.format("%Y-%m-%d"),
    )
}
