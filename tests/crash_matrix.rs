//! The crash matrix: the real binary backfills the bundled sample archive into the fake
//! fediverse server (`fake_fedi/`) and is killed again and again, then runs clean; the
//! server must end up with exactly what one uninterrupted run gives.
//!
//! For each personality (Mastodon, which honours `Idempotency-Key`; `GoToSocial`, which
//! ignores it; a minimal unknown server, detected with `kind = "auto"`):
//! - SIGKILL at seeded random instants of the run (`Child::kill`), the next run resuming
//!   on the same ledger;
//! - the forced worst instants through the test build's crash points (`src/crash.rs`):
//!   `posting` (ledger says posting, nothing sent), `media-uploaded` (media at the server,
//!   status not), `delivered` (status at the server, not in the ledger), `thread-middle`;
//! - then a clean run, which must succeed.
//!
//! Asserted against a clean reference run on a fresh server of the same personality: every
//! expected status exists exactly once (same text, spoiler, media count), each reply points
//! at the status it should, parents are created before their replies, and uploads exceed the
//! reference by at most one per interruption (an upload the ledger never heard of).
//!
//! The same for live mirroring: `once` cycles against the fake X API (`fake_x/`), killed at
//! random instants while new posts (a self-thread and a photo among them) go out to the
//! fake server and a dry-run target, and aborted at the forced instants, the edit of a mirrored post included
//! (`edited`: the edit is written, the ledger does not know it). Live media and `PUT` edits
//! on the fediverse target are aborted where they reach the crash points: `media-uploaded`
//! (a live photo, or the new photo of an edit, at the server with no status or edit sent)
//! and `edited` (the `PUT` sent, the ledger not told).
//!
//! And X as the target (`fake_x/`, whose write API has no idempotency key): the sample
//! archive backfilled into the fake X, killed at random instants and aborted at the forced
//! ones; every interrupted post must be found among the account's own posts (adopted) or
//! not have been made, so the clean run leaves exactly the posts of one clean run.
//!
//! And taking back (`retract`): after a clean backfill, a date range of the sample is
//! retracted by runs killed at random instants and aborted at the forced ones (`retracting`:
//! the ledger says so, the server was not asked; `retracted`: the server deleted it, the
//! ledger was not told); after a clean run, the statuses of the range are all gone and
//! every other one is still there: 0 left that should be gone, 0 deleted that should stay.
//!
//! `BIRDBRIDGE_CRASH_SEED` picks the instants (default fixed); `BIRDBRIDGE_CRASH_KILLS`
//! sets the random kills per personality (default 10) for longer runs.

mod fake_fedi;
mod fake_x;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use birdbridge::clock::Clock;
use birdbridge::store::PartState;
use fake_fedi::shapes::{shapes, Shape};
use fake_fedi::{FakeFedi, Personality, Stored, TOKEN};
use tempfile::TempDir;

const DEFAULT_SEED: u64 = 0xb15d_b21d;
const DEFAULT_KILLS: usize = 10;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

/// One fake server, one configuration and one ledger, used by successive runs.
struct World {
    /// Runs the fake server; it stops when the world is dropped.
    _rt: tokio::runtime::Runtime,
    fake: FakeFedi,
    dir: TempDir,
}

impl World {
    fn new(personality: Personality) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(FakeFedi::start(personality, Clock::System));
        // Real time here: no window may run out however often the runs restart.
        for family in ["statuses", "media", "deletes", "requests"] {
            fake.set_limit(family, 1_000_000, chrono::Duration::hours(3));
        }
        {
            let mut state = fake.state();
            state.processing = chrono::Duration::milliseconds(200);
            // Short statuses, so that long posts become threads of several parts.
            state.advertise_max_chars = 200;
        }
        #[allow(
            clippy::match_wildcard_for_single_variants,
            reason = "other personalities are unknown software to birdbridge"
        )]
        let kind = match personality {
            Personality::Mastodon => "mastodon",
            Personality::GoToSocial => "gotosocial",
            _ => "auto",
        };
        let dir = TempDir::new().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let config = format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
             [targets.t]\nkind = \"{kind}\"\nurl = \"{}\"\ntoken_file = {:?}\nbackfill_share = 1.0\n\n\
             [routes.r]\nsource = \"sample\"\ntargets = [\"t\"]\n",
            sample_archive().display().to_string(),
            fake.url,
            token_file.display().to_string(),
        );
        std::fs::write(dir.path().join("bridge.toml"), config).unwrap();
        Self { _rt: rt, fake, dir }
    }

    fn command(&self) -> Command {
        self.command_with(&["backfill", "--route", "r"])
    }

    fn command_with(&self, args: &[&str]) -> Command {
        birdbridge(self.dir.path(), args)
    }

    /// A run to its end; returns whether it succeeded and its error output.
    fn run(&self, crash_at: Option<&str>) -> (bool, String) {
        run_to_end(self.command(), crash_at)
    }

    /// A run killed with SIGKILL after `after` (or at its end, if sooner); returns whether
    /// the kill came before the run ended.
    fn run_killed(&self, after: Duration) -> bool {
        killed_after(self.command(), after)
    }

    fn statuses(&self) -> Vec<Stored> {
        self.fake.statuses()
    }

    fn uploads(&self) -> usize {
        self.fake.state().media.len()
    }
}

