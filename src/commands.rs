//! Runs the subcommands and maps every failure to one of the documented exit codes.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::alive::running_daemon;
use crate::auth::{self, AuthError};
use crate::backfill::{self, BackfillError, BackfillOptions};
use crate::budget::BudgetPool;
use crate::cli::{BackfillArgs, Command, RetractArgs};
use crate::clock::Clock;
use crate::config::{ConfigError, Finding, Settings, TargetSettings, EXAMPLE_CONFIG};
use crate::daemon::{Daemon, DaemonError, DaemonOptions, Notifier};
use crate::engine::route_settings;
use crate::metrics::{self, Metrics};
use crate::operator::{self, OperatorError};
use crate::progress::Progress;
use crate::release::Deliverer;
use crate::report::DeliveryReport;
use crate::retract::{RetractError, RetractOptions, Which};
use crate::status;
use crate::store::{BackfillJob, Ledger, StoreError};
use crate::targets::x::cost::{MEDIA_METADATA, POST, POST_WITH_URL};
use crate::targets::{self, CountingRule, FediTarget, TargetError, Usd, XTarget};

/// Writes to standard output; a reader that went away (`birdbridge status --json | head`)
/// ends the output quietly instead of a panic, as `print!` would. Other write errors are
/// logged: the command's work is done, only its report could not be shown.
fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Err(err) = std::io::stdout().lock().write_fmt(args) {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(error = %err, "cannot write to standard output");
        }
    }
}

/// `print!` through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

