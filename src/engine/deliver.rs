//! The parts of one post on one target, strictly in order, as [`super::plan`] planned
//! them: reconcile an interrupted part, stamp the attempt, send the part (its media, then
//! its status or edit), record the result. Every ledger write of a delivery is made here or
//! in [`super::attach`], on the blocking pool ([`Ledger::call`]); the target only talks to
//! its server.
//!
//! Crash safety comes from the order of ledger writes: a part is `planned`, then `posting`
//! before the target is called, each upload recorded as soon as the target has it, then
//! `posted` with the remote id. A part found in `posting` at the next start was
//! interrupted mid-delivery; it is reconciled with the target (adopted if the target has
//! it) before anything is sent again, reusing its recorded uploads. The crash points of
//! the crash matrix ([`crash`]) are all reached here.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use super::attach::attach;
use super::plan::Planned;
use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::crash::{self, CrashPoint};
use crate::media::stage::MediaStage;
use crate::model::Post;
use crate::render::ReplyTo;
use crate::store::{Ledger, PartKey, PartRecord, PartState, StoreError, NOT_A_REPLY};
use crate::targets::{Attached, Delivered, Outgoing, RepliesTo, Target, TargetError, Tariff};

/// Attempts before a part is quarantined (kept, reported, retried only on request).
pub const MAX_ATTEMPTS: u32 = 5;

/// Attempts of a part the server refused (a 4xx with a reason) before it is quarantined:
/// fewer, since the same request is likely to be refused again.
pub const MAX_REJECTED_ATTEMPTS: u32 = 3;

/// One post for one target, rendered and planned.
pub(super) struct Job<'a> {
    pub(super) route: &'a str,
    pub(super) target_name: &'a str,
    pub(super) post: &'a Post,
    pub(super) planned: &'a Planned,
    pub(super) clock: &'a Clock,
    /// See [`Outgoing::media`].
    pub(super) media: Option<&'a MediaStage>,
    /// What the target bills (X): each part's price is recorded with it.
    pub(super) tariff: Option<Tariff>,
}

#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) delivered: usize,
    pub(super) reconciled: usize,
    pub(super) failed: usize,
    /// Set when the target must receive nothing more for now (a refused token, an
    /// unreachable server).
    pub(super) stop_target: Option<TargetError>,
}

/// Delivers the parts of one post to one target, strictly in order; stops at the first
/// part that cannot go out now, since later parts reply to it.
///
/// What a failure does to the part depends on its class ([`TargetError`]): a refused token
/// or a stop request leaves it due again without counting the attempt (and a refused token
/// stops the target for this run); a rejection is retried a few times, then quarantined; a
/// temporary failure is retried with growing, jittered backoff; a write with an unknown
/// outcome stays in `posting`, so it is reconciled before anything is sent again.
pub(super) async fn deliver_post(
    ledger: &Arc<Ledger>,
    target: &mut dyn Target,
    ctx: &Job<'_>,
) -> Result<Outcome, StoreError> {
    let post_id = ctx.post.id.as_str();
    let parts = &ctx.planned.rendered.parts;
    let mut outcome = Outcome::default();
    let mut previous: Option<String> = None;
    for (index, part) in parts.iter().enumerate() {
        let Some(record) = ctx
            .planned
            .records
            .iter()
            .find(|r| r.key.part_index as usize == index)
        else {
            break;
        };
        let key = &record.key;
        match record.state {
            PartState::Posted => {
                // A continuation the server published on its own is not the thread's
                // previous part: the next one replies to the part before it.
                let detached = part.reply_to == ReplyTo::PreviousPart
                    && ctx.planned.not_replies.contains(&record.key.part_index);
                if !detached {
                    previous.clone_from(&record.remote_id);
                }
                continue;
            }
            PartState::Skipped
            | PartState::Quarantined
            | PartState::Held
            | PartState::Retracting
            | PartState::Retracted => break,
            PartState::Failed if record.next_attempt_at.is_some_and(|t| t > ctx.clock.now()) => {
                break
            }
            PartState::Posting | PartState::Planned | PartState::Failed => {}
        }
        let in_reply_to = match &part.reply_to {
            ReplyTo::Nothing => None,
            ReplyTo::PreviousPart => previous.clone(),
            ReplyTo::Status(id) => Some(id.clone()),
        };
        let out = Outgoing {
            route: ctx.route,
            source_post_id: post_id,
            part_index: key.part_index,
            idempotency_key: &record.idempotency_key,
            part,
            in_reply_to: in_reply_to.as_deref(),
            post: ctx.post,
            media: ctx.media,
        };
        if record.state == PartState::Posting {
            match reconcile_part(ledger, target, ctx, record, out).await? {
                Reconciled::Adopted(remote_id) => {
                    previous = Some(remote_id);
                    outcome.reconciled += 1;
                    continue;
                }
                Reconciled::SendAgain => {}
                Reconciled::Unsettled { stop_target } => {
                    outcome.stop_target = stop_target;
                    outcome.failed += 1;
                    break;
                }
            }
        }
        let attempt = {
            let (key, now) = (key.clone(), ctx.clock.now());
            ledger.call(move |l| l.begin_attempt(&key, now)).await?
        };
        crash::point(CrashPoint::Posting);
        let edit = ctx.planned.edits.get(index).map(String::as_str);
        match send(ledger, target, ctx, key, out, edit).await? {
            Ok((delivered, price)) => {
                crash::delivered(edit.is_some());
                let sent = Sent {
                    delivered,
                    price,
                    notes: target.notes(),
                    edit: edit.is_some(),
                };
                if let Some(next) = record_delivered(ledger, ctx, key, out, sent).await? {
                    previous = Some(next);
                }
                outcome.delivered += 1;
                crash::recorded(index + 1 < parts.len() || part.reply_to != ReplyTo::Nothing);
            }
            Err(err) => {
                record_failure(ledger, ctx, key, attempt.attempts, &err).await?;
                if matches!(
                    err,
                    TargetError::Auth { .. } | TargetError::Unreachable { .. }
                ) {
                    outcome.stop_target = Some(err);
                }
                outcome.failed += 1;
                break;
            }
        }
    }
    Ok(outcome)
}

