//! Command-line definitions (clap). Parsing only; [`crate::commands`] runs them.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};

/// Mirror posts from X/Twitter accounts and archives to fediverse accounts, exactly once.
#[derive(Debug, Parser)]
#[command(name = "birdbridge", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, env = "BIRDBRIDGE_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a Twitter data archive (or, with --from-api, the X timeline) into a route, oldest
    /// post first; safe to interrupt and rerun.
    Backfill(BackfillArgs),
    /// Check the configuration (offline): keys, values, referenced files and secrets.
    Check {
        /// Print the documented example configuration and exit.
        #[arg(long)]
        example: bool,
    },
    /// Show the ledger: counts per route and target, cursors, X API reads and their cost, last
    /// errors, quarantined parts.
    Status,
    /// Run the daemon: poll every live source (X, feeds) on its schedule and mirror new posts,
    /// until SIGTERM or SIGINT.
    Run,
    /// Poll every live source once, mirror what is new, and exit (for cron).
    Once,
}

/// `backfill` arguments.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The route to fill.
    #[arg(long)]
    pub route: String,
    /// Archive (.zip or folder) to read instead of the route's archive source.
    #[arg(long, conflicts_with = "from_api")]
    pub archive: Option<PathBuf>,
    /// Read the route's X account through the API instead of an archive (posts from --since
    /// on; only the newest 3,200 posts are reachable). Every post read is billed.
    #[arg(long, requires = "since")]
    pub from_api: bool,
    /// Only posts from this day on (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Only posts up to and including this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub until: Option<NaiveDate>,
    /// Deliver at most this many posts in this run.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Show what would be posted to each target; write nothing, not even to the ledger.
    #[arg(long)]
    pub dry_run: bool,
}
