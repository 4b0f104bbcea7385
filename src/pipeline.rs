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
use tracing::{error, info, warn};

use crate::budget::{human_duration, Clock};
use crate::config::{ConfigError, Settings, SourceSettings, TargetSettings};
use crate::crash::{self, CrashPoint};
use crate::model::{Post, PostId};
use crate::policy::{self, Decision, RoutePolicy};
use crate::preview;
use crate::progress::Progress;
use crate::render::{self, Lookups, Rendered, ReplyTo};
use crate::sources::archive::{Archive, ArchiveContents, ArchiveError, Malformed};
use crate::store::{Ledger, PartKey, PartRecord, PartState, StoreError, HELD_PREFIX};
use crate::targets::{AnyTarget, Outgoing, TargetError, TargetProfile};

mod live;

pub use live::{api_backfill, ApiBackfillReport, RouteMirror};

/// Attempts before a part is quarantined (kept, reported, retried only on request).
pub const MAX_ATTEMPTS: u32 = 5;

/// Attempts of a part the server refused (a 4xx with a reason) before it is quarantined:
/// fewer, since the same request is likely to be refused again.
pub const MAX_REJECTED_ATTEMPTS: u32 = 3;

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
    /// Set (by a signal handler) to stop before the next post.
    pub stop: Arc<AtomicBool>,
    /// Where time comes from (rate-limit waits, backoff, ledger times); tests move it.
    pub clock: Clock,
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
    /// Targets that stopped receiving posts in this run, with the reason (a refused token,
    /// an unreachable server); the other targets went on.
    pub targets_stopped: Vec<(String, String)>,
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
    /// `None` under `--dry-run` (preview only).
    target: Option<AnyTarget>,
    /// Why this target receives nothing more in this run (its token was refused, its
    /// server unreachable); the other targets go on.
    stopped: Option<String>,
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
/// Unknown route, a route without an archive, a target whose token cannot be read, an
/// unreadable archive.
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
        policy: RoutePolicy::from_settings(route).for_backfill(),
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
        clock: opts.clock.clone(),
    };
    mirror.record_malformed(&contents.malformed)?;

    let posts: Vec<&Post> = contents
        .posts
        .iter()
        .filter(|p| in_range(p, opts))
        .collect();
    report.in_range = posts.len();
    mirror.connect_targets(posts.len()).await?;
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
        let outcome = mirror.post(post, &mut report).await?;
        if outcome.delivered {
            report.posts_delivered += 1;
        }
        // The cursor tells a person how far the backfill got; resuming relies on the
        // ledger rows. Writing it only when the post changed something keeps a rerun over
        // an already mirrored archive free of a durable write per post.
        if outcome.changed && !opts.dry_run {
            ledger.set_cursor(&cursor_name, post.id.as_str(), Utc::now())?;
        }
        progress.advance();
    }
    progress.finish();
    report.targets_stopped = mirror
        .targets
        .iter()
        .filter_map(|t| t.stopped.clone().map(|why| (t.name.clone(), why)))
        .collect();
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
    clock: Clock,
}

