//! Domains, permission levels, profiles' level sets, and the grants a caller holds per entity.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// Identifier of an entity (an organisation in the entity tree).
pub type EntityId = i64;

/// The functional areas of Pupitre; a profile grants one [`Level`] in each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    Administration,
    Inventory,
    Monitoring,
    Jobs,
    Backups,
    Incidents,
    Maintenance,
    Stock,
    Helpdesk,
    Reports,
}

impl Domain {
    pub const ALL: [Domain; 10] = [
        Domain::Administration,
        Domain::Inventory,
        Domain::Monitoring,
        Domain::Jobs,
        Domain::Backups,
        Domain::Incidents,
        Domain::Maintenance,
        Domain::Stock,
        Domain::Helpdesk,
        Domain::Reports,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Domain::Administration => "administration",
            Domain::Inventory => "inventory",
            Domain::Monitoring => "monitoring",
            Domain::Jobs => "jobs",
            Domain::Backups => "backups",
            Domain::Incidents => "incidents",
            Domain::Maintenance => "maintenance",
            Domain::Stock => "stock",
            Domain::Helpdesk => "helpdesk",
            Domain::Reports => "reports",
        }
    }

    pub fn from_key(key: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.key() == key)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How much a profile may do in one domain. Levels are ordered: each includes the ones below.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    #[default]
    None,
    /// See objects.
    Read,
    /// Act on objects (acknowledge, rerun, hold) without changing their definition.
    Operate,
    /// Create, change and delete objects.
    Edit,
    /// Everything, including the domain's settings and, for administration, permissions.
    Manage,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::None,
        Level::Read,
        Level::Operate,
        Level::Edit,
        Level::Manage,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Operate => "operate",
            Level::Edit => "edit",
            Level::Manage => "manage",
        }
    }

    pub fn from_key(key: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.key() == key)
    }
}

/// One level per domain: the content of a profile, or the cap of an API token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Levels([Level; 10]);

impl Levels {
    pub fn uniform(level: Level) -> Levels {
        Levels([level; 10])
    }

    pub fn get(&self, domain: Domain) -> Level {
        self.0[domain.index()]
    }

    pub fn set(&mut self, domain: Domain, level: Level) {
        self.0[domain.index()] = level;
    }

    pub fn with(mut self, domain: Domain, level: Level) -> Levels {
        self.set(domain, level);
        self
    }

    /// The per-domain maximum of two level sets (two assignments on one entity).
    pub fn union(self, other: Levels) -> Levels {
        let mut out = self;
        for d in Domain::ALL {
            out.set(d, self.get(d).max(other.get(d)));
        }
        out
    }

    /// The per-domain minimum of two level sets (a token capped by its owner's rights).
    pub fn intersect(self, other: Levels) -> Levels {
        let mut out = self;
        for d in Domain::ALL {
            out.set(d, self.get(d).min(other.get(d)));
        }
        out
    }

    /// True when no domain of `self` exceeds the same domain of `other`.
    pub fn within(&self, other: &Levels) -> bool {
        Domain::ALL.iter().all(|&d| self.get(d) <= other.get(d))
    }

    pub fn iter(&self) -> impl Iterator<Item = (Domain, Level)> + '_ {
        Domain::ALL.into_iter().map(|d| (d, self.get(d)))
    }

    /// Parses the canonical text form written by [`Levels::encode`], e.g.
    /// `administration=read,inventory=edit`. Domains not named are `none`.
    pub fn parse(text: &str) -> Result<Levels, String> {
        let mut out = Levels::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (d, l) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not of the form domain=level"))?;
            let domain =
                Domain::from_key(d.trim()).ok_or_else(|| format!("unknown domain `{d}`"))?;
            let level = Level::from_key(l.trim()).ok_or_else(|| format!("unknown level `{l}`"))?;
            out.set(domain, level);
        }
        Ok(out)
    }

    pub fn encode(&self) -> String {
        self.iter()
            .map(|(d, l)| format!("{}={}", d.key(), l.key()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Levels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// What a route or an action needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without logging in (health checks, the login page).
    Public,
    /// Any logged-in user, for their own settings.
    Authenticated,
    /// At least `Level` in `Domain`, on at least one entity; objects are then checked one by one.
    Domain(Domain, Level),
}

/// One (entity, profile) assignment of a user, resolved to the profile's levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub entity_id: EntityId,
    pub levels: Levels,
    pub recursive: bool,
}

/// The levels a caller holds on every entity, after expanding recursive assignments.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    per_entity: HashMap<EntityId, Levels>,
}

