//! Unit tests of the retraction ledger (`store/retract.rs`).

use super::*;
use crate::store::tests::{key, t};

/// Plans `post` as `parts` parts and posts the first `posted` of them (remote ids
/// `POST-INDEX`).
fn mirrored(l: &Ledger, post: &str, parts: u32, posted: u32) {
    l.plan_post("r", post, "tgt", parts, t(0)).unwrap();
    for i in 0..posted {
        let k = key(post, i);
        l.begin_attempt(&k, t(1)).unwrap();
        l.mark_posted(&k, &format!("{post}-{i}"), None, t(2))
            .unwrap();
    }
}

fn job(l: &Ledger, items: &[(&str, &str)], never_mirror: bool) -> RetractJob {
    let items: Vec<(String, String)> = items
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect();
    let new = NewJob {
        route: "r",
        target: None,
        selection: "--all",
        cause: RetractCause::Operator,
        runner: RetractRunner::Command,
        state: "running",
    };
    let id = l
        .create_retraction(&new, &items, never_mirror, t(5))
        .unwrap();
    l.retraction_job(id).unwrap().unwrap()
}

fn state(l: &Ledger, post: &str, index: u32) -> PartState {
    l.part(&key(post, index)).unwrap().unwrap().state
}

#[test]
fn a_job_cancels_what_was_not_sent_and_a_named_post_is_never_mirrored() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "a", 3, 1);
    let j = job(&l, &[("a", "tgt"), ("b", "tgt")], true);
    assert_eq!((j.posts, j.done, j.failed), (2, 0, 0));
    assert_eq!(state(&l, "a", 0), PartState::Posted);
    for i in [1, 2] {
        let part = l.part(&key("a", i)).unwrap().unwrap();
        assert_eq!(part.state, PartState::Skipped);
        assert!(part
            .reason
            .unwrap()
            .contains("before delivery (job 1: --all)"));
    }
    let b = l.parts_of_post("r", "b", "tgt").unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].state, PartState::Skipped);
    assert!(b[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("before it was mirrored"));
    let audit = l.audit_log(10).unwrap();
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert!(audit.iter().all(|a| a.command == "retract"));
}

#[test]
fn each_move_is_checked_and_a_retracted_part_stays_retracted() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "a", 1, 1);
    mirrored(&l, "p", 1, 0);
    let j = job(&l, &[("a", "tgt")], false);
    let k = key("a", 0);
    assert!(matches!(
        l.mark_retracted(&k, &j, false, t(6)),
        Err(StoreError::InvalidTransition { .. })
    ));
    l.begin_retract(&k, t(6)).unwrap();
    // An interrupted attempt is asked again.
    l.begin_retract(&k, t(7)).unwrap();
    l.retract_failed(&k, "HTTP 502", t(8)).unwrap();
    assert_eq!(state(&l, "a", 0), PartState::Retracting);
    l.mark_retracted(&k, &j, true, t(9)).unwrap();
    let part = l.part(&k).unwrap().unwrap();
    assert_eq!(part.state, PartState::Retracted);
    assert_eq!(part.remote_id.as_deref(), Some("a-0"), "kept for the audit");
    assert!(part.reason.unwrap().starts_with("retracted by an operator"));
    for change in [
        l.begin_retract(&k, t(10)),
        l.mark_retracted(&k, &j, false, t(10)),
        l.begin_retract(&key("p", 0), t(10)),
    ] {
        assert!(
            matches!(change, Err(StoreError::InvalidTransition { .. })),
            "{change:?}"
        );
    }
    assert_eq!(
        l.audit_log(1).unwrap()[0].change,
        "posted → retracted (already gone from the server)"
    );
}

#[test]
fn a_refusing_server_leaves_the_part_posted() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "a", 1, 1);
    let j = job(&l, &[("a", "tgt")], false);
    let k = key("a", 0);
    l.begin_retract(&k, t(6)).unwrap();
    l.retract_given_up(&k, &j, "HTTP 403: not yours", t(7))
        .unwrap();
    let part = l.part(&k).unwrap().unwrap();
    assert_eq!(part.state, PartState::Posted);
    assert!(part.last_error.unwrap().contains("not yours"));
}

