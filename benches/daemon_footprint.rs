//! The daemon's footprint: `birdbridge run` (the release binary) with 100 routes, each an X
//! account polled every minute on the local fake X API, into one dry-run target. First an
//! idle phase (nothing new: CPU per hour of idle polling, resident memory at its end), then
//! an active phase (one new post per account per minute: billable reads per mirrored post),
//! then the resident memory again. Prints figures; asserts nothing.
//!
//! `cargo bench --bench daemon_footprint` runs 5 + 5 minutes;
//! `BIRDBRIDGE_BENCH_MINUTES=N` runs N/2 + N/2 minutes instead,
//! `BIRDBRIDGE_BENCH_IDLE_MINUTES=M` makes the idle phase M minutes, and
//! `BIRDBRIDGE_BENCH_ROUTES=R` runs R routes instead of 100 (the scale goal is 1,000 routes
//! idle in at most 50 MB and 10 CPU s per hour). The CPU time comes from
//! `/proc/<pid>/stat` in clock ticks (10 ms), so a longer idle phase gives a finer figure.
//! The daemon's pid and the start of the idle phase go to stderr, for a profiler or
//! `strace -c -f -p PID` to attach to. `BIRDBRIDGE_BENCH_BIN=PATH` runs another build of
//! `birdbridge` (a copy of an earlier one, to compare).

#[path = "../tests/fake_x/mod.rs"]
mod fake_x;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use birdbridge::clock::Clock;
use fake_x::FakeX;

/// Routes unless `BIRDBRIDGE_BENCH_ROUTES` says otherwise.
const ROUTES: usize = 100;

fn main() {
    let minutes = env_number("BIRDBRIDGE_BENCH_MINUTES").unwrap_or(10).max(2);
    let routes = env_number("BIRDBRIDGE_BENCH_ROUTES")
        .and_then(|r| usize::try_from(r).ok())
        .unwrap_or(ROUTES)
        .max(1);
    let clock = Clock::System;
    let fake = FakeX::start_in_thread(clock.clone());
    // One app-only bearer token for every route: the app-level window (10,000 requests per
    // 15 minutes), which 100 routes polling every minute (1,500) stay well inside. More
    // routes get a window they stay inside too: the figures are about polling, not waiting.
    let window = u64::try_from(routes * 15 * 2)
        .unwrap_or(u64::MAX)
        .max(10_000);
    fake.set_window(window, clock.now() + chrono::Duration::minutes(15));
    let dir = tempfile::TempDir::new().expect("temp folder");
    let config_path = write_config(&fake, &dir, routes);

    let mut child = start_daemon(&config_path);
    let pid = child.id();
    let started = Instant::now();
    let tick = clock_ticks();

    // Let the first cycle (user lookups, cursors) pass, then measure idle polling.
    let deadline = Instant::now() + Duration::from_secs(300);
    while fake.reads().users < routes as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    let startup = started.elapsed();
    std::thread::sleep(Duration::from_secs(20));
    let idle_minutes = env_number("BIRDBRIDGE_BENCH_IDLE_MINUTES")
        .unwrap_or(minutes / 2)
        .max(1);
    let idle = idle_phase(pid, tick, &fake, idle_minutes);

    // Active: one new post per account, half-way between two polls, every minute.
    let active_minutes = minutes.saturating_sub(idle_minutes).max(1);
    let reads0 = fake.reads();
    let lines0 = lines(&dir);
    let cpu1 = cpu_seconds(pid, tick);
    for _ in 0..active_minutes {
        wait_until_second(30);
        for i in 0..routes {
            fake.post(&format!("{}", 1000 + i), "news", serde_json::json!({}));
        }
        std::thread::sleep(Duration::from_secs(31));
    }
    std::thread::sleep(Duration::from_secs(15));
    let active_cpu = cpu_seconds(pid, tick) - cpu1;
    let reads = fake.reads();
    let mirrored = lines(&dir) - lines0;
    let (rss, peak) = memory_kib(pid);
    let elapsed = started.elapsed();

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let stop = Instant::now();
    let status = child.wait().expect("wait for birdbridge");

    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let per_post = (reads.posts - reads0.posts) as f64 / mirrored.max(1) as f64;
    println!(
        "routes: {routes}, schedule: every minute, run for {:.1} min (every account looked up after {:.1} s)",
        elapsed.as_secs_f64() / 60.0,
        startup.as_secs_f64()
    );
    idle.print();
    println!(
        "resident memory at the end: {:.1} MB (peak {:.1} MB)",
        kib_to_mb(rss),
        kib_to_mb(peak)
    );
    println!("active: {active_cpu:.2} CPU s over {active_minutes} min, {mirrored} posts mirrored");
    println!(
        "billable post reads per mirrored post: {per_post:.2} ({} reads, {mirrored} posts; plus {} user lookups once at start)",
        reads.posts - reads0.posts,
        reads.users
    );
    println!(
        "SIGTERM to exit: {:.2} s ({status})",
        stop.elapsed().as_secs_f64()
    );
}

