//! Edited posts: a new version of a post whose earlier version was mirrored becomes an edit
//! of that version's statuses, or is recorded as skipped where the target cannot edit.

use chrono::{DateTime, Utc};
use tracing::info;

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

/// Finds the newest earlier version of `post` that was mirrored on `target_name` and
/// returns its statuses, recording the edit link; when the target cannot edit, records the
/// post as skipped instead of posting it a second time.
pub(super) fn edit_base(
    ledger: &Ledger,
    route: &str,
    target_name: &str,
    post: &Post,
    earlier: &[PostId],
    supports_edits: bool,
    now: DateTime<Utc>,
) -> Result<EditBase, StoreError> {
    for previous in earlier {
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
        if !supports_edits {
            let reason = format!(
                "new version of the edited post {previous}, which was mirrored; this target cannot edit"
            );
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
