//! The metric history's writer and its upkeep: sources hand samples to [`History::write`],
//! which names their series (within each source's cardinality limit), checks their
//! timestamps and stores them as one durable batch; [`History::maintain`] seals, compacts and
//! expires in the background and counts what it does for `/metrics`.
//!
//! Checks reach it through [`Recorder`], the engine's [`MetricsSink`]: their performance data
//! are queued without blocking the engine and written once a second, all checks together.
//!
//! What the history does with unusual samples:
//!
//! - **NaN** is stored as it came (a failed reading, Prometheus's staleness marker, a plugin's
//!   `U`); rollups and aggregations skip it.
//! - **±Inf** is stored and counted in rollups (a maximum of +Inf, a sum of ±Inf).
//! - **Out of order**: a sample older than others of its series is put in its place; a sample
//!   at the timestamp of an earlier one replaces it.
//! - **Too old or in the future**: a sample older than the raw retention, or more than
//!   [`FUTURE_TOLERANCE`] ahead of the server's clock, is refused and counted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pupitre_core::inventory::AssetId;
use pupitre_core::monitoring::exposition::{Exposition, MetricType, Sample};
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_series::batch::BatchWriter;
use pupitre_series::series::{Kind, SeriesKey};
use pupitre_store::metrics::{NewSeries, Retention, SeriesId, Source, SourceKind};
use pupitre_store::{Store, StoreError};
use tokio::sync::{Notify, mpsc};

use crate::now_ms;
use crate::remote_write::{Outgoing, RemoteWriter};
use crate::sink::{MetricsSink, ResultSample};

/// How far ahead of the server's clock a sample may be.
pub const FUTURE_TOLERANCE: i64 = 10 * 60_000;

#[derive(Clone, Debug)]
pub struct HistoryConfig {
    /// Series one source may have; beyond, new series are refused and counted.
    pub series_per_source: u64,
    pub retention: Retention,
    /// How long check results wait to be written together.
    pub flush_every: Duration,
    /// How often buffered batches are sealed into chunks (sooner when many are waiting).
    pub seal_every: Duration,
    /// Buffered samples that make sealing start at once.
    pub seal_after_samples: u64,
    pub compact_every: Duration,
    pub expire_every: Duration,
    /// Check results waiting to be written; beyond, new ones are dropped and counted.
    pub queue: usize,
}

impl Default for HistoryConfig {
    fn default() -> HistoryConfig {
        HistoryConfig {
            series_per_source: 10_000,
            retention: Retention::default(),
            flush_every: Duration::from_secs(1),
            seal_every: Duration::from_secs(60),
            seal_after_samples: 1_000_000,
            compact_every: Duration::from_secs(300),
            expire_every: Duration::from_secs(3_600),
            queue: 100_000,
        }
    }
}

/// The samples of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesData {
    pub series: NewSeries,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// What one source writes.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceData {
    pub source: Source,
    pub asset_id: AssetId,
    pub series: Vec<SeriesData>,
}

/// What [`History::write`] stored and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The batch's sequence number; 0 when nothing was written.
    pub batch: i64,
    pub samples: u64,
    /// Samples of series the source's limit refused.
    pub over_limit: u64,
    pub too_old: u64,
    pub in_future: u64,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct HistoryFigures {
    samples: AtomicU64,
    batches: AtomicU64,
    write_errors: AtomicU64,
    over_limit: AtomicU64,
    too_old: AtomicU64,
    in_future: AtomicU64,
    queue_full: AtomicU64,
    tasks: [TaskFigures; 3],
    sealed_samples: AtomicU64,
    compacted_windows: AtomicU64,
    expired_chunks: AtomicU64,
    expired_rollups: AtomicU64,
}

#[derive(Default)]
struct TaskFigures {
    runs: AtomicU64,
    errors: AtomicU64,
    micros: AtomicU64,
    last_at: AtomicI64,
}

const TASKS: [&str; 3] = ["seal", "compact", "expire"];

