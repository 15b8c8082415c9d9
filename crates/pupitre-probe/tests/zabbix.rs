//! The Zabbix agent probe against a real `zabbix_agentd` (Debian's `zabbix-agent`), started by
//! each test in the foreground on a free loopback port with its own configuration in a
//! temporary directory and stopped when the test ends, even on a panic; and against tiny
//! in-test servers for the replies a healthy agent never sends. Every run is bounded in time.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::Uom;
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::outcome::Outcome;
use pupitre_probe::zabbix::{DEFAULT_PORT, KeyProblem, ZabbixCheck, ZabbixCheckError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::Instant;

const AGENTD: &str = "/usr/sbin/zabbix_agentd";

/// No test waits longer than this for one run, whatever the probe does.
const RUN_BOUND: Duration = Duration::from_secs(5);

/// A running `zabbix_agentd`; dropping it stops the agent and removes its directory.
struct Agent {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Agent {
    /// An agent that answers passive checks from 127.0.0.1.
    fn start() -> Agent {
        Agent::start_for("127.0.0.1")
    }

    /// An agent on 127.0.0.1 whose `Server=` (the clients it answers) is `server`.
    ///
    /// `zabbix_agentd` only takes a `ListenPort` from 1024 to 32767, below Linux's ephemeral
    /// ports, so port 0 cannot pick one. Ports are tried from one that depends on the process
    /// id, so that tests running side by side start apart, and the next is tried when the
    /// agent finds its port taken.
    fn start_for(server: &str) -> Agent {
        assert!(
            Path::new(AGENTD).is_file(),
            "{AGENTD} is missing: these tests need Debian's Zabbix agent \
             (apt-get install zabbix-agent; .ci/run installs it)"
        );
        let first = std::process::id() % 12_000;
        let mut log = String::new();
        for attempt in 0..20 {
            let port = u16::try_from(20_000 + (first + attempt * 397) % 12_000).expect("a port");
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            match Agent::try_start(server, port) {
                Ok(agent) => return agent,
                Err(seen) if seen.contains("zbx_tcp_listen()") => log = seen,
                Err(seen) => panic!("zabbix_agentd did not start:\n{seen}"),
            }
        }
        panic!("zabbix_agentd found no free port; its last log:\n{log}");
    }

    /// Starts the agent on `port` and waits until its first listener says it started; `Err`
    /// holds its log if it stopped before.
    ///
    /// `AllowRoot=1` keeps it from switching to the `zabbix` user when the tests run as root,
    /// `ServerActive=` (empty) from trying active checks, and the pid file is in the
    /// temporary directory. It logs to stdout (`LogType=console`); the log is drained to the
    /// end so that the agent never blocks on a full pipe.
    fn try_start(server: &str, port: u16) -> Result<Agent, String> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = format!(
            "ListenIP=127.0.0.1\n\
             ListenPort={port}\n\
             Server={server}\n\
             ServerActive=\n\
             StartAgents=2\n\
             Hostname=pupitre-test\n\
             PidFile={}\n\
             LogType=console\n\
             DebugLevel=3\n\
             Timeout=3\n\
             AllowRoot=1\n",
            dir.path().join("zabbix_agentd.pid").display()
        );
        let config_path = dir.path().join("zabbix_agentd.conf");
        std::fs::write(&config_path, config).expect("write zabbix_agentd.conf");
        let mut child = Command::new(AGENTD)
            .arg("-f")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {AGENTD}: {error}"));
        let (lines, log) = mpsc::channel();
        let stdout = child.stdout.take().expect("agent stdout");
        let stderr = child.stderr.take().expect("agent stderr");
        drain(stdout, lines.clone());
        drain(stderr, lines);
        let agent = Agent { port, child, dir };
        let mut seen = Vec::new();
        loop {
            match log.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    let ready = line.contains("started [listener #1]");
                    seen.push(line);
                    if ready {
                        return Ok(agent);
                    }
                }
                // Both pipes closed: the agent stopped. Dropping it reaps it.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(seen.join("\n")),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "zabbix_agentd did not start within 10 s:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }

    fn check(&self, key: &str) -> ZabbixCheck {
        ZabbixCheck {
            port: self.port,
            timeout: Duration::from_secs(4),
            ..ZabbixCheck::new("127.0.0.1", key)
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SIGTERM to the main process, which stops its collector and listeners and then exits.
        // (SIGKILL would leave them behind: they ignore a SIGTERM that does not come from it.)
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Sends each line `from` writes to `lines` until it closes, on a thread of its own.
fn drain(from: impl Read + Send + 'static, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).split(b'\n').map_while(Result::ok) {
            let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
        }
    });
}

fn thresholds(warning: &str, critical: &str) -> Thresholds {
    Thresholds::parse(warning, critical).expect("thresholds")
}

/// Validates `check` and runs it once, bounded by [`RUN_BOUND`].
async fn run(check: &ZabbixCheck) -> Outcome {
    check.validate().expect("the check is valid");
    tokio::time::timeout(RUN_BOUND, check.run())
        .await
        .expect("the probe ends within its timeout")
}

/// The probe's output read back as Nagios reads a plugin's.
fn printed(outcome: &Outcome) -> PluginOutput {
    let parsed = PluginOutput::parse(&outcome.to_plugin_output(), 64 * 1024);
    assert!(parsed.perfdata_errors.is_empty(), "{parsed:?}");
    assert_eq!(parsed.summary, outcome.summary);
    assert_eq!(parsed.perfdata, outcome.perfdata);
    parsed
}

// ---------------------------------------------------------------------------------------------
// Against zabbix_agentd

#[tokio::test]
async fn agent_ping_is_ok() {
    let agent = Agent::start();
    let outcome = run(&agent.check("agent.ping")).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert_eq!(outcome.summary, "ZABBIX OK - agent.ping = 1");
    assert_eq!(outcome.long_output, "");
    assert_eq!(outcome.perfdata.len(), 1, "{outcome:?}");
    let datum = &outcome.perfdata[0];
    assert_eq!(
        (datum.label.as_str(), datum.value, &datum.uom),
        ("agent.ping", Some(1.0), &Uom::Count)
    );
    assert_eq!(
        outcome.to_plugin_output(),
        "ZABBIX OK - agent.ping = 1|agent.ping=1.000000;;;;"
    );
    printed(&outcome);
}

#[tokio::test]
async fn cpu_count_against_thresholds() {
    let agent = Agent::start();
    let table = [
        ("", "", State::Ok),
        ("", "1:", State::Ok),
        ("1:", "1:4096", State::Ok),
        ("0", "", State::Warning),
        ("", "0", State::Critical),
        ("0", "@1:", State::Critical),
    ];
    for (warning, critical, state) in table {
        let outcome = run(&ZabbixCheck {
            thresholds: thresholds(warning, critical),
            ..agent.check("system.cpu.num")
        })
        .await;
        assert_eq!(
            outcome.state, state,
            "-w {warning} -c {critical}: {outcome:?}"
        );
        let value = outcome.perfdata[0].value.expect("a CPU count");
        assert!(value >= 1.0 && value.fract() == 0.0, "{value}");
        assert_eq!(
            outcome.summary,
            format!("ZABBIX {state} - system.cpu.num = {value}")
        );
        let parsed = printed(&outcome);
        assert_eq!(
            parsed.perfdata[0].warning.map(|r| r.to_string()),
            (!warning.is_empty()).then(|| warning.to_owned())
        );
        assert_eq!(
            parsed.perfdata[0].critical.map(|r| r.to_string()),
            (!critical.is_empty()).then(|| critical.to_owned())
        );
    }
}

#[tokio::test]
async fn free_space_on_root_with_a_threshold() {
    let agent = Agent::start();
    for (key, critical, state) in [
        ("vfs.fs.size[/,pfree]", "0:100", State::Ok),
        ("vfs.fs.size[/,pfree]", "@0:100", State::Critical),
        ("vfs.fs.size[\"/\",pfree]", "0:100", State::Ok),
    ] {
        let outcome = run(&ZabbixCheck {
            thresholds: thresholds("", critical),
            ..agent.check(key)
        })
        .await;
        assert_eq!(outcome.state, state, "{key} -c {critical}: {outcome:?}");
        assert!(
            outcome
                .summary
                .starts_with(&format!("ZABBIX {state} - {key} = ")),
            "{}",
            outcome.summary
        );
        let datum = &outcome.perfdata[0];
        let percent = datum.value.expect("a percentage");
        assert!((0.0..=100.0).contains(&percent), "{percent}");
        assert_eq!(
            datum.label,
            if key.contains('"') {
                "vfs.fs.size[_/_,pfree]"
            } else {
                "vfs.fs.size[/,pfree]"
            }
        );
        printed(&outcome);
    }
}

#[tokio::test]
async fn unsupported_keys_are_unknown_with_the_agent_reason() {
    let agent = Agent::start();
    for (key, reason) in [
        ("no.such.key", "Unsupported item key."),
        ("agent.ping[x]", "Item does not allow parameters."),
    ] {
        let outcome = run(&agent.check(key)).await;
        assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
        assert_eq!(
            outcome.summary,
            format!("ZABBIX UNKNOWN - {key}: not supported by the agent: {reason}")
        );
        assert_eq!(outcome.perfdata, []);
    }
}

#[tokio::test]
async fn text_values_are_ok_unless_thresholds_are_set() {
    let agent = Agent::start();
    let outcome = run(&agent.check("agent.version")).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    let version = outcome
        .summary
        .strip_prefix("ZABBIX OK - agent.version = ")
        .expect(&outcome.summary);
    assert!(
        version.split('.').count() == 3 && version.starts_with(char::is_numeric),
        "{version}"
    );
    assert_eq!(outcome.perfdata, []);

    let outcome = run(&ZabbixCheck {
        thresholds: thresholds("", "1:"),
        ..agent.check("agent.version")
    })
    .await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        format!(
            "ZABBIX UNKNOWN - agent.version = {version}: not a number, so the thresholds \
             cannot apply"
        )
    );
    assert_eq!(outcome.perfdata, []);
}

/// A multi-line value: its first line in the summary, all of it in the long output, and a `|`
/// that cannot start performance data.
#[tokio::test]
async fn multi_line_text_goes_to_the_long_output() {
    let agent = Agent::start();
    let file = agent.dir.path().join("motd");
    std::fs::write(&file, "first | line\nsecond line\n").expect("write the file");
    let key = format!("vfs.file.contents[{}]", file.display());
    let outcome = run(&agent.check(&key)).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        format!("ZABBIX OK - {key} = first \\x7c line…")
    );
    assert_eq!(outcome.long_output, "first \\x7c line\nsecond line");
    let parsed = printed(&outcome);
    assert_eq!(parsed.long_output, outcome.long_output);
}

