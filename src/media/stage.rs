//! The per-post stage of downloaded media: each remote media item ([`MediaSource::Url`]) is
//! downloaded once through the guarded [`MediaFetcher`], into a temporary file, and every
//! target of every route reading the post's source uploads from that file (the daemon makes
//! one stage per post for all routes). The files are removed when the stage (and the last
//! upload using a file) is dropped.
//!
//! Size limits differ between targets: an item is downloaded with the cap of the first
//! target that asks for it; a target with a smaller cap refuses the staged file by its
//! size, and one with a larger cap than a download that was too large downloads again
//! (the only case of a second download).
//!
//! [`MediaSource::Url`]: crate::model::MediaSource::Url

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;
use tracing::debug;

use crate::fetch::{FetchError, MediaFetcher};
use crate::media;
use crate::model::MediaKind;

/// One downloaded item, ready to upload.
#[derive(Debug)]
pub struct Staged {
    /// The temporary file; removed on drop.
    pub path: tempfile::TempPath,
    /// Its size in bytes.
    pub size: u64,
    /// Its MIME type: as the server announced it, else guessed from the name and kind.
    pub mime: String,
    /// A file name with an extension matching the type.
    pub file_name: String,
}

/// What the stage remembers of one URL.
#[derive(Debug)]
enum Entry {
    Ready(Arc<Staged>),
    /// Larger than `cap`: a target with a larger cap may try again.
    TooLarge {
        cap: u64,
        reason: String,
    },
    /// Any other failure: not tried again within this stage.
    Failed(String),
}

/// See the module docs.
#[derive(Debug)]
pub struct MediaStage {
    allow_private: bool,
    dir: PathBuf,
    fetcher: Option<MediaFetcher>,
    entries: Mutex<HashMap<String, Arc<Mutex<Option<Entry>>>>>,
}

impl MediaStage {
    /// A stage for posts of a source with `allow_private_media` = `allow_private`,
    /// downloading into the system's temporary folder (systemd's `PrivateTmp=` empties it
    /// should the process die with files in it).
    pub fn new(allow_private: bool) -> Self {
        let fetcher = match MediaFetcher::shared() {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(error = %e, "remote media will be linked, not uploaded");
                None
            }
        };
        Self {
            allow_private,
            dir: std::env::temp_dir(),
            fetcher,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The item at `url`, downloaded now or earlier in this stage, if it is at most
    /// `max_bytes`; else why not (for the warning next to the link to the original).
    ///
    /// # Errors
    /// The reason, for a person.
    pub async fn get(
        &self,
        url: &str,
        kind: MediaKind,
        max_bytes: u64,
    ) -> Result<Arc<Staged>, String> {
        let slot = {
            let mut entries = self.entries.lock().await;
            Arc::clone(entries.entry(url.to_owned()).or_default())
        };
        // Held during the download: a second target asking for the same item waits for it.
        let mut entry = slot.lock().await;
        match &*entry {
            Some(Entry::Ready(staged)) if staged.size > max_bytes => {
                return Err(format!(
                    "{} bytes, the server accepts at most {max_bytes}",
                    staged.size
                ))
            }
            Some(Entry::Ready(staged)) => return Ok(Arc::clone(staged)),
            Some(Entry::TooLarge { cap, reason }) if *cap >= max_bytes => {
                return Err(reason.clone())
            }
            Some(Entry::Failed(reason)) => return Err(reason.clone()),
            Some(Entry::TooLarge { .. }) | None => {}
        }
        let Some(fetcher) = &self.fetcher else {
            return Err("the media downloader cannot be set up".to_owned());
        };
        debug!(url, max_bytes, "downloading media");
        let result = fetcher
            .download_to_file(url, self.allow_private, max_bytes, &self.dir)
            .await;
        let (new, out) = match result {
            Ok(d) => {
                let name = file_name_of(url);
                let mime = d
                    .content_type
                    .unwrap_or_else(|| media::mime_type(kind, &name).to_owned());
                let staged = Arc::new(Staged {
                    file_name: media::with_extension(&name, &mime),
                    path: d.path,
                    size: d.size,
                    mime,
                });
                (Entry::Ready(Arc::clone(&staged)), Ok(staged))
            }
            Err(e @ FetchError::TooLarge { .. }) => {
                let reason = e.to_string();
                (
                    Entry::TooLarge {
                        cap: max_bytes,
                        reason: reason.clone(),
                    },
                    Err(reason),
                )
            }
            Err(e) => (Entry::Failed(e.to_string()), Err(e.to_string())),
        };
        *entry = Some(new);
        out
    }
}

/// The last path segment of a URL (`.../media/abc.jpg?name=orig` gives `abc.jpg`).
fn file_name_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "media".to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::header;
    use axum::routing::get;
    use axum::Router;

    use super::*;

    /// Serves 1,000 bytes of PNG at `/a.png`, counting the requests.
    async fn serve(count: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/a.png", listener.local_addr().unwrap());
        let app = Router::new().route(
            "/a.png",
            get(move || {
                count.fetch_add(1, Ordering::SeqCst);
                async { ([(header::CONTENT_TYPE, "image/png")], vec![1u8; 1000]) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn an_item_is_downloaded_once_and_again_only_for_a_larger_cap() {
        let count = Arc::new(AtomicUsize::new(0));
        let url = serve(Arc::clone(&count)).await;
        let stage = MediaStage::new(true);
        let small = stage.get(&url, MediaKind::Photo, 500).await;
        assert!(small.unwrap_err().contains("larger than 500"));
        assert!(stage.get(&url, MediaKind::Photo, 400).await.is_err());
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "a smaller cap does not ask again"
        );
        let (a, b) = tokio::join!(
            stage.get(&url, MediaKind::Photo, 2000),
            stage.get(&url, MediaKind::Photo, 2000)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(Arc::ptr_eq(&a, &b), "two targets share one file");
        assert_eq!(
            (a.size, a.mime.as_str(), a.file_name.as_str()),
            (1000, "image/png", "a.png")
        );
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "downloaded again for the larger cap only"
        );
        assert!(stage.get(&url, MediaKind::Photo, 999).await.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 2);
        let path = a.path.to_path_buf();
        drop((a, b, stage));
        assert!(!path.exists(), "the file goes with the stage");
    }

    #[test]
    fn names_come_from_the_last_path_segment() {
        assert_eq!(
            file_name_of("https://pbs.twimg.com/media/AbC.jpg?name=orig"),
            "AbC.jpg"
        );
        assert_eq!(
            file_name_of(
                "https://video.twimg.com/ext_tw_video/1/pu/vid/avc1/1280x720/x.mp4?tag=12"
            ),
            "x.mp4"
        );
        assert_eq!(file_name_of("https://example.org/"), "media");
    }
}
