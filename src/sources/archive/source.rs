//! An archive as a [`Source`], for `backfill`: read whole before anything is written (a
//! broken archive writes nothing), then handed over by its first poll, oldest first. An
//! archive does not grow, so later polls find nothing; and its posts are handed over, not
//! copied (a large archive is most of a backfill's memory), so a lookup finds only the posts
//! not handed over yet.
//!
//! The cursor tells a person how far a backfill got (the post's id); resuming relies on the
//! ledger's rows, not on it.
//!
//! Media a post names that the archive does not hold become remote media on X's media host
//! (`remote.rs`), downloaded once per post through the stage this source makes for it; the
//! `t.co` links X did not expand are resolved by the drivers through
//! [`Source::short_links`].

use std::path::Path;
use std::sync::Arc;

use tracing::info;

use super::{Archive, ArchiveError, Malformed, RemoteMedia};
use crate::media::stage::MediaStage;
use crate::model::{Author, Post};
use crate::short_links::ShortLinks;
use crate::sources::{BoxFuture, CursorMove, Found, Source, SourceError};
use crate::store::Ledger;

/// A Twitter data archive read whole. See the module docs.
#[derive(Debug)]
pub struct ArchiveSource {
    name: String,
    owner: Author,
    /// The posts not handed over yet, oldest first.
    posts: Vec<Post>,
    malformed: Vec<Malformed>,
    circle_excluded: usize,
    remote: RemoteMedia,
    short_links: Option<ShortLinks>,
}

impl ArchiveSource {
    /// Opens and reads the archive at `path` whole; `name` is its cursor's key; the media
    /// it does not hold are fetched as `remote` says. Blocking: seconds to minutes for a
    /// large archive (call it off the event loop).
    ///
    /// # Errors
    /// See [`ArchiveError`]; nothing is returned from an archive that cannot be read whole.
    pub fn read(name: &str, path: &Path, remote: RemoteMedia) -> Result<Self, ArchiveError> {
        let archive = Archive::open(path)?;
        let mut contents = archive.load()?;
        let remote_media: usize = contents.posts.iter_mut().map(|p| remote.apply(p)).sum();
        info!(
            archive = %path.display(),
            owner = %archive.owner().username,
            posts = contents.posts.len(),
            malformed = contents.malformed.len(),
            circle_excluded = contents.circle_excluded,
            remote_media,
            "archive read"
        );
        Ok(Self {
            name: name.to_owned(),
            owner: archive.owner().clone(),
            posts: contents.posts,
            malformed: contents.malformed,
            circle_excluded: contents.circle_excluded,
            remote,
            short_links: None,
        })
    }

    /// The source resolving its `t.co` links with `links`.
    #[must_use]
    pub fn with_short_links(mut self, links: ShortLinks) -> Self {
        self.short_links = Some(links);
        self
    }

    /// The posts not handed over yet (circle posts not included).
    pub fn len(&self) -> usize {
        self.posts.len()
    }

    /// Whether every post was handed over (or the archive holds none).
    pub fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }

    /// The entries that could not be read as posts.
    pub fn malformed(&self) -> &[Malformed] {
        &self.malformed
    }

    /// How many circle posts were left out.
    pub fn circle_excluded(&self) -> usize {
        self.circle_excluded
    }
}

impl Source for ArchiveSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "archive"
    }

    fn account<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Author, SourceError>> {
        let owner = self.owner.clone();
        Box::pin(async move { Ok(owner) })
    }

    /// Every post, oldest first, the first time; nothing after.
    fn poll<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        let posts = std::mem::take(&mut self.posts);
        Box::pin(async move { Ok(posts.into_iter().map(Found::from).collect()) })
    }

    /// Among the posts not handed over yet.
    fn lookup<'a>(
        &'a mut self,
        _ledger: &'a Arc<Ledger>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Found>, SourceError>> {
        let found = self
            .posts
            .iter()
            .filter(|p| ids.contains(&p.id.0))
            .cloned()
            .map(Found::from)
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn handled(&mut self, post: &Post) -> CursorMove {
        CursorMove {
            source: self.name.clone(),
            value: post.id.0.clone(),
        }
    }

    /// The media the archive does not hold are downloaded (unless `missing_media =
    /// "link"`); the archive's own files are read where they are.
    fn media_stage(&self) -> Option<MediaStage> {
        self.remote
            .downloads()
            .then(|| MediaStage::new(self.remote.allow_private()))
    }

    fn short_links(&self) -> Option<&ShortLinks> {
        self.short_links.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first poll hands over every post, oldest first, and later polls nothing; a lookup
    /// finds only what was not handed over yet; the cursor is a post's id.
    #[tokio::test]
    async fn the_first_poll_hands_over_the_whole_archive() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
        let mut source = ArchiveSource::read("old", &path, RemoteMedia::default()).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let ledger = Arc::new(Ledger::open(&dir.path().join("ledger.sqlite")).unwrap());
        let held = source.len();
        assert!(held > 1);
        let account = source.account(&ledger).await.unwrap();
        let first = source.posts[0].id.0.clone();
        let found = source
            .lookup(&ledger, std::slice::from_ref(&first))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].post.author.username, account.username);

        let posts = source.poll(&ledger).await.unwrap();
        assert_eq!(posts.len(), held);
        assert!(posts
            .windows(2)
            .all(|w| w[0].post.created_at <= w[1].post.created_at));
        assert!(source.is_empty());
        assert!(source.poll(&ledger).await.unwrap().is_empty());
        assert!(source.lookup(&ledger, &[first]).await.unwrap().is_empty());
        let cursor = source.handled(&posts[1].post);
        assert_eq!(
            (cursor.source.as_str(), cursor.value.as_str()),
            ("old", posts[1].post.id.as_str())
        );
        assert!(
            source.media_stage().is_some(),
            "missing media are downloaded"
        );
    }
}
