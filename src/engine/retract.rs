//! Taking back what a route posted: one retraction job's posts, on each target, the way
//! delivery goes the other way round. The job lists its posts newest first (so a reply goes
//! before the post it replies to); each post's parts go last part first, and a part that
//! cannot be taken back now stops the rest of its own thread only. Every ledger write is
//! made here, on the blocking pool, in the order that keeps a crash harmless: `retracting`
//! before the target is called (crash point `retracting`), `retracted` after it answered
//! (crash point `retracted` in between). A part found `retracting` is asked again: a delete
//! or an unboost is safe to repeat, and a status already gone counts as taken back.
//!
//! Pacing is the target's: each call takes from the account's deletes budget (shared with
//! every other client of the account in the process) and waits when it is used up; a 429
//! or 503 is waited out there too. A boost is undone on the status it boosted
//! ([`Retraction::Boost`]), never by deleting the id its answer carried.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use super::reach::{build_target, recall, remember, unusable, Reach};
use super::{Context, SetupError, MAX_ATTEMPTS, MAX_REJECTED_ATTEMPTS};
use crate::backoff::Backoff;
use crate::config::Settings;
use crate::crash::{self, CrashPoint};
use crate::store::{Ledger, RetractItem, RetractJob, StoreError, Taking};
use crate::targets::{Pace, Retracted, Retraction, Target, TargetError};

/// The wait before a post that could not be taken back is tried again: a minute, doubling,
/// at most an hour.
const RETRY: Backoff = Backoff::new(Duration::minutes(1), Duration::hours(1));

/// How long a post whose delivery is under way (a part `posting`) waits before it is
/// looked at again.
const IN_FLIGHT: Duration = Duration::minutes(1);

/// What one pass over a job did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TakeBack {
    /// Statuses the targets took back.
    pub taken_back: usize,
    /// Statuses that were gone already (counted as taken back).
    pub already_gone: usize,
    /// Posts (per target) settled in this pass.
    pub posts_done: usize,
    /// Posts (per target) given up: the server refused to take them back.
    pub posts_failed: usize,
    /// Targets that could not be used in this pass, with why (their posts wait).
    pub targets_stopped: Vec<(String, String)>,
    /// Posts (per target) still to take back after the pass.
    pub posts_left: u64,
    /// When the first of those is due again (a retry, a target back up).
    pub next_try_at: Option<DateTime<Utc>>,
    /// Stopped on request before the pass ended.
    pub interrupted: bool,
}

/// One target a job takes back from.
#[derive(Debug)]
struct Taker {
    name: String,
    target: Option<Box<dyn Target>>,
    reach: Reach,
}

/// The targets of one route that a retraction job takes back from. See the module docs.
#[derive(Debug)]
pub struct Retractor {
    route: String,
    takers: Vec<Taker>,
    ctx: Context,
}

/// What happened to one post on one target.
enum Outcome {
    /// Everything of it is taken back.
    Done,
    /// Left for later: at this time, counted towards giving up or not.
    Later {
        error: String,
        at: DateTime<Utc>,
        counted: bool,
    },
    /// Given up: the server refused, again and again.
    GivenUp(String),
    /// The run was asked to stop.
    Interrupted,
}

impl Retractor {
    /// A retractor for `route`'s targets named in `targets` (built, not connected yet).
    ///
    /// # Errors
    /// An unknown route, or a target whose token cannot be read.
    pub fn new(
        settings: &Settings,
        route: &str,
        targets: &[String],
        ctx: Context,
    ) -> Result<Self, SetupError> {
        super::route_settings(settings, route)?;
        let mut takers = Vec::new();
        for name in targets {
            let Some(target_settings) = settings.targets.get(name) else {
                continue;
            };
            takers.push(Taker {
                name: name.clone(),
                target: Some(build_target(route, name, target_settings, &ctx)?),
                reach: Reach::Untried,
            });
        }
        Ok(Self {
            route: route.to_owned(),
            takers,
            ctx,
        })
    }

