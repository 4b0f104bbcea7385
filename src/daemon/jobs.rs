//! Backfills the daemon runs for `backfill` commands started next to it (ARCHITECTURE.md
//! "Scheduling and budgets"): they go through the same engine in the backfill lane, on the
//! daemon's rate-limit budgets, so live posts keep their reserve. Also the heartbeat that
//! tells a `backfill` command that a daemon runs (and which process: `src/alive.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::alive::{this_process, HEARTBEAT};
use crate::backfill::{self, BackfillError, BackfillOptions};
use crate::budget::BudgetPool;
use crate::clock::Clock;
use crate::config::Settings;
use crate::progress::Progress;
use crate::report::DeliveryReport;
use crate::store::{BackfillJob, Ledger};

/// How often the queue is looked at when it is empty, and how long a job whose parts wait
/// (a target down) rests before it is run again.
const POLL: Duration = Duration::seconds(60);
const REST: Duration = Duration::seconds(60);

/// Runs the queued backfills, one at a time, and keeps the heartbeat.
#[derive(Debug, Clone)]
pub(super) struct JobRunner {
    pub(super) settings: Arc<Settings>,
    pub(super) ledger: Arc<Ledger>,
    pub(super) clock: Clock,
    pub(super) cancel: CancellationToken,
    pub(super) budgets: BudgetPool,
}

impl JobRunner {
    /// Writes the heartbeat until cancelled, then removes it.
    pub(super) async fn heartbeat(self) {
        let beat = this_process();
        loop {
            let now = self.clock.now();
            let beat = beat.clone();
            if let Err(err) = self.ledger.call(move |l| l.beat(&beat, now)).await {
                warn!(error = %err, "cannot write the daemon heartbeat");
            }
            if !self.pause(HEARTBEAT).await {
                break;
            }
        }
        if let Err(err) = self.ledger.call(Ledger::clear_beat).await {
            warn!(error = %err, "cannot clear the daemon heartbeat");
        }
    }

    /// Runs queued jobs until cancelled.
    pub(super) async fn run(self) {
        loop {
            let rest = match self.ledger.call(Ledger::next_job).await {
                Ok(Some(job)) => self.run_job(job).await,
                Ok(None) => POLL,
                Err(err) => {
                    error!(error = %err, "cannot read the backfill queue");
                    REST
                }
            };
            if !self.pause(rest).await {
                break;
            }
        }
    }

    /// Sleeps; `false` when cancelled.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            () = self.clock.sleep(d) => true,
        }
    }

    /// Runs one job to its end (or to a stop request); returns how long to rest after it.
    async fn run_job(&self, job: BackfillJob) -> Duration {
        info!(job = job.id, route = %job.route, "running a queued backfill in the backfill lane");
        let id = job.id;
        let now = self.clock.now();
        if let Err(err) = self
            .ledger
            .call(move |l| l.set_job_state(id, "running", None, now))
            .await
        {
            error!(error = %err, "cannot update the backfill queue");
            return REST;
        }
        let opts = BackfillOptions {
            route: job.route.clone(),
            archive: job.archive.map(PathBuf::from),
            since: job.since,
            until: job.until,
            limit: job.limit.and_then(|l| usize::try_from(l).ok()),
            cancel: self.cancel.clone(),
            clock: self.clock.clone(),
            budgets: self.budgets.clone(),
            ..BackfillOptions::default()
        };
        let result = self.backfill(job.from_api, opts).await;
        if self.cancel.is_cancelled() {
            // Left `running`: the next start resumes it.
            return Duration::zero();
        }
        let (state, note, rest) = match result {
            Ok(r) if r.parts_left == 0 => (
                "done",
                format!(
                    "{} post(s) delivered in {} part(s); {} already done; {} skipped",
                    r.posts_delivered, r.parts_delivered, r.already_done, r.skipped
                ),
                Duration::zero(),
            ),
            // Parts wait (a target down, retries due later): run it again after a rest;
            // the ledger makes that resume where it stopped.
            Ok(r) => (
                "queued",
                format!(
                    "{} part(s) wait for delivery; tried again in a minute",
                    r.parts_left
                ),
                REST,
            ),
            Err(err) => ("failed", err.to_string(), Duration::zero()),
        };
        if state == "failed" {
            error!(job = id, error = %note, "queued backfill failed");
        } else {
            info!(job = id, state, %note, "queued backfill ran");
        }
        let now = self.clock.now();
        if let Err(err) = self
            .ledger
            .call(move |l| l.set_job_state(id, state, Some(&note), now))
            .await
        {
            error!(error = %err, "cannot update the backfill queue");
        }
        rest
    }

    async fn backfill(
        &self,
        from_api: bool,
        opts: BackfillOptions,
    ) -> Result<DeliveryReport, BackfillError> {
        if from_api {
            return backfill::api_backfill(&self.settings, &self.ledger, &opts).await;
        }
        let prepared =
            backfill::prepare_off_the_loop(Arc::clone(&self.settings), opts.clone()).await?;
        backfill::backfill(prepared, &self.ledger, &opts, &Progress::new(false, true)).await
    }
}
