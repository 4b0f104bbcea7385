//! The daemon's schedule: jitter in whole seconds, and a source with news polled at once.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::*;
use crate::clock::ManualClock;
use crate::model::{Author, Post};
use crate::sources::BoxFuture;

#[test]
fn ticks_are_delayed_by_whole_seconds_below_the_maximum() {
    let delays: std::collections::BTreeSet<i64> = (0..1000)
        .map(|_| schedule_jitter(Duration::from_secs(6)))
        .map(|d| {
            assert_eq!(d.subsec_nanos(), 0, "{d}");
            d.num_seconds()
        })
        .collect();
    assert_eq!(delays, (0..6).collect());
    assert_eq!(
        schedule_jitter(Duration::from_millis(999)),
        chrono::Duration::zero()
    );
}

/// What the pushing server has sent and not yet been read, and the signal that it sent
/// something.
#[derive(Debug, Default)]
struct Server {
    queue: Mutex<VecDeque<Post>>,
    polls: Mutex<usize>,
    news: Notify,
}

/// A source the server pushes to, as a streaming connection would: news wakes the daemon,
/// the poll reads what came.
#[derive(Debug)]
struct Pushed(Arc<Server>);

impl Source for Pushed {
    fn name(&self) -> &'static str {
        "pushed"
    }

    fn kind(&self) -> &'static str {
        "test"
    }

    fn account<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Author, SourceError>> {
        Box::pin(async { Ok(author()) })
    }

    fn poll<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        *self.0.polls.lock().unwrap() += 1;
        let posts: Vec<Found> = self
            .0
            .queue
            .lock()
            .unwrap()
            .drain(..)
            .map(Found::from)
            .collect();
        Box::pin(async move { Ok(posts) })
    }

    fn lookup<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
        _ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn handled(&mut self, post: &Post) -> CursorMove {
        CursorMove {
            source: "pushed".to_owned(),
            value: post.id.0.clone(),
        }
    }

    fn media_stage(&self) -> Option<crate::media::stage::MediaStage> {
        None
    }

    fn news(&mut self) -> Option<BoxFuture<'_, ()>> {
        Some(Box::pin(self.0.news.notified()))
    }
}

fn author() -> Author {
    Author::named("someone")
}

fn post(id: &str, at: DateTime<Utc>) -> Post {
    Post {
        author: author(),
        created_at: at,
        url: format!("https://example.org/{id}"),
        ..Post::sample(id, &format!("pushed post {id}"))
    }
}

/// Waits (in real time, a few milliseconds at a time, at most 10 s) for `done`.
async fn until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A source with news runs a cycle at once, without waiting for its next tick (the clock
/// does not move, so no tick comes), and its post is delivered.
#[tokio::test]
async fn a_source_with_news_is_polled_without_waiting_for_its_tick() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[ledger]\npath = \"ledger.sqlite\"\n\n\
         [sources.pushed]\nkind = \"feed\"\nurl = \"http://127.0.0.1:9/feed\"\nschedule = \"0 0 * * * *\"\n\n\
         [targets.out]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
         [routes.r]\nsource = \"pushed\"\ntargets = [\"out\"]\n",
    )
    .unwrap();
    let settings = Settings::load_with_env(&config, HashMap::new()).unwrap();
    let ledger = Arc::new(Ledger::open(&settings.ledger.path).unwrap());
    let start = Utc::now();
    let clock = ManualClock::new(start);
    let cancel = CancellationToken::new();
    let options = DaemonOptions {
        max_jitter: Duration::ZERO,
        ..DaemonOptions::default()
    };
    let mut daemon = Daemon::build(
        &settings,
        Arc::clone(&ledger),
        clock.clone().into(),
        cancel.clone(),
        options,
    )
    .unwrap();
    let server = Arc::new(Server::default());
    daemon.tasks[0].source = Box::new(Pushed(Arc::clone(&server)));
    let running = tokio::spawn(async move { daemon.run(&Notifier::for_socket(None)).await });
    let polls = || *server.polls.lock().unwrap();
    let out = dir.path().join("out.jsonl");
    let lines = || std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
    // The first cycle runs at start.
    until(|| polls() == 1).await;

    server.queue.lock().unwrap().push_back(post("1", start));
    server.news.notify_one();
    until(|| lines() == 1).await;
    assert_eq!(polls(), 2, "one cycle for the news");
    assert_eq!(clock.now(), start, "no tick came");
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.posts_delivered, 1);
    assert_eq!(ledger.cursor("pushed").unwrap().unwrap().value, "1");
}