/// Records a failed attempt at a part: retried later with backoff, or quarantined.
async fn record_failure(
    ledger: &Arc<Ledger>,
    ctx: &Job<'_>,
    key: &PartKey,
    attempts: u32,
    err: &TargetError,
) -> Result<(), StoreError> {
    let (k, now) = (key.clone(), ctx.clock.now());
    let (message, class) = (err.to_string(), Class::of(err));
    let state = ledger
        .call(move |l| settle_failure(l, &k, &message, class, attempts, now))
        .await?;
    warn!(route = ctx.route, target = ctx.target_name, post = ctx.post.id.as_str(), part = key.part_index, state = ?state, error = %err, "delivery failed");
    Ok(())
}

/// A part the target has, as the engine records it.
struct Sent {
    delivered: Delivered,
    /// What the target billed for it (millionths of a dollar; 0 where writes are free).
    price: u64,
    /// The target's notes about it, recorded as its warnings.
    notes: Vec<String>,
    /// Whether it was an edit of a status posted before.
    edit: bool,
}

/// Records a delivered part as posted, with what the target billed for it (for a boost, in
/// the same transaction, what the answer's id is: the boost's own or the original's, so a
/// retraction undoes the boost and never deletes that id) and the target's notes as its
/// warnings, in one ledger call; with a warning too when the server published a status
/// sent as a reply on its own (only a new status answers for its reply; an edit or a boost
/// does not). Returns the status the thread's next part replies to when it is this one: the
/// rest of a thread replies to the last part that is where it belongs, so a continuation
/// published on its own is passed over, while a post's first part (whose reply to an
/// earlier post was lost) still heads the post's own thread.
async fn record_delivered(
    ledger: &Arc<Ledger>,
    ctx: &Job<'_>,
    key: &PartKey,
    out: Outgoing<'_>,
    sent: Sent,
) -> Result<Option<String>, StoreError> {
    let Sent {
        delivered,
        price,
        notes,
        edit,
    } = sent;
    let part = out.part;
    let warning = if edit || part.boost_of.is_some() {
        None
    } else {
        not_a_reply(out.in_reply_to, &delivered.replies_to, &part.reply_to)
    };
    if let Some(w) = &warning {
        warn!(route = ctx.route, target = ctx.target_name, post = out.source_post_id, part = out.part_index, status = %delivered.remote_id, "{w}");
    }
    let continuation_alone = warning.is_some() && part.reply_to == ReplyTo::PreviousPart;
    let (k, now, d) = (key.clone(), ctx.clock.now(), delivered.clone());
    let boost_of = part.boost_of.clone();
    ledger
        .call(move |l| {
            match &boost_of {
                Some(original) => {
                    l.mark_boost_posted(&k, &d.remote_id, d.url.as_deref(), price, original, now)?;
                }
                None => l.mark_posted_spending(&k, &d.remote_id, d.url.as_deref(), price, now)?,
            }
            for note in notes.iter().chain(&warning) {
                l.add_warning(&k, note, now)?;
            }
            Ok(())
        })
        .await?;
    Ok((!continuation_alone).then_some(delivered.remote_id))
}

