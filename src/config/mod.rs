//! Configuration: `bridge.toml` layered under `BIRDBRIDGE__...` environment variables,
//! validated into typed settings. Secrets are wrapped so they never print.
//!
//! Loading goes in three steps: the `config` crate reads the file and then the environment
//! (so the environment wins, as systemd's `Environment=` should); `parse` walks the merged
//! tree table by table and turns it into [`Settings`], naming the key and the file in every
//! error; `check` ([`Settings::offline_findings`]) looks at what the settings point at on
//! this machine (files, variables), for the `check` command.
//!
//! The keys each table accepts are listed once, in [`keys`]; the parser rejects anything else
//! and a test holds `bridge.toml.example` to the same lists.

mod check;
mod parse;
mod secret;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use check::Finding;
pub use secret::{Secret, SecretSource};

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/birdbridge/bridge.toml";

/// The example configuration, embedded so `check --example` can print it and tests can load it.
pub const EXAMPLE_CONFIG: &str = include_str!("../../bridge.toml.example");

/// The prefix of environment variables that override the file: `BIRDBRIDGE__LEDGER__PATH`
/// overrides `[ledger] path`.
pub const ENV_PREFIX: &str = "BIRDBRIDGE";

/// Separates the prefix and each level of the key path in an environment variable's name.
/// Doubled, because keys themselves contain single underscores (`token_file`).
pub const ENV_SEPARATOR: &str = "__";

/// The keys each table accepts. The parser reads nothing else and rejects everything else, and
/// the example configuration is tested against these lists, so they are the one place a new
/// key is declared.
pub mod keys {
    /// The top level of the file.
    pub const TOP: &[&str] = &["ledger", "metrics", "sources", "targets", "routes"];
    /// `[ledger]`.
    pub const LEDGER: &[&str] = &["path"];
    /// `[metrics]`.
    pub const METRICS: &[&str] = &["listen"];
    /// `[sources.NAME]` with `kind = "x"`.
    pub const X_SOURCE: &[&str] = &[
        "kind",
        "username",
        "token",
        "token_file",
        "token_env",
        "schedule",
        "api_url",
        "start",
        "post_read_price",
        "user_read_price",
        "allow_private_media",
    ];
    /// `[sources.NAME]` with `kind = "archive"`.
    pub const ARCHIVE_SOURCE: &[&str] = &["kind", "path"];
    /// `[sources.NAME]` with `kind = "feed"`.
    pub const FEED_SOURCE: &[&str] = &["kind", "url", "schedule", "start", "allow_private_media"];
    /// `[targets.NAME]` with a server kind (`mastodon`, ..., `auto`).
    pub const FEDIVERSE_TARGET: &[&str] = &[
        "kind",
        "url",
        "token",
        "token_file",
        "token_env",
        "timeout_seconds",
        "profile_refresh_hours",
        "backfill_share",
    ];
    /// `[targets.NAME]` with `kind = "dry-run"`.
    pub const DRY_RUN_TARGET: &[&str] = &[
        "kind",
        "output",
        "max_characters",
        "max_media_attachments",
        "characters_reserved_per_url",
        "description_limit",
    ];
    /// `[routes.NAME]`.
    pub const ROUTE: &[&str] = &[
        "source",
        "targets",
        "visibility",
        "continuation_visibility",
        "numbering",
        "replies",
        "reposts",
        "opt_out_tags",
        "opt_in_tag",
        "max_age_days",
        "sensitive_label",
        "content_warnings",
        "content_warning_first_line",
        "default_content_warning",
        "alt_text",
        "alt_text_fallback",
        "tracking_parameters",
        "rewrite_own_links",
        "mention_map",
        "backfill_date_line",
        "backfill_link",
    ];
    /// One entry of a route's `content_warnings` list.
    pub const CONTENT_WARNING_RULE: &[&str] = &["label", "match"];
}

