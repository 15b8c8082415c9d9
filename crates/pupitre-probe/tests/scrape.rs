//! The Prometheus scrape probe against a real node exporter (Debian's
//! `prometheus-node-exporter`, started on a free loopback port) and against a small server on
//! 127.0.0.1 that answers what exporters, proxies and attackers may answer: gzip, OpenMetrics,
//! garbage, an endless body, a gzip bomb, errors. Every server binds port 0; every run is
//! bounded in time.

use std::io::{BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::exposition::Selector;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::outcome::Outcome;
use pupitre_probe::scrape::{ACCEPT_HEADER, Scrape, ScrapeCheck, ScrapeCheckError};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

#[path = "support/head.rs"]
mod head;

use head::read_head;

/// What a run may take beyond the check's own timeout before the test fails.
const SLACK: Duration = Duration::from_secs(2);

/// A node exporter's answer, cut down: two filesystems and a load average.
const TEXT: &str = "\
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 1.2e+10
node_filesystem_avail_bytes{device=\"/dev/vda2\",fstype=\"ext4\",mountpoint=\"/home\"} 3.4e+09
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.42
";

const OPENMETRICS: &str = "\
# TYPE node_filesystem_avail_bytes gauge
# UNIT node_filesystem_avail_bytes bytes
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
node_filesystem_avail_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 1.2e+10
node_filesystem_avail_bytes{device=\"/dev/vda2\",fstype=\"ext4\",mountpoint=\"/home\"} 3.4e+09
# TYPE http_requests counter
http_requests_total{code=\"200\"} 1027
http_requests_created{code=\"200\"} 1.7e+09
# EOF
";

const ROOT: &str = r#"node_filesystem_avail_bytes{mountpoint="/"}"#;
const ROOT_SERIES: &str =
    r#"node_filesystem_avail_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("compress");
    encoder.finish().expect("compress")
}

/// A gzip body of 64 members of 4 MiB of zeros each: about 260 KB that decompress to 256 MiB.
fn gzip_bomb() -> Vec<u8> {
    gzip(&vec![0; 4 * 1024 * 1024]).repeat(64)
}

/// The test server: its port, and the head of each request it received.
struct Server {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

/// Serves the routes of [`respond`] over plain HTTP on 127.0.0.1 (port 0).
async fn serve() -> Server {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let recorded = heads.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(respond(stream, recorded.clone()));
        }
    });
    Server { port, heads }
}

/// Serves the same routes over TLS with this chain and key; returns the port.
async fn serve_tls(chain: Vec<rustls::pki_types::CertificateDer<'static>>, key: Vec<u8>) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
    .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    respond(tls, Arc::new(Mutex::new(Vec::new()))).await;
                }
            });
        }
    });
    port
}

