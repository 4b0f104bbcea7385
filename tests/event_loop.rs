//! The event loop stays free while the ledger is stalled. The binary runs on one thread
//! (a `current_thread` runtime), so a ledger call made on it would stop polling, the
//! watchdog, signals and the metrics endpoint for as long as `SQLite` waits for its lock.
//!
//! Each step below runs while the ledger is stalled: another connection holds the file's
//! write lock (as another process would) for [`HOLD`], and a write through the same handle
//! waits for it on the blocking pool, holding the handle's own lock, so that reads through
//! the handle wait too. A ticker on the same runtime records its longest gap. The step must
//! wait for the ledger (so the stall was real), finish correctly once the lock is released,
//! and the ticker must never have stopped for long: X source (account, start cursor, new
//! posts, lookups), feed source (new source, a poll), the engine delivering to a fediverse
//! target (connect, a post with a media upload, where the ledger is stalled again as the
//! upload and the status post reach the server). Real HTTP on 127.0.0.1 against the fake servers, real `SQLite` files.

mod fake_fedi;
#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use birdbridge::clock::Clock;
use birdbridge::config::Settings;
use birdbridge::engine::{Context, Engine, Offer};
use birdbridge::model::MediaKind;
use birdbridge::progress::Progress;
use birdbridge::report::DeliveryReport;
use birdbridge::sources::{self, Setup, Source};
use birdbridge::store::{Durability, Ledger, PartKey};
use chrono::Utc;
use fake_fedi::faults::Call;
use fake_fedi::{FakeFedi, Personality};
use fake_x::FakeX;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// How long the ledger is stalled: well under its 5 s busy timeout (`store/schema.rs`),
/// so the stalled calls succeed afterwards.
const HOLD: Duration = Duration::from_secs(1);

/// The longest the ticker may wait for a turn. A ledger call on the event loop makes it
/// wait for about [`HOLD`].
const MAX_GAP: Duration = Duration::from_millis(400);

/// What a step did while the ledger was stalled.
struct Stalled<T> {
    value: T,
    /// From the stall to the step's end.
    took: Duration,
    /// The ticker's longest wait for a turn.
    gap: Duration,
}

impl<T> Stalled<T> {
    /// The step waited for the ledger, and the event loop went on meanwhile.
    fn assert_free(self, step: &str) -> T {
        eprintln!(
            "{step}: took {:?}, the ticker's longest gap {:?}",
            self.took, self.gap
        );
        assert!(
            self.took >= HOLD / 2,
            "{step}: took {:?}, so it never waited for the stalled ledger",
            self.took
        );
        assert!(
            self.gap < MAX_GAP,
            "{step}: the event loop stopped for {:?} while the ledger was stalled",
            self.gap
        );
        self.value
    }
}

/// Runs `step` while the ledger file at `path`, used through `ledger`, is stalled for
/// [`HOLD`]; returns once the stall is over.
async fn stalled<T>(
    ledger: &Arc<Ledger>,
    path: &Path,
    step: impl Future<Output = T>,
) -> Stalled<T> {
    let holder = hold_write_lock(path);
    let started = Instant::now();
    // A write through the handle: it waits for the lock on the blocking pool and holds the
    // handle meanwhile, so every other call through it waits as well.
    let (inside_tx, inside_rx) = tokio::sync::oneshot::channel();
    let occupant = Arc::clone(ledger);
    let occupant = tokio::spawn(async move {
        occupant
            .call(move |l| {
                let _ = inside_tx.send(());
                l.set_cursor("stall", "1", Utc::now())
            })
            .await
            .unwrap();
    });
    inside_rx.await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let done = Arc::new(AtomicBool::new(false));
    let ticker = {
        let done = Arc::clone(&done);
        // From now: a step that blocks before its first await is measured too.
        let mut last = Instant::now();
        tokio::spawn(async move {
            let mut gap = Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                gap = gap.max(last.elapsed());
                last = Instant::now();
            }
            gap
        })
    };
    let value = step.await;
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let gap = ticker.await.unwrap();
    occupant.await.unwrap();
    holder.join().unwrap();
    Stalled { value, took, gap }
}

/// Takes the ledger file's write lock on another connection (as another process would)
/// and returns once it is held; the lock is released after [`HOLD`].
fn hold_write_lock(path: &Path) -> std::thread::JoinHandle<()> {
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let file = path.to_path_buf();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(file).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(HOLD);
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    holder
}

