//! `birdbridge retract`: takes back the statuses a route posted, exactly once, and only
//! those (the ledger knows every one it made). What is selected (one post, a date range,
//! everything, on one target or all) becomes a retraction job in the ledger
//! (`store/retract.rs`): its posts newest first, what of them was not sent yet cancelled at
//! once. The engine's [`Retractor`] then takes each post back on its target, the last part
//! of a thread first, paced by the target's deletes budget; a boost is undone as a boost.
//!
//! When a daemon runs on the ledger the job is handed to it ([`daemon`]), as a backfill
//! is; otherwise this process runs it, and a run stopped or killed half way is resumed by
//! the same command. A dry run lists what would go and writes nothing; without `--yes`
//! nothing is taken back.
//!
//! Deletes that follow the source (`deletes = "follow"`) become jobs of the daemon too
//! ([`daemon::follow_deletes`]).

pub mod daemon;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use crate::alive::running_daemon;
use crate::budget::{human_duration, BudgetPool};
use crate::clock::Clock;
use crate::config::{DeletesPolicy, RouteSettings, Settings, SourceSettings};
use crate::engine::{route_settings, Context, Lane, Retractor, SetupError, TakeBack};
use crate::normalize::x::snowflake_time;
use crate::store::{Candidate, Ledger, NewJob, PartState, RetractCause, RetractRunner, StoreError};
use crate::targets::{self, Pace};

/// Which posts of the route to take back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// One post, by its id at the source.
    Post(String),
    /// The posts from `since` to `until` (UTC days, both included), by the source post's
    /// date.
    Range {
        /// The first day.
        since: NaiveDate,
        /// The last day.
        until: NaiveDate,
    },
    /// Everything the route posted.
    All,
}

/// What `retract` was asked to do.
#[derive(Debug, Clone)]
pub struct RetractOptions {
    /// The route whose statuses go.
    pub route: String,
    /// Only on this target (else on every target of the route).
    pub target: Option<String>,
    /// Which posts.
    pub which: Which,
    /// List what would go; take nothing back, write nothing.
    pub dry_run: bool,
    /// The person confirmed.
    pub yes: bool,
    /// Ends every wait; the part in hand is settled in the ledger first.
    pub cancel: CancellationToken,
    /// Where time comes from.
    pub clock: Clock,
    /// The rate-limit budgets of the process.
    pub budgets: BudgetPool,
}

impl RetractOptions {
    /// The selection as a person typed it (kept with the job, shown by `status`).
    pub fn selection(&self) -> String {
        let mut s = match &self.which {
            Which::Post(id) => format!("--post {id}"),
            Which::Range { since, until } => format!("--since {since} --until {until}"),
            Which::All => "--all".to_owned(),
        };
        if let Some(t) = &self.target {
            let _ = write!(s, " --target {t}");
        }
        s
    }
}

/// Why `retract` could not run.
#[derive(Debug, thiserror::Error)]
pub enum RetractError {
    /// The route or a target cannot be set up (an unknown route, an unreadable token).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// `--target` names no target of the route.
    #[error("{file}: route `{route}` has no target `{target}` (its targets: {known})")]
    UnknownTarget {
        /// The configuration file.
        file: std::path::PathBuf,
        /// The route.
        route: String,
        /// The target asked for.
        target: String,
        /// The route's targets.
        known: String,
    },
    /// Not confirmed: nothing was taken back.
    #[error(
        "{statuses} status(es) of {posts} post(s) would be taken back: nothing was deleted. \
         Run again with --yes to take them back, or with --dry-run to list them"
    )]
    NotConfirmed {
        /// Statuses that would be deleted or unboosted.
        statuses: u64,
        /// Posts they belong to.
        posts: usize,
    },
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the selection comes to: the posts (per target) in the order they are taken back,
/// and the statuses each target is to take back.
#[derive(Debug, Default)]
pub struct Selected {
    /// (post, target), newest first.
    pub items: Vec<(String, String)>,
    /// Statuses (deletes and unboosts) per target.
    pub statuses: BTreeMap<String, u64>,
    /// A line per post and target, for a dry run.
    pub listing: Vec<String>,
}