impl Grants {
    /// Expands `grants` over the entity tree given as `(id, parent)` pairs.
    pub fn resolve(grants: &[Grant], tree: &[(EntityId, Option<EntityId>)]) -> Grants {
        let mut children: HashMap<EntityId, Vec<EntityId>> = HashMap::new();
        for &(id, parent) in tree {
            if let Some(p) = parent {
                children.entry(p).or_default().push(id);
            }
        }
        let known: HashSet<EntityId> = tree.iter().map(|&(id, _)| id).collect();
        let mut per_entity: HashMap<EntityId, Levels> = HashMap::new();
        for g in grants.iter().filter(|g| known.contains(&g.entity_id)) {
            let mut stack = vec![g.entity_id];
            let mut seen = HashSet::new();
            while let Some(e) = stack.pop() {
                if !seen.insert(e) {
                    continue;
                }
                let slot = per_entity.entry(e).or_default();
                *slot = slot.union(g.levels);
                if g.recursive {
                    stack.extend(children.get(&e).into_iter().flatten().copied());
                }
            }
        }
        Grants { per_entity }
    }

    /// Grants holding `levels` on every entity of the tree (used by the first administrator
    /// before any assignment exists, and by tests).
    pub fn everywhere(levels: Levels, tree: &[(EntityId, Option<EntityId>)]) -> Grants {
        Grants {
            per_entity: tree.iter().map(|&(id, _)| (id, levels)).collect(),
        }
    }

    /// Caps every entity's levels by `cap` (an API token's scope).
    pub fn capped(mut self, cap: Levels) -> Grants {
        for levels in self.per_entity.values_mut() {
            *levels = levels.intersect(cap);
        }
        self
    }

    pub fn levels_on(&self, entity: EntityId) -> Levels {
        self.per_entity.get(&entity).copied().unwrap_or_default()
    }

    pub fn allows(&self, domain: Domain, level: Level, entity: EntityId) -> bool {
        self.levels_on(entity).get(domain) >= level
    }

    /// True when the caller holds `level` in `domain` on at least one entity.
    pub fn allows_somewhere(&self, domain: Domain, level: Level) -> bool {
        self.per_entity.values().any(|l| l.get(domain) >= level)
    }

    /// The entities on which the caller holds at least `level` in `domain`, sorted.
    pub fn entities_with(&self, domain: Domain, level: Level) -> Vec<EntityId> {
        let mut ids: Vec<EntityId> = self
            .per_entity
            .iter()
            .filter(|(_, l)| l.get(domain) >= level)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The highest level held in each domain on any entity (what the navigation shows).
    pub fn best(&self) -> Levels {
        self.per_entity
            .values()
            .fold(Levels::default(), |acc, l| acc.union(*l))
    }
}

/// The ids of `root` and all its descendants in the tree given as `(id, parent)` pairs.
pub fn subtree(root: EntityId, tree: &[(EntityId, Option<EntityId>)]) -> Vec<EntityId> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        for &(id, parent) in tree {
            // The visited check keeps a corrupt (cyclic) tree from looping forever.
            if parent == Some(cur) && !out.contains(&id) {
                out.push(id);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &[(EntityId, Option<EntityId>)] =
        &[(1, None), (2, Some(1)), (3, Some(1)), (4, Some(2))];

    #[test]
    fn levels_round_trip_through_text() {
        let l = Levels::default()
            .with(Domain::Inventory, Level::Edit)
            .with(Domain::Reports, Level::Read);
        assert_eq!(Levels::parse(&l.encode()), Ok(l));
        assert!(Levels::parse("inventory=superuser").is_err());
        assert!(Levels::parse("nowhere=read").is_err());
    }

    #[test]
    fn recursive_grants_reach_descendants_only() {
        let read = Levels::uniform(Level::Read);
        let g = Grants::resolve(
            &[Grant {
                entity_id: 2,
                levels: read,
                recursive: true,
            }],
            TREE,
        );
        assert_eq!(g.entities_with(Domain::Inventory, Level::Read), vec![2, 4]);
        assert!(!g.allows(Domain::Inventory, Level::Read, 1));
        assert!(!g.allows(Domain::Inventory, Level::Edit, 2));
    }

    #[test]
    fn non_recursive_grant_stays_on_its_entity_and_grants_union() {
        let g = Grants::resolve(
            &[
                Grant {
                    entity_id: 1,
                    levels: Levels::default().with(Domain::Jobs, Level::Read),
                    recursive: false,
                },
                Grant {
                    entity_id: 1,
                    levels: Levels::default().with(Domain::Stock, Level::Edit),
                    recursive: false,
                },
            ],
            TREE,
        );
        assert_eq!(g.entities_with(Domain::Jobs, Level::Read), vec![1]);
        assert!(g.allows(Domain::Stock, Level::Edit, 1));
        let capped = g.capped(Levels::uniform(Level::Read));
        assert!(!capped.allows(Domain::Stock, Level::Edit, 1));
        assert!(capped.allows(Domain::Stock, Level::Read, 1));
    }

    #[test]
    fn subtree_lists_descendants() {
        assert_eq!(subtree(2, TREE), vec![2, 4]);
        assert_eq!(subtree(1, TREE).len(), 4);
        let cyclic = [(1, Some(2)), (2, Some(1))];
        assert_eq!(subtree(1, &cyclic), vec![1, 2]);
    }
}
