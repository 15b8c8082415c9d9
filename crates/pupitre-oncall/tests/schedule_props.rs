//! Property tests of the final schedule, in Europe/Paris around its DST changes and public
//! holidays: it covers the window exactly, without overlap; at every instant it names whom
//! `on_call_at` (worked out for that instant alone) names; and its gaps are exactly the
//! instants when nobody is on call.
//!
//! Generated local times avoid 02:00–02:59, the hour Paris skips or repeats, where "the
//! instant a restriction starts" and "the local time of an instant" cannot agree; the unit
//! tests pin down what happens at those hours.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use jiff::civil::{Time, Weekday, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use proptest::prelude::*;
use pupitre_oncall::holidays::Calendar;
use pupitre_oncall::schedule::{Layer, Override, Restriction, Rotation, Schedule, gaps, local};

fn hour() -> impl Strategy<Value = i8> {
    prop_oneof![0i8..2, 3i8..24]
}

fn clock() -> impl Strategy<Value = Time> {
    (hour(), prop_oneof![Just(0i8), Just(30i8)]).prop_map(|(h, m)| Time::constant(h, m, 0, 0))
}

fn weekday() -> impl Strategy<Value = Weekday> {
    (0i8..7).prop_map(|d| Weekday::from_monday_zero_offset(d).unwrap())
}

fn restriction() -> impl Strategy<Value = Restriction> {
    prop_oneof![
        (clock(), clock()).prop_map(|(from, to)| Restriction::Daily { from, to }),
        (weekday(), clock(), weekday(), clock()).prop_map(|(a, t, b, u)| Restriction::Weekly {
            from: (a, t),
            to: (b, u)
        }),
        Just(Restriction::Holidays),
    ]
}

/// Windows of a week around the spring and autumn changes and the May holidays of 2026.
fn window_start() -> impl Strategy<Value = jiff::civil::Date> {
    prop_oneof![
        Just(date(2026, 3, 25)),
        Just(date(2026, 10, 21)),
        Just(date(2026, 5, 10)),
        (0i64..365).prop_map(|d| date(2026, 1, 1).checked_add(Span::new().days(d)).unwrap()),
    ]
}

fn layer(base: jiff::civil::Date) -> impl Strategy<Value = Layer> {
    (
        prop::collection::vec(1i64..7, 1..4),
        prop_oneof![
            Just(Rotation::Daily),
            Just(Rotation::Weekly),
            (1u32..49).prop_map(Rotation::Hours)
        ],
        -20i64..4,
        clock(),
        prop::collection::vec(restriction(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            move |(users, rotation, days, at, restrictions, skip_holidays)| Layer {
                name: "layer".into(),
                users,
                rotation,
                start: base
                    .checked_add(Span::new().days(days))
                    .unwrap()
                    .to_datetime(at),
                restrictions,
                skip_holidays,
            },
        )
}

fn schedule() -> impl Strategy<Value = (Schedule, Timestamp, Timestamp)> {
    window_start().prop_flat_map(|base| {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let from = local(&tz, base.to_datetime(Time::midnight()));
        let to = from + SignedDuration::from_hours(7 * 24);
        let overrides =
            prop::collection::vec((1i64..9, 0i64..7 * 24 * 60, 1i64..3000, 0i64..1000), 0..4)
                .prop_map(move |list| {
                    list.into_iter()
                        .enumerate()
                        .map(|(i, (user, start, len, created))| Override {
                            user,
                            start: from + SignedDuration::from_mins(start),
                            end: from + SignedDuration::from_mins(start + len),
                            // Distinct creation times.
                            created_at: from + SignedDuration::from_secs(created * 10 + i as i64),
                        })
                        .collect::<Vec<_>>()
                });
        (prop::collection::vec(layer(base), 1..4), overrides).prop_map(
            move |(layers, overrides)| {
                (
                    Schedule {
                        tz: tz.clone(),
                        layers,
                        overrides,
                    },
                    from,
                    to,
                )
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_final_schedule_covers_the_window_and_agrees_with_every_instant(
        (s, from, to) in schedule(),
        probes in prop::collection::vec(0i64..7 * 24 * 3600, 60),
    ) {
        let holidays = Calendar::france([2025, 2026, 2027], false);
        let segs = s.final_schedule(from, to, &holidays);
        // Exact cover, no overlap, no empty segment.
        prop_assert_eq!(segs.first().map(|g| g.start), Some(from));
        prop_assert_eq!(segs.last().map(|g| g.end), Some(to));
        for pair in segs.windows(2) {
            prop_assert_eq!(pair[0].end, pair[1].start);
        }
        prop_assert!(segs.iter().all(|g| g.start < g.end));
        // Every probe, and both sides of every boundary, agree with the instant's own answer.
        let mut instants: Vec<Timestamp> = probes.iter().map(|p| from + SignedDuration::from_secs(*p)).collect();
        for g in &segs {
            instants.push(g.start);
            let before_end = g.end - SignedDuration::from_secs(1);
            if before_end >= g.start {
                instants.push(before_end);
            }
        }
        for t in instants {
            let seg = segs.iter().find(|g| g.start <= t && t < g.end).unwrap();
            prop_assert_eq!(seg.user, s.on_call_at(t, &holidays), "at {}", t);
        }
        // The gaps are what nobody covers, and they add up with the rest to the window.
        let gap: i64 = gaps(&segs).map(|g| g.duration().as_secs()).sum();
        let covered: i64 = segs.iter().filter(|g| g.user.is_some()).map(|g| g.duration().as_secs()).sum();
        prop_assert_eq!(gap + covered, to.duration_since(from).as_secs());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// However irregularly the pager looks, each step of each round fires once, in order.
    #[test]
    fn escalation_steps_fire_once_whatever_the_polling(
        delays in prop::collection::vec(1u32..120, 1..6),
        repeat in 0u32..4,
        looks in prop::collection::vec(0i64..600, 1..80),
    ) {
        use pupitre_oncall::escalation::{Policy, Step};
        let policy = Policy {
            steps: delays.iter().map(|d| Step { targets: vec![()], delay_minutes: *d }).collect(),
            repeat,
        };
        let t0 = Timestamp::from_second(1_780_000_000).unwrap();
        let mut at = t0;
        let mut last = None;
        let mut fired = Vec::new();
        for gap in looks {
            at += SignedDuration::from_secs(gap * 37);
            fired.extend(policy.due(t0, last, at));
            last = Some(at);
        }
        let expected: Vec<_> = policy.plan(t0).into_iter().filter(|d| d.at <= at).collect();
        prop_assert_eq!(fired, expected);
    }
}
