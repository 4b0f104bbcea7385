//! Takahē, and what real servers showed about answers that are not what they seem, through
//! the paths users run: the daemon reading a fake X account and delivering to the fake
//! server's `Takahe` personality (`fake_fedi/servers.rs`, written from Takahē's public
//! source), and the binary (`backfill` of the sample archive, `check`, a refused token).
//!
//! - a reply the server published on its own (200, `in_reply_to_id: null`) is recorded with a
//!   warning, `status` lists it, and the rest of the thread replies to the last part that is
//!   where it belongs;
//! - an HTML error page reads as its text in the ledger;
//! - every edit sends `sensitive` and `spoiler_text` again; a status that is not public is
//!   not edited on Takahē (it would become public), and the reason is recorded;
//! - a boost is answered with the original status, and recorded;
//! - `kind = "auto"` reads Takahē's kind from its instance document when its nodeinfo link
//!   (always `https://`) cannot be fetched, and so for a link to another port or one that
//!   never answers; the warning names the address fetched.
//!
//! Real HTTP on 127.0.0.1, real `SQLite` files; the daemon's clock is a manual one.

mod fake_fedi;
mod fake_x;
mod support;
mod x_world;

use std::path::{Path, PathBuf};

use birdbridge::clock::Clock;
use birdbridge::store::{Ledger, PartKey, PartState, NOT_A_REPLY};
use fake_fedi::{FakeFedi, Injection, Personality, Stored, TOKEN};
use rstest::rstest;
use serde_json::{json, Value};
use support::config::Config;
use tempfile::TempDir;
use x_world::{World, USER_ID};

const USERNAME: &str = "takahe_t";

/// A daemon route from a fake X account to a fake Takahē; `route` holds extra keys of the
/// route's table (`("visibility", "unlisted")`).
async fn world(route: &[(&str, &str)]) -> World {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("birdbridge=info")
        .with_test_writer()
        .try_init();
    World::start(Personality::Takahe, "takahe", USERNAME, route, |_| {}).await
}

impl World {
    /// The statuses whose text contains `needle`, in creation order.
    fn statuses_with(&self, needle: &str) -> Vec<Stored> {
        self.fedi
            .statuses()
            .into_iter()
            .filter(|s| s.text.contains(needle))
            .collect()
    }
}

/// A text of about 1,200 characters: three parts on a 500-character server.
fn long_text() -> String {
    (1..=18)
        .map(|i| format!("Sentence {i:02} of a long post about bridges and birds, told slowly."))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A long post whose second part the server publishes on its own: the part is recorded with
/// a warning (`status` lists it), and the third part replies to the first, the last part
/// that is where it belongs, not to the stray one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_published_on_its_own_is_recorded_and_the_thread_goes_on_from_the_last_good_part() {
    let world = world(&[]).await;
    let long = long_text();
    let id = world
        .x
        .post(USER_ID, &long[..270], json!({"note_tweet": {"text": long}}));
    // Status posts count from the first of this post: its second part.
    world.fedi.inject(2, Injection::PublishedAlone);
    world.once().await;

    let thread = world.statuses_with("Sentence");
    assert_eq!(thread.len(), 3, "{thread:#?}");
    assert_eq!(
        thread[1].in_reply_to_id, None,
        "the server dropped the reply"
    );
    assert_eq!(
        thread[2].in_reply_to_id.as_ref(),
        Some(&thread[0].id),
        "the third part replies to the last part in its place"
    );
    let ledger = world.ledger();
    let key = PartKey::new("r", id.to_string(), "t", 1);
    let warnings = ledger.warnings(&key).unwrap();
    assert!(
        warnings.iter().any(|w| w.starts_with(NOT_A_REPLY)
            && w.contains(&format!("sent as a reply to {}", thread[0].id))),
        "{warnings:?}"
    );
    let parts = ledger.parts_of_post("r", &id.to_string(), "t").unwrap();
    assert!(
        parts.iter().all(|p| p.state == PartState::Posted),
        "{parts:?}"
    );
    let status = birdbridge::status::report(&world.settings, None).unwrap();
    assert!(
        status.contains("replies the server published without their thread")
            && status.contains(&format!("r → t post {id} part 1 (status {})", thread[1].id)),
        "{status}"
    );
}

