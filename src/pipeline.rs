//! One backfill pass for one route: read the archive, decide, render per target, record
//! the intent, deliver, record the result (DESIGN.md "Data flow").
//!
//! Crash safety comes from the order of ledger writes: a part is `planned`, then `posting`
//! before the target is called, then `posted` with the remote id. A part found in
//! `posting` at the next start was interrupted mid-delivery; it is reconciled with the
//! target (adopted if the target has it) before anything is sent again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use tracing::{info, warn};

use crate::config::{ConfigError, Settings, SourceSettings, TargetSettings};
use crate::model::{Post, PostId};
use crate::policy::{self, Decision, RoutePolicy};
use crate::preview;
use crate::progress::Progress;
use crate::render::{self, Lookups, Rendered, ReplyTo};
use crate::sources::archive::{Archive, ArchiveContents, ArchiveError, Malformed};
use crate::store::{Ledger, PartRecord, PartState, StoreError};
use crate::targets::{AnyTarget, Outgoing, TargetProfile};

mod live;

pub use live::{api_backfill, ApiBackfillReport, RouteMirror};

/// Attempts before a part is quarantined (kept, reported, retried only on request).
pub const MAX_ATTEMPTS: u32 = 5;

/// What `backfill` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    /// The route to fill.
    pub route: String,
    /// An archive to read instead of the route's own archive source.
    pub archive: Option<PathBuf>,
    /// Only posts created on or after this day (UTC).
    pub since: Option<NaiveDate>,
    /// Only posts created on or before this day (UTC).
    pub until: Option<NaiveDate>,
    /// Deliver at most this many posts, then stop.
    pub limit: Option<usize>,
    /// Show what would be posted; write nothing anywhere.
    pub dry_run: bool,
    /// Test hook: abort the process after this many deliveries, after the target has the
    /// part and before the ledger records it; the worst instant for a crash.
    pub crash_after_deliveries: Option<u32>,
    /// Set (by a signal handler) to stop before the next post.
    pub stop: Arc<AtomicBool>,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Posts read from the archive (circle posts not included).
    pub posts_read: usize,
    /// Archive entries that could not be read as posts.
    pub malformed: usize,
    /// Circle posts left out.
    pub circle_excluded: usize,
    /// Posts inside the date range.
    pub in_range: usize,
    /// Post × target pairs already done in an earlier run.
    pub already_done: usize,
    /// Post × target pairs skipped by the route policy.
    pub skipped: usize,
    /// Posts with at least one part delivered in this run.
    pub posts_delivered: usize,
    /// Parts delivered in this run.
    pub parts_delivered: usize,
    /// Parts found interrupted and adopted from the target.
    pub parts_reconciled: usize,
    /// Parts that failed in this run (retried next time, or quarantined).
    pub parts_failed: usize,
    /// Posts previewed (`--dry-run`).
    pub previewed: usize,
}

/// Why a backfill could not run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The route is not configured.
    #[error("{file}: no route named `{route}`")]
    UnknownRoute {
        /// The configuration file.
        file: PathBuf,
        /// The route asked for.
        route: String,
    },
    /// The route's source is not an archive and no `--archive` was given.
    #[error("route `{route}` reads source `{source_name}`, which is not an archive: pass --archive PATH")]
    NoArchive {
        /// The route.
        route: String,
        /// Its source.
        source_name: String,
    },
    /// `--from-api` on a route whose source is not an X account.
    #[error("route `{route}` reads source `{source_name}`, which is not an X account: --from-api needs one")]
    NotXSource {
        /// The route.
        route: String,
        /// Its source.
        source_name: String,
    },
    /// The X API failed (`--from-api`).
    #[error(transparent)]
    XApi(#[from] crate::sources::x::XError),
    /// A target kind this build cannot deliver to.
    #[error(
        "route `{route}`: target `{target}` is a {kind} server; delivery to fediverse servers is not in this build yet (use --dry-run to preview with default Mastodon limits)"
    )]
    UnsupportedTarget {
        /// The route.
        route: String,
        /// The target.
        target: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The archive could not be read; nothing was written.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug)]
struct RouteTarget {
    name: String,
    profile: TargetProfile,
    /// `None` under `--dry-run` (preview only) and for previews of undeliverable kinds.
    target: Option<AnyTarget>,
}

/// A backfill that has read its archive and built its targets, and has written nothing.
#[derive(Debug)]
pub struct Prepared {
    contents: ArchiveContents,
    cursor_name: String,
    targets: Vec<RouteTarget>,
    policy: RoutePolicy,
}

