//! `[targets.NAME]`: one variant per kind of target, each holding the keys of that kind. The
//! server kinds (`mastodon`, ..., `auto`) share one variant and keep which was written. What
//! each key means for the operator is written in `bridge.toml.example`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, EnumAccess, VariantAccess, Visitor};
use serde::Deserialize;

use super::{resolve, values, ReviewPolicy, Secret, SecretSource};

/// `[targets.NAME]`, by `kind`.
#[derive(Debug, Clone)]
pub enum TargetSettings {
    /// A real server: `kind` is one of [`ServerKind`].
    Fediverse(FediverseTargetSettings),
    /// `kind = "dry-run"`.
    DryRun(DryRunTargetSettings),
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
        }
    }
}

/// The `kind` of a dry run.
const DRY_RUN: &str = "dry-run";

/// The `kind`s that are not a server's software, each with its own variant.
const OTHER_KINDS: [&str; 1] = [DRY_RUN];

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
    /// From `token_file`, `token_env` or `token`, after reading.
    #[serde(skip, default = "resolve::unread_token")]
    pub token: SecretSource,
    #[serde(rename = "token")]
    pub(super) inline_token: Option<Secret>,
    pub(super) token_file: Option<String>,
    pub(super) token_env: Option<String>,
    /// `timeout_seconds`: a write that times out is reconciled, never blindly sent again.
    #[serde(
        rename = "timeout_seconds",
        default = "FediverseTargetSettings::timeout"
    )]
    #[serde(deserialize_with = "values::seconds")]
    pub request_timeout: Duration,
    /// `profile_refresh_hours`: how long the server's limits are trusted.
    #[serde(
        rename = "profile_refresh_hours",
        default = "FediverseTargetSettings::refresh"
    )]
    #[serde(deserialize_with = "values::hours")]
    pub profile_refresh: chrono::Duration,
    /// The fraction of each rate-limit window a backfill may use, so live posts find room.
    #[serde(
        default = "FediverseTargetSettings::share",
        deserialize_with = "values::share"
    )]
    pub backfill_share: f64,
    /// Overrides the route's `review` for posts to this target.
    #[serde(default)]
    pub review: Option<ReviewPolicy>,
}

impl FediverseTargetSettings {
    /// `timeout_seconds` when not given.
    pub const DEFAULT_TIMEOUT_SECONDS: usize = 30;
    /// `profile_refresh_hours` when not given.
    pub const DEFAULT_PROFILE_REFRESH_HOURS: usize = 24;
    /// `backfill_share` when not given.
    pub const DEFAULT_BACKFILL_SHARE: f64 = 0.8;

    fn timeout() -> Duration {
        Duration::from_secs(Self::DEFAULT_TIMEOUT_SECONDS as u64)
    }

    #[expect(clippy::cast_possible_wrap, reason = "a small constant")]
    fn refresh() -> chrono::Duration {
        chrono::Duration::hours(Self::DEFAULT_PROFILE_REFRESH_HOURS as i64)
    }

    fn share() -> f64 {
        Self::DEFAULT_BACKFILL_SHARE
    }
}

/// `kind = "dry-run"`: writes what it would post; emulates a server with these limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunTargetSettings {
    /// `"-"` for stdout, or a `.jsonl` path resolved against the configuration file's folder.
    #[serde(
        default = "DryRunTargetSettings::stdout",
        deserialize_with = "values::output"
    )]
    pub output: String,
    #[serde(default = "values::count::<{ DryRunTargetSettings::DEFAULT_MAX_CHARACTERS }>")]
    #[serde(deserialize_with = "values::at_least_one")]
    pub max_characters: usize,
    #[serde(default = "values::count::<{ DryRunTargetSettings::DEFAULT_MAX_MEDIA_ATTACHMENTS }>")]
    pub max_media_attachments: usize,
    #[serde(
        default = "values::count::<{ DryRunTargetSettings::DEFAULT_CHARACTERS_RESERVED_PER_URL }>"
    )]
    pub characters_reserved_per_url: usize,
    #[serde(default = "values::count::<{ DryRunTargetSettings::DEFAULT_DESCRIPTION_LIMIT }>")]
    pub description_limit: usize,
    /// Overrides the route's `review` for posts to this target.
    #[serde(default)]
    pub review: Option<ReviewPolicy>,
}

impl DryRunTargetSettings {
    /// `output` when not given: standard output.
    pub const DEFAULT_OUTPUT: &'static str = "-";
    /// `max_characters` when not given (Mastodon's).
    pub const DEFAULT_MAX_CHARACTERS: usize = 500;
    /// `max_media_attachments` when not given.
    pub const DEFAULT_MAX_MEDIA_ATTACHMENTS: usize = 4;
    /// `characters_reserved_per_url` when not given: what every URL counts for.
    pub const DEFAULT_CHARACTERS_RESERVED_PER_URL: usize = 23;
    /// `description_limit` when not given: characters per media description.
    pub const DEFAULT_DESCRIPTION_LIMIT: usize = 1500;

    fn stdout() -> String {
        Self::DEFAULT_OUTPUT.to_owned()
    }
}
