//! Media an archive does not hold, through the binary (`birdbridge backfill`) into the fake
//! Mastodon server, with a local stand-in for X's media host (`media_host`,
//! `tests/support/x_hosts.rs`):
//! - a classic archive (no media files; `tests/fixtures/classic-archive-media/`): its photos
//!   are downloaded and arrive attached with their `media_alt` descriptions, each downloaded
//!   once;
//! - the media host down: the posts go out with the link to the original and its
//!   description in the text, and a warning recorded;
//! - a current archive missing one media file (the bundled sample): that one is downloaded,
//!   the other is read from the archive;
//! - `--dry-run` downloads nothing and says the media are downloaded on delivery;
//! - a backfill killed after a photo was uploaded (the crash point `media-uploaded`) or with
//!   a download in flight (SIGKILL), then resumed, uploads each photo once.

mod fake_fedi;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use birdbridge::clock::Clock;
use birdbridge::store::{Ledger, PartKey};
use fake_fedi::{FakeFedi, Personality, Stored, StoredMedia, TOKEN};
use support::config::Config;
use support::x_hosts::FakeMediaHost;
use tempfile::TempDir;

/// The classic fixture's photos: the media host's path, and the `media_alt` ("" for none).
const PHOTOS: [(&str, &str); 4] = [
    (
        "/media/CsAa1Bb2WgAAtide",
        "Mudflats at low tide, three fishing boats lying on their sides near the harbour wall.",
    ),
    (
        "/media/CsBb2Cc3WkAApre",
        "The pier before the storm, a row of lamps along it.",
    ),
    (
        "/media/CsBb2Cc3WkBBpost",
        "The same pier after the storm: two of the lamps are gone.",
    ),
    ("/media/CsCc3Dd4XgAAsun", ""),
];

/// What the route says of a photo without a description.
const FALLBACK: &str = "Image from the original post; no description was provided.";

fn classic_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classic-archive-media")
}

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

/// Some bytes the media host serves as a JPEG; each photo's are different.
fn jpeg(i: usize) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xd8, 0xff, 0xe0];
    bytes.extend(std::iter::repeat_n(u8::try_from(i).unwrap(), 1000 + i));
    bytes
}

/// The fake Mastodon, the media host serving the classic fixture's photos, and a
/// configuration: archive source `old` reaching X's media host at the fake, route `r` to
/// target `t`.
struct World {
    dir: TempDir,
    fedi: FakeFedi,
    host: FakeMediaHost,
    config: PathBuf,
}

