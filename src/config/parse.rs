//! The merged configuration tree (file under environment) to typed [`Settings`], one table
//! at a time. Each table is read by kind: `kind` first, then the table is held to that kind's
//! key list from [`keys`], so an unknown key is reported as such (with the nearest accepted
//! key) instead of as a missing one. Every error carries the full key path and, for values
//! that came from the environment, the variable that set them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use config::{Value, ValueKind};

use super::{
    keys, AltTextPolicy, ArchiveSourceSettings, ConfigError, ContentWarningRule,
    DryRunTargetSettings, FediverseTargetSettings, FeedSourceSettings, LedgerSettings, ReplyPolicy,
    RepostPolicy, RouteSettings, Secret, SecretSource, ServerKind, Settings, SourceSettings,
    StartAt, TargetSettings, Visibility, XSourceSettings, ENV_PREFIX, ENV_SEPARATOR,
};

/// The origin the `config` crate gives every value read from the environment; values from
/// the file (read from a string) have none.
const ENV_ORIGIN: &str = "the environment";

/// The `kind` values of sources.
const SOURCE_KINDS: &[&str] = &["x", "archive", "feed"];

/// The `kind` value of the dry-run target (the others are [`ServerKind::as_str`]).
const DRY_RUN_KIND: &str = "dry-run";

/// What parsing needs besides the tree.
#[derive(Debug)]
pub(super) struct Context<'a> {
    /// The configuration file, as the caller named it (for messages).
    pub(super) file: &'a Path,
    /// The folder relative paths are resolved against.
    pub(super) dir: &'a Path,
    /// `[ledger] path` when the file does not give one.
    pub(super) default_ledger: PathBuf,
}

impl Context<'_> {
    fn resolve(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    fn invalid(&self, key: &str, env: Option<String>, problem: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_owned(),
            env,
            problem,
        }
    }
}

/// Turns the merged tree into settings, checking every key, value and cross-reference.
pub(super) fn settings(cx: &Context<'_>, root: Value) -> Result<Settings, ConfigError> {
    let mut top = Table::new(cx, String::new(), root)?;
    top.reject_unknown(keys::TOP)?;

    let ledger = match top.table("ledger")? {
        Some(mut table) => {
            table.reject_unknown(keys::LEDGER)?;
            LedgerSettings {
                path: table
                    .string("path")?
                    .map_or_else(|| cx.default_ledger.clone(), |path| cx.resolve(&path.value)),
            }
        }
        None => LedgerSettings {
            path: cx.default_ledger.clone(),
        },
    };

    let sources = top
        .named_tables("sources")?
        .into_iter()
        .map(|(name, table)| Ok((name, source(table)?)))
        .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
    let targets = top
        .named_tables("targets")?
        .into_iter()
        .map(|(name, table)| Ok((name, target(table)?)))
        .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
    let route_tables = top.named_tables("routes")?;
    if route_tables.is_empty() {
        return Err(cx.invalid(
            "routes",
            None,
            "no routes: add a [routes.NAME] table joining a source to its targets".to_owned(),
        ));
    }
    let routes = route_tables
        .into_iter()
        .map(|(name, table)| Ok((name, route(table, &sources, &targets)?)))
        .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;

    Ok(Settings {
        file: cx.file.to_path_buf(),
        ledger,
        sources,
        targets,
        routes,
    })
}

fn source(mut table: Table<'_>) -> Result<SourceSettings, ConfigError> {
    let kind = table.required_string("kind")?;
    match kind.value.as_str() {
        "x" => {
            table.reject_unknown(keys::X_SOURCE)?;
            let username = table.required_string("username")?;
            check_username(&username.value)
                .map_err(|problem| username.invalid(table.cx, problem))?;
            let token = table.secret()?;
            let schedule = table.schedule("schedule")?;
            let api_url = match table.string("api_url")? {
                Some(url) => {
                    base_url(&url.value).map_err(|problem| url.invalid(table.cx, problem))?
                }
                None => XSourceSettings::DEFAULT_API_URL.to_owned(),
            };
            let start = table.start(XSourceSettings::MAX_LATEST, true)?;
            let post_read_price =
                table.price("post_read_price", XSourceSettings::DEFAULT_POST_READ_PRICE)?;
            let user_read_price =
                table.price("user_read_price", XSourceSettings::DEFAULT_USER_READ_PRICE)?;
            let allow_private_media = table.flag("allow_private_media", false)?;
            Ok(SourceSettings::X(XSourceSettings {
                username: username.value,
                token,
                schedule,
                api_url,
                start,
                post_read_price,
                user_read_price,
                allow_private_media,
            }))
        }
        "archive" => {
            table.reject_unknown(keys::ARCHIVE_SOURCE)?;
            let path = table.required_path("path")?;
            Ok(SourceSettings::Archive(ArchiveSourceSettings { path }))
        }
        "feed" => {
            table.reject_unknown(keys::FEED_SOURCE)?;
            let url = table.required_string("url")?;
            check_http_url(&url.value).map_err(|problem| url.invalid(table.cx, problem))?;
            let schedule = table.schedule("schedule")?;
            let start = table.start(FeedSourceSettings::MAX_LATEST, false)?;
            let allow_private_media = table.flag("allow_private_media", false)?;
            Ok(SourceSettings::Feed(FeedSourceSettings {
                url: url.value,
                schedule,
                start,
                allow_private_media,
            }))
        }
        other => Err(kind.invalid(table.cx, unknown_kind(other, SOURCE_KINDS))),
    }
}

