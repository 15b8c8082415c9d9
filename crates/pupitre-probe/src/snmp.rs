//! The native SNMP probes: GET of chosen OIDs with thresholds, the IF-MIB interface table,
//! HOST-RESOURCES storage usage and the agent's uptime, all sharing one [`SnmpTarget`].
//!
//! The wire protocol is async-snmp's (pinned, pure Rust: RustCrypto for USM), used only through
//! the small [`Agent`] trait at the bottom of this file, so the probes never see its types and
//! it can be swapped (snmp2 is the fallback).
//!
//! One deadline, the target's `timeout` after the run starts, bounds everything: resolving the
//! name, SNMPv3 engine discovery, every retry and every walk. Each attempt gets
//! `timeout / (retries + 1)`, so the retries fit inside the deadline.
//!
//! A probe never fails and never panics: a problem at run time (no answer, a wrong SNMPv3
//! password, an unknown user, an OID the agent does not have, a garbled answer) is an UNKNOWN
//! [`Outcome`] whose summary says what failed. Note that a SNMPv1/v2c agent does not answer a
//! wrong community at all, so that shows as "no answer".

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use async_snmp::{Auth, Client, Oid, Retry, UsmConfig};
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use tokio::time::{Instant, timeout_at};

use crate::outcome::Outcome;
use crate::secret::Secret;

/// The longest timeout an SNMP check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout an SNMP check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(10);

/// The most retries an SNMP check may have.
pub const MOST_RETRIES: u32 = 10;

/// net-snmp refuses SNMPv3 passphrases shorter than this.
pub const SHORTEST_V3_PASSWORD: usize = 8;

/// The most OIDs one [`SnmpGet`] may ask for.
pub const MOST_OIDS: usize = 64;

/// Where and how to ask: the agent's address, the SNMP version and its credentials, one
/// deadline and the number of retries.
#[derive(Clone, Debug, PartialEq)]
pub struct SnmpTarget {
    /// A name or an IP address.
    pub host: String,
    /// 161 by default.
    pub port: u16,
    pub version: SnmpVersion,
    /// Bounds the whole run of a probe.
    pub timeout: Duration,
    /// How many times a request is sent again after no answer (1 by default).
    pub retries: u32,
}

/// The SNMP version and its security parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum SnmpVersion {
    V1 { community: Secret },
    V2c { community: Secret },
    V3(V3User),
}

/// An SNMPv3 user-based-security (USM) user.
///
/// `auth_password` is set exactly when the level authenticates, `priv_password` exactly when it
/// encrypts; [`SnmpTarget::validate`] checks it.
#[derive(Clone, Debug, PartialEq)]
pub struct V3User {
    pub user: String,
    pub level: SecurityLevel,
    pub auth_protocol: AuthProtocol,
    pub auth_password: Option<Secret>,
    pub priv_protocol: PrivProtocol,
    pub priv_password: Option<Secret>,
}

impl V3User {
    /// A user that authenticates and encrypts (`authPriv`).
    pub fn auth_priv(
        user: impl Into<String>,
        auth_protocol: AuthProtocol,
        auth_password: Secret,
        priv_protocol: PrivProtocol,
        priv_password: Secret,
    ) -> V3User {
        V3User {
            user: user.into(),
            level: SecurityLevel::AuthPriv,
            auth_protocol,
            auth_password: Some(auth_password),
            priv_protocol,
            priv_password: Some(priv_password),
        }
    }

    /// A user that authenticates without encrypting (`authNoPriv`).
    pub fn auth_no_priv(
        user: impl Into<String>,
        auth_protocol: AuthProtocol,
        auth_password: Secret,
    ) -> V3User {
        V3User {
            user: user.into(),
            level: SecurityLevel::AuthNoPriv,
            auth_protocol,
            auth_password: Some(auth_password),
            priv_protocol: PrivProtocol::Aes128,
            priv_password: None,
        }
    }

    /// A user known by name only (`noAuthNoPriv`).
    pub fn no_auth_no_priv(user: impl Into<String>) -> V3User {
        V3User {
            user: user.into(),
            level: SecurityLevel::NoAuthNoPriv,
            auth_protocol: AuthProtocol::Sha256,
            auth_password: None,
            priv_protocol: PrivProtocol::Aes128,
            priv_password: None,
        }
    }
}

/// The SNMPv3 security level, named as net-snmp's `-l` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityLevel {
    NoAuthNoPriv,
    AuthNoPriv,
    AuthPriv,
}

impl fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityLevel::NoAuthNoPriv => "noAuthNoPriv",
            SecurityLevel::AuthNoPriv => "authNoPriv",
            SecurityLevel::AuthPriv => "authPriv",
        })
    }
}

/// The SNMPv3 authentication protocol (HMAC-MD5-96, HMAC-SHA-96, or RFC 7860's SHA-2 ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The SNMPv3 privacy protocol. AES-192 and AES-256 use the "Blumenthal" key extension, as
/// net-snmp does (some vendors use the "Reeder" one instead and will not interoperate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
}

impl SnmpTarget {
    /// An SNMPv2c target on port 161, with a 10 s timeout and 1 retry.
    pub fn v2c(host: impl Into<String>, community: Secret) -> SnmpTarget {
        SnmpTarget::new(host, SnmpVersion::V2c { community })
    }

    /// An SNMPv3 target on port 161, with a 10 s timeout and 1 retry.
    pub fn v3(host: impl Into<String>, user: V3User) -> SnmpTarget {
        SnmpTarget::new(host, SnmpVersion::V3(user))
    }

