//! The binary end to end: backfill of the bundled sample into a dry-run target, reruns,
//! interruptions, bad input and exit codes. Real `SQLite` files in temp dirs.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use birdbridge::store::{Ledger, PartState};
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

struct Setup {
    dir: TempDir,
    config: PathBuf,
}

impl Setup {
    fn new() -> Self {
        Self::with_archive(&sample_archive())
    }

    fn with_archive(archive: &Path) -> Self {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("bridge.toml");
        fs::write(
            &config,
            format!(
                "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
                 [targets.preview]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
                 [routes.demo]\nsource = \"sample\"\ntargets = [\"preview\"]\n",
                archive.display().to_string()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    /// Adds `keys` to the route (its table is the last one in the file).
    fn set_route_keys(&self, keys: &str) {
        let text = fs::read_to_string(&self.config).unwrap();
        let base = text.split("# route keys\n").next().unwrap().to_owned();
        fs::write(&self.config, format!("{base}# route keys\n{keys}")).unwrap();
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("birdbridge").unwrap();
        cmd.arg("--config")
            .arg(&self.config)
            .env_remove("BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES")
            .env("BIRDBRIDGE_LOG", "warn");
        cmd
    }

    fn backfill(&self) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["backfill", "--route", "demo"]);
        cmd
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("ledger.sqlite")
    }

    fn lines(&self) -> Vec<Value> {
        let path = self.dir.path().join("out.jsonl");
        let Ok(text) = fs::read_to_string(path) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Every part at most once, and every reply pointing at a status written before it.
fn assert_exactly_once_and_ordered(lines: &[Value]) {
    let mut seen_keys = HashSet::new();
    let mut seen_ids = HashSet::new();
    for line in lines {
        let key = line["idempotency_key"].as_str().unwrap();
        assert!(
            seen_keys.insert(key.to_owned()),
            "part written twice: {line}"
        );
        if let Some(parent) = line["in_reply_to"]["status_id"]
            .as_str()
            .or(line["in_reply_to"]["mirrored_status"].as_str())
        {
            assert!(seen_ids.contains(parent), "reply before its parent: {line}");
        }
        seen_ids.insert(line["status_id"].as_str().unwrap().to_owned());
    }
}

fn reference_run() -> Vec<Value> {
    let reference = Setup::new();
    reference.backfill().assert().success();
    reference.lines()
}

#[test]
fn backfill_prints_a_preview_and_a_second_run_delivers_nothing_new() {
    let s = Setup::new();
    s.backfill()
        .assert()
        .success()
        .stdout(predicate::str::contains("── demo → preview"))
        .stdout(predicate::str::contains("new post(s) delivered"));
    let first = s.lines();
    assert!(first.len() >= 10, "only {} parts", first.len());
    assert_exactly_once_and_ordered(&first);

    s.backfill()
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 new post(s) delivered in 0 part(s)",
        ));
    assert_eq!(s.lines(), first);
}

#[test]
fn a_thread_replies_to_its_previous_post() {
    let lines = reference_run();
    assert!(
        lines
            .iter()
            .any(|l| l["in_reply_to"]["mirrored_status"].is_string()),
        "the sample's self-thread should reply to mirrored statuses"
    );
}

#[test]
fn crash_between_delivery_and_record_is_recovered_exactly_once() {
    let reference = reference_run();
    for crash_after in [1, 4] {
        let s = Setup::new();
        s.backfill()
            .env(
                "BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES",
                crash_after.to_string(),
            )
            .assert()
            .failure();
        assert_eq!(
            s.lines().len(),
            crash_after,
            "the crash came right after the {crash_after}th part"
        );
        let ledger = Ledger::open(&s.ledger_path()).unwrap();
        let posting: u64 = ledger
            .state_counts()
            .unwrap()
            .iter()
            .filter(|c| c.state == PartState::Posting)
            .map(|c| c.count)
            .sum();
        assert_eq!(posting, 1, "one part was left in `posting`");
        drop(ledger);

        s.backfill()
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "1 recovered after an interruption",
            ));
        let lines = s.lines();
        assert_exactly_once_and_ordered(&lines);
        assert_eq!(
            lines, reference,
            "resumed output differs from an uninterrupted run"
        );
    }
}