impl HistoryFigures {
    /// Appends the history's figures in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        counter(
            "pupitre_history_samples_written_total",
            "Samples stored durably in the metric history.",
            &[("", load(&self.samples))],
        );
        counter(
            "pupitre_history_batches_written_total",
            "Batches of samples stored durably.",
            &[("", load(&self.batches))],
        );
        counter(
            "pupitre_history_write_errors_total",
            "Batches the database refused (their samples are lost).",
            &[("", load(&self.write_errors))],
        );
        counter(
            "pupitre_history_samples_refused_total",
            "Samples refused, by reason.",
            &[
                ("{reason=\"series_limit\"}", load(&self.over_limit)),
                ("{reason=\"too_old\"}", load(&self.too_old)),
                ("{reason=\"in_future\"}", load(&self.in_future)),
                ("{reason=\"queue_full\"}", load(&self.queue_full)),
            ],
        );
        let per_task = |pick: fn(&TaskFigures) -> u64| -> Vec<(String, u64)> {
            TASKS
                .iter()
                .zip(&self.tasks)
                .map(|(task, figures)| (format!("{{task=\"{task}\"}}"), pick(figures)))
                .collect()
        };
        for (name, help, rows) in [
            (
                "pupitre_history_maintenance_runs_total",
                "Runs of the history's upkeep, by task.",
                per_task(|t| t.runs.load(Ordering::Relaxed)),
            ),
            (
                "pupitre_history_maintenance_errors_total",
                "Failed runs of the history's upkeep, by task.",
                per_task(|t| t.errors.load(Ordering::Relaxed)),
            ),
        ] {
            let rows: Vec<(&str, u64)> = rows.iter().map(|(l, v)| (l.as_str(), *v)).collect();
            counter(name, help, &rows);
        }
        let _ = writeln!(
            out,
            "# HELP pupitre_history_maintenance_seconds_total Time spent in the history's upkeep, by task.\n\
             # TYPE pupitre_history_maintenance_seconds_total counter"
        );
        for (task, figures) in TASKS.iter().zip(&self.tasks) {
            let seconds = figures.micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "pupitre_history_maintenance_seconds_total{{task=\"{task}\"}} {seconds}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP pupitre_history_maintenance_last_run_timestamp_seconds When each upkeep task last succeeded.\n\
             # TYPE pupitre_history_maintenance_last_run_timestamp_seconds gauge"
        );
        for (task, figures) in TASKS.iter().zip(&self.tasks) {
            let at = figures.last_at.load(Ordering::Relaxed) as f64 / 1e3;
            let _ = writeln!(
                out,
                "pupitre_history_maintenance_last_run_timestamp_seconds{{task=\"{task}\"}} {at}"
            );
        }
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "pupitre_history_sealed_samples_total",
            "Samples moved from the ingest buffer into chunks.",
            load(&self.sealed_samples),
        );
        counter(
            "pupitre_history_compacted_windows_total",
            "Two-hour windows of a series compacted into one chunk and rolled up.",
            load(&self.compacted_windows),
        );
        counter(
            "pupitre_history_expired_chunks_total",
            "Raw chunks removed at the end of their retention.",
            load(&self.expired_chunks),
        );
        counter(
            "pupitre_history_expired_rollups_total",
            "Rollup rows removed at the end of their retention.",
            load(&self.expired_rollups),
        );
    }
}

/// The metric history's writer, shared by everything that records samples.
pub struct History {
    store: Arc<dyn Store>,
    config: HistoryConfig,
    figures: Arc<HistoryFigures>,
    /// Each source's series ids, `None` for a series its limit refused.
    ids: Mutex<HashMap<(Source, SeriesKey), Option<SeriesId>>>,
    /// Samples written since the last seal.
    unsealed: AtomicU64,
    seal_now: Notify,
    /// Where durable samples are also sent, when remote write is set up.
    remote: Option<Arc<RemoteWriter>>,
}

impl History {
    pub fn new(store: Arc<dyn Store>, config: HistoryConfig) -> Arc<History> {
        History::with_remote(store, config, None)
    }

    /// A history that also hands every durable sample to `remote` (see [`RemoteWriter::run`]).
    pub fn with_remote(
        store: Arc<dyn Store>,
        config: HistoryConfig,
        remote: Option<Arc<RemoteWriter>>,
    ) -> Arc<History> {
        Arc::new(History {
            store,
            config,
            figures: Arc::new(HistoryFigures::default()),
            ids: Mutex::new(HashMap::new()),
            unsealed: AtomicU64::new(0),
            seal_now: Notify::new(),
            remote,
        })
    }

