//! Checks as the engine and the pages see them: a stored check attached to an asset, its last
//! result, the hard-state events it left, the downtimes that cover it, and host states
//! (UP, DOWN, UNREACHABLE) with the dependency rule that turns a child of a down parent
//! unreachable.

use std::collections::{HashMap, HashSet};

use super::State;
use super::definition::CheckDefinition;
use super::status::CheckStatus;
use super::template::TemplateId;
use crate::inventory::{AssetId, GraphEdge, RelationKind};
use crate::permission::EntityId;

pub type CheckId = i64;

/// A check attached to an asset (a server, a switch, a service, an application).
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub id: CheckId,
    pub asset_id: AssetId,
    pub definition: CheckDefinition,
    /// This check's state is its asset's host state (UP, DOWN, UNREACHABLE). At most one per
    /// asset; usually the ping.
    pub host_check: bool,
    /// The template and the position in it, for a check a template gave the asset.
    pub template: Option<(TemplateId, u32)>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the last run printed and how long it took.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LastResult {
    pub at: i64,
    pub duration_ms: i64,
    /// The first line (`TCP OK - 0.001 second response time on …`).
    pub output: String,
    pub long_output: String,
    /// Performance data as a plugin prints it (`time=0.001s;;;0`).
    pub perfdata: String,
}

/// The state of a host: its host check's state read as Nagios reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostState {
    /// No result yet.
    Pending,
    Up,
    Down,
    /// Down, but a parent it depends on is down too: the problem is probably the parent's.
    Unreachable,
}

impl HostState {
    /// OK and WARNING are UP (a slow ping is still an answer), CRITICAL and UNKNOWN are DOWN,
    /// or UNREACHABLE when the result came while a parent was down.
    pub fn of(status: &CheckStatus) -> HostState {
        if status.is_pending() {
            HostState::Pending
        } else if matches!(status.state, State::Ok | State::Warning) {
            HostState::Up
        } else if status.unreachable {
            HostState::Unreachable
        } else {
            HostState::Down
        }
    }

    /// Whether the children of a host in this state count as behind a down parent. Only hard
    /// states count, as in Icinga's dependencies: one lost ping must not silence a network.
    pub fn blocks_children(status: &CheckStatus) -> bool {
        status.hard
            && matches!(
                HostState::of(status),
                HostState::Down | HostState::Unreachable
            )
    }

    pub fn key(self) -> &'static str {
        match self {
            HostState::Pending => "pending",
            HostState::Up => "up",
            HostState::Down => "down",
            HostState::Unreachable => "unreachable",
        }
    }
}

/// For reachability, the parents of each asset: what it runs on (a hypervisor), is connected
/// to (a switch, a link), is powered by, or depends on. A cluster is not unreachable because
/// one member is down, so `member_of` and `backs_up` give no parent.
pub fn reachability_parents(edges: &[GraphEdge]) -> HashMap<AssetId, Vec<AssetId>> {
    let mut parents: HashMap<AssetId, Vec<AssetId>> = HashMap::new();
    for edge in edges {
        if matches!(
            edge.kind,
            RelationKind::RunsOn
                | RelationKind::ConnectedTo
                | RelationKind::PoweredBy
                | RelationKind::DependsOn
        ) {
            parents.entry(edge.from_id).or_default().push(edge.to_id);
        }
    }
    parents
}

/// The assets behind a down parent: every asset with a parent in `down` or a parent that is
/// itself behind a down parent. Cycles in `parents` are harmless.
pub fn behind_down_parents(
    parents: &HashMap<AssetId, Vec<AssetId>>,
    down: &HashSet<AssetId>,
) -> HashSet<AssetId> {
    let mut children: HashMap<AssetId, Vec<AssetId>> = HashMap::new();
    for (child, ps) in parents {
        for parent in ps {
            children.entry(*parent).or_default().push(*child);
        }
    }
    let mut behind = HashSet::new();
    let mut queue: Vec<AssetId> = down.iter().copied().collect();
    while let Some(parent) = queue.pop() {
        for child in children.get(&parent).into_iter().flatten() {
            if behind.insert(*child) {
                queue.push(*child);
            }
        }
    }
    behind
}

/// What kind of event a check left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A hard state change (including a recovery).
    State,
    FlappingStarted,
    FlappingStopped,
    Acknowledged,
    AcknowledgementRemoved,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::State,
        EventKind::FlappingStarted,
        EventKind::FlappingStopped,
        EventKind::Acknowledged,
        EventKind::AcknowledgementRemoved,
    ];

    pub fn key(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::FlappingStarted => "flapping_started",
            EventKind::FlappingStopped => "flapping_stopped",
            EventKind::Acknowledged => "acknowledged",
            EventKind::AcknowledgementRemoved => "acknowledgement_removed",
        }
    }

    pub fn from_key(key: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// An event in a check's history. Hard state changes are what later issues route to incidents
/// and on-call; `notify` says whether this one should page someone.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckEvent {
    pub id: i64,
    pub check_id: CheckId,
    pub at: i64,
    pub kind: EventKind,
    pub state: State,
    pub previous_state: Option<State>,
    pub unreachable: bool,
    pub notify: bool,
    /// The result's first line, or the acknowledgement's author and comment.
    pub output: String,
}

