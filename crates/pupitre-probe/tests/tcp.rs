//! The native TCP probe against real sockets on loopback (127.0.0.1 and ::1), and once side by
//! side with Debian's `check_tcp`. Every server binds port 0; every run is bounded in time.

use std::path::Path;
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::Uom;
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::outcome::Outcome;
use pupitre_probe::plugin::PLUGIN_DIR;
use pupitre_probe::tcp::{TcpCheck, TcpCheckError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// No test waits longer than this for one run, whatever the probe does.
const RUN_BOUND: Duration = Duration::from_secs(3);

/// What a test server does with each connection it accepts.
#[derive(Clone, Copy)]
enum Server {
    /// Accepts and leaves the connection open, saying nothing.
    Silent,
    /// Sends this banner at once, then waits for the peer to close.
    Banner(&'static str),
    /// Says nothing until it has read a line starting with `HELO `, answers `250 …` and closes.
    Smtp,
}

/// Serves `server` on `address` (port 0) in the background and returns the port.
async fn serve(address: &str, server: Server) -> u16 {
    let listener = TcpListener::bind((address, 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(handle(stream, server));
        }
    });
    port
}

async fn handle(mut stream: TcpStream, server: Server) {
    let mut received = Vec::new();
    let mut chunk = [0; 1024];
    match server {
        Server::Silent => {
            // Holds the connection until the peer goes away.
            while let Ok(1..) = stream.read(&mut chunk).await {}
        }
        Server::Banner(banner) => {
            let _ = stream.write_all(banner.as_bytes()).await;
            while let Ok(1..) = stream.read(&mut chunk).await {}
        }
        Server::Smtp => {
            while let Ok(read @ 1..) = stream.read(&mut chunk).await {
                received.extend_from_slice(&chunk[..read]);
                if received.starts_with(b"HELO ") && received.ends_with(b"\r\n") {
                    let _ = stream.write_all(b"250 mx.example.net Hello\r\n").await;
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
    }
}

/// A port on `address` where nothing listens: bound, then closed.
async fn closed_port(address: &str) -> u16 {
    let listener = TcpListener::bind((address, 0)).await.expect("bind");
    listener.local_addr().expect("address").port()
}

fn check(host: &str, port: u16) -> TcpCheck {
    TcpCheck {
        timeout: Duration::from_secs(2),
        ..TcpCheck::new(host, port)
    }
}

/// Validates `check` and runs it once, bounded by [`RUN_BOUND`].
async fn run(check: &TcpCheck) -> Outcome {
    check.validate().expect("the check is valid");
    tokio::time::timeout(RUN_BOUND, check.run())
        .await
        .expect("the probe ends within its timeout")
}

/// The probe's output read back as Nagios reads a plugin's.
fn printed(outcome: &Outcome) -> PluginOutput {
    let parsed = PluginOutput::parse(&outcome.to_plugin_output(), 64 * 1024);
    assert!(parsed.perfdata_errors.is_empty(), "{parsed:?}");
    parsed
}

#[tokio::test]
async fn ok_on_a_listening_port_with_perfdata() {
    let port = serve("127.0.0.1", Server::Silent).await;
    let outcome = run(&check("127.0.0.1", port)).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    let prefix = "TCP OK - ";
    let suffix = format!(" second response time on 127.0.0.1 port {port}");
    assert!(
        outcome.summary.starts_with(prefix) && outcome.summary.ends_with(&suffix),
        "{}",
        outcome.summary
    );
    let text = outcome.to_plugin_output();
    let perfdata = text.split_once('|').expect("perfdata").1;
    let value = perfdata
        .strip_prefix("time=")
        .and_then(|rest| rest.strip_suffix("s;;;0.000000;2.000000"))
        .expect(perfdata);
    assert_eq!(
        value.split_once('.').map(|(_, decimals)| decimals.len()),
        Some(6)
    );
    let parsed = printed(&outcome);
    let seconds = outcome.perfdata[0].value.expect("a response time");
    assert!((0.0..2.0).contains(&seconds), "{seconds}");
    let read_back = parsed.perfdata[0].value.expect("a response time");
    assert!(
        (read_back - seconds).abs() <= 0.5e-6,
        "{read_back} {seconds}"
    );
}

#[tokio::test]
async fn refused_port_takes_the_refuse_state() {
    let port = closed_port("127.0.0.1").await;
    for (refuse_state, state) in [
        (None, State::Critical),
        (Some(State::Unknown), State::Unknown),
        (Some(State::Ok), State::Ok),
    ] {
        let mut tcp = check("127.0.0.1", port);
        if let Some(refuse_state) = refuse_state {
            tcp.refuse_state = refuse_state;
        }
        let outcome = run(&tcp).await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert_eq!(
            outcome.summary,
            format!("TCP {state} - connection refused to 127.0.0.1:{port}")
        );
        assert_eq!(outcome.perfdata, []);
        printed(&outcome);
    }
}

#[tokio::test]
async fn ssh_banner_is_expected_and_shown() {
    let port = serve("127.0.0.1", Server::Banner("SSH-2.0-OpenSSH_9.2\r\n")).await;
    let outcome = run(&TcpCheck {
        expect: Some("SSH-".to_owned()),
        ..check("127.0.0.1", port)
    })
    .await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome
            .summary
            .ends_with(&format!("on 127.0.0.1 port {port} [SSH-2.0-OpenSSH_9.2]")),
        "{}",
        outcome.summary
    );
}

#[tokio::test]
async fn smtp_answers_after_send() {
    let port = serve("127.0.0.1", Server::Smtp).await;
    let outcome = run(&TcpCheck {
        send: Some("HELO x\\r\\n".to_owned()),
        expect: Some("250".to_owned()),
        ..check("127.0.0.1", port)
    })
    .await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome.summary.ends_with("[250 mx.example.net Hello]"),
        "{}",
        outcome.summary
    );
}

#[tokio::test]
async fn wrong_banner_takes_the_mismatch_state() {
    let port = serve("127.0.0.1", Server::Banner("220 ftp ready\r\n")).await;
    for (mismatch_state, state) in [
        (None, State::Warning),
        (Some(State::Critical), State::Critical),
    ] {
        let mut tcp = TcpCheck {
            expect: Some("SSH-".to_owned()),
            timeout: Duration::from_secs(1),
            ..check("127.0.0.1", port)
        };
        if let Some(mismatch_state) = mismatch_state {
            tcp.expect_mismatch_state = mismatch_state;
        }
        let started = Instant::now();
        let outcome = run(&tcp).await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert_eq!(
            outcome.summary,
            format!("TCP {state} - unexpected response from 127.0.0.1 port {port}: 220 ftp ready")
        );
        // The banner server keeps the connection open, so the mismatch shows at the deadline,
        // and the time it took is reported, as check_tcp does.
        assert!(started.elapsed() >= Duration::from_millis(950));
        let seconds = outcome.perfdata[0].value.expect("a response time");
        assert!(seconds >= 0.95, "{seconds}");
    }
}

#[tokio::test]
async fn silent_server_times_out_critical() {
    let port = serve("127.0.0.1", Server::Silent).await;
    let tcp = TcpCheck {
        expect: Some("SSH-".to_owned()),
        timeout: Duration::from_millis(500),
        ..check("127.0.0.1", port)
    };
    let started = Instant::now();
    let outcome = run(&tcp).await;
    let elapsed = started.elapsed();
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("TCP CRITICAL - connection timed out after 0.5 s waiting for a response"),
        "{}",
        outcome.summary
    );
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(1500)).contains(&elapsed),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn response_time_thresholds() {
    let port = serve("127.0.0.1", Server::Silent).await;
    let table = [
        ("0", "", State::Warning, "0", ""),
        ("", "0", State::Critical, "", "0"),
        ("0", "0", State::Critical, "0", "0"),
        ("10", "20", State::Ok, "10", "20"),
    ];
    for (warning, critical, state, printed_warning, printed_critical) in table {
        let outcome = run(&TcpCheck {
            response_time: Thresholds::parse(warning, critical).expect("thresholds"),
            ..check("127.0.0.1", port)
        })
        .await;
        assert_eq!(
            outcome.state, state,
            "-w {warning} -c {critical}: {outcome:?}"
        );
        assert!(outcome.summary.starts_with(&format!("TCP {state} - ")));
        let text = outcome.to_plugin_output();
        assert!(
            text.ends_with(&format!(
                "s;{printed_warning};{printed_critical};0.000000;2.000000"
            )),
            "{text}"
        );
        printed(&outcome);
    }
}

#[tokio::test]
async fn unresolvable_host_is_unknown() {
    let outcome = run(&check("no-such-host.invalid", 22)).await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("TCP UNKNOWN - cannot resolve no-such-host.invalid: "),
        "{}",
        outcome.summary
    );
}