    /// The history's figures, and its remote write's, in the Prometheus text format.
    pub fn render_figures(&self, out: &mut String) {
        self.figures.render(out);
        if let Some(remote) = &self.remote {
            remote.render(out);
        }
    }

    pub fn figures(&self) -> Arc<HistoryFigures> {
        self.figures.clone()
    }

    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// Stores `data` as one durable batch, and returns once it is durable: a crash after this
    /// returns loses none of it. Series over their source's limit and samples out of the
    /// accepted time range are refused and counted, not written.
    pub async fn write(&self, data: &[SourceData], now: i64) -> Result<Written, StoreError> {
        let mut written = Written::default();
        let oldest = now.saturating_sub(self.config.retention.raw);
        let newest = now.saturating_add(FUTURE_TOLERANCE);
        let mut batch = BatchWriter::new();
        let mut outgoing: Vec<Outgoing> = Vec::new();
        for source in data {
            let ids = self.resolve(source, now).await?;
            for (series, id) in source.series.iter().zip(ids) {
                let Some(id) = id else {
                    written.over_limit += series.timestamps.len() as u64;
                    continue;
                };
                let in_range = |t: &i64| (oldest..=newest).contains(t);
                let filtered: (Vec<i64>, Vec<f64>);
                let (timestamps, values): (&[i64], &[f64]) =
                    if series.timestamps.iter().all(in_range) {
                        (&series.timestamps, &series.values)
                    } else {
                        let mut kept = (Vec::new(), Vec::new());
                        for (&t, &v) in series.timestamps.iter().zip(&series.values) {
                            if t < oldest {
                                written.too_old += 1;
                            } else if t > newest {
                                written.in_future += 1;
                            } else {
                                kept.0.push(t);
                                kept.1.push(v);
                            }
                        }
                        filtered = kept;
                        (&filtered.0, &filtered.1)
                    };
                batch.push(id as u64, timestamps, values).map_err(|e| {
                    StoreError::Rejected(format!("series {}: {e}", series.series.key))
                })?;
                if self.remote.is_some() && !timestamps.is_empty() {
                    outgoing.push(Outgoing {
                        source: source.source,
                        asset_id: source.asset_id,
                        key: series.series.key.clone(),
                        timestamps: timestamps.to_vec(),
                        values: values.to_vec(),
                    });
                }
            }
        }
        let f = &self.figures;
        f.over_limit
            .fetch_add(written.over_limit, Ordering::Relaxed);
        f.too_old.fetch_add(written.too_old, Ordering::Relaxed);
        f.in_future.fetch_add(written.in_future, Ordering::Relaxed);
        if batch.is_empty() {
            return Ok(written);
        }
        written.samples = batch.samples();
        match self
            .store
            .append_samples(&batch.finish(), written.samples, now)
            .await
        {
            Ok(id) => written.batch = id,
            Err(e) => {
                f.write_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        f.samples.fetch_add(written.samples, Ordering::Relaxed);
        f.batches.fetch_add(1, Ordering::Relaxed);
        if let Some(remote) = &self.remote {
            remote.enqueue(outgoing);
        }
        let unsealed =
            self.unsealed.fetch_add(written.samples, Ordering::Relaxed) + written.samples;
        if unsealed >= self.config.seal_after_samples {
            self.seal_now.notify_one();
        }
        Ok(written)
    }

    /// The id of each series of `source`, registering those not seen yet.
    async fn resolve(
        &self,
        source: &SourceData,
        now: i64,
    ) -> Result<Vec<Option<SeriesId>>, StoreError> {
        let lookup = |ids: &HashMap<(Source, SeriesKey), Option<SeriesId>>| -> Vec<Option<Option<SeriesId>>> {
            source
                .series
                .iter()
                .map(|s| ids.get(&(source.source, s.series.key.clone())).copied())
                .collect()
        };
        let known = lookup(&self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        if known.iter().all(Option::is_some) {
            return Ok(known.into_iter().map(Option::flatten).collect());
        }
        let missing: Vec<NewSeries> = source
            .series
            .iter()
            .zip(&known)
            .filter(|(_, id)| id.is_none())
            .map(|(s, _)| s.series.clone())
            .collect();
        let registration = self
            .store
            .register_series(
                source.source,
                source.asset_id,
                &missing,
                self.config.series_per_source,
                now,
            )
            .await?;
        if registration.refused() > 0 {
            tracing::warn!(
                source = %format!("{} {}", source.source.kind.key(), source.source.id),
                refused = registration.refused(),
                limit = self.config.series_per_source,
                "a source has more series than its limit; the new ones are not recorded"
            );
        }
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        for (series, id) in missing.into_iter().zip(registration.ids) {
            ids.insert((source.source, series.key), id);
        }
        Ok(lookup(&ids).into_iter().map(Option::flatten).collect())
    }

    /// Seals, compacts and expires until `shutdown` resolves. Each task runs on its own
    /// schedule; sealing also runs as soon as many samples wait.
    pub async fn maintain(self: Arc<History>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let start = tokio::time::Instant::now();
        let mut seal =
            tokio::time::interval_at(start + self.config.seal_every, self.config.seal_every);
        let mut compact =
            tokio::time::interval_at(start + self.config.compact_every, self.config.compact_every);
        let mut expire =
            tokio::time::interval_at(start + self.config.expire_every, self.config.expire_every);
        for timer in [&mut seal, &mut compact, &mut expire] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = seal.tick() => self.seal().await,
                () = self.seal_now.notified() => self.seal().await,
                _ = compact.tick() => { self.seal().await; self.compact().await }
                _ = expire.tick() => self.expire().await,
            }
        }
    }

    /// Seals every buffered batch, a million samples per transaction.
    pub async fn seal(&self) {
        self.unsealed.store(0, Ordering::Relaxed);
        self.run_task(
            0,
            |store, now| async move {
                let mut samples = 0;
                loop {
                    let report = store.seal_samples(now, 1_000_000).await?;
                    samples += report.samples;
                    if report.batches == 0 {
                        return Ok(samples);
                    }
                }
            },
            |f, samples| f.sealed_samples.fetch_add(samples, Ordering::Relaxed),
        )
        .await;
    }

    /// Compacts every window that has ended, 2,000 series windows per transaction.
    pub async fn compact(&self) {
        self.run_task(
            1,
            |store, now| async move {
                let mut windows = 0;
                loop {
                    let report = store.compact_samples(now, 2_000).await?;
                    windows += report.windows;
                    if report.windows == 0 {
                        return Ok(windows);
                    }
                }
            },
            |f, windows| f.compacted_windows.fetch_add(windows, Ordering::Relaxed),
        )
        .await;
    }

    pub async fn expire(&self) {
        let retention = self.config.retention;
        self.run_task(
            2,
            |store, now| async move {
                let report = store.expire_samples(now, &retention).await?;
                Ok((report.chunks, report.rollups))
            },
            |f, (chunks, rollups)| {
                f.expired_chunks.fetch_add(chunks, Ordering::Relaxed);
                f.expired_rollups.fetch_add(rollups, Ordering::Relaxed)
            },
        )
        .await;
    }

    async fn run_task<T, F, Fut>(
        &self,
        task: usize,
        work: F,
        count: impl FnOnce(&HistoryFigures, T) -> u64,
    ) where
        F: FnOnce(Arc<dyn Store>, i64) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let now = now_ms();
        let figures = &self.figures.tasks[task];
        figures.runs.fetch_add(1, Ordering::Relaxed);
        match work(self.store.clone(), now).await {
            Ok(done) => {
                count(&self.figures, done);
                figures.last_at.store(now, Ordering::Relaxed);
            }
            Err(e) => {
                figures.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(task = TASKS[task], error = %e, "metric history upkeep failed");
            }
        }
        figures
            .micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

/// The series a check's performance datum is recorded in: its label made a metric name (other
/// characters become `_`; `value` when nothing is left), the label itself as `perfdata`,
/// counters (`c`) as counters and everything else as gauges.
pub fn perfdata_series(
    datum: &PerfDatum,
) -> Result<NewSeries, pupitre_series::series::SeriesError> {
    let mut name = String::with_capacity(datum.label.len());
    for c in datum.label.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        };
        if !(c == '_' && (name.is_empty() || name.ends_with('_'))) {
            name.push(c);
        }
    }
    while name.ends_with('_') {
        name.pop();
    }
    if name.is_empty() {
        name.push_str("value");
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "perf_");
    }
    let key = SeriesKey::new(&name, [("perfdata".to_owned(), datum.label.clone())])?;
    let kind = if datum.uom == Uom::Counter {
        Kind::Counter
    } else {
        Kind::Gauge
    };
    let unit = match &datum.uom {
        Uom::Counter => String::new(),
        other => other.as_str().to_owned(),
    };
    Ok(NewSeries { key, unit, kind })
}

