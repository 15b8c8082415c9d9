//! The metric history's storage: series and their sources, the durable ingest buffer, raw
//! chunks and the downsampled tiers (migration 0007).
//!
//! A sample goes through three places, each a transaction:
//!
//! 1. [`MetricStore::append_samples`] stores a batch (many series, encoded by
//!    `pupitre_series::batch`) as one row of `metric_ingest` and commits it durably: the
//!    source is acknowledged only then. On SQLite that commit is synced to disk
//!    (`synchronous = FULL`), so neither a crash of the process nor one of the machine loses it.
//! 2. [`MetricStore::seal_samples`] moves buffered batches into per-series chunks of the
//!    two-hour window they fall in (`metric_chunks`, not yet compacted).
//! 3. [`MetricStore::compact_samples`], once a window has ended (plus [`GRACE`]), merges its
//!    chunks into one per series and writes the window's 1-minute and 1-hour points into
//!    `metric_rollups` (a row holds 1,440 points of one series).
//!
//! Reads merge what is in each place, so a sample can be read as soon as it is acknowledged.
//! Samples of the same series and timestamp replace each other: the latest write wins.
//! Sealing, compaction and expiry take turns through a lock row, so several servers sharing a
//! PostgreSQL database can all run them.

use std::collections::HashMap;

use async_trait::async_trait;
use pupitre_core::inventory::AssetId;
use pupitre_core::permission::EntityId;
use pupitre_series::batch;
use pupitre_series::query::Tier;
use pupitre_series::rollup::{self, Rollup};
use pupitre_series::samples::{self, Run};
use pupitre_series::series::{Kind, SeriesKey};

use crate::{Result, StoreError};

pub type SeriesId = i64;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// The points of one `metric_rollups` row.
pub const SPAN_POINTS: i64 = 1_440;

/// How long after a window's end its compaction waits for late samples. Samples later still
/// are sealed into the window anyway, and the window is compacted again.
pub const GRACE: i64 = 5 * MINUTE;

/// What writes a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A check's performance data.
    Check,
    /// A Pupitre agent's collectors.
    Agent,
    /// A file or stream loaded by `pupitre metrics import`.
    Import,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::Check, SourceKind::Agent, SourceKind::Import];

    pub fn key(self) -> &'static str {
        match self {
            SourceKind::Check => "check",
            SourceKind::Agent => "agent",
            SourceKind::Import => "import",
        }
    }

    pub fn parse(key: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|kind| kind.key() == key)
    }
}

/// One source: a check, an agent, an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    pub kind: SourceKind,
    pub id: i64,
}

/// A series a source wants to write.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSeries {
    pub key: SeriesKey,
    pub unit: String,
    pub kind: Kind,
}

/// A stored series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRecord {
    pub id: SeriesId,
    pub source: Source,
    pub asset_id: AssetId,
    /// The asset's entity now: who may read the series.
    pub entity_id: EntityId,
    /// The asset's name now.
    pub asset_name: String,
    /// The check's name now, for a check's series.
    pub check_name: Option<String>,
    pub key: SeriesKey,
    pub unit: String,
    pub kind: Kind,
    pub created_at: i64,
}

/// What [`MetricStore::register_series`] made of a source's series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Registration {
    /// The id of each series asked for, in order; `None` where the source's limit refused it.
    pub ids: Vec<Option<SeriesId>>,
    /// How many series the source has now.
    pub series: u64,
}

impl Registration {
    pub fn refused(&self) -> usize {
        self.ids.iter().filter(|id| id.is_none()).count()
    }
}

/// A source that went over its cardinality limit.
#[derive(Clone, Debug, PartialEq)]
pub struct RefusedSource {
    pub source: Source,
    pub series: u64,
    /// Series refused since the source's first write.
    pub refused: u64,
    pub refused_at: i64,
    /// One of them, `name{labels}`.
    pub example: String,
}

/// Which series [`MetricStore::find_series`] returns. Every condition is ANDed.
#[derive(Clone, Debug, Default)]
pub struct SeriesFilter {
    /// Only series whose asset is in one of these entities.
    pub visible: Vec<EntityId>,
    pub name: Option<String>,
    pub asset_id: Option<AssetId>,
    pub source: Option<Source>,
    /// Only these series.
    pub ids: Option<Vec<SeriesId>>,
    /// Only series of these sources of one kind (the checks of a list).
    pub sources: Option<(SourceKind, Vec<i64>)>,
    /// At most this many, by id.
    pub limit: i64,
}

/// The samples of one series over a range, in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesSamples {
    pub series: SeriesId,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// How long each tier keeps its history, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub raw: i64,
    pub minute: i64,
    pub hour: i64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            raw: 14 * DAY,
            minute: 90 * DAY,
            hour: 730 * DAY,
        }
    }
}

