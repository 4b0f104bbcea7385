//! The review deliverer: delivers the posts people released from review (`src/review.rs`
//! says which wait), from the copy the ledger kept, with their edits, through the route's
//! delivery engine ([`Engine::deliver_reviewed`]), oldest post first. A driver, as the
//! daemon and the backfills are: above the engine, while `review.rs` is below it.
//!
//! It alone delivers reviewed posts (any other offer of them is left alone by the plan
//! step), and it claims each post in the ledger before delivering it, renewing the claim
//! while it waits, so two processes (a daemon's deliverer and `birdbridge hold release`,
//! or `birdbridge desk`) never deliver the same post at once; a claim of a process that
//! died runs out after [`CLAIM`]. A part that fails is retried at a later sweep (the
//! engine's backoff applies). Runs inside `run` and `birdbridge desk` (woken at once by a
//! release on the page, and every [`SWEEP`] for releases made elsewhere and retries), and
//! once after `hold release`, `once` and `backfill`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::budget::BudgetPool;
use crate::clock::Clock;
use crate::config::Settings;
use crate::engine::{Context, Engine, Lane};
use crate::media::stage::MediaStage;
use crate::model::MediaSource;
use crate::progress::Progress;
use crate::report::DeliveryReport;
use crate::store::{Ledger, ReviewState, StoreError};

/// How long a claim lasts without renewal.
const CLAIM: chrono::Duration = chrono::Duration::minutes(10);

/// How often a claim is renewed while its delivery waits (rate limits, a slow server).
const RENEW: Duration = Duration::from_secs(120);

/// How often the deliverer looks for released posts it was not woken for.
pub const SWEEP: Duration = Duration::from_secs(30);

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Released posts offered.
    pub posts: usize,
    /// Parts delivered.
    pub parts_delivered: usize,
    /// Parts that failed (retried at a later sweep).
    pub parts_failed: usize,
}

/// See the module docs.
#[derive(Debug)]
pub struct Deliverer {
    settings: Arc<Settings>,
    ledger: Arc<Ledger>,
    clock: Clock,
    cancel: CancellationToken,
    budgets: BudgetPool,
    engines: HashMap<(String, bool), Engine>,
    holder: String,
    wake: Arc<Notify>,
}

