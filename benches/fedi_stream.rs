//! Fediverse-first latency: statuses written on the fake Mastodon (the source account,
//! read through megalodon, woken by its `user` stream) until each one's copy exists:
//!
//! 1. streaming pickup to X: the delay from a status being created to its `POST /2/tweets`
//!    at the fake X;
//! 2. streaming pickup to a second Mastodon: to its `POST /api/v1/statuses`;
//! 3. the polling fallback: the stream refused, the source polled every second: the same
//!    delay, against the goal of the poll interval plus a second.
//!
//! ```sh
//! cargo bench --bench fedi_stream             # 200 statuses per streaming run, 20 polled
//! cargo bench --bench fedi_stream -- 500      # more statuses per streaming run
//! ```
//!
//! Everything is real and on the wall clock: HTTP and WebSocket on 127.0.0.1, the ledger
//! on disk, the daemon as `run` builds it. Statuses are written one every 50 ms (a busy
//! account, not a flood). Prints p50, p90, p99 and the worst; asserts nothing.

#[path = "../tests/fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "../tests/fake_x/mod.rs"]
mod fake_x;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use birdbridge::clock::Clock;
use chrono::{DateTime, Utc};
use fake_fedi::read::NewStatus;
use fake_fedi::{FakeFedi, Personality, TOKEN};
use fake_x::FakeX;
use support::config::Config;
use support::Running;
use tempfile::TempDir;

/// The time between two statuses written on the source.
const PACE: Duration = Duration::from_millis(50);

fn main() {
    let statuses: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!(
            "fediverse source, {statuses} statuses written one every {} ms",
            PACE.as_millis()
        );
        let to_x = streaming_to_x(statuses).await;
        report(
            "streaming pickup, fake Mastodon → POST /2/tweets (fake X)",
            &to_x,
            0.5,
            2.0,
        );
        let to_fedi = streaming_to_mastodon(statuses).await;
        report(
            "streaming pickup, fake Mastodon → POST /api/v1/statuses (second fake Mastodon)",
            &to_fedi,
            0.5,
            2.0,
        );
        let polled = polling(20).await;
        report(
            "polling fallback (stream refused, polled every 1 s) → POST /api/v1/statuses",
            &polled,
            2.0,
            2.0,
        );
    });
}

/// The `[targets.x]` table, its OAuth 1.0a keys written to files in `dir`.
fn x_target(config: Config, dir: &Path, api_url: &str) -> Config {
    let mut config = config
        .table("targets.x")
        .set("kind", "x")
        .set("api_url", api_url);
    for (key, value) in [
        ("consumer_key", fake_x::write::CONSUMER_KEY),
        ("consumer_secret", fake_x::write::CONSUMER_SECRET),
        ("access_token", fake_x::write::ACCESS_TOKEN),
        ("access_token_secret", fake_x::write::ACCESS_SECRET),
    ] {
        let file = dir.join(format!("x-{key}"));
        std::fs::write(&file, format!("{value}\n")).expect("a key file");
        config = config.set(&format!("{key}_file"), &file.display().to_string());
    }
    config
}

/// Starts the daemon on `config` and waits until its source streams (or, with
/// `streaming` off, has its cursor).
async fn start(config: Config, source: &FakeFedi, streaming: bool) -> Running {
    let settings = support::settings(&config.write());
    let running = Running::start(
        &settings,
        support::ledger(&settings),
        Clock::System,
        support::options(),
    );
    running.cursor_set("home").await;
    if streaming {
        support::wait_for(|| source.open_streams() == 1).await;
    }
    running
}

/// Writes `n` statuses on `source`, one every [`PACE`]; returns each one's text and when it
/// was written.
async fn write(source: &FakeFedi, n: usize, prefix: &str) -> Vec<(String, DateTime<Utc>)> {
    let mut written = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(PACE);
    for i in 0..n {
        tick.tick().await;
        let text = format!("{prefix} status {i}");
        let at = Utc::now();
        source.author(&NewStatus::says(&text));
        written.push((text, at));
    }
    written
}

