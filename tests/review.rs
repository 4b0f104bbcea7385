//! Review holds through the binary against the fake Mastodon: `review = "all"` holds every
//! post of an archive backfill (planned as `held`, nothing sent, surviving the process);
//! `hold describe|warn|edit` change a copy beside it (refused over the target's limits, with
//! nothing changed); three `hold release` of the same post at once release it once and
//! the status goes out once, with the edits; `hold drop` skips a post with the reason;
//! `status --json` shows the queue.

mod fake_fedi;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use birdbridge::clock::Clock;
use birdbridge::store::{Ledger, PartState};
use fake_fedi::{FakeFedi, Personality, TOKEN};
use support::config::Config;
use support::printed;
use tempfile::TempDir;

/// The sample post with a PNG.
const PNG_POST: &str = "1257672029893586944";
/// The sample post with a JPEG.
const JPG_POST: &str = "1135058762462162944";

struct Setup {
    dir: TempDir,
    config: PathBuf,
}

impl Setup {
    fn new(fake: &FakeFedi) -> Self {
        let dir = TempDir::new().unwrap();
        let config = Config::new(dir.path())
            .archive_source("sample", &sample_archive())
            .fedi_target("t", "mastodon", &fake.url, TOKEN)
            .set_raw("backfill_share", "1.0")
            .route("r", "sample", &["t"])
            .set("review", "all")
            .write();
        Self { dir, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(assert_cmd::cargo::cargo_bin("birdbridge"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("BIRDBRIDGE_LOG", "error")
            .env("USER", "tester")
            .output()
            .unwrap()
    }

    /// `backfill --route r`, off the test's runtime; it must succeed.
    async fn backfill(self: &Arc<Self>) {
        let setup = Arc::clone(self);
        let out = tokio::task::spawn_blocking(move || setup.run(&["backfill", "--route", "r"]))
            .await
            .unwrap();
        assert!(out.status.success(), "{}", printed(&out));
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap()
    }
}

/// The sample archive of the repository.
fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_posts_are_edited_beside_and_released_once() {
    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let setup = Arc::new(Setup::new(&fake));
    setup.backfill().await;
    assert!(
        fake.statuses().is_empty(),
        "review = \"all\" holds every post"
    );
    let ledger = setup.ledger();
    let parts = ledger.parts_of_post("r", PNG_POST, "t").unwrap();
    assert!(!parts.is_empty() && parts.iter().all(|p| p.state == PartState::Held));

    let status: serde_json::Value =
        serde_json::from_slice(&setup.run(&["status", "--json"]).stdout).unwrap();
    assert!(
        status["review"]["held_posts"].as_u64().unwrap() >= 4,
        "{status}"
    );
    assert!(status["review"]["oldest_age_seconds"].as_i64().is_some());

    // Edits beside the post; too long is refused and changes nothing.
    let long = "x".repeat(1501);
    let out = setup.run(&[
        "hold", "describe", "--route", "r", "--post", PNG_POST, "--media", "1", "--text", &long,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    assert!(
        printed(&out).contains("takes at most 1500"),
        "{}",
        printed(&out)
    );
    assert!(ledger.review_edits("r", PNG_POST, "t").unwrap().is_empty());
    for args in [
        &["describe", "--media", "1", "--text", "Two notebook pages"][..],
        &["warn", "--text", "Old notes"][..],
        &[
            "edit",
            "--visibility",
            "unlisted",
            "--text",
            "Two old notebook pages.",
        ][..],
    ] {
        let mut all = vec!["hold", args[0], "--route", "r", "--post", PNG_POST];
        all.extend(&args[1..]);
        let out = setup.run(&all);
        assert!(out.status.success(), "{}", printed(&out));
    }
    let audit = ledger.review_audit("r", PNG_POST).unwrap();
    assert_eq!(audit.len(), 4, "{audit:?}");
    assert!(audit.iter().all(|a| a.actor == "cli:tester"));

    // Three releases at once: one wins, the status goes out once, with the edits.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let s = Arc::clone(&setup);
            std::thread::spawn(move || {
                s.run(&["hold", "release", "--route", "r", "--post", PNG_POST])
            })
        })
        .collect();
    let outs: Vec<Output> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains(": released;"))
        .count();
    assert_eq!(won, 1, "{:?}", outs.iter().map(printed).collect::<Vec<_>>());
    for o in outs
        .iter()
        .filter(|o| !String::from_utf8_lossy(&o.stdout).contains(": released;"))
    {
        assert!(printed(o).contains("released meanwhile"), "{}", printed(o));
    }
    let sent: Vec<_> = fake
        .statuses()
        .into_iter()
        .filter(|s| s.text.contains("Two old notebook pages."))
        .collect();
    assert_eq!(sent.len(), 1, "{:?}", fake.statuses());
    assert_eq!(sent[0].spoiler_text, "Old notes");
    assert_eq!(sent[0].visibility, "unlisted");
    assert_eq!(
        fake.media(&sent[0].media_ids[0]).description.as_deref(),
        Some("Two notebook pages")
    );
    assert_eq!(fake.statuses().len(), 1, "nothing else went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_post_is_skipped_with_its_reason_and_takes_no_more_edits() {
    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let setup = Arc::new(Setup::new(&fake));
    setup.backfill().await;
    let ledger = setup.ledger();
    // Dropped with the reason.
    let out = setup.run(&[
        "hold",
        "drop",
        "--route",
        "r",
        "--post",
        JPG_POST,
        "--reason",
        "private photo",
    ]);
    assert!(out.status.success(), "{}", printed(&out));
    let parts = ledger.parts_of_post("r", JPG_POST, "t").unwrap();
    assert!(parts.iter().all(|p| p.state == PartState::Skipped));
    assert_eq!(
        parts[0].reason.as_deref(),
        Some("dropped on review by cli:tester: private photo")
    );
    // A decided post takes no more edits.
    let out = setup.run(&[
        "hold", "warn", "--route", "r", "--post", JPG_POST, "--text", "late",
    ]);
    assert!(
        printed(&out).contains("dropped meanwhile"),
        "{}",
        printed(&out)
    );
}

/// A later post of a thread waits behind a held one (as behind an outage), and follows it
/// once it is released.
#[test]
fn a_thread_waits_behind_its_held_post() {
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .archive_source("sample", &sample_archive())
        .dry_run_target("t", "out.jsonl")
        .route("r", "sample", &["t"])
        .set("review", "warned")
        .set_raw(
            "content_warnings",
            r#"[{ label = "Thread", match = ["mirroring"] }]"#,
        )
        .write();
    let run = |args: &[&str]| {
        Command::new(assert_cmd::cargo::cargo_bin("birdbridge"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("BIRDBRIDGE_LOG", "error")
            .output()
            .unwrap()
    };
    let (first, second, third) = (
        "1216091155461074944",
        "1216091579085778944",
        "1216091918824402944",
    );
    let out = run(&["backfill", "--route", "r"]);
    assert_eq!(out.status.code(), Some(1), "parts wait: {}", printed(&out));
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).unwrap();
    let state = |id: &str| ledger.parts_of_post("r", id, "t").unwrap()[0].state;
    assert_eq!(state(first), PartState::Held);
    assert_eq!(state(second), PartState::Planned);
    assert_eq!(state(third), PartState::Planned);
    let out = run(&["hold", "release", "--route", "r", "--post", first]);
    assert!(out.status.success(), "{}", printed(&out));
    let out = run(&["backfill", "--route", "r"]);
    assert!(out.status.success(), "{}", printed(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["source_post_id"].as_str())
        .filter(|id| [first, second, third].contains(id))
        .collect();
    assert_eq!(order, [first, second, third]);
}
