//! Edited posts: a new version of a post whose earlier version was mirrored becomes an edit
//! of that version's statuses, or is recorded as skipped where the target cannot edit them
//! (it edits nothing, or it would make a status that is not public public).

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::model::{Post, PostId};
use crate::store::{Ledger, PartState, StoreError};

/// How an edited post goes to one target.
#[derive(Debug, Default)]
pub(super) struct EditBase {
    /// The statuses of the earlier version, by part index; empty when the post is new here.
    pub(super) remote_ids: Vec<String>,
    /// The post was recorded as skipped (the target cannot edit).
    pub(super) skipped: bool,
}

/// One edited post on one target, for [`edit_base`].
#[derive(Clone, Copy)]
pub(super) struct Asked<'a> {
    pub(super) route: &'a str,
    pub(super) target_name: &'a str,
    pub(super) post: &'a Post,
    /// Its earlier versions, newest first.
    pub(super) earlier: &'a [PostId],
    /// Whether the target edits statuses at all.
    pub(super) supports_edits: bool,
    /// Why the target would not edit these statuses although it edits others (a server that
    /// makes an edited status public, for parts that are not).
    pub(super) refused: Option<&'a str>,
}

/// Finds the newest earlier version of the post that was mirrored on the target and returns
/// its statuses, recording the edit link; when the target cannot edit them, records the post
/// as skipped (with the reason) instead of posting it a second time.
pub(super) fn edit_base(
    ledger: &Ledger,
    asked: Asked<'_>,
    now: DateTime<Utc>,
) -> Result<EditBase, StoreError> {
    let Asked {
        route,
        target_name,
        post,
        ..
    } = asked;
    for previous in asked.earlier {
        let parts = ledger.parts_of_post(route, previous.as_str(), target_name)?;
        // The statuses of the earlier version that are out there, in thread order.
        let remote_ids: Vec<String> = parts
            .iter()
            .map_while(|p| {
                (p.state == PartState::Posted)
                    .then(|| p.remote_id.clone())
                    .flatten()
            })
            .collect();
        if remote_ids.is_empty() {
            continue;
        }
        let cannot = if asked.supports_edits {
            asked.refused
        } else {
            Some("this target cannot edit")
        };
        if let Some(why) = cannot {
            let reason =
                format!("new version of the edited post {previous}, which was mirrored; {why}");
            warn!(route, target = target_name, post = %post.id, %reason, "edited post not edited");
            ledger.mark_skipped(route, post.id.as_str(), target_name, &reason, now)?;
            return Ok(EditBase {
                remote_ids: Vec::new(),
                skipped: true,
            });
        }
        ledger.record_edit(route, target_name, post.id.as_str(), previous.as_str(), now)?;
        info!(
            route,
            target = target_name,
            post = %post.id,
            previous = %previous,
            "edited post: editing the mirrored statuses"
        );
        return Ok(EditBase {
            remote_ids,
            skipped: false,
        });
    }
    Ok(EditBase::default())
}
