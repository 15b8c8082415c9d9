//! Probes of Pupitre's supervision engine: the code that actually looks at a host or a service
//! and says how it is.
//!
//! [`plugin`] runs Nagios-compatible plugins (Debian's monitoring-plugins and anything that
//! follows the same conventions). Native probes, such as [`tcp`], do the looking themselves and
//! all return an [`outcome::Outcome`]; [`scrape`], for one, judges a series of a Prometheus
//! exporter. Probes do IO; the rules about what a result means for an incident belong to
//! `pupitre-core`, which does none.

pub mod database;
pub mod dns;
pub mod http;
pub mod outcome;
pub mod ping;
pub mod plugin;
pub mod scrape;
pub mod secret;
pub mod snmp;
pub mod tcp;
mod text;

/// The roots a TLS client of Pupitre trusts (Mozilla's, plus a PEM file's), and an error with
/// its causes on one line: for the other crates that talk TLS (the metric history's remote write).
pub use crate::text::{error_chain, tls_client, trusted_roots};
pub mod zabbix;
