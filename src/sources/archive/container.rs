//! Where an archive's files are: an unpacked folder or a zip file, possibly with everything
//! one folder down (an archive zipped again by hand). Hides the difference behind
//! archive-relative names such as `data/tweets.js`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use zip::ZipArchive;

use super::jsfile::{stream_array, JsError, ParseProblem};
use super::ArchiveError;
use crate::model::MediaSource;

/// Large enough that serde's byte-by-byte reads rarely reach the file or the inflater.
const READ_BUFFER: usize = 256 * 1024;

/// Where the archive's `data/` folder is.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// An unpacked archive; `root` holds `data/`.
    Dir { root: PathBuf },
    /// A zip file; entries are named `<prefix>data/...`.
    Zip { file: PathBuf, prefix: String },
}

/// An open archive for reading files; a zip's directory is read once per session.
pub(crate) struct Session {
    /// The path the user gave, for messages.
    path: PathBuf,
    location: Location,
    zip: Option<ZipArchive<BufReader<File>>>,
}

impl Session {
    /// Opens the archive at `path` and lists its data files (archive-relative names of the
    /// files directly in `data/` and under `data/js/`; media folders are not listed).
    pub(crate) fn open(path: &Path) -> Result<(Session, Vec<String>), ArchiveError> {
        let metadata = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ArchiveError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                ArchiveError::Read {
                    archive: path.to_owned(),
                    file: String::new(),
                    source,
                }
            }
        })?;
        if metadata.is_dir() {
            let root =
                if !path.join("data").is_dir() && path.file_name().is_some_and(|n| n == "data") {
                    // Pointed at `data/` itself.
                    path.parent()
                        .map_or_else(|| path.to_owned(), Path::to_owned)
                } else {
                    path.to_owned()
                };
            let mut names = Vec::new();
            for dir in ["data", "data/js", "data/js/tweets"] {
                list_files(&root, dir, &mut names);
            }
            let session = Session {
                path: path.to_owned(),
                location: Location::Dir { root },
                zip: None,
            };
            return Ok((session, names));
        }
        let zip = open_zip(path)?;
        let prefix = zip_prefix(zip.file_names());
        let names = zip
            .file_names()
            .filter_map(|name| name.strip_prefix(prefix.as_str()))
            .filter(|rel| {
                rel.strip_prefix("data/").is_some_and(|rest| {
                    !rest.is_empty() && (!rest.contains('/') || rest.starts_with("js/"))
                }) && !rel.ends_with('/')
            })
            .map(str::to_owned)
            .collect();
        let session = Session {
            path: path.to_owned(),
            location: Location::Zip {
                file: path.to_owned(),
                prefix,
            },
            zip: Some(zip),
        };
        Ok((session, names))
    }

    /// Opens the archive again at a location found by [`Session::open`].
    pub(crate) fn reopen(path: &Path, location: &Location) -> Result<Session, ArchiveError> {
        let zip = match location {
            Location::Dir { .. } => None,
            Location::Zip { file, .. } => Some(open_zip(file)?),
        };
        Ok(Session {
            path: path.to_owned(),
            location: location.clone(),
            zip,
        })
    }

    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    /// Reads a small file whole.
    fn read_to_string(&mut self, name: &str) -> Result<String, ArchiveError> {
        let mut text = String::new();
        self.with_reader(name, |reader| {
            reader.read_to_string(&mut text).map_err(JsError::Io)
        })?;
        Ok(text)
    }

    /// Reads a small file whole and parses it with `parse`.
    pub(crate) fn parse_file<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseProblem>,
    ) -> Result<T, ArchiveError> {
        let text = self.read_to_string(name)?;
        parse(&text).map_err(|problem| ArchiveError::Parse {
            archive: self.path.clone(),
            file: name.to_owned(),
            problem,
        })
    }

    /// Streams the wrapped array in `name`, element by element.
    pub(crate) fn stream(
        &mut self,
        name: &str,
        expected: &'static str,
        each: impl FnMut(usize, &RawValue),
    ) -> Result<usize, ArchiveError> {
        self.with_reader(name, |reader| stream_array(reader, expected, each))
    }

    fn with_reader<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&mut dyn BufRead) -> Result<T, JsError>,
    ) -> Result<T, ArchiveError> {
        let result = match (&self.location, self.zip.as_mut()) {
            (Location::Zip { prefix, .. }, Some(zip)) => {
                match zip.by_name(&format!("{prefix}{name}")) {
                    Ok(entry) => read(&mut BufReader::with_capacity(READ_BUFFER, entry)),
                    Err(err) => Err(JsError::Io(err.into())),
                }
            }
            (Location::Dir { root }, _) | (Location::Zip { file: root, .. }, None) => {
                match File::open(root.join(name)) {
                    Ok(file) => read(&mut BufReader::with_capacity(READ_BUFFER, file)),
                    Err(err) => Err(JsError::Io(err)),
                }
            }
        };
        result.map_err(|err| match err {
            JsError::Problem(problem) => ArchiveError::Parse {
                archive: self.path.clone(),
                file: name.to_owned(),
                problem,
            },
            JsError::Io(source) => ArchiveError::Read {
                archive: self.path.clone(),
                file: name.to_owned(),
                source,
            },
        })
    }

    /// Indexes the media files in `dirs` (archive-relative folders), first folder first.
    pub(crate) fn media_index(&self, dirs: &[String]) -> MediaIndex {
        let mut files = HashMap::new();
        for (n, dir) in dirs.iter().enumerate() {
            let mut add = |file_name: &str| {
                files.entry(file_name.to_owned()).or_insert(n);
            };
            match (&self.location, self.zip.as_ref()) {
                (Location::Zip { prefix, .. }, Some(zip)) => {
                    let folder = format!("{prefix}{dir}/");
                    for name in zip.file_names() {
                        if let Some(file_name) = name.strip_prefix(folder.as_str()) {
                            if !file_name.is_empty() && !file_name.contains('/') {
                                add(file_name);
                            }
                        }
                    }
                }
                (Location::Dir { root }, _) | (Location::Zip { file: root, .. }, None) => {
                    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|t| t.is_file()) {
                            if let Some(file_name) = entry.file_name().to_str() {
                                add(file_name);
                            }
                        }
                    }
                }
            }
        }
        MediaIndex {
            dirs: dirs.to_vec(),
            files,
            location: self.location.clone(),
        }
    }
}

