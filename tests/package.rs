//! What packaging consumes: the manual pages and shell completions the hidden `generate`
//! command writes, and the systemd unit pointing at the manual.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use tempfile::TempDir;

#[test]
fn generate_writes_manual_pages_for_every_command() {
    let dir = TempDir::new().unwrap();
    Command::cargo_bin("birdbridge")
        .unwrap()
        .args(["generate", "man"])
        .arg(dir.path())
        .assert()
        .success();
    let main = fs::read_to_string(dir.path().join("birdbridge.1")).unwrap();
    assert!(main.contains(".TH birdbridge 1"), "{main}");
    for sub in ["backfill", "run", "status", "quarantine", "hold", "auth"] {
        assert!(main.contains(sub), "birdbridge.1 does not list {sub}");
        let page = dir.path().join(format!("birdbridge-{sub}.1"));
        assert!(page.is_file(), "{} missing", page.display());
    }
    // The hidden command documents nothing.
    assert!(!dir.path().join("birdbridge-generate.1").exists());
}

#[test]
fn generate_writes_completions_for_bash_zsh_and_fish() {
    let dir = TempDir::new().unwrap();
    Command::cargo_bin("birdbridge")
        .unwrap()
        .args(["generate", "completions"])
        .arg(dir.path())
        .assert()
        .success();
    for file in ["birdbridge.bash", "_birdbridge", "birdbridge.fish"] {
        let text = fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.contains("quarantine"), "{file} lacks the subcommands");
    }
}

#[test]
fn the_unit_points_at_the_manual_and_every_packaged_file_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = fs::read_to_string(root.join("systemd/birdbridge.service")).unwrap();
    assert!(unit.contains("\nDocumentation=man:birdbridge(1)\n"));
    // Every asset cargo-deb packages from the source tree is there (the generated ones are
    // checked above; they are written to target/assets by the release steps).
    let manifest: toml::Table = fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let assets = manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap();
    assert!(!assets.is_empty());
    for asset in assets {
        let source = asset[0].as_str().unwrap();
        if source.starts_with("target/") {
            continue;
        }
        assert!(
            root.join(source).is_file(),
            "{source} is packaged but missing"
        );
    }
}
