//! Readers of single keys, for `#[serde(deserialize_with)]`: the checks a value must pass
//! and the conversions from what the file says to what the code uses. Their errors are plain
//! problems ("must be at least 1"); the tree reader adds the key, the file and the variable.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, Unexpected, Visitor};

use super::StartAt;

/// Reads a `T` and passes it through `check`, whose `Err` is the problem to report.
fn checked<'de, D, T, U>(d: D, check: impl FnOnce(T) -> Result<U, String>) -> Result<U, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    check(T::deserialize(d)?).map_err(de::Error::custom)
}

/// Serde defaults that are constants, so a key's default is written at its field (serde
/// takes a function, not a value).
pub(super) mod default {
    pub(in crate::config) const fn yes() -> bool {
        true
    }

    pub(in crate::config) const fn count<const N: usize>() -> usize {
        N
    }

    pub(in crate::config) const fn seconds<const N: u64>() -> std::time::Duration {
        std::time::Duration::from_secs(N)
    }

    pub(in crate::config) fn minutes<const N: i64>() -> chrono::Duration {
        chrono::Duration::minutes(N)
    }

    pub(in crate::config) fn hours<const N: i64>() -> chrono::Duration {
        chrono::Duration::hours(N)
    }
}

pub(super) fn username<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |name: String| x_handle(&name).map(|()| name))
}

/// A cron expression with a seconds field, as the scheduler will parse it.
pub(super) fn schedule<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |text: String| match cron::Schedule::from_str(&text) {
        Ok(_) => Ok(text),
        Err(_) if text.split_whitespace().count() == 5 => Err(format!(
            "`{text}` has 5 fields, but schedules start with a seconds field: \
             sec min hour day month weekday, e.g. \"0 */5 * * * *\""
        )),
        Err(err) => Err(format!("`{text}` is not a cron expression: {err}")),
    })
}

/// A server's base URL, which paths like `/api/v1/statuses` are appended to: no query or
/// fragment, and no trailing slash.
pub(super) fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |url: String| {
        http_url(&url)?;
        if url.contains(['?', '#']) {
            return Err(format!(
                "`{url}` is a base URL and cannot have a query or fragment"
            ));
        }
        Ok(url.trim_end_matches('/').to_owned())
    })
}

pub(super) fn optional_base_url<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    base_url(d).map(Some)
}

pub(super) fn url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |url: String| http_url(&url).map(|()| url))
}

/// `start`: `"latest"`, `"latest:N"` with N up to `MAX`, or (when `IDS`) a post id.
pub(super) fn start<'de, D, const MAX: u32, const IDS: bool>(d: D) -> Result<StartAt, D::Error>
where
    D: Deserializer<'de>,
{
    checked(d, |text: String| {
        let value = text.trim();
        let parsed = if value == "latest" {
            Some(StartAt::Latest(0))
        } else if let Some(n) = value.strip_prefix("latest:") {
            n.parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX)
                .map(StartAt::Latest)
        } else if IDS && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            Some(StartAt::After(value.to_owned()))
        } else {
            None
        };
        parsed.ok_or_else(|| {
            let ids = if IDS { ", or a post id" } else { "" };
            format!("`{value}` is not a start: \"latest\", \"latest:N\" with N up to {MAX}{ids}")
        })
    })
}

pub(super) fn price<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_f64(Number {
        what: "a non-negative price in dollars",
        ok: |n| n.is_finite() && n >= 0.0,
    })
}

pub(super) fn optional_price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    price(d).map(Some)
}

/// Minutes, at least one, at most a day's worth.
pub(super) fn minutes<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::Duration, D::Error> {
    checked(d, |n: u64| match n {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(chrono::Duration::minutes(
            i64::try_from(n).unwrap_or(i64::MAX).min(24 * 60),
        )),
    })
}

pub(super) fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_f64(Number {
        what: "a number from 0 to 1 (a share, e.g. 0.8)",
        ok: |n| (0.0..=1.0).contains(&n),
    })
}

