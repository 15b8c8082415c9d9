//! When checks run: spreading them over their interval and computing the next due time.
//!
//! Times are epoch milliseconds passed in by the caller. Each check has a *phase*: its offset
//! within its interval, counted from the epoch. A new check gets a phase from a hash of its id
//! ([`first_due`]), so thousands of checks with the same interval are spread evenly instead of
//! all starting at the same second, and the spread is the same after every restart. Afterwards
//! a check keeps the phase of its last start ([`next_due`]): when runs were missed (the server
//! was down, a run outlasted its interval) it skips to its next slot at or after `now` rather
//! than running late, so that checks that were spread before a pause stay spread after it.

/// The first time a new check is due: the first instant at or after `now` that falls on the
/// check's phase, `hash(check_id) mod interval`. Always within `now..now + interval`.
/// Deterministic: the same id and interval give the same phase. An interval under 1 ms counts
/// as 1 ms.
pub fn first_due(check_id: i64, interval_ms: i64, now: i64) -> i64 {
    let interval = interval_ms.max(1);
    let phase = i64::try_from(spread_hash(check_id) % interval.unsigned_abs()).unwrap_or(0);
    next_slot(phase, interval, now)
}

/// The next time a check is due after a run that started at `last_started`, with the interval
/// that [`super::status::Transition::next_interval`] chose (the check interval or the retry
/// interval), in milliseconds.
///
/// Normally `last_started + interval`. When that is already past (the server was down, or the
/// run took longer than the interval), the missed runs are skipped: the result is the first
/// instant at or after `now` with the same phase as `last_started`. Never before `now`; never
/// later than `now + interval`. An interval under 1 ms counts as 1 ms.
pub fn next_due(last_started: i64, interval_ms: i64, now: i64) -> i64 {
    let interval = interval_ms.max(1);
    let due = last_started.saturating_add(interval);
    if due >= now {
        due
    } else {
        next_slot(last_started.rem_euclid(interval), interval, now)
    }
}

/// How late a run started, in milliseconds: `started - due`, and 0 for a run started early.
pub fn lag_ms(due: i64, started: i64) -> i64 {
    started.saturating_sub(due).max(0)
}

/// The first instant `t >= now` with `t mod interval == phase` (`0 <= phase < interval`).
fn next_slot(phase: i64, interval: i64, now: i64) -> i64 {
    now.saturating_add((phase - now.rem_euclid(interval)).rem_euclid(interval))
}

/// SplitMix64's finaliser: consecutive ids land far apart.
fn spread_hash(check_id: i64) -> u64 {
    let mut z = u64::from_ne_bytes(check_id.to_ne_bytes()).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    /// The largest number of times falling into one one-second bucket.
    fn busiest_second(times: &[i64]) -> usize {
        let mut buckets = std::collections::HashMap::new();
        for t in times {
            *buckets.entry(t.div_euclid(1000)).or_insert(0) += 1;
        }
        buckets.values().copied().max().unwrap_or(0)
    }

    #[test]
    fn first_due_spreads_ten_thousand_checks_over_a_minute() {
        let now = 1_700_000_000_123;
        let due: Vec<i64> = (1..=10_000).map(|id| first_due(id, MINUTE, now)).collect();
        assert!(due.iter().all(|&d| (now..now + MINUTE).contains(&d)));
        // 10,000 checks over 60 one-second buckets: about 167 each.
        let mean = 10_000 / 60;
        let busiest = busiest_second(&due);
        assert!(busiest <= 2 * mean, "busiest second holds {busiest}");
    }

    #[test]
    fn first_due_is_deterministic_and_keeps_its_phase() {
        let now = 1_700_000_000_000;
        let a = first_due(42, MINUTE, now);
        assert_eq!(first_due(42, MINUTE, now), a);
        // A restart ten and a half minutes later finds the same phase.
        let later = first_due(42, MINUTE, now + 10 * MINUTE + 30_000);
        assert_eq!((later - a).rem_euclid(MINUTE), 0);
        assert_ne!(first_due(43, MINUTE, now), a);
    }

    #[test]
    fn first_due_edge_cases() {
        for id in [i64::MIN, -1, 0, 1, i64::MAX] {
            let d = first_due(id, MINUTE, 0);
            assert!((0..MINUTE).contains(&d), "id {id}: {d}");
            assert_eq!(first_due(id, 0, 500), 500);
            assert_eq!(first_due(id, -5, 500), 500);
            let negative_now = first_due(id, MINUTE, -90_000);
            assert!((-90_000..-30_000).contains(&negative_now));
        }
    }

    #[test]
    fn next_due_cases() {
        // (last_started, interval, now, expected)
        let table = [
            // On time: one interval after the last start, even when `now` is earlier.
            (1_000, MINUTE, 1_500, 61_000),
            (1_000, MINUTE, 61_000, 61_000),
            // A retry interval after a soft problem.
            (1_000, 15_000, 2_000, 16_000),
            // The run outlasted its interval: skip to the next slot of the same phase.
            (1_000, MINUTE, 90_000, 121_000),
            (1_000, MINUTE, 61_001, 121_000),
            // Down for an hour: the next slot after `now`, not an hour-old due time.
            (1_000, MINUTE, 3_600_000 + 30_000, 3_601_000 + MINUTE),
            (1_000, MINUTE, 3_601_000, 3_601_000),
            // Interval under 1 ms.
            (1_000, 0, 5_000, 5_000),
        ];
        for (last_started, interval, now, expected) in table {
            assert_eq!(
                next_due(last_started, interval, now),
                expected,
                "next_due({last_started}, {interval}, {now})"
            );
        }
    }

    #[test]
    fn next_due_is_never_in_the_past() {
        for last_started in [0, 999, 59_999, 123_456] {
            for now in (0..400_000).step_by(7_919) {
                let due = next_due(last_started, MINUTE, now);
                assert!(due >= now, "{last_started} {now} {due}");
                assert!(due == last_started + MINUTE || due < now + MINUTE, "{due}");
            }
        }
    }

    #[test]
    fn checks_re_spread_after_an_hour_of_downtime() {
        let t0 = 1_700_000_000_000;
        // 10,000 checks ran on their spread slots, then the server stopped for an hour.
        let last: Vec<i64> = (1..=10_000).map(|id| first_due(id, MINUTE, t0)).collect();
        let back = t0 + MINUTE + 3_600_000;
        let due: Vec<i64> = last.iter().map(|&l| next_due(l, MINUTE, back)).collect();
        assert!(due.iter().all(|&d| (back..back + MINUTE).contains(&d)));
        let busiest = busiest_second(&due);
        assert!(
            busiest <= 2 * (10_000 / 60),
            "busiest second holds {busiest}"
        );
        // Each check kept its phase.
        for (l, d) in last.iter().zip(&due) {
            assert_eq!((d - l).rem_euclid(MINUTE), 0);
        }
    }

    #[test]
    fn lag() {
        assert_eq!(lag_ms(10_000, 10_250), 250);
        assert_eq!(lag_ms(10_000, 10_000), 0);
        assert_eq!(lag_ms(10_000, 9_000), 0);
        assert_eq!(lag_ms(i64::MIN, i64::MAX), i64::MAX);
    }
}
