//! Live before backfill: a live post found while a 1,000-post backfill runs in the same
//! process goes out at once, at live priority, while the backfill waits at its share of the
//! target's rate-limit window. Real HTTP against the fake X API and the fake Mastodon-API
//! server; time is a manual clock.

mod fake_fedi;
mod fake_x;
mod support;
mod synthetic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use birdbridge::backfill::{self, BackfillOptions};
use birdbridge::budget::BudgetPool;
use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::daemon::DaemonOptions;
use birdbridge::progress::Progress;
use chrono::{TimeZone, Utc};
use fake_fedi::{FakeFedi, Personality};
use fake_x::FakeX;
use rstest::rstest;
use serde_json::json;
use support::config::Config;
use support::{wait_for, Running};
use tempfile::TempDir;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

/// Starts the daemon of `settings` on `clock`, with `budgets` (shared with a backfill in this
/// process, if any), once its first cycle has set the `acct` source's cursor.
async fn start_daemon(
    settings: &Settings,
    clock: &Arc<ManualClock>,
    budgets: BudgetPool,
) -> Running {
    let options = DaemonOptions {
        budgets,
        ..support::options()
    };
    let running = Running::start(settings, support::ledger(settings), clock.clone(), options);
    running.cursor_set("acct").await;
    running
}

/// Runs `birdbridge backfill ARGS` on `config` next to the running daemon: it queues the
/// work as job 1 and delivers nothing itself.
async fn queue_backfill(config: &std::path::Path, args: &[&str], fedi: &FakeFedi) {
    let mut cmd = assert_cmd::Command::cargo_bin("birdbridge").unwrap();
    cmd.arg("--config")
        .arg(config)
        .arg("backfill")
        .args(args)
        .env("BIRDBRIDGE_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("queued as job 1"), "{stdout}");
    assert!(
        fedi.statuses().is_empty(),
        "the command delivered nothing itself"
    );
}

#[rstest]
#[case::mastodon(Personality::Mastodon, "mastodon")]
#[case::gotosocial(Personality::GoToSocial, "gotosocial")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_post_goes_out_first_while_a_backfill_runs(
    #[case] personality: Personality,
    #[case] kind: &str,
) {
    // At the start of a 10 s window (windows are aligned to the epoch).
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    x.post(USER_ID, "before the start", json!({}));
    let fedi = FakeFedi::start(personality, clock.clone().into()).await;
    fedi.set_limit("statuses", 30, chrono::Duration::seconds(10));

    let dir = TempDir::new().unwrap();
    let archive = dir.path().join("archive");
    synthetic::write_archive(&archive, 1000);
    let config = Config::new(dir.path())
        .fedi_target("t", kind, &fedi.url, fake_fedi::TOKEN)
        .set_raw("backfill_share", "0.5")
        .archive_source("old", &archive)
        .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
        .set("schedule", "* * * * * *")
        .set("start", "latest")
        .route("live", "acct", &["t"])
        .route("old", "old", &["t"])
        .write();
    let settings = support::settings(&config);

    // One process: the daemon and the backfill share the target's budget.
    let budgets = BudgetPool::default();
    let running = start_daemon(&settings, &clock, budgets.clone()).await;
    let (ledger, cancel) = (Arc::clone(&running.ledger), running.cancel.clone());

    let opts = BackfillOptions {
        route: "old".into(),
        clock: Clock::from(Arc::clone(&clock)),
        budgets,
        cancel: cancel.clone(),
        ..BackfillOptions::default()
    };
    let prepared = backfill::prepare(&settings, &opts).unwrap();
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
    // The backfill takes its half of the window, then waits for the next one.
    wait_for(|| fedi.statuses().len() == 15).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fedi.statuses().len(), 15, "backfill kept to its share");

    x.post(USER_ID, "live post", json!({}));
    clock.advance(chrono::Duration::seconds(1));
    wait_for(|| fedi.statuses().len() == 16).await;
    let statuses = fedi.statuses();
    let live = statuses.last().unwrap();
    assert!(live.text.contains("live post"), "{statuses:?}");
    assert_eq!(
        live.created_at,
        start + chrono::Duration::seconds(1),
        "delivered in the window the backfill had to leave, without waiting"
    );

    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), backfill)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.parts_delivered, 15, "{report:?}");
    running.stop().await;
}

