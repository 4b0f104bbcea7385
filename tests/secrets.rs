//! Tokens never leave their hiding place: with known tokens, the binary backfills the sample
//! archive into the fake fediverse server, previews it (`--dry-run`), runs a daemon cycle
//! (`once`) against the fake X API, reports `status` and runs `check`, all with every log
//! line on (`BIRDBRIDGE_LOG=trace`); then every byte it printed, the ledger files and the
//! dry-run output are searched for the tokens. And `check` warns when a configuration file
//! holding an inline token can be read by other accounts.

mod fake_fedi;
mod fake_x;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use birdbridge::clock::Clock;
use fake_fedi::{FakeFedi, Personality};
use fake_x::FakeX;
use tempfile::TempDir;

const X_TOKEN: &str = "x-known-secret-5c1e0b7a9d";

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

fn run(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("birdbridge")
        .unwrap()
        .arg("--config")
        .arg(config)
        .args(args)
        .env("BIRDBRIDGE_LOG", "trace")
        .env_remove("BIRDBRIDGE_TEST_CRASH_AT")
        .env_remove("BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// Every place a token could leak to, after a full workout.
#[test]
fn tokens_appear_in_no_log_ledger_output_or_report() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fedi = rt.block_on(FakeFedi::start(Personality::Mastodon, Clock::System));
    for family in ["statuses", "media", "requests"] {
        fedi.set_limit(family, 1_000_000, chrono::Duration::hours(3));
    }
    fedi.state().processing = chrono::Duration::zero();
    let x = FakeX::start_in_thread(Clock::System);
    x.add_user("42", "birdbridge_t");
    x.accept_token(X_TOKEN);
    x.posts("42", 3);

    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("x.token"), format!("{X_TOKEN}\n")).unwrap();
    fs::write(
        dir.path().join("fedi.token"),
        format!("{}\n", fake_fedi::TOKEN),
    )
    .unwrap();
    let config = dir.path().join("bridge.toml");
    fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.archive]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
             [sources.live]\nkind = \"x\"\nusername = \"birdbridge_t\"\ntoken_file = \"x.token\"\n\
             schedule = \"0 * * * * *\"\napi_url = \"{}\"\n\n\
             [targets.fedi]\nkind = \"mastodon\"\nurl = \"{}\"\ntoken_file = \"fedi.token\"\nbackfill_share = 1.0\n\n\
             [targets.preview]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
             [routes.old]\nsource = \"archive\"\ntargets = [\"fedi\", \"preview\"]\n\n\
             [routes.new]\nsource = \"live\"\ntargets = [\"fedi\", \"preview\"]\n",
            sample_archive().display().to_string(),
            x.url(),
            fedi.url,
        ),
    )
    .unwrap();

    // A new source starts after the newest post: a first cycle, then a live post for the next.
    let (code, mut printed) = run(&config, &["once"]);
    assert_eq!(code, Some(0), "{printed}");
    x.post("42", "a live post to mirror", serde_json::json!({}));
    for args in [
        &["backfill", "--route", "old", "--dry-run"][..],
        &["backfill", "--route", "old"],
        &["once"],
        &["status"],
        &["check"],
    ] {
        let (code, text) = run(&config, args);
        assert!(
            matches!(code, Some(0 | 1)),
            "{args:?} exited {code:?}: {text}"
        );
        printed.push_str(&text);
    }
    // The workout really happened: statuses went out from both routes, and the log is full.
    assert!(
        fedi.statuses().len() >= 13,
        "{} statuses",
        fedi.statuses().len()
    );
    assert!(x.timeline_requests() > 0, "the X token was used");
    assert!(
        fedi.statuses()
            .iter()
            .any(|s| s.text.contains("a live post to mirror")),
        "the live post was mirrored"
    );
    assert!(printed.lines().count() > 100, "few log lines: {printed}");
    assert!(printed.contains("TRACE") || printed.contains("DEBUG"));

    let mut places: Vec<(String, Vec<u8>)> = vec![("printed output".into(), printed.into_bytes())];
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("ledger.sqlite") || name == "out.jsonl" {
            places.push((name, fs::read(&path).unwrap()));
        }
    }
    assert!(places.len() >= 3, "ledger and output expected: {places:?}");
    for token in [X_TOKEN, fake_fedi::TOKEN] {
        for (place, bytes) in &places {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "the token {token} leaked into {place}"
            );
        }
    }
}

fn inline_token_config(dir: &Path, mode: u32) -> PathBuf {
    let config = dir.join("bridge.toml");
    fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n\
             [sources.live]\nkind = \"x\"\nusername = \"birdbridge_t\"\ntoken = \"{X_TOKEN}\"\n\
             schedule = \"0 * * * * *\"\n\n\
             [targets.preview]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
             [routes.new]\nsource = \"live\"\ntargets = [\"preview\"]\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&config, fs::Permissions::from_mode(mode)).unwrap();
    }
    config
}

#[cfg(unix)]
#[test]
fn check_warns_about_a_readable_configuration_holding_a_token() {
    let dir = TempDir::new().unwrap();
    for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false)] {
        let config = inline_token_config(dir.path(), mode);
        let (code, text) = run(&config, &["check"]);
        assert_eq!(code, Some(0), "a warning does not fail the check: {text}");
        assert_eq!(
            text.contains("warning: `sources.live.token`") && text.contains("chmod 600"),
            warned,
            "mode {mode:o}: {text}"
        );
        assert!(!text.contains(X_TOKEN), "the token printed: {text}");
    }
}
