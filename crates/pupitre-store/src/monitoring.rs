//! Supervision's storage interface: checks, their states and last results, events,
//! acknowledgements, heartbeats and downtimes.
//!
//! The engine keeps every check's [`CheckStatus`] in memory and writes results behind it in
//! batches ([`MonitoringStore::save_results`]); acknowledgements and heartbeats are written by
//! requests, so a result never overwrites them.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetId, AssetType, GraphEdge, OsFamily, Status};
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{
    Check, CheckEvent, CheckId, Downtime, EventKind, LastResult,
};
use pupitre_core::monitoring::definition::{CheckDefinition, ProbeSpec};
use pupitre_core::monitoring::status::{Acknowledgement, CheckStatus};
use pupitre_core::monitoring::template::{ApplyRule, CheckTemplate, EntityScope, TemplateId};
use pupitre_core::permission::EntityId;
use serde::{Deserialize, Serialize};

use crate::{Page, Result, StoreError};

/// A check with everything a page or the engine shows about it.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRecord {
    pub check: Check,
    pub status: CheckStatus,
    /// `None` until the first run.
    pub last: Option<LastResult>,
    pub asset_name: String,
    /// The address probes use when the check names no host: the asset's management IP, else
    /// its host name, else its name.
    pub asset_address: String,
    pub asset_site_id: Option<i64>,
    pub heartbeat: Option<Heartbeat>,
}

/// The last call of a heartbeat check's URL.
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub at: i64,
    /// The state the caller reported, if it reported one.
    pub state: Option<State>,
    pub message: String,
}

/// A check to create.
#[derive(Clone, Debug)]
pub struct NewCheck {
    pub asset_id: AssetId,
    pub definition: CheckDefinition,
    pub host_check: bool,
    /// The hash of a heartbeat check's URL secret.
    pub heartbeat_hash: Option<String>,
}

/// Which checks a list shows. Every condition is ANDed.
#[derive(Clone, Debug, Default)]
pub struct CheckFilter {
    /// Only checks whose entity is in this list (the caller's visible entities).
    pub visible: Vec<EntityId>,
    pub asset_id: Option<AssetId>,
    /// Only these states (empty: any).
    pub states: Vec<State>,
    /// Only checks that are not OK (pending ones excluded).
    pub problems: bool,
    pub probe_kind: Option<String>,
    /// Case-insensitive substring of the check's or the asset's name.
    pub query: Option<String>,
}

/// One run's result as the engine writes it: the new status, the output, and the events.
#[derive(Clone, Debug)]
pub struct ResultWrite {
    pub check_id: CheckId,
    pub status: CheckStatus,
    pub last: LastResult,
    /// The run removed the acknowledgement (a recovery, an expiry).
    pub acknowledgement_removed: bool,
    pub events: Vec<NewEvent>,
}

/// An event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub at: i64,
    pub kind: EventKind,
    pub state: State,
    pub previous_state: Option<State>,
    pub unreachable: bool,
    pub notify: bool,
    pub output: String,
}

/// Counts of checks by state, for the tactical overview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCount {
    pub entity_id: EntityId,
    pub site_id: Option<i64>,
    /// `None` for pending checks.
    pub state: Option<State>,
    /// Hard problems not acknowledged nor in downtime count as unhandled; the rest as handled.
    pub acknowledged: bool,
    pub count: i64,
}

/// A check template as written: [`CheckTemplate`] without its id.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateInput {
    pub name: String,
    /// Who may change the template; it applies to assets of this entity and below.
    pub entity_id: EntityId,
    pub rule: ApplyRule,
    pub checks: Vec<CheckDefinition>,
    pub host_check: Option<usize>,
}

/// A stored template.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateRecord {
    pub template: CheckTemplate,
    pub entity_id: EntityId,
    pub created_at: i64,
    pub updated_at: i64,
    /// Checks that exist because of this template.
    pub applied_checks: i64,
}

