//! Downsampled points against a reference computed the plain way, and the hour tier against
//! the merge of the minute tier.

use pupitre_series::rollup::{Rollup, downsample, merge_into};

#[path = "support/random.rs"]
mod random;

use random::Random;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Irregular samples over about six hours, with NaN and infinities now and then, starting
/// before the epoch in one case to check negative times.
fn samples(r: &mut Random, start: i64) -> (Vec<i64>, Vec<f64>) {
    let mut t = start;
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    while t < start + 6 * HOUR {
        t += 1 + r.below(20_000) as i64;
        timestamps.push(t);
        values.push(match r.below(100) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            _ => r.unit() * 1_428.0,
        });
    }
    (timestamps, values)
}

/// The reference: for each stretch, the values in it, summed up one by one in time order.
fn reference(timestamps: &[i64], values: &[f64], step: i64) -> Vec<(i64, u64, f64, f64, f64, f64)> {
    let mut starts: Vec<i64> = timestamps
        .iter()
        .zip(values)
        .filter(|(_, v)| !v.is_nan())
        .map(|(t, _)| t.div_euclid(step) * step)
        .collect();
    starts.dedup();
    starts
        .into_iter()
        .map(|start| {
            let inside: Vec<f64> = timestamps
                .iter()
                .zip(values)
                .filter(|(t, v)| (start..start + step).contains(*t) && !v.is_nan())
                .map(|(_, v)| *v)
                .collect();
            let sum = inside.iter().sum();
            let min = inside.iter().copied().fold(f64::INFINITY, f64::min);
            let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let last = *inside.last().expect("a value");
            (start, inside.len() as u64, sum, min, max, last)
        })
        .collect()
}

fn plain(points: &[Rollup]) -> Vec<(i64, u64, f64, f64, f64, f64)> {
    points
        .iter()
        .map(|p| (p.start, p.count, p.sum, p.min, p.max, p.last))
        .collect()
}

/// Equal, sums aside: those may differ in their last bits when added in another order.
fn assert_close(got: &[(i64, u64, f64, f64, f64, f64)], want: &[(i64, u64, f64, f64, f64, f64)]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.0, g.1, g.3, g.4, g.5),
            (w.0, w.1, w.3, w.4, w.5),
            "{g:?} {w:?}"
        );
        // ∞ - ∞ is NaN, whatever the order.
        let close = g.2 == w.2
            || g.2.is_nan() && w.2.is_nan()
            || (g.2 - w.2).abs() <= 1e-9 * w.2.abs().max(1.0);
        assert!(close, "sum {g:?} {w:?}");
    }
}

#[test]
fn tiers_equal_the_reference() {
    let mut r = Random(11);
    for start in [1_764_460_800_123, -3 * HOUR - 17] {
        let (t, v) = samples(&mut r, start);
        let minutes = downsample(&t, &v, MINUTE);
        // Added in the same order as the reference: equal to the bit (NaN sums aside).
        assert_close(&plain(&minutes), &reference(&t, &v, MINUTE));
        let exact = |points: &[(i64, u64, f64, f64, f64, f64)]| {
            points
                .iter()
                .map(|p| (p.0, p.2.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(exact(&plain(&minutes)), exact(&reference(&t, &v, MINUTE)));
        let hours = merge_into(&minutes, HOUR);
        assert_close(&plain(&hours), &reference(&t, &v, HOUR));
        assert_close(
            &plain(&hours),
            &plain(&merge_into(&merge_into(&minutes, 2 * MINUTE), HOUR)),
        );
    }
}

#[test]
fn nan_alone_makes_no_point_and_last_is_the_latest() {
    let t = [0, 10, 20, MINUTE, MINUTE + 1];
    let v = [1.0, 3.0, 2.0, f64::NAN, f64::NAN];
    let points = downsample(&t, &v, MINUTE);
    assert_eq!(points.len(), 1);
    let p = points[0];
    assert_eq!(
        (p.count, p.sum, p.min, p.max, p.last),
        (3, 6.0, 1.0, 3.0, 2.0)
    );
    assert_eq!(p.mean(), 2.0);
}

#[test]
fn points_round_trip_through_their_blob() {
    let mut r = Random(0x5eed_0011);
    let (t, v) = samples(&mut r, 1_700_000_000_000);
    let minutes = downsample(&t, &v, MINUTE);
    let bytes = pupitre_series::rollup::encode(&minutes).expect("encode");
    let back = pupitre_series::rollup::decode(&bytes).expect("decode");
    let bits = |points: &[Rollup]| {
        points
            .iter()
            .map(|p| {
                (
                    p.start,
                    p.count,
                    p.sum.to_bits(),
                    p.min.to_bits(),
                    p.max.to_bits(),
                    p.last.to_bits(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&back), bits(&minutes));
    assert!(back.iter().all(|p| p.last_at == p.start));
    // About 2 bytes of count and start, and four values, per point at most.
    assert!(bytes.len() < minutes.len() * 40, "{} bytes", bytes.len());
    assert!(pupitre_series::rollup::decode(&bytes[..bytes.len() / 2]).is_err());
    assert!(pupitre_series::rollup::encode(&[]).is_err());
}

#[test]
fn a_window_replaces_its_points_only() {
    let point = |start| Rollup {
        start,
        count: 1,
        sum: start as f64,
        min: 0.0,
        max: 0.0,
        last: 0.0,
        last_at: start,
    };
    let points = vec![point(0), point(60), point(120), point(180)];
    let fresh = [point(60), point(90)];
    let starts = |p: &[Rollup]| p.iter().map(|p| p.start).collect::<Vec<_>>();
    let replaced = pupitre_series::rollup::replace_points(points.clone(), 60, 180, &fresh);
    assert_eq!(starts(&replaced), vec![0, 60, 90, 180]);
    let after = pupitre_series::rollup::replace_points(points, 240, 300, &[point(240)]);
    assert_eq!(starts(&after), vec![0, 60, 120, 180, 240]);
}
