//! The native HTTP(S) probe against real servers on 127.0.0.1 (plain, and TLS with certificates
//! made here by a test CA), and once side by side with Debian's `check_http`. Every server binds
//! port 0; every run is bounded in time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::http::{HttpCheck, HttpCheckError};
use pupitre_probe::outcome::Outcome;
use pupitre_probe::plugin::PLUGIN_DIR;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

#[path = "support/head.rs"]
mod head;

use head::read_head;

/// No test waits longer than this for one run, whatever the probe does.
const RUN_BOUND: Duration = Duration::from_secs(4);

/// Serves the routes below over plain HTTP on 127.0.0.1 (port 0) and returns the port.
async fn serve() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(respond(stream));
        }
    });
    port
}

/// Serves the same routes over TLS with this certificate and key, counting the connections it
/// accepts in `accepted`.
async fn serve_tls(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
    accepted: Arc<AtomicUsize>,
) -> u16 {
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
            accepted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    respond(tls).await;
                }
            });
        }
    });
    port
}

/// Reads one request head and answers by path, then closes.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let Some((_, path)) = read_head(&mut stream).await else {
        return;
    };
    let reply = |status: &str, extra: &str, body: &[u8]| {
        let mut reply = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply
    };
    let bytes = match path.as_str() {
        "/ok" => reply("200 OK", "", b"hello from pupitre, version 1.4.2\n"),
        "/missing" => reply("404 Not Found", "", b"no such page"),
        "/broken" => reply("500 Internal Server Error", "", b"oops"),
        "/redirect" => reply("302 Found", "Location: /ok\r\n", b""),
        "/loop" => reply("302 Found", "Location: /loop\r\n", b""),
        "/latin1" => reply("200 OK", "", b"caf\xe9 ouvert"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(600)).await;
            reply("200 OK", "", b"late")
        }
        "/hang" => {
            // Holds the connection, never answering, until the peer goes away.
            let mut chunk = [0; 1024];
            while let Ok(1..) = stream.read(&mut chunk).await {}
            return;
        }
        "/huge" => {
            let size = 50 * 1024 * 1024;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![b'x'; 64 * 1024];
            for _ in 0..size / block.len() {
                if stream.write_all(&block).await.is_err() {
                    return;
                }
            }
            return;
        }
        _ => reply("404 Not Found", "", b""),
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// A port on 127.0.0.1 where nothing listens: bound, then closed.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    listener.local_addr().expect("address").port()
}

fn check(url: String) -> HttpCheck {
    HttpCheck {
        timeout: Duration::from_secs(2),
        ..HttpCheck::new(url)
    }
}

/// Validates and runs the check, and fails the test if the run outlasts [`RUN_BOUND`].
async fn run(check: &HttpCheck) -> Outcome {
    check.validate().expect("a valid check");
    check.check_files().expect("readable files");
    tokio::time::timeout(RUN_BOUND, check.run())
        .await
        .expect("the probe keeps to its deadline")
}

/// The outcome printed as a plugin would print it, and parsed back.
fn printed(outcome: &Outcome) -> PluginOutput {
    let parsed = PluginOutput::parse(&outcome.to_plugin_output(), 64 * 1024);
    assert!(parsed.perfdata_errors.is_empty(), "{parsed:?}");
    parsed
}

fn datum<'a>(outcome: &'a Outcome, label: &str) -> &'a PerfDatum {
    outcome
        .perfdata
        .iter()
        .find(|d| d.label == label)
        .unwrap_or_else(|| panic!("no {label} in {outcome:?}"))
}

#[tokio::test]
async fn ok_with_perfdata() {
    let port = serve().await;
    let outcome = run(&check(format!("http://127.0.0.1:{port}/ok"))).await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome
            .summary
            .starts_with("HTTP OK: HTTP/1.1 200 OK - 34 bytes in 0.0"),
        "{}",
        outcome.summary
    );
    assert!(outcome.summary.ends_with(" second response time"));
    let parsed = printed(&outcome);
    let labels =
        |perfdata: &[PerfDatum]| perfdata.iter().map(|d| d.label.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&parsed.perfdata), ["time", "size"]);
    let time = datum(&outcome, "time");
    assert_eq!(
        (time.uom.clone(), time.min, time.max),
        (Uom::Seconds, Some(0.0), Some(2.0))
    );
    let size = datum(&outcome, "size");
    assert_eq!(
        (size.value, size.uom.clone(), size.min),
        (Some(34.0), Uom::Bytes, Some(0.0))
    );
}

