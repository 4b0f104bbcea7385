//! The delivery engine: the one way a post reaches the targets of its route, whoever found
//! it (archive backfill, `backfill --from-api`, a daemon cycle). For each target: decide →
//! render → record the intent → deliver → record the result (DESIGN.md "Data flow").
//!
//! One [`Context`] carries what every wait and every call needs: the [`Lane`] (live posts
//! may use a target's whole rate-limit budget, backfill only its share), the cancellation
//! token that ends every wait (budget waits, backoff, media processing), and the clock. (The
//! crash test points live in [`crate::crash`], compiled in only with `test-hooks`.) The drivers ([`crate::backfill`], [`crate::daemon`]) only find posts and
//! hand them over in order.
//!
//! **Nothing is lost while a target is down.** A target that cannot be reached (or whose
//! token is refused) does not drop posts: their parts are planned in the ledger and wait.
//! When the engine knows the target's limits (connected once, or cached in the ledger) it
//! plans the real parts; when it never learnt them it plans one placeholder part, which is
//! re-planned from the real limits once the server answers (`Ledger::replan_post`: only
//! plans nothing of which was ever sent are replaced). An unreachable target is tried again
//! with growing, jittered backoff; a refused token at the next cycle or run (rebuilding the
//! target, so a fixed token file is read again).
//!
//! Crash safety comes from the order of ledger writes (see [`deliver`]).

mod deliver;
mod edits;
mod plan;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::budget::{human_duration, BudgetPool, Priority};
use crate::clock::{jitter, Clock};
use crate::config::{Settings, TargetSettings};
use crate::media::stage::MediaStage;
use crate::model::{Author, Post, PostId, PostRef, References};
use crate::policy::{self, Decision, RoutePolicy};
use crate::preview;
use crate::progress::Progress;
use crate::render::Rendered;
use crate::report::DeliveryReport;
use crate::sources::archive::Malformed;
use crate::store::{Ledger, PartRecord, PartState, StoreError};
use crate::targets::{AnyTarget, TargetError, TargetProfile};

pub use deliver::{backoff, MAX_ATTEMPTS, MAX_REJECTED_ATTEMPTS};
use plan::Step;

/// Whose posts these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// Posts found live: may use a target's whole rate-limit budget.
    #[default]
    Live,
    /// A backfill: may use each target's `backfill_share` of the budget.
    Backfill,
}

/// What every delivery of one engine shares.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Live or backfill (the rate-limit share).
    pub lane: Lane,
    /// Ends every wait when cancelled; the post in hand is settled in the ledger first.
    pub cancel: CancellationToken,
    /// Where time comes from; tests move a manual one.
    pub clock: Clock,
    /// Preview only; write nothing anywhere.
    pub dry_run: bool,
    /// The rate-limit budgets of the process, shared by every engine delivering to the
    /// same account (so backfill cannot take the live lane's reserve).
    pub budgets: BudgetPool,
}

/// One post handed to the engine, with what its deliveries on every target share.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// The post.
    pub post: &'a Post,
    /// The earlier versions of an edited post, newest first (empty otherwise): on a target
    /// where one of them was mirrored, the post becomes an edit of that version's statuses
    /// (or is skipped when the target cannot edit).
    pub earlier: &'a [PostId],
    /// The post's remote media, downloaded once for every route and target of its source
    /// (the daemon makes one stage per post); `None` where there is no remote media to
    /// download (archive backfill), which links any instead.
    pub media: Option<&'a MediaStage>,
}

/// Why an engine cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The route is not configured.
    #[error("{file}: no route named `{route}`")]
    UnknownRoute {
        /// The configuration file.
        file: std::path::PathBuf,
        /// The route asked for.
        route: String,
    },
    /// A target cannot be set up (its token cannot be read): fix the configuration.
    #[error("route `{route}`: target `{target}`: {source}")]
    TargetSetup {
        /// The route.
        route: String,
        /// The target.
        target: String,
        /// Why.
        #[source]
        source: Box<TargetError>,
    },
}

/// What delivering one post did, across its targets.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostOutcome {
    /// At least one part was delivered.
    pub delivered: bool,
    /// The ledger changed for this post (a skip, a plan, a delivery, a failure).
    pub changed: bool,
}