impl Mirror<'_> {
    /// Lets every target learn its server before anything is rendered for it (the renderer
    /// needs the server's limits). A target that cannot be used (refused token, unreachable
    /// server) is stopped for this run, loudly; the others go on. Logs each target's
    /// estimate for `posts` posts from its rate-limit budget.
    async fn connect_targets(&mut self, posts: usize) -> Result<(), StoreError> {
        for t in &mut self.targets {
            let Some(target) = t.target.as_mut() else {
                continue;
            };
            match target.connect(self.ledger).await {
                Ok(()) => {
                    t.profile = target.profile().clone();
                    // Live mirroring connects with `posts` = 0: no backlog to estimate.
                    if let Some(rate) = target.posts_per_hour().filter(|_| posts > 0) {
                        let done = self.ledger.settled_posts(self.route, &t.name)?;
                        let left = (posts as u64).saturating_sub(done);
                        info!(
                            route = self.route,
                            target = %t.name,
                            "{}",
                            eta_line(left, rate)
                        );
                    }
                }
                Err(err) => {
                    error!(route = self.route, target = %t.name, error = %err, "target stopped for this run; the other targets go on");
                    t.stopped = Some(err.to_string());
                }
            }
        }
        Ok(())
    }

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

    /// Mirrors one post to every target that does not have it yet.
    async fn post(
        &mut self,
        post: &Post,
        report: &mut BackfillReport,
    ) -> Result<PostOutcome, PipelineError> {
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
    ) -> Result<PostOutcome, PipelineError> {
        let decision = policy::decide(post, &self.policy, Utc::now());
        let audit = Audit {
            route: self.route,
            ledger: self.ledger,
            progress: self.progress,
            dry_run: self.dry_run,
        };
        let mut outcome = PostOutcome::default();
        for t in &mut self.targets {
            if t.stopped.is_some() {
                continue;
            }
            let existing = self
                .ledger
                .parts_of_post(self.route, post.id.as_str(), &t.name)?;
            // A held post whose hold no longer applies (the policy or the source changed):
            // that change was the person's request to retry it.
            let released = existing.len() == 1
                && existing[0].is_held()
                && !matches!(decision, Decision::Hold(_));
            if released && !self.dry_run {
                outcome.changed = true;
                self.ledger
                    .release_held(self.route, post.id.as_str(), &t.name)?;
                info!(route = self.route, target = %t.name, post = %post.id, "held post released");
            }
            if !released && is_done(&existing) {
                report.already_done += 1;
                continue;
            }
            let rendered = match &decision {
                Decision::Skip(_) | Decision::Hold(_) => {
                    audit.not_mirrored(post, &t.name, &decision)?;
                    report.skipped += 1;
                    outcome.changed = true;
                    continue;
                }
                Decision::Boost { original } => {
                    let mirrored =
                        self.ledger
                            .mirrored_post(self.route, original.as_str(), &t.name)?;
                    let Some(mirrored) = mirrored else {
                        let reason = "repost of a post this route has not mirrored here \
                                      (reposts = \"boost\")";
                        audit.not_mirrored(post, &t.name, &Decision::Skip(reason.to_owned()))?;
                        report.skipped += 1;
                        outcome.changed = true;
                        continue;
                    };
                    render::boost(post, &self.policy, &mirrored)
                }
                Decision::Mirror => {
                    let lookups = lookups_for(self.ledger, self.route, &t.name, post)?;
                    render::render(post, &t.profile, &self.policy, &lookups)
                }
            };
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
            let edit = live::edit_base(self.ledger, self.route, &t.name, post, earlier, target)?;
            if edit.skipped {
                report.skipped += 1;
                outcome.changed = true;
                continue;
            }
            let ctx = DeliveryContext {
                route: self.route,
                target_name: &t.name,
                post,
                rendered: &rendered,
                clock: &self.clock,
                edits: &edit.remote_ids,
            };
            let parts = deliver_post(self.ledger, target, &ctx).await?;
            target.save_state(self.ledger)?;
            if let Some(why) = parts.stop_target {
                error!(route = self.route, target = %t.name, error = %why, "target stopped for this run; the other targets go on");
                t.stopped = Some(why);
            }
            if parts.delivered > 0 && target.shows_preview() {
                self.progress
                    .preview(&preview::post(self.route, &t.name, post, &rendered));
            }
            report.parts_delivered += parts.delivered;
            report.parts_reconciled += parts.reconciled;
            report.parts_failed += parts.failed;
            outcome.delivered |= parts.delivered > 0;
            // Planning alone writes rows, so any attempt changed the ledger.
            outcome.changed = true;
        }
        Ok(outcome)
    }
}

/// What mirroring one post did, across its targets.
#[derive(Debug, Default, Clone, Copy)]
struct PostOutcome {
    /// At least one part was delivered.
    delivered: bool,
    /// The ledger changed for this post (a skip, a delivery, a failure).
    changed: bool,
}

/// What recording a post that is not mirrored needs; built from [`Mirror`]'s fields so
/// that it can be used while a target is borrowed.
#[derive(Clone, Copy)]
struct Audit<'a> {
    route: &'a str,
    ledger: &'a Ledger,
    progress: &'a Progress,
    dry_run: bool,
}