/// The same, across runs: the token stops working right after the stray second part, and
/// the third part goes out in a later run, still replying to the first part (the ledger
/// remembers which part the server published on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_resumed_after_a_stray_part_goes_on_from_the_last_good_part() {
    let world = world(&[]).await;
    let long = long_text();
    world
        .x
        .post(USER_ID, &long[..270], json!({"note_tweet": {"text": long}}));
    world.fedi.inject(2, Injection::PublishedAlone);
    world.fedi.state().expire_token_after = Some(2);
    world.once().await;
    assert_eq!(world.statuses_with("Sentence").len(), 2);

    world.fedi.set_token_valid(true);
    world.once().await;
    let thread = world.statuses_with("Sentence");
    assert_eq!(thread.len(), 3, "{thread:#?}");
    assert_eq!(thread[1].in_reply_to_id, None);
    assert_eq!(thread[2].in_reply_to_id.as_ref(), Some(&thread[0].id));
}

/// A post replying to a mirrored post whose status is gone from the server (removed by a
/// moderator): Takahē publishes the reply on its own. It is recorded and listed; the post's
/// own thread still hangs together under its first part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_status_the_server_lost_is_recorded_and_heads_its_own_thread() {
    let world = world(&[]).await;
    let parent = world
        .x
        .post(USER_ID, "The first post of a thread.", json!({}));
    world.once().await;
    let gone = world.statuses_with("The first post")[0].id.clone();
    world.fedi.state().deleted.insert(gone.clone());

    let long = long_text();
    let reply = world.x.post(
        USER_ID,
        &long[..270],
        json!({
            "note_tweet": {"text": long},
            "in_reply_to_user_id": USER_ID,
            "conversation_id": parent.to_string(),
            "referenced_tweets": [{"type": "replied_to", "id": parent.to_string()}]
        }),
    );
    world.once().await;

    let thread = world.statuses_with("Sentence");
    assert_eq!(thread.len(), 3, "{thread:#?}");
    assert_eq!(thread[0].in_reply_to_id, None);
    assert_eq!(thread[1].in_reply_to_id.as_ref(), Some(&thread[0].id));
    assert_eq!(thread[2].in_reply_to_id.as_ref(), Some(&thread[1].id));
    let warnings = world
        .ledger()
        .warnings(&PartKey::new("r", reply.to_string(), "t", 0))
        .unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with(NOT_A_REPLY) && w.contains(&gone)),
        "{warnings:?}"
    );
    let status = birdbridge::status::report(&world.settings, None).unwrap();
    assert!(status.contains(&format!("post {reply} part 0")), "{status}");
}

/// Every edit sends the whole state again: Takahē clears `sensitive` (and the content
/// warning) on an edit that leaves them out. A public status behind the route's content
/// warning is edited and keeps both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_sends_sensitive_and_the_content_warning_again() {
    let world = world(&[("default_content_warning", "Mirrored from X")]).await;
    let first = world
        .x
        .post(USER_ID, "Tpyo in a post behind a warning", json!({}));
    world.once().await;
    let before = world.statuses_with("behind a warning");
    assert_eq!(before.len(), 1);
    assert!(before[0].sensitive && before[0].spoiler_text == "Mirrored from X");

    world.x.edit(first, "Typo fixed in a post behind a warning");
    world.once().await;
    let edits = world.fedi.edits();
    assert_eq!(edits.len(), 1, "{edits:#?}");
    assert_eq!(edits[0].1["sensitive"], json!(true), "{edits:#?}");
    assert_eq!(
        edits[0].1["spoiler_text"],
        json!("Mirrored from X"),
        "{edits:#?}"
    );
    let after = world.fedi.statuses();
    assert_eq!(after.len(), 1, "never posted again: {after:#?}");
    let edited = &after[0];
    assert_eq!(edited.id, before[0].id);
    assert_eq!(edited.text, "Typo fixed in a post behind a warning");
    assert!(edited.sensitive, "the edit cleared `sensitive`");
    assert_eq!(edited.spoiler_text, "Mirrored from X");
    assert_eq!(edited.visibility, "public");
}

