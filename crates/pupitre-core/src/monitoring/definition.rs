//! What a check is, independent of storage: its probe and the probe's parameters, how often it
//! runs, how many attempts make a hard state, and its thresholds. [`check_definition`] turns a
//! [`CheckDefinitionInput`] into a [`CheckDefinition`] and reports every mistake at once, each
//! naming its field (`interval`, `probe.port`, `warning`, …).
//!
//! The parameters are plain strings and numbers; the probe crate turns them into its own check
//! structs and decides what cannot be known here (whether a plugin exists and is executable,
//! whether a host resolves). Secrets are never part of a definition: probes that log in name a
//! stored credential instead.

use std::net::IpAddr;

use super::exposition::Selector;
use super::range::{RangeError, Thresholds, ThresholdsError};
use super::status::Interval;
use crate::permission::EntityId;
use crate::validate::{FieldError, text};

/// The shortest interval (and retry interval) a check may have, in seconds.
pub const MIN_INTERVAL_S: u32 = 10;
/// The longest interval (and retry interval) a check may have, in seconds: one day.
pub const MAX_INTERVAL_S: u32 = 86_400;
/// The shortest timeout, in seconds.
pub const MIN_TIMEOUT_S: u32 = 1;
/// The longest timeout, in seconds.
pub const MAX_TIMEOUT_S: u32 = 300;
/// The most attempts a problem may take to become hard.
pub const MAX_ATTEMPTS: u32 = 10;
/// The most echo requests one ping check sends.
pub const MAX_PING_COUNT: u32 = 20;
/// DNS record types a DNS check may query.
pub const DNS_RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "TXT"];
/// Database engines a database check may connect to.
pub const DATABASE_ENGINES: &[&str] = &["postgres", "mysql"];
/// What an SNMP check reads: one OID (`get`), the IF-MIB interface table (`interfaces`), the
/// HOST-RESOURCES-MIB storage table (`storage`) or sysUpTime (`uptime`).
pub const SNMP_MODES: &[&str] = &["get", "interfaces", "storage", "uptime"];
/// The most interfaces or storage areas one SNMP check names.
pub const MAX_SNMP_ITEMS: usize = 64;

/// A probe and its parameters.
///
/// A `host` left empty means the address of the asset the check is attached to (its management
/// IP, else its host name); the engine fills it in. Numbers are validated by
/// [`check_definition`]: a port is within `1..=65535`, so `u16::try_from` cannot fail on a
/// validated definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeSpec {
    /// ICMP echo: `count` requests (1 to [`MAX_PING_COUNT`]); thresholds apply to the
    /// round-trip time.
    Ping { host: String, count: u32 },
    /// A TCP connection; optionally `send` a line and `expect` the reply to contain a text.
    Tcp {
        host: String,
        port: u32,
        send: String,
        expect: String,
    },
    /// An HTTP(S) request. `expect_status` is the status code wanted (`None`: any 2xx or 3xx);
    /// `contains` is a text the body must contain (empty: no check).
    Http {
        url: String,
        expect_status: Option<u32>,
        contains: String,
    },
    /// A DNS query for `name`'s `record_type` records, sent to `server` (empty: the system
    /// resolver); `expect` is an answer that must be present (empty: any answer).
    Dns {
        server: String,
        name: String,
        record_type: String,
        expect: String,
    },
    /// An SNMP check of `host`, authenticated by the stored `credential` of that name (empty:
    /// SNMPv2c community `public`). `mode` is one of [`SNMP_MODES`]:
    /// - `get` reads the numeric `oid` (`1.3.6.1.2.1.1.3.0`); thresholds apply to its value;
    /// - `interfaces` checks that every administratively up interface is operationally up, and
    ///   reports in/out bit rates and error rates between runs;
    /// - `storage` reads the hrStorage table; thresholds apply to each area's used percent;
    /// - `uptime` reads sysUpTime (seconds, for thresholds such as `@0:600`) and warns when the
    ///   agent restarted since the previous run.
    ///
    /// `items` names the interfaces (ifName, else ifDescr) or storage areas (hrStorageDescr)
    /// to look at; all of them when empty.
    Snmp {
        host: String,
        port: u32,
        credential: String,
        mode: String,
        oid: String,
        items: Vec<String>,
    },
    /// A Nagios-compatible plugin run as `path arguments…`, without a shell.
    Plugin {
        path: String,
        arguments: Vec<String>,
    },
    /// A scrape of the Prometheus exporter at `url` (text 0.0.4 or OpenMetrics); `selector`
    /// (`node_filesystem_avail_bytes{mountpoint="/"}`) picks the one series the thresholds
    /// apply to.
    Prometheus { url: String, selector: String },
    /// A passive check of a Zabbix agent (`zabbix_agentd`): the item `key`
    /// (`system.cpu.load[all,avg1]`) asked over the ZBXD protocol.
    Zabbix {
        host: String,
        port: u32,
        key: String,
    },
    /// A passive heartbeat: something (a cron job, a script) calls the check's heartbeat URL
    /// at least once per interval. No call within the interval plus `grace_s` seconds is
    /// CRITICAL; a call may carry its own state and message.
    Heartbeat { grace_s: u32 },
    /// What the host's Pupitre agent reports. With a `selector`
    /// (`node_filesystem_avail_bytes{mountpoint="/"}`), the thresholds apply to the latest
    /// value of the one series it picks among the agent's; no value within `max_age_s` is
    /// UNKNOWN. Without one, the agent itself: CRITICAL when it has not been heard from within
    /// `max_age_s`, or is revoked.
    Agent { selector: String, max_age_s: u32 },
    /// A Nagios plugin the host's Pupitre agent runs locally, as NRPE does: `plugin` is a name
    /// in the host's allowlist, which decides the command line; `arguments` fill its `$ARGn$`
    /// where the allowlist accepts arguments.
    AgentPlugin {
        plugin: String,
        arguments: Vec<String>,
    },
    /// A connection to a database, optionally running `query` (empty: connect only). The
    /// password is the stored `credential` of that name.
    Database {
        engine: String,
        host: String,
        port: u32,
        database: String,
        user: String,
        credential: String,
        query: String,
    },
}