/// Reads the archive and builds the route's targets. Done before the ledger is opened, so a
/// broken archive or configuration leaves no trace.
///
/// # Errors
/// Unknown route, a route without an archive, a target kind this build cannot deliver to,
/// an unreadable archive.
pub fn prepare(settings: &Settings, opts: &BackfillOptions) -> Result<Prepared, PipelineError> {
    let route = settings
        .routes
        .get(&opts.route)
        .ok_or_else(|| PipelineError::UnknownRoute {
            file: settings.file.clone(),
            route: opts.route.clone(),
        })?;
    let (archive_path, cursor_name) = archive_of(settings, opts)?;
    let targets = route_targets(settings, opts)?;
    let archive = Archive::open(&archive_path)?;
    let contents = archive.load()?;
    info!(
        archive = %archive_path.display(),
        owner = %archive.owner().username,
        posts = contents.posts.len(),
        malformed = contents.malformed.len(),
        circle_excluded = contents.circle_excluded,
        "archive read"
    );
    Ok(Prepared {
        contents,
        cursor_name,
        targets,
        policy: RoutePolicy::from_settings(route),
    })
}

/// Runs a prepared backfill.
///
/// # Errors
/// Ledger failures. A failing part is not an error: it is recorded, counted in the report,
/// and the other posts go on.
pub async fn backfill(
    prepared: Prepared,
    ledger: &Ledger,
    opts: &BackfillOptions,
    progress: &Progress,
) -> Result<BackfillReport, PipelineError> {
    let Prepared {
        contents,
        cursor_name,
        targets,
        policy,
    } = prepared;
    let mut report = BackfillReport {
        posts_read: contents.posts.len(),
        malformed: contents.malformed.len(),
        circle_excluded: contents.circle_excluded,
        ..BackfillReport::default()
    };
    let mut mirror = Mirror {
        route: &opts.route,
        ledger,
        targets,
        policy,
        progress,
        dry_run: opts.dry_run,
        crash_after: opts.crash_after_deliveries,
        deliveries: 0,
    };
    mirror.record_malformed(&contents.malformed)?;

    let posts: Vec<&Post> = contents
        .posts
        .iter()
        .filter(|p| in_range(p, opts))
        .collect();
    report.in_range = posts.len();
    progress.start(posts.len() as u64);
    for post in posts {
        if opts.stop.load(Ordering::SeqCst) {
            info!("stopping on request; rerun to continue");
            break;
        }
        if opts.limit.is_some_and(|l| report.posts_delivered >= l) {
            info!(limit = opts.limit, "limit reached; stopping");
            break;
        }
        if mirror.post(post, &mut report).await? {
            report.posts_delivered += 1;
        }
        if !opts.dry_run {
            ledger.set_cursor(&cursor_name, post.id.as_str(), Utc::now())?;
        }
        progress.advance();
    }
    progress.finish();
    Ok(report)
}

/// Mirrors posts of one route to all of its targets: the part of a pass that does not
/// depend on where the posts came from.
struct Mirror<'a> {
    route: &'a str,
    ledger: &'a Ledger,
    targets: Vec<RouteTarget>,
    policy: RoutePolicy,
    progress: &'a Progress,
    /// Preview only; write nothing.
    dry_run: bool,
    crash_after: Option<u32>,
    deliveries: u32,
}

