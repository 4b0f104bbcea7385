//! Sources: where posts come from. Each converts its wire format into [`crate::model::Post`]
//! at its edge.

pub mod archive;
pub mod feed;
pub mod x;