/// The warning for a status the server published without the reply it was sent as (a
/// server that does not know the status replied to may publish the reply on its own, 200
/// and `in_reply_to_id: null`), or `None` when the answer shows the reply (or says nothing
/// of it).
fn not_a_reply(asked: Option<&str>, answered: &RepliesTo, reply_to: &ReplyTo) -> Option<String> {
    let asked = asked?;
    let got = match answered {
        RepliesTo::Unsaid => return None,
        RepliesTo::Status(id) if id == asked => return None,
        RepliesTo::Status(id) => format!("as a reply to {id} instead"),
        RepliesTo::Nothing => "on its own (`in_reply_to_id` null)".to_owned(),
    };
    let rest = if *reply_to == ReplyTo::PreviousPart {
        "the rest of the thread replies to the part before it"
    } else {
        "the rest of the post's thread replies to this part"
    };
    Some(format!(
        "{NOT_A_REPLY}sent as a reply to {asked}, the server published it {got}; {rest}"
    ))
}

/// Sends one part: its media ([`attach`]: reused or uploaded, each upload recorded), then
/// the status, or the edit of `edit`. Returns what the target has, with what it billed for
/// it (millionths of a dollar; 0 where writes are free). The outer error is the ledger's;
/// the inner one is the part's failure.
async fn send(
    ledger: &Arc<Ledger>,
    target: &mut dyn Target,
    ctx: &Job<'_>,
    key: &PartKey,
    out: Outgoing<'_>,
    edit: Option<&str>,
) -> Result<Result<(Delivered, u64), TargetError>, StoreError> {
    let attached = match attach(ledger, target, key, out, ctx.clock).await? {
        Ok(attached) => attached,
        Err(err) => return Ok(Err(err)),
    };
    if !attached.media.is_empty() {
        // Uploaded (or reused) and recorded; neither the status nor the edit is sent.
        crash::point(CrashPoint::MediaUploaded);
    }
    let sent = match edit {
        Some(remote_id) => target.edit(remote_id, out, &attached).await,
        None => target.post(out, &attached).await,
    };
    Ok(sent.map(|d| (d, price_sent(ctx.tariff, out, &attached))))
}

/// What the target billed for the part as it was sent (its text may carry links to media
/// that could not go).
fn price_sent(tariff: Option<Tariff>, out: Outgoing<'_>, attached: &Attached) -> u64 {
    tariff.map_or(0, |t| t.price_sent(out.part, attached).micros())
}

/// What reconciling an interrupted part found.
enum Reconciled {
    /// The target has it: recorded as posted with this id.
    Adopted(String),
    /// The target does not have it (or a resend is deduplicated): send it.
    SendAgain,
    /// Nobody can tell now, or it is quarantined: leave it; `stop_target` when the target
    /// refused the token.
    Unsettled { stop_target: Option<TargetError> },
}

/// Settles a part found in `posting` (an attempt whose result was never recorded) before
/// anything is sent for it again.
async fn reconcile_part(
    ledger: &Arc<Ledger>,
    target: &mut dyn Target,
    ctx: &Job<'_>,
    record: &PartRecord,
    out: Outgoing<'_>,
) -> Result<Reconciled, StoreError> {
    let key = &record.key;
    match target.reconcile(out, record.updated_at).await {
        Ok(Some(found)) => {
            let (k, now, f) = (key.clone(), ctx.clock.now(), found.clone());
            // The target had it, so it billed it, as rendered.
            let price = ctx.tariff.map_or(0, |t| t.price(out.part).micros());
            let boost_of = out.part.boost_of.clone();
            ledger
                .call(move |l| match &boost_of {
                    Some(original) => l.mark_boost_posted(
                        &k,
                        &f.remote_id,
                        f.url.as_deref(),
                        price,
                        original,
                        now,
                    ),
                    None => l.adopt_spending(&k, &f.remote_id, f.url.as_deref(), price, now),
                })
                .await?;
            info!(
                route = ctx.route,
                target = ctx.target_name,
                post = out.source_post_id,
                part = key.part_index,
                "interrupted part found at the target: adopted"
            );
            Ok(Reconciled::Adopted(found.remote_id))
        }
        Ok(None) => {
            let (k, now) = (key.clone(), ctx.clock.now());
            let state = ledger
                .call(move |l| {
                    l.mark_failed(
                        &k,
                        "interrupted before the result was recorded; not found at the target",
                        now,
                        MAX_ATTEMPTS,
                        now,
                    )
                })
                .await?;
            Ok(if state == PartState::Quarantined {
                Reconciled::Unsettled { stop_target: None }
            } else {
                Reconciled::SendAgain
            })
        }
        Err(err) => {
            // Nobody can tell whether the server has it: leave it in `posting`.
            warn!(route = ctx.route, target = ctx.target_name, post = out.source_post_id, part = key.part_index, error = %err, "cannot reconcile an interrupted part now; it stays unsettled");
            Ok(Reconciled::Unsettled {
                stop_target: matches!(
                    err,
                    TargetError::Auth { .. } | TargetError::Unreachable { .. }
                )
                .then_some(err),
            })
        }
    }
}

