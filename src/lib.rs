//! birdbridge mirrors posts from X/Twitter (live accounts and data archives) to fediverse
//! accounts, exactly once, following each target's manners and limits.
//!
//! The data flow (see `ARCHITECTURE.md`):
//! source → [`model::Post`] → route [`policy`] → [`render`] per target profile →
//! [`store`] ledger (intent) → [`targets`] → ledger (result).

pub mod alive;
pub mod auth;
pub mod backfill;
pub mod backoff;
pub mod blocking;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crash;
pub mod daemon;
pub mod desk;
pub mod engine;
pub mod fetch;
pub mod generate;
pub mod html;
pub mod http;
pub mod media;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod operator;
pub mod policy;
pub mod preview;
pub mod profile;
pub mod progress;
pub mod release;
pub mod render;
pub mod report;
pub mod retract;
pub mod review;
pub mod short_links;
pub mod sources;
pub mod status;
pub mod store;
pub mod targets;