/// `println!` through [`emit`].
macro_rules! outln {
    ($($arg:tt)*) => {
        emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// The process exit codes; stable, documented in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Ok = 0,
    /// A runtime failure: unreadable archive, ledger error, parts that failed to deliver.
    Failure = 1,
    /// Bad command-line usage (clap's own code).
    Usage = 2,
    /// The configuration is broken (`EX_CONFIG` from sysexits.h).
    Config = 78,
}

/// A command that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// See [`BackfillError`].
    #[error(transparent)]
    Backfill(#[from] BackfillError),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `check` found problems; each is listed on stderr.
    #[error("{0} configuration problem(s) found")]
    Findings(usize),
    /// See [`DaemonError`].
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// See [`OperatorError`].
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// See [`AuthError`].
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// See [`crate::desk::DeskError`].
    #[error(transparent)]
    Desk(#[from] crate::desk::DeskError),
    /// `[metrics] listen` cannot be bound (in use, or not an address of this machine).
    #[error("cannot serve metrics on {addr}")]
    MetricsListen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// `backup` never overwrites.
    #[error("{0} exists already: give a new file name")]
    BackupExists(std::path::PathBuf),
    /// `generate` could not write its files.
    #[error("cannot write the generated files")]
    Generate(#[source] std::io::Error),
    /// See [`RetractError`].
    #[error(transparent)]
    Retract(#[from] RetractError),
    /// An operator command on a ledger that does not exist yet.
    #[error("the ledger {0} does not exist yet: nothing has run with this configuration")]
    NoLedger(std::path::PathBuf),
}

impl CommandError {
    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Config(_)
            | CommandError::Findings(_)
            | CommandError::Backfill(
                BackfillError::Config(_)
                | BackfillError::Setup(_)
                | BackfillError::NoArchive { .. }
                | BackfillError::NotXSource { .. },
            )
            | CommandError::Daemon(DaemonError::NothingToRun)
            | CommandError::Desk(
                crate::desk::DeskError::NotConfigured(_) | crate::desk::DeskError::Password(_),
            )
            | CommandError::Auth(
                AuthError::UnknownTarget(_)
                | AuthError::NotFediverse(_)
                | AuthError::NoTokenFile(_),
            ) => Exit::Config,
            CommandError::Retract(RetractError::Setup(_) | RetractError::UnknownTarget { .. }) => {
                Exit::Config
            }
            CommandError::Operator(OperatorError::NoSelection)
            | CommandError::Retract(RetractError::NotConfirmed { .. }) => Exit::Usage,
            CommandError::Backfill(_)
            | CommandError::Store(_)
            | CommandError::Daemon(_)
            | CommandError::Operator(_)
            | CommandError::Retract(RetractError::Store(_))
            | CommandError::Auth(_)
            | CommandError::Desk(_)
            | CommandError::MetricsListen { .. }
            | CommandError::Generate(_)
            | CommandError::BackupExists(_)
            | CommandError::NoLedger(_) => Exit::Failure,
        }
    }
}

/// Runs one command. `cancel` is cancelled by the signal handler: every wait ends, the
/// post in hand is settled in the ledger, and the command stops.
///
/// # Errors
/// See [`CommandError`]; its [`CommandError::exit`] gives the exit code.
pub async fn run(
    config: &Path,
    command: Command,
    cancel: CancellationToken,
) -> Result<Exit, CommandError> {
    match command {
        Command::Check { example: true } => {
            out!("{EXAMPLE_CONFIG}");
            Ok(Exit::Ok)
        }
        Command::Check { example: false } => check(config).await,
        Command::Backup { path } => {
            if path.exists() {
                return Err(CommandError::BackupExists(path));
            }
            // A copy of a large ledger takes a while: on the blocking pool, so a second
            // Ctrl-C still leaves at once.
            let ledger = Arc::new(existing_ledger(&Settings::load(config)?)?);
            let dest = path.clone();
            let report = ledger.call(move |l| l.backup_to(&dest)).await?;
            outln!(
                "ledger copied to {} (schema version {}, {} part(s))",
                path.display(),
                report.schema_version,
                report.parts
            );
            Ok(Exit::Ok)
        }
        Command::Generate(what) => {
            for file in crate::generate::run(&what).map_err(CommandError::Generate)? {
                outln!("{}", file.display());
            }
            Ok(Exit::Ok)
        }
        Command::Auth {
            target,
            force,
            token_file,
        } => {
            let settings = Settings::load(config)?;
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let options = auth::AuthOptions {
                target: &target,
                force,
                token_file: token_file.as_deref(),
            };
            let report = auth::run(&settings, &options, &mut stdin, &mut std::io::stdout()).await?;
            outln!(
                "token for {} written to {} (readable by its owner only; scopes: {}); `birdbridge check` shows what the server allows",
                report.account,
                report.token_file.display(),
                report.scopes
            );
            Ok(Exit::Ok)
        }
        Command::Status(args) => {
            let settings = Settings::load(config)?;
            if args.json {
                outln!("{}", status::json(&settings, args.route.as_deref())?);
            } else {
                out!("{}", status::report(&settings, args.route.as_deref())?);
            }
            Ok(Exit::Ok)
        }
        Command::Quarantine(cmd) => {
            let ledger = existing_ledger(&Settings::load(config)?)?;
            out!(
                "{}",
                operator::quarantine(&ledger, &cmd, Clock::System.now())?
            );
            Ok(Exit::Ok)
        }
        Command::Hold(cmd) => hold(config, &cmd, cancel).await,
        Command::Desk => desk(config, cancel).await,
        Command::Retract(args) => retract(config, args, cancel).await,
        Command::Backfill(args) if args.from_api => api_backfill(config, args, cancel).await,
        Command::Backfill(args) => backfill(config, args, cancel).await,
        Command::Run => run_daemon(config, cancel).await,
        Command::Once => once(config, cancel).await,
    }
}

/// The configured ledger, when it exists (operator commands never create one).
fn existing_ledger(settings: &Settings) -> Result<Ledger, CommandError> {
    let path = &settings.ledger.path;
    if !path.exists() {
        return Err(CommandError::NoLedger(path.clone()));
    }
    Ok(Ledger::open(path)?)
}

/// `hold ...`: the change, then, after a release, its delivery: by the daemon when one runs
/// on the ledger, else here.
async fn hold(
    config: &Path,
    cmd: &crate::cli::HoldCommand,
    cancel: CancellationToken,
) -> Result<Exit, CommandError> {
    let settings = Arc::new(Settings::load(config)?);
    let ledger = Arc::new(existing_ledger(&settings)?);
    let now = chrono::Utc::now();
    let (text, released) = operator::hold(&ledger, cmd, &operator::cli_actor(), now)?;
    out!("{text}");
    if !released {
        return Ok(Exit::Ok);
    }
    if let Some(pid) = running_daemon(&ledger, now)? {
        outln!("a daemon (pid {pid}) runs on this ledger: it delivers the release");
        return Ok(Exit::Ok);
    }
    let mut deliverer = Deliverer::new(
        Arc::clone(&settings),
        ledger,
        Clock::System,
        cancel,
        crate::budget::BudgetPool::default(),
    );
    let swept = deliverer.sweep().await?;
    outln!(
        "{} part(s) delivered, {} failed (a failed part is retried by `run`, `desk`, `once` or another `hold release`)",
        swept.parts_delivered,
        swept.parts_failed
    );
    Ok(if swept.parts_failed > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

/// `desk`: the desk alone, until SIGTERM or SIGINT; it delivers what is released on it
/// unless a daemon runs on the ledger (whose deliverer does).
async fn desk(config: &Path, cancel: CancellationToken) -> Result<Exit, CommandError> {
    let settings = Arc::new(Settings::load(config)?);
    let (listener, password) = crate::desk::bind(&settings).await?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    let deliverer = Deliverer::new(
        Arc::clone(&settings),
        Arc::clone(&ledger),
        Clock::System,
        cancel.clone(),
        crate::budget::BudgetPool::default(),
    );
    let addr = listener.local_addr().ok();
    let server = crate::desk::spawn(
        listener,
        &password,
        Arc::clone(&settings),
        ledger,
        Some(deliverer.waker()),
        cancel.clone(),
    );
    if let Some(addr) = addr {
        tracing::info!(%addr, "serving the desk");
        outln!("the desk is at http://{addr}/");
    }
    deliverer.run(true).await;
    let _ = server.await;
    Ok(Exit::Ok)
}

/// `run`: the daemon, until SIGTERM or SIGINT.
async fn run_daemon(config: &Path, cancel: CancellationToken) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    let clock = Clock::System;
    let mut options = DaemonOptions::default();
    let mut server = None;
    if let Some(m) = &settings.metrics {
        let listener = tokio::net::TcpListener::bind(m.listen)
            .await
            .map_err(|source| CommandError::MetricsListen {
                addr: m.listen,
                source,
            })?;
        options.metrics = Metrics::new(&settings, clock.clone());
        // Its own token: the endpoint outlives the daemon's drain, and ending it must not
        // read as a shutdown request below.
        let stop_serving = CancellationToken::new();
        let handle = metrics::server::spawn(
            listener,
            options.metrics.clone(),
            Arc::clone(&ledger),
            stop_serving.clone(),
        );
        server = Some((handle, stop_serving));
        tracing::info!(listen = %m.listen, "serving /metrics and /healthz");
    }
    let desk = match &settings.desk {
        Some(_) => Some(crate::desk::bind(&settings).await?),
        None => None,
    };
    let shared_settings = Arc::new(settings.clone());
    let deliverer = Deliverer::new(
        Arc::clone(&shared_settings),
        Arc::clone(&ledger),
        clock.clone(),
        cancel.clone(),
        options.budgets.clone(),
    );
    let desk = desk.map(|(listener, password)| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving the desk");
        }
        crate::desk::spawn(
            listener,
            &password,
            Arc::clone(&shared_settings),
            Arc::clone(&ledger),
            Some(deliverer.waker()),
            cancel.clone(),
        )
    });
    let deliveries = tokio::spawn(deliverer.run(false));
    let daemon = Daemon::build(&settings, ledger, clock, cancel.clone(), options)?;
    // The daemon keeps a copy of its own (a thousand routes' settings are a megabyte).
    drop(settings);
    for (source, routes) in daemon.sources() {
        tracing::info!(source = %source, routes = %routes.join(", "), "source will be polled");
    }
    let report = daemon.run(&Notifier::from_env()).await;
    let _ = deliveries.await;
    if let Some(desk) = desk {
        let _ = desk.await;
    }
    if let Some((handle, stop_serving)) = server {
        stop_serving.cancel();
        let _ = handle.await;
    }
    // Every source stopped on its own (refused tokens, missing accounts): fail, so the
    // service shows as failed instead of idling.
    Ok(if cancel.is_cancelled() || report.sources_stopped == 0 {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

async fn once(config: &Path, cancel: CancellationToken) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    let options = DaemonOptions::default();
    let mut deliverer = Deliverer::new(
        Arc::new(settings.clone()),
        Arc::clone(&ledger),
        Clock::System,
        cancel.clone(),
        options.budgets.clone(),
    );
    let daemon = Daemon::build(&settings, ledger, Clock::System, cancel, options)?;
    let r = daemon.once().await;
    let released = deliverer.sweep().await?;
    if released.posts > 0 {
        outln!(
            "{} released post(s) from review: {} part(s) delivered, {} failed",
            released.posts,
            released.parts_delivered,
            released.parts_failed
        );
    }
    outln!(
        "{} new post(s) found, {} delivered; {} part(s) failed; {} source(s) failed, {} stopped",
        r.posts_found,
        r.posts_delivered,
        r.parts_failed,
        r.sources_failed,
        r.sources_stopped
    );
    if r.parts_left > 0 {
        outln!(
            "{} part(s) wait for delivery (see `birdbridge status`)",
            r.parts_left
        );
    }
    Ok(exit(&r))
}

/// A run that left work undone exits 1.
fn exit(report: &DeliveryReport) -> Exit {
    if report.unfinished() {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// `backfill --from-api`: the route's X timeline, read backwards within the API's window.
async fn api_backfill(
    config: &Path,
    args: BackfillArgs,
    cancel: CancellationToken,
) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    let opts = BackfillOptions {
        route: args.route.clone(),
        since: args.since,
        until: args.until,
        limit: args.limit,
        dry_run: args.dry_run,
        cancel,
        ..BackfillOptions::default()
    };
    route_settings(&settings, &opts.route).map_err(BackfillError::Setup)?;
    if !opts.dry_run {
        if let Some(exit) = hand_to_daemon(&ledger, &opts, true).await? {
            return Ok(exit);
        }
    }
    let r = backfill::api_backfill(&settings, &ledger, &opts).await?;
    outln!(
        "route {}: {} post(s) read from the X API since {}",
        args.route,
        r.posts_found,
        args.since.map(|d| d.to_string()).unwrap_or_default()
    );
    if args.dry_run {
        outln!(
            "dry run: {} post(s) previewed, {} already mirrored, nothing delivered",
            r.previewed,
            r.already_done
        );
        for line in preview_cost_lines(&settings, &r) {
            outln!("{line}");
        }
    } else {
        outln!(
            "{} new post(s) delivered in {} part(s); {} already done in an earlier run; {} skipped by policy; {} held for review; {} failed",
            r.posts_delivered, r.parts_delivered, r.already_done, r.skipped, r.posts_held, r.parts_failed
        );
    }
    if r.parts_left > 0 {
        outln!(
            "{} part(s) of route {} wait for delivery (see `birdbridge status`)",
            r.parts_left,
            args.route
        );
    }
    Ok(exit(&r))
}

async fn check(config: &Path) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    outln!(
        "{}: {} source(s), {} target(s), {} route(s)",
        settings.file.display(),
        settings.sources.len(),
        settings.targets.len(),
        settings.routes.len()
    );
    for (name, route) in &settings.routes {
        outln!(
            "  route {name}: {} → {}",
            route.source,
            route.targets.join(", ")
        );
        if let Some(line) = crate::retract::follow_line(&settings, route) {
            outln!("    {line}");
        }
    }
    for w in settings.exposure_warnings() {
        eprintln!(
            "{}: warning: `{}`: {}",
            settings.file.display(),
            w.key,
            w.problem
        );
    }
    let mut findings = settings.offline_findings();
    findings.extend(check_targets(&settings).await);
    for f in &findings {
        eprintln!("{}: `{}`: {}", settings.file.display(), f.key, f.problem);
    }
    if findings.is_empty() {
        outln!("configuration OK");
        Ok(Exit::Ok)
    } else {
        Err(CommandError::Findings(findings.len()))
    }
}

/// `check`'s network half: for each fediverse target, verify the credentials (read-only)
/// and print the server's profile and the quirks applied to it; each problem becomes a
/// finding that says what to fix.
async fn check_targets(settings: &Settings) -> Vec<Finding> {
    let mut findings = Vec::new();
    let cancel = CancellationToken::new();
    for (name, target) in &settings.targets {
        let fedi = match target {
            TargetSettings::Fediverse(fedi) => fedi,
            TargetSettings::X(x) => {
                findings.extend(check_x_target(name, x, &cancel).await);
                continue;
            }
            TargetSettings::DryRun(_) => continue,
        };
        let key = format!("targets.{name}");
        // The offline checks already name an unreadable token.
        let Ok(mut t) = FediTarget::new(name, fedi, Clock::System, cancel.clone()) else {
            continue;
        };
        match t.check().await {
            Ok(r) => {
                let p = &r.profile;
                outln!(
                    "  target {name}: {} as {} ({} {}, limits from {})",
                    fedi.url,
                    r.account,
                    p.kind.as_str(),
                    p.version.as_deref().unwrap_or("version unknown"),
                    p.source.as_str()
                );
                outln!(
                    "    {} characters per status, {} attachments, alt text up to {}, URLs count {}",
                    p.max_characters,
                    p.max_media_attachments,
                    p.description_limit,
                    match r.quirks.counting {
                        CountingRule::Mastodon => format!("{} each", p.characters_reserved_per_url),
                        CountingRule::CodePoints => "at full length (code points)".to_owned(),
                        CountingRule::Utf16 => "at full length (UTF-16 units)".to_owned(),
                        CountingRule::XWeighted => format!("{} each (X's weighted count)", p.characters_reserved_per_url),
                    }
                );
                outln!(
                    "    media: {}; images up to {}, videos up to {}",
                    if p.supported_mime_types.is_empty() {
                        "types not announced".to_owned()
                    } else {
                        p.supported_mime_types.join(", ")
                    },
                    p.image_size_limit
                        .map_or_else(|| "?".to_owned(), |b| format!("{b} bytes")),
                    p.video_size_limit
                        .map_or_else(|| "?".to_owned(), |b| format!("{b} bytes")),
                );
                outln!(
                    "    quirks: idempotency keys {}{}",
                    if r.quirks.honours_idempotency {
                        "honoured"
                    } else {
                        "ignored (interrupted posts are reconciled from the account's statuses)"
                    },
                    if r.quirks.needs_media {
                        "; every post needs an image: posts that start without one the server takes are skipped (recorded in the ledger), replies go as comments, images beyond the album size become the next posts"
                    } else {
                        ""
                    }
                );
                if r.quirks.edit_makes_public {
                    outln!("    edits: of public statuses only (an edit makes a status public there); new versions of the others are recorded as skipped");
                }
                if r.closes_after_answer {
                    outln!("    connections: the server closes the connection after every answer (without saying so); birdbridge opens a new one for each request");
                }
            }
            Err(err) => {
                let problem = match &err {
                    TargetError::Auth { message, .. } => format!(
                        "the server refused the token ({message}): create a new access token for the account and put it where the configuration points"
                    ),
                    TargetError::Transient { message } | TargetError::Unreachable { message } => format!(
                        "cannot reach {} ({message}): check `url` and the network",
                        fedi.url
                    ),
                    other => other.to_string(),
                };
                findings.push(Finding { key, problem });
            }
        }
    }
    findings
}

/// `check` on an X target: whose credentials these are (`GET /2/users/me`, read-only),
/// the settings that shape its posts, and what they cost per post and per day.
async fn check_x_target(
    name: &str,
    x: &crate::config::XTargetSettings,
    cancel: &CancellationToken,
) -> Option<Finding> {
    // The offline checks already name an unreadable credential.
    let mut t = XTarget::new(name, x, Clock::System, cancel.clone()).ok()?;
    match t.check().await {
        Ok(r) => {
            outln!(
                "  target {name}: {} as @{} (user id {}, {})",
                x.api_url,
                r.account.username,
                r.account.id,
                r.credentials
            );
            outln!(
                "    280 by X's weighted count, 4 images or 1 video or GIF per post, alt text up to 1000; content warnings: {}; quotes: {}; links of birdbridge's own: {}; edits: skipped (X's API cannot edit)",
                x.cw.as_str(),
                x.quotes.as_str(),
                x.links.as_str()
            );
            let mut cost = format!(
                "    cost (X's 2026 prices): {POST} a post, {POST_WITH_URL} a post with a URL, {MEDIA_METADATA} an alt text"
            );
            match targets::x::target::tariff(x).cap {
                Some(cap) => {
                    let per = |price: Usd| cap.micros().checked_div(price.micros()).unwrap_or(0);
                    let _ = write!(
                        cost,
                        "; max_spend_per_day {cap}: at most {} posts a day without a URL, {} with one",
                        per(POST),
                        per(POST_WITH_URL)
                    );
                }
                None => cost.push_str("; no daily cap (max_spend_per_day not set)"),
            }
            outln!("{cost}");
            None
        }
        Err(err) => Some(Finding {
            key: format!("targets.{name}"),
            problem: match &err {
                TargetError::Unreachable { message } | TargetError::Transient { message } => {
                    format!(
                        "cannot reach {} ({message}): check `api_url` and the network",
                        x.api_url
                    )
                }
                other => other.to_string(),
            },
        }),
    }
}

async fn backfill(
    config: &Path,
    args: BackfillArgs,
    cancel: CancellationToken,
) -> Result<Exit, CommandError> {
    let settings = Arc::new(Settings::load(config)?);
    let opts = BackfillOptions {
        route: args.route,
        archive: args.archive,
        since: args.since,
        until: args.until,
        limit: args.limit,
        dry_run: args.dry_run,
        cancel,
        clock: Clock::System,
        ..BackfillOptions::default()
    };
    let prepared = backfill::prepare_off_the_loop(Arc::clone(&settings), opts.clone()).await?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    if !opts.dry_run {
        if let Some(exit) = hand_to_daemon(&ledger, &opts, false).await? {
            return Ok(exit);
        }
    }
    let stdout_records = settings.routes.get(&opts.route).is_some_and(|r| {
        r.targets
            .iter()
            .any(|t| matches!(&settings.targets[t], TargetSettings::DryRun(d) if d.output == "-"))
    });
    let progress = Progress::new(
        std::io::stderr().is_terminal(),
        stdout_records && !opts.dry_run,
    );
    let report = backfill::backfill(prepared, &ledger, &opts, &progress).await?;
    summary(&settings, &opts, &report, stdout_records && !opts.dry_run);
    if !opts.dry_run {
        review_after_backfill(&settings, &ledger, &opts).await?;
    }
    Ok(exit(&report))
}

/// After a backfill: delivers what people released from review meanwhile, and says how
/// many posts of the route wait for review.
async fn review_after_backfill(
    settings: &Arc<Settings>,
    ledger: &Arc<Ledger>,
    opts: &BackfillOptions,
) -> Result<(), CommandError> {
    let mut deliverer = Deliverer::new(
        Arc::clone(settings),
        Arc::clone(ledger),
        opts.clock.clone(),
        opts.cancel.clone(),
        crate::budget::BudgetPool::default(),
    );
    let released = deliverer.sweep().await?;
    if released.posts > 0 {
        eprintln!(
            "{} released post(s) from review: {} part(s) delivered, {} failed",
            released.posts, released.parts_delivered, released.parts_failed
        );
    }
    let summary = ledger.call(Ledger::review_summary).await?;
    let held: u64 = summary
        .per_target
        .iter()
        .filter(|(r, _, _)| *r == opts.route)
        .map(|(_, _, n)| n)
        .sum();
    if held > 0 {
        eprintln!(
            "{held} post copies of route {} wait for review: on the desk (`birdbridge desk`) or with `birdbridge hold list`",
            opts.route
        );
    }
    Ok(())
}

/// `retract`: see [`crate::retract`]. The ledger must exist (nothing was posted
/// otherwise).
async fn retract(
    config: &Path,
    args: RetractArgs,
    cancel: CancellationToken,
) -> Result<Exit, CommandError> {
    let settings = Arc::new(Settings::load(config)?);
    let ledger = Arc::new(existing_ledger(&settings)?);
    let which = match (args.post, args.since, args.until) {
        (Some(id), _, _) => Which::Post(id),
        (None, Some(since), Some(until)) => Which::Range { since, until },
        _ => Which::All,
    };
    let opts = RetractOptions {
        route: args.route,
        target: args.target,
        which,
        dry_run: args.dry_run,
        yes: args.yes,
        cancel,
        clock: Clock::System,
        budgets: BudgetPool::default(),
    };
    let report =
        crate::retract::run(&settings, &ledger, &opts, &mut |line| outln!("{line}")).await?;
    if let (Some(pid), Some(job)) = (report.queued_for, report.job) {
        outln!(
            "a daemon (pid {pid}) runs on this ledger: retraction of route {} queued as job {job}; the daemon takes the statuses back within the backfill share of each target's deletes budget (see `birdbridge status`)",
            opts.route
        );
        return Ok(Exit::Ok);
    }
    if let Some(p) = &report.pass {
        outln!(
            "route {}: {} status(es) taken back ({} already gone), {} post(s) done, {} refused by the server",
            opts.route, p.taken_back, p.already_gone, p.posts_done, p.posts_failed
        );
        for (target, why) in &p.targets_stopped {
            outln!("target {target} could not be used (its statuses wait): {why}");
        }
        if p.posts_left > 0 || p.interrupted {
            outln!(
                "{} post(s) left to take back: run the same command again to resume (see `birdbridge status`)",
                p.posts_left
            );
        }
    }
    Ok(if report.unfinished() {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

/// When a daemon runs on this ledger, queues the backfill for it (it delivers in the
/// backfill lane, on its own rate-limit budgets, next to the live posts) instead of
/// delivering from this process; returns the exit code then.
async fn hand_to_daemon(
    ledger: &Arc<Ledger>,
    opts: &BackfillOptions,
    from_api: bool,
) -> Result<Option<Exit>, CommandError> {
    let now = opts.clock.now();
    let archive = opts
        .archive
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .map(|p| p.display().to_string());
    let job = BackfillJob {
        id: 0,
        route: opts.route.clone(),
        archive,
        from_api,
        since: opts.since,
        until: opts.until,
        limit: opts.limit.map(|l| l as u64),
        state: "queued".to_owned(),
        note: None,
        updated_at: now,
    };
    // One ledger call: the heartbeat is read and the job queued together.
    let queued = ledger
        .call(move |l| match running_daemon(l, now)? {
            Some(pid) => Ok(Some((pid, l.queue_job(&job, now)?))),
            None => Ok(None),
        })
        .await?;
    let Some((pid, id)) = queued else {
        return Ok(None);
    };
    outln!(
        "a daemon (pid {pid}) runs on this ledger: backfill of route {} queued as job {id}; the daemon delivers it after the live posts, within the backfill share of each target's rate limit (see `birdbridge status`)",
        opts.route
    );
    Ok(Some(Exit::Ok))
}

/// What a dry run's posts would cost on each target that bills its writes, and how many
/// UTC days its daily cap spreads them over.
fn preview_cost_lines(settings: &Settings, r: &DeliveryReport) -> Vec<String> {
    r.preview_cost
        .iter()
        .map(|(target, (cost, posts))| {
            // An average, to the tenth of a cent.
            let per_post = Usd::from_micros(
                (cost.micros() / (*posts as u64).max(1)).div_ceil(1_000) * 1_000,
            );
            let mut line = format!(
                "target {target}: the {posts} previewed post(s) would cost {cost} ({per_post} a post on average, at X's 2026 prices)"
            );
            let cap = settings.targets.get(target).and_then(targets::tariff).and_then(|t| t.cap);
            if let Some(cap) = cap.filter(|c| c.micros() > 0) {
                let days = cost.micros().div_ceil(cap.micros());
                let _ = write!(
                    line,
                    "; at max_spend_per_day = {cap}: about {days} UTC day(s)"
                );
            }
            line
        })
        .collect()
}

fn summary(settings: &Settings, opts: &BackfillOptions, r: &DeliveryReport, to_stderr: bool) {
    let mut lines = vec![format!(
        "route {}: {} posts in the archive ({} in range), {} malformed, {} circle posts left out",
        opts.route, r.posts_found, r.in_range, r.malformed, r.circle_excluded
    )];
    if opts.dry_run {
        lines.push(format!(
            "dry run: {} post(s) previewed, {} already mirrored, nothing written",
            r.previewed, r.already_done
        ));
        lines.extend(preview_cost_lines(settings, r));
    } else {
        lines.push(format!(
            "{} new post(s) delivered in {} part(s); {} already done in an earlier run; {} skipped by policy; {} held for review; {} failed; {} recovered after an interruption",
            r.posts_delivered, r.parts_delivered, r.already_done, r.skipped, r.posts_held, r.parts_failed, r.parts_reconciled
        ));
    }
    for (target, why) in &r.targets_stopped {
        lines.push(format!(
            "target {target} STOPPED for this run (the other targets went on; its posts wait in the ledger): {why}"
        ));
    }
    if r.parts_left > 0 {
        lines.push(format!(
            "{} part(s) wait for delivery: run the backfill again once the target answers (see `birdbridge status`)",
            r.parts_left
        ));
    }
    for line in lines {
        if to_stderr {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
    }
}