/// The series an exposition sample (a scrape, a backfill file) is stored in: its name and
/// labels, its family's unit, a counter for counters, histograms and summaries, else a gauge.
pub fn exposition_series(
    exposition: &Exposition,
    sample: &Sample,
) -> Result<NewSeries, pupitre_series::series::SeriesError> {
    let family = exposition.family_of(&sample.name);
    let kind = match family.and_then(|f| f.metric_type) {
        Some(MetricType::Counter | MetricType::Histogram | MetricType::Summary) => Kind::Counter,
        _ => Kind::Gauge,
    };
    Ok(NewSeries {
        key: SeriesKey::new(&sample.name, sample.labels.iter().cloned())?,
        unit: family.and_then(|f| f.unit.clone()).unwrap_or_default(),
        kind,
    })
}

/// The engine's sink: queues each result's performance data for the history, without
/// blocking; a full queue drops the result and counts it.
pub struct Recorder {
    queue: mpsc::Sender<ResultSample>,
    figures: Arc<HistoryFigures>,
}

impl MetricsSink for Recorder {
    fn record(&self, sample: &ResultSample) {
        if self.queue.try_send(sample.clone()).is_err() {
            self.figures
                .queue_full
                .fetch_add(sample.perfdata.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Starts recording check results into `history`: returns the engine's sink, and the task
/// that writes what it queues once per `flush_every` (and what is left when the last sink is
/// dropped).
pub fn recorder(history: Arc<History>) -> (Recorder, tokio::task::JoinHandle<()>) {
    let (queue, mut received) = mpsc::channel::<ResultSample>(history.config.queue.max(1));
    let figures = history.figures();
    let task = tokio::spawn(async move {
        let mut pending: Vec<ResultSample> = Vec::new();
        let mut tick = tokio::time::interval(history.config.flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let open = tokio::select! {
                got = received.recv() => match got {
                    Some(sample) => {
                        pending.push(sample);
                        if pending.len() < history.config.queue {
                            continue;
                        }
                        true
                    }
                    None => false,
                },
                _ = tick.tick() => true,
            };
            if !pending.is_empty() {
                let data = results_data(std::mem::take(&mut pending));
                if let Err(e) = history.write(&data, now_ms()).await {
                    tracing::error!(error = %e, "cannot record check performance data");
                }
            }
            if !open {
                break;
            }
        }
    });
    (Recorder { queue, figures }, task)
}

/// Results grouped by check, each datum a series.
fn results_data(results: Vec<ResultSample>) -> Vec<SourceData> {
    let mut by_check: HashMap<i64, SourceData> = HashMap::new();
    for result in results {
        let data = by_check
            .entry(result.check_id)
            .or_insert_with(|| SourceData {
                source: Source {
                    kind: SourceKind::Check,
                    id: result.check_id,
                },
                asset_id: result.asset_id,
                series: Vec::new(),
            });
        for datum in &result.perfdata {
            let Ok(series) = perfdata_series(datum) else {
                continue;
            };
            let value = datum.value.unwrap_or(f64::NAN);
            match data.series.iter_mut().find(|s| s.series.key == series.key) {
                Some(existing) => {
                    existing.timestamps.push(result.at);
                    existing.values.push(value);
                }
                None => data.series.push(SeriesData {
                    series,
                    timestamps: vec![result.at],
                    values: vec![value],
                }),
            }
        }
    }
    let mut out: Vec<SourceData> = by_check.into_values().collect();
    out.sort_by_key(|d| d.source.id);
    out
}