/// The media files of an archive by file name (`<post id>-<basename>`).
#[derive(Debug)]
pub(crate) struct MediaIndex {
    dirs: Vec<String>,
    files: HashMap<String, usize>,
    location: Location,
}

impl MediaIndex {
    /// An index that finds nothing (classic archives hold no media).
    pub(crate) fn empty(location: &Location) -> Self {
        MediaIndex {
            dirs: Vec::new(),
            files: HashMap::new(),
            location: location.clone(),
        }
    }

    /// Where the file `file_name` can be read, if the archive holds it.
    pub(crate) fn locate(&self, file_name: &str) -> Option<MediaSource> {
        let dir = &self.dirs[*self.files.get(file_name)?];
        Some(match &self.location {
            Location::Dir { root } => MediaSource::File(root.join(dir).join(file_name)),
            Location::Zip { file, prefix } => MediaSource::ZipEntry {
                archive: file.clone(),
                entry: format!("{prefix}{dir}/{file_name}"),
            },
        })
    }
}

fn open_zip(path: &Path) -> Result<ZipArchive<BufReader<File>>, ArchiveError> {
    let file = File::open(path).map_err(|source| ArchiveError::Read {
        archive: path.to_owned(),
        file: String::new(),
        source,
    })?;
    ZipArchive::new(BufReader::new(file)).map_err(|source| ArchiveError::Zip {
        path: path.to_owned(),
        source,
    })
}

/// The folder the archive's `data/` sits in inside a zip: `""` normally, `"<folder>/"` when
/// the unpacked archive was zipped again.
fn zip_prefix<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut nested = None;
    for name in names {
        if name.starts_with("data/") {
            return String::new();
        }
        if nested.is_none() {
            if let Some((top, rest)) = name.split_once('/') {
                if rest.starts_with("data/") && !top.is_empty() {
                    nested = Some(format!("{top}/"));
                }
            }
        }
    }
    nested.unwrap_or_default()
}

/// Adds the archive-relative names of the files in `root/dir` to `names`.
fn list_files(root: &Path, dir: &str, names: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            if let Some(file_name) = entry.file_name().to_str() {
                names.push(format!("{dir}/{file_name}"));
            }
        }
    }
}
