//! Targets: where rendered parts are delivered. The engine sees a target only through the
//! [`Target`] trait; [`build`], [`preview_profile`] and [`tariff`] are the one place that
//! knows the kinds (the dry run, the fediverse target [`fedi`], the X target [`x`]), so a
//! new kind of target is a new module and one line in each.
//!
//! A target talks to its server and nothing else: it never touches the ledger. What it
//! needs from earlier runs (a cached server profile, saved rate-limit windows) the engine
//! reads and hands to [`Target::connect`] as [`Memory`]; what it learns the engine takes
//! back with [`Target::learnt`] and records. A part goes out in steps the engine drives,
//! recording between them: each media item is uploaded ([`Target::upload`]) and recorded
//! before the next, then the status is posted or edited with the uploads ([`Attached`]),
//! so a retry reuses every upload the ledger heard of and the ledger knows every write.
//!
//! A target also knows the limits of the server behind it ([`TargetProfile`], defined in
//! [`crate::profile`] so the renderer reads it without depending on the targets).

pub mod account;
pub mod dry_run;
pub mod fedi;
pub mod ready;
pub mod x;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;

use crate::budget::{BudgetPool, Family, Lane, Seed, Window};
use crate::clock::Clock;
use crate::config::{TargetSettings, Visibility};
use crate::media::stage::MediaStage;
use crate::model::Post;
use crate::render::{Part, PartMedia, Rendered};
use crate::store::CachedProfile;

pub use crate::profile::{CountingRule, TargetProfile};
pub use dry_run::DryRunTarget;
pub use fedi::FediTarget;
pub use x::cost::{Tariff, Usd};
pub use x::XTarget;

/// A target's call in progress: boxed, so the engine can hold targets of every kind as
/// `Box<dyn Target>`; `Send`, so a delivery can move between threads.
pub type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, TargetError>> + Send + 'a>>;

/// What the engine needs from a target. Every call that waits (rate-limit budgets, backoff,
/// media processing, downloads) ends with [`TargetError::Interrupted`] when the run's
/// cancellation token (given at [`build`]) is cancelled, and nothing was sent then.
pub trait Target: Send + Sync + std::fmt::Debug {
    /// The limits the renderer obeys: the server's once connected, defaults before.
    fn profile(&self) -> &TargetProfile;

    /// Gets ready to deliver: learns the server (its kind, limits, account) and takes up
    /// the rate-limit windows `memory` kept from earlier runs. Whatever it learnt is in
    /// [`Target::learnt`] afterwards, also when connecting failed half way.
    ///
    /// # Errors
    /// [`TargetError::Auth`] for a refused token, [`TargetError::Unreachable`] and the
    /// other reasons the target cannot be used now.
    fn connect<'a>(&'a mut self, memory: &'a Memory) -> Call<'a, ()>;

    /// The limits kept in `memory` (whatever their age), for planning posts while the
    /// server cannot be reached; `None` when they are not known.
    fn remembered_profile(&self, memory: &Memory) -> Option<TargetProfile>;

    /// What the ledger should keep since the last time it was asked: a profile read from
    /// the server, the rate-limit windows. The engine records it after connecting and
    /// after each post's delivery.
    fn learnt(&mut self) -> Memory {
        Memory::default()
    }

    /// Whether the target can change a status it posted (an edited post then becomes an
    /// edit instead of a second status; elsewhere it is recorded as skipped, never posted
    /// twice).
    fn supports_edits(&self) -> bool;

    /// Why the target does not edit a status posted with `visibility`, although it edits
    /// others (a server known to make every edited status public); `None` when it does. The
    /// new version is then recorded as skipped with this reason.
    fn edit_refusal(&self, visibility: Visibility) -> Option<String> {
        let _ = visibility;
        None
    }

    /// What the target refuses outright, judged on the rendered post before anything is
    /// planned, so the engine records the post as skipped with the reason instead.
    fn refusal(&self) -> Option<Arc<dyn Refusal>> {
        None
    }

    /// How long an upload stays usable for a status (servers drop unattached media after a
    /// while): a retry within it reuses the upload. `None` for a target that takes media
    /// with the status itself, which is then never asked to [`Target::upload`].
    fn upload_lifetime(&self) -> Option<Duration> {
        None
    }

