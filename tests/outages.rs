//! The daemon against a fediverse target that is down, refuses its token, or makes it wait
//! for its rate limit: nothing is lost, nothing doubled, threads stay in order, and the
//! process stops at once when asked. Real HTTP on 127.0.0.1 against the fake X API and the
//! fake Mastodon-API server (mastodon and gotosocial personalities); time is a manual clock
//! except in the binary tests.

mod fake_fedi;
mod fake_x;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::report::DeliveryReport;
use birdbridge::store::{Ledger, PartState};
use chrono::Utc;
use fake_fedi::{FakeFedi, Personality};
use fake_x::FakeX;
use rstest::rstest;
use serde_json::json;
use support::config::Config;
use support::{birdbridge, free_port, tick_until, wait_for, KillOnDrop, Running};
use tempfile::TempDir;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

fn kind(p: Personality) -> &'static str {
    match p {
        Personality::Mastodon => "mastodon",
        Personality::GoToSocial => "gotosocial",
        // The other personalities name themselves in nodeinfo.
        Personality::Minimal
        | Personality::Snac
        | Personality::Akkoma
        | Personality::Pixelfed
        | Personality::Friendica
        | Personality::Iceshrimp
        | Personality::Takahe => "auto",
    }
}

/// One X source `acct` (`start = "latest"`), one fediverse target `t`, route `r`.
fn write_config(dir: &Path, x_url: &str, fedi_url: &str, kind: &str, schedule: &str) -> PathBuf {
    Config::new(dir)
        .fedi_target("t", kind, fedi_url, fake_fedi::TOKEN)
        .x_source("acct", USERNAME, fake_x::TOKEN, x_url)
        .set("schedule", schedule)
        .set("start", "latest")
        .route("r", "acct", &["t"])
        .write()
}

struct Env {
    _dir: TempDir,
    config: PathBuf,
    x: FakeX,
    clock: Arc<ManualClock>,
    port: u16,
}

impl Env {
    /// The fake X API is up; the fediverse server is not started (see [`Env::fedi_up`]).
    async fn new(personality: Personality, clock: Arc<ManualClock>) -> Self {
        let x = FakeX::start(clock.clone().into()).await;
        x.add_user(USER_ID, USERNAME);
        let dir = TempDir::new().unwrap();
        let port = free_port();
        let config = write_config(
            dir.path(),
            &x.url(),
            &format!("http://127.0.0.1:{port}"),
            kind(personality),
            "0 * * * * *",
        );
        Self {
            _dir: dir,
            config,
            x,
            clock,
            port,
        }
    }

    async fn fedi_up(&self, personality: Personality) -> FakeFedi {
        FakeFedi::start_on_port(personality, self.clock.clone().into(), self.port).await
    }

    fn settings(&self) -> Settings {
        support::settings(&self.config)
    }

    fn ledger(&self) -> Arc<Ledger> {
        support::ledger(&self.settings())
    }

    /// The daemon, running in this process, once its first cycle set the cursor.
    async fn running(&self) -> Running {
        let running = Running::start(
            &self.settings(),
            self.ledger(),
            self.clock.clone(),
            support::options(),
        );
        running.cursor_set("acct").await;
        running
    }

    /// One cycle of a freshly started daemon: what `birdbridge once` does.
    async fn once(&self) -> DeliveryReport {
        support::once(&self.settings(), self.clock.clone()).await
    }

    /// A thread of three posts (each replying to the one before), oldest first.
    fn thread(&self) -> [String; 3] {
        let a = self.x.post(USER_ID, "thread start", json!({}));
        let b = self.x.post(USER_ID, "thread middle", reply_to(a));
        let c = self.x.post(USER_ID, "thread end", reply_to(b));
        [a, b, c].map(|id| id.to_string())
    }
}

fn reply_to(parent: u64) -> serde_json::Value {
    json!({
        "in_reply_to_user_id": USER_ID,
        "referenced_tweets": [{"type": "replied_to", "id": parent.to_string()}],
    })
}

/// The thread arrived once, in order, each status replying to the one before.
fn assert_thread(fedi: &FakeFedi) {
    let statuses = fedi.statuses();
    let texts: Vec<&str> = statuses.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[0].contains("thread start"), "{texts:?}");
    assert!(texts[1].contains("thread middle"), "{texts:?}");
    assert!(texts[2].contains("thread end"), "{texts:?}");
    assert_eq!(statuses[0].in_reply_to_id, None);
    assert_eq!(
        statuses[1].in_reply_to_id.as_deref(),
        Some(statuses[0].id.as_str())
    );
    assert_eq!(
        statuses[2].in_reply_to_id.as_deref(),
        Some(statuses[1].id.as_str())
    );
}