impl Retention {
    /// Raw samples, then 1-minute points, then 1-hour points.
    pub fn tiers(&self) -> [Tier; 3] {
        [
            Tier {
                step: 0,
                retention: self.raw,
            },
            Tier {
                step: MINUTE,
                retention: self.minute,
            },
            Tier {
                step: HOUR,
                retention: self.hour,
            },
        ]
    }
}

/// What one [`MetricStore::seal_samples`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SealReport {
    pub batches: u64,
    pub samples: u64,
    pub chunks: u64,
    /// Batches that could not be decoded: dropped, and reported.
    pub damaged: u64,
}

/// What one [`MetricStore::compact_samples`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Series windows compacted.
    pub windows: u64,
    /// Chunks merged into them.
    pub chunks: u64,
    pub samples: u64,
    /// 1-minute and 1-hour points written.
    pub points: u64,
    pub damaged: u64,
}

/// What one [`MetricStore::expire_samples`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireReport {
    pub chunks: u64,
    pub rollups: u64,
}

/// Sizes of the history, for benchmarks and the administration page (it counts every row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryStats {
    pub series: u64,
    pub buffered_batches: u64,
    pub buffered_samples: u64,
    pub buffered_bytes: u64,
    pub chunks: u64,
    pub chunk_samples: u64,
    pub chunk_bytes: u64,
    pub rollup_rows: u64,
    pub rollup_points: u64,
    pub rollup_bytes: u64,
}

#[async_trait]
pub trait MetricStore: Send + Sync {
    /// The ids of `series` of `source` (of asset `asset_id`), creating those that do not exist
    /// while the source has fewer than `limit` series. Refused series are counted on the
    /// source ([`MetricStore::refused_sources`]).
    async fn register_series(
        &self,
        source: Source,
        asset_id: AssetId,
        series: &[NewSeries],
        limit: u64,
        now: i64,
    ) -> Result<Registration>;

    /// Stores a batch (`pupitre_series::batch`) of `samples` samples durably; returns its
    /// sequence number. Once this returns the batch survives a crash.
    async fn append_samples(&self, batch: &[u8], samples: u64, now: i64) -> Result<i64>;

    /// Seals buffered batches, oldest first, until about `most_samples` samples are sealed.
    async fn seal_samples(&self, now: i64, most_samples: u64) -> Result<SealReport>;

    /// Compacts at most `most_windows` series windows that ended before `now - GRACE`.
    async fn compact_samples(&self, now: i64, most_windows: u64) -> Result<CompactReport>;

    /// Removes raw chunks and tier rows older than their retention.
    async fn expire_samples(&self, now: i64, retention: &Retention) -> Result<ExpireReport>;

    async fn find_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesRecord>>;

    /// The raw samples of `series` within `[start, end]`, in the order of `series`.
    async fn read_samples(
        &self,
        series: &[SeriesId],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesSamples>>;

    /// The points of `series` in the tier of `step` (1 minute or 1 hour) whose stretch starts
    /// within `[start, end]`, in the order of `series`. Windows not compacted yet are summed up
    /// from their raw samples.
    async fn read_rollups(
        &self,
        series: &[SeriesId],
        step: i64,
        start: i64,
        end: i64,
    ) -> Result<Vec<(SeriesId, Vec<Rollup>)>>;

    async fn refused_sources(&self) -> Result<Vec<RefusedSource>>;

    async fn history_stats(&self) -> Result<HistoryStats>;
}

/// The steps of the tiers compaction writes.
pub const TIER_STEPS: [i64; 2] = [MINUTE, HOUR];

/// A stored label set, as JSON: `{"a":"x","b":"y"}` (sorted, as `SeriesKey` keeps them).
pub(crate) fn encode_labels(key: &SeriesKey) -> String {
    let map: serde_json::Map<String, serde_json::Value> = key
        .labels()
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

pub(crate) fn decode_key(name: &str, labels: &str) -> Result<SeriesKey> {
    let bad = |what: String| StoreError::Rejected(format!("stored series {name}: {what}"));
    let map: HashMap<String, String> =
        serde_json::from_str(labels).map_err(|e| bad(e.to_string()))?;
    SeriesKey::new(name, map).map_err(|e| bad(e.to_string()))
}

pub(crate) fn damaged(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected(format!("damaged {what}: {e}"))
}

/// Samples gathered per series and window, each write a [`Run`].
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub(crate) groups: HashMap<(SeriesId, i64), Vec<Run>>,
}

impl Gathered {
    /// Adds the samples of one chunk, written as `seq`, split by window; with `keep`, only
    /// samples within `[start, end]`.
    pub(crate) fn add_chunk(
        &mut self,
        series: SeriesId,
        seq: i64,
        chunk: &[u8],
        keep: Option<(i64, i64)>,
    ) -> Result<u64> {
        let (timestamps, values) =
            pupitre_series::chunk::decode(chunk).map_err(|e| damaged("chunk", e))?;
        // The common case: every sample in one window and kept, handed over without a copy.
        if let (Some(&first), Some(&last)) = (timestamps.first(), timestamps.last())
            && samples::window_of(first) == samples::window_of(last)
            && timestamps
                .iter()
                .all(|&t| samples::window_of(t) == samples::window_of(first))
            && keep
                .is_none_or(|(start, stop)| timestamps.iter().all(|t| (start..=stop).contains(t)))
        {
            let added = timestamps.len() as u64;
            self.groups
                .entry((series, samples::window_of(first)))
                .or_default()
                .push(Run {
                    seq,
                    timestamps,
                    values,
                });
            return Ok(added);
        }
        let mut added = 0;
        let mut index = 0;
        while index < timestamps.len() {
            let window = samples::window_of(timestamps[index]);
            let mut end = index;
            while end < timestamps.len() && samples::window_of(timestamps[end]) == window {
                end += 1;
            }
            let mut run = Run {
                seq,
                timestamps: Vec::with_capacity(end - index),
                values: Vec::with_capacity(end - index),
            };
            for i in index..end {
                if keep.is_none_or(|(start, stop)| (start..=stop).contains(&timestamps[i])) {
                    run.timestamps.push(timestamps[i]);
                    run.values.push(values[i]);
                }
            }
            if !run.timestamps.is_empty() {
                added += run.timestamps.len() as u64;
                self.groups.entry((series, window)).or_default().push(run);
            }
            index = end;
        }
        Ok(added)
    }

