//! The dry-run target: writes one JSON line per part with what a real status would carry,
//! and records results in the ledger like a real target, so a second run delivers nothing.
//!
//! Its "server" is the output file: a part's line carries its idempotency key, so after a
//! crash between writing and recording, reconciliation finds the line and the
//! part is adopted instead of written twice. On stdout there is nothing to look back at,
//! and an interrupted part is printed again.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{
    Attached, Call, Delivered, Memory, Outgoing, RepliesTo, Retracted, Retraction, Target,
    TargetError, TargetProfile,
};
use crate::config::DryRunTargetSettings;
use crate::model::MediaSource;
use crate::render::ReplyTo;

/// Where the JSON lines go.
#[derive(Debug)]
enum Output {
    Stdout,
    File { path: PathBuf, file: Option<File> },
}

/// See the module docs.
#[derive(Debug)]
pub struct DryRunTarget {
    name: String,
    profile: TargetProfile,
    output: Output,
}

impl DryRunTarget {
    /// A dry-run target named `name`, emulating a server with the configured limits.
    pub fn new(name: &str, settings: &DryRunTargetSettings) -> Self {
        let output = if settings.output == "-" {
            Output::Stdout
        } else {
            Output::File {
                path: PathBuf::from(&settings.output),
                file: None,
            }
        };
        Self {
            name: name.to_owned(),
            profile: TargetProfile {
                max_characters: settings.max_characters,
                characters_reserved_per_url: settings.characters_reserved_per_url,
                max_media_attachments: settings.max_media_attachments,
                description_limit: settings.description_limit,
                counting: super::CountingRule::Mastodon,
                max_spoiler_characters: None,
                supports_quote_posts: false,
                video_alone: false,
                own_links: true,
                at_handles: true,
            },
            output,
        }
    }

    /// Writes the part's line; with `action`, what it does to the status `remote_id`
    /// (an `"edit"`).
    fn write(
        &mut self,
        out: &Outgoing<'_>,
        remote_id: String,
        action: Option<&str>,
    ) -> Result<Delivered, TargetError> {
        let url = format!("https://dry-run.invalid/{}/{remote_id}", self.name);
        let mut record = self.record(out, &remote_id, &url);
        if let Some(action) = action {
            record["action"] = json!(action);
        }
        self.write_line(&record)?;
        Ok(Delivered {
            remote_id,
            url: Some(url),
            replies_to: RepliesTo::Unsaid,
        })
    }

    /// Writes one JSON line to the output, to disk before it returns.
    fn write_line(&mut self, record: &Value) -> Result<(), TargetError> {
        let line = record.to_string();
        match &mut self.output {
            Output::Stdout => {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{line}").map_err(|source| output_error("-", source))?;
            }
            Output::File { path, file } => {
                let f = match file {
                    Some(f) => f,
                    None => file.insert(open_append(path)?),
                };
                // One write per line, then to disk: the line must be there before the
                // ledger says "posted", as a real server's status would be.
                f.write_all(format!("{line}\n").as_bytes())
                    .and_then(|()| f.sync_data())
                    .map_err(|source| output_error(&path.display().to_string(), source))?;
            }
        }
        Ok(())
    }

