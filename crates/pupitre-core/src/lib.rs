//! Pupitre's domain core: permissions, validation rules, audit diffs, the inventory's rules and
//! the monitoring rules (states, Nagios thresholds, performance data).
//!
//! This crate does no IO and knows no wire format: no SQL, no JSON, no HTTP.
//! The store and web crates translate to and from the plain types defined here.

pub mod audit;
pub mod builtin;
pub mod credential;
pub mod incident;
pub mod inventory;
pub mod model;
pub mod monitoring;
pub mod password;
pub mod permission;
pub mod validate;
