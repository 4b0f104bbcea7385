//! Live posts with media, edits, boosts and quotes, from the fake X API to the fake
//! fediverse server, through the daemon's `once` cycle, on the mastodon and gotosocial
//! personalities: photos, videos and GIFs arrive as attachments with their alt text (one
//! download per item whatever the number of targets), feed images too; a missing image, one
//! over the server's limit, or one on a private address without `allow_private_media`,
//! becomes a link and a warning while the post goes out; an X edit becomes a `PUT` (and is
//! recorded as skipped on a server that cannot edit); a repost of an own mirrored post
//! becomes a reblog; a quote is native where the server says it quotes natively, a link
//! elsewhere.
//!
//! The daemon's clock is manual (every sleep jumps to its end), shared by the fake X API and
//! the targets; the fake fediverse servers keep real time, and nothing here makes the
//! targets wait (the fakes process media at once).

#[path = "fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::path::PathBuf;
use std::sync::Arc;

use birdbridge::clock::ManualClock;
use birdbridge::report::DeliveryReport;
use birdbridge::store::{Ledger, PartKey, PartState};
use chrono::Utc;
use fake_fedi::{FakeFedi, Personality, Stored};
use fake_x::media::Item;
use fake_x::FakeX;
use rstest::rstest;
use serde_json::json;
use support::config::Config;
use tempfile::TempDir;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

/// How a test sets up its route.
#[derive(Debug, Clone, Copy)]
struct Opts {
    targets: usize,
    allow_private_media: bool,
    native_quotes: bool,
    /// The target's `kind`, when not the personality's own.
    kind: Option<&'static str>,
    /// One route per target (`r0`, `r1`, ...) instead of one route `r` to all.
    route_per_target: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            targets: 1,
            allow_private_media: true,
            native_quotes: false,
            kind: None,
            route_per_target: false,
        }
    }
}

struct Env {
    dir: TempDir,
    config: PathBuf,
    x: FakeX,
    fedi: Vec<FakeFedi>,
    clock: Arc<ManualClock>,
}

impl Env {
    /// The fake X API, `opts.targets` fake servers of `personality`, and one route from an
    /// X source to all of them (`reposts = "boost"`); the source's cursor is set.
    async fn new(personality: Personality, opts: Opts) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("birdbridge=info")
            .with_test_writer()
            .try_init();
        let clock = ManualClock::auto(Utc::now());
        let x = FakeX::start(clock.clone().into()).await;
        x.add_user(USER_ID, USERNAME);
        let mut fedi = Vec::new();
        for _ in 0..opts.targets {
            let f = FakeFedi::start(personality, birdbridge::clock::Clock::System).await;
            f.state().processing = chrono::Duration::zero();
            f.set_native_quotes(opts.native_quotes);
            fedi.push(f);
        }
        let dir = TempDir::new().unwrap();
        let kind = opts.kind.unwrap_or(match personality {
            Personality::GoToSocial => "gotosocial",
            _ => "mastodon",
        });
        let mut config = Config::new(dir.path())
            .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
            .set("start", "latest")
            .set_raw("allow_private_media", &opts.allow_private_media.to_string());
        let names: Vec<String> = (0..fedi.len()).map(|i| format!("t{i}")).collect();
        for (name, f) in names.iter().zip(&fedi) {
            config = config.fedi_target(name, kind, &f.url, fake_fedi::TOKEN);
        }
        if opts.route_per_target {
            for (i, name) in names.iter().enumerate() {
                config = config.route(&format!("r{i}"), "acct", &[name]);
            }
        } else {
            let targets: Vec<&str> = names.iter().map(String::as_str).collect();
            config = config.route("r", "acct", &targets).set("reposts", "boost");
        }
        let config = config.write();
        let env = Self {
            dir,
            config,
            x,
            fedi,
            clock,
        };
        // The first cycle only sets the cursor ("latest"): after this post.
        env.x.post(USER_ID, "before the route existed", json!({}));
        env.once().await;
        env
    }

    async fn once(&self) -> DeliveryReport {
        support::once(&support::settings(&self.config), self.clock.clone()).await
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap()
    }

    fn warnings(&self, post: u64, target: &str) -> Vec<String> {
        let key = PartKey::new("r", post.to_string(), target, 0);
        self.ledger().warnings(&key).unwrap()
    }

    fn statuses(&self) -> Vec<Stored> {
        self.fedi[0].statuses()
    }
}

