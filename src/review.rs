//! Review: which posts wait for a person before they go out ([`hold_reason`]), and a
//! person's edits of a held copy, checked against the target's limits ([`check_edit`]) and
//! turned into what the renderer applies ([`copy_edits`]). Pure, like the policy: the
//! ledger keeps the holds and edits (`store/review.rs`), the plan step holds and releases
//! (`engine/plan.rs`), the deliverer (`src/release.rs`) delivers released posts, and the desk
//! (`crate::desk`) and `birdbridge hold ...` are where people make the changes.

use serde::{Deserialize, Serialize};

use crate::config::{ReviewPolicy, Visibility};
use crate::model::{MediaSource, Post};
use crate::policy::RoutePolicy;
use crate::profile::{CountingRule, TargetProfile};
use crate::render::{self, CopyEdits, WarnedBy};
use crate::store::EditField;

/// Why a post waits for review, and the rule that held it (the queue filters by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// `undescribed`, `warned`, `all` (the `review` value), or `alt_text`.
    pub rule: &'static str,
    /// For a person.
    pub reason: String,
}

/// Whether `post` waits for review on a target whose effective `review` is `review`: its
/// media lack a description (`undescribed` and up), a `content_warnings` rule gave it a
/// warning (`warned` and up), or every post (`all`).
pub fn hold_reason(post: &Post, policy: &RoutePolicy, review: ReviewPolicy) -> Option<Hold> {
    if review == ReviewPolicy::None {
        return None;
    }
    let missing = undescribed(post);
    if !missing.is_empty() {
        return Some(Hold {
            rule: ReviewPolicy::Undescribed.as_str(),
            reason: format!(
                "{} without a description (review = \"{}\")",
                missing.join(", "),
                review.as_str()
            ),
        });
    }
    if review >= ReviewPolicy::Warned {
        let rules: Vec<String> = render::warning_sources(post, policy)
            .into_iter()
            .filter(|(_, by)| matches!(by, WarnedBy::Rule(_)))
            .map(|(label, by)| format!("\"{label}\" ({})", by.describe()))
            .collect();
        if !rules.is_empty() {
            return Some(Hold {
                rule: ReviewPolicy::Warned.as_str(),
                reason: format!(
                    "content warning {} (review = \"{}\")",
                    rules.join(", "),
                    review.as_str()
                ),
            });
        }
    }
    (review == ReviewPolicy::All).then(|| Hold {
        rule: ReviewPolicy::All.as_str(),
        reason: "every post waits for review (review = \"all\")".to_owned(),
    })
}

/// The rule a hold of the route policy (`alt_text = "hold"`) is filed under.
pub const ALT_TEXT_RULE: &str = "alt_text";

/// "photo 2 of 2" for each attached media item without a description.
fn undescribed(post: &Post) -> Vec<String> {
    let attached: Vec<_> = post
        .media
        .iter()
        .filter(|m| m.source != MediaSource::Unavailable)
        .collect();
    attached
        .iter()
        .enumerate()
        .filter(|(_, m)| m.alt_text.as_deref().is_none_or(|a| a.trim().is_empty()))
        .map(|(i, m)| format!("{} {} of {}", m.kind.as_str(), i + 1, attached.len()))
        .collect()
}

/// The limits a copy was rendered for, as the ledger keeps them with its hold: the explicit
/// shape below, so a change of [`TargetProfile`] never changes what older rows mean.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Limits {
    max_characters: usize,
    characters_reserved_per_url: usize,
    max_media_attachments: usize,
    description_limit: usize,
    counting: String,
    max_spoiler_characters: Option<usize>,
    supports_quote_posts: bool,
    /// A row kept without them was rendered by the fediverse's.
    #[serde(default)]
    rules: Rules,
}

/// The rules X brought to a profile ([`TargetProfile::video_alone`], `own_links`,
/// `at_handles`), kept with the limits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Rules {
    video_alone: bool,
    own_links: bool,
    at_handles: bool,
}

impl Default for Rules {
    /// A fediverse server's.
    fn default() -> Self {
        Self {
            video_alone: false,
            own_links: true,
            at_handles: true,
        }
    }
}

/// A counting rule's name, as the ledger and the desk's counter name it.
pub fn counting_name(rule: CountingRule) -> &'static str {
    match rule {
        CountingRule::Mastodon => "mastodon",
        CountingRule::CodePoints => "code-points",
        CountingRule::Utf16 => "utf-16",
        CountingRule::XWeighted => "x-weighted",
    }
}