/// Everything `bridge.toml` says, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from (for messages).
    pub file: PathBuf,
    /// The ledger database.
    pub ledger: LedgerSettings,
    /// The metrics and health endpoint of `run`; `None` (the default) serves nothing.
    pub metrics: Option<MetricsSettings>,
    /// Named sources.
    pub sources: BTreeMap<String, SourceSettings>,
    /// Named targets.
    pub targets: BTreeMap<String, TargetSettings>,
    /// Named routes; there is at least one, and each names existing sources and targets.
    pub routes: BTreeMap<String, RouteSettings>,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// The address `/metrics` and `/healthz` are served on (`listen`).
    pub listen: std::net::SocketAddr,
}

/// `[ledger]`.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// The `SQLite` file; [`LedgerSettings::default_path`] when the file does not say.
    pub path: PathBuf,
}

/// `[sources.NAME]`.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// `kind = "x"`: a live account, polled through the X API v2.
    X(XSourceSettings),
    /// `kind = "archive"`: a Twitter data archive, for backfill.
    Archive(ArchiveSourceSettings),
    /// `kind = "feed"`: an RSS or Atom feed, polled.
    Feed(FeedSourceSettings),
}

/// `kind = "x"` source.
#[derive(Debug, Clone)]
pub struct XSourceSettings {
    /// Account handle without `@`, checked to be 1 to 15 letters, digits or underscores.
    pub username: String,
    /// Bearer or user token (`token_file`, `token_env` or `token`).
    pub token: SecretSource,
    /// Cron expression with a seconds field, checked to parse with the `cron` crate.
    pub schedule: String,
    /// API base URL without a trailing slash; `https://api.x.com` unless tests point it
    /// at a local fake.
    pub api_url: String,
    /// Where a source with no cursor yet begins (default: after the newest post).
    pub start: StartAt,
    /// US dollars per post read, for the cost estimate in `status`.
    pub post_read_price: f64,
    /// US dollars per user lookup, for the cost estimate in `status`.
    pub user_read_price: f64,
    /// Whether media URLs in the API's answers may point at private, loopback or link-local
    /// addresses (a local stand-in for the X API); refused by default.
    pub allow_private_media: bool,
}

impl XSourceSettings {
    /// `api_url` when not given: the real X API.
    pub const DEFAULT_API_URL: &'static str = "https://api.x.com";
    /// `post_read_price` when not given: pay-per-use price of one post read (2026).
    pub const DEFAULT_POST_READ_PRICE: f64 = 0.005;
    /// `user_read_price` when not given: pay-per-use price of one user lookup (2026).
    pub const DEFAULT_USER_READ_PRICE: f64 = 0.010;
    /// The most posts `start = "latest:N"` may ask for: the API reaches only the newest 3,200.
    pub const MAX_LATEST: u32 = 3200;
}

/// Where a live source with no saved cursor begins. A new route must not flood its targets
/// with the account's history: that is `backfill`'s job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// `"latest"` (0) or `"latest:N"`: mirror the newest N posts, then everything after.
    Latest(u32),
    /// A post id (`"1577730467436138524"`): mirror everything after that post.
    After(String),
}

impl Default for StartAt {
    fn default() -> Self {
        StartAt::Latest(0)
    }
}

/// `kind = "archive"` source.
#[derive(Debug, Clone)]
pub struct ArchiveSourceSettings {
    /// A `.zip` or an unpacked folder, resolved against the configuration file's folder.
    /// Loading does not check that it exists; [`Settings::offline_findings`] does.
    pub path: PathBuf,
}

/// `kind = "feed"` source.
#[derive(Debug, Clone)]
pub struct FeedSourceSettings {
    /// Feed URL (http or https), kept as written.
    pub url: String,
    /// Cron expression with a seconds field, checked to parse with the `cron` crate.
    pub schedule: String,
    /// Where a source with no cursor yet begins (`latest` or `latest:N`; ids are X's).
    pub start: StartAt,
    /// Whether media URLs in the feed may point at private, loopback or link-local
    /// addresses (a feed on the local network); refused by default.
    pub allow_private_media: bool,
}

impl FeedSourceSettings {
    /// The most items `start = "latest:N"` may ask for: feeds rarely carry more.
    pub const MAX_LATEST: u32 = 100;
}