impl ProbeSpec {
    /// The stored credential the probe logs in with, if it names one.
    pub fn credential(&self) -> Option<&str> {
        match self {
            ProbeSpec::Snmp { credential, .. } | ProbeSpec::Database { credential, .. }
                if !credential.is_empty() =>
            {
                Some(credential)
            }
            _ => None,
        }
    }

    /// The stable key of the probe kind: `ping`, `tcp`, `http`, `dns`, `snmp`, `plugin`,
    /// `prometheus`, `database`, `zabbix`, `heartbeat`, `agent`, `agent_plugin`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Ping { .. } => "ping",
            ProbeSpec::Tcp { .. } => "tcp",
            ProbeSpec::Http { .. } => "http",
            ProbeSpec::Dns { .. } => "dns",
            ProbeSpec::Snmp { .. } => "snmp",
            ProbeSpec::Plugin { .. } => "plugin",
            ProbeSpec::Prometheus { .. } => "prometheus",
            ProbeSpec::Database { .. } => "database",
            ProbeSpec::Zabbix { .. } => "zabbix",
            ProbeSpec::Heartbeat { .. } => "heartbeat",
            ProbeSpec::Agent { .. } => "agent",
            ProbeSpec::AgentPlugin { .. } => "agent_plugin",
        }
    }
}

/// A validated check definition. Build one with [`check_definition`].
///
/// Invariants: `MIN_INTERVAL_S <= retry_interval_s <= interval_s <= MAX_INTERVAL_S`,
/// `MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S` and `timeout_s < interval_s`,
/// `1 <= max_attempts <= MAX_ATTEMPTS`, and the probe's parameters are well formed.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckDefinition {
    pub name: String,
    pub probe: ProbeSpec,
    pub interval_s: u32,
    /// The interval while a soft problem is being confirmed.
    pub retry_interval_s: u32,
    pub timeout_s: u32,
    pub max_attempts: u32,
    /// The parsed thresholds; their `Display` gives the canonical text to store.
    pub thresholds: Thresholds,
    pub notifications_enabled: bool,
    pub entity_id: EntityId,
}

impl CheckDefinition {
    /// The interval that schedules the next run, in milliseconds (for [`super::schedule`]).
    pub fn interval_ms(&self, which: Interval) -> i64 {
        let seconds = match which {
            Interval::Normal => self.interval_s,
            Interval::Retry => self.retry_interval_s,
        };
        i64::from(seconds) * 1000
    }

