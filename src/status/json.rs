//! `status --json`: the ledger as one JSON document for monitoring and scripts.
//!
//! The document follows `docs/status.schema.json` (JSON Schema 2020-12), whose `version`
//! is [`SCHEMA_VERSION`]. Adding a field is compatible and keeps the version; renaming,
//! removing or changing the meaning of one bumps it. Times are RFC 3339 in UTC, counts are
//! integers, money is US dollars as a number. Nothing here is a secret.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::spend::{spending, TargetSpend};
use super::{prices, waiting_reason, Only, RECENT_ERRORS, RECENT_JOBS, RECENT_RETRACTIONS, STATES};
use crate::config::Settings;
use crate::engine::is_waiting_note;
use crate::store::{Ledger, PartRecord, PartState, StoreError};

/// The version of the document's schema (`version` in the output).
pub const SCHEMA_VERSION: u32 = 1;

/// How many waiting parts are listed (the total is always given).
const WAITING_LISTED: u32 = 100;

#[derive(Debug, Serialize)]
struct Document {
    schema: &'static str,
    version: u32,
    generated_at: String,
    ledger: LedgerInfo,
    routes: Vec<RouteTarget>,
    cursors: Vec<Cursor>,
    budgets: Vec<Budget>,
    x_reads: Reads,
    /// What targets that bill their writes (X) spent, per UTC day.
    x_spend: Vec<TargetSpend>,
    last_errors: Vec<Part>,
    waiting: Waiting,
    backfills: Backfills,
    /// Retraction jobs (`retract`, deletes that follow the source), newest first.
    retractions: Vec<Retraction>,
    operator_changes: Vec<Change>,
    review: Review,
}

/// The review queue (held posts waiting for a person).
#[derive(Debug, Default, Serialize)]
struct Review {
    held_posts: u64,
    oldest_held_at: Option<String>,
    oldest_age_seconds: Option<i64>,
    released_waiting: u64,
    targets: Vec<ReviewTarget>,
}

#[derive(Debug, Serialize)]
struct ReviewTarget {
    route: String,
    target: String,
    held: u64,
}

