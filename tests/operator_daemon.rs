//! Operator changes reach a running daemon: after `quarantine retry` (and likewise `hold
//! release`), the next cycle reads the post again from the fake X API and delivers it, once.
//! Time is a `ManualClock`.

#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::store::{Ledger, PartFilter, PartKey, PartState};
use chrono::Utc;
use fake_x::FakeX;
use serde_json::json;
use support::config::Config;
use support::{wait_for, Running};
use tempfile::TempDir;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

#[tokio::test]
async fn a_quarantine_retry_is_delivered_by_the_next_cycle_of_a_running_daemon() {
    let clock = ManualClock::new(Utc::now());
    let shared = Clock::from(Arc::clone(&clock));
    let fake = FakeX::start(shared.clone()).await;
    fake.add_user(USER_ID, USERNAME);
    let refused = fake.post(USER_ID, "refused by the server three times", json!({}));
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .dry_run_target("out", "out.jsonl")
        .x_source("acct", USERNAME, fake_x::TOKEN, &fake.url())
        .route("r-acct", "acct", &["out"])
        .write();
    let settings = support::settings(&config);
    let ledger = Arc::new(Ledger::open(&settings.ledger.path).unwrap());
    // An earlier run quarantined the post's only part.
    let key = PartKey::new("r-acct", refused.to_string(), "out", 0);
    let now = Utc::now();
    ledger
        .plan_post("r-acct", &refused.to_string(), "out", 1, now)
        .unwrap();
    ledger.begin_attempt(&key, now).unwrap();
    ledger.mark_failed(&key, "HTTP 422", now, 1, now).unwrap();

    let running = Running::start(&settings, Arc::clone(&ledger), shared, support::options());
    running.cursor_set("acct").await;
    let delivered = || fs::read_to_string(dir.path().join("out.jsonl")).unwrap_or_default();

    // A quiet tick: the quarantined part stays where it is.
    clock.advance(chrono::Duration::seconds(60));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(delivered().is_empty());
    let lookups = fake
        .log()
        .iter()
        .filter(|l| l.starts_with("/2/tweets?"))
        .count();

    // The person asks for a retry while the daemon runs; the next cycle delivers it.
    let filter = PartFilter {
        source_post_id: Some(refused.to_string()),
        ..PartFilter::default()
    };
    assert_eq!(
        ledger.retry_quarantined(&filter, Utc::now()).unwrap(),
        std::slice::from_ref(&key)
    );
    clock.advance(chrono::Duration::seconds(60));
    wait_for(|| ledger.part(&key).unwrap().unwrap().state == PartState::Posted).await;
    assert_eq!(delivered().lines().count(), 1);
    assert!(delivered().contains(&refused.to_string()));
    let after = fake
        .log()
        .iter()
        .filter(|l| l.starts_with("/2/tweets?"))
        .count();
    assert_eq!(after, lookups + 1, "the post was read again once");

    // Nothing changes afterwards: no second delivery, no further lookup.
    clock.advance(chrono::Duration::seconds(60));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(delivered().lines().count(), 1);
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| l.starts_with("/2/tweets?"))
            .count(),
        after
    );
    running.stop().await;
}
