//! The engine's own figures for Pupitre's `/metrics`: runs, failures and durations per probe
//! kind, and the scheduling lag as a histogram. Plain atomics, written by the engine's tasks and
//! read when `/metrics` is scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The probe kinds, in the order of the per-kind counters.
pub const KINDS: [&str; 10] = [
    "ping",
    "tcp",
    "http",
    "dns",
    "snmp",
    "plugin",
    "prometheus",
    "database",
    "zabbix",
    "heartbeat",
];

/// Upper bounds of the lag histogram's buckets, in seconds.
pub const LAG_BUCKETS_S: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct PerKind {
    runs: AtomicU64,
    /// Runs whose state was UNKNOWN: the probe could not tell (bad answer, timeout, DNS).
    failures: AtomicU64,
    duration_ms: AtomicU64,
}

#[derive(Default)]
pub struct Figures {
    kinds: [PerKind; KINDS.len()],
    lag_buckets: [AtomicU64; LAG_BUCKETS_S.len()],
    lag_count: AtomicU64,
    lag_sum_ms: AtomicU64,
    lag_max_ms: AtomicI64,
    /// Checks the engine schedules.
    pub checks: AtomicI64,
    /// Runs in flight.
    pub running: AtomicI64,
    /// Scheduled slots skipped because the run before them (with its wait for a slot) outlasted
    /// them: a check never runs twice at once, nor late to catch up.
    pub skipped_overlap: AtomicU64,
    pub results_written: AtomicU64,
    pub write_errors: AtomicU64,
}

impl Figures {
    pub fn record_run(&self, kind: &str, failed: bool, duration_ms: u64) {
        if let Some(k) = KINDS.iter().position(|k| *k == kind) {
            let k = &self.kinds[k];
            k.runs.fetch_add(1, Ordering::Relaxed);
            if failed {
                k.failures.fetch_add(1, Ordering::Relaxed);
            }
            k.duration_ms.fetch_add(duration_ms, Ordering::Relaxed);
        }
    }

    pub fn record_lag(&self, lag_ms: i64) {
        let seconds = lag_ms as f64 / 1000.0;
        for (bound, bucket) in LAG_BUCKETS_S.iter().zip(&self.lag_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.lag_count.fetch_add(1, Ordering::Relaxed);
        self.lag_sum_ms
            .fetch_add(u64::try_from(lag_ms).unwrap_or(0), Ordering::Relaxed);
        self.lag_max_ms.fetch_max(lag_ms, Ordering::Relaxed);
    }

    /// Runs so far, all kinds together.
    pub fn runs(&self) -> u64 {
        self.kinds
            .iter()
            .map(|k| k.runs.load(Ordering::Relaxed))
            .sum()
    }

    /// The largest lag seen, in milliseconds.
    pub fn lag_max_ms(&self) -> i64 {
        self.lag_max_ms.load(Ordering::Relaxed)
    }

    /// The figures in the Prometheus text format, appended to `out`.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str(
            "# HELP pupitre_checks_run_total Check runs, by probe kind.\n\
             # TYPE pupitre_checks_run_total counter\n",
        );
        for (kind, k) in KINDS.iter().zip(&self.kinds) {
            let _ = writeln!(
                out,
                "pupitre_checks_run_total{{probe=\"{kind}\"}} {}",
                load(&k.runs)
            );
        }
        out.push_str(
            "# HELP pupitre_checks_failed_total Check runs whose probe could not tell the state (UNKNOWN), by probe kind.\n\
             # TYPE pupitre_checks_failed_total counter\n",
        );
        for (kind, k) in KINDS.iter().zip(&self.kinds) {
            let _ = writeln!(
                out,
                "pupitre_checks_failed_total{{probe=\"{kind}\"}} {}",
                load(&k.failures)
            );
        }
        out.push_str(
            "# HELP pupitre_check_duration_seconds_total Time spent in check runs, by probe kind.\n\
             # TYPE pupitre_check_duration_seconds_total counter\n",
        );
        for (kind, k) in KINDS.iter().zip(&self.kinds) {
            let _ = writeln!(
                out,
                "pupitre_check_duration_seconds_total{{probe=\"{kind}\"}} {}",
                load(&k.duration_ms) as f64 / 1000.0
            );
        }
        out.push_str(
            "# HELP pupitre_check_lag_seconds How late check runs started after they were due.\n\
             # TYPE pupitre_check_lag_seconds histogram\n",
        );
        for (bound, bucket) in LAG_BUCKETS_S.iter().zip(&self.lag_buckets) {
            let _ = writeln!(
                out,
                "pupitre_check_lag_seconds_bucket{{le=\"{bound}\"}} {}",
                load(bucket)
            );
        }
        let count = load(&self.lag_count);
        let _ = writeln!(
            out,
            "pupitre_check_lag_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             pupitre_check_lag_seconds_sum {}\n\
             pupitre_check_lag_seconds_count {count}",
            load(&self.lag_sum_ms) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "# HELP pupitre_checks_scheduled Checks the engine schedules.\n\
             # TYPE pupitre_checks_scheduled gauge\n\
             pupitre_checks_scheduled {}\n\
             # HELP pupitre_checks_running Check runs in flight.\n\
             # TYPE pupitre_checks_running gauge\n\
             pupitre_checks_running {}\n\
             # HELP pupitre_checks_skipped_total Scheduled slots skipped because the run before them outlasted them.\n\
             # TYPE pupitre_checks_skipped_total counter\n\
             pupitre_checks_skipped_total {}\n\
             # HELP pupitre_check_results_written_total Check results written to the database.\n\
             # TYPE pupitre_check_results_written_total counter\n\
             pupitre_check_results_written_total {}\n\
             # HELP pupitre_check_result_write_errors_total Batches of check results the database refused.\n\
             # TYPE pupitre_check_result_write_errors_total counter\n\
             pupitre_check_result_write_errors_total {}",
            self.checks.load(Ordering::Relaxed),
            self.running.load(Ordering::Relaxed),
            load(&self.skipped_overlap),
            load(&self.results_written),
            load(&self.write_errors),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_lands_in_cumulative_buckets() {
        let f = Figures::default();
        f.record_lag(3);
        f.record_lag(300);
        f.record_run("tcp", false, 12);
        f.record_run("tcp", true, 8);
        let mut out = String::new();
        f.render(&mut out);
        assert!(out.contains("pupitre_check_lag_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(out.contains("pupitre_check_lag_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(out.contains("pupitre_check_lag_seconds_count 2\n"));
        assert!(out.contains("pupitre_checks_run_total{probe=\"tcp\"} 2\n"));
        assert!(out.contains("pupitre_checks_failed_total{probe=\"tcp\"} 1\n"));
        assert!(out.contains("pupitre_check_duration_seconds_total{probe=\"tcp\"} 0.02\n"));
        assert_eq!(f.lag_max_ms(), 300);
    }
}