#[derive(Debug, Serialize)]
struct Retraction {
    id: i64,
    route: String,
    target: Option<String>,
    selection: String,
    cause: &'static str,
    runner: String,
    state: String,
    posts: u64,
    done: u64,
    failed: u64,
    pending: u64,
    note: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct LedgerInfo {
    path: String,
    exists: bool,
}

#[derive(Debug, Serialize)]
struct RouteTarget {
    route: String,
    target: String,
    configured: bool,
    parts: Counts,
    edits: u64,
    oldest_waiting_since: Option<String>,
    lag_seconds: Option<i64>,
    last_delivery_at: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    posted: u64,
    skipped: u64,
    planned: u64,
    posting: u64,
    failed: u64,
    quarantined: u64,
    held: u64,
    retracting: u64,
    retracted: u64,
}

#[derive(Debug, Serialize)]
struct Cursor {
    source: String,
    value: String,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct Budget {
    target: String,
    family: &'static str,
    limit: u32,
    remaining: u32,
    reset_at: String,
    paused_until: Option<String>,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct Reads {
    sources: Vec<SourceReads>,
    estimated_total_usd: f64,
}

#[derive(Debug, Serialize)]
struct SourceReads {
    source: String,
    posts: u64,
    posts_today: u64,
    users: u64,
    post_read_price_usd: f64,
    user_read_price_usd: f64,
    estimated_cost_usd: f64,
    /// Of `posts`, those read by deletes checks (`deletes = "follow"`), and their cost.
    deletes_check_posts: u64,
    deletes_check_posts_today: u64,
    deletes_check_cost_usd: f64,
}

#[derive(Debug, Serialize)]
struct Part {
    route: String,
    target: String,
    post: String,
    #[serde(rename = "part")]
    index: u32,
    state: &'static str,
    attempts: u32,
    last_error: Option<String>,
    next_attempt_at: Option<String>,
    reason: Option<String>,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct Waiting {
    total: u64,
    /// Parts still to deliver grouped by route, target, state and why (what the delivery
    /// engine noted: an unreachable target, a refused token, an earlier post of the thread).
    groups: Vec<WaitingGroup>,
    listed: Vec<WaitingPart>,
}

#[derive(Debug, Serialize)]
struct WaitingGroup {
    route: String,
    target: String,
    state: &'static str,
    why: String,
    posts: u64,
    parts: u64,
    next_attempt_at: Option<String>,
}

/// Backfills handed to a running daemon (`backfill` while `run` runs), newest first.
#[derive(Debug, Serialize)]
struct Backfills {
    /// The pid of the daemon whose heartbeat is fresh, if one runs.
    daemon_pid: Option<u32>,
    jobs: Vec<Job>,
}

#[derive(Debug, Serialize)]
struct Job {
    id: i64,
    route: String,
    archive: Option<String>,
    from_api: bool,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u64>,
    state: String,
    note: Option<String>,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct WaitingPart {
    #[serde(flatten)]
    part: Part,
    held: bool,
    why: String,
}

#[derive(Debug, Serialize)]
struct Change {
    at: String,
    command: String,
    route: String,
    target: String,
    post: String,
    part: Option<u32>,
    #[serde(rename = "change")]
    what: String,
    note: Option<String>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl From<&PartRecord> for Part {
    fn from(r: &PartRecord) -> Self {
        Part {
            route: r.key.route.clone(),
            target: r.key.target.clone(),
            post: r.key.source_post_id.clone(),
            index: r.key.part_index,
            state: r.state.as_str(),
            attempts: r.attempts,
            last_error: r.last_error.clone(),
            next_attempt_at: r.next_attempt_at.map(time),
            reason: r.reason.clone(),
            updated_at: time(r.updated_at),
        }
    }
}

/// Why a part waits, in words, with what to do about it.
fn why(r: &PartRecord) -> String {
    let error = r.last_error.as_deref().unwrap_or("no error recorded");
    match r.state {
        PartState::Quarantined if r.is_held() => format!(
            "{} (`birdbridge hold release` mirrors it anyway)",
            r.reason.as_deref().unwrap_or("held")
        ),
        PartState::Quarantined => format!(
            "quarantined after {} attempt(s): {error} (`birdbridge quarantine retry` or `drop`)",
            r.attempts
        ),
        PartState::Failed => format!(
            "failed, tried again from {}: {error}",
            r.next_attempt_at.map_or_else(|| "now".to_owned(), time)
        ),
        PartState::Posting => "a delivery was interrupted (or is under way); the next start \
                               reconciles it with the target before sending again"
            .to_owned(),
        // What the delivery engine noted when it planned the post without sending it: an
        // unreachable target, a refused token, an earlier post of the thread.
        PartState::Planned if r.attempts == 0 && is_waiting_note(error) => {
            format!("{error}; delivered once that is resolved")
        }
        PartState::Planned if r.key.part_index > 0 => {
            "planned, behind the earlier parts of its thread".to_owned()
        }
        _ => "planned: delivered when a run reaches its post (the daemon's next cycle for X sources, or the next `once` or `backfill`)".to_owned(),
    }
}

/// `status --json`, of every route or of `route` only.
///
/// # Errors
/// When the ledger cannot be read.
pub fn json(settings: &Settings, route: Option<&str>) -> Result<String, StoreError> {
    let only = Only { settings, route };
    let path = &settings.ledger.path;
    let now = Utc::now();
    let mut doc = Document {
        schema: "birdbridge-status",
        version: SCHEMA_VERSION,
        generated_at: time(now),
        ledger: LedgerInfo {
            path: path.display().to_string(),
            exists: path.exists(),
        },
        routes: Vec::new(),
        cursors: Vec::new(),
        budgets: Vec::new(),
        x_reads: Reads {
            sources: Vec::new(),
            estimated_total_usd: 0.0,
        },
        x_spend: Vec::new(),
        last_errors: Vec::new(),
        waiting: Waiting {
            total: 0,
            groups: Vec::new(),
            listed: Vec::new(),
        },
        backfills: Backfills {
            daemon_pid: None,
            jobs: Vec::new(),
        },
        retractions: Vec::new(),
        operator_changes: Vec::new(),
        review: Review::default(),
    };
    // The configured routes first (with zero counts while nothing ran yet).
    for (name, r) in settings.routes.iter().filter(|(n, _)| only.route(n)) {
        for target in &r.targets {
            doc.routes.push(route_target(name, target, true));
        }
    }
    if doc.ledger.exists {
        fill(&mut doc, &Ledger::open(path)?, &only, now)?;
    }
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default())
}

fn route_target(route: &str, target: &str, configured: bool) -> RouteTarget {
    RouteTarget {
        route: route.to_owned(),
        target: target.to_owned(),
        configured,
        parts: Counts::default(),
        edits: 0,
        oldest_waiting_since: None,
        lag_seconds: None,
        last_delivery_at: None,
    }
}

fn fill(
    doc: &mut Document,
    ledger: &Ledger,
    only: &Only<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let entry = |doc: &mut Document, route: &str, target: &str| -> usize {
        if let Some(i) = doc
            .routes
            .iter()
            .position(|rt| rt.route == route && rt.target == target)
        {
            return i;
        }
        doc.routes.push(route_target(route, target, false));
        doc.routes.len() - 1
    };
    for c in ledger.state_counts()? {
        if !only.route(&c.route) || !STATES.contains(&c.state) {
            continue;
        }
        let i = entry(doc, &c.route, &c.target);
        let counts = &mut doc.routes[i].parts;
        *match c.state {
            PartState::Posted => &mut counts.posted,
            PartState::Skipped => &mut counts.skipped,
            PartState::Planned => &mut counts.planned,
            PartState::Posting => &mut counts.posting,
            PartState::Failed => &mut counts.failed,
            PartState::Quarantined => &mut counts.quarantined,
            PartState::Held => &mut counts.held,
            PartState::Retracting => &mut counts.retracting,
            PartState::Retracted => &mut counts.retracted,
        } += c.count;
    }
    for h in ledger.held(&crate::store::PartFilter {
        route: only.route.map(str::to_owned),
        ..Default::default()
    })? {
        let i = entry(doc, &h.key.route, &h.key.target);
        doc.routes[i].parts.held += 1;
    }
    let summary = ledger.review_summary()?;
    doc.review = Review {
        held_posts: summary.held_posts,
        oldest_held_at: summary.oldest_held_at.map(time),
        oldest_age_seconds: summary
            .oldest_held_at
            .map(|t| (now - t).num_seconds().max(0)),
        released_waiting: summary.released_waiting,
        targets: summary
            .per_target
            .into_iter()
            .filter(|(r, _, _)| only.route(r))
            .map(|(route, target, held)| ReviewTarget {
                route,
                target,
                held,
            })
            .collect(),
    };
    for (route, target, n) in ledger.edit_counts()? {
        if only.route(&route) {
            let i = entry(doc, &route, &target);
            doc.routes[i].edits = n;
        }
    }
    for t in ledger.delivery_times()? {
        if only.route(&t.route) {
            let i = entry(doc, &t.route, &t.target);
            let rt = &mut doc.routes[i];
            rt.oldest_waiting_since = t.oldest_waiting_since.map(time);
            rt.lag_seconds = t
                .oldest_waiting_since
                .map(|since| (now - since).num_seconds().max(0));
            rt.last_delivery_at = t.last_posted_at.map(time);
        }
    }
    fill_rest(doc, ledger, only, now)
}

/// The sections after the per-route table.
fn fill_rest(
    doc: &mut Document,
    ledger: &Ledger,
    only: &Only<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let settings = only.settings;
    doc.cursors = ledger
        .cursors()?
        .into_iter()
        .filter(|c| only.source(&c.source))
        .map(|c| Cursor {
            source: c.source,
            value: c.value,
            updated_at: time(c.updated_at),
        })
        .collect();
    doc.budgets = ledger
        .budgets(None)?
        .into_iter()
        .filter(|b| only.target(&b.target))
        .map(|b| Budget {
            target: b.target,
            family: b.family.as_str(),
            limit: b.window.limit,
            remaining: b.window.remaining,
            reset_at: time(b.window.reset_at),
            paused_until: b.window.paused_until.map(time),
            updated_at: time(b.updated_at),
        })
        .collect();
    let checks = ledger.deletes_check_reads(now)?;
    for c in ledger.billable_reads(now)? {
        if !only.source(&c.source) {
            continue;
        }
        let (post_price, user_price) = prices(settings, &c.source);
        #[expect(clippy::cast_precision_loss, reason = "read counts are far below 2^52")]
        let cost = c.posts as f64 * post_price + c.users as f64 * user_price;
        let (check_posts, check_today) = checks
            .iter()
            .find(|(s, _, _)| *s == c.source)
            .map_or((0, 0), |(_, n, t)| (*n, *t));
        doc.x_reads.estimated_total_usd += cost;
        #[expect(clippy::cast_precision_loss, reason = "read counts are far below 2^52")]
        let check_cost = check_posts as f64 * post_price;
        doc.x_reads.sources.push(SourceReads {
            source: c.source,
            posts: c.posts,
            posts_today: c.posts_today,
            users: c.users,
            post_read_price_usd: post_price,
            user_read_price_usd: user_price,
            estimated_cost_usd: cost,
            deletes_check_posts: check_posts,
            deletes_check_posts_today: check_today,
            deletes_check_cost_usd: check_cost,
        });
    }
    doc.x_spend = spending(ledger, only, now)?;
    doc.last_errors = ledger
        .recent_errors(RECENT_ERRORS)?
        .iter()
        .filter(|r| only.route(&r.key.route))
        .map(Part::from)
        .collect();
    let (waiting, total) = ledger.unsettled_parts(only.route, WAITING_LISTED)?;
    doc.waiting.total = total;
    doc.waiting.listed = waiting
        .iter()
        .map(|r| WaitingPart {
            part: Part::from(r),
            held: r.is_held(),
            why: why(r),
        })
        .collect();
    fill_waiting(doc, ledger, only, now)?;
    doc.retractions = retractions(ledger, only)?;
    doc.operator_changes = ledger
        .audit_log(RECENT_ERRORS)?
        .into_iter()
        .filter(|a| only.route(&a.route))
        .map(|a| Change {
            at: time(a.at),
            command: a.command,
            route: a.route,
            target: a.target,
            post: a.source_post_id,
            part: a.part_index,
            what: a.change,
            note: a.note,
        })
        .collect();
    Ok(())
}

/// What waits for delivery and why (grouped as the delivery engine noted it), and the
/// backfills handed to a running daemon.
fn fill_waiting(
    doc: &mut Document,
    ledger: &Ledger,
    only: &Only<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    doc.waiting.groups = ledger
        .waiting_summary()?
        .into_iter()
        .filter(|g| only.route(&g.route))
        .map(|g| WaitingGroup {
            why: waiting_reason(g.state, &g.why),
            route: g.route,
            target: g.target,
            state: g.state.as_str(),
            posts: g.posts,
            parts: g.parts,
            next_attempt_at: g.next_attempt_at.map(time),
        })
        .collect();
    doc.backfills.daemon_pid = crate::alive::running_daemon(ledger, now)?;
    doc.backfills.jobs = ledger
        .jobs(RECENT_JOBS)?
        .into_iter()
        .filter(|j| only.route(&j.route))
        .map(|j| Job {
            id: j.id,
            route: j.route,
            archive: j.archive,
            from_api: j.from_api,
            since: j.since.map(|d| d.to_string()),
            until: j.until.map(|d| d.to_string()),
            limit: j.limit,
            state: j.state,
            note: j.note,
            updated_at: time(j.updated_at),
        })
        .collect();
    Ok(())
}

/// Retraction jobs (`retract`, deletes that follow the source), newest first.
fn retractions(ledger: &Ledger, only: &Only<'_>) -> Result<Vec<Retraction>, StoreError> {
    Ok(ledger
        .retraction_jobs(RECENT_RETRACTIONS)?
        .into_iter()
        .filter(|j| only.route(&j.route))
        .map(|j| Retraction {
            pending: j.posts - j.done - j.failed,
            id: j.id,
            route: j.route,
            target: j.target,
            selection: j.selection,
            cause: j.cause.as_str(),
            runner: j.runner,
            state: j.state,
            posts: j.posts,
            done: j.done,
            failed: j.failed,
            note: j.note,
            created_at: time(j.created_at),
            updated_at: time(j.updated_at),
        })
        .collect())
}