#[tokio::test]
async fn status_codes() {
    let port = serve().await;
    let table = [
        (
            "/missing",
            vec![],
            State::Warning,
            "HTTP WARNING: HTTP/1.1 404 Not Found - ",
        ),
        (
            "/broken",
            vec![],
            State::Critical,
            "HTTP CRITICAL: HTTP/1.1 500 Internal Server Error - ",
        ),
        (
            "/missing",
            vec![404, 410],
            State::Ok,
            "HTTP OK: HTTP/1.1 404 Not Found - ",
        ),
        (
            "/ok",
            vec![201, 204],
            State::Critical,
            "HTTP CRITICAL: HTTP/1.1 200 OK - status 200 is not one of 201, 204 - ",
        ),
    ];
    for (path, expected_status, state, summary) in table {
        let outcome = run(&HttpCheck {
            expected_status,
            ..check(format!("http://127.0.0.1:{port}{path}"))
        })
        .await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert!(outcome.summary.starts_with(summary), "{}", outcome.summary);
        assert_eq!(outcome.perfdata.len(), 2);
    }
}

#[tokio::test]
async fn redirects() {
    let port = serve().await;
    let url = format!("http://127.0.0.1:{port}/redirect");
    let table = [
        (
            0,
            "/redirect",
            State::Ok,
            "HTTP OK: HTTP/1.1 302 Found - 0 bytes",
        ),
        (
            3,
            "/redirect",
            State::Ok,
            "HTTP OK: HTTP/1.1 200 OK - 34 bytes",
        ),
        (
            3,
            "/loop",
            State::Critical,
            "HTTP CRITICAL - more than 3 redirects",
        ),
    ];
    for (follow_redirects, path, state, summary) in table {
        let outcome = run(&HttpCheck {
            follow_redirects,
            ..check(format!("http://127.0.0.1:{port}{path}"))
        })
        .await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert!(outcome.summary.starts_with(summary), "{}", outcome.summary);
    }
    let followed = run(&HttpCheck {
        follow_redirects: 1,
        ..check(url)
    })
    .await;
    assert_eq!(
        followed.long_output,
        format!("final URL: http://127.0.0.1:{port}/ok")
    );
}

#[tokio::test]
async fn body_contains_and_regex() {
    let port = serve().await;
    let table = [
        (Some("from pupitre"), None, "/ok", State::Ok, ""),
        (
            Some("from nagios"),
            None,
            "/ok",
            State::Critical,
            " - string 'from nagios' not found",
        ),
        (None, Some(r"version \d+\.\d+\.\d+"), "/ok", State::Ok, ""),
        (
            None,
            Some(r"version 2|beta"),
            "/ok",
            State::Critical,
            " - pattern 'version 2\\x7cbeta' not found",
        ),
        // Not UTF-8: the body is matched as lossy text.
        (
            Some(" ouvert"),
            Some("^caf.? ouvert$"),
            "/latin1",
            State::Ok,
            "",
        ),
    ];
    for (contains, regex, path, state, problem) in table {
        let outcome = run(&HttpCheck {
            body_contains: contains.map(str::to_owned),
            body_regex: regex.map(str::to_owned),
            ..check(format!("http://127.0.0.1:{port}{path}"))
        })
        .await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        assert!(
            outcome.summary.contains(&format!("OK{problem} - ")),
            "{}",
            outcome.summary
        );
    }
}

#[tokio::test]
async fn slow_response_against_thresholds() {
    let port = serve().await;
    let table = [
        ("0.3", "", State::Warning),
        ("0.1", "0.4", State::Critical),
        ("2", "3", State::Ok),
    ];
    for (warning, critical, state) in table {
        let outcome = run(&HttpCheck {
            response_time: Thresholds::parse(warning, critical).expect("thresholds"),
            ..check(format!("http://127.0.0.1:{port}/slow"))
        })
        .await;
        assert_eq!(outcome.state, state, "{outcome:?}");
        let time = datum(&outcome, "time");
        assert!(time.value.expect("a time") >= 0.6, "{time:?}");
        assert_eq!(
            time.warning,
            Thresholds::parse(warning, critical).expect("t").warning
        );
    }
}

