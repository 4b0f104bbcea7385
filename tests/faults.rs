//! The fault matrix: the sample archive is backfilled into the fake fediverse server while
//! its fault layer (`fake_fedi/faults.rs`) makes one call go wrong, on a server that honours
//! `Idempotency-Key` (Mastodon) and on one that ignores it (`GoToSocial`). Runs are repeated,
//! time moving on between them, until nothing is left to do; then the server must hold
//! exactly what a clean run gives (each status once, threads chained in order), and the
//! ledger must have every part posted, none lost, none left unsettled.
//!
//! Faults: 429 with and without `Retry-After`, 503 with and without, 500 before and after the
//! server stored the status, a connection reset before and after it stored the status, an
//! answer delayed past the request timeout after the write, 200 with a broken JSON body, 422
//! while media are processing (once, and more often than the client waits in one go), and 413
//! for a file over the limit (the post goes out once, linking the original, with a warning).
//!
//! In-process over real HTTP on 127.0.0.1, time from a manual clock shared with the fake.

mod fake_fedi;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use birdbridge::backfill::{self, BackfillOptions};
use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::{Settings, TargetSettings};
use birdbridge::progress::Progress;
use birdbridge::sources::archive::Archive;
use birdbridge::store::{Ledger, PartKey, PartState};
use chrono::{DateTime, Duration, Utc};
use fake_fedi::faults::{Call, Fault};
use fake_fedi::shapes::{shapes, Shape};
use fake_fedi::{FakeFedi, Personality, TOKEN};
use rstest::rstest;
use tempfile::TempDir;

/// The request timeout of the run with a slow answer: short, so that the answer outlasts it
/// quickly.
const SHORT_TIMEOUT: StdDuration = StdDuration::from_millis(800);
/// How late the slow answer comes: well past [`SHORT_TIMEOUT`].
const SLOW_ANSWER: StdDuration = StdDuration::from_secs(2);
/// The request timeout of every other run: long enough that no answer outlasts it on a
/// loaded machine. A request timeout is the one real-time element of these runs (the fake's
/// clock is manual), so a run under heavy load could take another path than the reference.
const TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// Runs before giving up on the matrix settling.
const MAX_RUNS: usize = 8;

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct World {
    _dir: TempDir,
    settings: Settings,
    clock: Clock,
    time: Arc<ManualClock>,
    fake: FakeFedi,
}

impl World {
    async fn new(personality: Personality) -> Self {
        Self::with_timeout(personality, TIMEOUT).await
    }

    async fn with_timeout(personality: Personality, timeout: StdDuration) -> Self {
        let (clock, time) = Clock::manual(start_time());
        let fake = FakeFedi::start(personality, clock.clone()).await;
        let kind = match personality {
            Personality::GoToSocial => "gotosocial",
            _ => "mastodon",
        };
        let dir = TempDir::new().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            format!(
                "[ledger]\npath = \"ledger.sqlite\"\n\n\
                 [sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
                 [targets.t]\nkind = \"{kind}\"\nurl = \"{}\"\ntoken_file = {:?}\nbackfill_share = 1.0\n\n\
                 [routes.r]\nsource = \"sample\"\ntargets = [\"t\"]\n",
                sample_archive().display().to_string(),
                fake.url,
                token_file.display().to_string(),
            ),
        )
        .unwrap();
        let mut settings = Settings::load_with_env(&path, HashMap::new()).unwrap();
        if let Some(TargetSettings::Fediverse(f)) = settings.targets.get_mut("t") {
            f.request_timeout = timeout;
        }
        Self {
            _dir: dir,
            settings,
            clock,
            time,
            fake,
        }
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.settings.ledger.path).unwrap()
    }

    async fn backfill(&self) {
        let opts = BackfillOptions {
            route: "r".into(),
            clock: self.clock.clone(),
            ..BackfillOptions::default()
        };
        let prepared = backfill::prepare(&self.settings, &opts).unwrap();
        let ledger = Arc::new(self.ledger());
        backfill::backfill(prepared, &ledger, &opts, &Progress::new(false, false))
            .await
            .unwrap();
    }

    /// Parts per state.
    fn states(&self) -> HashMap<PartState, u64> {
        let mut out = HashMap::new();
        for c in self.ledger().state_counts().unwrap() {
            *out.entry(c.state).or_default() += c.count;
        }
        out
    }

    /// Backfills until no part is planned, posting or failed (time moving on between runs,
    /// past any backoff); returns the runs it took.
    async fn settle(&self) -> usize {
        for run in 1..=MAX_RUNS {
            self.backfill().await;
            let states = self.states();
            let open: u64 = [PartState::Planned, PartState::Posting, PartState::Failed]
                .iter()
                .filter_map(|s| states.get(s))
                .sum();
            if open == 0 {
                return run;
            }
            self.time.advance(Duration::hours(2));
        }
        panic!(
            "parts still open after {MAX_RUNS} runs: {:?}",
            self.states()
        );
    }

    fn shapes(&self) -> Vec<Shape> {
        shapes(&self.fake.statuses(), &self.fake.url)
    }
}