impl Audit<'_> {
    /// Records why `post` is not mirrored to `target` now: skipped (final) or held
    /// (quarantined until the policy or the source changes). A dry run only shows holds.
    fn not_mirrored(
        self,
        post: &Post,
        target: &str,
        decision: &Decision,
    ) -> Result<(), StoreError> {
        let id = post.id.as_str();
        match decision {
            Decision::Skip(reason) if !self.dry_run => {
                self.ledger
                    .mark_skipped(self.route, id, target, reason, Utc::now())?;
            }
            Decision::Hold(reason) => {
                let reason = format!("{HELD_PREFIX}{reason}");
                warn!(route = self.route, target, post = id, %reason, "post held");
                if self.dry_run {
                    self.progress
                        .preview(&preview::held(self.route, target, post, &reason));
                } else {
                    self.ledger
                        .mark_held(self.route, id, target, &reason, Utc::now())?;
                }
            }
            _ => {}
        }
        Ok(())
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
        let (profile, target) = match target_settings {
            TargetSettings::Fediverse(f) if opts.dry_run => {
                warn!(target = %name, kind = f.kind.as_str(), "previewing with default Mastodon limits; the server is not asked in a dry run");
                (TargetProfile::mastodon_default(), None)
            }
            _ => {
                let target =
                    AnyTarget::from_settings(name, target_settings, &opts.clock, &opts.stop)
                        .map_err(|source| PipelineError::TargetSetup {
                            route: opts.route.clone(),
                            target: name.clone(),
                            source: Box::new(source),
                        })?;
                let profile = target.profile().clone();
                (profile, (!opts.dry_run).then_some(target))
            }
        };
        out.push(RouteTarget {
            name: name.clone(),
            profile,
            target,
            stopped: None,
        });
    }
    Ok(out)
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

/// Whether `post` must wait because a post it replies to, quotes or links is one this route
/// is still delivering to `target` (planned, interrupted, or failed and waiting for its
/// retry): its statuses are not known yet, and posting now would break the thread. A post
/// that waits is planned, so it is offered again later, like a failed one.
fn waits_for_reference(ledger: &Ledger, ctx: &DeliveryContext<'_>) -> Result<bool, StoreError> {
    let (route, target, post) = (ctx.route, ctx.target_name, ctx.post);
    for id in render::wanted_lookups(post) {
        let rows = ledger.parts_of_post(route, id.as_str(), target)?;
        if !rows.is_empty() && !is_done(&rows) {
            let count = u32::try_from(ctx.rendered.parts.len()).unwrap_or(u32::MAX);
            ledger.plan_post(route, post.id.as_str(), target, count, ctx.clock.now())?;
            info!(route, target, post = %post.id, waits_for = %id, "the post it replies to or quotes is not delivered yet; it waits");
            return Ok(true);
        }
    }
    Ok(false)
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

struct DeliveryContext<'a> {
    route: &'a str,
    target_name: &'a str,
    post: &'a Post,
    rendered: &'a Rendered,
    clock: &'a Clock,
    /// For an edited post: the statuses of the earlier version, by part index; these parts
    /// are edits of those statuses instead of new ones.
    edits: &'a [String],
}

#[derive(Debug, Default)]
struct Outcome {
    delivered: usize,
    reconciled: usize,
    failed: usize,
    /// Set when the target must receive nothing more in this run (a refused token).
    stop_target: Option<String>,
}

