//! The exposition parser, selectors and thresholds against a real Prometheus node exporter
//! (Debian's `prometheus-node-exporter`), started on a free loopback port and fetched with a
//! plain HTTP/1.0 GET, once asking for the text format 0.0.4 and once for OpenMetrics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::exposition::{self, Format, Limits, Selector, evaluate_series};
use pupitre_core::monitoring::range::Thresholds;

const BINARY: &str = "prometheus-node-exporter";
const LIMITS: Limits = Limits {
    max_samples: 100_000,
    max_line_bytes: 64 * 1024,
};

/// A running exporter, killed when dropped (also when the test panics).
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
    /// Starts the exporter and waits for its `Listening on` log line.
    fn start() -> Exporter {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(BINARY)
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
                    "cannot start `{BINARY}` ({e}); install it with \
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
            Ok(Err(log)) => panic!("{BINARY} exited before listening:\n{log}"),
            Err(e) => panic!("{BINARY} did not log `Listening on` within 20 s: {e}"),
        }
    }

    /// GET /metrics over HTTP/1.0 with `accept`; returns the Content-Type and the body.
    fn scrape(&self, accept: &str) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nAccept: {accept}\r\n\
             Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read response");
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of the response head");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let body = response[split + 4..].to_vec();
        let mut lines = head.lines();
        let status = lines.next().unwrap_or("");
        assert!(status.contains(" 200 "), "status `{status}` for {accept}");
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let encoding = header("content-encoding");
        assert!(
            encoding.is_none() || encoding.as_deref() == Some("identity"),
            "asked for identity, got Content-Encoding {encoding:?}"
        );
        assert_eq!(
            header("transfer-encoding"),
            None,
            "an HTTP/1.0 answer is not chunked"
        );
        (header("content-type").expect("a Content-Type"), body)
    }
}

#[test]
fn node_exporter_scrapes_parse_and_judge_the_root_filesystem() {
    let exporter = Exporter::start();
    let root = Selector::parse(r#"node_filesystem_avail_bytes{mountpoint="/"}"#).expect("selector");
    for (accept, expected) in [
        ("text/plain", Format::Text004),
        (
            "application/openmetrics-text; version=1.0.0",
            // node exporter 1.5 (Debian 12) does not offer OpenMetrics and answers 0.0.4;
            // a newer one may answer OpenMetrics, which must parse too.
            Format::OpenMetrics,
        ),
    ] {
        let (content_type, body) = exporter.scrape(accept);
        let format = Format::from_content_type(&content_type)
            .unwrap_or_else(|| panic!("unexpected Content-Type `{content_type}` for {accept}"));
        if expected == Format::Text004 {
            assert_eq!(format, Format::Text004, "{content_type}");
        }
        let scrape = exposition::parse(&body, format, LIMITS).unwrap_or_else(|e| {
            panic!(
                "{accept} → {content_type}: {e}\n{}",
                String::from_utf8_lossy(&body)
            )
        });
        assert!(
            scrape.samples.len() > 100,
            "{} samples",
            scrape.samples.len()
        );
        let family = scrape
            .family_of("node_filesystem_avail_bytes")
            .expect("the family of node_filesystem_avail_bytes");
        assert_eq!(family.metric_type, Some(exposition::MetricType::Gauge));

        let ok = Thresholds::parse("", "0:").expect("thresholds");
        let verdict = evaluate_series(&scrape.samples, &root, &ok);
        assert_eq!(verdict.state, State::Ok, "{accept}: {verdict:?}");
        assert!(
            verdict
                .summary
                .starts_with(r#"node_filesystem_avail_bytes{mountpoint="/"} = "#)
                && verdict.summary.ends_with(" (OK)"),
            "{}",
            verdict.summary
        );

        let critical = Thresholds::parse("", "1e18:").expect("thresholds");
        let verdict = evaluate_series(&scrape.samples, &root, &critical);
        assert_eq!(verdict.state, State::Critical, "{accept}: {verdict:?}");
        assert!(
            verdict
                .summary
                .ends_with("(CRITICAL: outside 1000000000000000000:)"),
            "{}",
            verdict.summary
        );
    }
}
