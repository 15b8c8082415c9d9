//! One run of a stored check: its [`ProbeSpec`] turned into the probe crate's check, run within
//! the check's timeout, and its result read as an [`Outcome`].
//!
//! The check's thresholds apply to the probe's main value: the round-trip time of a ping (ms),
//! the response time of a TCP, HTTP or DNS check (s), the value an SNMP GET, a database query,
//! a Prometheus series or a Zabbix item returns. A plugin carries its own thresholds in its
//! arguments.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::Check;
use pupitre_core::monitoring::definition::ProbeSpec;
use pupitre_core::monitoring::exposition::Selector;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_probe::dns::{DnsCheck, DnsRecordType};
use pupitre_probe::http::HttpCheck;
use pupitre_probe::outcome::Outcome;
use pupitre_probe::ping::{IcmpCapability, PingCheck};
use pupitre_probe::plugin::{MacroValues, PluginCheck, PluginRunner};
use pupitre_probe::scrape::ScrapeCheck;
use pupitre_probe::tcp::TcpCheck;
use pupitre_probe::zabbix::ZabbixCheck;

/// What a run needs besides the check: shared runners and the host's address.
pub struct Probes {
    pub plugins: PluginRunner,
    pub icmp: IcmpCapability,
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
        ProbeSpec::Heartbeat { .. } => None,
    }
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

impl Probes {
    /// Runs `check` once. Never panics; never takes much longer than the check's timeout
    /// (each probe enforces it, and a last guard cuts a probe that would not).
    pub async fn run(&self, check: &Check, asset_name: &str, asset_address: &str) -> Outcome {
        let timeout = Duration::from_secs(u64::from(check.definition.timeout_s));
        let run = self.run_inner(check, asset_name, asset_address, timeout);
        match tokio::time::timeout(timeout + Duration::from_secs(2), run).await {
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
            ProbeSpec::Snmp { .. } | ProbeSpec::Database { .. } => Outcome::unknown(format!(
                "{} UNKNOWN - this check names a stored credential, and Pupitre does not \
                 store credentials yet",
                check.definition.probe.kind().to_uppercase()
            )),
            ProbeSpec::Heartbeat { .. } => Outcome::new(
                State::Unknown,
                "HEARTBEAT UNKNOWN - a heartbeat is evaluated by the engine, not run",
            ),
        }
    }
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