/// The limits of `profile` as the ledger keeps them.
pub fn limits_json(profile: &TargetProfile) -> String {
    let limits = Limits {
        max_characters: profile.max_characters,
        characters_reserved_per_url: profile.characters_reserved_per_url,
        max_media_attachments: profile.max_media_attachments,
        description_limit: profile.description_limit,
        counting: counting_name(profile.counting).to_owned(),
        max_spoiler_characters: profile.max_spoiler_characters,
        supports_quote_posts: profile.supports_quote_posts,
        rules: Rules {
            video_alone: profile.video_alone,
            own_links: profile.own_links,
            at_handles: profile.at_handles,
        },
    };
    // Numbers, strings and booleans only: serialising cannot fail.
    serde_json::to_string(&limits).unwrap_or_default()
}

/// Limits read back; a Mastodon server's defaults when none were kept (the target was never
/// reached) or they cannot be read.
pub fn limits_from(json: Option<&str>) -> TargetProfile {
    let Some(limits) = json.and_then(|j| serde_json::from_str::<Limits>(j).ok()) else {
        return TargetProfile::mastodon_default();
    };
    TargetProfile {
        max_characters: limits.max_characters,
        characters_reserved_per_url: limits.characters_reserved_per_url,
        max_media_attachments: limits.max_media_attachments,
        description_limit: limits.description_limit,
        counting: match limits.counting.as_str() {
            "code-points" => CountingRule::CodePoints,
            "utf-16" => CountingRule::Utf16,
            "x-weighted" => CountingRule::XWeighted,
            _ => CountingRule::Mastodon,
        },
        max_spoiler_characters: limits.max_spoiler_characters,
        supports_quote_posts: limits.supports_quote_posts,
        video_alone: limits.rules.video_alone,
        own_links: limits.rules.own_links,
        at_handles: limits.rules.at_handles,
    }
}

/// A person's edits as the ledger keeps them, for the renderer.
pub fn copy_edits(rows: &[(EditField, String)]) -> CopyEdits {
    let mut edits = CopyEdits::default();
    for (field, value) in rows {
        match field {
            EditField::Description(i) => {
                edits.descriptions.insert(*i as usize, value.clone());
            }
            EditField::Warning => {
                edits.warning = Some(Some(value.clone()).filter(|v| !v.trim().is_empty()));
            }
            EditField::Sensitive => edits.sensitive = Some(value == "true"),
            EditField::Text => edits.text = Some(value.clone()),
            EditField::Visibility => {
                edits.visibility = Visibility::ALL.into_iter().find(|v| v.as_str() == value);
            }
        }
    }
    edits
}

/// Why an edit cannot be kept; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditRefused {
    /// Longer than the target takes.
    #[error("the {what} is {length} characters long; {target} takes at most {limit}: shorten it (nothing was changed)")]
    TooLong {
        what: String,
        target: String,
        length: usize,
        limit: usize,
    },
    /// The post has no media item with this number.
    #[error("the post has no media item {0} (it has {1})")]
    NoSuchMedia(usize, usize),
    /// Not one of the visibilities.
    #[error("unknown visibility {0:?}: use public, unlisted, private or direct")]
    Visibility(String),
    /// Not `true` or `false`.
    #[error("the sensitive flag is `true` or `false`, not {0:?}")]
    Sensitive(String),
}