/// `once` while the server is down: the posts are planned (not lost), the cursor moves on,
/// the run reports parts left (the binary exits non-zero on that) and `status` says why;
/// when the server is back, the next `once` delivers the thread once, in order.
#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_for_two_cycles_gets_the_thread_once_in_order(
    #[case] personality: Personality,
) {
    let env = Env::new(personality, ManualClock::auto(Utc::now())).await;
    env.x.post(USER_ID, "before the start", json!({}));
    env.once().await;
    let ids = env.thread();

    for cycle in 0..2 {
        let report = env.once().await;
        assert_eq!(report.posts_delivered, 0, "cycle {cycle}: {report:?}");
        assert_eq!(report.parts_left, 3, "cycle {cycle}: {report:?}");
    }
    let ledger = env.ledger();
    for id in &ids {
        let rows = ledger.parts_of_post("r", id, "t").unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].state, rows[0].attempts), (PartState::Planned, 0));
    }
    assert_eq!(
        ledger.cursor("acct").unwrap().unwrap().value,
        ids[2],
        "the cursor moved on: the posts wait in the ledger"
    );
    let status = birdbridge::status::report(&env.settings(), None).unwrap();
    assert!(status.contains("waiting for delivery:"), "{status}");
    assert!(
        status.contains("r → t: 3 post(s), 3 part(s) planned: waiting for the target to answer"),
        "{status}"
    );
    // `status --json` says the same: grouped, and part by part.
    let doc: serde_json::Value =
        serde_json::from_str(&birdbridge::status::json(&env.settings(), None).unwrap()).unwrap();
    let groups = doc["waiting"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(
        (&groups[0]["posts"], &groups[0]["parts"]),
        (&json!(3), &json!(3))
    );
    assert!(
        groups[0]["why"]
            .as_str()
            .unwrap()
            .starts_with("waiting for the target to answer"),
        "{groups:?}"
    );
    let listed = doc["waiting"]["listed"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|p| {
            let why = p["why"].as_str().unwrap();
            why.starts_with("waiting for the target to answer")
                && why.ends_with("; delivered once that is resolved")
        }),
        "{listed:?}"
    );

    let fedi = env.fedi_up(personality).await;
    let report = env.once().await;
    assert_eq!(report.parts_left, 0, "{report:?}");
    assert_thread(&fedi);
    env.once().await;
    assert_eq!(fedi.statuses().len(), 3, "nothing twice");
}

/// A post planned while a Pixelfed server was down, that Pixelfed refuses outright (no
/// image): once the server answers, the waiting plan becomes a skip with the reason, and
/// nothing is left waiting or posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_planned_while_pixelfed_was_down_is_skipped_once_it_answers() {
    let personality = Personality::Pixelfed;
    let env = Env::new(personality, ManualClock::auto(Utc::now())).await;
    env.x.post(USER_ID, "before the start", json!({}));
    env.once().await;
    let id = env.x.post(USER_ID, "words only", json!({})).to_string();
    let report = env.once().await;
    assert_eq!(report.parts_left, 1, "{report:?}");
    let ledger = env.ledger();
    let rows = ledger.parts_of_post("r", &id, "t").unwrap();
    assert_eq!((rows[0].state, rows[0].attempts), (PartState::Planned, 0));

    let fedi = env.fedi_up(personality).await;
    let report = env.once().await;
    assert_eq!(report.parts_left, 0, "{report:?}");
    let rows = ledger.parts_of_post("r", &id, "t").unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state, PartState::Skipped);
    let reason = rows[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("takes only posts with an image"),
        "{reason}"
    );
    assert!(fedi.statuses().is_empty());
}

/// A running daemon whose target refuses the token: delivery to it stops loudly, the posts
/// wait; once the token is accepted again, a later cycle delivers them, once, in order.
#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_holds_the_posts_until_it_is_fixed(#[case] personality: Personality) {
    let clock = ManualClock::new(Utc::now());
    let env = Env::new(personality, Arc::clone(&clock)).await;
    let fedi = env.fedi_up(personality).await;
    fedi.set_token_valid(false);
    env.x.post(USER_ID, "before the start", json!({}));
    let running = env.running().await;
    let ledger = Arc::clone(&running.ledger);

    env.thread();
    // Two cycles or more with the token refused: the thread is planned and waits. (The
    // clock moves until they ran: a cycle that ends after a move waits for the next one.)
    let polls = env.x.timeline_requests();
    tick_until(&clock, "the thread was never planned", || {
        env.x.timeline_requests() >= polls + 2 && ledger.waiting_count("r").unwrap() >= 3
    })
    .await;
    assert!(fedi.statuses().is_empty());
    let waiting = ledger.waiting_parts(10).unwrap();
    assert!(
        waiting.iter().all(|p| p
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("waiting for a valid token"))),
        "{waiting:?}"
    );

    fedi.set_token_valid(true);
    tick_until(&clock, "never delivered", || fedi.statuses().len() >= 3).await;
    assert_thread(&fedi);
    // The last status is recorded right after the server answered.
    wait_for(|| ledger.waiting_count("r").unwrap() == 0).await;
    running.stop().await;
    assert_eq!(fedi.statuses().len(), 3, "nothing twice");
}

