//! A `bridge.toml` written table by table: `[ledger]` in the test's folder, then sources,
//! targets and routes, each with the keys its tests need. Token files are written next to
//! it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The schedule of every source unless a test sets another: each minute, at second 0.
pub const EVERY_MINUTE: &str = "0 * * * * *";

/// A configuration being written; see the module docs.
#[derive(Debug)]
pub struct Config {
    dir: PathBuf,
    /// Tables in order: the header and its `key = value` lines (values as TOML).
    tables: Vec<(String, Vec<(String, String)>)>,
}

impl Config {
    /// A configuration in `dir` whose ledger is `dir/ledger.sqlite`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            tables: Vec::new(),
        }
        .table("ledger")
        .set("path", "ledger.sqlite")
    }

    /// A `kind = "x"` source reading `@username` on the X API at `api_url` (a fake) with
    /// `token` (in `source-NAME.token`), every minute.
    pub fn x_source(self, name: &str, username: &str, token: &str, api_url: &str) -> Self {
        let token_file = self.token_file(&format!("source-{name}"), token);
        self.table(&format!("sources.{name}"))
            .set("kind", "x")
            .set("username", username)
            .set_path("token_file", &token_file)
            .set("schedule", EVERY_MINUTE)
            .set("api_url", api_url)
    }

    /// A `kind = "feed"` source reading `url`, every minute.
    pub fn feed_source(self, name: &str, url: &str) -> Self {
        self.table(&format!("sources.{name}"))
            .set("kind", "feed")
            .set("url", url)
            .set("schedule", EVERY_MINUTE)
    }

    /// A `kind = "fediverse"` source reading the account of `token` (in
    /// `source-NAME.token`) on the `server` at `url`, every minute, its media from
    /// loopback allowed.
    pub fn fediverse_source(self, name: &str, server: &str, url: &str, token: &str) -> Self {
        let token_file = self.token_file(&format!("source-{name}"), token);
        self.table(&format!("sources.{name}"))
            .set("kind", "fediverse")
            .set("server", server)
            .set("url", url)
            .set_path("token_file", &token_file)
            .set("schedule", EVERY_MINUTE)
            .set_raw("allow_private_media", "true")
    }

    /// A `kind = "archive"` source: the archive at `path`.
    pub fn archive_source(self, name: &str, path: &Path) -> Self {
        self.table(&format!("sources.{name}"))
            .set("kind", "archive")
            .set_path("path", path)
            // Tests never reach X's real media host: a test that downloads an archive's
            // missing media sets `missing_media = "download"` with a local `media_host`.
            .set("missing_media", "link")
    }

    /// A fediverse target of `kind` at `url` with `token` (in `target-NAME.token`).
    pub fn fedi_target(self, name: &str, kind: &str, url: &str, token: &str) -> Self {
        let token_file = self.token_file(&format!("target-{name}"), token);
        self.table(&format!("targets.{name}"))
            .set("kind", kind)
            .set("url", url)
            .set_path("token_file", &token_file)
    }

    /// A dry-run target writing its JSON lines to `output` (relative to the folder).
    pub fn dry_run_target(self, name: &str, output: &str) -> Self {
        self.table(&format!("targets.{name}"))
            .set("kind", "dry-run")
            .set("output", output)
    }

    /// A route from `source` to `targets`.
    pub fn route(self, name: &str, source: &str, targets: &[&str]) -> Self {
        let list: Vec<String> = targets.iter().map(|t| format!("{t:?}")).collect();
        self.table(&format!("routes.{name}"))
            .set("source", source)
            .set_raw("targets", &format!("[{}]", list.join(", ")))
    }

    /// Sets `key` of the last table to the string `value` (replacing it if set).
    pub fn set(self, key: &str, value: &str) -> Self {
        self.set_raw(key, &format!("{value:?}"))
    }

    /// Sets `key` of the last table to `value`, written as TOML as it is (a number, a
    /// boolean, a list).
    pub fn set_raw(mut self, key: &str, value: &str) -> Self {
        let (_, keys) = self.tables.last_mut().expect("a table first");
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => value.clone_into(v),
            None => keys.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    /// Writes `bridge.toml`; returns its path.
    pub fn write(self) -> PathBuf {
        self.write_as("bridge.toml")
    }

    /// Writes the configuration as `file` in the folder; returns its path.
    pub fn write_as(self, file: &str) -> PathBuf {
        let mut text = String::new();
        for (header, keys) in &self.tables {
            writeln!(text, "[{header}]").unwrap();
            for (key, value) in keys {
                writeln!(text, "{key} = {value}").unwrap();
            }
            text.push('\n');
        }
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts table `[header]`; [`Config::set`] fills it.
    pub fn table(mut self, header: &str) -> Self {
        self.tables.push((header.to_owned(), Vec::new()));
        self
    }

    fn set_path(self, key: &str, path: &Path) -> Self {
        self.set(key, &path.display().to_string())
    }

    /// Writes `token` to `FILE.token` in the folder.
    fn token_file(&self, file: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("{file}.token"));
        std::fs::write(&path, format!("{token}\n")).unwrap();
        path
    }
}
