//! Media a post names but its archive does not hold (classic archives hold none; current
//! ones may miss some): the archive source makes them remote media on X's media host
//! (`pbs.twimg.com` for photos, `video.twimg.com` for videos and GIFs), so that delivery
//! downloads each once per post through the post's `MediaStage` and the guarded fetcher, as
//! for live media, and uploads it with its description. The original's address stays the
//! media's `original_url`: where a download fails, that link goes into the text instead,
//! with the description (`engine/attach.rs`).
//!
//! Only addresses on X's two media hosts are fetched; anything else an archive names is
//! linked as before. `media_host` reaches those hosts somewhere else (a local stand-in in
//! tests), keeping the path; it does not lift the private-address guard, which only
//! `allow_private_media` does.

use url::Url;

use crate::config::{ArchiveSourceSettings, MissingMedia};
use crate::model::{MediaKind, MediaSource, Post};

/// X's media hosts, the only ones an archive's missing media are fetched from.
const X_MEDIA_HOSTS: [&str; 2] = ["pbs.twimg.com", "video.twimg.com"];

/// How an archive source fetches the media its archive does not hold. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct RemoteMedia {
    missing: MissingMedia,
    /// Scheme, host and port to use instead of X's media hosts; no trailing slash.
    host: Option<String>,
    allow_private: bool,
}

impl RemoteMedia {
    /// As the archive source's settings say.
    pub fn from_settings(settings: &ArchiveSourceSettings) -> Self {
        Self {
            missing: settings.missing_media,
            host: settings.media_host.clone(),
            allow_private: settings.allow_private_media,
        }
    }

    /// Whether missing media are downloaded at all (`missing_media = "download"`).
    pub fn downloads(&self) -> bool {
        self.missing == MissingMedia::Download
    }

    /// The source's `allow_private_media`, for the stage that downloads.
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Makes each media item of `post` that is not in the archive and whose original is on
    /// X's media hosts a remote one; returns how many.
    pub fn apply(&self, post: &mut Post) -> usize {
        if !self.downloads() {
            return 0;
        }
        let mut made = 0;
        for m in &mut post.media {
            if m.source != MediaSource::Unavailable {
                continue;
            }
            if let Some(url) = m
                .original_url
                .as_deref()
                .and_then(|o| self.download_url(o, m.kind))
            {
                m.source = MediaSource::Url(url);
                made += 1;
            }
        }
        made
    }

    /// Where to download the media whose original is `original`: a photo in its large
    /// rendition (X's photo URL format, `docs/formats.md`), anything else as named, on
    /// `host` when one is set; `None` when `original` is not on X's media hosts.
    fn download_url(&self, original: &str, kind: MediaKind) -> Option<String> {
        let mut url = Url::parse(original).ok()?;
        let on_x = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|h| X_MEDIA_HOSTS.contains(&h));
        if !on_x {
            return None;
        }
        if url.scheme() == "http" {
            url.set_scheme("https").ok()?;
        }
        if kind == MediaKind::Photo && url.query().is_none() {
            let path = url.path().to_owned();
            if let Some((stem, format)) = path
                .strip_prefix("/media/")
                .and_then(|name| name.rsplit_once('.'))
                .filter(|(stem, format)| !stem.is_empty() && !format.is_empty())
            {
                url.set_path(&format!("/media/{stem}"));
                url.set_query(Some(&format!("format={format}&name=large")));
            }
        }
        Some(match &self.host {
            None => url.to_string(),
            Some(host) => {
                let rest = &url[url::Position::BeforePath..];
                format!("{host}{rest}")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn remote(host: Option<&str>) -> RemoteMedia {
        RemoteMedia {
            missing: MissingMedia::Download,
            host: host.map(str::to_owned),
            allow_private: false,
        }
    }

    #[rstest]
    #[case(
        "https://pbs.twimg.com/media/DSff7Gh8VAAsun.jpg",
        MediaKind::Photo,
        None,
        Some("https://pbs.twimg.com/media/DSff7Gh8VAAsun?format=jpg&name=large")
    )]
    #[case(
        "http://pbs.twimg.com/media/A.png",
        MediaKind::Photo,
        None,
        Some("https://pbs.twimg.com/media/A?format=png&name=large")
    )]
    #[case(
        "https://pbs.twimg.com/media/A.jpg",
        MediaKind::Photo,
        Some("http://127.0.0.1:8080"),
        Some("http://127.0.0.1:8080/media/A?format=jpg&name=large")
    )]
    #[case(
        "https://video.twimg.com/ext_tw_video/1/pu/vid/1280x720/k3.mp4?tag=10",
        MediaKind::Video,
        Some("http://127.0.0.1:8080"),
        Some("http://127.0.0.1:8080/ext_tw_video/1/pu/vid/1280x720/k3.mp4?tag=10")
    )]
    #[case(
        "https://video.twimg.com/tweet_video/G.mp4",
        MediaKind::Gif,
        None,
        Some("https://video.twimg.com/tweet_video/G.mp4")
    )]
    #[case(
        "https://pbs.twimg.com/tweet_video_thumb/G.jpg",
        MediaKind::Photo,
        None,
        Some("https://pbs.twimg.com/tweet_video_thumb/G.jpg")
    )]
    #[case("https://example.org/media/A.jpg", MediaKind::Photo, None, None)]
    #[case(
        "https://pbs.twimg.com.example.org/media/A.jpg",
        MediaKind::Photo,
        None,
        None
    )]
    #[case("file:///media/A.jpg", MediaKind::Photo, None, None)]
    #[case("not a url", MediaKind::Photo, None, None)]
    fn only_x_media_hosts_are_fetched(
        #[case] original: &str,
        #[case] kind: MediaKind,
        #[case] host: Option<&str>,
        #[case] want: Option<&str>,
    ) {
        assert_eq!(
            remote(host).download_url(original, kind).as_deref(),
            want,
            "{original}"
        );
    }
}