#[tokio::test]
async fn ipv6_loopback() {
    let port = serve("::1", Server::Banner("SSH-2.0-test\r\n")).await;
    let outcome = run(&TcpCheck {
        expect: Some("SSH-".to_owned()),
        ..check("::1", port)
    })
    .await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome
            .summary
            .ends_with(&format!("on ::1 port {port} [SSH-2.0-test]")),
        "{}",
        outcome.summary
    );

    let port = closed_port("::1").await;
    let outcome = run(&check("::1", port)).await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        format!("TCP CRITICAL - connection refused to [::1]:{port}")
    );
}

#[test]
fn validate_names_the_field() {
    let good = TcpCheck::new("db1.example.net", 5432);
    assert_eq!(good.validate(), Ok(()));
    let table: [(TcpCheck, TcpCheckError, &str); 7] = [
        (
            TcpCheck::new("", 22),
            TcpCheckError::HostEmpty,
            "host: is empty",
        ),
        (
            TcpCheck::new("db1 db2", 22),
            TcpCheckError::HostWithSpace("db1 db2".to_owned()),
            "host: \"db1 db2\" contains a space",
        ),
        (
            TcpCheck::new("db1", 0),
            TcpCheckError::PortZero,
            "port: must be 1 to 65535, not 0",
        ),
        (
            TcpCheck {
                timeout: Duration::ZERO,
                ..good.clone()
            },
            TcpCheckError::TimeoutOutOfRange(Duration::ZERO),
            "timeout: 0ns is out of range (1 ms to 300 s)",
        ),
        (
            TcpCheck {
                timeout: Duration::from_micros(999),
                ..good.clone()
            },
            TcpCheckError::TimeoutOutOfRange(Duration::from_micros(999)),
            "timeout: 999µs is out of range (1 ms to 300 s)",
        ),
        (
            TcpCheck {
                timeout: Duration::from_secs(301),
                ..good.clone()
            },
            TcpCheckError::TimeoutOutOfRange(Duration::from_secs(301)),
            "timeout: 301s is out of range (1 ms to 300 s)",
        ),
        (
            TcpCheck {
                expect: Some(String::new()),
                ..good.clone()
            },
            TcpCheckError::ExpectEmpty,
            "expect: is empty (leave it unset to expect nothing)",
        ),
    ];
    for (tcp, error, message) in table {
        let found = tcp.validate().expect_err(message);
        assert_eq!(found, error);
        assert_eq!(found.to_string(), message);
        assert!(message.starts_with(&format!("{}: ", found.field())));
    }
    for timeout in [Duration::from_millis(1), Duration::from_secs(300)] {
        assert_eq!(
            TcpCheck {
                timeout,
                ..good.clone()
            }
            .validate(),
            Ok(())
        );
    }
}

