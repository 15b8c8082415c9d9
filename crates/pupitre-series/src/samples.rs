//! Samples of one series gathered from several writes, and the two-hour windows that raw
//! chunks are cut on.
//!
//! The same series can arrive in several batches, out of time order, and a sample can be sent
//! again (an agent that resends after a lost acknowledgement). [`merge`] puts them in time
//! order and keeps one sample per timestamp: the one from the latest write.

/// Raw chunks hold the samples of one series within one window, `[start, start + WINDOW)`,
/// aligned on the epoch.
pub const WINDOW: i64 = 2 * 3_600_000;

/// The start of the window that holds `at`.
pub fn window_of(at: i64) -> i64 {
    at.div_euclid(WINDOW) * WINDOW
}

/// Samples from one write; a larger `seq` is a later write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub seq: i64,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// The samples of `runs` in time order, one per timestamp (the latest write's).
pub fn merge(runs: &[Run]) -> (Vec<i64>, Vec<f64>) {
    let total: usize = runs.iter().map(|run| run.timestamps.len()).sum();
    let ordered = {
        let mut last = i64::MIN;
        let mut seq = i64::MIN;
        let mut ordered = true;
        for run in runs {
            for &t in &run.timestamps {
                ordered &= t > last;
                last = t;
            }
            ordered &= run.seq >= seq;
            seq = run.seq;
        }
        ordered
    };
    if ordered {
        // The common case: batches of a steady source, each after the other.
        let mut timestamps = Vec::with_capacity(total);
        let mut values = Vec::with_capacity(total);
        for run in runs {
            timestamps.extend_from_slice(&run.timestamps);
            values.extend_from_slice(&run.values);
        }
        return (timestamps, values);
    }
    let mut all: Vec<(i64, i64, f64)> = Vec::with_capacity(total);
    for run in runs {
        all.extend(
            run.timestamps
                .iter()
                .zip(&run.values)
                .map(|(&t, &v)| (t, run.seq, v)),
        );
    }
    // Stable: within one write, the later of two samples at the same time wins too.
    all.sort_by_key(|&(t, seq, _)| (t, seq));
    let mut timestamps: Vec<i64> = Vec::with_capacity(all.len());
    let mut values: Vec<f64> = Vec::with_capacity(all.len());
    for (t, _, v) in all {
        if timestamps.last() == Some(&t) {
            if let Some(last) = values.last_mut() {
                *last = v;
            }
        } else {
            timestamps.push(t);
            values.push(v);
        }
    }
    (timestamps, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seq: i64, samples: &[(i64, f64)]) -> Run {
        Run {
            seq,
            timestamps: samples.iter().map(|s| s.0).collect(),
            values: samples.iter().map(|s| s.1).collect(),
        }
    }

    #[test]
    fn runs_merge_in_time_order_and_the_latest_write_wins() {
        let in_order = [run(1, &[(1, 1.0), (2, 2.0)]), run(2, &[(3, 3.0)])];
        assert_eq!(merge(&in_order), (vec![1, 2, 3], vec![1.0, 2.0, 3.0]));

        let mixed = [
            run(5, &[(10, 5.0), (2, 5.5)]),
            run(3, &[(2, 3.0), (7, 3.0)]),
            run(4, &[(7, 4.0), (7, 4.5)]),
        ];
        assert_eq!(merge(&mixed), (vec![2, 7, 10], vec![5.5, 4.5, 5.0]));
        assert_eq!(merge(&[]), (vec![], vec![]));
    }

    #[test]
    fn windows_are_aligned_on_the_epoch() {
        assert_eq!(window_of(0), 0);
        assert_eq!(window_of(WINDOW - 1), 0);
        assert_eq!(window_of(WINDOW), WINDOW);
        assert_eq!(window_of(-1), -WINDOW);
    }
}
