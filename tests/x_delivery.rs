//! The X target end to end, against the fake X (`fake_x/`) over real HTTP on 127.0.0.1:
//!
//! - through the binary: the bundled sample archive backfilled into X once (media with
//!   their descriptions, a video and a GIF in posts of their own, threads as reply chains,
//!   the sensitive post's warning as its first line, every post within X's weighted 280),
//!   a second run posting nothing; `status` (text and `--json`, against its schema) showing
//!   the spend, equal to the made posts priced by hand; `cw = "skip"`; `check`; a dry run
//!   with its costs; `review = "all"` on the X target, one copy reworded and released once;
//! - through the in-process daemon on a manual clock, an X source feeding the X target: a
//!   refused reply falling back to numbered posts of their own, with a warning; an edit
//!   skipped with its reason; a 429 waited out; an unknown outcome reconciled, not resent;
//!   a reblog of a mirrored post becoming a repost; the spending cap holding posts until
//!   the next UTC day, across a restart.

mod fake_x;
mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::render::count::x_weighted;
use birdbridge::store::{Ledger, PartKey, PartState};
use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use fake_x::write::{self as fx, PostFault};
use fake_x::FakeX;
use serde_json::{json, Value};
use tempfile::TempDir;

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

/// The `[targets.x]` table, its OAuth 1.0a keys written to files in `dir`.
fn x_target(dir: &Path, api_url: &str, extra: &str) -> String {
    let mut keys = String::new();
    for (key, value) in [
        ("consumer_key", fx::CONSUMER_KEY),
        ("consumer_secret", fx::CONSUMER_SECRET),
        ("access_token", fx::ACCESS_TOKEN),
        ("access_token_secret", fx::ACCESS_SECRET),
    ] {
        let file = dir.join(format!("x-{key}"));
        fs::write(&file, format!("{value}\n")).unwrap();
        let _ = writeln!(keys, "{key}_file = {:?}", file.display().to_string());
    }
    format!("[targets.x]\nkind = \"x\"\napi_url = \"{api_url}\"\n{keys}{extra}\n")
}

/// The price of a post as it was made on X, by hand: $0.20 with a URL in the text, else
/// $0.015, and $0.005 per alt text set on its media (X's 2026 prices).
fn hand_price(fake: &FakeX, text: &str, media_ids: &[String]) -> u64 {
    let post = if x_weighted::has_url(text) {
        200_000
    } else {
        15_000
    };
    let alts = media_ids
        .iter()
        .filter(|id| fake.alt_text(id).is_some())
        .count() as u64;
    post + 5_000 * alts
}

// ---------------------------------------------------------------------------------------
// Through the binary

struct Binary {
    dir: TempDir,
    fake: FakeX,
}

impl Binary {
    fn new(target_extra: &str, route_extra: &str) -> Self {
        let fake = FakeX::start_in_thread(Clock::System);
        fake.set_processing_ms(0);
        let dir = TempDir::new().unwrap();
        let config = format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n{}\n\
             [routes.r]\nsource = \"sample\"\ntargets = [\"x\"]\n{route_extra}\n",
            sample_archive().display().to_string(),
            x_target(dir.path(), &fake.url(), target_extra),
        );
        fs::write(dir.path().join("bridge.toml"), config).unwrap();
        Self { dir, fake }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_birdbridge"))
            .arg("--config")
            .arg(self.dir.path().join("bridge.toml"))
            .args(args)
            .env("BIRDBRIDGE_LOG", "warn")
            .output()
            .unwrap()
    }

    fn backfill(&self) -> Output {
        let out = self.run(&["backfill", "--route", "r"]);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Why parts were skipped, as the ledger says.
    fn skip_reasons(&self) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.dir.path().join("ledger.sqlite")).unwrap();
        let mut stmt = conn
            .prepare("SELECT reason FROM parts WHERE state = 'skipped'")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn status_json(&self) -> Value {
        let out = self.run(&["status", "--json"]);
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn validator() -> (boon::Schemas, boon::SchemaIndex) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status.schema.json");
    let schema: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource("status.schema.json", schema).unwrap();
    let index = compiler
        .compile("status.schema.json", &mut schemas)
        .unwrap();
    (schemas, index)
}