/// What a failure means for the part (see [`deliver_post`]); `Send`, so the ledger write
/// can run off the event loop.
#[derive(Debug, Clone, Copy)]
enum Class {
    /// Certainly not sent (refused token, unreachable server, a stop request): due again
    /// at once, the attempt not counted.
    NotSent,
    /// Not sent; due again at this time.
    NotSentUntil(DateTime<Utc>),
    /// The outcome is unknown: stays `posting`, reconciled before anything is resent.
    Unknown,
    /// Refused by the server: a few attempts.
    Rejected,
    /// Anything else: retried with backoff, then quarantined.
    Temporary,
}

impl Class {
    fn of(err: &TargetError) -> Self {
        match err {
            TargetError::Auth { .. }
            | TargetError::Interrupted
            | TargetError::Unreachable { .. } => Class::NotSent,
            TargetError::RateLimited { retry_after } => Class::NotSentUntil(*retry_after),
            TargetError::UnknownOutcome { .. } => Class::Unknown,
            TargetError::Rejected { .. } => Class::Rejected,
            TargetError::Output { .. }
            | TargetError::Transient { .. }
            | TargetError::Setup { .. } => Class::Temporary,
        }
    }
}

/// Records a failed attempt as its class says; returns the state the part is left in.
fn settle_failure(
    ledger: &Ledger,
    key: &PartKey,
    message: &str,
    class: Class,
    attempts: u32,
    now: DateTime<Utc>,
) -> Result<PartState, StoreError> {
    let retry_at = now + RETRY.jittered(attempts);
    Ok(match class {
        Class::NotSent => {
            ledger.mark_not_sent(key, message, now, now)?;
            PartState::Failed
        }
        Class::NotSentUntil(until) => {
            ledger.mark_not_sent(key, message, until, now)?;
            PartState::Failed
        }
        Class::Unknown => PartState::Posting,
        Class::Rejected => {
            ledger.mark_failed(key, message, retry_at, MAX_REJECTED_ATTEMPTS, now)?
        }
        Class::Temporary => ledger.mark_failed(key, message, retry_at, MAX_ATTEMPTS, now)?,
    })
}

/// The wait before a failed part's next attempt: from one minute, doubling with each
/// attempt, at most six hours.
const RETRY: Backoff = Backoff::new(Duration::minutes(1), Duration::hours(6));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_checked_against_the_answer() {
        let previous = ReplyTo::PreviousPart;
        let none = not_a_reply(Some("7"), &RepliesTo::Status("7".into()), &previous);
        assert_eq!(none, None);
        assert_eq!(not_a_reply(Some("7"), &RepliesTo::Unsaid, &previous), None);
        assert_eq!(
            not_a_reply(None, &RepliesTo::Nothing, &ReplyTo::Nothing),
            None
        );
        let alone = not_a_reply(Some("7"), &RepliesTo::Nothing, &previous).unwrap();
        assert!(
            alone.starts_with(NOT_A_REPLY) && alone.contains("sent as a reply to 7"),
            "{alone}"
        );
        let elsewhere = not_a_reply(
            Some("7"),
            &RepliesTo::Status("8".into()),
            &ReplyTo::Status("7".into()),
        )
        .unwrap();
        assert!(elsewhere.contains("as a reply to 8 instead"), "{elsewhere}");
    }

    #[test]
    fn retries_back_off_and_are_capped() {
        assert_eq!(RETRY.nth(0), Duration::minutes(1));
        assert_eq!(RETRY.nth(3), Duration::minutes(8));
        assert_eq!(RETRY.nth(30), Duration::minutes(360));
    }
}
