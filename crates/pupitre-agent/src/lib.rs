//! Pupitre's agent (issue #6), the parts that read the host it runs on. [`collect`] reads
//! Linux's `/proc` and `statvfs` into metrics named as prometheus-node-exporter names them
//! (`node_cpu_seconds_total{cpu,mode}`, `node_memory_MemTotal_bytes`, …), so that dashboards
//! and habits carry over, and so that its figures can be checked against the real exporter.
//! [`logwatch`] follows log files across rotations and counts the lines matching a pattern.

pub mod collect;
pub mod logwatch;