/// What applying the templates changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Checks not created, with why (a manual check of the same name on the asset).
    pub skipped: Vec<String>,
}

#[async_trait]
pub trait MonitoringStore: Send + Sync {
    async fn list_templates(&self, visible: &[EntityId]) -> Result<Vec<TemplateRecord>>;
    async fn get_template(&self, id: TemplateId) -> Result<TemplateRecord>;
    async fn create_template(&self, actor: &Actor, input: &TemplateInput)
    -> Result<TemplateRecord>;
    async fn update_template(
        &self,
        actor: &Actor,
        id: TemplateId,
        input: &TemplateInput,
    ) -> Result<TemplateRecord>;
    /// Deletes the template and every check it made.
    async fn delete_template(&self, actor: &Actor, id: TemplateId) -> Result<()>;
    /// Makes the template checks of `assets` (every asset when `None`) what the templates
    /// say: creates the missing ones, updates changed ones, deletes those no longer wanted.
    async fn apply_templates(
        &self,
        actor: &Actor,
        assets: Option<&[AssetId]>,
    ) -> Result<ApplyReport>;

    async fn create_check(&self, actor: &Actor, new: &NewCheck) -> Result<CheckRecord>;
    async fn update_check(
        &self,
        actor: &Actor,
        id: CheckId,
        definition: &CheckDefinition,
        host_check: bool,
    ) -> Result<CheckRecord>;
    async fn delete_check(&self, actor: &Actor, id: CheckId) -> Result<()>;
    async fn get_check(&self, id: CheckId) -> Result<CheckRecord>;
    /// Keyset page by id.
    async fn list_checks(&self, filter: &CheckFilter, page: Page) -> Result<Vec<CheckRecord>>;
    /// Every check, for the engine.
    async fn all_checks(&self) -> Result<Vec<CheckRecord>>;
    /// Writes results in one transaction, with a few statements whatever their number. When a
    /// check has several results, the last one wins; events are all kept.
    async fn save_results(&self, results: &[ResultWrite]) -> Result<()>;
    /// Stores `ack` on the check, with an event and an audit record. The caller has checked it
    /// with [`CheckStatus::acknowledge`].
    async fn acknowledge(
        &self,
        actor: &Actor,
        id: CheckId,
        ack: &Acknowledgement,
        state: State,
    ) -> Result<()>;
    async fn remove_acknowledgement(&self, actor: &Actor, id: CheckId, state: State) -> Result<()>;
    /// The check's events, newest first; `page.after` is an event id to continue below.
    async fn list_events(&self, check_id: CheckId, page: Page) -> Result<Vec<CheckEvent>>;
    /// Records a call of the heartbeat URL whose secret hashes to `hash`; returns the check,
    /// or `None` when no check has this hash.
    async fn record_heartbeat(&self, hash: &str, beat: &Heartbeat) -> Result<Option<CheckId>>;
    async fn create_downtime(&self, actor: &Actor, downtime: &Downtime) -> Result<Downtime>;
    async fn delete_downtime(&self, actor: &Actor, id: i64) -> Result<()>;
    async fn get_downtime(&self, id: i64) -> Result<Downtime>;
    /// Downtimes of these entities not yet over at `now`.
    async fn list_downtimes(&self, visible: &[EntityId], now: i64) -> Result<Vec<Downtime>>;
    /// Every downtime not yet over at `now`, for the engine.
    async fn current_downtimes(&self, now: i64) -> Result<Vec<Downtime>>;
    /// Every relation that can make an asset unreachable, for the engine.
    async fn dependency_edges(&self) -> Result<Vec<GraphEdge>>;
    async fn state_counts(&self, visible: &[EntityId]) -> Result<Vec<StateCount>>;
    /// The checks among `ids` that still exist, by id, for the engine after this server
    /// changed them (a deleted check is simply absent).
    async fn get_checks(&self, ids: &[CheckId]) -> Result<Vec<CheckRecord>>;
}

