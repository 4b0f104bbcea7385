//! Live latency while a backfill runs: the daemon polls an X account every second (the
//! fake X API) while a 1,000-post archive backfill runs in the same process against the
//! fake Mastodon (30 statuses / 10 s, backfill share 0.5); live posts appear at random
//! moments, and the delay from a post appearing to its status existing is measured in poll
//! intervals.
//!
//! ```sh
//! cargo bench --bench live_latency            # 40 live posts over ~5 simulated minutes
//! cargo bench --bench live_latency -- 100     # more live posts
//! ```
//!
//! Time is a manual clock moved in 50 ms steps, so the run takes seconds and the figures do
//! not depend on the machine; everything else is real (HTTP on 127.0.0.1, the ledger).
//! Prints figures; asserts nothing.

#[path = "../tests/fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "../tests/fake_x/mod.rs"]
mod fake_x;
#[path = "../tests/synthetic/mod.rs"]
mod synthetic;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use birdbridge::backfill::{self, BackfillOptions};
use birdbridge::budget::BudgetPool;
use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::daemon::{Daemon, DaemonOptions, Notifier};
use birdbridge::progress::Progress;
use birdbridge::store::{Durability, Ledger};
use chrono::{TimeZone, Utc};
use fake_fedi::{FakeFedi, Personality};
use fake_x::FakeX;
use tokio_util::sync::CancellationToken;

const BACKFILL_POSTS: usize = 1000;
const POLL_SECONDS: f64 = 1.0;
const STEP_MS: i64 = 50;

fn main() {
    let live_posts: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(40);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(live_posts));
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, set up and measured in order"
)]
async fn run(live_posts: usize) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user("42", "bench");
    x.post("42", "before the start", serde_json::json!({}));
    let fedi = FakeFedi::start(Personality::Mastodon, clock.clone().into()).await;
    fedi.set_limit("statuses", 30, chrono::Duration::seconds(10));

    let dir = tempfile::TempDir::new().expect("temp dir");
    let archive = dir.path().join("archive");
    synthetic::write_archive(&archive, BACKFILL_POSTS);
    let x_token = dir.path().join("x.token");
    std::fs::write(&x_token, fake_x::TOKEN).expect("token");
    let fedi_token = dir.path().join("fedi.token");
    std::fs::write(&fedi_token, fake_fedi::TOKEN).expect("token");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [targets.t]\nkind = \"mastodon\"\nurl = \"{}\"\ntoken_file = {:?}\nbackfill_share = 0.5\n\n\
             [sources.old]\nkind = \"archive\"\npath = {:?}\n\n\
             [sources.acct]\nkind = \"x\"\nusername = \"bench\"\ntoken_file = {:?}\n\
             schedule = \"* * * * * *\"\napi_url = \"{}\"\nstart = \"latest\"\n\n\
             [routes.live]\nsource = \"acct\"\ntargets = [\"t\"]\n\n\
             [routes.old]\nsource = \"old\"\ntargets = [\"t\"]\n",
            fedi.url,
            fedi_token.display().to_string(),
            archive.display().to_string(),
            x_token.display().to_string(),
            x.url(),
        ),
    )
    .expect("config");
    let settings = Settings::load_with_env(&config, HashMap::new()).expect("settings");
    let ledger =
        Arc::new(Ledger::open_with(&settings.ledger.path, Durability::Normal).expect("ledger"));
    let budgets = BudgetPool::default();
    let cancel = CancellationToken::new();
    let options = DaemonOptions {
        max_jitter: Duration::ZERO,
        budgets: budgets.clone(),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::build(
        &settings,
        Arc::clone(&ledger),
        clock.clone().into(),
        cancel.clone(),
        options,
    )
    .expect("daemon");
    let running = tokio::spawn(async move { daemon.run(&Notifier::for_socket(None)).await });
    while ledger.cursor("acct").expect("cursor").is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opts = BackfillOptions {
        route: "old".into(),
        clock: Clock::from(Arc::clone(&clock)),
        budgets,
        cancel: cancel.clone(),
        ..BackfillOptions::default()
    };
    let prepared = backfill::prepare(&settings, &opts).expect("prepare");
    let backfill_ledger = Arc::clone(&ledger);
    let backfill = tokio::spawn(async move {
        backfill::backfill(
            prepared,
            &backfill_ledger,
            &opts,
            &Progress::new(false, false),
        )
        .await
    });

    // Live posts at random moments, 2 to 12 s apart; the clock moves in small steps.
    let mut appeared = Vec::with_capacity(live_posts);
    let mut next_post = start + chrono::Duration::seconds(3);
    let mut step = 0u64;
    let mut waited_too_long = false;
    loop {
        let now = clock.now();
        if appeared.len() < live_posts && now >= next_post {
            let text = format!("live post {}", appeared.len());
            x.post("42", &text, serde_json::json!({}));
            appeared.push((text, now));
            next_post = now + chrono::Duration::milliseconds(fastrand::i64(2000..12_000));
        }
        let live_delivered = fedi
            .statuses()
            .iter()
            .filter(|s| s.text.starts_with("live post"))
            .count();
        if appeared.len() == live_posts && live_delivered == live_posts {
            break;
        }
        if now - start > chrono::Duration::hours(2) {
            waited_too_long = true;
            break;
        }
        clock.advance(chrono::Duration::milliseconds(STEP_MS));
        step += 1;
        // Let the daemon and the backfill run at this time before moving on.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let statuses = fedi.statuses();
    let backfilled = statuses
        .iter()
        .filter(|s| s.text.starts_with("Benchmark post"))
        .count();
    let mut delays: Vec<f64> = appeared
        .iter()
        .filter_map(|(text, at)| {
            statuses.iter().find(|s| &s.text == text).map(|s| {
                let ms = (s.created_at - *at).num_milliseconds();
                #[expect(clippy::cast_precision_loss, reason = "milliseconds of a short run")]
                let seconds = ms as f64 / 1000.0;
                seconds / POLL_SECONDS
            })
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    cancel.cancel();
    let _ = backfill.await;
    let _ = running.await;

    let simulated = clock.now() - start;
    println!(
        "live_latency: {} live posts while a {BACKFILL_POSTS}-post backfill ran (fake mastodon, 30 statuses / 10 s, backfill share 0.5, polls every {POLL_SECONDS} s)",
        appeared.len()
    );
    println!(
        "  simulated {} s in {step} steps of {STEP_MS} ms; backfill delivered {backfilled} of {BACKFILL_POSTS} meanwhile",
        simulated.num_seconds()
    );
    if waited_too_long || delays.len() < appeared.len() {
        println!(
            "  {} live post(s) never arrived within 2 h of simulated time",
            appeared.len() - delays.len()
        );
    }
    if let (Some(worst), false) = (delays.last(), delays.is_empty()) {
        let p50 = delays[delays.len() / 2];
        let p90 = delays[delays.len() * 9 / 10];
        println!(
            "  delay from post to status, in poll intervals: p50 {p50:.2}, p90 {p90:.2}, worst {worst:.2}"
        );
    }
    println!("  429 answers: {}", fedi.too_many());
}