#[tokio::test]
async fn silent_server_times_out_critical() {
    let port = serve().await;
    let started = Instant::now();
    let outcome = run(&HttpCheck {
        timeout: Duration::from_millis(500),
        ..check(format!("http://127.0.0.1:{port}/hang"))
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "HTTP CRITICAL - timed out after 0.5 s waiting for the response"
    );
    assert!(elapsed >= Duration::from_millis(490) && elapsed < Duration::from_secs(2));
}

#[tokio::test]
async fn huge_body_is_capped() {
    let port = serve().await;
    let started = Instant::now();
    let outcome = run(&check(format!("http://127.0.0.1:{port}/huge"))).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert!(
        outcome.summary.contains(" - 1048576 bytes in "),
        "{}",
        outcome.summary
    );
    assert_eq!(datum(&outcome, "size").value, Some(1_048_576.0));
    assert_eq!(
        outcome.long_output,
        "body: read the first 1048576 bytes only (body_limit)"
    );
}

#[tokio::test]
async fn connection_refused_is_critical() {
    let port = closed_port().await;
    for scheme in ["http", "https"] {
        let outcome = run(&check(format!("{scheme}://127.0.0.1:{port}/"))).await;
        assert_eq!(outcome.state, State::Critical, "{outcome:?}");
        assert!(
            outcome
                .summary
                .starts_with("HTTP CRITICAL - connection refused by 127.0.0.1"),
            "{}",
            outcome.summary
        );
        assert!(outcome.perfdata.is_empty());
    }
}

/// CRITICAL, as `check_http` ("Unable to open TCP socket"): for a web site, a name that no
/// longer resolves is the site down for its users. `.invalid` never resolves (RFC 6761).
#[tokio::test]
async fn unresolvable_host_is_critical() {
    let outcome = run(&check("http://pupitre-test.invalid/".to_owned())).await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome.summary.starts_with("HTTP CRITICAL - ")
            && outcome.summary.contains("pupitre-test.invalid"),
        "{}",
        outcome.summary
    );
}

#[tokio::test]
async fn trust_ca_is_checked_at_definition() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let missing = directory.path().join("missing.pem");
    let garbage = directory.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    for path in [missing, garbage] {
        let check = HttpCheck {
            tls_trust_ca: Some(path.clone()),
            ..check("https://127.0.0.1/".to_owned())
        };
        assert_eq!(check.validate(), Ok(()));
        let error = check.check_files().expect_err("an unusable CA file");
        assert!(matches!(error, HttpCheckError::TrustCa(..)), "{error}");
        assert_eq!(error.field(), "tls_trust_ca");
        let outcome = check.run().await;
        assert_eq!(outcome.state, State::Unknown, "{outcome:?}");
    }
}

/// A test CA and its PEM file, and leaves it signs.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: PathBuf,
    _directory: tempfile::TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Pupitre Test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let directory = tempfile::tempdir().expect("temporary directory");
        let pem = directory.path().join("ca.pem");
        std::fs::write(&pem, issuer.pem()).expect("write the CA");
        TestCa {
            issuer,
            pem,
            _directory: directory,
        }
    }

    /// Serves a leaf for 127.0.0.1 and localhost, valid from 30 days ago to `not_after`.
    async fn serve_leaf(&self, not_after: OffsetDateTime) -> u16 {
        self.serve_leaf_counting(not_after, Arc::default()).await
    }

    /// [`TestCa::serve_leaf`], counting the connections in `accepted`.
    async fn serve_leaf_counting(
        &self,
        not_after: OffsetDateTime,
        accepted: Arc<AtomicUsize>,
    ) -> u16 {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(30);
        params.not_after = not_after;
        let leaf = params.signed_by(&key, &self.issuer).expect("leaf");
        serve_tls(
            vec![leaf.der().clone(), self.issuer.der().clone()],
            key.serialize_der(),
            accepted,
        )
        .await
    }
}

fn tls_check(port: u16, ca: Option<&TestCa>, warning: u32, critical: u32) -> HttpCheck {
    HttpCheck {
        cert_warning_days: Some(warning),
        cert_critical_days: Some(critical),
        tls_trust_ca: ca.map(|ca| ca.pem.clone()),
        ..check(format!("https://127.0.0.1:{port}/ok"))
    }
}

