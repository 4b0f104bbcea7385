//! What one post becomes on one target, in one place: decided by the route policy (and
//! the target's `review`), rendered for the target's limits, and planned in the ledger.
//! Already done, skipped (recorded), held for review (planned as `held`, with the post kept;
//! a released one rendered with the person's edits, for the review deliverer alone),
//! waiting (planned, with why), previewed, or parts to deliver (planned, with the
//! renderer's warnings, as new statuses or as edits) that [`super::deliver`] then delivers.
//! Synchronous, and run on the blocking pool ([`Ledger::call`]) with everything it needs
//! owned, so the event loop never waits for the ledger's lock or the disk.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{edits, is_done, waiting_note};
use crate::config::{ReviewPolicy, Visibility};
use crate::model::{Post, PostId};
use crate::policy::{self, Decision, RoutePolicy};
use crate::preview;
use crate::profile::TargetProfile;
use crate::render::{self, CopyEdits, Lookups, Rendered};
use crate::review;
#[cfg(doc)]
use crate::store::NOT_A_REPLY;
use crate::store::{
    Ledger, NewHold, PartKey, PartRecord, PartState, ReviewState, StoreError, HELD_PREFIX,
};
use crate::targets::{Refusal, Tariff, Usd};

/// The inputs, owned.
pub(super) struct Plan {
    pub(super) route: String,
    pub(super) target: String,
    pub(super) post: Arc<Post>,
    pub(super) earlier: Arc<[PostId]>,
    pub(super) policy: RoutePolicy,
    /// The limits to render for; `None` when never known.
    pub(super) profile: Option<TargetProfile>,
    /// Why the target cannot be delivered to now (down, token refused); `None` when it can.
    pub(super) unusable: Option<String>,
    pub(super) supports_edits: bool,
    /// The visibilities of statuses the target does not edit, with why (a server that
    /// makes every edited status public).
    pub(super) edit_refusals: Vec<(Visibility, String)>,
    /// What the target refuses outright (Pixelfed: posts without an image).
    pub(super) refusal: Option<Arc<dyn Refusal>>,
    /// What the target bills, and the daily cap its posts wait under (X).
    pub(super) tariff: Option<Tariff>,
    pub(super) dry_run: bool,
    pub(super) now: DateTime<Utc>,
    /// The target's effective `review` (its own, else the route's).
    pub(super) review: ReviewPolicy,
    /// Offered by the review deliverer: only released reviewed posts are its business.
    pub(super) reviewed: bool,
}

/// What to do for the post on the target.
pub(super) enum Step {
    /// Nothing: done in an earlier run (or not this offer's business).
    AlreadyDone,
    /// Held for a person's review (`new`: held just now), or released and left to the
    /// review deliverer.
    Held { new: bool },
    /// Not mirrored (skip or hold, recorded); a dry run shows held posts.
    NotMirrored { preview: Option<String> },
    /// Planned and waiting for the target or for an earlier post of the thread.
    Waiting,
    /// A new version of an edited post, on a target that cannot edit: recorded as skipped.
    EditSkipped,
    /// A dry run: show it.
    Preview(Rendered),
    /// Deliver these parts.
    Deliver(Planned),
}

/// A post's parts on a target, planned for delivery.
pub(super) struct Planned {
    pub(super) rendered: Rendered,
    /// For an edited post: the statuses of the earlier version, by part index; these parts
    /// are edits of those statuses instead of new ones.
    pub(super) edits: Vec<String>,
    /// The parts' ledger rows.
    pub(super) records: Vec<PartRecord>,
    /// The parts already posted that the server published without the reply they were
    /// sent as (recorded with a [`NOT_A_REPLY`] warning): the rest of the thread does not
    /// reply to them.
    pub(super) not_replies: Vec<u32>,
}

impl Plan {
    /// Why the target would refuse to edit the rendered parts, if it would: an edit may go
    /// only if the target edits statuses of every visibility the parts have.
    fn edit_refused(&self, rendered: &Rendered) -> Option<&str> {
        rendered.parts.iter().find_map(|p| {
            self.edit_refusals
                .iter()
                .find(|(v, _)| *v == p.visibility)
                .map(|(_, why)| why.as_str())
        })
    }

