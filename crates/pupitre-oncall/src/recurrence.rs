//! Recurrence rules (RFC 5545 RRULE) for maintenance windows, in a time zone.
//!
//! Supported: `FREQ` (`DAILY`, `WEEKLY`, `MONTHLY`, `YEARLY`), `INTERVAL`, `COUNT`, `UNTIL`,
//! `BYDAY` (with an ordinal such as `1MO` or `-1FR` for monthly and yearly rules),
//! `BYMONTHDAY` (negative counts from the month's end), `BYMONTH`, and `WKST=MO`. Anything
//! else is refused with its name, rather than half understood. Occurrences keep their local
//! start time across DST changes ("every Sunday at 02:30" in Europe/Paris is 03:30 on the day
//! the clocks skip 02:00–03:00, as jiff's "compatible" rule reads it).

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use crate::schedule::local;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// A parsed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub freq: Freq,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<Timestamp>,
    /// `(ordinal, weekday)`; ordinal 0 means every such weekday.
    pub by_day: Vec<(i8, Weekday)>,
    pub by_month_day: Vec<i8>,
    pub by_month: Vec<i8>,
}

fn weekday(code: &str) -> Option<Weekday> {
    let i = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        .iter()
        .position(|d| *d == code)?;
    Weekday::from_monday_zero_offset(i8::try_from(i).ok()?).ok()
}

fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(Span::new().days(n)).unwrap_or(d)
}

