//! The RSS/Atom source against a local Nitter-like feed on 127.0.0.1: a new source starts
//! after what the feed holds, `RT by` and `R to` items follow the route policy, HTML becomes
//! plain text with links, images pointing at private addresses are refused, and an
//! unchanged feed costs a 304.

mod support;

use std::fs;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::normalize::feed::{normalize_entry, FeedContext};
use birdbridge::report::DeliveryReport;
use birdbridge::store::{Ledger, PartState};
use chrono::{TimeZone, Utc};
use rstest::rstest;
use serde_json::Value;
use support::config::Config;
use tempfile::TempDir;

#[derive(Debug, Default)]
struct Feed {
    items: Vec<String>,
    version: u32,
    requests: u32,
    not_modified: u32,
}

type Shared = Arc<Mutex<Feed>>;

fn item(id: u32, user: &str, title: &str, html: &str, extra: &str) -> String {
    format!(
        "<item><title>{title}</title><dc:creator>@{user}</dc:creator>\
         <description><![CDATA[{html}]]></description>\
         <pubDate>Mon, 13 May 2024 09:{:02}:00 GMT</pubDate>\
         <guid>https://nitter.local/{user}/status/{id}#m</guid>\
         <link>https://nitter.local/{user}/status/{id}#m</link>{extra}</item>",
        id % 60
    )
}

fn body(feed: &Feed) -> String {
    let items: String = feed.items.iter().rev().cloned().collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel>\
         <title>bb / @birdbridge_t</title><link>https://nitter.local/birdbridge_t</link>\
         <description>Twitter feed for: @birdbridge_t</description>{items}</channel></rss>"
    )
}

async fn serve(State(feed): State<Shared>, headers: HeaderMap) -> Response {
    let mut feed = feed.lock().unwrap();
    feed.requests += 1;
    let etag = format!("\"v{}\"", feed.version);
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        feed.not_modified += 1;
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            ("content-type", "application/rss+xml".to_owned()),
            ("etag", etag),
        ],
        body(&feed),
    )
        .into_response()
}

struct Env {
    dir: TempDir,
    settings: Settings,
    feed: Shared,
}