    /// The timeout in milliseconds.
    pub fn timeout_ms(&self) -> i64 {
        i64::from(self.timeout_s) * 1000
    }
}

/// A check definition as a person or an API client wrote it, validated by
/// [`check_definition`]. Numbers are signed so that a negative value gets a message rather than
/// a parse error; thresholds are Nagios range text (empty: no threshold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckDefinitionInput {
    pub name: String,
    pub probe: ProbeSpec,
    pub interval_s: i64,
    pub retry_interval_s: i64,
    pub timeout_s: i64,
    pub max_attempts: i64,
    pub warning: String,
    pub critical: String,
    pub notifications_enabled: bool,
    pub entity_id: EntityId,
}

/// Validates and normalises `input` (trimmed texts, upper-case DNS record type, lower-case
/// database engine). On failure, returns every field error, in field order.
pub fn check_definition(input: CheckDefinitionInput) -> Result<CheckDefinition, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", &input.name, 1, 200).map_err(|e| errors.push(e));
    let probe = probe(input.probe, &mut errors);

    let interval = bounded("interval", input.interval_s, MIN_INTERVAL_S, MAX_INTERVAL_S)
        .map_err(|e| errors.push(e));
    let retry = bounded(
        "retry_interval",
        input.retry_interval_s,
        MIN_INTERVAL_S,
        MAX_INTERVAL_S,
    )
    .map_err(|e| errors.push(e));
    let retry = match (interval, retry) {
        (Ok(i), Ok(r)) if r > i => {
            errors.push(FieldError::new(
                "retry_interval",
                format!("must not be longer than the interval ({i} s)"),
            ));
            Err(())
        }
        (_, r) => r,
    };
    let timeout = bounded("timeout", input.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
        .map_err(|e| errors.push(e));
    let timeout = match (interval, timeout) {
        (Ok(i), Ok(t)) if t >= i => {
            errors.push(FieldError::new(
                "timeout",
                format!("must be shorter than the interval ({i} s)"),
            ));
            Err(())
        }
        (_, t) => t,
    };
    let max_attempts =
        bounded("max_attempts", input.max_attempts, 1, MAX_ATTEMPTS).map_err(|e| errors.push(e));

    let warning = Thresholds::parse(&input.warning, "")
        .map(|t| t.warning)
        .map_err(|e| errors.push(threshold_error(e)));
    let critical = Thresholds::parse("", &input.critical)
        .map(|t| t.critical)
        .map_err(|e| errors.push(threshold_error(e)));

    match (
        name,
        probe,
        interval,
        retry,
        timeout,
        max_attempts,
        warning,
        critical,
    ) {
        (
            Ok(name),
            Ok(probe),
            Ok(interval_s),
            Ok(retry_interval_s),
            Ok(timeout_s),
            Ok(max_attempts),
            Ok(warning),
            Ok(critical),
        ) if errors.is_empty() => Ok(CheckDefinition {
            name,
            probe,
            interval_s,
            retry_interval_s,
            timeout_s,
            max_attempts,
            thresholds: Thresholds { warning, critical },
            notifications_enabled: input.notifications_enabled,
            entity_id: input.entity_id,
        }),
        _ => Err(errors),
    }
}

fn threshold_error(e: ThresholdsError) -> FieldError {
    let (field, range): (&str, RangeError) = match e {
        ThresholdsError::Warning(r) => ("warning", r),
        ThresholdsError::Critical(r) => ("critical", r),
    };
    FieldError::new(field, format!("is not a threshold range: {range}"))
}

/// A whole number within `min..=max`.
fn bounded(field: &str, value: i64, min: u32, max: u32) -> Result<u32, FieldError> {
    u32::try_from(value)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| FieldError::new(field, format!("must be between {min} and {max}")))
}