/// A weekly repetition: the days of the week (bit 0 Monday … bit 6 Sunday), the start as
/// minutes after local midnight (in the downtime's time zone), and the length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurrence {
    pub weekdays: u8,
    pub start_minute: u32,
    pub duration_minutes: u32,
}

/// The longest a recurring window may last: one week.
pub const MAX_RECURRING_MINUTES: u32 = 7 * 24 * 60;

impl Recurrence {
    /// Whether `at` (epoch ms) falls in a window of this recurrence. A window that starts late
    /// on Sunday runs on into Monday.
    pub fn covers(&self, at: i64) -> bool {
        const MINUTE: i64 = 60_000;
        const DAY: i64 = 24 * 60;
        let minutes = at.div_euclid(MINUTE);
        let day = minutes.div_euclid(DAY);
        // 1970-01-01 was a Thursday: day 0 is weekday 3 (Monday = 0).
        (0..=i64::from(self.duration_minutes.div_ceil(24 * 60)) + 1).any(|back| {
            let start_day = day - back;
            let weekday = (start_day + 3).rem_euclid(7);
            let start = start_day * DAY + i64::from(self.start_minute);
            self.weekdays & (1 << weekday) != 0
                && minutes >= start
                && minutes < start + i64::from(self.duration_minutes)
        })
    }
}

/// A period in which a check, or every check of an asset, keeps running and recording states
/// but notifies nobody: planned maintenance.
#[derive(Clone, Debug, PartialEq)]
pub struct Downtime {
    pub id: i64,
    pub entity_id: EntityId,
    /// Exactly one of `asset_id` and `check_id` is set.
    pub asset_id: Option<AssetId>,
    pub check_id: Option<CheckId>,
    /// The one-off window `[starts_at, ends_at)`, or the period in which a recurrence applies.
    pub starts_at: i64,
    pub ends_at: i64,
    pub recurrence: Option<Recurrence>,
    /// The IANA time zone a recurrence's days and start are in (`Europe/Paris`): "Sunday
    /// 02:00" stays 02:00 local time across daylight-saving changes.
    pub time_zone: String,
    /// That zone's offsets around now, as whoever read the downtime worked them out.
    pub offsets: ZoneOffsets,
    pub author: String,
    pub comment: String,
}

/// A time zone's offsets from UTC over a stretch of time. The default is UTC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneOffsets {
    /// Seconds east of UTC before the first change.
    pub initial_s: i32,
    /// `(instant in ms, seconds east of UTC)` from that instant on, oldest first.
    pub changes: Vec<(i64, i32)>,
}

impl ZoneOffsets {
    /// The offset at `at` (epoch ms), in ms.
    pub fn at(&self, at: i64) -> i64 {
        let i = self.changes.partition_point(|(from, _)| *from <= at);
        let seconds = if i == 0 {
            self.initial_s
        } else {
            self.changes[i - 1].1
        };
        i64::from(seconds) * 1000
    }
}

impl Downtime {
    /// Whether the downtime silences results at `at`.
    pub fn covers(&self, at: i64) -> bool {
        (self.starts_at..self.ends_at).contains(&at)
            && self
                .recurrence
                .is_none_or(|r| r.covers(at + self.offsets.at(at)))
    }