/// An agent whose `Server=` does not list the probe's address closes the connection at once.
#[tokio::test]
async fn agent_that_does_not_answer_this_address_is_unknown() {
    let agent = Agent::start_for("127.0.0.2");
    let outcome = run(&agent.check("agent.ping")).await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "ZABBIX UNKNOWN - the agent closed the connection without answering (does its Server= \
         list this address?)"
    );
}

// ---------------------------------------------------------------------------------------------
// Without an agent

/// A port on 127.0.0.1 where nothing listens: bound, then closed.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    listener.local_addr().expect("address").port()
}

fn check(port: u16, key: &str) -> ZabbixCheck {
    ZabbixCheck {
        port,
        timeout: Duration::from_secs(2),
        ..ZabbixCheck::new("127.0.0.1", key)
    }
}

#[tokio::test]
async fn refused_connection_is_critical() {
    let port = closed_port().await;
    let outcome = run(&check(port, "agent.ping")).await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        format!("ZABBIX CRITICAL - connection refused to 127.0.0.1:{port}")
    );
    assert_eq!(outcome.perfdata, []);
}

#[tokio::test]
async fn unresolvable_host_is_unknown() {
    let outcome = run(&ZabbixCheck {
        timeout: Duration::from_secs(2),
        ..ZabbixCheck::new("no-such-host.invalid", "agent.ping")
    })
    .await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("ZABBIX UNKNOWN - cannot resolve no-such-host.invalid: "),
        "{}",
        outcome.summary
    );
}

