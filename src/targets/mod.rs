//! Targets: where rendered parts are delivered. A target also knows the limits of the
//! server behind it ([`TargetProfile`], defined in [`crate::profile`] so the renderer reads
//! it without depending on the targets).
//!
//! Targets form a closed set, so they are an enum ([`AnyTarget`]) rather than a trait
//! object (STYLE.md §2): the dry-run target, and the fediverse target ([`fedi`]).

pub mod dry_run;
pub mod fedi;
pub mod x;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::budget::Priority;
use crate::clock::Clock;
use crate::media::stage::MediaStage;
use crate::model::Post;
use crate::render::Part;
use crate::store::Ledger;

pub use crate::profile::{CountingRule, TargetProfile};
pub use dry_run::DryRunTarget;
pub use fedi::FediTarget;

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
    /// The post's downloaded remote media, shared by every route and target of its source;
    /// `None` where remote media is not downloaded (archive backfill), which links it
    /// instead.
    pub media: Option<&'a MediaStage>,
}

/// What a target reports after posting a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The remote status id.
    pub remote_id: String,
    /// The remote status URL, when the server gives one.
    pub url: Option<String>,
}

/// Why a delivery failed; the variant tells the engine what to do next.
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
    /// The server cannot be reached at all (no connection): the part was not sent and is not
    /// counted as tried; it waits, planned, until the target is reached again.
    #[error("cannot reach the server: {message}")]
    Unreachable {
        /// What failed.
        message: String,
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
    pub async fn connect(&mut self, ledger: &Arc<Ledger>) -> Result<(), TargetError> {
        match self {
            AnyTarget::DryRun(_) => Ok(()),
            AnyTarget::Fediverse(t) => t.connect(Some(ledger)).await,
        }
    }

    /// Delivers one part.
    pub async fn deliver(
        &mut self,
        out: Outgoing<'_>,
        ledger: &Arc<Ledger>,
    ) -> Result<Delivered, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.deliver(out),
            AnyTarget::Fediverse(t) => t.deliver(out, ledger).await,
        }
    }

    /// Whether the target can change a status it posted (an edited post then becomes an
    /// edit instead of a second status; elsewhere it is recorded as skipped, never posted
    /// twice). Fediverse servers: as the quirks table says for the server's kind.
    pub fn supports_edits(&self) -> bool {
        match self {
            AnyTarget::DryRun(_) => true,
            AnyTarget::Fediverse(t) => t.supports_edits(),
        }
    }

    /// Makes the status `remote_id` show `out`'s part instead (`PUT` on a real server).
    ///
    /// # Errors
    /// See [`TargetError`].
    pub async fn edit(
        &mut self,
        remote_id: &str,
        out: Outgoing<'_>,
        ledger: &Arc<Ledger>,
    ) -> Result<Delivered, TargetError> {
        match self {
            AnyTarget::DryRun(t) => t.edit(remote_id, out),
            AnyTarget::Fediverse(t) => t.edit(remote_id, out, ledger).await,
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

    /// What the target learnt during a delivery that the ledger keeps (its rate-limit
    /// windows, under its name), for the caller to save; `None` when nothing.
    pub fn budget_snapshot(
        &self,
    ) -> Option<(
        String,
        std::collections::BTreeMap<crate::budget::Family, crate::budget::Window>,
    )> {
        match self {
            AnyTarget::DryRun(_) => None,
            AnyTarget::Fediverse(t) => Some(t.budget_snapshot()),
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
    /// Builds the target a configuration section describes. `clock` and `cancel` are given
    /// to targets that wait (for rate-limit budgets, backoff, media processing).
    ///
    /// # Errors
    /// [`TargetError::Setup`] when a fediverse target's token cannot be read.
    pub fn from_settings(
        name: &str,
        settings: &crate::config::TargetSettings,
        clock: &Clock,
        cancel: &CancellationToken,
    ) -> Result<Self, TargetError> {
        match settings {
            crate::config::TargetSettings::DryRun(s) => {
                Ok(AnyTarget::DryRun(DryRunTarget::new(name, s)))
            }
            crate::config::TargetSettings::Fediverse(s) => Ok(AnyTarget::Fediverse(Box::new(
                FediTarget::new(name, s, clock.clone(), cancel.clone())?,
            ))),
        }
    }

    /// What this target refuses outright (Pixelfed: a post without an image), so the
    /// engine records such a post as skipped with the reason instead of trying it.
    pub fn refusal(&self) -> Option<fedi::manners::ImagesOnly> {
        match self {
            AnyTarget::DryRun(_) => None,
            AnyTarget::Fediverse(t) => t.refusal(),
        }
    }

    /// Shares the account's rate-limit budget with the other clients of the same account
    /// in the process.
    pub fn share_budget(&mut self, pool: &crate::budget::BudgetPool) {
        match self {
            AnyTarget::DryRun(_) => {}
            AnyTarget::Fediverse(t) => t.share_budget(pool),
        }
    }

    /// Sets whose calls these are: live posts may use the whole rate-limit budget, backfill
    /// its configured share.
    pub fn set_priority(&mut self, priority: Priority) {
        match self {
            AnyTarget::DryRun(_) => {}
            AnyTarget::Fediverse(t) => t.set_priority(priority),
        }
    }

    /// The share of the budget backfill may use on this target (1 when unlimited).
    pub fn backfill_share(&self) -> f64 {
        match self {
            AnyTarget::DryRun(_) => 1.0,
            AnyTarget::Fediverse(t) => t.backfill_share(),
        }
    }

    /// The limits saved in the ledger the last time the server was reached, for planning
    /// posts while it cannot be reached; `None` when it never was.
    ///
    /// # Errors
    /// Ledger errors.
    pub async fn cached_profile(
        &self,
        ledger: &Arc<Ledger>,
    ) -> Result<Option<TargetProfile>, crate::store::StoreError> {
        match self {
            AnyTarget::DryRun(t) => Ok(Some(t.profile().clone())),
            AnyTarget::Fediverse(t) => t.cached_profile(ledger).await,
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
