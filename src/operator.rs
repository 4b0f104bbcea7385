//! The operator commands `quarantine list|retry|drop` and `hold list|release`: what a person
//! decides about parts the delivery engine stopped on. The ledger changes and their audit rows are
//! [`crate::store`]'s (one transaction per command); this module turns them into text.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::cli::{HoldCommand, PartSelection, QuarantineCommand};
use crate::store::{Ledger, PartFilter, PartKey, PartRecord, StoreError};

/// What went wrong in an operator command.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `quarantine drop` without any selection would give up every quarantined post; the
    /// person says which (or `--route` for a whole route).
    #[error("`quarantine drop` needs at least one of --route, --target, --post")]
    NoSelection,
    /// `hold release` found no held post with that id: nothing changed.
    #[error("no held post {post} on route {route}{}: see `birdbridge hold list`", target.as_deref().map(|t| format!(" for target {t}")).unwrap_or_default())]
    NotHeld {
        route: String,
        post: String,
        target: Option<String>,
    },
}

impl From<&PartSelection> for PartFilter {
    fn from(s: &PartSelection) -> Self {
        PartFilter {
            route: s.route.clone(),
            target: s.target.clone(),
            source_post_id: s.post.clone(),
        }
    }
}

/// Runs a `quarantine` subcommand on `ledger`; returns what to print.
///
/// # Errors
/// See [`OperatorError`]; nothing changed when it is returned.
pub fn quarantine(
    ledger: &Ledger,
    command: &QuarantineCommand,
    now: DateTime<Utc>,
) -> Result<String, OperatorError> {
    let mut out = String::new();
    match command {
        QuarantineCommand::List(selection) => {
            let parts = ledger.quarantined_matching(&selection.into())?;
            if parts.is_empty() {
                out.push_str("no quarantined parts\n");
            }
            for p in &parts {
                let _ = writeln!(
                    out,
                    "{}: quarantined since {} after {} attempt(s): {}",
                    describe(&p.key),
                    p.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    p.attempts,
                    p.last_error.as_deref().unwrap_or("")
                );
            }
        }
        QuarantineCommand::Retry(selection) => {
            let moved = ledger.retry_quarantined(&selection.into(), now)?;
            for k in &moved {
                let _ = writeln!(out, "{}: quarantined → planned", describe(k));
            }
            let _ = writeln!(
                out,
                "{} part(s) put back for delivery by the next daemon cycle, `once` or `backfill`",
                moved.len()
            );
        }
        QuarantineCommand::Drop { selection, reason } => {
            if selection.route.is_none() && selection.target.is_none() && selection.post.is_none() {
                return Err(OperatorError::NoSelection);
            }
            let moved = ledger.drop_quarantined(&selection.into(), reason, now)?;
            for k in &moved {
                let _ = writeln!(out, "{}: given up (skipped)", describe(k));
            }
            let _ = writeln!(out, "{} part(s) given up", moved.len());
        }
    }
    Ok(out)
}

/// Runs a `hold` subcommand on `ledger`; returns what to print.
///
/// # Errors
/// See [`OperatorError`]; nothing changed when it is returned.
pub fn hold(
    ledger: &Ledger,
    command: &HoldCommand,
    now: DateTime<Utc>,
) -> Result<String, OperatorError> {
    let mut out = String::new();
    match command {
        HoldCommand::List(selection) => {
            let held = ledger.held(&selection.into())?;
            if held.is_empty() {
                out.push_str("no held posts\n");
            }
            for p in &held {
                let _ = writeln!(out, "{}", held_line(p));
            }
        }
        HoldCommand::Release {
            route,
            post,
            target,
        } => {
            let released = ledger.release_hold(route, post, target.as_deref(), now)?;
            if released.is_empty() {
                return Err(OperatorError::NotHeld {
                    route: route.clone(),
                    post: post.clone(),
                    target: target.clone(),
                });
            }
            for p in &released {
                let _ = writeln!(
                    out,
                    "route {} target {} post {}: released; the next run that reads it mirrors it",
                    p.key.route, p.key.target, p.key.source_post_id
                );
            }
        }
    }
    Ok(out)
}

fn held_line(p: &PartRecord) -> String {
    format!(
        "route {} target {} post {}: since {}: {}",
        p.key.route,
        p.key.target,
        p.key.source_post_id,
        p.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        p.reason.as_deref().unwrap_or("")
    )
}

fn describe(k: &PartKey) -> String {
    format!(
        "route {} target {} post {} part {}",
        k.route, k.target, k.source_post_id, k.part_index
    )
}
