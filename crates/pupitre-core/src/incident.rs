//! Alerts and incidents (issue #7): the rules, without IO.
//!
//! An **alert** is one problem as one source reports it (a check's hard state, an Alertmanager
//! alert, a webhook's event), known by its deduplication key: a source saying the same thing
//! twice updates the alert; saying it resolved resolves it. An **incident** is what people
//! work on: one or more alerts grouped because they share a cause, with a status
//! (triggered → acknowledged → resolved, and reopened), a priority and a timeline.
//!
//! Grouping ([`choose_incident`]) follows the inventory's dependency graph: an alert on an
//! asset joins the open incident of that asset, else the open incident of an asset it depends
//! on (the switch in front of a server) if that incident is recent, else opens its own. An
//! incident opened for a provider takes in the recent incidents of what depends on it
//! ([`absorbed_by`]), so the order in which the switch and its servers fail does not matter.

use std::collections::{HashMap, HashSet};

use crate::inventory::{AssetId, GraphEdge, impact_graph};
use crate::permission::EntityId;

pub type IncidentId = i64;
pub type AlertId = i64;

/// How bad a source says its alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    pub fn key(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(key: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.key() == key)
    }

    /// Critical alerts need someone now (high urgency); the rest can wait for working hours.
    pub fn urgency(self) -> Urgency {
        match self {
            Severity::Critical => Urgency::High,
            Severity::Warning | Severity::Info => Urgency::Low,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub const ALL: [Urgency; 2] = [Urgency::High, Urgency::Low];

    pub fn key(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }

    pub fn parse(key: &str) -> Option<Urgency> {
        Urgency::ALL.into_iter().find(|u| u.key() == key)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 3] = [
        IncidentStatus::Triggered,
        IncidentStatus::Acknowledged,
        IncidentStatus::Resolved,
    ];

    pub fn key(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(key: &str) -> Option<IncidentStatus> {
        IncidentStatus::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn is_open(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

/// Where an alert came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertSource {
    /// A check's hard state (including an agent's contact check: a lost agent).
    Monitoring,
    /// A Prometheus Alertmanager webhook.
    Alertmanager,
    /// The generic JSON webhook.
    Webhook,
}

impl AlertSource {
    pub const ALL: [AlertSource; 3] = [
        AlertSource::Monitoring,
        AlertSource::Alertmanager,
        AlertSource::Webhook,
    ];

    pub fn key(self) -> &'static str {
        match self {
            AlertSource::Monitoring => "monitoring",
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Webhook => "webhook",
        }
    }

    pub fn parse(key: &str) -> Option<AlertSource> {
        AlertSource::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// The incident's priority, 1 (the most urgent) to 5, from its urgency and its impact: the
/// number of assets it affects, those broken and those that depend on them.
///
/// | impact      | high urgency | low urgency |
/// |-------------|--------------|-------------|
/// | 10 or more  | P1           | P3          |
/// | 3 to 9      | P2           | P4          |
/// | 0 to 2      | P3           | P5          |
pub fn priority(urgency: Urgency, impact: i64) -> u8 {
    let band = match impact {
        i if i >= 10 => 0,
        i if i >= 3 => 1,
        _ => 2,
    };
    match urgency {
        Urgency::High => 1 + band,
        Urgency::Low => 3 + band.min(2),
    }
}

/// An open incident as grouping sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: IncidentId,
    pub entity_id: EntityId,
    /// The asset whose problem opened it (its probable cause), if any.
    pub cause: Option<AssetId>,
    /// The incident's group: `asset:<id>` for an asset's, else the key its alerts share.
    pub group_key: String,
    pub created_at: i64,
    /// Nobody has acknowledged it and no page has gone out yet.
    pub untouched: bool,
}

/// What to do with a new alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Into this open incident, with its asset as impacted when the incident's cause is an
    /// asset it depends on.
    Join {
        incident: IncidentId,
        behind_cause: bool,
    },
    /// A new incident with this group key.
    Open { group_key: String },
}

/// The group key of an alert: its asset's when it has one, else its service's, else its own
/// deduplication key.
pub fn group_key(asset: Option<AssetId>, service: &str, dedup_key: &str) -> String {
    match asset {
        Some(a) => format!("asset:{a}"),
        None if !service.is_empty() => format!("service:{service}"),
        None => format!("key:{dedup_key}"),
    }
}

/// How far the dependency graph is walked to group alerts.
pub const GROUPING_DEPTH: u32 = 8;

/// Where a new alert goes: the open incident of its group; else, for an alert on an asset, the
/// most recent open incident (created within `window_ms` of `now`) whose cause is an asset
/// it depends on; else a new incident.
pub fn choose_incident(
    asset: Option<AssetId>,
    service: &str,
    dedup_key: &str,
    open: &[OpenIncident],
    edges: &[GraphEdge],
    now: i64,
    window_ms: i64,
) -> Grouping {
    let key = group_key(asset, service, dedup_key);
    if let Some(own) = open.iter().find(|i| i.group_key == key) {
        return Grouping::Join {
            incident: own.id,
            behind_cause: false,
        };
    }
    if let Some(asset) = asset {
        let upstream: HashMap<AssetId, u32> = impact_graph(asset, edges, GROUPING_DEPTH, 10_000)
            .upstream()
            .map(|n| (n.asset_id, n.depth))
            .collect();
        // The nearest provider's incident: a server behind a switch behind a router joins the
        // switch's incident when both are down.
        let best = open
            .iter()
            .filter(|i| now - i.created_at <= window_ms)
            .filter_map(|i| Some((upstream.get(&i.cause?)?, i)))
            .min_by_key(|(depth, i)| (**depth, std::cmp::Reverse(i.created_at)));
        if let Some((_, incident)) = best {
            return Grouping::Join {
                incident: incident.id,
                behind_cause: true,
            };
        }
    }
    Grouping::Open { group_key: key }
}

/// The open incidents a new incident caused by `cause` takes in: those, created within
/// `window_ms` of `now` and untouched (not acknowledged, not paged), whose cause depends on
/// `cause`. Their alerts move to the new incident, their assets become impacted.
pub fn absorbed_by(
    cause: AssetId,
    new_incident: IncidentId,
    open: &[OpenIncident],
    edges: &[GraphEdge],
    now: i64,
    window_ms: i64,
) -> Vec<IncidentId> {
    let downstream: HashSet<AssetId> = impact_graph(cause, edges, GROUPING_DEPTH, 10_000)
        .downstream()
        .map(|n| n.asset_id)
        .collect();
    open.iter()
        .filter(|i| i.id != new_incident && i.untouched && now - i.created_at <= window_ms)
        .filter(|i| i.cause.is_some_and(|c| downstream.contains(&c)))
        .map(|i| i.id)
        .collect()
}

/// The impact of an incident on `assets`: those assets and every asset that depends on them,
/// each counted once.
pub fn impact(assets: &[AssetId], edges: &[GraphEdge]) -> i64 {
    let mut all: HashSet<AssetId> = assets.iter().copied().collect();
    for a in assets {
        all.extend(
            impact_graph(*a, edges, GROUPING_DEPTH, 10_000)
                .downstream()
                .map(|n| n.asset_id),
        );
    }
    all.len() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::RelationKind;

    fn connected(id: i64, server: AssetId, switch: AssetId) -> GraphEdge {
        GraphEdge {
            relation_id: id,
            kind: RelationKind::ConnectedTo,
            from_id: server,
            to_id: switch,
        }
    }

    fn open(id: IncidentId, cause: AssetId, created_at: i64) -> OpenIncident {
        OpenIncident {
            id,
            entity_id: 1,
            cause: Some(cause),
            group_key: format!("asset:{cause}"),
            created_at,
            untouched: true,
        }
    }

    #[test]
    fn priority_grows_with_urgency_and_impact() {
        assert_eq!(priority(Urgency::High, 51), 1);
        assert_eq!(priority(Urgency::High, 3), 2);
        assert_eq!(priority(Urgency::High, 1), 3);
        assert_eq!(priority(Urgency::Low, 51), 3);
        assert_eq!(priority(Urgency::Low, 5), 4);
        assert_eq!(priority(Urgency::Low, 0), 5);
    }

    #[test]
    fn an_alert_joins_its_assets_incident_then_its_providers() {
        // Servers 10 and 11 behind switch 1, which is behind router 2.
        let edges = [connected(1, 10, 1), connected(2, 11, 1), connected(3, 1, 2)];
        let incidents = [open(100, 2, 0), open(101, 1, 1_000)];
        // The switch's own alert joins the switch's incident.
        assert_eq!(
            choose_incident(Some(1), "", "k", &incidents, &edges, 2_000, 600_000),
            Grouping::Join {
                incident: 101,
                behind_cause: false
            }
        );
        // A server's joins the nearest provider's: the switch, not the router.
        assert_eq!(
            choose_incident(Some(10), "", "k", &incidents, &edges, 2_000, 600_000),
            Grouping::Join {
                incident: 101,
                behind_cause: true
            }
        );
        // Too late to be the same outage: an incident of its own.
        assert_eq!(
            choose_incident(Some(10), "", "k", &incidents, &edges, 10_000_000, 600_000),
            Grouping::Open {
                group_key: "asset:10".to_owned()
            }
        );
        // Without an asset, alerts group by service, else by key.
        assert_eq!(
            choose_incident(None, "web", "k", &incidents, &edges, 0, 600_000),
            Grouping::Open {
                group_key: "service:web".to_owned()
            }
        );
        assert_eq!(group_key(None, "", "am:1f"), "key:am:1f");
    }

    #[test]
    fn a_providers_incident_takes_in_recent_untouched_incidents_behind_it() {
        let edges = [
            connected(1, 10, 1),
            connected(2, 11, 1),
            connected(3, 12, 9),
        ];
        let mut acknowledged = open(202, 11, 0);
        acknowledged.untouched = false;
        let incidents = [
            open(201, 10, 0),
            acknowledged,
            open(203, 12, 0),
            open(204, 1, 0),
        ];
        assert_eq!(
            absorbed_by(1, 204, &incidents, &edges, 1_000, 600_000),
            vec![201]
        );
        assert!(absorbed_by(1, 204, &incidents, &edges, 700_000, 600_000).is_empty());
    }

    #[test]
    fn impact_counts_each_dependent_once() {
        let edges = [connected(1, 10, 1), connected(2, 11, 1), connected(3, 1, 2)];
        assert_eq!(impact(&[2], &edges), 4);
        assert_eq!(impact(&[1, 10], &edges), 3);
        assert_eq!(impact(&[], &edges), 0);
    }

    #[test]
    fn keys_round_trip() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.key()), Some(s));
        }
        for s in IncidentStatus::ALL {
            assert_eq!(IncidentStatus::parse(s.key()), Some(s));
        }
        for s in AlertSource::ALL {
            assert_eq!(AlertSource::parse(s.key()), Some(s));
        }
        assert_eq!(Severity::parse("fatal"), None);
    }
}