    /// Whether the downtime applies to `check` of `asset`.
    pub fn applies_to(&self, check: CheckId, asset: AssetId) -> bool {
        self.check_id == Some(check) || self.asset_id == Some(asset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::status::Context;

    fn edge(kind: RelationKind, from_id: AssetId, to_id: AssetId) -> GraphEdge {
        GraphEdge {
            relation_id: 0,
            kind,
            from_id,
            to_id,
        }
    }

    #[test]
    fn host_states_follow_the_host_check() {
        let mut status = CheckStatus::new(3);
        assert_eq!(HostState::of(&status), HostState::Pending);
        status.apply(State::Warning, 1, &Context::NORMAL);
        assert_eq!(HostState::of(&status), HostState::Up);
        status.apply(State::Critical, 2, &Context::NORMAL);
        assert_eq!(HostState::of(&status), HostState::Down);
        assert!(!HostState::blocks_children(&status), "a soft DOWN");
        status.apply(State::Critical, 3, &Context::NORMAL);
        assert!(HostState::blocks_children(&status));
        let behind = Context {
            parent_down: true,
            ..Context::NORMAL
        };
        status.apply(State::Critical, 4, &behind);
        assert_eq!(HostState::of(&status), HostState::Unreachable);
        assert!(HostState::blocks_children(&status));
    }

    #[test]
    fn children_of_a_down_parent_are_behind_it_transitively() {
        // vm 3 runs on hypervisor 2, connected to switch 1; 5 is a cluster of 3 and 4;
        // 6 is backed up by 7; 8 and 9 depend on each other.
        let parents = reachability_parents(&[
            edge(RelationKind::RunsOn, 3, 2),
            edge(RelationKind::ConnectedTo, 2, 1),
            edge(RelationKind::MemberOf, 3, 5),
            edge(RelationKind::MemberOf, 4, 5),
            edge(RelationKind::BacksUp, 7, 6),
            edge(RelationKind::DependsOn, 8, 9),
            edge(RelationKind::DependsOn, 9, 8),
        ]);
        let behind = |down: &[AssetId]| {
            let mut v: Vec<_> = behind_down_parents(&parents, &down.iter().copied().collect())
                .into_iter()
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(behind(&[1]), [2, 3]);
        assert_eq!(behind(&[2]), [3]);
        assert_eq!(
            behind(&[3]),
            Vec::<AssetId>::new(),
            "a member does not hide its cluster"
        );
        assert_eq!(behind(&[6]), Vec::<AssetId>::new());
        assert_eq!(behind(&[8]), [8, 9], "a cycle ends");
    }

    const MINUTE: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MINUTE;
    /// Monday 2026-11-30 00:00 UTC.
    const MONDAY: i64 = 1_795_996_800_000;

    #[test]
    fn recurring_windows_fall_on_their_weekdays() {
        assert_eq!((MONDAY / DAY + 3) % 7, 0, "the fixture is a Monday");
        // Sundays 23:00 for three hours: into Monday 02:00.
        let sunday_night = Recurrence {
            weekdays: 1 << 6,
            start_minute: 23 * 60,
            duration_minutes: 180,
        };
        let sunday = MONDAY - DAY;
        assert!(!sunday_night.covers(sunday + 22 * 60 * MINUTE));
        assert!(sunday_night.covers(sunday + 23 * 60 * MINUTE));
        assert!(sunday_night.covers(MONDAY + 119 * MINUTE));
        assert!(!sunday_night.covers(MONDAY + 120 * MINUTE));
        assert!(!sunday_night.covers(MONDAY + 23 * 60 * MINUTE));
        // Weekdays 12:00–12:30.
        let lunch = Recurrence {
            weekdays: 0b001_1111,
            start_minute: 12 * 60,
            duration_minutes: 30,
        };
        for day in 0..7 {
            let noon = MONDAY + day * DAY + 12 * 60 * MINUTE + 10 * MINUTE;
            assert_eq!(lunch.covers(noon), day < 5, "day {day}");
        }
    }

    #[test]
    fn a_downtime_covers_its_window_and_its_targets() {
        let downtime = Downtime {
            id: 1,
            entity_id: 1,
            asset_id: Some(10),
            check_id: None,
            starts_at: MONDAY,
            ends_at: MONDAY + DAY,
            recurrence: None,
            time_zone: "UTC".to_owned(),
            offsets: ZoneOffsets::default(),
            author: "ops".to_owned(),
            comment: "kernel upgrade".to_owned(),
        };
        assert!(!downtime.covers(MONDAY - 1));
        assert!(downtime.covers(MONDAY));
        assert!(!downtime.covers(MONDAY + DAY));
        assert!(downtime.applies_to(99, 10));
        assert!(!downtime.applies_to(99, 11));
        let weekly = Downtime {
            recurrence: Some(Recurrence {
                weekdays: 1,
                start_minute: 0,
                duration_minutes: 60,
            }),
            ends_at: MONDAY + 30 * DAY,
            ..downtime
        };
        assert!(weekly.covers(MONDAY + 7 * DAY + 30 * MINUTE));
        assert!(!weekly.covers(MONDAY + 8 * DAY + 30 * MINUTE));
        assert!(!weekly.covers(MONDAY + 35 * DAY), "after its period");
    }

    #[test]
    fn a_recurrence_follows_its_zone_across_a_daylight_saving_change() {
        // Monday 01:00 local, one hour, in a zone at UTC+1 that moves to UTC+2 between the
        // first and the second Monday.
        let change = MONDAY + 3 * DAY;
        let weekly = Downtime {
            id: 1,
            entity_id: 1,
            asset_id: Some(10),
            check_id: None,
            starts_at: MONDAY - 7 * DAY,
            ends_at: MONDAY + 30 * DAY,
            recurrence: Some(Recurrence {
                weekdays: 1,
                start_minute: 60,
                duration_minutes: 60,
            }),
            time_zone: "Europe/Paris".to_owned(),
            offsets: ZoneOffsets {
                initial_s: 3600,
                changes: vec![(change, 7200)],
            },
            author: "ops".to_owned(),
            comment: "backups".to_owned(),
        };
        // 01:30 local is 00:30 UTC at +1, then 23:30 UTC the day before at +2.
        assert!(weekly.covers(MONDAY + 30 * MINUTE));
        assert!(!weekly.covers(MONDAY + 90 * MINUTE));
        assert!(weekly.covers(MONDAY + 7 * DAY - 30 * MINUTE));
        assert!(!weekly.covers(MONDAY + 7 * DAY + 30 * MINUTE));
        assert_eq!(weekly.offsets.at(change - 1), 3_600_000);
        assert_eq!(weekly.offsets.at(change), 7_200_000);
    }
}
