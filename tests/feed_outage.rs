//! A feed post whose target is down when the process ends is not lost: the ledger keeps the
//! post (a feed cannot be asked for an old item), and a later process delivers it once,
//! whether the feed still lists it or not. Through the binary (`birdbridge once`), against a
//! local RSS feed and the fake fediverse server (mastodon and gotosocial personalities), on
//! 127.0.0.1.

mod fake_fedi;
mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use birdbridge::clock::Clock;
use fake_fedi::{FakeFedi, Personality};
use rstest::rstest;
use rusqlite::Connection;
use support::config::Config;
use support::rss::Items;
use support::{birdbridge, free_port};
use tempfile::TempDir;

fn item(id: u32, text: &str) -> String {
    format!(
        "<item><title>{text}</title><dc:creator>@birdbridge_t</dc:creator>\
         <description><![CDATA[<p>{text} <a href=\"https://example.org/a\">example.org/a</a></p>]]></description>\
         <pubDate>Mon, 13 May 2024 09:{:02}:00 GMT</pubDate>\
         <guid>https://nitter.local/birdbridge_t/status/{id}#m</guid>\
         <link>https://nitter.local/birdbridge_t/status/{id}#m</link></item>",
        id % 60
    )
}

/// One feed source `nitter`, one fediverse target `t` at `port`, route `r`.
fn write_config(dir: &Path, feed_url: &str, kind: &str, port: u16) -> PathBuf {
    Config::new(dir)
        .feed_source("nitter", feed_url)
        .fedi_target(
            "t",
            kind,
            &format!("http://127.0.0.1:{port}"),
            fake_fedi::TOKEN,
        )
        .route("r", "nitter", &["t"])
        .write()
}

/// Posts the ledger keeps for their leftovers.
fn kept(dir: &Path) -> Vec<String> {
    let conn = Connection::open(dir.join("ledger.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT post_id FROM kept_posts ORDER BY post_id")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Server down: `once` exits 1 and the post waits. Then a new process, with the server up
/// and the feed unchanged or emptied: `once` delivers the post once and exits 0, and the
/// ledger no longer keeps it.
#[rstest]
#[case::mastodon_feed_unchanged(Personality::Mastodon, "mastodon", false)]
#[case::mastodon_feed_emptied(Personality::Mastodon, "mastodon", true)]
#[case::gotosocial_feed_unchanged(Personality::GoToSocial, "gotosocial", false)]
#[case::gotosocial_feed_emptied(Personality::GoToSocial, "gotosocial", true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_post_waiting_for_its_target_survives_the_process(
    #[case] personality: Personality,
    #[case] kind: &str,
    #[case] emptied: bool,
) {
    let items: Items = Arc::new(Mutex::new(vec![item(100, "an old post")]));
    let url = support::rss::serve(Arc::clone(&items)).await;
    let dir = TempDir::new().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &url, kind, port);
    // A new source starts after what the feed holds.
    let first = birdbridge(&config, &["once"]).await;
    assert!(first.status.success(), "{first:?}");

    items
        .lock()
        .unwrap()
        .push(item(101, "news for the comms team"));
    let down = birdbridge(&config, &["once"]).await;
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let stdout = String::from_utf8_lossy(&down.stdout);
    assert!(stdout.contains("1 part(s) wait for delivery"), "{stdout}");
    assert_eq!(kept(dir.path()), ["101"]);

    if emptied {
        items.lock().unwrap().clear();
    }
    let fedi = FakeFedi::start_on_port(personality, Clock::System, port).await;
    let up = birdbridge(&config, &["once"]).await;
    assert!(up.status.success(), "{up:?}");
    let texts: Vec<String> = fedi.statuses().into_iter().map(|s| s.text).collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("news for the comms team") && texts[0].contains("https://example.org/a"),
        "{texts:?}"
    );
    assert!(kept(dir.path()).is_empty(), "the copy goes once delivered");

    let again = birdbridge(&config, &["once"]).await;
    assert!(again.status.success(), "{again:?}");
    assert_eq!(fedi.statuses().len(), 1, "nothing twice");
}
