//! The X target's standalone layers (`docs/x-target.md`): the write-API client and what
//! its answers mean, credentials (OAuth 1.0a signing, OAuth 2.0 tokens refreshed and written
//! back), X's media rules, finding a post among the account's own after an unknown
//! outcome, and what X bills. They know nothing of the ledger or the budget; the target
//! that delivers parts to X is built on them.
//!
//! - [`client`]: every call, each under a timeout, returning X's value with the answer's
//!   rate limits, or an [`XError`] naming what to do next;
//! - [`answer`]: the classification of X's answers and their rate-limit headers;
//! - [`oauth1`], [`oauth2`]: the two kinds of user-context credentials;
//! - [`media`]: categories, size limits, attachments per post, processing states;
//! - [`reconcile`]: recognising a post X has already published;
//! - [`cost`]: X's pay-per-use prices for a rendered post.

pub mod answer;
pub mod client;
pub mod cost;
pub mod media;
pub mod oauth1;
pub mod oauth2;
pub mod reconcile;

pub use answer::{Answered, Failed, RateLimits, XError};
pub use client::{Credentials, XApi};
