//! Posts with parts left, kept in the ledger (`store/kept.rs`) for a source that cannot be
//! asked for an old item ([`super::Source::keeps_posts`]: a feed). The daemon keeps each
//! handled post of such a source that a route still needs, in the transaction that moves
//! the cursor past it, and drops the copy once no route needs it; the source offers the kept
//! copies again after a restart (or an operator change).
//!
//! X posts are not kept: a restart reads them again from the X API, which also tells that a
//! post was deleted (or its account made private) meanwhile, and such a post is then not
//! mirrored.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{CursorMove, Found};
use crate::model::Post;
use crate::store::{KeepPost, Ledger, StoreError, UnreadableKept};

/// A post to keep while its routes need it.
#[derive(Debug)]
pub(crate) struct Keep {
    /// The source's name.
    pub(crate) source: String,
    /// The routes reading it.
    pub(crate) routes: Vec<String>,
    /// The post.
    pub(crate) post: Post,
}

/// The post is in the ledger for every route: saves the cursor past it, and keeps the post
/// if a route still needs it, in one transaction, off the event loop.
pub(crate) async fn handled(
    ledger: &Arc<Ledger>,
    cursor: CursorMove,
    keep: Option<Keep>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    ledger
        .call(move |l| {
            let keep = keep.as_ref().map(|k| KeepPost {
                source: &k.source,
                routes: &k.routes,
                post: &k.post,
            });
            l.post_handled((&cursor.source, &cursor.value), keep, now)
        })
        .await
}

/// A kept post was delivered again: drops its copy if no route needs it any more.
pub(crate) async fn forget_if_settled(
    ledger: &Arc<Ledger>,
    source: &str,
    routes: Vec<String>,
    post_id: &str,
) -> Result<(), StoreError> {
    let (source, id) = (source.to_owned(), post_id.to_owned());
    ledger
        .call(move |l| l.forget_settled(&source, &routes, Some(&id)))
        .await?;
    Ok(())
}

/// The kept copies of `source` among `ids`, oldest first.
pub(super) async fn lookup(
    ledger: &Arc<Ledger>,
    source: &str,
    ids: Vec<String>,
) -> Result<Vec<Found>, StoreError> {
    let name = source.to_owned();
    let kept = ledger.call(move |l| l.kept_posts(&name, &ids)).await?;
    Ok(readable(kept))
}

/// The posts whose parts a previous run left to deliver on `routes`, from their kept
/// copies, oldest first; copies no route needs any more are dropped first.
pub(super) async fn recover(
    ledger: &Arc<Ledger>,
    source: &str,
    routes: Vec<String>,
) -> Result<Vec<Found>, StoreError> {
    let name = source.to_owned();
    let (pruned, ids, kept) = ledger
        .call(move |l| {
            let pruned = l.forget_settled(&name, &routes, None)?;
            let ids = super::unfinished_of(l, &routes)?;
            let kept = l.kept_posts(&name, &ids)?;
            Ok((pruned, ids, kept))
        })
        .await?;
    if pruned > 0 {
        info!(
            posts = pruned,
            "dropped the kept copies of feed posts that are done"
        );
    }
    let posts = readable(kept);
    let missing = ids.len().saturating_sub(posts.len());
    if missing > 0 {
        warn!(
            posts = missing,
            "feed posts with parts left have no kept copy (handled by an older birdbridge, or unreadable): a feed cannot be asked for an old item, so they wait in the ledger (see `birdbridge status`)"
        );
    }
    if !posts.is_empty() {
        info!(
            posts = posts.len(),
            "offering again the feed posts a previous run left unfinished"
        );
    }
    Ok(posts)
}

/// The copies that can be read, oldest first; the others are logged (their parts wait in
/// the ledger).
fn readable(kept: Vec<Result<Post, UnreadableKept>>) -> Vec<Found> {
    let mut posts = Vec::with_capacity(kept.len());
    for copy in kept {
        match copy {
            Ok(post) => posts.push(post),
            Err(err) => {
                warn!(error = %err, "a kept feed post cannot be offered again; its parts wait in the ledger");
            }
        }
    }
    posts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    posts.into_iter().map(Found::from).collect()
}