/// Fails with the statuses that differ (extra ones are duplicates or wrong threads; missing
/// ones are losses).
fn assert_same(got: &[Shape], want: &[Shape], label: &str) {
    let mut missing = want.to_vec();
    let mut extra = Vec::new();
    for shape in got {
        match missing.iter().position(|m| m == shape) {
            Some(at) => {
                missing.remove(at);
            }
            None => extra.push(shape),
        }
    }
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{label}: the server holds other statuses than a clean run gives\nextra: {extra:#?}\nmissing: {missing:#?}"
    );
}

/// What one clean run leaves on a fresh server.
async fn reference(personality: Personality) -> (Vec<Shape>, u64) {
    let world = World::new(personality).await;
    assert_eq!(world.settle().await, 1, "a clean run settles at once");
    let posted = world.states()[&PartState::Posted];
    (world.shapes(), posted)
}

#[rstest]
#[case::too_many_with_retry_after(Call::StatusPost, 5, Fault::TooMany { retry_after: Some(30) })]
#[case::too_many_without_retry_after(Call::StatusPost, 5, Fault::TooMany { retry_after: None })]
#[case::unavailable_with_retry_after(Call::StatusPost, 5, Fault::Unavailable { retry_after: Some(60) })]
#[case::unavailable_without_retry_after(Call::StatusPost, 5, Fault::Unavailable { retry_after: None })]
#[case::server_error(Call::StatusPost, 5, Fault::ServerError)]
#[case::server_error_after_write(Call::StatusPost, 5, Fault::ServerErrorAfterWrite)]
#[case::reset_before_write(Call::StatusPost, 5, Fault::ResetBeforeWrite)]
#[case::reset_after_write(Call::StatusPost, 5, Fault::ResetAfterWrite)]
#[case::slow_after_write(Call::StatusPost, 5, Fault::SlowAfterWrite(SLOW_ANSWER))]
#[case::malformed_ok(Call::StatusPost, 5, Fault::MalformedOk)]
#[case::still_processing(Call::StatusPost, 2, Fault::StillProcessing)]
#[case::first_status_reset_after_write(Call::StatusPost, 1, Fault::ResetAfterWrite)]
#[case::media_upload_unavailable(Call::MediaUpload, 1, Fault::Unavailable { retry_after: Some(5) })]
#[case::media_upload_reset(Call::MediaUpload, 1, Fault::ResetAfterWrite)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_delivered_once_in_order(
    #[case] call: Call,
    #[case] nth: usize,
    #[case] fault: Fault,
    #[values(Personality::Mastodon, Personality::GoToSocial)] personality: Personality,
) {
    let (want, posted) = reference(personality).await;
    let timeout = match fault {
        Fault::SlowAfterWrite(_) => SHORT_TIMEOUT,
        _ => TIMEOUT,
    };
    let world = World::with_timeout(personality, timeout).await;
    world.fake.faults.plan(call, nth, fault.clone());
    let runs = world.settle().await;
    let injected = world.fake.faults.injected();
    assert_eq!(injected.len(), 1, "{fault:?} was not injected");
    assert_same(
        &world.shapes(),
        &want,
        &format!("{personality:?} {fault:?}"),
    );
    let states = world.states();
    assert_eq!(states.get(&PartState::Posted), Some(&posted), "{states:?}");
    assert_eq!(states.get(&PartState::Quarantined), None, "{states:?}");
    eprintln!("{personality:?} {fault:?}: settled in {runs} run(s)");
}

/// A 422 "still processing" more often than one delivery waits for: the part is retried in
/// a later run and goes out once.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_processing_longer_than_one_attempt_waits_is_retried_later(
    #[values(Personality::Mastodon, Personality::GoToSocial)] personality: Personality,
) {
    let (want, _) = reference(personality).await;
    let world = World::new(personality).await;
    for nth in 2..=12 {
        world
            .fake
            .faults
            .plan(Call::StatusPost, nth, Fault::StillProcessing);
    }
    world.settle().await;
    assert_same(&world.shapes(), &want, &format!("{personality:?}"));
}

/// A 413 for a file over the server's limit: the post goes out once, without that file,
/// linking the original, and the ledger keeps the reason.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_too_large_is_linked_once_with_its_reason(
    #[values(Personality::Mastodon, Personality::GoToSocial)] personality: Personality,
) {
    let (want, posted) = reference(personality).await;
    let world = World::new(personality).await;
    world
        .fake
        .faults
        .plan(Call::MediaUpload, 1, Fault::TooLarge);
    world.settle().await;
    let got = world.shapes();
    assert_eq!(got.len(), want.len(), "{got:#?}");
    let changed: Vec<&Shape> = got.iter().filter(|s| !want.contains(s)).collect();
    let [linked] = changed.as_slice() else {
        panic!("exactly one status should differ: {changed:#?}")
    };
    assert!(linked.text.contains("https://"), "{linked:?}");
    let states = world.states();
    assert_eq!(states.get(&PartState::Posted), Some(&posted), "{states:?}");
    // The first upload belongs to the oldest mirrored post with media.
    let contents = Archive::open(&sample_archive()).unwrap().load().unwrap();
    let first_with_media = contents.posts.iter().find(|p| !p.media.is_empty()).unwrap();
    let key = PartKey::new("r", first_with_media.id.as_str(), "t", 0);
    let warnings = world.ledger().warnings(&key).unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("413")),
        "the reason is kept: {warnings:?}"
    );
}