/// The server kinds a fediverse target can be. They decide which quirks the client works
/// around, so `auto` asks the server and the others skip that question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `kind = "mastodon"`.
    Mastodon,
    /// `kind = "pleroma"` (also Akkoma).
    Pleroma,
    /// `kind = "gotosocial"`.
    GoToSocial,
    /// `kind = "friendica"`.
    Friendica,
    /// `kind = "firefish"`.
    Firefish,
    /// `kind = "pixelfed"`.
    Pixelfed,
    /// `kind = "snac"` (a minimal single-binary server with a Mastodon API layer).
    Snac,
    /// `kind = "takahe"` (Takahē).
    Takahe,
    /// `kind = "auto"`: detect the software from the server at start.
    Auto,
}

impl ServerKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [ServerKind; 9] = [
        ServerKind::Mastodon,
        ServerKind::Pleroma,
        ServerKind::GoToSocial,
        ServerKind::Friendica,
        ServerKind::Firefish,
        ServerKind::Pixelfed,
        ServerKind::Snac,
        ServerKind::Takahe,
        ServerKind::Auto,
    ];

    /// The `kind` value that selects this server kind in `bridge.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Mastodon => "mastodon",
            ServerKind::Pleroma => "pleroma",
            ServerKind::GoToSocial => "gotosocial",
            ServerKind::Friendica => "friendica",
            ServerKind::Firefish => "firefish",
            ServerKind::Pixelfed => "pixelfed",
            ServerKind::Snac => "snac",
            ServerKind::Takahe => "takahe",
            ServerKind::Auto => "auto",
        }
    }
}

/// `[targets.NAME]`.
#[derive(Debug, Clone)]
pub enum TargetSettings {
    /// A real server: `kind` is one of [`ServerKind`].
    Fediverse(FediverseTargetSettings),
    /// `kind = "dry-run"`.
    DryRun(DryRunTargetSettings),
}

/// A fediverse target.
#[derive(Debug, Clone)]
pub struct FediverseTargetSettings {
    /// The server software, or `Auto` to ask the server.
    pub kind: ServerKind,
    /// Base URL (http or https) without a trailing slash, so paths can be appended.
    pub url: String,
    /// The account's access token (`token_file`, `token_env` or `token`).
    pub token: SecretSource,
    /// How long one request may take (`timeout_seconds`, default 30); a write that times out
    /// is reconciled, never blindly sent again.
    pub request_timeout: std::time::Duration,
    /// How long the server's limits are trusted before they are read again
    /// (`profile_refresh_hours`, default 24).
    pub profile_refresh: chrono::Duration,
    /// The fraction of each rate-limit window a backfill may use (`backfill_share`, 0 to 1,
    /// default 0.8), so live posts find room next to a long backfill.
    pub backfill_share: f64,
}

impl FediverseTargetSettings {
    /// `timeout_seconds` when not given.
    pub const DEFAULT_TIMEOUT_SECONDS: usize = 30;
    /// `profile_refresh_hours` when not given.
    pub const DEFAULT_PROFILE_REFRESH_HOURS: usize = 24;
    /// `backfill_share` when not given.
    pub const DEFAULT_BACKFILL_SHARE: f64 = 0.8;
}

/// `kind = "dry-run"` target: writes what it would post; emulates a server with these limits.
#[derive(Debug, Clone)]
pub struct DryRunTargetSettings {
    /// `"-"` for stdout, or a `.jsonl` path resolved against the configuration file's folder.
    pub output: String,
    /// Characters per status (default 500, Mastodon's).
    pub max_characters: usize,
    /// Attachments per status (default 4).
    pub max_media_attachments: usize,
    /// What every URL counts for, whatever its length (default 23).
    pub characters_reserved_per_url: usize,
    /// Characters per media description (default 1500).
    pub description_limit: usize,
}

impl DryRunTargetSettings {
    /// `output` when not given: standard output.
    pub const DEFAULT_OUTPUT: &'static str = "-";
    /// `max_characters` when not given.
    pub const DEFAULT_MAX_CHARACTERS: usize = 500;
    /// `max_media_attachments` when not given.
    pub const DEFAULT_MAX_MEDIA_ATTACHMENTS: usize = 4;
    /// `characters_reserved_per_url` when not given.
    pub const DEFAULT_CHARACTERS_RESERVED_PER_URL: usize = 23;
    /// `description_limit` when not given.
    pub const DEFAULT_DESCRIPTION_LIMIT: usize = 1500;
}

