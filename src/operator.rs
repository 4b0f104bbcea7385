//! The operator commands `quarantine list|retry|drop` and `hold list|release|drop|describe|
//! warn|edit`: what a person decides about parts the delivery engine stopped on, and about
//! posts held for review. The ledger changes and their audit rows are [`crate::store`]'s
//! (one transaction per command); the checks of an edit are [`crate::review`]'s (the same
//! as the desk's); this module turns them into text.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::cli::{HeldCopy, HoldCommand, PartSelection, QuarantineCommand};
use crate::review::{self, EditRefused};
use crate::store::{
    EditField, Ledger, PartFilter, PartKey, PartRecord, QueueAt, QueueFilter, ReviewError,
    ReviewState, StoreError,
};

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
    /// See [`ReviewError`].
    #[error(transparent)]
    Review(#[from] ReviewError),
    /// An edit the target cannot take: nothing changed.
    #[error("target {target}: {source}")]
    Refused {
        target: String,
        #[source]
        source: EditRefused,
    },
    /// The ledger's copy of a held post cannot be read (a hand edit, a newer shape).
    #[error("the kept copy of held post {post} cannot be read: {why}")]
    Unreadable { post: String, why: String },
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

/// Who made a change from the command line, for the audit trail: `cli:` and the user.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown user".to_owned());
    format!("cli:{user}")
}