    /// Decides, recording what needs recording. Returns the step and whether the ledger
    /// changed for the post (a held post released).
    pub(super) fn run(self, l: &Ledger) -> Result<(Step, bool), StoreError> {
        let (route, target, id) = (&self.route, &self.target, self.post.id.as_str());
        let edits = match self.under_review(l)? {
            Ok(edits) => edits,
            Err(step) => return Ok((step, false)),
        };
        let (mut decision, rule) = self.decide(l, edits.is_some())?;
        let existing = l.parts_of_post(route, id, target)?;
        // A held post whose hold no longer applies (the policy or the source changed):
        // that change was the person's request to retry it.
        let released =
            existing.len() == 1 && existing[0].is_held() && !matches!(decision, Decision::Hold(_));
        if released && !self.dry_run {
            l.release_held(route, id, target)?;
            info!(route, target, post = id, "held post released");
        }
        if retracted(route, target, id, &existing) {
            return Ok((Step::NotMirrored { preview: None }, released));
        }
        if !released && is_done(&existing) {
            return Ok((Step::AlreadyDone, released));
        }
        if let (Decision::Hold(reason), false) = (&decision, self.dry_run) {
            if let Some(step) = self.hold(l, rule, reason)? {
                return Ok((step, released));
            }
            // Something of it went out already: the rest goes as planned.
            decision = Decision::Mirror;
        }
        let rendered = match &decision {
            Decision::Skip(_) | Decision::Hold(_) => {
                return Ok((self.not_mirrored(l, &decision)?, released));
            }
            // The one place a repost of a mirrored post is dispatched: rendered as a boost
            // of the mirrored status (`Part::boost_of`), which a fediverse target sends as
            // a native reblog.
            Decision::Boost { original } => {
                let Some(mirrored) = l.mirrored_post(route, original.as_str(), target)? else {
                    let reason = "repost of a post this route has not mirrored here \
                                  (reposts = \"boost\")";
                    let skip = Decision::Skip(reason.to_owned());
                    return Ok((self.not_mirrored(l, &skip)?, released));
                };
                render::boost(&self.post, &self.policy, &mirrored)
            }
            Decision::Mirror => {
                let Some(profile) = &self.profile else {
                    // Never reached, nothing cached: one placeholder part, re-planned from
                    // the real limits once the server answers.
                    let why = self
                        .unusable
                        .clone()
                        .unwrap_or_else(|| waiting_note("the target"));
                    l.plan_post(route, id, target, 1, self.now)?;
                    l.note_waiting(route, id, target, &why, self.now)?;
                    return Ok((Step::Waiting, released));
                };
                let lookups = lookups_for(l, route, target, &self.post)?;
                let edits = edits.unwrap_or_default();
                render::render_edited(&self.post, profile, &self.policy, &lookups, &edits)
            }
        };
        if self.dry_run {
            return Ok((Step::Preview(rendered), released));
        }
        if let Some(reason) = self.refusal.as_ref().and_then(|r| r.refuses(&rendered)) {
            // Final: recorded as skipped, also over a plan made while the target could
            // not be reached (nothing of it was attempted).
            if l.skip_unattempted(route, id, target, &reason, self.now)? {
                info!(route, target, post = id, %reason, "post skipped");
                return Ok((Step::NotMirrored { preview: None }, released));
            }
        }
        if let Some(why) = self.waits(l, &existing, &rendered)? {
            // Planned now, so nothing is lost; delivered when the target (or the thread)
            // is ready.
            let parts = u32::try_from(rendered.parts.len()).unwrap_or(u32::MAX);
            l.replan_post(route, id, target, parts, self.now)?;
            l.note_waiting(route, id, target, &why, self.now)?;
            return Ok((Step::Waiting, released));
        }
        let refused = self.edit_refused(&rendered);
        let edit = edits::edit_base(
            l,
            edits::Asked {
                route,
                target_name: target,
                post: &self.post,
                earlier: &self.earlier,
                supports_edits: self.supports_edits,
                refused,
            },
            self.now,
        )?;
        if edit.skipped {
            return Ok((Step::EditSkipped, released));
        }
        let records = self.plan_parts(l, &rendered)?;
        let not_replies = if records.iter().any(|r| r.state == PartState::Posted) {
            l.parts_not_replies(route, id, target)?
        } else {
            Vec::new()
        };
        Ok((
            Step::Deliver(Planned {
                rendered,
                edits: edit.remote_ids,
                records,
                not_replies,
            }),
            released,
        ))
    }

