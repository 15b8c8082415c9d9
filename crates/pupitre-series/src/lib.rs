//! Pupitre's metric history, the parts without IO: what names a series ([`series`]), the
//! compressed chunk format that series are stored in ([`chunk`]), the downsampled points of
//! the coarser tiers ([`rollup`]), range queries over either ([`query`]), and trends with the
//! time a series will cross a threshold ([`forecast`]).
//!
//! The store keeps each series' samples as chunks in BLOBs of its own database (SQLite or
//! PostgreSQL), so that one backup of the database holds the history with everything else.

pub mod batch;
mod bits;
pub mod chunk;
pub mod forecast;
pub mod query;
pub mod rollup;
pub mod samples;
pub mod series;
