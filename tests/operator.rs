//! The operator commands through the binary: `quarantine list|retry|drop`, `hold
//! list|release`, `status --route` and `status --json` (validated against
//! `docs/status.schema.json`). Each change is checked against a dump of the whole ledger:
//! exactly the rows it names change, and one audit row per change is written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use birdbridge::store::{Ledger, PartKey};
use chrono::Utc;
use predicates::prelude::*;
use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

/// Two posts of the sample archive, each one part long.
const A: &str = "1175108137120722944";
const B: &str = "1711685544309714944";
/// A sample post with a video without alt text.
const VIDEO: &str = "1333452013433810944";

struct Setup {
    dir: TempDir,
    config: PathBuf,
}

impl Setup {
    /// Routes `demo` (→ `preview`) and `other` (→ `second`) over the sample archive.
    fn new(route_keys: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("bridge.toml");
        let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
        fs::write(
            &config,
            format!(
                "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
                 [targets.preview]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
                 [targets.second]\nkind = \"dry-run\"\noutput = \"second.jsonl\"\n\n\
                 [routes.other]\nsource = \"sample\"\ntargets = [\"second\"]\n\n\
                 [routes.demo]\nsource = \"sample\"\ntargets = [\"preview\"]\n{route_keys}",
                archive.display().to_string()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("birdbridge").unwrap();
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("BIRDBRIDGE_LOG", "warn");
        cmd
    }

    fn backfill(&self) -> assert_cmd::assert::Assert {
        self.cmd(&["backfill", "--route", "demo"])
            .assert()
            .success()
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.sqlite")
    }

    fn delivered(&self) -> Vec<String> {
        let Ok(text) = fs::read_to_string(self.dir.path().join("out.jsonl")) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["source_post_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// Every part row, keyed by (route, post, target, part), without `updated_at`.
    fn dump(&self) -> BTreeMap<Key, Row> {
        dump_of(&self.ledger())
    }

    /// The audit trail, oldest first: (command, route, target, post, part, change, note).
    fn audit(&self) -> Vec<AuditRow> {
        audit_of(&self.ledger())
    }

    /// Quarantines the one-part post `id` on `demo → preview` after one failed attempt.
    fn quarantine(&self, id: &str) {
        let ledger = Ledger::open(&self.ledger()).unwrap();
        let now = Utc::now();
        ledger.plan_post("demo", id, "preview", 1, now).unwrap();
        let key = PartKey::new("demo", id, "preview", 0);
        ledger.begin_attempt(&key, now).unwrap();
        ledger
            .mark_failed(&key, "HTTP 422: rejected", now, 1, now)
            .unwrap();
    }

    fn status_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["status", "--json"];
        args.extend_from_slice(extra);
        let out = self
            .cmd(&args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    }
}

type Key = (String, String, String, u32);
type AuditRow = (
    String,
    String,
    String,
    String,
    Option<u32>,
    String,
    Option<String>,
);
type Row = (String, u32, Option<String>, Option<String>);

/// Every part row of the ledger at `path`, keyed by (route, post, target, part), without
/// `updated_at`.
fn dump_of(path: &Path) -> BTreeMap<Key, Row> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT route, source_post_id, target, part_index, state, attempts, reason, last_error FROM parts")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
            (r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?),
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The audit trail of the ledger at `path`, oldest first: (command, route, target, post,
/// part, change, note).
fn audit_of(path: &Path) -> Vec<AuditRow> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT command, route, target, source_post_id, part_index, change, note FROM operator_audit ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The rows that differ between two dumps: (key, before, after).
fn changes(
    before: &BTreeMap<Key, Row>,
    after: &BTreeMap<Key, Row>,
) -> Vec<(Key, Option<Row>, Option<Row>)> {
    let mut keys: Vec<&Key> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| ((*k).clone(), before.get(k).cloned(), after.get(k).cloned()))
        .collect()
}

fn key(post: &str) -> Key {
    ("demo".into(), post.into(), "preview".into(), 0)
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one story: quarantine, retry, rerun, drop, rerun"
)]
fn quarantine_retry_and_drop_change_exactly_what_they_say() {
    let s = Setup::new("");
    s.quarantine(A);
    s.quarantine(B);
    s.backfill();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 13);
    assert!(!delivered.iter().any(|p| p == A || p == B));

    s.cmd(&["quarantine", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "route demo target preview post {A} part 0: quarantined since"
        )))
        .stdout(predicate::str::contains(format!("post {B} part 0")))
        .stdout(predicate::str::contains(
            "after 1 attempt(s): HTTP 422: rejected",
        ));
    s.cmd(&["quarantine", "list", "--post", A])
        .assert()
        .success()
        .stdout(predicate::str::contains(B).not());

    // Retry A only.
    let before = s.dump();
    s.cmd(&["quarantine", "retry", "--post", A])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 part(s) put back for delivery"));
    let diff = changes(&before, &s.dump());
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].0, key(A));
    assert_eq!(
        diff[0].2,
        Some(("planned".into(), 0, None, Some("HTTP 422: rejected".into())))
    );
    assert_eq!(
        s.audit(),
        [(
            "quarantine retry".into(),
            "demo".into(),
            "preview".into(),
            A.into(),
            Some(0),
            "quarantined → planned".into(),
            None
        )]
    );
    // The next run delivers it, and nothing else.
    s.backfill()
        .stdout(predicate::str::contains("1 new post(s) delivered"));
    assert_eq!(s.delivered().iter().filter(|p| *p == A).count(), 1);

    // Drop needs a selection: nothing changes without one.
    let before = s.dump();
    s.cmd(&["quarantine", "drop", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "needs at least one of --route, --target, --post",
        ));
    assert_eq!(s.dump(), before);
    // A route without quarantined parts: nothing changes, no audit row.
    s.cmd(&["quarantine", "drop", "--route", "other", "--reason", "x"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 part(s) given up"));
    assert_eq!(s.dump(), before);
    assert_eq!(s.audit().len(), 1);

    s.cmd(&[
        "quarantine",
        "drop",
        "--route",
        "demo",
        "--reason",
        "said elsewhere",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(format!(
        "post {B} part 0: given up"
    )));
    let diff = changes(&before, &s.dump());
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(diff[0].0, key(B));
    assert_eq!(
        diff[0].2,
        Some((
            "skipped".into(),
            1,
            Some("dropped by an operator: said elsewhere".into()),
            Some("HTTP 422: rejected".into())
        ))
    );
    let audit = s.audit();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].0, "quarantine drop");
    assert_eq!(audit[1].5, "quarantined → skipped");
    assert_eq!(audit[1].6.as_deref(), Some("said elsewhere"));
    // A dropped post stays given up.
    s.backfill()
        .stdout(predicate::str::contains("0 new post(s) delivered"));
    s.cmd(&["quarantine", "list"])
        .assert()
        .success()
        .stdout("no quarantined parts\n");
    s.cmd(&["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
        "quarantine drop: demo → preview post {B} part 0: quarantined → skipped (said elsewhere)"
    )));
}

