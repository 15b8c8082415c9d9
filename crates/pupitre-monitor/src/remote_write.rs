//! Remote write out: every sample the history stores durably is also sent to a
//! Prometheus-compatible TSDB (Prometheus with `--web.enable-remote-write-receiver`,
//! VictoriaMetrics, Mimir, Thanos receive), for users who outgrow one machine.
//!
//! The protocol is Prometheus remote write 1.0: a protobuf `WriteRequest` compressed with
//! snappy's block format, POSTed with `Content-Encoding: snappy`. Samples wait in a bounded
//! queue in memory; when it is full the oldest are dropped and counted. A request that fails
//! for a reason that may pass (no connection, a timeout, 5xx, 429) is retried with exponential
//! backoff and jitter, 250 ms doubling to 30 s; one the receiver refuses (another 4xx) is
//! dropped, counted and logged with the receiver's reason. Each series carries its own
//! labels, `__name__`, `host` (its asset's name), `check` (its check's name, for a check's
//! series) and `source`.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pupitre_core::inventory::AssetId;
use pupitre_series::series::SeriesKey;
use pupitre_store::Store;
use pupitre_store::metrics::{Source, SourceKind};
use tokio::sync::Notify;

#[derive(Clone)]
pub struct RemoteWriteConfig {
    /// `http://` or `https://` URL of the receiver (`…/api/v1/write`).
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer_token: Option<String>,
    /// PEM certificates trusted besides Mozilla's roots.
    pub ca_file: Option<PathBuf>,
    /// Samples that may wait; beyond, the oldest are dropped.
    pub buffer_samples: usize,
    /// Samples per request, at most.
    pub batch_samples: usize,
    pub timeout: Duration,
}

/// The token is never shown.
impl std::fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteConfig")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("buffer_samples", &self.buffer_samples)
            .finish_non_exhaustive()
    }
}

