//! Check templates: a set of check definitions applied to every asset an [`ApplyRule`]
//! selects ("every Linux server in production gets ping, SSH and the agent check").
//!
//! Applying templates is a pure set computation. [`plan`] lists the checks that should exist,
//! one [`PlannedCheck`] per (template, asset, check of the template); [`diff`] compares that with
//! the checks that exist and says which to create and which to delete. Changing a template or
//! an asset and planning again is how a change reaches every matching asset at once.
//!
//! A check's identity within its template is its position in [`CheckTemplate::checks`]. Editing
//! a check's parameters keeps its position, so the diff is empty and the engine updates the
//! existing checks from [`CheckTemplate::check_for`]; removing a check from the middle of the
//! list shifts the ones after it, which the diff shows as deletions and creations.

use std::collections::{BTreeSet, HashSet};

use super::definition::CheckDefinition;
use crate::inventory::{Asset, AssetId, AssetType, OsFamily, Status};
use crate::permission::{EntityId, subtree};

pub type TemplateId = i64;

/// A named set of checks and the rule that picks the assets which get them.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckTemplate {
    pub id: TemplateId,
    pub name: String,
    /// The checks each matching asset gets, in their template's entity; [`check_for`] places
    /// them in the asset's entity.
    ///
    /// [`check_for`]: CheckTemplate::check_for
    pub checks: Vec<CheckDefinition>,
    /// The position in `checks` of the check that gives each asset its host state, if any.
    pub host_check: Option<usize>,
    pub rule: ApplyRule,
}

impl CheckTemplate {
    /// The definition of the template's check at `index` as it applies to `asset`: the same
    /// probe and settings, in the asset's entity. `None` when there is no such check.
    pub fn check_for(&self, index: usize, asset: &Asset) -> Option<CheckDefinition> {
        self.checks.get(index).map(|check| CheckDefinition {
            entity_id: asset.entity_id,
            ..check.clone()
        })
    }
}

/// The entity part of a rule: the assets of one entity, and of its sub-entities when
/// `recursive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityScope {
    pub entity_id: EntityId,
    pub recursive: bool,
}

/// Which assets a template applies to. Every criterion must hold; an empty list does not
/// restrict (except `statuses`, see below).
///
/// Quarantined assets (unknown machines an agent reported) never match: someone must accept
/// them into the inventory first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyRule {
    /// The asset is of one of these types.
    pub asset_types: Vec<AssetType>,
    /// The asset's OS family is one of these (an asset with no OS family does not match).
    pub os_families: Vec<OsFamily>,
    /// The asset has every one of these tags. Compared in lower case, as assets store them.
    pub tags: Vec<String>,
    /// The asset belongs to this entity (or one of its sub-entities).
    pub entity: Option<EntityScope>,
    /// The asset's lifecycle status is one of these. Empty means [`Status::InProduction`]
    /// only, so that a rule never monitors ordered, stocked or retired assets by accident.
    pub statuses: Vec<Status>,
}

impl ApplyRule {
    /// A rule matching every asset in production; narrow it with the other fields.
    pub fn in_production() -> ApplyRule {
        ApplyRule {
            asset_types: Vec::new(),
            os_families: Vec::new(),
            tags: Vec::new(),
            entity: None,
            statuses: vec![Status::InProduction],
        }
    }

    /// Whether the rule selects `asset`. `tree` is the entity tree as `(id, parent)` pairs,
    /// used when the rule's entity scope includes sub-entities.
    pub fn matches(&self, asset: &Asset, tree: &[(EntityId, Option<EntityId>)]) -> bool {
        Matcher::new(self, tree).matches(asset)
    }
}

/// A rule with its entity scope resolved to a set of entity ids, to match many assets.
struct Matcher<'a> {
    rule: &'a ApplyRule,
    tags: Vec<String>,
    entities: Option<HashSet<EntityId>>,
}

impl<'a> Matcher<'a> {
    fn new(rule: &'a ApplyRule, tree: &[(EntityId, Option<EntityId>)]) -> Matcher<'a> {
        let entities = rule.entity.map(|scope| {
            if scope.recursive {
                subtree(scope.entity_id, tree).into_iter().collect()
            } else {
                HashSet::from([scope.entity_id])
            }
        });
        let tags = rule.tags.iter().map(|t| t.trim().to_lowercase()).collect();
        Matcher {
            rule,
            tags,
            entities,
        }
    }

    fn matches(&self, asset: &Asset) -> bool {
        let rule = self.rule;
        let status_ok = if rule.statuses.is_empty() {
            asset.status == Status::InProduction
        } else {
            rule.statuses.contains(&asset.status)
        };
        status_ok
            && !asset.quarantined
            && (rule.asset_types.is_empty() || rule.asset_types.contains(&asset.asset_type))
            && (rule.os_families.is_empty()
                || asset
                    .os_family
                    .is_some_and(|os| rule.os_families.contains(&os)))
            && self.tags.iter().all(|t| asset.tags.contains(t))
            && self
                .entities
                .as_ref()
                .is_none_or(|ids| ids.contains(&asset.entity_id))
    }
}

/// One check that a template gives an asset: the template's check at `check_index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlannedCheck {
    pub template_id: TemplateId,
    pub asset_id: AssetId,
    pub check_index: usize,
}

