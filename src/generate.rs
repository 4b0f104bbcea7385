//! `birdbridge generate man|completions DIR` (hidden): writes the manual pages and the shell
//! completions from the command-line definitions, so they never drift from `--help`. The
//! release steps (docs/operating.md) run it before `cargo deb`, which packages the files.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateCommand};

/// Writes what `command` asks for; returns the files written.
///
/// # Errors
/// When the folder cannot be created or a file cannot be written.
pub fn run(command: &GenerateCommand) -> std::io::Result<Vec<std::path::PathBuf>> {
    match command {
        GenerateCommand::Man { dir } => man(dir),
        GenerateCommand::Completions { dir } => completions(dir),
    }
}

/// `birdbridge.1` and one page per subcommand (`birdbridge-run.1`, ...).
fn man(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    let mut written: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .collect();
    written.sort();
    Ok(written)
}

/// Completions for bash, zsh and fish, named as those shells look them up.
fn completions(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    [Shell::Bash, Shell::Zsh, Shell::Fish]
        .into_iter()
        .map(|shell| clap_complete::generate_to(shell, &mut cmd, "birdbridge", dir))
        .collect()
}