impl Env {
    /// The feed, served, and a source `nitter` reading it (`start` when given) into a
    /// dry-run target.
    async fn new(start: Option<&str>) -> Self {
        let feed: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/birdbridge_t/rss", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/birdbridge_t/rss", get(serve))
            .with_state(Arc::clone(&feed));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dir = TempDir::new().unwrap();
        let mut config = Config::new(dir.path()).feed_source("nitter", &url);
        if let Some(start) = start {
            config = config.set("start", start);
        }
        let config = config
            .dry_run_target("out", "out.jsonl")
            .route("r", "nitter", &["out"])
            .write();
        let settings = support::settings(&config);
        Self {
            dir,
            settings,
            feed,
        }
    }

    fn publish(&self, items: Vec<String>) {
        let mut feed = self.feed.lock().unwrap();
        feed.items.extend(items);
        feed.version += 1;
    }

    async fn once(&self) -> DeliveryReport {
        support::once(&self.settings, Clock::System).await
    }

    fn lines(&self) -> Vec<Value> {
        fs::read_to_string(self.dir.path().join("out.jsonl"))
            .map(|t| {
                t.lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn nitter_items() -> Vec<String> {
    vec![
        item(101, "someone", "RT by @birdbridge_t: their words", "<p>their words</p>", ""),
        item(102, "birdbridge_t", "R to @other: a reply to someone else", "<p>a reply to someone else</p>", ""),
        item(103, "birdbridge_t", "R to @birdbridge_t: my thread goes on", "<p>my thread goes on</p>", ""),
        item(
            104,
            "birdbridge_t",
            "Hello @ann, read example.org/article",
            "<p>Hello <a href=\"https://nitter.local/ann\">@ann</a>, read \
             <a href=\"https://example.org/article?a=1&amp;b=2\">example.org/article…</a> \
             <b>now</b><script>alert(1)</script></p>\
             <img src=\"https://127.0.0.1/pic/evil.png\" />\
             <img src=\"https://nitter.local/pic/media%2Fok.jpg\" />",
            "",
        ),
        item(
            105,
            "birdbridge_t",
            "Look at this",
            "<p>Look at this</p><hr/><blockquote><b>Bob (@bob)</b><p>quoted words</p>\
             <footer>— <cite><a href=\"https://nitter.local/bob/status/99#m\">nitter.local/bob/status/99#m</a></cite></footer></blockquote>",
            "<enclosure url=\"http://169.254.169.254/latest/meta-data.jpg\" type=\"image/jpeg\" length=\"1\"/>",
        ),
    ]
}

#[tokio::test]
async fn a_nitter_feed_is_mirrored_by_policy_sanitised_and_guarded() {
    let env = Env::new(None).await;
    env.publish(vec![item(
        100,
        "birdbridge_t",
        "An old post",
        "<p>An old post</p>",
        "",
    )]);
    let first = env.once().await;
    assert_eq!(
        first.posts_found, 0,
        "a new source starts after what the feed holds"
    );
    assert!(env.lines().is_empty());

    env.publish(nitter_items());
    let report = env.once().await;
    assert_eq!(report.posts_found, 5, "{report:?}");
    let lines = env.lines();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["source_post_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["103", "104", "105"],
        "the repost and the reply to another are skipped"
    );

    let ledger = Ledger::open(&env.dir.path().join("ledger.sqlite")).unwrap();
    for skipped in ["101", "102"] {
        let rows = ledger.parts_of_post("r", skipped, "out").unwrap();
        assert_eq!(rows[0].state, PartState::Skipped, "{skipped}");
    }

    let post = &lines[1];
    let text = post["text"].as_str().unwrap();
    assert!(
        // The mention is written as a profile link (fediverse manners: no bare @handle).
        text.starts_with("Hello https://x.com/ann, read https://example.org/article?a=1&b=2 now"),
        "{text}"
    );
    assert!(
        !text.contains('<') && !text.contains("alert"),
        "no markup survives: {text}"
    );
    let media: Vec<&str> = post["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        media,
        ["https://nitter.local/pic/media%2Fok.jpg"],
        "127.0.0.1 is refused"
    );

    let quote = &lines[2];
    assert!(
        quote["media"].as_array().unwrap().is_empty(),
        "169.254.169.254 is refused"
    );
    let text = quote["text"].as_str().unwrap();
    assert!(
        text.contains("https://x.com/bob/status/99"),
        "the quote is linked: {text}"
    );
    assert!(!text.contains("quoted words"), "{text}");

    // Nothing changed: a conditional GET, a 304, nothing delivered.
    let again = env.once().await;
    assert_eq!(again.posts_found, 0);
    assert_eq!(env.feed.lock().unwrap().not_modified, 1);
    assert_eq!(env.lines().len(), 3);
}

#[tokio::test]
async fn latest_n_starts_with_the_newest_items() {
    let env = Env::new(Some("latest:2")).await;
    env.publish(vec![
        item(200, "birdbridge_t", "one", "<p>one</p>", ""),
        item(201, "birdbridge_t", "two", "<p>two</p>", ""),
        item(202, "birdbridge_t", "three", "<p>three</p>", ""),
    ]);
    env.once().await;
    let ids: Vec<String> = env
        .lines()
        .iter()
        .map(|l| l["source_post_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["201", "202"]);
}

#[rstest]
#[case::refused(false, 0)]
#[case::allowed(true, 1)]
fn private_media_need_the_route_to_allow_them(#[case] allow: bool, #[case] kept: usize) {
    let xml = body(&Feed {
        items: vec![item(
            300,
            "birdbridge_t",
            "local",
            "<p>local</p><img src=\"http://127.0.0.1:8080/a.png\">",
            "",
        )],
        ..Feed::default()
    });
    let feed = feed_rs::parser::parse(xml.as_bytes()).unwrap();
    let cx = FeedContext {
        fallback_author: "nitter",
        allow_private_media: allow,
        now: Utc::now(),
    };
    let item = normalize_entry(&feed.entries[0], &cx).unwrap();
    assert_eq!(item.post.media.len(), kept);
    assert_eq!(item.refused_media.len(), 1 - kept);
    assert_eq!(item.post.url, "https://x.com/birdbridge_t/status/300");
    assert_eq!(item.post.author.username, "birdbridge_t");
}

#[tokio::test]
async fn the_media_fetcher_guards_addresses_and_sizes() {
    use birdbridge::fetch::{FetchError, MediaFetcher};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/small.png", get(|| async { vec![7u8; 1000] }))
        .route("/large.png", get(|| async { vec![7u8; 5000] }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fetcher = MediaFetcher::new().unwrap();
    let dir = TempDir::new().unwrap();
    let get = |url: String, allow: bool| {
        let fetcher = fetcher.clone();
        let dir = dir.path().to_path_buf();
        async move { fetcher.download_to_file(&url, allow, 4096, &dir).await }
    };

    let refused = get(format!("{base}/small.png"), false).await;
    assert!(
        matches!(refused, Err(FetchError::Refused(_))),
        "{refused:?}"
    );
    let body = get(format!("{base}/small.png"), true).await.unwrap();
    assert_eq!(body.size, 1000);
    assert_eq!(std::fs::metadata(&body.path).unwrap().len(), 1000);
    let large = get(format!("{base}/large.png"), true).await;
    assert!(
        matches!(large, Err(FetchError::TooLarge { .. })),
        "{large:?}"
    );
    let localhost = get("http://localhost/a.png".to_owned(), false).await;
    assert!(
        matches!(localhost, Err(FetchError::Refused(_))),
        "{localhost:?}"
    );
}

/// The feed source reads the daemon's clock, not the system's: a new source's first cursor
/// is saved at the clock's time.
#[tokio::test]
async fn the_feed_source_reads_the_daemons_clock() {
    let env = Env::new(None).await;
    env.publish(vec![item(400, "birdbridge_t", "old", "<p>old</p>", "")]);
    let start = Utc.with_ymd_and_hms(2031, 2, 3, 4, 5, 6).unwrap();
    let report = support::once(&env.settings, ManualClock::new(start)).await;
    assert_eq!(report.posts_found, 0, "{report:?}");
    let ledger = Ledger::open(&env.dir.path().join("ledger.sqlite")).unwrap();
    let cursor = ledger.cursor("nitter").unwrap().unwrap();
    assert_eq!(cursor.updated_at, start);
}