/// What a fake agent does once it has read a request.
#[derive(Clone)]
enum Fake {
    /// Sends these bytes and closes.
    Reply(Vec<u8>),
    /// Sends these bytes one at a time, then closes.
    Dribble(Vec<u8>),
    /// Sends these bytes and keeps the connection open until the peer closes.
    ReplyAndHold(Vec<u8>),
    /// Sends nothing and keeps the connection open.
    Silent,
}

/// Serves `fake` on 127.0.0.1 (port 0) in the background; returns the port and the requests
/// received, as bytes.
async fn fake_agent(fake: Fake) -> (u16, UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (requests, received) = unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let fake = fake.clone();
            let requests = requests.clone();
            tokio::spawn(async move {
                let _ = requests.send(read_request(&mut stream).await);
                match fake {
                    Fake::Reply(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                    }
                    Fake::Dribble(bytes) => {
                        for byte in bytes {
                            let _ = stream.write_all(&[byte]).await;
                            let _ = stream.flush().await;
                        }
                    }
                    Fake::ReplyAndHold(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        hold(&mut stream).await;
                    }
                    Fake::Silent => hold(&mut stream).await,
                }
            });
        }
    });
    (port, received)
}

/// Reads a ZBXD request: the 13-byte header and the length it gives.
async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut request = vec![0; 13];
    if stream.read_exact(&mut request).await.is_err() {
        return request;
    }
    let length = u32::from_le_bytes(request[5..9].try_into().expect("4 bytes"));
    let mut key = vec![0; length as usize];
    if stream.read_exact(&mut key).await.is_ok() {
        request.extend_from_slice(&key);
    }
    request
}

