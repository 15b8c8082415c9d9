//! One run of a stored check: its [`ProbeSpec`] turned into the probe crate's check, run within
//! the check's timeout, and its result read as an [`Outcome`].
//!
//! The check's thresholds apply to the probe's main value: the round-trip time of a ping (ms),
//! the response time of a TCP, HTTP or DNS check (s), the value an SNMP GET, a database query,
//! a Prometheus series or a Zabbix item returns, each SNMP interface's bit rates, each SNMP
//! storage area's used percent, the SNMP uptime in seconds. A plugin carries its own thresholds
//! in its arguments.
//!
//! SNMP interface counters and uptimes are remembered between runs (in memory, per check) to
//! turn counters into rates and to notice a restart.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{Check, CheckId};
use pupitre_core::monitoring::definition::ProbeSpec;
use pupitre_core::monitoring::exposition::Selector;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::database::{DatabaseCheck, Engine as DatabaseEngine};
use pupitre_probe::dns::{DnsCheck, DnsRecordType};
use pupitre_probe::http::HttpCheck;
use pupitre_probe::outcome::Outcome;
use pupitre_probe::ping::{IcmpCapability, PingCheck};
use pupitre_probe::plugin::{MacroValues, PluginCheck, PluginRunner};
use pupitre_probe::scrape::ScrapeCheck;
use pupitre_probe::secret::Secret;
use pupitre_probe::snmp::{
    CounterSample, HrStorage, InterfaceCounter, InterfaceReading, InterfaceTable, OidCheck,
    SnmpGet, SnmpTarget, SnmpVersion, Uptime, UptimeReading, rate, rebooted,
};
use pupitre_probe::tcp::TcpCheck;
use pupitre_probe::zabbix::ZabbixCheck;

use pupitre_store::Store;

use crate::credentials::{Credentials, Opened};

/// What a run needs besides the check: shared runners, credentials, and what SNMP checks
/// remember between runs.
pub struct Probes {
    pub plugins: PluginRunner,
    pub icmp: IcmpCapability,
    pub credentials: Credentials,
    /// What agent checks read: the metric history and the agents' last contacts.
    pub store: Arc<dyn Store>,
    /// Wakes an agent's poll when a plugin check queues a command for it.
    pub agent_waker: Arc<crate::agent_check::AgentWaker>,
    memory: Mutex<HashMap<CheckId, Memory>>,
}

/// What an SNMP check's previous run read, to compare the next one with.
enum Memory {
    Counters(Vec<CounterSample>),
    Uptime(Duration),
}

/// The host a check looks at: its own `host`, else its asset's address.
fn target(own: &str, asset_address: &str) -> String {
    if own.is_empty() {
        asset_address.to_owned()
    } else {
        own.to_owned()
    }
}