/// The acceptance case: expiry in 5 days (minus the moments since the certificate was made),
/// which is 4 whole days left (days are floored, as `check_http` counts them).
#[tokio::test]
async fn certificate_expiring_soon() {
    let ca = TestCa::new();
    let not_after = OffsetDateTime::now_utc() + time::Duration::days(5);
    let port = ca.serve_leaf(not_after).await;
    let expires = format!("certificate expires in 4 days ({})", not_after.date());

    let warning = run(&tls_check(port, Some(&ca), 30, 3)).await;
    assert_eq!(warning.state, State::Warning, "{warning:?}");
    assert!(
        warning.summary.starts_with(&format!(
            "HTTP WARNING: HTTP/1.1 200 OK - {expires} - 34 bytes in "
        )),
        "{}",
        warning.summary
    );
    assert!(
        warning.long_output.contains("issuer: CN=Pupitre Test CA"),
        "{}",
        warning.long_output
    );
    assert!(
        warning
            .long_output
            .contains("subject alternative names: 127.0.0.1, localhost"),
        "{}",
        warning.long_output
    );
    assert!(warning.long_output.contains("certificate chain: valid"));

    let critical = run(&tls_check(port, Some(&ca), 30, 7)).await;
    assert_eq!(critical.state, State::Critical, "{critical:?}");
    assert!(critical.summary.contains(&expires), "{}", critical.summary);

    let fine = run(&tls_check(port, Some(&ca), 3, 2)).await;
    assert_eq!(fine.state, State::Ok, "{fine:?}");
    assert!(
        fine.long_output.contains("4 days left"),
        "{}",
        fine.long_output
    );
}

#[tokio::test]
async fn expired_certificate_is_critical() {
    let ca = TestCa::new();
    let not_after = OffsetDateTime::now_utc() - time::Duration::days(2) - time::Duration::hours(1);
    let port = ca.serve_leaf(not_after).await;
    let outcome = run(&tls_check(port, Some(&ca), 30, 7)).await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome.summary.starts_with(&format!(
            "HTTP CRITICAL - certificate expired 2 days ago ({}) - certificate chain invalid: ",
            not_after.date()
        )),
        "{}",
        outcome.summary
    );
    // The request is not sent to a server whose certificate does not verify.
    assert!(outcome.perfdata.is_empty());
}

#[tokio::test]
async fn untrusted_certificate_is_critical_with_days_left() {
    let ca = TestCa::new();
    let port = ca
        .serve_leaf(OffsetDateTime::now_utc() + time::Duration::days(90) + time::Duration::hours(1))
        .await;
    let outcome = run(&tls_check(port, None, 30, 7)).await;
    assert_eq!(outcome.state, State::Critical, "{outcome:?}");
    assert!(
        outcome.summary.starts_with(
            "HTTP CRITICAL - certificate chain invalid: invalid peer certificate: UnknownIssuer"
        ),
        "{}",
        outcome.summary
    );
    assert!(
        outcome.long_output.contains("90 days left"),
        "{}",
        outcome.long_output
    );
    assert!(outcome.long_output.contains("issuer: CN=Pupitre Test CA"));

    // Trusted, the same server is fine.
    let trusted = run(&tls_check(port, Some(&ca), 30, 7)).await;
    assert_eq!(trusted.state, State::Ok, "{trusted:?}");
}

/// Debian's `check_http` and the probe, against the same plain-HTTP server, agree on the state
/// and on the perfdata labels and units.
#[tokio::test]
async fn agrees_with_check_http() {
    let plugin = Path::new(PLUGIN_DIR).join("check_http");
    assert!(
        plugin.is_file(),
        "{} is missing: install Debian's monitoring-plugins",
        plugin.display()
    );
    let port = serve().await;
    for (path, state) in [
        ("/ok", State::Ok),
        ("/missing", State::Warning),
        ("/broken", State::Critical),
    ] {
        let reference = tokio::process::Command::new(&plugin)
            .args([
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-u",
                path,
                "-t",
                "2",
            ])
            .kill_on_drop(true)
            .output();
        let reference = tokio::time::timeout(RUN_BOUND, reference)
            .await
            .expect("check_http ends in time")
            .expect("check_http runs");
        let stdout = String::from_utf8_lossy(&reference.stdout);
        let reference_state = State::from_exit_code(reference.status.code().unwrap_or(-1));
        let theirs = PluginOutput::parse(&stdout, 64 * 1024);
        let ours = run(&check(format!("http://127.0.0.1:{port}{path}"))).await;
        assert_eq!(reference_state, state, "check_http: {stdout}");
        assert_eq!(ours.state, state, "{ours:?}");
        let ours = printed(&ours);
        let shape = |perfdata: &[PerfDatum]| {
            perfdata
                .iter()
                .map(|d| (d.label.clone(), d.uom.clone(), d.min))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shape(&ours.perfdata),
            shape(&theirs.perfdata),
            "check_http: {stdout}"
        );
        assert_eq!(ours.perfdata[0].max, theirs.perfdata[0].max);
    }
}