/// Validates the probe's parameters, pushing one error per bad field.
fn probe(spec: ProbeSpec, errors: &mut Vec<FieldError>) -> Result<ProbeSpec, ()> {
    let before = errors.len();
    let spec = match spec {
        ProbeSpec::Ping { host: h, count } => {
            let host = keep(errors, host("probe.host", &h));
            if !(1..=MAX_PING_COUNT).contains(&count) {
                errors.push(FieldError::new(
                    "probe.count",
                    format!("must be between 1 and {MAX_PING_COUNT}"),
                ));
            }
            ProbeSpec::Ping { host, count }
        }
        ProbeSpec::Tcp {
            host: h,
            port: p,
            send,
            expect,
        } => ProbeSpec::Tcp {
            host: keep(errors, host("probe.host", &h)),
            port: keep(errors, port(p)),
            send: keep(errors, text("probe.send", &send, 0, 1000)),
            expect: keep(errors, text("probe.expect", &expect, 0, 1000)),
        },
        ProbeSpec::Http {
            url: u,
            expect_status,
            contains,
        } => {
            if let Some(s) = expect_status.filter(|s| !(100..=599).contains(s)) {
                errors.push(FieldError::new(
                    "probe.expect_status",
                    format!("{s} is not an HTTP status code (100 to 599)"),
                ));
            }
            ProbeSpec::Http {
                url: keep(errors, url("probe.url", &u)),
                expect_status,
                contains: keep(errors, text("probe.contains", &contains, 0, 1000)),
            }
        }
        ProbeSpec::Dns {
            server,
            name,
            record_type,
            expect,
        } => {
            let record_type = record_type.trim().to_uppercase();
            if !DNS_RECORD_TYPES.contains(&record_type.as_str()) {
                errors.push(FieldError::new(
                    "probe.record_type",
                    format!("must be one of {}", DNS_RECORD_TYPES.join(", ")),
                ));
            }
            ProbeSpec::Dns {
                server: keep(errors, host("probe.server", &server)),
                name: keep(errors, required_host("probe.name", &name)),
                record_type,
                expect: keep(errors, text("probe.expect", &expect, 0, 1000)),
            }
        }
        ProbeSpec::Snmp {
            host: h,
            port: p,
            credential,
            mode,
            oid: o,
            items,
        } => {
            let host = keep(errors, host("probe.host", &h));
            let port = keep(errors, port(p));
            let credential = keep(errors, text("probe.credential", &credential, 0, 200));
            let mode = match mode.trim() {
                "" => "get".to_owned(),
                m => m.to_lowercase(),
            };
            if !SNMP_MODES.contains(&mode.as_str()) {
                errors.push(FieldError::new(
                    "probe.mode",
                    format!("must be one of {}", SNMP_MODES.join(", ")),
                ));
            }
            let oid = if mode == "get" {
                keep(errors, oid("probe.oid", &o))
            } else {
                if !o.trim().is_empty() {
                    errors.push(FieldError::new(
                        "probe.oid",
                        format!("is only read in mode get, not {mode}"),
                    ));
                }
                String::new()
            };
            let items = snmp_items(errors, &mode, items);
            ProbeSpec::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            }
        }
        ProbeSpec::Plugin { path, arguments } => {
            let path = path.trim().to_owned();
            if !path.starts_with('/') {
                errors.push(FieldError::new(
                    "probe.path",
                    "must be an absolute path (starting with /)",
                ));
            } else if path.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "probe.path",
                    "must not contain control characters",
                ));
            }
            if arguments
                .iter()
                .any(|a| a.chars().any(|c| c.is_control() && c != '\t'))
            {
                errors.push(FieldError::new(
                    "probe.arguments",
                    "must not contain control characters",
                ));
            }
            ProbeSpec::Plugin { path, arguments }
        }
        ProbeSpec::Prometheus { url: u, selector } => {
            let url = keep(errors, url("probe.url", &u));
            let selector = keep(errors, text("probe.selector", &selector, 1, 4000));
            if !selector.is_empty()
                && let Err(e) = Selector::parse(&selector)
            {
                errors.push(FieldError::new("probe.selector", e.to_string()));
            }
            ProbeSpec::Prometheus { url, selector }
        }
        ProbeSpec::Zabbix {
            host: h,
            port: p,
            key,
        } => ProbeSpec::Zabbix {
            host: keep(errors, host("probe.host", &h)),
            port: keep(errors, port(p)),
            key: keep(errors, zabbix_key("probe.key", &key)),
        },
        ProbeSpec::Heartbeat { grace_s } => {
            if grace_s > MAX_INTERVAL_S {
                errors.push(FieldError::new(
                    "probe.grace",
                    format!("must be between 0 and {MAX_INTERVAL_S}"),
                ));
            }
            ProbeSpec::Heartbeat { grace_s }
        }
        ProbeSpec::Agent {
            selector,
            max_age_s,
        } => {
            let selector = keep(errors, text("probe.selector", &selector, 0, 4000));
            if !selector.is_empty()
                && let Err(e) = Selector::parse(&selector)
            {
                errors.push(FieldError::new("probe.selector", e.to_string()));
            }
            if !(10..=MAX_INTERVAL_S).contains(&max_age_s) {
                errors.push(FieldError::new(
                    "probe.max_age_s",
                    format!("must be between 10 and {MAX_INTERVAL_S} seconds"),
                ));
            }
            ProbeSpec::Agent {
                selector,
                max_age_s,
            }
        }
        ProbeSpec::AgentPlugin { plugin, arguments } => {
            let plugin = plugin.trim().to_owned();
            let valid_name = !plugin.is_empty()
                && plugin.len() <= 64
                && plugin
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if !valid_name {
                errors.push(FieldError::new(
                    "probe.plugin",
                    "1 to 64 letters, digits, '.', '_' or '-' (a name in the host's allowlist)",
                ));
            }
            // NRPE's forbidden characters: the agent refuses them too.
            const NASTY: &[char] = &[
                '|', '`', '&', '>', '<', '\'', '"', '\\', '[', ']', '{', '}', ';', '!', '$',
            ];
            if arguments.len() > 16
                || arguments
                    .iter()
                    .any(|a| a.len() > 1024 || a.contains(NASTY) || a.chars().any(char::is_control))
            {
                errors.push(FieldError::new(
                    "probe.arguments",
                    "at most 16, without control characters or any of | ` & > < ' \" \\ [ ] { } ; ! $",
                ));
            }
            ProbeSpec::AgentPlugin { plugin, arguments }
        }
        ProbeSpec::Database {
            engine,
            host: h,
            port: p,
            database,
            user,
            credential,
            query,
        } => {
            let engine = engine.trim().to_lowercase();
            if !DATABASE_ENGINES.contains(&engine.as_str()) {
                errors.push(FieldError::new(
                    "probe.engine",
                    format!("must be one of {}", DATABASE_ENGINES.join(", ")),
                ));
            }
            ProbeSpec::Database {
                engine,
                host: keep(errors, host("probe.host", &h)),
                port: keep(errors, port(p)),
                database: keep(errors, text("probe.database", &database, 1, 200)),
                user: keep(errors, text("probe.user", &user, 0, 200)),
                credential: keep(errors, text("probe.credential", &credential, 0, 200)),
                query: keep(errors, text("probe.query", &query, 0, 4000)),
            }
        }
    };
    if errors.len() == before {
        Ok(spec)
    } else {
        Err(())
    }
}

