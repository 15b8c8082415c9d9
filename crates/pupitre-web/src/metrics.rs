//! Pupitre's own metrics, rendered at `/metrics` in the Prometheus text format.
//! Metric names are defined here and nowhere else.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Latency histogram buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; 12],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) → latency histogram.
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let key = (method.to_owned(), route.to_owned());
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((key.0.clone(), key.1.clone(), status)).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(key).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// The exposition text. `pool` is (open, idle) database connections.
    pub fn render(&self, backend: &str, pool: (u32, u32)) -> String {
        let mut out = String::new();
        out.push_str("# HELP pupitre_build_info Build information; the value is always 1.\n");
        out.push_str("# TYPE pupitre_build_info gauge\n");
        out.push_str(&format!(
            "pupitre_build_info{{version=\"{}\",backend=\"{backend}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ));
        out.push_str("# HELP pupitre_db_connections Open database connections.\n");
        out.push_str("# TYPE pupitre_db_connections gauge\n");
        out.push_str(&format!(
            "pupitre_db_connections{{state=\"open\"}} {}\n",
            pool.0
        ));
        out.push_str(&format!(
            "pupitre_db_connections{{state=\"idle\"}} {}\n",
            pool.1
        ));
        out.push_str("# HELP pupitre_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE pupitre_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                out.push_str(&format!(
                    "pupitre_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}\n",
                    escape(route)
                ));
            }
        }
        out.push_str(
            "# HELP pupitre_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE pupitre_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for ((method, route), h) in m.iter() {
                let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
                for (i, b) in BUCKETS.iter().enumerate() {
                    out.push_str(&format!(
                        "pupitre_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}\n",
                        h.counts[i]
                    ));
                }
                out.push_str(&format!(
                    "pupitre_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
                    h.count
                ));
                out.push_str(&format!(
                    "pupitre_http_request_duration_seconds_sum{{{labels}}} {}\n",
                    h.sum
                ));
                out.push_str(&format!(
                    "pupitre_http_request_duration_seconds_count{{{labels}}} {}\n",
                    h.count
                ));
            }
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