    /// Connects the targets that are due (not tried yet, or down and past their backoff);
    /// returns each connected target's deletes pace, for the estimate.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn connect(
        &mut self,
        ledger: &Arc<Ledger>,
    ) -> Result<BTreeMap<String, Option<Pace>>, StoreError> {
        let now = self.ctx.clock.now();
        let mut paces = BTreeMap::new();
        for i in 0..self.takers.len() {
            self.connect_one(ledger, i, now).await?;
            let t = &self.takers[i];
            if let (Reach::Connected, Some(target)) = (&t.reach, &t.target) {
                paces.insert(t.name.clone(), target.deletes_pace());
            }
        }
        Ok(paces)
    }

    async fn connect_one(
        &mut self,
        ledger: &Arc<Ledger>,
        i: usize,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let t = &mut self.takers[i];
        let due = match &t.reach {
            Reach::Untried => true,
            Reach::Down { retry_at, .. } => *retry_at <= now,
            Reach::Connected | Reach::Refused { .. } => false,
        };
        let Some(target) = t.target.as_deref_mut().filter(|_| due) else {
            return Ok(());
        };
        let name = t.name.clone();
        let memory = ledger.call(move |l| recall(l, &name)).await?;
        let result = target.connect(&memory).await;
        remember(ledger, &t.name, target, &self.ctx.clock).await?;
        match result {
            Ok(()) => t.reach = Reach::Connected,
            Err(TargetError::Interrupted) => {}
            Err(err) => t.reach = unusable(&self.route, &t.name, &t.reach, &err, now),
        }
        Ok(())
    }

    /// One pass over `job`: every post due now, in the job's order, on its target.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn run(
        &mut self,
        ledger: &Arc<Ledger>,
        job: &RetractJob,
    ) -> Result<TakeBack, StoreError> {
        let mut pass = TakeBack::default();
        let (id, now) = (job.id, self.ctx.clock.now());
        let (due, _) = ledger
            .call(move |l| l.due_retraction_items(id, now))
            .await?;
        for item in due {
            if self.ctx.cancel.is_cancelled() {
                pass.interrupted = true;
                break;
            }
            let outcome = self.take_back(ledger, job, &item, &mut pass).await?;
            if matches!(outcome, Outcome::Interrupted) {
                pass.interrupted = true;
                break;
            }
            settle_item(ledger, &item, outcome, &mut pass).await?;
        }
        for t in &self.takers {
            if let Reach::Down { why, .. } | Reach::Refused { why, .. } = &t.reach {
                pass.targets_stopped.push((t.name.clone(), why.clone()));
            }
        }
        for t in &mut self.takers {
            if let Some(target) = t.target.as_deref_mut() {
                remember(ledger, &t.name, target, &self.ctx.clock).await?;
            }
        }
        let now = self.ctx.clock.now();
        let (left, next) = ledger
            .call(move |l| {
                let left = l.pending_retraction_items(id)?;
                let (due, later) = l.due_retraction_items(id, now)?;
                Ok((left, if due.is_empty() { later } else { Some(now) }))
            })
            .await?;
        pass.posts_left = left;
        pass.next_try_at = next;
        Ok(pass)
    }

    /// Takes back one post on its target, the last part first.
    async fn take_back(
        &mut self,
        ledger: &Arc<Ledger>,
        job: &RetractJob,
        item: &RetractItem,
        pass: &mut TakeBack,
    ) -> Result<Outcome, StoreError> {
        let now = self.ctx.clock.now();
        let Some(i) = self.takers.iter().position(|t| t.name == item.target) else {
            return Ok(Outcome::GivenUp(format!(
                "target `{}` is not a target of route `{}` in the configuration",
                item.target, self.route
            )));
        };
        self.connect_one(ledger, i, now).await?;
        match &self.takers[i].reach {
            Reach::Connected => {}
            Reach::Down { why, retry_at, .. } => {
                return Ok(Outcome::Later {
                    error: why.clone(),
                    at: *retry_at,
                    counted: false,
                })
            }
            Reach::Refused { why, .. } => {
                return Ok(Outcome::Later {
                    error: why.clone(),
                    at: now + RETRY.nth(3),
                    counted: false,
                })
            }
            Reach::Untried => return Ok(Outcome::Interrupted),
        }
        let work = {
            let (job, item) = (job.clone(), item.clone());
            ledger
                .call(move |l| l.retraction_work(&job, &item, now))
                .await?
        };
        if work.in_flight {
            // Counted: a delivery under way settles within the tries; one a crash left
            // unsettled needs a delivery run (`once`, the daemon, the backfill) first.
            let error = "a part of the post is being delivered, or its delivery was \
                         interrupted: the next delivery run settles it, then retract again"
                .to_owned();
            if item.tries + 1 >= MAX_ATTEMPTS {
                return Ok(Outcome::GivenUp(error));
            }
            return Ok(Outcome::Later {
                error,
                at: now + IN_FLIGHT.max(RETRY.jittered(item.tries)),
                counted: true,
            });
        }
        for taking in &work.takings {
            let t = &mut self.takers[i];
            let Some(target) = t.target.as_deref_mut() else {
                return Ok(Outcome::Interrupted);
            };
            match take_one(ledger, target, job, taking, &self.ctx.clock).await? {
                Ok(Retracted::Done) => pass.taken_back += 1,
                Ok(Retracted::AlreadyGone) => {
                    pass.taken_back += 1;
                    pass.already_gone += 1;
                }
                Err(err) => {
                    return self.failed(ledger, i, job, item, taking, err).await;
                }
            }
        }
        Ok(Outcome::Done)
    }

    /// What a failure to take back `taking` means for its post and target.
    async fn failed(
        &mut self,
        ledger: &Arc<Ledger>,
        i: usize,
        job: &RetractJob,
        item: &RetractItem,
        taking: &Taking,
        err: TargetError,
    ) -> Result<Outcome, StoreError> {
        let now = self.ctx.clock.now();
        let message = err.to_string();
        let t = &mut self.takers[i];
        warn!(route = %self.route, target = %t.name, post = %item.source_post_id, part = taking.key.part_index, error = %message, "could not take a status back");
        let outcome = match &err {
            TargetError::Interrupted => return Ok(Outcome::Interrupted),
            TargetError::Auth { .. } | TargetError::Unreachable { .. } => {
                t.reach = unusable(&self.route, &t.name, &t.reach, &err, now);
                let at = match &t.reach {
                    Reach::Down { retry_at, .. } => *retry_at,
                    _ => now + RETRY.nth(3),
                };
                Outcome::Later {
                    error: message.clone(),
                    at,
                    counted: false,
                }
            }
            TargetError::RateLimited { retry_after } => Outcome::Later {
                error: message.clone(),
                at: *retry_after,
                counted: false,
            },
            TargetError::Rejected { .. } if item.tries + 1 >= MAX_REJECTED_ATTEMPTS => {
                Outcome::GivenUp(message.clone())
            }
            _ if item.tries + 1 >= MAX_ATTEMPTS => Outcome::GivenUp(message.clone()),
            _ => Outcome::Later {
                error: message.clone(),
                at: now + RETRY.jittered(item.tries),
                counted: true,
            },
        };
        let (key, job) = (taking.key.clone(), job.clone());
        let given_up = matches!(outcome, Outcome::GivenUp(_));
        ledger
            .call(move |l| {
                if given_up {
                    l.retract_given_up(&key, &job, &message, now)
                } else {
                    l.retract_failed(&key, &message, now)
                }
            })
            .await?;
        Ok(outcome)
    }
}