/// Every check the templates give the assets, sorted by template, asset and check index.
/// `tree` is the entity tree as `(id, parent)` pairs.
pub fn plan(
    templates: &[CheckTemplate],
    assets: &[Asset],
    tree: &[(EntityId, Option<EntityId>)],
) -> Vec<PlannedCheck> {
    let mut out = Vec::new();
    for template in templates {
        let matcher = Matcher::new(&template.rule, tree);
        for asset in assets.iter().filter(|a| matcher.matches(a)) {
            out.extend((0..template.checks.len()).map(|check_index| PlannedCheck {
                template_id: template.id,
                asset_id: asset.id,
                check_index,
            }));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// What to change so that the existing template checks become the wanted ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanDiff {
    /// Wanted but missing, sorted.
    pub to_create: Vec<PlannedCheck>,
    /// Existing but no longer wanted, sorted.
    pub to_delete: Vec<PlannedCheck>,
}

/// The set differences between the checks that exist (`current`) and those [`plan`] wants.
/// Either list may be unsorted or hold duplicates.
pub fn diff(current: &[PlannedCheck], wanted: &[PlannedCheck]) -> PlanDiff {
    let current: BTreeSet<PlannedCheck> = current.iter().copied().collect();
    let wanted: BTreeSet<PlannedCheck> = wanted.iter().copied().collect();
    PlanDiff {
        to_create: wanted.difference(&current).copied().collect(),
        to_delete: current.difference(&wanted).copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::AssetInput;
    use crate::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};

    const ROOT: EntityId = 1;
    const PARIS: EntityId = 2;
    const PARIS_LAB: EntityId = 3;
    const LYON: EntityId = 4;
    const TREE: &[(EntityId, Option<EntityId>)] = &[
        (ROOT, None),
        (PARIS, Some(ROOT)),
        (PARIS_LAB, Some(PARIS)),
        (LYON, Some(ROOT)),
    ];

    fn asset(id: AssetId, input: AssetInput) -> Asset {
        input.stored_as(id)
    }

    fn linux_server(id: AssetId, entity_id: EntityId) -> Asset {
        asset(
            id,
            AssetInput {
                os_family: Some(OsFamily::Linux),
                ..AssetInput::new(entity_id, AssetType::Server, &format!("srv{id}"))
            },
        )
    }

    fn of_type(id: AssetId, asset_type: AssetType) -> Asset {
        asset(
            id,
            AssetInput::new(PARIS, asset_type, &format!("{asset_type}{id}")),
        )
    }

    fn definition(name: &str, probe: ProbeSpec) -> CheckDefinition {
        check_definition(CheckDefinitionInput {
            name: name.to_owned(),
            probe,
            interval_s: 60,
            retry_interval_s: 30,
            timeout_s: 10,
            max_attempts: 3,
            warning: String::new(),
            critical: String::new(),
            notifications_enabled: true,
            entity_id: ROOT,
        })
        .expect("valid definition")
    }

    fn ping() -> CheckDefinition {
        definition(
            "ping",
            ProbeSpec::Ping {
                host: String::new(),
                count: 5,
            },
        )
    }

    fn tcp(name: &str, port: u32) -> CheckDefinition {
        definition(
            name,
            ProbeSpec::Tcp {
                host: String::new(),
                port,
                send: String::new(),
                expect: String::new(),
            },
        )
    }

    fn snmp(name: &str, oid: &str) -> CheckDefinition {
        definition(
            name,
            ProbeSpec::Snmp {
                host: String::new(),
                port: 161,
                credential: "switches".to_owned(),
                mode: "get".to_owned(),
                oid: oid.to_owned(),
                items: Vec::new(),
            },
        )
    }

    /// Ping, the SSH port and the agent port on every Linux server in production.
    fn linux_template() -> CheckTemplate {
        CheckTemplate {
            id: 10,
            name: "Linux server".to_owned(),
            checks: vec![ping(), tcp("ssh", 22), tcp("agent", 7654)],
            host_check: Some(0),
            rule: ApplyRule {
                asset_types: vec![AssetType::Server],
                os_families: vec![OsFamily::Linux],
                ..ApplyRule::in_production()
            },
        }
    }

    /// Interface status and errors on every switch.
    fn switch_template() -> CheckTemplate {
        CheckTemplate {
            id: 20,
            name: "Switch".to_owned(),
            checks: vec![
                snmp("interfaces up", "1.3.6.1.2.1.2.2.1.8"),
                snmp("interface errors", "1.3.6.1.2.1.2.2.1.14"),
            ],
            host_check: None,
            rule: ApplyRule {
                asset_types: vec![AssetType::Switch],
                ..ApplyRule::in_production()
            },
        }
    }

    /// `(template, asset, index)` triples, to keep expectations short.
    fn triples(planned: &[PlannedCheck]) -> Vec<(TemplateId, AssetId, usize)> {
        planned
            .iter()
            .map(|p| (p.template_id, p.asset_id, p.check_index))
            .collect()
    }

    fn planned(triples: &[(TemplateId, AssetId, usize)]) -> Vec<PlannedCheck> {
        triples
            .iter()
            .map(|&(template_id, asset_id, check_index)| PlannedCheck {
                template_id,
                asset_id,
                check_index,
            })
            .collect()
    }

    #[test]
    fn linux_servers_in_production_get_ping_ssh_and_agent() {
        let windows = asset(
            3,
            AssetInput {
                os_family: Some(OsFamily::WindowsServer),
                ..AssetInput::new(PARIS, AssetType::Server, "win3")
            },
        );
        let unknown_os = asset(4, AssetInput::new(PARIS, AssetType::Server, "srv4"));
        let quarantined = asset(
            5,
            AssetInput {
                quarantined: true,
                ..linux_server(5, PARIS).into()
            },
        );
        let linux_vm = asset(
            6,
            AssetInput {
                os_family: Some(OsFamily::Linux),
                ..AssetInput::new(PARIS, AssetType::VirtualMachine, "vm6")
            },
        );
        let assets = [
            linux_server(1, PARIS),
            linux_server(2, LYON),
            windows,
            unknown_os,
            quarantined,
            linux_vm,
        ];
        assert_eq!(
            triples(&plan(&[linux_template()], &assets, TREE)),
            [
                (10, 1, 0),
                (10, 1, 1),
                (10, 1, 2),
                (10, 2, 0),
                (10, 2, 1),
                (10, 2, 2)
            ]
        );
    }

    #[test]
    fn every_switch_gets_snmp_interface_checks() {
        let assets = [
            of_type(1, AssetType::Switch),
            of_type(2, AssetType::Router),
            of_type(3, AssetType::Switch),
            linux_server(4, PARIS),
        ];
        assert_eq!(
            triples(&plan(&[switch_template(), linux_template()], &assets, TREE)),
            [
                (10, 4, 0),
                (10, 4, 1),
                (10, 4, 2),
                (20, 1, 0),
                (20, 1, 1),
                (20, 3, 0),
                (20, 3, 1)
            ]
        );
    }

    #[test]
    fn a_server_leaving_production_loses_its_checks() {
        let templates = [linux_template()];
        let mut assets = vec![linux_server(1, PARIS), linux_server(2, PARIS)];
        let before = plan(&templates, &assets, TREE);
        assets[1].status = Status::Retired;
        let after = plan(&templates, &assets, TREE);
        let changes = diff(&before, &after);
        assert_eq!(changes.to_create, []);
        assert_eq!(
            triples(&changes.to_delete),
            [(10, 2, 0), (10, 2, 1), (10, 2, 2)]
        );
        // Back in production, it gets them again.
        assets[1].status = Status::InProduction;
        let changes = diff(&after, &plan(&templates, &assets, TREE));
        assert_eq!(
            triples(&changes.to_create),
            [(10, 2, 0), (10, 2, 1), (10, 2, 2)]
        );
        assert_eq!(changes.to_delete, []);
    }

    #[test]
    fn statuses() {
        let server = |status| {
            asset(
                1,
                AssetInput {
                    status,
                    ..linux_server(1, PARIS).into()
                },
            )
        };
        let default = ApplyRule::in_production();
        let empty = ApplyRule {
            statuses: Vec::new(),
            ..ApplyRule::in_production()
        };
        let maintenance_too = ApplyRule {
            statuses: vec![Status::InProduction, Status::InMaintenance],
            ..ApplyRule::in_production()
        };
        for &status in Status::ALL {
            let production = status == Status::InProduction;
            let a = server(status);
            assert_eq!(default.matches(&a, TREE), production, "{status}");
            assert_eq!(empty.matches(&a, TREE), production, "{status}");
            assert_eq!(
                maintenance_too.matches(&a, TREE),
                production || status == Status::InMaintenance,
                "{status}"
            );
        }
    }

    #[test]
    fn a_tag_rule_needs_every_tag() {
        let tagged = |id, tags: &[&str]| {
            asset(
                id,
                AssetInput {
                    tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                    ..linux_server(id, PARIS).into()
                },
            )
        };
        let rule = ApplyRule {
            // Written in any case; assets store tags in lower case.
            tags: vec!["PostgreSQL".to_owned(), "prod".to_owned()],
            ..ApplyRule::in_production()
        };
        let table = [
            (tagged(1, &["postgresql", "prod"]), true),
            (tagged(2, &["backup", "postgresql", "prod"]), true),
            (tagged(3, &["postgresql"]), false),
            (tagged(4, &[]), false),
        ];
        for (a, expected) in table {
            assert_eq!(rule.matches(&a, TREE), expected, "asset {}", a.id);
        }
        assert!(ApplyRule::in_production().matches(&tagged(4, &[]), TREE));
    }

    #[test]
    fn an_entity_rule_with_or_without_sub_entities() {
        let assets = [
            linux_server(1, ROOT),
            linux_server(2, PARIS),
            linux_server(3, PARIS_LAB),
            linux_server(4, LYON),
        ];
        let matching = |scope| {
            let rule = ApplyRule {
                entity: Some(scope),
                ..ApplyRule::in_production()
            };
            assets
                .iter()
                .filter(|a| rule.matches(a, TREE))
                .map(|a| a.id)
                .collect::<Vec<_>>()
        };
        let scope = |entity_id, recursive| EntityScope {
            entity_id,
            recursive,
        };
        assert_eq!(matching(scope(PARIS, false)), [2]);
        assert_eq!(matching(scope(PARIS, true)), [2, 3]);
        assert_eq!(matching(scope(ROOT, true)), [1, 2, 3, 4]);
        assert_eq!(matching(scope(ROOT, false)), [1]);
        assert_eq!(matching(scope(99, true)), Vec::<AssetId>::new());
    }

    #[test]
    fn changing_a_template_applies_to_every_matching_asset() {
        let assets: Vec<Asset> = (1..=3).map(|id| linux_server(id, PARIS)).collect();
        let old = [linux_template(), switch_template()];
        let current = plan(&old, &assets, TREE);

        // An HTTPS check is added to the Linux template: every Linux server gets it.
        let mut added = old.clone();
        added[0].checks.push(tcp("https", 443));
        let changes = diff(&current, &plan(&added, &assets, TREE));
        assert_eq!(
            triples(&changes.to_create),
            [(10, 1, 3), (10, 2, 3), (10, 3, 3)]
        );
        assert_eq!(changes.to_delete, []);

        // The rule narrows to the `web` tag: every server loses all four checks.
        let mut narrowed = added.clone();
        narrowed[0].rule.tags = vec!["web".to_owned()];
        let changes = diff(
            &plan(&added, &assets, TREE),
            &plan(&narrowed, &assets, TREE),
        );
        assert_eq!(changes.to_create, []);
        assert_eq!(changes.to_delete.len(), 12);

        // A parameter change keeps every check: nothing to create or delete.
        let mut edited = old.clone();
        edited[0].checks[1] = tcp("ssh", 2222);
        assert_eq!(
            diff(&current, &plan(&edited, &assets, TREE)),
            PlanDiff::default()
        );
        let server = &assets[0];
        let check = edited[0].check_for(1, server).expect("check 1");
        assert_eq!(check.entity_id, PARIS);
        assert_eq!(check.probe, tcp("ssh", 2222).probe);
        assert_eq!(edited[0].check_for(3, server), None);
    }

    #[test]
    fn diff_accepts_unsorted_lists_with_duplicates() {
        let current = planned(&[(1, 2, 0), (1, 1, 0), (1, 1, 0), (1, 3, 0)]);
        let wanted = planned(&[(1, 4, 0), (1, 1, 0), (1, 4, 0)]);
        let changes = diff(&current, &wanted);
        assert_eq!(triples(&changes.to_create), [(1, 4, 0)]);
        assert_eq!(triples(&changes.to_delete), [(1, 2, 0), (1, 3, 0)]);
        assert_eq!(diff(&wanted, &wanted), PlanDiff::default());
    }
}