/// Debian's `check_tcp` and the probe, against the same server with the same send and expect,
/// agree on the state and on the shape of the perfdata.
#[tokio::test]
async fn agrees_with_check_tcp() {
    let plugin = Path::new(PLUGIN_DIR).join("check_tcp");
    assert!(
        plugin.is_file(),
        "{} is missing: install Debian's monitoring-plugins",
        plugin.display()
    );
    let port = serve("127.0.0.1", Server::Smtp).await;
    let closed = closed_port("127.0.0.1").await;
    for (port, expect, state) in [
        (port, "250", State::Ok),
        (port, "554", State::Warning),
        (closed, "250", State::Critical),
    ] {
        let port_text = port.to_string();
        let reference = tokio::process::Command::new(&plugin)
            .args(["-H", "127.0.0.1", "-p", &port_text, "-E", "-t", "2"])
            .args(["-s", "HELO x\\r\\n", "-e", expect])
            .kill_on_drop(true)
            .output();
        let reference = tokio::time::timeout(RUN_BOUND, reference)
            .await
            .expect("check_tcp ends in time")
            .expect("check_tcp runs");
        let reference_state = State::from_exit_code(reference.status.code().unwrap_or(-1));
        let stdout = String::from_utf8_lossy(&reference.stdout);
        let theirs = PluginOutput::parse(&stdout, 64 * 1024);

        let ours = run(&TcpCheck {
            send: Some("HELO x\\r\\n".to_owned()),
            expect: Some(expect.to_owned()),
            ..check("127.0.0.1", port)
        })
        .await;
        assert_eq!(reference_state, state, "check_tcp: {stdout}");
        assert_eq!(ours.state, state, "{ours:?}");
        if state == State::Critical {
            // check_tcp prints no perfdata when the connection is refused.
            continue;
        }
        let ours = printed(&ours);
        assert_eq!(theirs.perfdata.len(), 1, "check_tcp: {stdout}");
        assert_eq!(ours.perfdata.len(), 1);
        let (theirs, ours) = (&theirs.perfdata[0], &ours.perfdata[0]);
        assert_eq!(theirs.label, "time");
        assert_eq!(ours.label, theirs.label);
        assert_eq!(ours.uom, Uom::Seconds);
        assert_eq!(ours.uom, theirs.uom);
        assert_eq!((ours.min, ours.max), (theirs.min, theirs.max));
        assert_eq!(ours.max, Some(2.0));
    }
}
