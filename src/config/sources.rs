//! `[sources.NAME]`: one variant per `kind`, each holding the keys of that kind. What each
//! key means for the operator is written in `bridge.toml.example`.

use std::path::PathBuf;

use serde::Deserialize;

use super::{values, SecretSource, ServerKind};
use std::time::Duration;

/// `[sources.NAME]`, by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceSettings {
    /// `kind = "x"`: a live account, polled through the X API v2.
    X(XSourceSettings),
    /// `kind = "archive"`: a Twitter data archive, for backfill.
    Archive(ArchiveSourceSettings),
    /// `kind = "feed"`: an RSS or Atom feed, polled.
    Feed(FeedSourceSettings),
    /// `kind = "fediverse"`: the operator's own fediverse account, read through megalodon.
    Fediverse(FediverseSourceSettings),
}

impl SourceSettings {
    /// The source's secrets, by name.
    pub(super) fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        match self {
            SourceSettings::X(s) => vec![("token", &s.token)],
            SourceSettings::Fediverse(s) => vec![("token", &s.token)],
            SourceSettings::Archive(_) | SourceSettings::Feed(_) => Vec::new(),
        }
    }

    /// Whether the source's media URLs may point at private, loopback or link-local
    /// addresses (`allow_private_media`), for whatever downloads them later (a release
    /// from review).
    pub fn allow_private_media(&self) -> bool {
        match self {
            SourceSettings::X(s) => s.allow_private_media,
            SourceSettings::Archive(s) => s.allow_private_media,
            SourceSettings::Feed(s) => s.allow_private_media,
            SourceSettings::Fediverse(s) => s.allow_private_media,
        }
    }
}

/// `kind = "x"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XSourceSettings {
    /// The handle without `@`.
    #[serde(deserialize_with = "values::username")]
    pub username: String,
    /// `token_file`, `token_env` or `token`.
    #[serde(alias = "token_file", alias = "token_env")]
    pub token: SecretSource,
    /// A cron expression with a seconds field, checked to parse.
    #[serde(deserialize_with = "values::schedule")]
    pub schedule: String,
    /// Without a trailing slash; X's API when not given; `api_url` points tests at a local
    /// fake.
    #[serde(default = "x_api", deserialize_with = "values::base_url")]
    pub api_url: String,
    #[serde(
        default,
        deserialize_with = "values::start::<_, { XSourceSettings::MAX_LATEST }, true>"
    )]
    pub start: StartAt,
    /// US dollars per post read, for the cost estimate in `status`.
    #[serde(
        default = "XSourceSettings::post_price",
        deserialize_with = "values::price"
    )]
    pub post_read_price: f64,
    /// US dollars per user lookup, for the cost estimate in `status`.
    #[serde(
        default = "XSourceSettings::user_price",
        deserialize_with = "values::price"
    )]
    pub user_read_price: f64,
    /// Whether media URLs (and `tco_url`) may point at private, loopback or link-local
    /// addresses.
    #[serde(default)]
    pub allow_private_media: bool,
    /// Where `t.co` links X did not expand are resolved (`src/short_links.rs`); tests
    /// point it at a local stand-in.
    #[serde(default = "tco_url", deserialize_with = "values::base_url")]
    pub tco_url: String,
}

/// `tco_url` when not given: `t.co` itself.
fn tco_url() -> String {
    crate::short_links::TCO_URL.to_owned()
}

/// `api_url` when not given, for an X source or target: the real X API.
pub(super) fn x_api() -> String {
    "https://api.x.com".to_owned()
}

impl XSourceSettings {
    /// `post_read_price` when not given: pay-per-use price of one post read (2026).
    pub const DEFAULT_POST_READ_PRICE: f64 = 0.005;
    /// `user_read_price` when not given: pay-per-use price of one user lookup (2026).
    pub const DEFAULT_USER_READ_PRICE: f64 = 0.010;
    /// The most posts `start = "latest:N"` may ask for: the API reaches only the newest 3,200.
    pub const MAX_LATEST: u32 = 3200;

    fn post_price() -> f64 {
        Self::DEFAULT_POST_READ_PRICE
    }

    fn user_price() -> f64 {
        Self::DEFAULT_USER_READ_PRICE
    }
}

