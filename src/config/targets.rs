//! `[targets.NAME]`: one variant per kind of target, each holding the keys of that kind. The
//! server kinds (`mastodon`, ..., `auto`) share one variant and keep which was written. What
//! each key means for the operator is written in `bridge.toml.example`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, EnumAccess, VariantAccess, Visitor};
use serde::Deserialize;

use super::{resolve, values, ReviewPolicy, SecretSource};

/// `[targets.NAME]`, by `kind`.
#[derive(Debug, Clone)]
pub enum TargetSettings {
    /// A real server: `kind` is one of [`ServerKind`].
    Fediverse(FediverseTargetSettings),
    /// `kind = "dry-run"`.
    DryRun(DryRunTargetSettings),
    /// `kind = "x"` (boxed: its credential keys make it the largest by far).
    X(Box<XTargetSettings>),
}

impl TargetSettings {
    /// The target's own `review`, which wins over the route's for posts to this target:
    /// what a copy needs from a person depends on the network it goes to (an X copy
    /// reworded, a fediverse copy described), and a target several routes share is
    /// reviewed alike for all of them.
    pub fn review(&self) -> Option<ReviewPolicy> {
        match self {
            TargetSettings::Fediverse(t) => t.review,
            TargetSettings::DryRun(t) => t.review,
            TargetSettings::X(t) => t.review,
        }
    }

    /// The target's secrets, by name (those its credentials use, for an X target).
    pub(super) fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        match self {
            TargetSettings::Fediverse(t) => vec![("token", &t.token)],
            TargetSettings::DryRun(_) => Vec::new(),
            TargetSettings::X(t) => match &t.credentials {
                XCredentials::OAuth1 {
                    consumer_key,
                    consumer_secret,
                    access_token,
                    access_token_secret,
                } => vec![
                    ("consumer_key", consumer_key),
                    ("consumer_secret", consumer_secret),
                    ("access_token", access_token),
                    ("access_token_secret", access_token_secret),
                ],
                XCredentials::OAuth2 { client_secret, .. } => {
                    client_secret.iter().map(|s| ("client_secret", s)).collect()
                }
            },
        }
    }
}

/// The `kind` of a dry run.
const DRY_RUN: &str = "dry-run";
/// The `kind` of an X account.
const X: &str = "x";

/// The `kind`s that are not a server's software, each with its own variant.
const OTHER_KINDS: [&str; 2] = [DRY_RUN, X];

/// Every target `kind`, in the order error messages list them: the servers', then the others.
const KINDS: [&str; ServerKind::ALL.len() + OTHER_KINDS.len()] = {
    let mut kinds = [""; ServerKind::ALL.len() + OTHER_KINDS.len()];
    let mut i = 0;
    while i < ServerKind::ALL.len() {
        kinds[i] = ServerKind::ALL[i].as_str();
        i += 1;
    }
    while i < kinds.len() {
        kinds[i] = OTHER_KINDS[i - ServerKind::ALL.len()];
        i += 1;
    }
    kinds
};

impl<'de> Deserialize<'de> for TargetSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_enum("TargetSettings", &KINDS, ByKind)
    }
}

/// Reads a target table by its `kind`.
struct ByKind;

impl<'de> Visitor<'de> for ByKind {
    type Value = TargetSettings;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a target table")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<TargetSettings, A::Error> {
        let (Kind(kind), settings) = data.variant()?;
        Ok(match kind {
            DRY_RUN => TargetSettings::DryRun(settings.newtype_variant()?),
            X => TargetSettings::X(Box::new(settings.newtype_variant()?)),
            // `Kind` is one of `KINDS`, so the others are servers' and found.
            server => TargetSettings::Fediverse(FediverseTargetSettings {
                kind: ServerKind::ALL
                    .into_iter()
                    .find(|known| known.as_str() == server)
                    .unwrap_or_default(),
                ..settings.newtype_variant()?
            }),
        })
    }
}

/// A target `kind`, one of [`KINDS`].
struct Kind(&'static str);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = String::deserialize(d)?;
        match KINDS.iter().find(|known| **known == kind) {
            Some(known) => Ok(Kind(known)),
            None => Err(de::Error::unknown_variant(&kind, &KINDS)),
        }
    }
}