/// The stored form of a probe's parameters: JSON tagged by kind. Deliberately separate from
/// the API's form (`pupitre_web::ops::checks::ProbeFields`): what is stored must stay readable
/// by later versions whatever the API becomes.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum StoredProbe {
    Ping {
        host: String,
        count: u32,
    },
    Tcp {
        host: String,
        port: u32,
        send: String,
        expect: String,
    },
    Http {
        url: String,
        expect_status: Option<u32>,
        contains: String,
    },
    Dns {
        server: String,
        name: String,
        record_type: String,
        expect: String,
    },
    Snmp {
        host: String,
        port: u32,
        credential: String,
        /// Absent in checks stored before SNMP modes: a GET.
        #[serde(default = "snmp_get")]
        mode: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        oid: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        items: Vec<String>,
    },
    Plugin {
        path: String,
        arguments: Vec<String>,
    },
    Prometheus {
        url: String,
        selector: String,
    },
    Database {
        engine: String,
        host: String,
        port: u32,
        database: String,
        user: String,
        credential: String,
        query: String,
    },
    Zabbix {
        host: String,
        port: u32,
        key: String,
    },
    Heartbeat {
        grace_s: u32,
    },
    Agent {
        selector: String,
        max_age_s: u32,
    },
    AgentPlugin {
        plugin: String,
        arguments: Vec<String>,
    },
}

impl From<&ProbeSpec> for StoredProbe {
    fn from(spec: &ProbeSpec) -> StoredProbe {
        let spec = spec.clone();
        match spec {
            ProbeSpec::Ping { host, count } => StoredProbe::Ping { host, count },
            ProbeSpec::Tcp {
                host,
                port,
                send,
                expect,
            } => StoredProbe::Tcp {
                host,
                port,
                send,
                expect,
            },
            ProbeSpec::Http {
                url,
                expect_status,
                contains,
            } => StoredProbe::Http {
                url,
                expect_status,
                contains,
            },
            ProbeSpec::Dns {
                server,
                name,
                record_type,
                expect,
            } => StoredProbe::Dns {
                server,
                name,
                record_type,
                expect,
            },
            ProbeSpec::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            } => StoredProbe::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            },
            ProbeSpec::Plugin { path, arguments } => StoredProbe::Plugin { path, arguments },
            ProbeSpec::Prometheus { url, selector } => StoredProbe::Prometheus { url, selector },
            ProbeSpec::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            } => StoredProbe::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            },
            ProbeSpec::Zabbix { host, port, key } => StoredProbe::Zabbix { host, port, key },
            ProbeSpec::Heartbeat { grace_s } => StoredProbe::Heartbeat { grace_s },
            ProbeSpec::Agent {
                selector,
                max_age_s,
            } => StoredProbe::Agent {
                selector,
                max_age_s,
            },
            ProbeSpec::AgentPlugin { plugin, arguments } => {
                StoredProbe::AgentPlugin { plugin, arguments }
            }
        }
    }
}

impl From<StoredProbe> for ProbeSpec {
    fn from(stored: StoredProbe) -> ProbeSpec {
        match stored {
            StoredProbe::Ping { host, count } => ProbeSpec::Ping { host, count },
            StoredProbe::Tcp {
                host,
                port,
                send,
                expect,
            } => ProbeSpec::Tcp {
                host,
                port,
                send,
                expect,
            },
            StoredProbe::Http {
                url,
                expect_status,
                contains,
            } => ProbeSpec::Http {
                url,
                expect_status,
                contains,
            },
            StoredProbe::Dns {
                server,
                name,
                record_type,
                expect,
            } => ProbeSpec::Dns {
                server,
                name,
                record_type,
                expect,
            },
            StoredProbe::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            } => ProbeSpec::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            },
            StoredProbe::Plugin { path, arguments } => ProbeSpec::Plugin { path, arguments },
            StoredProbe::Prometheus { url, selector } => ProbeSpec::Prometheus { url, selector },
            StoredProbe::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            } => ProbeSpec::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            },
            StoredProbe::Zabbix { host, port, key } => ProbeSpec::Zabbix { host, port, key },
            StoredProbe::Heartbeat { grace_s } => ProbeSpec::Heartbeat { grace_s },
            StoredProbe::Agent {
                selector,
                max_age_s,
            } => ProbeSpec::Agent {
                selector,
                max_age_s,
            },
            StoredProbe::AgentPlugin { plugin, arguments } => {
                ProbeSpec::AgentPlugin { plugin, arguments }
            }
        }
    }
}