/// Delivers the parts of one post to one target, strictly in order; stops at the first
/// part that cannot go out now, since later parts reply to it.
///
/// What a failure does to the part depends on its class ([`TargetError`]): a refused token
/// or a stop request leaves it due again without counting the attempt (and a refused token
/// stops the target for this run); a rejection is retried a few times, then quarantined; a
/// temporary failure is retried with growing, jittered backoff; a write with an unknown
/// outcome stays in `posting`, so it is reconciled before anything is sent again.
async fn deliver_post(
    ledger: &Ledger,
    target: &mut AnyTarget,
    ctx: &DeliveryContext<'_>,
) -> Result<Outcome, PipelineError> {
    if waits_for_reference(ledger, ctx)? {
        return Ok(Outcome::default());
    }
    let post_id = ctx.post.id.as_str();
    let parts = &ctx.rendered.parts;
    let part_count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let now = ctx.clock.now();
    let records = ledger.plan_post(ctx.route, post_id, ctx.target_name, part_count, now)?;
    if records
        .iter()
        .all(|r| r.state == PartState::Planned && r.attempts == 0)
    {
        for w in &ctx.rendered.warnings {
            let index = u32::try_from(w.part).unwrap_or(u32::MAX);
            let key = PartKey::new(ctx.route, post_id, ctx.target_name, index);
            ledger.add_warning(&key, &w.message, now)?;
        }
    }
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
        let attempt = ledger.begin_attempt(key, ctx.clock.now())?;
        crash::point(CrashPoint::Posting);
        let result = match ctx.edits.get(index) {
            Some(remote_id) => target.edit(remote_id, out).await,
            None => target.deliver(out, ledger).await,
        };
        match result {
            Ok(delivered) => {
                crash::delivered(ctx.edits.get(index).is_some());
                ledger.mark_posted(
                    key,
                    &delivered.remote_id,
                    delivered.url.as_deref(),
                    ctx.clock.now(),
                )?;
                previous = Some(delivered.remote_id);
                outcome.delivered += 1;
                crash::recorded(index + 1 < parts.len() || part.reply_to != ReplyTo::Nothing);
            }
            Err(err) => {
                let state = settle_failure(ledger, key, &err, attempt.attempts, ctx.clock.now())?;
                warn!(route = ctx.route, target = ctx.target_name, post = post_id, part = index, state = ?state, error = %err, "delivery failed");
                if matches!(err, TargetError::Auth { .. }) {
                    outcome.stop_target = Some(err.to_string());
                }
                outcome.failed += 1;
                break;
            }
        }
    }
    Ok(outcome)
}

/// What reconciling an interrupted part found.
enum Reconciled {
    /// The target has it: recorded as posted with this id.
    Adopted(String),
    /// The target does not have it (or a resend is deduplicated): send it.
    SendAgain,
    /// Nobody can tell now, or it is quarantined: leave it; `stop_target` when the target
    /// refused the token.
    Unsettled { stop_target: Option<String> },
}

/// Settles a part found in `posting` (an attempt whose result was never recorded) before
/// anything is sent for it again.
async fn reconcile_part(
    ledger: &Ledger,
    target: &mut AnyTarget,
    ctx: &DeliveryContext<'_>,
    record: &PartRecord,
    out: Outgoing<'_>,
) -> Result<Reconciled, StoreError> {
    let key = &record.key;
    match target.reconcile(out, record.updated_at).await {
        Ok(Some(found)) => {
            ledger.adopt(key, &found.remote_id, found.url.as_deref(), ctx.clock.now())?;
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
            let now = ctx.clock.now();
            let state = ledger.mark_failed(
                key,
                "interrupted before the result was recorded; not found at the target",
                now,
                MAX_ATTEMPTS,
                now,
            )?;
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
                stop_target: matches!(err, TargetError::Auth { .. }).then(|| err.to_string()),
            })
        }
    }
}

/// Records a failed attempt as its class says (see [`deliver_post`]); returns the state
/// the part is left in.
fn settle_failure(
    ledger: &Ledger,
    key: &PartKey,
    err: &TargetError,
    attempts: u32,
    now: chrono::DateTime<Utc>,
) -> Result<PartState, StoreError> {
    let message = err.to_string();
    let retry_at = now + jitter(backoff(attempts));
    Ok(match err {
        TargetError::Auth { .. } | TargetError::Interrupted => {
            ledger.mark_not_sent(key, &message, now, now)?;
            PartState::Failed
        }
        TargetError::RateLimited { retry_after } => {
            ledger.mark_not_sent(key, &message, *retry_after, now)?;
            PartState::Failed
        }
        TargetError::UnknownOutcome { .. } => PartState::Posting,
        TargetError::Rejected { .. } => {
            ledger.mark_failed(key, &message, retry_at, MAX_REJECTED_ATTEMPTS, now)?
        }
        TargetError::Output { .. }
        | TargetError::Transient { .. }
        | TargetError::Setup { .. }
        | TargetError::Store(_) => {
            ledger.mark_failed(key, &message, retry_at, MAX_ATTEMPTS, now)?
        }
    })
}

/// Up to a quarter more than `base`, at random, so retries of many parts (and of many
/// birdbridge instances) do not arrive together.
fn jitter(base: Duration) -> Duration {
    crate::targets::fedi::with_jitter(base)
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
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::minutes(1));
        assert_eq!(backoff(3), Duration::minutes(8));
        assert_eq!(backoff(30), Duration::minutes(360));
    }
}