/// Waits until the peer closes.
async fn hold(stream: &mut TcpStream) {
    let mut chunk = [0; 64];
    while let Ok(1..) = stream.read(&mut chunk).await {}
}

/// A reply packet: `ZBXD`, `flags`, the data length and `reserved` (8 bytes each with the
/// large-packet flag, else 4), then `data`.
fn packet(flags: u8, data: &[u8], reserved: u64) -> Vec<u8> {
    let mut packet = b"ZBXD".to_vec();
    packet.push(flags);
    let length = data.len() as u64;
    if flags & 0x04 == 0 {
        packet.extend_from_slice(&(length as u32).to_le_bytes());
        packet.extend_from_slice(&(reserved as u32).to_le_bytes());
    } else {
        packet.extend_from_slice(&length.to_le_bytes());
        packet.extend_from_slice(&reserved.to_le_bytes());
    }
    packet.extend_from_slice(data);
    packet
}

/// A header alone, announcing `length` bytes of data.
fn header(flags: u8, length: u64, reserved: u64) -> Vec<u8> {
    let mut bytes = packet(flags, &[], reserved);
    if flags & 0x04 == 0 {
        bytes[5..9].copy_from_slice(&(length as u32).to_le_bytes());
    } else {
        bytes[5..13].copy_from_slice(&length.to_le_bytes());
    }
    bytes
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("compress");
    encoder.finish().expect("compress")
}

