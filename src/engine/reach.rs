//! Whether each target of the route can be delivered to now, and connecting it. A target
//! is untried, connected, down (retried after a growing, jittered backoff) or refused its
//! token (retried at the next cycle or run, rebuilt so a fixed token file is read again).
//! What the ledger remembers of a target (its cached profile, saved rate-limit windows) is
//! read here before it connects, and what it learnt recorded after, on the blocking pool.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{error, info};

use super::{eta_line, waiting_note, Context, Engine, SetupError};
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::config::TargetSettings;
use crate::profile::TargetProfile;
use crate::store::{Ledger, StoreError};
use crate::targets::{self, Memory, Surroundings, Target, TargetError, Tariff};

/// Time before reconnecting to a target that was down once, doubling with each failure in
/// a row, at most 30 min.
const RECONNECT: Backoff = Backoff::new(Duration::seconds(30), Duration::minutes(30));

/// Whether a target can be delivered to now.
#[derive(Debug, Clone)]
pub(super) enum Reach {
    /// Not tried yet in this run.
    Untried,
    /// Connected: its server's limits are known.
    Connected,
    /// The server could not be reached; tried again from `retry_at`.
    Down {
        why: String,
        failures: u32,
        retry_at: DateTime<Utc>,
    },
    /// The token was refused; tried again at the next cycle or run.
    Refused { why: String, retry: bool },
}

/// One target of the route, as the engine keeps it.
#[derive(Debug)]
pub(super) struct RouteTarget {
    pub(super) name: String,
    pub(super) settings: TargetSettings,
    /// The limits the renderer obeys: the server's once connected, the ledger's cached
    /// ones before, `None` when never known (posts then wait as a placeholder).
    pub(super) profile: Option<TargetProfile>,
    /// What the target bills (X), from its settings.
    pub(super) tariff: Option<Tariff>,
    /// `None` in a dry run (preview only).
    pub(super) target: Option<Box<dyn Target>>,
    pub(super) reach: Reach,
}

impl RouteTarget {
    /// Why the target cannot be delivered to now (the note its waiting parts carry);
    /// `None` when it can.
    pub(super) fn unusable(&self) -> Option<String> {
        match &self.reach {
            Reach::Down { why, .. } => {
                Some(waiting_note(format_args!("the target to answer: {why}")))
            }
            Reach::Refused { why, .. } => Some(waiting_note(format_args!("a valid token: {why}"))),
            Reach::Untried | Reach::Connected => None,
        }
    }
}

impl Engine {
    /// Targets that cannot be delivered to now, with the reason (an unreachable server, a
    /// refused token); their posts wait in the ledger.
    pub fn targets_waiting(&self) -> Vec<(String, String)> {
        self.targets
            .iter()
            .filter_map(|t| match &t.reach {
                Reach::Down { why, .. } | Reach::Refused { why, .. } => {
                    Some((t.name.clone(), why.clone()))
                }
                Reach::Untried | Reach::Connected => None,
            })
            .collect()
    }

    /// A new cycle starts: targets whose token was refused are tried again (the operator
    /// may have fixed it since).
    pub fn new_cycle(&mut self) {
        for t in &mut self.targets {
            if let Reach::Refused { retry, .. } = &mut t.reach {
                *retry = true;
            }
        }
    }

