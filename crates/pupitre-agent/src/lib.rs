//! Pupitre's agent (issue #6). [`collect`] reads Linux's `/proc` and `statvfs` into metrics
//! named as prometheus-node-exporter names them (`node_cpu_seconds_total{cpu,mode}`,
//! `node_memory_MemTotal_bytes`, …), so that dashboards and habits carry over, and so that its
//! figures can be checked against the real exporter. [`logwatch`] follows log files across
//! rotations and counts the lines matching a pattern. [`wire`] is the protocol the agent and
//! the server share; [`buffer`] keeps rounds on disk until the server has them; [`run`] is
//! the running agent.

pub mod buffer;
pub mod collect;
pub mod exec;
pub mod inventory;
pub mod logwatch;
pub mod plugins;
pub mod run;
pub mod wire;

/// Milliseconds since the Unix epoch, the unit of every timestamp the agent sends.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