async fn streaming_to_x(n: usize) -> Vec<f64> {
    let dir = TempDir::new().expect("a folder");
    let source = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let x = FakeX::start(Clock::System).await;
    // A window far above the run: the delay measured is the bridge's, not X's limit.
    x.set_post_window(100_000, 900);
    let config = Config::new(dir.path())
        .fediverse_source("home", "mastodon", &source.url, TOKEN)
        .set("schedule", "0 0 0 1 1 *");
    let config = x_target(config, dir.path(), &x.url()).route("r", "home", &["x"]);
    let daemon = start(config, &source, true).await;
    let written = write(&source, n, "to X").await;
    support::wait_for_long(|| x.made().len() >= n, Duration::from_secs(120)).await;
    daemon.stop().await;
    let posted: Vec<(String, DateTime<Utc>)> = x
        .made_posts()
        .iter()
        .map(|p| {
            let at = p["created_at"].as_str().expect("a time");
            (
                p["birdbridge_fake_sent"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                DateTime::parse_from_rfc3339(at).expect("a time").to_utc(),
            )
        })
        .collect();
    delays(&written, &posted)
}

async fn streaming_to_mastodon(n: usize) -> Vec<f64> {
    let dir = TempDir::new().expect("a folder");
    let source = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let second = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let config = Config::new(dir.path())
        .fediverse_source("home", "mastodon", &source.url, TOKEN)
        .set("schedule", "0 0 0 1 1 *")
        .fedi_target("second", "mastodon", &second.url, TOKEN)
        .route("r", "home", &["second"]);
    let daemon = start(config, &source, true).await;
    let written = write(&source, n, "to Mastodon").await;
    support::wait_for_long(|| second.statuses().len() >= n, Duration::from_secs(120)).await;
    daemon.stop().await;
    let posted: Vec<(String, DateTime<Utc>)> = second
        .statuses()
        .into_iter()
        .map(|s| (s.text, s.created_at))
        .collect();
    delays(&written, &posted)
}

async fn polling(n: usize) -> Vec<f64> {
    let dir = TempDir::new().expect("a folder");
    let source = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    source.refuse_streams(Some(StatusCode::NOT_FOUND));
    let second = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let config = Config::new(dir.path())
        .fediverse_source("home", "mastodon", &source.url, TOKEN)
        .set("schedule", "* * * * * *")
        .fedi_target("second", "mastodon", &second.url, TOKEN)
        .route("r", "home", &["second"]);
    let daemon = start(config, &source, false).await;
    let mut written = Vec::with_capacity(n);
    for i in 0..n {
        // At random moments within the poll interval.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1700))).await;
        let text = format!("polled status {i}");
        let at = Utc::now();
        source.author(&NewStatus::says(&text));
        written.push((text, at));
    }
    support::wait_for_long(|| second.statuses().len() >= n, Duration::from_secs(60)).await;
    daemon.stop().await;
    let posted: Vec<(String, DateTime<Utc>)> = second
        .statuses()
        .into_iter()
        .map(|s| (s.text, s.created_at))
        .collect();
    delays(&written, &posted)
}

/// Each written status's delay to its copy, in seconds.
fn delays(written: &[(String, DateTime<Utc>)], posted: &[(String, DateTime<Utc>)]) -> Vec<f64> {
    written
        .iter()
        .filter_map(|(text, at)| {
            let copy = posted.iter().find(|(t, _)| t == text)?;
            #[expect(clippy::cast_precision_loss, reason = "milliseconds of a short run")]
            Some((copy.1 - *at).num_milliseconds() as f64 / 1000.0)
        })
        .collect()
}

fn report(what: &str, delays: &[f64], p50_goal: f64, p99_goal: f64) {
    let mut sorted = delays.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a short list"
        )]
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).copied().unwrap_or(f64::NAN)
    };
    println!("\n{what}");
    println!("  copies: {}", sorted.len());
    println!(
        "  p50 {:.3} s (goal ≤ {p50_goal} s)   p90 {:.3} s   p99 {:.3} s (goal ≤ {p99_goal} s)   worst {:.3} s",
        at(0.5),
        at(0.9),
        at(0.99),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
}