/// Reads one request head, records it, answers by path, then closes.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, heads: Arc<Mutex<Vec<String>>>) {
    let Some((head, path)) = read_head(&mut stream).await else {
        return;
    };
    if let Ok(mut heads) = heads.lock() {
        heads.push(head);
    }
    let reply = |status: &str, headers: &str, body: &[u8]| {
        let mut reply = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply
    };
    let text_plain = "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n";
    let bytes = match path.as_str() {
        "/metrics" => reply("200 OK", text_plain, TEXT.as_bytes()),
        "/gzip" => reply(
            "200 OK",
            &format!("{text_plain}Content-Encoding: gzip\r\n"),
            &gzip(TEXT.as_bytes()),
        ),
        "/openmetrics" => reply(
            "200 OK",
            "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n",
            OPENMETRICS.as_bytes(),
        ),
        "/garbage" => reply(
            "200 OK",
            "Content-Type: text/html\r\n",
            b"<html><body>Please log in</body></html>\n",
        ),
        "/bomb" => reply(
            "200 OK",
            &format!("{text_plain}Content-Encoding: gzip\r\n"),
            &gzip_bomb(),
        ),
        "/broken" => reply(
            "500 Internal Server Error",
            "Content-Type: text/plain; charset=utf-8\r\n",
            b"An error has occurred while serving metrics:\n\ncollector \"filesystem\" failed\n",
        ),
        "/moved" => reply("302 Found", "Location: /metrics\r\n", b""),
        "/endless" => {
            // No Content-Length: the body runs until the connection closes, here after 64 MiB
            // or as soon as the peer stops reading.
            let head = format!("HTTP/1.1 200 OK\r\n{text_plain}Connection: close\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = "filler_metric{i=\"0\"} 1\n".repeat(2730).into_bytes();
            for _ in 0..(64 * 1024 * 1024) / block.len() {
                if stream.write_all(&block).await.is_err() {
                    return;
                }
            }
            return;
        }
        "/announced" => {
            // Announces 64 MiB and sends them lazily.
            let size = 64 * 1024 * 1024;
            let head = format!("HTTP/1.1 200 OK\r\n{text_plain}Content-Length: {size}\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![b'#'; 64 * 1024];
            for _ in 0..size / block.len() {
                if stream.write_all(&block).await.is_err() {
                    return;
                }
            }
            return;
        }
        "/hang" => {
            // Holds the connection, never answering, until the peer goes away.
            let mut chunk = [0; 1024];
            while let Ok(1..) = stream.read(&mut chunk).await {}
            return;
        }
        _ => reply("404 Not Found", "", b"404 page not found\n"),
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// A port on 127.0.0.1 where nothing listens: bound, then closed.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    listener.local_addr().expect("address").port()
}

fn check(url: String, selector: &str) -> ScrapeCheck {
    ScrapeCheck {
        timeout: Duration::from_secs(3),
        ..ScrapeCheck::new(url, Selector::parse(selector).expect("selector"))
    }
}

/// Validates and runs the check, and fails the test if the run outlasts its timeout by more
/// than [`SLACK`].
async fn scrape(check: &ScrapeCheck) -> Scrape {
    check.validate().expect("a valid check");
    check.check_files().expect("readable files");
    tokio::time::timeout(check.timeout + SLACK, check.scrape())
        .await
        .expect("the probe keeps to its deadline")
}

async fn run(check: &ScrapeCheck) -> Outcome {
    scrape(check).await.outcome
}

/// The outcome printed as a plugin would print it, and parsed back.
fn printed(outcome: &Outcome) -> PluginOutput {
    let parsed = PluginOutput::parse(&outcome.to_plugin_output(), 64 * 1024);
    assert!(parsed.perfdata_errors.is_empty(), "{parsed:?}");
    assert_eq!(parsed.summary, outcome.summary);
    parsed
}

fn datum<'a>(outcome: &'a Outcome, label: &str) -> &'a PerfDatum {
    outcome
        .perfdata
        .iter()
        .find(|d| d.label == label)
        .unwrap_or_else(|| panic!("no {label} in {outcome:?}"))
}

fn assert_unknown(outcome: &Outcome, summary_start: &str) {
    assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with(&format!("PROMETHEUS UNKNOWN - {summary_start}")),
        "{}",
        outcome.summary
    );
}

// ---------------------------------------------------------------------------------------------
// A real node exporter
// ---------------------------------------------------------------------------------------------

const EXPORTER: &str = "prometheus-node-exporter";

