//! The Twitter data archive source (a `.zip` or an unpacked folder), for backfill.
//!
//! [`Archive::open`] finds the posts files and the owner (cheap: no posts are read);
//! [`Archive::load`] streams the posts files one element at a time through
//! [`crate::normalize::archive`], so a large archive needs little more memory than its posts.
//!
//! Two generations are read:
//! - current (2019 on): `data/manifest.js` lists `data/tweets.js` (or `tweet.js`, or
//!   `tweets-partN.js`), the media folder, `note-tweet.js` (long posts) and the circle
//!   posts; without a manifest the files are found by name. Owner from the manifest's
//!   `userInfo`, else `data/account.js`.
//! - classic (before 2019): `data/js/tweets/YYYY_MM.js`, owner from
//!   `data/js/user_details.js`; no media files.
//!
//! Circle posts (`twitter-circle-tweet.js`) were shared with a chosen few and are never
//! returned, even when `tweets.js` holds them too. Of an edited post only the newest version
//! the archive holds is returned.

mod container;
mod jsfile;
mod manifest;
mod remote;
mod source;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use self::container::{Location, MediaIndex, Session};
pub use self::jsfile::ParseProblem;
pub use self::manifest::{parse_account, parse_user_details, Manifest};
pub use self::remote::RemoteMedia;
pub use self::source::ArchiveSource;
use crate::model::{Author, Post, PostId};
use crate::normalize::archive::{normalize_tweet, ArchivePost, TweetContext};
use crate::normalize::lenient::IdText;
use crate::normalize::note_tweet::{parse_note, NoteIndex};

const MANIFEST: &str = "data/manifest.js";
const ACCOUNT: &str = "data/account.js";
const USER_DETAILS: &str = "data/js/user_details.js";
const NOTES: &str = "data/note-tweet.js";
const YTD_WRAPPER: &str = "window.YTD.<name>.part0 = [";
const CLASSIC_WRAPPER: &str = "Grailbird.data.tweets_YYYY_MM = [";
const DEFAULT_MEDIA_DIRS: [&str; 2] = ["data/tweets_media", "data/tweet_media"];

/// An opened archive: its owner is known, its posts are not yet read.
#[derive(Debug)]
pub struct Archive {
    path: PathBuf,
    location: Location,
    owner: Author,
    layout: Layout,
}

/// Which files hold what, as archive-relative names.
#[derive(Debug, Clone)]
enum Layout {
    Current {
        tweet_files: Vec<String>,
        media_dirs: Vec<String>,
        note_files: Vec<String>,
        circle_files: Vec<String>,
    },
    Classic {
        month_files: Vec<String>,
    },
}

impl Layout {
    /// Finds the posts files: through the manifest, else by name, else a classic archive.
    fn detect(path: &Path, manifest: &Manifest, names: &[String]) -> Result<Self, ArchiveError> {
        let has = |name: &String| names.contains(name);
        // The files the manifest lists that the archive holds.
        let present = |listed: &[String]| -> Vec<String> {
            listed.iter().filter(|f| has(f)).cloned().collect()
        };
        let mut tweet_files = present(&manifest.tweet_files);
        if tweet_files.len() < manifest.tweet_files.len() {
            tracing::warn!(archive = %path.display(), listed = ?manifest.tweet_files, found = ?tweet_files, "posts files listed in the manifest are missing");
        }
        if tweet_files.is_empty() {
            tweet_files = posts_files_by_name(names);
        }
        if tweet_files.is_empty() {
            let mut month_files: Vec<String> = names
                .iter()
                .filter(|n| n.starts_with("data/js/tweets/") && is_js(n))
                .cloned()
                .collect();
            if month_files.is_empty() {
                return Err(ArchiveError::NoPosts {
                    path: path.to_owned(),
                });
            }
            month_files.sort();
            return Ok(Layout::Classic { month_files });
        }

        let mut media_dirs = manifest.media_dirs.clone();
        for dir in DEFAULT_MEDIA_DIRS {
            if !media_dirs.iter().any(|d| d == dir) {
                media_dirs.push(dir.to_owned());
            }
        }
        let mut note_files = present(&manifest.note_files);
        if note_files.is_empty() && has(&NOTES.to_owned()) {
            note_files.push(NOTES.to_owned());
        }
        let mut circle_files = present(&manifest.circle_files);
        for name in names {
            let file = name.trim_start_matches("data/");
            if file.starts_with("twitter-circle-tweet")
                && is_js(file)
                && !file.contains("media")
                && !circle_files.contains(name)
            {
                circle_files.push(name.clone());
            }
        }
        Ok(Layout::Current {
            tweet_files,
            media_dirs,
            note_files,
            circle_files,
        })
    }
}