#[test]
fn limited_runs_resume_where_they_stopped() {
    let reference = reference_run();
    let s = Setup::new();
    s.backfill()
        .args(["--limit", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 new post(s) delivered"));
    let posts: HashSet<String> = s
        .lines()
        .iter()
        .map(|l| l["source_post_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(posts.len(), 2);
    s.backfill().args(["--limit", "3"]).assert().success();
    s.backfill().assert().success();
    assert_eq!(s.lines(), reference);
}

#[test]
fn dry_run_flag_writes_nothing() {
    let s = Setup::new();
    s.backfill()
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains("── demo → preview"))
        .stdout(predicate::str::contains("nothing written"));
    assert!(s.lines().is_empty());
    let ledger = Ledger::open(&s.ledger_path()).unwrap();
    assert!(ledger.state_counts().unwrap().is_empty());
}

#[test]
fn date_range_limits_the_posts() {
    let s = Setup::new();
    s.backfill()
        .args(["--since", "2100-01-01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(0 in range)"));
    assert!(s.lines().is_empty());
}

#[test]
fn status_reports_counts_and_cursor() {
    let s = Setup::new();
    s.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("not created yet"));
    s.backfill().assert().success();
    let lines = s.lines().len();
    s.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "route demo → preview: posted {lines} "
        )))
        .stdout(predicate::str::contains("cursors:\n  sample: "));
}

#[test]
fn skipped_posts_are_recorded_with_their_reason() {
    let s = Setup::new();
    s.backfill().assert().success();
    let ledger = Ledger::open(&s.ledger_path()).unwrap();
    let skipped: HashMap<PartState, u64> = ledger
        .state_counts()
        .unwrap()
        .iter()
        .map(|c| (c.state, c.count))
        .collect();
    assert!(
        skipped.get(&PartState::Skipped).copied().unwrap_or(0) >= 2,
        "repost and reply to other: {skipped:?}"
    );
}

#[test]
fn check_accepts_the_demo_and_prints_the_example() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.toml");
    Command::cargo_bin("birdbridge")
        .unwrap()
        .arg("--config")
        .arg(&demo)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("configuration OK"));
    Command::cargo_bin("birdbridge")
        .unwrap()
        .args(["check", "--example"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[routes."));
}

#[test]
fn broken_config_names_the_key_and_file_and_exits_78() {
    let s = Setup::new();
    let text = fs::read_to_string(&s.config)
        .unwrap()
        .replace("output = ", "outptu = ");
    fs::write(&s.config, text).unwrap();
    s.backfill()
        .assert()
        .code(78)
        .stderr(predicate::str::contains("outptu"))
        .stderr(predicate::str::contains("bridge.toml"));
    assert!(!s.ledger_path().exists());
}

#[test]
fn unknown_route_exits_78() {
    let s = Setup::new();
    s.cmd()
        .args(["backfill", "--route", "nope"])
        .assert()
        .code(78)
        .stderr(predicate::str::contains("nope"));
}

#[test]
fn missing_archive_names_the_path_and_writes_nothing() {
    let s = Setup::with_archive(Path::new("/nonexistent/twitter-2024.zip"));
    s.backfill()
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/twitter-2024.zip"));
    assert!(!s.ledger_path().exists());
}

#[test]
fn corrupt_zip_names_the_file_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let zip = dir.path().join("twitter-2024-01-01-abc.zip");
    fs::write(&zip, b"PK\x03\x04 this is not really a zip file").unwrap();
    let s = Setup::with_archive(&zip);
    s.backfill()
        .assert()
        .code(1)
        .stderr(predicate::str::contains("twitter-2024-01-01-abc.zip"));
    assert!(!s.ledger_path().exists());
}

#[test]
fn posts_file_with_a_syntax_error_names_file_and_position() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    write_account(&data);
    fs::write(
        data.join("tweets.js"),
        "window.YTD.tweets.part0 = [\n  { \"tweet\" : { \"id_str\" : \"1\", }\n]",
    )
    .unwrap();
    let s = Setup::with_archive(dir.path());
    s.backfill()
        .assert()
        .code(1)
        .stderr(predicate::str::contains("tweets.js"))
        .stderr(predicate::str::contains("line 2"));
    assert!(!s.ledger_path().exists());
}

fn write_account(data: &Path) {
    fs::write(
        data.join("account.js"),
        r#"window.YTD.account.part0 = [ { "account" : { "username" : "tester", "accountId" : "42", "accountDisplayName" : "T" } } ]"#,
    )
    .unwrap();
}

