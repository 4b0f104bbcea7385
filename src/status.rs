//! The `status` report: what the ledger knows, for a person (text) or a program (`--json`,
//! see [`json`]), for every route or one (`--route`).

mod json;
mod spend;

use std::fmt::Write as _;

use crate::config::{Settings, SourceSettings, XSourceSettings};
use crate::engine::is_waiting_note;
use crate::store::{Ledger, PartRecord, PartState, RetractCause, StoreError, NOT_A_REPLY};

pub use json::{json, SCHEMA_VERSION};

/// States in the order a person reads them.
const STATES: [PartState; 9] = [
    PartState::Posted,
    PartState::Skipped,
    PartState::Planned,
    PartState::Posting,
    PartState::Failed,
    PartState::Quarantined,
    PartState::Held,
    PartState::Retracting,
    PartState::Retracted,
];

/// How many recent errors to show.
const RECENT_ERRORS: u32 = 10;

/// Renders the report, of every route or of `route` only. A ledger that does not exist yet is
/// reported as such, not created.
///
/// # Errors
/// When the ledger cannot be read.
pub fn report(settings: &Settings, route: Option<&str>) -> Result<String, StoreError> {
    let only = Only { settings, route };
    let path = &settings.ledger.path;
    let mut out = String::new();
    if !path.exists() {
        let _ = writeln!(
            out,
            "ledger {}: not created yet (nothing has run)",
            path.display()
        );
        return Ok(out);
    }
    let ledger = Ledger::open(path)?;
    let _ = writeln!(out, "ledger {}", path.display());
    counts(&mut out, &only, &ledger)?;
    let cursors: Vec<_> = ledger
        .cursors()?
        .into_iter()
        .filter(|c| only.source(&c.source))
        .collect();
    if !cursors.is_empty() {
        let _ = writeln!(out, "cursors:");
        for c in cursors {
            let _ = writeln!(
                out,
                "  {}: {} (at {})",
                c.source,
                c.value,
                c.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
    }
    let budgets: Vec<_> = ledger
        .budgets(None)?
        .into_iter()
        .filter(|b| only.target(&b.target))
        .collect();
    if !budgets.is_empty() {
        let _ = writeln!(out, "rate-limit budgets (as last seen):");
        for b in budgets {
            let w = &b.window;
            let _ = write!(
                out,
                "  {} {}: {}/{} left, window resets {}",
                b.target,
                b.family,
                w.remaining,
                w.limit,
                w.reset_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            if let Some(until) = w.paused_until {
                let _ = write!(out, ", paused until {}", until.format("%H:%M:%S UTC"));
            }
            if !w.announced {
                out.push_str(" (a guess: the server has not announced this limit)");
            }
            out.push('\n');
        }
    }
    reads(&mut out, &only, &ledger)?;
    spend::report(
        &mut out,
        &spend::spending(&ledger, &only, chrono::Utc::now())?,
    );
    let edits: Vec<_> = ledger
        .edit_counts()?
        .into_iter()
        .filter(|(r, _, _)| only.route(r))
        .collect();
    if !edits.is_empty() {
        let _ = writeln!(out, "edits (new versions written over mirrored statuses):");
        for (route, target, n) in edits {
            let _ = writeln!(out, "  {route} → {target}: {n}");
        }
    }
    waiting(&mut out, &only, &ledger)?;
    review(&mut out, &only, &ledger)?;
    not_replies(&mut out, &only, &ledger)?;
    jobs(&mut out, &only, &ledger)?;
    retractions(&mut out, &only, &ledger)?;
    let mine = |rows: Vec<PartRecord>| -> Vec<PartRecord> {
        rows.into_iter()
            .filter(|r| only.route(&r.key.route))
            .collect()
    };
    section(
        &mut out,
        "last errors",
        &mine(ledger.recent_errors(RECENT_ERRORS)?),
    );
    section(
        &mut out,
        "quarantined (`birdbridge quarantine retry|drop`, `hold release`)",
        &mine(ledger.quarantined()?),
    );
    unresolved_links(&mut out, &only, &ledger)?;
    audit(&mut out, &only, &ledger)?;
    Ok(out)
}

/// The review queue: held posts, how long the oldest has waited, releases still going out.
fn review(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let summary = ledger.review_summary()?;
    if summary.held_posts == 0 && summary.released_waiting == 0 {
        return Ok(());
    }
    let _ = write!(out, "review: {} post(s) held", summary.held_posts);
    if let Some(oldest) = summary.oldest_held_at {
        let age = crate::budget::human_duration(chrono::Utc::now() - oldest);
        let _ = write!(
            out,
            ", the oldest since {} ({age})",
            oldest.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if summary.released_waiting > 0 {
        let _ = write!(
            out,
            "; {} released post(s) being delivered",
            summary.released_waiting
        );
    }
    let _ = writeln!(out, " (the desk, or `birdbridge hold list`):");
    for (route, target, n) in summary.per_target {
        if only.route(&route) {
            let _ = writeln!(out, "  route {route} → {target}: {n} held");
        }
    }
    Ok(())
}

/// The `t.co` links X did not expand that could not be resolved either (the posts went out
/// with them): warnings, with why.
fn unresolved_links(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let links: Vec<_> = ledger
        .unresolved_short_links()?
        .into_iter()
        .filter(|l| only.source(&l.source))
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    let _ = writeln!(
        out,
        "warnings: t.co links X did not expand, left as they are ({}):",
        links.len()
    );
    for l in links.iter().take(RECENT_ERRORS as usize) {
        let _ = writeln!(
            out,
            "  {} in post {} ({}), asked {}: {}",
            l.url,
            l.post_id,
            l.source,
            l.asked_at.format("%Y-%m-%d %H:%M:%S UTC"),
            l.answer.as_ref().err().map_or("", String::as_str)
        );
    }
    Ok(())
}

/// Parts per state for each route and target.
fn counts(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let settings = only.settings;
    let counts = ledger.state_counts()?;
    for (route_name, route) in settings.routes.iter().filter(|(n, _)| only.route(n)) {
        for target in &route.targets {
            let _ = write!(out, "route {route_name} → {target}:");
            for state in STATES {
                let n: u64 = counts
                    .iter()
                    .filter(|c| &c.route == route_name && &c.target == target && c.state == state)
                    .map(|c| c.count)
                    .sum();
                let _ = write!(out, " {} {n}", state.as_str());
            }
            out.push('\n');
        }
    }
    // Rows of routes no longer in the configuration are still worth seeing.
    for c in counts
        .iter()
        .filter(|c| !settings.routes.contains_key(&c.route) && only.route(&c.route))
    {
        let _ = writeln!(
            out,
            "route {} → {} (not configured): {} {}",
            c.route,
            c.target,
            c.state.as_str(),
            c.count
        );
    }
    Ok(())
}

/// The latest operator changes (`quarantine`, `hold`).
fn audit(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let audit = ledger.audit_log(RECENT_ERRORS)?;
    let audit: Vec<_> = audit.iter().filter(|a| only.route(&a.route)).collect();
    if !audit.is_empty() {
        let _ = writeln!(out, "operator changes (newest first):");
        for a in audit {
            let _ = write!(
                out,
                "  {} {}: {} → {} post {}",
                a.at.format("%Y-%m-%d %H:%M:%S UTC"),
                a.command,
                a.route,
                a.target,
                a.source_post_id
            );
            if let Some(i) = a.part_index {
                let _ = write!(out, " part {i}");
            }
            let _ = write!(out, ": {}", a.change);
            if let Some(note) = &a.note {
                let _ = write!(out, " ({note})");
            }
            out.push('\n');
        }
    }
    Ok(())
}

/// Which routes, sources and targets a report covers.
#[derive(Debug, Clone, Copy)]
struct Only<'a> {
    settings: &'a Settings,
    route: Option<&'a str>,
}

impl Only<'_> {
    fn route(&self, name: &str) -> bool {
        self.route.is_none_or(|r| r == name)
    }

    /// A source (or a cursor named after one, such as `NAME+archive`) read by a covered route.
    fn source(&self, cursor: &str) -> bool {
        let Some(route) = self.route else {
            return true;
        };
        self.settings.routes.get(route).is_some_and(|r| {
            cursor == r.source
                || cursor
                    .strip_prefix(r.source.as_str())
                    .is_some_and(|rest| rest.starts_with('+'))
        })
    }

    fn target(&self, name: &str) -> bool {
        let Some(route) = self.route else {
            return true;
        };
        self.settings
            .routes
            .get(route)
            .is_some_and(|r| r.targets.iter().any(|t| t == name))
    }
}

/// The configured prices of a source's reads (post, user), or the defaults.
fn prices(settings: &Settings, source: &str) -> (f64, f64) {
    match settings.sources.get(source) {
        Some(SourceSettings::X(x)) => (x.post_read_price, x.user_read_price),
        _ => (
            XSourceSettings::DEFAULT_POST_READ_PRICE,
            XSourceSettings::DEFAULT_USER_READ_PRICE,
        ),
    }
}

/// Billable X API reads per source, with their cost at the source's configured prices.
fn reads(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let counts: Vec<_> = ledger
        .billable_reads(chrono::Utc::now())?
        .into_iter()
        .filter(|c| only.source(&c.source))
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "X API reads (billable):");
    let mut total = 0.0;
    for c in counts {
        let (post_price, user_price) = prices(only.settings, &c.source);
        #[expect(clippy::cast_precision_loss, reason = "read counts are far below 2^52")]
        let cost = c.posts as f64 * post_price + c.users as f64 * user_price;
        total += cost;
        let _ = writeln!(
            out,
            "  {}: {} post(s) ({} today), {} user lookup(s) ≈ ${cost:.2} (at ${post_price}/post, ${user_price}/user)",
            c.source, c.posts, c.posts_today, c.users
        );
    }
    let _ = writeln!(out, "  estimated total: ${total:.2}");
    for (source, posts, today) in ledger.deletes_check_reads(chrono::Utc::now())? {
        if !only.source(&source) {
            continue;
        }
        let (post_price, _) = prices(only.settings, &source);
        #[expect(clippy::cast_precision_loss, reason = "read counts are far below 2^52")]
        let cost = posts as f64 * post_price;
        let _ = writeln!(
            out,
            "  {source}: of those posts, {posts} ({today} today) read by deletes checks (deletes = \"follow\") ≈ ${cost:.3}"
        );
    }
    Ok(())
}

/// What is left to deliver, and why: a target that cannot be reached or refuses its
/// token, a thread waiting for an earlier post, a retry due later, an interruption.
fn waiting(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let groups: Vec<_> = ledger
        .waiting_summary()?
        .into_iter()
        .filter(|g| only.route(&g.route))
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "waiting for delivery:");
    for g in groups {
        let why = waiting_reason(g.state, &g.why);
        let _ = write!(
            out,
            "  {} → {}: {} post(s), {} part(s) {}: {why}",
            g.route,
            g.target,
            g.posts,
            g.parts,
            g.state.as_str()
        );
        if let Some(due) = g.next_attempt_at {
            let _ = write!(out, " (next try {})", due.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        out.push('\n');
    }
    Ok(())
}

/// Why parts in `state` wait, for a person: what the delivery engine noted (`waiting for
/// …`), the last error of a failed part, or what the state says. A planned part that carries
/// an older error (put back by `quarantine retry`) is due, the error only a reminder.
fn waiting_reason(state: PartState, why: &str) -> String {
    match (state, why) {
        (PartState::Posting, _) => {
            "interrupted mid-delivery; checked with the target before anything is resent".to_owned()
        }
        (_, "") => "due at the next run or cycle".to_owned(),
        (PartState::Planned, why) if !is_waiting_note(why) => {
            format!("due at the next run or cycle (last error: {why})")
        }
        (_, why) => why.to_owned(),
    }
}

/// Parts the server published on their own (or under another status) although they were
/// sent as replies, newest first: their threads are not chained on the server.
fn not_replies(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let found: Vec<_> = ledger
        .not_replies(RECENT_ERRORS)?
        .into_iter()
        .filter(|n| only.route(&n.key.route))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    let _ = writeln!(
        out,
        "replies the server published without their thread (newest first):"
    );
    for n in found {
        let k = &n.key;
        let _ = writeln!(
            out,
            "  {} → {} post {} part {} (status {}): {}",
            k.route,
            k.target,
            k.source_post_id,
            k.part_index,
            n.remote_id.as_deref().unwrap_or("?"),
            n.message.strip_prefix(NOT_A_REPLY).unwrap_or(&n.message)
        );
    }
    Ok(())
}

/// How many backfill jobs `status` shows, newest first.
const RECENT_JOBS: u32 = 10;

/// Backfills handed to the daemon, and whether one runs.
fn jobs(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let jobs: Vec<_> = ledger
        .jobs(RECENT_JOBS)?
        .into_iter()
        .filter(|j| only.route(&j.route))
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let _ = match crate::alive::running_daemon(ledger, now)? {
        Some(pid) => writeln!(out, "backfills queued for the daemon (pid {pid} runs):"),
        None => writeln!(
            out,
            "backfills queued for the daemon (no daemon runs now: they wait for `birdbridge run`):"
        ),
    };
    for j in jobs {
        let _ = writeln!(
            out,
            "  job {} route {}{}: {} (at {}){}",
            j.id,
            j.route,
            if j.from_api { " from the X API" } else { "" },
            j.state,
            j.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
            j.note.map(|n| format!(": {n}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// How many retraction jobs `status` shows, newest first.
const RECENT_RETRACTIONS: u32 = 10;

/// Retractions in progress and done (`retract`, deletes that follow the source).
fn retractions(out: &mut String, only: &Only<'_>, ledger: &Ledger) -> Result<(), StoreError> {
    let jobs: Vec<_> = ledger
        .retraction_jobs(RECENT_RETRACTIONS)?
        .into_iter()
        .filter(|j| only.route(&j.route))
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "retractions (newest first):");
    for j in jobs {
        let pending = j.posts - j.done - j.failed;
        let _ = writeln!(
            out,
            "  job {} route {} ({}; {}, run by the {}): {}: {} of {} post(s) taken back, {} left, {} refused by the server (at {}){}",
            j.id,
            j.route,
            j.selection,
            match j.cause {
                RetractCause::Operator => "asked by a person",
                RetractCause::Source => "deleted at the source",
            },
            j.runner,
            j.state,
            j.done,
            j.posts,
            pending,
            j.failed,
            j.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
            j.note.map(|n| format!(": {n}")).unwrap_or_default()
        );
    }
    Ok(())
}

fn section(out: &mut String, title: &str, rows: &[PartRecord]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}:");
    for r in rows {
        let k = &r.key;
        if r.is_held() {
            // Held by the route's policy, never attempted: the reason says what to change.
            let _ = writeln!(
                out,
                "  {} → {} post {}: {}",
                k.route,
                k.target,
                k.source_post_id,
                r.reason.as_deref().unwrap_or("")
            );
            continue;
        }
        let _ = writeln!(
            out,
            "  {} → {} post {} part {}: {} after {} attempt(s): {}",
            k.route,
            k.target,
            k.source_post_id,
            k.part_index,
            r.state.as_str(),
            r.attempts,
            r.last_error
                .as_deref()
                .or(r.reason.as_deref())
                .unwrap_or("")
        );
    }
}