fn is_js(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("js"))
}

/// What an archive holds, ready for backfill.
#[derive(Debug)]
pub struct ArchiveContents {
    /// Posts sorted oldest first (ties broken by id), circle posts removed.
    pub posts: Vec<Post>,
    /// Entries that could not be read as posts; the rest of the file was read.
    pub malformed: Vec<Malformed>,
    /// How many circle posts were excluded: the distinct posts named by the circle files.
    pub circle_excluded: usize,
}

/// A single post that could not be normalised: the model's neutral type, which the engine
/// records as skipped.
pub use crate::model::Malformed;

/// Why an archive cannot be read. Every message names the archive, and the file inside it
/// where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Nothing exists at the path: the configured path is wrong.
    #[error("archive {}: no such file or folder", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a file but not a readable zip: damaged or incomplete download; unpack it
    /// with another tool or download it again.
    #[error("archive {}: not a readable zip file", path.display())]
    Zip {
        /// The zip file.
        path: PathBuf,
        /// What the zip reader found.
        #[source]
        source: zip::result::ZipError,
    },
    /// A file of the archive (or the archive itself, when `file` is empty) could not be read:
    /// permissions, disk, or a damaged zip entry.
    #[error("archive {}: {}cannot read", archive.display(), file_prefix(file))]
    Read {
        /// The archive.
        archive: PathBuf,
        /// The archive-relative file name, empty for the archive itself.
        file: String,
        /// The reading error.
        #[source]
        source: std::io::Error,
    },
    /// A data file is not in the archive format (broken JSON, missing wrapper): the archive
    /// is damaged or was edited; nothing was loaded.
    #[error("archive {}: {file}: {problem}", archive.display())]
    Parse {
        /// The archive.
        archive: PathBuf,
        /// The archive-relative file name (`data/tweets.js`).
        file: String,
        /// What is wrong, with the position.
        problem: ParseProblem,
    },
    /// No posts file was found: this is not a Twitter archive, or not its top folder.
    #[error(
        "archive {}: no posts file found (looked for data/tweets.js, data/tweet.js and \
         data/tweets-partN.js, through data/manifest.js and by name, and for a classic \
         data/js/tweets/ folder)",
        path.display()
    )]
    NoPosts {
        /// The path given.
        path: PathBuf,
    },
    /// The archive does not say whose it is, so posts cannot be attributed or linked.
    #[error(
        "archive {}: cannot tell whose archive it is (no userInfo in data/manifest.js, no \
         username in data/account.js or data/js/user_details.js)",
        path.display()
    )]
    NoOwner {
        /// The path given.
        path: PathBuf,
    },
}

fn file_prefix(file: &str) -> String {
    if file.is_empty() {
        String::new()
    } else {
        format!("{file}: ")
    }
}

impl Archive {
    /// Opens an archive (a zip file or an unpacked folder) and finds its posts files and its
    /// owner. Reads only the directory, the manifest and the account file.
    ///
    /// # Errors
    /// [`ArchiveError`]: missing path, unreadable zip, broken manifest or account file, no
    /// posts file, no owner.
    pub fn open(path: &Path) -> Result<Self, ArchiveError> {
        let (mut session, names) = Session::open(path)?;
        let has = |name: &str| names.iter().any(|n| n == name);
        let manifest = if has(MANIFEST) {
            session.parse_file(MANIFEST, Manifest::parse)?
        } else {
            Manifest::default()
        };
        let layout = Layout::detect(path, &manifest, &names)?;
        let owner = match (&layout, manifest.owner) {
            (Layout::Current { .. }, Some(owner)) => Some(owner),
            (Layout::Current { .. }, None) if has(ACCOUNT) => {
                session.parse_file(ACCOUNT, parse_account)?
            }
            (Layout::Classic { .. }, _) if has(USER_DETAILS) => {
                session.parse_file(USER_DETAILS, parse_user_details)?
            }
            _ => None,
        };
        let owner = owner.ok_or_else(|| ArchiveError::NoOwner {
            path: path.to_owned(),
        })?;
        tracing::debug!(archive = %path.display(), owner = %owner.username, layout = ?layout, "archive opened");
        Ok(Archive {
            path: path.to_owned(),
            location: session.location().clone(),
            owner,
            layout,
        })
    }

