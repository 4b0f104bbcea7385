//! Targets: where rendered parts are delivered. A target also knows the limits of the
//! server behind it ([`TargetProfile`]), which the renderer obeys.
//!
//! Only the dry-run target exists so far. Targets form a closed set, so they are an enum
//! ([`AnyTarget`]) rather than a trait object (STYLE.md §2). The real fediverse target
//! will join it as another variant.

pub mod dry_run;

use crate::render::Part;

pub use dry_run::DryRunTarget;

/// How a server counts the length of a status. Each rule is one function in
/// [`crate::render::count`], shared by splitting and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountingRule {
    /// Mastodon: spoiler text plus text in grapheme clusters, every URL as
    /// `characters_reserved_per_url`, every mention as its local part.
    Mastodon,
    /// `GoToSocial` and similar: text plus spoiler in code points, URLs at full length.
    CodePoints,
}

/// The limits of one target server, as read from it (or, for the dry-run target, as
/// configured to emulate one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetProfile {
    /// Maximum length of one status under [`TargetProfile::counting`].
    pub max_characters: usize,
    /// What one URL counts for under the Mastodon rule.
    pub characters_reserved_per_url: usize,
    /// Attachments per status.
    pub max_media_attachments: usize,
    /// Maximum length of a media description (alt text), in characters.
    pub description_limit: usize,
    /// How the server counts.
    pub counting: CountingRule,
}

impl TargetProfile {
    /// The limits a stock Mastodon server announces; a safe assumption when a server
    /// cannot be asked.
    pub fn mastodon_default() -> Self {
        Self {
            max_characters: 500,
            characters_reserved_per_url: 23,
            max_media_attachments: 4,
            description_limit: 1500,
            counting: CountingRule::Mastodon,
        }
    }
}

/// One part, as handed to a target.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The route that mirrors the post.
    pub route: &'a str,
    /// The source post's id.
    pub source_post_id: &'a str,
    /// The part's position in the rendered thread.
    pub part_index: u32,
    /// The ledger's deterministic key for this part; a real server deduplicates on it.
    pub idempotency_key: &'a str,
    /// What to post.
    pub part: &'a Part,
    /// The remote status this part replies to, resolved from the ledger.
    pub in_reply_to: Option<&'a str>,
}

/// What a target reports after posting a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The remote status id.
    pub remote_id: String,
    /// The remote status URL, when the server gives one.
    pub url: Option<String>,
}

/// Why a delivery failed; the variant tells the pipeline what to do next.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Writing the output failed (dry-run file, disk full): retried later, then quarantined.
    #[error("cannot write dry-run output {path}: {source}")]
    Output {
        /// The output file.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// Every kind of target.
#[derive(Debug)]
pub enum AnyTarget {
    /// Writes what would be posted.
    DryRun(DryRunTarget),
}

impl AnyTarget {
    /// The target's limits.
    pub fn profile(&self) -> &TargetProfile {
        match self {
            AnyTarget::DryRun(t) => t.profile(),
        }
    }

    /// Delivers one part.
    #[expect(
        clippy::unused_async,
        reason = "network targets await; the dry run does not"
    )]
    pub async fn deliver(&mut self, out: Outgoing<'_>) -> Result<Delivered, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.deliver(out),
        }
    }

    /// Whether the target can change a status it posted (an edited post then becomes an
    /// edit instead of a second status).
    pub fn supports_edits(&self) -> bool {
        match self {
            AnyTarget::DryRun(_) => true,
        }
    }

    /// Makes the status `remote_id` show `out`'s part instead (PUT on a real server).
    #[expect(
        clippy::unused_async,
        reason = "network targets await; the dry run does not"
    )]
    pub async fn edit(
        &mut self,
        remote_id: &str,
        out: Outgoing<'_>,
    ) -> Result<Delivered, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.edit(remote_id, out),
        }
    }

    /// After a crash left a part in `posting`, finds out whether the target already has it.
    /// `Ok(None)` means it does not (or cannot tell), and the part is delivered again.
    #[expect(
        clippy::unused_async,
        reason = "network targets await; the dry run does not"
    )]
    pub async fn reconcile(
        &mut self,
        idempotency_key: &str,
    ) -> Result<Option<Delivered>, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.reconcile(idempotency_key),
        }
    }
}

impl AnyTarget {
    /// Builds the target a configuration section describes, or `None` for kinds this build
    /// cannot deliver to yet (real fediverse servers).
    pub fn from_settings(name: &str, settings: &crate::config::TargetSettings) -> Option<Self> {
        match settings {
            crate::config::TargetSettings::DryRun(s) => {
                Some(AnyTarget::DryRun(DryRunTarget::new(name, s)))
            }
            crate::config::TargetSettings::Fediverse(_) => None,
        }
    }

    /// Whether a person wants to see each delivered post (the dry-run target's purpose).
    pub fn shows_preview(&self) -> bool {
        matches!(self, AnyTarget::DryRun(_))
    }

    /// Whether this target writes its records to stdout, so previews must go to stderr.
    pub fn writes_stdout(&self) -> bool {
        match self {
            AnyTarget::DryRun(t) => t.writes_stdout(),
        }
    }
}