/// Takes back one part: stamped `retracting`, the target asked, recorded `retracted`. The
/// outer error is the ledger's; the inner one the target's.
async fn take_one(
    ledger: &Arc<Ledger>,
    target: &mut dyn Target,
    job: &RetractJob,
    taking: &Taking,
    clock: &crate::clock::Clock,
) -> Result<Result<Retracted, TargetError>, StoreError> {
    {
        let (key, now) = (taking.key.clone(), clock.now());
        ledger.call(move |l| l.begin_retract(&key, now)).await?;
    }
    crash::point(CrashPoint::Retracting);
    let what = match &taking.boost_of {
        Some(original) => Retraction::Boost { original },
        None => Retraction::Status(&taking.remote_id),
    };
    let answer = match target.retract(what).await {
        Ok(answer) => answer,
        Err(err) => return Ok(Err(err)),
    };
    crash::point(CrashPoint::Retracted);
    let gone = answer == Retracted::AlreadyGone;
    let (key, job, now) = (taking.key.clone(), job.clone(), clock.now());
    ledger
        .call(move |l| l.mark_retracted(&key, &job, gone, now))
        .await?;
    info!(
        route = %taking.key.route,
        target = %taking.key.target,
        post = %taking.key.source_post_id,
        part = taking.key.part_index,
        status = %taking.remote_id,
        boost = taking.boost_of.is_some(),
        already_gone = gone,
        "status taken back"
    );
    Ok(Ok(answer))
}

/// Records what happened to an item.
async fn settle_item(
    ledger: &Arc<Ledger>,
    item: &RetractItem,
    outcome: Outcome,
    pass: &mut TakeBack,
) -> Result<(), StoreError> {
    let item = item.clone();
    match outcome {
        Outcome::Done => {
            pass.posts_done += 1;
            ledger
                .call(move |l| l.finish_retraction_item(&item, None))
                .await
        }
        Outcome::GivenUp(error) => {
            pass.posts_failed += 1;
            ledger
                .call(move |l| l.finish_retraction_item(&item, Some(&error)))
                .await
        }
        Outcome::Later { error, at, counted } => {
            ledger
                .call(move |l| l.retry_retraction_item(&item, &error, at, counted))
                .await
        }
        Outcome::Interrupted => Ok(()),
    }
}