    /// The archive's owner, the author of every post in it.
    pub fn owner(&self) -> &Author {
        &self.owner
    }

    /// The path the archive was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every post, oldest first. Entries that cannot be read as posts are reported in
    /// [`ArchiveContents::malformed`] and skipped; circle posts are left out.
    ///
    /// # Errors
    /// [`ArchiveError`] when a file cannot be read at all (I/O, broken JSON, missing
    /// wrapper); then nothing is returned, because a half-read archive would silently lose
    /// posts.
    pub fn load(&self) -> Result<ArchiveContents, ArchiveError> {
        let mut session = Session::reopen(&self.path, &self.location)?;
        let mut found = Found::default();
        let mut circle = HashSet::new();

        match &self.layout {
            Layout::Current {
                tweet_files,
                media_dirs,
                note_files,
                circle_files,
            } => {
                for file in circle_files {
                    session.stream(file, YTD_WRAPPER, |i, raw| match element_id(raw) {
                        Some(id) => {
                            circle.insert(id);
                        }
                        None => found.malformed.push(Malformed {
                            id: None,
                            location: entry_location(file, i),
                            reason: "circle post without an id; cannot make sure it stays private"
                                .into(),
                        }),
                    })?;
                }
                let mut notes = NoteIndex::default();
                for file in note_files {
                    // A broken note costs only the full text of one long post, which is
                    // still returned truncated; so it is logged, not reported as skipped.
                    session.stream(file, YTD_WRAPPER, |i, raw| match parse_note(raw.get()) {
                        Ok(note) => notes.insert(note),
                        Err(reason) => tracing::warn!(
                            archive = %self.path.display(),
                            location = %entry_location(file, i),
                            reason,
                            "long-post note skipped"
                        ),
                    })?;
                }
                let media = session.media_index(media_dirs);
                self.read_posts(
                    &mut session,
                    tweet_files,
                    YTD_WRAPPER,
                    &notes,
                    &media,
                    &mut found,
                )?;
            }
            Layout::Classic { month_files } => {
                let media = MediaIndex::empty(session.location());
                let notes = NoteIndex::default();
                self.read_posts(
                    &mut session,
                    month_files,
                    CLASSIC_WRAPPER,
                    &notes,
                    &media,
                    &mut found,
                )?;
            }
        }

        let Found {
            posts: mut loaded,
            malformed,
        } = found;
        let read = loaded.len();
        let mut seen = HashSet::with_capacity(loaded.len());
        loaded.retain(|p| seen.insert(p.post.id.clone()));
        let duplicates = read - loaded.len();
        let before_circle = loaded.len();
        loaded.retain(|p| !circle.contains(p.post.id.as_str()));
        let circle_in_posts = before_circle - loaded.len();
        let superseded = drop_superseded_edits(&mut loaded);

        let mut posts: Vec<Post> = loaded.into_iter().map(|p| p.post).collect();
        posts.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| numeric_order(&a.id, &b.id))
        });
        tracing::info!(
            archive = %self.path.display(),
            posts = posts.len(),
            malformed = malformed.len(),
            circle = circle.len(),
            circle_in_posts,
            superseded_edits = superseded,
            duplicates,
            "archive loaded"
        );
        Ok(ArchiveContents {
            posts,
            malformed,
            circle_excluded: circle.len(),
        })
    }

    fn read_posts(
        &self,
        session: &mut Session,
        files: &[String],
        wrapper: &'static str,
        notes: &NoteIndex,
        media: &MediaIndex,
        found: &mut Found,
    ) -> Result<(), ArchiveError> {
        let locate = |name: &str| media.locate(name);
        let ctx = TweetContext {
            owner: &self.owner,
            notes,
            locate_media: &locate,
        };
        for file in files {
            session.stream(file, wrapper, |i, raw| {
                match normalize_tweet(raw.get(), &ctx) {
                    Ok(post) => found.posts.push(post),
                    Err(err) => found.malformed.push(Malformed {
                        id: err.id,
                        location: entry_location(file, i),
                        reason: err.reason,
                    }),
                }
            })?;
        }
        Ok(())
    }
}

