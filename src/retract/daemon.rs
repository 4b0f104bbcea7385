//! Retractions in the daemon: the jobs `retract` hands to a running daemon, and the deletes
//! that follow the source (`deletes = "follow"`), run next to the live routes on the same
//! per-account budgets. A person's job runs in the backfill lane (live posts keep their
//! reserve, as with a backfill); a delete at the source in the live lane (it is news).
//! Jobs are resumable: a daemon stopped mid-job takes it up again at its next start.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::job_end;
use crate::budget::BudgetPool;
use crate::clock::Clock;
use crate::config::{DeletesPolicy, Settings};
use crate::engine::{Context, Lane, Retractor};
use crate::model::PostId;
use crate::normalize::x::id_order;
use crate::store::{Ledger, NewJob, RetractCause, RetractJob, RetractRunner, StoreError};

/// How long the runner rests when nothing is due (a wake-up comes sooner for news).
const IDLE: Duration = Duration::seconds(60);

/// Runs the daemon's retraction jobs, one at a time, until cancelled.
#[derive(Debug, Clone)]
pub struct RetractionRunner {
    /// The daemon's settings.
    pub settings: Arc<Settings>,
    /// The daemon's ledger.
    pub ledger: Arc<Ledger>,
    /// The daemon's clock.
    pub clock: Clock,
    /// Stops the runner (the part in hand is settled first).
    pub cancel: CancellationToken,
    /// The daemon's rate-limit budgets.
    pub budgets: BudgetPool,
    /// Woken when a source reports deletes, so they are taken back at once.
    pub wake: Arc<Notify>,
}

impl RetractionRunner {
    /// Runs due jobs until cancelled.
    pub async fn run(self) {
        loop {
            let now = self.clock.now();
            let rest = match self.ledger.call(move |l| l.next_retraction_job(now)).await {
                Ok((Some(job), _)) => {
                    self.run_job(job).await;
                    Duration::zero()
                }
                Ok((None, next)) => next.map_or(IDLE, |t| (t - now).clamp(Duration::zero(), IDLE)),
                Err(err) => {
                    error!(error = %err, "cannot read the retraction jobs");
                    IDLE
                }
            };
            if self.cancel.is_cancelled() {
                break;
            }
            if rest > Duration::zero() && !self.rest(rest).await {
                break;
            }
        }
    }

    /// Runs every job that is due now once (`once`: no daemon stays to run them later).
    pub async fn run_due(self) {
        loop {
            let now = self.clock.now();
            match self.ledger.call(move |l| l.next_retraction_job(now)).await {
                Ok((Some(job), _)) if !self.cancel.is_cancelled() => {
                    let id = job.id;
                    self.run_job(job).await;
                    // A job whose posts wait for a retry is not due again now; one that
                    // made no progress is left for the next run.
                    if matches!(
                        self.ledger.call(move |l| l.retraction_job(id)).await,
                        Ok(Some(j)) if j.state == "running"
                    ) {
                        break;
                    }
                }
                Ok(_) => break,
                Err(err) => {
                    error!(error = %err, "cannot read the retraction jobs");
                    break;
                }
            }
        }
    }

    /// Sleeps, or until woken; `false` when cancelled.
    async fn rest(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            () = self.clock.sleep(d) => true,
            () = self.wake.notified() => true,
        }
    }

    /// One pass over a job; records how it ended (left `running` when stopped).
    async fn run_job(&self, job: RetractJob) {
        let id = job.id;
        info!(job = id, route = %job.route, selection = %job.selection, "taking posts back");
        let now = self.clock.now();
        if let Err(err) = self
            .ledger
            .call(move |l| l.set_retraction_state(id, "running", None, now))
            .await
        {
            error!(error = %err, "cannot update the retraction jobs");
            return;
        }
        let lane = match job.cause {
            RetractCause::Operator => Lane::Backfill,
            RetractCause::Source => Lane::Live,
        };
        let ctx = Context {
            lane,
            cancel: self.cancel.clone(),
            clock: self.clock.clone(),
            dry_run: false,
            budgets: self.budgets.clone(),
        };
        let targets: Vec<String> = match (&job.target, self.settings.routes.get(&job.route)) {
            (Some(t), _) => vec![t.clone()],
            (None, Some(r)) => r.targets.clone(),
            (None, None) => Vec::new(),
        };
        let result = match Retractor::new(&self.settings, &job.route, &targets, ctx) {
            Ok(mut retractor) => retractor
                .run(&self.ledger, &job)
                .await
                .map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        let (state, note) = match result {
            Ok(pass) if pass.interrupted => return,
            Ok(pass) => {
                let (state, note) = job_end(&pass);
                info!(job = id, state, %note, "retraction job ran");
                (state, note)
            }
            Err(err) => {
                error!(job = id, error = %err, "retraction job failed");
                ("failed", err)
            }
        };
        let now = self.clock.now();
        if let Err(err) = self
            .ledger
            .call(move |l| l.set_retraction_state(id, state, Some(&note), now))
            .await
        {
            error!(error = %err, "cannot update the retraction jobs");
        }
    }
}

/// Posts `ids` were deleted at the source that `routes` read: for each of those routes
/// with `deletes = "follow"`, a job of the daemon takes them back from every target (in
/// the same transaction, what of them was not sent is cancelled, and a post not mirrored
/// yet is recorded as skipped, so it never is). Returns how many jobs were made.
///
/// # Errors
/// Ledger failures.
pub async fn follow_deletes(
    ledger: &Arc<Ledger>,
    settings: &Settings,
    routes: &[String],
    ids: Vec<PostId>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut ids: Vec<String> = ids.into_iter().map(|id| id.0).collect();
    // Newest first, so a reply goes before the post it replies to.
    ids.sort_by(|a, b| id_order(b, a));
    ids.dedup();
    let follow: Vec<(String, Vec<String>)> = routes
        .iter()
        .filter_map(|name| {
            let r = settings.routes.get(name)?;
            (r.deletes == DeletesPolicy::Follow).then(|| (name.clone(), r.targets.clone()))
        })
        .collect();
    if follow.is_empty() || ids.is_empty() {
        if !ids.is_empty() {
            info!(
                posts = ids.len(),
                "posts deleted at the source; no route follows deletes (deletes = \"off\")"
            );
        }
        return Ok(0);
    }
    let made = ledger
        .call(move |l| {
            let mut made = 0;
            for (route, targets) in &follow {
                let items: Vec<(String, String)> = ids
                    .iter()
                    .flat_map(|id| targets.iter().map(move |t| (id.clone(), t.clone())))
                    .collect();
                let selection = deleted_selection(&ids);
                let job = NewJob {
                    route,
                    target: None,
                    selection: &selection,
                    cause: RetractCause::Source,
                    runner: RetractRunner::Daemon,
                    state: "queued",
                };
                l.create_retraction(&job, &items, true, now)?;
                made += 1;
            }
            Ok(made)
        })
        .await?;
    if made > 0 {
        warn!(routes = %routes.join(", "), "posts deleted at the source: taking their mirrored statuses back");
    }
    Ok(made)
}

/// How a job of deletes at the source names its posts: the first few ids.
fn deleted_selection(ids: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = format!(
        "deleted at the source: {}",
        ids[..ids.len().min(SHOWN)].join(", ")
    );
    if ids.len() > SHOWN {
        let _ = write!(s, " and {} more", ids.len() - SHOWN);
    }
    s
}
