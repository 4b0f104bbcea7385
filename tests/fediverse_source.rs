//! The fediverse source (`kind = "fediverse"`) against the fake servers' read side
//! (`fake_fedi/read.rs`), over real HTTP and WebSocket on 127.0.0.1:
//!
//! - the source alone, per personality megalodon reads (Mastodon, `GoToSocial`, Akkoma with
//!   their streams; Pixelfed and Friendica polled): a new source mirrors nothing old, a new
//!   status is found (through the stream's news where there is one), a followed account's
//!   status on the stream is not; a delete on the stream is handed over (`take_deleted`);
//!   the token goes in a header, never in the URL; snac stops the source with an error
//!   naming the server and the call;
//! - through the in-process daemon: a status created on the fake Mastodon reaches a second
//!   fake Mastodon and a fake Pixelfed once, with its image and description, its thread
//!   chained and its warning kept, and an edit follows; followers-only, direct and other
//!   accounts' statuses are never mirrored; a reconnect misses nothing; the schedule takes
//!   over when the stream is refused; `backfill --from-api` loads the account's history;
//! - to X: a status reaches the fake X once with its image and description, its thread
//!   chained and its warning as the first line, a fediverse mention never an X @mention; an
//!   edit is recorded as skipped (X cannot edit).

mod fake_fedi;
mod fake_x;
mod support;

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use birdbridge::clock::Clock;
use birdbridge::config::{Settings, SourceSettings};
use birdbridge::model::PostId;
use birdbridge::sources::fediverse::FediverseSource;
use birdbridge::sources::{Http, Setup, Source, SourceError};
use birdbridge::store::PartState;
use fake_fedi::read::NewStatus;
use fake_fedi::{FakeFedi, Personality, TOKEN};
use support::config::Config;
use support::{wait_for, Running};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// A schedule that never comes during a test: only the stream wakes the source.
const YEARLY: &str = "0 0 0 1 1 *";

/// The settings of a configuration with the fediverse source `home` on `fake` (as
/// `server`), routed to `targets` (written by `more`).
fn settings(
    dir: &Path,
    fake: &FakeFedi,
    server: &str,
    more: impl FnOnce(Config) -> Config,
) -> Settings {
    let config = Config::new(dir).fediverse_source("home", server, &fake.url, TOKEN);
    support::settings(&more(config).write())
}

/// The source `home` of `settings`, built as the daemon builds it.
fn source(settings: &Settings, cancel: &CancellationToken) -> FediverseSource {
    let SourceSettings::Fediverse(f) = &settings.sources["home"] else {
        panic!("a fediverse source")
    };
    let setup = Setup {
        http: Http::new().unwrap(),
        clock: Clock::System,
        cancel: cancel.clone(),
        reposts_wanted: true,
    };
    FediverseSource::from_settings("home", f, &setup).unwrap()
}

/// A dry-run route for the source, so the configuration is complete.
fn dry_run(config: Config) -> Config {
    config
        .dry_run_target("preview", "preview.jsonl")
        .route("r", "home", &["preview"])
}

/// Waits (at most 5 s) for the source's news.
async fn news(source: &mut FediverseSource) {
    let news = source.news().expect("a streaming source");
    tokio::time::timeout(Duration::from_secs(5), news)
        .await
        .expect("news within 5 s");
}

fn ids(found: &[birdbridge::sources::Found]) -> Vec<String> {
    found.iter().map(|f| f.post.id.0.clone()).collect()
}

