//! Schedules: rotations in layers, restricted to some hours, topped by overrides, and the
//! final schedule they make.
//!
//! A **layer** hands duty from one person to the next at each shift change: daily or weekly
//! at the local time (and weekday) of its `start`, or every fixed number of hours. Its
//! **restrictions** say when it applies at all (nights, weekends, business hours, public
//! holidays); outside them it leaves the time to the layers below. The **last layer wins**
//! where several apply (as in PagerDuty, where the top of the list has priority), and an
//! **override** wins over every layer; overlapping overrides: the most recently created wins.
//! Time no one covers is a gap, reported as "nobody on call".

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

use crate::UserId;
use crate::holidays::Calendar;

/// How shifts follow one another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Every day at the start's local time.
    Daily,
    /// Every week on the start's weekday, at its local time.
    Weekly,
    /// Every so many hours of real time (a 12-hour shift lasts 12 hours, DST or not).
    Hours(u32),
}

/// When a layer applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// Every day from one local time to another; an end at or before the start runs past
    /// midnight (19:00 to 08:00 is the night).
    Daily { from: Time, to: Time },
    /// Every week from a weekday and time to another (Friday 19:00 to Monday 08:00); the same
    /// weekday with an end at or before the start runs the whole week round.
    Weekly {
        from: (Weekday, Time),
        to: (Weekday, Time),
    },
    /// The public holidays of the schedule's calendar, all day.
    Holidays,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    /// The people in turn, the first one from `start`.
    pub users: Vec<UserId>,
    pub rotation: Rotation,
    /// The first shift's start, in the schedule's time zone: it sets the hand-off time.
    pub start: DateTime,
    /// When the layer applies; always when empty.
    pub restrictions: Vec<Restriction>,
    /// The layer does not apply on public holidays (business hours, typically).
    pub skip_holidays: bool,
}

/// One person on duty instead of whoever the layers say, for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Override {
    pub user: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
    /// When it was made: among overlapping overrides, the most recent wins.
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    pub tz: TimeZone,
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// Where a part of the final schedule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The layer of that index.
    Layer(usize),
    /// The override of that index.
    Override(usize),
    /// Nobody is on call.
    Nobody,
}

/// A stretch of the final schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: Timestamp,
    pub end: Timestamp,
    /// `None` in a gap.
    pub user: Option<UserId>,
    pub source: Source,
}

impl Segment {
    pub fn duration(&self) -> SignedDuration {
        self.end.duration_since(self.start)
    }
}

/// The instant a local date and time in `tz` names (jiff's "compatible" reading of skipped
/// and repeated local times).
pub fn local(tz: &TimeZone, at: DateTime) -> Timestamp {
    tz.to_ambiguous_timestamp(at)
        .compatible()
        .unwrap_or(Timestamp::MAX)
}

fn add_days(day: Date, days: i64) -> Date {
    day.checked_add(Span::new().days(days)).unwrap_or(day)
}

impl Layer {
    /// When shift `k` starts.
    fn shift_start(&self, tz: &TimeZone, k: i64) -> Timestamp {
        match self.rotation {
            Rotation::Daily | Rotation::Weekly => {
                let days = if self.rotation == Rotation::Daily {
                    k
                } else {
                    7 * k
                };
                let at = self
                    .start
                    .checked_add(Span::new().days(days))
                    .unwrap_or(DateTime::MAX);
                local(tz, at)
            }
            Rotation::Hours(h) => local(tz, self.start)
                .checked_add(SignedDuration::from_hours(i64::from(h.max(1)) * k))
                .unwrap_or(Timestamp::MAX),
        }
    }

    /// The shift that holds `at` (0 before the first one).
    fn shift_at(&self, tz: &TimeZone, at: Timestamp) -> i64 {
        let first = local(tz, self.start);
        if at <= first {
            return 0;
        }
        let approx = match self.rotation {
            Rotation::Daily => 86_400,
            Rotation::Weekly => 7 * 86_400,
            Rotation::Hours(h) => i64::from(h.max(1)) * 3600,
        };
        let mut k = (at.duration_since(first).as_secs() / approx - 1).max(0);
        while k > 0 && self.shift_start(tz, k) > at {
            k -= 1;
        }
        while self.shift_start(tz, k + 1) <= at {
            k += 1;
        }
        k
    }

