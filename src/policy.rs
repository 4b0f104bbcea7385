//! Route policy: which posts a route mirrors, and the choices the renderer applies to the
//! ones it does. Pure: decisions are values, reasons are text for the ledger's audit trail.
//!
//! First version: own posts, own threads and quotes are mirrored; reposts and replies to
//! other accounts are skipped (mirroring them well needs the repost and reply options of
//! the fediverse-manners work). Circle posts never reach a route: the archive source drops
//! them.

use crate::config::{RouteSettings, Visibility};
use crate::model::{Post, PostKind};

/// The policy of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePolicy {
    /// Visibility of mirrored statuses.
    pub visibility: Visibility,
}

impl RoutePolicy {
    /// The policy a route's settings describe.
    pub fn from_settings(route: &RouteSettings) -> Self {
        Self {
            visibility: route.visibility,
        }
    }
}

/// Whether a route mirrors a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Render and deliver it.
    Mirror,
    /// Record it as skipped, with the rule that fired.
    Skip(String),
}

/// Decides whether a route mirrors `post`. The first version's rules are the same for
/// every route; configurable rules join [`RoutePolicy`] with the fediverse-manners work.
pub fn decide(post: &Post) -> Decision {
    match post.kind() {
        PostKind::Original | PostKind::Quote => Decision::Mirror,
        PostKind::Repost => Decision::Skip("repost: this route does not mirror reposts".to_owned()),
        PostKind::ReplyToOther => {
            Decision::Skip("reply to another account: this route does not mirror them".to_owned())
        }
    }
}