/// The value of `r`, or its error pushed to `errors` and a placeholder.
/// The interface or storage names of an SNMP check: trimmed, distinct, only in the modes that
/// read tables.
fn snmp_items(errors: &mut Vec<FieldError>, mode: &str, items: Vec<String>) -> Vec<String> {
    let items: Vec<String> = items
        .into_iter()
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .collect();
    if items.is_empty() {
        return items;
    }
    if !matches!(mode, "interfaces" | "storage") {
        errors.push(FieldError::new(
            "probe.items",
            "names interfaces or storage areas: only for modes interfaces and storage",
        ));
    } else if items.len() > MAX_SNMP_ITEMS {
        errors.push(FieldError::new(
            "probe.items",
            format!("must name at most {MAX_SNMP_ITEMS}"),
        ));
    } else if let Some(i) = items
        .iter()
        .find(|i| i.chars().count() > 255 || i.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "probe.items",
            format!("{i:?} must be at most 255 characters, without control characters"),
        ));
    } else if let Some((_, i)) = items
        .iter()
        .enumerate()
        .find(|(n, i)| items[..*n].contains(i))
    {
        errors.push(FieldError::new("probe.items", format!("names {i:?} twice")));
    }
    items
}

fn keep<T: Default>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> T {
    r.unwrap_or_else(|e| {
        errors.push(e);
        T::default()
    })
}