/// The stored form of an apply rule.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRule {
    asset_types: Vec<String>,
    os_families: Vec<String>,
    tags: Vec<String>,
    entity: Option<(EntityId, bool)>,
    statuses: Vec<String>,
}

pub(crate) fn encode_rule(rule: &ApplyRule) -> String {
    let stored = StoredRule {
        asset_types: rule
            .asset_types
            .iter()
            .map(|t| t.key().to_owned())
            .collect(),
        os_families: rule
            .os_families
            .iter()
            .map(|o| o.key().to_owned())
            .collect(),
        tags: rule.tags.clone(),
        entity: rule.entity.map(|e| (e.entity_id, e.recursive)),
        statuses: rule.statuses.iter().map(|s| s.key().to_owned()).collect(),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

pub(crate) fn decode_rule(text: &str) -> Result<ApplyRule> {
    let bad = |e: String| StoreError::Rejected(format!("stored apply rule: {e}"));
    let s: StoredRule = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    fn keys<T>(list: &[String], parse: fn(&str) -> Option<T>) -> Result<Vec<T>> {
        list.iter()
            .map(|k| crate::stored("key", k, parse(k)))
            .collect()
    }
    Ok(ApplyRule {
        asset_types: keys(&s.asset_types, AssetType::from_key)?,
        os_families: keys(&s.os_families, OsFamily::from_key)?,
        tags: s.tags,
        entity: s.entity.map(|(entity_id, recursive)| EntityScope {
            entity_id,
            recursive,
        }),
        statuses: keys(&s.statuses, Status::from_key)?,
    })
}

/// The stored form of a template's check (its entity is the asset's, so not stored).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTemplateCheck {
    name: String,
    probe: StoredProbe,
    interval_s: u32,
    retry_interval_s: u32,
    timeout_s: u32,
    max_attempts: u32,
    warning: String,
    critical: String,
    notifications_enabled: bool,
}

pub(crate) fn encode_template_checks(checks: &[CheckDefinition]) -> String {
    let stored: Vec<StoredTemplateCheck> = checks
        .iter()
        .map(|d| StoredTemplateCheck {
            name: d.name.clone(),
            probe: StoredProbe::from(&d.probe),
            interval_s: d.interval_s,
            retry_interval_s: d.retry_interval_s,
            timeout_s: d.timeout_s,
            max_attempts: d.max_attempts,
            warning: d.thresholds.warning_text(),
            critical: d.thresholds.critical_text(),
            notifications_enabled: d.notifications_enabled,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_default()
}

pub(crate) fn decode_template_checks(
    text: &str,
    entity_id: EntityId,
) -> Result<Vec<CheckDefinition>> {
    let bad = |e: String| StoreError::Rejected(format!("stored template checks: {e}"));
    let stored: Vec<StoredTemplateCheck> =
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    stored
        .into_iter()
        .map(|c| {
            let thresholds =
                pupitre_core::monitoring::range::Thresholds::parse(&c.warning, &c.critical)
                    .map_err(|e| bad(e.to_string()))?;
            Ok(CheckDefinition {
                name: c.name,
                probe: ProbeSpec::from(c.probe),
                interval_s: c.interval_s,
                retry_interval_s: c.retry_interval_s,
                timeout_s: c.timeout_s,
                max_attempts: c.max_attempts,
                thresholds,
                notifications_enabled: c.notifications_enabled,
                entity_id,
            })
        })
        .collect()
}

fn snmp_get() -> String {
    "get".to_owned()
}

pub(crate) fn encode_probe(spec: &ProbeSpec) -> String {
    serde_json::to_string(&StoredProbe::from(spec)).unwrap_or_default()
}

/// The probe of a check stored before SNMP modes existed still reads, as a GET.
#[cfg(test)]
#[test]
fn snmp_probes_stored_before_modes_are_gets() {
    let old = r#"{"kind":"snmp","host":"","port":161,"credential":"c","oid":"1.3.6.1.2.1.1.3.0"}"#;
    let ProbeSpec::Snmp { mode, items, .. } = decode_probe(old).unwrap() else {
        panic!("not an SNMP probe");
    };
    assert_eq!((mode.as_str(), items.len()), ("get", 0));
}

pub(crate) fn decode_probe(text: &str) -> Result<ProbeSpec> {
    serde_json::from_str::<StoredProbe>(text)
        .map(ProbeSpec::from)
        .map_err(|e| StoreError::Rejected(format!("stored probe parameters: {e}")))
}

/// States as one letter each, for the stored flapping history.
pub(crate) fn encode_history(history: &[State]) -> String {
    history.iter().map(|s| state_letter(*s)).collect()
}

pub(crate) fn decode_history(text: &str) -> Vec<State> {
    text.chars()
        .filter_map(|c| State::ALL.into_iter().find(|s| state_letter(*s) == c))
        .collect()
}

fn state_letter(state: State) -> char {
    match state {
        State::Ok => 'o',
        State::Warning => 'w',
        State::Critical => 'c',
        State::Unknown => 'u',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_round_trips_through_its_stored_form() {
        let s = |v: &str| v.to_owned();
        let probes = [
            ProbeSpec::Ping {
                host: s("10.0.0.1"),
                count: 5,
            },
            ProbeSpec::Tcp {
                host: s(""),
                port: 22,
                send: s(""),
                expect: s("SSH-"),
            },
            ProbeSpec::Http {
                url: s("https://x/"),
                expect_status: Some(200),
                contains: s("ok \"quoted\""),
            },
            ProbeSpec::Dns {
                server: s(""),
                name: s("example.com"),
                record_type: s("MX"),
                expect: s(""),
            },
            ProbeSpec::Snmp {
                host: s(""),
                port: 161,
                credential: s("c"),
                mode: s("get"),
                oid: s("1.3.6.1.2.1.1.3.0"),
                items: vec![],
            },
            ProbeSpec::Snmp {
                host: s("sw1"),
                port: 1161,
                credential: s("c"),
                mode: s("interfaces"),
                oid: s(""),
                items: vec![s("eth0"), s("Gi0/1")],
            },
            ProbeSpec::Plugin {
                path: s("/usr/lib/nagios/plugins/check_load"),
                arguments: vec![s("-w"), s("5,4,3")],
            },
            ProbeSpec::Prometheus {
                url: s("http://n:9100/metrics"),
                selector: s("up{job=\"n\"}"),
            },
            ProbeSpec::Database {
                engine: s("postgres"),
                host: s(""),
                port: 5432,
                database: s("app"),
                user: s("u"),
                credential: s("c"),
                query: s("select 1"),
            },
            ProbeSpec::Zabbix {
                host: s(""),
                port: 10050,
                key: s("agent.ping"),
            },
            ProbeSpec::Heartbeat { grace_s: 60 },
        ];
        for probe in probes {
            let text = encode_probe(&probe);
            assert!(
                text.contains(&format!("\"kind\":\"{}\"", probe.kind())),
                "{text}"
            );
            assert_eq!(decode_probe(&text).expect("decodes"), probe);
        }
        assert!(decode_probe("{\"kind\":\"telnet\"}").is_err());
    }

    #[test]
    fn history_round_trips() {
        let h = [State::Ok, State::Critical, State::Unknown, State::Warning];
        assert_eq!(encode_history(&h), "ocuw");
        assert_eq!(decode_history("ocuw"), h);
    }
}
