//! Live mirroring end to end against the fake X API on 127.0.0.1: new routes do not flood,
//! new posts arrive within one cycle, restarts resume from the cursor, rate limits and
//! revoked tokens, edits, reposts with cut text, and SIGTERM in the middle of deliveries.
//! Time is a `ManualClock`; nothing here sleeps for more than a few milliseconds at once.

#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::report::DeliveryReport;
use birdbridge::store::Ledger;
use chrono::Utc;
use fake_x::FakeX;
use rstest::rstest;
use serde_json::{json, Value};
use support::config::Config;
use support::{wait_for, KillOnDrop, Running};
use tempfile::TempDir;

/// The account most tests mirror.
const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

struct Env {
    dir: TempDir,
    config: PathBuf,
    fake: FakeX,
    clock: Arc<ManualClock>,
}

/// One `kind = "x"` source with its route `r-<name>` to a dry-run target `out`.
struct Source<'a> {
    name: &'a str,
    username: &'a str,
    start: &'a str,
    token: &'a str,
}

impl<'a> Source<'a> {
    fn new(name: &'a str, username: &'a str) -> Self {
        Self {
            name,
            username,
            start: "latest",
            token: fake_x::TOKEN,
        }
    }
}

fn write_config(dir: &Path, api_url: &str, sources: &[Source<'_>], schedule: &str) -> PathBuf {
    let mut config = Config::new(dir).dry_run_target("out", "out.jsonl");
    for s in sources {
        config = config
            .x_source(s.name, s.username, s.token, api_url)
            .set("schedule", schedule)
            .set("start", s.start)
            .route(&format!("r-{}", s.name), s.name, &["out"]);
    }
    config.write()
}

impl Env {
    async fn new(sources: &[Source<'_>]) -> Self {
        let clock = ManualClock::auto(Utc::now());
        let shared = Clock::from(clock.clone());
        let fake = FakeX::start(shared).await;
        fake.add_user(USER_ID, USERNAME);
        let dir = TempDir::new().unwrap();
        let config = write_config(dir.path(), &fake.url(), sources, "0 * * * * *");
        Self {
            dir,
            config,
            fake,
            clock,
        }
    }

    fn settings(&self) -> Settings {
        support::settings(&self.config)
    }

    /// One cycle of a fresh daemon on a freshly opened ledger: every call is a restart.
    async fn once(&self) -> DeliveryReport {
        support::once(&self.settings(), self.clock.clone()).await
    }

    fn lines(&self) -> Vec<Value> {
        match fs::read_to_string(self.dir.path().join("out.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn delivered_ids(&self) -> Vec<String> {
        self.lines()
            .iter()
            .map(|l| l["source_post_id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap()
    }
}

fn ids(list: &[u64]) -> Vec<String> {
    list.iter().map(u64::to_string).collect()
}

#[rstest]
#[case::latest("latest", 0)]
#[case::latest_3("latest:3", 3)]
#[case::after_an_id("after:5", 5)]
#[tokio::test]
async fn a_new_route_mirrors_nothing_old_unless_told(#[case] start: &str, #[case] want: usize) {
    let mut source = Source::new("acct", USERNAME);
    let env_probe = Env::new(&[]).await;
    let old = env_probe.fake.posts(USER_ID, 12);
    // "after:5" stands for the id of the 6th newest post: 5 posts come after it.
    let start_value = match start.strip_prefix("after:") {
        Some(n) => old[old.len() - 1 - n.parse::<usize>().unwrap()].to_string(),
        None => start.to_owned(),
    };
    source.start = &start_value;
    let config = write_config(
        env_probe.dir.path(),
        &env_probe.fake.url(),
        &[source],
        "0 * * * * *",
    );
    let env = Env {
        config,
        ..env_probe
    };

    let report = env.once().await;
    assert_eq!(
        report.sources_stopped + report.sources_failed,
        0,
        "{report:?}"
    );
    let newest: Vec<String> = ids(&old[old.len() - want..]);
    assert_eq!(env.delivered_ids(), newest, "oldest first, nothing older");
    let reads = env.fake.reads();
    assert_eq!(reads.users, 1, "the account is looked up once");
    if start == "latest" {
        assert_eq!(
            reads.posts, 0,
            "the start comes from the user lookup, not a billed page"
        );
    }

    // The next cycle brings exactly the new post, and the account is not looked up again.
    let new = env.fake.post(USER_ID, "fresh news", json!({}));
    env.once().await;
    let mut want_ids = newest;
    want_ids.push(new.to_string());
    assert_eq!(env.delivered_ids(), want_ids);
    assert_eq!(env.fake.reads().users, 1);
    let cursor = env.ledger().cursor("acct").unwrap().unwrap();
    assert_eq!(cursor.value, new.to_string());
}

#[tokio::test]
async fn a_new_post_is_delivered_within_one_cycle_of_the_daemon() {
    let start = Utc::now();
    let clock = ManualClock::new(start);
    let fake = FakeX::start(clock.clone().into()).await;
    fake.add_user(USER_ID, USERNAME);
    fake.posts(USER_ID, 3);
    let dir = TempDir::new().unwrap();
    let config = write_config(
        dir.path(),
        &fake.url(),
        &[Source::new("acct", USERNAME)],
        "0 * * * * *",
    );
    let env = Env {
        dir,
        config,
        fake,
        clock: ManualClock::auto(start),
    };
    let settings = env.settings();
    let ledger = Arc::new(Ledger::open(&settings.ledger.path).unwrap());
    let running = Running::start(
        &settings,
        Arc::clone(&ledger),
        clock.clone(),
        support::options(),
    );

    // The first cycle runs at start: it only sets the cursor.
    running.cursor_set("acct").await;
    assert!(env.lines().is_empty());
    let timeline_calls = env.fake.timeline_requests();

    let new = env.fake.post(USER_ID, "live post", json!({}));
    // Nothing happens before the tick...
    tokio::task::yield_now().await;
    assert!(env.lines().is_empty());
    // ...and the post is there after it.
    clock.advance(chrono::Duration::seconds(60));
    wait_for(|| !env.lines().is_empty()).await;
    assert_eq!(env.delivered_ids(), [new.to_string()]);
    assert_eq!(
        env.fake.timeline_requests(),
        timeline_calls + 1,
        "one poll per tick"
    );

    // Ticks missed while the clock jumps far ahead are skipped, not bunched. (The cycle
    // ends right after the cursor is saved, off the event loop: let the daemon's task take
    // that in and go back to sleep before moving the clock.)
    wait_for(|| ledger.cursor("acct").unwrap().unwrap().value == new.to_string()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    clock.advance(chrono::Duration::minutes(30));
    wait_for(|| env.fake.timeline_requests() > timeline_calls + 1).await;
    tokio::task::yield_now().await;
    assert_eq!(env.fake.timeline_requests(), timeline_calls + 2);

    let report = running.stop().await;
    assert_eq!(report.posts_delivered, 1);
}

#[tokio::test]
async fn a_restart_resumes_from_the_cursor_without_reposting() {
    let env = Env::new(&[Source::new("acct", USERNAME)]).await;
    env.fake.posts(USER_ID, 4);
    env.once().await;
    let first = env.fake.posts(USER_ID, 3);
    env.once().await;
    assert_eq!(env.delivered_ids(), ids(&first));
    let cursor = env.ledger().cursor("acct").unwrap().unwrap().value;

    // A restart (new daemon, ledger opened again) asks only for what came after the cursor.
    let second = env.fake.posts(USER_ID, 2);
    env.once().await;
    let mut want = ids(&first);
    want.extend(ids(&second));
    assert_eq!(env.delivered_ids(), want);
    let last = env.fake.log().last().unwrap().clone();
    assert!(last.contains(&format!("since_id={cursor}")), "{last}");
    // Once more with nothing new: nothing is delivered and nothing is billed.
    let billed = env.fake.reads().posts;
    env.once().await;
    assert_eq!(env.delivered_ids(), want);
    assert_eq!(env.fake.reads().posts, billed);
}

#[tokio::test]
async fn a_429_in_the_middle_of_pagination_waits_for_the_reset_and_loses_nothing() {
    let env = Env::new(&[Source::new("acct", USERNAME)]).await;
    env.fake.posts(USER_ID, 2);
    env.once().await;
    env.fake.set_page_cap(10);
    let posts = env.fake.posts(USER_ID, 25);
    let before = env.clock.now();
    // Pages: 10 + 10 + 5; the second page's request is refused once.
    env.fake.inject_429(env.fake.timeline_requests() + 2);
    let report = env.once().await;
    assert_eq!(report.sources_failed, 0, "{report:?}");
    assert_eq!(env.delivered_ids(), ids(&posts), "all, once, oldest first");
    assert!(
        env.clock.now() - before >= chrono::Duration::seconds(60),
        "the client waited for the reset"
    );
    let reads = env.fake.reads();
    assert_eq!(reads.rate_limited, 1);
    assert_eq!(reads.posts, 25, "the refused request is not billed");
}

#[tokio::test]
async fn a_used_up_window_is_waited_out_before_asking() {
    let env = Env::new(&[Source::new("acct", USERNAME)]).await;
    env.fake.posts(USER_ID, 2);
    env.once().await;
    env.fake.set_page_cap(10);
    env.fake.posts(USER_ID, 15);
    let reset = env.clock.now() + chrono::Duration::minutes(10);
    env.fake.set_window(1, reset);
    let report = env.once().await;
    assert_eq!(report.posts_delivered, 15);
    assert_eq!(
        env.fake.reads().rate_limited,
        0,
        "the client read the headers and waited"
    );
    assert!(
        env.clock.now().timestamp() >= reset.timestamp(),
        "waited for the reset"
    );
}

#[tokio::test]
async fn a_revoked_token_stops_only_its_source() {
    let env = Env::new(&[
        Source {
            token: "other-token",
            ..Source::new("revoked", "someone_else")
        },
        Source::new("acct", USERNAME),
    ])
    .await;
    env.fake.add_user("43", "someone_else");
    env.fake.accept_token("other-token");
    env.once().await;
    env.fake.revoke("other-token");
    env.fake.post("43", "never mirrored", json!({}));
    let kept = env.fake.post(USER_ID, "still mirrored", json!({}));
    let report = env.once().await;
    assert_eq!(report.sources_stopped, 1);
    assert_eq!(env.delivered_ids(), [kept.to_string()]);
}

#[test]
fn a_revoked_token_is_named_with_its_route_by_the_binary() {
    let clock = Clock::System;
    let fake = FakeX::start_in_thread(clock);
    fake.add_user(USER_ID, USERNAME);
    let dir = TempDir::new().unwrap();
    let config = write_config(
        dir.path(),
        &fake.url(),
        &[Source {
            token: "revoked-token",
            ..Source::new("acct", USERNAME)
        }],
        "0 * * * * *",
    );
    let output = assert_cmd::Command::cargo_bin("birdbridge")
        .unwrap()
        .arg("--config")
        .arg(&config)
        .arg("once")
        .env("BIRDBRIDGE_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("r-acct"), "the route is named: {stderr}");
    assert!(stderr.contains("refused the token (HTTP 401)"), "{stderr}");
    assert!(
        !stderr.contains("revoked-token"),
        "the token never prints: {stderr}"
    );
}

#[tokio::test]
async fn an_edited_post_becomes_an_edit_of_the_mirrored_status() {
    let env = Env::new(&[Source::new("acct", USERNAME)]).await;
    env.fake.posts(USER_ID, 1);
    env.once().await;
    let first = env.fake.post(USER_ID, "teh first version", json!({}));
    env.once().await;
    let status = env.lines()[0]["status_id"].as_str().unwrap().to_owned();

    let second = env.fake.edit(first, "the first version");
    env.once().await;
    let lines = env.lines();
    assert_eq!(lines.len(), 2, "an edit, not a second status");
    let edit = &lines[1];
    assert_eq!(edit["action"], "edit");
    assert_eq!(
        edit["status_id"],
        status.as_str(),
        "the earlier status is edited"
    );
    assert_eq!(edit["source_post_id"], second.to_string());
    assert_eq!(edit["text"], "the first version");
    let ledger = env.ledger();
    assert_eq!(
        ledger
            .edited_version("r-acct", "out", &second.to_string())
            .unwrap(),
        Some(first.to_string())
    );
    let parts = ledger
        .parts_of_post("r-acct", &second.to_string(), "out")
        .unwrap();
    assert_eq!(parts[0].remote_id.as_deref(), Some(status.as_str()));
}

#[tokio::test]
async fn a_repost_with_cut_text_is_read_with_the_full_text() {
    // The project's own fixture, modelled on real pages: a repost whose `text` is cut.
    let page: Value = serde_json::from_str(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/x-api/repost_truncated.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let owner = birdbridge::model::Author {
        id: Some("2244994945".into()),
        username: "XDevelopers".into(),
        display_name: None,
    };
    let parsed = birdbridge::normalize::x::parse_page(&page.to_string(), &owner).unwrap();
    let repost = &parsed.posts[0].post;
    assert!(
        repost.text.ends_with("the whole sentence, not three dots."),
        "{}",
        repost.text
    );
    assert!(!repost.text.contains('…'));
    assert_eq!(repost.kind(), birdbridge::model::PostKind::Repost);
}

#[tokio::test]
async fn real_pages_are_served_and_a_real_cut_repost_gets_its_full_text() {
    let Some(page) = shared_fixture("twarc-csv_GET_2_users_2351222345_tweets_page.json") else {
        return;
    };
    let env = Env::new(&[Source {
        start: "latest:100",
        ..Source::new("real", "GDfMN")
    }])
    .await;
    env.fake.load_page(&page);
    let user = page["includes"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "2351222345")
        .unwrap()
        .clone();
    let config = write_config(
        env.dir.path(),
        &env.fake.url(),
        &[Source {
            start: "latest:100",
            ..Source::new("real", user["username"].as_str().unwrap())
        }],
        "0 * * * * *",
    );
    let env = Env { config, ..env };
    let report = env.once().await;
    // The route skips reposts, so the source asks the server to leave them out: they are
    // neither read nor billed.
    let reposts = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["referenced_tweets"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["type"] == "retweeted"))
        })
        .count();
    assert_eq!(report.posts_found, 100 - reposts, "{report:?}");
    assert_eq!(env.fake.reads().posts, (100 - reposts) as u64);
    assert!(env
        .fake
        .log()
        .iter()
        .any(|l| l.contains("exclude=retweets")));
    // Reposts are skipped by the route policy, so read the normalised post directly.
    let owner = birdbridge::model::Author {
        id: Some("2351222345".into()),
        username: user["username"].as_str().unwrap().into(),
        display_name: None,
    };
    let parsed = birdbridge::normalize::x::parse_page(&page.to_string(), &owner).unwrap();
    let cut = parsed
        .posts
        .iter()
        .find(|p| p.post.id.as_str() == "1257712877559037961")
        .unwrap();
    assert!(cut.post.text.starts_with("In 1986, Larry Bird"));
    assert!(
        cut.post.text.contains("That was a bad man."),
        "{}",
        cut.post.text
    );
    // Every delivered status is one of the page's posts, once.
    let delivered = env.delivered_ids();
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len());
}

/// A file of `../shared/fixtures/x-api-v2/`, or `None` (with a message) when absent.
fn shared_fixture(name: &str) -> Option<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/x-api-v2")
        .join(name);
    if let Ok(text) = fs::read_to_string(&path) {
        Some(serde_json::from_str(&text).unwrap())
    } else {
        println!("skipped: {} is absent", path.display());
        None
    }
}

/// The datagrams waiting on a notification socket.
fn pending_notifications(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let mut sent = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        sent.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    sent
}

/// The source post ids of a dry-run output file, in order.
fn ids_in(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["source_post_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn sigterm_during_deliveries_loses_nothing_and_doubles_nothing() {
    let clock = Clock::System;
    let fake = FakeX::start_in_thread(clock);
    fake.add_user(USER_ID, USERNAME);
    fake.posts(USER_ID, 2);
    let dir = TempDir::new().unwrap();
    let config = write_config(
        dir.path(),
        &fake.url(),
        &[Source::new("acct", USERNAME)],
        "* * * * * *",
    );
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let mut child = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("birdbridge"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("BIRDBRIDGE_LOG", "warn")
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "1000000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");

    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.cursor("acct").unwrap().is_none() {
        assert!(Instant::now() < deadline, "the first cycle never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    let posts = fake.posts(USER_ID, 100);
    let out = dir.path().join("out.jsonl");
    let count = || fs::read_to_string(&out).map_or(0, |t| t.lines().count());
    while count() < 10 {
        assert!(Instant::now() < deadline, "deliveries never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    let stop = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        stop.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stop.elapsed()
    );
    assert!(status.success(), "{status:?}");
    let at_stop = count();
    let sent = pending_notifications(&notify);
    assert!(sent.iter().any(|s| s == "WATCHDOG=1"), "{sent:?}");
    assert_eq!(
        sent.last().map(String::as_str),
        Some("STOPPING=1"),
        "{sent:?}"
    );

    // Everything written is recorded, and the next run delivers the rest, once.
    let done = assert_cmd::Command::cargo_bin("birdbridge")
        .unwrap()
        .arg("--config")
        .arg(&config)
        .arg("once")
        .env("BIRDBRIDGE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let delivered = ids_in(&out);
    assert_eq!(
        delivered,
        ids(&posts),
        "each post once, in order ({at_stop} before SIGTERM)"
    );
    assert!(
        at_stop < posts.len(),
        "SIGTERM came after the last delivery; the test proves less"
    );
}

#[test]
fn a_long_post_with_video_photo_and_quote_is_read_whole() {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/x-api/note_media_quote.json"),
    )
    .unwrap();
    let owner = birdbridge::model::Author {
        id: Some("2244994945".into()),
        username: "XDevelopers".into(),
        display_name: None,
    };
    let page = birdbridge::normalize::x::parse_page(&text, &owner).unwrap();
    let x = &page.posts[0];
    let post = &x.post;
    assert_eq!(
        post.text,
        "A long post starts here and X cuts it in the text field, the note_tweet has all of it: café & 🎉 #LongPosts by @bb_original, see https://example.org/docs?a=1&b=2"
    );
    let facet_texts: Vec<&str> = post
        .facets
        .iter()
        .map(|f| &post.text[f.range.clone()])
        .collect();
    assert_eq!(
        facet_texts,
        [
            "#LongPosts",
            "@bb_original",
            "https://example.org/docs?a=1&b=2"
        ]
    );
    let quote = post.references.quote_of.as_ref().unwrap();
    assert_eq!(
        quote.url.as_deref(),
        Some("https://x.com/bb_original/status/1790000000000000100")
    );
    assert_eq!(post.media.len(), 2);
    assert_eq!(post.media[0].kind, birdbridge::model::MediaKind::Video);
    assert_eq!(
        post.media[0].source,
        birdbridge::model::MediaSource::Url("https://video.twimg.com/ext_tw_video/1790000000000000501/pu/vid/1280x720/high.mp4?tag=12".into()),
        "the best MP4 by bit rate"
    );
    assert_eq!(
        post.media[1].alt_text.as_deref(),
        Some("A bird on a bridge")
    );
    assert!(post.sensitive);
    assert_eq!(
        x.earlier_versions(),
        [birdbridge::model::PostId::new("1790000000000000400")]
    );
    assert_eq!(x.notes, ["withheld in DE, FR"]);
    assert_eq!(page.errors.len(), 1);
}

#[rstest]
#[case::alt_text_and_gif("base-org_GET_2_tweets_alt_text_gif_b2e4648.json")]
#[case::quoted("base-org_GET_2_tweets_quoted_73e4608.json")]
#[case::edited("twarc-csv_GET_2_tweets_edited.json")]
#[case::many_urls("twarc-csv_GET_2_tweets_many_urls.json")]
#[case::video_variants("twarc-csv_GET_2_tweets_media_video_variants.json")]
#[case::quoted_edit("twarc-csv_GET_2_tweets_quoted_edit.json")]
#[case::withheld("twarc-csv_GET_2_tweets_withheld.json")]
#[case::page("twarc-csv_GET_2_users_2351222345_tweets_page.json")]
fn real_answers_normalise_without_losses(#[case] name: &str) {
    let Some(page) = shared_fixture(name) else {
        return;
    };
    let owner = birdbridge::model::Author {
        id: None,
        username: "owner".into(),
        display_name: None,
    };
    let parsed = birdbridge::normalize::x::parse_page(&page.to_string(), &owner).unwrap();
    let data = page["data"].as_array().unwrap();
    assert_eq!(parsed.posts.len(), data.len(), "{:?}", parsed.malformed);
    for (post, raw) in parsed.posts.iter().zip(data) {
        let post = &post.post;
        assert_eq!(post.id.as_str(), raw["id"].as_str().unwrap());
        assert!(
            !post.text.contains("https://t.co/"),
            "{}: {}",
            post.id,
            post.text
        );
        assert!(
            !post.text.contains("&amp;") && !post.text.contains("&gt;"),
            "{}",
            post.text
        );
        for facet in &post.facets {
            assert!(post.text.get(facet.range.clone()).is_some());
        }
        let keys = raw["attachments"]["media_keys"]
            .as_array()
            .map_or(0, Vec::len);
        if post.references.repost_of.is_none() {
            assert_eq!(post.media.len(), keys, "{}", post.id);
        }
        for media in &post.media {
            if let birdbridge::model::MediaSource::Url(url) = &media.source {
                assert!(!url.contains(".m3u8"), "HLS is never picked: {url}");
            }
        }
    }
}

#[test]
fn backfill_from_the_api_reads_back_to_since_and_status_shows_the_cost() {
    let start = Utc::now() - chrono::Duration::days(10);
    let clock = ManualClock::new(start);
    let fake = FakeX::start_in_thread(clock.clone().into());
    fake.add_user(USER_ID, USERNAME);
    fake.posts(USER_ID, 3);
    clock.advance(chrono::Duration::days(5));
    let recent = fake.posts(USER_ID, 4);
    let dir = TempDir::new().unwrap();
    let config = write_config(
        dir.path(),
        &fake.url(),
        &[Source::new("acct", USERNAME)],
        "0 * * * * *",
    );
    let since = (start + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let run = || {
        assert_cmd::Command::cargo_bin("birdbridge")
            .unwrap()
            .arg("--config")
            .arg(&config)
            .args([
                "backfill",
                "--route",
                "r-acct",
                "--from-api",
                "--since",
                &since,
            ])
            .env("BIRDBRIDGE_LOG", "warn")
            .assert()
            .success()
    };
    run().stdout(predicates::str::contains("4 new post(s) delivered"));
    let out = fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let delivered: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["source_post_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(delivered, ids(&recent));
    run().stdout(predicates::str::contains("0 new post(s) delivered"));

    // `--from-api` needs an X source; `--since` is required with it.
    assert_cmd::Command::cargo_bin("birdbridge")
        .unwrap()
        .arg("--config")
        .arg(&config)
        .args(["backfill", "--route", "r-acct", "--from-api"])
        .assert()
        .code(2);

    let status = assert_cmd::Command::cargo_bin("birdbridge")
        .unwrap()
        .arg("--config")
        .arg(&config)
        .arg("status")
        .assert()
        .success();
    let text = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    // Two reads of 4 posts each, and one user lookup: 8 × $0.005 + $0.010.
    assert!(text.contains("X API reads (billable):"), "{text}");
    assert!(
        text.contains("acct: 8 post(s) (8 today), 1 user lookup(s) ≈ $0.05"),
        "{text}"
    );
}

#[tokio::test]
async fn a_restart_reads_again_and_delivers_posts_left_unfinished() {
    use birdbridge::store::PartKey;
    let env = Env::new(&[Source::new("acct", USERNAME)]).await;
    env.fake.posts(USER_ID, 1);
    env.once().await;
    let left = env.fake.post(USER_ID, "left unfinished", json!({}));
    let done = env.fake.post(USER_ID, "delivered", json!({}));
    env.once().await;
    // Rewrite history: the first post's part failed, and its retry is due; the daemon that
    // knew it stopped, and the cursor is past it.
    let ledger = env.ledger();
    let first = env.lines()[0].clone();
    fs::write(
        env.dir.path().join("out.jsonl"),
        format!("{}\n", serde_json::to_string(&env.lines()[1]).unwrap()),
    )
    .unwrap();
    assert_eq!(first["source_post_id"], left.to_string());
    let key = PartKey::new("r-acct", left.to_string(), "out", 0);
    let conn = rusqlite::Connection::open(env.dir.path().join("ledger.sqlite")).unwrap();
    conn.execute(
        "UPDATE parts SET state = 'failed', remote_id = NULL, attempts = 1, next_attempt_at = ?1 \
         WHERE source_post_id = ?2",
        rusqlite::params![
            (Utc::now() - chrono::Duration::minutes(1))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            left.to_string()
        ],
    )
    .unwrap();
    assert_eq!(
        ledger.cursor("acct").unwrap().unwrap().value,
        done.to_string()
    );

    env.once().await;
    let delivered = env.delivered_ids();
    assert_eq!(delivered, [done.to_string(), left.to_string()]);
    assert_eq!(
        ledger.part(&key).unwrap().unwrap().state,
        birdbridge::store::PartState::Posted
    );
    assert!(env
        .fake
        .log()
        .iter()
        .any(|l| l == &format!("/2/tweets?ids={left}")));
    // Nothing is left, so the next start asks for nothing.
    let requests = env.fake.log().len();
    env.once().await;
    assert!(!env.fake.log()[requests..]
        .iter()
        .any(|l| l.starts_with("/2/tweets?")));
}

#[rstest]
#[case::bad_start("start = \"newest\"", "`sources.s.start`: `newest` is not a start")]
#[case::too_many("start = \"latest:5000\"", "N up to 3200")]
#[case::negative_price(
    "post_read_price = -1.0",
    "`sources.s.post_read_price`: expected a non-negative price"
)]
#[case::price_as_text(
    "user_read_price = \"cheap\"",
    "expected a non-negative price in dollars, found string"
)]
fn live_source_keys_are_checked(#[case] line: &str, #[case] want: &str) {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("bridge.toml");
    fs::write(
        &config,
        format!(
            "[sources.s]\nkind = \"x\"\nusername = \"a\"\ntoken_env = \"X\"\nschedule = \"0 * * * * *\"\n{line}\n\
             [targets.t]\nkind = \"dry-run\"\n[routes.r]\nsource = \"s\"\ntargets = [\"t\"]\n"
        ),
    )
    .unwrap();
    let err = Settings::load_with_env(&config, HashMap::new()).unwrap_err();
    assert!(err.to_string().contains(want), "{err}");
}

#[test]
fn feed_keys_are_checked_and_ids_are_not_a_feed_start() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("bridge.toml");
    let write = |extra: &str| {
        fs::write(
            &config,
            format!(
                "[sources.f]\nkind = \"feed\"\nurl = \"https://n.example/u/rss\"\nschedule = \"0 * * * * *\"\n{extra}\n\
                 [targets.t]\nkind = \"dry-run\"\n[routes.r]\nsource = \"f\"\ntargets = [\"t\"]\n"
            ),
        )
        .unwrap();
        Settings::load_with_env(&config, HashMap::new())
    };
    assert!(write("start = \"123\"")
        .unwrap_err()
        .to_string()
        .contains("is not a start"));
    assert!(write("allow_private_media = \"yes\"")
        .unwrap_err()
        .to_string()
        .contains("expected true or false"));
    let settings = write("start = \"latest:3\"\nallow_private_media = true").unwrap();
    let birdbridge::config::SourceSettings::Feed(feed) = &settings.sources["f"] else {
        panic!("not a feed");
    };
    assert_eq!(feed.start, birdbridge::config::StartAt::Latest(3));
    assert!(feed.allow_private_media);
}