/// The certificate is inspected on the connection that carries the request: one TLS
/// connection per run, as `check_http` makes.
#[tokio::test]
async fn an_https_run_makes_one_connection() {
    let ca = TestCa::new();
    let accepted = Arc::new(AtomicUsize::new(0));
    let not_after = OffsetDateTime::now_utc() + time::Duration::days(90);
    let port = ca.serve_leaf_counting(not_after, accepted.clone()).await;
    for run_number in 1..=3 {
        let outcome = run(&tls_check(port, Some(&ca), 30, 7)).await;
        assert_eq!(outcome.state, State::Ok, "{outcome:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), run_number);
    }
}

/// A server that records each request head it reads and answers `answer(path)`.
async fn recording_server(
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = heads.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let recorded = recorded.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let Some((head, path)) = read_head(&mut stream).await else {
                    return;
                };
                recorded.lock().expect("heads").push(head);
                let _ = stream.write_all(answer(&path).as_bytes()).await;
            });
        }
    });
    (port, heads)
}

/// Redirects keep the check's credentials on the same origin only, and a 303 after a POST
/// is a GET without the body, as browsers do.
#[tokio::test]
async fn redirects_carry_credentials_to_the_same_origin_only() {
    let (other, other_heads) = recording_server(|_| {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned()
    })
    .await;
    let (port, heads) = recording_server(move |path| match path {
        "/start" => "HTTP/1.1 303 See Other\r\nLocation: /same\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
            .to_owned(),
        "/same" => format!(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{other}/away\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
    })
    .await;
    let outcome = run(&HttpCheck {
        method: pupitre_probe::http::Method::Post,
        body: Some("name=value".to_owned()),
        headers: vec![
            ("Authorization".to_owned(), "Bearer s3cr3t".to_owned()),
            ("Host".to_owned(), "site.example".to_owned()),
            ("X-Trace".to_owned(), "kept".to_owned()),
        ],
        follow_redirects: 2,
        ..check(format!("http://127.0.0.1:{port}/start"))
    })
    .await;
    assert_eq!(outcome.state, State::Ok, "{outcome:?}");
    assert_eq!(
        outcome.long_output,
        format!("final URL: http://127.0.0.1:{other}/away")
    );
    let heads = heads.lock().expect("heads").clone();
    let [start, same] = &heads[..] else {
        panic!("two requests on the first server: {heads:?}");
    };
    let lower = |head: &str| head.to_ascii_lowercase();
    assert!(start.starts_with("POST /start HTTP/1.1\r\n"), "{start}");
    assert!(lower(start).contains("content-length: 10\r\n"), "{start}");
    assert!(lower(start).contains("host: site.example\r\n"), "{start}");
    assert!(same.starts_with("GET /same HTTP/1.1\r\n"), "{same}");
    assert!(!lower(same).contains("content-length: 10"), "{same}");
    for head in [start, same] {
        assert!(
            lower(head).contains("authorization: bearer s3cr3t"),
            "{head}"
        );
        assert!(lower(head).contains("x-trace: kept"), "{head}");
        assert!(lower(head).contains("user-agent: pupitre/"), "{head}");
    }
    let other_heads = other_heads.lock().expect("heads").clone();
    let [away] = &other_heads[..] else {
        panic!("one request on the other server: {other_heads:?}");
    };
    assert!(away.starts_with("GET /away HTTP/1.1\r\n"), "{away}");
    assert!(!lower(away).contains("authorization"), "{away}");
    assert!(lower(away).contains("x-trace: kept"), "{away}");
}