#[test]
fn a_boost_is_undone_on_its_original_whatever_its_answer_carried() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "orig", 1, 1);
    // Mastodon: the boost's own id.
    l.plan_post("r", "rt1", "tgt", 1, t(0)).unwrap();
    l.begin_attempt(&key("rt1", 0), t(1)).unwrap();
    l.mark_boost_posted(&key("rt1", 0), "777", None, 0, "orig-0", t(2))
        .unwrap();
    // Takahē: the original's id, recorded.
    l.plan_post("r", "rt2", "tgt", 1, t(0)).unwrap();
    l.begin_attempt(&key("rt2", 0), t(1)).unwrap();
    l.mark_boost_posted(&key("rt2", 0), "orig-0", None, 0, "orig-0", t(2))
        .unwrap();
    // Recorded before boosts were (an older ledger): the shared id tells.
    l.plan_post("r", "rt3", "tgt", 1, t(0)).unwrap();
    l.begin_attempt(&key("rt3", 0), t(1)).unwrap();
    l.mark_posted(&key("rt3", 0), "orig-0", None, t(2)).unwrap();
    let j = job(
        &l,
        &[
            ("rt3", "tgt"),
            ("rt2", "tgt"),
            ("rt1", "tgt"),
            ("orig", "tgt"),
        ],
        false,
    );
    let how = |post: &str| {
        let item = RetractItem {
            job: j.id,
            source_post_id: post.to_owned(),
            target: "tgt".to_owned(),
            tries: 0,
        };
        let work = l.retraction_work(&j, &item, t(6)).unwrap();
        (
            work.takings[0].remote_id.clone(),
            work.takings[0].boost_of.clone(),
        )
    };
    assert_eq!(how("rt1"), ("777".into(), Some("orig-0".into())));
    assert_eq!(how("rt2"), ("orig-0".into(), Some("orig-0".into())));
    assert_eq!(how("rt3"), ("orig-0".into(), Some("orig-0".into())));
    assert_eq!(how("orig"), ("orig-0".into(), None));
}

#[test]
fn a_thread_goes_last_part_first_and_waits_for_a_delivery_in_flight() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "a", 3, 2);
    l.begin_attempt(&key("a", 2), t(3)).unwrap();
    let j = job(&l, &[("a", "tgt")], false);
    let item = RetractItem {
        job: j.id,
        source_post_id: "a".into(),
        target: "tgt".into(),
        tries: 0,
    };
    let work = l.retraction_work(&j, &item, t(6)).unwrap();
    assert!(work.in_flight);
    let order: Vec<u32> = work.takings.iter().map(|t| t.key.part_index).collect();
    assert_eq!(order, [1, 0]);
}

#[test]
fn the_daemon_takes_due_jobs_deletes_at_the_source_first() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "a", 1, 1);
    mirrored(&l, "b", 1, 1);
    let new = |cause, selection| NewJob {
        route: "r",
        target: None,
        selection,
        cause,
        runner: RetractRunner::Daemon,
        state: "queued",
    };
    let items = |p: &str| vec![(p.to_owned(), "tgt".to_owned())];
    let first = l
        .create_retraction(
            &new(RetractCause::Operator, "--all"),
            &items("a"),
            false,
            t(5),
        )
        .unwrap();
    let second = l
        .create_retraction(
            &new(RetractCause::Source, "deleted"),
            &items("b"),
            true,
            t(5),
        )
        .unwrap();
    assert_eq!(l.next_retraction_job(t(6)).unwrap().0.unwrap().id, second);
    let item = RetractItem {
        job: second,
        source_post_id: "b".into(),
        target: "tgt".into(),
        tries: 0,
    };
    l.retry_retraction_item(&item, "HTTP 502", t(600), true)
        .unwrap();
    let (next, _) = l.next_retraction_job(t(6)).unwrap();
    assert_eq!(next.unwrap().id, first);
    let item_a = RetractItem {
        job: first,
        source_post_id: "a".into(),
        target: "tgt".into(),
        tries: 0,
    };
    l.finish_retraction_item(&item_a, None).unwrap();
    l.set_retraction_state(first, "done", None, t(7)).unwrap();
    assert_eq!(l.next_retraction_job(t(8)).unwrap(), (None, Some(t(600))));
    let (due, later) = l.due_retraction_items(second, t(601)).unwrap();
    assert_eq!((due.len(), due[0].tries, later), (1, 1, None));
}

#[test]
fn recently_mirrored_posts_are_those_of_the_window() {
    let l = Ledger::open_in_memory().unwrap();
    mirrored(&l, "old", 1, 1);
    l.plan_post("r", "new", "tgt", 1, t(100)).unwrap();
    l.plan_post("other", "x", "tgt", 1, t(100)).unwrap();
    let routes = ["r".to_owned()];
    assert_eq!(l.recently_mirrored(&routes, t(0)).unwrap(), ["new", "old"]);
    assert_eq!(l.recently_mirrored(&routes, t(50)).unwrap(), ["new"]);
}