    /// What the policy and the review say about the post, and the rule a hold is filed
    /// under. A post a person released (`released`) is mirrored whatever the policy says.
    fn decide(&self, l: &Ledger, released: bool) -> Result<(Decision, &'static str), StoreError> {
        let mut decision = if released {
            Decision::Mirror
        } else {
            policy::decide(&self.post, &self.policy, self.now)
        };
        if matches!(decision, Decision::Hold(_))
            && l.hold_released(&self.route, self.post.id.as_str(), &self.target)?
        {
            // A person released this post from a hold of an earlier birdbridge (`hold
            // release`): mirrored although the policy still holds it.
            decision = Decision::Mirror;
        }
        let mut rule = review::ALT_TEXT_RULE;
        if decision == Decision::Mirror && !released {
            if let Some(h) = review::hold_reason(&self.post, &self.policy, self.review) {
                rule = h.rule;
                decision = Decision::Hold(h.reason);
            }
        }
        Ok((decision, rule))
    }

    /// A post under review is the review deliverer's (`src/release.rs`) from its hold
    /// on: it alone delivers a released one, with the person's edits (returned here); any
    /// other offer leaves it alone (while held, refreshing the limits the desk counts
    /// against), which is the `Err` step. `Ok(None)`: the post is not under review here.
    fn under_review(&self, l: &Ledger) -> Result<Result<Option<CopyEdits>, Step>, StoreError> {
        let (route, target, id) = (&self.route, &self.target, self.post.id.as_str());
        let hold = l.review_hold(route, id, target)?;
        Ok(match (&hold, self.reviewed) {
            (Some(h), true) if h.state == ReviewState::Released => Ok(Some(review::copy_edits(
                &l.review_edits(route, id, target)?,
            ))),
            (_, true) => Err(Step::AlreadyDone),
            (Some(h), false) => {
                if let (ReviewState::Held, Some(p)) = (h.state, &self.profile) {
                    l.refresh_hold_limits(route, id, target, &review::limits_json(p))?;
                }
                Err(match h.state {
                    ReviewState::Dropped => Step::AlreadyDone,
                    ReviewState::Held | ReviewState::Released => Step::Held { new: false },
                })
            }
            (None, false) => Ok(None),
        })
    }

    /// Holds the post for review: its parts rendered for the target's limits (one
    /// placeholder while they are unknown) and planned as `held`, the post kept with its
    /// hold. `None` when something of it was attempted already (it is not held then).
    fn hold(&self, l: &Ledger, rule: &str, reason: &str) -> Result<Option<Step>, StoreError> {
        let (route, target, id) = (&self.route, &self.target, self.post.id.as_str());
        let parts = match &self.profile {
            Some(profile) => {
                let lookups = lookups_for(l, route, target, &self.post)?;
                render::render(&self.post, profile, &self.policy, &lookups)
                    .parts
                    .len()
            }
            None => 1,
        };
        let limits = self.profile.as_ref().map(review::limits_json);
        let held = l.hold_for_review(
            &NewHold {
                route,
                post: &self.post,
                target,
                rule,
                reason,
                backfill: self.policy.backfill,
                limits: limits.as_deref(),
                parts: u32::try_from(parts).unwrap_or(u32::MAX),
            },
            self.now,
        )?;
        if !held {
            return Ok(None);
        }
        warn!(route, target, post = id, %reason, "post held for review");
        Ok(Some(Step::Held { new: true }))
    }

    /// Plans the post's parts (a placeholder planned while the target's limits were unknown
    /// becomes the real parts now) and records the renderer's warnings on a first plan.
    fn plan_parts(&self, l: &Ledger, rendered: &Rendered) -> Result<Vec<PartRecord>, StoreError> {
        let (route, target, id) = (&self.route, &self.target, self.post.id.as_str());
        let parts = u32::try_from(rendered.parts.len()).unwrap_or(u32::MAX);
        let records = l.replan_post(route, id, target, parts, self.now)?;
        if records
            .iter()
            .all(|r| r.state == PartState::Planned && r.attempts == 0)
        {
            for w in &rendered.warnings {
                let index = u32::try_from(w.part).unwrap_or(u32::MAX);
                l.add_warning(
                    &PartKey::new(route, id, target, index),
                    &w.message,
                    self.now,
                )?;
            }
        }
        Ok(records)
    }