fn target(mut table: Table<'_>) -> Result<TargetSettings, ConfigError> {
    let kind = table.required_string("kind")?;
    if kind.value == DRY_RUN_KIND {
        table.reject_unknown(keys::DRY_RUN_TARGET)?;
        let output = match table.string("output")? {
            None => DryRunTargetSettings::DEFAULT_OUTPUT.to_owned(),
            Some(output) if output.value == "-" => output.value,
            Some(output) if output.value.is_empty() => {
                return Err(output.invalid(
                    table.cx,
                    "must not be empty; use \"-\" for standard output".to_owned(),
                ))
            }
            // The value was a string, so only a non-UTF-8 configuration folder could make the
            // joined path lossy; such a folder would be named wrongly in output only.
            Some(output) => table
                .cx
                .resolve(&output.value)
                .to_string_lossy()
                .into_owned(),
        };
        let max_characters = table.count(
            "max_characters",
            DryRunTargetSettings::DEFAULT_MAX_CHARACTERS,
        )?;
        if max_characters.value == 0 {
            return Err(max_characters.invalid(table.cx, "must be at least 1".to_owned()));
        }
        return Ok(TargetSettings::DryRun(DryRunTargetSettings {
            output,
            max_characters: max_characters.value,
            max_media_attachments: table
                .count(
                    "max_media_attachments",
                    DryRunTargetSettings::DEFAULT_MAX_MEDIA_ATTACHMENTS,
                )?
                .value,
            characters_reserved_per_url: table
                .count(
                    "characters_reserved_per_url",
                    DryRunTargetSettings::DEFAULT_CHARACTERS_RESERVED_PER_URL,
                )?
                .value,
            description_limit: table
                .count(
                    "description_limit",
                    DryRunTargetSettings::DEFAULT_DESCRIPTION_LIMIT,
                )?
                .value,
        }));
    }
    let Some(server) = ServerKind::ALL
        .into_iter()
        .find(|server| server.as_str() == kind.value)
    else {
        let mut kinds: Vec<&str> = ServerKind::ALL.iter().map(|kind| kind.as_str()).collect();
        kinds.push(DRY_RUN_KIND);
        return Err(kind.invalid(table.cx, unknown_kind(&kind.value, &kinds)));
    };
    table.reject_unknown(keys::FEDIVERSE_TARGET)?;
    let url = table.required_string("url")?;
    let url_value = base_url(&url.value).map_err(|problem| url.invalid(table.cx, problem))?;
    let token = table.secret()?;
    let timeout = table.count(
        "timeout_seconds",
        FediverseTargetSettings::DEFAULT_TIMEOUT_SECONDS,
    )?;
    if timeout.value == 0 {
        return Err(timeout.invalid(table.cx, "must be at least 1".to_owned()));
    }
    let refresh = table.count(
        "profile_refresh_hours",
        FediverseTargetSettings::DEFAULT_PROFILE_REFRESH_HOURS,
    )?;
    let share = table.fraction(
        "backfill_share",
        FediverseTargetSettings::DEFAULT_BACKFILL_SHARE,
    )?;
    Ok(TargetSettings::Fediverse(FediverseTargetSettings {
        kind: server,
        url: url_value,
        token,
        request_timeout: std::time::Duration::from_secs(
            u64::try_from(timeout.value).unwrap_or(u64::MAX),
        ),
        profile_refresh: chrono::Duration::hours(
            i64::try_from(refresh.value)
                .unwrap_or(i64::MAX)
                .min(24 * 365),
        ),
        backfill_share: share.value,
    }))
}

