//! Time-zone offsets for recurring downtimes, worked out when a downtime is read: the core
//! evaluates a weekly window in local time from a [`ZoneOffsets`] without knowing time zones.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use pupitre_core::monitoring::check::ZoneOffsets;

/// How far around now the offsets of a recurring downtime are worked out. The engine reads
/// downtimes again every 30 s, so this only needs to cover a few weeks' windows.
const BEFORE_MS: i64 = 2 * 86_400_000;
const AFTER_MS: i64 = 400 * 86_400_000;

/// The offsets of `zone` between `from` and `to` (epoch ms). `None` when the zone is unknown.
pub fn zone_offsets(zone: &str, from: i64, to: i64) -> Option<ZoneOffsets> {
    let tz = TimeZone::get(zone).ok()?;
    let start = Timestamp::from_millisecond(from).ok()?;
    let end = Timestamp::from_millisecond(to).unwrap_or(Timestamp::MAX);
    let changes = tz
        .following(start)
        .take_while(|t| t.timestamp() <= end)
        .take(64)
        .map(|t| (t.timestamp().as_millisecond(), t.offset().seconds()))
        .collect();
    Some(ZoneOffsets {
        initial_s: tz.to_offset(start).seconds(),
        changes,
    })
}

/// The offsets a downtime needs around `now`, within its period; UTC for an unknown zone.
pub fn downtime_offsets(zone: &str, starts_at: i64, ends_at: i64, now: i64) -> ZoneOffsets {
    let from = starts_at.max(now.saturating_sub(BEFORE_MS));
    let to = ends_at.min(now.saturating_add(AFTER_MS)).max(from);
    zone_offsets(zone, from, to).unwrap_or_else(|| {
        tracing::warn!(
            zone,
            "unknown time zone in a downtime; its times are read as UTC"
        );
        ZoneOffsets::default()
    })
}

/// The current time, in epoch ms.
pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_changes_twice_a_year() {
        // 2026-01-01 to 2027-01-01.
        let z = zone_offsets("Europe/Paris", 1_767_225_600_000, 1_798_761_600_000).unwrap();
        assert_eq!(z.initial_s, 3600);
        let offsets: Vec<i32> = z.changes.iter().map(|c| c.1).collect();
        assert_eq!(offsets, [7200, 3600]);
        assert_eq!(
            zone_offsets("UTC", 0, 1_000_000).unwrap(),
            ZoneOffsets::default()
        );
        assert_eq!(zone_offsets("Mars/Olympus", 0, 1), None);
    }
}
