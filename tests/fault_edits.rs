//! The fault matrix for edits: an X edit of a mirrored post goes out as
//! `PUT /api/v1/statuses/:id` while the fake server's fault layer (`fake_fedi/faults.rs`)
//! makes that `PUT` go wrong: 429 and 503 with and without `Retry-After`, 500 before and
//! after the server applied the edit, a connection reset before and after, an answer
//! delayed past the request timeout after the edit, 200 with a broken body. Daemon cycles
//! run until nothing is left; then the server must hold the one status, edited into the new
//! text (never posted again), every `PUT` the same request to the same status, and the
//! ledger nothing unsettled. On Mastodon and `GoToSocial` (both edit).
//!
//! In-process over real HTTP on 127.0.0.1; the daemon's clock is manual (its waits jump).

mod fake_fedi;
mod fake_x;
mod support;
mod x_world;

use std::time::Duration;

use birdbridge::config::TargetSettings;
use birdbridge::store::PartState;
use fake_fedi::faults::{Call, Fault};
use fake_fedi::Personality;
use rstest::rstest;
use serde_json::json;
use x_world::{World, USER_ID};

/// The request timeout of the run with a slow answer: short, so that the answer outlasts it
/// quickly.
const SHORT_TIMEOUT: Duration = Duration::from_millis(800);
/// The request timeout of every other run: long enough that no answer outlasts it on a
/// loaded machine.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Cycles before giving up on the edit settling.
const MAX_CYCLES: usize = 8;

/// The X account's route to a server of `personality` whose requests time out after
/// `timeout`.
async fn world(personality: Personality, timeout: Duration) -> World {
    let kind = match personality {
        Personality::GoToSocial => "gotosocial",
        _ => "mastodon",
    };
    World::start(personality, kind, "edits_t", &[], |settings| {
        if let Some(TargetSettings::Fediverse(f)) = settings.targets.get_mut("t") {
            f.request_timeout = timeout;
        }
    })
    .await
}

impl World {
    /// Parts still to settle (planned, posting or failed).
    fn open_parts(&self) -> u64 {
        self.ledger()
            .state_counts()
            .unwrap()
            .iter()
            .filter(|c| {
                matches!(
                    c.state,
                    PartState::Planned | PartState::Posting | PartState::Failed
                )
            })
            .map(|c| c.count)
            .sum()
    }

    /// Cycles (time moving on past any backoff between them) until nothing is open.
    async fn settle(&self) -> usize {
        for cycle in 1..=MAX_CYCLES {
            self.once().await;
            if self.open_parts() == 0 {
                return cycle;
            }
            self.clock.advance(chrono::Duration::hours(2));
        }
        panic!("parts still open after {MAX_CYCLES} cycles");
    }
}

#[rstest]
#[case::too_many_with_retry_after(Fault::TooMany { retry_after: Some(30) })]
#[case::too_many_without_retry_after(Fault::TooMany { retry_after: None })]
#[case::unavailable_with_retry_after(Fault::Unavailable { retry_after: Some(30) })]
#[case::unavailable_without_retry_after(Fault::Unavailable { retry_after: None })]
#[case::server_error(Fault::ServerError)]
#[case::server_error_after_write(Fault::ServerErrorAfterWrite)]
#[case::reset_before_write(Fault::ResetBeforeWrite)]
#[case::reset_after_write(Fault::ResetAfterWrite)]
#[case::slow_after_write(Fault::SlowAfterWrite(SHORT_TIMEOUT * 3))]
#[case::malformed_ok(Fault::MalformedOk)]
#[tokio::test]
async fn a_failed_edit_is_applied_once_and_never_posted_again(
    #[case] fault: Fault,
    #[values(Personality::Mastodon, Personality::GoToSocial)] personality: Personality,
) {
    let timeout = match fault {
        Fault::SlowAfterWrite(_) => SHORT_TIMEOUT,
        _ => TIMEOUT,
    };
    let world = world(personality, timeout).await;
    let first = world
        .x
        .post(USER_ID, "Tpyo in the first version", json!({}));
    world.settle().await;
    let before = world.fedi.statuses();
    assert_eq!(before.len(), 1);

    world.fedi.faults.plan(Call::StatusEdit, 1, fault.clone());
    world.x.edit(first, "Typo fixed in the second version");
    world.settle().await;

    let injected = world.fedi.faults.injected();
    assert_eq!(injected, vec![(Call::StatusEdit, 1, fault.clone())]);
    let after = world.fedi.statuses();
    assert_eq!(
        after.len(),
        1,
        "{fault:?}: edited, never posted again: {after:#?}"
    );
    assert_eq!(after[0].id, before[0].id);
    assert_eq!(
        after[0].text, "Typo fixed in the second version",
        "{fault:?}"
    );
    // The edits the fake applied (the faulted one too when it came after the write): each
    // the same request to the same status.
    let edits = world.fedi.edits();
    assert!(!edits.is_empty(), "{fault:?}: the edit never arrived");
    assert!(
        edits
            .iter()
            .all(|(id, body)| id == &before[0].id && body == &edits[0].1),
        "{fault:?}: {edits:#?}"
    );
    assert_eq!(world.open_parts(), 0);
}