impl Deliverer {
    /// A deliverer for the routes of `settings`, on the process's rate-limit budgets.
    pub fn new(
        settings: Arc<Settings>,
        ledger: Arc<Ledger>,
        clock: Clock,
        cancel: CancellationToken,
        budgets: BudgetPool,
    ) -> Self {
        let me = crate::alive::this_process();
        Self {
            settings,
            ledger,
            clock,
            cancel,
            budgets,
            engines: HashMap::new(),
            holder: format!(
                "pid {} on {}",
                me.pid,
                me.host.as_deref().unwrap_or("this machine")
            ),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the deliverer for a release made in this process.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Sweeps now, then whenever woken and every [`SWEEP`], until cancelled. With
    /// `defer_to_daemon`, sweeps only while no daemon runs on the ledger (whose own
    /// deliverer does it then).
    pub async fn run(mut self, defer_to_daemon: bool) {
        loop {
            let now = self.clock.now();
            let skip = defer_to_daemon
                && self
                    .ledger
                    .call(move |l| crate::alive::running_daemon(l, now))
                    .await
                    .ok()
                    .flatten()
                    .is_some();
            if !skip {
                if let Err(err) = self.sweep().await {
                    error!(error = %err, "review deliverer: ledger failure; trying again later");
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(SWEEP) => {}
            }
        }
    }

    /// Delivers every released post with parts left that no one else claimed.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn sweep(&mut self) -> Result<Swept, StoreError> {
        let now = self.clock.now();
        let work = self.ledger.call(move |l| l.released_work(now)).await?;
        let mut swept = Swept::default();
        for (route, post_id) in work {
            if self.cancel.is_cancelled() {
                break;
            }
            let tally = self.deliver_one(&route, &post_id).await?;
            if let Some(tally) = tally {
                swept.posts += 1;
                swept.parts_delivered += tally.parts_delivered;
                swept.parts_failed += tally.parts_failed;
            }
        }
        Ok(swept)
    }

    /// Claims, delivers and gives back one released post; `None` when someone else holds
    /// it or it cannot be read.
    async fn deliver_one(
        &mut self,
        route: &str,
        post_id: &str,
    ) -> Result<Option<DeliveryReport>, StoreError> {
        let claim = |ledger: &Arc<Ledger>, holder: String, now: chrono::DateTime<chrono::Utc>| {
            let (r, p) = (route.to_owned(), post_id.to_owned());
            let ledger = Arc::clone(ledger);
            async move {
                ledger
                    .call(move |l| l.claim_reviewed(&r, &p, &holder, now + CLAIM, now))
                    .await
            }
        };
        if !claim(&self.ledger, self.holder.clone(), self.clock.now()).await? {
            return Ok(None);
        }
        let (r, p) = (route.to_owned(), post_id.to_owned());
        let reviewed = self.ledger.call(move |l| l.reviewed_post(&r, &p)).await?;
        let Some(reviewed) = reviewed else {
            return Ok(None);
        };
        let mut post = match reviewed.post {
            Ok(post) => post,
            Err(why) => {
                error!(route, post = post_id, %why, "a released post's kept copy cannot be read; it is not delivered");
                return Ok(None);
            }
        };
        // Remote media come from the copies kept while the post was held.
        for kept in &reviewed.media {
            if let (Some(file), Some(m)) =
                (&kept.file, post.media.get_mut(kept.media_index as usize))
            {
                if matches!(m.source, MediaSource::Url(_)) {
                    m.source = MediaSource::File(file.clone());
                }
            }
        }
        // What could not be kept (its host was down while the post was held) is asked for
        // once more, through the source's guarded downloads.
        let stage = post
            .media
            .iter()
            .any(|m| matches!(m.source, MediaSource::Url(_)))
            .then(|| MediaStage::new(self.allow_private_media(route)));
        let backfill = reviewed
            .holds
            .iter()
            .any(|h| h.state == ReviewState::Released && h.backfill);
        let mut tally = DeliveryReport::default();
        let (ledger, holder, clock) = (
            Arc::clone(&self.ledger),
            self.holder.clone(),
            self.clock.clone(),
        );
        let result = match self.engine(route, backfill) {
            Some(engine) => {
                let delivery = engine.deliver_reviewed(&ledger, &post, stage.as_ref(), &mut tally);
                tokio::pin!(delivery);
                let mut renew = tokio::time::interval(RENEW);
                renew.tick().await;
                loop {
                    tokio::select! {
                        r = &mut delivery => break r.map(|_| ()),
                        _ = renew.tick() => {
                            claim(&ledger, holder.clone(), clock.now()).await?;
                        }
                    }
                }
            }
            None => Ok(()),
        };
        let (r, p, holder) = (route.to_owned(), post_id.to_owned(), self.holder.clone());
        self.ledger
            .call(move |l| {
                l.unclaim_reviewed(&r, &p, &holder)?;
                l.forget_reviewed(&r, &p)
            })
            .await?;
        result?;
        if tally.parts_delivered > 0 {
            info!(
                route,
                post = post_id,
                parts = tally.parts_delivered,
                "released post delivered"
            );
        }
        Ok(Some(tally))
    }

    /// The route's engine for the lane the post was held in (a backfill post keeps its
    /// backfill dressing); `None` when the route is gone from the configuration or a target
    /// cannot be set up (logged).
    /// The `allow_private_media` of `route`'s source.
    fn allow_private_media(&self, route: &str) -> bool {
        self.settings
            .routes
            .get(route)
            .and_then(|r| self.settings.sources.get(&r.source))
            .is_some_and(crate::config::SourceSettings::allow_private_media)
    }

    fn engine(&mut self, route: &str, backfill: bool) -> Option<&mut Engine> {
        let key = (route.to_owned(), backfill);
        if !self.engines.contains_key(&key) {
            let ctx = Context {
                lane: if backfill { Lane::Backfill } else { Lane::Live },
                cancel: self.cancel.clone(),
                clock: self.clock.clone(),
                dry_run: false,
                budgets: self.budgets.clone(),
            };
            match Engine::new(&self.settings, route, ctx, Progress::new(false, true)) {
                Ok(engine) => {
                    self.engines.insert(key.clone(), engine);
                }
                Err(err) => {
                    warn!(route, error = %err, "released posts of this route wait: its engine cannot be set up");
                    return None;
                }
            }
        }
        self.engines.get_mut(&key)
    }
}
