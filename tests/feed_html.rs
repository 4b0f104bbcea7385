//! Feed HTML as a new user's feeds write it, mirrored through the binary (`birdbridge
//! once`) from a local RSS feed to the fake Mastodon server, on 127.0.0.1: a blog's named
//! entities (`&rsquo;`, `&mdash;`, `&hellip;`) in a description and in a title reach the
//! target as their characters, and a Mastodon account's feed keeps its mentions as full
//! `@user@server` handles (never a bare name or a link to someone on X), its hashtags, and
//! its shortened links in full.

mod fake_fedi;
mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use birdbridge::clock::Clock;
use fake_fedi::{FakeFedi, Personality};
use support::config::Config;
use support::rss::Items;
use tempfile::TempDir;

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

/// One feed source `blog`, one Mastodon target `t`, route `r`.
fn write_config(dir: &Path, feed_url: &str, target_url: &str) -> PathBuf {
    Config::new(dir)
        .feed_source("blog", feed_url)
        .fedi_target("t", "mastodon", target_url, fake_fedi::TOKEN)
        .route("r", "blog", &["t"])
        .write()
}

/// `birdbridge once`, which must succeed.
async fn once(config: &Path) {
    let output = support::birdbridge(config, &["once"]).await;
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_html_reaches_the_target_as_its_readers_see_it() {
    let items: Items = Arc::new(Mutex::new(vec![item(1, "An old post", None)]));
    let url = support::rss::serve(Arc::clone(&items)).await;
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
