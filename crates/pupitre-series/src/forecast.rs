//! Trends and the time a series will cross a threshold: "disk full in 23 days".
//!
//! [`fit`] is an ordinary least-squares line through the samples. Series with a daily rhythm
//! (backups filling a disk at night, cleaned by day) mislead a line through every sample, so
//! [`fit_seasonal`] first keeps one value per period — the highest for a rising threshold, the
//! lowest for a falling one — and fits the line through those: the trend of the peaks, which is
//! what reaches a limit first.
//!
//! A fit needs at least [`FEWEST_SAMPLES`] values spread over time; NaN and infinite values are
//! left out. [`Trend::r_squared`] says how well the line explains the values, so a caller can
//! refuse to promise a date from noise.

/// The fewest values a line is fitted through.
pub const FEWEST_SAMPLES: usize = 3;

/// A straight line `value = slope × (t - origin) + intercept`, `t` in ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trend {
    /// Where `t` is counted from (the mean time of the samples, for precision).
    pub origin: i64,
    /// Value units per millisecond.
    pub slope: f64,
    pub intercept: f64,
    /// 1 when the line goes through every value, 0 when it explains none of their spread.
    pub r_squared: f64,
    pub samples: usize,
}

impl Trend {
    /// The line's value at `t`.
    pub fn at(&self, t: i64) -> f64 {
        self.slope * (t - self.origin) as f64 + self.intercept
    }

    /// Value units per day.
    pub fn per_day(&self) -> f64 {
        self.slope * 86_400_000.0
    }

    /// When the line reaches `threshold`, coming to it after `now`: `now` when it is there,
    /// `None` when it is flat or moves away from it (a threshold already passed included).
    pub fn crossing(&self, threshold: f64, now: i64) -> Option<i64> {
        let gap = threshold - self.at(now);
        if gap == 0.0 {
            return Some(now);
        }
        if self.slope == 0.0 || gap.signum() != self.slope.signum() {
            return None;
        }
        let ms = gap / self.slope;
        if !ms.is_finite() || ms > i64::MAX as f64 / 2.0 {
            return None;
        }
        Some(now.saturating_add(ms.ceil() as i64))
    }
}

/// The least-squares line through the finite samples; `None` with fewer than
/// [`FEWEST_SAMPLES`] of them, or all at one time.
pub fn fit(timestamps: &[i64], values: &[f64]) -> Option<Trend> {
    let points: Vec<(i64, f64)> = timestamps
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| (*t, *v))
        .collect();
    if points.len() < FEWEST_SAMPLES {
        return None;
    }
    let n = points.len() as f64;
    let origin = (points.iter().map(|(t, _)| *t as f64).sum::<f64>() / n) as i64;
    let mean_x = points.iter().map(|(t, _)| (t - origin) as f64).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (t, v) in &points {
        let dx = (t - origin) as f64 - mean_x;
        let dy = v - mean_y;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r_squared = if syy == 0.0 {
        1.0
    } else {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    };
    Some(Trend {
        origin,
        slope,
        intercept: mean_y - slope * mean_x,
        r_squared,
        samples: points.len(),
    })
}

/// The line through one value per `period` ms (aligned to the epoch): the highest of each
/// period when `rising`, else the lowest, each at the time it was seen.
pub fn fit_seasonal(
    timestamps: &[i64],
    values: &[f64],
    period: i64,
    rising: bool,
) -> Option<Trend> {
    let period = period.max(1);
    let mut kept: Vec<(i64, i64, f64)> = Vec::new(); // (period, t, value)
    for (&t, &v) in timestamps.iter().zip(values) {
        if !v.is_finite() {
            continue;
        }
        let slot = t.div_euclid(period);
        match kept.last_mut() {
            Some(last) if last.0 == slot => {
                if (rising && v > last.2) || (!rising && v < last.2) {
                    *last = (slot, t, v);
                }
            }
            _ => kept.push((slot, t, v)),
        }
    }
    let (t, v): (Vec<i64>, Vec<f64>) = kept.into_iter().map(|(_, t, v)| (t, v)).unzip();
    fit(&t, &v)
}
