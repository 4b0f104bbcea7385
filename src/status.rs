//! The `status` report: what the ledger knows, for a person.

use std::fmt::Write as _;

use crate::config::{Settings, SourceSettings, XSourceSettings};
use crate::store::{Ledger, PartRecord, PartState, StoreError};

/// States in the order a person reads them.
const STATES: [PartState; 6] = [
    PartState::Posted,
    PartState::Skipped,
    PartState::Planned,
    PartState::Posting,
    PartState::Failed,
    PartState::Quarantined,
];

/// How many recent errors to show.
const RECENT_ERRORS: u32 = 10;

/// Renders the report. A ledger that does not exist yet is reported as such, not created.
///
/// # Errors
/// When the ledger cannot be read.
pub fn report(settings: &Settings) -> Result<String, StoreError> {
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
    let counts = ledger.state_counts()?;
    for (route_name, route) in &settings.routes {
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
        .filter(|c| !settings.routes.contains_key(&c.route))
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
    let cursors = ledger.cursors()?;
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
    let budgets = ledger.budgets(None)?;
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
            out.push('\n');
        }
    }
    reads(&mut out, settings, &ledger)?;
    let edits = ledger.edit_counts()?;
    if !edits.is_empty() {
        let _ = writeln!(out, "edits (new versions written over mirrored statuses):");
        for (route, target, n) in edits {
            let _ = writeln!(out, "  {route} → {target}: {n}");
        }
    }
    waiting(&mut out, &ledger)?;
    jobs(&mut out, &ledger)?;
    section(
        &mut out,
        "last errors",
        &ledger.recent_errors(RECENT_ERRORS)?,
    );
    section(
        &mut out,
        "quarantined (retried only on request)",
        &ledger.quarantined()?,
    );
    Ok(out)
}

/// Billable X API reads per source, with their cost at the source's configured prices.
fn reads(out: &mut String, settings: &Settings, ledger: &Ledger) -> Result<(), StoreError> {
    let counts = ledger.billable_reads(chrono::Utc::now())?;
    if counts.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "X API reads (billable):");
    let mut total = 0.0;
    for c in counts {
        let (post_price, user_price) = match settings.sources.get(&c.source) {
            Some(SourceSettings::X(x)) => (x.post_read_price, x.user_read_price),
            _ => (
                XSourceSettings::DEFAULT_POST_READ_PRICE,
                XSourceSettings::DEFAULT_USER_READ_PRICE,
            ),
        };
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
    Ok(())
}

/// What is left to deliver, and why: a target that cannot be reached or refuses its
/// token, a thread waiting for an earlier post, a retry due later, an interruption.
fn waiting(out: &mut String, ledger: &Ledger) -> Result<(), StoreError> {
    let groups = ledger.waiting_summary()?;
    if groups.is_empty() {
        return Ok(());
    }
    let _ = writeln!(out, "waiting for delivery:");
    for g in groups {
        let why = match (g.state, g.why.as_str()) {
            (PartState::Posting, _) => {
                "interrupted mid-delivery; checked with the target before anything is resent"
            }
            (_, "") => "due at the next run or cycle",
            (_, why) => why,
        };
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

/// Backfills handed to the daemon, and whether one runs.
fn jobs(out: &mut String, ledger: &Ledger) -> Result<(), StoreError> {
    let jobs = ledger.jobs(10)?;
    if jobs.is_empty() {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let _ = match ledger.live_daemon(now - crate::daemon::HEARTBEAT_STALE)? {
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
