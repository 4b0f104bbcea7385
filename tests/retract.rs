//! Taking posts back, over real HTTP on 127.0.0.1 against the fake servers:
//!
//! - `retract` through the binary on the Mastodon, `GoToSocial`, snac and Akkoma
//!   personalities, after `once` mirrored an X account (a post, a self-thread, a long post,
//!   a repost boosted): refused without `--yes`, listed by `--dry-run` with nothing changed,
//!   then one post (the boost: undone, its original kept), a date range (the thread, the
//!   last post first), one long post (its last part first), and the whole route; nothing
//!   posted again by a later cycle or backfill, which record the posts as skipped; audit
//!   rows; `status` (text and `--json`, against its schema);
//! - a server that answers a boost with the original status (as Takahē does): the
//!   original survives the boost's retraction;
//! - X as the target: a post deleted and a repost undone, on X's deletes budget;
//! - `retract` next to a running daemon: queued as a job, run by the daemon;
//! - the budget: deletes wait for the target's window, under a manual clock, and the fake
//!   never has to answer 429;
//! - deletes that follow an X source: a post gone from X (named under `errors` by the
//!   lookup) is taken back, one deleted before it was delivered is never delivered, and
//!   only the posts still there are billed.

mod fake_fedi;
mod fake_x;
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use birdbridge::budget::BudgetPool;
use birdbridge::clock::{Clock, ManualClock};
use birdbridge::retract::{self, RetractOptions, Which};
use birdbridge::store::{Ledger, PartState};
use chrono::{DateTime, Duration, TimeZone, Utc};
use fake_fedi::{FakeFedi, Personality, Stored};
use fake_x::FakeX;
use rstest::rstest;
use serde_json::{json, Value};
use support::config::Config;
use support::{birdbridge, printed, wait_for, Running};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, d, 10, 0, 0).unwrap()
}

/// The posts the X account made, by their ids there.
#[derive(Debug, Clone, Copy)]
struct Posts {
    /// 1 May.
    first: u64,
    /// 2 May: a thread of three of the account's own posts.
    thread: [u64; 3],
    /// 3 May: a post longer than Mastodon's 500 characters.
    long: u64,
    /// 3 May: a repost of `first`.
    repost: u64,
}

const LONG_WORDS: usize = 220;

/// The X account's posts, written on the fake X on their days.
fn publish(x: &FakeX, clock: &ManualClock) -> Posts {
    let reply = |parent: u64| {
        json!({
            "in_reply_to_user_id": USER_ID,
            "referenced_tweets": [{"type": "replied_to", "id": parent.to_string()}]
        })
    };
    let first = x.post(USER_ID, "first post of the account", json!({}));
    clock.advance(Duration::days(1));
    let t1 = x.post(USER_ID, "a thread starts here", json!({}));
    let t2 = x.post(USER_ID, "the thread goes on", reply(t1));
    let t3 = x.post(USER_ID, "and the thread ends", reply(t2));
    clock.advance(Duration::days(1));
    let long_text = (0..LONG_WORDS)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let long = x.post(
        USER_ID,
        "a long post, cut by X…",
        json!({"note_tweet": {"text": format!("a long post {long_text}")}}),
    );
    let repost = x.post(
        USER_ID,
        &format!("RT @{USERNAME}: first post of the account"),
        json!({"referenced_tweets": [{"type": "retweeted", "id": first.to_string()}]}),
    );
    Posts {
        first,
        thread: [t1, t2, t3],
        long,
        repost,
    }
}

/// An X account mirrored by the binary to a fake fediverse server of one personality.
struct World {
    x: FakeX,
    fedi: FakeFedi,
    dir: TempDir,
    config: PathBuf,
    posts: Posts,
}

