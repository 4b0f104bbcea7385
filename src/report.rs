//! The one report of a delivery run, whichever driver ran it (a daemon cycle or run, `once`,
//! an archive backfill, `backfill --from-api`): what the source gave, what the engine did
//! with it per post and target, and what is left. The engine fills the delivery counts; the
//! drivers fill the rest; a field a driver has no use for stays zero.

use std::collections::BTreeMap;

use crate::targets::Usd;

/// See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Posts the source handed over: new posts a daemon's polls found, an archive's posts
    /// (circle posts not included), the posts the X API returned in a `--from-api` range.
    pub posts_found: usize,
    /// Archive entries that could not be read as posts.
    pub malformed: usize,
    /// Circle posts an archive left out.
    pub circle_excluded: usize,
    /// Posts inside a backfill's date range.
    pub in_range: usize,
    /// Post × target pairs already done earlier.
    pub already_done: usize,
    /// Post × target pairs skipped by the route policy (or an edit a target cannot make).
    pub skipped: usize,
    /// Posts with at least one part delivered.
    pub posts_delivered: usize,
    /// Parts delivered.
    pub parts_delivered: usize,
    /// Parts found interrupted and adopted from the target.
    pub parts_reconciled: usize,
    /// Parts that failed (retried later, or quarantined).
    pub parts_failed: usize,
    /// Post × target pairs planned and waiting (the target unreachable or refusing the
    /// token, or an earlier post of the thread not delivered yet).
    pub posts_waiting: usize,
    /// Posts previewed (dry run).
    pub previewed: usize,
    /// Post × target pairs held for review (or released and left to the review
    /// deliverer).
    pub posts_held: usize,
    /// What the previewed posts would cost, per target that bills its writes (X): the
    /// price and the number of posts.
    pub preview_cost: BTreeMap<String, (Usd, usize)>,
    /// Sources whose poll failed (network, server, rate limit): tried again at their next
    /// tick.
    pub sources_failed: usize,
    /// Sources that stopped for good (token refused, account gone, ledger failure).
    pub sources_stopped: usize,
    /// Targets that could not be delivered to, with the reason (a refused token, an
    /// unreachable server); their posts wait in the ledger, the other targets went on.
    pub targets_stopped: Vec<(String, String)>,
    /// Parts of the run's routes still to deliver at its end (waiting for a target, due
    /// again later, interrupted): the run is not finished while there are any.
    pub parts_left: u64,
}

impl DeliveryReport {
    /// Adds `other` to this report.
    pub fn add(&mut self, other: &DeliveryReport) {
        self.posts_found += other.posts_found;
        self.malformed += other.malformed;
        self.circle_excluded += other.circle_excluded;
        self.in_range += other.in_range;
        self.already_done += other.already_done;
        self.skipped += other.skipped;
        self.posts_delivered += other.posts_delivered;
        self.parts_delivered += other.parts_delivered;
        self.parts_reconciled += other.parts_reconciled;
        self.parts_failed += other.parts_failed;
        self.posts_waiting += other.posts_waiting;
        self.previewed += other.previewed;
        self.posts_held += other.posts_held;
        for (target, (cost, posts)) in &other.preview_cost {
            let entry = self.preview_cost.entry(target.clone()).or_default();
            entry.0 += *cost;
            entry.1 += posts;
        }
        self.sources_failed += other.sources_failed;
        self.sources_stopped += other.sources_stopped;
        for stopped in &other.targets_stopped {
            if !self.targets_stopped.contains(stopped) {
                self.targets_stopped.push(stopped.clone());
            }
        }
        self.parts_left += other.parts_left;
    }

    /// Whether the run left work undone: a part failed or is left, a target or a source
    /// stopped or failed (the binary exits non-zero then).
    pub fn unfinished(&self) -> bool {
        self.parts_failed > 0
            || self.parts_left > 0
            || self.sources_failed > 0
            || self.sources_stopped > 0
            || !self.targets_stopped.is_empty()
    }
}