impl Rule {
    /// Reads a rule (`FREQ=WEEKLY;BYDAY=SU`, with or without `RRULE:`); the error says which
    /// part is wrong and why.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let text = text.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        let mut rule = Rule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            until: None,
            by_day: Vec::new(),
            by_month_day: Vec::new(),
            by_month: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        let mut freq = None;
        for part in text.split(';').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not NAME=VALUE"))?;
            let name = name.to_ascii_uppercase();
            if !seen.insert(name.clone()) {
                return Err(format!("{name} is given twice"));
            }
            let list = || value.split(',').map(str::trim);
            match name.as_str() {
                "FREQ" => {
                    freq = Some(match value.to_ascii_uppercase().as_str() {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        "YEARLY" => Freq::Yearly,
                        other => {
                            return Err(format!(
                                "FREQ={other} is not supported (DAILY, WEEKLY, MONTHLY or YEARLY)"
                            ));
                        }
                    });
                }
                "INTERVAL" => {
                    rule.interval = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or("INTERVAL must be 1 to 1000")?;
                }
                "COUNT" => {
                    rule.count = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=100_000).contains(n))
                            .ok_or("COUNT must be 1 to 100000")?,
                    );
                }
                "UNTIL" => {
                    rule.until = Some(parse_until(value).ok_or(
                        "UNTIL must be a date (20261231) or a UTC time (20261231T235959Z)",
                    )?);
                }
                "BYDAY" => {
                    for d in list() {
                        let d = d.to_ascii_uppercase();
                        let (n, code) = d.split_at(d.len().saturating_sub(2));
                        let day = weekday(code)
                            .ok_or_else(|| format!("BYDAY: `{d}` is not a day (MO to SU)"))?;
                        let ordinal: i8 = match n {
                            "" => 0,
                            n => n
                                .trim_start_matches('+')
                                .parse()
                                .ok()
                                .filter(|o: &i8| *o != 0 && (-5..=5).contains(o))
                                .ok_or_else(|| {
                                    format!("BYDAY: `{d}` has a bad ordinal (1 to 5, or -1 to -5)")
                                })?,
                        };
                        rule.by_day.push((ordinal, day));
                    }
                }
                "BYMONTHDAY" => {
                    for d in list() {
                        let n: i8 = d
                            .parse()
                            .ok()
                            .filter(|n: &i8| *n != 0 && (-31..=31).contains(n))
                            .ok_or_else(|| {
                                format!("BYMONTHDAY: `{d}` is not 1 to 31 or -1 to -31")
                            })?;
                        rule.by_month_day.push(n);
                    }
                }
                "BYMONTH" => {
                    for m in list() {
                        let n: i8 = m
                            .parse()
                            .ok()
                            .filter(|n| (1..=12).contains(n))
                            .ok_or_else(|| format!("BYMONTH: `{m}` is not 1 to 12"))?;
                        rule.by_month.push(n);
                    }
                }
                "WKST" => {
                    if !value.eq_ignore_ascii_case("MO") {
                        return Err("only WKST=MO is supported".to_owned());
                    }
                }
                other => return Err(format!("{other} is not supported")),
            }
        }
        rule.freq = freq.ok_or("FREQ is required")?;
        if rule.count.is_some() && rule.until.is_some() {
            return Err("COUNT and UNTIL cannot both be given".to_owned());
        }
        let ordinals = rule.by_day.iter().any(|(n, _)| *n != 0);
        if ordinals && matches!(rule.freq, Freq::Daily | Freq::Weekly) {
            return Err("BYDAY ordinals (1MO, -1FR) need FREQ=MONTHLY or YEARLY".to_owned());
        }
        if !rule.by_month_day.is_empty() && rule.freq == Freq::Weekly {
            return Err("BYMONTHDAY does not go with FREQ=WEEKLY".to_owned());
        }
        Ok(rule)
    }

    /// Whether `day` is one of the rule's days in its month, for monthly-style expansion;
    /// `start` gives the day of month when the rule names none.
    fn in_month(&self, day: Date, start: Date) -> bool {
        let last = day.days_in_month();
        let month_day_ok = |n: i8| {
            if n > 0 {
                day.day() == n
            } else {
                day.day() == last + 1 + n
            }
        };
        let weekday_ok = |(n, w): (i8, Weekday)| {
            day.weekday() == w
                && match n {
                    0 => true,
                    n if n > 0 => (day.day() - 1) / 7 + 1 == n,
                    n => (last - day.day()) / 7 + 1 == -n,
                }
        };
        match (self.by_month_day.is_empty(), self.by_day.is_empty()) {
            (true, true) => day.day() == start.day(),
            (false, true) => self.by_month_day.iter().any(|n| month_day_ok(*n)),
            (true, false) => self.by_day.iter().any(|d| weekday_ok(*d)),
            (false, false) => {
                self.by_month_day.iter().any(|n| month_day_ok(*n))
                    && self.by_day.iter().any(|d| weekday_ok(*d))
            }
        }
    }

    /// Whether the rule falls on `day`, for a series that started on `start`.
    fn matches(&self, day: Date, start: Date) -> bool {
        if day < start {
            return false;
        }
        if !self.by_month.is_empty() && !self.by_month.contains(&day.month()) {
            return false;
        }
        let interval = i64::from(self.interval);
        match self.freq {
            Freq::Daily => {
                let days = i64::from(day.since(start).map(|s| s.get_days()).unwrap_or(0));
                days % interval == 0
                    && (self.by_month_day.is_empty() || self.in_month(day, start))
                    && (self.by_day.is_empty()
                        || self.by_day.iter().any(|(_, w)| *w == day.weekday()))
            }
            Freq::Weekly => {
                let monday = |d: Date| add_days(d, -i64::from(d.weekday().to_monday_zero_offset()));
                let weeks = i64::from(
                    monday(day)
                        .since(monday(start))
                        .map(|s| s.get_days())
                        .unwrap_or(0),
                ) / 7;
                weeks % interval == 0
                    && if self.by_day.is_empty() {
                        day.weekday() == start.weekday()
                    } else {
                        self.by_day.iter().any(|(_, w)| *w == day.weekday())
                    }
            }
            Freq::Monthly => {
                let months = (i64::from(day.year()) - i64::from(start.year())) * 12
                    + i64::from(day.month())
                    - i64::from(start.month());
                months % interval == 0 && self.in_month(day, start)
            }
            Freq::Yearly => {
                let years = i64::from(day.year()) - i64::from(start.year());
                let month_ok = if self.by_month.is_empty() {
                    day.month() == start.month()
                } else {
                    true
                };
                years % interval == 0 && month_ok && self.in_month(day, start)
            }
        }
    }

    /// The starts of the occurrences from `start` (local, in `tz`) up to `to` (excluded), in
    /// order, with `COUNT` and `UNTIL` applied; at most `limit` of them.
    pub fn occurrences(
        &self,
        start: DateTime,
        tz: &TimeZone,
        to: Timestamp,
        limit: usize,
    ) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let first = start.date();
        let mut counted = 0u32;
        // Enough days for any rule: 1000 years of yearly occurrences is never asked for.
        for offset in 0..200_000 {
            let day = add_days(first, offset);
            if !self.matches(day, first) {
                continue;
            }
            let at = local(tz, day.to_datetime(start.time()));
            if self.until.is_some_and(|u| at > u) || at >= to {
                break;
            }
            counted += 1;
            if self.count.is_some_and(|c| counted > c) {
                break;
            }
            out.push(at);
            if out.len() >= limit {
                break;
            }
        }
        out
    }
}

