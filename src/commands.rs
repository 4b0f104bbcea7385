//! Runs the subcommands and maps every failure to one of the documented exit codes.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::cli::{BackfillArgs, Command};
use crate::clock::SystemClock;
use crate::config::{ConfigError, Settings, EXAMPLE_CONFIG};
use crate::daemon::{CycleReport, Daemon, DaemonError, DaemonOptions, Notifier};
use crate::pipeline::{self, BackfillOptions, BackfillReport, PipelineError};
use crate::progress::Progress;
use crate::status;
use crate::store::{Ledger, StoreError};
use crate::targets::AnyTarget;

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
    /// See [`PipelineError`].
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `check` found problems; each is listed on stderr.
    #[error("{0} configuration problem(s) found")]
    Findings(usize),
    /// See [`DaemonError`].
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

impl CommandError {
    /// The exit code this failure maps to.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Config(_)
            | CommandError::Findings(_)
            | CommandError::Pipeline(
                PipelineError::Config(_)
                | PipelineError::UnknownRoute { .. }
                | PipelineError::NoArchive { .. }
                | PipelineError::NotXSource { .. }
                | PipelineError::UnsupportedTarget { .. },
            )
            | CommandError::Daemon(DaemonError::NothingToRun) => Exit::Config,
            CommandError::Pipeline(_) | CommandError::Store(_) | CommandError::Daemon(_) => {
                Exit::Failure
            }
        }
    }
}

/// Runs one command. `stop` is set by the signal handler; a backfill stops at the next
/// post boundary when it is set.
///
/// # Errors
/// See [`CommandError`]; its [`CommandError::exit`] gives the exit code.
pub async fn run(
    config: &Path,
    command: Command,
    stop: Arc<AtomicBool>,
) -> Result<Exit, CommandError> {
    match command {
        Command::Check { example: true } => {
            print!("{EXAMPLE_CONFIG}");
            Ok(Exit::Ok)
        }
        Command::Check { example: false } => check(config),
        Command::Status => {
            let settings = Settings::load(config)?;
            print!("{}", status::report(&settings)?);
            Ok(Exit::Ok)
        }
        Command::Backfill(args) if args.from_api => api_backfill(config, args, stop).await,
        Command::Backfill(args) => backfill(config, args, stop).await,
        Command::Run => run_daemon(config).await,
        Command::Once => once(config).await,
    }
}

/// `run`: the daemon, until SIGTERM or SIGINT.
async fn run_daemon(config: &Path) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let daemon = Daemon::build(
        &settings,
        ledger,
        Arc::new(SystemClock),
        cancel.clone(),
        DaemonOptions::default(),
    )?;
    for (source, routes) in daemon.sources() {
        tracing::info!(source = %source, routes = %routes.join(", "), "source will be polled");
    }
    let report = daemon.run(&Notifier::from_env()).await;
    // Every source stopped on its own (refused tokens, missing accounts): fail, so the
    // service shows as failed instead of idling.
    Ok(if cancel.is_cancelled() || report.sources_stopped == 0 {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// Cancels `cancel` on the first SIGTERM or SIGINT (`main` handles a second one). The
/// handlers are installed before this returns, so a signal arriving right after start is
/// not lost to the default action (which would kill the process mid-write).
fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM and SIGINT; stop with SIGKILL");
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        cancel.cancel();
    });
}

