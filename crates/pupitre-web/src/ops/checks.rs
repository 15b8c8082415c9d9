//! Supervision: checks attached to assets, "check now", acknowledgements, downtimes,
//! heartbeats, the problems list and the tactical overview.
//!
//! A check's entity decides who sees it (monitoring=read) and who changes it
//! (monitoring=edit); attaching one to an asset also needs inventory=read on the asset.

use std::path::PathBuf;
use std::time::Duration;

use pupitre_core::audit::AuditEvent;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{CheckId, Downtime, MAX_RECURRING_MINUTES, Recurrence};
use pupitre_core::monitoring::definition::{CheckDefinitionInput, ProbeSpec, check_definition};
use pupitre_core::monitoring::status::Acknowledgement;
use pupitre_core::permission::{Domain, Level};
use pupitre_monitor::RunReport;
use pupitre_probe::plugin::PluginCheck;
use pupitre_store::Page;
use pupitre_store::monitoring::{CheckFilter, CheckRecord, Heartbeat, NewCheck, StateCount};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, random_hex, sha256_hex};
use crate::error::AppError;
use crate::ops::PageParams;
use crate::state::{AppState, now_ms};

/// A probe and its parameters, tagged by `kind`. A `host` left empty means the asset's
/// management IP (else its host name).
///
/// The store has its own serde form of a probe (`StoredProbe`) on purpose: this one is the API,
/// with defaults and documentation, and may grow; the stored JSON must stay readable.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProbeFields {
    /// ICMP echo (TCP reachability when ICMP is not permitted); thresholds on the RTT in ms.
    Ping {
        #[serde(default)]
        host: String,
        #[serde(default = "five")]
        count: u32,
    },
    /// A TCP connection, optionally sending a line and expecting a reply containing a text;
    /// thresholds on the response time in seconds.
    Tcp {
        #[serde(default)]
        host: String,
        port: u32,
        #[serde(default)]
        send: String,
        #[serde(default)]
        expect: String,
    },
    /// An HTTP(S) request; thresholds on the response time in seconds.
    Http {
        url: String,
        #[serde(default)]
        expect_status: Option<u32>,
        #[serde(default)]
        contains: String,
    },
    /// A DNS query; thresholds on the response time in seconds.
    Dns {
        #[serde(default)]
        server: String,
        name: String,
        #[serde(default = "record_a")]
        record_type: String,
        #[serde(default)]
        expect: String,
    },
    /// An SNMP check, authenticated by a stored credential (empty: v2c community `public`).
    /// `mode`: `get` (the value of `oid`, thresholds on it), `interfaces` (every admin-up
    /// interface must be up; bit and error rates between runs), `storage` (hrStorage; thresholds
    /// on each area's used %), `uptime` (sysUpTime in seconds; a restart warns). `items` names
    /// the interfaces or storage areas to look at (all when empty).
    Snmp {
        #[serde(default)]
        host: String,
        #[serde(default = "snmp_port")]
        port: u32,
        #[serde(default)]
        credential: String,
        #[serde(default = "snmp_get")]
        mode: String,
        #[serde(default)]
        oid: String,
        #[serde(default)]
        items: Vec<String>,
    },
    /// A Nagios-compatible plugin: an absolute path and its arguments (macros `$HOSTADDRESS$`,
    /// `$HOSTNAME$`).
    Plugin {
        path: String,
        #[serde(default)]
        arguments: Vec<String>,
    },
    /// A Prometheus exporter scrape; thresholds on the one series `selector` picks.
    Prometheus { url: String, selector: String },
    /// A database connection and query; thresholds on the first column of the first row.
    Database {
        engine: String,
        #[serde(default)]
        host: String,
        port: u32,
        database: String,
        #[serde(default)]
        user: String,
        #[serde(default)]
        credential: String,
        #[serde(default)]
        query: String,
    },
    /// A Zabbix agent passive check of an item key; thresholds on its value.
    Zabbix {
        #[serde(default)]
        host: String,
        #[serde(default = "zabbix_port")]
        port: u32,
        key: String,
    },
    /// A heartbeat URL that something calls at least once per interval (plus `grace_s`).
    Heartbeat {
        #[serde(default)]
        grace_s: u32,
    },
    /// What the host's Pupitre agent reports: thresholds on the latest value of the one
    /// series `selector` picks; without a selector, the agent's last contact.
    Agent {
        #[serde(default)]
        selector: String,
        #[serde(default = "agent_max_age")]
        max_age_s: u32,
    },
    /// A Nagios plugin the host's agent runs, named in the host's allowlist (NRPE's
    /// `command[name]=…`); `arguments` fill its `$ARGn$` where the allowlist accepts them.
    AgentPlugin {
        plugin: String,
        #[serde(default)]
        arguments: Vec<String>,
    },
}

