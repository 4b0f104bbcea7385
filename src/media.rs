//! Media bytes for upload: read from a file or a zip entry (archive media), with the size
//! known before the bytes are read, a file name with the right extension and a MIME type.
//!
//! Remote media ([`MediaSource::Url`]) is downloaded once per post by [`stage`] (through the
//! guarded downloader in [`crate::fetch`]) and uploaded from its temporary file; the
//! functions here only read local media and report remote media as not local.

pub mod stage;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::model::{MediaKind, MediaSource};

/// Why media could not be read; the target then links the original instead.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file or zip entry cannot be read (missing, permissions, broken zip).
    #[error("cannot read media {location}: {message}")]
    Unreadable {
        /// Where the media was looked for.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// Larger than the server accepts for this kind.
    #[error("media {location} is {size} bytes; the server accepts at most {limit}")]
    TooLarge {
        /// Where the media is.
        location: String,
        /// Its size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// No bytes to read here (remote media, which [`stage`] downloads, or none at all).
    #[error("media at {location} is not a local file")]
    NotLocal {
        /// The URL or description.
        location: String,
    },
}

/// Bytes ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    /// The content.
    pub bytes: Vec<u8>,
    /// A file name with an extension matching the content type (servers and clients guess
    /// the type from it).
    pub file_name: String,
    /// The MIME type.
    pub mime: &'static str,
}

/// The size of the media in bytes, without reading it.
///
/// # Errors
/// [`MediaError::Unreadable`] or [`MediaError::NotLocal`].
pub fn size(source: &MediaSource) -> Result<u64, MediaError> {
    match source {
        MediaSource::File(path) => std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| unreadable(source, &e)),
        MediaSource::ZipEntry { archive, entry } => {
            let mut zip = open_zip(archive, source)?;
            let file = zip.by_name(entry).map_err(|e| unreadable(source, &e))?;
            Ok(file.size())
        }
        MediaSource::Url(_) | MediaSource::Unavailable => Err(not_local(source)),
    }
}

/// Reads the media, refusing it (before reading) when it is larger than `limit` bytes.
///
/// # Errors
/// See [`MediaError`].
pub fn read(source: &MediaSource, kind: MediaKind, limit: u64) -> Result<MediaFile, MediaError> {
    let size = size(source)?;
    if size > limit {
        return Err(MediaError::TooLarge {
            location: location(source),
            size,
            limit,
        });
    }
    let (bytes, name) = match source {
        MediaSource::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| unreadable(source, &e))?;
            (bytes, file_name_of(path))
        }
        MediaSource::ZipEntry { archive, entry } => {
            let mut zip = open_zip(archive, source)?;
            let mut file = zip.by_name(entry).map_err(|e| unreadable(source, &e))?;
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .map_err(|e| unreadable(source, &e))?;
            (bytes, file_name_of(Path::new(entry)))
        }
        MediaSource::Url(_) | MediaSource::Unavailable => return Err(not_local(source)),
    };
    let mime = mime_type(kind, &name);
    Ok(MediaFile {
        file_name: with_extension(&name, mime),
        bytes,
        mime,
    })
}

/// The MIME type of media of `kind` stored under `name`: by extension, else by kind (X
/// serves photos as JPEG and videos and GIFs as MP4).
pub fn mime_type(kind: MediaKind, name: &str) -> &'static str {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("webm") => "video/webm",
        _ => match kind {
            MediaKind::Photo => "image/jpeg",
            MediaKind::Video | MediaKind::Gif => "video/mp4",
        },
    }
}

/// The usual extension of a MIME type (JPEG's for types this module does not know).
pub fn extension(mime: &str) -> &'static str {
    match mime {
        "image/avif" => "avif",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        _ => "jpg",
    }
}

/// `name` with an extension that matches `mime` (kept when it already does).
pub fn with_extension(name: &str, mime: &str) -> String {
    if mime_type(MediaKind::Photo, name) == mime && Path::new(name).extension().is_some() {
        return name.to_owned();
    }
    let stem = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("media");
    format!("{stem}.{}", extension(mime))
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("media")
        .to_owned()
}

/// A media source as a person would locate it.
pub fn location(source: &MediaSource) -> String {
    match source {
        MediaSource::File(p) => p.display().to_string(),
        MediaSource::ZipEntry { archive, entry } => format!("{}!{entry}", archive.display()),
        MediaSource::Url(u) => u.clone(),
        MediaSource::Unavailable => "(not available)".to_owned(),
    }
}

fn open_zip(
    archive: &PathBuf,
    source: &MediaSource,
) -> Result<zip::ZipArchive<BufReader<File>>, MediaError> {
    let file = File::open(archive).map_err(|e| unreadable(source, &e))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| unreadable(source, &e))
}

fn unreadable(source: &MediaSource, err: &dyn std::fmt::Display) -> MediaError {
    MediaError::Unreadable {
        location: location(source),
        message: err.to_string(),
    }
}

fn not_local(source: &MediaSource) -> MediaError {
    MediaError::NotLocal {
        location: location(source),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rstest::rstest;
    use tempfile::TempDir;

    use super::*;

    #[rstest]
    #[case(MediaKind::Photo, "a.JPG", "image/jpeg", "a.JPG")]
    #[case(MediaKind::Photo, "a.png", "image/png", "a.png")]
    #[case(MediaKind::Gif, "123-abc.mp4", "video/mp4", "123-abc.mp4")]
    #[case(MediaKind::Photo, "noext", "image/jpeg", "noext.jpg")]
    #[case(MediaKind::Video, "clip.bin", "video/mp4", "clip.mp4")]
    fn names_carry_the_right_extension(
        #[case] kind: MediaKind,
        #[case] name: &str,
        #[case] mime: &str,
        #[case] file_name: &str,
    ) {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, b"12345").unwrap();
        let got = read(&MediaSource::File(path), kind, 100).unwrap();
        assert_eq!(got.mime, mime);
        assert_eq!(got.file_name, file_name);
        assert_eq!(got.bytes, b"12345");
    }

    #[test]
    fn zip_entries_are_read_and_sized_before_reading() {
        let dir = TempDir::new().unwrap();
        let archive = dir.path().join("a.zip");
        let mut zip = zip::ZipWriter::new(File::create(&archive).unwrap());
        zip.start_file(
            "data/tweets_media/1-x.png",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(&[7u8; 40]).unwrap();
        zip.finish().unwrap();
        let source = MediaSource::ZipEntry {
            archive,
            entry: "data/tweets_media/1-x.png".into(),
        };
        assert_eq!(size(&source).unwrap(), 40);
        let got = read(&source, MediaKind::Photo, 40).unwrap();
        assert_eq!((got.file_name.as_str(), got.bytes.len()), ("1-x.png", 40));
        assert!(matches!(
            read(&source, MediaKind::Photo, 39),
            Err(MediaError::TooLarge {
                size: 40,
                limit: 39,
                ..
            })
        ));
    }

    #[test]
    fn missing_and_remote_media_are_errors() {
        let missing = MediaSource::File("/nonexistent/x.jpg".into());
        assert!(matches!(
            read(&missing, MediaKind::Photo, 10),
            Err(MediaError::Unreadable { .. })
        ));
        let remote = MediaSource::Url("https://pbs.twimg.com/media/x.jpg".into());
        assert!(matches!(size(&remote), Err(MediaError::NotLocal { .. })));
    }
}
