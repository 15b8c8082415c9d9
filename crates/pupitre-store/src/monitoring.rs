//! Supervision's storage interface: checks, their states and last results, events,
//! acknowledgements, heartbeats and downtimes.
//!
//! The engine keeps every check's [`CheckStatus`] in memory and writes results behind it in
//! batches ([`MonitoringStore::save_results`]); acknowledgements and heartbeats are written by
//! requests, so a result never overwrites them.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetId, GraphEdge};
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{
    Check, CheckEvent, CheckId, Downtime, EventKind, LastResult,
};
use pupitre_core::monitoring::definition::{CheckDefinition, ProbeSpec};
use pupitre_core::monitoring::status::{Acknowledgement, CheckStatus};
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

#[async_trait]
pub trait MonitoringStore: Send + Sync {
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
    /// Writes results in one transaction.
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
}

/// The stored form of a probe's parameters: JSON tagged by kind.
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
        oid: String,
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
                oid,
            } => StoredProbe::Snmp {
                host,
                port,
                credential,
                oid,
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
                oid,
            } => ProbeSpec::Snmp {
                host,
                port,
                credential,
                oid,
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
        }
    }
}

pub(crate) fn encode_probe(spec: &ProbeSpec) -> String {
    serde_json::to_string(&StoredProbe::from(spec)).unwrap_or_default()
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
                oid: s("1.3.6.1.2.1.1.3.0"),
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
