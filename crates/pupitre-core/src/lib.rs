//! Pupitre's domain core: permissions, validation rules and audit diffs.
//!
//! This crate does no IO and knows no wire format: no SQL, no JSON, no HTTP.
//! The store and web crates translate to and from the plain types defined here.

pub mod audit;
pub mod builtin;
pub mod inventory;
pub mod model;
pub mod password;
pub mod permission;
pub mod validate;
