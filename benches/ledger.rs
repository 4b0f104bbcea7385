//! Ledger write throughput: posts mirrored as one part each (`plan_post` + `begin_attempt` +
//! `mark_posted`, three commits), on a file in the temp folder, with `synchronous=FULL` and
//! `NORMAL`. Prints figures; asserts nothing.
//!
//! `cargo bench --bench ledger` (100 000 posts); `BIRDBRIDGE_BENCH_POSTS=N` for another count.

use std::time::{Duration, Instant};

use birdbridge::store::{Durability, Ledger, PartKey};
use chrono::Utc;

fn main() {
    let posts: u32 = std::env::var("BIRDBRIDGE_BENCH_POSTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    for durability in [Durability::Full, Durability::Normal] {
        let dir = tempfile::TempDir::new().expect("temp folder");
        let ledger =
            Ledger::open_with(&dir.path().join("ledger.sqlite"), durability).expect("open");
        let elapsed = mirror(&ledger, posts);
        let per_post = elapsed / posts.max(1);
        println!(
            "{durability:?}: {posts} posts in {:.2} s, {per_post:?} per post, {:.0} commits/s",
            elapsed.as_secs_f64(),
            f64::from(posts) * 3.0 / elapsed.as_secs_f64()
        );
    }
}

fn mirror(ledger: &Ledger, posts: u32) -> Duration {
    let start = Instant::now();
    for post in 0..posts {
        let id = post.to_string();
        let now = Utc::now();
        ledger
            .plan_post("route", &id, "target", 1, now)
            .expect("plan");
        let key = PartKey::new("route", id.as_str(), "target", 0);
        ledger.begin_attempt(&key, now).expect("begin");
        ledger
            .mark_posted(&key, &id, Some("https://example.social/@a/1"), now)
            .expect("posted");
    }
    start.elapsed()
}
