//! A post held for review keeps its downloaded media: each remote item is taken from the
//! offer's [`MediaStage`] (downloaded now, or already for another target) and copied under
//! the ledger's folder with its media id, so the desk shows it and the release uploads it
//! after the stage is gone. An item that cannot be downloaded stays a link; the desk says so.

use std::sync::Arc;

use tracing::warn;

use crate::media::stage::MediaStage;
use crate::model::{MediaKind, MediaSource, Post};
use crate::store::{Ledger, StoreError};

/// The most a kept image may weigh (16 MiB, Mastodon's image limit): a target with a lower
/// limit refuses the staged copy by its size, as it would any download.
const KEEP_IMAGE_BYTES: u64 = 16 * 1024 * 1024;

/// The most a kept video or GIF may weigh (99 MiB, Mastodon's video limit).
const KEEP_VIDEO_BYTES: u64 = 99 * 1024 * 1024;

/// Keeps a copy of each remote media item of a post just held on `route`.
pub(super) async fn keep_media(
    ledger: &Arc<Ledger>,
    route: &str,
    post: &Post,
    stage: &MediaStage,
) -> Result<(), StoreError> {
    for (index, m) in post.media.iter().enumerate() {
        let MediaSource::Url(url) = &m.source else {
            continue;
        };
        let cap = match m.kind {
            MediaKind::Photo => KEEP_IMAGE_BYTES,
            MediaKind::Video | MediaKind::Gif => KEEP_VIDEO_BYTES,
        };
        let staged = match stage.get(url, m.kind, cap).await {
            Ok(staged) => staged,
            Err(why) => {
                warn!(route, post = %post.id, url, %why, "held post: media not kept; the desk shows its link");
                continue;
            }
        };
        let (route, id) = (route.to_owned(), post.id.0.clone());
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        ledger
            .call(move |l| {
                l.keep_media_copy(&route, &id, index, &staged.path, &staged.mime)
                    .map(|_| ())
            })
            .await?;
    }
    Ok(())
}