impl Mirror<'_> {
    /// Records unreadable archive entries as skipped on every target: the audit trail says
    /// why they never appeared.
    fn record_malformed(&self, malformed: &[Malformed]) -> Result<(), StoreError> {
        if self.dry_run {
            return Ok(());
        }
        for m in malformed {
            let id =
                m.id.as_ref()
                    .map_or_else(|| format!("malformed:{}", m.location), |id| id.0.clone());
            warn!(location = %m.location, reason = %m.reason, "malformed post skipped");
            for t in &self.targets {
                let reason = format!("malformed: {} ({})", m.reason, m.location);
                self.ledger
                    .mark_skipped(self.route, &id, &t.name, &reason, Utc::now())?;
            }
        }
        Ok(())
    }

    /// Mirrors one post to every target that does not have it yet. Returns whether any
    /// part was delivered.
    async fn post(
        &mut self,
        post: &Post,
        report: &mut BackfillReport,
    ) -> Result<bool, PipelineError> {
        self.post_versions(post, &[], report).await
    }

    /// As [`Mirror::post`], for a post that may be the new version of an edited post:
    /// `earlier` lists its earlier versions, newest first. On a target where one of them was
    /// mirrored, the post is delivered as an edit of that version's statuses (or skipped,
    /// when the target cannot edit).
    async fn post_versions(
        &mut self,
        post: &Post,
        earlier: &[PostId],
        report: &mut BackfillReport,
    ) -> Result<bool, PipelineError> {
        let decision = policy::decide(post);
        let mut delivered_any = false;
        for t in &mut self.targets {
            let existing = self
                .ledger
                .parts_of_post(self.route, post.id.as_str(), &t.name)?;
            if is_done(&existing) {
                report.already_done += 1;
                continue;
            }
            if let Decision::Skip(reason) = &decision {
                if !self.dry_run {
                    self.ledger.mark_skipped(
                        self.route,
                        post.id.as_str(),
                        &t.name,
                        reason,
                        Utc::now(),
                    )?;
                }
                report.skipped += 1;
                continue;
            }
            let lookups = lookups_for(self.ledger, self.route, &t.name, post)?;
            let rendered = render::render(post, &t.profile, &self.policy, &lookups);
            let Some(target) = t.target.as_mut() else {
                self.progress
                    .preview(&preview::post(self.route, &t.name, post, &rendered));
                report.previewed += 1;
                continue;
            };
            let edit = live::edit_base(self.ledger, self.route, &t.name, post, earlier, target)?;
            if edit.skipped {
                report.skipped += 1;
                continue;
            }
            let ctx = DeliveryContext {
                route: self.route,
                target_name: &t.name,
                post,
                rendered: &rendered,
                crash_after: self.crash_after,
                edits: &edit.remote_ids,
            };
            let outcome = deliver_post(self.ledger, target, &ctx, &mut self.deliveries).await?;
            if outcome.delivered > 0 && target.shows_preview() {
                self.progress
                    .preview(&preview::post(self.route, &t.name, post, &rendered));
            }
            report.parts_delivered += outcome.delivered;
            report.parts_reconciled += outcome.reconciled;
            report.parts_failed += outcome.failed;
            delivered_any |= outcome.delivered > 0;
        }
        Ok(delivered_any)
    }
}

/// Finds the archive to read, and the cursor name its progress is kept under.
fn archive_of(
    settings: &Settings,
    opts: &BackfillOptions,
) -> Result<(PathBuf, String), PipelineError> {
    let route = &settings.routes[&opts.route];
    let source = settings.sources.get(&route.source);
    match (&opts.archive, source) {
        (Some(path), _) => Ok((path.clone(), format!("{}+archive", route.source))),
        (None, Some(SourceSettings::Archive(a))) => Ok((a.path.clone(), route.source.clone())),
        (None, _) => Err(PipelineError::NoArchive {
            route: opts.route.clone(),
            source_name: route.source.clone(),
        }),
    }
}

fn route_targets(
    settings: &Settings,
    opts: &BackfillOptions,
) -> Result<Vec<RouteTarget>, PipelineError> {
    let route = &settings.routes[&opts.route];
    let mut out = Vec::new();
    for name in &route.targets {
        let target_settings = &settings.targets[name];
        let target = AnyTarget::from_settings(name, target_settings);
        let profile = match (&target, target_settings) {
            (Some(t), _) => t.profile().clone(),
            (None, TargetSettings::Fediverse(f)) if opts.dry_run => {
                warn!(target = %name, kind = f.kind.as_str(), "previewing with default Mastodon limits; the server is not asked in a dry run");
                TargetProfile::mastodon_default()
            }
            (None, TargetSettings::Fediverse(f)) => {
                return Err(PipelineError::UnsupportedTarget {
                    route: opts.route.clone(),
                    target: name.clone(),
                    kind: f.kind.as_str(),
                })
            }
            (None, TargetSettings::DryRun(_)) => unreachable!("dry-run targets are always built"),
        };
        out.push(RouteTarget {
            name: name.clone(),
            profile,
            target: if opts.dry_run { None } else { target },
        });
    }
    Ok(out)
}

fn in_range(post: &Post, opts: &BackfillOptions) -> bool {
    let day = post.created_at.date_naive();
    opts.since.is_none_or(|s| day >= s) && opts.until.is_none_or(|u| day <= u)
}

/// A post is done on a target when it has rows and none of them still has work to do.
/// Quarantined parts count as done: they are retried only on request.
fn is_done(rows: &[PartRecord]) -> bool {
    !rows.is_empty()
        && rows.iter().all(|r| {
            matches!(
                r.state,
                PartState::Posted | PartState::Skipped | PartState::Quarantined
            )
        })
}

