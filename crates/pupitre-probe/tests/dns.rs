//! The native DNS probe against a dnsmasq that each test starts on 127.0.0.1 with a free UDP
//! port (Debian's `dnsmasq-base`), killed when the test ends, even by a panic. Every run is
//! bounded in time.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::Uom;
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::dns::{DnsCheck, DnsCheckError, DnsRecordType};
use pupitre_probe::outcome::Outcome;
use tokio::process::{Child, Command};

/// No test waits longer than this for one run, whatever the probe does.
const RUN_BOUND: Duration = Duration::from_secs(5);

/// A dnsmasq serving the test zones on 127.0.0.1, killed on drop (`kill_on_drop`).
struct Dnsmasq {
    address: SocketAddr,
    _child: Child,
}

/// Starts dnsmasq on a free port and waits (a bounded number of queries) until it answers.
///
/// - `peer.test` and everything under it: A 127.0.0.1;
/// - `records.test`: `host` (A 127.0.0.2, AAAA ::2 and the PTR of 127.0.0.2), `alias` (CNAME to
///   `host`), MX `10 mail.records.test`, TXT `v=test1 hello`; any other name there: NXDOMAIN;
/// - any other name: REFUSED (no upstream server).
///
/// dnsmasq also listens on TCP at the same port, which another test may hold even though the UDP
/// port was free: it then exits with status 2 (network error) and we try another port.
async fn dnsmasq() -> Dnsmasq {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        if let Some(server) = try_dnsmasq().await {
            return server;
        }
    }
    panic!("dnsmasq could not bind a free port in {ATTEMPTS} attempts");
}

/// One start of dnsmasq; `None` when it exits because its port is taken.
async fn try_dnsmasq() -> Option<Dnsmasq> {
    let port = {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a free UDP port");
        socket.local_addr().expect("local address").port()
    };
    let child = Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--pid-file",
            "--user=root",
            "--address=/peer.test/127.0.0.1",
            "--local=/records.test/",
            "--host-record=host.records.test,127.0.0.2,::2",
            "--cname=alias.records.test,host.records.test",
            "--mx-host=records.test,mail.records.test,10",
            "--txt-record=records.test,v=test1 hello",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => panic!(
            "cannot start dnsmasq ({error}): install Debian's dnsmasq-base \
             (apt-get install dnsmasq-base)"
        ),
    };
    let mut server = Dnsmasq {
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        _child: child,
    };
    let probe = DnsCheck {
        timeout: Duration::from_millis(100),
        ..DnsCheck::new(server.address, "ready.peer.test")
    };
    for _ in 0..50 {
        match server._child.try_wait() {
            Ok(Some(status)) if status.code() == Some(2) => return None,
            Ok(Some(status)) => panic!("dnsmasq exited at start ({status}) on port {port}"),
            _ => {}
        }
        if probe.run().await.state == State::Ok {
            return Some(server);
        }
    }
    panic!("dnsmasq did not answer on {} within 5 s", server.address);
}

fn check(server: &Dnsmasq, name: &str, record_type: DnsRecordType, expected: &[&str]) -> DnsCheck {
    DnsCheck {
        record_type,
        expected: expected
            .iter()
            .map(|a| (*a).to_owned())
            .collect::<BTreeSet<_>>(),
        timeout: Duration::from_secs(2),
        ..DnsCheck::new(server.address, name)
    }
}

async fn run(check: &DnsCheck) -> Outcome {
    assert_eq!(check.validate(), Ok(()));
    tokio::time::timeout(RUN_BOUND, check.run())
        .await
        .expect("the run ends within its timeout")
}

/// Prints the outcome as a plugin would and reads it back, checking nothing is lost.
fn printed(outcome: &Outcome) -> PluginOutput {
    let text = outcome.to_plugin_output();
    let parsed = PluginOutput::parse(&text, 64 * 1024);
    assert!(parsed.perfdata_errors.is_empty(), "{text}");
    assert_eq!(parsed.perfdata, outcome.perfdata, "{text}");
    parsed
}