#[tokio::test]
async fn each_personality_megalodon_reads() {
    for (personality, server, streams) in [
        (Personality::Mastodon, "mastodon", true),
        (Personality::GoToSocial, "gotosocial", true),
        (Personality::Akkoma, "auto", true),
        (Personality::Pixelfed, "pixelfed", false),
        (Personality::Friendica, "auto", false),
    ] {
        let dir = TempDir::new().unwrap();
        let fake = FakeFedi::start(personality, Clock::System).await;
        fake.author(&NewStatus::says("written before the bridge"));
        let settings = settings(dir.path(), &fake, server, dry_run);
        let ledger = support::ledger(&settings);
        let cancel = CancellationToken::new();
        let mut source = source(&settings, &cancel);
        let account = source.account(&ledger).await.unwrap();
        assert_eq!(account.username, "mirror", "{personality:?}");
        // A new source starts after the newest status: nothing old.
        assert!(
            source.poll(&ledger).await.unwrap().is_empty(),
            "{personality:?}"
        );
        assert!(ledger.cursor("home").unwrap().is_some());
        if streams {
            news(&mut source).await; // connected
            assert!(source.poll(&ledger).await.unwrap().is_empty());
            fake.stranger_writes("a followed account's status");
            let id = fake.author(&NewStatus::says("first from the fediverse"));
            news(&mut source).await;
            let found = source.poll(&ledger).await.unwrap();
            assert_eq!(ids(&found), std::slice::from_ref(&id), "{personality:?}");
            assert_eq!(found[0].post.text, "first from the fediverse");
            let _ = source.handled(&found[0].post);
            // Mastodon reads the token from `Authorization`, the others from the protocol
            // header: never the URL.
            let login = if personality == Personality::Mastodon {
                "header"
            } else {
                "protocol"
            };
            assert_eq!(fake.stream_logins(), [login], "{personality:?}");
            fake.delete_authored(&id);
            news(&mut source).await;
            assert_eq!(source.take_deleted(), [PostId::new(id)]);
            assert!(source.take_deleted().is_empty());
        } else {
            assert!(source.news().is_none(), "{personality:?} has no stream");
            let id = fake.author(&NewStatus::says("first from the fediverse"));
            let found = source.poll(&ledger).await.unwrap();
            assert_eq!(ids(&found), [id], "{personality:?}");
        }
        cancel.cancel();
    }
}

#[tokio::test]
async fn pages_after_the_cursor_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    fake.author(&NewStatus::says("before"));
    let settings = settings(dir.path(), &fake, "mastodon", |c| {
        dry_run(c.set_raw("stream", "false"))
    });
    let ledger = support::ledger(&settings);
    let cancel = CancellationToken::new();
    let mut source = source(&settings, &cancel);
    assert!(source.poll(&ledger).await.unwrap().is_empty());
    // 95 statuses: three pages of 40 backwards from the newest, handed over oldest first.
    let made: Vec<String> = (0..95)
        .map(|i| fake.author(&NewStatus::says(&format!("status {i}"))))
        .collect();
    let found = source.poll(&ledger).await.unwrap();
    assert_eq!(ids(&found), made);
    for f in &found {
        let cursor = source.handled(&f.post);
        ledger
            .set_cursor(&cursor.source, &cursor.value, chrono::Utc::now())
            .unwrap();
    }
    assert!(source.poll(&ledger).await.unwrap().is_empty());
}

#[tokio::test]
async fn snac_stops_the_source_with_a_clear_error() {
    let fake = FakeFedi::start(Personality::Snac, Clock::System).await;
    for (server, names) in [
        // megalodon's detector does not know snac.
        ("auto", ["detector", "snac"]),
        // Read as Mastodon, snac's account cannot be decoded.
        ("mastodon", ["verify_account_credentials", "mastodon"]),
        ("snac", ["server = \"snac\"", "snac"]),
    ] {
        let dir = TempDir::new().unwrap();
        let settings = settings(dir.path(), &fake, server, dry_run);
        let ledger = support::ledger(&settings);
        let cancel = CancellationToken::new();
        let mut source = source(&settings, &cancel);
        let err = source.poll(&ledger).await.unwrap_err();
        assert!(matches!(err, SourceError::Fatal(_)), "{server}: {err}");
        let message = err.to_string();
        for name in names {
            assert!(message.contains(name), "{server}: {message}");
        }
        assert!(message.contains(&fake.url), "{message}");
        assert!(!message.contains(TOKEN));

        // Through the daemon: the source stops (no retry loop).
        let report = support::once(&settings, Clock::System).await;
        assert_eq!(report.sources_stopped, 1, "{server}: {report:?}");
    }
}