fn route(
    mut table: Table<'_>,
    sources: &BTreeMap<String, SourceSettings>,
    targets: &BTreeMap<String, TargetSettings>,
) -> Result<RouteSettings, ConfigError> {
    table.reject_unknown(keys::ROUTE)?;
    let source = table.required_string("source")?;
    if !sources.contains_key(&source.value) {
        let problem = format!(
            "no source named `{}`{}",
            source.value,
            hint_suffix(&source.value, sources.keys().map(String::as_str))
        );
        return Err(source.invalid(table.cx, problem));
    }
    let listed = table.string_list("targets")?;
    if listed.value.is_empty() {
        return Err(listed.invalid(table.cx, "lists no targets; name at least one".to_owned()));
    }
    let mut seen = BTreeSet::new();
    let mut route_targets = Vec::with_capacity(listed.value.len());
    for target in listed.value {
        if !targets.contains_key(&target.value) {
            let problem = format!(
                "no target named `{}`{}",
                target.value,
                hint_suffix(&target.value, targets.keys().map(String::as_str))
            );
            return Err(target.invalid(table.cx, problem));
        }
        if !seen.insert(target.value.clone()) {
            let problem = format!("target `{}` is listed twice", target.value);
            return Err(target.invalid(table.cx, problem));
        }
        route_targets.push(target.value);
    }
    let visibility = table.choice("visibility", &Visibility::ALL, Visibility::as_str)?;
    let mut settings = RouteSettings::with_defaults(&source.value, &[]);
    settings.targets = route_targets;
    if let Some(visibility) = visibility {
        settings.visibility = visibility;
    }
    route_policy(&mut table, &mut settings)?;
    Ok(settings)
}

/// The policy keys of a route (everything but `source`, `targets`, `visibility`), over the
/// defaults already in `settings`; this part reads threads and filters.
fn route_policy(table: &mut Table<'_>, settings: &mut RouteSettings) -> Result<(), ConfigError> {
    let cx = table.cx;
    if let Some(v) = table.choice(
        "continuation_visibility",
        &Visibility::ALL,
        Visibility::as_str,
    )? {
        settings.continuation_visibility = v;
    }
    if let Some(v) = table.boolean("numbering")? {
        settings.numbering = v;
    }
    if let Some(v) = table.choice("replies", &ReplyPolicy::ALL, ReplyPolicy::as_str)? {
        settings.replies = v;
    }
    if let Some(v) = table.choice("reposts", &RepostPolicy::ALL, RepostPolicy::as_str)? {
        settings.reposts = v;
    }
    if let Some(tags) = table.optional_string_list("opt_out_tags")? {
        settings.opt_out_tags = tags
            .into_iter()
            .map(|tag| hashtag(cx, &tag))
            .collect::<Result<_, _>>()?;
    }
    if let Some(tag) = table.string("opt_in_tag")? {
        settings.opt_in_tag = if tag.value.is_empty() {
            None
        } else {
            Some(hashtag(cx, &tag)?)
        };
    }
    let max_age = table.count("max_age_days", 0)?;
    settings.max_age_days = u32::try_from(max_age.value)
        .map_err(|_| max_age.invalid(cx, "is too large; 0 means no limit".to_owned()))?;
    route_warnings(table, settings)?;
    route_media_and_links(table, settings)
}

/// The content-warning keys of a route.
fn route_warnings(table: &mut Table<'_>, settings: &mut RouteSettings) -> Result<(), ConfigError> {
    let cx = table.cx;
    if let Some(label) = table.string("sensitive_label")? {
        if label.value.trim().is_empty() {
            return Err(label.invalid(
                cx,
                "must not be empty: sensitive posts need a content warning".to_owned(),
            ));
        }
        label.value.trim().clone_into(&mut settings.sensitive_label);
    }
    if let Some(rules) = table.table_list("content_warnings")? {
        settings.content_warnings = rules
            .into_iter()
            .map(content_warning_rule)
            .collect::<Result<_, _>>()?;
    }
    if let Some(v) = table.boolean("content_warning_first_line")? {
        settings.content_warning_first_line = v;
    }
    if let Some(label) = table.string("default_content_warning")? {
        let label = label.value.trim();
        settings.default_content_warning = (!label.is_empty()).then(|| label.to_owned());
    }
    Ok(())
}

