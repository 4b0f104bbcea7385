//! Live mirroring's entry into the pipeline: [`RouteMirror`] mirrors posts that a live source
//! (X API, feed) hands over, one at a time, through the same [`Mirror`] and `deliver_post` as
//! a backfill, keeping the route's targets (and their open files or connections) between
//! polls. Also here: edited posts, which become edits of the statuses of their earlier
//! version where one was mirrored.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{
    is_done, route_targets, BackfillOptions, BackfillReport, Mirror, PipelineError, RouteTarget,
};
use crate::budget::Clock;
use crate::clock::SystemClock;
use crate::config::{Settings, SourceSettings};
use crate::model::{Author, Post, PostId, PostRef, References};
use crate::policy::{self, Decision, RoutePolicy};
use crate::progress::Progress;
use crate::sources::x::{XClient, XError, XSource};
use crate::store::{Ledger, PartState, StoreError};
use crate::targets::AnyTarget;

/// One route, ready to mirror live posts. See the module docs.
#[derive(Debug)]
pub struct RouteMirror {
    route: String,
    targets: Vec<RouteTarget>,
    policy: RoutePolicy,
    progress: Progress,
    dry_run: bool,
    /// Whether the targets have read their servers' limits yet (done on first use, so a
    /// daemon that starts while a server is down still starts).
    connected: bool,
}

