//! The delivery engine: the one way a post reaches the targets of its route, whoever found
//! it (archive backfill, `backfill --from-api`, a daemon cycle). For each target:
//! [`plan`] decides, renders and records the intent; [`deliver`] delivers the parts and
//! records each result (with [`attach`] for their media). The targets are seen only
//! through [`Target`](crate::targets::Target); they talk to their servers, and every
//! ledger write of a delivery is the engine's.
//!
//! One [`Context`] carries what every wait and every call needs: the [`Lane`] (live posts
//! may use a target's whole rate-limit budget, backfill only its share), the cancellation
//! token that ends every wait (budget waits, backoff, media processing), and the clock. (The
//! crash test points live in [`crate::crash`], compiled in only with `test-hooks`.) The
//! drivers ([`crate::backfill`], [`crate::daemon`]) only find posts and hand them over in
//! order.
//!
//! **Nothing is lost while a target is down.** A target that cannot be reached (or whose
//! token is refused) does not drop posts: their parts are planned in the ledger and wait
//! ([`reach`]). When the engine knows the target's limits (connected once, or cached in
//! the ledger) it plans the real parts; when it never learnt them it plans one placeholder
//! part, which is re-planned from the real limits once the server answers
//! (`Ledger::replan_post`: only plans nothing of which was ever sent are replaced).
//!
//! Crash safety comes from the order of ledger writes (see [`deliver`]).

mod attach;
mod deliver;
mod edits;
mod held;
mod plan;
mod reach;
mod retract;

use std::sync::Arc;

use chrono::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::budget::{human_duration, BudgetPool};
use crate::clock::Clock;
use crate::config::{RouteSettings, Settings, Visibility};
use crate::media::stage::MediaStage;
use crate::model::{Author, Malformed, Post, PostId, PostRef, References};
use crate::policy::{self, Decision, RoutePolicy};
use crate::preview;
use crate::progress::Progress;
use crate::report::DeliveryReport;
use crate::store::{Ledger, PartRecord, PartState, StoreError};
use crate::targets::{self, TargetError, Usd};

pub use crate::budget::Lane;
pub use deliver::{MAX_ATTEMPTS, MAX_REJECTED_ATTEMPTS};
use plan::{Planned, Step};
use reach::{build_target, unusable, Reach, RouteTarget};
pub use retract::{Retractor, TakeBack};

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
    /// (the drivers make one stage per post); `None` where nothing is downloaded (an archive
    /// with `missing_media = "link"`), which links any remote media instead.
    pub media: Option<&'a MediaStage>,
}

