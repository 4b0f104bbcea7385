//! The bad-input catalogue, through the real binary: broken configurations (exit 78, the
//! message names the file and the key), corrupt archives (a clear error naming the archive
//! and the file inside it; nothing written: no ledger rows, no output) and archive quirks
//! that must be read whole (a BOM, CRLF line ends, no manifest, a manifest naming absent
//! files).
//!
//! Hostile X API answers, feeds and media are in `tests/fuzz.rs` (mutated answers), the
//! feed tests (`tests/feed.rs`: private addresses, sizes) and the unit tests of
//! `src/fetch.rs`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use rstest::rstest;
use tempfile::TempDir;

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

const TARGET: &str = "[targets.t]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n";
const ROUTE: &str = "[routes.r]\nsource = \"s\"\ntargets = [\"t\"]\n";

fn source(archive: &Path) -> String {
    format!(
        "[sources.s]\nkind = \"archive\"\npath = {:?}\n",
        archive.display().to_string()
    )
}

/// A folder with `bridge.toml` holding `text`.
struct Case {
    dir: TempDir,
}

impl Case {
    fn new(text: &str) -> Self {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("bridge.toml"), text).unwrap();
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("bridge.toml")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::cargo_bin("birdbridge").unwrap();
        cmd.arg("--config").arg(self.config()).args(args);
        cmd.env("BIRDBRIDGE_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Nothing was written next to the configuration but the configuration itself (and
    /// an empty ledger, which opening may create).
    fn assert_nothing_written(&self) {
        let ledger = self.dir.path().join("ledger.sqlite");
        if ledger.exists() {
            let conn = rusqlite_free_count(&ledger);
            assert_eq!(conn, 0, "the ledger holds parts");
        }
        let out = self.dir.path().join("out.jsonl");
        assert!(
            !out.exists() || fs::read(&out).unwrap().is_empty(),
            "the dry-run output was written"
        );
    }
}

/// Parts in a ledger, through the library (read-only use).
fn rusqlite_free_count(ledger: &Path) -> u64 {
    let ledger = birdbridge::store::Ledger::open(ledger).unwrap();
    ledger.state_counts().unwrap().iter().map(|c| c.count).sum()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------
// Configurations

const LEDGER: &str = "[ledger]\npath = \"ledger.sqlite\"\n";
const X: &str = "[sources.x]\nkind = \"x\"\nusername = \"birdbridge_t\"\ntoken_file = \"x.token\"\nschedule = \"0 */5 * * * *\"\n";
const MASTODON: &str =
    "[targets.m]\nkind = \"mastodon\"\nurl = \"https://m.example\"\ntoken_file = \"m.token\"\n";

/// 30 broken configurations; each must exit 78 with a message naming the file and `key`.
#[rstest]
#[case::unknown_top_level_key(&["colour = \"blue\"\n"], "colour")]
#[case::ledger_path_not_a_string(&["[ledger]\npath = 5\n"], "ledger.path")]
#[case::ledger_unknown_key(&["[ledger]\npath = \"l\"\njournal = \"wal\"\n"], "ledger.journal")]
#[case::source_without_kind(&["[sources.s]\npath = \"a.zip\"\n", TARGET, ROUTE], "sources.s.kind")]
#[case::archive_path_not_a_string(&["[sources.s]\nkind = \"archive\"\npath = [1]\n", TARGET, ROUTE], "sources.s.path")]
#[case::x_bad_username(&[&X.replace("birdbridge_t", "not valid!"), TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.username")]
#[case::x_bad_schedule(&[&X.replace("0 */5 * * * *", "hourly"), TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.schedule")]
#[case::x_api_url_not_a_url(&[X, "api_url = \"api.x.com\"\n", TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.api_url")]
#[case::x_without_token(&["[sources.x]\nkind = \"x\"\nusername = \"a\"\nschedule = \"0 * * * * *\"\n", TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.token_file")]
#[case::feed_url_not_http(&["[sources.f]\nkind = \"feed\"\nurl = \"ftp://feeds.example/a\"\nschedule = \"0 * * * * *\"\n", TARGET, "[routes.r]\nsource = \"f\"\ntargets = [\"t\"]\n"], "sources.f.url")]
#[case::target_kind_typo(&["SOURCE", "[targets.t]\nkind = \"gotosocail\"\n", ROUTE], "targets.t.kind")]
#[case::target_without_url(&["SOURCE", "[targets.m]\nkind = \"mastodon\"\ntoken_file = \"m.token\"\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.url")]
#[case::target_url_not_a_url(&["SOURCE", &MASTODON.replace("https://m.example", "m example"), "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.url")]
#[case::target_two_token_forms(&["SOURCE", MASTODON, "token_env = \"TOK\"\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.token")]
#[case::target_empty_token_env(&["SOURCE", "[targets.m]\nkind = \"mastodon\"\nurl = \"https://m.example\"\ntoken_env = \"\"\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.token_env")]
#[case::dry_run_output_not_a_string(&["SOURCE", "[targets.t]\nkind = \"dry-run\"\noutput = 5\n", ROUTE], "targets.t.output")]
#[case::max_characters_zero(&["SOURCE", MASTODON, "max_characters = 0\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.max_characters")]
#[case::max_media_negative(&["SOURCE", MASTODON, "max_media_attachments = -4\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.max_media_attachments")]
#[case::backfill_share_above_one(&["SOURCE", MASTODON, "backfill_share = 1.5\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.backfill_share")]
#[case::timeout_zero(&["SOURCE", MASTODON, "timeout_seconds = 0\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.timeout_seconds")]
#[case::route_unknown_source(&["SOURCE", TARGET, "[routes.r]\nsource = \"nope\"\ntargets = [\"t\"]\n"], "routes.r.source")]
#[case::route_unknown_target(&["SOURCE", TARGET, "[routes.r]\nsource = \"s\"\ntargets = [\"tt\"]\n"], "routes.r.targets")]
#[case::route_no_targets(&["SOURCE", TARGET, "[routes.r]\nsource = \"s\"\ntargets = []\n"], "routes.r.targets")]
#[case::route_bad_visibility(&["SOURCE", TARGET, ROUTE, "visibility = \"everyone\"\n"], "routes.r.visibility")]
#[case::route_bad_reposts(&["SOURCE", TARGET, ROUTE, "reposts = \"always\"\n"], "routes.r.reposts")]
#[case::route_max_age_negative(&["SOURCE", TARGET, ROUTE, "max_age_days = -1\n"], "routes.r.max_age_days")]
#[case::route_opt_out_tags_not_a_list(&["SOURCE", TARGET, ROUTE, "opt_out_tags = \"noxp\"\n"], "routes.r.opt_out_tags")]
#[case::route_mention_map_bad_handle(&["SOURCE", TARGET, ROUTE, "mention_map = { ann_example = \"ann\" }\n"], "routes.r.mention_map")]
#[case::toml_duplicate_key(&["SOURCE", "[targets.t]\nkind = \"dry-run\"\nkind = \"dry-run\"\noutput = \"o\"\n", ROUTE], "kind")]
#[case::toml_unclosed_string(&["SOURCE", TARGET, "[routes.r]\nsource = \"s\ntargets = [\"t\"]\n"], "line")]
fn broken_configurations_exit_78_naming_the_file_and_key(
    #[case] parts: &[&str],
    #[case] key: &str,
) {
    let archive = source(&sample_archive());
    let ledger = if parts[0].starts_with("[ledger]") {
        ""
    } else {
        LEDGER
    };
    let text: String = std::iter::once(ledger)
        .chain(
            parts
                .iter()
                .map(|p| if *p == "SOURCE" { archive.as_str() } else { p }),
        )
        .collect();
    let case = Case::new(&text);
    for args in [&["backfill", "--route", "r"][..], &["once"], &["status"]] {
        let out = case.run(args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(
            err.contains("bridge.toml"),
            "{args:?}: no file named: {err}"
        );
        assert!(err.contains(key), "{args:?}: key `{key}` not named: {err}");
    }
    case.assert_nothing_written();
}

/// An environment override with a broken value is named by its key too.
#[test]
fn a_broken_environment_override_exits_78_naming_the_key() {
    let case = Case::new(&format!(
        "{LEDGER}{}{MASTODON}[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n",
        source(&sample_archive())
    ));
    let out = case.run(
        &["backfill", "--route", "r"],
        &[("BIRDBRIDGE__TARGETS__M__MAX_CHARACTERS", "many")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("max_characters"), "{err}");
    case.assert_nothing_written();
}