fn agent_max_age() -> u32 {
    120
}

fn five() -> u32 {
    5
}
fn record_a() -> String {
    "A".to_owned()
}
fn snmp_port() -> u32 {
    161
}
fn snmp_get() -> String {
    "get".to_owned()
}
fn zabbix_port() -> u32 {
    10050
}

impl From<ProbeFields> for ProbeSpec {
    fn from(f: ProbeFields) -> ProbeSpec {
        match f {
            ProbeFields::Ping { host, count } => ProbeSpec::Ping { host, count },
            ProbeFields::Tcp {
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
            ProbeFields::Http {
                url,
                expect_status,
                contains,
            } => ProbeSpec::Http {
                url,
                expect_status,
                contains,
            },
            ProbeFields::Dns {
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
            ProbeFields::Snmp {
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
            ProbeFields::Plugin { path, arguments } => ProbeSpec::Plugin { path, arguments },
            ProbeFields::Prometheus { url, selector } => ProbeSpec::Prometheus { url, selector },
            ProbeFields::Database {
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
            ProbeFields::Zabbix { host, port, key } => ProbeSpec::Zabbix { host, port, key },
            ProbeFields::Heartbeat { grace_s } => ProbeSpec::Heartbeat { grace_s },
            ProbeFields::Agent {
                selector,
                max_age_s,
            } => ProbeSpec::Agent {
                selector,
                max_age_s,
            },
            ProbeFields::AgentPlugin { plugin, arguments } => {
                ProbeSpec::AgentPlugin { plugin, arguments }
            }
        }
    }
}

impl From<&ProbeSpec> for ProbeFields {
    fn from(spec: &ProbeSpec) -> ProbeFields {
        match spec.clone() {
            ProbeSpec::Ping { host, count } => ProbeFields::Ping { host, count },
            ProbeSpec::Tcp {
                host,
                port,
                send,
                expect,
            } => ProbeFields::Tcp {
                host,
                port,
                send,
                expect,
            },
            ProbeSpec::Http {
                url,
                expect_status,
                contains,
            } => ProbeFields::Http {
                url,
                expect_status,
                contains,
            },
            ProbeSpec::Dns {
                server,
                name,
                record_type,
                expect,
            } => ProbeFields::Dns {
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
            } => ProbeFields::Snmp {
                host,
                port,
                credential,
                mode,
                oid,
                items,
            },
            ProbeSpec::Plugin { path, arguments } => ProbeFields::Plugin { path, arguments },
            ProbeSpec::Prometheus { url, selector } => ProbeFields::Prometheus { url, selector },
            ProbeSpec::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            } => ProbeFields::Database {
                engine,
                host,
                port,
                database,
                user,
                credential,
                query,
            },
            ProbeSpec::Zabbix { host, port, key } => ProbeFields::Zabbix { host, port, key },
            ProbeSpec::Heartbeat { grace_s } => ProbeFields::Heartbeat { grace_s },
            ProbeSpec::Agent {
                selector,
                max_age_s,
            } => ProbeFields::Agent {
                selector,
                max_age_s,
            },
            ProbeSpec::AgentPlugin { plugin, arguments } => {
                ProbeFields::AgentPlugin { plugin, arguments }
            }
        }
    }
}

/// A check as written: the body of a create and of a replace (`PUT`).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckFields {
    pub asset_id: i64,
    /// Defaults to the asset's entity.
    #[serde(default)]
    pub entity_id: Option<i64>,
    pub name: String,
    pub probe: ProbeFields,
    /// Seconds between runs (10 to 86400; default 60).
    #[serde(default = "sixty")]
    pub interval: i64,
    /// Seconds between runs while a problem is confirmed (default: the interval, at most 60).
    #[serde(default)]
    pub retry_interval: Option<i64>,
    /// Seconds a run may take (1 to 300, under the interval; default 10).
    #[serde(default = "ten")]
    pub timeout: i64,
    /// Problems in a row that make a hard state (1 to 10; default 3).
    #[serde(default = "three")]
    pub max_attempts: i64,
    /// Nagios range (`10`, `10:`, `~:80`, `@10:20`); empty for none.
    #[serde(default)]
    pub warning: String,
    #[serde(default)]
    pub critical: String,
    #[serde(default = "yes")]
    pub notifications: bool,
    /// This check's state is the asset's host state (UP/DOWN/UNREACHABLE); one per asset.
    #[serde(default)]
    pub host_check: bool,
}

// Defaults of check fields, shared with template checks.
pub(crate) fn sixty() -> i64 {
    60
}
pub(crate) fn ten() -> i64 {
    10
}
pub(crate) fn three() -> i64 {
    3
}
pub(crate) fn yes() -> bool {
    true
}

/// A check created, with its heartbeat URL's secret when it is a heartbeat (shown once).
pub struct Created {
    pub record: CheckRecord,
    pub heartbeat_token: Option<String>,
}

/// Validates `f` into a definition, checks the caller's rights on the asset and the target
/// entity, and what can only be checked on this machine (a plugin exists and is executable).
async fn definition(
    st: &AppState,
    caller: &Caller,
    f: CheckFields,
) -> Result<pupitre_core::monitoring::definition::CheckDefinition, AppError> {
    let asset = crate::ops::assets::get(st, caller, f.asset_id, Level::Read)
        .await
        .map_err(|e| match e.status() {
            axum::http::StatusCode::NOT_FOUND => {
                AppError::invalid("asset_id", format!("asset {} does not exist", f.asset_id))
            }
            _ => e,
        })?;
    let entity_id = f.entity_id.unwrap_or(asset.entity_id);
    caller.target_entity(Domain::Monitoring, Level::Edit, entity_id, "entity_id")?;
    let probe = ProbeSpec::from(f.probe);
    let definition = check_definition(CheckDefinitionInput {
        name: f.name,
        probe,
        interval_s: f.interval,
        retry_interval_s: f.retry_interval.unwrap_or(f.interval.min(60)),
        timeout_s: f.timeout,
        max_attempts: f.max_attempts,
        warning: f.warning,
        critical: f.critical,
        notifications_enabled: f.notifications,
        entity_id,
    })
    .map_err(AppError::from_field_errors)?;
    if let ProbeSpec::Plugin { path, arguments } = &definition.probe {
        validate_plugin(path, arguments, definition.timeout_s)
            .map_err(|(field, message)| AppError::invalid(field, message))?;
    }
    crate::ops::credentials::check_reference(
        st,
        caller,
        &definition.probe,
        definition.entity_id,
        "probe.credential",
    )
    .await?;
    Ok(definition)
}

/// What only this machine can tell about a plugin: that it exists and is executable, and that
/// its macros are known. The error is (field, message).
pub(crate) fn validate_plugin(
    path: &str,
    arguments: &[String],
    timeout_s: u32,
) -> Result<(), (String, String)> {
    let plugin = PluginCheck {
        plugin: PathBuf::from(path),
        arguments: arguments.to_vec(),
        timeout: Duration::from_secs(u64::from(timeout_s)),
    };
    plugin
        .validate()
        .map_err(|e| (format!("probe.{}", e.field()), e.to_string()))
}

pub async fn create(st: &AppState, caller: &Caller, f: CheckFields) -> Result<Created, AppError> {
    let asset_id = f.asset_id;
    let host_check = f.host_check;
    let definition = definition(st, caller, f).await?;
    let heartbeat_token = matches!(definition.probe, ProbeSpec::Heartbeat { .. })
        .then(|| format!("hb_{}", random_hex(24)));
    let record = st
        .store
        .create_check(
            &caller.actor(),
            &NewCheck {
                asset_id,
                definition,
                host_check,
                heartbeat_hash: heartbeat_token.as_deref().map(sha256_hex),
            },
        )
        .await
        .map_err(|e| AppError::from_store("check", e))?;
    st.engine_changed(pupitre_monitor::Changed::Checks(&[record.check.id]))
        .await;
    Ok(Created {
        record,
        heartbeat_token,
    })
}

pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: CheckId,
    level: Level,
) -> Result<CheckRecord, AppError> {
    let record = st
        .store
        .get_check(id)
        .await
        .map_err(|e| AppError::from_store("check", e))?;
    caller.check(
        Domain::Monitoring,
        level,
        record.check.definition.entity_id,
        "check",
    )?;
    Ok(record)
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: CheckId,
    f: CheckFields,
) -> Result<CheckRecord, AppError> {
    let current = get(st, caller, id, Level::Edit).await?;
    if f.asset_id != current.check.asset_id {
        return Err(AppError::invalid(
            "asset_id",
            "a check cannot move to another asset; create one there",
        ));
    }
    let host_check = f.host_check;
    let definition = definition(st, caller, f).await?;
    let record = st
        .store
        .update_check(&caller.actor(), id, &definition, host_check)
        .await
        .map_err(|e| AppError::from_store("check", e))?;
    st.engine_changed(pupitre_monitor::Changed::Checks(&[id]))
        .await;
    Ok(record)
}

pub async fn delete(st: &AppState, caller: &Caller, id: CheckId) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    st.store
        .delete_check(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("check", e))?;
    st.engine_changed(pupitre_monitor::Changed::Checks(&[id]))
        .await;
    Ok(())
}