#[test]
fn a_malformed_post_is_skipped_with_its_reason_and_the_rest_continue() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    write_account(&data);
    let good = r#"{ "tweet" : { "id_str" : "1001", "id" : "1001", "full_text" : "a good post", "created_at" : "Wed Oct 10 20:19:24 +0000 2018", "entities" : { "hashtags" : [ ], "urls" : [ ], "user_mentions" : [ ] }, "display_text_range" : [ "0", "11" ], "lang" : "en" } }"#;
    let bad = r#"{ "tweet" : { "id_str" : "1002", "full_text" : "no date on this one" } }"#;
    fs::write(
        data.join("tweets.js"),
        format!("window.YTD.tweets.part0 = [ {good}, {bad} ]"),
    )
    .unwrap();
    let s = Setup::with_archive(dir.path());
    s.backfill()
        .assert()
        .success()
        .stdout(predicate::str::contains("1 malformed"));
    assert_eq!(s.lines().len(), 1);
    // Backfilled posts close with the date line (`backfill_date_line`, on by default).
    assert_eq!(
        s.lines()[0]["text"],
        "a good post\n\nOriginally posted on 2018-10-10"
    );
    s.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("skipped 1"));
    let ledger = Ledger::open(&s.ledger_path()).unwrap();
    let row = ledger.parts_of_post("demo", "1002", "preview").unwrap();
    assert_eq!(row.len(), 1);
    assert_eq!(row[0].state, PartState::Skipped);
    assert!(
        row[0].reason.as_deref().unwrap().starts_with("malformed: "),
        "{:?}",
        row[0].reason
    );
}

#[test]
fn usage_errors_exit_2() {
    Command::cargo_bin("birdbridge")
        .unwrap()
        .args(["backfill"])
        .assert()
        .code(2);
}

#[test]
fn alt_text_hold_holds_posts_for_review_until_a_person_releases_them() {
    let s = Setup::new();
    s.set_route_keys("alt_text = \"hold\"\n");
    s.backfill().assert().success();
    let posted: Vec<String> = s
        .lines()
        .iter()
        .map(|l| l["source_post_id"].as_str().unwrap().to_owned())
        .collect();
    // The sample's photo, video and GIF without alt text.
    let held = [
        "1257672029893586944",
        "1333452013433810944",
        "1377576473195474944",
    ];
    for id in held {
        assert!(!posted.iter().any(|p| p == id), "{id} was posted");
    }
    s.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("quarantined 0 held 3"))
        .stdout(predicate::str::contains("review: 3 post(s) held"));
    s.cmd()
        .args(["hold", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "post 1333452013433810944 (2020-11-30): held since",
        ))
        .stdout(predicate::str::contains(
            "video 1 of 1 without alt text (alt_text = \"hold\")",
        ));
    // Held posts are not delivered by a rerun, nor when the policy changes: a person
    // decides.
    s.backfill()
        .assert()
        .success()
        .stdout(predicate::str::contains("0 new post(s) delivered"));
    s.set_route_keys("alt_text = \"omit\"\n");
    s.backfill()
        .assert()
        .success()
        .stdout(predicate::str::contains("0 new post(s) delivered"));

    // Described and released: delivered once, with the description.
    s.cmd()
        .args([
            "hold", "describe", "--route", "demo", "--post", held[1], "--media", "1",
        ])
        .args(["--text", "A lighthouse at dusk"])
        .assert()
        .success();
    s.cmd()
        .args(["hold", "release", "--route", "demo", "--post", held[1]])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 part(s) delivered, 0 failed"));
    let lines = s.lines();
    let line = lines
        .iter()
        .find(|l| l["source_post_id"] == held[1])
        .unwrap();
    assert_eq!(
        line["media"][0]["description"], "A lighthouse at dusk",
        "{line}"
    );
    assert_exactly_once_and_ordered(&lines);
    s.cmd()
        .args(["hold", "release", "--route", "demo", "--post", held[1]])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("released meanwhile by cli:"));
    s.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("review: 2 post(s) held"));
}

/// `status --json | head`: a reader that goes away before the report is written ends the
/// output quietly, with exit 0, instead of a panic (`print!` panics on a closed pipe).
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::process::Stdio;
    let s = Setup::new();
    s.backfill().assert().success();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("birdbridge"))
        .arg("--config")
        .arg(&s.config)
        .args(["status", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the binary has read its configuration and ledger.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
