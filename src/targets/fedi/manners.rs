//! What a server refuses outright, decided before anything is planned for it: a server that
//! takes only posts with an image (Pixelfed) gets no post that starts a conversation without
//! one. The rule is an owned value, so the engine's decide step applies it on the blocking
//! pool next to the ledger, and the post is recorded as skipped with the reason.

use super::profile::InstanceProfile;
use crate::media;
use crate::render::{Rendered, ReplyTo};
use crate::targets::Refusal;

/// A server that needs an image on every post that starts a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagesOnly {
    /// The server kind, for the reason (`pixelfed`).
    kind: &'static str,
    /// The types it takes; empty when it does not say (then any image counts).
    types: Vec<String>,
}

impl ImagesOnly {
    /// The rule for a server with this profile.
    pub fn of(profile: &InstanceProfile) -> Self {
        Self {
            kind: profile.kind.as_str(),
            types: profile.supported_mime_types.clone(),
        }
    }
}

impl Refusal for ImagesOnly {
    /// Why the server cannot take this post: its first part starts a conversation without
    /// an attachment of a type the server takes. A reply goes out without one (Pixelfed
    /// takes it as a comment), so the later parts of a thread, and replies to mirrored
    /// posts, are not refused.
    fn refuses(&self, rendered: &Rendered) -> Option<String> {
        let first = rendered.parts.first()?;
        let has_image = first.media.iter().any(|m| {
            let mime = media::mime_type(m.kind, &media::location(&m.source));
            self.types.is_empty() || self.types.iter().any(|t| t == mime)
        });
        (first.reply_to == ReplyTo::Nothing && !has_image).then(|| {
            format!(
                "{} takes only posts with an image ({}); this post has none",
                self.kind,
                if self.types.is_empty() {
                    "any image type".to_owned()
                } else {
                    self.types.join(", ")
                }
            )
        })
    }
}