/// Where a live source with no saved cursor begins. A new route must not flood its targets
/// with the account's history: that is `backfill`'s job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// `"latest"` (0, the default) or `"latest:N"`: mirror the newest N posts, then
    /// everything after.
    Latest(u32),
    /// A post id (`"1577730467436138524"`): mirror everything after that post.
    After(String),
}

impl Default for StartAt {
    fn default() -> Self {
        StartAt::Latest(0)
    }
}

/// `kind = "archive"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSourceSettings {
    /// A `.zip` or an unpacked folder, resolved against the configuration file's folder.
    /// Loading does not check that it exists; [`super::Settings::offline_findings`] does.
    #[serde(deserialize_with = "values::path")]
    pub path: PathBuf,
    /// What becomes of the media a post names but the archive does not hold.
    #[serde(default)]
    pub missing_media: MissingMedia,
    /// Where X's media hosts (`pbs.twimg.com`, `video.twimg.com`) are reached instead of
    /// themselves: the path is kept, the scheme and host are this URL's. `None`: X's own.
    #[serde(default, deserialize_with = "values::optional_base_url")]
    pub media_host: Option<String>,
    /// Whether `media_host` and `tco_url` may be private, loopback or link-local addresses.
    #[serde(default)]
    pub allow_private_media: bool,
    /// Where `t.co` links X did not expand are resolved, as for `kind = "x"`.
    #[serde(default = "tco_url", deserialize_with = "values::base_url")]
    pub tco_url: String,
}

names! {
    /// `missing_media`: what an archive backfill does with media a post names but the
    /// archive does not hold (classic archives hold none; current ones may miss some).
    #[derive(Default)]
    pub enum MissingMedia {
        /// Download them from X's media host and upload them with their description (the
        /// default); a download that fails leaves a link and the description in the text.
        #[default]
        Download = "download",
        /// Link the original on X's media host in the text (no request to X).
        Link = "link",
    }
}

/// `kind = "feed"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSourceSettings {
    /// http or https, kept as written.
    #[serde(deserialize_with = "values::url")]
    pub url: String,
    /// A cron expression with a seconds field, checked to parse.
    #[serde(deserialize_with = "values::schedule")]
    pub schedule: String,
    /// `latest` or `latest:N` (post ids are X's).
    #[serde(
        default,
        deserialize_with = "values::start::<_, { FeedSourceSettings::MAX_LATEST }, false>"
    )]
    pub start: StartAt,
    /// Whether media URLs may point at private, loopback or link-local addresses.
    #[serde(default)]
    pub allow_private_media: bool,
}

impl FeedSourceSettings {
    /// The most items `start = "latest:N"` may ask for: feeds rarely carry more.
    pub const MAX_LATEST: u32 = 100;
}

/// `kind = "fediverse"`: the operator's own account on a fediverse server
/// (`src/sources/fediverse.rs`). `kind` names the source kind here, so the server's software
/// is `server`, with the values a fediverse target's `kind` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FediverseSourceSettings {
    /// The server's software; `auto` (the default) asks its nodeinfo.
    #[serde(default)]
    pub server: ServerKind,
    /// Without a trailing slash.
    #[serde(deserialize_with = "values::base_url")]
    pub url: String,
    /// `token_file`, `token_env` or `token` (read scopes suffice).
    #[serde(alias = "token_file", alias = "token_env")]
    pub token: SecretSource,
    /// A cron expression with a seconds field: the polling fallback (and the only way
    /// where the server has no streaming).
    #[serde(deserialize_with = "values::schedule")]
    pub schedule: String,
    /// `latest` (nothing old) or `latest:N`.
    #[serde(
        default,
        deserialize_with = "values::start::<_, { FediverseSourceSettings::MAX_LATEST }, false>"
    )]
    pub start: StartAt,
    /// Whether to listen on the server's streaming connection (default true).
    #[serde(default = "values::default::yes")]
    pub stream: bool,
    /// `timeout_seconds`: the most any one call to the server may take (30 when not given).
    #[serde(
        rename = "timeout_seconds",
        default = "values::default::seconds::<30>",
        deserialize_with = "values::seconds"
    )]
    pub request_timeout: Duration,
    /// Whether media URLs may point at private, loopback or link-local addresses.
    #[serde(default)]
    pub allow_private_media: bool,
}

impl FediverseSourceSettings {
    /// The most statuses `start = "latest:N"` may ask for (a few pages of the account).
    pub const MAX_LATEST: u32 = 400;
}