/// Takahē makes every edited status public: on a route whose statuses are unlisted, the new
/// version is not sent as an edit; it is recorded as skipped with the reason, and the status
/// stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_that_is_not_public_is_not_edited_where_an_edit_makes_it_public() {
    let world = world(&[("visibility", "unlisted")]).await;
    let first = world.x.post(USER_ID, "Tpyo in an unlisted post", json!({}));
    world.once().await;
    let before = world.statuses_with("unlisted post");
    assert_eq!(before[0].visibility, "unlisted");

    let second = world.x.edit(first, "Typo fixed in an unlisted post");
    world.once().await;
    assert!(world.fedi.edits().is_empty(), "{:#?}", world.fedi.edits());
    let after = world.statuses_with("unlisted post");
    assert_eq!(after, before, "the status was changed");
    let rows = world
        .ledger()
        .parts_of_post("r", &second.to_string(), "t")
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state, PartState::Skipped);
    let reason = rows[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("make an edited status public") && reason.contains("unlisted"),
        "{reason}"
    );
}

/// A server's HTML error page (Takahē's 404 for a status it no longer has, met by an edit)
/// is kept in the ledger as its text: no markup, cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_is_recorded_as_readable_text() {
    let world = world(&[]).await;
    let first = world.x.post(USER_ID, "Tpyo in a post", json!({}));
    world.once().await;
    let status = world.statuses_with("Tpyo")[0].id.clone();
    world.fedi.state().deleted.insert(status);

    let second = world.x.edit(first, "Typo fixed in a post");
    world.once().await;
    let rows = world
        .ledger()
        .parts_of_post("r", &second.to_string(), "t")
        .unwrap();
    let error = rows[0].last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("HTTP 404") && error.contains("Page Not Found Sorry about that."),
        "{error}"
    );
    assert!(
        !error.contains('<') && error.chars().count() < 300,
        "{error}"
    );
}

/// A repost of a mirrored post is a boost, which Takahē answers with the original status
/// itself (`reblogged: true`, its id): delivered and recorded once; the fake's `unreblog`
/// undoes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boost_answered_with_the_original_status_is_delivered() {
    let world = world(&[("reposts", "boost")]).await;
    let original = world.x.post(USER_ID, "Worth boosting.", json!({}));
    world.once().await;
    let status = world.statuses_with("Worth boosting")[0].id.clone();
    let repost = world.x.post(
        USER_ID,
        "RT @takahe_t: Worth boosting.",
        json!({"referenced_tweets": [{"type": "retweeted", "id": original.to_string()}]}),
    );
    world.once().await;
    let reblogs = world.fedi.reblogs();
    assert_eq!(reblogs.len(), 1, "{reblogs:?}");
    assert_eq!(reblogs[0].1, status);
    let rows = world
        .ledger()
        .parts_of_post("r", &repost.to_string(), "t")
        .unwrap();
    assert_eq!(rows[0].state, PartState::Posted, "{rows:?}");
    assert_eq!(rows[0].remote_id.as_deref(), Some(status.as_str()));
    assert_eq!(world.fedi.statuses().len(), 1, "no status of its own");

    let undone: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/statuses/{status}/unreblog",
            world.fedi.url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(undone["reblogged"], json!(false));
    assert_eq!(undone["id"], json!(status));
    assert!(world.fedi.reblogs().is_empty());
}

/// The binary, against a fake Takahē served meanwhile: `bridge.toml` for the sample archive;
/// `timeout` sets the target's `timeout_seconds`.
fn sample_config(dir: &Path, kind: &str, url: &str, timeout: Option<&str>) -> PathBuf {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
    let config = Config::new(dir)
        .archive_source("sample", &archive)
        .fedi_target("t", kind, url, TOKEN);
    let config = match timeout {
        Some(seconds) => config.set_raw("timeout_seconds", seconds),
        None => config,
    };
    config.route("r", "sample", &["t"]).write()
}