impl RemoteWriteConfig {
    pub fn new(url: &str) -> RemoteWriteConfig {
        RemoteWriteConfig {
            url: url.to_owned(),
            bearer_token: None,
            ca_file: None,
            buffer_samples: 1_000_000,
            batch_samples: 5_000,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Samples of one series waiting to be sent.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub source: Source,
    pub asset_id: AssetId,
    pub key: SeriesKey,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

#[derive(Default)]
struct Figures {
    sent: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    requests_ok: AtomicU64,
    requests_retried: AtomicU64,
    requests_rejected: AtomicU64,
    queued: AtomicU64,
}

/// The queue and its sender.
pub struct RemoteWriter {
    config: RemoteWriteConfig,
    client: reqwest::Client,
    queue: Mutex<VecDeque<Outgoing>>,
    wake: Notify,
    figures: Figures,
}

/// The first and the longest wait between attempts of a request.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);

impl RemoteWriter {
    /// Checks the configuration and builds the HTTP client; the error names the setting.
    pub fn new(config: RemoteWriteConfig) -> Result<Arc<RemoteWriter>, String> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| format!("history_remote_write_url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("history_remote_write_url: must start with http:// or https://".to_owned());
        }
        let tls = pupitre_probe::tls_client(config.ca_file.as_deref())
            .map_err(|e| format!("history_remote_write_ca_file: {e}"))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .user_agent(concat!(
                "Pupitre/",
                env!("CARGO_PKG_VERSION"),
                " (remote write)"
            ))
            .build()
            .map_err(|e| pupitre_probe::error_chain(&e))?;
        Ok(Arc::new(RemoteWriter {
            config,
            client,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            figures: Figures::default(),
        }))
    }

    /// Queues samples; when the queue would hold more than the buffer, the oldest go.
    pub fn enqueue(&self, items: Vec<Outgoing>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut queued = self.figures.queued.load(Ordering::Relaxed) as usize;
        for item in items {
            queued += item.timestamps.len();
            queue.push_back(item);
        }
        while queued > self.config.buffer_samples {
            let Some(mut oldest) = queue.pop_front() else {
                break;
            };
            let excess = queued - self.config.buffer_samples;
            if oldest.timestamps.len() > excess {
                // Only the oldest samples of that series go.
                oldest.timestamps.drain(..excess);
                oldest.values.drain(..excess);
                self.figures
                    .dropped
                    .fetch_add(excess as u64, Ordering::Relaxed);
                queued -= excess;
                queue.push_front(oldest);
            } else {
                self.figures
                    .dropped
                    .fetch_add(oldest.timestamps.len() as u64, Ordering::Relaxed);
                queued -= oldest.timestamps.len();
            }
        }
        self.figures.queued.store(queued as u64, Ordering::Relaxed);
        drop(queue);
        self.wake.notify_one();
    }

    /// Up to `batch_samples` samples from the front of the queue.
    fn take(&self) -> Vec<Outgoing> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = Vec::new();
        let mut samples = 0;
        while samples < self.config.batch_samples {
            let Some(mut item) = queue.pop_front() else {
                break;
            };
            let room = self.config.batch_samples - samples;
            if item.timestamps.len() > room {
                let rest = Outgoing {
                    timestamps: item.timestamps.split_off(room),
                    values: item.values.split_off(room),
                    ..item.clone()
                };
                queue.push_front(rest);
            }
            samples += item.timestamps.len();
            taken.push(item);
        }
        let left = self
            .figures
            .queued
            .load(Ordering::Relaxed)
            .saturating_sub(samples as u64);
        self.figures.queued.store(left, Ordering::Relaxed);
        taken
    }

    /// Sends what is queued until `shutdown` resolves.
    pub async fn run(
        self: Arc<RemoteWriter>,
        store: Arc<dyn Store>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut names = Names::default();
        loop {
            let batch = self.take();
            if batch.is_empty() {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = self.wake.notified() => continue,
                }
            }
            let samples: usize = batch.iter().map(|b| b.timestamps.len()).sum();
            let body = names.request(&*store, &batch).await;
            let mut wait = FIRST_BACKOFF;
            loop {
                match self.send(&body).await {
                    Ok(()) => {
                        self.figures.requests_ok.fetch_add(1, Ordering::Relaxed);
                        self.figures
                            .sent
                            .fetch_add(samples as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(Failure::Refused(reason)) => {
                        tracing::warn!(url = %self.config.url, %reason, samples, "the remote-write receiver refused samples; they are dropped");
                        self.figures
                            .requests_rejected
                            .fetch_add(1, Ordering::Relaxed);
                        self.figures
                            .rejected
                            .fetch_add(samples as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(Failure::Retry(reason)) => {
                        self.figures
                            .requests_retried
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(url = %self.config.url, %reason, "remote write failed; retrying");
                        let jittered = wait.mul_f64(0.8 + 0.4 * jitter());
                        tokio::select! {
                            () = &mut shutdown => return,
                            () = tokio::time::sleep(jittered) => {}
                        }
                        wait = (wait * 2).min(LONGEST_BACKOFF);
                    }
                }
            }
        }
    }

    async fn send(&self, body: &[u8]) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(&self.config.url)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(body.to_vec());
        if let Some(token) = &self.config.bearer_token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Retry(pupitre_probe::error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let reason = format!(
            "HTTP {status}: {}",
            text.trim().chars().take(300).collect::<String>()
        );
        if status.is_server_error() || status.as_u16() == 429 {
            Err(Failure::Retry(reason))
        } else {
            Err(Failure::Refused(reason))
        }
    }

    /// Appends the writer's figures in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let f = &self.figures;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP pupitre_history_remote_write_samples_total Samples of the remote write, by outcome.\n\
             # TYPE pupitre_history_remote_write_samples_total counter\n\
             pupitre_history_remote_write_samples_total{{result=\"sent\"}} {}\n\
             pupitre_history_remote_write_samples_total{{result=\"dropped\"}} {}\n\
             pupitre_history_remote_write_samples_total{{result=\"rejected\"}} {}\n\
             # HELP pupitre_history_remote_write_requests_total Remote-write requests, by outcome.\n\
             # TYPE pupitre_history_remote_write_requests_total counter\n\
             pupitre_history_remote_write_requests_total{{result=\"ok\"}} {}\n\
             pupitre_history_remote_write_requests_total{{result=\"retried\"}} {}\n\
             pupitre_history_remote_write_requests_total{{result=\"rejected\"}} {}\n\
             # HELP pupitre_history_remote_write_queued_samples Samples waiting to be sent.\n\
             # TYPE pupitre_history_remote_write_queued_samples gauge\n\
             pupitre_history_remote_write_queued_samples {}",
            load(&f.sent),
            load(&f.dropped),
            load(&f.rejected),
            load(&f.requests_ok),
            load(&f.requests_retried),
            load(&f.requests_rejected),
            load(&f.queued),
        );
    }

    /// Samples sent, dropped (queue full) and rejected (by the receiver), for tests.
    pub fn counts(&self) -> (u64, u64, u64) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            load(&self.figures.sent),
            load(&self.figures.dropped),
            load(&self.figures.rejected),
        )
    }
}

enum Failure {
    /// Might pass later.
    Retry(String),
    /// The receiver said no.
    Refused(String),
}

/// A number in [0, 1) from the clock's nanoseconds: enough to spread retries.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1_000) / 1_000.0
}

/// Asset and check names, read once each.
#[derive(Default)]
struct Names {
    assets: HashMap<AssetId, String>,
    checks: HashMap<i64, String>,
}

impl Names {
    /// The request's body: a `WriteRequest`, snappy-compressed.
    async fn request(&mut self, store: &dyn Store, batch: &[Outgoing]) -> Vec<u8> {
        let mut request = Vec::new();
        for item in batch {
            if let Entry::Vacant(slot) = self.assets.entry(item.asset_id) {
                let name = store
                    .get_asset(item.asset_id)
                    .await
                    .map_or_else(|_| item.asset_id.to_string(), |a| a.name);
                slot.insert(name);
            }
            let check = if item.source.kind == SourceKind::Check {
                if let Entry::Vacant(slot) = self.checks.entry(item.source.id) {
                    let name = store
                        .get_check(item.source.id)
                        .await
                        .map_or_else(|_| item.source.id.to_string(), |c| c.check.definition.name);
                    slot.insert(name);
                }
                self.checks.get(&item.source.id).cloned()
            } else {
                None
            };
            let mut labels: Vec<(String, String)> = item.key.labels().to_vec();
            let host = self.assets.get(&item.asset_id).cloned().unwrap_or_default();
            let mut extra = vec![
                ("__name__", item.key.name().to_owned()),
                ("host", host),
                ("source", item.source.kind.key().to_owned()),
            ];
            if let Some(check) = check {
                extra.push(("check", check));
            }
            for (name, value) in extra {
                if !labels.iter().any(|(n, _)| n == name) {
                    labels.push((name.to_owned(), value));
                }
            }
            labels.retain(|(_, v)| !v.is_empty());
            labels.sort_unstable();
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let series = protobuf::time_series(&labels, &item.timestamps, &item.values);
            protobuf::field(&mut request, 1, &series);
        }
        snap::raw::Encoder::new()
            .compress_vec(&request)
            .unwrap_or_default()
    }
}

/// The few protobuf messages of remote write, encoded by hand (`prometheus/prompb`):
/// `WriteRequest { repeated TimeSeries timeseries = 1; }`,
/// `TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }`,
/// `Label { string name = 1; string value = 2; }`, `Sample { double value = 1; int64 timestamp = 2; }`.
pub(crate) mod protobuf {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// A length-delimited field.
    pub(crate) fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, number << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    pub(crate) fn time_series(
        labels: &[(&str, &str)],
        timestamps: &[i64],
        values: &[f64],
    ) -> Vec<u8> {
        let mut series = Vec::new();
        for (name, value) in labels {
            let mut label = Vec::new();
            field(&mut label, 1, name.as_bytes());
            field(&mut label, 2, value.as_bytes());
            field(&mut series, 1, &label);
        }
        for (&t, &v) in timestamps.iter().zip(values) {
            let mut sample = Vec::with_capacity(20);
            sample.push(1 << 3 | 1);
            sample.extend_from_slice(&v.to_le_bytes());
            sample.push(2 << 3);
            varint(&mut sample, t as u64);
            field(&mut series, 2, &sample);
        }
        series
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_series_encodes_as_prompb_does() {
            let bytes = super::time_series(&[("__name__", "up")], &[1_000], &[1.0]);
            let expected: Vec<u8> = [
                // labels: { name: "__name__", value: "up" }
                &[0x0a, 14, 0x0a, 8][..],
                b"__name__",
                &[0x12, 2],
                b"up",
                // samples: { value: 1.0, timestamp: 1000 }
                &[0x12, 12, 0x09],
                &1.0_f64.to_le_bytes(),
                &[0x10, 0xe8, 0x07],
            ]
            .concat();
            assert_eq!(bytes, expected);
        }
    }
}