/// A configuration with one route from `source` (TOML table body) to a dry-run target, plus
/// `extra` tables; the ledger is `ledger.sqlite` in `dir`.
fn settings(dir: &TempDir, source: &str, extra: &str) -> Settings {
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.s]\n{source}\nschedule = \"0 * * * * *\"\n\n\
             [targets.out]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n{extra}\n\n\
             [routes.r]\nsource = \"s\"\ntargets = [\"out\"]\n"
        ),
    )
    .unwrap();
    Settings::load_with_env(&config, HashMap::new()).unwrap()
}

/// Source `s` of the settings, built as the daemon builds it.
fn live_source(settings: &Settings) -> Box<dyn Source> {
    let setup = Setup {
        http: sources::Http::new().unwrap(),
        clock: Clock::System,
        cancel: CancellationToken::new(),
        reposts_wanted: true,
    };
    sources::live("s", &settings.sources["s"], &setup)
        .unwrap()
        .unwrap()
}

fn open(settings: &Settings) -> (Arc<Ledger>, PathBuf) {
    let path = settings.ledger.path.clone();
    let ledger = Ledger::open_with(&path, Durability::Normal).unwrap();
    (Arc::new(ledger), path)
}

#[tokio::test(flavor = "current_thread")]
async fn the_x_source_leaves_the_event_loop_free_while_the_ledger_is_stalled() {
    let fake = FakeX::start(Clock::System).await;
    fake.add_user("42", "birdbridge_t");
    let newest = fake.posts("42", 3)[2];
    let dir = TempDir::new().unwrap();
    let token_file = dir.path().join("x.token");
    std::fs::write(&token_file, format!("{}\n", fake_x::TOKEN)).unwrap();
    let settings = settings(
        &dir,
        &format!(
            "kind = \"x\"\nusername = \"birdbridge_t\"\ntoken_file = {:?}\napi_url = \"{}\"\nstart = \"latest\"",
            token_file.display().to_string(),
            fake.url()
        ),
        "",
    );
    let mut source = live_source(&settings);
    let (ledger, path) = open(&settings);

    // The account: one billed lookup, kept in the ledger.
    let account = stalled(&ledger, &path, source.account(&ledger))
        .await
        .assert_free("account")
        .unwrap();
    assert_eq!(account.id.as_deref(), Some("42"));
    assert_eq!(
        ledger.x_user_id("birdbridge_t").unwrap().as_deref(),
        Some("42")
    );

    // A new source starts after the newest post (the lookup said which): the saved cursor
    // is read, then set.
    let poll = stalled(&ledger, &path, source.poll(&ledger))
        .await
        .assert_free("start")
        .unwrap();
    assert!(poll.is_empty());
    assert_eq!(
        ledger.cursor("s").unwrap().unwrap().value,
        newest.to_string()
    );

    // New posts: their billed reads are counted.
    let new = fake.posts("42", 2);
    let poll = stalled(&ledger, &path, source.poll(&ledger))
        .await
        .assert_free("new posts")
        .unwrap();
    let ids: Vec<String> = poll.iter().map(|p| p.post.id.0.clone()).collect();
    assert_eq!(ids, [new[0].to_string(), new[1].to_string()]);
    // Handled (the daemon saves the cursor itself).
    source.handled(&poll[1].post);
    let reads = |ledger: &Ledger| ledger.billable_reads(Utc::now()).unwrap()[0].clone();
    assert_eq!((reads(&ledger).posts, reads(&ledger).users), (2, 1));

    // Posts read again by id (after a restart): billed too.
    let again = stalled(
        &ledger,
        &path,
        source.lookup(&ledger, &[new[0].to_string()]),
    )
    .await
    .assert_free("lookup")
    .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(reads(&ledger).posts, 3);

    // A poll that finds nothing new makes no ledger call at all: the stall cannot hold it.
    let idle = stalled(&ledger, &path, source.poll(&ledger)).await;
    assert!(idle.value.unwrap().is_empty());
    assert!(
        idle.took < HOLD / 2,
        "an idle poll waited {:?} for the ledger",
        idle.took
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_feed_source_leaves_the_event_loop_free_while_the_ledger_is_stalled() {
    let items: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(vec![1, 2]));
    let served = Arc::clone(&items);
    let app = Router::new().route(
        "/feed",
        get(move || {
            let items = served.lock().unwrap().clone();
            async move { feed(&items) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/feed", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = TempDir::new().unwrap();
    let settings = settings(&dir, &format!("kind = \"feed\"\nurl = \"{url}\""), "");
    let mut source = live_source(&settings);
    let (ledger, path) = open(&settings);

    // A new source: the saved cursor is read, and the items present now are saved as seen.
    let posts = stalled(&ledger, &path, source.poll(&ledger))
        .await
        .assert_free("new source")
        .unwrap();
    assert!(posts.is_empty());
    let cursor: serde_json::Value =
        serde_json::from_str(&ledger.cursor("s").unwrap().unwrap().value).unwrap();
    assert_eq!(cursor["seen"], serde_json::json!(["1", "2"]));

    // A poll with a new item: the cursor is read again.
    items.lock().unwrap().push(3);
    let posts = stalled(&ledger, &path, source.poll(&ledger))
        .await
        .assert_free("poll")
        .unwrap();
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0].post.text.contains("item 3"),
        "{:?}",
        posts[0].post.text
    );
}

/// An RSS feed with these items, newest first.
fn feed(items: &[u32]) -> String {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>t</title><link>https://nitter.local/t</link><description>t</description>",
    );
    for id in items.iter().rev() {
        let _ = write!(
            body,
            "<item><title>item {id}</title><description>item {id}</description>\
             <pubDate>Mon, 13 May 2024 09:{id:02}:00 GMT</pubDate>\
             <guid>https://nitter.local/t/status/{id}</guid>\
             <link>https://nitter.local/t/status/{id}</link></item>"
        );
    }
    body.push_str("</channel></rss>");
    body
}

/// The engine's ledger work for a fediverse target: the target itself never touches the
/// ledger, the engine reads and records for it.
#[tokio::test(flavor = "current_thread")]
async fn delivering_to_the_fediverse_target_leaves_the_event_loop_free_while_the_ledger_is_stalled()
{
    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let token_file = dir.path().join("t.token");
    std::fs::write(&token_file, format!("{}\n", fake_fedi::TOKEN)).unwrap();
    let settings = settings(
        &dir,
        "kind = \"feed\"\nurl = \"http://127.0.0.1:9/feed\"",
        &format!(
            "[targets.t]\nkind = \"mastodon\"\nurl = \"{}\"\ntoken_file = {:?}\n\n\
             [routes.to_fedi]\nsource = \"s\"\ntargets = [\"t\"]",
            fake.url,
            token_file.display().to_string()
        ),
    );
    let mut engine = Engine::new(
        &settings,
        "to_fedi",
        Context::default(),
        Progress::new(false, false),
    )
    .unwrap();
    let (ledger, path) = open(&settings);

    // Connecting: the cached profile and saved budgets are read, the fetched profile saved.
    stalled(&ledger, &path, engine.connect(&ledger, 0))
        .await
        .assert_free("connect")
        .unwrap();
    assert!(ledger.cached_profile("t").unwrap().is_some());

    // A post with an image: planned, earlier uploads looked up, the new one recorded, the
    // attempt and the result recorded. The ledger is stalled again as the upload and the
    // status post reach the server, so recording the upload and the status waits too.
    let holders = Arc::new(Mutex::new(Vec::new()));
    for call in [Call::MediaUpload, Call::StatusPost] {
        let (path, holders) = (path.clone(), Arc::clone(&holders));
        fake.faults.on_call(call, move || {
            holders.lock().unwrap().push(hold_write_lock(&path));
        });
    }
    let post = support::posts::one_media_post(
        &dir.path().join("photo.png"),
        (MediaKind::Photo, 512),
        "an image",
        "a grey square",
        Utc::now(),
    );
    let offer = Offer {
        post: &post,
        earlier: &[],
        media: None,
    };
    let mut tally = DeliveryReport::default();
    let delivery = stalled(&ledger, &path, engine.deliver(&ledger, offer, &mut tally)).await;
    assert!(
        delivery.took >= HOLD * 5 / 2,
        "took {:?}: the writes after the upload and the status post did not wait",
        delivery.took
    );
    delivery
        .assert_free("delivery with a media upload")
        .unwrap();
    let holders = std::mem::take(&mut *holders.lock().unwrap());
    assert_eq!(
        holders.len(),
        2,
        "stalled at the upload and the status post"
    );
    for holder in holders {
        holder.join().unwrap();
    }
    assert_eq!(tally.parts_delivered, 1, "{tally:?}");
    let statuses = fake.statuses();
    assert_eq!(statuses.len(), 1);
    let parts = ledger.parts_of_post("to_fedi", "1", "t").unwrap();
    assert_eq!(parts[0].remote_id.as_deref(), Some(statuses[0].id.as_str()));
    let key = PartKey::new("to_fedi", "1", "t", 0);
    let uploads = ledger
        .uploaded_media(&key, Utc::now() - chrono::Duration::hours(1))
        .unwrap();
    assert_eq!(uploads, [(0, statuses[0].media_ids[0].clone())]);
}