impl World {
    async fn new(personality: Personality, kind: &str) -> Self {
        let xclock = ManualClock::new(day(1));
        let x = FakeX::start(xclock.clone().into()).await;
        x.add_user(USER_ID, USERNAME);
        let fedi = FakeFedi::start(personality, Clock::System).await;
        let dir = TempDir::new().unwrap();
        let config = Config::new(dir.path())
            .x_source("src", USERNAME, fake_x::TOKEN, &x.url())
            .set("start", "1")
            .fedi_target("t", kind, &fedi.url, fake_fedi::TOKEN)
            .route("r", "src", &["t"])
            .set("reposts", "boost")
            .write();
        let posts = publish(&x, &xclock);
        let world = Self {
            x,
            fedi,
            dir,
            config,
            posts,
        };
        let out = world.run(&["once"]).await;
        assert!(out.status.success(), "{}", printed(&out));
        world
    }

    async fn run(&self, args: &[&str]) -> Output {
        birdbridge(&self.config, args).await
    }

    /// `retract --route r --post POST --yes`.
    async fn retract_post(&self, post: u64) -> Output {
        let post = post.to_string();
        self.run(&["retract", "--route", "r", "--post", &post, "--yes"])
            .await
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap()
    }

    /// The statuses the fake still has whose text contains `needle`.
    fn live_with(&self, needle: &str) -> Vec<Stored> {
        self.fedi
            .live_statuses()
            .into_iter()
            .filter(|s| s.text.contains(needle))
            .collect()
    }

    /// The mirrored status ids of a post, by part.
    fn remote_ids(&self, post: u64) -> Vec<String> {
        self.ledger()
            .parts_of_post("r", &post.to_string(), "t")
            .unwrap()
            .into_iter()
            .map(|p| p.remote_id.unwrap())
            .collect()
    }

    fn states(&self, post: u64) -> Vec<PartState> {
        self.ledger()
            .parts_of_post("r", &post.to_string(), "t")
            .unwrap()
            .into_iter()
            .map(|p| p.state)
            .collect()
    }
}

fn validate_status(json: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource("status.schema.json", schema).unwrap();
    let index = compiler
        .compile("status.schema.json", &mut schemas)
        .unwrap();
    if let Err(e) = schemas.validate(json, index) {
        panic!("status --json does not follow its schema: {e:#}\n{json:#}");
    }
}