/// `birdbridge --config DIR/bridge.toml ARGS`, logging warnings to a piped stderr, with no
/// crash point of the test's own environment.
fn birdbridge(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_birdbridge"));
    cmd.arg("--config")
        .arg(dir.join("bridge.toml"))
        .args(args)
        .env_remove("BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES")
        .env_remove("BIRDBRIDGE_TEST_CRASH_AT")
        .env("BIRDBRIDGE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `cmd` run to its end, aborted at `crash_at` if given; whether it succeeded, and its
/// error output.
fn run_to_end(mut cmd: Command, crash_at: Option<&str>) -> (bool, String) {
    if let Some(spec) = crash_at {
        cmd.env("BIRDBRIDGE_TEST_CRASH_AT", spec);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cmd` killed with SIGKILL after `after` (or at its end, if sooner); whether the kill
/// came first.
fn killed_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd.stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if start.elapsed() >= after {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The reference: one clean run on a fresh server.
struct Reference {
    shapes: Vec<Shape>,
    uploads: usize,
    took: Duration,
}

fn reference(personality: Personality) -> Reference {
    let world = World::new(personality);
    let start = Instant::now();
    let (ok, err) = world.run(None);
    let took = start.elapsed();
    assert!(ok, "the reference run failed: {err}");
    let statuses = world.statuses();
    assert!(statuses.len() >= 10, "only {} statuses", statuses.len());
    assert!(
        statuses.iter().any(|s| s.in_reply_to_id.is_some()),
        "the sample should give a thread"
    );
    assert!(world.uploads() > 0, "the sample should upload media");
    Reference {
        shapes: shapes(&statuses, &world.fake.url),
        uploads: world.uploads(),
        took,
    }
}

/// Compares a crashed world, after its clean run, with the reference.
fn assert_exactly_once(world: &World, reference: &Reference, interruptions: usize, label: &str) {
    let (ok, err) = world.run(None);
    assert!(ok, "{label}: the clean run after the crashes failed: {err}");
    let statuses = world.statuses();
    let got = shapes(&statuses, &world.fake.url);
    let duplicates = got.len().saturating_sub(reference.shapes.len());
    assert_eq!(
        got, reference.shapes,
        "{label}: statuses differ from one clean run ({duplicates} extra)"
    );
    let uploads = world.uploads();
    assert!(
        uploads >= reference.uploads && uploads <= reference.uploads + interruptions,
        "{label}: {uploads} uploads for {} in a clean run and {interruptions} interruptions",
        reference.uploads
    );
    // A third run finds nothing to do.
    let before = statuses.len();
    let (ok, _) = world.run(None);
    assert!(ok);
    assert_eq!(
        world.statuses().len(),
        before,
        "{label}: a rerun posted again"
    );
}

/// Kills at seeded random instants: episodes on fresh worlds, each a series of runs killed
/// mid-run until one run ends by itself, then the clean run and the comparison; until
/// `BIRDBRIDGE_CRASH_KILLS` runs were killed mid-run. Returns the kills.
fn random_kills(personality: Personality, salt: u64) -> usize {
    let reference = reference(personality);
    let seed = env_number("BIRDBRIDGE_CRASH_SEED", DEFAULT_SEED) ^ salt;
    let kills = usize::try_from(env_number("BIRDBRIDGE_CRASH_KILLS", DEFAULT_KILLS as u64))
        .unwrap_or(DEFAULT_KILLS);
    let mut rng = fastrand::Rng::with_seed(seed);
    // Instants spread over a whole run; a resumed run has less to do, so some kills come
    // after its end, and the episode is over.
    let span = u64::try_from(reference.took.as_millis())
        .unwrap_or(u64::MAX)
        .max(20);
    let (mut killed, mut episodes, mut runs) = (0, 0, 0);
    while killed < kills {
        let world = World::new(personality);
        episodes += 1;
        let mut interruptions = 0;
        loop {
            runs += 1;
            assert!(
                runs < kills * 20,
                "{personality:?}: runs keep ending before the kill"
            );
            if !world.run_killed(Duration::from_millis(rng.u64(0..=span))) {
                break;
            }
            killed += 1;
            interruptions += 1;
            if killed == kills {
                break;
            }
        }
        assert_exactly_once(
            &world,
            &reference,
            interruptions,
            &format!("{personality:?} seed {seed:#x} episode {episodes}"),
        );
    }
    eprintln!(
        "{personality:?}: seed {seed:#x}, {killed} runs killed mid-run in {episodes} episodes \
         ({runs} runs, kill instants within {span} ms); duplicates 0, losses 0"
    );
    killed
}

/// The forced worst instants, each at a few occurrences, one world per point.
fn forced_points(personality: Personality) {
    let reference = reference(personality);
    for (point, occurrences) in [
        ("posting", [1, 3, 7]),
        ("media-uploaded", [1, 2, 4]),
        ("delivered", [1, 4, 9]),
        ("thread-middle", [1, 2, 3]),
    ] {
        let world = World::new(personality);
        let mut crashed = 0;
        // Each run aborts at the n-th occurrence counted from its own start, so the
        // successive runs crash further and further on.
        for n in occurrences {
            let (ok, _) = world.run(Some(&format!("{point}:{n}")));
            if !ok {
                crashed += 1;
            }
        }
        assert!(crashed > 0, "{personality:?}: {point} was never reached");
        assert_exactly_once(
            &world,
            &reference,
            occurrences.len(),
            &format!("{personality:?} crash at {point}"),
        );
    }
}

#[test]
fn mastodon_survives_random_kills() {
    random_kills(Personality::Mastodon, 1);
}

#[test]
fn gotosocial_survives_random_kills() {
    random_kills(Personality::GoToSocial, 2);
}

#[test]
fn unknown_server_survives_random_kills() {
    random_kills(Personality::Minimal, 3);
}

#[test]
fn snac_survives_random_kills() {
    // Found through `auto` (nodeinfo says snac): no idempotency, closes after every answer.
    random_kills(Personality::Snac, 4);
}

#[test]
fn akkoma_survives_random_kills() {
    random_kills(Personality::Akkoma, 5);
}

#[test]
fn mastodon_survives_the_worst_instants() {
    forced_points(Personality::Mastodon);
}

#[test]
fn gotosocial_survives_the_worst_instants() {
    forced_points(Personality::GoToSocial);
}

#[test]
fn unknown_server_survives_the_worst_instants() {
    forced_points(Personality::Minimal);
}

#[test]
fn snac_survives_the_worst_instants() {
    forced_points(Personality::Snac);
}

#[test]
fn akkoma_survives_the_worst_instants() {
    forced_points(Personality::Akkoma);
}

// ---------------------------------------------------------------------------------------
// Live mirroring: `once` against the fake X API

const USER_ID: &str = "42";

/// A fake X account, the fake fediverse server and a dry-run target, one ledger.
struct LiveWorld {
    _rt: tokio::runtime::Runtime,
    fake: FakeFedi,
    x: fake_x::FakeX,
    dir: TempDir,
}

impl LiveWorld {
    fn new(personality: Personality, fedi: bool) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(FakeFedi::start(personality, Clock::System));
        for family in ["statuses", "media", "requests"] {
            fake.set_limit(family, 1_000_000, chrono::Duration::hours(3));
        }
        fake.state().processing = chrono::Duration::zero();
        let x = fake_x::FakeX::start_in_thread(Clock::System);
        x.add_user(USER_ID, "crash_t");
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("x.token"), format!("{}\n", fake_x::TOKEN)).unwrap();
        std::fs::write(dir.path().join("fedi.token"), format!("{TOKEN}\n")).unwrap();
        let kind = if personality == Personality::Mastodon {
            "mastodon"
        } else {
            "gotosocial"
        };
        let targets = if fedi {
            "\"fedi\", \"preview\""
        } else {
            "\"preview\""
        };
        let config = format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.live]\nkind = \"x\"\nusername = \"crash_t\"\ntoken_file = \"x.token\"\n\
             schedule = \"0 * * * * *\"\napi_url = \"{}\"\nstart = \"latest\"\n\
             allow_private_media = true\n\n\
             [targets.fedi]\nkind = \"{kind}\"\nurl = \"{}\"\ntoken_file = \"fedi.token\"\n\n\
             [targets.preview]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
             [routes.r]\nsource = \"live\"\ntargets = [{targets}]\n",
            x.url(),
            fake.url,
        );
        std::fs::write(dir.path().join("bridge.toml"), config).unwrap();
        let world = Self {
            _rt: rt,
            fake,
            x,
            dir,
        };
        // A new source starts after the newest post.
        assert!(world.once(None).0, "the first cycle failed");
        world
    }

    fn command(&self) -> Command {
        birdbridge(self.dir.path(), &["once"])
    }

    fn once(&self, crash_at: Option<&str>) -> (bool, String) {
        run_to_end(self.command(), crash_at)
    }

    fn once_killed(&self, after: Duration) -> bool {
        killed_after(self.command(), after)
    }

    /// New posts on X: a few, and a thread of three of the account's own.
    fn publish(&self) {
        self.x.posts(USER_ID, 4);
        // Live media: downloaded from the fake X API's media host, uploaded with its alt text.
        self.x.post_with_media(
            USER_ID,
            "a photo from the road",
            &[photo("road.jpg", "a road at dusk", 2_000)],
        );
        let mut parent = self
            .x
            .post(USER_ID, "a thread starts here 1/3", serde_json::json!({}));
        for text in ["the thread goes on 2/3", "and ends here 3/3"] {
            parent = self.x.post(
                USER_ID,
                text,
                serde_json::json!({
                    "in_reply_to_user_id": USER_ID,
                    "referenced_tweets": [{"type": "replied_to", "id": parent.to_string()}]
                }),
            );
        }
    }

    /// The dry-run records; each idempotency key at most once.
    fn preview_lines(&self) -> Vec<serde_json::Value> {
        let Ok(text) = std::fs::read_to_string(self.dir.path().join("out.jsonl")) else {
            return Vec::new();
        };
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut keys = std::collections::HashSet::new();
        for line in &lines {
            let key = line["idempotency_key"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                keys.insert(key),
                "a part written twice to the dry run: {line}"
            );
        }
        lines
    }
}

/// Kills during live cycles, then a clean cycle: the same statuses as one clean cycle.
fn live_random_kills(personality: Personality, salt: u64) -> usize {
    let reference = LiveWorld::new(personality, true);
    reference.publish();
    let start = Instant::now();
    assert!(reference.once(None).0);
    let span = u64::try_from(start.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(20);
    let want = shapes(&reference.fake.statuses(), &reference.fake.url);
    let want_preview = reference.preview_lines().len();
    assert!(want.len() >= 8, "{want:?}");
    let want_uploads = reference.fake.state().media.len();
    assert_eq!(want_uploads, 1);

    let seed = env_number("BIRDBRIDGE_CRASH_SEED", DEFAULT_SEED) ^ salt;
    let kills = usize::try_from(env_number("BIRDBRIDGE_CRASH_KILLS", DEFAULT_KILLS as u64))
        .unwrap_or(DEFAULT_KILLS)
        / 2
        + 1;
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut killed, mut episodes) = (0, 0);
    while killed < kills {
        let world = LiveWorld::new(personality, true);
        world.publish();
        episodes += 1;
        let killed_before = killed;
        while killed < kills && world.once_killed(Duration::from_millis(rng.u64(0..=span))) {
            killed += 1;
        }
        let killed_here = killed - killed_before;
        let (ok, err) = world.once(None);
        assert!(ok, "the clean cycle failed: {err}");
        let got = shapes(&world.fake.statuses(), &world.fake.url);
        assert_eq!(
            got, want,
            "{personality:?} seed {seed:#x} episode {episodes}"
        );
        assert_eq!(world.preview_lines().len(), want_preview);
        // An upload the ledger never heard of (killed before recording it) is the only
        // extra one allowed, at most one per kill.
        let uploads = world.fake.state().media.len();
        assert!(
            uploads <= want_uploads + killed_here,
            "{personality:?} seed {seed:#x} episode {episodes}: {uploads} uploads after {killed_here} kills"
        );
    }
    eprintln!(
        "live {personality:?}: seed {seed:#x}, {killed} cycles killed mid-run in {episodes} episodes; \
         duplicates 0, losses 0"
    );
    killed
}

#[test]
fn live_cycles_survive_random_kills_on_gotosocial() {
    live_random_kills(Personality::GoToSocial, 11);
}

#[test]
fn live_cycles_survive_random_kills_on_mastodon() {
    live_random_kills(Personality::Mastodon, 12);
}

/// The forced instants in live cycles, the edit of a mirrored post among them.
#[test]
fn live_cycles_survive_the_worst_instants_including_an_edit() {
    for point in ["posting:2", "delivered:3", "thread-middle:1", "edited:1"] {
        let world = LiveWorld::new(Personality::GoToSocial, false);
        let first = world
            .x
            .post(USER_ID, "teh first version", serde_json::json!({}));
        assert!(world.once(None).0);
        world.x.edit(first, "the first version");
        world.publish();
        let (ok, _) = world.once(Some(point));
        assert!(!ok, "{point} was never reached");
        let (ok, err) = world.once(None);
        assert!(ok, "{point}: the clean cycle failed: {err}");
        let lines = world.preview_lines();
        let edits = lines.iter().filter(|l| l["action"] == "edit").count();
        assert_eq!(edits, 1, "{point}: one edit, not {edits}: {lines:#?}");
        assert_eq!(lines.len(), 1 + 1 + 8, "{point}: {lines:#?}");
        // Every reply points at a status written before it.
        let mut written = std::collections::HashSet::new();
        for line in &lines {
            if let Some(parent) = line["in_reply_to"]["mirrored_status"].as_str() {
                assert!(
                    written.contains(parent),
                    "{point}: reply before its parent: {line}"
                );
            }
            written.insert(line["status_id"].as_str().unwrap_or_default().to_owned());
        }
    }
}

/// A photo from the fake X API's media host (on loopback: the source allows private media).
fn photo<'a>(name: &'a str, alt: &'a str, size: u64) -> fake_x::media::Item<'a> {
    fake_x::media::Item {
        kind: "photo",
        name,
        size,
        alt: Some(alt),
    }
}

/// Live media and `PUT` edits on the fediverse target, aborted where they reach the crash
/// points: the upload of a live post's photo, the upload of an edit's new photo, the `PUT`
/// of the edit. After a clean cycle the server holds one status, edited once into the new
/// text and photo with its description; no photo was uploaded twice (the ledger knew each
/// upload before the crash), and nothing is left unsettled.
#[test]
fn live_media_and_put_edits_survive_their_worst_instants() {
    // (the cycle that is aborted, the crash point)
    let cases = [
        ("post", "media-uploaded:1"),
        ("edit", "media-uploaded:1"),
        ("edit", "edited:1"),
    ];
    for personality in [Personality::Mastodon, Personality::GoToSocial] {
        for (stage, point) in cases {
            let label = format!("{personality:?} {stage} {point}");
            let world = LiveWorld::new(personality, true);
            let first = world.x.post_with_media(
                USER_ID,
                "a photo",
                &[photo("v1.jpg", "first description", 1_000)],
            );
            let cycle = |aborted: bool| {
                if aborted {
                    let (ok, _) = world.once(Some(point));
                    assert!(!ok, "{label}: the crash point was never reached");
                }
                let (ok, err) = world.once(None);
                assert!(ok, "{label}: the clean cycle failed: {err}");
            };
            cycle(stage == "post");
            let posted = world.fake.statuses();
            assert_eq!(posted.len(), 1, "{label}: {posted:#?}");
            assert_eq!(posted[0].media_ids.len(), 1, "{label}: {posted:#?}");
            world.x.edit_with_media(
                first,
                "a better photo",
                &[photo("v2.jpg", "second description", 1_200)],
            );
            cycle(stage == "edit");

            let after = world.fake.statuses();
            assert_eq!(
                after.len(),
                1,
                "{label}: edited, not posted again: {after:#?}"
            );
            assert_eq!(after[0].id, posted[0].id, "{label}");
            assert_eq!(after[0].text, "a better photo", "{label}");
            assert_eq!(after[0].media_ids.len(), 1, "{label}");
            let m = world.fake.media(&after[0].media_ids[0]);
            assert_eq!(
                (m.size, m.description.as_deref()),
                (1_200, Some("second description")),
                "{label}"
            );
            let uploads = world.fake.state().media.len();
            assert_eq!(uploads, 2, "{label}: a photo uploaded twice");
            // A `PUT` is idempotent: resent at most once after the crash, always the same.
            let edits = world.fake.edits();
            let resent = usize::from(point.starts_with("edited"));
            assert!(
                (1..=1 + resent).contains(&edits.len()),
                "{label}: {} edits",
                edits.len()
            );
            assert!(
                edits
                    .iter()
                    .all(|(id, body)| id == &posted[0].id && body == &edits[0].1),
                "{label}: {edits:#?}"
            );
            // The dry-run target beside it: the post and the edit, once each.
            let lines = world.preview_lines();
            assert_eq!(lines.len(), 2, "{label}: {lines:#?}");
            assert_eq!(lines[1]["action"], "edit", "{label}: {lines:#?}");
            let ledger =
                birdbridge::store::Ledger::open(&world.dir.path().join("ledger.sqlite")).unwrap();
            for c in ledger.state_counts().unwrap() {
                assert!(
                    !matches!(
                        c.state,
                        PartState::Planned | PartState::Posting | PartState::Failed
                    ),
                    "{label}: {c:?} left open"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// X as the target: the sample archive backfilled into the fake X, whose write API has no
// idempotency key: every interrupted post is found among the account's own posts, or it
// was not made.

/// The fake X, one configuration and one ledger, used by successive runs.
struct XWorld {
    fake: fake_x::FakeX,
    dir: TempDir,
}

impl XWorld {
    fn new() -> Self {
        use fake_x::write as fx;
        let fake = fake_x::FakeX::start_in_thread(Clock::System);
        fake.set_processing_ms(0);
        fake.set_post_window(1_000_000, 900);
        let dir = TempDir::new().unwrap();
        let mut keys = String::new();
        for (key, value) in [
            ("consumer_key", fx::CONSUMER_KEY),
            ("consumer_secret", fx::CONSUMER_SECRET),
            ("access_token", fx::ACCESS_TOKEN),
            ("access_token_secret", fx::ACCESS_SECRET),
        ] {
            std::fs::write(dir.path().join(key), format!("{value}\n")).unwrap();
            let _ = writeln!(keys, "{key}_file = \"{key}\"");
        }
        let config = format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
             [targets.x]\nkind = \"x\"\napi_url = \"{}\"\n{keys}backfill_share = 1.0\n\n\
             [routes.r]\nsource = \"sample\"\ntargets = [\"x\"]\n",
            sample_archive().display().to_string(),
            fake.url(),
        );
        std::fs::write(dir.path().join("bridge.toml"), config).unwrap();
        Self { fake, dir }
    }

    fn command(&self) -> Command {
        birdbridge(self.dir.path(), &["backfill", "--route", "r"])
    }

    fn run(&self, crash_at: Option<&str>) -> (bool, String) {
        run_to_end(self.command(), crash_at)
    }

    fn run_killed(&self, after: Duration) -> bool {
        killed_after(self.command(), after)
    }

    /// The posts on X without their ids: text as sent, media count, the parent's text;
    /// sorted. Panics when a reply was made before its parent or to a post not made here.
    fn shapes(&self) -> Vec<XShape> {
        let made = self.fake.made();
        let plain = |t: &str| strip_x_status_links(t);
        let mut out: Vec<_> = made
            .iter()
            .enumerate()
            .map(|(i, (id, text, parent, media))| {
                let parent = parent.as_ref().map(|p| {
                    let at = made
                        .iter()
                        .position(|m| &m.0 == p)
                        .unwrap_or_else(|| panic!("post {id} replies to {p}, not made here"));
                    assert!(at < i, "post {id} made before its parent {p}");
                    plain(&made[at].1)
                });
                (plain(text), *media, parent)
            })
            .collect();
        out.sort();
        out
    }

    fn uploads(&self) -> usize {
        self.fake.uploads().len()
    }
}

/// Links to the account's own posts carry the fake's ids, which differ between fakes.
fn strip_x_status_links(text: &str) -> String {
    let prefix = format!("https://x.com/{}/status/", fake_x::write::WRITER_NAME);
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        out.push_str(&rest[..at]);
        out.push_str("<own post>");
        rest = rest[at + prefix.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// One post on X without its id: its text as sent, its media, its parent's text.
type XShape = (String, usize, Option<String>);

/// A clean run on a fresh fake X.
struct XReference {
    shapes: Vec<XShape>,
    uploads: usize,
    took: Duration,
}

/// The clean reference run on a fresh fake X.
fn x_reference() -> XReference {
    let world = XWorld::new();
    let start = Instant::now();
    let (ok, err) = world.run(None);
    let took = start.elapsed();
    assert!(ok, "the reference run failed: {err}");
    let shapes = world.shapes();
    assert!(shapes.len() >= 10, "{shapes:#?}");
    assert!(
        shapes.iter().any(|s| s.2.is_some()),
        "the sample should give a thread"
    );
    assert!(world.uploads() > 0, "the sample should upload media");
    XReference {
        shapes,
        uploads: world.uploads(),
        took,
    }
}

/// After the crashes: a clean run, then the comparison with the reference, then a run
/// that finds nothing to do.
fn x_assert_exactly_once(
    world: &XWorld,
    reference: &XReference,
    interruptions: usize,
    label: &str,
) {
    let (ok, err) = world.run(None);
    if !ok {
        // What the ledger says is left, and why.
        let status = Command::new(env!("CARGO_BIN_EXE_birdbridge"))
            .arg("--config")
            .arg(world.dir.path().join("bridge.toml"))
            .arg("status")
            .output()
            .unwrap();
        panic!(
            "{label}: the clean run after the crashes failed: {err}\n{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
    let got = world.shapes();
    let extra = got.len().saturating_sub(reference.shapes.len());
    assert_eq!(
        got, reference.shapes,
        "{label}: posts on X differ from one clean run ({extra} extra)"
    );
    let uploads = world.uploads();
    assert!(
        uploads >= reference.uploads && uploads <= reference.uploads + interruptions,
        "{label}: {uploads} uploads for {} in a clean run and {interruptions} interruptions",
        reference.uploads
    );
    let posts = world.fake.write_calls("POST /2/tweets");
    let (ok, _) = world.run(None);
    assert!(ok);
    assert_eq!(
        world.fake.write_calls("POST /2/tweets"),
        posts,
        "{label}: a rerun posted again"
    );
}

#[test]
fn x_survives_random_kills() {
    let reference = x_reference();
    let seed = env_number("BIRDBRIDGE_CRASH_SEED", DEFAULT_SEED) ^ 0x15;
    let kills = usize::try_from(env_number("BIRDBRIDGE_CRASH_KILLS", DEFAULT_KILLS as u64))
        .unwrap_or(DEFAULT_KILLS);
    let mut rng = fastrand::Rng::with_seed(seed);
    let span = u64::try_from(reference.took.as_millis())
        .unwrap_or(u64::MAX)
        .max(20);
    let (mut killed, mut episodes, mut runs) = (0, 0, 0);
    while killed < kills {
        let world = XWorld::new();
        episodes += 1;
        let mut interruptions = 0;
        loop {
            runs += 1;
            assert!(runs < kills * 20, "X: runs keep ending before the kill");
            if !world.run_killed(Duration::from_millis(rng.u64(0..=span))) {
                break;
            }
            killed += 1;
            interruptions += 1;
            if killed == kills {
                break;
            }
        }
        x_assert_exactly_once(
            &world,
            &reference,
            interruptions,
            &format!("X seed {seed:#x} episode {episodes}"),
        );
    }
    eprintln!(
        "X: seed {seed:#x}, {killed} runs killed mid-run in {episodes} episodes ({runs} runs, \
         kill instants within {span} ms); duplicates 0, losses 0"
    );
}

#[test]
fn x_survives_the_worst_instants() {
    let reference = x_reference();
    for (point, occurrences) in [
        ("posting", [1, 3, 7]),
        ("media-uploaded", [1, 2, 3]),
        ("delivered", [1, 4, 9]),
        ("thread-middle", [1, 2, 3]),
    ] {
        let world = XWorld::new();
        let mut crashed = 0;
        for n in occurrences {
            let (ok, _) = world.run(Some(&format!("{point}:{n}")));
            if !ok {
                crashed += 1;
            }
        }
        assert!(crashed > 0, "X: {point} was never reached");
        x_assert_exactly_once(
            &world,
            &reference,
            occurrences.len(),
            &format!("X crash at {point}"),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Taking back

/// A date range of the sample to take back, and the statuses that must go and stay.
struct Range {
    args: Vec<String>,
    gone: std::collections::BTreeSet<String>,
    stays: std::collections::BTreeSet<String>,
}

impl World {
    /// A world with the sample backfilled cleanly, and the range to take back: from the
    /// sample's first day to its middle one.
    fn backfilled(personality: Personality) -> (Self, Range) {
        let world = Self::new(personality);
        let (ok, err) = world.run(None);
        assert!(ok, "the backfill failed: {err}");
        let conn = rusqlite::Connection::open(world.dir.path().join("ledger.sqlite")).unwrap();
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT source_post_id, remote_id FROM parts WHERE state = 'posted'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let date = |id: &str| {
            birdbridge::normalize::x::snowflake_time(id)
                .unwrap()
                .date_naive()
        };
        let mut days: Vec<_> = rows.iter().map(|(id, _)| date(id)).collect();
        days.sort_unstable();
        days.dedup();
        let (since, until) = (days[0], days[days.len() / 2]);
        let (gone, stays): (Vec<_>, Vec<_>) = rows.iter().partition(|(id, _)| date(id) <= until);
        let range = Range {
            args: [
                "retract",
                "--route",
                "r",
                "--since",
                &since.to_string(),
                "--until",
            ]
            .iter()
            .map(|a| (*a).to_owned())
            .chain([until.to_string(), "--yes".to_owned()])
            .collect(),
            gone: gone.into_iter().map(|(_, r)| r.clone()).collect(),
            stays: stays.into_iter().map(|(_, r)| r.clone()).collect(),
        };
        assert!(
            range.gone.len() >= 5 && !range.stays.is_empty(),
            "{:?} {:?}",
            range.gone,
            range.stays
        );
        (world, range)
    }

    fn retract(&self, range: &Range) -> Command {
        let args: Vec<&str> = range.args.iter().map(String::as_str).collect();
        self.command_with(&args)
    }
}

/// The clean run after the crashes, then: every status of the range gone, every other one
/// there, each delete asked of the server at most once more than needed per interruption.
fn assert_taken_back(world: &World, range: &Range, interruptions: usize, label: &str) {
    let (ok, err) = run_to_end(world.retract(range), None);
    assert!(ok, "{label}: the clean run after the crashes failed: {err}");
    let live: std::collections::BTreeSet<String> = world
        .fake
        .live_statuses()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let left: Vec<_> = range.gone.intersection(&live).collect();
    assert!(
        left.is_empty(),
        "{label}: {} statuses left that should be gone: {left:?}",
        left.len()
    );
    let deleted: Vec<_> = range.stays.difference(&live).collect();
    assert!(
        deleted.is_empty(),
        "{label}: {} deleted that should stay: {deleted:?}",
        deleted.len()
    );
    let asked = world.fake.deletes().len();
    assert!(
        asked >= range.gone.len() && asked <= range.gone.len() + interruptions,
        "{label}: {asked} deletes asked for {} statuses and {interruptions} interruptions",
        range.gone.len()
    );
    let conn = rusqlite::Connection::open(world.dir.path().join("ledger.sqlite")).unwrap();
    let retracting: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM parts WHERE state = 'retracting'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(retracting, 0, "{label}: parts left retracting");
    // The same command again finds nothing to take back.
    let (ok, _) = run_to_end(world.retract(range), None);
    assert!(ok);
    assert_eq!(
        world.fake.deletes().len(),
        asked,
        "{label}: a rerun deleted again"
    );
}

/// Retractions killed at seeded random instants, then the clean run.
fn retraction_random_kills(personality: Personality, salt: u64) -> usize {
    let seed = env_number("BIRDBRIDGE_CRASH_SEED", DEFAULT_SEED) ^ salt;
    let kills = usize::try_from(env_number("BIRDBRIDGE_CRASH_KILLS", DEFAULT_KILLS as u64))
        .unwrap_or(DEFAULT_KILLS);
    let mut rng = fastrand::Rng::with_seed(seed);
    let span = {
        let (world, range) = World::backfilled(personality);
        let start = Instant::now();
        let (ok, err) = run_to_end(world.retract(&range), None);
        assert!(ok, "the reference retraction failed: {err}");
        u64::try_from(start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(20)
    };
    let (mut killed, mut episodes, mut runs) = (0, 0, 0);
    while killed < kills {
        let (world, range) = World::backfilled(personality);
        episodes += 1;
        let mut interruptions = 0;
        loop {
            runs += 1;
            assert!(
                runs < kills * 20,
                "{personality:?}: runs keep ending before the kill"
            );
            if !killed_after(
                world.retract(&range),
                Duration::from_millis(rng.u64(0..=span)),
            ) {
                break;
            }
            killed += 1;
            interruptions += 1;
            if killed == kills {
                break;
            }
        }
        assert_taken_back(
            &world,
            &range,
            interruptions,
            &format!("{personality:?} retraction seed {seed:#x} episode {episodes}"),
        );
    }
    eprintln!(
        "{personality:?}: seed {seed:#x}, {killed} retractions killed mid-run in {episodes} \
         episodes ({runs} runs, within {span} ms); left 0, wrongly deleted 0"
    );
    killed
}

/// Retractions aborted at the forced instants, a few occurrences each, then the clean run.
fn retraction_forced_points(personality: Personality) {
    for point in ["retracting", "retracted"] {
        let (world, range) = World::backfilled(personality);
        let occurrences = [1, 2, 4];
        let mut crashed = 0;
        for n in occurrences {
            let (ok, _) = run_to_end(world.retract(&range), Some(&format!("{point}:{n}")));
            if !ok {
                crashed += 1;
            }
        }
        assert_eq!(
            crashed,
            occurrences.len(),
            "{personality:?}: {point} was not reached each time"
        );
        assert_taken_back(
            &world,
            &range,
            occurrences.len(),
            &format!("{personality:?} retraction crash at {point}"),
        );
    }
}

#[test]
fn mastodon_retraction_survives_random_kills() {
    retraction_random_kills(Personality::Mastodon, 11);
}

#[test]
fn gotosocial_retraction_survives_random_kills() {
    retraction_random_kills(Personality::GoToSocial, 12);
}

#[test]
fn mastodon_retraction_survives_the_worst_instants() {
    retraction_forced_points(Personality::Mastodon);
}

#[test]
fn gotosocial_retraction_survives_the_worst_instants() {
    retraction_forced_points(Personality::GoToSocial);
}