    /// Adds the series of a buffered batch (all of them, or those in `wanted`).
    pub(crate) fn add_batch(
        &mut self,
        seq: i64,
        data: &[u8],
        wanted: Option<&std::collections::HashSet<SeriesId>>,
        keep: Option<(i64, i64)>,
    ) -> Result<u64> {
        let mut added = 0;
        for entry in batch::entries(data).map_err(|e| damaged("batch", e))? {
            let (series, chunk) = entry.map_err(|e| damaged("batch", e))?;
            let series = i64::try_from(series).map_err(|e| damaged("batch", e))?;
            if wanted.is_none_or(|w| w.contains(&series)) {
                added += self.add_chunk(series, seq, chunk, keep)?;
            }
        }
        Ok(added)
    }

    /// Each group merged: `((series, window), latest seq, timestamps, values)`.
    pub(crate) fn merged(self) -> Vec<MergedWindow> {
        let mut out: Vec<MergedWindow> = self
            .groups
            .into_iter()
            .map(|((series, window), mut runs)| {
                runs.sort_by_key(|run| run.seq);
                let seq = runs.last().map_or(0, |run| run.seq);
                let (timestamps, values) = match runs.pop() {
                    Some(only) if runs.is_empty() && only.timestamps.is_sorted_by(|a, b| a < b) => {
                        (only.timestamps, only.values)
                    }
                    Some(last) => {
                        runs.push(last);
                        samples::merge(&runs)
                    }
                    None => (Vec::new(), Vec::new()),
                };
                MergedWindow {
                    series,
                    window,
                    seq,
                    timestamps,
                    values,
                }
            })
            .collect();
        out.sort_by_key(|m| (m.series, m.window));
        out
    }
}

/// The samples of one series in one window, merged.
#[derive(Debug)]
pub(crate) struct MergedWindow {
    pub(crate) series: SeriesId,
    pub(crate) window: i64,
    pub(crate) seq: i64,
    pub(crate) timestamps: Vec<i64>,
    pub(crate) values: Vec<f64>,
}

impl MergedWindow {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        pupitre_series::chunk::encode(&self.timestamps, &self.values)
            .map_err(|e| damaged("samples", e))
    }

    /// The window's points in each tier of [`TIER_STEPS`].
    pub(crate) fn tier_points(&self) -> [Vec<Rollup>; 2] {
        let minutes = rollup::downsample(&self.timestamps, &self.values, MINUTE);
        let hours = rollup::merge_into(&minutes, HOUR);
        [minutes, hours]
    }
}

/// Samples per series, in time order, from merged windows.
pub(crate) fn per_series(series: &[SeriesId], windows: Vec<MergedWindow>) -> Vec<SeriesSamples> {
    let mut by_series: HashMap<SeriesId, SeriesSamples> = HashMap::new();
    for window in windows {
        let entry = by_series
            .entry(window.series)
            .or_insert_with(|| SeriesSamples {
                series: window.series,
                ..SeriesSamples::default()
            });
        entry.timestamps.extend(window.timestamps);
        entry.values.extend(window.values);
    }
    series
        .iter()
        .map(|id| {
            by_series.remove(id).unwrap_or_else(|| SeriesSamples {
                series: *id,
                ..SeriesSamples::default()
            })
        })
        .collect()
}

/// The start of the `metric_rollups` row of tier `step` that holds `at`.
pub(crate) fn span_of(at: i64, step: i64) -> i64 {
    rollup::stretch_start(at, step * SPAN_POINTS)
}
