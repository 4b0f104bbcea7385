//! Route policy: which posts a route mirrors ([`decide`]), and the choices the renderer
//! applies to the ones it does ([`RoutePolicy`]). Pure: decisions are values, reasons are
//! text for the ledger's audit trail, naming the rule (the configuration key) that fired.
//!
//! Circle posts never reach a route: the archive source drops them.

use chrono::{DateTime, Duration, Utc};

use crate::config::{AltTextPolicy, ReplyPolicy, RepostPolicy, RouteSettings};
use crate::model::{MediaSource, Post, PostId, PostKind};

/// The policy of one route, as the renderer and [`decide`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePolicy {
    /// The route's settings: every policy key, with its defaults filled in.
    pub settings: RouteSettings,
    /// This pass is a backfill of old posts: `max_age_days` does not apply, and posts get
    /// the backfill dressing (date line, link to the original).
    pub backfill: bool,
}

impl RoutePolicy {
    /// The policy a route's settings describe, for live mirroring.
    pub fn from_settings(route: &RouteSettings) -> Self {
        Self {
            settings: route.clone(),
            backfill: false,
        }
    }

    /// The same policy for a backfill.
    #[must_use]
    pub fn for_backfill(mut self) -> Self {
        self.backfill = true;
        self
    }
}

/// Whether a route mirrors a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Render and deliver it.
    Mirror,
    /// A repost under `reposts = "boost"`: boost the mirrored status of `original` if this
    /// route mirrored it on the target, else skip (only the ledger can tell, per target).
    Boost {
        /// The reposted post's source id.
        original: PostId,
    },
    /// Record it as skipped, with the rule that fired.
    Skip(String),
    /// Do not post it now: hold it for review with the reason (`alt_text = "hold"`, and
    /// the `review` setting, which the plan step applies), until a person releases or
    /// drops it.
    Hold(String),
}

