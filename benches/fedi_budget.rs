//! Rate-limit budget benchmark: a backfill of N text posts (default 300) into the fake
//! servers of `tests/fake_fedi/`, their windows shortened to 10 s. Real time, real HTTP on
//! 127.0.0.1, the real delivery engine and ledger (`synchronous=FULL`). Two variants:
//!
//! - `mastodon`: 30 statuses / 10 s (and 300 requests, 30 media), windows aligned to the
//!   epoch, announced in `X-RateLimit-*` headers, 429 with `Retry-After`;
//! - `gotosocial`: 30 requests / 10 s per client, the window starting at the client's first
//!   request, its end announced only in `X-RateLimit-Reset` (ISO), 429 without `Retry-After`.
//!
//! ```sh
//! cargo bench --bench fedi_budget                    # both, 300 posts each, ~2 min each
//! cargo bench --bench fedi_budget -- gotosocial 600  # one variant, more posts
//! ```
//!
//! Prints, per variant, the budget used per server window (statuses for mastodon, requests
//! for gotosocial) as a fraction of the announced budget (over the whole run, and over the
//! full windows between the first and the last) and the number of 429 answers. Asserts
//! nothing.

#![expect(
    clippy::cast_precision_loss,
    reason = "printed figures; counts are far below 2^52"
)]

#[path = "../tests/fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "../tests/synthetic/mod.rs"]
mod synthetic;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use birdbridge::backfill::{self, BackfillOptions};
use birdbridge::clock::Clock;
use birdbridge::config::Settings;
use birdbridge::progress::Progress;
use birdbridge::store::Ledger;
use chrono::Duration;
use fake_fedi::{FakeFedi, Personality, TOKEN};
use synthetic::write_archive;

/// Calls per window (statuses on mastodon, requests on gotosocial), as the fake announces.
const PER_WINDOW: u32 = 30;
/// The window length, in seconds.
const WINDOW_SECONDS: i64 = 10;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let posts: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(300);
    let variants: Vec<Personality> = match args.iter().find(|a| a.parse::<usize>().is_err()) {
        Some(v) if v == "mastodon" => vec![Personality::Mastodon],
        Some(v) if v == "gotosocial" => vec![Personality::GoToSocial],
        _ => vec![Personality::Mastodon, Personality::GoToSocial],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for personality in variants {
        runtime.block_on(run(personality, posts));
    }
}

async fn run(personality: Personality, posts: usize) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let archive = dir.path().join("archive");
    write_archive(&archive, posts);

    let fake = FakeFedi::start(personality, Clock::System).await;
    let window = Duration::seconds(WINDOW_SECONDS);
    let (kind, counted) = if personality == Personality::Mastodon {
        fake.set_limit("statuses", PER_WINDOW, window);
        fake.set_limit("requests", 300, window);
        fake.set_limit("media", 30, window);
        ("mastodon", "statuses")
    } else {
        fake.set_limit("requests", PER_WINDOW, window);
        ("gotosocial", "requests")
    };

    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token file");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.a]\nkind = \"archive\"\npath = {:?}\n\n\
             [targets.m]\nkind = \"{kind}\"\nurl = \"{}\"\ntoken_file = {:?}\nbackfill_share = 1.0\n\n\
             [routes.r]\nsource = \"a\"\ntargets = [\"m\"]\n",
            archive.display().to_string(),
            fake.url,
            token.display().to_string()
        ),
    )
    .expect("config");
    let settings = Settings::load_with_env(&config, HashMap::new()).expect("settings");
    let opts = BackfillOptions {
        route: "r".into(),
        ..BackfillOptions::default()
    };
    let prepared = backfill::prepare(&settings, &opts).expect("prepare");
    let ledger = std::sync::Arc::new(Ledger::open(&settings.ledger.path).expect("ledger"));
    eprintln!(
        "backfilling {posts} posts into the fake {kind} ({PER_WINDOW} {counted} / {WINDOW_SECONDS} s)..."
    );
    let started = Instant::now();
    let report = backfill::backfill(prepared, &ledger, &opts, &Progress::new(false, false))
        .await
        .expect("backfill");
    let elapsed = started.elapsed();

    let log = fake.log();
    // The server's own windows: aligned on mastodon, from the first request on gotosocial.
    // Every window is counted, also one in which nothing was used (a wait past a reset).
    let mut starts = fake.state().window_starts.clone();
    starts.sort();
    starts.dedup();
    let mut per_window: BTreeMap<usize, u32> = BTreeMap::new();
    let used = |l: &&fake_fedi::Logged| {
        l.status != 429 && (counted == "requests" || l.path == "/api/v1/statuses")
    };
    for l in log.iter().filter(used) {
        let index = starts.partition_point(|s| *s <= l.at).saturating_sub(1);
        *per_window.entry(index).or_default() += 1;
    }
    let first = per_window.keys().next().copied().unwrap_or_default();
    let last = per_window.keys().last().copied().unwrap_or_default();
    let windows_elapsed = if let (Some(a), Some(b)) = (starts.first(), starts.last()) {
        // Windows that could have been used between the first start and the last one.
        usize::try_from((*b - *a).num_milliseconds() / window.num_milliseconds()).unwrap_or(0) + 1
    } else {
        0
    };
    let posted: u32 = per_window.values().sum();
    let spanned = windows_elapsed.max(last - first + 1) as f64;
    let full: Vec<u32> = per_window.range(first + 1..last).map(|(_, n)| *n).collect();
    let full_mean = f64::from(full.iter().sum::<u32>()) / full.len().max(1) as f64;
    let full_min = full.iter().min().copied().unwrap_or_default();
    let budget = f64::from(PER_WINDOW);

    println!(
        "fedi_budget {kind}: {posts} posts, {} delivered, {} failed",
        report.parts_delivered, report.parts_failed
    );
    println!(
        "  elapsed: {:.1} s; windows touched: {spanned}",
        elapsed.as_secs_f64()
    );
    println!(
        "  {counted} per window over the run: {:.2} of {PER_WINDOW} = {:.3} of the budget",
        f64::from(posted) / spanned,
        f64::from(posted) / spanned / budget
    );
    println!(
        "  full windows ({}): mean {full_mean:.2} = {:.3} of the budget, min {full_min}",
        full.len(),
        full_mean / budget
    );
    println!("  429 answers: {}", fake.too_many());
}
