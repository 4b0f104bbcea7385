//! The renderer: a [`Post`] becomes the parts one target will receive. Pure: no IO, no
//! `Result`. Anything that could not be rendered as the source had it becomes a
//! [`RenderWarning`] next to the parts (STYLE.md §2, after rust-analyzer's `(T, Vec<Error>)`).
//!
//! This is the first version: expanded links, a numbered thread when the text is over the
//! target's limit, media with their alt text, replies threaded onto mirrored statuses.
//! Content warnings, mention rewriting and link cleaning belong to the route policy and
//! will slot in here without changing the signature.

pub mod count;
mod split;

use std::collections::HashMap;

use crate::config::Visibility;
use crate::model::{Media, MediaKind, MediaSource, Post, PostId, PostKind};
use crate::policy::RoutePolicy;
use crate::store::MirroredPost;
use crate::targets::TargetProfile;

/// One status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The status text.
    pub text: String,
    /// The content warning, if any.
    pub spoiler_text: Option<String>,
    /// Media hidden behind a click.
    pub sensitive: bool,
    /// Attachments.
    pub media: Vec<PartMedia>,
    /// Who sees it.
    pub visibility: Visibility,
    /// ISO 639 language, when known.
    pub language: Option<String>,
    /// What this status replies to.
    pub reply_to: ReplyTo,
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
/// beforehand so that rendering stays pure.
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

/// Renders `post` for one target.
pub fn render(
    post: &Post,
    profile: &TargetProfile,
    policy: &RoutePolicy,
    lookups: &Lookups,
) -> Rendered {
    let mut warnings = Vec::new();
    let text = compose_text(post, lookups);
    let spoiler_text: Option<String> = None;
    let measure = |t: &str| count::length(profile, spoiler_text.as_deref(), t);

    let mut media: Vec<&Media> = Vec::new();
    let mut unavailable = Vec::new();
    for m in &post.media {
        if m.source == MediaSource::Unavailable {
            unavailable.push(m);
        } else {
            media.push(m);
        }
    }
    let text = append_media_links(text, &unavailable, &mut warnings);
    let per_part = profile.max_media_attachments.max(1);
    let media_groups = media.len().div_ceil(per_part);

    let texts = split_numbered(&text, profile.max_characters, media_groups, &measure);

    let reply_to_first = first_reply_target(post, lookups, &mut warnings);
    let mut parts: Vec<Part> = texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| Part {
            text,
            spoiler_text: spoiler_text.clone(),
            sensitive: false,
            media: Vec::new(),
            visibility: policy.visibility,
            language: post.language.clone(),
            reply_to: if i == 0 {
                reply_to_first.clone()
            } else {
                ReplyTo::PreviousPart
            },
        })
        .collect();

    for (i, group) in media.chunks(per_part).enumerate() {
        if i > 0 {
            warnings.push(RenderWarning {
                part: i,
                message: format!(
                    "{} attachments, {} allowed per status: moved to part {}",
                    media.len(),
                    profile.max_media_attachments,
                    i + 1
                ),
            });
        }
        let part = &mut parts[i];
        part.sensitive = post.sensitive;
        for m in group {
            part.media.push(render_media(m, profile, i, &mut warnings));
        }
    }
    Rendered { parts, warnings }
}

/// The post text as the fediverse will see it: leading reply mentions of a self-thread
/// dropped (they only address the author), the quoted post's link appended.
fn compose_text(post: &Post, lookups: &Lookups) -> String {
    let mut text = if post.kind() == PostKind::Original && post.references.reply_to.is_some() {
        strip_leading_mentions(post)
    } else {
        post.text.clone()
    };
    if let Some(quote) = &post.references.quote_of {
        let url = lookups
            .get(quote.id.as_ref())
            .and_then(|m| m.first_url.clone())
            .or_else(|| quote.url.clone());
        if let Some(url) = url {
            push_paragraph(&mut text, &url);
        }
    }
    text
}