fn item<'a>(kind: &'a str, name: &'a str, size: u64, alt: Option<&'a str>) -> Item<'a> {
    Item {
        kind,
        name,
        size,
        alt,
    }
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn photos_videos_and_gifs_arrive_with_their_alt_text(#[case] personality: Personality) {
    let env = Env::new(personality, Opts::default()).await;
    let photo = item("photo", "bird.jpg", 2_000, Some("A red bird on a branch"));
    env.x.post_with_media(USER_ID, "a photo", &[photo]);
    let video = item("video", "clip.mp4", 300_000, Some("Ten seconds of rain"));
    env.x.post_with_media(USER_ID, "a video", &[video]);
    let gif = item("animated_gif", "dance.mp4", 50_000, None);
    env.x.post_with_media(USER_ID, "a gif", &[gif]);

    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let statuses = env.statuses();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    let fake = &env.fedi[0];
    let attached = |s: &Stored| {
        assert_eq!(s.media_ids.len(), 1, "{s:?}");
        fake.media(&s.media_ids[0])
    };
    let m = attached(&statuses[0]);
    assert_eq!(
        (m.content_type.as_str(), m.size, m.description.as_deref()),
        ("image/jpeg", 2_000, Some("A red bird on a branch"))
    );
    assert_eq!(m.file_name, "bird.jpg");
    let m = attached(&statuses[1]);
    // The best MP4 variant, not the low-rate one.
    assert_eq!(
        (m.content_type.as_str(), m.size, m.description.as_deref()),
        ("video/mp4", 300_000, Some("Ten seconds of rain"))
    );
    assert_eq!(env.x.file_requests("low-clip.mp4"), 0);
    let m = attached(&statuses[2]);
    assert_eq!((m.content_type.as_str(), m.size), ("video/mp4", 50_000));
    for s in &statuses {
        assert!(
            !s.text.contains("/media/"),
            "no link when uploaded: {}",
            s.text
        );
    }
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn a_missing_image_becomes_a_link_and_a_warning(#[case] personality: Personality) {
    let env = Env::new(personality, Opts::default()).await;
    let post = env.x.post_with_media(
        USER_ID,
        "two photos, one gone",
        &[
            item("photo", "kept.jpg", 1_000, Some("kept")),
            item("photo", "gone.jpg", 1_000, Some("gone")),
        ],
    );
    env.x.remove_file("gone.jpg");

    env.once().await;
    let statuses = env.statuses();
    assert_eq!(statuses.len(), 1, "the post still goes out");
    assert_eq!(statuses[0].media_ids.len(), 1);
    let link = format!("{}/media/gone.jpg", env.x.url());
    assert!(statuses[0].text.contains(&link), "{}", statuses[0].text);
    let warnings = env.warnings(post, "t0");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("404") && w.contains("linked to the original")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn a_photo_over_the_servers_limit_is_linked_and_the_post_goes_out() {
    let env = Env::new(Personality::Mastodon, Opts::default()).await;
    env.fedi[0].state().image_size_limit = 1_000;
    let post = env.x.post_with_media(
        USER_ID,
        "a big photo",
        &[item("photo", "big.jpg", 5_000, None)],
    );

    env.once().await;
    let statuses = env.statuses();
    assert_eq!(statuses.len(), 1);
    assert!(statuses[0].media_ids.is_empty());
    assert!(
        statuses[0].text.contains("/media/big.jpg"),
        "{}",
        statuses[0].text
    );
    let warnings = env.warnings(post, "t0");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("larger than 1000 bytes")),
        "{warnings:?}"
    );
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn media_on_a_private_address_is_refused_without_allow_private_media(
    #[case] personality: Personality,
) {
    let opts = Opts {
        allow_private_media: false,
        ..Opts::default()
    };
    let env = Env::new(personality, opts).await;
    let post = env
        .x
        .post_with_media(USER_ID, "local photo", &[item("photo", "p.jpg", 500, None)]);

    env.once().await;
    let statuses = env.statuses();
    assert_eq!(statuses.len(), 1);
    assert!(statuses[0].media_ids.is_empty());
    assert_eq!(env.x.file_requests("p.jpg"), 0, "nothing was fetched");
    let warnings = env.warnings(post, "t0");
    assert!(
        warnings.iter().any(|w| w.contains("allow_private_media")),
        "{warnings:?}"
    );
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn each_item_is_downloaded_once_for_two_targets(#[case] personality: Personality) {
    let opts = Opts {
        targets: 2,
        ..Opts::default()
    };
    let env = Env::new(personality, opts).await;
    env.x.post_with_media(
        USER_ID,
        "for both",
        &[
            item("photo", "one.jpg", 1_500, Some("one")),
            item("video", "two.mp4", 80_000, Some("two")),
        ],
    );

    env.once().await;
    assert_eq!(env.x.file_requests("one.jpg"), 1);
    assert_eq!(env.x.file_requests("two.mp4"), 1);
    for fake in &env.fedi {
        let statuses = fake.statuses();
        assert_eq!(statuses.len(), 1);
        let described: Vec<Option<String>> = statuses[0]
            .media_ids
            .iter()
            .map(|id| fake.media(id).description)
            .collect();
        assert_eq!(described, [Some("one".to_owned()), Some("two".to_owned())]);
    }
}

#[tokio::test]
async fn each_item_is_downloaded_once_for_two_routes_of_a_source() {
    let opts = Opts {
        targets: 2,
        route_per_target: true,
        ..Opts::default()
    };
    let env = Env::new(Personality::Mastodon, opts).await;
    env.x.post_with_media(
        USER_ID,
        "for both",
        &[item("photo", "shared.jpg", 1_500, Some("s"))],
    );

    env.once().await;
    assert_eq!(env.x.file_requests("shared.jpg"), 1);
    for fake in &env.fedi {
        let statuses = fake.statuses();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].media_ids.len(), 1);
    }
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn an_edit_becomes_a_put_with_the_new_text(#[case] personality: Personality) {
    let env = Env::new(personality, Opts::default()).await;
    let first = env.x.post(USER_ID, "Tpyo in the first version", json!({}));
    env.once().await;
    let before = env.statuses();
    assert_eq!(before.len(), 1);

    env.x.edit(first, "Typo fixed in the second version");
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let after = env.statuses();
    assert_eq!(after.len(), 1, "edited, not posted again");
    assert_eq!(after[0].id, before[0].id);
    assert_eq!(after[0].text, "Typo fixed in the second version");
    let edits = env.fedi[0].edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].0, before[0].id);
    assert_eq!(edits[0].1["status"], "Typo fixed in the second version");
}

