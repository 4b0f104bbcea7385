//! What the integration tests share: the in-process daemon, started and stopped as `run`
//! and `once` start it (against the local fakes the test brought up), the binary run on a
//! configuration, a configuration written table by table ([`config`]), a post with one
//! media file ([`posts`]), a local RSS feed ([`rss`]), and X's media host and `t.co`
//! ([`x_hosts`]). Each test file that uses it says `mod support;`.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the support"
)]

pub mod config;
pub mod posts;
pub mod rss;
pub mod x_hosts;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::daemon::{Daemon, DaemonOptions, Notifier};
use birdbridge::report::DeliveryReport;
use birdbridge::store::{Durability, Ledger, PartState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest a test waits for something to happen in real time.
const PATIENCE: Duration = Duration::from_secs(20);

/// The settings of the configuration at `path`, without the environment's overrides.
pub fn settings(path: &Path) -> Settings {
    Settings::load_with_env(path, HashMap::new()).unwrap()
}

/// The ledger of `settings`, opened as a throwaway one: commits need not wait for the disk.
pub fn ledger(settings: &Settings) -> Arc<Ledger> {
    Arc::new(Ledger::open_with(&settings.ledger.path, Durability::Normal).unwrap())
}

/// The daemon's options in a test: no jitter, so a tick comes at its second.
pub fn options() -> DaemonOptions {
    DaemonOptions {
        max_jitter: Duration::ZERO,
        ..DaemonOptions::default()
    }
}

/// A daemon on `settings`, built as `run` builds it.
pub fn daemon(
    settings: &Settings,
    ledger: Arc<Ledger>,
    clock: impl Into<Clock>,
    cancel: CancellationToken,
    options: DaemonOptions,
) -> Daemon {
    Daemon::build(settings, ledger, clock.into(), cancel, options).unwrap()
}

/// One cycle of every source of a freshly started daemon on a freshly opened ledger (each
/// call is a restart): what `birdbridge once` does.
pub async fn once(settings: &Settings, clock: impl Into<Clock>) -> DeliveryReport {
    once_with(settings, clock, options()).await
}

/// [`once`] with other options.
pub async fn once_with(
    settings: &Settings,
    clock: impl Into<Clock>,
    options: DaemonOptions,
) -> DeliveryReport {
    let cancel = CancellationToken::new();
    daemon(settings, ledger(settings), clock, cancel, options)
        .once()
        .await
}

/// A daemon running in this process, as `birdbridge run` runs it (without systemd).
#[derive(Debug)]
pub struct Running {
    /// The daemon's ledger.
    pub ledger: Arc<Ledger>,
    /// Stops the daemon (as a first SIGTERM does).
    pub cancel: CancellationToken,
    task: JoinHandle<DeliveryReport>,
}

impl Running {
    /// Starts the daemon of `settings` on `ledger`.
    pub fn start(
        settings: &Settings,
        ledger: Arc<Ledger>,
        clock: impl Into<Clock>,
        options: DaemonOptions,
    ) -> Self {
        let cancel = CancellationToken::new();
        let daemon = daemon(
            settings,
            Arc::clone(&ledger),
            clock,
            cancel.clone(),
            options,
        );
        let task = tokio::spawn(async move { daemon.run(&Notifier::for_socket(None)).await });
        Self {
            ledger,
            cancel,
            task,
        }
    }

    /// Waits until the daemon's first cycle has set the cursor of `source`.
    pub async fn cursor_set(&self, source: &str) {
        wait_for(|| self.ledger.cursor(source).unwrap().is_some()).await;
    }

    /// Stops the daemon and waits (at most 5 s) for it to end; returns what it did.
    /// Waits until the first part of `post` for `target` on `route` is in `state`.
    pub async fn wait_for_part(&self, route: &str, post: &str, target: &str, state: PartState) {
        wait_for(|| {
            self.ledger
                .parts_of_post(route, post, target)
                .unwrap()
                .first()
                .is_some_and(|p| p.state == state)
        })
        .await;
    }

    pub async fn stop(self) -> DeliveryReport {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the daemon stops within 5 s")
            .unwrap()
    }
}

/// Waits (in real time, a few milliseconds at a time, at most 20 s) for `done`.
pub async fn wait_for(done: impl FnMut() -> bool) {
    wait_for_long(done, PATIENCE).await;
}

/// [`wait_for`], at most `patience` (a benchmark's long run).
pub async fn wait_for_long(mut done: impl FnMut() -> bool, patience: Duration) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Moves `clock` on a minute (a daemon's tick) at a time until `done`, for at most 10 s of
/// real time; `what` says what never happened.
pub async fn tick_until(clock: &ManualClock, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        clock.advance(chrono::Duration::seconds(60));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port of 127.0.0.1 where nothing listens (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed if the test fails before it ends.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `birdbridge --config CONFIG ARGS` (warnings only in the log), off the test's runtime.
pub async fn birdbridge(config: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("birdbridge").unwrap();
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("BIRDBRIDGE_LOG", "warn");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// What a run of the binary printed: standard output, then standard error.
pub fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
