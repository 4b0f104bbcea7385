//! What reading each value alone cannot do, done on the whole settings: relative paths
//! resolved against the configuration file's folder, the three token keys made one
//! [`SecretSource`], the default ledger, and routes checked against what they name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::de::join_key;
use super::error::hint;
use super::{ConfigError, RouteSettings, Secret, SecretSource, Settings, SourceSettings};
use super::{DryRunTargetSettings, TargetSettings, XCredentials, XTargetSettings};

/// What `token` holds from reading a table until [`finish`] sets it from the token keys.
pub(super) fn unread_token() -> SecretSource {
    SecretSource::Env(String::new())
}

/// What an X target's credentials are from reading its table until [`finish`] sets them.
pub(super) fn unread_x_credentials() -> XCredentials {
    XCredentials::OAuth2 {
        token_file: PathBuf::new(),
        client_id: String::new(),
        client_secret: None,
    }
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
            SourceSettings::Fediverse(f) => {
                f.token = cx.secret(
                    &table,
                    f.inline_token.take(),
                    f.token_file.take(),
                    f.token_env.take(),
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
            TargetSettings::X(x) => x.credentials = cx.x_credentials(&table, x)?,
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
        self.optional_secret(table, "token", inline, file, env)?
            .ok_or_else(|| self.missing_secret(table, "token"))
    }

    /// At most one of `NAME_file`, `NAME_env`, `NAME`; `None` when none is given.
    fn optional_secret(
        &self,
        table: &str,
        name: &str,
        inline: Option<Secret>,
        file: Option<String>,
        env: Option<String>,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let key = |suffix: &str| join_key(table, &format!("{name}{suffix}"));
        let given: Vec<(String, &str)> = [
            (key("_file"), file.as_deref()),
            (key("_env"), env.as_deref()),
            (key(""), inline.as_ref().map(Secret::expose)),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .collect();
        if let [(first, _), (second, _), ..] = &given[..] {
            return Err(ConfigError::Conflict {
                file: self.file.to_path_buf(),
                key: first.clone(),
                other: second.clone(),
            });
        }
        // An empty value is a mistake in any form; for an inline secret the message must not
        // echo it, and an empty one has nothing to echo.
        if let Some((key, _)) = given.iter().find(|(_, value)| value.trim().is_empty()) {
            return Err(self.invalid(key, "must not be empty".to_owned()));
        }
        Ok(match (file, env, inline) {
            (Some(file), _, _) => Some(SecretSource::File(self.dir.join(file))),
            (_, Some(env), _) => Some(SecretSource::Env(env)),
            (_, _, Some(inline)) => {
                if !self.from_env.contains_key(&key("")) {
                    tracing::warn!(
                        key = %key(""),
                        "{name} written in the configuration file; prefer {name}_file or {name}_env"
                    );
                }
                Some(SecretSource::Inline(inline))
            }
            (None, None, None) => None,
        })
    }

    /// None of `NAME_file`, `NAME_env`, `NAME` was given.
    fn missing_secret(&self, table: &str, name: &str) -> ConfigError {
        let key = |suffix: &str| join_key(table, &format!("{name}{suffix}"));
        ConfigError::MissingKey {
            file: self.file.to_path_buf(),
            key: key("_file"),
            alternatives: vec![key("_env"), key("")],
        }
    }

    /// An X target's credentials: the four OAuth 1.0a keys, or an OAuth 2.0 token file with
    /// the app's client id (and, for a confidential client, its secret); never both.
    fn x_credentials(
        &self,
        table: &str,
        x: &mut XTargetSettings,
    ) -> Result<XCredentials, ConfigError> {
        let mut oauth1 = Vec::new();
        for (name, inline, file, env) in [
            (
                "consumer_key",
                x.consumer_key.take(),
                x.consumer_key_file.take(),
                x.consumer_key_env.take(),
            ),
            (
                "consumer_secret",
                x.consumer_secret.take(),
                x.consumer_secret_file.take(),
                x.consumer_secret_env.take(),
            ),
            (
                "access_token",
                x.access_token.take(),
                x.access_token_file.take(),
                x.access_token_env.take(),
            ),
            (
                "access_token_secret",
                x.access_token_secret.take(),
                x.access_token_secret_file.take(),
                x.access_token_secret_env.take(),
            ),
        ] {
            oauth1.push((name, self.optional_secret(table, name, inline, file, env)?));
        }
        let client_secret = self.optional_secret(
            table,
            "client_secret",
            x.client_secret.take(),
            x.client_secret_file.take(),
            x.client_secret_env.take(),
        )?;
        let key = |name: &str| join_key(table, name);
        if let Some(token_file) = x.oauth2_token_file.take() {
            if let Some((name, _)) = oauth1.iter().find(|(_, s)| s.is_some()) {
                return Err(ConfigError::Conflict {
                    file: self.file.to_path_buf(),
                    key: key("oauth2_token_file"),
                    other: key(name),
                });
            }
            if token_file.trim().is_empty() {
                return Err(self.invalid(&key("oauth2_token_file"), "must not be empty".to_owned()));
            }
            let client_id = x
                .client_id
                .take()
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| ConfigError::MissingKey {
                    file: self.file.to_path_buf(),
                    key: key("client_id"),
                    alternatives: Vec::new(),
                })?;
            return Ok(XCredentials::OAuth2 {
                token_file: self.dir.join(token_file),
                client_id,
                client_secret,
            });
        }
        if x.client_id.is_some() || client_secret.is_some() {
            let problem =
                "is for OAuth 2.0: set `oauth2_token_file` too, or use the OAuth 1.0a keys alone";
            let name = if x.client_id.is_some() {
                "client_id"
            } else {
                "client_secret"
            };
            return Err(self.invalid(&key(name), problem.to_owned()));
        }
        let mut sources = Vec::new();
        for (name, source) in oauth1 {
            match source {
                Some(s) => sources.push(s),
                None => return Err(self.missing_secret(table, name)),
            }
        }
        let [consumer_key, consumer_secret, access_token, access_token_secret] =
            <[SecretSource; 4]>::try_from(sources).unwrap_or_else(|_| unreachable!("four keys"));
        Ok(XCredentials::OAuth1 {
            consumer_key,
            consumer_secret,
            access_token,
            access_token_secret,
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