/// Replies a healthy agent may send, however they are framed, all read as the same value.
#[tokio::test]
async fn compressed_large_and_dribbled_replies_are_read() {
    let table = [
        ("plain", Fake::Reply(packet(0x01, b"0.500000", 0))),
        (
            "compressed",
            Fake::Reply(packet(0x03, &zlib(b"0.500000"), 8)),
        ),
        ("large packet", Fake::Reply(packet(0x05, b"0.500000", 0))),
        (
            "compressed large packet",
            Fake::Reply(packet(0x07, &zlib(b"0.500000"), 8)),
        ),
        (
            "one byte at a time",
            Fake::Dribble(packet(0x01, b"0.500000", 0)),
        ),
        (
            "with a trailing newline",
            Fake::Reply(packet(0x01, b"0.500000\n", 0)),
        ),
    ];
    for (name, fake) in table {
        let (port, mut requests) = fake_agent(fake).await;
        let outcome = run(&ZabbixCheck {
            thresholds: thresholds("0.4:", "0:1"),
            ..check(port, "system.cpu.load[all,avg1]")
        })
        .await;
        assert_eq!(outcome.state, State::Ok, "{name}: {outcome:?}");
        assert_eq!(
            outcome.summary, "ZABBIX OK - system.cpu.load[all,avg1] = 0.500000",
            "{name}"
        );
        assert_eq!(
            outcome.to_plugin_output(),
            "ZABBIX OK - system.cpu.load[all,avg1] = 0.500000\
             |system.cpu.load[all,avg1]=0.500000;0.4:;1;;",
            "{name}"
        );
        let request = requests.recv().await.expect("a request");
        assert_eq!(
            request, b"ZBXD\x01\x19\x00\x00\x00\x00\x00\x00\x00system.cpu.load[all,avg1]",
            "{name}"
        );
    }
}

/// Replies the probe cannot use: each is UNKNOWN, saying why, and none waits for the deadline.
#[tokio::test]
async fn unusable_replies_are_unknown() {
    const MIB: u64 = 1024 * 1024;
    let mut truncated = packet(0x01, &[b'7'; 100], 0);
    truncated.truncate(13 + 10);
    let table = [
        (
            Fake::Reply(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n".to_vec()),
            "not a Zabbix agent: the reply has no ZBXD header (it starts with \
             \"HTTP/1.1 400 Bad Request\\r\\nConnec…\")",
        ),
        (
            Fake::ReplyAndHold(b"SSH".to_vec()),
            "not a Zabbix agent: the reply has no ZBXD header (it starts with \"SSH\")",
        ),
        (
            Fake::ReplyAndHold(header(0x01, 2 * MIB, 0)),
            "the reply announces 2097152 bytes, more than the 1048576-byte limit",
        ),
        (
            Fake::ReplyAndHold(header(0x05, 5 << 30, 0)),
            "the reply announces 5368709120 bytes, more than the 1048576-byte limit",
        ),
        (
            Fake::ReplyAndHold(header(0x03, 100, 2 * MIB)),
            "the reply announces 2097152 bytes once decompressed, more than the 1048576-byte \
             limit",
        ),
        (
            Fake::Reply(truncated),
            "the reply was cut short: 10 of the 100 bytes it announces",
        ),
        (
            Fake::Reply(b"ZBXD\x01\x05\x00".to_vec()),
            "the reply was cut short: 7 bytes of a 13-byte header",
        ),
        (
            Fake::Reply(b"ZBX".to_vec()),
            "the reply was cut short: 3 bytes of a header",
        ),
        (
            Fake::Reply(Vec::new()),
            "the agent closed the connection without answering (does its Server= list this \
             address?)",
        ),
        (
            Fake::Reply(packet(0x09, b"1", 0)),
            "unsupported ZBXD flags 0x09",
        ),
        (
            Fake::Reply(packet(0x00, b"1", 0)),
            "unsupported ZBXD flags 0x00",
        ),
        (
            Fake::Reply(packet(0x03, b"not zlib at all", 1)),
            "cannot decompress the reply: corrupt deflate stream",
        ),
        (
            Fake::Reply(packet(0x03, &zlib(b"12345"), 3)),
            "the reply decompresses to 5 bytes, not the 3 it announces",
        ),
        (
            Fake::Reply(packet(0x03, &zlib(&vec![b'1'; 2 * MIB as usize]), MIB)),
            "the reply decompresses to more than 1048576 bytes, not the 1048576 it announces",
        ),
        (
            Fake::Reply(packet(0x01, b"ZBX_NOTSUPPORTED", 0)),
            "agent.ping: not supported by the agent",
        ),
        (
            Fake::Reply(packet(
                0x01,
                b"ZBX_NOTSUPPORTED\0Cannot obtain | data.\0",
                0,
            )),
            "agent.ping: not supported by the agent: Cannot obtain \\x7c data.",
        ),
        (
            Fake::Reply(packet(0x01, b"ZBX_ERROR", 0)),
            "agent.ping: the agent answered ZBX_ERROR",
        ),
    ];
    for (fake, summary) in table {
        let (port, _requests) = fake_agent(fake).await;
        let started = Instant::now();
        let outcome = run(&ZabbixCheck {
            thresholds: thresholds("", "1"),
            ..check(port, "agent.ping")
        })
        .await;
        assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
        assert_eq!(outcome.summary, format!("ZABBIX UNKNOWN - {summary}"));
        assert_eq!(outcome.perfdata, []);
        assert!(started.elapsed() < Duration::from_secs(1), "{summary}");
        printed(&outcome);
    }
}

#[tokio::test]
async fn silent_peer_times_out_critical() {
    let (port, _requests) = fake_agent(Fake::Silent).await;
    let started = Instant::now();
    let outcome = run(&ZabbixCheck {
        timeout: Duration::from_millis(500),
        ..check(port, "agent.ping")
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        format!(
            "ZABBIX CRITICAL - timed out after 0.5 s waiting for the agent at 127.0.0.1 port \
             {port} to answer agent.ping"
        )
    );
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(1500)).contains(&elapsed),
        "{elapsed:?}"
    );
}