fn parse_until(text: &str) -> Option<Timestamp> {
    let t = text.trim();
    let date = |s: &str| -> Option<Date> {
        if s.len() != 8 {
            return None;
        }
        Date::new(
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..8].parse().ok()?,
        )
        .ok()
    };
    if let Some(d) = date(t) {
        // A date: until the end of that day, UTC.
        return d
            .to_datetime(jiff::civil::Time::MAX)
            .to_zoned(TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    let (d, rest) = t.split_once('T')?;
    let rest = rest.strip_suffix('Z')?;
    if rest.len() != 6 {
        return None;
    }
    let time = jiff::civil::Time::new(
        rest[..2].parse().ok()?,
        rest[2..4].parse().ok()?,
        rest[4..6].parse().ok()?,
        0,
    )
    .ok()?;
    date(d)?
        .to_datetime(time)
        .to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    fn days(rule: &str, start: DateTime, n: usize) -> Vec<String> {
        let tz = paris();
        Rule::parse(rule)
            .unwrap()
            .occurrences(start, &tz, Timestamp::MAX, n)
            .iter()
            .map(|t| t.to_zoned(tz.clone()).datetime().to_string())
            .collect()
    }

    #[test]
    fn common_rules_expand_in_local_time() {
        let sunday = date(2026, 3, 22).at(2, 30, 0, 0);
        assert_eq!(
            days("FREQ=WEEKLY;BYDAY=SU", sunday, 3),
            [
                "2026-03-22T02:30:00",
                "2026-03-29T03:30:00",
                "2026-04-05T02:30:00"
            ],
            "the day the clocks skip 02:00-03:00, 02:30 is read as 03:30"
        );
        assert_eq!(
            days(
                "RRULE:FREQ=MONTHLY;BYDAY=1TU",
                date(2026, 1, 6).at(22, 0, 0, 0),
                3
            ),
            [
                "2026-01-06T22:00:00",
                "2026-02-03T22:00:00",
                "2026-03-03T22:00:00"
            ],
            "the first Tuesday of each month"
        );
        assert_eq!(
            days(
                "FREQ=MONTHLY;BYDAY=-1FR",
                date(2026, 1, 1).at(20, 0, 0, 0),
                2
            ),
            ["2026-01-30T20:00:00", "2026-02-27T20:00:00"],
            "the last Friday"
        );
        assert_eq!(
            days(
                "FREQ=MONTHLY;BYMONTHDAY=-1",
                date(2026, 1, 31).at(23, 0, 0, 0),
                3
            ),
            [
                "2026-01-31T23:00:00",
                "2026-02-28T23:00:00",
                "2026-03-31T23:00:00"
            ]
        );
        assert_eq!(
            days("FREQ=MONTHLY", date(2026, 1, 31).at(1, 0, 0, 0), 3),
            [
                "2026-01-31T01:00:00",
                "2026-03-31T01:00:00",
                "2026-05-31T01:00:00"
            ],
            "months without a 31st are skipped, as RFC 5545 says"
        );
        assert_eq!(
            days(
                "FREQ=DAILY;INTERVAL=2;COUNT=3",
                date(2026, 12, 30).at(6, 0, 0, 0),
                10
            ),
            [
                "2026-12-30T06:00:00",
                "2027-01-01T06:00:00",
                "2027-01-03T06:00:00"
            ]
        );
        assert_eq!(
            days(
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20261214",
                date(2026, 11, 30).at(8, 0, 0, 0),
                10
            ),
            [
                "2026-11-30T08:00:00",
                "2026-12-03T08:00:00",
                "2026-12-14T08:00:00"
            ]
        );
        assert_eq!(
            days(
                "FREQ=YEARLY;BYMONTH=8;BYDAY=1SA",
                date(2026, 8, 1).at(0, 0, 0, 0),
                2
            ),
            ["2026-08-01T00:00:00", "2027-08-07T00:00:00"]
        );
    }

    #[test]
    fn invalid_rules_are_refused_with_the_reason() {
        for (rule, why) in [
            ("", "FREQ is required"),
            ("FREQ=HOURLY", "FREQ=HOURLY is not supported"),
            ("FREQ=WEEKLY;BYDAY=XX", "BYDAY: `XX` is not a day"),
            ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY ordinals"),
            ("FREQ=DAILY;COUNT=2;UNTIL=20261231", "COUNT and UNTIL"),
            ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
            ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS is not supported"),
            ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
            ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
            ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL must be"),
            ("FREQ", "is not NAME=VALUE"),
        ] {
            let e = Rule::parse(rule).unwrap_err();
            assert!(e.contains(why), "{rule}: {e}");
        }
    }
}