/// Decides whether a route mirrors `post` at `now`. The rules, first match wins: opt-out
/// tags, the opt-in tag, maximum age (not in a backfill), reposts, replies to other
/// accounts, then media without alt text under `alt_text = "hold"`.
pub fn decide(post: &Post, policy: &RoutePolicy, now: DateTime<Utc>) -> Decision {
    let s = &policy.settings;
    let tags = post.tags_lowercase();
    if let Some(tag) = s.opt_out_tags.iter().find(|t| tags.contains(t)) {
        return Decision::Skip(format!("opt-out tag #{tag} (opt_out_tags)"));
    }
    if let Some(tag) = &s.opt_in_tag {
        if !tags.contains(tag) {
            return Decision::Skip(format!("no opt-in tag #{tag} (opt_in_tag)"));
        }
    }
    if !policy.backfill && s.max_age_days > 0 {
        let age = now - post.created_at;
        if age > Duration::days(i64::from(s.max_age_days)) {
            return Decision::Skip(format!("older than {} days (max_age_days)", s.max_age_days));
        }
    }
    match post.kind() {
        PostKind::Repost => match s.reposts {
            RepostPolicy::Skip => {
                return Decision::Skip("repost (reposts = \"skip\")".to_owned());
            }
            RepostPolicy::Boost => {
                let original = post
                    .references
                    .repost_of
                    .as_ref()
                    .and_then(|r| r.id.clone());
                return match original {
                    Some(original) => Decision::Boost { original },
                    None => Decision::Skip(
                        "repost of a post whose id the source does not give, so it cannot \
                         be boosted (reposts = \"boost\")"
                            .to_owned(),
                    ),
                };
            }
            RepostPolicy::Link => {}
        },
        PostKind::ReplyToOther if s.replies == ReplyPolicy::Skip => {
            return Decision::Skip("reply to another account (replies = \"skip\")".to_owned());
        }
        PostKind::ReplyToOther | PostKind::Original | PostKind::Quote => {}
    }
    if s.alt_text == AltTextPolicy::Hold {
        let attached: Vec<_> = post
            .media
            .iter()
            .filter(|m| m.source != MediaSource::Unavailable)
            .collect();
        let missing: Vec<String> = attached
            .iter()
            .enumerate()
            .filter(|(_, m)| m.alt_text.as_deref().is_none_or(|a| a.trim().is_empty()))
            .map(|(i, m)| format!("{} {}", m.kind.as_str(), i + 1))
            .collect();
        if !missing.is_empty() {
            return Decision::Hold(format!(
                "{} of {} without alt text (alt_text = \"hold\"): describe them on the \
                 desk or with `birdbridge hold describe`, then release the post",
                missing.join(", "),
                attached.len()
            ));
        }
    }
    Decision::Mirror
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rstest::rstest;

    use super::*;
    use crate::model::{Facet, FacetKind, Media, MediaKind, PostRef};

    fn post(text: &str) -> Post {
        let mut facets = Vec::new();
        for (start, _) in text.match_indices('#') {
            let end = text[start..].find(' ').map_or(text.len(), |e| start + e);
            facets.push(Facet {
                range: start..end,
                kind: FacetKind::Hashtag {
                    tag: text[start + 1..end].to_owned(),
                },
            });
        }
        Post {
            facets,
            url: "https://x.com/me/status/1".into(),
            ..Post::sample("1", text)
        }
    }

    fn reply_to_other(mut p: Post) -> Post {
        p.references.reply_to = Some(PostRef {
            id: Some(PostId::new("9")),
            username: Some("other".into()),
            url: None,
        });
        p
    }

    fn repost(mut p: Post, id: Option<&str>) -> Post {
        p.references.repost_of = Some(PostRef {
            id: id.map(PostId::new),
            username: Some("other".into()),
            url: None,
        });
        p
    }

    fn photo(alt: Option<&str>, source: MediaSource) -> Media {
        Media {
            kind: MediaKind::Photo,
            source,
            alt_text: alt.map(str::to_owned),
            width: None,
            height: None,
            original_url: None,
        }
    }

    fn with_media(mut p: Post, media: Vec<Media>) -> Post {
        p.media = media;
        p
    }

    fn file() -> MediaSource {
        MediaSource::File("a.jpg".into())
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 11, 0, 0, 0).unwrap()
    }

    fn policy(edit: impl FnOnce(&mut RouteSettings)) -> RoutePolicy {
        let mut settings = RouteSettings::with_defaults("s", &["t"]);
        edit(&mut settings);
        RoutePolicy::from_settings(&settings)
    }

    fn skip(reason: &str) -> Decision {
        Decision::Skip(reason.to_owned())
    }

    #[rstest]
    #[case::plain_post(post("hello"), policy(|_| {}), Decision::Mirror)]
    #[case::opt_out_tag(post("hello #NoXP"), policy(|_| {}), skip("opt-out tag #noxp (opt_out_tags)"))]
    #[case::second_opt_out_tag(post("#nobridge hi"), policy(|_| {}), skip("opt-out tag #nobridge (opt_out_tags)"))]
    #[case::opt_out_cleared(post("hello #noxp"), policy(|s| s.opt_out_tags.clear()), Decision::Mirror)]
    #[case::opt_in_missing(post("hello"), policy(|s| s.opt_in_tag = Some("xp".into())), skip("no opt-in tag #xp (opt_in_tag)"))]
    #[case::opt_in_present(post("hello #XP"), policy(|s| s.opt_in_tag = Some("xp".into())), Decision::Mirror)]
    #[case::too_old(post("hello"), policy(|s| s.max_age_days = 7), skip("older than 7 days (max_age_days)"))]
    #[case::young_enough(post("hello"), policy(|s| s.max_age_days = 11), Decision::Mirror)]
    #[case::backfill_ignores_age(post("hello"), policy(|s| s.max_age_days = 7).for_backfill(), Decision::Mirror)]
    #[case::repost_skipped(repost(post("hi"), Some("5")), policy(|_| {}), skip("repost (reposts = \"skip\")"))]
    #[case::repost_boosted(repost(post("hi"), Some("5")), policy(|s| s.reposts = RepostPolicy::Boost), Decision::Boost { original: PostId::new("5") })]
    #[case::archive_repost_cannot_be_boosted(repost(post("hi"), None), policy(|s| s.reposts = RepostPolicy::Boost), skip("repost of a post whose id the source does not give, so it cannot be boosted (reposts = \"boost\")"))]
    #[case::repost_linked(repost(post("hi"), None), policy(|s| s.reposts = RepostPolicy::Link), Decision::Mirror)]
    #[case::reply_skipped(reply_to_other(post("hi")), policy(|_| {}), skip("reply to another account (replies = \"skip\")"))]
    #[case::reply_unlisted(reply_to_other(post("hi")), policy(|s| s.replies = ReplyPolicy::Unlisted), Decision::Mirror)]
    #[case::hold_without_alt(with_media(post("pics"), vec![photo(Some("a cat"), file()), photo(None, file())]), policy(|s| s.alt_text = AltTextPolicy::Hold), Decision::Hold("photo 2 of 2 without alt text (alt_text = \"hold\"): describe them on the desk or with `birdbridge hold describe`, then release the post".into()))]
    #[case::hold_blank_alt(with_media(post("pic"), vec![photo(Some("  "), file())]), policy(|s| s.alt_text = AltTextPolicy::Hold), Decision::Hold("photo 1 of 1 without alt text (alt_text = \"hold\"): describe them on the desk or with `birdbridge hold describe`, then release the post".into()))]
    #[case::hold_ignores_linked_media(with_media(post("pic"), vec![photo(None, MediaSource::Unavailable)]), policy(|s| s.alt_text = AltTextPolicy::Hold), Decision::Mirror)]
    #[case::fallback_does_not_hold(with_media(post("pic"), vec![photo(None, file())]), policy(|_| {}), Decision::Mirror)]
    #[case::opt_out_wins_over_hold(with_media(post("pic #noxp"), vec![photo(None, file())]), policy(|s| s.alt_text = AltTextPolicy::Hold), skip("opt-out tag #noxp (opt_out_tags)"))]
    fn decisions(#[case] post: Post, #[case] policy: RoutePolicy, #[case] want: Decision) {
        assert_eq!(decide(&post, &policy, now()), want);
    }
}