names! {
    /// The server kinds a fediverse target can be. They decide which quirks the client works
    /// around, so `auto` asks the server and the others skip that question.
    #[derive(Default)]
    pub enum ServerKind {
        Mastodon = "mastodon",
        /// Also Akkoma.
        Pleroma = "pleroma",
        GoToSocial = "gotosocial",
        Friendica = "friendica",
        Firefish = "firefish",
        Pixelfed = "pixelfed",
        /// A minimal single-binary server with a Mastodon API layer.
        Snac = "snac",
        /// Takahē.
        Takahe = "takahe",
        /// Detect the software from the server at start.
        #[default]
        Auto = "auto",
    }
}

/// A fediverse target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FediverseTargetSettings {
    /// The `kind` written.
    #[serde(skip)]
    pub kind: ServerKind,
    /// Without a trailing slash, so paths can be appended.
    #[serde(deserialize_with = "values::base_url")]
    pub url: String,
    /// `token_file`, `token_env` or `token`.
    #[serde(alias = "token_file", alias = "token_env")]
    pub token: SecretSource,
    /// `timeout_seconds` (30): a write that times out is reconciled, never blindly sent
    /// again.
    #[serde(rename = "timeout_seconds", default = "values::default::seconds::<30>")]
    #[serde(deserialize_with = "values::seconds")]
    pub request_timeout: Duration,
    /// `profile_refresh_hours` (24): how long the server's limits are trusted.
    #[serde(
        rename = "profile_refresh_hours",
        default = "values::default::hours::<24>"
    )]
    #[serde(deserialize_with = "values::hours")]
    pub profile_refresh: chrono::Duration,
    /// The fraction of each rate-limit window a backfill may use, so live posts find room.
    #[serde(default = "backfill_share", deserialize_with = "values::share")]
    pub backfill_share: f64,
    /// Overrides the route's `review` for posts to this target.
    #[serde(default)]
    pub review: Option<ReviewPolicy>,
}

/// `backfill_share` when not given, for a fediverse or an X target.
fn backfill_share() -> f64 {
    0.8
}

/// `kind = "dry-run"`: writes what it would post; emulates a server with these limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunTargetSettings {
    /// `"-"` for stdout (the default), or a `.jsonl` path resolved against the configuration
    /// file's folder.
    #[serde(
        default = "DryRunTargetSettings::stdout",
        deserialize_with = "values::output"
    )]
    pub output: String,
    /// Mastodon's 500 when not given.
    #[serde(default = "values::default::count::<500>")]
    #[serde(deserialize_with = "values::at_least_one")]
    pub max_characters: usize,
    #[serde(default = "values::default::count::<4>")]
    pub max_media_attachments: usize,
    /// What every URL counts for (23 when not given).
    #[serde(default = "values::default::count::<23>")]
    pub characters_reserved_per_url: usize,
    /// Characters per media description (1500 when not given).
    #[serde(default = "values::default::count::<1500>")]
    pub description_limit: usize,
    /// Overrides the route's `review` for posts to this target.
    #[serde(default)]
    pub review: Option<ReviewPolicy>,
}

impl DryRunTargetSettings {
    /// `output` when not given: standard output.
    pub const DEFAULT_OUTPUT: &'static str = "-";

    fn stdout() -> String {
        Self::DEFAULT_OUTPUT.to_owned()
    }
}

