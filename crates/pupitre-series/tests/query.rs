//! Range queries over raw samples and over a tier's points, against plain computations; and
//! the checks that bound a query.

use pupitre_series::query::{
    Aggregation, MOST_POINTS, QueryError, Range, Tier, choose_tier, evaluate, evaluate_rollups,
};
use pupitre_series::rollup::downsample;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A value every 10 s for two hours, with a gap of ten minutes and a NaN now and then.
fn samples() -> (Vec<i64>, Vec<f64>) {
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    for i in 0..720_i64 {
        if (300..360).contains(&i) {
            continue;
        }
        timestamps.push(i * 10 * SECOND);
        values.push(if i % 97 == 0 {
            f64::NAN
        } else {
            ((i * 37) % 101) as f64
        });
    }
    (timestamps, values)
}

/// The values in `(t - window, t]`, NaN left out.
fn window(timestamps: &[i64], values: &[f64], t: i64, window: i64) -> Vec<f64> {
    timestamps
        .iter()
        .zip(values)
        .filter(|(at, v)| **at > t - window && **at <= t && !v.is_nan())
        .map(|(_, v)| *v)
        .collect()
}

#[test]
fn aggregations_equal_a_plain_computation() {
    let (t, v) = samples();
    let range = Range::new(0, 2 * HOUR, MINUTE, Some(5 * MINUTE)).expect("range");
    type Plain = fn(&[f64]) -> f64;
    let cases: [(Aggregation, Plain); 6] = [
        (Aggregation::Avg, |w| w.iter().sum::<f64>() / w.len() as f64),
        (Aggregation::Min, |w| {
            w.iter().copied().fold(f64::INFINITY, f64::min)
        }),
        (Aggregation::Max, |w| {
            w.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }),
        (Aggregation::Sum, |w| w.iter().sum()),
        (Aggregation::Count, |w| w.len() as f64),
        (Aggregation::Last, |w| w[w.len() - 1]),
    ];
    for (aggregation, plain) in cases {
        let got = evaluate(&t, &v, &range, aggregation);
        let want: Vec<(i64, f64)> = range
            .times()
            .filter_map(|at| {
                let w = window(&t, &v, at, range.window);
                (!w.is_empty()).then(|| (at, plain(&w)))
            })
            .collect();
        assert_eq!(got, want, "{aggregation:?}");
    }
    // The gap (50:00 to 60:00) leaves steps without a point, not zeros.
    let by_minute = Range::new(0, 2 * HOUR, MINUTE, None).expect("range");
    let counts = evaluate(&t, &v, &by_minute, Aggregation::Count);
    assert!(
        !counts
            .iter()
            .any(|(at, _)| (51 * MINUTE..=59 * MINUTE).contains(at))
    );
    assert_eq!(counts.len(), 121 - 10);
}

#[test]
fn rate_counts_a_reset_as_a_restart() {
    // +10 a second, a restart at 40 s (value 5 after 30), then +10 a second again.
    let t = [0, 10, 20, 30, 40, 50].map(|s| s * SECOND);
    let v = [0.0, 100.0, 200.0, 300.0, 5.0, 105.0];
    let range = Range::new(50 * SECOND, 50 * SECOND, SECOND, Some(60 * SECOND)).expect("range");
    let got = evaluate(&t, &v, &range, Aggregation::Rate);
    // Increase 100 + 100 + 100 + 5 + 100 = 405 over 50 s.
    assert_eq!(got, vec![(50 * SECOND, 405.0 / 50.0)]);
    // One sample is no rate.
    let one = Range::new(0, 0, SECOND, None).expect("range");
    assert!(evaluate(&t, &v, &one, Aggregation::Rate).is_empty());
}

#[test]
fn quantiles_interpolate_as_prometheus() {
    let t: Vec<i64> = (1..=5).collect();
    let v = [5.0, 1.0, 4.0, 2.0, 3.0];
    let range = Range::new(5, 5, 1, Some(10)).expect("range");
    let q = |text: &str| evaluate(&t, &v, &range, Aggregation::parse(text).expect(text))[0].1;
    assert_eq!(q("p50"), 3.0);
    assert_eq!(q("quantile(0.25)"), 2.0);
    assert_eq!(q("p90"), 4.6);
    assert_eq!(q("quantile(0)"), 1.0);
    assert_eq!(q("p100"), 5.0);
}

