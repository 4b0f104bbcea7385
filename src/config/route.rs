//! `[routes.NAME]`: a source, its targets, and the fediverse manners applied on the way.
//! What each key means for the operator is written in `bridge.toml.example`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::values::{self, Hashtag, Parameter};

/// `[routes.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each is an independent on/off key of bridge.toml"
)]
pub struct RouteSettings {
    /// The name of a source in [`super::Settings::sources`].
    pub source: String,
    /// Names of targets in [`super::Settings::targets`]: at least one, none twice.
    pub targets: Vec<String>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Never wider than `visibility` (the renderer narrows it).
    #[serde(default = "RouteSettings::continuation")]
    pub continuation_visibility: Visibility,
    #[serde(default = "values::default::yes")]
    pub numbering: bool,
    #[serde(default)]
    pub replies: ReplyPolicy,
    #[serde(default)]
    pub reposts: RepostPolicy,
    /// Without `#`, lower case.
    #[serde(
        default = "RouteSettings::opt_out",
        deserialize_with = "values::list::<_, Hashtag>"
    )]
    pub opt_out_tags: Vec<String>,
    /// Without `#`, lower case; `None` mirrors every post.
    #[serde(default, deserialize_with = "values::optional_tag")]
    pub opt_in_tag: Option<String>,
    /// 0: no limit.
    #[serde(default)]
    pub max_age_days: u32,
    #[serde(
        default = "RouteSettings::sensitive",
        deserialize_with = "values::sensitive_label"
    )]
    pub sensitive_label: String,
    #[serde(default)]
    pub content_warnings: Vec<ContentWarningRule>,
    #[serde(default = "values::default::yes")]
    pub content_warning_first_line: bool,
    #[serde(default, deserialize_with = "values::optional_label")]
    pub default_content_warning: Option<String>,
    #[serde(default)]
    pub alt_text: AltTextPolicy,
    /// With `{kind}`/`{Kind}` for "image", "video" or "animated GIF" (capitalised).
    #[serde(
        default = "RouteSettings::fallback",
        deserialize_with = "values::alt_text_fallback"
    )]
    pub alt_text_fallback: String,
    /// A name, a prefix ending in `*`, or `host:name`.
    #[serde(
        default = "RouteSettings::trackers",
        deserialize_with = "values::list::<_, Parameter>"
    )]
    pub tracking_parameters: Vec<String>,
    #[serde(default = "values::default::yes")]
    pub rewrite_own_links: bool,
    /// X handles (lower case, without `@`) to fediverse handles (`@user@server`).
    #[serde(default, deserialize_with = "values::mentions")]
    pub mention_map: BTreeMap<String, String>,
    /// With `{date}` for the original day; `None` when set to "".
    #[serde(
        default = "RouteSettings::date_line",
        deserialize_with = "values::optional_line"
    )]
    pub backfill_date_line: Option<String>,
    #[serde(default)]
    pub backfill_link: bool,
    /// Which posts wait on the desk for a person before they go out; a target's own
    /// `review` wins for that target ([`super::TargetSettings::review`]).
    #[serde(default)]
    pub review: ReviewPolicy,
    /// Whether a post deleted at the source is taken back from the targets.
    #[serde(default)]
    pub deletes: DeletesPolicy,
    /// How far back posts are checked for deletes at an X source (it cannot tell); 48 hours
    /// when not given.
    #[serde(
        default = "values::default::hours::<48>",
        deserialize_with = "values::hours"
    )]
    pub deletes_window: chrono::Duration,
    /// How often they are checked; 60 minutes when not given.
    #[serde(
        default = "values::default::minutes::<60>",
        deserialize_with = "values::minutes"
    )]
    pub deletes_check: chrono::Duration,
}

