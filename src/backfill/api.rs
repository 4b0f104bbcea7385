//! `backfill --from-api`: reads the route's X timeline (or fediverse account) back to
//! `--since` and hands the posts, oldest first, to the route's [`Engine`] in the backfill lane.

use std::sync::Arc;

use super::{deliver_all, finish, BackfillError, BackfillOptions, Cursor, Run};
use crate::config::{Settings, SourceSettings};
use crate::engine::{route_settings, Engine};
use crate::progress::Progress;
use crate::report::DeliveryReport;
use crate::sources::fediverse::FediverseSource;
use crate::sources::x::{XError, XSource};
use crate::sources::{self, Setup, Source, SourceError};
use crate::store::Ledger;

/// `backfill --route R --from-api --since DATE`: reads the route's X timeline backwards from
/// the newest post to `since` (within the API's 3,200-post window) and delivers the posts
/// oldest first. The live cursor is left alone: posts already mirrored are recognised in the
/// ledger, and the daemon goes on from where it was.
///
/// # Errors
/// An unknown route, a route without an X or fediverse source, an unreadable token, a target kind this
/// build cannot deliver to, X API and ledger failures.
pub async fn api_backfill(
    settings: &Settings,
    ledger: &Arc<Ledger>,
    opts: &BackfillOptions,
) -> Result<DeliveryReport, BackfillError> {
    let route = route_settings(settings, &opts.route)?;
    let source_settings = settings.sources.get(&route.source);
    let not_an_account = || BackfillError::NotXSource {
        route: opts.route.clone(),
        source_name: route.source.clone(),
    };
    if !matches!(
        source_settings,
        Some(SourceSettings::X(_) | SourceSettings::Fediverse(_))
    ) {
        return Err(not_an_account());
    }
    // No bar; previews go to stderr (the log), as the daemon's do.
    let progress = Progress::new(false, true);
    let mut engine = Engine::new(settings, &opts.route, opts.context(), progress.clone())?;
    let setup = Setup {
        http: sources::Http::new().map_err(XError::Transport)?,
        clock: opts.clock.clone(),
        cancel: opts.cancel.clone(),
        reposts_wanted: engine.mirrors_reposts(),
    };
    let start = opts
        .since
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
    let end = opts
        .until
        .and_then(|d| d.succ_opt())
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
    let (mut source, posts): (Box<dyn Source>, _) = match source_settings {
        Some(SourceSettings::Fediverse(f)) => {
            let mut source = FediverseSource::from_settings(&route.source, f, &setup)?;
            let posts = source.range(start, end).await.map_err(SourceError::from)?;
            (Box::new(source), posts)
        }
        Some(SourceSettings::X(x)) => {
            let mut source = XSource::from_settings(&route.source, x, &setup)?;
            let posts = source.range(ledger, start, end).await?;
            (Box::new(source), posts)
        }
        _ => return Err(not_an_account()),
    };
    let mut report = DeliveryReport {
        posts_found: posts.len(),
        ..DeliveryReport::default()
    };
    engine.connect(ledger, posts.len()).await?;
    let run = Run {
        ledger,
        opts,
        progress: &progress,
        cursor: Cursor::Left,
    };
    deliver_all(&mut engine, source.as_mut(), &posts, &run, &mut report).await?;
    finish(&engine, ledger, opts, &mut report).await?;
    Ok(report)
}
