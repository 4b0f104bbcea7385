//! A short, readable preview of rendered posts, for a person watching a dry run: each part
//! with its visibility (when not public, or when there are several parts), content warning,
//! text, media with their descriptions, what it replies to or quotes, and the warnings that
//! concern that part right under it.

use std::fmt::Write as _;

use crate::config::Visibility;
use crate::model::{MediaSource, Post};
use crate::render::{Rendered, ReplyTo};
use crate::targets::dry_run::media_location;
use crate::targets::x::cost::price_part;
use crate::targets::{Tariff, Usd};

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
            // Remote media are downloaded by the targets that upload them, never by a
            // preview.
            let remote = if matches!(m.source, MediaSource::Url(_)) {
                " (downloaded on delivery)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  ▣ {} {}{remote} {alt}",
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

/// What a previewed post would cost on a target that bills its writes: each part and the
/// whole, with why (a URL, alt texts), and how many such posts the daily cap allows.
pub fn cost(rendered: &Rendered, tariff: Tariff) -> String {
    let mut out = String::new();
    let mut total = Usd::ZERO;
    let mut why = Vec::new();
    for (i, part) in rendered.parts.iter().enumerate() {
        let c = price_part(part);
        total += c.total();
        let mut reasons = Vec::new();
        if c.repost {
            reasons.push("repost".to_owned());
        } else if c.with_url {
            reasons.push("contains a URL".to_owned());
        }
        if c.descriptions > 0 {
            reasons.push(format!("{} alt text(s)", c.descriptions));
        }
        if !reasons.is_empty() && rendered.parts.len() > 1 {
            why.push(format!("part {}: {}", i + 1, reasons.join(", ")));
        } else if !reasons.is_empty() {
            why.push(reasons.join(", "));
        }
    }
    let _ = write!(out, "  $ costs {total}");
    if !why.is_empty() {
        let _ = write!(out, " ({})", why.join("; "));
    }
    if let (Some(cap), Some(n)) = (tariff.cap, tariff.posts_per_day(total)) {
        let _ = write!(out, "; the cap of {cap} a day allows {n} such post(s)");
    }
    out.push('\n');
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::{MediaKind, MediaSource};
    use crate::render::{Part, PartMedia, RenderWarning};

    fn part(text: &str, visibility: Visibility) -> Part {
        Part {
            text: text.into(),
            spoiler_text: Some("Food".into()),
            sensitive: false,
            media: Vec::new(),
            visibility,
            language: None,
            reply_to: ReplyTo::Nothing,
            quote_of: None,
            boost_of: None,
        }
    }

    #[test]
    fn warnings_follow_the_part_they_concern() {
        let post = Post {
            created_at: Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap(),
            ..Post::sample("7", "")
        };
        let mut second = part("2/2", Visibility::Unlisted);
        second.reply_to = ReplyTo::PreviousPart;
        second.media.push(PartMedia {
            kind: MediaKind::Photo,
            source: MediaSource::Url("https://e.example/a.jpg".into()),
            description: None,
        });
        let rendered = Rendered {
            parts: vec![part("soup 1/2", Visibility::Public), second],
            warnings: vec![
                RenderWarning {
                    part: 1,
                    message: "5 attachments, 4 allowed per status: moved to part 2".into(),
                },
                RenderWarning {
                    part: 1,
                    message: "photo has no alt text: posted without a description".into(),
                },
            ],
        };
        assert_eq!(
            super::post("r", "t", &post, &rendered),
            "── r → t · 7 · 2020-01-02 · 2 parts\n\
             \x20 [1/2 · public]\n\
             \x20 CW: Food\n\
             \x20 │ soup 1/2\n\
             \x20 [2/2 · unlisted]\n\
             \x20 CW: Food\n\
             \x20 │ 2/2\n\
             \x20 ▣ photo https://e.example/a.jpg (downloaded on delivery) (no alt text)\n\
             \x20 ⚠ 5 attachments, 4 allowed per status: moved to part 2\n\
             \x20 ⚠ photo has no alt text: posted without a description\n"
        );
    }
}
