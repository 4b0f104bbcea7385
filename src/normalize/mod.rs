//! Wire formats to [`crate::model::Post`], one module per format. Pure functions, tested
//! against fixtures.

pub mod archive;
pub mod entities;
pub mod fedi;
pub mod feed;
pub mod lenient;
pub mod note_tweet;
pub mod x;
