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
    /// Obtain an access token for a fediverse target by OAuth: registers birdbridge with the
    /// server, prints an address to approve it at, reads the code the server shows, and
    /// writes the token to the target's `token_file` (mode 0600).
    Auth {
        /// The target (a fediverse `[targets.NAME]` with `token_file` set), or a fediverse
        /// source (`[sources.NAME]`, `kind = "fediverse"`: read scopes only).
        #[arg(long)]
        target: String,
        /// Replace the token file when it exists.
        #[arg(long)]
        force: bool,
        /// Write the token here instead of the target's `token_file` (for example the
        /// root-only file a systemd credential is loaded from, when `token_file` names the
        /// credential's copy under /run/credentials).
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
    },
    /// Check the configuration (offline): keys, values, referenced files and secrets.
    Check {
        /// Print the documented example configuration and exit.
        #[arg(long)]
        example: bool,
    },
    /// Show the ledger: counts per route and target, cursors, X API reads and their cost, last
    /// errors, quarantined parts.
    Status(StatusArgs),
    /// List quarantined parts (failed too often), retry them, or give them up.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Posts held for review: list them, describe their media, change their warning, text
    /// or visibility, release or drop them (the desk does the same on a web page).
    #[command(subcommand)]
    Hold(HoldCommand),
    /// Serve the desk alone (`[desk]`), e.g. during an archive backfill: the page where a
    /// person reviews held posts; it also delivers the posts released on it.
    Desk,
    /// Take back what a route posted: delete its statuses (the last part of a thread
    /// first) and undo its boosts, paced by each target's deletes budget; never posted
    /// again. Lists what would go with --dry-run; takes nothing back without --yes. Runs
    /// inside the daemon when one runs; resumable.
    Retract(RetractArgs),
    /// Run the daemon: poll every live source (X, feeds) on its schedule and mirror new posts,
    /// until SIGTERM or SIGINT.
    Run,
    /// Poll every live source once, mirror what is new, and exit (for cron).
    Once,
    /// Copy the ledger consistently to a new file, also while `run` is writing to it (a plain
    /// file copy of a live ledger can be torn).
    Backup {
        /// The copy to write; must not exist.
        path: PathBuf,
    },
    /// Write the manual pages or shell completions (for packaging).
    #[command(hide = true, subcommand)]
    Generate(GenerateCommand),
}

/// `generate` subcommands.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Manual pages: birdbridge.1 and one per subcommand.
    Man {
        /// The folder to write them to.
        dir: PathBuf,
    },
    /// Completions for bash (birdbridge.bash), zsh (_birdbridge) and fish (birdbridge.fish).
    Completions {
        /// The folder to write them to.
        dir: PathBuf,
    },
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

/// `retract` arguments: a route, and one post, a date range or everything.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).args(["post", "since", "all"])))]
pub struct RetractArgs {
    /// The route whose statuses are taken back.
    #[arg(long)]
    pub route: String,
    /// Only this post (its id at the source, as `status` shows it); a target that has not
    /// mirrored it yet never will.
    #[arg(long)]
    pub post: Option<String>,
    /// The posts from this day on (YYYY-MM-DD, UTC; the source post's date).
    #[arg(long, requires = "until")]
    pub since: Option<NaiveDate>,
    /// The posts up to and including this day (YYYY-MM-DD, UTC).
    #[arg(long, requires = "since")]
    pub until: Option<NaiveDate>,
    /// Everything the route posted.
    #[arg(long)]
    pub all: bool,
    /// Only on this target (default: every target of the route).
    #[arg(long)]
    pub target: Option<String>,
    /// List what would be taken back; change nothing, not even the ledger.
    #[arg(long)]
    pub dry_run: bool,
    /// Take them back (without it, nothing is deleted).
    #[arg(long)]
    pub yes: bool,
}

/// `status` arguments.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this route (its targets, cursor, errors and waiting parts).
    #[arg(long)]
    pub route: Option<String>,
    /// Print one JSON document (schema: docs/status.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which ledger parts an operator command applies to; every given option must match.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PartSelection {
    /// Only parts of this route.
    #[arg(long)]
    pub route: Option<String>,
    /// Only parts on this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only parts of this source post (its id at the source, as `status` shows it).
    #[arg(long)]
    pub post: Option<String>,
}

/// `quarantine` subcommands. Changes are written to the ledger's audit trail.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List quarantined parts with their last error.
    List(PartSelection),
    /// Put quarantined parts back to be delivered (with a fresh set of attempts): by the next
    /// cycle of a running daemon (X sources read the post again), `once`, or a `backfill`
    /// that reaches their post.
    Retry(PartSelection),
    /// Give up quarantined posts on their target: their waiting parts become `skipped` with
    /// the reason, kept in the ledger. Needs at least one of --route, --target, --post.
    Drop {
        #[command(flatten)]
        selection: PartSelection,
        /// Why (kept in the ledger and its audit trail).
        #[arg(long)]
        reason: String,
    },
}

/// `hold` subcommands. Changes are written to the ledger's audit trail (who: `cli:` and the
/// user running the command).
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// List posts held for review (`review`, `alt_text = "hold"`), oldest post first, with
    /// the reason and the edits made so far.
    List(PartSelection),
    /// Release one held post: it is delivered once, with the edits made to it (by the
    /// running daemon or desk, or by this command when none runs).
    Release {
        /// The post's route.
        #[arg(long)]
        route: String,
        /// The post's id at the source.
        #[arg(long)]
        post: String,
        /// Only on this target (default: every target holding it).
        #[arg(long)]
        target: Option<String>,
    },
    /// Give up one held post: its parts are recorded as skipped, with the reason.
    Drop {
        /// The post's route.
        #[arg(long)]
        route: String,
        /// The post's id at the source.
        #[arg(long)]
        post: String,
        /// Only on this target (default: every target holding it).
        #[arg(long)]
        target: Option<String>,
        /// Why (kept in the ledger and its audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Describe one image, video or GIF of a held post (its alt text), as the target shows
    /// it; longer than the target takes is refused.
    Describe {
        #[command(flatten)]
        copy: HeldCopy,
        /// The media item's number in the post (1 for the first).
        #[arg(long)]
        media: u32,
        /// The description; "" goes back to the post's own.
        #[arg(long)]
        text: String,
    },
    /// Set, change or clear the content warning of a held post's copy.
    Warn {
        #[command(flatten)]
        copy: HeldCopy,
        /// The warning; "" posts the copy without one.
        #[arg(long, conflicts_with = "rendered")]
        text: Option<String>,
        /// Back to the warning the route's rules give.
        #[arg(long)]
        rendered: bool,
    },
    /// Change the text, visibility or sensitive flag of a held post's copy. The text is
    /// the whole post before it is split into parts (numbering and the backfill date line
    /// are added after it).
    Edit {
        #[command(flatten)]
        copy: HeldCopy,
        /// The new text ("" goes back to the rendered one).
        #[arg(long)]
        text: Option<String>,
        /// public, unlisted, private or direct.
        #[arg(long)]
        visibility: Option<String>,
        /// Whether the media are marked sensitive (true or false).
        #[arg(long)]
        sensitive: Option<bool>,
    },
}

/// One held post's copy on one target, or on every target holding it.
#[derive(Debug, Clone, clap::Args)]
pub struct HeldCopy {
    /// The post's route.
    #[arg(long)]
    pub route: String,
    /// The post's id at the source.
    #[arg(long)]
    pub post: String,
    /// Only this target's copy (default: every target holding it).
    #[arg(long)]
    pub target: Option<String>,
}