#[test]
fn hold_release_mirrors_one_held_post_and_keeps_the_policy() {
    let s = Setup::new("alt_text = \"hold\"\n");
    s.backfill();
    s.cmd(&["hold", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "route demo target preview post {VIDEO} (2020-11-30): held since "
        )))
        .stdout(predicate::str::contains(
            "video 1 of 1 without alt text (alt_text = \"hold\")",
        ))
        .stdout(predicate::function(|out: &str| out.lines().count() == 3));
    // Held posts are not quarantined parts.
    s.cmd(&["quarantine", "list"])
        .assert()
        .success()
        .stdout("no quarantined parts\n");

    let before = s.dump();
    s.cmd(&["hold", "release", "--route", "demo", "--post", VIDEO])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("post {VIDEO}: released")))
        .stdout(predicate::str::contains("1 part(s) delivered, 0 failed"));
    let diff = changes(&before, &s.dump());
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_eq!(s.delivered().iter().filter(|p| *p == VIDEO).count(), 1);
    // The review's audit trail, not the operator table (whose id the daemon watches).
    assert!(s.audit().is_empty());
    let ledger = Ledger::open(&s.ledger()).unwrap();
    let audit = ledger.review_audit("demo", VIDEO).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].change, "held → released");
    assert!(audit[0].actor.starts_with("cli:"));

    // Nothing more to release: an error, nothing changes.
    let before = s.dump();
    s.cmd(&["hold", "release", "--route", "demo", "--post", VIDEO])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "post {VIDEO} on target preview was released meanwhile"
        )));
    assert_eq!(s.dump(), before);

    // The policy still holds the other two; reruns deliver nothing more.
    s.backfill()
        .stdout(predicate::str::contains("0 new post(s) delivered"));
    assert_eq!(s.delivered().iter().filter(|p| *p == VIDEO).count(), 1);
    s.cmd(&["hold", "list"])
        .assert()
        .success()
        .stdout(predicate::function(|out: &str| out.lines().count() == 2))
        .stdout(predicate::str::contains(VIDEO).not());
}