    fn user_of(&self, k: i64) -> Option<UserId> {
        let n = i64::try_from(self.users.len()).ok().filter(|n| *n > 0)?;
        usize::try_from(k.rem_euclid(n)).ok().map(|i| self.users[i])
    }

    /// The intervals of `[from, to)` during which the layer applies, in order.
    fn active(
        &self,
        tz: &TimeZone,
        holidays: &Calendar,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, Timestamp)> {
        let first_day = add_days(from.to_zoned(tz.clone()).date(), -8);
        let last_day = add_days(to.to_zoned(tz.clone()).date(), 1);
        let days = || {
            std::iter::successors(Some(first_day), |d| Some(add_days(*d, 1)))
                .take_while(move |d| *d <= last_day)
        };
        let whole_day = |d: Date| {
            (
                local(tz, d.to_datetime(Time::midnight())),
                local(tz, add_days(d, 1).to_datetime(Time::midnight())),
            )
        };
        let mut spans: Vec<(Timestamp, Timestamp)> = Vec::new();
        if self.restrictions.is_empty() {
            spans.push((from, to));
        }
        for r in &self.restrictions {
            match *r {
                Restriction::Daily { from: a, to: b } => {
                    for d in days() {
                        let end_day = if b > a { d } else { add_days(d, 1) };
                        spans.push((
                            local(tz, d.to_datetime(a)),
                            local(tz, end_day.to_datetime(b)),
                        ));
                    }
                }
                Restriction::Weekly {
                    from: (wa, a),
                    to: (wb, b),
                } => {
                    for d in days().filter(|d| d.weekday() == wa) {
                        let mut ahead = i64::from(
                            (wb.to_monday_zero_offset() - wa.to_monday_zero_offset()).rem_euclid(7),
                        );
                        if ahead == 0 && b <= a {
                            ahead = 7;
                        }
                        spans.push((
                            local(tz, d.to_datetime(a)),
                            local(tz, add_days(d, ahead).to_datetime(b)),
                        ));
                    }
                }
                Restriction::Holidays => {
                    spans.extend(days().filter(|d| holidays.contains(*d)).map(whole_day));
                }
            }
        }
        let mut spans = union(spans, from, to);
        if self.skip_holidays {
            let off = union(
                days()
                    .filter(|d| holidays.contains(*d))
                    .map(whole_day)
                    .collect(),
                from,
                to,
            );
            spans = subtract(&spans, &off);
        }
        spans
    }

    /// Who this layer puts on call over `[from, to)`: its shifts cut to when it applies.
    fn coverage(
        &self,
        tz: &TimeZone,
        holidays: &Calendar,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, Timestamp, UserId)> {
        let first = local(tz, self.start);
        let from = from.max(first);
        if from >= to || self.users.is_empty() {
            return Vec::new();
        }
        let mut shifts = Vec::new();
        let mut k = self.shift_at(tz, from);
        loop {
            let start = self.shift_start(tz, k);
            if start >= to {
                break;
            }
            let end = self.shift_start(tz, k + 1);
            if let Some(user) = self.user_of(k) {
                let (s, e) = (start.max(from), end.min(to));
                if s < e {
                    shifts.push((s, e, user));
                }
            }
            k += 1;
        }
        let active = self.active(tz, holidays, from, to);
        let mut out = Vec::new();
        for (s, e, user) in shifts {
            for (a, b) in &active {
                let (cs, ce) = (s.max(*a), e.min(*b));
                if cs < ce {
                    out.push((cs, ce, user));
                }
            }
        }
        out
    }