    /// Looks for a line with this idempotency key in the output file.
    fn find(&self, idempotency_key: &str) -> Result<Option<Delivered>, TargetError> {
        let Output::File { path, .. } = &self.output else {
            return Ok(None);
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(output_error(&path.display().to_string(), source)),
        };
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| output_error(&path.display().to_string(), source))?;
            // A line cut short by a crash does not parse; it cannot be adopted either.
            let Ok(record) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if record["idempotency_key"] == idempotency_key {
                return Ok(Some(Delivered {
                    remote_id: record["status_id"].as_str().unwrap_or_default().to_owned(),
                    url: record["url"].as_str().map(str::to_owned),
                    replies_to: RepliesTo::Unsaid,
                }));
            }
        }
        Ok(None)
    }

    fn record(&self, out: &Outgoing<'_>, remote_id: &str, url: &str) -> Value {
        let part = out.part;
        let media: Vec<Value> = part
            .media
            .iter()
            .map(|m| {
                json!({
                    "kind": m.kind.as_str(),
                    "path": media_location(&m.source),
                    "description": m.description,
                })
            })
            .collect();
        let reply = match &part.reply_to {
            ReplyTo::Nothing => Value::Null,
            ReplyTo::PreviousPart => {
                json!({ "previous_part": out.part_index - 1, "status_id": out.in_reply_to })
            }
            ReplyTo::Status(_) => json!({ "mirrored_status": out.in_reply_to }),
        };
        json!({
            "target": self.name,
            "route": out.route,
            "source_post_id": out.source_post_id,
            "part": out.part_index,
            "idempotency_key": out.idempotency_key,
            "status_id": remote_id,
            "url": url,
            "text": part.text,
            "spoiler_text": part.spoiler_text,
            "sensitive": part.sensitive,
            "visibility": part.visibility.as_str(),
            "language": part.language,
            "in_reply_to": reply,
            "media": media,
        })
    }
}

impl Target for DryRunTarget {
    /// The limits it emulates.
    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    /// Nothing to learn: the limits are configured.
    fn connect<'a>(&'a mut self, _memory: &'a Memory) -> Call<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn remembered_profile(&self, _memory: &Memory) -> Option<TargetProfile> {
        Some(self.profile.clone())
    }

    fn supports_edits(&self) -> bool {
        true
    }

    /// Media go into the line as their locations; the attachments are not used. The
    /// status id is derived from the idempotency key, so it is the same whenever the same
    /// part is written.
    fn post<'a>(&'a mut self, out: Outgoing<'a>, _attached: &'a Attached) -> Call<'a, Delivered> {
        let key = out.idempotency_key;
        let written = self.write(&out, format!("dry-{}", &key[..16.min(key.len())]), None);
        Box::pin(async { written })
    }

    fn edit<'a>(
        &'a mut self,
        remote_id: &'a str,
        out: Outgoing<'a>,
        _attached: &'a Attached,
    ) -> Call<'a, Delivered> {
        let written = self.write(&out, remote_id.to_owned(), Some("edit"));
        Box::pin(async { written })
    }

    fn reconcile<'a>(
        &'a mut self,
        out: Outgoing<'a>,
        _attempt_at: DateTime<Utc>,
    ) -> Call<'a, Option<Delivered>> {
        let found = self.find(out.idempotency_key);
        Box::pin(async { found })
    }

    /// Writes what a server would be asked (`"action": "delete"` of a status, or
    /// `"unreblog"` of the status boosted) as a line of its own.
    fn retract<'a>(&'a mut self, what: Retraction<'a>) -> Call<'a, Retracted> {
        let (action, id) = match what {
            Retraction::Status(id) => ("delete", id),
            Retraction::Boost { original } => ("unreblog", original),
        };
        let record = json!({"target": self.name, "action": action, "status_id": id});
        let written = self.write_line(&record).map(|()| Retracted::Done);
        Box::pin(async { written })
    }

    fn shows_preview(&self) -> bool {
        true
    }

    fn writes_stdout(&self) -> bool {
        matches!(self.output, Output::Stdout)
    }
}

/// A media source as a person would locate it: a path, `archive.zip!entry`, or a URL.
pub fn media_location(source: &MediaSource) -> String {
    match source {
        MediaSource::File(p) => p.display().to_string(),
        MediaSource::ZipEntry { archive, entry } => format!("{}!{entry}", archive.display()),
        MediaSource::Url(u) => u.clone(),
        MediaSource::Unavailable => String::new(),
    }
}

fn open_append(path: &PathBuf) -> Result<File, TargetError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|source| output_error(&parent.display().to_string(), source))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| output_error(&path.display().to_string(), source))
}

fn output_error(path: &str, source: std::io::Error) -> TargetError {
    TargetError::Output {
        path: path.to_owned(),
        source,
    }
}