/// Filters of the check list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckListParams {
    pub asset_id: Option<i64>,
    /// `ok`, `warning`, `critical` or `unknown`; several separated by commas.
    pub state: Option<String>,
    /// `ping`, `tcp`, `http`, … (the probe kind).
    pub probe: Option<String>,
    /// Part of the check's or the asset's name.
    pub q: Option<String>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

fn states(text: Option<&str>) -> Result<Vec<State>, AppError> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            State::from_key(&s.to_lowercase()).ok_or_else(|| {
                AppError::invalid(
                    "state",
                    format!("{s:?} is not a state (ok, warning, critical, unknown)"),
                )
            })
        })
        .collect()
}

pub async fn list(
    st: &AppState,
    caller: &Caller,
    p: &CheckListParams,
) -> Result<(Vec<CheckRecord>, Option<String>), AppError> {
    let probe_kind = match p.probe.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) if pupitre_monitor::figures::KINDS.contains(&k) => Some(k.to_owned()),
        Some(k) => {
            return Err(AppError::invalid(
                "probe",
                format!(
                    "{k:?} is not a probe kind ({})",
                    pupitre_monitor::figures::KINDS.join(", ")
                ),
            ));
        }
        None => None,
    };
    let filter = CheckFilter {
        visible: caller.visible(Domain::Monitoring),
        asset_id: p.asset_id,
        states: states(p.state.as_deref())?,
        problems: false,
        probe_kind,
        query: p.q.as_ref().map(|q| q.trim().to_owned()),
    };
    let page = p.page.page()?;
    let checks = st.store.list_checks(&filter, page).await?;
    let next = crate::ops::next_cursor(&checks, page.limit, |c| c.check.id);
    Ok((checks, next))
}

