//! Targets: where rendered parts are delivered. A target also knows the limits of the
//! server behind it ([`TargetProfile`]), which the renderer obeys.
//!
//! Targets form a closed set, so they are an enum ([`AnyTarget`]) rather than a trait
//! object (STYLE.md §2): the dry-run target, and the fediverse target ([`fedi`]).

pub mod dry_run;
pub mod fedi;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::budget::Clock;
use crate::model::Post;
use crate::render::Part;
use crate::store::Ledger;

pub use dry_run::DryRunTarget;
pub use fedi::FediTarget;

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
    /// The server accepts native quote posts (`quoted_status_id`, Mastodon 4.5 and later);
    /// otherwise the renderer quotes by linking.
    pub supports_quote_posts: bool,
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
            supports_quote_posts: false,
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
    /// The post the part comes from (original media URLs, for links when media cannot go).
    pub post: &'a Post,
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
    /// The server refused the credentials: stop delivering to this target for this run (the
    /// other targets go on) and tell the operator loudly; the part is not counted as tried.
    #[error("target `{target}` refused the access token ({message}): renew the token (`token_file`, `token_env` or `token`), then run again")]
    Auth {
        /// The target.
        target: String,
        /// The server's message.
        message: String,
    },
    /// The server refused this part (a 4xx with its reason): retried a few times, then
    /// quarantined; the posts after it go on.
    #[error("refused by the server{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Rejected {
        /// The HTTP status, when the server answered.
        status: Option<u16>,
        /// The server's message.
        message: String,
    },
    /// Still rate limited after waiting several times: not sent; tried again after
    /// `retry_after`.
    #[error("rate limited until {retry_after}")]
    RateLimited {
        /// When the server will take calls again.
        retry_after: DateTime<Utc>,
    },
    /// A network failure or server error, after retries with backoff: tried again later,
    /// then quarantined.
    #[error("temporary failure: {message}")]
    Transient {
        /// What failed.
        message: String,
    },
    /// A write whose outcome is unknown (it timed out, or the connection broke after
    /// sending) and that reconciliation could not settle: the part stays in `posting` and is
    /// reconciled again before anything is sent for it.
    #[error("outcome unknown: {message}")]
    UnknownOutcome {
        /// What happened.
        message: String,
    },
    /// The run was asked to stop while waiting for budget: nothing was sent.
    #[error("stopped while waiting for the rate-limit budget")]
    Interrupted,
    /// The target cannot be set up (its token cannot be read, no HTTP client): fix the
    /// configuration; nothing is delivered to it.
    #[error("{message}")]
    Setup {
        /// What is wrong.
        message: String,
    },
    /// The ledger failed while the target recorded media ids or warnings.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Every kind of target.
#[derive(Debug)]
pub enum AnyTarget {
    /// Writes what would be posted.
    DryRun(DryRunTarget),
    /// A real fediverse account.
    Fediverse(Box<FediTarget>),
}

impl AnyTarget {
    /// The target's limits.
    pub fn profile(&self) -> &TargetProfile {
        match self {
            AnyTarget::DryRun(t) => t.profile(),
            AnyTarget::Fediverse(t) => t.profile(),
        }
    }

    /// Gets ready to deliver: a fediverse target learns its server (limits, account,
    /// saved budget). The dry run has nothing to learn.
    ///
    /// # Errors
    /// [`TargetError::Auth`] and the other reasons the target cannot be used this run.
    pub async fn connect(&mut self, ledger: &Ledger) -> Result<(), TargetError> {
        match self {
            AnyTarget::DryRun(_) => Ok(()),
            AnyTarget::Fediverse(t) => t.connect(Some(ledger)).await,
        }
    }

    /// Delivers one part.
    pub async fn deliver(
        &mut self,
        out: Outgoing<'_>,
        ledger: &Ledger,
    ) -> Result<Delivered, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.deliver(out),
            AnyTarget::Fediverse(t) => t.deliver(out, ledger).await,
        }
    }

    /// Whether the target can change a status it posted (an edited post then becomes an
    /// edit instead of a second status). Fediverse edits are not wired up yet, so an edited
    /// post is only recorded there, never posted twice.
    pub fn supports_edits(&self) -> bool {
        matches!(self, AnyTarget::DryRun(_))
    }

    /// Makes the status `remote_id` show `out`'s part instead (PUT on a real server).
    #[expect(
        clippy::unused_async,
        reason = "network targets will await; the dry run does not"
    )]
    pub async fn edit(
        &mut self,
        remote_id: &str,
        out: Outgoing<'_>,
    ) -> Result<Delivered, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.edit(remote_id, out),
            AnyTarget::Fediverse(_) => Err(TargetError::Setup {
                message: "edits are not supported by this target yet".to_owned(),
            }),
        }
    }

    /// After a crash left a part in `posting` (its attempt stamped at `attempt_at`), finds
    /// out whether the target already has it. `Ok(None)` means it does not, or that sending
    /// it again is safe (the server deduplicates on the idempotency key); an error means
    /// nobody can tell now, and the part must stay unsettled.
    pub async fn reconcile(
        &mut self,
        out: Outgoing<'_>,
        attempt_at: DateTime<Utc>,
    ) -> Result<Option<Delivered>, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.reconcile(out.idempotency_key),
            AnyTarget::Fediverse(t) => t.reconcile(out, attempt_at).await,
        }
    }

    /// Saves what the target learnt during a delivery (rate-limit budgets) to the ledger.
    ///
    /// # Errors
    /// Ledger errors.
    pub fn save_state(&self, ledger: &Ledger) -> Result<(), crate::store::StoreError> {
        match self {
            AnyTarget::DryRun(_) => Ok(()),
            AnyTarget::Fediverse(t) => t.save_budget(ledger),
        }
    }

    /// Posts per hour this target's budget sustains, for estimates; `None` when unlimited.
    pub fn posts_per_hour(&self) -> Option<f64> {
        match self {
            AnyTarget::DryRun(_) => None,
            AnyTarget::Fediverse(t) => Some(t.statuses_per_hour()).filter(|r| r.is_finite()),
        }
    }
}

impl AnyTarget {
    /// Builds the target a configuration section describes. `clock` and `stop` are given to
    /// targets that wait (for rate-limit budgets).
    ///
    /// # Errors
    /// [`TargetError::Setup`] when a fediverse target's token cannot be read.
    pub fn from_settings(
        name: &str,
        settings: &crate::config::TargetSettings,
        clock: &Clock,
        stop: &Arc<AtomicBool>,
    ) -> Result<Self, TargetError> {
        match settings {
            crate::config::TargetSettings::DryRun(s) => {
                Ok(AnyTarget::DryRun(DryRunTarget::new(name, s)))
            }
            crate::config::TargetSettings::Fediverse(s) => Ok(AnyTarget::Fediverse(Box::new(
                FediTarget::new(name, s, clock.clone(), Arc::clone(stop))?,
            ))),
        }
    }

    /// Why this target cannot take a rendered post at all (Pixelfed: a post without an
    /// image), so it is recorded as skipped with that reason instead of being tried.
    pub fn refuses(&self, rendered: &crate::render::Rendered) -> Option<String> {
        match self {
            AnyTarget::DryRun(_) => None,
            AnyTarget::Fediverse(t) => t.refuses(rendered),
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
            AnyTarget::Fediverse(_) => false,
        }
    }
}