    /// Why the post waits rather than goes now: the target cannot be used, an earlier post
    /// of its thread is not delivered there yet, or the day's spending cap is reached.
    fn waits(
        &self,
        l: &Ledger,
        existing: &[PartRecord],
        rendered: &Rendered,
    ) -> Result<Option<String>, StoreError> {
        if let Some(why) = &self.unusable {
            return Ok(Some(why.clone()));
        }
        if let Some(why) = waits_for_thread(l, &self.route, &self.target, &self.post)? {
            return Ok(Some(why));
        }
        self.over_the_cap(l, existing, rendered)
    }

    /// Why the post waits for the next UTC day, when delivering it would take the target's
    /// spend of the day (counted in the ledger: what was posted, priced) over its daily
    /// cap. A post of which a part is out already is finished: it was counted when it
    /// started.
    fn over_the_cap(
        &self,
        l: &Ledger,
        existing: &[PartRecord],
        rendered: &Rendered,
    ) -> Result<Option<String>, StoreError> {
        let Some((tariff, cap)) = self.tariff.and_then(|t| Some((t, t.cap?))) else {
            return Ok(None);
        };
        if existing.iter().any(|r| r.state == PartState::Posted) {
            return Ok(None);
        }
        let price: Usd = rendered.parts.iter().map(|p| tariff.price(p)).sum();
        let spent = Usd::from_micros(l.spent_on(&self.target, self.now.date_naive())?.micros);
        if spent + price <= cap {
            return Ok(None);
        }
        let why = if price > cap {
            format!(
                "a higher spending cap: this post costs {price}, more than max_spend_per_day ({cap}) allows in a day"
            )
        } else {
            format!(
                "the next UTC day: the spending cap of {cap} a day is reached ({spent} spent today; this post costs {price})"
            )
        };
        info!(route = %self.route, target = %self.target, post = %self.post.id, %why, "post waits under the spending cap");
        Ok(Some(waiting_note(why)))
    }

    /// Records why the post is not mirrored to the target: skipped (final); a hold only
    /// reaches here in a dry run, which shows it (a real run holds it for review).
    fn not_mirrored(&self, l: &Ledger, decision: &Decision) -> Result<Step, StoreError> {
        let (route, target, id) = (&self.route, &self.target, self.post.id.as_str());
        let mut shown = None;
        match decision {
            Decision::Skip(reason) if !self.dry_run => {
                l.mark_skipped(route, id, target, reason, self.now)?;
            }
            Decision::Hold(reason) => {
                // Only a dry run gets here: a real run holds the post for review.
                let reason = format!("{HELD_PREFIX}{reason}");
                shown = Some(preview::held(route, target, &self.post, &reason));
            }
            _ => {}
        }
        Ok(Step::NotMirrored { preview: shown })
    }
}

/// Whether the post was taken back on the target (or is being), by a person or because the
/// source deleted it: then it is never mirrored again, whatever a later backfill or cycle
/// offers, and the log says why (the reason its rows keep).
fn retracted(route: &str, target: &str, id: &str, rows: &[PartRecord]) -> bool {
    let Some(r) = rows
        .iter()
        .find(|r| matches!(r.state, PartState::Retracted | PartState::Retracting))
    else {
        return false;
    };
    let why = r.reason.as_deref().unwrap_or("being retracted");
    info!(route, target, post = id, reason = %why, "post retracted: skipped, not posted again");
    true
}

/// Threads go strictly in order: a post that replies to (or quotes) a post of the route that
/// is still waiting on this target waits too, so it can be threaded under it.
fn waits_for_thread(
    ledger: &Ledger,
    route: &str,
    target: &str,
    post: &Post,
) -> Result<Option<String>, StoreError> {
    for id in render::wanted_lookups(post) {
        let rows = ledger.parts_of_post(route, id.as_str(), target)?;
        if !rows.is_empty() && !is_done(&rows) {
            return Ok(Some(waiting_note(format_args!(
                "the earlier post {id} of its thread"
            ))));
        }
    }
    Ok(None)
}

fn lookups_for(
    ledger: &Ledger,
    route: &str,
    target: &str,
    post: &Post,
) -> Result<Lookups, StoreError> {
    let mut lookups = Lookups::default();
    for id in render::wanted_lookups(post) {
        if let Some(m) = ledger.mirrored_post(route, id.as_str(), target)? {
            lookups.insert(id, m);
        }
    }
    Ok(lookups)
}