impl RouteMirror {
    /// The route named `route`, with its targets built. With `dry_run`, posts are only
    /// previewed and nothing is written.
    ///
    /// # Errors
    /// An unknown route, or a target kind this build cannot deliver to.
    pub fn new(settings: &Settings, route: &str, dry_run: bool) -> Result<Self, PipelineError> {
        let route_settings =
            settings
                .routes
                .get(route)
                .ok_or_else(|| PipelineError::UnknownRoute {
                    file: settings.file.clone(),
                    route: route.to_owned(),
                })?;
        let opts = BackfillOptions {
            route: route.to_owned(),
            dry_run,
            ..BackfillOptions::default()
        };
        Ok(Self {
            route: route.to_owned(),
            targets: route_targets(settings, &opts)?,
            policy: RoutePolicy::from_settings(route_settings),
            // No bar: the daemon runs unattended. Previews of the dry-run target go to
            // stderr, the log, so stdout stays free for JSON lines.
            progress: Progress::new(false, true),
            dry_run,
            connected: false,
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
                    id: None,
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

    /// Mirrors one post to every target of the route that does not have it yet. `earlier`
    /// lists the earlier versions of an edited post, newest first (empty otherwise).
    ///
    /// # Errors
    /// Ledger failures. A part that fails is recorded (and retried), not an error.
    pub async fn mirror(
        &mut self,
        ledger: &Ledger,
        post: &Post,
        earlier: &[PostId],
    ) -> Result<BackfillReport, PipelineError> {
        let mut report = BackfillReport::default();
        let mut mirror = Mirror {
            route: &self.route,
            ledger,
            targets: std::mem::take(&mut self.targets),
            policy: self.policy.clone(),
            progress: &self.progress,
            dry_run: self.dry_run,
            clock: Clock::System,
        };
        let mut result = Ok(());
        if !self.connected {
            result = mirror.connect_targets(0).await.map_err(PipelineError::from);
            self.connected = result.is_ok();
        }
        let outcome = match result {
            Ok(()) => mirror.post_versions(post, earlier, &mut report).await,
            Err(e) => Err(e),
        };
        self.targets = mirror.targets;
        if outcome?.delivered {
            report.posts_delivered += 1;
        }
        Ok(report)
    }

    /// Whether a post still has parts to deliver on some target (failed and waiting for
    /// its retry time, or interrupted): the caller keeps it and offers it again later.
    ///
    /// # Errors
    /// Ledger failures.
    pub fn unfinished(&self, ledger: &Ledger, post_id: &str) -> Result<bool, StoreError> {
        if self.dry_run {
            return Ok(false);
        }
        for t in &self.targets {
            let rows = ledger.parts_of_post(&self.route, post_id, &t.name)?;
            if !rows.is_empty() && !is_done(&rows) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// What `backfill --from-api` did.
#[derive(Debug, Clone, Default)]
pub struct ApiBackfillReport {
    /// Posts the API returned in the range (each one billed).
    pub posts_read: usize,
    /// What mirroring them did.
    pub report: BackfillReport,
}

/// `backfill --route R --from-api --since DATE`: reads the route's X timeline backwards from
/// the newest post to `since` (within the API's 3,200-post window) and mirrors the posts
/// oldest first. The live cursor is left alone: posts already mirrored are recognised in the
/// ledger, and the daemon goes on from where it was.
///
/// # Errors
/// An unknown route, a route without an X source, an unreadable token, a target kind this
/// build cannot deliver to, X API and ledger failures.
pub async fn api_backfill(
    settings: &Settings,
    ledger: &Ledger,
    opts: &BackfillOptions,
) -> Result<ApiBackfillReport, PipelineError> {
    let route = settings
        .routes
        .get(&opts.route)
        .ok_or_else(|| PipelineError::UnknownRoute {
            file: settings.file.clone(),
            route: opts.route.clone(),
        })?;
    let Some(SourceSettings::X(x)) = settings.sources.get(&route.source) else {
        return Err(PipelineError::NotXSource {
            route: opts.route.clone(),
            source_name: route.source.clone(),
        });
    };
    let token = x.token.load(&format!("sources.{}", route.source))?;
    let mut mirror = RouteMirror::new(settings, &opts.route, opts.dry_run)?;
    let http = XClient::http_client().map_err(XError::Transport)?;
    let client = XClient::new(
        http,
        &x.api_url,
        token,
        Arc::new(SystemClock),
        CancellationToken::new(),
    );
    let mut source = XSource::new(&route.source, x.clone(), client, !mirror.mirrors_reposts());
    let start = opts
        .since
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
    let end = opts
        .until
        .and_then(|d| d.succ_opt())
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
    let poll = source.range(ledger, start, end).await?;
    let mut out = ApiBackfillReport {
        posts_read: poll.posts.len(),
        report: BackfillReport::default(),
    };
    for post in &poll.posts {
        if opts.stop.load(Ordering::SeqCst) {
            info!("stopping on request; rerun to continue");
            break;
        }
        if opts.limit.is_some_and(|l| out.report.posts_delivered >= l) {
            info!(limit = opts.limit, "limit reached; stopping");
            break;
        }
        let r = mirror
            .mirror(ledger, &post.post, &post.earlier_versions())
            .await?;
        let total = &mut out.report;
        total.already_done += r.already_done;
        total.skipped += r.skipped;
        total.posts_delivered += r.posts_delivered;
        total.parts_delivered += r.parts_delivered;
        total.parts_reconciled += r.parts_reconciled;
        total.parts_failed += r.parts_failed;
        total.previewed += r.previewed;
    }
    Ok(out)
}

/// How an edited post goes to one target.
#[derive(Debug, Default)]
pub(super) struct EditBase {
    /// The statuses of the earlier version, by part index; empty when the post is new here.
    pub(super) remote_ids: Vec<String>,
    /// The post was recorded as skipped (the target cannot edit).
    pub(super) skipped: bool,
}

/// Finds the newest earlier version of `post` that was mirrored on `target_name` and
/// returns its statuses, recording the edit link; when the target cannot edit, records the
/// post as skipped instead of posting it a second time.
pub(super) fn edit_base(
    ledger: &Ledger,
    route: &str,
    target_name: &str,
    post: &Post,
    earlier: &[PostId],
    target: &AnyTarget,
) -> Result<EditBase, StoreError> {
    for previous in earlier {
        let parts = ledger.parts_of_post(route, previous.as_str(), target_name)?;
        // The statuses of the earlier version that are out there, in thread order.
        let remote_ids: Vec<String> = parts
            .iter()
            .map_while(|p| {
                (p.state == PartState::Posted)
                    .then(|| p.remote_id.clone())
                    .flatten()
            })
            .collect();
        if remote_ids.is_empty() {
            continue;
        }
        let now = Utc::now();
        if !target.supports_edits() {
            let reason = format!(
                "new version of the edited post {previous}, which was mirrored; this target cannot edit"
            );
            ledger.mark_skipped(route, post.id.as_str(), target_name, &reason, now)?;
            return Ok(EditBase {
                remote_ids: Vec::new(),
                skipped: true,
            });
        }
        ledger.record_edit(route, target_name, post.id.as_str(), previous.as_str(), now)?;
        info!(
            route,
            target = target_name,
            post = %post.id,
            previous = %previous,
            "edited post: editing the mirrored statuses"
        );
        return Ok(EditBase {
            remote_ids,
            skipped: false,
        });
    }
    Ok(EditBase::default())
}