/// Everything not OK the caller may see, worst first: hard before soft, then CRITICAL, UNKNOWN,
/// WARNING, then the longest-standing first. Acknowledged problems and those in downtime come
/// with their flags (pages dim them); they keep their place in the order.
pub async fn problems(st: &AppState, caller: &Caller) -> Result<Vec<Problem>, AppError> {
    let now = now_ms();
    let filter = CheckFilter {
        visible: caller.visible(Domain::Monitoring),
        problems: true,
        ..CheckFilter::default()
    };
    let checks = st
        .store
        .list_checks(
            &filter,
            Page {
                after: None,
                limit: 100_000,
            },
        )
        .await?;
    let downtimes = st.store.current_downtimes(now).await?;
    let mut problems: Vec<Problem> = checks
        .into_iter()
        .map(|record| {
            let in_downtime = downtimes
                .iter()
                .any(|d| d.applies_to(record.check.id, record.check.asset_id) && d.covers(now));
            let acknowledged = record.status.is_acknowledged(now);
            Problem {
                record,
                in_downtime,
                acknowledged,
            }
        })
        .collect();
    problems.sort_by_key(|p| {
        let s = &p.record.status;
        (
            !s.hard,
            std::cmp::Reverse(s.state.severity()),
            s.last_change_at.unwrap_or(i64::MAX),
            p.record.check.id,
        )
    });
    Ok(problems)
}