#[test]
fn validate_names_the_field() {
    let good = ZabbixCheck::new("web1.example.net", "vfs.fs.size[/,pfree]");
    assert_eq!(good.port, DEFAULT_PORT);
    assert_eq!(good.validate(), Ok(()));
    let with = |change: fn(&mut ZabbixCheck)| {
        let mut check = good.clone();
        change(&mut check);
        check
    };
    let table: [(ZabbixCheck, ZabbixCheckError, &str); 8] = [
        (
            with(|c| c.host = String::new()),
            ZabbixCheckError::HostEmpty,
            "host: is empty",
        ),
        (
            with(|c| c.host = "web1 web2".to_owned()),
            ZabbixCheckError::HostWithSpace("web1 web2".to_owned()),
            "host: \"web1 web2\" contains a space",
        ),
        (
            with(|c| c.port = 0),
            ZabbixCheckError::PortZero,
            "port: must be 1 to 65535, not 0",
        ),
        (
            with(|c| c.key = String::new()),
            ZabbixCheckError::Key(KeyProblem::Empty),
            "key: is empty",
        ),
        (
            with(|c| c.key = "system cpu".to_owned()),
            ZabbixCheckError::Key(KeyProblem::NameCharacter { at: 7, found: ' ' }),
            "key: character 7 (' ') cannot be in a key name, which is made of letters, digits, \
             `_`, `-` and `.` (parameters go in `[]`)",
        ),
        (
            with(|c| c.key = "vfs.fs.size[\"/,pfree]".to_owned()),
            ZabbixCheckError::Key(KeyProblem::UnclosedQuote { at: 13 }),
            "key: the quote at character 13 has no closing quote",
        ),
        (
            with(|c| c.timeout = Duration::ZERO),
            ZabbixCheckError::TimeoutOutOfRange(Duration::ZERO),
            "timeout: 0ns is out of range (1 ms to 300 s)",
        ),
        (
            with(|c| c.timeout = Duration::from_secs(301)),
            ZabbixCheckError::TimeoutOutOfRange(Duration::from_secs(301)),
            "timeout: 301s is out of range (1 ms to 300 s)",
        ),
    ];
    for (check, error, message) in table {
        let found = check.validate().expect_err(message);
        assert_eq!(found, error);
        assert_eq!(found.to_string(), message);
        assert!(message.starts_with(&format!("{}: ", found.field())));
    }
}

/// A check that was never validated is refused at run time, without IO.
#[tokio::test]
async fn invalid_check_is_unknown_when_run() {
    let outcome = ZabbixCheck::new("127.0.0.1", "agent ping").run().await;
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("ZABBIX UNKNOWN - invalid check: key: character 6 (' ')"),
        "{}",
        outcome.summary
    );
}