fn port(value: u32) -> Result<u32, FieldError> {
    Some(value)
        .filter(|p| (1..=65_535).contains(p))
        .ok_or_else(|| FieldError::new("probe.port", "must be between 1 and 65535"))
}

/// An optional host: empty, an IP address or a DNS name.
fn host(field: &str, value: &str) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        required_host(field, value)
    }
}

/// An IP address or a DNS name (letters, digits, `-` and `_`, in dot-separated labels of at
/// most 63 characters, 253 in all; a trailing dot is allowed).
fn required_host(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let name = v.strip_suffix('.').unwrap_or(v);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(FieldError::new(
            field,
            format!("{v:?} is not a host name or an IP address"),
        ))
    }
}

/// An `http://` or `https://` URL with a host, no spaces and at most 2048 characters.
fn url(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let lower = v.to_ascii_lowercase();
    let Some(rest) = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.starts_with(scheme).then(|| &v[scheme.len()..]))
    else {
        return Err(FieldError::new(
            field,
            "must start with http:// or https://",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(FieldError::new(field, "has no host"));
    }
    if v.len() > 2048 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            "must have no spaces and at most 2048 characters",
        ));
    }
    Ok(v.to_owned())
}

/// A numeric OID: at least two dot-separated numbers, an optional leading dot.
fn oid(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let digits = v.strip_prefix('.').unwrap_or(v);
    let parts: Vec<&str> = digits.split('.').collect();
    if parts.len() >= 2
        && parts.len() <= 128
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 10 && p.chars().all(|c| c.is_ascii_digit()))
    {
        Ok(digits.to_owned())
    } else {
        Err(FieldError::new(
            field,
            format!("{v:?} is not a numeric OID (e.g. 1.3.6.1.2.1.1.3.0)"),
        ))
    }
}