/// The settings of route `route`, or [`SetupError::UnknownRoute`] naming the file.
///
/// # Errors
/// When the configuration has no such route.
pub fn route_settings<'a>(
    settings: &'a Settings,
    route: &str,
) -> Result<&'a RouteSettings, SetupError> {
    settings
        .routes
        .get(route)
        .ok_or_else(|| SetupError::UnknownRoute {
            file: settings.file.clone(),
            route: route.to_owned(),
        })
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
        let route_settings = route_settings(settings, route)?;
        let mut targets = Vec::new();
        for name in &route_settings.targets {
            let target_settings = &settings.targets[name];
            // A dry run only previews: no target is built, no server asked.
            let (profile, target) = if ctx.dry_run {
                (Some(targets::preview_profile(name, target_settings)), None)
            } else {
                (
                    None,
                    Some(build_target(route, name, target_settings, &ctx)?),
                )
            };
            targets.push(RouteTarget {
                name: name.clone(),
                settings: target_settings.clone(),
                profile,
                tariff: targets::tariff(target_settings),
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
        let now = self.ctx.clock.now();
        let probe = Post {
            id: PostId::new("0"),
            author: Author::named("probe"),
            created_at: now,
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
        !matches!(policy::decide(&probe, &self.policy, now), Decision::Skip(_))
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
        self.deliver_as(ledger, offer, tally, false).await
    }

    /// Delivers a post a person released from review, with their edits, to the targets
    /// where it was released (the review deliverer's call, `src/release.rs`; every other
    /// offer leaves reviewed posts alone). `media` downloads what was not kept while it was
    /// held.
    ///
    /// # Errors
    /// Ledger failures.
    pub async fn deliver_reviewed(
        &mut self,
        ledger: &Arc<Ledger>,
        post: &Post,
        media: Option<&MediaStage>,
        tally: &mut DeliveryReport,
    ) -> Result<PostOutcome, StoreError> {
        let offer = Offer {
            post,
            earlier: &[],
            media,
        };
        self.deliver_as(ledger, offer, tally, true).await
    }

    async fn deliver_as(
        &mut self,
        ledger: &Arc<Ledger>,
        offer: Offer<'_>,
        tally: &mut DeliveryReport,
        reviewed: bool,
    ) -> Result<PostOutcome, StoreError> {
        let Offer { post, earlier, .. } = offer;
        self.connect(ledger, 0).await?;
        let now = self.ctx.clock.now();
        let mut outcome = PostOutcome::default();
        let shared = Arc::new(post.clone());
        let earlier: Arc<[PostId]> = earlier.into();
        let mut media_kept = false;
        for i in 0..self.targets.len() {
            let t = &self.targets[i];
            let plan = plan::Plan {
                route: self.route.clone(),
                target: t.name.clone(),
                post: Arc::clone(&shared),
                earlier: Arc::clone(&earlier),
                policy: self.policy.clone(),
                profile: t.profile.clone(),
                unusable: t.unusable(),
                supports_edits: t.target.as_ref().is_some_and(|t| t.supports_edits()),
                edit_refusals: t.target.as_ref().map_or_else(Vec::new, |t| {
                    Visibility::ALL
                        .into_iter()
                        .filter_map(|v| t.edit_refusal(v).map(|why| (v, why)))
                        .collect()
                }),
                refusal: t.target.as_ref().and_then(|t| t.refusal()),
                tariff: t.tariff,
                dry_run: self.ctx.dry_run,
                now,
                review: t.settings.review().unwrap_or(self.policy.settings.review),
                reviewed,
            };
            let (step, released) = ledger.call(move |l| plan.run(l)).await?;
            outcome.changed |= released;
            match step {
                Step::AlreadyDone => tally.already_done += 1,
                Step::Held { new } => {
                    tally.posts_held += 1;
                    outcome.changed |= new;
                    if new && !media_kept {
                        media_kept = true;
                        if let Some(stage) = offer.media {
                            held::keep_media(ledger, &self.route, post, stage).await?;
                        }
                    }
                }
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
                    let mut text = preview::post(&self.route, &t.name, post, &rendered);
                    if let Some(tariff) = t.tariff {
                        let cost: Usd = rendered.parts.iter().map(|p| tariff.price(p)).sum();
                        text.push_str(&preview::cost(&rendered, tariff));
                        let entry = tally.preview_cost.entry(t.name.clone()).or_default();
                        entry.0 += cost;
                        entry.1 += 1;
                    }
                    self.progress.preview(&text);
                    tally.previewed += 1;
                }
                Step::Deliver(planned) => {
                    self.deliver_parts(ledger, i, offer, &planned, tally, &mut outcome)
                        .await?;
                }
            }
        }
        if outcome.delivered {
            tally.posts_delivered += 1;
        }
        Ok(outcome)
    }

    /// Delivers the planned parts of the offered post to target `i`, then records what
    /// the target learnt meanwhile (its rate-limit windows).
    async fn deliver_parts(
        &mut self,
        ledger: &Arc<Ledger>,
        i: usize,
        offer: Offer<'_>,
        planned: &Planned,
        tally: &mut DeliveryReport,
        outcome: &mut PostOutcome,
    ) -> Result<(), StoreError> {
        let post = offer.post;
        let route = self.route.clone();
        let t = &mut self.targets[i];
        let Some(target) = t.target.as_deref_mut() else {
            return Ok(());
        };
        let job = deliver::Job {
            route: &route,
            target_name: &t.name,
            post,
            planned,
            clock: &self.ctx.clock,
            media: offer.media,
            tariff: t.tariff,
        };
        let parts = deliver::deliver_post(ledger, target, &job).await?;
        reach::remember(ledger, &t.name, target, &self.ctx.clock).await?;
        if let Some(stop) = parts.stop_target {
            t.reach = unusable(&route, &t.name, &t.reach, &stop, self.ctx.clock.now());
        }
        if parts.delivered > 0 && target.shows_preview() {
            self.progress
                .preview(&preview::post(&route, &t.name, post, &planned.rendered));
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
    /// failed and due later, or interrupted): the caller keeps it and offers it again. A
    /// post under review is not the caller's: the review deliverer delivers it.
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
                    if l.post_has_work(&route, &id, target)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await
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
/// Quarantined parts count as done: they are retried only on request. So do parts taken
/// back (or being taken back): a retracted post is never delivered again.
pub fn is_done(rows: &[PartRecord]) -> bool {
    !rows.is_empty()
        && rows.iter().all(|r| {
            matches!(
                r.state,
                PartState::Posted
                    | PartState::Skipped
                    | PartState::Quarantined
                    | PartState::Retracting
                    | PartState::Retracted
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
}