/// Post visibility on the fediverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Everyone, in public timelines (the default).
    #[default]
    Public,
    /// Everyone who looks, but kept out of public timelines.
    Unlisted,
    /// Followers only.
    Private,
    /// Mentioned accounts only.
    Direct,
}

impl Visibility {
    /// Every visibility, in the order error messages list them.
    pub const ALL: [Visibility; 4] = [
        Visibility::Public,
        Visibility::Unlisted,
        Visibility::Private,
        Visibility::Direct,
    ];

    /// The value in `bridge.toml`, which is also the Mastodon API's `visibility` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
            Visibility::Direct => "direct",
        }
    }
}

/// `[routes.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each is an independent on/off key of bridge.toml"
)]
pub struct RouteSettings {
    /// The name of a source in [`Settings::sources`].
    pub source: String,
    /// Names of targets in [`Settings::targets`]: at least one, none twice.
    pub targets: Vec<String>,
    /// Visibility of the mirrored posts (default public).
    pub visibility: Visibility,
    /// Visibility of the second and later parts of a thread (default unlisted), so that
    /// followers' home timelines show one entry per thread. Never wider than `visibility`.
    pub continuation_visibility: Visibility,
    /// Number the parts of a thread (`1/3`), counted in the limit (default true).
    pub numbering: bool,
    /// What to do with replies to other accounts (default skip).
    pub replies: ReplyPolicy,
    /// What to do with reposts (default skip).
    pub reposts: RepostPolicy,
    /// Hashtags (without `#`, lower case) that keep a post off the fediverse
    /// (default `noxp`, `nobridge`).
    pub opt_out_tags: Vec<String>,
    /// When set, only posts carrying this hashtag (without `#`, lower case) are mirrored,
    /// and the tag is removed from the mirrored text (default: not set).
    pub opt_in_tag: Option<String>,
    /// Posts older than this many days are skipped when mirroring live; 0 means no limit
    /// (default). A backfill ignores it: old posts are what it is for.
    pub max_age_days: u32,
    /// The content warning for posts the source marks sensitive (default "Sensitive media").
    pub sensitive_label: String,
    /// Keyword and hashtag rules that add a content warning.
    pub content_warnings: Vec<ContentWarningRule>,
    /// Move a first line `CW: ...`, `TW: ...` or `CN: ...` into the content warning
    /// (default true).
    pub content_warning_first_line: bool,
    /// The content warning for posts no other rule gives one (default: none).
    pub default_content_warning: Option<String>,
    /// What to do with media that have no description (default fallback).
    pub alt_text: AltTextPolicy,
    /// The description given to media without one under `alt_text = "fallback"`;
    /// `{kind}`/`{Kind}` become "image", "video" or "animated GIF" (capitalised).
    pub alt_text_fallback: String,
    /// Query parameters removed from links: a name, a prefix ending in `*`, or
    /// `host:name` for parameters only removed on that host and its subdomains.
    pub tracking_parameters: Vec<String>,
    /// Rewrite links to the route's own X posts to their mirrored status (default true).
    pub rewrite_own_links: bool,
    /// X handles (lower case, without `@`) to fediverse handles (`@user@server`).
    pub mention_map: BTreeMap<String, String>,
    /// The line added to backfilled posts, with `{date}` for the original day
    /// (default "Originally posted on {date}"); `None` when set to "".
    pub backfill_date_line: Option<String>,
    /// Add a link to the original post to backfilled posts (default false).
    pub backfill_link: bool,
}