/// A Zabbix item key: a name of letters, digits, `_`, `-` and `.`, optionally followed by
/// parameters in brackets (`vfs.fs.size[/,pfree]`); at most 255 characters.
fn zabbix_key(field: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let (name, params) = match v.find('[') {
        Some(at) => (&v[..at], Some(&v[at..])),
        None => (v, None),
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let params_ok = params.is_none_or(|p| p.len() >= 2 && p.ends_with(']'));
    if v.len() <= 255 && name_ok && params_ok && !v.chars().any(char::is_control) {
        Ok(v.to_owned())
    } else {
        Err(FieldError::new(
            field,
            format!("{v:?} is not a Zabbix item key (e.g. system.cpu.load[all,avg1])"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(probe: ProbeSpec) -> CheckDefinitionInput {
        CheckDefinitionInput {
            name: " SSH ".to_owned(),
            probe,
            interval_s: 60,
            retry_interval_s: 30,
            timeout_s: 10,
            max_attempts: 3,
            warning: String::new(),
            critical: String::new(),
            notifications_enabled: true,
            entity_id: 1,
        }
    }

    fn tcp(port: u32) -> ProbeSpec {
        ProbeSpec::Tcp {
            host: String::new(),
            port,
            send: String::new(),
            expect: "SSH-".to_owned(),
        }
    }

    /// The field names of the errors, or `ok`.
    fn check(input: CheckDefinitionInput, expect: &[&str]) {
        let fields: Vec<String> = match check_definition(input) {
            Ok(_) => vec!["ok".to_owned()],
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        };
        assert_eq!(fields, expect);
    }

    #[test]
    fn a_valid_definition_is_normalised() {
        let def = check_definition(CheckDefinitionInput {
            warning: "0:100".to_owned(),
            critical: " 200 ".to_owned(),
            ..input(tcp(22))
        })
        .expect("valid");
        assert_eq!(def.name, "SSH");
        assert_eq!(def.probe, tcp(22));
        assert_eq!(def.probe.kind(), "tcp");
        assert_eq!(
            (def.interval_s, def.retry_interval_s, def.timeout_s),
            (60, 30, 10)
        );
        assert_eq!(def.interval_ms(Interval::Normal), 60_000);
        assert_eq!(def.interval_ms(Interval::Retry), 30_000);
        assert_eq!(def.timeout_ms(), 10_000);
        let shown = |r: Option<_>| r.map(|r: super::super::range::Range| r.to_string());
        assert_eq!(shown(def.thresholds.warning).as_deref(), Some("100"));
        assert_eq!(shown(def.thresholds.critical).as_deref(), Some("200"));
    }

    #[test]
    fn scheduling_bounds() {
        let table: &[(i64, i64, i64, i64, &[&str])] = &[
            (10, 10, 1, 1, &["ok"]),
            (86_400, 86_400, 300, 10, &["ok"]),
            (9, 10, 1, 1, &["interval"]),
            (86_401, 60, 10, 3, &["interval"]),
            (-60, 30, 10, 3, &["interval"]),
            (60, 9, 10, 3, &["retry_interval"]),
            (60, 61, 10, 3, &["retry_interval"]),
            (60, 30, 0, 3, &["timeout"]),
            (60, 30, 301, 3, &["timeout"]),
            (60, 30, 60, 3, &["timeout"]),
            (10, 10, 10, 3, &["timeout"]),
            (60, 30, 10, 0, &["max_attempts"]),
            (60, 30, 10, 11, &["max_attempts"]),
            // An interval out of range is reported once, without a comparison against it.
            (5, 30, 30, 3, &["interval"]),
            (
                0,
                0,
                0,
                0,
                &["interval", "retry_interval", "timeout", "max_attempts"],
            ),
        ];
        for &(interval_s, retry_interval_s, timeout_s, max_attempts, expect) in table {
            check(
                CheckDefinitionInput {
                    interval_s,
                    retry_interval_s,
                    timeout_s,
                    max_attempts,
                    ..input(tcp(22))
                },
                expect,
            );
        }
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let errors = check_definition(CheckDefinitionInput {
            interval_s: 60,
            retry_interval_s: 120,
            timeout_s: 60,
            warning: "10:5".to_owned(),
            ..input(tcp(0))
        })
        .expect_err("invalid");
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "probe.port: must be between 1 and 65535",
                "retry_interval: must not be longer than the interval (60 s)",
                "timeout: must be shorter than the interval (60 s)",
                "warning: is not a threshold range: \"10:5\": the start is greater than the end",
            ]
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        check(
            CheckDefinitionInput {
                name: String::new(),
                interval_s: 1,
                max_attempts: 99,
                warning: "abc".to_owned(),
                critical: "~".to_owned(),
                ..input(ProbeSpec::Http {
                    url: "ftp://example.com".to_owned(),
                    expect_status: Some(700),
                    contains: String::new(),
                })
            },
            &[
                "name",
                "probe.expect_status",
                "probe.url",
                "interval",
                "max_attempts",
                "warning",
                "critical",
            ],
        );
    }

    #[test]
    fn probes() {
        let s = |v: &str| v.to_owned();
        let table: Vec<(ProbeSpec, &[&str])> = vec![
            (tcp(1), &["ok"]),
            (tcp(65_535), &["ok"]),
            (tcp(65_536), &["probe.port"]),
            (
                ProbeSpec::Tcp {
                    host: s("db 1"),
                    port: 5432,
                    send: s("PING"),
                    expect: String::new(),
                },
                &["probe.host"],
            ),
            (
                ProbeSpec::Ping {
                    host: s("10.0.0.1"),
                    count: 5,
                },
                &["ok"],
            ),
            (
                ProbeSpec::Ping {
                    host: s("Web-1.example.com."),
                    count: 0,
                },
                &["probe.count"],
            ),
            (
                ProbeSpec::Http {
                    url: s("HTTPS://intranet.example.com/health?x=1"),
                    expect_status: Some(200),
                    contains: s("ok"),
                },
                &["ok"],
            ),
            (
                ProbeSpec::Http {
                    url: s("https:///path"),
                    expect_status: None,
                    contains: String::new(),
                },
                &["probe.url"],
            ),
            (
                ProbeSpec::Http {
                    url: s("http://exa mple.com/"),
                    expect_status: None,
                    contains: String::new(),
                },
                &["probe.url"],
            ),
            (
                ProbeSpec::Dns {
                    server: String::new(),
                    name: s("example.com"),
                    record_type: s("mx"),
                    expect: String::new(),
                },
                &["ok"],
            ),
            (
                ProbeSpec::Dns {
                    server: s("not a server"),
                    name: String::new(),
                    record_type: s("ANY"),
                    expect: String::new(),
                },
                &["probe.record_type", "probe.server", "probe.name"],
            ),
            (
                ProbeSpec::Snmp {
                    host: String::new(),
                    port: 161,
                    credential: s("switches"),
                    mode: s("get"),
                    oid: s(".1.3.6.1.2.1.2.2.1.8"),
                    items: vec![],
                },
                &["ok"],
            ),
            (
                ProbeSpec::Snmp {
                    host: String::new(),
                    port: 161,
                    credential: s("switches"),
                    mode: s("interfaces"),
                    oid: String::new(),
                    items: vec![s("eth0"), s(" eth1 ")],
                },
                &["ok"],
            ),
            (
                ProbeSpec::Snmp {
                    host: String::new(),
                    port: 161,
                    credential: String::new(),
                    mode: s("uptime"),
                    oid: s("1.3.6.1.2.1.1.3.0"),
                    items: vec![s("eth0")],
                },
                &["probe.oid", "probe.items"],
            ),
            (
                ProbeSpec::Snmp {
                    host: String::new(),
                    port: 161,
                    credential: String::new(),
                    mode: s("walk"),
                    oid: String::new(),
                    items: vec![s("eth0"), s("eth0")],
                },
                &["probe.mode", "probe.items"],
            ),
            (
                ProbeSpec::Snmp {
                    host: String::new(),
                    port: 0,
                    credential: String::new(),
                    mode: String::new(),
                    oid: s("ifOperStatus"),
                    items: vec![],
                },
                &["probe.port", "probe.oid"],
            ),
            (
                ProbeSpec::Plugin {
                    path: s("/usr/lib/nagios/plugins/check_disk"),
                    arguments: vec![s("-w"), s("20%")],
                },
                &["ok"],
            ),
            (
                ProbeSpec::Plugin {
                    path: s("check_disk"),
                    arguments: vec![s("a\nb")],
                },
                &["probe.path", "probe.arguments"],
            ),
            (
                ProbeSpec::Prometheus {
                    url: s("http://prometheus:9090"),
                    selector: s("up{job=\"node\"}"),
                },
                &["ok"],
            ),
            (
                ProbeSpec::Prometheus {
                    url: s("prometheus:9090"),
                    selector: String::new(),
                },
                &["probe.url", "probe.selector"],
            ),
            (
                ProbeSpec::Database {
                    engine: s("Postgres"),
                    host: String::new(),
                    port: 5432,
                    database: s("app"),
                    user: s("monitor"),
                    credential: s("db-monitor"),
                    query: s("select 1"),
                },
                &["ok"],
            ),
            (
                ProbeSpec::Database {
                    engine: s("oracle"),
                    host: String::new(),
                    port: 70_000,
                    database: String::new(),
                    user: String::new(),
                    credential: String::new(),
                    query: String::new(),
                },
                &["probe.engine", "probe.port", "probe.database"],
            ),
            (
                ProbeSpec::Prometheus {
                    url: s("http://node:9100/metrics"),
                    selector: s("node_load1{"),
                },
                &["probe.selector"],
            ),
            (
                ProbeSpec::Zabbix {
                    host: s("db1.example.com"),
                    port: 10050,
                    key: s("vfs.fs.size[/,pfree]"),
                },
                &["ok"],
            ),
            (
                ProbeSpec::Zabbix {
                    host: String::new(),
                    port: 10050,
                    key: s("bad key[x"),
                },
                &["probe.key"],
            ),
            (ProbeSpec::Heartbeat { grace_s: 300 }, &["ok"]),
            (ProbeSpec::Heartbeat { grace_s: 100_000 }, &["probe.grace"]),
        ];
        for (probe, expect) in table {
            check(input(probe), expect);
        }
    }

    #[test]
    fn probe_parameters_are_normalised() {
        let def = check_definition(input(ProbeSpec::Dns {
            server: s(" 2001:DB8::1 "),
            name: s("Example.COM"),
            record_type: s(" aaaa "),
            expect: String::new(),
        }))
        .expect("valid");
        assert_eq!(
            def.probe,
            ProbeSpec::Dns {
                server: s("2001:db8::1"),
                name: s("example.com"),
                record_type: s("AAAA"),
                expect: String::new(),
            }
        );

        fn s(v: &str) -> String {
            v.to_owned()
        }
    }
}