    /// A target on port 161, with a 10 s timeout and 1 retry.
    pub fn new(host: impl Into<String>, version: SnmpVersion) -> SnmpTarget {
        SnmpTarget {
            host: host.into(),
            port: 161,
            version,
            timeout: Duration::from_secs(10),
            retries: 1,
        }
    }

    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), SnmpCheckError> {
        if self.host.is_empty() {
            return Err(SnmpCheckError::HostEmpty);
        }
        if self.host.contains(char::is_whitespace) {
            return Err(SnmpCheckError::HostWithSpace(self.host.clone()));
        }
        if self.port == 0 {
            return Err(SnmpCheckError::PortZero);
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(SnmpCheckError::TimeoutOutOfRange(self.timeout));
        }
        if self.retries > MOST_RETRIES {
            return Err(SnmpCheckError::TooManyRetries(self.retries));
        }
        match &self.version {
            SnmpVersion::V1 { community } | SnmpVersion::V2c { community } => {
                if community.expose().is_empty() {
                    return Err(SnmpCheckError::CommunityEmpty);
                }
            }
            SnmpVersion::V3(user) => validate_user(user)?,
        }
        Ok(())
    }

    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn auth(&self) -> Result<Auth, String> {
        let user = match &self.version {
            SnmpVersion::V1 { community } => return Ok(Auth::v1(community.expose().to_owned())),
            SnmpVersion::V2c { community } => {
                return Ok(Auth::v2c(community.expose().to_owned()));
            }
            SnmpVersion::V3(user) => user,
        };
        let config = UsmConfig::new(user.user.clone().into_bytes());
        let auth_password = user.auth_password.as_ref().map_or("", Secret::expose);
        let priv_password = user.priv_password.as_ref().map_or("", Secret::expose);
        let config = match user.level {
            SecurityLevel::NoAuthNoPriv => Ok(config),
            SecurityLevel::AuthNoPriv => config.auth(user.auth_protocol.wire(), auth_password),
            SecurityLevel::AuthPriv => config.auth_priv(
                user.auth_protocol.wire(),
                auth_password,
                user.priv_protocol.wire(),
                priv_password,
            ),
        };
        config
            .map(Auth::from)
            .map_err(|error| format!("cannot derive the SNMPv3 keys of {}: {error}", user.user))
    }
}

fn validate_user(user: &V3User) -> Result<(), SnmpCheckError> {
    if user.user.is_empty() {
        return Err(SnmpCheckError::UserEmpty);
    }
    // SnmpAdminString (SIZE(1..32)), as usmUserName.
    if user.user.len() > 32 {
        return Err(SnmpCheckError::UserTooLong(user.user.len()));
    }
    let authenticates = user.level != SecurityLevel::NoAuthNoPriv;
    let encrypts = user.level == SecurityLevel::AuthPriv;
    for (field, password, needed) in [
        ("auth_password", &user.auth_password, authenticates),
        ("priv_password", &user.priv_password, encrypts),
    ] {
        match (password, needed) {
            (None, true) => {
                return Err(SnmpCheckError::PasswordMissing(field, user.level));
            }
            (Some(_), false) => return Err(SnmpCheckError::PasswordUnused(field, user.level)),
            (Some(password), true) if password.expose().chars().count() < SHORTEST_V3_PASSWORD => {
                return Err(SnmpCheckError::PasswordTooShort(field));
            }
            _ => {}
        }
    }
    Ok(())
}

impl AuthProtocol {
    fn wire(self) -> async_snmp::AuthProtocol {
        match self {
            AuthProtocol::Md5 => async_snmp::AuthProtocol::Md5,
            AuthProtocol::Sha1 => async_snmp::AuthProtocol::Sha1,
            AuthProtocol::Sha224 => async_snmp::AuthProtocol::Sha224,
            AuthProtocol::Sha256 => async_snmp::AuthProtocol::Sha256,
            AuthProtocol::Sha384 => async_snmp::AuthProtocol::Sha384,
            AuthProtocol::Sha512 => async_snmp::AuthProtocol::Sha512,
        }
    }
}

impl PrivProtocol {
    fn wire(self) -> async_snmp::PrivProtocol {
        match self {
            PrivProtocol::Des => async_snmp::PrivProtocol::Des,
            PrivProtocol::Aes128 => async_snmp::PrivProtocol::Aes128,
            PrivProtocol::Aes192 => async_snmp::PrivProtocol::Aes192Blumenthal,
            PrivProtocol::Aes256 => async_snmp::PrivProtocol::Aes256Blumenthal,
        }
    }
}

/// Why an SNMP check is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnmpCheckError {
    #[error("host: is empty")]
    HostEmpty,
    #[error("host: {0:?} contains a space")]
    HostWithSpace(String),
    #[error("port: must be 1 to 65535, not 0")]
    PortZero,
    #[error("timeout: {0:?} is out of range (10 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
    #[error("retries: {0} is more than {MOST_RETRIES}")]
    TooManyRetries(u32),
    #[error("community: is empty")]
    CommunityEmpty,
    #[error("user: is empty")]
    UserEmpty,
    #[error("user: is {0} bytes long, more than 32")]
    UserTooLong(usize),
    #[error("{0}: is needed at security level {1}")]
    PasswordMissing(&'static str, SecurityLevel),
    #[error("{0}: is set but security level {1} does not use it")]
    PasswordUnused(&'static str, SecurityLevel),
    #[error("{0}: must be at least {SHORTEST_V3_PASSWORD} characters, as net-snmp requires")]
    PasswordTooShort(&'static str),
    #[error("oids: is empty")]
    OidsEmpty,
    #[error("oids: {0} OIDs, more than {MOST_OIDS}")]
    TooManyOids(usize),
    #[error("oids: {0:?} is not a numeric OID such as 1.3.6.1.2.1.1.3.0")]
    OidInvalid(String),
    #[error("storages: {0:?} is listed twice")]
    StorageTwice(String),
    #[error("interfaces: {0:?} is listed twice")]
    InterfaceTwice(String),
}

impl SnmpCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::HostEmpty | Self::HostWithSpace(_) => "host",
            Self::PortZero => "port",
            Self::TimeoutOutOfRange(_) => "timeout",
            Self::TooManyRetries(_) => "retries",
            Self::CommunityEmpty => "community",
            Self::UserEmpty | Self::UserTooLong(_) => "user",
            Self::PasswordMissing(field, _)
            | Self::PasswordUnused(field, _)
            | Self::PasswordTooShort(field) => field,
            Self::OidsEmpty | Self::TooManyOids(_) | Self::OidInvalid(_) => "oids",
            Self::StorageTwice(_) => "storages",
            Self::InterfaceTwice(_) => "interfaces",
        }
    }
}