#[rstest]
#[case::mastodon(Personality::Mastodon, "mastodon")]
#[case::gotosocial(Personality::GoToSocial, "gotosocial")]
#[case::snac(Personality::Snac, "auto")]
#[case::akkoma(Personality::Akkoma, "auto")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retract_takes_back_a_boost_a_range_a_post_and_the_route(
    #[case] personality: Personality,
    #[case] kind: &str,
) {
    let w = World::new(personality, kind).await;
    let p = w.posts;
    let long_parts = w.remote_ids(p.long).len();
    if personality == Personality::Mastodon {
        assert!(long_parts >= 3, "{long_parts}");
    }
    let mirrored = w.fedi.live_statuses().len();
    assert_eq!(mirrored, 4 + long_parts, "{:#?}", w.fedi.statuses());
    let first_status = w.remote_ids(p.first)[0].clone();
    assert_eq!(w.fedi.reblogs().len(), 1);
    assert_eq!(w.fedi.reblogs()[0].1, first_status);

    // Without --yes: refused, nothing taken back, nothing recorded.
    let out = w.run(&["retract", "--route", "r", "--all"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(printed(&out).contains("--yes"), "{}", printed(&out));
    // A dry run lists what would go and changes nothing.
    let out = w
        .run(&["retract", "--route", "r", "--all", "--dry-run"])
        .await;
    assert!(out.status.success(), "{}", printed(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    for post in [p.first, p.long, p.repost, p.thread[0], p.thread[2]] {
        assert!(listed.contains(&format!("post {post} (")), "{listed}");
    }
    assert!(
        listed.contains(&format!(
            "post {} (2024-05-03) on t: part 0 undo the boost of status {first_status}",
            p.repost
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "{} status(es) of 6 post(s) would be taken back",
            mirrored + 1
        )),
        "{listed}"
    );
    assert!(w.fedi.deletes().is_empty() && w.fedi.unreblogs().is_empty());
    assert!(w.ledger().retraction_jobs(10).unwrap().is_empty());

    // One post: the repost. The boost is undone on the original; nothing is deleted.
    let out = w.retract_post(p.repost).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert_eq!(w.fedi.unreblogs(), std::slice::from_ref(&first_status));
    assert!(w.fedi.reblogs().is_empty());
    assert!(w.fedi.deletes().is_empty(), "{:?}", w.fedi.deletes());
    assert_eq!(w.live_with("first post").len(), 1, "the original stays");
    assert_eq!(w.states(p.repost), [PartState::Retracted]);

    // A date range: the thread of 2 May, its last post first.
    let out = w
        .run(&[
            "retract",
            "--route",
            "r",
            "--since",
            "2024-05-02",
            "--until",
            "2024-05-02",
            "--yes",
        ])
        .await;
    assert!(out.status.success(), "{}", printed(&out));
    let thread: Vec<String> = p
        .thread
        .iter()
        .rev()
        .map(|id| w.remote_ids(*id)[0].clone())
        .collect();
    assert_eq!(
        w.fedi.deletes(),
        thread,
        "the last post of the thread first"
    );
    assert!(w.live_with("thread").is_empty());
    assert_eq!(w.live_with("first post").len(), 1);
    let live: Vec<String> = w.fedi.live_statuses().into_iter().map(|s| s.id).collect();
    assert!(
        w.remote_ids(p.long).iter().all(|id| live.contains(id)),
        "{live:?}"
    );

    // One post of several parts: its last part first.
    let out = w.retract_post(p.long).await;
    assert!(out.status.success(), "{}", printed(&out));
    let mut long_ids = w.remote_ids(p.long);
    long_ids.reverse();
    assert_eq!(w.fedi.deletes()[3..], long_ids[..]);

    // The whole route: what is left.
    let out = w.run(&["retract", "--route", "r", "--all", "--yes"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        w.fedi.live_statuses().is_empty(),
        "{:#?}",
        w.fedi.live_statuses()
    );
    assert_eq!(w.fedi.deletes().len(), mirrored, "each status deleted once");
    assert_eq!(w.fedi.too_many(), 0);
    let out = w.run(&["retract", "--route", "r", "--all", "--yes"]).await;
    assert!(
        printed(&out).contains("nothing to take back"),
        "{}",
        printed(&out)
    );

    // A later cycle and a backfill of the same days post nothing again: the posts are
    // recorded as skipped, with the reason the ledger keeps.
    let out = w.run(&["once"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    let out = w
        .run(&[
            "backfill",
            "--route",
            "r",
            "--from-api",
            "--since",
            "2024-05-01",
        ])
        .await;
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        printed(&out).contains("6 skipped by policy"),
        "{}",
        printed(&out)
    );
    assert_eq!(w.fedi.statuses().len(), mirrored, "nothing posted again");
    assert_eq!(w.fedi.reblogs().len(), 0);
    let ledger = w.ledger();
    let rows = ledger
        .parts_of_post("r", &p.first.to_string(), "t")
        .unwrap();
    assert_eq!(rows[0].state, PartState::Retracted);
    assert!(
        rows[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("retracted by an operator (job 4: --all)"),
        "{rows:?}"
    );

    // The audit trail has a row per status taken back; `status` shows the jobs.
    let audit = ledger.audit_log(100).unwrap();
    assert_eq!(
        audit.iter().filter(|a| a.command == "retract").count(),
        mirrored + 1,
        "{audit:#?}"
    );
    let out = w.run(&["status"]).await;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("retractions (newest first):"), "{report}");
    assert!(
        report.contains(&format!("job 1 route r (--post {}; asked by a person, run by the command): done: 1 of 1 post(s) taken back", p.repost)),
        "{report}"
    );
    assert!(
        report.contains(&format!("retracted {}", mirrored + 1)),
        "{report}"
    );
    let out = w.run(&["status", "--json"]).await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    validate_status(&json);
    assert_eq!(json["routes"][0]["parts"]["retracted"], mirrored + 1);
    assert_eq!(json["retractions"][0]["state"], "done");
    assert_eq!(json["retractions"].as_array().unwrap().len(), 4);
    // The account on X is untouched.
    assert!(w.x.reads().posts > 0);
}

/// Takahē answers a boost with the original status itself (the fake Takahē does): the id
/// the answer carried is the original's, so deleting it would delete the original post. The
/// boost is undone with `unreblog` instead, and the original survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boost_answered_with_the_original_leaves_the_original() {
    let w = World::new(Personality::Takahe, "takahe").await;
    let p = w.posts;
    let original = w.remote_ids(p.first)[0].clone();
    assert_eq!(
        w.remote_ids(p.repost),
        std::slice::from_ref(&original),
        "the answer's id"
    );
    let out = w.retract_post(p.repost).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert_eq!(w.fedi.unreblogs(), std::slice::from_ref(&original));
    assert!(w.fedi.deletes().is_empty(), "{:?}", w.fedi.deletes());
    assert_eq!(w.live_with("first post").len(), 1, "the original survives");
    assert_eq!(w.states(p.first), [PartState::Posted]);
    assert_eq!(w.states(p.repost), [PartState::Retracted]);

    // Taking back the whole route deletes the original once, after its boost.
    let out = w.run(&["retract", "--route", "r", "--all", "--yes"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert!(w.fedi.live_statuses().is_empty());
    assert_eq!(
        w.fedi.deletes().iter().filter(|d| **d == original).count(),
        1
    );
}

// ---------------------------------------------------------------------------------------
// X as the target

/// The `[targets.x]` table, its OAuth 1.0a keys written to files in `dir`.
fn x_target(dir: &Path, api_url: &str) -> String {
    use fake_x::write as fx;
    let mut keys = String::new();
    for (key, value) in [
        ("consumer_key", fx::CONSUMER_KEY),
        ("consumer_secret", fx::CONSUMER_SECRET),
        ("access_token", fx::ACCESS_TOKEN),
        ("access_token_secret", fx::ACCESS_SECRET),
    ] {
        let file = dir.join(format!("x-{key}"));
        std::fs::write(&file, format!("{value}\n")).unwrap();
        let _ = writeln!(keys, "{key}_file = {:?}", file.display().to_string());
    }
    format!("[targets.x]\nkind = \"x\"\napi_url = \"{api_url}\"\n{keys}\n")
}

/// An X account mirrored to another X account (on the same fake X): `retract` deletes the
/// posts made and undoes the repost on the original (`DELETE /2/users/:id/retweets/:id`),
/// each on X's deletes budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_x_a_post_is_deleted_and_a_repost_undone() {
    let xclock = ManualClock::new(day(1));
    let x = FakeX::start(xclock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    let dir = TempDir::new().unwrap();
    let token = dir.path().join("source.token");
    std::fs::write(&token, format!("{}\n", fake_x::TOKEN)).unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.src]\nkind = \"x\"\nusername = \"{USERNAME}\"\ntoken_file = {:?}\n\
             schedule = \"0 * * * * *\"\napi_url = \"{}\"\nstart = \"1\"\n\n{}\
             [routes.r]\nsource = \"src\"\ntargets = [\"x\"]\nreposts = \"boost\"\n",
            token.display().to_string(),
            x.url(),
            x_target(dir.path(), &x.url())
        ),
    )
    .unwrap();
    let first = x.post(USER_ID, "worth repeating", json!({}));
    x.post(
        USER_ID,
        &format!("RT @{USERNAME}: worth repeating"),
        json!({"referenced_tweets": [{"type": "retweeted", "id": first.to_string()}]}),
    );
    let out = birdbridge(&config, &["once"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    let made = x.made();
    assert_eq!(made.len(), 2, "the post and its repost: {made:?}");
    let mirror_of_first = made[0].0.clone();

    let out = birdbridge(&config, &["retract", "--route", "r", "--all", "--dry-run"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("target x: 2 status(es) to take back: ~36 s at 50 per 15 min"),
        "{}",
        printed(&out)
    );
    let out = birdbridge(&config, &["retract", "--route", "r", "--all", "--yes"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("at 50 per 15 min"),
        "the estimate at the start: {}",
        printed(&out)
    );
    assert_eq!(
        x.unreposted(),
        std::slice::from_ref(&mirror_of_first),
        "the repost undone"
    );
    assert_eq!(x.deleted(), [mirror_of_first], "the post deleted, once");
    assert_eq!(x.write_calls("DELETE /2/users/{id}/retweets/{tweet_id}"), 1);
    assert_eq!(x.write_calls("DELETE /2/tweets/{id}"), 1);
    // X's deletes window, as the ledger keeps it for the next run.
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    let budgets = ledger.budgets(Some("x")).unwrap();
    let deletes = budgets
        .iter()
        .find(|b| b.family.as_str() == "deletes")
        .expect("the deletes window is kept");
    assert_eq!((deletes.window.limit, deletes.window.remaining), (50, 48));
    assert!(deletes.window.announced);
}

// ---------------------------------------------------------------------------------------
// In process: the daemon, the budget, deletes that follow the source

/// `retract` next to a running daemon hands the job over; the daemon takes the posts back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retract_next_to_a_running_daemon_is_run_by_the_daemon() {
    let clock = ManualClock::new(Utc::now());
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    let fedi = FakeFedi::start(Personality::Mastodon, clock.clone().into()).await;
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .x_source("src", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "1")
        .fedi_target("t", "mastodon", &fedi.url, fake_fedi::TOKEN)
        .route("r", "src", &["t"])
        .write();
    for i in 0..3 {
        x.post(USER_ID, &format!("post number {i}"), json!({}));
    }
    let settings = support::settings(&config);
    let running = Running::start(
        &settings,
        support::ledger(&settings),
        clock.clone(),
        support::options(),
    );
    running.cursor_set("src").await;
    wait_for(|| fedi.statuses().len() == 3).await;
    let ledger = Arc::clone(&running.ledger);
    wait_for(|| {
        ledger
            .live_daemon(Utc::now() - Duration::days(1))
            .unwrap()
            .is_some()
    })
    .await;

    let out = birdbridge(&config, &["retract", "--route", "r", "--all", "--yes"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    assert!(
        printed(&out).contains("queued as job 1"),
        "{}",
        printed(&out)
    );
    assert!(
        fedi.deletes().is_empty(),
        "the command took nothing back itself"
    );

    // The daemon looks at its retraction jobs every minute.
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while ledger.retraction_job(1).unwrap().unwrap().state != "done" {
        assert!(Instant::now() < deadline, "{:?}", ledger.retraction_job(1));
        clock.advance(Duration::seconds(30));
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert_eq!(fedi.deletes().len(), 3);
    assert!(fedi.live_statuses().is_empty());
    let job = ledger.retraction_job(1).unwrap().unwrap();
    assert_eq!((job.runner.as_str(), job.done, job.posts), ("daemon", 3, 3));
    running.stop().await;
}

/// The sample archive backfilled in process to `fedi` (as `mastodon`), on `clock`.
struct Backfilled {
    _dir: TempDir,
    settings: Arc<birdbridge::config::Settings>,
    ledger: Arc<Ledger>,
}

async fn backfilled_sample(fedi: &FakeFedi, clock: &Clock) -> Backfilled {
    let dir = TempDir::new().unwrap();
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
    let config = Config::new(dir.path())
        .archive_source("old", &archive)
        .fedi_target("t", "mastodon", &fedi.url, fake_fedi::TOKEN)
        .set_raw("backfill_share", "1.0")
        .route("r", "old", &["t"])
        .write();
    let settings = Arc::new(support::settings(&config));
    let opts = birdbridge::backfill::BackfillOptions {
        route: "r".into(),
        clock: clock.clone(),
        ..Default::default()
    };
    let prepared = birdbridge::backfill::prepare(&settings, &opts).unwrap();
    let ledger = support::ledger(&settings);
    birdbridge::backfill::backfill(
        prepared,
        &ledger,
        &opts,
        &birdbridge::progress::Progress::new(false, false),
    )
    .await
    .unwrap();
    Backfilled {
        _dir: dir,
        settings,
        ledger,
    }
}

/// `retract --route r --all --yes`, in process on `clock`.
fn retract_all(clock: &Clock) -> RetractOptions {
    RetractOptions {
        route: "r".into(),
        target: None,
        which: Which::All,
        dry_run: false,
        yes: true,
        cancel: CancellationToken::new(),
        clock: clock.clone(),
        budgets: BudgetPool::default(),
    }
}

/// The sample archive backfilled to the fake Mastodon, whose deletes window is cut to 4 a
/// minute, then the whole route taken back in process on a manual clock: every delete
/// waits for its window, the fake never says 429, and the time it took is the windows'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_wait_for_the_window_under_a_manual_clock() {
    let (clock, time) = Clock::manual(day(1));
    let fedi = FakeFedi::start(Personality::Mastodon, clock.clone()).await;
    fedi.set_limit("deletes", 4, Duration::seconds(60));
    let b = backfilled_sample(&fedi, &clock).await;
    let statuses = fedi.live_statuses().len();
    assert!(statuses >= 12, "{statuses}");

    let before = time.slept();
    let mut said = Vec::new();
    let report = retract::run(&b.settings, &b.ledger, &retract_all(&clock), &mut |l| {
        said.push(l.to_owned());
    })
    .await
    .unwrap();
    let pass = report.pass.unwrap();
    assert_eq!(pass.taken_back, statuses, "{pass:?}");
    assert!(fedi.live_statuses().is_empty());
    assert_eq!(fedi.too_many(), 0, "the fake had to say 429");
    // 4 a minute: the deletes took at least as many whole windows as they fill.
    let windows = i64::try_from(statuses.div_ceil(4) - 1).unwrap();
    let took = time.slept() - before;
    assert!(took >= Duration::seconds(60 * (windows - 1)), "{took}");
    assert!(took <= Duration::seconds(60 * (windows + 2)), "{took}");
    // The estimate came at the start (from Mastodon's known deletes limit: the server
    // announces its window only in the answer to a delete).
    assert!(
        said.iter()
            .any(|l| l.contains(&format!("target t: {statuses} status(es) to take back: ~"))),
        "{said:?}"
    );
}

/// A delete the server keeps failing (500, past the client's own quick retries) leaves
/// its post for a retry a minute later; the command waits for it on the clock and ends
/// with everything taken back and the job done, instead of leaving the post for a rerun.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_waits_for_a_retry_and_ends_done() {
    let (clock, time) = Clock::manual(day(1));
    let fedi = FakeFedi::start(Personality::Mastodon, clock.clone()).await;
    let b = backfilled_sample(&fedi, &clock).await;
    let statuses = fedi.live_statuses().len();
    // The first delete and the client's three quick retries of it.
    for nth in 1..=4 {
        fedi.faults.plan(
            fake_fedi::faults::Call::StatusDelete,
            nth,
            fake_fedi::faults::Fault::ServerError,
        );
    }

    let before = time.slept();
    let report = retract::run(&b.settings, &b.ledger, &retract_all(&clock), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(fedi.faults.injected().len(), 4);
    let pass = report.pass.clone().unwrap();
    assert_eq!(pass.taken_back, statuses, "{pass:?}");
    assert_eq!((pass.posts_left, pass.posts_failed), (0, 0), "{pass:?}");
    assert!(!report.unfinished(), "{pass:?}");
    assert!(fedi.live_statuses().is_empty());
    assert!(
        time.slept() - before >= Duration::seconds(50),
        "the retry's wait"
    );
    let job = b
        .ledger
        .retraction_job(report.job.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(job.state, "done", "{job:?}");
}

/// `deletes = "follow"` on an X source: the posts mirrored within the window are looked
/// up every `deletes_check`; one that X names under `errors` as not found is taken back,
/// one deleted while it waited for delivery is never delivered, and the lookup bills
/// only the post still there (shown by `status`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_follow_the_x_source() {
    let (clock, time) = Clock::manual(Utc::now());
    let x = FakeX::start(clock.clone()).await;
    x.add_user(USER_ID, USERNAME);
    let fedi = FakeFedi::start(Personality::Mastodon, clock.clone()).await;
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .x_source("src", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "1")
        .fedi_target("t", "mastodon", &fedi.url, fake_fedi::TOKEN)
        .route("r", "src", &["t"])
        .set("deletes", "follow")
        .set_raw("deletes_check", "60")
        .write();
    let settings = support::settings(&config);
    let stays = x.post(USER_ID, "this one stays", json!({}));
    let goes = x.post(USER_ID, "this one goes", json!({}));
    support::once(&settings, clock.clone()).await;
    assert_eq!(fedi.live_statuses().len(), 2);

    // A post the target cannot take now (its token refused): planned, waiting.
    fedi.set_token_valid(false);
    time.advance(Duration::minutes(2));
    let waits = x.post(USER_ID, "this one waits", json!({}));
    support::once(&settings, clock.clone()).await;
    let ledger = support::ledger(&settings);
    let waiting = ledger.parts_of_post("r", &waits.to_string(), "t").unwrap();
    assert_eq!(waiting[0].state, PartState::Planned, "{waiting:?}");

    // Both are deleted on X; the target answers again; the check is due.
    x.remove(goes);
    x.remove(waits);
    fedi.set_token_valid(true);
    time.advance(Duration::minutes(61));
    let reads_before = x.reads().posts;
    let log_before = x.log().len();
    support::once(&settings, clock.clone()).await;

    // (The restarted daemon also reads again the post it left waiting: not found.)
    let lookups: Vec<String> = x.log()[log_before..]
        .iter()
        .filter(|l| l.starts_with("/2/tweets?ids=") && l.contains(&stays.to_string()))
        .cloned()
        .collect();
    assert_eq!(lookups.len(), 1, "one lookup of 100 at most: {lookups:?}");
    for id in [stays, goes, waits] {
        assert!(lookups[0].contains(&id.to_string()), "{lookups:?}");
    }
    assert_eq!(
        x.reads().posts - reads_before,
        1,
        "only the post still there is billed"
    );
    assert_eq!(fedi.live_statuses().len(), 1);
    assert_eq!(fedi.live_statuses()[0].text, "this one stays");
    assert_eq!(fedi.deletes().len(), 1);
    assert_eq!(
        fedi.statuses().len(),
        2,
        "the waiting post was never delivered"
    );
    let ledger = support::ledger(&settings);
    let gone = ledger.parts_of_post("r", &goes.to_string(), "t").unwrap();
    assert_eq!(gone[0].state, PartState::Retracted);
    assert!(
        gone[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("deleted at the source"),
        "{gone:?}"
    );
    let never = ledger.parts_of_post("r", &waits.to_string(), "t").unwrap();
    assert_eq!(never[0].state, PartState::Skipped);
    assert!(
        never[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("deleted at the source before delivery"),
        "{never:?}"
    );
    // Another cycle: nothing more.
    time.advance(Duration::minutes(2));
    support::once(&settings, clock.clone()).await;
    assert_eq!(fedi.statuses().len(), 2);
    assert_eq!(fedi.deletes().len(), 1);

    // `status` and `check` show what the checks cost.
    let report = birdbridge::status::report(&settings, None).unwrap();
    assert!(
        report.contains("src: of those posts, 1 (")
            && report.contains("read by deletes checks (deletes = \"follow\") ≈ $0.005"),
        "{report}"
    );
    assert!(
        report
            .contains("deleted at the source, run by the daemon): done: 2 of 2 post(s) taken back"),
        "{report}"
    );
    let out = birdbridge(&config, &["check"]).await;
    assert!(
        printed(&out).contains("deletes = \"follow\": the posts mirrored in the last 48 h are looked up every 60 min (100 a request); X bills each post still there as a read: each mirrored post is read about 48 time(s)"),
        "{}",
        printed(&out)
    );
}
