//! What mirroring costs on X: the bundled sample archive backfilled through the binary into
//! the fake X (`tests/fake_x/`, over HTTP on 127.0.0.1), then the spend the ledger recorded
//! (each part priced as it was posted, at X's 2026 prices; what `status` shows) set against
//! a count made by hand from the archive's posts, written below.
//!
//! ```sh
//! cargo bench --bench x_cost
//! ```
//!
//! Prints figures; asserts nothing.

#[path = "../tests/fake_x/mod.rs"]
mod fake_x;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use birdbridge::clock::Clock;
use birdbridge::store::Ledger;
use chrono::NaiveDate;
use fake_x::write as fx;
use fake_x::FakeX;

/// The sample archive's mirrored posts, priced by hand (X's pay-per-use page, 2026: a post
/// $0.015, a post containing a URL $0.20, an alt text $0.005). The route's defaults apply:
/// mentions of X accounts become `https://x.com/NAME` links (a URL), media without alt text
/// get the fallback description (an alt text), the backfill date line is no link. The
/// reply to someone else and the repost are skipped by the route; the circle post and the
/// older version of the edited post are never read.
const HAND_COUNT: &[(&str, u64, &str)] = &[
    (
        "Hello, fediverse-to-be!",
        200_000,
        "a link to the project notes",
    ),
    (
        "Morning over the harbour",
        20_000,
        "a photo with its alt text",
    ),
    (
        "Friday plan: fish & chips",
        200_000,
        "a mention, written as a link",
    ),
    ("A short thread", 15_000, "plain"),
    ("2/3 Every post", 15_000, "plain"),
    ("3/3 Retries reuse", 200_000, "a link to the Rust book"),
    (
        "Two pages from an old notebook",
        205_000,
        "the missing photo's link, and the other photo's fallback alt text",
    ),
    (
        "Time-lapse of the build",
        20_000,
        "a video with the fallback alt text",
    ),
    (
        "When the tests pass",
        20_000,
        "a GIF with the fallback alt text",
    ),
    (
        "This is exactly what I meant",
        200_000,
        "the quoted post's link",
    ),
    (
        "Why mirror an archive",
        215_000,
        "two parts: plain, then a mention link and a link",
    ),
    (
        "Season finale",
        15_000,
        "plain, its warning as the first line",
    ),
    ("🎉🎉🎉", 15_000, "plain"),
    ("Leap day release", 15_000, "plain"),
    ("🚀 Launch day!", 200_000, "a mention link and a link"),
];

/// Dollars to the hundredth of a cent.
fn dollars(micros: u64) -> String {
    format!("${}.{:04}", micros / 1_000_000, (micros % 1_000_000) / 100)
}

fn main() {
    let fake = FakeX::start_in_thread(Clock::System);
    fake.set_processing_ms(0);
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut keys = String::new();
    for (key, value) in [
        ("consumer_key", fx::CONSUMER_KEY),
        ("consumer_secret", fx::CONSUMER_SECRET),
        ("access_token", fx::ACCESS_TOKEN),
        ("access_token_secret", fx::ACCESS_SECRET),
    ] {
        std::fs::write(dir.path().join(key), value).expect("key file");
        let _ = writeln!(keys, "{key}_file = \"{key}\"");
    }
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
             [targets.x]\nkind = \"x\"\napi_url = \"{}\"\n{keys}\n\
             [routes.r]\nsource = \"sample\"\ntargets = [\"x\"]\n",
            archive.display().to_string(),
            fake.url()
        ),
    )
    .expect("config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_birdbridge"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("BIRDBRIDGE_LOG", "error")
            .output()
            .expect("the binary");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&["backfill", "--route", "r"]);
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).expect("ledger");
    let days = ledger.spending(NaiveDate::MIN).expect("spend");
    let (recorded, posts, parts) = days.iter().fold((0, 0, 0), |(m, p, n), d| {
        (m + d.micros, p + d.posts, n + d.parts)
    });

    let made = fake.made();
    let hand: u64 = HAND_COUNT.iter().map(|(_, price, _)| price).sum();
    let hand_posts = HAND_COUNT.len() as u64;
    println!("sample archive → fake X (X's 2026 prices)");
    println!("posts mirrored       {posts} (hand count {hand_posts}), {parts} posts made on X ({} on the fake)", made.len());
    println!("spend in the ledger  {}", dollars(recorded));
    println!("spend by hand        {}", dollars(hand));
    println!(
        "per mirrored post    {} (ledger) vs {} (hand)",
        dollars(recorded / posts.max(1)),
        dollars(hand / hand_posts)
    );
    println!("difference           {}", dollars(recorded.abs_diff(hand)));
    println!("by post (hand count):");
    for (start, price, why) in HAND_COUNT {
        let found = made.iter().any(|m| m.1.contains(start));
        println!(
            "  {:<34} {}  {why}{}",
            start,
            dollars(*price),
            if found {
                ""
            } else {
                "  (NOT FOUND on the fake)"
            }
        );
    }
}