fn parse_oid(text: &str) -> Result<Oid, SnmpCheckError> {
    let invalid = || SnmpCheckError::OidInvalid(text.to_owned());
    let oid = Oid::parse(text.trim()).map_err(|_| invalid())?;
    if oid.len() < 2 || oid.validate().is_err() {
        return Err(invalid());
    }
    Ok(oid)
}

// ---------------------------------------------------------------------------------------------
// GET

/// One OID to read, with what to call it and the ranges its value must stay out of.
#[derive(Clone, Debug, PartialEq)]
pub struct OidCheck {
    /// Numeric, with or without a leading dot: `1.3.6.1.2.1.1.3.0`.
    pub oid: String,
    /// The perfdata label and the name in the summary; the OID when unset.
    pub name: Option<String>,
    /// Applied to numeric values (text that reads as a number counts); a non-numeric value
    /// with thresholds is UNKNOWN.
    pub thresholds: Thresholds,
}

impl OidCheck {
    pub fn new(oid: impl Into<String>) -> OidCheck {
        OidCheck {
            oid: oid.into(),
            name: None,
            thresholds: Thresholds::default(),
        }
    }

    fn label(&self) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => name.clone(),
            _ => self.oid.trim().trim_start_matches('.').to_owned(),
        }
    }
}

/// GET of a few OIDs in one request; the state is the worst of theirs.
#[derive(Clone, Debug, PartialEq)]
pub struct SnmpGet {
    pub target: SnmpTarget,
    pub oids: Vec<OidCheck>,
}

impl SnmpGet {
    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), SnmpCheckError> {
        self.target.validate()?;
        if self.oids.is_empty() {
            return Err(SnmpCheckError::OidsEmpty);
        }
        if self.oids.len() > MOST_OIDS {
            return Err(SnmpCheckError::TooManyOids(self.oids.len()));
        }
        for check in &self.oids {
            parse_oid(&check.oid)?;
        }
        Ok(())
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        if let Err(error) = self.validate() {
            return unknown(format!("invalid check: {error}"));
        }
        run_bounded(&self.target, |agent| self.look(agent))
            .await
            .unwrap_or_else(unknown)
    }

    async fn look(&self, agent: Session) -> Result<Outcome, String> {
        let oids = self
            .oids
            .iter()
            .map(|check| parse_oid(&check.oid).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let values = agent.get(&oids).await?;
        let mut state = State::Ok;
        let mut parts = Vec::new();
        let mut perfdata = Vec::new();
        for ((check, oid), value) in self.oids.iter().zip(&oids).zip(values) {
            let label = check.label();
            let (item_state, text) = match value.number() {
                _ if value.is_missing() => (State::Unknown, value.describe(oid)),
                Some(number) => {
                    let item_state = check.thresholds.evaluate(number);
                    perfdata.push(PerfDatum {
                        label: label.clone(),
                        value: Some(number),
                        uom: value.uom(),
                        warning: check.thresholds.warning,
                        critical: check.thresholds.critical,
                        min: None,
                        max: None,
                    });
                    (item_state, value.to_string())
                }
                None if check.thresholds.warning.is_some()
                    || check.thresholds.critical.is_some() =>
                {
                    (State::Unknown, format!("{value} (not a number)"))
                }
                None => (State::Ok, value.to_string()),
            };
            let mut part = format!("{label}: {text}");
            if item_state != State::Ok {
                part.push_str(&format!(" ({item_state})"));
            }
            parts.push(part);
            state = worst(state, item_state);
        }
        let mut outcome = Outcome::new(state, format!("SNMP {state} - {}", parts.join(", ")));
        outcome.perfdata = perfdata;
        Ok(outcome)
    }
}

// ---------------------------------------------------------------------------------------------
// Interfaces

const IF_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1];
const IF_X_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

/// The IF-MIB interface table: every administratively up interface must be operationally up.
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceTable {
    pub target: SnmpTarget,
    /// Interfaces to look at, by ifName (or ifDescr when the agent has no ifName); all of them
    /// when empty. A listed interface the agent does not have is UNKNOWN.
    pub interfaces: Vec<String>,
}

/// What an [`InterfaceTable`] run found: the outcome, and the raw counters for the engine to
/// turn into rates against the previous run's with [`rate`].
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceReading {
    pub outcome: Outcome,
    pub samples: Vec<CounterSample>,
}

/// One reading of one interface counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterSample {
    /// ifName, or ifDescr.
    pub interface: String,
    pub counter: InterfaceCounter,
    pub value: u64,
    /// 32 for ifInOctets and the error counters, 64 for ifHCInOctets/ifHCOutOctets.
    pub width: CounterWidth,
    /// When the answer came.
    pub at: SystemTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InterfaceCounter {
    InOctets,
    OutOctets,
    InErrors,
    OutErrors,
}

