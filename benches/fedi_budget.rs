//! Rate-limit budget benchmark: a backfill of N text posts (default 1,000) into the fake
//! `mastodon` server of `tests/fake_fedi/`, its windows shortened to 30 statuses / 10 s (and
//! 300 requests / 10 s, 30 media / 10 s), announced in its `X-RateLimit-*` headers. Real
//! time, real HTTP on 127.0.0.1, the real pipeline and ledger (`synchronous=FULL`).
//!
//! ```sh
//! cargo bench --bench fedi_budget            # 1,000 posts, about 5.5 minutes
//! cargo bench --bench fedi_budget -- 200     # fewer posts
//! ```
//!
//! Prints the statuses posted per window as a fraction of the announced budget (over the
//! whole run, and over the full windows between the first and the last) and the number of
//! 429 answers. Asserts nothing.

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

/// Statuses per window, as the fake announces.
const STATUSES_PER_WINDOW: u32 = 30;
/// The window length, in seconds.
const WINDOW_SECONDS: i64 = 10;

fn main() {
    let posts: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(posts));
}

async fn run(posts: usize) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let archive = dir.path().join("archive");
    write_archive(&archive, posts);

    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let window = Duration::seconds(WINDOW_SECONDS);
    fake.set_limit("statuses", STATUSES_PER_WINDOW, window);
    fake.set_limit("requests", 300, window);
    fake.set_limit("media", 30, window);

    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token file");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.a]\nkind = \"archive\"\npath = {:?}\n\n\
             [targets.m]\nkind = \"mastodon\"\nurl = \"{}\"\ntoken_file = {:?}\nbackfill_share = 1.0\n\n\
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
        "backfilling {posts} posts into the fake mastodon ({STATUSES_PER_WINDOW} statuses / {WINDOW_SECONDS} s)..."
    );
    let started = Instant::now();
    let report = backfill::backfill(prepared, &ledger, &opts, &Progress::new(false, false))
        .await
        .expect("backfill");
    let elapsed = started.elapsed();

    let log = fake.log();
    let mut per_window: BTreeMap<i64, u32> = BTreeMap::new();
    for l in log
        .iter()
        .filter(|l| l.path == "/api/v1/statuses" && l.status == 200)
    {
        *per_window
            .entry(l.at.timestamp().div_euclid(WINDOW_SECONDS))
            .or_default() += 1;
    }
    let posted: u32 = per_window.values().sum();
    let first = per_window.keys().next().copied().unwrap_or_default();
    let last = per_window.keys().last().copied().unwrap_or_default();
    let spanned = (last - first + 1) as f64;
    let full: Vec<u32> = per_window.range(first + 1..last).map(|(_, n)| *n).collect();
    let full_mean = f64::from(full.iter().sum::<u32>()) / full.len().max(1) as f64;
    let full_min = full.iter().min().copied().unwrap_or_default();
    let budget = f64::from(STATUSES_PER_WINDOW);

    println!(
        "fedi_budget: {posts} posts, {} delivered, {} failed",
        report.parts_delivered, report.parts_failed
    );
    println!(
        "  elapsed: {:.1} s; windows touched: {spanned}",
        elapsed.as_secs_f64()
    );
    println!(
        "  statuses per window over the run: {:.2} of {STATUSES_PER_WINDOW} = {:.3} of the budget",
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
