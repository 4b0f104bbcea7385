//! Retraction budget benchmark: N statuses (default 1,000) backfilled into the fake
//! Mastodon of `tests/fake_fedi/`, then the whole route taken back by `retract` (in
//! process: the same selection, job, engine and ledger as the command), with Mastodon's
//! deletes family (30 per 30 minutes, unreblogs included) scaled to 30 per 10 s. Real
//! time, real HTTP on 127.0.0.1, the ledger with `synchronous=FULL`.
//!
//! ```sh
//! cargo bench --bench retract_budget          # 1,000 statuses, about 6 min
//! cargo bench --bench retract_budget -- 300   # fewer
//! ```
//!
//! Prints the estimate given at the start, the time taken against the budget's own
//! (statuses / 30 × 10 s), the deletes per server window as a fraction of the budget (over
//! every window the run touched, and over the full windows between the first and the
//! last), and the number of 429 answers. Asserts nothing.

#![expect(
    clippy::cast_precision_loss,
    reason = "printed figures; counts are far below 2^52"
)]

#[path = "../tests/fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "../tests/synthetic/mod.rs"]
mod synthetic;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use birdbridge::backfill::{self, BackfillOptions};
use birdbridge::budget::BudgetPool;
use birdbridge::clock::Clock;
use birdbridge::config::Settings;
use birdbridge::engine::TakeBack;
use birdbridge::progress::Progress;
use birdbridge::retract::{self, RetractOptions, Which};
use birdbridge::store::Ledger;
use chrono::Duration;
use fake_fedi::{FakeFedi, Personality, TOKEN};
use synthetic::write_archive;
use tokio_util::sync::CancellationToken;

/// Deletes per window, as the fake announces.
const PER_WINDOW: u32 = 30;
/// The window length, in seconds.
const WINDOW_SECONDS: i64 = 10;

fn main() {
    let statuses: usize = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(statuses));
}

async fn run(statuses: usize) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let archive = dir.path().join("archive");
    write_archive(&archive, statuses);

    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let window = Duration::seconds(WINDOW_SECONDS);
    // The backfill is not what is measured: its statuses go as fast as the fake takes them.
    fake.set_limit("statuses", 100_000, window);
    fake.set_limit("requests", 100_000, window);
    fake.set_limit("deletes", PER_WINDOW, window);

    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).expect("token file");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.a]\nkind = \"archive\"\npath = {:?}\n\n\
             [targets.m]\nkind = \"mastodon\"\nurl = \"{}\"\ntoken_file = {:?}\nbackfill_share = 1.0\n\n\
             [routes.r]\nsource = \"a\"\ntargets = [\"m\"]\nbackfill_date_line = \"\"\n",
            archive.display().to_string(),
            fake.url,
            token.display().to_string()
        ),
    )
    .expect("config");
    let settings = Arc::new(Settings::load_with_env(&config, HashMap::new()).expect("settings"));
    let ledger = Arc::new(Ledger::open(&settings.ledger.path).expect("ledger"));
    let opts = BackfillOptions {
        route: "r".into(),
        ..BackfillOptions::default()
    };
    eprintln!("backfilling {statuses} posts into the fake mastodon...");
    let prepared = backfill::prepare(&settings, &opts).expect("prepare");
    let report = backfill::backfill(prepared, &ledger, &opts, &Progress::new(false, false))
        .await
        .expect("backfill");
    let mirrored = fake.live_statuses().len();
    eprintln!(
        "{mirrored} statuses posted ({} failed); taking them back at {PER_WINDOW} deletes / {WINDOW_SECONDS} s...",
        report.parts_failed
    );

    let opts = RetractOptions {
        route: "r".into(),
        target: None,
        which: Which::All,
        dry_run: false,
        yes: true,
        cancel: CancellationToken::new(),
        clock: Clock::System,
        budgets: BudgetPool::default(),
    };
    let mut said = Vec::new();
    let started = Instant::now();
    let report = retract::run(&settings, &ledger, &opts, &mut |l| said.push(l.to_owned()))
        .await
        .expect("retract");
    let elapsed = started.elapsed();
    print_figures(
        &fake,
        mirrored,
        &report.pass.unwrap_or_default(),
        &said,
        elapsed,
    );
}

/// What the run did, against the deletes budget.
fn print_figures(
    fake: &FakeFedi,
    mirrored: usize,
    pass: &TakeBack,
    said: &[String],
    elapsed: std::time::Duration,
) {
    let window = Duration::seconds(WINDOW_SECONDS);
    // The server's windows are aligned to the epoch: each delete falls in one.
    let period = window.num_milliseconds();
    let mut per_window: BTreeMap<i64, u32> = BTreeMap::new();
    let deletes = fake
        .log()
        .into_iter()
        .filter(|l| l.method == "DELETE" && l.status != 429);
    for l in deletes {
        *per_window
            .entry(l.at.timestamp_millis().div_euclid(period))
            .or_default() += 1;
    }
    let first = per_window.keys().next().copied().unwrap_or_default();
    let last = per_window.keys().last().copied().unwrap_or_default();
    let spanned = (last - first + 1) as f64;
    let done: u32 = per_window.values().sum();
    let full: Vec<u32> = per_window.range(first + 1..last).map(|(_, n)| *n).collect();
    let full_mean = f64::from(full.iter().sum::<u32>()) / full.len().max(1) as f64;
    let full_min = full.iter().min().copied().unwrap_or_default();
    let budget = f64::from(PER_WINDOW);
    let ideal = mirrored as f64 / budget * WINDOW_SECONDS as f64;

    println!(
        "retract_budget mastodon: {mirrored} statuses, {} taken back ({} already gone), {} left; {} still on the server",
        pass.taken_back,
        pass.already_gone,
        pass.posts_left,
        fake.live_statuses().len()
    );
    for line in said {
        println!("  estimate at the start: {line}");
    }
    println!(
        "  (the estimate is the server kind's known limit: the server announces its deletes \
         window only in a delete's answer)"
    );
    println!(
        "  elapsed: {:.1} s (the budget's own pace: {ideal:.1} s); windows touched: {spanned}",
        elapsed.as_secs_f64()
    );
    println!(
        "  deletes per window over the run: {:.2} of {PER_WINDOW} = {:.3} of the deletes budget",
        f64::from(done) / spanned,
        f64::from(done) / spanned / budget
    );
    println!(
        "  full windows ({}): mean {full_mean:.2} = {:.3} of the budget, min {full_min}",
        full.len(),
        full_mean / budget
    );
    println!("  429 answers: {}", fake.too_many());
}