impl InterfaceCounter {
    fn key(self) -> &'static str {
        match self {
            InterfaceCounter::InOctets => "in_octets",
            InterfaceCounter::OutOctets => "out_octets",
            InterfaceCounter::InErrors => "in_errors",
            InterfaceCounter::OutErrors => "out_errors",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterWidth {
    Bits32,
    Bits64,
}

/// Counter units per second (octets per second for the octet counters: multiply by 8 for bits)
/// between two samples of the same counter.
///
/// A counter that went down wrapped once if it is 32 bits wide and the wrapped increase is under
/// half its range; otherwise (any 64-bit counter, or a huge 32-bit jump) the agent restarted or
/// the counter was reset, and there is no rate: `None`. `None` too when the samples are of
/// different interfaces, counters or widths, or when no time passed.
pub fn rate(previous: &CounterSample, current: &CounterSample) -> Option<f64> {
    if previous.interface != current.interface
        || previous.counter != current.counter
        || previous.width != current.width
    {
        return None;
    }
    let seconds = current.at.duration_since(previous.at).ok()?.as_secs_f64();
    if seconds <= 0.0 {
        return None;
    }
    let increase = if current.value >= previous.value {
        current.value - previous.value
    } else {
        match current.width {
            CounterWidth::Bits64 => return None,
            CounterWidth::Bits32 => {
                let wrapped =
                    (1u64 << 32) - previous.value.min(u64::from(u32::MAX)) + current.value;
                if wrapped >= 1u64 << 31 {
                    return None;
                }
                wrapped
            }
        }
    };
    Some(increase as f64 / seconds)
}

#[derive(Default)]
struct InterfaceRow {
    descr: Option<String>,
    name: Option<String>,
    admin: Option<i64>,
    oper: Option<i64>,
    counters: BTreeMap<InterfaceCounter, (u64, CounterWidth)>,
}

impl InterfaceRow {
    fn label(&self, index: u32) -> String {
        match (&self.name, &self.descr) {
            (Some(name), _) if !name.is_empty() => name.clone(),
            (_, Some(descr)) if !descr.is_empty() => descr.clone(),
            _ => format!("ifIndex {index}"),
        }
    }
}

fn oper_status(status: Option<i64>) -> &'static str {
    match status {
        Some(1) => "up",
        Some(2) => "down",
        Some(3) => "testing",
        Some(5) => "dormant",
        Some(6) => "notPresent",
        Some(7) => "lowerLayerDown",
        _ => "unknown",
    }
}

impl InterfaceTable {
    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), SnmpCheckError> {
        self.target.validate()?;
        for (index, name) in self.interfaces.iter().enumerate() {
            if self.interfaces[..index].contains(name) {
                return Err(SnmpCheckError::InterfaceTwice(name.clone()));
            }
        }
        Ok(())
    }

