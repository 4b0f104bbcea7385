//! Wire formats to [`crate::model::Post`], one module per format. Pure functions, tested
//! against fixtures.

pub mod archive;
