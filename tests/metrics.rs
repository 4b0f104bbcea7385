//! `[metrics]` end to end: the daemon runs against the fake X API with metrics on, `/metrics`
//! is scraped over HTTP during the run and parsed with a Prometheus text parser, and
//! `/healthz` turns 503 when the source stops (its token is revoked), and while a target's
//! posts wait because the fediverse server refuses its token (200 again once it is
//! accepted). Time is a `ManualClock`.

mod fake_fedi;
#[path = "fake_x/mod.rs"]
mod fake_x;
mod support;

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::daemon::DaemonOptions;
use birdbridge::metrics::{server, Metrics};
use birdbridge::store::Ledger;
use chrono::Utc;
use fake_fedi::{FakeFedi, Personality};
use fake_x::FakeX;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;
use support::config::Config;
use support::{tick_until, KillOnDrop, Running};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const USER_ID: &str = "42";
const USERNAME: &str = "birdbridge_t";

/// Waits (in real time, a few milliseconds at a time, at most 10 s: a daemon's first poll
/// may be delayed by up to 3 s of jitter) for `done`.
async fn wait_for(mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn get(url: &str) -> (u16, Option<String>, String) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, kind, res.text().await.unwrap())
}

async fn scrape(base: &str) -> Scrape {
    let (status, kind, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        kind.unwrap().starts_with("application/openmetrics-text"),
        "content type"
    );
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample named `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    find(scrape, name, labels).map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is not a number: {other:?}"),
    })
}

fn find<'s>(scrape: &'s Scrape, name: &str, labels: &[(&str, &str)]) -> Option<&'s Sample> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one run of the daemon, told in order"
)]
async fn metrics_are_scraped_during_a_run_and_health_fails_when_the_source_stops() {
    let start = Utc::now();
    let clock = ManualClock::new(start);
    let shared = Clock::from(Arc::clone(&clock));
    let fake = FakeX::start(shared.clone()).await;
    fake.add_user(USER_ID, USERNAME);
    fake.posts(USER_ID, 3);
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .table("metrics")
        .set("listen", "127.0.0.1:0")
        .dry_run_target("out", "out.jsonl")
        .x_source("acct", USERNAME, fake_x::TOKEN, &fake.url())
        .route("r-acct", "acct", &["out"])
        .write();
    let settings = support::settings(&config);
    let listen = settings.metrics.as_ref().unwrap().listen;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path).unwrap());
    let cancel = CancellationToken::new();
    let metrics = Metrics::new(&settings, shared.clone());
    let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = server::spawn(
        listener,
        metrics.clone(),
        Arc::clone(&ledger),
        cancel.clone(),
    );
    let options = DaemonOptions {
        metrics,
        ..support::options()
    };
    let running = Running::start(&settings, Arc::clone(&ledger), shared, options);

    // The first cycle only sets the cursor; once it is over, a new post is delivered at the
    // next tick.
    let polls_ok = [("source", "acct"), ("outcome", "ok")];
    wait_for(async || {
        value(
            &scrape(&base).await,
            "birdbridge_source_polls_total",
            &polls_ok,
        ) == Some(1.0)
    })
    .await;
    assert!(ledger.cursor("acct").unwrap().is_some());
    fake.post(USER_ID, "live post", json!({}));
    clock.advance(chrono::Duration::seconds(90));
    let delivered = [("source", "acct"), ("route", "r-acct")];
    // Until the cycle is over: the delivery is counted during it, the good poll at its end.
    wait_for(async || {
        let m = scrape(&base).await;
        value(&m, "birdbridge_posts_delivered_total", &delivered).is_some()
            && value(&m, "birdbridge_source_polls_total", &polls_ok) == Some(2.0)
    })
    .await;
    let out = fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert!(out.contains("live post"), "{out}");

    let m = scrape(&base).await;
    let source = [("source", "acct")];
    assert_eq!(
        value(
            &m,
            "birdbridge_parts",
            &[("route", "r-acct"), ("target", "out"), ("state", "posted")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "birdbridge_posts_delivered_total",
            &[("source", "acct"), ("route", "r-acct")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "birdbridge_source_polls_total",
            &[("source", "acct"), ("outcome", "ok")]
        ),
        Some(2.0)
    );
    assert_eq!(value(&m, "birdbridge_source_stopped", &source), Some(0.0));
    assert_eq!(
        value(&m, "birdbridge_source_since_good_poll_seconds", &source),
        Some(0.0)
    );
    // The post was created at the fake's "now" and delivered 90 s later, at the tick.
    assert_eq!(
        value(&m, "birdbridge_delivery_lag_seconds_count", &source),
        Some(1.0)
    );
    let Some(Value::Histogram(buckets)) =
        find(&m, "birdbridge_delivery_lag_seconds", &source).map(|s| &s.value)
    else {
        panic!("no lag histogram")
    };
    let at = |le: f64| {
        buckets
            .iter()
            .find(|b| {
                (b.less_than - le).abs() < 1e-9 || (b.less_than.is_infinite() && le.is_infinite())
            })
            .unwrap()
            .count
    };
    assert_eq!((at(64.0), at(128.0), at(f64::INFINITY)), (0.0, 1.0, 1.0));
    let lag = value(&m, "birdbridge_delivery_lag_seconds_sum", &source).unwrap();
    assert!((60.0..=90.0).contains(&lag), "lag {lag}");
    let reads = value(
        &m,
        "birdbridge_x_reads",
        &[("source", "acct"), ("kind", "post")],
    )
    .unwrap();
    assert!(reads >= 1.0, "{reads}");
    let cost = value(&m, "birdbridge_x_reads_cost_dollars", &source).unwrap();
    assert!(
        (cost
            - reads * 0.005
            - value(
                &m,
                "birdbridge_x_reads",
                &[("source", "acct"), ("kind", "user")]
            )
            .unwrap()
                * 0.010)
            .abs()
            < 1e-9
    );
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);

    // The token is revoked: the source stops at its next poll, and health says so.
    fake.revoke(fake_x::TOKEN);
    clock.advance(chrono::Duration::seconds(60));
    let mut body = String::new();
    wait_for(async || {
        let (status, _, text) = get(&format!("{base}/healthz")).await;
        body = text;
        status == 503
    })
    .await;
    assert!(body.contains("source acct stopped"), "{body}");
    let m = scrape(&base).await;
    assert_eq!(value(&m, "birdbridge_source_stopped", &source), Some(1.0));

    running.stop().await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .unwrap()
        .unwrap();
}

/// A target whose token is refused: the delivery engine keeps its posts waiting, so the
/// target shows as waiting in `/metrics` and `/healthz` is 503 naming it; once the server
/// accepts the token again, the posts go out and health is back to 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_posts_wait_fails_health_until_it_answers_again() {
    let clock = ManualClock::new(Utc::now());
    let shared = Clock::from(Arc::clone(&clock));
    let x = FakeX::start(shared.clone()).await;
    x.add_user(USER_ID, USERNAME);
    x.post(USER_ID, "before the start", json!({}));
    let fedi = FakeFedi::start(Personality::Mastodon, shared.clone()).await;
    fedi.set_token_valid(false);
    let dir = TempDir::new().unwrap();
    let config = Config::new(dir.path())
        .table("metrics")
        .set("listen", "127.0.0.1:0")
        .fedi_target("t", "mastodon", &fedi.url, fake_fedi::TOKEN)
        .x_source("acct", USERNAME, fake_x::TOKEN, &x.url())
        .set("start", "latest")
        .route("r", "acct", &["t"])
        .write();
    let settings = support::settings(&config);
    let ledger = Arc::new(Ledger::open(&settings.ledger.path).unwrap());
    let cancel = CancellationToken::new();
    let metrics = Metrics::new(&settings, shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = server::spawn(
        listener,
        metrics.clone(),
        Arc::clone(&ledger),
        cancel.clone(),
    );
    let options = DaemonOptions {
        metrics,
        ..support::options()
    };
    let running = Running::start(&settings, Arc::clone(&ledger), shared, options);
    wait_for(async || ledger.cursor("acct").unwrap().is_some()).await;

    x.post(USER_ID, "a post while the token is refused", json!({}));
    let waiting = [("route", "r"), ("target", "t")];
    // The clock moves a minute at a time (leaving the daemon a moment for each cycle) until
    // a cycle found the post and planned it for the refusing target.
    tick_until(&clock, "the post was never planned", || {
        ledger.waiting_count("r").unwrap() > 0
    })
    .await;
    wait_for(async || {
        value(&scrape(&base).await, "birdbridge_target_waiting", &waiting) == Some(1.0)
    })
    .await;
    let (status, _, body) = get(&format!("{base}/healthz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains(
            "target t (route r) cannot be delivered to, its posts wait: target `t` refused the access token"
        ),
        "{body}"
    );
    assert!(fedi.statuses().is_empty());

    fedi.set_token_valid(true);
    tick_until(&clock, "never delivered", || !fedi.statuses().is_empty()).await;
    wait_for(async || get(&format!("{base}/healthz")).await.0 == 200).await;
    assert_eq!(
        value(&scrape(&base).await, "birdbridge_target_waiting", &waiting),
        Some(0.0)
    );
    wait_for(async || ledger.waiting_count("r").unwrap() == 0).await;
    assert_eq!(fedi.statuses().len(), 1);

    running.stop().await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .unwrap()
        .unwrap();
}

/// Through the binary: `run` with `[metrics]` serves `/healthz` and `/metrics` on the
/// configured address, and stops serving when SIGTERM stops the daemon.
#[test]
fn run_serves_health_and_metrics_on_the_configured_address() {
    let fake = FakeX::start_in_thread(Clock::System);
    fake.add_user(USER_ID, USERNAME);
    let dir = TempDir::new().unwrap();
    let port = support::free_port();
    let config = Config::new(dir.path())
        .table("metrics")
        .set("listen", &format!("127.0.0.1:{port}"))
        .dry_run_target("out", "out.jsonl")
        .x_source("acct", USERNAME, fake_x::TOKEN, &fake.url())
        .route("r-acct", "acct", &["out"])
        .write();
    let mut child = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_birdbridge"))
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("BIRDBRIDGE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    runtime.block_on(async {
        wait_for(async || {
            reqwest::get(format!("{base}/healthz"))
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        let polls_ok = [("source", "acct"), ("outcome", "ok")];
        wait_for(async || {
            value(
                &scrape(&base).await,
                "birdbridge_source_polls_total",
                &polls_ok,
            ) == Some(1.0)
        })
        .await;
    });
    std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(child.0.wait().unwrap().success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