    /// Runs the check once, for its outcome only.
    pub async fn run(&self) -> Outcome {
        self.read().await.outcome
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn read(&self) -> InterfaceReading {
        if let Err(error) = self.validate() {
            return InterfaceReading {
                outcome: unknown(format!("invalid check: {error}")),
                samples: Vec::new(),
            };
        }
        run_bounded(&self.target, |agent| self.look(agent))
            .await
            .unwrap_or_else(|summary| InterfaceReading {
                outcome: unknown(summary),
                samples: Vec::new(),
            })
    }

    async fn look(&self, agent: Session) -> Result<InterfaceReading, String> {
        let mut rows: BTreeMap<u32, InterfaceRow> = BTreeMap::new();
        for (oid, value) in agent.walk(&Oid::from_slice(IF_ENTRY)).await? {
            let Some(&[column, index]) = oid.arcs().get(IF_ENTRY.len()..) else {
                continue;
            };
            let row = rows.entry(index).or_default();
            match column {
                2 => row.descr = value.text(),
                7 => row.admin = value.integer(),
                8 => row.oper = value.integer(),
                10 => row.counter(InterfaceCounter::InOctets, &value),
                14 => row.counter(InterfaceCounter::InErrors, &value),
                16 => row.counter(InterfaceCounter::OutOctets, &value),
                20 => row.counter(InterfaceCounter::OutErrors, &value),
                _ => {}
            }
        }
        // SNMPv1 has no Counter64, so no ifHC*; agents without ifXTable keep the 32-bit ones.
        if !matches!(agent.version, SnmpVersion::V1 { .. }) {
            for (oid, value) in agent.walk(&Oid::from_slice(IF_X_ENTRY)).await? {
                let Some(&[column, index]) = oid.arcs().get(IF_X_ENTRY.len()..) else {
                    continue;
                };
                let Some(row) = rows.get_mut(&index) else {
                    continue;
                };
                match column {
                    1 => row.name = value.text(),
                    6 => row.counter(InterfaceCounter::InOctets, &value),
                    10 => row.counter(InterfaceCounter::OutOctets, &value),
                    _ => {}
                }
            }
        }
        let at = SystemTime::now();
        if rows.is_empty() {
            return Err(format!("{} has no interface table", agent.address));
        }

        let labelled = rows
            .iter()
            .map(|(index, row)| (row.label(*index), row))
            .collect::<Vec<_>>();
        let mut state = State::Ok;
        let mut problems = Vec::new();
        for wanted in &self.interfaces {
            if !labelled.iter().any(|(label, _)| label == wanted) {
                state = worst(state, State::Unknown);
                problems.push(format!("interface {wanted} not found"));
            }
        }
        let mut samples = Vec::new();
        let mut perfdata = Vec::new();
        let mut lines = Vec::new();
        let mut looked = 0;
        for (label, row) in &labelled {
            if !self.interfaces.is_empty() && !self.interfaces.contains(label) {
                continue;
            }
            looked += 1;
            let admin_up = row.admin == Some(1);
            let oper = oper_status(row.oper);
            if admin_up && !matches!(oper, "up" | "dormant") {
                state = worst(state, State::Critical);
                problems.push(format!("{label} is {oper} (admin up)"));
            }
            lines.push(format!(
                "{label}: admin {}, oper {oper}",
                if admin_up { "up" } else { "down" }
            ));
            for (&counter, &(value, width)) in &row.counters {
                samples.push(CounterSample {
                    interface: label.clone(),
                    counter,
                    value,
                    width,
                    at,
                });
                perfdata.push(PerfDatum {
                    label: format!("{label}_{}", counter.key()),
                    value: Some(value as f64),
                    uom: Uom::Counter,
                    warning: None,
                    critical: None,
                    min: Some(0.0),
                    max: None,
                });
            }
        }
        let summary = if problems.is_empty() {
            format!("SNMP {state} - {looked} interfaces, every admin-up interface is up")
        } else {
            format!("SNMP {state} - {}", problems.join(", "))
        };
        let mut outcome = Outcome::new(state, summary).with_long_output(lines.join("\n"));
        outcome.perfdata = perfdata;
        Ok(InterfaceReading { outcome, samples })
    }
}

impl InterfaceRow {
    fn counter(&mut self, counter: InterfaceCounter, value: &Value) {
        let reading = match value {
            Value::Counter64(v) => (*v, CounterWidth::Bits64),
            Value::Counter32(v) => (u64::from(*v), CounterWidth::Bits32),
            _ => return,
        };
        // A 64-bit reading (from ifXTable, walked second) replaces the 32-bit one.
        let entry = self.counters.entry(counter).or_insert(reading);
        if reading.1 == CounterWidth::Bits64 {
            *entry = reading;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Storage

const HR_STORAGE_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1];

/// HOST-RESOURCES-MIB hrStorageTable: the used share of each storage (file systems, memory).
#[derive(Clone, Debug, PartialEq)]
pub struct HrStorage {
    pub target: SnmpTarget,
    /// Storages to look at, by hrStorageDescr (`/`, `Physical memory`); every storage with a
    /// size when empty. A listed storage the agent does not have is UNKNOWN.
    pub storages: Vec<String>,
    /// On the used percentage.
    pub thresholds: Thresholds,
}

#[derive(Default)]
struct StorageRow {
    descr: Option<String>,
    units: Option<u64>,
    size: Option<u64>,
    used: Option<u64>,
}

impl HrStorage {
    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), SnmpCheckError> {
        self.target.validate()?;
        for (index, name) in self.storages.iter().enumerate() {
            if self.storages[..index].contains(name) {
                return Err(SnmpCheckError::StorageTwice(name.clone()));
            }
        }
        Ok(())
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        if let Err(error) = self.validate() {
            return unknown(format!("invalid check: {error}"));
        }
        run_bounded(&self.target, |agent| self.look(agent))
            .await
            .unwrap_or_else(unknown)
    }

    async fn look(&self, agent: Session) -> Result<Outcome, String> {
        let mut rows: BTreeMap<u32, StorageRow> = BTreeMap::new();
        for (oid, value) in agent.walk(&Oid::from_slice(HR_STORAGE_ENTRY)).await? {
            let Some(&[column, index]) = oid.arcs().get(HR_STORAGE_ENTRY.len()..) else {
                continue;
            };
            let row = rows.entry(index).or_default();
            // Integer32 columns; net-snmp wraps huge sizes, so read them as unsigned 32 bits.
            let unsigned = value.integer().map(|v| u64::from(v as u32));
            match column {
                3 => row.descr = value.text(),
                4 => row.units = unsigned,
                5 => row.size = unsigned,
                6 => row.used = unsigned,
                _ => {}
            }
        }
        if rows.is_empty() {
            return Err(format!("{} has no hrStorageTable", agent.address));
        }
        let mut state = State::Ok;
        let mut parts = Vec::new();
        let mut problems = Vec::new();
        let mut perfdata = Vec::new();
        for wanted in &self.storages {
            if !rows.values().any(|row| row.descr.as_ref() == Some(wanted)) {
                state = worst(state, State::Unknown);
                problems.push(format!("storage {wanted:?} not found"));
            }
        }
        for row in rows.values() {
            let Some(descr) = &row.descr else { continue };
            let (Some(units), Some(size), Some(used)) = (row.units, row.size, row.used) else {
                continue;
            };
            if self.storages.is_empty() && size == 0
                || !self.storages.is_empty() && !self.storages.contains(descr)
            {
                continue;
            }
            let size_bytes = (size * units) as f64;
            let used_bytes = (used * units) as f64;
            let percent = if size == 0 {
                0.0
            } else {
                used_bytes * 100.0 / size_bytes
            };
            let item_state = self.thresholds.evaluate(percent);
            state = worst(state, item_state);
            let mut part = format!(
                "{descr}: {percent:.1}% used ({} of {})",
                human_bytes(used_bytes),
                human_bytes(size_bytes)
            );
            if item_state != State::Ok {
                part.push_str(&format!(" ({item_state})"));
                problems.push(part.clone());
            }
            parts.push(part);
            perfdata.push(PerfDatum {
                label: descr.clone(),
                value: Some(used_bytes),
                uom: Uom::Bytes,
                warning: None,
                critical: None,
                min: Some(0.0),
                max: Some(size_bytes),
            });
            perfdata.push(PerfDatum {
                label: format!("{descr} used"),
                value: Some(percent),
                uom: Uom::Percent,
                warning: self.thresholds.warning,
                critical: self.thresholds.critical,
                min: Some(0.0),
                max: Some(100.0),
            });
        }
        let summary = if parts.len() <= 3 && problems.iter().all(|p| parts.contains(p)) {
            parts.join(", ")
        } else if problems.is_empty() {
            format!("{} storages within thresholds", parts.len())
        } else {
            problems.join(", ")
        };
        let mut outcome = Outcome::new(state, format!("SNMP {state} - {summary}"))
            .with_long_output(parts.join("\n"));
        outcome.perfdata = perfdata;
        Ok(outcome)
    }
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

// ---------------------------------------------------------------------------------------------
// Uptime

const SYS_UP_TIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];

/// sysUpTime: how long the agent has been running, usually how long since the host booted.
#[derive(Clone, Debug, PartialEq)]
pub struct Uptime {
    pub target: SnmpTarget,
    /// On the uptime in seconds: `@0:600` warns for ten minutes after a restart.
    pub thresholds: Thresholds,
}

/// What an [`Uptime`] run found: the outcome, and the uptime for [`rebooted`] on the next run.
#[derive(Clone, Debug, PartialEq)]
pub struct UptimeReading {
    pub outcome: Outcome,
    pub uptime: Option<Duration>,
}

/// sysUpTime is TimeTicks, hundredths of a second in 32 bits: it wraps after about 497 days.
const UPTIME_WRAP: Duration = Duration::from_millis((1u64 << 32) * 10);

/// Whether the agent restarted between two readings of its uptime: the uptime went down, unless
/// a TimeTicks wrap explains it (the previous reading was within a day of the 497-day wrap and
/// the new one within a day of zero).
pub fn rebooted(previous_uptime: Duration, current_uptime: Duration) -> bool {
    const DAY: Duration = Duration::from_secs(86_400);
    if current_uptime >= previous_uptime {
        return false;
    }
    let wrapped = previous_uptime + DAY >= UPTIME_WRAP && current_uptime < DAY;
    !wrapped
}

impl Uptime {
    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), SnmpCheckError> {
        self.target.validate()
    }