pub struct Problem {
    pub record: CheckRecord,
    pub in_downtime: bool,
    pub acknowledged: bool,
}

/// Runs the check at once and waits for its result (up to its timeout and a margin).
pub async fn run_now(st: &AppState, caller: &Caller, id: CheckId) -> Result<RunReport, AppError> {
    let record = get(st, caller, id, Level::Operate).await?;
    let Some(engine) = &st.engine else {
        return Err(AppError::conflict(
            "the supervision engine does not run in this server",
        ));
    };
    let d = &record.check.definition;
    st.store
        .record_event(
            &caller.actor(),
            &AuditEvent {
                action: "check.run".to_owned(),
                object_type: "check".to_owned(),
                object_id: Some(id),
                object_label: d.name.clone(),
                entity_id: Some(d.entity_id),
                changes: Vec::new(),
            },
        )
        .await?;
    let wait = Duration::from_secs(u64::from(d.timeout_s) + 15);
    if let Some(report) = engine.run_now(id, wait).await {
        return Ok(report);
    }
    // A check created by another server: read the checks again, and try once more.
    engine.reload().await;
    engine
        .run_now(id, wait)
        .await
        .ok_or_else(|| AppError::conflict("the check did not report within its timeout"))
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckFields {
    pub comment: String,
    /// The acknowledgement lapses after this many minutes (none: until the recovery).
    #[serde(default)]
    pub expires_in_minutes: Option<i64>,
}

pub async fn acknowledge(
    st: &AppState,
    caller: &Caller,
    id: CheckId,
    f: AckFields,
) -> Result<CheckRecord, AppError> {
    let mut record = get(st, caller, id, Level::Operate).await?;
    let comment = pupitre_core::validate::text("comment", &f.comment, 1, 2000)
        .map_err(AppError::from_field_error)?;
    let now = now_ms();
    let expires_at = match f.expires_in_minutes {
        None => None,
        Some(m) if (1..=60 * 24 * 365).contains(&m) => Some(now + m * 60_000),
        Some(_) => {
            return Err(AppError::invalid(
                "expires_in_minutes",
                "must be between 1 and 525600 (a year)",
            ));
        }
    };
    let ack = Acknowledgement {
        author: caller.user.login.clone(),
        comment,
        expires_at,
    };
    record
        .status
        .acknowledge(ack.clone(), now)
        .map_err(|e| AppError::conflict(e.to_string()))?;
    st.store
        .acknowledge(&caller.actor(), id, &ack, record.status.state)
        .await
        .map_err(|e| AppError::from_store("check", e))?;
    st.engine_changed(pupitre_monitor::Changed::Checks(&[id]))
        .await;
    get(st, caller, id, Level::Read).await
}

pub async fn unacknowledge(st: &AppState, caller: &Caller, id: CheckId) -> Result<(), AppError> {
    let record = get(st, caller, id, Level::Operate).await?;
    st.store
        .remove_acknowledgement(&caller.actor(), id, record.status.state)
        .await
        .map_err(|e| AppError::from_store("check", e))?;
    st.engine_changed(pupitre_monitor::Changed::Checks(&[id]))
        .await;
    Ok(())
}

pub async fn events(
    st: &AppState,
    caller: &Caller,
    id: CheckId,
    p: &PageParams,
) -> Result<Vec<pupitre_core::monitoring::check::CheckEvent>, AppError> {
    get(st, caller, id, Level::Read).await?;
    Ok(st.store.list_events(id, p.page()?).await?)
}

/// A downtime as written. Exactly one of `asset_id` and `check_id`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DowntimeFields {
    #[serde(default)]
    pub asset_id: Option<i64>,
    #[serde(default)]
    pub check_id: Option<i64>,
    /// RFC 3339 (`2026-12-01T22:00:00Z`).
    pub starts_at: String,
    pub ends_at: String,
    /// Repeat weekly within `starts_at`..`ends_at` on these days (`mon`…`sun`).
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// With `weekdays`: the window's start, `HH:MM` in `time_zone`, and its length in minutes.
    #[serde(default)]
    pub start_time: Option<String>,
    /// The IANA time zone of `weekdays` and `start_time` (`Europe/Paris`); default: your own.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub duration_minutes: Option<u32>,
    pub comment: String,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn timestamp(field: &str, text: &str) -> Result<i64, AppError> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            AppError::invalid(
                field,
                format!("{text:?} is not an RFC 3339 time (2026-12-01T22:00:00Z)"),
            )
        })
}