impl Selected {
    /// Statuses to take back on every target together.
    pub fn total(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// Selects the posts of the route `opts` asks for, from the ledger (synchronous: call it
/// on the blocking pool).
///
/// # Errors
/// An unknown route or target; ledger failures.
pub fn select(
    settings: &Settings,
    ledger: &Ledger,
    opts: &RetractOptions,
) -> Result<Selected, RetractError> {
    let route = route_settings(settings, &opts.route)?;
    if let Some(t) = &opts.target {
        if !route.targets.contains(t) {
            return Err(RetractError::UnknownTarget {
                file: settings.file.clone(),
                route: opts.route.clone(),
                target: t.clone(),
                known: route.targets.join(", "),
            });
        }
    }
    let post = match &opts.which {
        Which::Post(id) => Some(id.as_str()),
        _ => None,
    };
    let snowflakes = matches!(
        settings.sources.get(&route.source),
        Some(SourceSettings::X(_) | SourceSettings::Archive(_))
    );
    let mut selected = Selected::default();
    let candidates = ledger.retraction_candidates(&opts.route, opts.target.as_deref(), post)?;
    for c in candidates {
        if !route.targets.contains(&c.target) {
            continue;
        }
        let day = post_date(&c, snowflakes);
        if let Which::Range { since, until } = &opts.which {
            let d = day.date_naive();
            if d < *since || d > *until {
                continue;
            }
        }
        let statuses = c
            .parts
            .iter()
            .filter(|p| {
                matches!(
                    p.state,
                    PartState::Posted | PartState::Retracting | PartState::Posting
                )
            })
            .count() as u64;
        *selected.statuses.entry(c.target.clone()).or_default() += statuses;
        selected.listing.push(listing_line(&c, day));
        selected.items.push((c.source_post_id, c.target));
    }
    // A post named by id that a target has no row for yet: it is never mirrored there.
    if let Which::Post(id) = &opts.which {
        for t in &route.targets {
            if opts.target.as_ref().is_some_and(|only| only != t) {
                continue;
            }
            if ledger.parts_of_post(&opts.route, id, t)?.is_empty() {
                selected.listing.push(format!(
                    "post {id} on {t}: not mirrored there yet; it never will be"
                ));
                selected.items.push((id.clone(), t.clone()));
            }
        }
    }
    Ok(selected)
}

/// The day a post is from: an X post's (its id is a snowflake: archive and X API posts),
/// else the day birdbridge first planned it (for a live source, within a poll of the post).
fn post_date(c: &Candidate, snowflakes: bool) -> DateTime<Utc> {
    snowflakes
        .then(|| snowflake_time(&c.source_post_id))
        .flatten()
        .unwrap_or(c.first_planned)
}

/// What a dry run shows for one post on one target.
fn listing_line(c: &Candidate, day: DateTime<Utc>) -> String {
    let mut line = format!(
        "post {} ({}) on {}:",
        c.source_post_id,
        day.format("%Y-%m-%d"),
        c.target
    );
    for (p, boost_of) in c.parts.iter().zip(&c.boosts).rev() {
        let status = p
            .remote_url
            .as_deref()
            .or(p.remote_id.as_deref())
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        let what = match (p.state, boost_of) {
            (PartState::Posted | PartState::Retracting, Some(original)) => {
                format!("undo the boost of status {original}")
            }
            (PartState::Posted | PartState::Retracting, None) => format!("delete{status}"),
            (PartState::Posting, _) => format!("delete{status} once its delivery settles"),
            (PartState::Planned | PartState::Failed | PartState::Quarantined, _) => {
                "cancel (not sent yet)".to_owned()
            }
            // A post held for review is the desk's: a person's retraction leaves it alone.
            (PartState::Skipped | PartState::Retracted | PartState::Held, _) => continue,
        };
        let _ = write!(line, " part {} {what};", p.key.part_index);
    }
    line.pop();
    line
}

/// "1,200 statuses: ~20 h at 30 per 30 min".
pub fn estimate_line(target: &str, statuses: u64, pace: Option<Pace>) -> String {
    let Some(pace) = pace.filter(|p| p.limit > 0) else {
        return format!(
            "target {target}: {} status(es) to take back (no rate limit known)",
            grouped(statuses)
        );
    };
    let period = pace.period.num_seconds().max(1);
    let seconds = i64::try_from(statuses)
        .unwrap_or(i64::MAX)
        .saturating_mul(period)
        / i64::from(pace.limit);
    format!(
        "target {target}: {} status(es) to take back: ~{} at {} per {} (the target's deletes budget)",
        grouped(statuses),
        human_duration(Duration::seconds(seconds)),
        pace.limit,
        human_duration(pace.period)
    )
}

/// `1200` → `1,200`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What `check` says about a route's `deletes = "follow"`: how its source's deletes are
/// found, and for an X source what the checks cost (X bills each post still there as a
/// read: a post is read once per check for as long as it is in the window).
pub fn follow_line(settings: &Settings, route: &RouteSettings) -> Option<String> {
    if route.deletes != DeletesPolicy::Follow {
        return None;
    }
    Some(match settings.sources.get(&route.source) {
        Some(SourceSettings::X(x)) => {
            let every = route.deletes_check.num_minutes().max(1);
            let reads = ((route.deletes_window.num_minutes() + every - 1) / every).max(1);
            #[expect(clippy::cast_precision_loss, reason = "a few thousand reads at most")]
            let cost = reads as f64 * x.post_read_price;
            format!(
                "deletes = \"follow\": the posts mirrored in the last {} h are looked up every {} (100 a request); X bills each post still there as a read: each mirrored post is read about {reads} time(s), ≈ ${cost:.3} a post at ${} a read",
                route.deletes_window.num_hours(),
                human_duration(route.deletes_check),
                x.post_read_price
            )
        }
        Some(SourceSettings::Feed(_)) => "deletes = \"follow\": a feed cannot tell a delete from an item that left it (feeds drop old items): nothing is taken back".to_owned(),
        Some(SourceSettings::Archive(_)) => "deletes = \"follow\": an archive is read once; nothing is taken back".to_owned(),
        // A source that is told of deletes (a fediverse account's stream) says so itself.
        _ => "deletes = \"follow\": the source says which of its posts were deleted".to_owned(),
    })
}

/// What a `retract` command did.
#[derive(Debug, Default)]
pub struct RetractReport {
    /// The job that ran (or was queued).
    pub job: Option<i64>,
    /// Handed to a running daemon (its pid).
    pub queued_for: Option<u32>,
    /// What the last pass did, when this process ran the job.
    pub pass: Option<TakeBack>,
}

impl RetractReport {
    /// Whether work is left that a rerun would do (the command exits 1).
    pub fn unfinished(&self) -> bool {
        self.pass
            .as_ref()
            .is_some_and(|p| p.posts_left > 0 || p.posts_failed > 0 || p.interrupted)
    }
}

/// Runs `retract`: selects, lists (dry run), refuses without `--yes`, hands the job to a
/// running daemon or runs it here until nothing is due. `say` prints a line for the person
/// (the estimate at the start, the listing of a dry run).
///
/// # Errors
/// See [`RetractError`].
pub async fn run(
    settings: &Arc<Settings>,
    ledger: &Arc<Ledger>,
    opts: &RetractOptions,
    say: &mut dyn FnMut(&str),
) -> Result<RetractReport, RetractError> {
    let selected = {
        let (settings, opts) = (Arc::clone(settings), opts.clone());
        ledger
            .call(move |l| Ok(select(&settings, l, &opts)))
            .await??
    };
    let mut report = RetractReport::default();
    if selected.items.is_empty() {
        say(&format!(
            "route {}: nothing to take back ({})",
            opts.route,
            opts.selection()
        ));
        return Ok(report);
    }
    if opts.dry_run {
        for line in &selected.listing {
            say(line);
        }
        for (target, n) in &selected.statuses {
            let pace = settings.targets.get(target).and_then(targets::deletes_pace);
            say(&estimate_line(target, *n, pace));
        }
        say(&format!(
            "dry run: {} status(es) of {} post(s) would be taken back; nothing was changed",
            selected.total(),
            selected.items.len()
        ));
        return Ok(report);
    }
    if !opts.yes {
        return Err(RetractError::NotConfirmed {
            statuses: selected.total(),
            posts: selected.items.len(),
        });
    }
    let now = opts.clock.now();
    let selection = opts.selection();
    let (route, target) = (opts.route.clone(), opts.target.clone());
    let never_mirror = matches!(opts.which, Which::Post(_));
    let items = selected.items.clone();
    // One ledger call: the heartbeat read, an interrupted run of the same command closed,
    // and the job made (queued for the daemon, or run here).
    let (pid, job) = ledger
        .call(move |l| {
            let pid = running_daemon(l, now)?;
            if let Some(old) = l.unfinished_retraction(&route, target.as_deref(), &selection)? {
                l.set_retraction_state(
                    old.id,
                    "done",
                    Some("stopped before its end; resumed by a later run of the same command"),
                    now,
                )?;
            }
            let job = NewJob {
                route: &route,
                target: target.as_deref(),
                selection: &selection,
                cause: RetractCause::Operator,
                runner: if pid.is_some() {
                    RetractRunner::Daemon
                } else {
                    RetractRunner::Command
                },
                state: if pid.is_some() { "queued" } else { "running" },
            };
            let id = l.create_retraction(&job, &items, never_mirror, now)?;
            Ok((pid, id))
        })
        .await?;
    report.job = Some(job);
    if let Some(pid) = pid {
        report.queued_for = Some(pid);
        return Ok(report);
    }
    let ctx = Context {
        lane: Lane::Live,
        cancel: opts.cancel.clone(),
        clock: opts.clock.clone(),
        dry_run: false,
        budgets: opts.budgets.clone(),
    };
    let names: Vec<String> = selected.statuses.keys().cloned().collect();
    let mut retractor = Retractor::new(settings, &opts.route, &names, ctx)?;
    let paces = retractor.connect(ledger).await?;
    for (target, n) in &selected.statuses {
        let pace = paces.get(target).copied().flatten();
        say(&estimate_line(target, *n, pace));
    }
    let pass = run_job(ledger, &mut retractor, job, opts).await?;
    report.pass = Some(pass);
    Ok(report)
}

/// Runs a job in this process to its end: a post that failed waits for its retry (each
/// failure counts towards giving up, so this ends), but a target that cannot be used (down,
/// its token refused) ends the run, its posts left for a rerun. Then records how it ended.
async fn run_job(
    ledger: &Arc<Ledger>,
    retractor: &mut Retractor,
    id: i64,
    opts: &RetractOptions,
) -> Result<TakeBack, StoreError> {
    let mut total = TakeBack::default();
    loop {
        let Some(job) = ledger.call(move |l| l.retraction_job(id)).await? else {
            return Ok(total);
        };
        let pass = retractor.run(ledger, &job).await?;
        total.taken_back += pass.taken_back;
        total.already_gone += pass.already_gone;
        total.posts_done += pass.posts_done;
        total.posts_failed += pass.posts_failed;
        total.targets_stopped = pass.targets_stopped;
        total.posts_left = pass.posts_left;
        total.next_try_at = pass.next_try_at;
        total.interrupted = pass.interrupted;
        let Some(at) = total.next_try_at else { break };
        if total.interrupted || total.posts_left == 0 || !total.targets_stopped.is_empty() {
            break;
        }
        tracing::info!(at = %at.format("%H:%M:%S"), "posts wait for a retry");
        tokio::select! {
            () = opts.cancel.cancelled() => {
                total.interrupted = true;
                break;
            }
            () = opts.clock.sleep_until(at) => {}
        }
    }
    if total.interrupted {
        // Left `running`: the same command resumes it.
        return Ok(total);
    }
    let (state, note) = job_end(&total);
    let now = opts.clock.now();
    ledger
        .call(move |l| l.set_retraction_state(id, state, Some(&note), now))
        .await?;
    Ok(total)
}

/// A job's state and note after a pass.
pub(crate) fn job_end(pass: &TakeBack) -> (&'static str, String) {
    let mut note = format!(
        "{} status(es) taken back ({} already gone)",
        pass.taken_back, pass.already_gone
    );
    if pass.posts_failed > 0 {
        let _ = write!(
            note,
            "; {} post(s) the server refused to take back (see `birdbridge status`)",
            pass.posts_failed
        );
    }
    if pass.posts_left > 0 {
        let _ = write!(note, "; {} post(s) left to take back", pass.posts_left);
        return ("queued", note);
    }
    (
        if pass.posts_failed > 0 {
            "failed"
        } else {
            "done"
        },
        note,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_follows_the_deletes_budget() {
        let mastodon = Pace {
            limit: 30,
            period: Duration::minutes(30),
        };
        assert_eq!(
            estimate_line("t", 1200, Some(mastodon)),
            "target t: 1,200 status(es) to take back: ~20 h at 30 per 30 min (the target's deletes budget)"
        );
        let x = Pace {
            limit: 50,
            period: Duration::minutes(15),
        };
        assert_eq!(
            estimate_line("x", 100, Some(x)),
            "target x: 100 status(es) to take back: ~30 min at 50 per 15 min (the target's deletes budget)"
        );
        assert_eq!(
            estimate_line("d", 3, None),
            "target d: 3 status(es) to take back (no rate limit known)"
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
