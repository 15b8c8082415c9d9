//! Downsampling: the samples of each step-long stretch of time summed up in one point, as the
//! 1-minute and 1-hour tiers keep them.
//!
//! A point keeps the count, sum, minimum and maximum of the values in its stretch, and the last
//! one (for gauges). Stretches are aligned on multiples of the step since the Unix epoch, so
//! that every tier cuts time at the same places: an hour's point is exactly the merge of its
//! sixty minutes' points.
//!
//! NaN values (a failed reading, Prometheus's staleness marker) are kept in the raw chunks but
//! are not summed up: a stretch of NaN alone has no point. Infinities are summed up as they are
//! (a minimum of -∞, a sum of ∞).
//!
//! [`encode`] and [`decode`] store a run of points as one BLOB: the stretch starts with each
//! column (count, sum, min, max, last) as a chunk of its own, so each column gets the encoding
//! that suits it. A decoded point's `last_at` is its start: points merge in time order.

use crate::bits::{push_varint, read_varint};
use crate::chunk::{self, ChunkError};

const VERSION: u8 = 1;
const COLUMNS: u64 = 5;

/// One stretch of a series, `[start, start + step)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rollup {
    /// Milliseconds since the Unix epoch, a multiple of the step.
    pub start: i64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The value of the latest sample.
    pub last: f64,
    /// When that sample was taken, so that merging keeps the right one.
    pub last_at: i64,
}

impl Rollup {
    fn of(start: i64, at: i64, value: f64) -> Rollup {
        Rollup {
            start,
            count: 1,
            sum: value,
            min: value,
            max: value,
            last: value,
            last_at: at,
        }
    }

    fn add(&mut self, at: i64, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if at >= self.last_at {
            self.last = value;
            self.last_at = at;
        }
    }

    /// Adds `other`'s samples (a stretch within this one) to this point.
    pub fn merge(&mut self, other: &Rollup) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.last_at >= self.last_at {
            self.last = other.last;
            self.last_at = other.last_at;
        }
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// The start of the `step`-long stretch that holds `at`.
pub fn stretch_start(at: i64, step: i64) -> i64 {
    at.div_euclid(step) * step
}

/// Sums up samples in time order into one point per `step` ms that has a value.
///
/// Samples out of time order are taken as they come (the ingest keeps series in order).
/// `step` must be positive.
pub fn downsample(timestamps: &[i64], values: &[f64], step: i64) -> Vec<Rollup> {
    debug_assert!(step > 0);
    let step = step.max(1);
    let mut points: Vec<Rollup> = Vec::new();
    for (&at, &value) in timestamps.iter().zip(values) {
        if value.is_nan() {
            continue;
        }
        let start = stretch_start(at, step);
        match points.last_mut() {
            Some(point) if point.start == start => point.add(at, value),
            _ => points.push(Rollup::of(start, at, value)),
        }
    }
    points
}

/// Merges points of a finer tier into points `step` ms long (a multiple of theirs).
pub fn merge_into(points: &[Rollup], step: i64) -> Vec<Rollup> {
    let step = step.max(1);
    let mut merged: Vec<Rollup> = Vec::new();
    for point in points {
        let start = stretch_start(point.start, step);
        match merged.last_mut() {
            Some(last) if last.start == start => last.merge(point),
            _ => merged.push(Rollup { start, ..*point }),
        }
    }
    merged
}

/// The points as one BLOB (see the module's documentation).
pub fn encode(points: &[Rollup]) -> Result<Vec<u8>, ChunkError> {
    let starts: Vec<i64> = points.iter().map(|p| p.start).collect();
    let columns: [Vec<f64>; COLUMNS as usize] = [
        points.iter().map(|p| p.count as f64).collect(),
        points.iter().map(|p| p.sum).collect(),
        points.iter().map(|p| p.min).collect(),
        points.iter().map(|p| p.max).collect(),
        points.iter().map(|p| p.last).collect(),
    ];
    let mut bytes = vec![VERSION];
    push_varint(&mut bytes, COLUMNS);
    for column in &columns {
        let encoded = chunk::encode(&starts, column)?;
        push_varint(&mut bytes, encoded.len() as u64);
        bytes.extend_from_slice(&encoded);
    }
    Ok(bytes)
}

/// The points [`encode`] stored.
pub fn decode(bytes: &[u8]) -> Result<Vec<Rollup>, ChunkError> {
    let [version, rest @ ..] = bytes else {
        return Err(ChunkError::Truncated(0));
    };
    if *version != VERSION {
        return Err(ChunkError::Version(*version));
    }
    let mut rest = rest;
    if read_varint(&mut rest) != Some(COLUMNS) {
        return Err(ChunkError::Truncated(0));
    }
    let mut starts = Vec::new();
    let mut columns: Vec<Vec<f64>> = Vec::with_capacity(COLUMNS as usize);
    for _ in 0..COLUMNS {
        let length = read_varint(&mut rest)
            .and_then(|l| usize::try_from(l).ok())
            .filter(|&l| l <= rest.len())
            .ok_or(ChunkError::Truncated(0))?;
        let (column, tail) = rest.split_at(length);
        rest = tail;
        let (column_starts, values) = chunk::decode(column)?;
        if columns.is_empty() {
            starts = column_starts;
        } else if column_starts.len() != starts.len() {
            return Err(ChunkError::LengthMismatch {
                timestamps: starts.len(),
                values: column_starts.len(),
            });
        }
        columns.push(values);
    }
    let [count, sum, min, max, last] = &columns[..] else {
        return Err(ChunkError::Truncated(0));
    };
    Ok((0..starts.len())
        .map(|i| Rollup {
            start: starts[i],
            count: count[i] as u64,
            sum: sum[i],
            min: min[i],
            max: max[i],
            last: last[i],
            last_at: starts[i],
        })
        .collect())
}

/// `points` with those in `[from, to)` replaced by `fresh` (points in that stretch, in time
/// order), all in time order: how a tier takes a window that was compacted again.
pub fn replace_points(points: Vec<Rollup>, from: i64, to: i64, fresh: &[Rollup]) -> Vec<Rollup> {
    let mut out: Vec<Rollup> = Vec::with_capacity(points.len() + fresh.len());
    let mut rest = points.into_iter().peekable();
    while let Some(point) = rest.next_if(|p| p.start < from) {
        out.push(point);
    }
    out.extend_from_slice(fresh);
    out.extend(rest.filter(|p| p.start >= to));
    out
}