    /// Whether the layer applies at `at`, read from `at`'s own local date and time (not from
    /// the intervals [`Layer::active`] builds: the two agree except on local times that a DST
    /// change skips or repeats, and the property tests hold them to it).
    fn applies_at(&self, tz: &TimeZone, holidays: &Calendar, at: Timestamp) -> bool {
        if at < local(tz, self.start) {
            return false;
        }
        let zoned = at.to_zoned(tz.clone());
        let (day, t) = (zoned.date(), zoned.time());
        if self.skip_holidays && holidays.contains(day) {
            return false;
        }
        let week_minute = |w: Weekday, t: Time| {
            i32::from(w.to_monday_zero_offset()) * 1440
                + i32::from(t.hour()) * 60
                + i32::from(t.minute())
        };
        let now = week_minute(day.weekday(), t);
        let within = |from: i32, to: i32, x: i32| {
            if to > from {
                from <= x && x < to
            } else {
                x >= from || x < to
            }
        };
        self.restrictions.is_empty()
            || self.restrictions.iter().any(|r| match *r {
                Restriction::Daily { from, to } => within(
                    week_minute(Weekday::Monday, from),
                    week_minute(Weekday::Monday, to),
                    week_minute(Weekday::Monday, t),
                ),
                Restriction::Weekly { from, to } => {
                    within(week_minute(from.0, from.1), week_minute(to.0, to.1), now)
                }
                Restriction::Holidays => holidays.contains(day),
            })
    }
}