    /// Uploads one attachment of a part (remote media from `stage`, downloaded once for
    /// every target), or says why the server cannot take it.
    ///
    /// # Errors
    /// See [`TargetError`]; the part then fails as a whole.
    fn upload<'a>(
        &'a mut self,
        media: &'a PartMedia,
        stage: Option<&'a MediaStage>,
    ) -> Call<'a, Upload> {
        let _ = (media, stage);
        Box::pin(async {
            Err(TargetError::Setup {
                message: "this target takes no uploads".to_owned(),
            })
        })
    }

    /// Posts the part as a new status (a boost when the part is one) with its attached
    /// media and text.
    ///
    /// # Errors
    /// See [`TargetError`].
    fn post<'a>(&'a mut self, out: Outgoing<'a>, attached: &'a Attached) -> Call<'a, Delivered>;

    /// Makes the status `remote_id` show the part instead (a new version of an edited
    /// post).
    ///
    /// # Errors
    /// See [`TargetError`].
    fn edit<'a>(
        &'a mut self,
        remote_id: &'a str,
        out: Outgoing<'a>,
        attached: &'a Attached,
    ) -> Call<'a, Delivered>;

    /// After a crash left a part in `posting` (its attempt stamped at `attempt_at`), finds
    /// out whether the target already has it. `Ok(None)` means it does not, or that sending
    /// it again is safe (the server deduplicates on the idempotency key); an error means
    /// nobody can tell now, and the part must stay unsettled.
    fn reconcile<'a>(
        &'a mut self,
        out: Outgoing<'a>,
        attempt_at: DateTime<Utc>,
    ) -> Call<'a, Option<Delivered>>;

    /// What the target had to do differently for the part it just posted (X refused a
    /// reply: the part went as a post of its own), for the engine to record as warnings of
    /// the part. Taken: a second call returns nothing.
    fn notes(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Posts per hour this target's budget sustains, for estimates; `None` when unlimited.
    fn posts_per_hour(&self) -> Option<f64> {
        None
    }

    /// Takes a status back (`retract`, deletes that follow the source): deletes it, or
    /// undoes a boost on the status boosted (never deleting the id the boost's answer
    /// carried: on some servers it is the original's). Paced by the account's deletes
    /// budget; a status already gone counts as taken back ([`Retracted::AlreadyGone`]).
    /// Safe to ask again after an interruption. By default the target cannot.
    ///
    /// # Errors
    /// See [`TargetError`].
    fn retract<'a>(&'a mut self, what: Retraction<'a>) -> Call<'a, Retracted> {
        let _ = what;
        Box::pin(async {
            Err(TargetError::Setup {
                message: "this target cannot take statuses back".to_owned(),
            })
        })
    }

    /// The window of the budget taking back is paced by (deletes, or every request on a
    /// server that counts them together), as it stands: for the estimate `retract` gives.
    /// `None` when unlimited.
    fn deletes_pace(&self) -> Option<Pace> {
        None
    }

    /// Whether a person wants to see each delivered post (the dry-run target's purpose).
    fn shows_preview(&self) -> bool {
        false
    }

    /// Whether this target writes its records to stdout, so previews must go to stderr.
    fn writes_stdout(&self) -> bool {
        false
    }
}

/// What a target refuses outright (Pixelfed: a post that starts without an image). An
/// owned value, so the engine's plan step applies it on the blocking pool next to the
/// ledger.
pub trait Refusal: Send + Sync + std::fmt::Debug {
    /// Why the target cannot take this post; `None` when it can.
    fn refuses(&self, rendered: &Rendered) -> Option<String>;
}

/// What the ledger keeps about a target between runs, in both directions: read by the
/// engine before [`Target::connect`], and what [`Target::learnt`] hands back to record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The server's profile as the target wrote it, with where and when it was read.
    pub profile: Option<CachedProfile>,
    /// The account's rate-limit windows.
    pub budgets: BTreeMap<Family, Window>,
}

/// What an upload did with one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// The server has it under `media_id`; `processed` once it can be attached (a video
    /// may still be processing: the status waits for it).
    Stored {
        /// The server's media id.
        media_id: String,
        /// Whether the server said it is ready.
        processed: bool,
    },
    /// The server cannot take it (type, size, refused, not downloadable), for this reason:
    /// the status links the original instead.
    CannotGo(String),
}

/// A part's media, uploaded, and its text with links to what could not go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attached {
    /// The status text.
    pub text: String,
    /// The uploads, in the part's order.
    pub media: Vec<AttachedMedia>,
}

/// One upload of a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedMedia {
    /// The server's media id.
    pub media_id: String,
    /// Its description (alt text), for a server that takes it with an edit.
    pub description: Option<String>,
    /// Whether the server said it is ready to attach.
    pub processed: bool,
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
    /// The post's downloaded remote media, shared by every route and target of its source;
    /// `None` where remote media is not downloaded (archive backfill), which links it
    /// instead.
    pub media: Option<&'a MediaStage>,
}

/// What to take back on a target (see [`Target::retract`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retraction<'a> {
    /// Delete the account's status with this id.
    Status(&'a str),
    /// Undo the account's boost (repost) of the status `original`; `original` itself is
    /// never deleted.
    Boost {
        /// The status boosted.
        original: &'a str,
    },
}

/// What taking a status back did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retracted {
    /// The server took it back.
    Done,
    /// The server no longer had it (deleted by hand, or by an earlier attempt whose
    /// answer was lost): taken back all the same.
    AlreadyGone,
}

