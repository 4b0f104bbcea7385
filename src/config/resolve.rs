//! What reading each value alone cannot do, done on the whole settings: relative paths
//! resolved against the configuration file's folder, the three token keys made one
//! [`SecretSource`], the default ledger, and routes checked against what they name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::de::join_key;
use super::error::hint;
use super::{ConfigError, RouteSettings, Secret, SecretSource, Settings, SourceSettings};
use super::{DryRunTargetSettings, TargetSettings};

/// What `token` holds from reading a table until [`finish`] sets it from the token keys.
pub(super) fn unread_token() -> SecretSource {
    SecretSource::Env(String::new())
}

/// What finishing needs besides the settings.
#[derive(Debug)]
pub(super) struct Context<'a> {
    /// The configuration file, as the caller named it (for messages).
    pub(super) file: &'a Path,
    /// The folder relative paths are resolved against.
    pub(super) dir: &'a Path,
    /// `[ledger] path` when the file does not give one.
    pub(super) default_ledger: PathBuf,
    /// The variables that set values, by key.
    pub(super) from_env: BTreeMap<String, String>,
}

/// Completes and checks settings read from the tree.
pub(super) fn finish(mut settings: Settings, cx: &Context<'_>) -> Result<Settings, ConfigError> {
    settings.file = cx.file.to_path_buf();
    let ledger = &mut settings.ledger.path;
    *ledger = if ledger.as_os_str().is_empty() {
        cx.default_ledger.clone()
    } else {
        cx.dir.join(&ledger)
    };
    for (name, source) in &mut settings.sources {
        let table = join_key("sources", name);
        match source {
            SourceSettings::X(x) => {
                x.token = cx.secret(
                    &table,
                    x.inline_token.take(),
                    x.token_file.take(),
                    x.token_env.take(),
                )?;
            }
            SourceSettings::Archive(archive) => archive.path = cx.dir.join(&archive.path),
            SourceSettings::Feed(_) => {}
        }
    }
    for (name, target) in &mut settings.targets {
        let table = join_key("targets", name);
        match target {
            TargetSettings::Fediverse(fedi) => {
                fedi.token = cx.secret(
                    &table,
                    fedi.inline_token.take(),
                    fedi.token_file.take(),
                    fedi.token_env.take(),
                )?;
            }
            // The value was a string, so only a non-UTF-8 configuration folder could make the
            // joined path lossy; such a folder would be named wrongly in output only.
            TargetSettings::DryRun(dry_run)
                if dry_run.output != DryRunTargetSettings::DEFAULT_OUTPUT =>
            {
                dry_run.output = cx.dir.join(&dry_run.output).to_string_lossy().into_owned();
            }
            TargetSettings::DryRun(_) => {}
        }
    }
    if let Some(desk) = &mut settings.desk {
        let key = join_key("desk", "password_file");
        match desk.password_file.take().filter(|f| !f.trim().is_empty()) {
            Some(file) => desk.password = SecretSource::File(cx.dir.join(file)),
            None => {
                return Err(ConfigError::MissingKey {
                    file: cx.file.to_path_buf(),
                    key,
                    alternatives: Vec::new(),
                })
            }
        }
    }
    if settings.routes.is_empty() {
        let problem = "no routes: add a [routes.NAME] table joining a source to its targets";
        return Err(cx.invalid("routes", problem.to_owned()));
    }
    for (name, route) in &settings.routes {
        cx.check_route(&join_key("routes", name), route, &settings)?;
    }
    Ok(settings)
}

impl Context<'_> {
    fn invalid(&self, key: &str, problem: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_owned(),
            env: self.from_env.get(key).cloned(),
            problem,
        }
    }

    /// Exactly one of `token_file`, `token_env`, `token`.
    fn secret(
        &self,
        table: &str,
        inline: Option<Secret>,
        file: Option<String>,
        env: Option<String>,
    ) -> Result<SecretSource, ConfigError> {
        let key = |name: &str| join_key(table, name);
        let given: Vec<(&str, &str)> = [
            ("token_file", file.as_deref()),
            ("token_env", env.as_deref()),
            ("token", inline.as_ref().map(Secret::expose)),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
        if let [(first, _), (second, _), ..] = given[..] {
            return Err(ConfigError::Conflict {
                file: self.file.to_path_buf(),
                key: key(first),
                other: key(second),
            });
        }
        // An empty value is a mistake in any form; for `token` the message must not echo it,
        // and an empty one has nothing to echo.
        if let Some((name, _)) = given.iter().find(|(_, value)| value.trim().is_empty()) {
            return Err(self.invalid(&key(name), "must not be empty".to_owned()));
        }
        Ok(match (file, env, inline) {
            (Some(file), _, _) => SecretSource::File(self.dir.join(file)),
            (_, Some(env), _) => SecretSource::Env(env),
            (_, _, Some(inline)) => {
                if !self.from_env.contains_key(&key("token")) {
                    tracing::warn!(
                        key = %key("token"),
                        "token written in the configuration file; prefer token_file or token_env"
                    );
                }
                SecretSource::Inline(inline)
            }
            (None, None, None) => {
                return Err(ConfigError::MissingKey {
                    file: self.file.to_path_buf(),
                    key: key("token_file"),
                    alternatives: vec![key("token_env"), key("token")],
                })
            }
        })
    }

    /// The route's source and targets exist, and no target is named twice.
    fn check_route(
        &self,
        table: &str,
        route: &RouteSettings,
        settings: &Settings,
    ) -> Result<(), ConfigError> {
        if !settings.sources.contains_key(&route.source) {
            let hint = hint(&route.source, settings.sources.keys().map(String::as_str));
            let problem = format!("no source named `{}`{hint}", route.source);
            return Err(self.invalid(&join_key(table, "source"), problem));
        }
        let key = join_key(table, "targets");
        if route.targets.is_empty() {
            return Err(self.invalid(&key, "lists no targets; name at least one".to_owned()));
        }
        for (index, target) in route.targets.iter().enumerate() {
            let problem = if !settings.targets.contains_key(target) {
                let hint = hint(target, settings.targets.keys().map(String::as_str));
                format!("no target named `{target}`{hint}")
            } else if route.targets[..index].contains(target) {
                format!("target `{target}` is listed twice")
            } else {
                continue;
            };
            return Err(self.invalid(&format!("{key}[{index}]"), problem));
        }
        Ok(())
    }
}