fn lookups_for(
    ledger: &Ledger,
    route: &str,
    target: &str,
    post: &Post,
) -> Result<Lookups, StoreError> {
    let mut lookups = Lookups::default();
    let refs = &post.references;
    for r in [&refs.reply_to, &refs.quote_of].into_iter().flatten() {
        if let Some(id) = &r.id {
            if let Some(m) = ledger.mirrored_post(route, id.as_str(), target)? {
                lookups.insert(id.clone(), m);
            }
        }
    }
    Ok(lookups)
}

struct DeliveryContext<'a> {
    route: &'a str,
    target_name: &'a str,
    post: &'a Post,
    rendered: &'a Rendered,
    crash_after: Option<u32>,
    /// For an edited post: the statuses of the earlier version, by part index; these parts
    /// are edits of those statuses instead of new ones.
    edits: &'a [String],
}

#[derive(Debug, Default)]
struct Outcome {
    delivered: usize,
    reconciled: usize,
    failed: usize,
}

/// Delivers the parts of one post to one target, strictly in order; stops at the first
/// part that cannot go out now, since later parts reply to it.
async fn deliver_post(
    ledger: &Ledger,
    target: &mut AnyTarget,
    ctx: &DeliveryContext<'_>,
    deliveries: &mut u32,
) -> Result<Outcome, PipelineError> {
    let post_id = ctx.post.id.as_str();
    let parts = &ctx.rendered.parts;
    let part_count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let records = ledger.plan_post(ctx.route, post_id, ctx.target_name, part_count, Utc::now())?;
    let mut outcome = Outcome::default();
    let mut previous: Option<String> = None;
    for (index, part) in parts.iter().enumerate() {
        let Some(record) = records.iter().find(|r| r.key.part_index as usize == index) else {
            break;
        };
        let key = &record.key;
        match record.state {
            PartState::Posted => {
                previous.clone_from(&record.remote_id);
                continue;
            }
            PartState::Skipped | PartState::Quarantined => break,
            PartState::Failed if record.next_attempt_at.is_some_and(|t| t > Utc::now()) => break,
            PartState::Posting => {
                if let Some(found) = target
                    .reconcile(&record.idempotency_key)
                    .await
                    .ok()
                    .flatten()
                {
                    ledger.adopt(key, &found.remote_id, found.url.as_deref(), Utc::now())?;
                    info!(
                        route = ctx.route,
                        target = ctx.target_name,
                        post = post_id,
                        part = index,
                        "interrupted part found at the target: adopted"
                    );
                    previous = Some(found.remote_id);
                    outcome.reconciled += 1;
                    continue;
                }
                let now = Utc::now();
                ledger.mark_failed(
                    key,
                    "interrupted before the result was recorded; not found at the target",
                    now,
                    MAX_ATTEMPTS,
                    now,
                )?;
            }
            PartState::Planned | PartState::Failed => {}
        }
        let in_reply_to = match &part.reply_to {
            ReplyTo::Nothing => None,
            ReplyTo::PreviousPart => previous.clone(),
            ReplyTo::Status(id) => Some(id.clone()),
        };
        let attempt = ledger.begin_attempt(key, Utc::now())?;
        let out = Outgoing {
            route: ctx.route,
            source_post_id: post_id,
            part_index: key.part_index,
            idempotency_key: &record.idempotency_key,
            part,
            in_reply_to: in_reply_to.as_deref(),
        };
        let result = match ctx.edits.get(index) {
            Some(remote_id) => target.edit(remote_id, out).await,
            None => target.deliver(out).await,
        };
        match result {
            Ok(delivered) => {
                *deliveries += 1;
                if ctx.crash_after.is_some_and(|n| *deliveries >= n) {
                    warn!("test hook: aborting between delivery and record");
                    std::process::abort();
                }
                ledger.mark_posted(
                    key,
                    &delivered.remote_id,
                    delivered.url.as_deref(),
                    Utc::now(),
                )?;
                previous = Some(delivered.remote_id);
                outcome.delivered += 1;
            }
            Err(err) => {
                let now = Utc::now();
                let state = ledger.mark_failed(
                    key,
                    &err.to_string(),
                    now + backoff(attempt.attempts),
                    MAX_ATTEMPTS,
                    now,
                )?;
                warn!(route = ctx.route, target = ctx.target_name, post = post_id, part = index, state = ?state, error = %err, "delivery failed");
                outcome.failed += 1;
                break;
            }
        }
    }
    Ok(outcome)
}

/// Exponential backoff from one minute, capped at six hours.
fn backoff(attempts: u32) -> Duration {
    let minutes = 1i64 << attempts.min(9);
    Duration::minutes(minutes.min(360))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::minutes(1));
        assert_eq!(backoff(3), Duration::minutes(8));
        assert_eq!(backoff(30), Duration::minutes(360));
    }
}