#[tokio::test]
async fn every_record_type_answers() {
    use DnsRecordType::*;
    let server = dnsmasq().await;
    let table: &[(&str, DnsRecordType, &[&str], &str)] = &[
        ("www.peer.test", A, &["127.0.0.1"], "127.0.0.1"),
        ("www.peer.test", A, &[], "127.0.0.1"),
        ("host.records.test", A, &["127.0.0.2"], "127.0.0.2"),
        ("host.records.test", Aaaa, &["::2"], "::2"),
        (
            "alias.records.test",
            Cname,
            &["HOST.records.test."],
            "host.records.test",
        ),
        (
            "records.test",
            Mx,
            &["10 mail.records.test"],
            "10 mail.records.test",
        ),
        ("records.test", Txt, &["v=test1 hello"], "v=test1 hello"),
        (
            "127.0.0.2",
            Ptr,
            &["host.records.test"],
            "host.records.test",
        ),
    ];
    for (name, record_type, expected, shown) in table {
        let outcome = run(&check(&server, name, *record_type, expected)).await;
        assert_eq!(
            outcome.state,
            State::Ok,
            "{name} {record_type}: {outcome:?}"
        );
        assert!(
            outcome.summary.starts_with("DNS OK - 0.")
                && outcome.summary.ends_with(&format!(
                    " seconds response time. {name} {record_type} returns {shown}"
                )),
            "{}",
            outcome.summary
        );
        let parsed = printed(&outcome);
        let [time] = &parsed.perfdata[..] else {
            panic!("one perfdata item: {parsed:?}");
        };
        assert_eq!((time.label.as_str(), &time.uom), ("time", &Uom::Seconds));
        assert_eq!((time.min, time.max), (Some(0.0), None));
        assert!(time.value.is_some_and(|t| t > 0.0 && t < 2.0), "{time:?}");
    }
}

#[tokio::test]
async fn problems_are_critical() {
    use DnsRecordType::*;
    let server = dnsmasq().await;
    let table: &[(&str, DnsRecordType, &[&str], &str, bool)] = &[
        // name, type, expected, summary, has perfdata
        (
            "nothing.records.test",
            A,
            &[],
            "DNS CRITICAL - nothing.records.test does not exist (NXDOMAIN)",
            true,
        ),
        (
            "www.example.org",
            A,
            &[],
            &format!(
                "DNS CRITICAL - DNS {} refused the query (REFUSED)",
                server.address
            ),
            true,
        ),
        (
            "www.peer.test",
            A,
            &["127.0.0.1", "127.0.0.9"],
            "DNS CRITICAL - expected 127.0.0.9 for www.peer.test A not found; found 127.0.0.1",
            true,
        ),
        (
            "host.records.test",
            Mx,
            &[],
            "DNS CRITICAL - no MX record for host.records.test",
            true,
        ),
    ];
    for (name, record_type, expected, summary, has_perfdata) in table {
        let outcome = run(&check(&server, name, *record_type, expected)).await;
        assert_eq!(outcome.state, State::Critical, "{outcome:?}");
        assert_eq!(outcome.summary, *summary);
        assert_eq!(printed(&outcome).perfdata.len(), usize::from(*has_perfdata));
    }
}

#[tokio::test]
async fn response_time_thresholds() {
    let server = dnsmasq().await;
    for (warning, critical, state) in [
        ("0.000001", "", State::Warning),
        ("0.000001", "0.000001", State::Critical),
        ("2", "3", State::Ok),
    ] {
        let outcome = run(&DnsCheck {
            response_time: Thresholds::parse(warning, critical).expect("thresholds"),
            ..check(&server, "www.peer.test", DnsRecordType::A, &["127.0.0.1"])
        })
        .await;
        assert_eq!(
            outcome.state, state,
            "-w {warning} -c {critical}: {outcome:?}"
        );
        let parsed = printed(&outcome);
        assert_eq!(
            parsed.perfdata[0].warning.map(|r| r.to_string()).as_deref(),
            Some(warning)
        );
    }
}

/// A server that receives and never answers: CRITICAL once the timeout has passed, not later.
#[tokio::test]
async fn silent_server_times_out_critical() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("address");
    let started = tokio::time::Instant::now();
    let outcome = run(&DnsCheck {
        timeout: Duration::from_millis(300),
        ..DnsCheck::new(address, "www.peer.test")
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with(&format!("DNS CRITICAL - no response from DNS {address}")),
        "{}",
        outcome.summary
    );
    assert!(outcome.perfdata.is_empty());
}

#[test]
fn validate_names_the_field() {
    let server = SocketAddr::from(([127, 0, 0, 1], 53));
    let good = DnsCheck::new(server, "www.peer.test");
    assert_eq!(good.validate(), Ok(()));
    /// A change that makes the check invalid, and the field the error names.
    type Row = (fn(&mut DnsCheck), &'static str);
    let table: [Row; 5] = [
        (|c| c.server.set_port(0), "server"),
        (|c| c.name.clear(), "name"),
        (|c| c.name = "a..b".into(), "name"),
        (|c| _ = c.expected.insert(" ".into()), "expected"),
        (|c| c.timeout = Duration::ZERO, "timeout"),
    ];
    for (change, field) in table {
        let mut check = good.clone();
        change(&mut check);
        let error: DnsCheckError = check.validate().expect_err(field);
        assert_eq!(error.field(), field);
        assert!(
            error.to_string().starts_with(&format!("{field}: ")),
            "{error}"
        );
    }
}