/// Runs a `hold` subcommand on `ledger`; returns what to print and, after a release,
/// whether posts now wait for the review deliverer.
///
/// # Errors
/// See [`OperatorError`]; nothing changed when it is returned.
pub fn hold(
    ledger: &Ledger,
    command: &HoldCommand,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(String, bool), OperatorError> {
    let mut out = String::new();
    let mut released_any = false;
    match command {
        HoldCommand::List(selection) => list(ledger, selection, &mut out)?,
        HoldCommand::Release {
            route,
            post,
            target,
        } => match ledger.release_review(route, post, target.as_deref(), None, actor, now) {
            Ok(targets) => {
                released_any = true;
                for t in targets {
                    let _ = writeln!(
                        out,
                        "route {route} target {t} post {post}: released; it is delivered once, with its edits"
                    );
                }
            }
            Err(ReviewError::Unknown { .. }) => {
                legacy_release(ledger, (route, post, target.as_deref()), now, &mut out)?;
            }
            Err(e) => return Err(e.into()),
        },
        HoldCommand::Drop {
            route,
            post,
            target,
            reason,
        } => {
            for t in
                ledger.drop_review(route, post, target.as_deref(), None, (actor, reason), now)?
            {
                let _ = writeln!(
                    out,
                    "route {route} target {t} post {post}: dropped (recorded as skipped: {reason})"
                );
            }
            ledger.forget_reviewed(route, post)?;
        }
        HoldCommand::Describe { copy, media, text } => {
            let field = EditField::Description(media.saturating_sub(1));
            edit(
                ledger,
                copy,
                &[(field, text.as_str())],
                actor,
                now,
                &mut out,
            )?;
        }
        HoldCommand::Warn {
            copy,
            text,
            rendered,
        } => {
            let value = if *rendered { None } else { text.as_deref() };
            let value = value.map(|v| if v.is_empty() { "" } else { v });
            if value.is_none() && !*rendered {
                let _ = writeln!(out, "nothing to change: give --text or --rendered");
            } else {
                edit_or_reset(
                    ledger,
                    copy,
                    EditField::Warning,
                    value,
                    actor,
                    now,
                    &mut out,
                )?;
            }
        }
        HoldCommand::Edit {
            copy,
            text,
            visibility,
            sensitive,
        } => {
            let sensitive = sensitive.map(|b| b.to_string());
            let changes: Vec<(EditField, &str)> = [
                (EditField::Text, text.as_deref()),
                (EditField::Visibility, visibility.as_deref()),
                (EditField::Sensitive, sensitive.as_deref()),
            ]
            .into_iter()
            .filter_map(|(f, v)| Some((f, v?)))
            .collect();
            if changes.is_empty() {
                let _ = writeln!(
                    out,
                    "nothing to change: give --text, --visibility or --sensitive"
                );
            }
            edit(ledger, copy, &changes, actor, now, &mut out)?;
        }
    }
    Ok((out, released_any))
}

/// The holds of `copy` that are still held (all of them must be, or nothing changes).
fn held_targets(ledger: &Ledger, copy: &HeldCopy) -> Result<Vec<String>, OperatorError> {
    let holds: Vec<_> = ledger
        .review_holds(&copy.route, &copy.post)?
        .into_iter()
        .filter(|h| copy.target.as_deref().is_none_or(|t| t == h.target))
        .collect();
    if holds.is_empty() {
        return Err(ReviewError::Unknown {
            route: copy.route.clone(),
            post: copy.post.clone(),
            target: copy.target.clone(),
        }
        .into());
    }
    let open: Vec<String> = holds
        .iter()
        .filter(|h| h.state == ReviewState::Held)
        .map(|h| h.target.clone())
        .collect();
    if open.is_empty() {
        let h = &holds[0];
        return Err(ReviewError::Decided {
            post: copy.post.clone(),
            target: h.target.clone(),
            state: h.state.as_str(),
            by: h.decided_by.clone(),
        }
        .into());
    }
    Ok(open)
}

/// Checks every change against every target first, then writes them: a change one target
/// refuses changes nothing anywhere.
fn edit(
    ledger: &Ledger,
    copy: &HeldCopy,
    changes: &[(EditField, &str)],
    actor: &str,
    now: DateTime<Utc>,
    out: &mut String,
) -> Result<(), OperatorError> {
    let targets = held_targets(ledger, copy)?;
    let reviewed = ledger
        .reviewed_post(&copy.route, &copy.post)?
        .ok_or_else(|| ReviewError::Unknown {
            route: copy.route.clone(),
            post: copy.post.clone(),
            target: copy.target.clone(),
        })?;
    let post = reviewed.post.map_err(|why| OperatorError::Unreadable {
        post: copy.post.clone(),
        why,
    })?;
    let mut checked = Vec::new();
    for t in &targets {
        let limits = review::limits_from(
            reviewed
                .holds
                .iter()
                .find(|h| &h.target == t)
                .and_then(|h| h.limits.as_deref()),
        );
        for (field, value) in changes {
            let value =
                review::check_edit(&post, (t, &limits), *field, value).map_err(|source| {
                    OperatorError::Refused {
                        target: t.clone(),
                        source,
                    }
                })?;
            checked.push((t.clone(), *field, value));
        }
    }
    for (t, field, value) in checked {
        ledger.edit_review(
            (&copy.route, &copy.post, &t),
            field,
            value.as_deref(),
            None,
            actor,
            now,
        )?;
        let _ = writeln!(
            out,
            "route {} target {t} post {}: {} {}",
            copy.route,
            copy.post,
            field.describe(),
            value.map_or_else(
                || "back to the rendered one".to_owned(),
                |v| format!("set to {v:?}")
            )
        );
    }
    Ok(())
}

/// One field set, or (with `None`) back to the rendered value.
fn edit_or_reset(
    ledger: &Ledger,
    copy: &HeldCopy,
    field: EditField,
    value: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
    out: &mut String,
) -> Result<(), OperatorError> {
    if let Some(v) = value {
        edit(ledger, copy, &[(field, v)], actor, now, out)
    } else {
        for t in held_targets(ledger, copy)? {
            ledger.edit_review((&copy.route, &copy.post, &t), field, None, None, actor, now)?;
            let _ = writeln!(
                out,
                "route {} target {t} post {}: {} back to the rendered one",
                copy.route,
                copy.post,
                field.describe()
            );
        }
        Ok(())
    }
}

/// `hold list`: posts held for review, then holds of an earlier birdbridge.
fn list(ledger: &Ledger, selection: &PartSelection, out: &mut String) -> Result<(), OperatorError> {
    let filter = QueueFilter {
        route: selection.route.clone(),
        target: selection.target.clone(),
        rule: None,
    };
    let page = ledger.review_queue(&filter, &QueueAt::First, u64::MAX >> 1)?;
    let mut listed = 0;
    for item in &page.items {
        if selection
            .post
            .as_ref()
            .is_some_and(|p| p != &item.source_post_id)
        {
            continue;
        }
        let Some(reviewed) = ledger.reviewed_post(&item.route, &item.source_post_id)? else {
            continue;
        };
        for h in reviewed
            .holds
            .iter()
            .filter(|h| h.state == ReviewState::Held)
        {
            if selection.target.as_ref().is_some_and(|t| t != &h.target) {
                continue;
            }
            listed += 1;
            let edits = ledger.review_edits(&h.route, &h.source_post_id, &h.target)?;
            let edited: Vec<String> = edits.iter().map(|(f, _)| f.describe()).collect();
            let _ = writeln!(
                out,
                "route {} target {} post {} ({}): held since {}: {}{}",
                h.route,
                h.target,
                h.source_post_id,
                item.posted_at.format("%Y-%m-%d"),
                h.held_at.format("%Y-%m-%d %H:%M:%S UTC"),
                h.reason,
                if edited.is_empty() {
                    String::new()
                } else {
                    format!("; edited: {}", edited.join(", "))
                }
            );
        }
    }
    let legacy = ledger.held(&selection.into())?;
    for p in &legacy {
        let _ = writeln!(out, "{} (held by an earlier birdbridge)", held_line(p));
    }
    if listed == 0 && legacy.is_empty() {
        out.push_str("no held posts\n");
    }
    Ok(())
}

/// `hold release` of a post held by an earlier birdbridge (a quarantined row): the next run
/// that reads it mirrors it.
fn legacy_release(
    ledger: &Ledger,
    (route, post, target): (&str, &str, Option<&str>),
    now: DateTime<Utc>,
    out: &mut String,
) -> Result<(), OperatorError> {
    let released = ledger.release_hold(route, post, target, now)?;
    if released.is_empty() {
        return Err(OperatorError::NotHeld {
            route: route.to_owned(),
            post: post.to_owned(),
            target: target.map(str::to_owned),
        });
    }
    for p in &released {
        let _ = writeln!(
            out,
            "route {} target {} post {}: released; the next run that reads it mirrors it",
            p.key.route, p.key.target, p.key.source_post_id
        );
    }
    Ok(())
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