    /// Connects every target that is due: not tried yet, down and past its backoff, or
    /// refused before this cycle. A target that cannot be used is reported loudly and its
    /// posts wait; the others go on. With `backlog` posts to deliver, logs each target's
    /// estimate from its rate-limit budget.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn connect(
        &mut self,
        ledger: &Arc<Ledger>,
        backlog: usize,
    ) -> Result<(), StoreError> {
        let now = self.ctx.clock.now();
        for t in &mut self.targets {
            let due = match &t.reach {
                Reach::Untried => true,
                Reach::Connected => false,
                Reach::Down { retry_at, .. } => *retry_at <= now,
                Reach::Refused { retry, .. } => *retry,
            };
            if !due || t.target.is_none() {
                continue;
            }
            if matches!(t.reach, Reach::Refused { .. }) {
                // Read the token again: fixing it is what the operator was asked to do.
                match build_target(&self.route, &t.name, &t.settings, &self.ctx) {
                    Ok(fresh) => t.target = Some(fresh),
                    Err(err) => {
                        t.reach = Reach::Refused {
                            why: err.to_string(),
                            retry: false,
                        };
                        continue;
                    }
                }
            }
            let Some(target) = t.target.as_deref_mut() else {
                continue;
            };
            let name = t.name.clone();
            let mut memory = ledger.call(move |l| recall(l, &name)).await?;
            let result = target.connect(&memory).await;
            let learnt = remember(ledger, &t.name, target, &self.ctx.clock).await?;
            match result {
                Ok(()) => {
                    if !matches!(t.reach, Reach::Untried) {
                        info!(route = %self.route, target = %t.name, "target reachable again: delivering the posts that waited");
                    }
                    t.reach = Reach::Connected;
                    t.profile = Some(target.profile().clone());
                    if let Some(rate) = target.posts_per_hour().filter(|_| backlog > 0) {
                        let (route, name) = (self.route.clone(), t.name.clone());
                        let done = ledger.call(move |l| l.settled_posts(&route, &name)).await?;
                        let left = (backlog as u64).saturating_sub(done);
                        info!(route = %self.route, target = %t.name, "{}", eta_line(left, rate));
                    }
                }
                Err(TargetError::Interrupted) => {}
                Err(err) => {
                    if t.profile.is_none() {
                        // A profile read before the connection failed counts too.
                        memory.profile = learnt.profile.or(memory.profile);
                        t.profile = target.remembered_profile(&memory);
                    }
                    t.reach = unusable(&self.route, &t.name, &t.reach, &err, now);
                }
            }
        }
        Ok(())
    }
}

/// What the ledger remembers of target `name`.
pub(super) fn recall(ledger: &Ledger, name: &str) -> Result<Memory, StoreError> {
    Ok(Memory {
        profile: ledger.cached_profile(name)?,
        budgets: ledger
            .budgets(Some(name))?
            .into_iter()
            .map(|s| (s.family, s.window))
            .collect(),
    })
}

/// Records what `target` learnt since it was last asked (a profile read from its server,
/// its rate-limit windows, so `status` shows them and the next run starts from them), in
/// one ledger call; returns it.
pub(super) async fn remember(
    ledger: &Arc<Ledger>,
    name: &str,
    target: &mut dyn Target,
    clock: &Clock,
) -> Result<Memory, StoreError> {
    let learnt = target.learnt();
    if learnt.profile.is_none() && learnt.budgets.is_empty() {
        return Ok(learnt);
    }
    let (name, kept, now) = (name.to_owned(), learnt.clone(), clock.now());
    ledger
        .call(move |l| {
            if let Some(p) = &kept.profile {
                l.save_profile(&name, &p.url, &p.profile, p.fetched_at)?;
            }
            if !kept.budgets.is_empty() {
                l.save_budgets(&name, &kept.budgets, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(learnt)
}

/// Builds target `name` of `route` for the engine's run.
pub(super) fn build_target(
    route: &str,
    name: &str,
    settings: &TargetSettings,
    ctx: &Context,
) -> Result<Box<dyn Target>, SetupError> {
    let around = Surroundings {
        clock: &ctx.clock,
        cancel: &ctx.cancel,
        budgets: &ctx.budgets,
        lane: ctx.lane,
    };
    targets::build(name, settings, around).map_err(|source| SetupError::TargetSetup {
        route: route.to_owned(),
        target: name.to_owned(),
        source: Box::new(source),
    })
}

/// What a target that cannot be used becomes, logged loudly: a refused token stops it until
/// the next cycle or run; anything else is retried after a growing, jittered backoff.
pub(super) fn unusable(
    route: &str,
    target: &str,
    before: &Reach,
    err: &TargetError,
    now: DateTime<Utc>,
) -> Reach {
    if let TargetError::Auth { .. } = err {
        error!(route, target, error = %err, "target STOPPED: its token was refused; its posts wait in the ledger until the token is fixed (tried again at the next cycle or run)");
        return Reach::Refused {
            why: err.to_string(),
            retry: false,
        };
    }
    let failures = match before {
        Reach::Down { failures, .. } => failures + 1,
        _ => 1,
    };
    let retry_at = now + RECONNECT.jittered(failures - 1);
    error!(route, target, error = %err, retry_at = %retry_at.format("%H:%M:%S"), "target unreachable: its posts wait in the ledger and go out once it answers");
    Reach::Down {
        why: err.to_string(),
        failures,
        retry_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnecting_backs_off_and_is_capped() {
        assert_eq!(RECONNECT.nth(0), Duration::seconds(30));
        assert_eq!(RECONNECT.nth(2), Duration::minutes(2));
        assert_eq!(RECONNECT.nth(39), Duration::minutes(30));
    }
}
