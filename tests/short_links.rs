//! Links X did not expand (a URL entity whose `expanded_url` is the `t.co` link itself), with
//! a local stand-in for `t.co` (`tco_url`, `tests/support/x_hosts.rs`) that answers 301:
//! - through the binary, an archive's post arrives at the fake Mastodon with the link
//!   resolved, and `t.co` is asked once for it across two runs (the answer is kept in the
//!   ledger), never for a link X did expand;
//! - `t.co` down, or not knowing the link: the `t.co` link stays, and `status` shows the
//!   warning;
//! - `--dry-run` asks nothing;
//! - an X API post through the daemon's cycle gets the same.

#[path = "fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use axum::http::Method;
use birdbridge::clock::{Clock, ManualClock};
use chrono::Utc;
use fake_fedi::{FakeFedi, Personality, TOKEN};
use fake_x::FakeX;
use rstest::rstest;
use serde_json::json;
use support::config::Config;
use support::x_hosts::FakeTco;
use tempfile::TempDir;

/// The link X could not expand in both of the fixture's posts, and where it leads.
const CODE: &str = "Rp7kW2xQ9a";
const SHORT: &str = "https://t.co/Rp7kW2xQ9a";
const TARGET: &str = "https://example.org/reports/2024";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/archive-2024-unexpanded")
}

/// The fake Mastodon and a configuration: archive source `old` with its `t.co` at
/// `tco_url`, route `r` to target `t`.
struct World {
    _dir: TempDir,
    fedi: FakeFedi,
    config: PathBuf,
}

impl World {
    async fn new(tco_url: &str) -> Self {
        let fedi = FakeFedi::start(Personality::Mastodon, Clock::System).await;
        let dir = TempDir::new().unwrap();
        let config = Config::new(dir.path())
            .archive_source("old", &fixture())
            .set("tco_url", tco_url)
            .set_raw("allow_private_media", "true")
            .fedi_target("t", "mastodon", &fedi.url, TOKEN)
            .set_raw("backfill_share", "1.0")
            .route("r", "old", &["t"])
            .write();
        Self {
            _dir: dir,
            fedi,
            config,
        }
    }

    /// `birdbridge ARGS`, off the test's runtime.
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_birdbridge"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("BIRDBRIDGE_LOG", "warn")
            .stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn texts(&self) -> Vec<String> {
        self.fedi.statuses().into_iter().map(|s| s.text).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_x_did_not_expand_is_resolved_once_across_runs() {
    let tco = FakeTco::start().await;
    tco.link(CODE, TARGET);
    let world = World::new(&tco.url).await;

    world
        .run(&["backfill", "--route", "r", "--until", "2024-03-06"])
        .await;
    let texts = world.texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with(&format!("Our annual report is out {TARGET}")),
        "{}",
        texts[0]
    );
    assert!(!texts[0].contains("t.co"), "{}", texts[0]);
    assert_eq!(tco.asked(), [(Method::HEAD, format!("/{CODE}"))]);

    // The second run's post has the same link, and one X did expand.
    world.run(&["backfill", "--route", "r"]).await;
    let texts = world.texts();
    assert_eq!(texts.len(), 2);
    assert!(
        texts[1].starts_with(&format!(
            "Reminder: the annual report {TARGET} and the slides https://example.org/slides/2024"
        )),
        "{}",
        texts[1]
    );
    assert_eq!(tco.asked().len(), 1, "asked once across both runs");
    let status = world.run(&["status"]).await;
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(!shown.contains("t.co links"), "{shown}");
}

#[rstest]
#[case::down(false)]
#[case::unknown_link(true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_cannot_be_resolved_stays_with_a_warning(#[case] tco_up: bool) {
    let tco = FakeTco::start().await;
    let url = if tco_up {
        tco.url.clone()
    } else {
        format!("http://127.0.0.1:{}", support::free_port())
    };
    let world = World::new(&url).await;
    world.run(&["backfill", "--route", "r"]).await;
    let texts = world.texts();
    assert_eq!(texts.len(), 2, "the posts go out");
    assert!(
        texts[0].starts_with(&format!("Our annual report is out {SHORT}")),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains(SHORT), "{}", texts[1]);

    let status = world.run(&["status"]).await;
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("warnings: t.co links X did not expand, left as they are (1):"),
        "{shown}"
    );
    let why = if tco_up {
        "answered HTTP 404 without a redirect"
    } else {
        "did not answer"
    };
    let line = shown
        .lines()
        .find(|l| l.contains(&format!("{SHORT} in post 1764987654321098752 (old)")))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(line.contains(why), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_asks_t_co_nothing() {
    let tco = FakeTco::start().await;
    tco.link(CODE, TARGET);
    let world = World::new(&tco.url).await;
    let out = world.run(&["backfill", "--route", "r", "--dry-run"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(SHORT));
    assert!(tco.asked().is_empty());
    assert!(world.fedi.statuses().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_post_with_a_link_x_did_not_expand_is_resolved() {
    let tco = FakeTco::start().await;
    tco.link("Zz9yX8wV7u", "https://example.org/live/news");
    let clock = ManualClock::auto(Utc::now());
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user("42", "harbour_office");
    let fedi = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .x_source("acct", "harbour_office", fake_x::TOKEN, &x.url())
        .set("start", "latest")
        .set("tco_url", &tco.url)
        .set_raw("allow_private_media", "true")
        .fedi_target("t", "mastodon", &fedi.url, TOKEN)
        .route("r", "acct", &["t"])
        .write();
    let settings = support::settings(&config);
    x.post("42", "before the route existed", json!({}));
    support::once(&settings, clock.clone()).await;

    let text = "News: https://t.co/Zz9yX8wV7u";
    x.post(
        "42",
        text,
        json!({"entities": {"urls": [{
            "start": 6, "end": 29, "url": "https://t.co/Zz9yX8wV7u",
            "expanded_url": "https://t.co/Zz9yX8wV7u", "display_url": "t.co/Zz9yX8wV7u"
        }]}}),
    );
    support::once(&settings, clock.clone()).await;
    let statuses = fedi.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].text, "News: https://example.org/live/news");
    assert_eq!(tco.asked(), [(Method::HEAD, "/Zz9yX8wV7u".to_owned())]);
}