fn strip_leading_mentions(post: &Post) -> String {
    let mut start = 0;
    for facet in &post.facets {
        let gap = &post.text[start..facet.range.start];
        let is_mention = matches!(facet.kind, crate::model::FacetKind::Mention { .. });
        if !is_mention || !gap.trim().is_empty() {
            break;
        }
        start = facet.range.end;
    }
    post.text[start..].trim_start().to_owned()
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
    warnings: &mut Vec<RenderWarning>,
) -> String {
    for m in unavailable {
        match &m.original_url {
            Some(url) => {
                push_paragraph(&mut text, url);
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

/// Splits into parts and numbers them (`1/3`) when there is more than one. The numbering
/// counts against the limit, so the split reserves room for it, and splits again in the
/// rare case the number of digits grows.
fn split_numbered(
    text: &str,
    limit: usize,
    min_parts: usize,
    measure: &impl Fn(&str) -> usize,
) -> Vec<String> {
    let text = text.trim();
    let mut texts = if min_parts <= 1 && measure(text) <= limit {
        vec![text.to_owned()]
    } else {
        let mut guess = 9;
        loop {
            let reserve = numbering(guess, guess).chars().count();
            let parts = split::split(text, limit, reserve, measure);
            if parts.len().max(min_parts) <= guess {
                break parts;
            }
            guess = guess * 10 + 9;
        }
    };
    let total = texts.len().max(min_parts).max(1);
    texts.resize(total, String::new());
    if total > 1 {
        for (i, t) in texts.iter_mut().enumerate() {
            let n = numbering(i + 1, total);
            t.push_str(if t.is_empty() { n.trim_start() } else { &n });
        }
    }
    texts
}

fn numbering(i: usize, total: usize) -> String {
    format!(" {i}/{total}")
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

fn render_media(
    m: &Media,
    profile: &TargetProfile,
    part: usize,
    warnings: &mut Vec<RenderWarning>,
) -> PartMedia {
    let description = if let Some(alt) = &m.alt_text {
        Some(cut_description(
            alt,
            profile.description_limit,
            part,
            warnings,
        ))
    } else {
        warnings.push(RenderWarning {
            part,
            message: format!("{} has no alt text", m.kind.as_str()),
        });
        None
    };
    PartMedia {
        kind: m.kind,
        source: m.source.clone(),
        description,
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
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::model::{Author, Facet, FacetKind, PostRef, References};

    fn post(text: &str) -> Post {
        Post {
            id: PostId::new("100"),
            author: Author {
                id: None,
                username: "me".into(),
                display_name: None,
            },
            created_at: Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap(),
            text: text.into(),
            facets: Vec::new(),
            media: Vec::new(),
            references: References::default(),
            sensitive: false,
            language: Some("en".into()),
            url: "https://x.com/me/status/100".into(),
        }
    }

    fn photo(alt: Option<&str>) -> Media {
        Media {
            kind: MediaKind::Photo,
            source: MediaSource::File("a.jpg".into()),
            alt_text: alt.map(str::to_owned),
            width: None,
            height: None,
            original_url: Some("https://pbs.twimg.com/media/a.jpg".into()),
        }
    }

    fn policy() -> RoutePolicy {
        RoutePolicy {
            visibility: Visibility::Public,
        }
    }

    fn mirrored(last: &str, url: &str) -> MirroredPost {
        MirroredPost {
            first_id: "1".into(),
            first_url: Some(url.into()),
            last_id: last.into(),
        }
    }

    use chrono::Utc;

    #[test]
    fn short_post_is_one_part_with_its_language() {
        let r = render(
            &post("hello & <world>"),
            &TargetProfile::mastodon_default(),
            &policy(),
            &Lookups::default(),
        );
        assert_eq!(r.parts.len(), 1);
        assert_eq!(r.parts[0].text, "hello & <world>");
        assert_eq!(r.parts[0].language.as_deref(), Some("en"));
        assert_eq!(r.parts[0].reply_to, ReplyTo::Nothing);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn long_post_becomes_numbered_parts_within_the_limit() {
        let sentence = "This sentence has exactly some words in it. ";
        let text = sentence.repeat(30);
        let profile = TargetProfile::mastodon_default();
        let r = render(&post(text.trim()), &profile, &policy(), &Lookups::default());
        let n = r.parts.len();
        assert!(n >= 3, "{n}");
        for (i, p) in r.parts.iter().enumerate() {
            assert!(
                count::length(&profile, None, &p.text) <= 500,
                "part {i} too long"
            );
            assert!(p.text.ends_with(&format!(" {}/{n}", i + 1)), "{}", p.text);
            assert_eq!(
                p.reply_to,
                if i == 0 {
                    ReplyTo::Nothing
                } else {
                    ReplyTo::PreviousPart
                }
            );
        }
        let joined: Vec<String> = r
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.text
                    .trim_end_matches(&format!(" {}/{n}", i + 1))
                    .to_owned()
            })
            .collect();
        assert_eq!(joined.join(" "), text.trim());
    }

    #[test]
    fn self_thread_reply_drops_leading_mention_and_continues_the_mirrored_thread() {
        let mut p = post("@me and the story goes on");
        p.facets.push(Facet {
            range: 0..3,
            kind: FacetKind::Mention {
                username: "me".into(),
            },
        });
        p.references.reply_to = Some(PostRef {
            id: Some(PostId::new("99")),
            username: Some("me".into()),
            url: None,
        });
        let mut lookups = Lookups::default();
        lookups.insert(
            PostId::new("99"),
            mirrored("remote-last", "https://example.social/@me/1"),
        );
        let r = render(&p, &TargetProfile::mastodon_default(), &policy(), &lookups);
        assert_eq!(r.parts[0].text, "and the story goes on");
        assert_eq!(r.parts[0].reply_to, ReplyTo::Status("remote-last".into()));
    }

    #[test]
    fn reply_to_an_unmirrored_post_starts_a_new_conversation_with_a_warning() {
        let mut p = post("more");
        p.references.reply_to = Some(PostRef {
            id: Some(PostId::new("99")),
            username: Some("me".into()),
            url: None,
        });
        let r = render(
            &p,
            &TargetProfile::mastodon_default(),
            &policy(),
            &Lookups::default(),
        );
        assert_eq!(r.parts[0].reply_to, ReplyTo::Nothing);
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn quote_links_the_mirrored_status_when_known_else_the_original() {
        let mut p = post("look at this");
        p.references.quote_of = Some(PostRef {
            id: Some(PostId::new("7")),
            username: Some("other".into()),
            url: Some("https://x.com/other/status/7".into()),
        });
        let none = render(
            &p,
            &TargetProfile::mastodon_default(),
            &policy(),
            &Lookups::default(),
        );
        assert_eq!(
            none.parts[0].text,
            "look at this\n\nhttps://x.com/other/status/7"
        );
        let mut lookups = Lookups::default();
        lookups.insert(
            PostId::new("7"),
            mirrored("9", "https://example.social/@me/9"),
        );
        let known = render(&p, &TargetProfile::mastodon_default(), &policy(), &lookups);
        assert_eq!(
            known.parts[0].text,
            "look at this\n\nhttps://example.social/@me/9"
        );
    }

    #[test]
    fn media_over_the_attachment_limit_moves_to_a_second_part() {
        let mut p = post("six photos");
        p.media = (0..6).map(|_| photo(Some("a photo"))).collect();
        p.sensitive = true;
        let r = render(
            &p,
            &TargetProfile::mastodon_default(),
            &policy(),
            &Lookups::default(),
        );
        assert_eq!(r.parts.len(), 2);
        assert_eq!(r.parts[0].media.len(), 4);
        assert_eq!(r.parts[1].media.len(), 2);
        assert_eq!(r.parts[0].text, "six photos 1/2");
        assert_eq!(r.parts[1].text, "2/2");
        assert!(r.parts[0].sensitive && r.parts[1].sensitive);
        assert!(r
            .warnings
            .iter()
            .any(|w| w.part == 1 && w.message.contains("moved to part 2")));
    }

    #[test]
    fn missing_media_file_is_linked_and_missing_alt_text_is_warned() {
        let mut p = post("two photos");
        let mut gone = photo(None);
        gone.source = MediaSource::Unavailable;
        p.media = vec![photo(None), gone];
        let r = render(
            &p,
            &TargetProfile::mastodon_default(),
            &policy(),
            &Lookups::default(),
        );
        assert_eq!(r.parts[0].media.len(), 1);
        assert_eq!(r.parts[0].media[0].description, None);
        assert_eq!(
            r.parts[0].text,
            "two photos\n\nhttps://pbs.twimg.com/media/a.jpg"
        );
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    }

    #[test]
    fn alt_text_is_cut_at_the_limit_on_a_word_boundary() {
        let mut p = post("pic");
        p.media = vec![photo(Some("a very long description of a picture"))];
        let profile = TargetProfile {
            description_limit: 20,
            ..TargetProfile::mastodon_default()
        };
        let r = render(&p, &profile, &policy(), &Lookups::default());
        let d = r.parts[0].media[0].description.clone().unwrap();
        assert_eq!(d, "a very long…");
        assert!(d.chars().count() <= 20);
    }
}
