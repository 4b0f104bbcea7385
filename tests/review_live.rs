//! A live post held for review by the daemon: its photo, downloaded once from the fake X
//! API's media host, is kept next to the ledger while the post waits (the stage it came
//! from is long gone), shown by media id, and uploaded from that copy with the person's
//! description when the post is released; the copy goes once the post is delivered.

#[path = "fake_fedi/mod.rs"]
mod fake_fedi;
#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::sync::Arc;

use birdbridge::clock::ManualClock;
use birdbridge::release::Deliverer;
use birdbridge::store::{EditField, PartState};
use chrono::Utc;
use fake_fedi::{FakeFedi, Personality};
use fake_x::media::Item;
use fake_x::FakeX;
use serde_json::json;
use support::config::Config;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

#[tokio::test]
async fn a_held_live_post_keeps_its_photo_until_it_is_released() {
    let clock = ManualClock::auto(Utc::now());
    let x = FakeX::start(clock.clone().into()).await;
    x.add_user(USER_ID, USERNAME);
    let fedi = FakeFedi::start(Personality::Mastodon, birdbridge::clock::Clock::System).await;
    fedi.state().processing = chrono::Duration::zero();
    let dir = TempDir::new().unwrap();
    let config = write_config(&dir, &x, &fedi);
    let settings = Arc::new(support::settings(&config));
    let ledger = support::ledger(&settings);
    // Each cycle is a restart of the daemon, as `birdbridge once` is.
    let once = || support::once(&settings, clock.clone());
    x.post(USER_ID, "before the route existed", json!({}));
    once().await;
    let photo = Item {
        kind: "photo",
        name: "heron.jpg",
        size: 3_000,
        alt: None,
    };
    let id = x.post_with_media(USER_ID, "a heron at the pond", &[photo]);
    let id = id.to_string();
    once().await;

    assert!(fedi.statuses().is_empty(), "held, not sent");
    let parts = ledger.parts_of_post("r", &id, "t").unwrap();
    assert!(
        parts.iter().all(|p| p.state == PartState::Held),
        "{parts:?}"
    );
    let reviewed = ledger.reviewed_post("r", &id).unwrap().unwrap();
    let kept = reviewed.media[0].file.clone().expect("the photo is kept");
    assert_eq!(std::fs::metadata(&kept).unwrap().len(), 3_000);
    assert!(kept.starts_with(ledger.media_dir().unwrap()));
    assert_eq!(
        ledger
            .held_media(reviewed.media[0].id)
            .unwrap()
            .unwrap()
            .file,
        Some(kept.clone())
    );

    // Another cycle does not download it again, nor send it.
    once().await;
    assert!(fedi.statuses().is_empty());
    assert_eq!(x.file_requests("heron.jpg"), 1);

    let now = Utc::now();
    ledger
        .edit_review(
            ("r", &id, "t"),
            EditField::Description(0),
            Some("A grey heron standing in shallow water"),
            None,
            "desk:Ann",
            now,
        )
        .unwrap();
    ledger
        .release_review("r", &id, None, None, "desk:Ann", now)
        .unwrap();
    let mut deliverer = Deliverer::new(
        Arc::clone(&settings),
        Arc::clone(&ledger),
        clock.clone().into(),
        CancellationToken::new(),
        birdbridge::budget::BudgetPool::default(),
    );
    let swept = deliverer.sweep().await.unwrap();
    assert_eq!((swept.posts, swept.parts_delivered), (1, 1), "{swept:?}");
    let statuses = fedi.statuses();
    assert_eq!(statuses.len(), 1);
    let media = fedi.media(&statuses[0].media_ids[0]);
    assert_eq!(
        (media.size, media.description.as_deref()),
        (3_000, Some("A grey heron standing in shallow water"))
    );
    assert_eq!(
        x.file_requests("heron.jpg"),
        1,
        "uploaded from the kept copy"
    );
    assert!(!kept.exists(), "the copy goes once the post is delivered");
    // Swept again: nothing left to deliver, nothing sent twice.
    assert_eq!(deliverer.sweep().await.unwrap().posts, 0);
    assert_eq!(fedi.statuses().len(), 1);
}

/// An X source on the fake X API, a fake Mastodon target, a route with `review = "undescribed"`.
fn write_config(dir: &TempDir, x: &FakeX, fedi: &FakeFedi) -> std::path::PathBuf {
    Config::new(dir.path())
        .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "latest")
        .set_raw("allow_private_media", "true")
        .fedi_target("t", "mastodon", &fedi.url, fake_fedi::TOKEN)
        .route("r", "acct", &["t"])
        .set("review", "undescribed")
        .write()
}