/// The alt-text, link, mention and backfill keys of a route.
fn route_media_and_links(
    table: &mut Table<'_>,
    settings: &mut RouteSettings,
) -> Result<(), ConfigError> {
    let cx = table.cx;
    if let Some(v) = table.choice("alt_text", &AltTextPolicy::ALL, AltTextPolicy::as_str)? {
        settings.alt_text = v;
    }
    if let Some(template) = table.string("alt_text_fallback")? {
        if template.value.trim().is_empty() {
            return Err(template.invalid(
                cx,
                "must not be empty; to post without a description, set alt_text = \"omit\""
                    .to_owned(),
            ));
        }
        settings.alt_text_fallback = template.value;
    }
    if let Some(params) = table.optional_string_list("tracking_parameters")? {
        settings.tracking_parameters = params
            .into_iter()
            .map(|param| {
                let name = param.value.rsplit(':').next().unwrap_or_default();
                if name.is_empty() || name == "*" || param.value.contains(['=', '&', '?']) {
                    Err(param.invalid(
                        cx,
                        format!(
                            "`{}` is not a parameter name: write `name`, `prefix*` or `host:name`",
                            param.value
                        ),
                    ))
                } else {
                    Ok(param.value)
                }
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(v) = table.boolean("rewrite_own_links")? {
        settings.rewrite_own_links = v;
    }
    if let Some(map) = table.string_table("mention_map")? {
        settings.mention_map = map
            .into_iter()
            .map(|(handle, target)| {
                check_username(&handle.value).map_err(|problem| handle.invalid(cx, problem))?;
                if !is_fediverse_handle(&target.value) {
                    return Err(target.invalid(
                        cx,
                        format!(
                            "`{}` is not a fediverse handle: write \"@user@server.example\"",
                            target.value
                        ),
                    ));
                }
                Ok((handle.value.to_ascii_lowercase(), target.value))
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(line) = table.string("backfill_date_line")? {
        settings.backfill_date_line = (!line.value.trim().is_empty()).then_some(line.value);
    }
    if let Some(v) = table.boolean("backfill_link")? {
        settings.backfill_link = v;
    }
    Ok(())
}

/// One `content_warnings` entry: `{ label = "...", match = ["word", "#tag"] }`.
fn content_warning_rule(mut table: Table<'_>) -> Result<ContentWarningRule, ConfigError> {
    table.reject_unknown(keys::CONTENT_WARNING_RULE)?;
    let label = table.required_string("label")?;
    if label.value.trim().is_empty() {
        return Err(label.invalid(table.cx, "must not be empty".to_owned()));
    }
    let listed = table.string_list("match")?;
    if listed.value.is_empty() {
        return Err(listed.invalid(
            table.cx,
            "lists nothing to match; give words or #tags".to_owned(),
        ));
    }
    let mut matches = Vec::with_capacity(listed.value.len());
    for word in listed.value {
        let bare = word.value.strip_prefix('#').unwrap_or(&word.value);
        if bare.is_empty() || word.value.chars().any(char::is_whitespace) {
            return Err(word.invalid(
                table.cx,
                format!(
                    "`{}` is not a word or #tag (one word each; no spaces)",
                    word.value
                ),
            ));
        }
        matches.push(word.value.to_lowercase());
    }
    Ok(ContentWarningRule {
        label: label.value.trim().to_owned(),
        matches,
    })
}

/// A hashtag as a route names it: `#` optional, stored lower case without it.
fn hashtag(cx: &Context<'_>, tag: &Field<String>) -> Result<String, ConfigError> {
    let bare = tag.value.strip_prefix('#').unwrap_or(&tag.value);
    if bare.is_empty() || !bare.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(tag.invalid(
            cx,
            format!(
                "`{}` is not a hashtag: letters, digits or underscores",
                tag.value
            ),
        ));
    }
    Ok(bare.to_lowercase())
}

/// `@user@server.example`.
fn is_fediverse_handle(handle: &str) -> bool {
    let Some((user, server)) = handle
        .strip_prefix('@')
        .and_then(|rest| rest.split_once('@'))
    else {
        return false;
    };
    !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
        && server.contains('.')
        && !server.starts_with('.')
        && !server.ends_with('.')
        && server
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-' || c == ':')
}

/// A value read from the tree, with what an error about it must name.
#[derive(Debug)]
struct Field<T> {
    /// The full key path.
    key: String,
    /// The environment variable that set it, if it came from the environment.
    env: Option<String>,
    value: T,
}

impl<T> Field<T> {
    fn invalid(&self, cx: &Context<'_>, problem: String) -> ConfigError {
        cx.invalid(&self.key, self.env.clone(), problem)
    }
}

/// One table of the tree, read key by key; `key` is its own path (empty at the top).
struct Table<'a> {
    cx: &'a Context<'a>,
    key: String,
    entries: BTreeMap<String, Value>,
}

impl<'a> Table<'a> {
    fn new(cx: &'a Context<'a>, key: String, value: Value) -> Result<Self, ConfigError> {
        let env = env_of(&key, &value);
        match value.kind {
            ValueKind::Table(entries) => Ok(Table {
                cx,
                key,
                entries: entries.into_iter().collect(),
            }),
            other => Err(cx.invalid(
                &key,
                env,
                format!("expected a table, found {}", describe(&other)),
            )),
        }
    }

    fn child(&self, name: &str) -> String {
        join_key(&self.key, name)
    }

    /// Rejects the first key (in sorted order, so messages are stable) not in `accepted`.
    fn reject_unknown(&self, accepted: &[&str]) -> Result<(), ConfigError> {
        match self
            .entries
            .iter()
            .find(|(name, _)| !accepted.contains(&name.as_str()))
        {
            None => Ok(()),
            Some((name, value)) => {
                let key = self.child(name);
                Err(ConfigError::UnknownKey {
                    file: self.cx.file.to_path_buf(),
                    env: env_of(&key, value),
                    hint: nearest(name, accepted.iter().copied()).map(str::to_owned),
                    key,
                })
            }
        }
    }

    fn take(&mut self, name: &str) -> Option<(String, Value)> {
        self.entries
            .remove(name)
            .map(|value| (self.child(name), value))
    }

    fn missing(&self, name: &str, alternatives: &[&str]) -> ConfigError {
        ConfigError::MissingKey {
            file: self.cx.file.to_path_buf(),
            key: self.child(name),
            alternatives: alternatives.iter().map(|alt| self.child(alt)).collect(),
        }
    }

    fn string(&mut self, name: &str) -> Result<Option<Field<String>>, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(None);
        };
        let env = env_of(&key, &value);
        match value.kind {
            ValueKind::String(value) => Ok(Some(Field { key, env, value })),
            other => Err(self.cx.invalid(
                &key,
                env,
                format!("expected a string, found {}", describe(&other)),
            )),
        }
    }

    fn required_string(&mut self, name: &str) -> Result<Field<String>, ConfigError> {
        self.string(name)?.ok_or_else(|| self.missing(name, &[]))
    }

    fn required_path(&mut self, name: &str) -> Result<PathBuf, ConfigError> {
        let path = self.required_string(name)?;
        if path.value.is_empty() {
            return Err(path.invalid(self.cx, "must not be empty".to_owned()));
        }
        Ok(self.cx.resolve(&path.value))
    }

    /// A non-negative integer; from the environment, a string holding one.
    fn count(&mut self, name: &str, default: usize) -> Result<Field<usize>, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(Field {
                key: self.child(name),
                env: None,
                value: default,
            });
        };
        let env = env_of(&key, &value);
        let parsed = match &value.kind {
            ValueKind::I64(n) => usize::try_from(*n).ok(),
            ValueKind::I128(n) => usize::try_from(*n).ok(),
            ValueKind::U64(n) => usize::try_from(*n).ok(),
            ValueKind::U128(n) => usize::try_from(*n).ok(),
            ValueKind::String(text) if env.is_some() => text.trim().parse().ok(),
            _ => None,
        };
        match parsed {
            Some(value) => Ok(Field { key, env, value }),
            None => Err(self.cx.invalid(
                &key,
                env,
                format!(
                    "expected a non-negative integer, found {}",
                    describe(&value.kind)
                ),
            )),
        }
    }

    /// A number from 0 to 1 (an integer 0 or 1 too); from the environment, a string holding
    /// one.
    fn fraction(&mut self, name: &str, default: f64) -> Result<Field<f64>, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(Field {
                key: self.child(name),
                env: None,
                value: default,
            });
        };
        let env = env_of(&key, &value);
        let parsed = match &value.kind {
            ValueKind::Float(n) => Some(*n),
            ValueKind::I64(n) if (0..=1).contains(n) => Some(if *n == 0 { 0.0 } else { 1.0 }),
            ValueKind::String(text) if env.is_some() => text.trim().parse().ok(),
            _ => None,
        };
        match parsed.filter(|n| (0.0..=1.0).contains(n)) {
            Some(value) => Ok(Field { key, env, value }),
            None => Err(self.cx.invalid(
                &key,
                env,
                format!(
                    "expected a number from 0 to 1 (a share, e.g. 0.8), found {}",
                    describe(&value.kind)
                ),
            )),
        }
    }

    /// A required list of strings; from the environment, a comma-separated string.
    fn string_list(&mut self, name: &str) -> Result<Field<Vec<Field<String>>>, ConfigError> {
        let (key, value) = self.take(name).ok_or_else(|| self.missing(name, &[]))?;
        let env = env_of(&key, &value);
        let items = match value.kind {
            ValueKind::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| {
                    let item_key = format!("{key}[{index}]");
                    let item_env = env_of(&key, &item);
                    match item.kind {
                        ValueKind::String(value) => Ok(Field {
                            key: item_key,
                            env: item_env,
                            value,
                        }),
                        other => Err(self.cx.invalid(
                            &item_key,
                            item_env,
                            format!("expected a string, found {}", describe(&other)),
                        )),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            ValueKind::String(text) if env.is_some() => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .enumerate()
                .map(|(index, item)| Field {
                    key: format!("{key}[{index}]"),
                    env: env.clone(),
                    value: item.to_owned(),
                })
                .collect(),
            other => {
                return Err(self.cx.invalid(
                    &key,
                    env,
                    format!("expected a list of strings, found {}", describe(&other)),
                ))
            }
        };
        Ok(Field {
            key,
            env,
            value: items,
        })
    }

    /// A list of strings, if given; from the environment, a comma-separated string.
    fn optional_string_list(
        &mut self,
        name: &str,
    ) -> Result<Option<Vec<Field<String>>>, ConfigError> {
        if !self.entries.contains_key(name) {
            return Ok(None);
        }
        self.string_list(name).map(|list| Some(list.value))
    }

    /// A boolean; from the environment, `true` or `false`.
    fn boolean(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(None);
        };
        let env = env_of(&key, &value);
        match &value.kind {
            ValueKind::Boolean(b) => Ok(Some(*b)),
            ValueKind::String(text) if env.is_some() && text.trim() == "true" => Ok(Some(true)),
            ValueKind::String(text) if env.is_some() && text.trim() == "false" => Ok(Some(false)),
            other => Err(self.cx.invalid(
                &key,
                env,
                format!("expected true or false, found {}", describe(other)),
            )),
        }
    }

    /// One of a closed set of names (`visibility = "unlisted"`), if given.
    fn choice<T: Copy>(
        &mut self,
        name: &str,
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(field) = self.string(name)? else {
            return Ok(None);
        };
        if let Some(found) = all.iter().copied().find(|v| as_str(*v) == field.value) {
            return Ok(Some(found));
        }
        let names: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        let problem = format!(
            "unknown {name} `{}`, expected one of {}{}",
            field.value,
            quoted_list(&names),
            hint_suffix(&field.value, names.iter().copied())
        );
        Err(field.invalid(self.cx, problem))
    }

    /// A table whose values are all strings (`mention_map = { a = "@a@b.example" }`), as
    /// (name, value) fields in name order.
    #[expect(
        clippy::type_complexity,
        reason = "a list of key and value fields, read once"
    )]
    fn string_table(
        &mut self,
        name: &str,
    ) -> Result<Option<Vec<(Field<String>, Field<String>)>>, ConfigError> {
        let Some(table) = self.table(name)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(table.entries.len());
        for (entry, value) in table.entries {
            let key = join_key(&table.key, &entry);
            let env = env_of(&key, &value);
            let ValueKind::String(text) = value.kind else {
                return Err(self.cx.invalid(
                    &key,
                    env,
                    format!("expected a string, found {}", describe(&value.kind)),
                ));
            };
            out.push((
                Field {
                    key: key.clone(),
                    env: env.clone(),
                    value: entry,
                },
                Field {
                    key,
                    env,
                    value: text,
                },
            ));
        }
        Ok(Some(out))
    }

    /// A list of tables (`content_warnings = [{ ... }, { ... }]`), if given.
    fn table_list(&mut self, name: &str) -> Result<Option<Vec<Table<'a>>>, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(None);
        };
        let env = env_of(&key, &value);
        let ValueKind::Array(items) = value.kind else {
            return Err(self.cx.invalid(
                &key,
                env,
                format!("expected a list of tables, found {}", describe(&value.kind)),
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| Table::new(self.cx, format!("{key}[{index}]"), item))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn table(&mut self, name: &str) -> Result<Option<Table<'a>>, ConfigError> {
        self.take(name)
            .map(|(key, value)| Table::new(self.cx, key, value))
            .transpose()
    }

    /// The tables of a section such as `[sources.NAME]`, by name.
    fn named_tables(&mut self, name: &str) -> Result<BTreeMap<String, Table<'a>>, ConfigError> {
        let Some(section) = self.table(name)? else {
            return Ok(BTreeMap::new());
        };
        let names: Vec<String> = section.entries.keys().cloned().collect();
        let mut tables = BTreeMap::new();
        for (entry_name, value) in section.entries {
            let key = join_key(&section.key, &entry_name);
            // The environment can only spell names in lower case; a table it created next to
            // a capitalised one in the file is a failed override, not a new table.
            if let Some(spelled) = names
                .iter()
                .find(|other| **other != entry_name && other.eq_ignore_ascii_case(&entry_name))
            {
                if all_from_env(&value) {
                    let problem = format!(
                        "environment variables address table names in lower case, so they \
                         cannot override `{spelled}`; rename that table in lower case"
                    );
                    return Err(self.cx.invalid(&key, None, problem));
                }
            }
            tables.insert(entry_name, Table::new(self.cx, key, value)?);
        }
        Ok(tables)
    }

    /// Exactly one of `token_file`, `token_env`, `token`.
    fn secret(&mut self) -> Result<SecretSource, ConfigError> {
        let file = self.string("token_file")?;
        let env = self.string("token_env")?;
        let inline = self.string("token")?;
        let given: Vec<&Field<String>> = [&file, &env, &inline].into_iter().flatten().collect();
        if let [first, second, ..] = given.as_slice() {
            return Err(ConfigError::Conflict {
                file: self.cx.file.to_path_buf(),
                key: first.key.clone(),
                other: second.key.clone(),
            });
        }
        // An empty value is a mistake in any form; for `token` the message must not echo it,
        // and an empty one has nothing to echo.
        if let Some(empty) = given.iter().find(|field| field.value.trim().is_empty()) {
            return Err(empty.invalid(self.cx, "must not be empty".to_owned()));
        }
        if let Some(file) = file {
            Ok(SecretSource::File(self.cx.resolve(&file.value)))
        } else if let Some(env) = env {
            Ok(SecretSource::Env(env.value))
        } else if let Some(inline) = inline {
            if inline.env.is_none() {
                tracing::warn!(
                    key = %inline.key,
                    "token written in the configuration file; prefer token_file or token_env"
                );
            }
            Ok(SecretSource::Inline(Secret::new(inline.value)))
        } else {
            Err(self.missing("token_file", &["token_env", "token"]))
        }
    }

    /// `start`: `"latest"`, `"latest:N"` with N up to `max_latest`, or (when `ids`) a post id.
    fn start(&mut self, max_latest: u32, ids: bool) -> Result<StartAt, ConfigError> {
        let Some(start) = self.string("start")? else {
            return Ok(StartAt::default());
        };
        let value = start.value.trim();
        let parsed = if value == "latest" {
            Some(StartAt::Latest(0))
        } else if let Some(n) = value.strip_prefix("latest:") {
            n.parse::<u32>()
                .ok()
                .filter(|n| *n <= max_latest)
                .map(StartAt::Latest)
        } else if ids && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            Some(StartAt::After(value.to_owned()))
        } else {
            None
        };
        parsed.ok_or_else(|| {
            let ids = if ids { ", or a post id" } else { "" };
            start.invalid(
                self.cx,
                format!(
                    "`{value}` is not a start: \"latest\", \"latest:N\" with N up to {max_latest}{ids}"
                ),
            )
        })
    }

    /// A price in US dollars: a non-negative number; from the environment, a string holding one.
    fn price(&mut self, name: &str, default: f64) -> Result<f64, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(default);
        };
        let env = env_of(&key, &value);
        #[expect(clippy::cast_precision_loss, reason = "prices are small numbers")]
        let parsed = match &value.kind {
            ValueKind::Float(n) => Some(*n),
            ValueKind::I64(n) => Some(*n as f64),
            ValueKind::U64(n) => Some(*n as f64),
            ValueKind::String(text) if env.is_some() => text.trim().parse().ok(),
            _ => None,
        };
        parsed
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| {
                self.cx.invalid(
                    &key,
                    env,
                    format!(
                        "expected a non-negative price in dollars, found {}",
                        describe(&value.kind)
                    ),
                )
            })
    }

    /// A boolean; from the environment, `true` or `false`.
    fn flag(&mut self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some((key, value)) = self.take(name) else {
            return Ok(default);
        };
        let env = env_of(&key, &value);
        let parsed = match &value.kind {
            ValueKind::Boolean(b) => Some(*b),
            ValueKind::String(text) if env.is_some() => text.trim().parse().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.cx.invalid(
                &key,
                env,
                format!("expected true or false, found {}", describe(&value.kind)),
            )
        })
    }

    /// A cron expression with a seconds field, as the scheduler will parse it.
    fn schedule(&mut self, name: &str) -> Result<String, ConfigError> {
        let schedule = self.required_string(name)?;
        if let Err(err) = cron::Schedule::from_str(&schedule.value) {
            let fields = schedule.value.split_whitespace().count();
            let problem = if fields == 5 {
                format!(
                    "`{}` has 5 fields, but schedules start with a seconds field: \
                     sec min hour day month weekday, e.g. \"0 */5 * * * *\"",
                    schedule.value
                )
            } else {
                format!("`{}` is not a cron expression: {err}", schedule.value)
            };
            return Err(schedule.invalid(self.cx, problem));
        }
        Ok(schedule.value)
    }
}