/// snac answers an edit with a new status id: the ledger records it, so the next edit goes
/// to the status as it now is (the old id is gone there).
#[tokio::test]
async fn an_edit_on_snac_follows_the_new_status_id() {
    let opts = Opts {
        kind: Some("snac"),
        ..Opts::default()
    };
    let env = Env::new(Personality::Snac, opts).await;
    let first = env.x.post(USER_ID, "Tpyo in the first version", json!({}));
    env.once().await;
    let original = env.statuses()[0].id.clone();

    let second_version = env.x.edit(first, "Typo fixed in the second version");
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let second = env.statuses();
    assert_eq!(second.len(), 1, "edited, not posted again");
    assert_ne!(second[0].id, original, "snac gave the edit a new id");

    env.x
        .edit(second_version, "Typo fixed, and a third version");
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let third = env.statuses();
    assert_eq!(third.len(), 1, "edited again, not posted again");
    assert_eq!(third[0].text, "Typo fixed, and a third version");
    let edits = env.fedi[0].edits();
    assert_eq!(
        edits.iter().map(|e| e.0.clone()).collect::<Vec<_>>(),
        [original, second[0].id.clone()],
        "the second edit went to the id the first one answered with"
    );
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn an_edit_carries_its_media_with_their_descriptions(#[case] personality: Personality) {
    let env = Env::new(personality, Opts::default()).await;
    let first = env.x.post_with_media(
        USER_ID,
        "a photo",
        &[item("photo", "v1.jpg", 1_000, Some("first description"))],
    );
    env.once().await;
    let before = env.statuses()[0].clone();

    env.x.edit_with_media(
        first,
        "a better photo",
        &[item("photo", "v2.jpg", 1_200, Some("second description"))],
    );
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let after = env.statuses();
    assert_eq!(after.len(), 1);
    let edits = env.fedi[0].edits();
    assert_eq!(edits.len(), 1);
    let body = &edits[0].1;
    let new_media = after[0].media_ids.clone();
    assert_eq!(new_media.len(), 1);
    assert_ne!(
        new_media, before.media_ids,
        "the new photo replaced the old"
    );
    assert_eq!(body["media_ids"], json!(new_media));
    assert_eq!(
        body["media_attributes"],
        json!([{"id": new_media[0], "description": "second description"}])
    );
    let m = env.fedi[0].media(&new_media[0]);
    assert_eq!(
        (m.size, m.description.as_deref()),
        (1_200, Some("second description"))
    );
    assert_eq!(after[0].text, "a better photo");
}

#[tokio::test]
async fn an_edit_on_a_server_that_cannot_edit_is_recorded_as_skipped() {
    let opts = Opts {
        kind: Some("friendica"),
        ..Opts::default()
    };
    let env = Env::new(Personality::Mastodon, opts).await;
    let first = env.x.post(USER_ID, "first version", json!({}));
    env.once().await;
    let second = env.x.edit(first, "second version");
    env.once().await;
    assert_eq!(env.statuses().len(), 1, "not posted a second time");
    assert!(env.fedi[0].edits().is_empty());
    let rows = env
        .ledger()
        .parts_of_post("r", &second.to_string(), "t0")
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, PartState::Skipped);
    let reason = rows[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("cannot edit"), "{reason}");
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn a_repost_of_an_own_mirrored_post_becomes_a_reblog(#[case] personality: Personality) {
    let env = Env::new(personality, Opts::default()).await;
    let original = env.x.post(USER_ID, "worth saying twice", json!({}));
    env.once().await;
    let mirrored = env.statuses()[0].id.clone();

    env.x.post(
        USER_ID,
        &format!("RT @{USERNAME}: worth saying twice"),
        json!({"referenced_tweets": [{"type": "retweeted", "id": original.to_string()}]}),
    );
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    assert_eq!(env.statuses().len(), 1, "no second status");
    let reblogs = env.fedi[0].reblogs();
    assert_eq!(reblogs.len(), 1);
    assert_eq!(reblogs[0].1, mirrored);
    assert_eq!(reblogs[0].2, "public", "the route's visibility");
}

#[rstest]
#[case::mastodon_4_5(Personality::Mastodon, true)]
#[case::mastodon_4_3(Personality::Mastodon, false)]
#[case::gotosocial(Personality::GoToSocial, false)]
#[tokio::test]
async fn a_quote_is_native_where_the_server_quotes_and_a_link_elsewhere(
    #[case] personality: Personality,
    #[case] native: bool,
) {
    let opts = Opts {
        native_quotes: native,
        ..Opts::default()
    };
    let env = Env::new(personality, opts).await;
    let quoted = env.x.post(USER_ID, "the original thought", json!({}));
    env.once().await;
    let mirrored = env.statuses()[0].clone();

    env.x.post(
        USER_ID,
        "and a second thought on it",
        json!({"referenced_tweets": [{"type": "quoted", "id": quoted.to_string()}]}),
    );
    let report = env.once().await;
    assert_eq!(report.parts_failed, 0, "{report:?}");
    let statuses = env.statuses();
    assert_eq!(statuses.len(), 2);
    let quote = &statuses[1];
    let link = format!("{}/@mirror/{}", env.fedi[0].url, mirrored.id);
    if native {
        assert_eq!(
            quote.quoted_status_id.as_deref(),
            Some(mirrored.id.as_str())
        );
        assert!(!quote.text.contains(&link), "{}", quote.text);
    } else {
        assert_eq!(quote.quoted_status_id, None);
        assert!(quote.text.contains(&link), "{}", quote.text);
    }
}

/// An RSS feed (Nitter style) whose items are set by the test.
fn feed_item(id: u32, html: &str) -> String {
    format!(
        "<item><title>post {id}</title><dc:creator>@{USERNAME}</dc:creator>\
         <description><![CDATA[{html}]]></description>\
         <pubDate>Mon, 13 May 2024 09:{id:02}:00 GMT</pubDate>\
         <guid>https://nitter.local/{USERNAME}/status/{id}#m</guid>\
         <link>https://nitter.local/{USERNAME}/status/{id}#m</link></item>"
    )
}

#[rstest]
#[case::mastodon(Personality::Mastodon)]
#[case::gotosocial(Personality::GoToSocial)]
#[tokio::test]
async fn a_feed_image_is_downloaded_and_attached(#[case] personality: Personality) {
    // The fake X API's media host stands in for the feed's image host.
    let env = Env::new(personality, Opts::default()).await;
    env.x.serve_file("feed.png", "image/png", 3_000);
    let items = Arc::new(std::sync::Mutex::new(vec![feed_item(1, "<p>old</p>")]));
    let feed_url = support::rss::serve(Arc::clone(&items)).await;
    let kind = if personality == Personality::GoToSocial {
        "gotosocial"
    } else {
        "mastodon"
    };
    let config = Config::new(env.dir.path())
        .set("path", "feed-ledger.sqlite")
        .feed_source("feed", &feed_url)
        .set_raw("allow_private_media", "true")
        .fedi_target("t0", kind, &env.fedi[0].url, fake_fedi::TOKEN)
        .route("f", "feed", &["t0"])
        .write_as("feed.toml");
    let feed_env = Env { config, ..env };
    feed_env.once().await;
    items.lock().unwrap().push(feed_item(
        2,
        &format!(
            "<p>a picture</p><img src=\"{}/media/feed.png\">",
            feed_env.x.url()
        ),
    ));
    let report = feed_env.once().await;
    assert_eq!(report.posts_found, 1, "{report:?}");
    let statuses = feed_env.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].media_ids.len(), 1, "{statuses:?}");
    let m = feed_env.fedi[0].media(&statuses[0].media_ids[0]);
    assert_eq!((m.content_type.as_str(), m.size), ("image/png", 3_000));
    assert_eq!(feed_env.x.file_requests("feed.png"), 1);
}

/// Friendica reads a status's text as Markdown: a live post full of characters Markdown takes
/// for markup (stars, underscores, ticks, brackets, a tag-like word, a quote and a list at
/// line starts) reads on Friendica as it reads on Mastodon, which takes the text as written.
#[tokio::test]
async fn a_post_reads_on_friendica_as_written() {
    let text = "*Not bold*, snake_case_name, `make test`, [docs](notes) and the <video> element\n\
                > not a quote\n1. not a list";
    let mut seen = Vec::new();
    for (personality, kind) in [
        (Personality::Mastodon, "mastodon"),
        (Personality::Friendica, "friendica"),
    ] {
        let opts = Opts {
            kind: Some(kind),
            ..Opts::default()
        };
        let env = Env::new(personality, opts).await;
        env.x.post(USER_ID, text, json!({}));
        let report = env.once().await;
        assert_eq!(report.parts_failed, 0, "{kind}: {report:?}");
        let statuses = env.statuses();
        assert_eq!(statuses.len(), 1, "{kind}");
        seen.push(statuses[0].text.clone());
    }
    assert!(seen[0].contains("*Not bold*"), "{}", seen[0]);
    assert_eq!(seen[1], seen[0], "what a Friendica reader sees");
}
