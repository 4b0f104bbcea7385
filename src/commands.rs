//! Runs the subcommands and maps every failure to one of the documented exit codes.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::budget::Clock;
use crate::cli::{BackfillArgs, Command};
use crate::clock::SystemClock;
use crate::config::{ConfigError, Finding, Settings, TargetSettings, EXAMPLE_CONFIG};
use crate::daemon::{CycleReport, Daemon, DaemonError, DaemonOptions, Notifier};
use crate::pipeline::{self, BackfillOptions, BackfillReport, PipelineError};
use crate::progress::Progress;
use crate::status;
use crate::store::{Ledger, StoreError};
use crate::targets::{CountingRule, FediTarget, TargetError};

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
                | PipelineError::TargetSetup { .. },
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
        Command::Check { example: false } => check(config).await,
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

async fn check(config: &Path) -> Result<Exit, CommandError> {
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
        println!("configuration OK");
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
    let stop = Arc::new(AtomicBool::new(false));
    for (name, target) in &settings.targets {
        let TargetSettings::Fediverse(fedi) = target else {
            continue;
        };
        let key = format!("targets.{name}");
        // The offline checks already name an unreadable token.
        let Ok(mut t) = FediTarget::new(name, fedi, Clock::System, Arc::clone(&stop)) else {
            continue;
        };
        match t.check().await {
            Ok(r) => {
                let p = &r.profile;
                println!(
                    "  target {name}: {} as {} ({} {}, limits from {})",
                    fedi.url,
                    r.account,
                    p.kind.as_str(),
                    p.version.as_deref().unwrap_or("version unknown"),
                    p.source.as_str()
                );
                println!(
                    "    {} characters per status, {} attachments, alt text up to {}, URLs count {}",
                    p.max_characters,
                    p.max_media_attachments,
                    p.description_limit,
                    match r.quirks.counting {
                        CountingRule::Mastodon => format!("{} each", p.characters_reserved_per_url),
                        CountingRule::CodePoints => "at full length (code points)".to_owned(),
                    }
                );
                println!(
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
                println!(
                    "    quirks: idempotency keys {}{}",
                    if r.quirks.honours_idempotency {
                        "honoured"
                    } else {
                        "ignored (interrupted posts are reconciled from the account's statuses)"
                    },
                    if r.quirks.needs_media {
                        "; every post needs an image"
                    } else {
                        ""
                    }
                );
            }
            Err(err) => {
                let problem = match &err {
                    TargetError::Auth { message, .. } => format!(
                        "the server refused the token ({message}): create a new access token for the account and put it where the configuration points"
                    ),
                    TargetError::Transient { message } => format!(
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
        stop,
        clock: Clock::System,
    };
    let prepared = pipeline::prepare(&settings, &opts)?;
    let ledger = Ledger::open(&settings.ledger.path)?;
    let stdout_records = settings.routes.get(&opts.route).is_some_and(|r| {
        r.targets
            .iter()
            .any(|t| matches!(&settings.targets[t], TargetSettings::DryRun(d) if d.output == "-"))
    });
    let progress = Progress::new(
        std::io::stderr().is_terminal(),
        stdout_records && !opts.dry_run,
    );
    let report = pipeline::backfill(prepared, &ledger, &opts, &progress).await?;
    summary(&opts, &report, stdout_records && !opts.dry_run);
    Ok(
        if report.parts_failed > 0 || !report.targets_stopped.is_empty() {
            Exit::Failure
        } else {
            Exit::Ok
        },
    )
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
    for (target, why) in &r.targets_stopped {
        lines.push(format!(
            "target {target} STOPPED for this run (the other targets went on): {why}"
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
