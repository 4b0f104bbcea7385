//! The desk with 10,000 held posts in the ledger: `birdbridge run` (the release binary, one
//! feed source on a local server, one dry-run target) idles with the desk off, then with it
//! on, and its resident memory is compared; then the queue page and post pages are fetched
//! over loopback HTTP, logged in, and their latencies printed (p50, p95, max). Prints
//! figures; asserts nothing.
//!
//! `cargo bench --bench desk` (about a minute). `BIRDBRIDGE_BENCH_POSTS=N` holds N posts
//! instead of 10,000; `BIRDBRIDGE_BENCH_REQUESTS=N` fetches each page N times (default 200).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use birdbridge::model::{Author, Media, MediaKind, MediaSource, Post, PostId, References};
use birdbridge::store::{Durability, Ledger, NewHold};
use chrono::{TimeZone, Utc};

const PASSWORD: &str = "bench password";

fn main() {
    let posts: usize = env_number("BIRDBRIDGE_BENCH_POSTS").unwrap_or(10_000);
    let requests: usize = env_number("BIRDBRIDGE_BENCH_REQUESTS").unwrap_or(200);
    let dir = tempfile::TempDir::new().expect("temp folder");
    let started = Instant::now();
    let ids = fill(&dir.path().join("ledger.sqlite"), posts);
    println!(
        "ledger: {posts} held posts written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let feed = serve_feed();
    std::fs::write(dir.path().join("desk.password"), PASSWORD).expect("password file");

    let off = idle_rss(dir.path(), feed, None);
    let port = free_port();
    let (on, child) = idle_rss(dir.path(), feed, Some(port));
    let off_kib = off.0;
    println!(
        "idle resident memory of `run` after 15 s: desk off {:.1} MB, desk on {:.1} MB: growth {:.1} MB (goal: at most 5 MB)",
        mb(off_kib),
        mb(on),
        mb(on.saturating_sub(off_kib))
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let base = format!("http://127.0.0.1:{port}");
        let http = login(&base).await;
        let queue = time(requests, |i| {
            // Half the first page, half a page deep in the queue (after a random post).
            let url = if i % 2 == 0 {
                format!("{base}/")
            } else {
                let n = (i * 7919) % posts.max(1);
                format!(
                    "{base}/?page=after&at={}&post={}&in=r",
                    posted_at(n).to_rfc3339().replace('+', "%2B"),
                    ids[n]
                )
            };
            let http = http.clone();
            async move { fetch(&http, &url).await }
        })
        .await;
        report(
            "queue page (50 posts, counts by route, target and reason; half of them deep in the queue)",
            &queue,
        );
        let post_page = time(requests, |i| {
            let url = format!("{base}/post/r/{}", ids[(i * 7919) % ids.len()]);
            let http = http.clone();
            async move { fetch(&http, &url).await }
        })
        .await;
        report(
            "post page (original, copy rendered with edits, form)",
            &post_page,
        );
    });
    let mut child = child.expect("desk-on daemon");
    println!(
        "resident memory after the page requests: {:.1} MB",
        mb(memory_kib(child.id()))
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

fn mb(kib: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "a figure")]
    let mb = kib as f64 / 1024.0;
    mb
}

/// Writes `n` held posts, each with a photo, into the ledger at `path`.
fn fill(path: &Path, n: usize) -> Vec<String> {
    let ledger = Ledger::open_with(path, Durability::Normal).expect("ledger");
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/desk/harbour.png");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{}", 1_100_000_000_000_000_000u64 + i as u64);
        let post = Post {
            id: PostId::new(&id),
            author: Author {
                id: None,
                username: "bench".into(),
                display_name: None,
            },
            created_at: posted_at(i),
            text: format!(
                "Post number {i}: a photo from the archive of the harbour walk, with a link https://example.org/walk/{i} and #photography"
            ),
            facets: Vec::new(),
            media: vec![Media {
                kind: MediaKind::Photo,
                source: MediaSource::File(photo.clone()),
                alt_text: None,
                width: None,
                height: None,
                original_url: None,
            }],
            references: References::default(),
            sensitive: false,
            language: Some("en".into()),
            url: format!("https://x.com/bench/status/{id}"),
        };
        ledger
            .hold_for_review(
                &NewHold {
                    route: "r",
                    post: &post,
                    target: "out",
                    rule: "undescribed",
                    reason: "photo 1 of 1 without a description (review = \"undescribed\")",
                    backfill: true,
                    limits: None,
                    parts: 1,
                },
                Utc::now(),
            )
            .expect("hold");
        ids.push(id);
    }
    ids
}

/// When bench post `i` was posted.
fn posted_at(i: usize) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::minutes(i64::try_from(i).unwrap_or(0) * 37)
}

/// Serves an empty RSS feed on a local port (for the daemon's one live source).
fn serve_feed() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("feed port");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let body = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
                    <link>http://example.org/</link><description>d</description></channel></rss>";
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("address")
        .port()
}

/// Starts `run` (with the desk on `desk` when given), lets it idle 15 s, returns its
/// resident memory; with the desk, the process is left running for the page requests.
fn idle_rss(dir: &Path, feed: u16, desk: Option<u16>) -> (u64, Option<Child>) {
    let config = dir.join(if desk.is_some() {
        "on.toml"
    } else {
        "off.toml"
    });
    let desk_table = desk.map_or_else(String::new, |port| {
        format!("[desk]\nlisten = \"127.0.0.1:{port}\"\npassword_file = \"desk.password\"\n\n")
    });
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger.sqlite\"\n\n{desk_table}\
             [sources.f]\nkind = \"feed\"\nurl = \"http://127.0.0.1:{feed}/feed.xml\"\nschedule = \"0 * * * * *\"\n\n\
             [targets.out]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n\
             [routes.r]\nsource = \"f\"\ntargets = [\"out\"]\n"
        ),
    )
    .expect("config");
    let bin: PathBuf = env!("CARGO_BIN_EXE_birdbridge").into();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("BIRDBRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start birdbridge run");
    std::thread::sleep(Duration::from_secs(15));
    let rss = memory_kib(child.id());
    if desk.is_some() {
        (rss, Some(child))
    } else {
        let _ = child.kill();
        let _ = child.wait();
        (rss, None)
    }
}

/// `VmRSS` in KiB, from `/proc/<pid>/status`.
fn memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A client logged in to the desk (its session cookie set on every request).
async fn login(base: &str) -> reqwest::Client {
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = plain
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("login cookie")
        .to_owned();
    let html = page.text().await.expect("login page");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_owned();
    let answer = plain
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "bench"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .find(|c| c.starts_with("desk_session="))
        .expect("session cookie");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "cookie",
        reqwest::header::HeaderValue::from_str(&session).expect("cookie"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

async fn fetch(http: &reqwest::Client, url: &str) {
    let answer = http.get(url).send().await.expect("page");
    assert!(answer.status().is_success(), "{url}: {}", answer.status());
    let body = answer.text().await.expect("body");
    // Logged in: the page itself, not the login form a lost session redirects to.
    assert!(body.contains("Log out bench"), "{url}: not logged in");
}

async fn time<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // One warm-up request.
    f(0).await;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i).await;
        times.push(t.elapsed());
    }
    times.sort();
    times
}

fn report(what: &str, sorted: &[Duration]) {
    let at = |q: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a short list"
        )]
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[i].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} requests (goal: p95 at most 50 ms)",
        at(0.5),
        at(0.95),
        at(1.0),
        sorted.len()
    );
}