/// What the posts files gave, before circle posts, duplicates and old edits are dropped.
#[derive(Default)]
struct Found {
    posts: Vec<ArchivePost>,
    malformed: Vec<Malformed>,
}

/// Posts files found by name when there is no usable manifest: `data/tweets.js`,
/// `data/tweet.js`, then `data/tweets-partN.js` / `data/tweet-partN.js` in part order.
fn posts_files_by_name(names: &[String]) -> Vec<String> {
    let mut found: Vec<(u32, &String)> = names
        .iter()
        .filter_map(|name| {
            let file = name.strip_prefix("data/")?.strip_suffix(".js")?;
            let rest = file
                .strip_prefix("tweets")
                .or_else(|| file.strip_prefix("tweet"))?;
            if rest.is_empty() {
                return Some((0, name));
            }
            let part = rest.strip_prefix("-part")?.parse().ok()?;
            Some((part, name))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name.clone()).collect()
}

fn entry_location(file: &str, index: usize) -> String {
    format!("{file}, entry {}", index + 1)
}

/// The id of a circle-file element (`{"tweet": {"id_str": ...}}` or the bare object).
fn element_id(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        tweet: Option<&'a RawValue>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Ids {
        id_str: Option<IdText>,
        id: Option<IdText>,
        #[serde(rename = "tweetId")]
        tweet_id: Option<IdText>,
    }
    let inner = serde_json::from_str::<Wrapped<'_>>(raw.get())
        .ok()?
        .tweet
        .map_or(raw.get(), RawValue::get);
    let ids: Ids = serde_json::from_str(inner).ok()?;
    ids.id_str
        .or(ids.id)
        .or(ids.tweet_id)
        .map(|id| id.0)
        .filter(|id| !id.is_empty())
}

/// Drops every edited post of which a newer version was loaded; returns how many.
fn drop_superseded_edits(loaded: &mut Vec<ArchivePost>) -> usize {
    if loaded.iter().all(|p| p.edit_versions.is_empty()) {
        return 0;
    }
    let present: HashSet<PostId> = loaded.iter().map(|p| p.post.id.clone()).collect();
    let before = loaded.len();
    loaded.retain(|p| {
        let versions = &p.edit_versions;
        let newer = versions
            .iter()
            .position(|v| *v == p.post.id)
            .map_or(&versions[..0], |at| &versions[at + 1..]);
        !newer.iter().any(|v| present.contains(v))
    });
    before - loaded.len()
}

/// Orders ids numerically when both are decimal numbers, else as text.
fn numeric_order(a: &PostId, b: &PostId) -> Ordering {
    let numeric = |id: &PostId| !id.0.is_empty() && id.0.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.0.trim_start_matches('0'), b.0.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.0.cmp(&b.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_posts_files_by_name_in_part_order() {
        let names: Vec<String> = [
            "data/tweets-part2.js",
            "data/like.js",
            "data/tweets.js",
            "data/tweets-part10.js",
            "data/tweets-part1.js",
            "data/tweet-headers.js",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            posts_files_by_name(&names),
            [
                "data/tweets.js",
                "data/tweets-part1.js",
                "data/tweets-part2.js",
                "data/tweets-part10.js"
            ]
        );
    }

    #[test]
    fn orders_ids_as_numbers() {
        let (a, b) = (PostId::new("999"), PostId::new("1000"));
        assert_eq!(numeric_order(&a, &b), Ordering::Less);
        assert_eq!(numeric_order(&b, &b), Ordering::Equal);
    }
}