fn validator() -> (boon::Schemas, boon::SchemaIndex) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status.schema.json");
    let schema: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource("status.schema.json", schema).unwrap();
    let index = compiler
        .compile("status.schema.json", &mut schemas)
        .unwrap();
    (schemas, index)
}

fn assert_valid(schemas: &boon::Schemas, index: boon::SchemaIndex, doc: &Value) {
    if let Err(err) = schemas.validate(doc, index) {
        panic!("status --json does not follow its schema: {err:#}\n{doc:#}");
    }
}

#[test]
fn status_json_follows_its_schema_and_route_narrows_it() {
    let (schemas, index) = validator();
    let s = Setup::new("alt_text = \"hold\"\n");
    // Before anything ran.
    let doc = s.status_json(&[]);
    assert_valid(&schemas, index, &doc);
    assert_eq!(doc["ledger"]["exists"], false);
    assert_eq!(doc["routes"].as_array().unwrap().len(), 2);

    s.quarantine(A);
    s.quarantine(B);
    s.backfill();
    s.cmd(&["quarantine", "retry", "--post", A])
        .assert()
        .success();
    let doc = s.status_json(&[]);
    assert_valid(&schemas, index, &doc);
    assert_eq!(doc["version"], 1);
    let demo = doc["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "demo")
        .unwrap();
    // 17 posts: 10 delivered, 2 skipped by policy, 3 held for review, 1 quarantined, 1
    // planned again.
    assert_eq!(demo["parts"]["posted"], 10);
    assert_eq!(demo["parts"]["skipped"], 2);
    assert_eq!(demo["parts"]["quarantined"], 1);
    assert_eq!(demo["parts"]["held"], 3);
    assert_eq!(demo["parts"]["planned"], 1);
    assert!(demo["lag_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(doc["review"]["held_posts"], 3);
    assert!(doc["review"]["oldest_age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(doc["waiting"]["total"], 2);
    let waiting = doc["waiting"]["listed"].as_array().unwrap();
    assert_eq!(waiting.iter().filter(|w| w["held"] == true).count(), 0);
    let b = waiting.iter().find(|w| w["post"] == B).unwrap();
    assert!(
        b["why"].as_str().unwrap().contains("quarantine retry"),
        "{b}"
    );
    assert_eq!(doc["operator_changes"][0]["command"], "quarantine retry");
    assert_eq!(doc["cursors"][0]["source"], "sample");
    // What waits and why, grouped: A, put back by `quarantine retry`, is due again (its old
    // error a reminder); quarantined and held parts are not in the groups.
    let groups = doc["waiting"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let g = &groups[0];
    assert_eq!(
        (
            &g["route"],
            &g["target"],
            &g["state"],
            &g["posts"],
            &g["parts"]
        ),
        (
            &Value::from("demo"),
            &Value::from("preview"),
            &Value::from("planned"),
            &Value::from(1),
            &Value::from(1)
        )
    );
    assert_eq!(
        g["why"],
        "due at the next run or cycle (last error: HTTP 422: rejected)"
    );
    assert_eq!(doc["backfills"]["daemon_pid"], Value::Null);
    assert_eq!(doc["backfills"]["jobs"], Value::Array(Vec::new()));

    // The schema is strict enough to fail: a missing field or an unknown one is refused.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("waiting");
    assert!(schemas.validate(&broken, index).is_err());
    let mut broken = doc.clone();
    broken["routes"][0]["parts"]["lost"] = 1.into();
    assert!(schemas.validate(&broken, index).is_err());

    // --route narrows every section.
    let other = s.status_json(&["--route", "other"]);
    assert_valid(&schemas, index, &other);
    let routes = other["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(
        (
            routes[0]["route"].as_str(),
            routes[0]["parts"]["posted"].as_u64()
        ),
        (Some("other"), Some(0))
    );
    assert_eq!(other["waiting"]["total"], 0);
    assert_eq!(other["operator_changes"], Value::Array(Vec::new()));
    s.cmd(&["status", "--route", "other"])
        .assert()
        .success()
        .stdout(predicate::str::contains("route other → second: posted 0"))
        .stdout(predicate::str::contains("demo").not());
    s.cmd(&["status", "--route", "demo"])
        .assert()
        .success()
        .stdout(predicate::str::contains("route demo → preview: posted 10"))
        .stdout(predicate::str::contains("other").not());
}

/// A daemon runs on the ledger (its heartbeat is fresh): `backfill` queues a job for it and
/// exits 0 without delivering; `status` and `status --json` show the job and the daemon.
#[test]
fn a_backfill_queued_for_a_running_daemon_shows_in_status() {
    let (schemas, index) = validator();
    let s = Setup::new("");
    // This test process stands for the daemon: its heartbeat names a process that runs.
    let pid = std::process::id();
    Ledger::open(&s.ledger())
        .unwrap()
        .beat(&birdbridge::alive::this_process(), Utc::now())
        .unwrap();
    let before = s.dump();
    assert!(before.is_empty());
    s.cmd(&["backfill", "--route", "other", "--limit", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("queued as job 1"));
    assert_eq!(
        s.dump(),
        before,
        "a queued backfill delivers nothing itself"
    );
    let doc = s.status_json(&[]);
    assert_valid(&schemas, index, &doc);
    assert_eq!(doc["backfills"]["daemon_pid"], pid);
    let job = &doc["backfills"]["jobs"][0];
    assert_eq!(
        (
            &job["id"],
            &job["route"],
            &job["state"],
            &job["limit"],
            &job["from_api"]
        ),
        (
            &Value::from(1),
            &Value::from("other"),
            &Value::from("queued"),
            &Value::from(3),
            &Value::from(false)
        )
    );
    let demo_only = s.status_json(&["--route", "demo"]);
    assert_valid(&schemas, index, &demo_only);
    assert_eq!(demo_only["backfills"]["jobs"], Value::Array(Vec::new()));
    s.cmd(&["status", "--route", "other"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "backfills queued for the daemon (pid {pid} runs):"
        )))
        .stdout(predicate::str::contains("job 1 route other: queued"));
}

/// A daemon killed with SIGKILL leaves a fresh heartbeat behind: when the process it names
/// is gone from this machine (its pid runs nothing, or a process started at another time),
/// `backfill` delivers inline instead of queueing a job nobody would run; `status` says no
/// daemon runs.
#[rstest::rstest]
#[case::pid_not_running(false)]
#[case::pid_reused(true)]
fn a_fresh_heartbeat_of_a_killed_daemon_does_not_hold_a_backfill(#[case] reused: bool) {
    let s = Setup::new("");
    let me = birdbridge::alive::this_process();
    if me.host.is_none() {
        // No /proc here: only the heartbeat's age can be judged.
        return;
    }
    let beat = if reused {
        // This test's own pid, but the daemon that wrote it started at another time.
        birdbridge::store::Heartbeat {
            started: me.started.map(|t| t + 1),
            ..me
        }
    } else {
        birdbridge::store::Heartbeat {
            pid: dead_pid(),
            ..me
        }
    };
    Ledger::open(&s.ledger())
        .unwrap()
        .beat(&beat, Utc::now())
        .unwrap();
    s.cmd(&["backfill", "--route", "other", "--limit", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("queued").not());
    assert_eq!(s.dump().len(), 3, "delivered inline");
    assert_eq!(s.status_json(&[])["backfills"]["daemon_pid"], Value::Null);
    let jobs = Ledger::open(&s.ledger()).unwrap().jobs(10).unwrap();
    assert!(jobs.is_empty(), "{jobs:?}");
}

/// The pid of a process that ran and ended.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn backup_copies_the_ledger_and_never_overwrites() {
    let s = Setup::new("");
    s.quarantine(A);
    s.backfill();
    s.cmd(&["quarantine", "retry", "--post", A])
        .assert()
        .success();
    let copy = s.dir.path().join("copy.sqlite");
    s.cmd(&["backup", copy.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "ledger copied to {} (schema version 12, 17 part(s))",
            copy.display()
        )));
    // The copy is a whole ledger: same parts, same audit trail, opens as a ledger.
    assert_eq!(dump_of(&copy), s.dump());
    assert_eq!(audit_of(&copy), s.audit());
    Ledger::open(&copy).unwrap();
    // Never over an existing file.
    s.cmd(&["backup", copy.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exists already"));
}