    /// Runs the check once, for its outcome only.
    pub async fn run(&self) -> Outcome {
        self.read().await.outcome
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn read(&self) -> UptimeReading {
        if let Err(error) = self.validate() {
            return UptimeReading {
                outcome: unknown(format!("invalid check: {error}")),
                uptime: None,
            };
        }
        run_bounded(&self.target, |agent| self.look(agent))
            .await
            .unwrap_or_else(|summary| UptimeReading {
                outcome: unknown(summary),
                uptime: None,
            })
    }

    async fn look(&self, agent: Session) -> Result<UptimeReading, String> {
        let oid = Oid::from_slice(SYS_UP_TIME);
        let values = agent.get(std::slice::from_ref(&oid)).await?;
        let ticks = match values.first() {
            Some(Value::TimeTicks(ticks)) => *ticks,
            Some(value) if value.is_missing() => return Err(value.describe(&oid)),
            Some(value) => {
                return Err(format!(
                    "garbage answer from {}: sysUpTime is {value}, not TimeTicks",
                    agent.address
                ));
            }
            None => {
                return Err(format!(
                    "garbage answer from {}: no sysUpTime",
                    agent.address
                ));
            }
        };
        let uptime = Duration::from_millis(u64::from(ticks) * 10);
        let seconds = uptime.as_secs_f64();
        let state = self.thresholds.evaluate(seconds);
        let outcome = Outcome::new(
            state,
            format!("SNMP {state} - up {}", human_duration(uptime)),
        )
        .with_perfdatum(PerfDatum {
            label: "uptime".to_owned(),
            value: Some(seconds),
            uom: Uom::Seconds,
            warning: self.thresholds.warning,
            critical: self.thresholds.critical,
            min: Some(0.0),
            max: None,
        });
        Ok(UptimeReading {
            outcome,
            uptime: Some(uptime),
        })
    }
}

fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes, seconds) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if days > 0 {
        format!("{days} d {hours} h {minutes} min")
    } else {
        format!("{hours} h {minutes} min {seconds} s")
    }
}

// ---------------------------------------------------------------------------------------------
// Shared plumbing

fn unknown(summary: String) -> Outcome {
    Outcome::new(State::Unknown, format!("SNMP UNKNOWN - {summary}"))
}

fn worst(a: State, b: State) -> State {
    if b.severity() > a.severity() { b } else { a }
}

/// Connects and runs `look` under the target's one deadline. `Err` holds what failed.
async fn run_bounded<T, F, Fut>(target: &SnmpTarget, look: F) -> Result<T, String>
where
    F: FnOnce(Session) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + target.timeout;
    let work = async {
        let agent = Session::connect(target).await?;
        look(agent).await
    };
    match timeout_at(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(no_answer(target)),
    }
}

fn no_answer(target: &SnmpTarget) -> String {
    format!(
        "no answer from {} after {} s",
        target.address(),
        target.timeout.as_secs_f64()
    )
}

/// A value as the probes see it, whatever library decoded it.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Integer(i64),
    Counter32(u32),
    Counter64(u64),
    Gauge(u32),
    TimeTicks(u32),
    Text(Vec<u8>),
    Oid(String),
    Ip(std::net::Ipv4Addr),
    Null,
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    Other(String),
}

