//! Feed HTML as a new user's feeds write it, mirrored through the binary (`birdbridge
//! once`) from a local RSS feed to the fake Mastodon server, on 127.0.0.1: a blog's named
//! entities (`&rsquo;`, `&mdash;`, `&hellip;`) in a description and in a title reach the
//! target as their characters, and a Mastodon account's feed keeps its mentions as full
//! `@user@server` handles (never a bare name or a link to someone on X), its hashtags, and
//! its shortened links in full.

mod fake_fedi;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use birdbridge::clock::Clock;
use fake_fedi::{FakeFedi, Personality};
use tempfile::TempDir;

/// The feed's items, newest last.
type Items = Arc<Mutex<Vec<String>>>;

/// An item of a blog's feed: `title` is escaped text, `html` the description's markup.
fn item(id: u32, title: &str, html: Option<&str>) -> String {
    let description = html
        .map(|h| format!("<description><![CDATA[{h}]]></description>"))
        .unwrap_or_default();
    format!(
        "<item><title>{title}</title>{description}\
         <pubDate>Mon, 13 May 2024 09:{:02}:00 GMT</pubDate>\
         <guid isPermaLink=\"true\">https://blog.example/posts/{id}</guid>\
         <link>https://blog.example/posts/{id}</link></item>",
        id % 60
    )
}

async fn serve(State(items): State<Items>) -> ([(&'static str, &'static str); 1], String) {
    let items: String = items.lock().unwrap().iter().rev().cloned().collect();
    (
        [("content-type", "application/rss+xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <rss version=\"2.0\"><channel><title>Blog</title><link>https://blog.example/</link>\
             <description>news</description>{items}</channel></rss>"
        ),
    )
}

/// Serves `items` as an RSS feed; returns its URL.
async fn feed(items: Items) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rss", listener.local_addr().unwrap());
    let app = Router::new().route("/rss", get(serve)).with_state(items);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn write_config(dir: &Path, feed_url: &str, target_url: &str) -> PathBuf {
    let token = dir.join("fedi.token");
    fs::write(&token, format!("{}\n", fake_fedi::TOKEN)).unwrap();
    let config = dir.join("bridge.toml");
    fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.blog]\nkind = \"feed\"\nurl = \"{feed_url}\"\nschedule = \"0 * * * * *\"\n\n\
             [targets.t]\nkind = \"mastodon\"\nurl = \"{target_url}\"\ntoken_file = {:?}\n\n\
             [routes.r]\nsource = \"blog\"\ntargets = [\"t\"]\n",
            token.display().to_string()
        ),
    )
    .unwrap();
    config
}

async fn once(config: &Path) {
    let mut cmd = assert_cmd::Command::cargo_bin("birdbridge").unwrap();
    cmd.arg("--config")
        .arg(config)
        .arg("once")
        .env("BIRDBRIDGE_LOG", "warn");
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_html_reaches_the_target_as_its_readers_see_it() {
    let items: Items = Arc::new(Mutex::new(vec![item(1, "An old post", None)]));
    let url = feed(Arc::clone(&items)).await;
    let fedi = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), &url, &fedi.url);
    // A new source starts after what the feed holds.
    once(&config).await;
    assert!(fedi.statuses().is_empty());

    items.lock().unwrap().extend([
        // The entities are escaped once for XML, as a blog's feed writes them.
        item(
            2,
            "We&amp;rsquo;re shipping 2.0 &amp;mdash; faster&amp;hellip;",
            Some("<p>We&rsquo;re shipping 2.0 &mdash; faster&hellip;</p>"),
        ),
        item(
            3,
            "Caf&amp;eacute; &amp;laquo;open&amp;raquo; &amp;ndash; 9&amp;nbsp;am",
            None,
        ),
        // A Mastodon account's feed: its status HTML as the description.
        item(
            4,
            "New post",
            Some(
                "<p>Thanks <span class=\"h-card\" translate=\"no\"><a href=\"https://example.social/@ann\" \
                 class=\"u-url mention\">@<span>ann</span></a></span> for \
                 <a href=\"https://example.social/tags/rust\" class=\"mention hashtag\" rel=\"tag\">#<span>rust</span></a>:<br />\
                 <a href=\"https://example.com/very/long/path\" target=\"_blank\" rel=\"nofollow noopener\" translate=\"no\">\
                 <span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/very/lon</span>\
                 <span class=\"invisible\">g/path</span></a></p>",
            ),
        ),
    ]);
    once(&config).await;

    let texts: Vec<String> = fedi.statuses().into_iter().map(|s| s.text).collect();
    assert_eq!(
        texts,
        [
            // The description's entities, decoded.
            "We’re shipping 2.0 — faster…",
            // A title-only item: the title's entities, decoded.
            "Café «open» – 9\u{a0}am",
            // The mention keeps its server; the hashtag stays; the link is whole.
            "Thanks @ann@example.social for #rust:\nhttps://example.com/very/long/path",
        ]
    );
}
