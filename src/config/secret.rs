//! Secrets: where a token comes from ([`SecretSource`]) and the token itself ([`Secret`]),
//! both with a `Debug` that never shows the token, so settings can be logged whole.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::de::join_key;
use super::{values, ConfigError};

/// Where a secret comes from; loaded only when needed, so `check` can report each one.
///
/// A settings field of this type is read from whichever of its three keys is given (`token`,
/// `token_file`, `token_env`), which the field lists as its aliases; the configuration
/// reader refuses two of them, and names all three when none is given.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// `token = "..."` in the file (discouraged: the file becomes a secret too).
    Inline(#[serde(deserialize_with = "values::inline_secret")] Secret),
    /// `token_file`: a file holding the token, such as a systemd credential. The path is
    /// resolved against the configuration file's folder.
    File(#[serde(deserialize_with = "values::not_blank")] PathBuf),
    /// `token_env`: the name of an environment variable holding the token.
    Env(#[serde(deserialize_with = "values::not_blank")] String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(secret) => f.debug_tuple("Inline").field(secret).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
            SecretSource::Env(variable) => f.debug_tuple("Env").field(variable).finish(),
        }
    }
}

impl SecretSource {
    /// The key this secret was given under in `table`: `NAME`, `NAME_file` or `NAME_env`.
    pub(super) fn key(&self, table: &str, name: &str) -> String {
        let suffix = match self {
            SecretSource::Inline(_) => "",
            SecretSource::File(_) => "_file",
            SecretSource::Env(_) => "_env",
        };
        join_key(table, &format!("{name}{suffix}"))
    }

    /// Resolves a file's path against `dir`, the configuration file's folder.
    pub(super) fn in_dir(&mut self, dir: &Path) {
        if let SecretSource::File(path) = self {
            *path = dir.join(&*path);
        }
    }

    /// Reads the secret now: the file's content or the variable's value, with surrounding
    /// whitespace (the trailing newline editors add) removed. `key` names the setting in
    /// errors, e.g. `targets.wikis-world`; errors name the file or the variable too, never
    /// the content.
    ///
    /// # Errors
    /// [`ConfigError::SecretFile`] when the file cannot be read, [`ConfigError::SecretEnv`]
    /// when the variable is unset or not Unicode, [`ConfigError::SecretEmpty`] when what was
    /// read is empty.
    pub fn load(&self, key: &str) -> Result<Secret, ConfigError> {
        let (raw, from) = match self {
            SecretSource::Inline(secret) => return Ok(secret.clone()),
            SecretSource::File(path) => {
                let raw =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
                        key: key.to_owned(),
                        path: path.clone(),
                        source,
                    })?;
                (raw, format!("file {}", path.display()))
            }
            SecretSource::Env(variable) => {
                let raw = std::env::var(variable).map_err(|err| ConfigError::SecretEnv {
                    key: key.to_owned(),
                    variable: variable.clone(),
                    problem: match err {
                        std::env::VarError::NotPresent => "not set",
                        std::env::VarError::NotUnicode(_) => "not valid Unicode",
                    },
                })?;
                (raw, format!("environment variable `{variable}`"))
            }
        };
        let token = raw.trim();
        if token.is_empty() {
            return Err(ConfigError::SecretEmpty {
                key: key.to_owned(),
                from,
            });
        }
        Ok(Secret(token.to_owned()))
    }
}

/// A token. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl From<String> for Secret {
    fn from(token: String) -> Self {
        Secret(token)
    }
}

impl Secret {
    /// Wraps a token obtained elsewhere (e.g. by `auth`).
    pub fn new(token: impl Into<String>) -> Self {
        Secret(token.into())
    }

    /// The token itself, for the one place that sends it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