/// The variable that set `value` at `key`, if the environment did.
fn env_of(key: &str, value: &Value) -> Option<String> {
    (value.origin() == Some(ENV_ORIGIN)).then(|| env_var_name(key))
}

/// `targets.wikis-world.url` -> `BIRDBRIDGE__TARGETS__WIKIS-WORLD__URL`.
fn env_var_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}",
        key.replace('.', ENV_SEPARATOR).to_ascii_uppercase()
    )
}

fn all_from_env(value: &Value) -> bool {
    match &value.kind {
        ValueKind::Table(entries) => !entries.is_empty() && entries.values().all(all_from_env),
        _ => value.origin() == Some(ENV_ORIGIN),
    }
}

/// Appends `name` to a key path, quoting it as TOML would when it is not a bare key.
pub(super) fn join_key(parent: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let segment = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    if parent.is_empty() {
        segment
    } else {
        format!("{parent}.{segment}")
    }
}

/// A value's type and, for scalars, the value, for "expected X, found Y" messages.
fn describe(kind: &ValueKind) -> String {
    match kind {
        ValueKind::Nil => "nothing".to_owned(),
        ValueKind::Boolean(b) => format!("boolean `{b}`"),
        ValueKind::I64(n) => format!("integer `{n}`"),
        ValueKind::I128(n) => format!("integer `{n}`"),
        ValueKind::U64(n) => format!("integer `{n}`"),
        ValueKind::U128(n) => format!("integer `{n}`"),
        ValueKind::Float(n) => format!("float `{n}`"),
        ValueKind::String(s) => format!("string {s:?}"),
        ValueKind::Table(_) => "a table".to_owned(),
        ValueKind::Array(_) => "a list".to_owned(),
    }
}

