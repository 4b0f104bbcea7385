//! Configuration: `bridge.toml` layered under `BIRDBRIDGE__...` environment variables, read
//! into typed settings. Secrets are wrapped so they never print.
//!
//! Every key is written once, as a field of the settings types: their serde derives say what
//! each table accepts (nothing else), which keys are required, the defaults, and the reader
//! in [`values`] that checks or converts a value. What a key means for the operator is
//! written once too, in `bridge.toml.example`, which a test holds to these types.
//!
//! Loading goes in three steps: the `config` crate reads the file and then the environment
//! (so the environment wins, as systemd's `Environment=` should); [`de`] reads the merged
//! tree into the types, naming the key, the file and any variable in every error (a
//! secret's three keys, `token`, `token_file` and `token_env`, are one field, which lists the
//! other two as its aliases); and [`resolve`] does what needs the whole file (paths against
//! its folder, an X target's credentials from its keys, routes against the sources and
//! targets they name). [`Settings::offline_findings`] then looks at what the settings point
//! at on this machine, for the `check` command.
//!
//! The settings types' `Deserialize` impls are that loader's: read through another
//! deserializer, a secret's keys are not gathered, relative paths stay unresolved and routes
//! unchecked.

/// A closed set of names one key takes (`visibility = "unlisted"`): the enum, read by its
/// names, with `ALL` in the order error messages list them and `as_str` for the name.
macro_rules! names {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every value, in the order error messages list them.
            pub const ALL: [Self; [$($text),*].len()] = [$(Self::$variant),*];

            /// The name in `bridge.toml`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

mod check;
mod de;
mod error;
mod resolve;
mod route;
mod secret;
mod sources;
mod targets;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use check::Finding;
pub use error::ConfigError;
pub use route::{
    AltTextPolicy, ContentWarningRule, DeletesPolicy, ReplyPolicy, RepostPolicy, ReviewPolicy,
    RouteSettings, Visibility,
};
pub use secret::{Secret, SecretSource};
pub use sources::{
    ArchiveSourceSettings, FediverseSourceSettings, FeedSourceSettings, MissingMedia,
    SourceSettings, StartAt, XSourceSettings,
};
pub use targets::{
    DryRunTargetSettings, FediverseTargetSettings, ServerKind, TargetSettings, XCredentials,
    XLinks, XQuotes, XTargetSettings, XWarnings,
};

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

/// Everything `bridge.toml` says, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The file the settings came from (for messages).
    #[serde(skip)]
    pub file: PathBuf,
    /// The keys of the secrets the file itself writes inline, for the warnings.
    #[serde(skip)]
    inline_in_file: Vec<String>,
    #[serde(default)]
    pub ledger: LedgerSettings,
    /// `None` (no `[metrics]` table) serves nothing.
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
    /// `None` (no `[desk]` table): no desk is served.
    #[serde(default)]
    pub desk: Option<DeskSettings>,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSettings>,
    #[serde(default)]
    pub targets: BTreeMap<String, TargetSettings>,
    /// At least one, each naming existing sources and targets.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteSettings>,
}

/// `[metrics]`: the metrics and health endpoint of `run`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The address `/metrics` and `/healthz` are served on.
    #[serde(deserialize_with = "values::listen")]
    pub listen: std::net::SocketAddr,
}

/// `[desk]`: the review page (`birdbridge desk`, and `run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskSettings {
    /// The address the page is served on; loopback by default.
    #[serde(
        default = "DeskSettings::loopback",
        deserialize_with = "values::listen"
    )]
    pub listen: std::net::SocketAddr,
    /// The desk password, from `password_file` after reading (as tokens are).
    #[serde(skip, default = "resolve::unread_password")]
    pub password: SecretSource,
    pub(crate) password_file: Option<String>,
}

impl DeskSettings {
    /// `listen` when not given.
    fn loopback() -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], 8089))
    }
}

/// `[ledger]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettings {
    /// The `SQLite` file, resolved against the configuration file's folder;
    /// [`LedgerSettings::default_path`] when the file does not say.
    #[serde(default, deserialize_with = "values::path")]
    pub path: PathBuf,
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
        let from_env = de::FromEnv::default();
        let settings = Settings::deserialize(de::Node::root(merged.cache, &from_env))
            .map_err(|err| err.into_config(path))?;
        let context = resolve::Context {
            file: path,
            dir,
            default_ledger,
            from_env: from_env.into_inner(),
        };
        let settings = resolve::finish(settings, &context)?;
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
