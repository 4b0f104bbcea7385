//! Configuration: `bridge.toml` layered under `BIRDBRIDGE__...` environment variables,
//! validated into typed settings. Secrets are wrapped so they never print.
//!
//! SKELETON: bodies to be written (helper: config).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/birdbridge/bridge.toml";

/// The example configuration, embedded so `check --example` can print it and tests can load it.
pub const EXAMPLE_CONFIG: &str = include_str!("../bridge.toml.example");

/// Everything `bridge.toml` says, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from (for messages).
    pub file: PathBuf,
    /// The ledger database.
    pub ledger: LedgerSettings,
    /// Named sources.
    pub sources: BTreeMap<String, SourceSettings>,
    /// Named targets.
    pub targets: BTreeMap<String, TargetSettings>,
    /// Named routes.
    pub routes: BTreeMap<String, RouteSettings>,
}

/// `[ledger]`.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// SQLite file path.
    pub path: PathBuf,
}

/// `[sources.NAME]`.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// `kind = "x"`.
    X(XSourceSettings),
    /// `kind = "archive"`.
    Archive(ArchiveSourceSettings),
    /// `kind = "feed"`.
    Feed(FeedSourceSettings),
}

/// `kind = "x"` source.
#[derive(Debug, Clone)]
pub struct XSourceSettings {
    /// Account handle.
    pub username: String,
    /// Bearer or user token.
    pub token: SecretSource,
    /// Cron expression with a seconds field.
    pub schedule: String,
    /// API base URL.
    pub api_url: String,
}

/// `kind = "archive"` source.
#[derive(Debug, Clone)]
pub struct ArchiveSourceSettings {
    /// A `.zip` or an unpacked folder.
    pub path: PathBuf,
}

/// `kind = "feed"` source.
#[derive(Debug, Clone)]
pub struct FeedSourceSettings {
    /// Feed URL.
    pub url: String,
    /// Cron expression with a seconds field.
    pub schedule: String,
}

/// The server kinds a fediverse target can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Mastodon,
    Pleroma,
    GoToSocial,
    Friendica,
    Firefish,
    Pixelfed,
    Auto,
}

/// `[targets.NAME]`.
#[derive(Debug, Clone)]
pub enum TargetSettings {
    /// A real server.
    Fediverse(FediverseTargetSettings),
    /// `kind = "dry-run"`.
    DryRun(DryRunTargetSettings),
}

/// A fediverse target.
#[derive(Debug, Clone)]
pub struct FediverseTargetSettings {
    pub kind: ServerKind,
    pub url: String,
    pub token: SecretSource,
}

/// `kind = "dry-run"` target: writes what it would post; emulates a server with these limits.
#[derive(Debug, Clone)]
pub struct DryRunTargetSettings {
    /// `"-"` for stdout or a `.jsonl` path.
    pub output: String,
    pub max_characters: usize,
    pub max_media_attachments: usize,
    pub characters_reserved_per_url: usize,
    pub description_limit: usize,
}

/// Post visibility on the fediverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Unlisted,
    Private,
    Direct,
}

/// `[routes.NAME]`.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub source: String,
    pub targets: Vec<String>,
    pub visibility: Visibility,
}

/// Where a secret comes from; loaded only when needed, so `check` can report each one.
#[derive(Clone)]
pub enum SecretSource {
    Inline(Secret),
    File(PathBuf),
    Env(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
    }
}

/// A token. `Debug` and `Display` print `[redacted]`.
#[derive(Clone)]
pub struct Secret(String);

/// Configuration errors; each names the file and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("todo")]
    Todo,
}

impl Settings {
    /// Loads `path`, then applies `BIRDBRIDGE__...` overrides from the environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        todo!()
    }
}
impl ServerKind {
    pub fn as_str(self) -> &'static str {
        todo!()
    }
}
impl Visibility {
    pub fn as_str(self) -> &'static str {
        todo!()
    }
}
pub struct Finding {
    pub key: String,
    pub problem: String,
}
impl Settings {
    pub fn offline_findings(&self) -> Vec<Finding> {
        todo!()
    }
}