/// Checks a person's edit of one field of a copy on `target` (with `limits`) and returns
/// the value to keep (`None`: back to the rendered one), trimmed of surrounding whitespace.
/// Descriptions and warnings longer than the target takes are refused rather than cut, so
/// what the person wrote is what goes out.
///
/// # Errors
/// See [`EditRefused`].
pub fn check_edit(
    post: &Post,
    (target, limits): (&str, &TargetProfile),
    field: EditField,
    value: &str,
) -> Result<Option<String>, EditRefused> {
    let value = value.trim();
    match field {
        EditField::Description(i) => {
            let i = i as usize;
            if i >= post.media.len() {
                return Err(EditRefused::NoSuchMedia(i + 1, post.media.len()));
            }
            let length = value.chars().count();
            if length > limits.description_limit {
                return Err(EditRefused::TooLong {
                    what: format!("description of media {}", i + 1),
                    target: target.to_owned(),
                    length,
                    limit: limits.description_limit,
                });
            }
            Ok((!value.is_empty()).then(|| value.to_owned()))
        }
        EditField::Warning => {
            let length = value.chars().count();
            let limit = limits
                .max_spoiler_characters
                .unwrap_or(limits.max_characters);
            if length > limit {
                return Err(EditRefused::TooLong {
                    what: "content warning".to_owned(),
                    target: target.to_owned(),
                    length,
                    limit,
                });
            }
            // "" is kept: it clears the warning.
            Ok(Some(value.to_owned()))
        }
        EditField::Sensitive => match value {
            "true" | "false" => Ok(Some(value.to_owned())),
            other => Err(EditRefused::Sensitive(other.to_owned())),
        },
        EditField::Text => Ok(Some(value.to_owned())),
        EditField::Visibility => {
            if Visibility::ALL.iter().any(|v| v.as_str() == value) {
                Ok(Some(value.to_owned()))
            } else {
                Err(EditRefused::Visibility(value.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::{ContentWarningRule, RouteSettings};
    use crate::model::{Media, MediaKind};

    fn post(text: &str, alt: Option<&str>) -> Post {
        Post {
            media: vec![Media {
                kind: MediaKind::Photo,
                source: MediaSource::File("a.jpg".into()),
                alt_text: alt.map(str::to_owned),
                width: None,
                height: None,
                original_url: None,
            }],
            ..Post::sample("1", text)
        }
    }

    fn policy() -> RoutePolicy {
        let mut s = RouteSettings::with_defaults("s", &["t"]);
        s.content_warnings = vec![ContentWarningRule {
            label: "Politics".into(),
            matches: vec!["election".into()],
        }];
        RoutePolicy::from_settings(&s)
    }

    #[test]
    fn each_level_holds_what_the_one_before_does_and_more() {
        let p = policy();
        let bare = post("hello", None);
        let described = post("the election", Some("a cat"));
        let plain = post("hello", Some("a cat"));
        assert_eq!(hold_reason(&bare, &p, ReviewPolicy::None), None);
        let h = hold_reason(&bare, &p, ReviewPolicy::Undescribed).unwrap();
        assert_eq!(h.rule, "undescribed");
        assert_eq!(
            h.reason,
            "photo 1 of 1 without a description (review = \"undescribed\")"
        );
        assert_eq!(hold_reason(&described, &p, ReviewPolicy::Undescribed), None);
        let h = hold_reason(&described, &p, ReviewPolicy::Warned).unwrap();
        assert_eq!(h.rule, "warned");
        assert!(h.reason.contains("\"Politics\" (content_warnings rule 1)"));
        assert_eq!(hold_reason(&plain, &p, ReviewPolicy::Warned), None);
        assert_eq!(
            hold_reason(&plain, &p, ReviewPolicy::All).unwrap().rule,
            "all"
        );
    }

    #[test]
    fn edits_over_the_limit_are_refused_not_cut() {
        let p = post("x", None);
        let mut limits = TargetProfile::mastodon_default();
        limits.description_limit = 5;
        let t = ("t", &limits);
        assert_eq!(
            check_edit(&p, t, EditField::Description(0), " cat ").unwrap(),
            Some("cat".into())
        );
        let err = check_edit(&p, t, EditField::Description(0), "a long one").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the description of media 1 is 10 characters long; t takes at most 5: shorten it (nothing was changed)"
        );
        assert!(check_edit(&p, t, EditField::Description(1), "x").is_err());
        assert_eq!(
            check_edit(&p, t, EditField::Warning, "").unwrap(),
            Some(String::new())
        );
        assert!(check_edit(&p, t, EditField::Visibility, "friends").is_err());
        let edits = copy_edits(&[
            (EditField::Warning, String::new()),
            (EditField::Visibility, "unlisted".into()),
            (EditField::Sensitive, "true".into()),
        ]);
        assert_eq!(edits.warning, Some(None));
        assert_eq!(edits.visibility, Some(Visibility::Unlisted));
        assert_eq!(edits.sensitive, Some(true));
    }

    #[test]
    fn limits_read_back_as_written() {
        let mut p = TargetProfile::mastodon_default();
        p.counting = CountingRule::CodePoints;
        p.max_spoiler_characters = Some(140);
        assert_eq!(limits_from(Some(&limits_json(&p))), p);
        assert_eq!(limits_from(None), TargetProfile::mastodon_default());
        // X's rules come back too; limits kept without them are a fediverse server's.
        let mut x = TargetProfile::x();
        x.own_links = false;
        assert_eq!(limits_from(Some(&limits_json(&x))), x);
        let mut json: serde_json::Value = serde_json::from_str(&limits_json(&x)).unwrap();
        json.as_object_mut().unwrap().remove("rules");
        let old = limits_from(Some(&json.to_string()));
        assert!(
            !old.video_alone && old.own_links && old.at_handles,
            "{old:?}"
        );
    }
}