/// The sorted union of `spans`, cut to `[from, to)`.
fn union(
    mut spans: Vec<(Timestamp, Timestamp)>,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    spans.sort_unstable();
    let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
    for (a, b) in spans {
        let (a, b) = (a.max(from), b.min(to));
        if a >= b {
            continue;
        }
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `spans` without `off` (both sorted and disjoint).
fn subtract(
    spans: &[(Timestamp, Timestamp)],
    off: &[(Timestamp, Timestamp)],
) -> Vec<(Timestamp, Timestamp)> {
    let mut out = Vec::new();
    for &(a, b) in spans {
        let mut cursor = a;
        for &(oa, ob) in off.iter().filter(|(oa, ob)| *oa < b && *ob > a) {
            if oa > cursor {
                out.push((cursor, oa));
            }
            cursor = cursor.max(ob);
        }
        if cursor < b {
            out.push((cursor, b));
        }
    }
    out
}

/// Lays `top` over the timeline `base` (sorted, contiguous).
fn overlay(base: Vec<Segment>, top: Segment) -> Vec<Segment> {
    let mut out = Vec::with_capacity(base.len() + 2);
    let mut placed = false;
    for seg in base {
        if seg.end <= top.start || seg.start >= top.end {
            if !placed && seg.start >= top.end {
                out.push(top);
                placed = true;
            }
            out.push(seg);
            continue;
        }
        if seg.start < top.start {
            out.push(Segment {
                end: top.start,
                ..seg
            });
        }
        if !placed {
            out.push(top);
            placed = true;
        }
        if seg.end > top.end {
            out.push(Segment {
                start: top.end,
                ..seg
            });
        }
    }
    if !placed {
        out.push(top);
    }
    out
}

impl Schedule {
    /// Who is on call over `[from, to)`: contiguous segments covering it exactly, gaps
    /// included (`user: None`), neighbours of the same person and source merged.
    pub fn final_schedule(
        &self,
        from: Timestamp,
        to: Timestamp,
        holidays: &Calendar,
    ) -> Vec<Segment> {
        if from >= to {
            return Vec::new();
        }
        let mut timeline = vec![Segment {
            start: from,
            end: to,
            user: None,
            source: Source::Nobody,
        }];
        for (i, layer) in self.layers.iter().enumerate() {
            for (start, end, user) in layer.coverage(&self.tz, holidays, from, to) {
                timeline = overlay(
                    timeline,
                    Segment {
                        start,
                        end,
                        user: Some(user),
                        source: Source::Layer(i),
                    },
                );
            }
        }
        let mut overrides: Vec<(usize, &Override)> = self.overrides.iter().enumerate().collect();
        overrides.sort_by_key(|(i, o)| (o.created_at, *i));
        for (i, o) in overrides {
            let (start, end) = (o.start.max(from), o.end.min(to));
            if start < end {
                timeline = overlay(
                    timeline,
                    Segment {
                        start,
                        end,
                        user: Some(o.user),
                        source: Source::Override(i),
                    },
                );
            }
        }
        let mut merged: Vec<Segment> = Vec::with_capacity(timeline.len());
        for seg in timeline {
            match merged.last_mut() {
                Some(last)
                    if last.user == seg.user
                        && last.source == seg.source
                        && last.end == seg.start =>
                {
                    last.end = seg.end;
                }
                _ => merged.push(seg),
            }
        }
        merged
    }

    /// Who is on call at `at`, worked out for that instant alone (the final schedule's
    /// reference in tests, and the answer for "who do we page now").
    pub fn on_call_at(&self, at: Timestamp, holidays: &Calendar) -> Option<UserId> {
        let over = self
            .overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| o.start <= at && at < o.end)
            .max_by_key(|(i, o)| (o.created_at, *i));
        if let Some((_, o)) = over {
            return Some(o.user);
        }
        self.layers
            .iter()
            .rev()
            .find(|l| !l.users.is_empty() && l.applies_at(&self.tz, holidays, at))
            .and_then(|l| l.user_of(l.shift_at(&self.tz, at)))
    }
}

/// The gaps of a final schedule: when nobody is on call.
pub fn gaps(segments: &[Segment]) -> impl Iterator<Item = &Segment> {
    segments.iter().filter(|s| s.user.is_none())
}

#[cfg(test)]
mod tests {
    use jiff::civil::{date, time};

    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    fn at(tz: &TimeZone, y: i16, m: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        local(tz, date(y, m, d).at(h, mi, 0, 0))
    }

    fn daily(users: &[UserId], start: DateTime) -> Layer {
        Layer {
            name: "primary".into(),
            users: users.to_vec(),
            rotation: Rotation::Daily,
            start,
            restrictions: Vec::new(),
            skip_holidays: false,
        }
    }

    #[test]
    fn a_daily_handoff_stays_at_its_local_time_across_dst() {
        let tz = paris();
        let s = Schedule {
            tz: tz.clone(),
            layers: vec![daily(&[1, 2], date(2026, 3, 27).at(8, 0, 0, 0))],
            overrides: Vec::new(),
        };
        let segs = s.final_schedule(
            at(&tz, 2026, 3, 27, 8, 0),
            at(&tz, 2026, 3, 30, 8, 0),
            &Calendar::default(),
        );
        let hours: Vec<(Option<UserId>, i64)> = segs
            .iter()
            .map(|g| (g.user, g.duration().as_hours()))
            .collect();
        // The night of 28 to 29 March loses an hour; every hand-off is at 08:00 Paris time.
        assert_eq!(hours, [(Some(1), 24), (Some(2), 23), (Some(1), 24)]);
        let segs = s.final_schedule(
            at(&tz, 2026, 10, 24, 8, 0),
            at(&tz, 2026, 10, 26, 8, 0),
            &Calendar::default(),
        );
        let hours: Vec<i64> = segs.iter().map(|g| g.duration().as_hours()).collect();
        assert_eq!(hours, [25, 24], "the night of 24 to 25 October gains one");
        for g in &segs {
            assert_eq!(g.start.to_zoned(tz.clone()).time(), time(8, 0, 0, 0));
        }
    }

    #[test]
    fn fixed_shifts_count_real_hours_and_nights_follow_the_clock() {
        let tz = paris();
        let mut twelve = daily(&[1, 2], date(2026, 3, 28).at(20, 0, 0, 0));
        twelve.rotation = Rotation::Hours(12);
        let s = Schedule {
            tz: tz.clone(),
            layers: vec![twelve],
            overrides: Vec::new(),
        };
        let segs = s.final_schedule(
            at(&tz, 2026, 3, 28, 20, 0),
            at(&tz, 2026, 3, 29, 20, 0),
            &Calendar::default(),
        );
        assert_eq!(segs.len(), 2);
        assert_eq!(
            segs[0].end.to_zoned(tz.clone()).time(),
            time(9, 0, 0, 0),
            "12 real hours end at 09:00 after the change"
        );
        // A night restriction 19:00 to 08:00 lasts 12 hours that night.
        let mut nights = daily(&[7], date(2026, 3, 1).at(0, 0, 0, 0));
        nights.restrictions = vec![Restriction::Daily {
            from: time(19, 0, 0, 0),
            to: time(8, 0, 0, 0),
        }];
        let s = Schedule {
            tz: tz.clone(),
            layers: vec![nights],
            overrides: Vec::new(),
        };
        let segs = s.final_schedule(
            at(&tz, 2026, 3, 28, 12, 0),
            at(&tz, 2026, 3, 29, 12, 0),
            &Calendar::default(),
        );
        let on: Vec<i64> = segs
            .iter()
            .filter(|g| g.user.is_some())
            .map(|g| g.duration().as_hours())
            .collect();
        assert_eq!(on, [12]);
        assert_eq!(gaps(&segs).count(), 2, "the days are gaps");
    }

    #[test]
    fn layers_restrictions_holidays_and_overrides_combine() {
        let tz = paris();
        // Business hours by layer 0 (Mon-Fri 09:00-18:00, not on holidays), nights and weekends
        // and holidays by layer 1.
        let mut business = daily(&[1], date(2026, 1, 1).at(9, 0, 0, 0));
        business.restrictions = (0..5)
            .map(|d| {
                let w = Weekday::from_monday_zero_offset(d).unwrap();
                Restriction::Weekly {
                    from: (w, time(9, 0, 0, 0)),
                    to: (w, time(18, 0, 0, 0)),
                }
            })
            .collect();
        business.skip_holidays = true;
        let mut astreinte = daily(&[2, 3], date(2026, 1, 1).at(18, 0, 0, 0));
        astreinte.rotation = Rotation::Weekly;
        astreinte.restrictions = vec![
            Restriction::Daily {
                from: time(18, 0, 0, 0),
                to: time(9, 0, 0, 0),
            },
            Restriction::Weekly {
                from: (Weekday::Saturday, time(0, 0, 0, 0)),
                to: (Weekday::Monday, time(0, 0, 0, 0)),
            },
            Restriction::Holidays,
        ];
        let holidays = Calendar::france([2026], false);
        let mut s = Schedule {
            tz: tz.clone(),
            layers: vec![business, astreinte],
            overrides: Vec::new(),
        };
        // Thursday 14 May 2026 is Ascension: the on-call layer covers it all day (its weekly
        // hand-off is on Thursdays at 18:00).
        let ascension = at(&tz, 2026, 5, 14, 11, 0);
        assert_eq!(
            s.on_call_at(ascension, &holidays),
            s.on_call_at(at(&tz, 2026, 5, 14, 17, 0), &holidays)
        );
        assert_ne!(s.on_call_at(ascension, &holidays), Some(1));
        assert_eq!(
            s.on_call_at(at(&tz, 2026, 5, 13, 11, 0), &holidays),
            Some(1)
        );
        let week = s.final_schedule(
            at(&tz, 2026, 5, 11, 0, 0),
            at(&tz, 2026, 5, 18, 0, 0),
            &holidays,
        );
        assert_eq!(gaps(&week).count(), 0, "{week:?}");
        // Two overlapping overrides: the more recent wins where they overlap.
        s.overrides = vec![
            Override {
                user: 8,
                start: at(&tz, 2026, 5, 12, 10, 0),
                end: at(&tz, 2026, 5, 12, 16, 0),
                created_at: at(&tz, 2026, 5, 1, 0, 0),
            },
            Override {
                user: 9,
                start: at(&tz, 2026, 5, 12, 12, 0),
                end: at(&tz, 2026, 5, 12, 14, 0),
                created_at: at(&tz, 2026, 5, 2, 0, 0),
            },
        ];
        let day = s.final_schedule(
            at(&tz, 2026, 5, 12, 9, 0),
            at(&tz, 2026, 5, 12, 18, 0),
            &holidays,
        );
        let who: Vec<Option<UserId>> = day.iter().map(|g| g.user).collect();
        assert_eq!(who, [Some(1), Some(8), Some(9), Some(8), Some(1)]);
    }
}