pub async fn create_downtime(
    st: &AppState,
    caller: &Caller,
    f: DowntimeFields,
) -> Result<Downtime, AppError> {
    let entity_id = match (f.asset_id, f.check_id) {
        (Some(asset), None) => {
            let asset = crate::ops::assets::get(st, caller, asset, Level::Read)
                .await
                .map_err(|_| {
                    AppError::invalid("asset_id", format!("asset {asset} does not exist"))
                })?;
            caller.target_entity(
                Domain::Monitoring,
                Level::Operate,
                asset.entity_id,
                "asset_id",
            )?;
            asset.entity_id
        }
        (None, Some(check)) => {
            let record = get(st, caller, check, Level::Operate).await.map_err(|e| {
                if e.status() == axum::http::StatusCode::NOT_FOUND {
                    AppError::invalid("check_id", format!("check {check} does not exist"))
                } else {
                    e
                }
            })?;
            record.check.definition.entity_id
        }
        _ => {
            return Err(AppError::invalid(
                "asset_id",
                "give exactly one of asset_id and check_id",
            ));
        }
    };
    let starts_at = timestamp("starts_at", &f.starts_at)?;
    let ends_at = timestamp("ends_at", &f.ends_at)?;
    if ends_at <= starts_at {
        return Err(AppError::invalid("ends_at", "must be after starts_at"));
    }
    let comment = pupitre_core::validate::text("comment", &f.comment, 1, 2000)
        .map_err(AppError::from_field_error)?;
    let time_zone = match f.time_zone.as_deref().map(str::trim) {
        Some(zone) if !zone.is_empty() => zone.to_owned(),
        _ => caller.user.time_zone.clone(),
    };
    crate::ops::check_time_zone("time_zone", &time_zone)?;
    let time_zone = match f.time_zone.as_deref().map(str::trim) {
        Some(zone) if !zone.is_empty() => zone.to_owned(),
        _ => caller.user.time_zone.clone(),
    };
    crate::ops::check_time_zone("time_zone", &time_zone)?;
    let recurrence = if f.weekdays.is_empty() {
        if f.start_time.is_some() || f.duration_minutes.is_some() {
            return Err(AppError::invalid(
                "weekdays",
                "a recurring downtime needs its days",
            ));
        }
        None
    } else {
        let mut mask = 0u8;
        for day in &f.weekdays {
            let i = WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day.trim()))
                .ok_or_else(|| {
                    AppError::invalid(
                        "weekdays",
                        format!("{day:?} is not a day ({})", WEEKDAYS.join(", ")),
                    )
                })?;
            mask |= 1 << i;
        }
        let start = f.start_time.as_deref().unwrap_or_default();
        let start_minute = start
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .map(|(h, m)| h * 60 + m)
            .ok_or_else(|| AppError::invalid("start_time", "must be HH:MM (00:00 to 23:59)"))?;
        let duration_minutes = f
            .duration_minutes
            .filter(|d| (1..=MAX_RECURRING_MINUTES).contains(d))
            .ok_or_else(|| {
                AppError::invalid(
                    "duration_minutes",
                    format!("must be between 1 and {MAX_RECURRING_MINUTES}"),
                )
            })?;
        Some(Recurrence {
            weekdays: mask,
            start_minute,
            duration_minutes,
        })
    };
    let downtime = st
        .store
        .create_downtime(
            &caller.actor(),
            &Downtime {
                id: 0,
                entity_id,
                asset_id: f.asset_id,
                check_id: f.check_id,
                starts_at,
                ends_at,
                recurrence,
                offsets: recurrence.map_or_else(Default::default, |_| {
                    pupitre_store::zones::downtime_offsets(&time_zone, starts_at, ends_at, now_ms())
                }),
                time_zone,
                author: caller.user.login.clone(),
                comment,
            },
        )
        .await
        .map_err(|e| AppError::from_store("downtime", e))?;
    st.engine_changed(pupitre_monitor::Changed::Downtimes).await;
    Ok(downtime)
}

