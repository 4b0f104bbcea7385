//! What the fediverse and X calls layers share around one account: its name, the run's
//! clock and stop request, the priority of its calls, and its rate-limit [`Budget`]
//! (shared with the other clients of the same account in the process, [`BudgetPool`]).
//! Each layer keeps what is its own: how an answer's headers read, what a 429 or 503 means,
//! which calls may be repeated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::budget::{
    Budget, BudgetPool, Family, PooledBudget, Priority, Seed, SharedBudget, Window,
};
use crate::clock::Clock;
use crate::targets::TargetError;

/// One account's budget and the run its calls belong to.
#[derive(Debug)]
pub struct Account {
    /// The target's name, for logs and errors.
    target: String,
    clock: Clock,
    /// Cancelled when the run is asked to stop: every wait ends at once.
    cancel: CancellationToken,
    priority: Priority,
    budget: SharedBudget,
}

impl Account {
    /// The account of target `target`, budgeted from `seeds` until the server says more,
    /// at backfill priority with `share` until told otherwise.
    pub fn new(
        target: &str,
        seeds: &[Seed],
        clock: Clock,
        cancel: CancellationToken,
        share: f64,
    ) -> Self {
        let budget = Budget::seeded(seeds, clock.now());
        Self {
            target: target.to_owned(),
            clock,
            cancel,
            priority: Priority::Backfill { share },
            budget: Arc::new(Mutex::new(PooledBudget {
                budget,
                restored: false,
            })),
        }
    }

    /// The target's name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Now, by the run's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The run's stop request.
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Shares this account's budget with the other clients of the same account in the
    /// process, under `key` (see [`BudgetPool`]).
    pub fn share_budget(&mut self, pool: &BudgetPool, key: &str) {
        let own = self.budget().budget.clone();
        self.budget = pool.entry(key, || own);
    }

    /// Sets whose calls these are (live posts may use the whole budget).
    pub fn set_priority(&mut self, priority: Priority) {
        self.priority = priority;
    }

    /// Once per account and process (a client connecting later, a reconnect or a backfill
    /// next to the live routes, keeps what the others learnt since): seeds the budget
    /// afresh from `reseed` (when what the server is became known only now), then takes up
    /// the windows `saved` by earlier runs. Without `saved` (no ledger) nothing counts as
    /// restored yet.
    pub fn restore(&self, reseed: Option<&[Seed]>, saved: Option<&BTreeMap<Family, Window>>) {
        let mut pooled = self.budget();
        if pooled.restored {
            return;
        }
        if let Some(seeds) = reseed {
            pooled.budget = Budget::seeded(seeds, self.clock.now());
        }
        if let Some(saved) = saved {
            pooled
                .budget
                .restore(saved.iter().map(|(f, w)| (*f, w.clone())));
            pooled.restored = true;
        }
    }

    /// The budget's windows, for the ledger to keep.
    pub fn windows(&self) -> BTreeMap<Family, Window> {
        self.budget().budget.windows().clone()
    }

    /// Sustained calls of `family` per hour the budget allows at this priority.
    pub fn per_hour(&self, family: Family) -> f64 {
        self.budget().budget.per_hour(family, 1, self.priority)
    }

    /// The account's budget. Held only for a synchronous step, never across a wait.
    pub fn budget(&self) -> MutexGuard<'_, PooledBudget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one call of `family` from the budget, waiting for the window when it is used
    /// up.
    ///
    /// # Errors
    /// [`TargetError::Interrupted`] when the run is asked to stop meanwhile.
    pub async fn take(&self, family: Family) -> Result<(), TargetError> {
        let mut announced = false;
        loop {
            let now = self.clock.now();
            let taken = self.budget().budget.try_take(family, self.priority, now);
            match taken {
                Ok(()) => return Ok(()),
                Err(until) => {
                    if !announced {
                        info!(target = %self.target, %family, until = %until.format("%H:%M:%S"), "waiting for the rate-limit budget");
                        announced = true;
                    }
                    self.wait_until(until).await?;
                }
            }
        }
    }

    /// Sleeps until `until`, or until the run is asked to stop.
    ///
    /// # Errors
    /// [`TargetError::Interrupted`] when the run is asked to stop.
    pub async fn wait_until(&self, until: DateTime<Utc>) -> Result<(), TargetError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(TargetError::Interrupted),
            () = self.clock.sleep_until(until) => Ok(()),
        }
    }

    /// Sleeps for `pause`, or until the run is asked to stop.
    ///
    /// # Errors
    /// [`TargetError::Interrupted`] when the run is asked to stop.
    pub async fn pause(&self, pause: Duration) -> Result<(), TargetError> {
        self.wait_until(self.clock.now() + pause).await
    }
}