#[tokio::test]
async fn takahe_stops_the_source_with_a_clear_error() {
    let fake = FakeFedi::start(Personality::Takahe, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let settings = settings(dir.path(), &fake, "takahe", dry_run);
    let ledger = support::ledger(&settings);
    let cancel = CancellationToken::new();
    let err = source(&settings, &cancel).poll(&ledger).await.unwrap_err();
    assert!(matches!(err, SourceError::Fatal(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("server = \"takahe\"") && message.contains(&fake.url),
        "{message}"
    );
    let report = support::once(&settings, Clock::System).await;
    assert_eq!(report.sources_stopped, 1, "{report:?}");
}

/// A source fake, a second Mastodon and a Pixelfed, routed by the daemon.
struct FediToFedi {
    _dir: TempDir,
    source: FakeFedi,
    second: FakeFedi,
    pixelfed: FakeFedi,
    settings: Settings,
}

impl FediToFedi {
    async fn new(schedule: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let source = FakeFedi::start(Personality::Mastodon, Clock::System).await;
        let second = FakeFedi::start(Personality::Mastodon, Clock::System).await;
        let pixelfed = FakeFedi::start(Personality::Pixelfed, Clock::System).await;
        let settings = settings(dir.path(), &source, "mastodon", |c| {
            c.set("schedule", schedule)
                .fedi_target("second", "mastodon", &second.url, TOKEN)
                .fedi_target("photos", "pixelfed", &pixelfed.url, TOKEN)
                .route("r", "home", &["second", "photos"])
        });
        Self {
            _dir: dir,
            source,
            second,
            pixelfed,
            settings,
        }
    }
}

/// The daemon of `settings` on its own ledger and the system clock, once its first cycle set
/// the cursor of `home`.
async fn started(settings: &Settings) -> Running {
    let daemon = Running::start(
        settings,
        support::ledger(settings),
        Clock::System,
        support::options(),
    );
    daemon.cursor_set("home").await;
    daemon
}

/// [`started`], and the stream of `source` open.
async fn streaming(settings: &Settings, source: &FakeFedi) -> Running {
    let daemon = started(settings).await;
    wait_for(|| source.open_streams() == 1).await;
    daemon
}

#[tokio::test]
async fn a_status_reaches_a_second_mastodon_and_pixelfed_once() {
    let env = FediToFedi::new(YEARLY).await;
    env.source
        .author(&NewStatus::says("written before the bridge: not mirrored"));
    let daemon = streaming(&env.settings, &env.source).await;

    let first = env.source.author(&NewStatus {
        text: "Our annual report is out".into(),
        spoiler: "long read".into(),
        images: vec!["A chart of the year".into()],
        ..NewStatus::default()
    });
    env.source.author(&NewStatus {
        text: "Part two, with a second chart".into(),
        in_reply_to: Some(first.clone()),
        images: vec!["The second chart".into()],
        ..NewStatus::default()
    });
    env.source.author(&NewStatus {
        visibility: "private".into(),
        ..NewStatus::says("for followers only")
    });
    env.source.author(&NewStatus {
        visibility: "direct".into(),
        ..NewStatus::says("a direct message")
    });
    env.source.stranger_writes("a followed account's status");
    wait_for(|| env.second.statuses().len() == 2 && env.pixelfed.statuses().len() == 2).await;
    // Nothing more comes: the private, direct and stranger's statuses are never mirrored.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for target in [&env.second, &env.pixelfed] {
        let statuses = target.statuses();
        assert_eq!(statuses.len(), 2, "{statuses:#?}");
        assert_eq!(statuses[0].text, "Our annual report is out");
        assert_eq!(statuses[0].spoiler_text, "long read");
        assert!(statuses[0].sensitive);
        assert_eq!(statuses[1].text, "Part two, with a second chart");
        assert_eq!(
            statuses[1].in_reply_to_id.as_deref(),
            Some(statuses[0].id.as_str()),
            "the thread is chained"
        );
        let described: Vec<Option<String>> = statuses
            .iter()
            .map(|s| target.media(&s.media_ids[0]).description)
            .collect();
        assert_eq!(
            described,
            [
                Some("A chart of the year".to_owned()),
                Some("The second chart".to_owned())
            ]
        );
    }
    assert_eq!(env.source.stream_logins(), ["header"]);

    // An edit follows, as an edit of the mirrored statuses.
    env.source
        .edit_authored(&first, "Our final annual report is out");
    wait_for(|| env.second.edits().len() == 1).await;
    let (edited, body) = env.second.edits()[0].clone();
    assert_eq!(edited, env.second.statuses()[0].id);
    assert_eq!(body["status"], "Our final annual report is out");
    assert_eq!(body["spoiler_text"], "long read");
    assert_eq!(env.second.statuses().len(), 2, "an edit posts nothing new");
    // Pixelfed cannot edit: the new version is recorded as skipped, never posted.
    let version = format!("{first}.edit.{}", edited_at(&env.source, &first));
    daemon
        .wait_for_part("r", &version, "photos", PartState::Skipped)
        .await;
    let parts = daemon
        .ledger
        .parts_of_post("r", &version, "photos")
        .unwrap();
    assert!(parts[0]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("cannot edit"));
    assert!(env.pixelfed.edits().is_empty());
    assert_eq!(env.pixelfed.statuses().len(), 2);

    let report = daemon.stop().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
}

#[tokio::test]
async fn a_status_deleted_at_the_source_is_taken_back_from_the_targets() {
    let dir = TempDir::new().unwrap();
    let source = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let second = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let settings = settings(dir.path(), &source, "mastodon", |c| {
        c.set("schedule", YEARLY)
            .fedi_target("second", "mastodon", &second.url, TOKEN)
            .route("r", "home", &["second"])
            .set("deletes", "follow")
    });
    let daemon = streaming(&settings, &source).await;

    let wrong = source.author(&NewStatus::says("The meeting is on Tuesday"));
    let right = source.author(&NewStatus::says("The meeting is on Thursday"));
    wait_for(|| second.statuses().len() == 2).await;
    let copies = second.statuses();
    source.delete_authored(&wrong);
    // The delete event is handed over and taken back as a retraction, on the copy of
    // `wrong` only.
    wait_for(|| !second.deletes().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(second.deletes(), [copies[0].id.clone()]);
    let live: Vec<String> = second.live_statuses().into_iter().map(|s| s.text).collect();
    assert_eq!(live, ["The meeting is on Thursday"]);
    daemon
        .wait_for_part("r", &wrong, "second", PartState::Retracted)
        .await;
    let kept = daemon.ledger.parts_of_post("r", &right, "second").unwrap();
    assert_eq!(kept[0].state, PartState::Posted);

    let report = daemon.stop().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
}

/// When status `id` of `fake` was last edited, in milliseconds since the epoch.
fn edited_at(fake: &FakeFedi, id: &str) -> i64 {
    let st = fake.state();
    let status = st.read.authored.iter().find(|s| s["id"] == id).unwrap();
    chrono::DateTime::parse_from_rfc3339(status["edited_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_reconnect_misses_nothing() {
    let env = FediToFedi::new(YEARLY).await;
    let daemon = streaming(&env.settings, &env.source).await;
    env.source.author(&NewStatus {
        images: vec!["one".into()],
        ..NewStatus::says("before the outage")
    });
    wait_for(|| env.second.statuses().len() == 1).await;
    // Events already queued (the status's own `update`) are spent first.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The stream goes down and stays down while three statuses are written.
    env.source
        .refuse_streams(Some(StatusCode::SERVICE_UNAVAILABLE));
    env.source.kill_streams();
    let during: Vec<String> = (1..=3)
        .map(|i| {
            env.source.author(&NewStatus {
                images: vec![format!("image {i}")],
                ..NewStatus::says(&format!("during the outage {i}"))
            })
        })
        .collect();
    assert_eq!(during.len(), 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.second.statuses().len(),
        1,
        "nothing without the stream (yearly schedule)"
    );
    env.source.refuse_streams(None);
    // Reconnected (within the 1 to 2 s first backoffs), the catch-up read brings all three.
    wait_for(|| env.second.statuses().len() == 4 && env.pixelfed.statuses().len() == 4).await;
    let texts: Vec<String> = env.second.statuses().into_iter().map(|s| s.text).collect();
    assert_eq!(
        texts,
        [
            "before the outage",
            "during the outage 1",
            "during the outage 2",
            "during the outage 3"
        ]
    );
    assert!(env.source.stream_logins().len() >= 2);
    daemon.stop().await;
}

#[tokio::test]
async fn the_schedule_takes_over_when_the_stream_is_refused() {
    let env = FediToFedi::new("* * * * * *").await;
    env.source.refuse_streams(Some(StatusCode::NOT_FOUND));
    let daemon = started(&env.settings).await;
    let started = std::time::Instant::now();
    env.source.author(&NewStatus {
        images: vec!["polled".into()],
        ..NewStatus::says("found by polling")
    });
    wait_for(|| env.second.statuses().len() == 1).await;
    // Within the poll interval (1 s) and a second.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(env.source.open_streams(), 0);
    assert!(env.source.stream_logins().is_empty());
    daemon.stop().await;
}

#[tokio::test]
async fn backfill_from_api_loads_the_history() {
    let env = FediToFedi::new(YEARLY).await;
    let old: Vec<String> = (1..=3)
        .map(|i| {
            env.source.author(&NewStatus {
                images: vec![format!("old {i}")],
                ..NewStatus::says(&format!("history {i}"))
            })
        })
        .collect();
    env.source.author(&NewStatus {
        visibility: "private".into(),
        ..NewStatus::says("private history")
    });
    let opts = birdbridge::backfill::BackfillOptions {
        route: "r".into(),
        archive: None,
        since: None,
        until: None,
        limit: None,
        dry_run: false,
        cancel: CancellationToken::new(),
        clock: Clock::System,
        budgets: birdbridge::budget::BudgetPool::default(),
    };
    let ledger = support::ledger(&env.settings);
    let report = birdbridge::backfill::api_backfill(&env.settings, &ledger, &opts)
        .await
        .unwrap();
    assert_eq!(report.posts_found, 3, "{report:?}");
    // Backfilled statuses say when they were first posted (the route's default).
    let texts: Vec<String> = env.second.statuses().into_iter().map(|s| s.text).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    for (i, text) in texts.iter().enumerate() {
        assert!(
            text.starts_with(&format!("history {}\n\nOriginally posted on ", i + 1)),
            "{text}"
        );
    }
    assert_eq!(old.len(), 3);
    for id in &old {
        let parts = ledger.parts_of_post("r", id, "second").unwrap();
        assert_eq!(parts[0].state, PartState::Posted);
    }
}

/// The `[targets.x]` table, its OAuth 1.0a keys written to files in `dir`.
fn x_target(config: Config, dir: &Path, api_url: &str) -> Config {
    let mut config = config
        .table("targets.x")
        .set("kind", "x")
        .set("api_url", api_url);
    for (key, value) in [
        ("consumer_key", fake_x::write::CONSUMER_KEY),
        ("consumer_secret", fake_x::write::CONSUMER_SECRET),
        ("access_token", fake_x::write::ACCESS_TOKEN),
        ("access_token_secret", fake_x::write::ACCESS_SECRET),
    ] {
        let file = dir.join(format!("x-{key}"));
        std::fs::write(&file, format!("{value}\n")).unwrap();
        config = config.set(&format!("{key}_file"), &file.display().to_string());
    }
    config
}

#[tokio::test]
async fn a_status_reaches_x_once_and_an_edit_is_recorded() {
    let dir = TempDir::new().unwrap();
    let source = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let x = fake_x::FakeX::start(Clock::System).await;
    let settings = settings(dir.path(), &source, "mastodon", |c| {
        x_target(c.set("schedule", YEARLY), dir.path(), &x.url()).route("r", "home", &["x"])
    });
    let daemon = streaming(&settings, &source).await;
    let first = source.author(&NewStatus {
        text: "thanks for the report".into(),
        spoiler: "long read".into(),
        images: vec!["A chart of the year".into()],
        mentions: vec!["ann@other.example".into()],
        ..NewStatus::default()
    });
    source.author(&NewStatus {
        text: "Part two".into(),
        in_reply_to: Some(first.clone()),
        images: vec!["The second chart".into()],
        ..NewStatus::default()
    });
    wait_for(|| x.made().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let made = x.made();
    assert_eq!(made.len(), 2, "once: {made:#?}");
    // The warning prefixed; the fediverse mention written without its `@`, so X links no
    // stranger.
    assert_eq!(
        made[0].1,
        "CW: long read\n\nann@other.example thanks for the report"
    );
    assert!(!made[0].1.contains("@ann"));
    assert_eq!(made[1].1, "Part two");
    assert_eq!(
        made[1].2.as_deref(),
        Some(made[0].0.as_str()),
        "the thread is chained"
    );
    let described: Vec<Option<String>> = x
        .made_posts()
        .iter()
        .map(|p| {
            // Media keys are `3_<media id>`, as X writes them for images.
            let key = p["attachments"]["media_keys"][0].as_str().unwrap();
            x.alt_text(key.trim_start_matches("3_"))
        })
        .collect();
    assert_eq!(
        described,
        [
            Some("A chart of the year".to_owned()),
            Some("The second chart".to_owned())
        ]
    );

    // X cannot edit: the new version is recorded as skipped, nothing is posted again.
    source.edit_authored(&first, "thanks for the final report");
    let version = format!("{first}.edit.{}", edited_at(&source, &first));
    daemon
        .wait_for_part("r", &version, "x", PartState::Skipped)
        .await;
    let parts = daemon.ledger.parts_of_post("r", &version, "x").unwrap();
    assert!(parts[0]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("cannot edit"));
    assert_eq!(x.made().len(), 2);
    daemon.stop().await;
}