/// A budget window taking back is paced by: `limit` calls per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Calls per window.
    pub limit: u32,
    /// The window's length.
    pub period: Duration,
}

impl Pace {
    /// The pace of `family` among a budget's `windows` (else of every request).
    pub fn of(windows: &BTreeMap<Family, Window>, family: Family) -> Option<Self> {
        windows
            .get(&family)
            .or_else(|| windows.get(&Family::Requests))
            .map(|w| Pace {
                limit: w.limit,
                period: w.period,
            })
    }

    /// The pace of `family` a kind's known limits give (`seeds`).
    pub fn of_seeds(seeds: &[Seed], family: Family) -> Option<Self> {
        seeds
            .iter()
            .find(|s| s.family == family)
            .or_else(|| seeds.iter().find(|s| s.family == Family::Requests))
            .map(|s| Pace {
                limit: s.limit,
                period: s.period,
            })
    }
}

/// What a target reports after posting a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The remote status id.
    pub remote_id: String,
    /// The remote status URL, when the server gives one.
    pub url: Option<String>,
    /// What the server's answer says the status replies to. A server may publish a reply to
    /// a status it does not know as a status of its own (Takahē answers 200 with
    /// `in_reply_to_id: null`); the engine checks every reply against it.
    pub replies_to: RepliesTo,
}

/// What a server's answer says a new status replies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RepliesTo {
    /// The answer does not say (a dry run, a status found by reconciliation): the reply is
    /// taken as made.
    #[default]
    Unsaid,
    /// Nothing: the status stands on its own.
    Nothing,
    /// The status with this id.
    Status(String),
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
    /// The run was asked to stop while waiting (for budget, backoff, processing, a
    /// download), or is shutting down: nothing was sent.
    #[error("stopped while waiting for the rate-limit budget")]
    Interrupted,
    /// The target cannot be set up (its token cannot be read, no HTTP client): fix the
    /// configuration; nothing is delivered to it.
    #[error("{message}")]
    Setup {
        /// What is wrong.
        message: String,
    },
}

/// What every target of a run shares: its clock and cancellation token (ending every
/// wait), the process's rate-limit budgets, and the lane its calls are made for.
#[derive(Debug, Clone, Copy)]
pub struct Surroundings<'a> {
    /// Where time comes from.
    pub clock: &'a Clock,
    /// The run's stop request.
    pub cancel: &'a CancellationToken,
    /// One budget per target account and process.
    pub budgets: &'a BudgetPool,
    /// Live or backfill: the share of each budget window the calls may use.
    pub lane: Lane,
}

/// Builds the target a configuration section describes: the one place that knows the
/// kinds.
///
/// # Errors
/// [`TargetError::Setup`] when a target's token cannot be read.
pub fn build(
    name: &str,
    settings: &TargetSettings,
    around: Surroundings<'_>,
) -> Result<Box<dyn Target>, TargetError> {
    Ok(match settings {
        TargetSettings::DryRun(s) => Box::new(DryRunTarget::new(name, s)),
        TargetSettings::Fediverse(s) => Box::new(FediTarget::build(name, s, around)?),
        TargetSettings::X(s) => Box::new(XTarget::build(name, s, around)?),
    })
}

/// The limits a dry run previews with, asking no server and building no target (a
/// server's token is not even read): the dry-run target's configured ones, a server's
/// kind's defaults.
pub fn preview_profile(name: &str, settings: &TargetSettings) -> TargetProfile {
    match settings {
        TargetSettings::DryRun(s) => DryRunTarget::new(name, s).profile().clone(),
        TargetSettings::Fediverse(s) => {
            tracing::warn!(target = %name, kind = s.kind.as_str(), "previewing with default Mastodon limits; the server is not asked in a dry run");
            TargetProfile::mastodon_default()
        }
        TargetSettings::X(s) => x::target::profile(s),
    }
}

/// The pace a target of these settings takes statuses back at, from its kind's known
/// limits (the server is not asked): for a dry run's estimate. `None` when unlimited.
pub fn deletes_pace(settings: &TargetSettings) -> Option<Pace> {
    match settings {
        TargetSettings::DryRun(_) => None,
        TargetSettings::Fediverse(s) => {
            Pace::of_seeds(&fedi::quirks::of(s.kind).seeds, Family::Deletes)
        }
        TargetSettings::X(_) => Pace::of_seeds(&x::calls::seeds(), Family::Deletes),
    }
}

/// What a target bills for its writes, priced by the engine (previews, the daily cap, the
/// spend recorded with each part) and shown by `check` and `status`; `None` for a target
/// whose writes cost nothing.
pub fn tariff(settings: &TargetSettings) -> Option<Tariff> {
    match settings {
        TargetSettings::X(s) => Some(x::target::tariff(s)),
        TargetSettings::DryRun(_) | TargetSettings::Fediverse(_) => None,
    }
}