/// A running node exporter, killed when dropped (also when the test panics).
struct Exporter {
    child: Child,
    port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Exporter {
    /// Starts the exporter on a free loopback port and waits for its `Listening on` log line.
    fn start() -> Exporter {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No systemd in CI containers; keep overlay so that `/` is reported in containers.
            .arg("--no-collector.systemd")
            .arg("--collector.filesystem.fs-types-exclude=^(proc|sysfs|tmpfs|devtmpfs|devpts|cgroup2?|mqueue|nsfs)$")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{EXPORTER}` ({e}); install it with \
                     `apt-get install -y prometheus-node-exporter` (see .ci/run)"
                )
            });
        let mut exporter = Exporter { child, port };
        let stderr = exporter.child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
                if line.contains("msg=\"Listening on\"") {
                    let _ = ready_tx.send(Ok(()));
                }
            }
            // The exporter exited (or was killed): report its log if it never got ready.
            let _ = ready_tx.send(Err(log));
        });
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => exporter,
            Ok(Err(log)) => panic!("{EXPORTER} exited before listening:\n{log}"),
            Err(e) => panic!("{EXPORTER} did not log `Listening on` within 20 s: {e}"),
        }
    }
}

/// The acceptance case: the free bytes of `/` from a real node exporter, judged OK, WARNING and
/// CRITICAL by thresholds that hold whatever the disk (a filesystem has at least 0 and less
/// than 1e30 bytes free).
#[tokio::test]
async fn node_exporter_root_filesystem() {
    let exporter = Exporter::start();
    let url = format!("http://127.0.0.1:{}/metrics", exporter.port);
    let table = [
        ("", "0:", State::Ok, "(OK)"),
        ("1e30:", "", State::Warning, "(WARNING: outside 1e30:)"),
        ("", "@0:", State::Critical, "(CRITICAL: inside 0:)"),
        ("", "1e30:", State::Critical, "(CRITICAL: outside 1e30:)"),
    ]
    .map(|(warning, critical, state, why)| {
        // Ranges are shown as Rust prints their bounds.
        let why = why.replace("1e30", &1e30_f64.to_string());
        (warning, critical, state, why)
    });
    for (warning, critical, state, why) in table {
        let thresholds = Thresholds::parse(warning, critical).expect("thresholds");
        let scraped = scrape(&ScrapeCheck {
            thresholds,
            timeout: Duration::from_secs(10),
            ..check(url.clone(), ROOT)
        })
        .await;
        let outcome = &scraped.outcome;
        assert_eq!(outcome.state, state, "{outcome:?}");
        let expected_start = format!("PROMETHEUS {state} - {ROOT} = ");
        assert!(
            outcome.summary.starts_with(&expected_start) && outcome.summary.ends_with(&why),
            "{}",
            outcome.summary
        );
        // Asked for gzip, the exporter compresses; the probe says how much came.
        assert!(
            outcome.long_output.contains(" bytes gzip, read in "),
            "{}",
            outcome.long_output
        );

        let [series] = scraped.selected.as_slice() else {
            panic!("one series: {:?}", scraped.selected);
        };
        assert_eq!(series.label("mountpoint"), "/");
        assert!(series.value >= 0.0, "{series:?}");
        let value = datum(outcome, &series.to_string());
        assert_eq!(value.value, Some(series.value));
        assert_eq!(value.uom, Uom::Bytes);
        assert_eq!(
            (value.warning, value.critical),
            (thresholds.warning, thresholds.critical)
        );
        let samples = datum(outcome, "samples").value.expect("a count");
        assert!(samples > 100.0, "{samples} samples");
        let time = datum(outcome, "scrape_time");
        assert!(time.value.is_some_and(|t| t > 0.0 && t < 10.0), "{time:?}");
        assert_eq!((time.uom.clone(), time.max), (Uom::Seconds, Some(10.0)));

        let labels: Vec<String> = printed(outcome)
            .perfdata
            .into_iter()
            .map(|d| d.label)
            .collect();
        assert_eq!(
            labels,
            [series.to_string(), "scrape_time".into(), "samples".into()]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The test server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn plain_text_ok_with_perfdata() {
    let server = serve().await;
    let outcome = run(&ScrapeCheck {
        thresholds: Thresholds::parse("1e10:", "1e9:").expect("thresholds"),
        ..check(server.url("/metrics"), ROOT)
    })
    .await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        format!("PROMETHEUS OK - {ROOT} = 12000000000 (OK)")
    );
    assert!(
        outcome.long_output.starts_with(&format!(
            "{ROOT_SERIES}\n3 samples in {} bytes of text 0.0.4, read in ",
            TEXT.len()
        )),
        "{}",
        outcome.long_output
    );
    let labels: Vec<String> = printed(&outcome)
        .perfdata
        .into_iter()
        .map(|d| d.label)
        .collect();
    assert_eq!(labels, [ROOT_SERIES, "scrape_time", "samples"]);
    let value = datum(&outcome, ROOT_SERIES);
    assert_eq!(
        (value.value, value.uom.clone()),
        (Some(12_000_000_000.0), Uom::Bytes)
    );
    assert_eq!(datum(&outcome, "samples").value, Some(3.0));

    // The request asked for OpenMetrics, then the text format, and for gzip.
    let heads = server.heads();
    let head = heads.first().expect("one request").to_ascii_lowercase();
    assert!(
        head.contains(&format!(
            "\r\naccept: {}\r\n",
            ACCEPT_HEADER.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(head.contains("\r\naccept-encoding: gzip\r\n"), "{head}");
    assert!(head.contains("\r\nuser-agent: pupitre/"), "{head}");
}

#[tokio::test]
async fn thresholds_on_the_value() {
    let server = serve().await;
    let table = [
        (
            "2e10:",
            "",
            State::Warning,
            "(WARNING: outside 20000000000:)",
        ),
        (
            "",
            "2e10:",
            State::Critical,
            "(CRITICAL: outside 20000000000:)",
        ),
        (
            "",
            "@1e10:2e10",
            State::Critical,
            "(CRITICAL: inside 10000000000:20000000000)",
        ),
        ("", "", State::Ok, "(OK)"),
    ];
    for (warning, critical, state, why) in table {
        let outcome = run(&ScrapeCheck {
            thresholds: Thresholds::parse(warning, critical).expect("thresholds"),
            ..check(server.url("/metrics"), ROOT)
        })
        .await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert_eq!(
            outcome.summary,
            format!("PROMETHEUS {state} - {ROOT} = 12000000000 {why}")
        );
    }
}

#[tokio::test]
async fn gzip_body_is_decompressed() {
    let server = serve().await;
    let outcome = run(&check(server.url("/gzip"), ROOT)).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    let compressed = gzip(TEXT.as_bytes()).len();
    assert!(
        outcome.long_output.contains(&format!(
            "3 samples in {} bytes of text 0.0.4, {compressed} bytes gzip, read in ",
            TEXT.len()
        )),
        "{}",
        outcome.long_output
    );
}

#[tokio::test]
async fn openmetrics_with_its_content_type() {
    let server = serve().await;
    let outcome = run(&check(server.url("/openmetrics"), ROOT)).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome
            .long_output
            .contains(" bytes of OpenMetrics, read in "),
        "{}",
        outcome.long_output
    );

    // A counter's sample is given the unit `c`, so that a metrics sink takes its rate.
    let outcome = run(&check(server.url("/openmetrics"), "http_requests_total")).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    let value = datum(&outcome, r#"http_requests_total{code="200"}"#);
    assert_eq!(
        (value.value, value.uom.clone()),
        (Some(1027.0), Uom::Counter)
    );
}

#[tokio::test]
async fn garbage_is_unknown_with_the_parse_problem() {
    let server = serve().await;
    let outcome = run(&check(server.url("/garbage"), ROOT)).await;
    assert_unknown(
        &outcome,
        "cannot parse the body as text 0.0.4 (Content-Type \"text/html\" names no text format): \
         line 1: expected a metric name, found `<html><body>Please`",
    );
    assert!(outcome.perfdata.is_empty());
}

#[tokio::test]
async fn selector_must_match_exactly_one_series() {
    let server = serve().await;
    let none = scrape(&check(
        server.url("/metrics"),
        r#"node_filesystem_avail_bytes{mountpoint="/srv"}"#,
    ))
    .await;
    assert_unknown(
        &none.outcome,
        r#"no series matches node_filesystem_avail_bytes{mountpoint="/srv"}"#,
    );
    assert!(none.selected.is_empty());

    let two = scrape(&check(
        server.url("/metrics"),
        r#"node_filesystem_avail_bytes{fstype="ext4"}"#,
    ))
    .await;
    assert_unknown(
        &two.outcome,
        r#"2 series match node_filesystem_avail_bytes{fstype="ext4"}; add labels to pick one"#,
    );
    assert!(
        two.outcome.long_output.starts_with(&format!(
            "{ROOT_SERIES} 12000000000\n\
             node_filesystem_avail_bytes{{device=\"/dev/vda2\",fstype=\"ext4\",mountpoint=\"/home\"}} 3400000000\n"
        )),
        "{}",
        two.outcome.long_output
    );
    let mountpoints: Vec<&str> = two.selected.iter().map(|s| s.label("mountpoint")).collect();
    assert_eq!(mountpoints, ["/", "/home"]);

    // The scrape itself worked: its figures are there, the value is not.
    for outcome in [&none.outcome, &two.outcome] {
        let labels: Vec<&str> = outcome.perfdata.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["scrape_time", "samples"]);
        printed(outcome);
    }

    // A `|` in a regex selector is shown escaped: it would start performance data.
    let alternatives = run(&check(
        server.url("/metrics"),
        r#"node_filesystem_avail_bytes{mountpoint=~"/srv|/opt"}"#,
    ))
    .await;
    assert_unknown(
        &alternatives,
        r#"no series matches node_filesystem_avail_bytes{mountpoint=~"/srv\x7c/opt"}"#,
    );
    printed(&alternatives);
}

/// An endless body is cut at `body_limit`, at once, rather than read until the deadline.
#[tokio::test]
async fn endless_body_stops_at_the_limit() {
    let server = serve().await;
    for path in ["/endless", "/announced"] {
        let started = Instant::now();
        let outcome = run(&ScrapeCheck {
            body_limit: 1024 * 1024,
            timeout: Duration::from_secs(10),
            ..check(server.url(path), ROOT)
        })
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
        assert_unknown(&outcome, "the body exceeded 1048576 bytes (body_limit)");
        assert!(outcome.perfdata.is_empty());
    }
}

/// 260 KB that decompress to 256 MiB: decompression stops at `body_limit`.
#[tokio::test]
async fn gzip_bomb_stops_at_the_limit() {
    let server = serve().await;
    let started = Instant::now();
    let outcome = run(&ScrapeCheck {
        body_limit: 1024 * 1024,
        timeout: Duration::from_secs(10),
        ..check(server.url("/bomb"), ROOT)
    })
    .await;
    assert_unknown(
        &outcome,
        "the decompressed body exceeded 1048576 bytes (body_limit); stopped decompressing",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The exporter answered, without metrics: UNKNOWN, with what it said.
#[tokio::test]
async fn error_status_is_unknown() {
    let server = serve().await;
    let broken = run(&check(server.url("/broken"), ROOT)).await;
    assert_unknown(
        &broken,
        "the exporter answered HTTP/1.1 500 Internal Server Error",
    );
    assert_eq!(
        broken.long_output,
        "An error has occurred while serving metrics:\n\ncollector \"filesystem\" failed"
    );
    assert!(broken.perfdata.is_empty());

    let missing = run(&check(server.url("/nowhere"), ROOT)).await;
    assert_unknown(&missing, "the exporter answered HTTP/1.1 404 Not Found");

    let moved = run(&check(server.url("/moved"), ROOT)).await;
    assert_eq!(
        moved.summary,
        "PROMETHEUS UNKNOWN - the exporter answered HTTP/1.1 302 Found (redirects are not \
         followed; point url at /metrics)"
    );
}

/// The exporter cannot be reached: CRITICAL, as the HTTP probe says.
#[tokio::test]
async fn connection_refused_is_critical() {
    let port = closed_port().await;
    for scheme in ["http", "https"] {
        let outcome = run(&check(format!("{scheme}://127.0.0.1:{port}/metrics"), ROOT)).await;
        assert_eq!(outcome.state, State::Critical, "{outcome:?}");
        assert_eq!(
            outcome.summary,
            format!("PROMETHEUS CRITICAL - connection refused by 127.0.0.1 port {port}")
        );
        assert!(outcome.perfdata.is_empty());
    }
}

#[tokio::test]
async fn silent_exporter_times_out_critical() {
    let server = serve().await;
    let started = Instant::now();
    let outcome = run(&ScrapeCheck {
        timeout: Duration::from_millis(500),
        ..check(server.url("/hang"), ROOT)
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        outcome.summary,
        "PROMETHEUS CRITICAL - timed out after 0.5 s waiting for the response"
    );
    assert!(elapsed >= Duration::from_millis(490) && elapsed < Duration::from_secs(2));
}

/// UNKNOWN, unlike the HTTP probe: the value was never looked at. `.invalid` never resolves
/// (RFC 6761).
#[tokio::test]
async fn unresolvable_host_is_unknown() {
    let outcome = run(&check(
        "http://nonexistent.invalid:9100/metrics".to_owned(),
        ROOT,
    ))
    .await;
    assert_unknown(&outcome, "cannot resolve nonexistent.invalid: ");
}

#[tokio::test]
async fn invalid_checks_are_unknown() {
    let outcome = run_unvalidated(&ScrapeCheck {
        body_limit: 0,
        ..check("http://127.0.0.1:9/metrics".to_owned(), ROOT)
    })
    .await;
    assert_unknown(
        &outcome,
        "invalid check: body_limit: 0 bytes is out of range (1 byte to 256 MiB)",
    );

    let directory = tempfile::tempdir().expect("temporary directory");
    let garbage = directory.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let check = ScrapeCheck {
        tls_trust_ca: Some(garbage),
        ..check("https://127.0.0.1:9/metrics".to_owned(), ROOT)
    };
    assert_eq!(check.validate(), Ok(()));
    let error = check.check_files().expect_err("an unusable CA file");
    assert!(matches!(error, ScrapeCheckError::TrustCa(..)), "{error}");
    assert_eq!(error.field(), "tls_trust_ca");
    assert_unknown(&run_unvalidated(&check).await, "tls_trust_ca: ");
}

async fn run_unvalidated(check: &ScrapeCheck) -> Outcome {
    tokio::time::timeout(check.timeout + SLACK, check.run())
        .await
        .expect("the probe keeps to its deadline")
}

/// An exporter behind TLS with a private CA: trusted through `tls_trust_ca`, CRITICAL without.
#[tokio::test]
async fn https_with_a_private_ca() {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Pupitre Test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer =
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    let directory = tempfile::tempdir().expect("temporary directory");
    let pem: PathBuf = directory.path().join("ca.pem");
    std::fs::write(&pem, issuer.pem()).expect("write the CA");

    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    let port = serve_tls(
        vec![leaf.der().clone(), issuer.der().clone()],
        key.serialize_der(),
    )
    .await;

    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{port}/metrics");
        let trusted = run(&ScrapeCheck {
            tls_trust_ca: Some(pem.clone()),
            ..check(url.clone(), ROOT)
        })
        .await;
        assert_eq!(trusted.state, State::Ok, "{trusted:?}");

        let untrusted = run(&check(url, ROOT)).await;
        assert_eq!(untrusted.state, State::Critical, "{untrusted:?}");
        assert!(
            untrusted.summary.contains("UnknownIssuer"),
            "{}",
            untrusted.summary
        );
    }
}