impl World {
    async fn new(archive: &Path, host_up: bool) -> Self {
        let fedi = FakeFedi::start(Personality::Mastodon, Clock::System).await;
        fedi.state().processing = chrono::Duration::zero();
        let host = FakeMediaHost::start().await;
        for (i, (path, _)) in PHOTOS.iter().enumerate() {
            host.serve(path, "image/jpeg", jpeg(i));
        }
        let host_url = if host_up {
            host.url.clone()
        } else {
            format!("http://127.0.0.1:{}", support::free_port())
        };
        let dir = TempDir::new().unwrap();
        let config = Config::new(dir.path())
            .archive_source("old", archive)
            .set("media_host", &host_url)
            .set("missing_media", "download")
            .set_raw("allow_private_media", "true")
            .fedi_target("t", "mastodon", &fedi.url, TOKEN)
            .set_raw("backfill_share", "1.0")
            .route("r", "old", &["t"])
            .write();
        Self {
            dir,
            fedi,
            host,
            config,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_birdbridge"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(["backfill", "--route", "r"])
            .args(args)
            .env("BIRDBRIDGE_LOG", "warn")
            .env_remove("BIRDBRIDGE_TEST_CRASH_AT")
            .env_remove("BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES")
            .stdin(Stdio::null());
        cmd
    }

    /// `birdbridge backfill --route r ARGS`, off the test's runtime.
    async fn backfill(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// The statuses with their uploads, in creation order.
    fn statuses(&self) -> Vec<(Stored, Vec<StoredMedia>)> {
        self.fedi
            .statuses()
            .into_iter()
            .map(|s| {
                let media = s.media_ids.iter().map(|id| self.fedi.media(id)).collect();
                (s, media)
            })
            .collect()
    }

    fn uploads(&self) -> Vec<StoredMedia> {
        self.fedi.state().media.clone()
    }

    fn warnings(&self, post: &str) -> Vec<String> {
        let ledger = Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap();
        ledger.warnings(&PartKey::new("r", post, "t", 0)).unwrap()
    }
}

fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each of the classic fixture's posts arrived once, with its photos attached in order and
/// described by their `media_alt` (the route's fallback where it is empty), no link to X's
/// media host in the text, and every upload used by a status.
fn classic_posts_arrived_with_their_photos(world: &World) {
    let statuses = world.statuses();
    let texts: Vec<&str> = statuses.iter().map(|(s, _)| s.text.as_str()).collect();
    assert_eq!(statuses.len(), 3, "{texts:#?}");
    let expected = [
        ("Low tide this morning", &PHOTOS[..1]),
        ("Before and after the storm", &PHOTOS[1..3]),
        ("Sunset over the breakwater", &PHOTOS[3..]),
    ];
    for ((status, media), (start, photos)) in statuses.iter().zip(expected) {
        assert!(status.text.starts_with(start), "{}", status.text);
        assert!(!status.text.contains("pbs.twimg.com"), "{}", status.text);
        let got: Vec<(&str, usize, &str)> = media
            .iter()
            .map(|m| {
                (
                    m.description.as_deref().unwrap_or_default(),
                    m.size,
                    m.content_type.as_str(),
                )
            })
            .collect();
        let want: Vec<(&str, usize, &str)> = photos
            .iter()
            .map(|(path, alt)| {
                let i = PHOTOS.iter().position(|p| p.0 == *path).unwrap();
                let alt = if alt.is_empty() { FALLBACK } else { alt };
                (alt, jpeg(i).len(), "image/jpeg")
            })
            .collect();
        assert_eq!(got, want, "{}", status.text);
    }
    let used: usize = statuses.iter().map(|(s, _)| s.media_ids.len()).sum();
    assert_eq!(
        world.uploads().len(),
        used,
        "every upload belongs to a status"
    );
}

/// The media host's requests, by path, sorted.
fn paths(requests: &[String]) -> Vec<String> {
    let mut paths: Vec<String> = requests
        .iter()
        .map(|r| r.split('?').next().unwrap().to_owned())
        .collect();
    paths.sort();
    paths
}

fn classic_paths() -> Vec<String> {
    let mut all: Vec<String> = PHOTOS.iter().map(|p| p.0.to_owned()).collect();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_archives_photos_are_downloaded_and_attached_with_their_descriptions() {
    let world = World::new(&classic_fixture(), true).await;
    succeeded(&world.backfill(&[]).await);
    classic_posts_arrived_with_their_photos(&world);
    let requests = world.host.requests();
    assert_eq!(
        paths(&requests),
        classic_paths(),
        "each photo downloaded once"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.ends_with("?format=jpg&name=large")),
        "photos are asked for in their large size: {requests:?}"
    );

    // A rerun asks for nothing more.
    succeeded(&world.backfill(&[]).await);
    assert_eq!(world.host.requests().len(), 4);
    assert_eq!(world.fedi.statuses().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_media_host_down_the_links_and_descriptions_go_into_the_text() {
    let world = World::new(&classic_fixture(), false).await;
    succeeded(&world.backfill(&[]).await);
    let statuses = world.statuses();
    assert_eq!(statuses.len(), 3);
    assert!(world.uploads().is_empty());
    let link = |name: &str| format!("https://pbs.twimg.com/media/{name}.jpg");
    let (low_tide, storm, sunset) = (&statuses[0].0, &statuses[1].0, &statuses[2].0);
    assert!(
        low_tide.text.contains(&format!(
            "{}\nImage description: {}",
            link("CsAa1Bb2WgAAtide"),
            PHOTOS[0].1
        )),
        "{}",
        low_tide.text
    );
    for (name, alt) in [
        ("CsBb2Cc3WkAApre", PHOTOS[1].1),
        ("CsBb2Cc3WkBBpost", PHOTOS[2].1),
    ] {
        assert!(
            storm
                .text
                .contains(&format!("{}\nImage description: {alt}", link(name))),
            "{}",
            storm.text
        );
    }
    // No description of the author's own: the link alone (the route's fallback is for
    // screen readers of an attachment, not for the text).
    assert!(sunset.text.contains(&link("CsCc3Dd4XgAAsun")));
    assert!(!sunset.text.contains("description"), "{}", sunset.text);

    let warnings = world.warnings("776000000000000101");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("cannot fetch media") && w.contains("with its description")),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_missing_from_a_current_archive_is_downloaded() {
    let world = World::new(&sample_archive(), true).await;
    // The sample's post of 2020-05-05 has two photos; the archive holds only the first.
    world
        .host
        .serve("/media/EXa9Zy8Xw7Vu6Ts", "image/jpeg", jpeg(9));
    succeeded(
        &world
            .backfill(&["--since", "2020-05-05", "--until", "2020-05-05"])
            .await,
    );
    let statuses = world.statuses();
    assert_eq!(statuses.len(), 1);
    let (status, media) = &statuses[0];
    assert!(status.text.starts_with("Two pages from an old notebook"));
    assert!(!status.text.contains("pbs.twimg.com"), "{}", status.text);
    let files: Vec<(&str, &str, usize)> = media
        .iter()
        .map(|m| (m.file_name.as_str(), m.content_type.as_str(), m.size))
        .collect();
    let in_archive = std::fs::metadata(
        sample_archive().join("data/tweets_media/1257672029893586944-EXa1Bc2De3Fg4Hi.png"),
    )
    .unwrap()
    .len();
    assert_eq!(
        files,
        [
            (
                "1257672029893586944-EXa1Bc2De3Fg4Hi.png",
                "image/png",
                usize::try_from(in_archive).unwrap()
            ),
            ("EXa9Zy8Xw7Vu6Ts.jpg", "image/jpeg", jpeg(9).len()),
        ]
    );
    assert_eq!(
        world.host.requests(),
        ["/media/EXa9Zy8Xw7Vu6Ts?format=jpg&name=large"],
        "only the missing file is downloaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_downloads_nothing_and_says_so() {
    let world = World::new(&classic_fixture(), true).await;
    let out = world.backfill(&["--dry-run"]).await;
    succeeded(&out);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("(downloaded on delivery)"), "{shown}");
    assert!(
        shown.contains("/media/CsAa1Bb2WgAAtide?format=jpg&name=large"),
        "{shown}"
    );
    assert!(world.host.requests().is_empty());
    assert!(world.fedi.statuses().is_empty() && world.uploads().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_aborted_after_an_upload_uploads_each_photo_once_when_resumed() {
    let world = World::new(&classic_fixture(), true).await;
    let mut cmd = world.command(&[]);
    cmd.env("BIRDBRIDGE_TEST_CRASH_AT", "media-uploaded:1");
    let aborted = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!aborted.status.success());
    assert_eq!(world.uploads().len(), 1, "the first photo is at the server");
    assert!(world.fedi.statuses().is_empty(), "its status is not");

    succeeded(&world.backfill(&[]).await);
    classic_posts_arrived_with_their_photos(&world);
    assert_eq!(world.uploads().len(), 4, "each photo uploaded once");
    assert_eq!(
        paths(&world.host.requests()),
        classic_paths(),
        "the uploaded photo is not downloaded again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_during_a_download_uploads_each_photo_once_when_resumed() {
    let world = World::new(&classic_fixture(), true).await;
    world.host.hold(true);
    let mut child = support::KillOnDrop(world.command(&[]).stdout(Stdio::null()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while world.host.requests().is_empty() {
        assert!(Instant::now() < deadline, "no download began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SIGKILL, with the first photo's download in flight.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    world.host.hold(false);
    assert!(world.uploads().is_empty() && world.fedi.statuses().is_empty());

    succeeded(&world.backfill(&[]).await);
    classic_posts_arrived_with_their_photos(&world);
    assert_eq!(world.uploads().len(), 4, "each photo uploaded once");
}

/// A post held for review while X's media host did not give its photos is asked for them
/// again when released: they are attached with their descriptions, not left as links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_posts_photos_the_host_did_not_give_are_asked_again_at_release() {
    let fedi = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    fedi.state().processing = chrono::Duration::zero();
    // Up, but serving nothing yet: every photo is a 404 while the posts are held.
    let host = FakeMediaHost::start().await;
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .archive_source("old", &classic_fixture())
        .set("media_host", &host.url)
        .set("missing_media", "download")
        .set_raw("allow_private_media", "true")
        .fedi_target("t", "mastodon", &fedi.url, TOKEN)
        .set_raw("backfill_share", "1.0")
        .route("r", "old", &["t"])
        .set("review", "all")
        .write();
    let world = World {
        dir,
        fedi,
        host,
        config,
    };
    succeeded(&world.backfill(&[]).await);
    assert!(world.fedi.statuses().is_empty(), "every post is held");
    let asked_while_held = world.host.requests().len();
    assert_eq!(
        asked_while_held,
        PHOTOS.len(),
        "{:?}",
        world.host.requests()
    );

    for (i, (path, _)) in PHOTOS.iter().enumerate() {
        world.host.serve(path, "image/jpeg", jpeg(i));
    }
    for post in [
        "776000000000000101",
        "776400000000000202",
        "776800000000000303",
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_birdbridge"));
        cmd.arg("--config")
            .arg(&world.config)
            .args(["hold", "release", "--route", "r", "--post", post])
            .env("BIRDBRIDGE_LOG", "warn")
            .stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        succeeded(&out);
    }
    classic_posts_arrived_with_their_photos(&world);
    assert_eq!(
        world.host.requests().len(),
        asked_while_held + PHOTOS.len(),
        "each photo asked once more at release"
    );
}