pub(super) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    checked(d, |n: u64| match n {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(Duration::from_secs(n)),
    })
}

/// Hours, at most a year's worth.
pub(super) fn hours<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::Duration, D::Error> {
    checked(d, |n: u64| {
        Ok(chrono::Duration::hours(
            i64::try_from(n).unwrap_or(i64::MAX).min(24 * 365),
        ))
    })
}

pub(super) fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, |n: usize| match n {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(n),
    })
}

pub(super) fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    checked(d, |text: String| {
        text.parse()
            .map_err(|_| format!("{text:?} is not an address and port such as \"127.0.0.1:9187\""))
    })
}

/// A path as written; the configuration file's folder is joined to it after reading.
pub(super) fn path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    checked(d, |path: PathBuf| {
        if path.as_os_str().is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(path)
    })
}

pub(super) fn output<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |output: String| {
        if output.is_empty() {
            return Err("must not be empty; use \"-\" for standard output".to_owned());
        }
        Ok(output)
    })
}

/// Anything but blank: a secret's key, whose value a message must not echo.
pub(super) fn not_blank<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    checked(d, |text: String| {
        if text.trim().is_empty() {
            return Err("must not be empty".to_owned());
        }
        Ok(T::from(text))
    })
}

/// A token written in the file: [`not_blank`], and a value that is not a string is refused
/// without being shown (the usual message would echo a token of digits written unquoted).
pub(super) fn inline_secret<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let text = String::deserialize(d)
        .map_err(|_: D::Error| de::Error::custom("expected a string (the value is not shown)"))?;
    not_blank(text.into_deserializer())
}

/// Trimmed, and not empty.
pub(super) fn label<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |label: String| trimmed(&label, "must not be empty"))
}

pub(super) fn sensitive_label<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |label: String| {
        trimmed(
            &label,
            "must not be empty: sensitive posts need a content warning",
        )
    })
}

pub(super) fn alt_text_fallback<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |text: String| {
        if text.trim().is_empty() {
            let problem =
                "must not be empty; to post without a description, set alt_text = \"omit\"";
            return Err(problem.to_owned());
        }
        Ok(text)
    })
}

/// Trimmed; `None` when nothing is left.
pub(super) fn optional_label<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    checked(d, |label: String| Ok(trimmed(&label, "").ok()))
}

/// As written; `None` when blank.
pub(super) fn optional_line<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    checked(d, |line: String| {
        Ok((!line.trim().is_empty()).then_some(line))
    })
}

/// A hashtag; `None` when empty.
pub(super) fn optional_tag<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    checked(d, |tag: String| {
        if tag.is_empty() {
            return Ok(None);
        }
        Hashtag::check(tag).map(Some)
    })
}

/// A list of strings, each passing `C`'s check (errors name the item: `opt_out_tags[1]`).
pub(super) fn list<'de, D, C>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
    C: Check,
{
    Ok(Vec::<Item<C>>::deserialize(d)?
        .into_iter()
        .map(|item| item.0)
        .collect())
}

/// A content-warning rule's words: at least one.
pub(super) fn words<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let words = list::<D, Word>(d)?;
    if words.is_empty() {
        return Err(de::Error::custom(
            "lists nothing to match; give words or #tags",
        ));
    }
    Ok(words)
}

/// X handles (lower case) to fediverse handles.
pub(super) fn mentions<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let map = BTreeMap::<Item<XHandle>, Item<FediverseHandle>>::deserialize(d)?;
    Ok(map.into_iter().map(|(from, to)| (from.0, to.0)).collect())
}

/// The check of one kind of list item or map key.
pub(super) trait Check {
    /// The item as stored, or the problem with it.
    fn check(text: String) -> Result<String, String>;
}

/// A string that passed `C`'s check.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Item<C>(String, PhantomData<C>);