/// Starts `birdbridge run` (or `BIRDBRIDGE_BENCH_BIN`) on the configuration, quietly.
fn start_daemon(config_path: &std::path::Path) -> std::process::Child {
    let bin = std::env::var_os("BIRDBRIDGE_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_birdbridge").into());
    Command::new(bin)
        .arg("--config")
        .arg(config_path)
        .arg("run")
        .env("BIRDBRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start birdbridge run")
}

/// What the idle phase measured.
struct Idle {
    minutes: u64,
    /// CPU seconds the daemon used.
    cpu: f64,
    /// Requests the fake X API answered meanwhile.
    polls: u64,
    /// Resident memory (KiB) at the start and after each minute.
    rss: Vec<u64>,
    /// Connections to the fake X API closed in the last minute (in `TIME_WAIT`): polls that
    /// did not reuse a connection (against the real API, a TLS handshake each).
    closed: usize,
}

/// Nothing new for `minutes`: the daemon's CPU time, its polls, its memory each minute.
fn idle_phase(pid: u32, tick: f64, fake: &FakeX, minutes: u64) -> Idle {
    eprintln!("daemon pid {pid}: idle phase starts now, for {minutes} min");
    let cpu0 = cpu_seconds(pid, tick);
    let requests0 = fake.reads().requests;
    let mut rss = vec![memory_kib(pid).0];
    for _ in 0..minutes {
        std::thread::sleep(Duration::from_secs(60));
        rss.push(memory_kib(pid).0);
    }
    eprintln!("daemon pid {pid}: idle phase over");
    Idle {
        minutes,
        cpu: cpu_seconds(pid, tick) - cpu0,
        polls: fake.reads().requests - requests0,
        rss,
        closed: closed_connections(fake.addr.port()),
    }
}

impl Idle {
    fn print(&self) {
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let per_hour = self.cpu * 60.0 / self.minutes as f64;
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let per_poll_us = self.cpu * 1e6 / self.polls.max(1) as f64;
        let rss: Vec<String> = self
            .rss
            .iter()
            .map(|&kib| format!("{:.1}", kib_to_mb(kib)))
            .collect();
        println!(
            "resident memory while idle, MB, at its start and after each minute: {}",
            rss.join(", ")
        );
        println!(
            "idle polling: {:.2} CPU s over {} min ({} requests) = {per_hour:.2} CPU s per hour, {per_poll_us:.0} µs per poll",
            self.cpu, self.minutes, self.polls
        );
        println!(
            "connections closed in the last idle minute: {} (a poll that did not reuse one)",
            self.closed
        );
    }
}

/// TCP connections to or from `port` on 127.0.0.1 in `TIME_WAIT` (closed within the last
/// minute), from `/proc/net/tcp`.
fn closed_connections(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[3] == "06"
                && (fields[1].ends_with(&port) || fields[2].ends_with(&port))
        })
        .count()
}

/// A number from the environment.
fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// The users and their old posts on the fake X, and the configuration: one X source and
/// route per user, every minute, into one dry-run target. Returns the configuration's path.
fn write_config(fake: &FakeX, dir: &tempfile::TempDir, routes: usize) -> std::path::PathBuf {
    let token = dir.path().join("x.token");
    std::fs::write(&token, fake_x::TOKEN).expect("token file");
    let mut config = String::from(
        "[ledger]\npath = \"ledger.sqlite\"\n\n[targets.out]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\n",
    );
    for i in 0..routes {
        let id = format!("{}", 1000 + i);
        fake.add_user(&id, &format!("acct{i}"));
        fake.post(&id, "an old post", serde_json::json!({}));
        write!(
            config,
            "[sources.s{i}]\nkind = \"x\"\nusername = \"acct{i}\"\ntoken_file = {token:?}\n\
             schedule = \"0 * * * * *\"\napi_url = \"{}\"\n\n[routes.r{i}]\nsource = \"s{i}\"\ntargets = [\"out\"]\n\n",
            fake.url(),
            token = token.display().to_string(),
        )
        .expect("write to a string");
    }
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, config).expect("config");
    config_path
}

fn kib_to_mb(kib: u64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "memory sizes are far below 2^52"
    )]
    let mb = kib as f64 / 1024.0;
    mb
}

fn lines(dir: &tempfile::TempDir) -> usize {
    std::fs::read_to_string(dir.path().join("out.jsonl")).map_or(0, |t| t.lines().count())
}

/// Sleeps until the wall clock's second is `second`.
fn wait_until_second(second: u32) {
    use chrono::Timelike;
    let now = chrono::Utc::now();
    let wait = (i64::from(second) - i64::from(now.second())).rem_euclid(60);
    std::thread::sleep(Duration::from_secs(u64::try_from(wait).unwrap_or(0)));
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (field(11) + field(12)) / ticks
}

/// `VmRSS` and `VmHWM` in KiB, from `/proc/<pid>/status`.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}