/// `backfill` started while a daemon runs on the same ledger hands the work to the daemon
/// (a job in the ledger, shown by `status`), which delivers it on its own budgets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_next_to_a_running_daemon_is_run_by_the_daemon() {
    let clock = ManualClock::new(Utc::now());
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    let fedi = FakeFedi::start(Personality::Mastodon, clock.clone().into()).await;
    let dir = TempDir::new().unwrap();
    let archive = dir.path().join("archive");
    synthetic::write_archive(&archive, 20);
    let config = Config::new(dir.path())
        .set(
            "path",
            &dir.path().join("ledger.sqlite").display().to_string(),
        )
        .fedi_target("t", "mastodon", &fedi.url, fake_fedi::TOKEN)
        .archive_source("old", &archive)
        .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "latest")
        .route("live", "acct", &["t"])
        .route("old", "old", &["t"])
        .write();
    let settings = support::settings(&config);
    let running = start_daemon(&settings, &clock, BudgetPool::default()).await;
    let ledger = Arc::clone(&running.ledger);

    queue_backfill(&config, &["--route", "old"], &fedi).await;

    // The daemon looks at its queue every minute.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.jobs(1).unwrap()[0].state != "done" {
        assert!(Instant::now() < deadline, "{:?}", ledger.jobs(1));
        clock.advance(chrono::Duration::seconds(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fedi.statuses().len(), 20);
    let status = birdbridge::status::report(&settings, None).unwrap();
    assert!(
        status.contains("job 1 route old: done") && status.contains("20 post(s) delivered"),
        "{status}"
    );
    running.stop().await;
    assert_eq!(
        ledger
            .live_daemon(Utc::now() - chrono::Duration::days(1))
            .unwrap(),
        None
    );
}