impl RouteSettings {
    /// `continuation_visibility` when not given.
    pub const DEFAULT_CONTINUATION_VISIBILITY: Visibility = Visibility::Unlisted;
    /// `opt_out_tags` when not given.
    pub const DEFAULT_OPT_OUT_TAGS: &'static [&'static str] = &["noxp", "nobridge"];
    /// `sensitive_label` when not given.
    pub const DEFAULT_SENSITIVE_LABEL: &'static str = "Sensitive media";
    /// `alt_text_fallback` when not given.
    pub const DEFAULT_ALT_TEXT_FALLBACK: &'static str =
        "{Kind} from the original post; no description was provided.";
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
    /// `backfill_date_line` when not given.
    pub const DEFAULT_BACKFILL_DATE_LINE: &'static str = "Originally posted on {date}";

    /// A route with every policy key at its default, for tests and tools that build
    /// settings without a file.
    pub fn with_defaults(source: &str, targets: &[&str]) -> Self {
        Self {
            source: source.to_owned(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            visibility: Visibility::default(),
            continuation_visibility: Self::DEFAULT_CONTINUATION_VISIBILITY,
            numbering: true,
            replies: ReplyPolicy::default(),
            reposts: RepostPolicy::default(),
            opt_out_tags: Self::DEFAULT_OPT_OUT_TAGS
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            opt_in_tag: None,
            max_age_days: 0,
            sensitive_label: Self::DEFAULT_SENSITIVE_LABEL.to_owned(),
            content_warnings: Vec::new(),
            content_warning_first_line: true,
            default_content_warning: None,
            alt_text: AltTextPolicy::default(),
            alt_text_fallback: Self::DEFAULT_ALT_TEXT_FALLBACK.to_owned(),
            tracking_parameters: Self::DEFAULT_TRACKING_PARAMETERS
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            rewrite_own_links: true,
            mention_map: BTreeMap::new(),
            backfill_date_line: Some(Self::DEFAULT_BACKFILL_DATE_LINE.to_owned()),
            backfill_link: false,
        }
    }
}

/// A route's rule that puts a content warning on posts mentioning certain words or tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentWarningRule {
    /// The warning, e.g. "US politics".
    pub label: String,
    /// Lower-case words (matched as whole words) and `#tags` (matched against hashtags).
    pub matches: Vec<String>,
}

/// `replies`: what a route does with replies to other accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyPolicy {
    /// Not mirrored, recorded as skipped (the default): a reply out of its conversation
    /// reads as noise on the fediverse.
    #[default]
    Skip,
    /// Mirrored unlisted (or narrower, if the route's visibility is).
    Unlisted,
}

impl ReplyPolicy {
    /// Every value, in the order error messages list them.
    pub const ALL: [ReplyPolicy; 2] = [ReplyPolicy::Skip, ReplyPolicy::Unlisted];

    /// The value in `bridge.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyPolicy::Skip => "skip",
            ReplyPolicy::Unlisted => "unlisted",
        }
    }
}

/// `reposts`: what a route does with reposts (retweets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepostPolicy {
    /// Not mirrored, recorded as skipped (the default): "RT @" walls are what fediverse
    /// users dislike most in mirrors.
    #[default]
    Skip,
    /// Boost the mirrored status when this route mirrored the original; else skip.
    Boost,
    /// A short post "Reposted from ...:" with the text and a link to the original.
    Link,
}

impl RepostPolicy {
    /// Every value, in the order error messages list them.
    pub const ALL: [RepostPolicy; 3] =
        [RepostPolicy::Skip, RepostPolicy::Boost, RepostPolicy::Link];

    /// The value in `bridge.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            RepostPolicy::Skip => "skip",
            RepostPolicy::Boost => "boost",
            RepostPolicy::Link => "link",
        }
    }
}

/// `alt_text`: what a route does with media that have no description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AltTextPolicy {
    /// Describe them with `alt_text_fallback` (the default), which at least tells a
    /// screen-reader user that there is an image and that the author gave no description.
    #[default]
    Fallback,
    /// Post them without a description.
    Omit,
    /// Do not post; quarantine the post until a person decides (shown by `status`).
    Hold,
}

impl AltTextPolicy {
    /// Every value, in the order error messages list them.
    pub const ALL: [AltTextPolicy; 3] = [
        AltTextPolicy::Fallback,
        AltTextPolicy::Omit,
        AltTextPolicy::Hold,
    ];

