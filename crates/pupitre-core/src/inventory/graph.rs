//! The dependency graph around an asset: what it needs (upstream) and what needs it
//! (downstream, "what breaks if this goes down"). Monitoring and incidents call it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::{AssetId, RelationKind};

/// An edge as the graph sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphEdge {
    pub relation_id: i64,
    pub kind: RelationKind,
    pub from_id: AssetId,
    pub to_id: AssetId,
}

impl GraphEdge {
    /// The (dependent, provider) pair: the dependent breaks when the provider goes
    /// down. A cluster depends on its members (it degrades when one goes); a backup device
    /// protects what it backs up but nothing depends on it to run, so `backs_up` carries
    /// no dependency.
    pub fn dependency(&self) -> Option<(AssetId, AssetId)> {
        match self.kind {
            RelationKind::RunsOn
            | RelationKind::DependsOn
            | RelationKind::ConnectedTo
            | RelationKind::PoweredBy => Some((self.from_id, self.to_id)),
            RelationKind::MemberOf => Some((self.to_id, self.from_id)),
            RelationKind::BacksUp => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// What the asset depends on.
    Upstream,
    /// What depends on the asset.
    Downstream,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpactNode {
    pub asset_id: AssetId,
    pub direction: Direction,
    /// Hops from the start asset (1 = direct).
    pub depth: u32,
    /// The asset one hop closer to the start through which this one was reached.
    pub via: AssetId,
    pub kind: RelationKind,
}

/// The asset's upstream and downstream closure, breadth first, each asset once per
/// direction at its shortest distance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImpactGraph {
    pub start: AssetId,
    pub nodes: Vec<ImpactNode>,
    /// Every edge met, including `backs_up`, for drawing.
    pub edges: Vec<GraphEdge>,
    /// True when `max_nodes` cut the walk short.
    pub truncated: bool,
}

impl ImpactGraph {
    pub fn downstream(&self) -> impl Iterator<Item = &ImpactNode> {
        self.nodes
            .iter()
            .filter(|n| n.direction == Direction::Downstream)
    }

    pub fn upstream(&self) -> impl Iterator<Item = &ImpactNode> {
        self.nodes
            .iter()
            .filter(|n| n.direction == Direction::Upstream)
    }
}

/// Walks `edges` (any superset of the edges around `start`) from `start` in both
/// directions, up to `max_depth` hops and `max_nodes` assets.
pub fn impact_graph(
    start: AssetId,
    edges: &[GraphEdge],
    max_depth: u32,
    max_nodes: usize,
) -> ImpactGraph {
    let mut providers: HashMap<AssetId, Vec<&GraphEdge>> = HashMap::new();
    let mut dependents: HashMap<AssetId, Vec<&GraphEdge>> = HashMap::new();
    for e in edges {
        if let Some((dependent, provider)) = e.dependency() {
            providers.entry(dependent).or_default().push(e);
            dependents.entry(provider).or_default().push(e);
        }
    }
    let mut graph = ImpactGraph {
        start,
        ..ImpactGraph::default()
    };
    let mut seen_edges = BTreeMap::new();
    for direction in [Direction::Upstream, Direction::Downstream] {
        let next = if direction == Direction::Upstream {
            &providers
        } else {
            &dependents
        };
        let mut seen: HashSet<AssetId> = HashSet::from([start]);
        let mut queue = VecDeque::from([(start, 0u32)]);
        while let Some((at, depth)) = queue.pop_front() {
            if depth >= max_depth {
                continue;
            }
            for e in next.get(&at).into_iter().flatten() {
                seen_edges.insert(e.relation_id, (*e).clone());
                let Some((dependent, provider)) = e.dependency() else {
                    continue;
                };
                let other = if direction == Direction::Upstream {
                    provider
                } else {
                    dependent
                };
                if !seen.insert(other) {
                    continue;
                }
                if graph.nodes.len() >= max_nodes {
                    graph.truncated = true;
                    break;
                }
                graph.nodes.push(ImpactNode {
                    asset_id: other,
                    direction,
                    depth: depth + 1,
                    via: at,
                    kind: e.kind,
                });
                queue.push_back((other, depth + 1));
            }
        }
    }
    for e in edges {
        if e.kind == RelationKind::BacksUp && (e.from_id == start || e.to_id == start) {
            seen_edges.insert(e.relation_id, e.clone());
        }
    }
    graph.edges = seen_edges.into_values().collect();
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: i64, kind: RelationKind, from: i64, to: i64) -> GraphEdge {
        GraphEdge {
            relation_id: id,
            kind,
            from_id: from,
            to_id: to,
        }
    }

    #[test]
    fn switch_outage_reaches_everything_behind_it() {
        // app(1) depends_on db(2) runs_on server(3) connected_to switch(4) powered_by pdu(5);
        // vm(6) runs_on hypervisor(7) connected_to switch(4); tape(8) backs_up server(3).
        let edges = [
            e(1, RelationKind::DependsOn, 1, 2),
            e(2, RelationKind::RunsOn, 2, 3),
            e(3, RelationKind::ConnectedTo, 3, 4),
            e(4, RelationKind::PoweredBy, 4, 5),
            e(5, RelationKind::RunsOn, 6, 7),
            e(6, RelationKind::ConnectedTo, 7, 4),
            e(7, RelationKind::BacksUp, 8, 3),
        ];
        let g = impact_graph(4, &edges, 10, 1000);
        let mut down: Vec<_> = g.downstream().map(|n| (n.asset_id, n.depth)).collect();
        down.sort_unstable();
        assert_eq!(down, vec![(1, 3), (2, 2), (3, 1), (6, 2), (7, 1)]);
        let up: Vec<_> = g.upstream().map(|n| n.asset_id).collect();
        assert_eq!(up, vec![5]);
        assert!(!g.truncated);

        let g = impact_graph(3, &edges, 10, 1000);
        assert!(g.edges.iter().any(|e| e.kind == RelationKind::BacksUp));
        assert!(g.downstream().all(|n| n.asset_id != 8));
    }

    #[test]
    fn members_carry_their_cluster() {
        let edges = [
            e(1, RelationKind::MemberOf, 10, 20),
            e(2, RelationKind::RunsOn, 30, 20),
        ];
        let g = impact_graph(10, &edges, 10, 1000);
        let down: Vec<_> = g.downstream().map(|n| n.asset_id).collect();
        assert_eq!(down, vec![20, 30]);
    }

    #[test]
    fn limits_are_respected_and_cycles_terminate() {
        let edges = [
            e(1, RelationKind::ConnectedTo, 1, 2),
            e(2, RelationKind::ConnectedTo, 2, 1),
            e(3, RelationKind::ConnectedTo, 3, 1),
            e(4, RelationKind::ConnectedTo, 4, 3),
        ];
        let g = impact_graph(1, &edges, 1, 1000);
        assert_eq!(g.downstream().count(), 2);
        let g = impact_graph(1, &edges, 10, 1);
        assert!(g.truncated);
        assert_eq!(g.nodes.len(), 1);
    }
}
