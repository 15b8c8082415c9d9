//! Chunks give back every sample bit for bit, whatever the series: gauges, counters with
//! resets, whole numbers, irregular intervals, NaN (with payloads), infinities and -0.0; and
//! a damaged chunk is an error, never a panic.

use pupitre_series::chunk::{ChunkError, decode, encode};

#[path = "support/random.rs"]
mod random;

use random::Random;

/// Timestamps every `interval` ms from a fixed start, with up to `jitter` ms either way, and
/// now and then a gap (a missed scrape) or a burst.
fn timestamps(r: &mut Random, n: usize, interval: i64, jitter: i64) -> Vec<i64> {
    let mut t = 1_764_460_800_000_i64;
    (0..n)
        .map(|_| {
            let step = match r.below(50) {
                0 => interval * (2 + r.below(5) as i64),
                1 => 1 + r.below(interval as u64) as i64,
                _ => interval,
            };
            t += step;
            t + if jitter > 0 {
                r.below(2 * jitter as u64 + 1) as i64 - jitter
            } else {
                0
            }
        })
        .collect()
}

fn series(r: &mut Random, kind: usize, n: usize) -> Vec<f64> {
    let mut counter = 0.0_f64;
    let mut level = 50.0_f64;
    (0..n)
        .map(|i| match kind {
            // A gauge: a random walk of fractions.
            0 => {
                level = (level + r.unit() - 0.5).clamp(0.0, 100.0);
                level
            }
            // A byte counter that resets now and then.
            1 => {
                if r.below(200) == 0 {
                    counter = 0.0;
                }
                counter += (r.below(1_000_000)) as f64;
                counter
            }
            // A constant.
            2 => 42.0,
            // Whole-number gauge (processes).
            3 => (100 + r.below(20)) as f64,
            // Special values among ordinary ones.
            4 => match i % 7 {
                0 => f64::NAN,
                1 => f64::from_bits(0x7ff8_0000_dead_beef), // NaN with a payload
                2 => f64::INFINITY,
                3 => f64::NEG_INFINITY,
                4 => -0.0,
                5 => f64::MIN_POSITIVE / 2.0, // subnormal
                _ => r.unit() * 1e300,
            },
            // Decimals, as exporters print them: a temperature with 2 digits, seconds with
            // 3, a ratio with 9, now and then -0.0 (not a decimal: XOR then).
            6 => {
                level = (level + r.unit() - 0.5).clamp(-20.0, 100.0);
                (level * 100.0).round() / 100.0
            }
            7 => (r.below(1_000_000_000) as f64) / 1e3,
            8 => (r.below(1_000_000_000) as f64) / 1e9,
            9 => {
                if i == n / 2 {
                    -0.0
                } else {
                    (r.below(1000) as f64) / 10.0 - 50.0
                }
            }
            // Raw bits: anything at all.
            _ => f64::from_bits(r.next()),
        })
        .collect()
}

fn assert_round_trip(timestamps: &[i64], values: &[f64]) -> usize {
    let chunk = encode(timestamps, values).expect("encode");
    let (t, v) = decode(&chunk).expect("decode");
    assert_eq!(t, timestamps);
    let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&v), bits(values));
    chunk.len()
}

#[test]
fn every_kind_of_series_round_trips_bit_exact() {
    let mut r = Random(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let n = 1 + r.below(600) as usize;
        let interval = [1_000, 10_000, 15_000, 60_000][round % 4];
        let jitter = [0, 3, 40, 2_000][(round / 4) % 4];
        let t = timestamps(&mut r, n, interval, jitter);
        for kind in 0..11 {
            let v = series(&mut r, kind, n);
            assert_round_trip(&t, &v);
        }
    }
}

#[test]
fn extreme_timestamps_round_trip() {
    let cases: &[&[i64]] = &[
        &[0],
        &[i64::MIN, i64::MAX, i64::MIN, 0, -1],
        &[5, 5, 5, 4, 3],
        &[1, 1 << 40, (1 << 40) + 1, -(1 << 50)],
    ];
    for t in cases {
        let v: Vec<f64> = (0..t.len()).map(|i| i as f64).collect();
        assert_round_trip(t, &v);
    }
}

#[test]
fn whole_numbers_at_the_edge_of_exact_floats_round_trip() {
    let limit = 9_007_199_254_740_992.0_f64;
    let values = [
        limit,
        -limit,
        limit - 1.0,
        0.0,
        -0.0,
        1.0,
        limit * 2.0,
        -limit * 4.0,
    ];
    let t: Vec<i64> = (0..values.len() as i64).map(|i| i * 1000).collect();
    assert_round_trip(&t, &values);
}

#[test]
fn regular_monitoring_data_is_small() {
    // A day of 10 s samples: on the dot, then with a few ms of jitter and gaps.
    let mut r = Random(7);
    let n = 8_640;
    let on_the_dot: Vec<i64> = (0..n as i64)
        .map(|i| 1_764_460_800_000 + i * 10_000)
        .collect();
    let jittered = timestamps(&mut r, n, 10_000, 3);
    let mut constant = Vec::new();
    for (t, when) in [(&on_the_dot, "on the dot"), (&jittered, "jittered")] {
        for (kind, name) in [
            (2, "constant"),
            (3, "processes"),
            (1, "byte counter"),
            (0, "gauge"),
            (6, "2-decimal gauge"),
        ] {
            let bytes = assert_round_trip(t, &series(&mut r, kind, n));
            println!(
                "{when}, {name}: {:.2} bytes per sample",
                bytes as f64 / n as f64
            );
            if kind == 2 {
                constant.push(bytes);
            }
        }
    }
    // Not a benchmark (bench/ measures real data): a guard that the cheap case stays cheap,
    // 2 bits a sample for an unchanging value at a steady interval.
    assert!(constant[0] <= n / 4 + 32, "constant: {} bytes", constant[0]);
}

#[test]
fn bad_input_and_damaged_chunks_are_errors() {
    assert_eq!(
        encode(&[1, 2], &[1.0]),
        Err(ChunkError::LengthMismatch {
            timestamps: 2,
            values: 1
        })
    );
    assert_eq!(encode(&[], &[]), Err(ChunkError::Empty));
    assert_eq!(decode(&[]), Err(ChunkError::Truncated(0)));
    assert_eq!(decode(&[9, 0, 1, 0]), Err(ChunkError::Version(9)));
    assert_eq!(decode(&[1, 7, 1, 0]), Err(ChunkError::Encoding(7)));

    let mut r = Random(3);
    let t = timestamps(&mut r, 300, 10_000, 5);
    for kind in 0..6 {
        let chunk = encode(&t, &series(&mut r, kind, 300)).expect("encode");
        // Every prefix is an error, not a panic.
        for end in 0..chunk.len() {
            assert!(decode(&chunk[..end]).is_err(), "kind {kind}, {end} bytes");
        }
        // Flipped bits decode to something or fail, never panic.
        for _ in 0..200 {
            let mut damaged = chunk.clone();
            let at = r.below(damaged.len() as u64) as usize;
            damaged[at] ^= 1 << r.below(8);
            let _ = decode(&damaged);
        }
    }
}