/// The host (or URL host) a check connects to, to bound concurrency per target. `None` for
/// checks that look at nothing remote (heartbeats).
pub fn target_key(check: &Check, asset_address: &str) -> Option<String> {
    match &check.definition.probe {
        ProbeSpec::Ping { host, .. }
        | ProbeSpec::Tcp { host, .. }
        | ProbeSpec::Snmp { host, .. }
        | ProbeSpec::Database { host, .. }
        | ProbeSpec::Zabbix { host, .. } => Some(target(host, asset_address)),
        ProbeSpec::Http { url, .. } | ProbeSpec::Prometheus { url, .. } => {
            Some(url_host(url).to_owned())
        }
        ProbeSpec::Dns { server, .. } => Some(target(server, "resolver")),
        ProbeSpec::Plugin { .. } => Some(asset_address.to_owned()),
        ProbeSpec::Heartbeat { .. } | ProbeSpec::Agent { .. } | ProbeSpec::AgentPlugin { .. } => {
            None
        }
    }
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

impl Probes {
    pub fn new(
        plugins: PluginRunner,
        icmp: IcmpCapability,
        credentials: Credentials,
        store: Arc<dyn Store>,
    ) -> Probes {
        Probes {
            plugins,
            icmp,
            credentials,
            store,
            agent_waker: Arc::default(),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `check` once. Never panics; never takes much longer than the check's timeout
    /// (each probe enforces it, and a last guard cuts a probe that would not).
    pub async fn run(&self, check: &Check, asset_name: &str, asset_address: &str) -> Outcome {
        let timeout = Duration::from_secs(u64::from(check.definition.timeout_s));
        let run = self.run_inner(check, asset_name, asset_address, timeout);
        // A plugin run by an agent also waits for the agent to pick it up.
        let margin = match &check.definition.probe {
            ProbeSpec::AgentPlugin { .. } => crate::agent_check::PICKUP + Duration::from_secs(2),
            _ => Duration::from_secs(2),
        };
        match tokio::time::timeout(timeout + margin, run).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::unknown(format!(
                "the probe did not finish within its {} s timeout",
                timeout.as_secs()
            )),
        }
    }

    async fn run_inner(
        &self,
        check: &Check,
        asset_name: &str,
        asset_address: &str,
        timeout: Duration,
    ) -> Outcome {
        let thresholds = check.definition.thresholds;
        match &check.definition.probe {
            ProbeSpec::Ping { host, count } => {
                let mut ping = PingCheck::new(target(host, asset_address));
                ping.count = *count;
                ping.interval = Duration::from_millis(200);
                ping.timeout = timeout;
                ping.rta = thresholds;
                ping.run_with(&self.icmp).await
            }
            ProbeSpec::Tcp {
                host,
                port,
                send,
                expect,
            } => {
                let mut tcp = TcpCheck::new(target(host, asset_address), port16(*port));
                tcp.send = (!send.is_empty()).then(|| send.clone());
                tcp.expect = (!expect.is_empty()).then(|| expect.clone());
                tcp.timeout = timeout;
                tcp.response_time = thresholds;
                tcp.run().await
            }
            ProbeSpec::Http {
                url,
                expect_status,
                contains,
            } => {
                let mut http = HttpCheck::new(url.clone());
                if let Some(status) = expect_status.and_then(|s| u16::try_from(s).ok()) {
                    http.expected_status = vec![status];
                }
                http.body_contains = (!contains.is_empty()).then(|| contains.clone());
                http.timeout = timeout;
                http.response_time = thresholds;
                http.run().await
            }
            ProbeSpec::Dns {
                server,
                name,
                record_type,
                expect,
            } => {
                let Some(server) = dns_server(server).await else {
                    return Outcome::unknown(
                        "DNS UNKNOWN - no DNS server given and none found in /etc/resolv.conf",
                    );
                };
                let Ok(record_type) = record_type.parse::<DnsRecordType>() else {
                    return Outcome::unknown(format!(
                        "DNS UNKNOWN - record type {record_type} is not supported"
                    ));
                };
                let mut dns = DnsCheck::new(server, name.clone());
                dns.record_type = record_type;
                if !expect.is_empty() {
                    dns.expected = [expect.clone()].into_iter().collect();
                }
                dns.timeout = timeout;
                dns.response_time = thresholds;
                dns.run().await
            }
            ProbeSpec::Plugin { path, arguments } => {
                let plugin = PluginCheck {
                    plugin: PathBuf::from(path),
                    arguments: arguments.clone(),
                    timeout,
                };
                let values = MacroValues {
                    host_address: asset_address.to_owned(),
                    host_name: asset_name.to_owned(),
                    args: Vec::new(),
                };
                let result = self.plugins.run(&plugin, &values).await;
                let PluginOutput {
                    summary,
                    long_output,
                    perfdata,
                    ..
                } = result.output();
                Outcome {
                    state: result.state(),
                    summary,
                    long_output,
                    perfdata,
                }
            }
            ProbeSpec::Prometheus { url, selector } => match Selector::parse(selector) {
                Ok(selector) => {
                    let mut scrape = ScrapeCheck::new(url.clone(), selector);
                    scrape.thresholds = thresholds;
                    scrape.timeout = timeout;
                    scrape.run().await
                }
                Err(e) => Outcome::unknown(format!("PROMETHEUS UNKNOWN - selector: {e}")),
            },
            ProbeSpec::Zabbix { host, port, key } => {
                let mut zabbix = ZabbixCheck::new(target(host, asset_address), key.clone());
                zabbix.port = port16(*port);
                zabbix.thresholds = thresholds;
                zabbix.timeout = timeout;
                zabbix.run().await
            }
            ProbeSpec::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            } => {
                let version = match self.snmp_version(credential).await {
                    Ok(version) => version,
                    Err(message) => return Outcome::unknown(format!("SNMP UNKNOWN - {message}")),
                };
                let mut target = SnmpTarget::new(target(host, asset_address), version);
                target.port = port16(*port);
                target.timeout = timeout;
                match mode.as_str() {
                    "interfaces" => {
                        let table = InterfaceTable {
                            target,
                            interfaces: items.clone(),
                        };
                        let reading = table.read().await;
                        self.interface_rates(check.id, reading, thresholds)
                    }
                    "storage" => {
                        HrStorage {
                            target,
                            storages: items.clone(),
                            thresholds,
                        }
                        .run()
                        .await
                    }
                    "uptime" => {
                        let reading = Uptime { target, thresholds }.read().await;
                        self.uptime(check.id, reading)
                    }
                    _ => {
                        let mut get = OidCheck::new(oid.clone());
                        get.thresholds = thresholds;
                        SnmpGet {
                            target,
                            oids: vec![get],
                        }
                        .run()
                        .await
                    }
                }
            }
            ProbeSpec::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            } => {
                let engine = match engine.as_str() {
                    "mysql" => DatabaseEngine::MySql,
                    _ => DatabaseEngine::Postgres,
                };
                let mut db = DatabaseCheck::new(
                    engine,
                    target(host, asset_address),
                    database.clone(),
                    user.clone(),
                );
                db.port = port16(*port);
                if !credential.is_empty() {
                    match self.credentials.get(credential).await {
                        Ok(Opened::Password {
                            user: stored_user,
                            password,
                        }) => {
                            if db.user.is_empty() {
                                db.user = stored_user;
                            }
                            db.password = password;
                        }
                        Ok(Opened::Snmp(_)) => {
                            return Outcome::unknown(format!(
                                "DATABASE UNKNOWN - credential {credential} is for SNMP, not a password"
                            ));
                        }
                        Err(message) => {
                            return Outcome::unknown(format!("DATABASE UNKNOWN - {message}"));
                        }
                    }
                }
                db.query = (!query.is_empty()).then(|| query.clone());
                db.thresholds = thresholds;
                db.timeout = timeout;
                db.run().await
            }
            ProbeSpec::Heartbeat { .. } => Outcome::new(
                State::Unknown,
                "HEARTBEAT UNKNOWN - a heartbeat is evaluated by the engine, not run",
            ),
            ProbeSpec::Agent {
                selector,
                max_age_s,
            } => {
                let now = crate::now_ms();
                crate::agent_check::run(self.store.as_ref(), check, selector, *max_age_s, now).await
            }
            ProbeSpec::AgentPlugin { plugin, arguments } => {
                crate::agent_check::run_plugin(
                    self.store.as_ref(),
                    &self.agent_waker,
                    check,
                    plugin,
                    arguments,
                    timeout,
                )
                .await
            }
        }
    }
}