/// A running daemon whose server goes down: the posts wait, the target is reconnected with
/// backoff at later cycles, and the thread arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_reconnects_a_target_that_was_down() {
    let personality = Personality::Mastodon;
    let clock = ManualClock::new(Utc::now());
    let env = Env::new(personality, Arc::clone(&clock)).await;
    env.x.post(USER_ID, "before the start", json!({}));
    let running = env.running().await;
    let ledger = Arc::clone(&running.ledger);

    env.thread();
    // At least two cycles with the server down (a cycle may also wait out the target's
    // connection retries, which the advancing clock ends).
    let polls = env.x.timeline_requests();
    tick_until(&clock, "the thread was never planned", || {
        env.x.timeline_requests() >= polls + 2 && ledger.waiting_count("r").unwrap() >= 3
    })
    .await;
    assert!(ledger
        .waiting_parts(10)
        .unwrap()
        .iter()
        .all(|p| p.state == PartState::Planned));
    let fedi = env.fedi_up(personality).await;
    tick_until(&clock, "never delivered", || fedi.statuses().len() >= 3).await;
    assert_thread(&fedi);
    running.stop().await;
    assert_eq!(fedi.statuses().len(), 3, "nothing twice");
}

/// The binary: `once` exits non-zero while the server is down and says what waits; once
/// the server is up, it delivers and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exits_non_zero_while_posts_wait_for_their_target() {
    let x = FakeX::start(Clock::System).await;
    x.add_user(USER_ID, USERNAME);
    let dir = TempDir::new().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &x.url(),
        &format!("http://127.0.0.1:{port}"),
        "mastodon",
        "0 * * * * *",
    );
    x.post(USER_ID, "before the start", json!({}));
    assert!(birdbridge(&config, &["once"]).await.status.success());
    let env_thread = [
        x.post(USER_ID, "thread start", json!({})),
        x.post(USER_ID, "thread middle", json!({})),
    ];
    x.post(USER_ID, "thread end", reply_to(env_thread[1]));

    let down = birdbridge(&config, &["once"]).await;
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let stdout = String::from_utf8_lossy(&down.stdout);
    assert!(stdout.contains("3 part(s) wait for delivery"), "{stdout}");
    let status = birdbridge(&config, &["status"]).await;
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("waiting for the target to answer"),
        "{status}"
    );

    let fedi = FakeFedi::start_on_port(Personality::Mastodon, Clock::System, port).await;
    let up = birdbridge(&config, &["once"]).await;
    assert!(up.status.success(), "{up:?}");
    let texts: Vec<String> = fedi.statuses().into_iter().map(|s| s.text).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[2].contains("thread end"), "{texts:?}");
}

/// SIGTERM while the daemon waits for the target's rate-limit window: the process leaves
/// within 2 s; what was delivered is recorded, and the next run delivers the rest, each
/// post once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_rate_limit_wait_stops_at_once_and_loses_nothing() {
    let x = FakeX::start(Clock::System).await;
    x.add_user(USER_ID, USERNAME);
    let fedi = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    fedi.set_limit("statuses", 2, chrono::Duration::hours(3));
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), &x.url(), &fedi.url, "mastodon", "* * * * * *");
    x.post(USER_ID, "before the start", json!({}));
    let mut child = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("birdbridge"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("BIRDBRIDGE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    wait_for(|| ledger.cursor("acct").unwrap().is_some()).await;
    let posts: Vec<u64> = (0..5)
        .map(|i| x.post(USER_ID, &format!("post {i}"), json!({})))
        .collect();
    wait_for(|| fedi.statuses().len() == 2).await;
    // The third post now waits for the window, hours away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert!(
        stop.elapsed() < Duration::from_secs(2),
        "took {:?}",
        stop.elapsed()
    );
    assert!(status.success(), "{status:?}");
    assert_eq!(fedi.statuses().len(), 2, "nothing sent after the signal");
    let posted: Vec<String> = posts
        .iter()
        .filter(|id| {
            ledger
                .parts_of_post("r", &id.to_string(), "t")
                .unwrap()
                .iter()
                .any(|p| p.state == PartState::Posted)
        })
        .map(u64::to_string)
        .collect();
    assert_eq!(posted, [posts[0].to_string(), posts[1].to_string()]);

    // Hours later the window is new (the fake's and the one birdbridge saved).
    fedi.set_limit("statuses", 300, chrono::Duration::hours(3));
    let now = Utc::now();
    let renewed: Vec<_> = ledger
        .budgets(Some("t"))
        .unwrap()
        .into_iter()
        .map(|mut b| {
            b.window.remaining = b.window.limit;
            b.window.reset_at = now;
            b.window.paused_until = None;
            (b.family, b.window)
        })
        .collect();
    ledger
        .save_budgets("t", renewed.iter().map(|(f, w)| (f, w)), now)
        .unwrap();
    let done = birdbridge(&config, &["once"]).await;
    assert!(done.status.success(), "{done:?}");
    let texts: Vec<String> = fedi.statuses().into_iter().map(|s| s.text).collect();
    let want: Vec<String> = (0..5).map(|i| format!("post {i}")).collect();
    assert_eq!(texts, want, "each post once, in order");
}
