//! X's media rules (`docs/x-target.md`, "Media"): which upload category a file goes in by
//! its type, how large each may be, how many a post holds, the alt-text limit, and the
//! processing state X reports after an upload.

use serde_json::Value;

/// An upload's category, which decides its size limit and what a post may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A still image (`tweet_image`): JPEG, PNG, WebP, a still GIF is sent as a GIF.
    Image,
    /// An animated GIF file (`tweet_gif`).
    Gif,
    /// A video (`tweet_video`): MP4 or `QuickTime`. A fediverse "gifv" is an MP4 and goes
    /// here.
    Video,
}

/// Bytes in a megabyte as X counts its limits.
const MB: u64 = 1024 * 1024;

impl Category {
    /// The category of a file of MIME type `mime`; `None` for types X does not take in a
    /// post.
    pub fn of_mime(mime: &str) -> Option<Self> {
        let mime = mime
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "image/gif" => Some(Category::Gif),
            "image/jpeg" | "image/pjpeg" | "image/png" | "image/webp" => Some(Category::Image),
            "video/mp4" | "video/quicktime" => Some(Category::Video),
            _ => None,
        }
    }

    /// The `media_category` X's upload takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Image => "tweet_image",
            Category::Gif => "tweet_gif",
            Category::Video => "tweet_video",
        }
    }

    /// The largest file X takes in this category: 5 MB, 15 MB, 512 MB.
    pub fn max_bytes(self) -> u64 {
        match self {
            Category::Image => 5 * MB,
            Category::Gif => 15 * MB,
            Category::Video => 512 * MB,
        }
    }
}

/// The longest alt text X stores, in characters.
pub const ALT_TEXT_MAX: usize = 1000;

/// Images one post holds at most.
pub const IMAGES_PER_POST: usize = 4;

/// Whether one post may carry media of these categories, in this order: up to four images,
/// or one GIF, or one video (never mixed).
pub fn fits_one_post(media: &[Category]) -> bool {
    match media {
        [] | [Category::Gif | Category::Video] => true,
        images => images.len() <= IMAGES_PER_POST && images.iter().all(|c| *c == Category::Image),
    }
}

/// How many of `media` (in order) the first post takes; the rest go to the next post.
pub fn first_post_takes(media: &[Category]) -> usize {
    match media.first() {
        None => 0,
        Some(Category::Gif | Category::Video) => 1,
        Some(Category::Image) => media
            .iter()
            .take(IMAGES_PER_POST)
            .take_while(|c| **c == Category::Image)
            .count(),
    }
}

/// Where X's processing of an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting to start.
    Pending,
    /// Being processed.
    InProgress,
    /// Ready to attach.
    Succeeded,
    /// X gave up on the file.
    Failed,
}

/// `processing_info` of a finalize or status answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processing {
    /// The state.
    pub state: State,
    /// Seconds X asks to wait before asking again.
    pub check_after_secs: Option<u64>,
    /// Percent done, when X says.
    pub progress_percent: Option<u64>,
    /// Why it failed, when X says.
    pub error: Option<String>,
}

impl Processing {
    /// Reads `data.processing_info`; its absence means the media is ready, as X documents.
    /// An unknown state counts as still in progress (the wait is bounded by the caller).
    pub fn read(data: &Value) -> Self {
        let info = &data["processing_info"];
        if !info.is_object() {
            return Self {
                state: State::Succeeded,
                check_after_secs: None,
                progress_percent: None,
                error: None,
            };
        }
        let state = match info["state"].as_str().unwrap_or_default() {
            "pending" => State::Pending,
            "succeeded" => State::Succeeded,
            "failed" => State::Failed,
            _ => State::InProgress,
        };
        let error = ["message", "name"]
            .iter()
            .find_map(|k| info["error"][*k].as_str())
            .map(str::to_owned);
        Self {
            state,
            check_after_secs: info["check_after_secs"].as_u64(),
            progress_percent: info["progress_percent"].as_u64(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use Category::{Gif, Image, Video};

    #[rstest]
    #[case("image/jpeg", Some(Image))]
    #[case("IMAGE/PNG; charset=binary", Some(Image))]
    #[case("image/gif", Some(Gif))]
    #[case("video/mp4", Some(Video))]
    #[case("audio/mpeg", None)]
    fn categories_by_type(#[case] mime: &str, #[case] expected: Option<Category>) {
        assert_eq!(Category::of_mime(mime), expected);
    }

    #[test]
    fn limits_are_x_documented_sizes() {
        assert_eq!(Image.max_bytes(), 5 * 1024 * 1024);
        assert_eq!(Gif.max_bytes(), 15 * 1024 * 1024);
        assert_eq!(Video.max_bytes(), 512 * 1024 * 1024);
    }

    #[rstest]
    #[case(&[], true, 0)]
    #[case(&[Image; 4], true, 4)]
    #[case(&[Image; 5], false, 4)]
    #[case(&[Video], true, 1)]
    #[case(&[Gif, Image], false, 1)]
    #[case(&[Image, Video], false, 1)]
    #[case(&[Video, Video], false, 1)]
    fn four_images_or_one_gif_or_one_video(
        #[case] media: &[Category],
        #[case] fits: bool,
        #[case] first: usize,
    ) {
        assert_eq!(fits_one_post(media), fits);
        assert_eq!(first_post_takes(media), first);
    }

    #[test]
    fn processing_is_read_and_absent_means_ready() {
        assert_eq!(
            Processing::read(&json!({"id": "1"})).state,
            State::Succeeded
        );
        let p = Processing::read(
            &json!({"processing_info": {"state": "pending", "check_after_secs": 5}}),
        );
        assert_eq!((p.state, p.check_after_secs), (State::Pending, Some(5)));
        let p = Processing::read(&json!({"processing_info": {"state": "failed",
            "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}}}));
        assert_eq!(p.state, State::Failed);
        assert_eq!(p.error.as_deref(), Some("Unsupported video format"));
    }
}