/// `kind = "x"`: an X account, posted to through X's write API with user-context
/// credentials (`docs/x-target.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XTargetSettings {
    /// Without a trailing slash.
    #[serde(
        default = "super::sources::x_api",
        deserialize_with = "values::base_url"
    )]
    pub api_url: String,
    /// The credentials' sources, after reading the keys below.
    #[serde(skip, default = "resolve::unread_x_credentials")]
    pub credentials: XCredentials,
    #[serde(alias = "consumer_key_file", alias = "consumer_key_env")]
    pub(super) consumer_key: Option<SecretSource>,
    #[serde(alias = "consumer_secret_file", alias = "consumer_secret_env")]
    pub(super) consumer_secret: Option<SecretSource>,
    #[serde(alias = "access_token_file", alias = "access_token_env")]
    pub(super) access_token: Option<SecretSource>,
    #[serde(alias = "access_token_secret_file", alias = "access_token_secret_env")]
    pub(super) access_token_secret: Option<SecretSource>,
    pub(super) oauth2_token_file: Option<String>,
    pub(super) client_id: Option<String>,
    #[serde(alias = "client_secret_file", alias = "client_secret_env")]
    pub(super) client_secret: Option<SecretSource>,
    /// Where X sends the person after approving (OAuth 2.0 `auth`); registered with the app.
    #[serde(
        default = "XTargetSettings::redirect",
        deserialize_with = "values::url"
    )]
    pub redirect_uri: String,
    /// The OAuth 2.0 authorisation page `auth` prints.
    #[serde(
        default = "XTargetSettings::authorize",
        deserialize_with = "values::url"
    )]
    pub authorize_url: String,
    #[serde(default)]
    pub cw: XWarnings,
    #[serde(default)]
    pub links: XLinks,
    #[serde(default)]
    pub quotes: XQuotes,
    /// US dollars per UTC day; `None`: no cap.
    #[serde(default, deserialize_with = "values::optional_price")]
    pub max_spend_per_day: Option<f64>,
    /// `timeout_seconds` (30): a post that times out is reconciled, never blindly sent
    /// again.
    #[serde(rename = "timeout_seconds", default = "values::default::seconds::<30>")]
    #[serde(deserialize_with = "values::seconds")]
    pub request_timeout: Duration,
    /// `media_processing_minutes` (10): how long a video may take X to process.
    #[serde(
        rename = "media_processing_minutes",
        default = "values::default::minutes::<10>"
    )]
    #[serde(deserialize_with = "values::minutes")]
    pub media_processing: chrono::Duration,
    /// The fraction of each rate-limit window a backfill may use.
    #[serde(default = "backfill_share", deserialize_with = "values::share")]
    pub backfill_share: f64,
    /// Overrides the route's `review` for posts to this target.
    #[serde(default)]
    pub review: Option<ReviewPolicy>,
}

impl XTargetSettings {
    /// `redirect_uri` when not given: a loopback address nothing answers on, from which the
    /// person copies the address (or the code in it) back to `auth`.
    fn redirect() -> String {
        "http://127.0.0.1:8723/callback".to_owned()
    }

    /// `authorize_url` when not given (X's documentation; its `OpenAPI` document names
    /// `https://api.x.com/2/oauth2/authorize` instead).
    fn authorize() -> String {
        "https://x.com/i/oauth2/authorize".to_owned()
    }
}

/// An X target's user-context credentials, as configured (read when the target is built).
#[derive(Debug, Clone)]
pub enum XCredentials {
    /// OAuth 1.0a: the app's consumer key and secret, the account's access token and
    /// secret. They do not expire.
    OAuth1 {
        /// `consumer_key*`.
        consumer_key: SecretSource,
        /// `consumer_secret*`.
        consumer_secret: SecretSource,
        /// `access_token*`.
        access_token: SecretSource,
        /// `access_token_secret*`.
        access_token_secret: SecretSource,
    },
    /// OAuth 2.0: a token file (`auth` writes it; refreshed tokens are written back) and
    /// the app's client.
    OAuth2 {
        /// `oauth2_token_file`, resolved against the configuration's folder.
        token_file: PathBuf,
        /// `client_id`.
        client_id: String,
        /// `client_secret*`, for a confidential client.
        client_secret: Option<SecretSource>,
    },
}

names! {
    /// `cw`: X has no content warnings.
    #[derive(Default)]
    pub enum XWarnings {
        /// The warning as the post's first line, `CW: ...` (the default).
        #[default]
        Prefix = "prefix",
        /// Posts with a warning are not mirrored (recorded as skipped, with the reason).
        Skip = "skip",
    }
}

names! {
    /// `links`: whether birdbridge adds links of its own to X posts (a post with a URL
    /// costs $0.20 instead of $0.015).
    #[derive(Default)]
    pub enum XLinks {
        /// As on any target (the default): the link back to the original, to a quoted post.
        #[default]
        Keep = "keep",
        /// None of birdbridge's own; the author's links stay.
        Drop = "drop",
    }
}

names! {
    /// `quotes`: how a quote of a mirrored post goes to X.
    #[derive(Default)]
    pub enum XQuotes {
        /// A post with the link to the quoted post (the default: self-serve plans cannot
        /// quote through the API since 2026-04-20).
        #[default]
        Link = "link",
        /// A native quote post (`quote_tweet_id`), for accounts whose plan allows it.
        Native = "native",
    }
}
