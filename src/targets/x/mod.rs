//! The X target (`kind = "x"`, `docs/x-target.md`), in layers:
//!
//! - the client and what X's answers mean, credentials (OAuth 1.0a signing, OAuth 2.0 tokens
//!   refreshed and written back), X's media rules, finding a post among the account's own
//!   after an unknown outcome, and what X bills: no ledger, no budget;
//! - [`calls`]: those calls with the account's rate-limit budget, waits and retries;
//! - [`uploads`] (one attachment, processed, described) and [`posts`] (posts and reply
//!   chains never sent twice, reposts, reconciliation) on the budgeted calls;
//! - [`target`]: [`XTarget`], the [`crate::targets::Target`] the engine drives.
//!
//! - [`client`]: every call, each under a timeout, returning X's value with the answer's
//!   rate limits, or an [`XError`] naming what to do next;
//! - [`answer`]: the classification of X's answers and their rate-limit headers;
//! - [`oauth1`], [`oauth2`]: the two kinds of user-context credentials;
//! - [`media`]: categories, size limits, attachments per post, processing states;
//! - [`reconcile`]: recognising a post X has already published;
//! - [`cost`]: X's pay-per-use prices for a rendered post.

pub mod answer;
pub mod calls;
pub mod client;
pub mod cost;
pub mod media;
pub mod oauth1;
pub mod oauth2;
pub mod posts;
pub mod reconcile;
pub mod target;
pub mod uploads;

pub use answer::{Answered, Failed, RateLimits, XError};
pub use client::{Credentials, XApi};
pub use target::XTarget;
