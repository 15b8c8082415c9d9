//! Range queries: one value per step from `start` to `end`, each summing up the samples of the
//! window that ends at that step, `(t - window, t]`.
//!
//! - Aggregations: `avg`, `min`, `max`, `sum`, `count`, `last`, `rate` (per second, for
//!   counters: resets count as a restart from 0) and quantiles (`p50`, `p95`, `p99`, or
//!   `quantile(q)` with linear interpolation between the two nearest values, as Prometheus's
//!   `quantile_over_time`).
//! - A step whose window holds no value has no point (a gap in a graph, not a zero).
//! - NaN values are left out; infinities are taken as they are.
//! - Over a tier's points ([`evaluate_rollups`]) the window takes the points whose stretch
//!   starts inside it; `rate` and quantiles need raw samples, and [`choose_tier`] picks the
//!   coarsest tier that can answer.

use crate::rollup::Rollup;

/// The most points one query returns (as Prometheus, 11,000).
pub const MOST_POINTS: i64 = 11_000;

/// How a window's values become one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Sum,
    Count,
    Last,
    Rate,
    /// Between 0 and 1.
    Quantile(f64),
}

impl Aggregation {
    /// `avg`, `min`, `max`, `sum`, `count`, `last`, `rate`, `p50`/`p95`/`p99` (any `pNN`), or
    /// `quantile(0.9)`.
    pub fn parse(text: &str) -> Result<Aggregation, QueryError> {
        let bad = || QueryError::Aggregation(text.to_owned());
        Ok(match text {
            "avg" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "sum" => Aggregation::Sum,
            "count" => Aggregation::Count,
            "last" => Aggregation::Last,
            "rate" => Aggregation::Rate,
            _ => {
                let q = if let Some(percent) = text.strip_prefix('p') {
                    percent.parse::<u8>().map_err(|_| bad())? as f64 / 100.0
                } else if let Some(q) = text
                    .strip_prefix("quantile(")
                    .and_then(|rest| rest.strip_suffix(')'))
                {
                    q.trim().parse::<f64>().map_err(|_| bad())?
                } else {
                    return Err(bad());
                };
                if !(0.0..=1.0).contains(&q) {
                    return Err(bad());
                }
                Aggregation::Quantile(q)
            }
        })
    }

    /// Whether the points of a downsampled tier can answer it.
    /// `rate` over points takes each point's last value as the counter's reading at the end
    /// of its stretch; quantiles need the raw samples.
    pub fn from_rollups(self) -> bool {
        !matches!(self, Aggregation::Quantile(_))
    }
}

/// As [`Aggregation::parse`] reads it: `avg`, …, `quantile(0.95)`.
impl std::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Aggregation::Avg => f.write_str("avg"),
            Aggregation::Min => f.write_str("min"),
            Aggregation::Max => f.write_str("max"),
            Aggregation::Sum => f.write_str("sum"),
            Aggregation::Count => f.write_str("count"),
            Aggregation::Last => f.write_str("last"),
            Aggregation::Rate => f.write_str("rate"),
            Aggregation::Quantile(q) => write!(f, "quantile({q})"),
        }
    }
}

/// Why a query cannot be answered. The message starts with the parameter at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error(
        "aggregation: {0:?} is not one of avg, min, max, sum, count, last, rate, pNN, quantile(q) with q from 0 to 1"
    )]
    Aggregation(String),
    #[error("end: before start")]
    Inverted,
    #[error("step: must be at least 1 ms")]
    Step,
    #[error(
        "step: {points} points, more than {MOST_POINTS}; take a step of at least {least_step} ms"
    )]
    TooManyPoints { points: i64, least_step: i64 },
    #[error("window: must be at least 1 ms")]
    Window,
    #[error("aggregation: {0} needs raw samples, which are not kept that far back")]
    NeedsRaw(&'static str),
}

/// When a query looks, and how finely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: i64,
    pub end: i64,
    pub step: i64,
    /// How far back each step looks.
    pub window: i64,
}

impl Range {
    /// Checks the range; `window` defaults to the step.
    pub fn new(start: i64, end: i64, step: i64, window: Option<i64>) -> Result<Range, QueryError> {
        if end < start {
            return Err(QueryError::Inverted);
        }
        if step < 1 {
            return Err(QueryError::Step);
        }
        let span = end.saturating_sub(start);
        let points = span / step + 1;
        if points > MOST_POINTS {
            return Err(QueryError::TooManyPoints {
                points,
                least_step: span / MOST_POINTS + 1,
            });
        }
        let window = window.unwrap_or(step);
        if window < 1 {
            return Err(QueryError::Window);
        }
        Ok(Range {
            start,
            end,
            step,
            window,
        })
    }

    /// The times of the points: `start`, `start + step`, … up to `end`.
    pub fn times(&self) -> impl Iterator<Item = i64> + use<> {
        let Range {
            start, end, step, ..
        } = *self;
        (0..)
            .map(move |i: i64| start + i * step)
            .take_while(move |&t| t <= end)
    }
}

