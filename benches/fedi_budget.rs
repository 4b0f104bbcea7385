//! Rate-limit budget benchmark: a backfill of N text posts into the fake servers of
//! `tests/fake_fedi/`, their windows shortened. Real time, real HTTP on 127.0.0.1, the real
//! delivery engine and ledger (`synchronous=FULL`). Three variants:
//!
//! - `mastodon`: 30 statuses / 10 s (and 300 requests, 30 media), windows aligned to the
//!   epoch, announced in `X-RateLimit-*` headers, 429 with `Retry-After` (300 posts);
//! - `gotosocial`: 30 requests / 10 s per client, the window starting at the client's first
//!   request, its end announced only in `X-RateLimit-Reset` (ISO, cut down to the whole
//!   second while the window really ends later within it), 429 without `Retry-After`
//!   (300 posts);
//! - `gotosocial-long`: the same server with 60 requests / 30 s, over eight windows (475
//!   posts, about four minutes): the window's edge met again and again.
//!
//! ```sh
//! cargo bench --bench fedi_budget                         # all three, ~10 min
//! cargo bench --bench fedi_budget -- gotosocial-long      # the long GoToSocial run
//! cargo bench --bench fedi_budget -- gotosocial 600       # one variant, more posts
//! ```
//!
//! Prints, per variant, the budget used per server window (statuses for mastodon, requests
//! for gotosocial) as a fraction of the announced budget (over the whole run, over the full
//! windows between the first and the last, and over the time from the first window's start
//! to the last one's), the number of 429 answers, and for `GoToSocial` the longest idle
//! gap between two requests next to the server's own wait (from the last request of a used-up
//! window to the end of the second its reset names) and the longest time past a real
//! reset. Asserts nothing.

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
use chrono::{DateTime, Duration, Timelike, Utc};
use fake_fedi::{FakeFedi, Personality, TOKEN};
use synthetic::write_archive;

/// One run: a server, its window, and how many posts.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    personality: Personality,
    /// Calls per window (statuses on mastodon, requests on gotosocial).
    per_window: u32,
    /// The window length, in seconds.
    window_seconds: i64,
    /// Posts when the command line names none.
    posts: usize,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        name: "mastodon",
        personality: Personality::Mastodon,
        per_window: 30,
        window_seconds: 10,
        posts: 300,
    },
    Variant {
        name: "gotosocial",
        personality: Personality::GoToSocial,
        per_window: 30,
        window_seconds: 10,
        posts: 300,
    },
    Variant {
        name: "gotosocial-long",
        personality: Personality::GoToSocial,
        per_window: 60,
        window_seconds: 30,
        // Eight windows, the first one's connecting requests (instance, nodeinfo, account)
        // included.
        posts: 475,
    },
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let posts: Option<usize> = args.iter().find_map(|a| a.parse().ok());
    let named: Vec<&String> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let variants: Vec<Variant> = VARIANTS
        .into_iter()
        .filter(|v| named.is_empty() || named.iter().any(|n| *n == v.name))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for variant in variants {
        runtime.block_on(run(variant, posts.unwrap_or(variant.posts)));
    }
}

async fn run(variant: Variant, posts: usize) {
    let Variant {
        name,
        personality,
        per_window: budget_per_window,
        window_seconds,
        ..
    } = variant;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let archive = dir.path().join("archive");
    write_archive(&archive, posts);

    let fake = FakeFedi::start(personality, Clock::System).await;
    let window = Duration::seconds(window_seconds);
    let (kind, counted) = if personality == Personality::Mastodon {
        fake.set_limit("statuses", budget_per_window, window);
        fake.set_limit("requests", 300, window);
        fake.set_limit("media", 30, window);
        ("mastodon", "statuses")
    } else {
        fake.set_limit("requests", budget_per_window, window);
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
        "{name}: backfilling {posts} posts into the fake {kind} ({budget_per_window} {counted} / {window_seconds} s)..."
    );
    let started = Instant::now();
    let report = backfill::backfill(prepared, &ledger, &opts, &Progress::new(false, false))
        .await
        .expect("backfill");
    let elapsed = started.elapsed();

    print_windows(variant, posts, &report, elapsed, &fake, counted);
}

/// The budget used per server window, over the run and over time, and the 429 answers.
fn print_windows(
    variant: Variant,
    posts: usize,
    report: &birdbridge::report::DeliveryReport,
    elapsed: std::time::Duration,
    fake: &FakeFedi,
    counted: &str,
) {
    let Variant {
        name,
        personality,
        per_window: budget_per_window,
        window_seconds,
        ..
    } = variant;
    let window = Duration::seconds(window_seconds);
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
    let budget = f64::from(budget_per_window);

    println!(
        "fedi_budget {name}: {posts} posts, {} delivered, {} failed",
        report.parts_delivered, report.parts_failed
    );
    println!(
        "  elapsed: {:.1} s; windows touched: {spanned}",
        elapsed.as_secs_f64()
    );
    println!(
        "  {counted} per window over the run: {:.2} of {budget_per_window} = {:.3} of the budget",
        f64::from(posted) / spanned,
        f64::from(posted) / spanned / budget
    );
    println!(
        "  full windows ({}): mean {full_mean:.2} = {:.3} of the budget, min {full_min}",
        full.len(),
        full_mean / budget
    );
    // Over time: what was used before the last window, against what the server's windows
    // allowed from the first one's start to the last one's.
    if let (Some(a), Some(b)) = (starts.get(first), starts.get(last)) {
        let before_last = f64::from(posted - per_window.get(&last).copied().unwrap_or(0));
        let allowed =
            (*b - *a).num_milliseconds() as f64 / window.num_milliseconds() as f64 * budget;
        if allowed > 0.0 {
            println!(
                "  over time (first window's start to the last one's): {:.3} of the budget",
                before_last / allowed
            );
        }
    }
    println!("  429 answers: {}", fake.too_many());
    if personality == Personality::GoToSocial {
        print_idle_gaps(&log, &starts, window);
    }
}

/// The longest idle gap between two requests, and what the server itself made the client
/// wait there: from the last request of a used-up window to the end of the second its reset
/// names (the fake cuts the reset down to that second). Also the longest time between a
/// window's real end and the request that started the next one.
fn print_idle_gaps(log: &[fake_fedi::Logged], starts: &[DateTime<Utc>], window: Duration) {
    let mut times: Vec<DateTime<Utc>> = log.iter().map(|l| l.at).collect();
    times.sort();
    let Some((longest, at)) = times
        .windows(2)
        .map(|p| (p[1] - p[0], p[0]))
        .max_by_key(|(gap, _)| *gap)
    else {
        return;
    };
    let seconds = |d: Duration| d.num_milliseconds() as f64 / 1000.0;
    // The window the gap began in, and the end of the second its reset names.
    let index = starts.partition_point(|s| *s <= at).saturating_sub(1);
    let own = starts.get(index).map(|start| {
        let end = *start + window;
        let announced_second = end.with_nanosecond(0).unwrap_or(end) + Duration::seconds(1);
        announced_second - at
    });
    match own {
        Some(own) => println!(
            "  longest idle gap: {:.3} s; the server's own wait there: {:.3} s (to the end of its announced second); beyond it: {:.3} s",
            seconds(longest),
            seconds(own),
            seconds(longest - own)
        ),
        None => println!("  longest idle gap: {:.3} s", seconds(longest)),
    }
    let past = starts
        .windows(2)
        .map(|p| p[1] - (p[0] + window))
        .max()
        .unwrap_or_else(Duration::zero);
    println!(
        "  longest time from a window's real end to the next window's first request: {:.3} s",
        seconds(past)
    );
}
