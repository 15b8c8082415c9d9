//! Public holidays.

use std::collections::BTreeSet;

use jiff::civil::{Date, date};

/// A set of holiday dates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    days: BTreeSet<Date>,
}

impl Calendar {
    /// The French public holidays of `years` (with Alsace-Moselle's Good Friday and St
    /// Stephen's day when `alsace_moselle`).
    pub fn france(years: impl IntoIterator<Item = i16>, alsace_moselle: bool) -> Calendar {
        Calendar {
            days: years
                .into_iter()
                .flat_map(|y| france(y, alsace_moselle))
                .collect(),
        }
    }

    /// A calendar of the dates given (a custom calendar, or extra days).
    pub fn of(days: impl IntoIterator<Item = Date>) -> Calendar {
        Calendar {
            days: days.into_iter().collect(),
        }
    }

    /// This calendar with the days of `other` too.
    pub fn with(mut self, other: &Calendar) -> Calendar {
        self.days.extend(other.days.iter().copied());
        self
    }

    pub fn contains(&self, day: Date) -> bool {
        self.days.contains(&day)
    }

    pub fn days(&self) -> impl Iterator<Item = Date> + '_ {
        self.days.iter().copied()
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous Gregorian algorithm,
/// also known as Meeus/Jones/Butcher).
pub fn easter(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // Both fit: month is 3 or 4, day 1 to 31.
    date(year, month as i8, day as i8)
}

/// The French public holidays of `year`, in order.
pub fn france(year: i16, alsace_moselle: bool) -> Vec<Date> {
    let easter = easter(year);
    let after_easter = |days: i64| {
        easter
            .checked_add(jiff::Span::new().days(days))
            .unwrap_or(easter)
    };
    let mut days = vec![
        date(year, 1, 1),   // Jour de l'an
        after_easter(1),    // Lundi de Pâques
        date(year, 5, 1),   // Fête du Travail
        date(year, 5, 8),   // Victoire 1945
        after_easter(39),   // Ascension
        after_easter(50),   // Lundi de Pentecôte
        date(year, 7, 14),  // Fête nationale
        date(year, 8, 15),  // Assomption
        date(year, 11, 1),  // Toussaint
        date(year, 11, 11), // Armistice
        date(year, 12, 25), // Noël
    ];
    if alsace_moselle {
        days.push(after_easter(-2)); // Vendredi saint
        days.push(date(year, 12, 26)); // Saint-Étienne
    }
    days.sort_unstable();
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_matches_the_published_dates() {
        for (year, month, day) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter(year), date(year, month, day), "{year}");
        }
    }

    #[test]
    fn france_2026_has_eleven_days_and_alsace_two_more() {
        let days = france(2026, false);
        assert_eq!(days.len(), 11);
        assert!(days.contains(&date(2026, 4, 6)), "Easter Monday");
        assert!(days.contains(&date(2026, 5, 14)), "Ascension");
        assert!(days.contains(&date(2026, 5, 25)), "Whit Monday");
        let alsace = france(2026, true);
        assert_eq!(alsace.len(), 13);
        assert!(alsace.contains(&date(2026, 4, 3)), "Good Friday");
        assert!(alsace.contains(&date(2026, 12, 26)));
        let cal = Calendar::france([2026, 2027], false).with(&Calendar::of([date(2026, 6, 1)]));
        assert!(cal.contains(date(2027, 5, 6)), "Ascension 2027");
        assert!(cal.contains(date(2026, 6, 1)));
        assert!(!cal.contains(date(2026, 6, 2)));
    }
}