#[test]
fn tiers_answer_like_raw_samples() {
    let (t, v) = samples();
    let minutes = downsample(&t, &v, MINUTE);
    // Windows of whole minutes: the tier holds exactly what the raw samples hold.
    let range = Range::new(10 * MINUTE - 1, 2 * HOUR - 1, 10 * MINUTE, None).expect("range");
    for aggregation in [
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Count,
        Aggregation::Last,
    ] {
        assert_eq!(
            evaluate_rollups(&minutes, &range, aggregation).expect("from rollups"),
            evaluate(&t, &v, &range, aggregation),
            "{aggregation:?}"
        );
    }
    let avg = evaluate_rollups(&minutes, &range, Aggregation::Avg).expect("avg");
    let raw = evaluate(&t, &v, &range, Aggregation::Avg);
    assert_eq!(avg.len(), raw.len());
    for ((at, a), (raw_at, r)) in avg.iter().zip(&raw) {
        assert_eq!(at, raw_at);
        assert!((a - r).abs() < 1e-9, "{a} {r}");
    }
    assert_eq!(
        evaluate_rollups(&minutes, &range, Aggregation::Quantile(0.5)),
        Err(QueryError::NeedsRaw("a quantile"))
    );
}

#[test]
fn rate_from_points_follows_the_counter_across_a_reset() {
    // 5 per second, every 10 s, reset to 0 at 1 h.
    let t: Vec<i64> = (0..720).map(|i| i * 10 * SECOND).collect();
    let v: Vec<f64> = t.iter().map(|&t| ((t % HOUR) / 200) as f64).collect();
    let minutes = downsample(&t, &v, MINUTE);
    let range = Range::new(10 * MINUTE, 2 * HOUR - MINUTE, 10 * MINUTE, None).expect("range");
    let from_points = evaluate_rollups(&minutes, &range, Aggregation::Rate).expect("rate");
    let raw = evaluate(&t, &v, &range, Aggregation::Rate);
    assert_eq!(from_points.len(), raw.len());
    for ((at, a), (_, r)) in from_points.iter().zip(&raw) {
        assert!((a - 5.0).abs() < 0.1, "{at}: {a}");
        assert!((r - 5.0).abs() < 0.1, "{at}: {r}");
    }
}

#[test]
fn the_coarsest_tier_that_answers_is_chosen() {
    let tiers = [
        Tier {
            step: 0,
            retention: 14 * DAY,
        },
        Tier {
            step: MINUTE,
            retention: 90 * DAY,
        },
        Tier {
            step: HOUR,
            retention: 730 * DAY,
        },
    ];
    let now = 1_000 * DAY;
    let range = |days_back: i64, step: i64| {
        Range::new(now - days_back * DAY, now, step, None).expect("range")
    };
    let choose = |days_back, step, aggregation| {
        choose_tier(&tiers, &range(days_back, step), aggregation, now)
    };
    assert_eq!(choose(1, 10 * SECOND, Aggregation::Avg), Some(0));
    assert_eq!(choose(1, MINUTE, Aggregation::Avg), Some(1));
    assert_eq!(choose(30, HOUR, Aggregation::Max), Some(2));
    assert_eq!(choose(30, 6 * HOUR, Aggregation::Max), Some(2));
    // Finer than the tiers that reach back that far: the finest of those.
    assert_eq!(choose(100, 15 * MINUTE, Aggregation::Avg), Some(2));
    assert_eq!(choose(30, 10 * MINUTE, Aggregation::Avg), Some(1));
    // Quantiles need raw samples, kept 14 days; rate takes points' last values.
    assert_eq!(choose(1, HOUR, Aggregation::Rate), Some(2));
    assert_eq!(choose(1, HOUR, Aggregation::Quantile(0.5)), Some(0));
    assert_eq!(choose(30, HOUR, Aggregation::Quantile(0.99)), None);
    assert_eq!(choose(800, DAY, Aggregation::Avg), None);
}

#[test]
fn bad_queries_name_the_limit() {
    assert_eq!(Range::new(10, 5, 1, None), Err(QueryError::Inverted));
    assert_eq!(Range::new(0, 5, 0, None), Err(QueryError::Step));
    assert_eq!(Range::new(0, 5, 1, Some(0)), Err(QueryError::Window));
    let error = Range::new(0, 30 * DAY, SECOND, None).expect_err("too many points");
    let QueryError::TooManyPoints { points, least_step } = error else {
        panic!("{error:?}");
    };
    assert_eq!(points, 30 * 86_400 + 1);
    assert!(Range::new(0, 30 * DAY, least_step, None).is_ok());
    assert!(Range::new(0, 30 * DAY, least_step - 1, None).is_err());
    assert!(error.to_string().starts_with("step: "), "{error}");
    assert!(Range::new(0, (MOST_POINTS - 1) * 10, 10, None).is_ok());
    for bad in [
        "median",
        "p",
        "p101",
        "quantile(1.5)",
        "quantile(x)",
        "quantile(0.5",
    ] {
        let error = Aggregation::parse(bad).expect_err(bad);
        assert!(error.to_string().starts_with("aggregation: "), "{error}");
    }
}