impl Value {
    fn number(&self) -> Option<f64> {
        match self {
            Value::Integer(v) => Some(*v as f64),
            Value::Counter32(v) | Value::Gauge(v) => Some(f64::from(*v)),
            Value::Counter64(v) => Some(*v as f64),
            Value::TimeTicks(v) => Some(f64::from(*v) / 100.0),
            // Some agents give numbers as text (UCD laLoad: "1.31").
            Value::Text(bytes) => std::str::from_utf8(bytes)
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite()),
            _ => None,
        }
    }

    fn uom(&self) -> Uom {
        match self {
            Value::Counter32(_) | Value::Counter64(_) => Uom::Counter,
            Value::TimeTicks(_) => Uom::Seconds,
            _ => Uom::Count,
        }
    }

    fn integer(&self) -> Option<i64> {
        match self {
            Value::Integer(v) => Some(*v),
            _ => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Value::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    fn is_missing(&self) -> bool {
        matches!(
            self,
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }

    fn describe(&self, oid: &Oid) -> String {
        match self {
            Value::NoSuchObject => format!("no such object: {oid}"),
            Value::NoSuchInstance => format!("no such instance: {oid}"),
            Value::EndOfMibView => format!("end of MIB view at {oid}"),
            other => format!("{oid} = {other}"),
        }
    }

    fn from_wire(value: async_snmp::Value) -> Value {
        use async_snmp::Value as W;
        match value {
            W::Integer(v) => Value::Integer(i64::from(v)),
            W::OctetString(bytes) => Value::Text(bytes.to_vec()),
            W::Null => Value::Null,
            W::ObjectIdentifier(oid) => Value::Oid(oid.to_string()),
            W::IpAddress(ip) => Value::Ip(ip.into()),
            W::Counter32(v) => Value::Counter32(v),
            W::Gauge32(v) | W::UInteger32(v) => Value::Gauge(v),
            W::TimeTicks(v) => Value::TimeTicks(v),
            W::Counter64(v) => Value::Counter64(v),
            W::NoSuchObject => Value::NoSuchObject,
            W::NoSuchInstance => Value::NoSuchInstance,
            W::EndOfMibView => Value::EndOfMibView,
            other => Value::Other(format!("{other:?}")),
        }
    }
}

/// Shown in a summary: text quoted, with control characters and `|` (which would start
/// performance data) escaped; TimeTicks in seconds.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(v) => write!(f, "{v}"),
            Value::Counter32(v) | Value::Gauge(v) => write!(f, "{v}"),
            Value::Counter64(v) => write!(f, "{v}"),
            Value::TimeTicks(v) => write!(f, "{} s", f64::from(*v) / 100.0),
            Value::Text(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let shown: String = text
                    .chars()
                    .take(200)
                    .map(|c| match c {
                        '|' => "\\x7c".to_owned(),
                        c if c.is_control() => c.escape_default().to_string(),
                        c => c.to_string(),
                    })
                    .collect();
                write!(f, "\"{shown}\"")
            }
            Value::Oid(oid) => write!(f, "{oid}"),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Null => f.write_str("null"),
            Value::NoSuchObject => f.write_str("noSuchObject"),
            Value::NoSuchInstance => f.write_str("noSuchInstance"),
            Value::EndOfMibView => f.write_str("endOfMibView"),
            Value::Other(text) => f.write_str(text),
        }
    }
}

/// What the probes need from an SNMP library.
trait Agent {
    /// The values of `oids`, in the same order.
    async fn get(&self, oids: &[Oid]) -> Result<Vec<Value>, String>;
    /// Every object under `root`, in order.
    async fn walk(&self, root: &Oid) -> Result<Vec<(Oid, Value)>, String>;
}

/// An [`Agent`] through async-snmp.
struct Session {
    client: Client,
    version: SnmpVersion,
    address: String,
    target: SnmpTarget,
}

impl Session {
    async fn connect(target: &SnmpTarget) -> Result<Session, String> {
        let auth = target.auth()?;
        let attempts = target.retries + 1;
        let retry = Retry::fixed(target.retries, Duration::ZERO)
            .map_err(|error| format!("retries: {error}"))?;
        let client = Client::builder((target.host.clone(), target.port), auth)
            .request_timeout(target.timeout / attempts)
            .retry(retry)
            .construction_timeout(target.timeout)
            // net-snmp answers a wrong digest or an unknown user with an unauthenticated
            // Report; async-snmp drops those unless this is on, and the run would end in a
            // timeout instead of naming the failure. The cost: whoever can spoof UDP from the
            // agent can make the probe UNKNOWN (as dropping packets already can) or skew the
            // time of one request.
            .allow_unauthenticated_v3_time_correction(true)
            .connect()
            .await
            .map_err(|error| describe_error(target, &error))?;
        Ok(Session {
            client,
            version: target.version.clone(),
            address: target.address(),
            target: target.clone(),
        })
    }
}

impl Agent for Session {
    async fn get(&self, oids: &[Oid]) -> Result<Vec<Value>, String> {
        let response = self
            .client
            .get_many(oids)
            .await
            .map_err(|error| describe_error(&self.target, &error))?;
        oids.iter()
            .map(|oid| {
                response
                    .varbinds
                    .iter()
                    .find(|varbind| &varbind.oid == oid)
                    .map(|varbind| Value::from_wire(varbind.value.clone()))
                    .ok_or_else(|| {
                        format!("garbage answer from {}: no value for {oid}", self.address)
                    })
            })
            .collect()
    }

    async fn walk(&self, root: &Oid) -> Result<Vec<(Oid, Value)>, String> {
        let stream = self
            .client
            .walk(root.clone())
            .map_err(|error| describe_error(&self.target, &error))?;
        let varbinds = stream
            .collect()
            .await
            .map_err(|error| describe_error(&self.target, &error))?;
        Ok(varbinds
            .into_iter()
            .filter(|varbind| varbind.oid.starts_with(root))
            .map(|varbind| (varbind.oid, Value::from_wire(varbind.value)))
            .collect())
    }
}

