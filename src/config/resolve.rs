//! What reading each value alone cannot do, done on the whole settings: relative paths
//! resolved against the configuration file's folder, an X target's credentials made from
//! its keys, the default ledger, and routes checked against what they name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::de::join_key;
use super::error::hint;
use super::{ConfigError, RouteSettings, SecretSource, Settings, SourceSettings};
use super::{DryRunTargetSettings, TargetSettings, XCredentials, XTargetSettings};

/// What the desk's `password` holds from reading its table until [`finish`] sets it.
pub(super) fn unread_password() -> SecretSource {
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
    for source in settings.sources.values_mut() {
        match source {
            SourceSettings::X(x) => x.token.in_dir(cx.dir),
            SourceSettings::Fediverse(f) => f.token.in_dir(cx.dir),
            SourceSettings::Archive(archive) => archive.path = cx.dir.join(&archive.path),
            SourceSettings::Feed(_) => {}
        }
    }
    for (name, target) in &mut settings.targets {
        match target {
            TargetSettings::Fediverse(fedi) => fedi.token.in_dir(cx.dir),
            // The value was a string, so only a non-UTF-8 configuration folder could make the
            // joined path lossy; such a folder would be named wrongly in output only.
            TargetSettings::DryRun(dry_run)
                if dry_run.output != DryRunTargetSettings::DEFAULT_OUTPUT =>
            {
                dry_run.output = cx.dir.join(&dry_run.output).to_string_lossy().into_owned();
            }
            TargetSettings::DryRun(_) => {}
            TargetSettings::X(x) => {
                x.credentials = cx.x_credentials(&join_key("targets", name), x)?;
            }
        }
    }
    settings.inline_in_file = inline_in_file(&settings, cx);
    for key in &settings.inline_in_file {
        let name = key.rsplit('.').next().unwrap_or(key);
        tracing::warn!(
            key = %key,
            "{name} written in the configuration file; prefer {name}_file or {name}_env"
        );
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

/// The keys of the inline secrets the file itself writes: an inline secret may come from
/// the environment instead.
fn inline_in_file(settings: &Settings, cx: &Context<'_>) -> Vec<String> {
    let sources = settings
        .sources
        .iter()
        .map(|(name, s)| (join_key("sources", name), s.secrets()));
    let targets = settings
        .targets
        .iter()
        .map(|(name, t)| (join_key("targets", name), t.secrets()));
    sources
        .chain(targets)
        .flat_map(|(table, secrets)| {
            secrets
                .into_iter()
                .filter(|(_, secret)| matches!(secret, SecretSource::Inline(_)))
                .map(move |(name, secret)| secret.key(&table, name))
        })
        .filter(|key| !cx.from_env.contains_key(key))
        .collect()
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

    /// An X target's credentials: the four OAuth 1.0a keys, or an OAuth 2.0 token file with
    /// the app's client id (and, for a confidential client, its secret); never both.
    fn x_credentials(
        &self,
        table: &str,
        x: &mut XTargetSettings,
    ) -> Result<XCredentials, ConfigError> {
        let mut oauth1 = [
            ("consumer_key", x.consumer_key.take()),
            ("consumer_secret", x.consumer_secret.take()),
            ("access_token", x.access_token.take()),
            ("access_token_secret", x.access_token_secret.take()),
        ];
        let mut client_secret = x.client_secret.take();
        let secrets = oauth1
            .iter_mut()
            .map(|(_, s)| s)
            .chain([&mut client_secret]);
        secrets.flatten().for_each(|secret| secret.in_dir(self.dir));
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
        let [consumer_key, consumer_secret, access_token, access_token_secret] =
            oauth1.map(|(name, secret)| {
                secret
                    .ok_or_else(|| ConfigError::missing_secret(self.file.to_path_buf(), key(name)))
            });
        Ok(XCredentials::OAuth1 {
            consumer_key: consumer_key?,
            consumer_secret: consumer_secret?,
            access_token: access_token?,
            access_token_secret: access_token_secret?,
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