impl Probes {
    /// The SNMP version and secrets `credential` names; v2c community `public` when it names
    /// none.
    async fn snmp_version(&self, credential: &str) -> Result<SnmpVersion, String> {
        if credential.is_empty() {
            return Ok(SnmpVersion::V2c {
                community: Secret::new("public"),
            });
        }
        match self.credentials.get(credential).await? {
            Opened::Snmp(version) => Ok(version),
            Opened::Password { .. } => Err(format!(
                "credential {credential} is a password, not an SNMP community or user"
            )),
        }
    }

    /// Adds each interface's bit rates (thresholds apply to them) and error rates since the
    /// previous run, and remembers this run's counters.
    fn interface_rates(
        &self,
        id: CheckId,
        mut reading: InterfaceReading,
        thresholds: Thresholds,
    ) -> Outcome {
        if reading.samples.is_empty() {
            return reading.outcome;
        }
        let previous = match self.remember(id, Memory::Counters(reading.samples.clone())) {
            Some(Memory::Counters(previous)) => previous,
            _ => Vec::new(),
        };
        let outcome = &mut reading.outcome;
        let mut over = Vec::new();
        for current in &reading.samples {
            let Some(rate) = previous
                .iter()
                .find(|p| p.interface == current.interface && p.counter == current.counter)
                .and_then(|p| rate(p, current))
            else {
                continue;
            };
            let (suffix, value, judged) = match current.counter {
                InterfaceCounter::InOctets => ("in_bps", rate * 8.0, true),
                InterfaceCounter::OutOctets => ("out_bps", rate * 8.0, true),
                InterfaceCounter::InErrors => ("in_errors_per_s", rate, false),
                InterfaceCounter::OutErrors => ("out_errors_per_s", rate, false),
            };
            let label = format!("{}_{suffix}", current.interface);
            if judged {
                let state = thresholds.evaluate(value);
                if state != State::Ok {
                    over.push((state, format!("{label} {}", human_bits(value))));
                }
            }
            outcome.perfdata.push(PerfDatum {
                label,
                value: Some(value),
                uom: Uom::Count,
                warning: judged.then_some(thresholds.warning).flatten(),
                critical: judged.then_some(thresholds.critical).flatten(),
                min: Some(0.0),
                max: None,
            });
        }
        if !over.is_empty() {
            let worst = over
                .iter()
                .map(|(s, _)| *s)
                .max_by_key(|s| s.severity())
                .unwrap_or(State::Ok);
            if worst.severity() > outcome.state.severity() {
                outcome.state = worst;
            }
            let rates: Vec<_> = over.into_iter().map(|(_, text)| text).collect();
            outcome.summary = format!(
                "SNMP {} - {}; {}",
                outcome.state,
                rates.join(", "),
                outcome
                    .summary
                    .split_once(" - ")
                    .map_or(outcome.summary.as_str(), |(_, rest)| rest)
            );
        }
        reading.outcome
    }

