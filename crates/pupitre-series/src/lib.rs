//! Pupitre's metric history, the parts without IO: what names a series ([`series`]), the
//! compressed chunk format that series are stored in ([`chunk`]), the downsampled points of
//! the coarser tiers ([`rollup`]), and range queries over either ([`query`]).
//!
//! The store keeps each series' samples as chunks in BLOBs of its own database (SQLite or
//! PostgreSQL), so that one backup of the database holds the history with everything else.

mod bits;
pub mod chunk;
pub mod query;
pub mod rollup;
pub mod series;
