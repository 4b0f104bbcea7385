//! Parse + plan throughput and footprint of a backfill, on an archive made by
//! `cargo run --release --example gen_archive -- 100000 /tmp/bb-100k`:
//!
//! ```sh
//! cargo bench --bench archive_backfill -- /tmp/bb-100k
//! ```
//!
//! Prints figures; asserts nothing. "Plan" is what a backfill does before any delivery:
//! the policy decision, rendering for a Mastodon profile, and the ledger's `plan_post`
//! (one transaction per post, `synchronous=FULL`, in a temporary file).

#![expect(
    clippy::cast_precision_loss,
    reason = "printed figures; counts are far below 2^52"
)]

use std::path::PathBuf;
use std::time::Instant;

use birdbridge::config::RouteSettings;
use birdbridge::policy::{decide, Decision, RoutePolicy};
use birdbridge::render::{render, Lookups};
use birdbridge::sources::archive::Archive;
use birdbridge::store::Ledger;
use birdbridge::targets::TargetProfile;
use chrono::Utc;

fn main() {
    let Some(path) = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
    else {
        eprintln!("usage: cargo bench --bench archive_backfill -- ARCHIVE (make one with the gen_archive example)");
        return;
    };
    let started = Instant::now();
    let archive = Archive::open(&path).expect("open archive");
    let contents = archive.load().expect("load archive");
    let parse = started.elapsed();
    let posts = contents.posts.len();
    let rss_after_parse = peak_rss_kib();

    let profile = TargetProfile::mastodon_default();
    let policy = RoutePolicy::from_settings(&RouteSettings::with_defaults("bench", &["preview"]))
        .for_backfill();
    let now = Utc::now();
    let lookups = Lookups::default();
    let started = Instant::now();
    let mut plans = Vec::with_capacity(posts);
    let mut parts = 0;
    for post in &contents.posts {
        if decide(post, &policy, now) == Decision::Mirror {
            let rendered = render(post, &profile, &policy, &lookups);
            parts += rendered.parts.len();
            plans.push((
                post.id.as_str(),
                u32::try_from(rendered.parts.len()).unwrap_or(u32::MAX),
            ));
        }
    }
    let render_time = started.elapsed();

    let dir = tempfile::TempDir::new().expect("temp dir");
    let ledger = Ledger::open(&dir.path().join("bench.sqlite")).expect("ledger");
    let started = Instant::now();
    for (id, n) in &plans {
        ledger
            .plan_post("bench", id, "preview", *n, Utc::now())
            .expect("plan");
    }
    let plan_time = started.elapsed();

    let tweets_js: u64 = walk_size(&path);
    println!("archive            {}", path.display());
    println!(
        "posts              {posts} ({} malformed, {} circle excluded)",
        contents.malformed.len(),
        contents.circle_excluded
    );
    println!(
        "posts files size   {:.1} MiB",
        tweets_js as f64 / 1_048_576.0
    );
    println!(
        "parse + normalise  {:.2} s  ({:.0} posts/s)",
        parse.as_secs_f64(),
        posts as f64 / parse.as_secs_f64()
    );
    println!(
        "policy + render    {:.2} s  ({:.0} posts/s, {parts} parts)",
        render_time.as_secs_f64(),
        plans.len() as f64 / render_time.as_secs_f64()
    );
    println!(
        "ledger plan_post   {:.2} s  ({:.0} posts/s)",
        plan_time.as_secs_f64(),
        plans.len() as f64 / plan_time.as_secs_f64()
    );
    println!(
        "peak RSS           {:.1} MiB after parse, {:.1} MiB at end",
        rss_after_parse as f64 / 1024.0,
        peak_rss_kib() as f64 / 1024.0
    );
}

/// Peak resident set size of this process (`VmHWM`), in KiB; 0 where /proc is absent.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Size of the posts files (`tweets*.js`, `tweet.js`) under `path`, or the file itself.
fn walk_size(path: &std::path::Path) -> u64 {
    if path.is_file() {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    }
    let data = path.join("data");
    std::fs::read_dir(&data)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("tweet")
                && std::path::Path::new(&name)
                    .extension()
                    .is_some_and(|e| e == "js")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
