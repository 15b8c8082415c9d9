//! The SNMP probes against a real net-snmp `snmpd` (Debian's package), started by each test on
//! 127.0.0.1 with a free UDP port and a configuration in a temporary directory, and killed when
//! the test ends, even on a panic.

use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::Uom;
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::secret::Secret;
use pupitre_probe::snmp::{
    AuthProtocol, CounterWidth, HrStorage, InterfaceCounter, InterfaceTable, OidCheck,
    PrivProtocol, SecurityLevel, SnmpGet, SnmpTarget, SnmpVersion, Uptime, V3User,
};

#[path = "support/snmpd.rs"]
mod snmpd;
use snmpd::{
    AUTH_PASSWORD, PRIV_PASSWORD, SYS_DESCR, SYS_NAME, SYS_SERVICES, SYS_UP_TIME, Snmpd, USER,
};

fn oid(oid: &str, name: &str, warning: &str, critical: &str) -> OidCheck {
    OidCheck {
        oid: oid.to_owned(),
        name: (!name.is_empty()).then(|| name.to_owned()),
        thresholds: Thresholds::parse(warning, critical).expect("thresholds"),
    }
}

#[tokio::test]
async fn v2c_get_with_thresholds() {
    let snmpd = Snmpd::start().await;
    let mut check = SnmpGet {
        target: snmpd.v2c(),
        oids: vec![
            oid(SYS_DESCR, "descr", "", ""),
            oid(SYS_UP_TIME, "uptime", "", ""),
            oid(SYS_NAME, "", "", ""),
            oid(SYS_SERVICES, "services", "", "0:100"),
        ],
    };
    check.validate().expect("valid");
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome.summary.starts_with("SNMP OK - descr: \""),
        "{outcome:?}"
    );
    assert!(
        outcome
            .summary
            .contains("1.3.6.1.2.1.1.5.0: \"snmp-peer-test\""),
        "{outcome:?}"
    );
    assert!(outcome.summary.contains("services: 72"), "{outcome:?}");
    let labels = outcome
        .perfdata
        .iter()
        .map(|d| (d.label.as_str(), d.uom.clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        labels,
        [("uptime", Uom::Seconds), ("services", Uom::Count)],
        "only numbers have perfdata"
    );
    assert_eq!(outcome.perfdata[1].value, Some(72.0));

    check.oids[3].thresholds = Thresholds::parse("", "0:50").expect("thresholds");
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome.summary.contains("services: 72 (CRITICAL)"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn v2c_missing_object_names_the_oid() {
    let snmpd = Snmpd::start().await;
    let check = SnmpGet {
        target: snmpd.v2c(),
        oids: vec![
            oid(SYS_NAME, "name", "", ""),
            oid(".1.3.6.1.2.1.1.99.0", "", "", ""),
        ],
    };
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert!(
        outcome
            .summary
            .contains("no such object: 1.3.6.1.2.1.1.99.0"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn v2c_wrong_community_is_no_answer() {
    let snmpd = Snmpd::start().await;
    let mut target = snmpd.target(SnmpVersion::V2c {
        community: Secret::new("not-the-community"),
    });
    target.timeout = Duration::from_secs(1);
    target.retries = 0;
    let check = SnmpGet {
        target,
        oids: vec![oid(SYS_NAME, "", "", "")],
    };
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Unknown);
    assert_eq!(
        outcome.summary,
        format!(
            "SNMP UNKNOWN - no answer from 127.0.0.1:{} after 1 s",
            snmpd.port
        )
    );
}

#[tokio::test]
async fn v3_auth_priv_sha256_aes() {
    let snmpd = Snmpd::start().await;
    let check = SnmpGet {
        target: snmpd.v3(AUTH_PASSWORD),
        oids: vec![oid(SYS_NAME, "name", "", "")],
    };
    check.validate().expect("valid");
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert_eq!(outcome.summary, "SNMP OK - name: \"snmp-peer-test\"");

    // SHA-512 with AES-256 (net-snmp's Blumenthal key extension), and authNoPriv.
    for user in [
        V3User::auth_priv(
            "testv3sha512",
            AuthProtocol::Sha512,
            Secret::new(AUTH_PASSWORD),
            PrivProtocol::Aes256,
            Secret::new(PRIV_PASSWORD),
        ),
        V3User::auth_no_priv(
            "testv3authonly",
            AuthProtocol::Sha1,
            Secret::new(AUTH_PASSWORD),
        ),
    ] {
        let check = SnmpGet {
            target: snmpd.target(SnmpVersion::V3(user)),
            oids: vec![oid(SYS_NAME, "name", "", "")],
        };
        let outcome = check.run().await;
        assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    }
}

#[tokio::test]
async fn v3_wrong_auth_password_names_the_authentication_failure() {
    let snmpd = Snmpd::start().await;
    let check = SnmpGet {
        target: snmpd.v3("wrong-password-1"),
        oids: vec![oid(SYS_NAME, "", "", "")],
    };
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("SNMP UNKNOWN - SNMPv3 authentication failed for user testv3user: "),
        "{outcome:?}"
    );
    assert!(
        outcome.summary.contains("wrong auth password"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn v3_unknown_user() {
    let snmpd = Snmpd::start().await;
    let target = snmpd.target(SnmpVersion::V3(V3User::auth_priv(
        "nobody-here",
        AuthProtocol::Sha256,
        Secret::new(AUTH_PASSWORD),
        PrivProtocol::Aes128,
        Secret::new(PRIV_PASSWORD),
    )));
    let check = SnmpGet {
        target,
        oids: vec![oid(SYS_NAME, "", "", "")],
    };
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "SNMP UNKNOWN - SNMPv3 authentication failed for user nobody-here: unknown user name"
    );
}

#[tokio::test]
async fn interface_table_on_loopback() {
    let snmpd = Snmpd::start().await;
    let check = InterfaceTable {
        target: snmpd.v2c(),
        interfaces: vec!["lo".to_owned()],
    };
    let reading = check.read().await;
    assert_eq!(reading.outcome.state, State::Ok, "{:?}", reading.outcome);
    assert_eq!(
        reading.outcome.summary,
        "SNMP OK - 1 interfaces, every admin-up interface is up"
    );
    assert_eq!(reading.outcome.long_output, "lo: admin up, oper up");
    let counters = reading
        .samples
        .iter()
        .map(|s| (s.interface.as_str(), s.counter, s.width))
        .collect::<Vec<_>>();
    assert_eq!(
        counters,
        [
            ("lo", InterfaceCounter::InOctets, CounterWidth::Bits64),
            ("lo", InterfaceCounter::OutOctets, CounterWidth::Bits64),
            ("lo", InterfaceCounter::InErrors, CounterWidth::Bits32),
            ("lo", InterfaceCounter::OutErrors, CounterWidth::Bits32),
        ]
    );

    let check = InterfaceTable {
        target: snmpd.v2c(),
        interfaces: vec!["no-such-if0".to_owned()],
    };
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "SNMP UNKNOWN - interface no-such-if0 not found"
    );
}

#[tokio::test]
async fn hr_storage_of_root() {
    let snmpd = Snmpd::start().await;
    let mut check = HrStorage {
        target: snmpd.v3(AUTH_PASSWORD),
        storages: vec!["/".to_owned()],
        thresholds: Thresholds::parse("", "100").expect("thresholds"),
    };
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(outcome.summary.starts_with("SNMP OK - /: "), "{outcome:?}");
    assert_eq!(outcome.perfdata.len(), 2, "{outcome:?}");
    assert_eq!(outcome.perfdata[0].uom, Uom::Bytes);
    assert_eq!(outcome.perfdata[1].uom, Uom::Percent);
    let percent = outcome.perfdata[1].value.expect("a percentage");
    assert!((0.0..=100.0).contains(&percent), "{outcome:?}");

    // Any usage above 0 % is critical with this range.
    check.thresholds = Thresholds::parse("", "0").expect("thresholds");
    let outcome = check.run().await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
}

#[tokio::test]
async fn uptime() {
    let snmpd = Snmpd::start().await;
    let check = Uptime {
        target: snmpd.v2c(),
        thresholds: Thresholds::default(),
    };
    let reading = check.read().await;
    assert_eq!(reading.outcome.state, State::Ok, "{:?}", reading.outcome);
    assert!(
        reading
            .outcome
            .summary
            .starts_with("SNMP OK - up 0 h 0 min"),
        "{:?}",
        reading.outcome
    );
    let uptime = reading.uptime.expect("an uptime");
    assert!(uptime < Duration::from_secs(60), "{uptime:?}");

    // Just started: within the first ten minutes, which this range flags.
    let check = Uptime {
        target: snmpd.v2c(),
        thresholds: Thresholds::parse("@0:600", "").expect("thresholds"),
    };
    assert_eq!(check.run().await.state, State::Warning);
}

#[test]
fn secrets_stay_out_of_debug() {
    let target = SnmpTarget::v3(
        "192.0.2.7",
        V3User::auth_priv(
            USER,
            AuthProtocol::Sha256,
            Secret::new("auth-secret-1"),
            PrivProtocol::Aes128,
            Secret::new("priv-secret-1"),
        ),
    );
    let shown = format!(
        "{target:?} {:?}",
        SnmpTarget::v2c("h", Secret::new("comm-secret"))
    );
    for secret in ["auth-secret-1", "priv-secret-1", "comm-secret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains(USER), "{shown}");
}

#[test]
fn validation_names_the_field() {
    let good = SnmpTarget::v3(
        "192.0.2.7",
        V3User::auth_priv(
            USER,
            AuthProtocol::Sha256,
            Secret::new(AUTH_PASSWORD),
            PrivProtocol::Aes128,
            Secret::new(PRIV_PASSWORD),
        ),
    );
    assert_eq!(good.validate(), Ok(()));
    assert_eq!(good.port, 161);

    let with = |change: &dyn Fn(&mut SnmpTarget)| {
        let mut target = good.clone();
        change(&mut target);
        target.validate().map_err(|e| (e.field(), e.to_string()))
    };
    let user = |change: &dyn Fn(&mut V3User)| {
        with(&|t: &mut SnmpTarget| {
            if let SnmpVersion::V3(u) = &mut t.version {
                change(u);
            }
        })
    };
    let table = [
        (with(&|t| t.host.clear()), "host", "host: is empty"),
        (
            with(&|t| t.port = 0),
            "port",
            "port: must be 1 to 65535, not 0",
        ),
        (
            with(&|t| t.timeout = Duration::ZERO),
            "timeout",
            "timeout: 0ns is out of range (10 ms to 300 s)",
        ),
        (
            with(&|t| t.retries = 11),
            "retries",
            "retries: 11 is more than 10",
        ),
        (
            with(&|t| {
                t.version = SnmpVersion::V2c {
                    community: Secret::new(""),
                }
            }),
            "community",
            "community: is empty",
        ),
        (user(&|u| u.user.clear()), "user", "user: is empty"),
        (
            user(&|u| u.auth_password = Some(Secret::new("short"))),
            "auth_password",
            "auth_password: must be at least 8 characters, as net-snmp requires",
        ),
        (
            user(&|u| u.priv_password = None),
            "priv_password",
            "priv_password: is needed at security level authPriv",
        ),
        (
            user(&|u| u.level = SecurityLevel::AuthNoPriv),
            "priv_password",
            "priv_password: is set but security level authNoPriv does not use it",
        ),
        (
            user(&|u| u.level = SecurityLevel::NoAuthNoPriv),
            "auth_password",
            "auth_password: is set but security level noAuthNoPriv does not use it",
        ),
    ];
    for (result, field, message) in table {
        assert_eq!(result, Err((field, message.to_owned())));
    }

    let get = |oids: Vec<OidCheck>| {
        SnmpGet {
            target: good.clone(),
            oids,
        }
        .validate()
        .map_err(|e| (e.field(), e.to_string()))
    };
    assert_eq!(get(vec![]), Err(("oids", "oids: is empty".to_owned())));
    assert_eq!(
        get(vec![OidCheck::new("1.3.x")]),
        Err((
            "oids",
            "oids: \"1.3.x\" is not a numeric OID such as 1.3.6.1.2.1.1.3.0".to_owned()
        ))
    );
    assert_eq!(get(vec![OidCheck::new(".1.3.6.1.2.1.1.3.0")]), Ok(()));
}