impl<'de, C: Check> Deserialize<'de> for Item<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |text| C::check(text).map(|text| Item(text, PhantomData)))
    }
}

/// A hashtag as a route names it: `#` optional, stored lower case without it.
pub(super) enum Hashtag {}

impl Check for Hashtag {
    fn check(tag: String) -> Result<String, String> {
        let bare = tag.strip_prefix('#').unwrap_or(&tag);
        if bare.is_empty() || !bare.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!(
                "`{tag}` is not a hashtag: letters, digits or underscores"
            ));
        }
        Ok(bare.to_lowercase())
    }
}

/// A query parameter to remove: `name`, `prefix*` or `host:name`.
pub(super) enum Parameter {}

impl Check for Parameter {
    fn check(param: String) -> Result<String, String> {
        let name = param.rsplit(':').next().unwrap_or_default();
        if name.is_empty() || name == "*" || param.contains(['=', '&', '?']) {
            return Err(format!(
                "`{param}` is not a parameter name: write `name`, `prefix*` or `host:name`"
            ));
        }
        Ok(param)
    }
}

/// A word or `#tag` of a content-warning rule, lower case.
enum Word {}

impl Check for Word {
    fn check(word: String) -> Result<String, String> {
        let bare = word.strip_prefix('#').unwrap_or(&word);
        if bare.is_empty() || word.chars().any(char::is_whitespace) {
            return Err(format!(
                "`{word}` is not a word or #tag (one word each; no spaces)"
            ));
        }
        Ok(word.to_lowercase())
    }
}

/// An X handle, lower case.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum XHandle {}

impl Check for XHandle {
    fn check(handle: String) -> Result<String, String> {
        x_handle(&handle).map(|()| handle.to_ascii_lowercase())
    }
}

/// `@user@server.example`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum FediverseHandle {}

impl Check for FediverseHandle {
    fn check(handle: String) -> Result<String, String> {
        let valid = handle
            .strip_prefix('@')
            .and_then(|rest| rest.split_once('@'))
            .is_some_and(|(user, server)| {
                !user.is_empty()
                    && user
                        .chars()
                        .all(|c| c.is_alphanumeric() || "_.-".contains(c))
                    && server.contains('.')
                    && !server.starts_with('.')
                    && !server.ends_with('.')
                    && server
                        .chars()
                        .all(|c| c.is_alphanumeric() || ".-:".contains(c))
            });
        if !valid {
            return Err(format!(
                "`{handle}` is not a fediverse handle: write \"@user@server.example\""
            ));
        }
        Ok(handle)
    }
}

/// A number within bounds, from an integer or a float; `what` names it in errors.
struct Number {
    what: &'static str,
    ok: fn(f64) -> bool,
}

impl Visitor<'_> for Number {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        if !(self.ok)(n) {
            return Err(E::invalid_value(Unexpected::Float(n), &self));
        }
        Ok(n)
    }

    #[expect(clippy::cast_precision_loss, reason = "prices and shares are small")]
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        if !(self.ok)(n as f64) {
            return Err(E::invalid_value(Unexpected::Signed(n), &self));
        }
        Ok(n as f64)
    }
}

/// `trimmed`, or `problem` when it is empty.
fn trimmed(text: &str, problem: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err(problem.to_owned()),
        text => Ok(text.to_owned()),
    }
}

/// X handles: 1 to 15 letters, digits or underscores.
fn x_handle(username: &str) -> Result<(), String> {
    if let Some(bare) = username.strip_prefix('@') {
        return Err(format!("write the handle without `@`: \"{bare}\""));
    }
    let valid = (1..=15).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{username}` is not an X handle: 1 to 15 letters, digits or underscores"
        ));
    }
    Ok(())
}

/// An http or https URL with a host and nothing that cannot appear in one. No URL crate is
/// pulled in for this: the HTTP client parses it for real, this only catches typos early.
fn http_url(url: &str) -> Result<(), String> {
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