/// The media ids of post `id` on the fake.
fn media_of(fake: &FakeX, id: &str) -> Vec<String> {
    fake.made_posts()
        .iter()
        .find(|p| p["id"] == id)
        .and_then(|p| p["attachments"]["media_keys"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|k| {
            k.as_str()
                .and_then(|k| k.strip_prefix("3_"))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn the_sample_archive_reaches_x_once_with_media_threads_and_warnings() {
    let b = Binary::new("", "");
    // The video and the GIF take X a second to process: their status is polled.
    b.fake.set_processing_ms(1000);
    b.backfill();
    assert!(b.fake.write_calls("GET /2/media/upload") >= 2);
    let made = b.fake.made();
    assert!(made.len() >= 10, "{made:#?}");
    // Every post within X's weighted length (the fake refuses longer ones anyway).
    for (_, text, _, _) in &made {
        assert!(x_weighted::length(text) <= 280, "{text}");
    }
    // The thread and the long post: reply chains, each part under the one before.
    let parent_of = |start: &str| {
        let post = made
            .iter()
            .find(|m| m.1.starts_with(start))
            .unwrap_or_else(|| panic!("no post {start:?}: {made:#?}"));
        let parent = post.2.as_ref()?;
        made.iter().find(|m| &m.0 == parent).map(|m| m.1.clone())
    };
    assert!(parent_of("2/3 Every post").is_some_and(|p| p.starts_with("A short thread")));
    assert!(parent_of("3/3 Retries").is_some_and(|p| p.starts_with("2/3 Every post")));
    assert!(parent_of("birdbridge reads it once").is_some_and(|p| p.starts_with("Why mirror")));
    assert!(parent_of("Why mirror").is_none());

    // The sensitive post: its warning as the first line.
    let finale = made
        .iter()
        .find(|m| m.1.contains("Season finale"))
        .expect("the sensitive post");
    assert!(
        finale.1.starts_with("CW: Sensitive media\n\n"),
        "{}",
        finale.1
    );

    // Media: photos with their alt text; the video and the GIF each in a post of its own.
    let uploads = b.fake.uploads();
    assert!(
        uploads.iter().any(|(_, c)| c == "tweet_video"),
        "{uploads:?}"
    );
    let with_alt = uploads
        .iter()
        .filter(|(id, _)| b.fake.alt_text(id).is_some())
        .count();
    assert!(with_alt >= 1, "{uploads:?}");
    for (id, _, _, media) in &made {
        let ids = media_of(&b.fake, id);
        assert_eq!(ids.len(), *media);
        let categories: Vec<&str> = ids
            .iter()
            .filter_map(|m| {
                uploads
                    .iter()
                    .find(|(u, _)| u == m)
                    .map(|(_, c)| c.as_str())
            })
            .collect();
        if categories.iter().any(|c| *c != "tweet_image") {
            assert_eq!(
                categories.len(),
                1,
                "a video or GIF shares a post: {categories:?}"
            );
        }
    }

    // Once: a second run posts nothing.
    let posts = b.fake.write_calls("POST /2/tweets");
    let out = b.backfill();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 new post(s) delivered"));
    assert_eq!(b.fake.write_calls("POST /2/tweets"), posts);
    assert_eq!(b.fake.made().len(), made.len());

    assert_spend_is_priced_by_hand(&b, &made);
}

/// The spend in the ledger (`status --json`, against its schema, and `status`) is the
/// posts made on the fake priced by hand.
fn assert_spend_is_priced_by_hand(b: &Binary, made: &[(String, String, Option<String>, usize)]) {
    let hand: u64 = made
        .iter()
        .map(|(id, text, _, _)| hand_price(&b.fake, text, &media_of(&b.fake, id)))
        .sum();
    let doc = b.status_json();
    let (schemas, index) = validator();
    if let Err(err) = schemas.validate(&doc, index) {
        panic!("status --json does not follow its schema: {err:#}\n{doc:#}");
    }
    let spend = &doc["x_spend"][0];
    assert_eq!(spend["target"], "x");
    let recorded: f64 = spend["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["usd"].as_f64().unwrap())
        .sum();
    #[allow(clippy::cast_precision_loss, reason = "small amounts")]
    let hand_usd = hand as f64 / 1e6;
    assert!(
        (recorded - hand_usd).abs() < 1e-9,
        "ledger {recorded}, by hand {hand_usd}"
    );
    let parts: u64 = spend["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["parts"].as_u64().unwrap())
        .sum();
    assert_eq!(parts, made.len() as u64);
    let text = String::from_utf8_lossy(&b.run(&["status"]).stdout).into_owned();
    assert!(text.contains("X spending"), "{text}");
}

#[test]
fn with_cw_skip_a_warned_post_is_recorded_as_skipped() {
    let b = Binary::new("cw = \"skip\"\n", "");
    b.backfill();
    let made = b.fake.made();
    assert!(
        made.iter().all(|m| !m.1.contains("Season finale")),
        "{made:#?}"
    );
    assert!(made.len() >= 10);
    let skipped = b.skip_reasons();
    assert!(
        skipped
            .iter()
            .any(|r| r.contains("content warning") && r.contains("cw = \"skip\"")),
        "{skipped:?}"
    );
}

/// `review = "all"` on the X target: every copy waits for a person, who rewords one for X
/// (`hold edit`) and releases it; X receives that text once, and the other posts stay held.
#[test]
fn a_copy_reworded_for_x_goes_out_once_after_review() {
    const CHEERS: &str = "1711685544309714944";
    let b = Binary::new("review = \"all\"\n", "");
    let out = b.run(&["backfill", "--route", "r"]);
    assert!(
        b.fake.made().is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ledger = Ledger::open(&b.dir.path().join("ledger.sqlite")).unwrap();
    let state = |id: &str| {
        ledger
            .parts_of_post("r", id, "x")
            .unwrap()
            .first()
            .map(|p| p.state)
    };
    assert_eq!(
        state(CHEERS),
        Some(PartState::Held),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let reworded = "Three cheers: the release is out.";
    for args in [
        &["edit", "--text", reworded][..],
        &["release"][..],
        &["release"][..],
    ] {
        let mut all = vec!["hold", args[0], "--route", "r", "--post", CHEERS];
        all.extend(&args[1..]);
        b.run(&all);
    }
    let made = b.fake.made();
    assert_eq!(made.len(), 1, "{made:#?}");
    assert!(made[0].1.starts_with(reworded), "{made:#?}");
    assert_eq!(state(CHEERS), Some(PartState::Posted));
    assert_eq!(state("1106124528284626944"), Some(PartState::Held));
}

#[test]
fn check_names_the_account_and_the_costs() {
    let b = Binary::new("max_spend_per_day = 1.5\n", "");
    let out = b.run(&["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("as @{}", fx::WRITER_NAME)),
        "{stdout}"
    );
    assert!(
        stdout.contains("$0.015 a post, $0.20 a post with a URL"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("max_spend_per_day $1.50: at most 100 posts a day without a URL, 7 with one"),
        "{stdout}"
    );
    // Refused credentials are a finding naming the target.
    fs::write(b.dir.path().join("x-access_token_secret"), "wrong\n").unwrap();
    let out = b.run(&["check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("`targets.x`") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong"),
        "a secret in the output: {stderr}"
    );
}

#[test]
fn a_dry_run_shows_what_each_post_would_cost() {
    let b = Binary::new("max_spend_per_day = 0.5\n", "");
    let out = b.run(&["backfill", "--route", "r", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(b.fake.write_calls("POST /2/tweets"), 0);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("$ costs $0.20 (contains a URL)"), "{all}");
    assert!(
        all.contains("$ costs $0.02 (1 alt text(s))") || all.contains("$ costs $0.02"),
        "{all}"
    );
    assert!(all.contains("would cost"), "{all}");
    assert!(all.contains("at max_spend_per_day = $0.50: about"), "{all}");
}

// ---------------------------------------------------------------------------------------
// Through the in-process daemon: an X source feeding the X target, on a manual clock

/// The account the X source reads (not the one the target writes as).
const SOURCE_ID: &str = "42";
const SOURCE_NAME: &str = "fedi_first_t";

struct Daemonised {
    dir: TempDir,
    fake: FakeX,
    clock: Arc<ManualClock>,
}

impl Daemonised {
    /// The fake X (source account and target account on the same fake), the config, and a
    /// first cycle that only sets the source's cursor. `target_extra` and `route_extra` are
    /// more keys of the target's and the route's tables.
    async fn new(target_extra: &str, route_extra: &str) -> Self {
        let start = Utc.with_ymd_and_hms(2026, 5, 4, 21, 0, 0).unwrap();
        let clock = ManualClock::auto(start);
        let fake = FakeX::start(Clock::from(clock.clone())).await;
        fake.add_user(SOURCE_ID, SOURCE_NAME);
        let dir = TempDir::new().unwrap();
        fs::write(
            dir.path().join("read.token"),
            format!("{}\n", fake_x::TOKEN),
        )
        .unwrap();
        let config = format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.live]\nkind = \"x\"\nusername = \"{SOURCE_NAME}\"\ntoken_file = \"read.token\"\n\
             schedule = \"0 * * * * *\"\napi_url = \"{url}\"\nstart = \"latest\"\n\n{target}\n\
             [routes.r]\nsource = \"live\"\ntargets = [\"x\"]\n{route_extra}\n",
            url = fake.url(),
            target = x_target(dir.path(), &fake.url(), target_extra),
        );
        fs::write(dir.path().join("bridge.toml"), config).unwrap();
        let env = Self { dir, fake, clock };
        env.once().await;
        // Posts made from now on are newer than where the source starts.
        env.clock.advance(ChronoDuration::seconds(5));
        env
    }

    fn settings(&self) -> Settings {
        Settings::load_with_env(&self.dir.path().join("bridge.toml"), HashMap::new()).unwrap()
    }

    /// One cycle of a freshly built daemon (every call is a restart).
    async fn once(&self) -> birdbridge::report::DeliveryReport {
        support::once(&self.settings(), self.clock.clone()).await
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap()
    }

    /// The ledger rows of source post `id` on the target.
    fn parts(&self, id: u64) -> Vec<birdbridge::store::PartRecord> {
        self.ledger()
            .parts_of_post("r", &id.to_string(), "x")
            .unwrap()
    }
}

/// A text long enough for three posts on X.
fn long_text() -> String {
    (1..=9)
        .map(|i| {
            format!("Sentence number {i} of a long announcement, written to be cut into parts.")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn a_refused_reply_falls_back_to_numbered_posts_of_their_own() {
    let env = Daemonised::new("", "").await;
    env.fake.refuse_all_replies();
    let id = env.fake.post(SOURCE_ID, &long_text(), json!({}));
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let made = env.fake.made();
    assert_eq!(made.len(), 3, "{made:#?}");
    for (i, (_, text, parent, _)) in made.iter().enumerate() {
        assert!(text.ends_with(&format!("{}/3", i + 1)), "numbered: {text}");
        assert!(parent.is_none(), "X refused replies: {made:#?}");
    }
    // Tried as a reply once; after the refusal the rest of the thread goes alone at once.
    assert_eq!(env.fake.write_calls("POST /2/tweets"), 4);
    let parts = env.parts(id);
    assert!(
        parts.iter().all(|p| p.state == PartState::Posted),
        "{parts:#?}"
    );
    let ledger = env.ledger();
    for index in 1..3 {
        let warnings = ledger
            .warnings(&PartKey::new("r", id.to_string(), "x", index))
            .unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("X refused the reply")),
            "part {index}: {warnings:?}"
        );
    }
    // Nothing left, nothing sent again.
    env.once().await;
    assert_eq!(env.fake.made().len(), 3);
}

#[tokio::test]
async fn a_thread_goes_as_a_reply_chain_where_x_allows_it() {
    let env = Daemonised::new("", "").await;
    let id = env.fake.post(SOURCE_ID, &long_text(), json!({}));
    env.once().await;
    let made = env.fake.made();
    assert_eq!(made.len(), 3);
    assert!(env.parts(id).iter().all(|p| p.state == PartState::Posted));
    assert_eq!(made[1].2.as_deref(), Some(made[0].0.as_str()));
    assert_eq!(made[2].2.as_deref(), Some(made[1].0.as_str()));
    assert_eq!(env.fake.write_calls("POST /2/tweets"), 3);
}

#[tokio::test]
async fn an_edit_is_recorded_as_skipped_never_posted_twice() {
    let env = Daemonised::new("", "").await;
    let first = env.fake.post(SOURCE_ID, "teh first version", json!({}));
    env.once().await;
    assert_eq!(env.fake.made().len(), 1);
    let second = env.fake.edit(first, "the first version");
    env.once().await;
    env.once().await;
    let made = env.fake.made();
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(made[0].1, "teh first version");
    let parts = env.parts(second);
    assert_eq!(parts.len(), 1, "{parts:#?}");
    assert_eq!(parts[0].state, PartState::Skipped);
    let reason = parts[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("cannot edit"), "{reason}");
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_post_goes_once() {
    let env = Daemonised::new("", "").await;
    // The next post request is refused with X's headers: the window is spent until its
    // reset, 15 minutes after the fake started.
    env.fake.inject_post_429(1);
    let slept = env.clock.slept();
    env.fake.post(SOURCE_ID, "after the limit", json!({}));
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let made = env.fake.made();
    assert_eq!(made.len(), 1);
    assert_eq!(
        env.fake.write_calls("POST /2/tweets"),
        2,
        "refused once, then sent once"
    );
    assert!(
        env.clock.slept() - slept >= ChronoDuration::minutes(10),
        "waited {} s",
        (env.clock.slept() - slept).num_seconds()
    );
    // The window the headers announced is in the ledger (status shows it).
    let budgets = env.ledger().budgets(Some("x")).unwrap();
    let statuses = budgets
        .iter()
        .find(|b| b.family.as_str() == "statuses")
        .expect("the posts' window");
    assert!(statuses.window.announced);
    assert_eq!(statuses.window.limit, 100);
}

#[tokio::test]
async fn an_unknown_outcome_is_reconciled_not_resent() {
    let env = Daemonised::new("", "").await;
    env.fake.fault_next_post(PostFault::CreatedThenStatus(503));
    let id = env
        .fake
        .post(SOURCE_ID, "made, then a gateway error", json!({}));
    env.once().await;
    assert_eq!(env.fake.made().len(), 1);
    assert_eq!(env.fake.write_calls("POST /2/tweets"), 1);
    let parts = env.parts(id);
    assert_eq!(parts[0].state, PartState::Posted, "adopted: {parts:#?}");
    assert_eq!(
        parts[0].remote_id.as_deref(),
        Some(env.fake.made()[0].0.as_str())
    );
    env.once().await;
    assert_eq!(env.fake.write_calls("POST /2/tweets"), 1);
}

#[tokio::test]
async fn a_repost_of_a_mirrored_post_becomes_a_repost_on_x() {
    let env = Daemonised::new("", "reposts = \"boost\"\n").await;
    let original = env.fake.post(SOURCE_ID, "worth repeating", json!({}));
    env.once().await;
    let made = env.fake.made();
    assert_eq!(made.len(), 1);
    env.fake.post(
        SOURCE_ID,
        &format!("RT @{SOURCE_NAME}: worth repeating"),
        json!({"referenced_tweets": [{"type": "retweeted", "id": original.to_string()}]}),
    );
    env.once().await;
    assert_eq!(env.fake.write_calls("POST /2/users/{id}/retweets"), 1);
    assert_eq!(env.fake.write_calls("POST /2/tweets"), 1);
    let reposted = env.fake.made_posts().iter().any(|p| {
        p["referenced_tweets"][0]["type"] == "retweeted"
            && p["referenced_tweets"][0]["id"] == made[0].0.as_str()
    });
    assert!(reposted, "{:#?}", env.fake.made_posts());
}

#[tokio::test]
async fn the_spending_cap_holds_posts_until_the_next_utc_day() {
    // Two plain posts a day ($0.015 each); the clock starts at 21:00 UTC.
    let env = Daemonised::new("max_spend_per_day = 0.03\n", "").await;
    let ids: Vec<u64> = (1..=4)
        .map(|i| {
            env.fake
                .post(SOURCE_ID, &format!("update number {i}"), json!({}))
        })
        .collect();
    env.once().await;
    assert_eq!(env.fake.made().len(), 2);
    let waiting = env.parts(ids[2]);
    assert_eq!(waiting[0].state, PartState::Planned, "{waiting:#?}");
    let note = waiting[0].last_error.as_deref().unwrap_or_default();
    assert!(
        note.contains("the next UTC day") && note.contains("$0.03 a day"),
        "{note}"
    );
    let today = env.clock.now().date_naive();
    assert_eq!(env.ledger().spent_on("x", today).unwrap().micros, 30_000);
    // `status` lists them as waiting, with the reason.
    let report = birdbridge::status::report(&env.settings(), None).unwrap();
    assert!(
        report.contains("r → x: 2 post(s), 2 part(s) planned: waiting for the next UTC day"),
        "{report}"
    );

    // A restart the same day does not reset the spend: nothing more goes.
    env.clock.advance(ChronoDuration::hours(1));
    env.once().await;
    assert_eq!(env.fake.made().len(), 2);

    // The next UTC day: the two that waited go, in order.
    env.clock.advance(ChronoDuration::hours(2));
    assert_ne!(env.clock.now().date_naive(), today);
    env.once().await;
    let made = env.fake.made();
    assert_eq!(made.len(), 4, "{made:#?}");
    let texts: Vec<&str> = made.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(
        texts,
        [
            "update number 1",
            "update number 2",
            "update number 3",
            "update number 4"
        ]
    );
    for id in &ids {
        assert_eq!(env.parts(*id)[0].state, PartState::Posted);
    }
    assert_eq!(
        env.ledger()
            .spent_on("x", env.clock.now().date_naive())
            .unwrap()
            .micros,
        30_000
    );
}
