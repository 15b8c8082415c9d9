//! Trends and crossings on series whose answer is known.

use pupitre_series::forecast::{fit, fit_seasonal};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[test]
fn a_disk_filling_steadily_is_full_on_the_day_the_line_says() {
    // 40 % used, +1 % a day, a sample an hour for 30 days, with a little noise.
    let start = 1_764_460_800_000_i64;
    let t: Vec<i64> = (0..30 * 24).map(|h| start + h * HOUR).collect();
    let v: Vec<f64> = t
        .iter()
        .enumerate()
        .map(|(i, at)| {
            40.0 + (at - start) as f64 / DAY as f64 + if i % 2 == 0 { 0.05 } else { -0.05 }
        })
        .collect();
    let trend = fit(&t, &v).expect("a trend");
    assert!((trend.per_day() - 1.0).abs() < 1e-3, "{trend:?}");
    assert!(trend.r_squared > 0.99, "{trend:?}");
    let now = *t.last().expect("samples");
    // About 70 % now: 100 % in about 30 days.
    let full = trend.crossing(100.0, now).expect("it fills");
    let days = (full - now) as f64 / DAY as f64;
    assert!((days - 30.0).abs() < 0.1, "{days} days");
    // Already past 50 %: now. Never back to 10 %.
    assert_eq!(trend.crossing(50.0, now), None);
    assert_eq!(trend.crossing(trend.at(now), now), Some(now));
}

#[test]
fn a_daily_rhythm_is_read_through_its_peaks() {
    // Every night a backup fills the disk by 30 points and the day cleans it up again; the
    // peaks grow by 2 points a day from 50 %.
    let t: Vec<i64> = (0..14 * 24).map(|h| h * HOUR).collect();
    let v: Vec<f64> = t
        .iter()
        .map(|&at| {
            let day = (at / DAY) as f64;
            let hour = (at % DAY) / HOUR;
            let base = 20.0 + 2.0 * day;
            if hour < 6 { base + 30.0 } else { base }
        })
        .collect();
    let peaks = fit_seasonal(&t, &v, DAY, true).expect("a trend");
    assert!((peaks.per_day() - 2.0).abs() < 0.01, "{peaks:?}");
    let now = 14 * DAY;
    let full = peaks.crossing(100.0, now).expect("it fills");
    // The peaks reach 100 % on day 25 (50 + 2 × 25), 11 days after the last.
    let days = (full - now) as f64 / DAY as f64;
    assert!((days - 11.0).abs() < 0.3, "{days} days");
    // A line through every sample sees the same slope but starts lower: later.
    let all = fit(&t, &v).expect("a trend");
    assert!(all.crossing(100.0, now).expect("it fills") > full);
}

#[test]
fn too_little_or_flat_data_gives_no_promise() {
    assert_eq!(fit(&[1, 2], &[1.0, 2.0]), None);
    assert_eq!(fit(&[5, 5, 5], &[1.0, 2.0, 3.0]), None);
    assert_eq!(
        fit(&[1, 2, 3, 4], &[f64::NAN, 1.0, f64::INFINITY, 2.0]),
        None
    );
    let flat = fit(&[1, 2, 3], &[7.0, 7.0, 7.0]).expect("a line");
    assert_eq!(flat.slope, 0.0);
    assert_eq!(flat.crossing(10.0, 3), None);
    let falling = fit(&[0, DAY, 2 * DAY], &[30.0, 20.0, 10.0]).expect("a line");
    let empty = falling.crossing(0.0, 2 * DAY).expect("it empties");
    assert_eq!(empty, 3 * DAY);
}