/// Runs the binary with `args` on `config`; (exit code, stdout, stderr).
async fn birdbridge(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = support::birdbridge(config, args).await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sample archive through `birdbridge backfill` into Takahē, configured or detected:
/// every part once (the video linked: images only), threads chained, descriptions attached,
/// nothing twice on a second run. `check` reports the server; under `auto` the nodeinfo link
/// (`https://`, which this server does not speak) is named in the warning as it is, and the
/// kind comes from the instance document.
#[rstest]
#[case::configured("takahe")]
#[case::detected("auto")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_archive_lands_once_through_the_binary(#[case] kind: &str) {
    let fake = FakeFedi::start(Personality::Takahe, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let config = sample_config(dir.path(), kind, &fake.url, None);

    let (code, stdout, stderr) = birdbridge(&config, &["check"]).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for line in [
        "as @mirror (takahe takahe/0.11.0",
        "500 characters per status, 4 attachments",
        "idempotency keys ignored",
        "edits: of public statuses only",
    ] {
        assert!(stdout.contains(line), "{line:?} not in {stdout}");
    }
    if kind == "auto" {
        let link = format!(
            "https://{}/nodeinfo/2.0/",
            fake.url.trim_start_matches("http://")
        );
        assert!(
            stderr.contains(&link) && stderr.contains("reading it from the instance document"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(&format!("{}https://", fake.url)),
            "{stderr}"
        );
    }

    let (code, stdout, stderr) = birdbridge(&config, &["backfill", "--route", "r"]).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let statuses = fake.statuses();
    assert!(statuses.len() >= 15, "{statuses:#?}");
    let thread: Vec<&Stored> = statuses.iter().filter(|s| s.text.contains("/3")).collect();
    assert_eq!(thread.len(), 3);
    assert_eq!(thread[1].in_reply_to_id.as_ref(), Some(&thread[0].id));
    assert_eq!(thread[2].in_reply_to_id.as_ref(), Some(&thread[1].id));
    let photo = statuses
        .iter()
        .find(|s| s.text.starts_with("Morning over the harbour"))
        .unwrap();
    assert_eq!(
        fake.media(&photo.media_ids[0]).description.as_deref(),
        Some("A calm harbour at sunrise: orange sky, two fishing boats moored at a wooden pier.")
    );
    let video = statuses
        .iter()
        .find(|s| s.text.starts_with("Time-lapse"))
        .unwrap();
    assert!(
        video.media_ids.is_empty() && video.text.contains("https://"),
        "{video:?}"
    );
    assert!(fake
        .state()
        .media
        .iter()
        .all(|m| m.content_type.starts_with("image/")));
    assert!(statuses.iter().all(|s| s.text.chars().count() <= 500));

    let (code, _, stderr) = birdbridge(&config, &["backfill", "--route", "r"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fake.statuses().len(),
        statuses.len(),
        "a rerun posted again"
    );
}

/// A token Takahē does not know is a 400 with an HTML page ("Invalid Bearer token") on every
/// call: `check` says the token was refused, and a backfill stops the target (its posts wait,
/// nothing is quarantined) instead of taking the 400 for a refused post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_a_refused_token() {
    let fake = FakeFedi::start(Personality::Takahe, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let config = sample_config(dir.path(), "takahe", &fake.url, None);
    std::fs::write(dir.path().join("target-t.token"), "not-a-token").unwrap();

    let (code, _, stderr) = birdbridge(&config, &["check"]).await;
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("refused the token") && stderr.contains("Invalid Bearer token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-a-token"),
        "the token was printed: {stderr}"
    );

    let (code, stdout, stderr) = birdbridge(&config, &["backfill", "--route", "r"]).await;
    assert_ne!(code, Some(0));
    let all = format!("{stdout}\n{stderr}");
    assert!(all.contains("refused the access token"), "{all}");
    assert!(fake.statuses().is_empty());
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    assert!(ledger.quarantined().unwrap().is_empty());
}

/// `kind = "auto"` on a server whose nodeinfo link cannot be fetched (another port where
/// nothing listens; an address that never answers): the kind comes from the instance
/// document, else Mastodon's rules, with a warning naming the address fetched; the target
/// is not stopped.
#[rstest]
#[case::another_port(Personality::Akkoma, false, "pleroma 2.7.2")]
#[case::never_answers(Personality::Mastodon, true, "auto 4.3.1")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_when_the_nodeinfo_link_cannot_be_fetched(
    #[case] personality: Personality,
    #[case] silent: bool,
    #[case] software: &str,
) {
    let fake = FakeFedi::start(personality, Clock::System).await;
    // A port that accepts and never answers, or one where nothing listens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = if silent {
        Some(listener)
    } else {
        drop(listener);
        None
    };
    let link = format!("http://127.0.0.1:{port}/nodeinfo/2.0");
    fake.state().nodeinfo_href = Some(link.clone());
    let dir = TempDir::new().unwrap();
    let config = sample_config(dir.path(), "auto", &fake.url, Some("1"));

    let (code, stdout, stderr) = birdbridge(&config, &["check"]).await;
    drop(held);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("as @mirror ({software}")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&link) && !stderr.contains(&format!("{}http", fake.url)),
        "{stderr}"
    );
    if personality == Personality::Mastodon {
        assert!(stderr.contains("Mastodon's rules"), "{stderr}");
    }
}