    /// The value in `bridge.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            AltTextPolicy::Fallback => "fallback",
            AltTextPolicy::Omit => "omit",
            AltTextPolicy::Hold => "hold",
        }
    }
}

/// Configuration errors; each names the file and, where there is one, the key. Every variant
/// means "fix the configuration (or the secret it points at) and start again".
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read: fix `--config` or the file's permissions.
    #[error("{}: cannot read the configuration file: {source}", file.display())]
    Unreadable {
        /// The configuration file.
        file: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML: fix it at the line and column the message gives.
    #[error("{}: invalid TOML: {message}", file.display())]
    Syntax {
        /// The configuration file.
        file: PathBuf,
        /// The TOML parser's message, with line, column and the offending line.
        message: String,
    },
    /// A `BIRDBRIDGE__...` environment variable cannot be used at all: fix or unset it.
    #[error("{}: environment variable `{variable}`: {problem}", file.display())]
    Environment {
        /// The configuration file the variable would override.
        file: PathBuf,
        /// The variable's name.
        variable: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A key the parser does not know: remove it or fix its spelling.
    #[error("{}: unknown key `{key}`{}{}", file.display(), set_by(env.as_deref()), did_you_mean(hint.as_deref()))]
    UnknownKey {
        /// The configuration file.
        file: PathBuf,
        /// The full key path, e.g. `targets.preview.outptu`.
        key: String,
        /// The environment variable that set it, when it came from the environment.
        env: Option<String>,
        /// The accepted key it most resembles.
        hint: Option<String>,
    },
    /// A required key is absent: add it.
    #[error("{}: missing key `{key}`{}", file.display(), or_one_of(alternatives))]
    MissingKey {
        /// The configuration file.
        file: PathBuf,
        /// The full key path, e.g. `sources.wikipedia.schedule`.
        key: String,
        /// Keys that would do instead (the other token forms).
        alternatives: Vec<String>,
    },
    /// A value has the wrong type or an unacceptable value (a bad URL, cron expression,
    /// kind, or a route naming a missing source): fix it as `problem` says.
    #[error("{}: `{key}`{}: {problem}", file.display(), set_by(env.as_deref()))]
    Invalid {
        /// The configuration file.
        file: PathBuf,
        /// The full key path, e.g. `routes.r.targets[1]`.
        key: String,
        /// The environment variable that set it, when it came from the environment.
        env: Option<String>,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// Two keys that exclude each other are both set (two token forms): keep one.
    #[error("{}: `{key}` and `{other}` are both set; give only one", file.display())]
    Conflict {
        /// The configuration file.
        file: PathBuf,
        /// One of the keys.
        key: String,
        /// The other key.
        other: String,
    },
    /// A `token_file` cannot be read: fix the path or its permissions (systemd
    /// `LoadCredential=`).
    #[error("`{key}`: cannot read the token file {}: {source}", path.display())]
    SecretFile {
        /// The setting holding the secret, as the caller named it.
        key: String,
        /// The token file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// A `token_env` variable is unset or not Unicode: set it in the service's environment.
    #[error("`{key}`: environment variable `{variable}` is {problem}")]
    SecretEnv {
        /// The setting holding the secret, as the caller named it.
        key: String,
        /// The variable's name.
        variable: String,
        /// `not set` or `not valid Unicode`.
        problem: &'static str,
    },
    /// The secret is there but empty (only whitespace): put the token in it.
    #[error("`{key}`: the token from {from} is empty")]
    SecretEmpty {
        /// The setting holding the secret, as the caller named it.
        key: String,
        /// Where the empty token came from (the file or the variable).
        from: String,
    },
}

/// " (set by `VAR`)" for values that came from the environment, so the operator looks there
/// rather than in the file.
fn set_by(env: Option<&str>) -> String {
    env.map(|var| format!(" (set by `{var}`)"))
        .unwrap_or_default()
}

fn did_you_mean(hint: Option<&str>) -> String {
    hint.map(|hint| format!(" (did you mean `{hint}`?)"))
        .unwrap_or_default()
}

fn or_one_of(alternatives: &[String]) -> String {
    if alternatives.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = alternatives.iter().map(|key| format!("`{key}`")).collect();
    format!(" (or one of {})", listed.join(", "))
}

impl LedgerSettings {
    /// The ledger path when `[ledger] path` is not set. The service unit's `StateDirectory=`
    /// wins (systemd passes it as `$STATE_DIRECTORY`, colon-separated when there are several;
    /// the first is used), then the user's state folder (`~/.local/state/birdbridge`, as
    /// `dirs::state_dir` finds it), then `/var/lib/birdbridge`. Both inputs are parameters so
    /// tests do not depend on the machine's environment.
    pub fn default_path(state_directory: Option<&str>, user_state_dir: Option<&Path>) -> PathBuf {
        const FILE_NAME: &str = "ledger.sqlite";
        if let Some(first) = state_directory
            .and_then(|dirs| dirs.split(':').next())
            .filter(|dir| !dir.is_empty())
        {
            return Path::new(first).join(FILE_NAME);
        }
        match user_state_dir {
            Some(dir) => dir.join("birdbridge").join(FILE_NAME),
            None => Path::new("/var/lib/birdbridge").join(FILE_NAME),
        }
    }
}

impl Settings {
    /// Loads `path`, then applies `BIRDBRIDGE__...` overrides from the process environment.
    ///
    /// # Errors
    /// Any [`ConfigError`] but the `Secret*` ones: the file is unreadable or invalid, or an
    /// override is.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let env = process_env(path)?;
        Self::load_with_env(path, env)
    }

    /// Loads `path`, then applies the `BIRDBRIDGE__...` overrides found in `env`, which stands
    /// for the whole environment (it is also where `STATE_DIRECTORY` is looked up). Tests pass
    /// a map here instead of touching the process environment, which parallel tests share.
    ///
    /// The environment wins over the file. The `config` crate lower-cases variable names, so
    /// `BIRDBRIDGE__TARGETS__WIKIS-WORLD__URL` addresses `[targets.wikis-world] url`, and a
    /// table whose name has capitals cannot be overridden. Values from the environment are
    /// strings: numbers are parsed from them and lists are split at commas.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_with_env(path: &Path, env: HashMap<String, String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            file: path.to_path_buf(),
            source,
        })?;
        let default_ledger = LedgerSettings::default_path(
            env.get("STATE_DIRECTORY").map(String::as_str),
            dirs::state_dir().as_deref(),
        );
        let merged = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .separator(ENV_SEPARATOR)
                    .source(Some(env)),
            )
            .build()
            .map_err(|err| match err {
                config::ConfigError::FileParse { cause, .. } => ConfigError::Syntax {
                    file: path.to_path_buf(),
                    message: cause.to_string(),
                },
                // With the file given as a string and the environment as a map, parsing is the
                // only step expected to fail; anything else is blamed on the overrides.
                other => ConfigError::Environment {
                    file: path.to_path_buf(),
                    variable: format!("{ENV_PREFIX}{ENV_SEPARATOR}*"),
                    problem: other.to_string(),
                },
            })?;
        // Relative paths are meant relative to the file, not to wherever the daemon was
        // started; `absolute` only fails without a current directory, and then the path as
        // given is the best there is.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute.parent().unwrap_or(Path::new(""));
        let context = parse::Context {
            file: path,
            dir,
            default_ledger,
        };
        let settings = parse::settings(&context, merged.cache)?;
        tracing::debug!(
            file = %path.display(),
            sources = settings.sources.len(),
            targets = settings.targets.len(),
            routes = settings.routes.len(),
            "configuration loaded"
        );
        Ok(settings)
    }
}

/// The process environment as the map [`Settings::load_with_env`] takes. Variables that are not
/// Unicode are left out, unless they are meant for us: then the operator hears about it.
fn process_env(file: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
    let mut env = HashMap::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => {
                env.insert(name, value);
            }
            Err(_) if name.to_ascii_uppercase().starts_with(&prefix) => {
                return Err(ConfigError::Environment {
                    file: file.to_path_buf(),
                    variable: name,
                    problem: "its value is not valid Unicode".to_owned(),
                });
            }
            Err(_) => {}
        }
    }
    Ok(env)
}