/// `backfill --from-api` started while a daemon runs is queued for it; the daemon reads the
/// X timeline back to `--since` and delivers each post once, in the backfill lane (at most
/// its share of the target's window), and `status` shows the job done.
#[rstest]
#[case::mastodon(Personality::Mastodon, "mastodon")]
#[case::gotosocial(Personality::GoToSocial, "gotosocial")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_from_api_backfill_next_to_a_running_daemon_is_run_by_the_daemon(
    #[case] personality: Personality,
    #[case] kind: &str,
) {
    // The heartbeat carries the daemon's clock: a fresh one for the command, so "now".
    let clock = ManualClock::new(Utc::now());
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    let old = x.posts(USER_ID, 8);
    let fedi = FakeFedi::start(personality, clock.clone().into()).await;
    fedi.set_limit("statuses", 10, chrono::Duration::seconds(10));
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .set(
            "path",
            &dir.path().join("ledger.sqlite").display().to_string(),
        )
        .fedi_target("t", kind, &fedi.url, fake_fedi::TOKEN)
        .set_raw("backfill_share", "0.5")
        .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "latest")
        .route("live", "acct", &["t"])
        .write();
    let settings = support::settings(&config);
    let running = start_daemon(&settings, &clock, BudgetPool::default()).await;
    let ledger = Arc::clone(&running.ledger);
    // Started after the newest post: the live lane delivers none of the old ones.
    wait_for(|| {
        ledger
            .live_daemon(Utc::now() - chrono::Duration::days(1))
            .unwrap()
            .is_some()
    })
    .await;

    let since = (Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let args = ["--route", "live", "--from-api", "--since", &since];
    queue_backfill(&config, &args, &fedi).await;
    assert!(ledger.jobs(1).unwrap()[0].from_api);

    // The daemon looks at its queue every minute; the job then takes the backfill share of
    // the window (5 of 10) and waits for the next one.
    clock.advance(chrono::Duration::seconds(60));
    wait_for(|| fedi.statuses().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fedi.statuses().len(),
        5,
        "the job kept to the backfill share"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.jobs(1).unwrap()[0].state != "done" {
        assert!(Instant::now() < deadline, "{:?}", ledger.jobs(1));
        clock.advance(chrono::Duration::seconds(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let texts: Vec<String> = fedi.statuses().into_iter().map(|s| s.text).collect();
    let want: Vec<String> = (0..old.len())
        .map(|i| format!("generated post {i}"))
        .collect();
    assert_eq!(texts.len(), want.len(), "each post once: {texts:?}");
    for (text, want) in texts.iter().zip(&want) {
        assert!(text.contains(want.as_str()), "oldest first: {texts:?}");
    }
    let status = birdbridge::status::report(&settings, None).unwrap();
    assert!(
        status.contains("job 1 route live from the X API: done")
            && status.contains("8 post(s) delivered in 8 part(s)"),
        "{status}"
    );
    running.stop().await;
    assert_eq!(fedi.statuses().len(), 8, "nothing twice");
}

/// `GoToSocial`'s window edge inside the daemon: the server announces each reset cut down to
/// the whole second while its window really ends later within it. A queued backfill that
/// waits for the window must not send its first request at the announced second (still
/// counted in the old window, whose answer would then hold the job for a whole window of
/// birdbridge's own): every window after the first starts soon after the previous one's
/// end, no request is refused, and the job finishes. The clock moves in 100 ms steps, so a
/// wait ends within the announced second as it would in real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_backfill_meets_the_gotosocial_window_edge_without_idling() {
    // The window starts 400 ms into a second, so it ends 400 ms into one too.
    let now = Utc::now();
    let start = Utc
        .timestamp_opt(now.timestamp(), 400_000_000)
        .single()
        .unwrap();
    let clock = ManualClock::new(start);
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    let fedi = FakeFedi::start(Personality::GoToSocial, clock.clone().into()).await;
    let period = chrono::Duration::seconds(20);
    fedi.set_limit("requests", 10, period);
    let dir = TempDir::new().unwrap();
    let archive = dir.path().join("archive");
    synthetic::write_archive(&archive, 12);
    let config = Config::new(dir.path())
        .set(
            "path",
            &dir.path().join("ledger.sqlite").display().to_string(),
        )
        .fedi_target("t", "gotosocial", &fedi.url, fake_fedi::TOKEN)
        .set_raw("backfill_share", "0.5")
        .archive_source("old", &archive)
        .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "latest")
        .route("live", "acct", &["t"])
        .route("old", "old", &["t"])
        .write();
    let settings = support::settings(&config);
    let running = start_daemon(&settings, &clock, BudgetPool::default()).await;
    let ledger = Arc::clone(&running.ledger);
    queue_backfill(&config, &["--route", "old"], &fedi).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while ledger.jobs(1).unwrap()[0].state != "done" {
        assert!(
            Instant::now() < deadline,
            "{:?} after {} statuses; windows {:?}",
            ledger.jobs(1),
            fedi.statuses().len(),
            fedi.state().window_starts
        );
        clock.advance(chrono::Duration::milliseconds(100));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(fedi.statuses().len(), 12, "each post once");
    assert_eq!(
        fedi.too_many(),
        0,
        "a request was refused at the window's edge"
    );
    // The backfill takes its half of each window; the windows it needs follow each other
    // soon after each end: within a second, plus the steps the test clock takes while the
    // daemon gets to run on a busy machine (waiting a whole window of its own would take
    // another 20 s).
    let starts = fedi.state().window_starts.clone();
    assert!(starts.len() >= 3, "{starts:?}");
    for pair in starts.windows(2).skip(1) {
        let gap = pair[1] - pair[0];
        assert!(
            gap <= period + chrono::Duration::seconds(5),
            "idle past the server's reset: {starts:?}"
        );
    }
    running.stop().await;
}
