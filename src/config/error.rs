//! [`ConfigError`], and the "did you mean" hints its messages give.

use std::path::PathBuf;

/// Configuration errors; each names the file and, where there is one, the key. Every variant
/// means "fix the configuration (or the secret it points at) and start again".
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read: fix `--config` or the file's permissions.
    #[error("{}: cannot read the configuration file: {source}", file.display())]
    Unreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML; `message` is the parser's, with the line and column.
    #[error("{}: invalid TOML: {message}", file.display())]
    Syntax { file: PathBuf, message: String },
    /// A `BIRDBRIDGE__...` environment variable cannot be used at all: fix or unset it.
    #[error("{}: environment variable `{variable}`: {problem}", file.display())]
    Environment {
        file: PathBuf,
        variable: String,
        problem: String,
    },
    /// A key no table of its kind accepts (`key` is the full path, e.g.
    /// `targets.preview.outptu`); `env` is the variable that set it, `hint` the accepted key
    /// it most resembles.
    #[error("{}: unknown key `{key}`{}{}", file.display(), set_by(env.as_deref()), did_you_mean(hint.as_deref()))]
    UnknownKey {
        file: PathBuf,
        key: String,
        env: Option<String>,
        hint: Option<String>,
    },
    /// A required key is absent; `alternatives` would do instead (the other token forms).
    #[error("{}: missing key `{key}`{}", file.display(), or_one_of(alternatives))]
    MissingKey {
        file: PathBuf,
        key: String,
        alternatives: Vec<String>,
    },
    /// A value has the wrong type or an unacceptable value (a bad URL, cron expression,
    /// kind, or a route naming a missing source): fix it as `problem` says. `env` is the
    /// variable that set it.
    #[error("{}: `{key}`{}: {problem}", file.display(), set_by(env.as_deref()))]
    Invalid {
        file: PathBuf,
        key: String,
        env: Option<String>,
        problem: String,
    },
    /// Two keys that exclude each other are both set (two token forms): keep one.
    #[error("{}: `{key}` and `{other}` are both set; give only one", file.display())]
    Conflict {
        file: PathBuf,
        key: String,
        other: String,
    },
    /// A `token_file` cannot be read: fix the path or its permissions (systemd
    /// `LoadCredential=`). `key` names the setting holding the secret, as the caller named it.
    #[error("`{key}`: cannot read the token file {}: {source}", path.display())]
    SecretFile {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `token_env` variable is unset or not Unicode (`problem` says which): set it in the
    /// service's environment.
    #[error("`{key}`: environment variable `{variable}` is {problem}")]
    SecretEnv {
        key: String,
        variable: String,
        problem: &'static str,
    },
    /// The secret is there but empty (only whitespace): put the token in it. `from` names
    /// the file or the variable.
    #[error("`{key}`: the token from {from} is empty")]
    SecretEmpty { key: String, from: String },
}

impl ConfigError {
    /// None of a secret's keys is given; `key` is the path of its inline key, `NAME`.
    pub(super) fn missing_secret(file: PathBuf, key: String) -> Self {
        ConfigError::MissingKey {
            file,
            key: format!("{key}_file"),
            alternatives: vec![format!("{key}_env"), key],
        }
    }
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

/// The candidate closest to `word` by edit distance (a swap counts once), if close enough to
/// be a plausible typo.
pub(super) fn nearest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::osa_distance(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2 && *distance < candidate.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// " (did you mean `x`?)" when one of `candidates` is a plausible typo of `word`.
pub(super) fn hint<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    did_you_mean(nearest(word, candidates))
}

/// "unknown visibility `friends`, expected one of `public`, ..." for a name outside a closed
/// set; `what` is the key's own name.
pub(super) fn unknown_name(what: &str, name: &str, expected: &[&str]) -> String {
    let listed: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
    format!(
        "unknown {what} `{name}`, expected one of {}{}",
        listed.join(", "),
        hint(name, expected.iter().copied())
    )
}