    /// Warns when the uptime went down since the previous run (the agent restarted), and
    /// remembers this run's uptime.
    fn uptime(&self, id: CheckId, reading: UptimeReading) -> Outcome {
        let UptimeReading {
            mut outcome,
            uptime,
        } = reading;
        let Some(uptime) = uptime else {
            return outcome;
        };
        if let Some(Memory::Uptime(previous)) = self.remember(id, Memory::Uptime(uptime))
            && rebooted(previous, uptime)
        {
            if outcome.state.severity() < State::Warning.severity() {
                outcome.state = State::Warning;
            }
            let rest = outcome
                .summary
                .split_once(" - ")
                .map_or(outcome.summary.clone(), |(_, r)| r.to_owned());
            outcome.summary = format!(
                "SNMP {} - restarted since the previous check (uptime was {} s); {rest}",
                outcome.state,
                previous.as_secs()
            );
        }
        outcome
    }

    /// Stores what this run read and gives back what the previous run stored.
    fn remember(&self, id: CheckId, now: Memory) -> Option<Memory> {
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        memory.insert(id, now)
    }

    /// Forgets what deleted checks remembered.
    pub fn retain(&self, live: impl Fn(CheckId) -> bool) {
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|id, _| live(*id));
    }
}

/// `1.23 Mb/s`.
fn human_bits(bits_per_s: f64) -> String {
    let units = ["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"];
    let mut value = bits_per_s;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", units[unit])
}

/// A validated definition's port is within 1..=65535.
fn port16(port: u32) -> u16 {
    u16::try_from(port).unwrap_or(u16::MAX)
}

/// The DNS server to ask: the check's (an address, or a name resolved by the system), else
/// the first `nameserver` of /etc/resolv.conf.
async fn dns_server(server: &str) -> Option<SocketAddr> {
    let host = if server.is_empty() {
        std::fs::read_to_string("/etc/resolv.conf")
            .ok()?
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("nameserver")
                    .map(|s| s.trim().to_owned())
            })?
    } else {
        server.to_owned()
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => Some(SocketAddr::new(ip, 53)),
        Err(_) => tokio::net::lookup_host((host.as_str(), 53))
            .await
            .ok()?
            .next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://user:pw@web1:8443/x?y"), "web1:8443");
        assert_eq!(url_host("http://[::1]:9100/metrics"), "[::1]:9100");
    }
}