impl RouteSettings {
    /// `tracking_parameters` when not given: common click trackers, and X's share
    /// parameters on X links.
    pub const DEFAULT_TRACKING_PARAMETERS: &'static [&'static str] = &[
        "utm_*",
        "fbclid",
        "gclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ref_src",
        "x.com:s",
        "x.com:t",
        "twitter.com:s",
        "twitter.com:t",
    ];

    /// A route with every policy key at its default, for tests and tools that build
    /// settings without a file: read through the same derive as a file giving only `source`
    /// and `targets`, so each default is written once.
    ///
    /// # Panics
    /// Never: such a route is valid, whatever the names.
    pub fn with_defaults(source: &str, targets: &[&str]) -> Self {
        Self::deserialize(serde_json::json!({ "source": source, "targets": targets }))
            .expect("a route with only a source and targets is valid")
    }

    /// `continuation_visibility` when not given: one entry per thread in home timelines.
    fn continuation() -> Visibility {
        Visibility::Unlisted
    }

    /// `opt_out_tags` when not given.
    fn opt_out() -> Vec<String> {
        owned(&["noxp", "nobridge"])
    }

    /// `sensitive_label` when not given.
    fn sensitive() -> String {
        "Sensitive media".to_owned()
    }

    /// `alt_text_fallback` when not given.
    fn fallback() -> String {
        "{Kind} from the original post; no description was provided.".to_owned()
    }

    fn trackers() -> Vec<String> {
        owned(Self::DEFAULT_TRACKING_PARAMETERS)
    }

    /// `backfill_date_line` when not given.
    #[expect(clippy::unnecessary_wraps, reason = "the field's type, for serde")]
    fn date_line() -> Option<String> {
        Some("Originally posted on {date}".to_owned())
    }
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// A route's rule that puts a content warning on posts mentioning certain words or tags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentWarningRule {
    /// The warning, e.g. "US politics".
    #[serde(deserialize_with = "values::label")]
    pub label: String,
    /// Lower-case words (matched as whole words) and `#tags` (matched against hashtags).
    #[serde(rename = "match", deserialize_with = "values::words")]
    pub matches: Vec<String>,
}

names! {
    /// Post visibility on the fediverse; the names are also the Mastodon API's.
    #[derive(Default)]
    pub enum Visibility {
        /// Everyone, in public timelines (the default).
        #[default]
        Public = "public",
        /// Everyone who looks, but kept out of public timelines.
        Unlisted = "unlisted",
        /// Followers only.
        Private = "private",
        /// Mentioned accounts only.
        Direct = "direct",
    }
}

names! {
    /// `replies`: what a route does with replies to other accounts.
    #[derive(Default)]
    pub enum ReplyPolicy {
        /// Not mirrored, recorded as skipped (the default): a reply out of its conversation
        /// reads as noise on the fediverse.
        #[default]
        Skip = "skip",
        /// Mirrored unlisted (or narrower, if the route's visibility is).
        Unlisted = "unlisted",
    }
}

names! {
    /// `reposts`: what a route does with reposts (retweets).
    #[derive(Default)]
    pub enum RepostPolicy {
        /// Not mirrored, recorded as skipped (the default): "RT @" walls are what fediverse
        /// users dislike most in mirrors.
        #[default]
        Skip = "skip",
        /// Boost the mirrored status when this route mirrored the original; else skip.
        Boost = "boost",
        /// A short post "Reposted from ...:" with the text and a link to the original.
        Link = "link",
    }
}

names! {
    /// `alt_text`: what a route does with media that have no description.
    #[derive(Default)]
    pub enum AltTextPolicy {
        /// Describe them with `alt_text_fallback` (the default), which at least tells a
        /// screen-reader user that there is an image and that the author gave no description.
        #[default]
        Fallback = "fallback",
        /// Post them without a description.
        Omit = "omit",
        /// Do not post; quarantine the post until a person decides (shown by `status`).
        Hold = "hold",
    }
}

names! {
    /// `review`: which posts wait for a person on the desk (or `birdbridge hold ...`)
    /// before they go out. Each value holds what the one before it holds, and more.
    #[derive(Default, PartialOrd, Ord)]
    pub enum ReviewPolicy {
        /// No post waits for review (the default); `alt_text = "hold"` still holds posts
        /// whose media lack a description.
        #[default]
        None = "none",
        /// Posts with an image, video or GIF that has no description.
        Undescribed = "undescribed",
        /// Those, and posts one of the route's `content_warnings` rules gave a warning.
        Warned = "warned",
        /// Every post (a boost of a mirrored status excepted: it carries nothing to edit).
        All = "all",
    }
}

names! {
    /// `deletes`: what a route does when a post it mirrored is deleted at its source.
    #[derive(Default)]
    pub enum DeletesPolicy {
        /// Nothing (the default): the mirrored statuses stay.
        #[default]
        Off = "off",
        /// Take the mirrored statuses back from every target (an X source is checked every
        /// `deletes_check` for posts mirrored within `deletes_window`; a fediverse source
        /// says so itself; a feed cannot tell, since feeds drop old items).
        Follow = "follow",
    }
}