/// Whether a target can be delivered to now.
#[derive(Debug, Clone)]
enum Reach {
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

#[derive(Debug)]
struct RouteTarget {
    name: String,
    settings: TargetSettings,
    /// The limits the renderer obeys: the server's once connected, the ledger's cached
    /// ones before, `None` when never known (posts then wait as a placeholder).
    profile: Option<TargetProfile>,
    /// `None` in a dry run (preview only).
    target: Option<AnyTarget>,
    reach: Reach,
}

/// One route's delivery engine. See the module docs.
#[derive(Debug)]
pub struct Engine {
    route: String,
    targets: Vec<RouteTarget>,
    policy: RoutePolicy,
    progress: Progress,
    ctx: Context,
}

impl Engine {
    /// An engine for `route` with its targets built (nothing is connected yet).
    ///
    /// # Errors
    /// An unknown route, or a target whose token cannot be read.
    pub fn new(
        settings: &Settings,
        route: &str,
        ctx: Context,
        progress: Progress,
    ) -> Result<Self, SetupError> {
        let route_settings =
            settings
                .routes
                .get(route)
                .ok_or_else(|| SetupError::UnknownRoute {
                    file: settings.file.clone(),
                    route: route.to_owned(),
                })?;
        let mut targets = Vec::new();
        for name in &route_settings.targets {
            let target_settings = &settings.targets[name];
            let (profile, target) = match target_settings {
                TargetSettings::Fediverse(f) if ctx.dry_run => {
                    warn!(target = %name, kind = f.kind.as_str(), "previewing with default Mastodon limits; the server is not asked in a dry run");
                    (Some(TargetProfile::mastodon_default()), None)
                }
                _ => {
                    let target = build_target(route, name, target_settings, &ctx)?;
                    let profile = target.profile().clone();
                    (
                        ctx.dry_run.then_some(profile),
                        (!ctx.dry_run).then_some(target),
                    )
                }
            };
            targets.push(RouteTarget {
                name: name.clone(),
                settings: target_settings.clone(),
                profile,
                target,
                reach: Reach::Untried,
            });
        }
        let policy = RoutePolicy::from_settings(route_settings);
        let policy = match ctx.lane {
            Lane::Live => policy,
            Lane::Backfill => policy.for_backfill(),
        };
        Ok(Self {
            route: route.to_owned(),
            targets,
            policy,
            progress,
            ctx,
        })
    }

    /// The route's name.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The names of the route's targets.
    pub fn target_names(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| t.name.as_str())
    }

