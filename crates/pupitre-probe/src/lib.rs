//! Probes of Pupitre's supervision engine: the code that actually looks at a host or a service
//! and says how it is.
//!
//! For now there is one probe, [`plugin`], which runs Nagios-compatible plugins (Debian's
//! monitoring-plugins and anything that follows the same conventions). Probes do IO; the rules
//! about what a result means for an incident belong to `pupitre-core`, which does none.

pub mod plugin;