/// Evaluates `aggregation` over raw samples in time order.
pub fn evaluate(
    timestamps: &[i64],
    values: &[f64],
    range: &Range,
    aggregation: Aggregation,
) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut window = Vec::new();
    let (mut low, mut high) = (0, 0);
    for t in range.times() {
        let from = t.saturating_sub(range.window);
        while low < timestamps.len() && timestamps[low] <= from {
            low += 1;
        }
        high = high.max(low);
        while high < timestamps.len() && timestamps[high] <= t {
            high += 1;
        }
        window.clear();
        window.extend(
            (low..high)
                .filter(|&i| !values[i].is_nan())
                .map(|i| (timestamps[i], values[i])),
        );
        if let Some(value) = aggregate(&mut window, aggregation) {
            out.push((t, value));
        }
    }
    out
}

/// One window's value; `None` when it has none. Sorts `window` for quantiles.
fn aggregate(window: &mut [(i64, f64)], aggregation: Aggregation) -> Option<f64> {
    let (&(first_at, _), &(last_at, last)) = (window.first()?, window.last()?);
    let values = || window.iter().map(|&(_, v)| v);
    Some(match aggregation {
        Aggregation::Avg => values().sum::<f64>() / window.len() as f64,
        Aggregation::Min => values().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::Sum => values().sum(),
        Aggregation::Count => window.len() as f64,
        Aggregation::Last => last,
        Aggregation::Rate => {
            if last_at == first_at {
                return None;
            }
            let mut increase = 0.0;
            for pair in window.windows(2) {
                let (before, after) = (pair[0].1, pair[1].1);
                // A counter that went down restarted from 0.
                increase += if after < before {
                    after
                } else {
                    after - before
                };
            }
            increase * 1000.0 / (last_at - first_at) as f64
        }
        Aggregation::Quantile(q) => {
            window.sort_by(|a, b| a.1.total_cmp(&b.1));
            let rank = q * (window.len() - 1) as f64;
            let below = rank.floor() as usize;
            let above = rank.ceil() as usize;
            let (low, high) = (window[below].1, window[above].1);
            low + (high - low) * (rank - below as f64)
        }
    })
}

/// Evaluates `aggregation` over a tier's points in time order: each step takes the points
/// whose stretch starts in its window.
pub fn evaluate_rollups(
    points: &[Rollup],
    range: &Range,
    aggregation: Aggregation,
) -> Result<Vec<(i64, f64)>, QueryError> {
    if !aggregation.from_rollups() {
        return Err(QueryError::NeedsRaw("a quantile"));
    }
    let mut out = Vec::new();
    let (mut low, mut high) = (0, 0);
    for t in range.times() {
        let from = t.saturating_sub(range.window);
        while low < points.len() && points[low].start <= from {
            low += 1;
        }
        high = high.max(low);
        while high < points.len() && points[high].start <= t {
            high += 1;
        }
        if aggregation == Aggregation::Rate {
            // Each point of the window with the one before it (which may precede the window).
            let pairs = low.max(1)..high;
            if pairs.is_empty() {
                continue;
            }
            let mut increase = 0.0;
            for i in pairs.clone() {
                let (before, after) = (points[i - 1].last, points[i].last);
                increase += if after < before {
                    after
                } else {
                    after - before
                };
            }
            let elapsed = points[high - 1].last_at - points[pairs.start - 1].last_at;
            if elapsed > 0 {
                out.push((t, increase * 1000.0 / elapsed as f64));
            }
            continue;
        }
        let Some((first, rest)) = points[low..high].split_first() else {
            continue;
        };
        let mut merged = *first;
        for point in rest {
            merged.merge(point);
        }
        let value = match aggregation {
            Aggregation::Avg => merged.mean(),
            Aggregation::Min => merged.min,
            Aggregation::Max => merged.max,
            Aggregation::Sum => merged.sum,
            Aggregation::Count => merged.count as f64,
            _ => merged.last,
        };
        out.push((t, value));
    }
    Ok(out)
}

/// A level of history: raw samples (`step` 0) or points `step` ms apart, kept `retention` ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    pub step: i64,
    pub retention: i64,
}

/// The coarsest tier that answers `range` at `now`: its points no coarser than the step, its
/// history reaching back to `start`, and raw samples for `rate` and quantiles. Otherwise the
/// finest tier that reaches back far enough. `None` when none does.
pub fn choose_tier(
    tiers: &[Tier],
    range: &Range,
    aggregation: Aggregation,
    now: i64,
) -> Option<usize> {
    let reaches = |tier: &Tier| now.saturating_sub(tier.retention) <= range.start;
    let usable = |tier: &Tier| tier.step == 0 || aggregation.from_rollups();
    let fitting = tiers
        .iter()
        .enumerate()
        .filter(|(_, tier)| reaches(tier) && usable(tier) && tier.step <= range.step)
        .max_by_key(|(_, tier)| tier.step);
    fitting
        .or_else(|| {
            tiers
                .iter()
                .enumerate()
                .filter(|(_, tier)| reaches(tier) && usable(tier))
                .min_by_key(|(_, tier)| tier.step)
        })
        .map(|(index, _)| index)
}