pub async fn list_downtimes(st: &AppState, caller: &Caller) -> Result<Vec<Downtime>, AppError> {
    Ok(st
        .store
        .list_downtimes(&caller.visible(Domain::Monitoring), now_ms())
        .await?)
}

pub async fn delete_downtime(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    let downtime = st
        .store
        .get_downtime(id)
        .await
        .map_err(|e| AppError::from_store("downtime", e))?;
    caller.check(
        Domain::Monitoring,
        Level::Operate,
        downtime.entity_id,
        "downtime",
    )?;
    st.store
        .delete_downtime(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("downtime", e))?;
    st.engine_changed(pupitre_monitor::Changed::Downtimes).await;
    Ok(())
}

/// A call of a heartbeat URL: the secret is the credential. `status` is a state key or an
/// exit code (0–3); `message` is kept (at most 1,000 characters).
pub async fn heartbeat(
    st: &AppState,
    token: &str,
    status: Option<&str>,
    message: Option<&str>,
) -> Result<(), AppError> {
    let state = match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            State::from_key(&s.to_lowercase())
                .or_else(|| {
                    s.parse::<i32>()
                        .ok()
                        .filter(|c| (0..=3).contains(c))
                        .map(State::from_exit_code)
                })
                .ok_or_else(|| {
                    AppError::invalid(
                        "status",
                        format!("{s:?} is not a state (ok, warning, critical, unknown or 0 to 3)"),
                    )
                })?,
        ),
    };
    let message: String = message
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(1000)
        .collect();
    let beat = Heartbeat {
        at: now_ms(),
        state,
        message,
    };
    let id = st
        .store
        .record_heartbeat(&sha256_hex(token), &beat)
        .await?
        .ok_or_else(|| AppError::not_found("heartbeat"))?;
    if let Some(engine) = &st.engine {
        engine.heartbeat(id, beat);
    }
    Ok(())
}

pub async fn overview(st: &AppState, caller: &Caller) -> Result<Vec<StateCount>, AppError> {
    Ok(st
        .store
        .state_counts(&caller.visible(Domain::Monitoring))
        .await?)
}
