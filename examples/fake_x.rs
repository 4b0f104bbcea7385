//! The tests' fake X API as a program, for trying `birdbridge run` by hand without an X
//! account: serves `@Wikipedia` on 127.0.0.1 and adds a post every few seconds.
//!
//! ```sh
//! cargo run --example fake_x -- 8099 10        # port, seconds between new posts
//! echo test-bearer-token > /tmp/x-token
//! BIRDBRIDGE__SOURCES__WIKIPEDIA__API_URL=http://127.0.0.1:8099 \
//! BIRDBRIDGE__SOURCES__WIKIPEDIA__TOKEN_FILE=/tmp/x-token \
//! BIRDBRIDGE__SOURCES__WIKIPEDIA__SCHEDULE='*/5 * * * * *' \
//! BIRDBRIDGE__ROUTES__WIKIPEDIA__TARGETS=preview \
//! BIRDBRIDGE__LEDGER__PATH=/tmp/birdbridge-live.sqlite \
//!   cargo run -- --config bridge.toml.example run
//! ```

#[path = "../tests/fake_x/mod.rs"]
mod fake_x;

use std::time::Duration;

use birdbridge::clock::Clock;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8099);
    let every: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let clock = Clock::System;
    let fake = fake_x::FakeX::start_on_port(clock, port);
    fake.add_user("54915815", "Wikipedia");
    fake.post(
        "54915815",
        "An old post, never mirrored",
        serde_json::json!({}),
    );
    println!("fake X API on {} (token {:?})", fake.url(), fake_x::TOKEN);
    for n in 1.. {
        std::thread::sleep(Duration::from_secs(every));
        let id = fake.post(
            "54915815",
            &format!("Live post number {n} &amp; a link https://t.co/abc"),
            serde_json::json!({"entities": {"urls": [{"start": 36, "end": 55, "url": "https://t.co/abc", "expanded_url": "https://en.wikipedia.org/"}]}}),
        );
        let reads = fake.reads();
        println!(
            "posted {id}; billable reads so far: {} posts, {} users",
            reads.posts, reads.users
        );
    }
}
