//! Progress for long runs: a bar with counts and an ETA on a terminal, plain log lines
//! otherwise (systemd's journal, CI logs), and previews printed without tearing the bar.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::info;

/// How often a non-interactive run logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// See the module docs. Clones report to the same bar and counts.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    previews_to_stderr: bool,
    state: Arc<Mutex<LogState>>,
}

#[derive(Debug)]
struct LogState {
    total: u64,
    done: u64,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    /// A progress reporter. `interactive` draws a bar on stderr; previews go to stdout
    /// unless stdout carries machine-readable records.
    pub fn new(interactive: bool, previews_to_stderr: bool) -> Self {
        let bar = interactive.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} posts [{bar:30}] {per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            previews_to_stderr,
            state: Arc::new(Mutex::new(LogState {
                total: 0,
                done: 0,
                started: now,
                last_log: now,
            })),
        }
    }

    /// Sets the number of posts to go through.
    pub fn start(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
        if let Ok(mut s) = self.state.lock() {
            s.total = total;
            s.started = Instant::now();
        }
    }

    /// One more post handled.
    pub fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            return;
        }
        let Ok(mut s) = self.state.lock() else { return };
        s.done += 1;
        if s.last_log.elapsed() >= LOG_EVERY {
            #[expect(clippy::cast_precision_loss, reason = "post counts are far below 2^52")]
            let (done, left) = (s.done as f64, s.total.saturating_sub(s.done) as f64);
            s.last_log = Instant::now();
            let rate = done / s.started.elapsed().as_secs_f64().max(1e-9);
            let eta = left / rate.max(1e-9);
            info!(
                done = s.done,
                total = s.total,
                posts_per_s = format!("{rate:.0}"),
                eta_s = format!("{eta:.0}"),
                "backfill progress"
            );
        }
    }

    /// Prints a preview block for a person.
    pub fn preview(&self, text: &str) {
        let print = || {
            if self.previews_to_stderr {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            } else {
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
