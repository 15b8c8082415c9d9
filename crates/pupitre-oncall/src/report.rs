//! The on-call report: hours on duty per person and month, split for compensation into
//! weekday days, weekday nights, weekends and public holidays, in the schedule's local time.

use std::collections::BTreeMap;

use jiff::Span;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;

use crate::UserId;
use crate::holidays::Calendar;
use crate::schedule::{Segment, local};

/// Seconds on duty, by kind of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hours {
    pub weekday_day: i64,
    pub weekday_night: i64,
    /// Saturdays and Sundays that are not public holidays.
    pub weekend: i64,
    pub holiday: i64,
}

impl Hours {
    pub fn total(&self) -> i64 {
        self.weekday_day + self.weekday_night + self.weekend + self.holiday
    }
}

/// The night, for the report: from `from` to `to` the next morning (20:00 to 08:00 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Night {
    pub from: Time,
    pub to: Time,
}

impl Default for Night {
    fn default() -> Night {
        Night {
            from: Time::constant(20, 0, 0, 0),
            to: Time::constant(8, 0, 0, 0),
        }
    }
}

/// A person's month: (user, year, month).
pub type MonthKey = (UserId, i16, i8);

/// Splits the segments people were on duty into months and kinds of time. A piece of time is
/// a holiday when its local date is one, else weekend on a Saturday or Sunday, else night
/// between `night.from` and `night.to`, else day.
pub fn split(
    segments: &[Segment],
    tz: &TimeZone,
    holidays: &Calendar,
    night: Night,
) -> BTreeMap<MonthKey, Hours> {
    let mut out: BTreeMap<MonthKey, Hours> = BTreeMap::new();
    for seg in segments {
        let Some(user) = seg.user else { continue };
        let mut cursor = seg.start;
        while cursor < seg.end {
            let zoned = cursor.to_zoned(tz.clone());
            let day = zoned.date();
            let next_day = day.checked_add(Span::new().days(1)).unwrap_or(day);
            let cuts = [
                local(tz, day.to_datetime(night.to)),
                local(tz, day.to_datetime(night.from)),
                local(tz, next_day.to_datetime(Time::midnight())),
            ];
            let next = cuts
                .into_iter()
                .filter(|c| *c > cursor)
                .min()
                .unwrap_or(seg.end)
                .min(seg.end);
            let seconds = next.duration_since(cursor).as_secs();
            let hours = out.entry((user, day.year(), day.month())).or_default();
            let time = zoned.time();
            let is_night = if night.from > night.to {
                time >= night.from || time < night.to
            } else {
                time >= night.from && time < night.to
            };
            if holidays.contains(day) {
                hours.holiday += seconds;
            } else if matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
                hours.weekend += seconds;
            } else if is_night {
                hours.weekday_night += seconds;
            } else {
                hours.weekday_day += seconds;
            }
            cursor = next;
        }
    }
    out
}

/// The report as CSV: `user,month,weekday_day_h,weekday_night_h,weekend_h,holiday_h,total_h`,
/// hours with two decimals; `name` gives each user's login.
pub fn csv(report: &BTreeMap<MonthKey, Hours>, name: impl Fn(UserId) -> String) -> String {
    let hours = |s: i64| format!("{:.2}", s as f64 / 3600.0);
    let mut out =
        String::from("user,month,weekday_day_h,weekday_night_h,weekend_h,holiday_h,total_h\n");
    for ((user, year, month), h) in report {
        let login = name(*user);
        let login = if login.contains([',', '"', '\n']) {
            format!("\"{}\"", login.replace('"', "\"\""))
        } else {
            login
        };
        out.push_str(&format!(
            "{login},{year:04}-{month:02},{},{},{},{},{}\n",
            hours(h.weekday_day),
            hours(h.weekday_night),
            hours(h.weekend),
            hours(h.holiday),
            hours(h.total())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::schedule::Source;

    #[test]
    fn a_week_of_duty_splits_into_days_nights_weekends_and_holidays() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        // Monday 11 May 2026 08:00 to Monday 18 May 08:00; Thursday 14 is Ascension.
        let seg = Segment {
            start: local(&tz, date(2026, 5, 11).at(8, 0, 0, 0)),
            end: local(&tz, date(2026, 5, 18).at(8, 0, 0, 0)),
            user: Some(4),
            source: Source::Layer(0),
        };
        let r = split(
            &[seg],
            &tz,
            &Calendar::france([2026], false),
            Night::default(),
        );
        let h = r[&(4, 2026, 5)];
        assert_eq!(h.total(), 7 * 24 * 3600);
        assert_eq!(h.holiday, 24 * 3600, "Ascension, all day");
        assert_eq!(h.weekend, 2 * 24 * 3600);
        // Mon, Tue, Wed, Fri from 08:00 to 20:00: 4 x 12 h of day.
        assert_eq!(h.weekday_day, 4 * 12 * 3600);
        // Nights: Mon 20-24, Tue, Wed and Fri 0-8 and 20-24, Mon 18 0-8 (not Thursday's).
        assert_eq!(h.weekday_night, 48 * 3600);
        let csv = csv(&r, |u| format!("user{u}"));
        assert!(csv.starts_with("user,month,"));
        assert!(
            csv.contains("user4,2026-05,48.00,48.00,48.00,24.00,168.00\n"),
            "{csv}"
        );
    }

    #[test]
    fn months_are_cut_at_local_midnight() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let seg = Segment {
            start: local(&tz, date(2026, 3, 31).at(22, 0, 0, 0)),
            end: local(&tz, date(2026, 4, 1).at(2, 0, 0, 0)),
            user: Some(1),
            source: Source::Layer(0),
        };
        let r = split(&[seg], &tz, &Calendar::default(), Night::default());
        assert_eq!(r[&(1, 2026, 3)].weekday_night, 2 * 3600);
        assert_eq!(r[&(1, 2026, 4)].weekday_night, 2 * 3600);
    }
}