/// The candidate closest to `word` by edit distance (a swap counts once), if close enough to
/// be a plausible typo.
fn nearest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::osa_distance(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2 && *distance < candidate.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn hint_suffix<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    nearest(word, candidates)
        .map(|hint| format!(" (did you mean `{hint}`?)"))
        .unwrap_or_default()
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_kind(kind: &str, kinds: &[&str]) -> String {
    format!(
        "unknown kind `{kind}`, expected one of {}{}",
        quoted_list(kinds),
        hint_suffix(kind, kinds.iter().copied())
    )
}

/// X handles: 1 to 15 letters, digits or underscores.
fn check_username(username: &str) -> Result<(), String> {
    if let Some(bare) = username.strip_prefix('@') {
        return Err(format!("write the handle without `@`: \"{bare}\""));
    }
    let valid = (1..=15).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{username}` is not an X handle: 1 to 15 letters, digits or underscores"
        ))
    }
}

/// An http or https URL with a host and nothing that cannot appear in one. No URL crate is
/// pulled in for this: the HTTP client parses it for real, this only catches typos early.
fn check_http_url(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{url}` contains whitespace"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("`{url}` has no host"));
    }
    Ok(())
}

/// A server's base URL, which paths like `/api/v1/statuses` are appended to: no query or
/// fragment, and no trailing slash.
fn base_url(url: &str) -> Result<String, String> {
    check_http_url(url)?;
    if url.contains(['?', '#']) {
        return Err(format!(
            "`{url}` is a base URL and cannot have a query or fragment"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("", "routes", "routes")]
    #[case("targets", "wikis-world", "targets.wikis-world")]
    #[case("sources", "my feed", "sources.\"my feed\"")]
    #[case("sources", "a.b", "sources.\"a.b\"")]
    fn keys_are_joined_as_toml_paths(#[case] parent: &str, #[case] name: &str, #[case] want: &str) {
        assert_eq!(join_key(parent, name), want);
    }

    #[rstest]
    #[case("targets.wikis-world.url", "BIRDBRIDGE__TARGETS__WIKIS-WORLD__URL")]
    #[case("ledger.path", "BIRDBRIDGE__LEDGER__PATH")]
    fn env_var_names_mirror_key_paths(#[case] key: &str, #[case] want: &str) {
        assert_eq!(env_var_name(key), want);
    }

    #[rstest]
    #[case("outptu", Some("output"))]
    #[case("max_character", Some("max_characters"))]
    #[case("colour", None)]
    #[case("k", None)]
    fn nearest_suggests_only_plausible_typos(#[case] word: &str, #[case] want: Option<&str>) {
        assert_eq!(nearest(word, keys::DRY_RUN_TARGET.iter().copied()), want);
    }

    #[rstest]
    #[case("https://wikis.world/", Ok("https://wikis.world"))]
    #[case("http://localhost:8080//", Ok("http://localhost:8080"))]
    #[case("https://example.org/sub", Ok("https://example.org/sub"))]
    #[case("wikis.world", Err("not an http"))]
    #[case("ftp://wikis.world", Err("not an http"))]
    #[case("https://", Err("no host"))]
    #[case("https://:443/", Err("no host"))]
    #[case("https://wikis world", Err("whitespace"))]
    #[case("https://wikis.world/?a=1", Err("query or fragment"))]
    fn base_urls_are_checked_and_normalised(#[case] url: &str, #[case] want: Result<&str, &str>) {
        match (base_url(url), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
        }
    }

    #[rstest]
    #[case("Wikipedia", true)]
    #[case("a_1", true)]
    #[case("fifteen_chars_x", true)]
    #[case("sixteen_chars_xx", false)]
    #[case("", false)]
    #[case("@Wikipedia", false)]
    #[case("wiki-pedia", false)]
    #[case("wikipédia", false)]
    fn usernames_follow_x_rules(#[case] username: &str, #[case] valid: bool) {
        assert_eq!(check_username(username).is_ok(), valid, "{username}");
    }
}
