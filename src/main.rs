//! The `birdbridge` binary: parses the command line, sets up logging and signals, runs the
//! command, and turns its outcome into an exit code. Everything else lives in the library.

use std::process::ExitCode;

use birdbridge::cli::{Cli, LogFormat};
use birdbridge::commands::{self, Exit};
use clap::Parser;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return code(Exit::Failure);
        }
    };
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        // Installed before the command starts, so an early signal is not lost to the
        // default action (which would kill the process mid-write).
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => {
                tokio::spawn(watch_signals(term, int, cancel.clone()));
            }
            _ => eprintln!("warning: cannot listen for SIGTERM and SIGINT; stop with SIGKILL"),
        }
        commands::run(&cli.config, cli.command, cancel).await
    });
    match result {
        Ok(exit) => code(exit),
        Err(err) => {
            eprintln!("error: {err}");
            let mut cause = std::error::Error::source(&err);
            while let Some(c) = cause {
                eprintln!("  because: {c}");
                cause = c.source();
            }
            code(err.exit())
        }
    }
}

fn code(exit: Exit) -> ExitCode {
    ExitCode::from(exit as u8)
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("BIRDBRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The one signal path. First SIGINT/SIGTERM: cancel the token, which ends every wait;
/// the post in hand is settled and the command stops. Second: leave at once (the ledger's
/// `posting` state makes even that safe to resume).
async fn watch_signals(mut term: Signal, mut int: Signal, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        if cancel.is_cancelled() {
            eprintln!("interrupted again: leaving now");
            std::process::exit(130);
        }
        cancel.cancel();
        eprintln!(
            "interrupted: finishing the current post, then stopping (again to leave at once)"
        );
    }
}
