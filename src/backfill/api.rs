//! `backfill --from-api`: reads the route's X timeline back to `--since` and hands the posts,
//! oldest first, to the route's [`Engine`] in the backfill lane.

use std::sync::Arc;

use super::{stops_here, BackfillError, BackfillOptions, BackfillReport};
use crate::config::{Settings, SourceSettings};
use crate::engine::{Engine, Offer, SetupError, Tally};
use crate::media::stage::MediaStage;
use crate::progress::Progress;
use crate::sources::x::{XClient, XError, XSource};
use crate::store::Ledger;

/// What `backfill --from-api` did.
#[derive(Debug, Clone, Default)]
pub struct ApiBackfillReport {
    /// Posts the API returned in the range (each one billed).
    pub posts_read: usize,
    /// What delivering them did.
    pub report: BackfillReport,
}

/// `backfill --route R --from-api --since DATE`: reads the route's X timeline backwards from
/// the newest post to `since` (within the API's 3,200-post window) and delivers the posts
/// oldest first. The live cursor is left alone: posts already mirrored are recognised in the
/// ledger, and the daemon goes on from where it was.
///
/// # Errors
/// An unknown route, a route without an X source, an unreadable token, a target kind this
/// build cannot deliver to, X API and ledger failures.
pub async fn api_backfill(
    settings: &Settings,
    ledger: &Arc<Ledger>,
    opts: &BackfillOptions,
) -> Result<ApiBackfillReport, BackfillError> {
    let route = settings
        .routes
        .get(&opts.route)
        .ok_or_else(|| SetupError::UnknownRoute {
            file: settings.file.clone(),
            route: opts.route.clone(),
        })?;
    let Some(SourceSettings::X(x)) = settings.sources.get(&route.source) else {
        return Err(BackfillError::NotXSource {
            route: opts.route.clone(),
            source_name: route.source.clone(),
        });
    };
    let token = x.token.load(&format!("sources.{}", route.source))?;
    // No bar; previews go to stderr (the log), as the daemon's do.
    let mut engine = Engine::new(
        settings,
        &opts.route,
        opts.context(),
        Progress::new(false, true),
    )?;
    let http = XClient::http_client().map_err(XError::Transport)?;
    let client = XClient::new(
        http,
        &x.api_url,
        token,
        opts.clock.clone(),
        opts.cancel.clone(),
    );
    let mut source = XSource::new(&route.source, x.clone(), client, !engine.mirrors_reposts());
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
    engine.connect(ledger, poll.posts.len()).await?;
    let mut tally = Tally::default();
    for post in &poll.posts {
        if stops_here(opts, &tally) {
            break;
        }
        // One download per remote media item for all the route's targets; the files go
        // with the stage, after the post.
        let media = MediaStage::new(x.allow_private_media);
        let earlier = post.earlier_versions();
        let offer = Offer {
            post: &post.post,
            earlier: &earlier,
            media: Some(&media),
        };
        engine.deliver(ledger, offer, &mut tally).await?;
    }
    out.report.add(&tally);
    out.report.targets_stopped = engine.targets_waiting();
    if !opts.dry_run {
        let route = opts.route.clone();
        out.report.parts_left = ledger.call(move |l| l.waiting_count(&route)).await?;
    }
    Ok(out)
}