/// `once`: one cycle of every live source.
async fn once(config: &Path) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let ledger = Arc::new(Ledger::open(&settings.ledger.path)?);
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let daemon = Daemon::build(
        &settings,
        ledger,
        Arc::new(SystemClock),
        cancel,
        DaemonOptions::default(),
    )?;
    let report = daemon.once().await;
    let CycleReport {
        posts_found,
        posts_delivered,
        parts_failed,
        sources_stopped,
        sources_failed,
    } = report;
    println!(
        "{posts_found} new post(s) found, {posts_delivered} delivered; {parts_failed} part(s) failed; {sources_failed} source(s) failed, {sources_stopped} stopped"
    );
    Ok(if parts_failed + sources_failed + sources_stopped > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

/// `backfill --from-api`: the route's X timeline, read backwards within the API's window.
async fn api_backfill(
    config: &Path,
    args: BackfillArgs,
    stop: Arc<AtomicBool>,
) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let ledger = Ledger::open(&settings.ledger.path)?;
    let opts = BackfillOptions {
        route: args.route.clone(),
        since: args.since,
        until: args.until,
        limit: args.limit,
        dry_run: args.dry_run,
        stop,
        ..BackfillOptions::default()
    };
    let report = pipeline::api_backfill(&settings, &ledger, &opts).await?;
    let r = &report.report;
    println!(
        "route {}: {} post(s) read from the X API since {}",
        args.route,
        report.posts_read,
        args.since.map(|d| d.to_string()).unwrap_or_default()
    );
    if args.dry_run {
        println!(
            "dry run: {} post(s) previewed, {} already mirrored, nothing delivered",
            r.previewed, r.already_done
        );
    } else {
        println!(
            "{} new post(s) delivered in {} part(s); {} already done in an earlier run; {} skipped by policy; {} failed",
            r.posts_delivered, r.parts_delivered, r.already_done, r.skipped, r.parts_failed
        );
    }
    Ok(if r.parts_failed > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

fn check(config: &Path) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    println!(
        "{}: {} source(s), {} target(s), {} route(s)",
        settings.file.display(),
        settings.sources.len(),
        settings.targets.len(),
        settings.routes.len()
    );
    for (name, route) in &settings.routes {
        println!(
            "  route {name}: {} → {}",
            route.source,
            route.targets.join(", ")
        );
    }
    let findings = settings.offline_findings();
    for f in &findings {
        eprintln!("{}: `{}`: {}", settings.file.display(), f.key, f.problem);
    }
    if findings.is_empty() {
        println!("configuration OK (offline checks only)");
        Ok(Exit::Ok)
    } else {
        Err(CommandError::Findings(findings.len()))
    }
}

async fn backfill(
    config: &Path,
    args: BackfillArgs,
    stop: Arc<AtomicBool>,
) -> Result<Exit, CommandError> {
    let settings = Settings::load(config)?;
    let opts = BackfillOptions {
        route: args.route,
        archive: args.archive,
        since: args.since,
        until: args.until,
        limit: args.limit,
        dry_run: args.dry_run,
        crash_after_deliveries: std::env::var("BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES")
            .ok()
            .and_then(|v| v.parse().ok()),
        stop,
    };
    let prepared = pipeline::prepare(&settings, &opts)?;
    let ledger = Ledger::open(&settings.ledger.path)?;
    let stdout_records = settings.routes.get(&opts.route).is_some_and(|r| {
        r.targets
            .iter()
            .filter_map(|t| AnyTarget::from_settings(t, &settings.targets[t]))
            .any(|t| t.writes_stdout())
    });
    let progress = Progress::new(
        std::io::stderr().is_terminal(),
        stdout_records && !opts.dry_run,
    );
    let report = pipeline::backfill(prepared, &ledger, &opts, &progress).await?;
    summary(&opts, &report, stdout_records && !opts.dry_run);
    Ok(if report.parts_failed > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    })
}

fn summary(opts: &BackfillOptions, r: &BackfillReport, to_stderr: bool) {
    let mut lines = vec![format!(
        "route {}: {} posts in the archive ({} in range), {} malformed, {} circle posts left out",
        opts.route, r.posts_read, r.in_range, r.malformed, r.circle_excluded
    )];
    if opts.dry_run {
        lines.push(format!(
            "dry run: {} post(s) previewed, {} already mirrored, nothing written",
            r.previewed, r.already_done
        ));
    } else {
        lines.push(format!(
            "{} new post(s) delivered in {} part(s); {} already done in an earlier run; {} skipped by policy; {} failed; {} recovered after an interruption",
            r.posts_delivered, r.parts_delivered, r.already_done, r.skipped, r.parts_failed, r.parts_reconciled
        ));
    }
    for line in lines {
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}