    /// Where previews and progress go.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = progress;
    }

    /// The engine's context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Whether the route's policy mirrors reposts; a source none of whose routes does can
    /// ask the server to leave them out (and not pay for them).
    pub fn mirrors_reposts(&self) -> bool {
        let probe = Post {
            id: PostId::new("0"),
            author: Author {
                id: None,
                username: "probe".to_owned(),
                display_name: None,
            },
            created_at: Utc::now(),
            text: String::new(),
            facets: Vec::new(),
            media: Vec::new(),
            references: References {
                repost_of: Some(PostRef {
                    // With an id, as X gives it, so `reposts = "boost"` counts too.
                    id: Some(PostId::new("1")),
                    username: Some("someone".to_owned()),
                    url: None,
                }),
                ..References::default()
            },
            sensitive: false,
            language: None,
            url: String::new(),
        };
        !matches!(
            policy::decide(&probe, &self.policy, Utc::now()),
            Decision::Skip(_)
        )
    }

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
            let Some(target) = t.target.as_mut() else {
                continue;
            };
            // Before connecting: on a server that counts every call in one window
            // (GoToSocial), the connection's own calls are taken at the lane's priority too.
            target.set_priority(match self.ctx.lane {
                Lane::Live => Priority::Live,
                Lane::Backfill => Priority::Backfill {
                    share: target.backfill_share(),
                },
            });
            let result = target.connect(ledger).await;
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
                        let target: &AnyTarget = target;
                        t.profile = target.cached_profile(ledger).await?;
                    }
                    t.reach = unusable(&self.route, &t.name, &t.reach, &err, now);
                }
            }
        }
        Ok(())
    }

    /// Records unreadable archive entries as skipped on every target, in one ledger call:
    /// the audit trail says why they never appeared.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn record_malformed(
        &self,
        ledger: &Arc<Ledger>,
        malformed: &[Malformed],
    ) -> Result<(), StoreError> {
        if self.ctx.dry_run || malformed.is_empty() {
            return Ok(());
        }
        let mut skips = Vec::new();
        for m in malformed {
            let id =
                m.id.as_ref()
                    .map_or_else(|| format!("malformed:{}", m.location), |id| id.0.clone());
            warn!(location = %m.location, reason = %m.reason, "malformed post skipped");
            let reason = format!("malformed: {} ({})", m.reason, m.location);
            for t in &self.targets {
                skips.push((id.clone(), t.name.clone(), reason.clone()));
            }
        }
        let (route, now) = (self.route.clone(), self.ctx.clock.now());
        ledger
            .call(move |l| {
                for (id, target, reason) in &skips {
                    l.mark_skipped(&route, id, target, reason, now)?;
                }
                Ok(())
            })
            .await
    }

    /// Delivers one post to every target of the route that does not have it yet (see
    /// [`Offer`] for edited posts and remote media).
    ///
    /// # Errors
    /// Ledger failures. A part that fails is recorded (and retried), not an error.
    pub async fn deliver(
        &mut self,
        ledger: &Arc<Ledger>,
        offer: Offer<'_>,
        tally: &mut DeliveryReport,
    ) -> Result<PostOutcome, StoreError> {
        let Offer { post, earlier, .. } = offer;
        self.connect(ledger, 0).await?;
        let now = self.ctx.clock.now();
        let decision = policy::decide(post, &self.policy, now);
        let mut outcome = PostOutcome::default();
        let shared = Arc::new(post.clone());
        let earlier: Arc<[PostId]> = earlier.into();
        for i in 0..self.targets.len() {
            let t = &self.targets[i];
            let plan = plan::Plan {
                route: self.route.clone(),
                target: t.name.clone(),
                post: Arc::clone(&shared),
                earlier: Arc::clone(&earlier),
                decision: decision.clone(),
                policy: self.policy.clone(),
                profile: t.profile.clone(),
                unusable: match &t.reach {
                    Reach::Down { .. } | Reach::Refused { .. } => Some(waiting_reason(&t.reach)),
                    Reach::Untried | Reach::Connected => None,
                },
                supports_edits: t.target.as_ref().is_some_and(AnyTarget::supports_edits),
                refusal: t.target.as_ref().and_then(AnyTarget::refusal),
                dry_run: self.ctx.dry_run,
                now,
            };
            let (step, released) = ledger.call(move |l| plan.run(l)).await?;
            outcome.changed |= released;
            match step {
                Step::AlreadyDone => tally.already_done += 1,
                Step::NotMirrored { preview } => {
                    if let Some(text) = preview {
                        self.progress.preview(&text);
                    }
                    tally.skipped += 1;
                    outcome.changed = true;
                }
                Step::EditSkipped => {
                    tally.skipped += 1;
                    outcome.changed = true;
                }
                Step::Waiting => {
                    tally.posts_waiting += 1;
                    outcome.changed = true;
                }
                Step::Preview(rendered) => {
                    self.progress
                        .preview(&preview::post(&self.route, &t.name, post, &rendered));
                    tally.previewed += 1;
                }
                Step::Deliver { rendered, edits } => {
                    self.deliver_parts(ledger, i, offer, &rendered, &edits, tally, &mut outcome)
                        .await?;
                }
            }
        }
        if outcome.delivered {
            tally.posts_delivered += 1;
        }
        Ok(outcome)
    }

    /// Delivers the rendered parts of the offered post to target `i`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one post, one target, its results"
    )]
    async fn deliver_parts(
        &mut self,
        ledger: &Arc<Ledger>,
        i: usize,
        offer: Offer<'_>,
        rendered: &Rendered,
        edits: &[String],
        tally: &mut DeliveryReport,
        outcome: &mut PostOutcome,
    ) -> Result<(), StoreError> {
        let post = offer.post;
        let route = self.route.clone();
        let t = &mut self.targets[i];
        let Some(target) = t.target.as_mut() else {
            return Ok(());
        };
        let job = deliver::Job {
            route: &route,
            target_name: &t.name,
            post,
            rendered,
            clock: &self.ctx.clock,
            edits,
            media: offer.media,
        };
        let parts = deliver::deliver_post(ledger, target, &job).await?;
        if let Some((name, windows)) = target.budget_snapshot() {
            let now = self.ctx.clock.now();
            ledger
                .call(move |l| l.save_budgets(&name, &windows, now))
                .await?;
        }
        if let Some(stop) = parts.stop_target {
            t.reach = unusable(&route, &t.name, &t.reach, &stop, self.ctx.clock.now());
        }
        if parts.delivered > 0 && target.shows_preview() {
            self.progress
                .preview(&preview::post(&route, &t.name, post, rendered));
        }
        tally.parts_delivered += parts.delivered;
        tally.parts_reconciled += parts.reconciled;
        tally.parts_failed += parts.failed;
        outcome.delivered |= parts.delivered > 0;
        // Planning alone writes rows, so any attempt changed the ledger.
        outcome.changed = true;
        Ok(())
    }

    /// Whether a post still has parts to deliver on some target (planned and waiting,
    /// failed and due later, or interrupted): the caller keeps it and offers it again.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn unfinished(
        &self,
        ledger: &Arc<Ledger>,
        post_id: &str,
    ) -> Result<bool, StoreError> {
        if self.ctx.dry_run {
            return Ok(false);
        }
        let (route, id) = (self.route.clone(), post_id.to_owned());
        let targets: Vec<String> = self.targets.iter().map(|t| t.name.clone()).collect();
        ledger
            .call(move |l| {
                for target in &targets {
                    let rows = l.parts_of_post(&route, &id, target)?;
                    if !rows.is_empty() && !is_done(&rows) {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await
    }
}

fn build_target(
    route: &str,
    name: &str,
    settings: &TargetSettings,
    ctx: &Context,
) -> Result<AnyTarget, SetupError> {
    let mut target =
        AnyTarget::from_settings(name, settings, &ctx.clock, &ctx.cancel).map_err(|source| {
            SetupError::TargetSetup {
                route: route.to_owned(),
                target: name.to_owned(),
                source: Box::new(source),
            }
        })?;
    target.share_budget(&ctx.budgets);
    Ok(target)
}

/// What a target that cannot be used becomes, logged loudly: a refused token stops it until
/// the next cycle or run; anything else is retried after a growing, jittered backoff.
fn unusable(
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
    let wait = reconnect_backoff(failures);
    let retry_at = now + wait + jitter(wait / 4);
    error!(route, target, error = %err, retry_at = %retry_at.format("%H:%M:%S"), "target unreachable: its posts wait in the ledger and go out once it answers");
    Reach::Down {
        why: err.to_string(),
        failures,
        retry_at,
    }
}

/// Time before reconnecting to a target that was down `failures` times in a row: 30 s,
/// doubling, at most 30 min.
fn reconnect_backoff(failures: u32) -> Duration {
    let seconds = 30i64 << failures.saturating_sub(1).min(6);
    Duration::seconds(seconds.min(30 * 60))
}

fn waiting_reason(reach: &Reach) -> String {
    match reach {
        Reach::Down { why, .. } => waiting_note(format_args!("the target to answer: {why}")),
        Reach::Refused { why, .. } => waiting_note(format_args!("a valid token: {why}")),
        Reach::Untried | Reach::Connected => waiting_note("the target"),
    }
}

/// The note a part planned but not sent carries in the ledger: what it waits for. `status`
/// tells these notes from a retried part's last error with [`is_waiting_note`], so both
/// are defined here, next to each other.
pub(crate) fn waiting_note(what: impl std::fmt::Display) -> String {
    format!("{WAITING_NOTE}{what}")
}

/// Whether a part's note was written by [`waiting_note`].
pub fn is_waiting_note(note: &str) -> bool {
    note.starts_with(WAITING_NOTE)
}

/// How every [`waiting_note`] begins.
const WAITING_NOTE: &str = "waiting for ";

/// A post is done on a target when it has rows and none of them still has work to do.
/// Quarantined parts count as done: they are retried only on request.
pub fn is_done(rows: &[PartRecord]) -> bool {
    !rows.is_empty()
        && rows.iter().all(|r| {
            matches!(
                r.state,
                PartState::Posted | PartState::Skipped | PartState::Quarantined
            )
        })
}

/// "15 post(s) to deliver: ~9 min at 100 posts/h".
fn eta_line(posts: u64, per_hour: f64) -> String {
    if posts == 0 {
        return "nothing left to deliver".to_owned();
    }
    // Far below f64's exact range; the figure is an estimate anyway.
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "an estimate"
    )]
    let seconds = (posts as f64 / per_hour.max(1e-9) * 3600.0).min(1e10) as i64;
    format!(
        "{posts} post(s) to deliver: ~{} at {} posts/h (rate-limit budget)",
        human_duration(Duration::seconds(seconds)),
        per_hour.round()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_budget() {
        assert_eq!(
            eta_line(3400, 100.0),
            "3400 post(s) to deliver: ~34 h at 100 posts/h (rate-limit budget)"
        );
        assert_eq!(
            eta_line(15, 100.0),
            "15 post(s) to deliver: ~9 min at 100 posts/h (rate-limit budget)"
        );
        assert_eq!(eta_line(0, 100.0), "nothing left to deliver");
    }

    #[test]
    fn reconnecting_backs_off_and_is_capped() {
        assert_eq!(reconnect_backoff(1), Duration::seconds(30));
        assert_eq!(reconnect_backoff(3), Duration::minutes(2));
        assert_eq!(reconnect_backoff(40), Duration::minutes(30));
    }
}