/// What failed, for a person: names the SNMPv3 user and the likely cause.
fn describe_error(target: &SnmpTarget, error: &async_snmp::Error) -> String {
    use async_snmp::Error as E;
    use async_snmp::v3::ReportStatus as R;
    let address = target.address();
    let (user, level) = match &target.version {
        SnmpVersion::V3(user) => (user.user.as_str(), user.level),
        _ => ("", SecurityLevel::NoAuthNoPriv),
    };
    match error.exchange_source() {
        E::Timeout { .. } => no_answer(target),
        E::ConstructionTimeout { .. } => no_answer(target),
        E::Network { source, .. } => format!("cannot reach {address}: {source}"),
        E::Auth { .. } => format!(
            "SNMPv3 authentication failed for user {user}: the answer's digest is wrong \
             (wrong auth password or protocol)"
        ),
        E::Report { status, .. } => match status.as_ref() {
            R::WrongDigest { .. } => format!(
                "SNMPv3 authentication failed for user {user}: wrong digest \
                 (wrong auth password or protocol)"
            ),
            R::UnknownUserName { .. } => {
                format!("SNMPv3 authentication failed for user {user}: unknown user name")
            }
            R::DecryptionError { .. } => format!(
                "SNMPv3 decryption failed for user {user}: wrong privacy password or protocol"
            ),
            R::UnsupportedSecurityLevel { .. } => {
                format!("SNMPv3 user {user} is not allowed security level {level}")
            }
            R::NotInTimeWindow { .. } => {
                format!("SNMPv3 message for user {user} was outside the agent's time window")
            }
            other => format!("SNMPv3 report from {address}: {other}"),
        },
        E::Snmp { status, oid, .. } => match oid {
            Some(oid) => format!("{address} answered {status} for {oid}"),
            None => format!("{address} answered {status}"),
        },
        E::Decode(decode) => format!("garbage answer from {address}: {decode}"),
        E::MalformedResponse { .. } | E::ResponseShape { .. } => {
            format!("garbage answer from {address}: the response does not match the request")
        }
        E::WalkAborted { reason, .. } => {
            format!("walk of {address} stopped: {reason}")
        }
        other => format!("SNMP request to {address} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: u64, width: CounterWidth, seconds: u64) -> CounterSample {
        CounterSample {
            interface: "eth0".to_owned(),
            counter: InterfaceCounter::InOctets,
            value,
            width,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        }
    }

    #[test]
    fn rates() {
        use CounterWidth::{Bits32, Bits64};
        let max32 = u64::from(u32::MAX);
        let table = [
            ((100, Bits64, 0), (1100, Bits64, 10), Some(100.0)),
            ((100, Bits32, 0), (100, Bits32, 10), Some(0.0)),
            // A 32-bit wrap: 5 octets to the top, 1 past zero.
            ((max32 - 4, Bits32, 0), (0, Bits32, 1), Some(5.0)),
            ((max32 - 4, Bits32, 0), (1, Bits32, 2), Some(3.0)),
            // A 32-bit counter back near zero from low: a reset, not a wrap.
            ((1_000_000, Bits32, 0), (10, Bits32, 10), None),
            // A 64-bit counter never wraps in practice: a reset.
            ((u64::MAX - 1, Bits64, 0), (5, Bits64, 10), None),
            ((500, Bits64, 0), (10, Bits64, 10), None),
            // No time passed, or time went back.
            ((100, Bits64, 10), (200, Bits64, 10), None),
            ((100, Bits64, 10), (200, Bits64, 5), None),
            // The agent switched from 32-bit to 64-bit counters.
            ((100, Bits32, 0), (200, Bits64, 10), None),
        ];
        for (previous, current, expected) in table {
            let previous = sample(previous.0, previous.1, previous.2);
            let current = sample(current.0, current.1, current.2);
            assert_eq!(
                rate(&previous, &current),
                expected,
                "{previous:?} {current:?}"
            );
        }
        let mut other = sample(200, Bits64, 10);
        other.interface = "eth1".to_owned();
        assert_eq!(rate(&sample(100, Bits64, 0), &other), None);
    }

    #[test]
    fn reboots() {
        let s = Duration::from_secs;
        let table = [
            (s(100), s(200), false),
            (s(100), s(100), false),
            (s(100_000), s(50), true),
            (s(100), s(99), true),
            // A TimeTicks wrap after 497 days is not a reboot.
            (UPTIME_WRAP - s(30), s(60), false),
            // But dropping from 496 days to 2 days is.
            (UPTIME_WRAP - s(86_400 * 2), s(60), true),
            (UPTIME_WRAP - s(30), s(86_400 * 3), true),
        ];
        for (previous, current, expected) in table {
            assert_eq!(
                rebooted(previous, current),
                expected,
                "{previous:?} {current:?}"
            );
        }
    }

    #[test]
    fn values() {
        let table = [
            (Value::Integer(-3), Some(-3.0), "-3"),
            (Value::TimeTicks(150), Some(1.5), "1.5 s"),
            (Value::Text(b"1.31".to_vec()), Some(1.31), "\"1.31\""),
            (Value::Text(b"a|b\n".to_vec()), None, "\"a\\x7cb\\n\""),
            (Value::Oid("1.3.6".to_owned()), None, "1.3.6"),
            (Value::NoSuchObject, None, "noSuchObject"),
        ];
        for (value, number, shown) in table {
            assert_eq!(value.number(), number, "{value:?}");
            assert_eq!(value.to_string(), shown);
        }
    }
}
