//! Offline checks for the `check` command: what loaded settings point at on this machine
//! (archives, token files, token variables, output folders), looked at without the network.
//! Loading deliberately does not do this, so a configuration can be validated on another
//! machine and secrets are read only when they are needed.

use std::fmt;
use std::path::Path;

use super::de::join_key;
use super::{SecretSource, Settings, SourceSettings, TargetSettings, XCredentials};

/// One problem found by [`Settings::offline_findings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The key the problem is about, e.g. `sources.old-tweets.path`.
    pub key: String,
    /// What is wrong, naming the file or variable involved (never a secret's content).
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.problem)
    }
}

impl Settings {
    /// Checks what the settings point at on this machine, in key order: archives that are
    /// missing, token files that cannot be read, token variables that are unset (each read
    /// through [`SecretSource::load`], exactly as the daemon will), and dry-run outputs that
    /// cannot be created. Empty when all is well. The process environment is read for
    /// `token_env`.
    pub fn offline_findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        for (name, source) in &self.sources {
            let table = join_key("sources", name);
            check_secrets(&table, source.secrets(), &mut findings);
            if let SourceSettings::Archive(archive) = source {
                if let Err(err) = std::fs::metadata(&archive.path) {
                    findings.push(Finding {
                        key: join_key(&table, "path"),
                        problem: format!("cannot open {}: {err}", archive.path.display()),
                    });
                }
            }
        }
        for (name, target) in &self.targets {
            let table = join_key("targets", name);
            check_secrets(&table, target.secrets(), &mut findings);
            match target {
                TargetSettings::DryRun(dry_run) => {
                    if let Some(problem) = output_problem(&dry_run.output) {
                        findings.push(Finding {
                            key: join_key(&table, "output"),
                            problem,
                        });
                    }
                }
                TargetSettings::X(x) => {
                    if let XCredentials::OAuth2 { token_file, .. } = &x.credentials {
                        if let Err(err) = std::fs::read(token_file) {
                            findings.push(Finding {
                                key: join_key(&table, "oauth2_token_file"),
                                problem: format!(
                                    "cannot read {}: {err} (`birdbridge auth --target {name}` writes it)",
                                    token_file.display()
                                ),
                            });
                        }
                    }
                }
                TargetSettings::Fediverse(_) => {}
            }
        }
        if let Some(desk) = &self.desk {
            check_secrets("desk", vec![("password", &desk.password)], &mut findings);
        }
        findings
    }

    /// Warnings that do not stop anything: a desk served on an address other machines can
    /// reach (it has no TLS of its own), and a configuration file holding an inline `token`
    /// that other accounts of this machine can read (group or world read bits), which
    /// hands them the account (Unix only).
    pub fn exposure_warnings(&self) -> Vec<Finding> {
        let mut warnings = Vec::new();
        if let Some(desk) = self.desk.as_ref().filter(|d| !d.listen.ip().is_loopback()) {
            warnings.push(Finding {
                key: "desk.listen".to_owned(),
                problem: format!(
                    "{} is not a loopback address: the desk is reachable from other machines \
                     without TLS; keep it on 127.0.0.1 and reach it through an SSH tunnel or a \
                     TLS reverse proxy",
                    desk.listen
                ),
            });
        }
        warnings.extend(self.token_exposure());
        warnings
    }

    fn token_exposure(&self) -> Vec<Finding> {
        let Some(mode) = others_can_read(&self.file) else {
            return Vec::new();
        };
        self.inline_in_file
            .iter()
            .map(|key| Finding {
                key: key.clone(),
                problem: format!(
                    "{} holds this token and other accounts can read it (mode {mode:o}); \
                     run `chmod 600` on it, or move the token to `token_file`",
                    self.file.display()
                ),
            })
            .collect()
    }
}

/// The file's permission bits when its group or others may read it.
#[cfg(unix)]
fn others_can_read(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn others_can_read(_file: &Path) -> Option<u32> {
    None
}

/// Loads each of a table's secrets as the daemon will.
fn check_secrets(table: &str, secrets: Vec<(&str, &SecretSource)>, findings: &mut Vec<Finding>) {
    for (name, secret) in secrets {
        let key = secret.key(table, name);
        if let Err(err) = secret.load(&key) {
            // The error starts by naming the key, which the finding carries already.
            let message = err.to_string();
            let problem = message
                .strip_prefix(&format!("`{key}`: "))
                .unwrap_or(&message)
                .to_owned();
            findings.push(Finding { key, problem });
        }
    }
}

/// Why a dry run could not create or append to `output`, if it could not. Missing folders
/// are fine (the dry-run target creates them, as the demo's `target/birdbridge-demo/` on a
/// fresh clone); a file standing where a folder must be is not.
fn output_problem(output: &str) -> Option<String> {
    if output == "-" {
        return None;
    }
    let path = Path::new(output);
    if path.is_dir() {
        return Some(format!("{output} is a folder, not a file"));
    }
    let blocker = path
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| a.exists())?;
    if blocker.is_dir() {
        None
    } else {
        Some(format!(
            "cannot create the folder for it: {} is not a folder",
            blocker.display()
        ))
    }
}
