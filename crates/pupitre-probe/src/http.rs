//! The native HTTP(S) probe: send one request, judge the status, the body and the response
//! time as Debian's `check_http` does, and, for `https`, inspect the server's certificate
//! (days until it expires, issuer, names, and whether its chain is trusted).
//!
//! One deadline, `timeout` after the run starts, bounds everything: resolving the name, the
//! certificate inspection, the request, redirects and reading the body. The states:
//!
//! | what happened                                             | state                     |
//! |-----------------------------------------------------------|---------------------------|
//! | `tls_trust_ca` cannot be read                             | UNKNOWN                   |
//! | the name does not resolve                                 | CRITICAL (as `check_http`)|
//! | the connection is refused or fails, the deadline passes   | CRITICAL                  |
//! | https: the chain does not verify for the URL's host       | CRITICAL (no request sent)|
//! | https: fewer whole days left than `cert_critical_days`    | CRITICAL                  |
//! | https: fewer whole days left than `cert_warning_days`     | WARNING                   |
//! | no `expected_status`: 2xx/3xx, 4xx, 5xx                   | OK, WARNING, CRITICAL     |
//! | a status not in `expected_status`                         | CRITICAL                  |
//! | `body_contains` or `body_regex` does not match            | CRITICAL                  |
//! | otherwise                                                 | `response_time` thresholds|
//!
//! The worst of these is the state; each problem is named in the summary.
//!
//! A name that does not resolve is CRITICAL here, unlike the TCP probe (UNKNOWN): `check_http`
//! says "Unable to open TCP socket" and exits CRITICAL, and for a web site a name that stopped
//! resolving is the site being down for its users.
//!
//! The certificate is inspected in the TLS handshake of the connection that then carries the
//! request (tokio-rustls): its verifier records the chain and the verification result instead
//! of failing, so an expired or self-signed certificate is still described. The chain is
//! verified against the Mozilla roots of `webpki-roots` (plus `tls_trust_ca`): they are
//! compiled in, so a check gives the same answer on every machine and needs no file at run
//! time, as sqlx and lettre are set up in Pupitre. When the chain does not verify, the request
//! is not sent: its headers and body may carry credentials. Days left are the floor of whole
//! days until `notAfter` (4 days and 23 hours is 4 days), as `check_http` counts them.
//!
//! Redirects (301, 302, 303, 307, 308 with a `Location`) are followed up to
//! `follow_redirects`, each on a connection of its own; to another host without a certificate
//! inspection of their own, but verified against the same roots. As browsers do, a 303 (and a
//! 301 or 302 after a POST) becomes a GET without the body, and `Authorization`, `Cookie` and
//! `Proxy-Authorization` go to the check's own origin (scheme, host and port) only.
//!
//! The response time runs from connecting to reading the last byte kept: the TCP connection,
//! the TLS handshake, the request and redirects, as `check_http` counts it; resolving the
//! first name is not in it.
//!
//! Every run opens its own connection and closes it (no connection is kept between runs), so a
//! server that went down is seen at once. The request is one HTTP/1.1 exchange driven on the
//! run's own task by hyper's connection-level client ([`exchange`]). What does not change
//! between runs is built once per process and shared: the root store and the TLS settings
//! ([`Trust`]), for the Mozilla roots and for each `tls_trust_ca` file (read again on every
//! run, and rebuilt when its content changes). Each run's deadline is its own (`timeout_at`
//! around every step).

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::{HeaderName, HeaderValue};
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use regex::Regex;
use reqwest::Url;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::{TcpStream, lookup_host};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::outcome::Outcome;
use crate::text::{printable, trusted_roots};

mod exchange;

use exchange::{Answer, Failure, Hop, exchange};

/// The most of a body a check may be told to read.
pub const LARGEST_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The default cap on the body read: the rest is not downloaded.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The longest timeout an HTTP check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout an HTTP check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// The most redirects a check may follow.
pub const MOST_REDIRECTS: u32 = 20;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;

/// The request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    fn to_hyper(self) -> hyper::Method {
        match self {
            Method::Get => hyper::Method::GET,
            Method::Head => hyper::Method::HEAD,
            Method::Post => hyper::Method::POST,
            Method::Put => hyper::Method::PUT,
            Method::Delete => hyper::Method::DELETE,
            Method::Options => hyper::Method::OPTIONS,
        }
    }
}

/// An HTTP(S) check, as an operator defines it. Its `Debug` hides header values and the body,
/// which may carry credentials.
#[derive(Clone, PartialEq)]
pub struct HttpCheck {
    /// `http://…` or `https://…`.
    pub url: String,
    pub method: Method,
    /// Sent as given, after Pupitre's `User-Agent` (which a `User-Agent` here replaces).
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// How many redirects to follow; 0 reports the redirect itself.
    pub follow_redirects: u32,
    /// The acceptable status codes. Empty: 2xx and 3xx are OK, 4xx WARNING, 5xx CRITICAL, as
    /// `check_http` without `-e`; otherwise any other status is CRITICAL.
    pub expected_status: Vec<u16>,
    /// Text that must appear in the body (a substring of the body read as lossy UTF-8).
    pub body_contains: Option<String>,
    /// A regular expression (`regex` crate syntax) that must match the body.
    pub body_regex: Option<String>,
    /// Warning and critical ranges for the response time, in seconds.
    pub response_time: Thresholds,
    /// Bounds the whole run.
    pub timeout: Duration,
    /// The most of the body read; the rest is not downloaded.
    pub body_limit: usize,
    /// https only: WARNING when fewer whole days than this are left before the certificate
    /// expires.
    pub cert_warning_days: Option<u32>,
    /// https only: CRITICAL when fewer whole days than this are left.
    pub cert_critical_days: Option<u32>,
    /// https only: a PEM file of CA certificates trusted besides the Mozilla roots.
    pub tls_trust_ca: Option<PathBuf>,
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<hidden>"))
            .collect();
        f.debug_struct("HttpCheck")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &headers)
            .field("body", &self.body.as_ref().map(|_| "<hidden>"))
            .field("follow_redirects", &self.follow_redirects)
            .field("expected_status", &self.expected_status)
            .field("body_contains", &self.body_contains)
            .field("body_regex", &self.body_regex)
            .field("response_time", &self.response_time)
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("cert_warning_days", &self.cert_warning_days)
            .field("cert_critical_days", &self.cert_critical_days)
            .field("tls_trust_ca", &self.tls_trust_ca)
            .finish()
    }
}

impl HttpCheck {
    /// A GET of `url` with `check_http`'s defaults (no redirects followed, 10 s timeout, no
    /// thresholds, check_http's status rule), a 1 MiB body limit and certificate warnings at
    /// 30 and 7 days.
    pub fn new(url: impl Into<String>) -> HttpCheck {
        HttpCheck {
            url: url.into(),
            method: Method::Get,
            headers: Vec::new(),
            body: None,
            follow_redirects: 0,
            expected_status: Vec::new(),
            body_contains: None,
            body_regex: None,
            response_time: Thresholds::default(),
            timeout: Duration::from_secs(10),
            body_limit: DEFAULT_BODY_LIMIT,
            cert_warning_days: Some(30),
            cert_critical_days: Some(7),
            tls_trust_ca: None,
        }
    }

    /// Checks the definition when it is written, without IO (see [`HttpCheck::check_files`]).
    pub fn validate(&self) -> Result<(), HttpCheckError> {
        let url = self.parse_url()?;
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(HttpCheckError::HeaderName(name.clone()));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(HttpCheckError::HeaderValue(name.clone()));
            }
        }
        if self.follow_redirects > MOST_REDIRECTS {
            return Err(HttpCheckError::TooManyRedirects(self.follow_redirects));
        }
        if let Some(code) = self
            .expected_status
            .iter()
            .find(|c| !(100..=599).contains(*c))
        {
            return Err(HttpCheckError::ExpectedStatus(*code));
        }
        if self.body_contains.as_deref() == Some("") {
            return Err(HttpCheckError::BodyContainsEmpty);
        }
        if let Some(pattern) = &self.body_regex {
            Regex::new(pattern).map_err(|e| HttpCheckError::BodyRegex(e.to_string()))?;
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(HttpCheckError::TimeoutOutOfRange(self.timeout));
        }
        if !(1..=LARGEST_BODY_LIMIT).contains(&self.body_limit) {
            return Err(HttpCheckError::BodyLimitOutOfRange(self.body_limit));
        }
        if let (Some(warning), Some(critical)) = (self.cert_warning_days, self.cert_critical_days)
            && critical > warning
        {
            return Err(HttpCheckError::CertDays { warning, critical });
        }
        if let Some(path) = &self.tls_trust_ca {
            if url.scheme() != "https" {
                return Err(HttpCheckError::TrustCaWithoutHttps);
            }
            if !path.is_absolute() {
                return Err(HttpCheckError::TrustCaNotAbsolute(path.clone()));
            }
        }
        Ok(())
    }

    /// The second step of validation, with IO: reads `tls_trust_ca` and checks that it holds
    /// CA certificates. Run it when the check is defined, after [`HttpCheck::validate`].
    pub fn check_files(&self) -> Result<(), HttpCheckError> {
        self.roots().map(|_| ())
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        if let Err(error) = self.validate() {
            return unknown(format!("invalid check: {error}"));
        }
        let url = match self.parse_url() {
            Ok(url) => url,
            Err(error) => return unknown(format!("invalid check: {error}")),
        };
        let trust = match self.trust() {
            Ok(trust) => trust,
            Err(error) => return unknown(error),
        };
        match self.run_checked(url, &trust, deadline).await {
            Ok(outcome) | Err(outcome) => outcome,
        }
    }

    /// The run of a valid check; `Err` is an outcome found before the end.
    async fn run_checked(
        &self,
        url: Url,
        trust: &Trust,
        deadline: Instant,
    ) -> Result<Outcome, Outcome> {
        let (host, port) = host_port(&url)?;
        let addresses = self.resolve(&host, port, deadline).await?;
        let hop = Hop {
            method: self.method.to_hyper(),
            url: &url,
            headers: &self.headers,
            body: self.body.as_deref(),
            credentials: true,
        };
        let started = Instant::now();
        let (answer, certificate) = if url.scheme() == "https" {
            let (tls, verdict) = self
                .handshake_inspecting(&host, &addresses, trust, deadline)
                .await?;
            let answer = exchange(tls, &hop, self.body_limit, deadline).await;
            (answer, Some(verdict))
        } else {
            (self.hop(&hop, &addresses, trust, deadline).await, None)
        };
        let answer = answer.map_err(|failure| self.failed(failure))?;
        let (answer, final_url) = self.follow(&url, answer, trust, deadline).await?;
        let elapsed = started.elapsed().as_secs_f64();
        Ok(self.judge(&url, &final_url, answer, certificate, elapsed))
    }

    /// Follows the redirects `answer` (the answer to `url`) asks for, at most
    /// `follow_redirects`; the last answer and its URL.
    async fn follow(
        &self,
        url: &Url,
        mut answer: Answer,
        trust: &Trust,
        deadline: Instant,
    ) -> Result<(Answer, Url), Outcome> {
        let mut current = url.clone();
        let mut method = self.method.to_hyper();
        let mut body = self.body.as_deref();
        let mut hops = 0;
        loop {
            let location = match &answer.location {
                Some(location) if REDIRECTS.contains(&answer.code) => location,
                _ => return Ok((answer, current)),
            };
            if self.follow_redirects == 0 {
                return Ok((answer, current));
            }
            if hops == self.follow_redirects {
                return Err(critical(format!(
                    "more than {hops} redirects (follow_redirects), the last to {}",
                    printable(location)
                )));
            }
            hops += 1;
            let next = current.join(location).map_err(|error| {
                critical(format!(
                    "{} with a bad Location {:?}: {error}",
                    answer.status_line,
                    printable(location)
                ))
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(critical(format!(
                    "redirected to {next}: only http and https are followed"
                )));
            }
            // As browsers do: 303 (and 301 or 302 after a POST) turn into a GET without body.
            if answer.code == 303 && method != hyper::Method::HEAD
                || matches!(answer.code, 301 | 302) && method == hyper::Method::POST
            {
                method = hyper::Method::GET;
                body = None;
            }
            let (host, port) = host_port(&next)?;
            let addresses = self.resolve(&host, port, deadline).await?;
            let hop = Hop {
                method: method.clone(),
                url: &next,
                headers: &self.headers,
                body,
                credentials: next.origin() == url.origin(),
            };
            answer = self
                .hop(&hop, &addresses, trust, deadline)
                .await
                .map_err(|failure| self.failed(failure))?;
            current = next;
        }
    }

    /// One request to one of `addresses`: over TLS verified against the check's roots for
    /// `https`.
    async fn hop(
        &self,
        hop: &Hop<'_>,
        addresses: &[SocketAddr],
        trust: &Trust,
        deadline: Instant,
    ) -> Result<Answer, Failure> {
        let stream = self
            .connect(addresses, deadline)
            .await
            .map_err(Failure::Request)?;
        if hop.url.scheme() != "https" {
            return exchange(stream, hop, self.body_limit, deadline).await;
        }
        let host = hop.url.host_str().unwrap_or("").trim_matches(['[', ']']);
        let name = server_name(host).map_err(Failure::Request)?;
        let tls = TlsConnector::from(trust.tls.clone()).connect(name, stream);
        let tls = match timeout_at(deadline, tls).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                return Err(Failure::Request(format!(
                    "TLS handshake with {host} failed: {error}"
                )));
            }
            Err(_) => return Err(Failure::TimedOut("in the TLS handshake")),
        };
        exchange(tls, hop, self.body_limit, deadline).await
    }

    /// Judges the last answer: status, body, response time, and the certificate of the first.
    fn judge(
        &self,
        url: &Url,
        final_url: &Url,
        answer: Answer,
        certificate: Option<CertificateVerdict>,
        elapsed: f64,
    ) -> Outcome {
        let Answer {
            status_line,
            code,
            body,
            truncated,
            ..
        } = answer;
        let mut judged = Vec::new();
        judged.push(self.judge_status(&status_line, code));
        let text = String::from_utf8_lossy(&body);
        if let Some(expected) = &self.body_contains
            && !text.contains(expected.as_str())
        {
            judged.push((
                State::Critical,
                Some(format!("string '{}' not found", printable(expected))),
            ));
        }
        if let Some(pattern) = &self.body_regex {
            match Regex::new(pattern) {
                Ok(regex) if regex.is_match(&text) => {}
                Ok(_) => judged.push((
                    State::Critical,
                    Some(format!("pattern '{}' not found", printable(pattern))),
                )),
                Err(error) => judged.push((State::Unknown, Some(format!("body_regex: {error}")))),
            }
        }
        judged.push((self.response_time.evaluate(elapsed), None));

        let mut long_output = Vec::new();
        if let Some(verdict) = certificate {
            judged.push((verdict.state, None));
            judged.extend(verdict.problems.into_iter().map(|p| (State::Ok, Some(p))));
            long_output.extend(verdict.long_output);
        }
        if truncated {
            long_output.push(format!(
                "body: read the first {} bytes only (body_limit)",
                self.body_limit
            ));
        }
        if final_url.as_str() != url.as_str() {
            long_output.push(format!("final URL: {final_url}"));
        }

        let state = judged
            .iter()
            .map(|(state, _)| *state)
            .max_by_key(|state| state.severity())
            .unwrap_or(State::Ok);
        let mut summary = format!("HTTP {state}: {status_line}");
        for problem in judged.iter().filter_map(|(_, problem)| problem.as_ref()) {
            let _ = write!(summary, " - {problem}");
        }
        let _ = write!(
            summary,
            " - {} bytes in {elapsed:.3} second response time",
            body.len()
        );
        Outcome::new(state, summary)
            .with_long_output(long_output.join("\n"))
            .with_perfdatum(PerfDatum {
                label: "time".to_owned(),
                value: Some(elapsed),
                uom: Uom::Seconds,
                warning: self.response_time.warning,
                critical: self.response_time.critical,
                min: Some(0.0),
                max: Some(self.timeout.as_secs_f64()),
            })
            .with_perfdatum(PerfDatum {
                label: "size".to_owned(),
                value: Some(body.len() as f64),
                uom: Uom::Bytes,
                warning: None,
                critical: None,
                min: Some(0.0),
                max: None,
            })
    }

    fn judge_status(&self, status_line: &str, code: u16) -> (State, Option<String>) {
        if !self.expected_status.is_empty() {
            if self.expected_status.contains(&code) {
                return (State::Ok, None);
            }
            let expected = self
                .expected_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return (
                State::Critical,
                Some(format!("status {code} is not one of {expected}")),
            );
        }
        match code {
            200..=399 => (State::Ok, None),
            400..=499 => (State::Warning, None),
            500..=599 => (State::Critical, None),
            _ => (
                State::Critical,
                Some(format!("unexpected status line {status_line}")),
            ),
        }
    }

    /// Connects and makes the TLS handshake with a verifier that records the chain and its
    /// verification instead of failing, so that an expired or self-signed certificate is still
    /// described. The request goes on this connection only when the chain verifies (its
    /// headers and body may carry credentials); otherwise the certificate's verdict is the
    /// outcome.
    async fn handshake_inspecting(
        &self,
        host: &str,
        addresses: &[SocketAddr],
        trust: &Trust,
        deadline: Instant,
    ) -> Result<(TlsStream<TcpStream>, CertificateVerdict), Outcome> {
        let server_name = server_name(host).map_err(unknown)?;
        let record = Arc::new(OnceLock::new());
        let verifier = Arc::new(RecordingVerifier {
            inner: trust.verifier.clone(),
            provider: trust.provider.clone(),
            record: record.clone(),
        });
        let config = ClientConfig::builder_with_provider(trust.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| unknown(format!("cannot set up TLS: {error}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();

        let stream = self.connect(addresses, deadline).await.map_err(critical)?;
        let handshake = TlsConnector::from(Arc::new(config)).connect(server_name, stream);
        let tls = match timeout_at(deadline, handshake).await {
            Ok(tls) => tls,
            Err(_) => return Err(critical(self.timed_out("in the TLS handshake"))),
        };
        let inspection = match (record.get(), &tls) {
            (Some(recorded), _) => inspect(recorded),
            (None, Err(error)) => return Err(critical(format!("TLS handshake failed: {error}"))),
            (None, Ok(_)) => return Err(critical("TLS handshake gave no certificate".to_owned())),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let verdict = judge_certificate(
            &inspection,
            self.cert_warning_days,
            self.cert_critical_days,
            now,
        );
        if inspection.chain_error.is_some() {
            let summary = format!("HTTP CRITICAL - {}", verdict.problems.join(" - "));
            return Err(Outcome::new(State::Critical, summary)
                .with_long_output(verdict.long_output.join("\n")));
        }
        match tls {
            Ok(tls) => Ok((tls, verdict)),
            Err(error) => Err(critical(format!("TLS handshake failed: {error}"))),
        }
    }

    /// Resolves `host` (an IP address is taken as it is), before the deadline.
    async fn resolve(
        &self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<Vec<SocketAddr>, Outcome> {
        let addresses = match timeout_at(deadline, lookup_host((host, port))).await {
            Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
            Ok(Err(error)) => return Err(critical(format!("cannot resolve {host}: {error}"))),
            Err(_) => return Err(critical(self.timed_out(&format!("resolving {host}")))),
        };
        if addresses.is_empty() {
            return Err(critical(format!("cannot resolve {host}: no address")));
        }
        Ok(addresses)
    }

    /// Tries each address in turn until one accepts; the error says why none did.
    async fn connect(
        &self,
        addresses: &[SocketAddr],
        deadline: Instant,
    ) -> Result<TcpStream, String> {
        let mut reasons = Vec::new();
        for address in addresses {
            match timeout_at(deadline, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    reasons.push(format!("connection refused by {address}"));
                }
                Ok(Err(error)) => reasons.push(format!("cannot connect to {address}: {error}")),
                Err(_) => return Err(self.timed_out("connecting")),
            }
        }
        Err(reasons.join("; "))
    }

    /// The outcome of an exchange that did not end with an answer.
    fn failed(&self, failure: Failure) -> Outcome {
        critical(match failure {
            Failure::TimedOut(doing) => self.timed_out(doing),
            Failure::Request(error) => error,
            Failure::Body { status_line, error } => {
                format!("{status_line} - cannot read the body: {error}")
            }
        })
    }

    fn timed_out(&self, doing: &str) -> String {
        format!("timed out after {} s {doing}", self.timeout.as_secs_f64())
    }

    fn parse_url(&self) -> Result<Url, HttpCheckError> {
        if self.url.contains(char::is_whitespace) {
            return Err(HttpCheckError::Url(
                self.url.clone(),
                "contains a space".to_owned(),
            ));
        }
        let url = Url::parse(&self.url)
            .map_err(|e| HttpCheckError::Url(self.url.clone(), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpCheckError::Url(
                self.url.clone(),
                format!("scheme {:?} is not http or https", url.scheme()),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(HttpCheckError::Url(
                self.url.clone(),
                "has no host".to_owned(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpCheckError::Url(
                self.url.clone(),
                "holds credentials (use an Authorization header)".to_owned(),
            ));
        }
        Ok(url)
    }

    /// The Mozilla roots, plus `tls_trust_ca`.
    fn roots(&self) -> Result<RootCertStore, HttpCheckError> {
        trusted_roots(self.tls_trust_ca.as_deref()).map_err(|reason| {
            HttpCheckError::TrustCa(self.tls_trust_ca.clone().unwrap_or_default(), reason)
        })
    }

    /// The shared [`Trust`] for this check's roots. The message says what is wrong.
    fn trust(&self) -> Result<Arc<Trust>, String> {
        let Some(path) = &self.tls_trust_ca else {
            static MOZILLA: OnceLock<Result<Arc<Trust>, String>> = OnceLock::new();
            return MOZILLA.get_or_init(|| Trust::new(None)).clone();
        };
        // The file is read on every run, as before the cache, so that a changed (or removed)
        // file takes effect at the next run; only its parsing and the TLS set-up are shared.
        /// Per file: its content when last read, and what it gave.
        type Cache = Mutex<HashMap<PathBuf, (Vec<u8>, Arc<Trust>)>>;
        static CUSTOM: OnceLock<Cache> = OnceLock::new();
        // An unreadable file is left to `Trust::new`, which says why.
        let content = std::fs::read(path).ok();
        let cache = CUSTOM.get_or_init(Mutex::default);
        if let Some(content) = &content
            && let Ok(cache) = cache.lock()
            && let Some((cached, trust)) = cache.get(path)
            && cached == content
        {
            return Ok(trust.clone());
        }
        let trust = Trust::new(Some(path))?;
        if let Some(content) = content
            && let Ok(mut cache) = cache.lock()
        {
            cache.insert(path.clone(), (content, trust.clone()));
        }
        Ok(trust)
    }
}

/// What every check trusting the same roots shares: the roots, the certificate verifier and
/// the TLS settings of redirected requests.
struct Trust {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
    tls: Arc<ClientConfig>,
}

impl Trust {
    /// The Mozilla roots, plus the CA certificates of `extra`.
    fn new(extra: Option<&Path>) -> Result<Arc<Trust>, String> {
        let roots = trusted_roots(extra).map_err(|reason| {
            HttpCheckError::TrustCa(extra.map(Path::to_path_buf).unwrap_or_default(), reason)
                .to_string()
        })?;
        let roots = Arc::new(roots);
        let provider = Arc::new(ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|error| format!("cannot set up TLS verification: {error}"))?;
        let tls = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("cannot set up TLS: {error}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(Trust {
            provider,
            verifier,
            tls: Arc::new(tls),
        }))
    }
}

/// The statuses whose `Location` is followed.
const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// The host to resolve (an IPv6 address without its brackets) and the port of `url`.
fn host_port(url: &Url) -> Result<(String, u16), Outcome> {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => Ok((host.trim_matches(['[', ']']).to_owned(), port)),
        _ => Err(unknown(format!("invalid check: url: {url} has no host"))),
    }
}

/// The name the server's certificate must hold: the host, or its IP address.
fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_owned())
            .map_err(|error| format!("invalid check: url: bad TLS name: {error}")),
    }
}

/// Why an [`HttpCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpCheckError {
    #[error("url: {0:?} {1}")]
    Url(String, String),
    #[error("headers: {0:?} is not a valid header name")]
    HeaderName(String),
    #[error("headers: the value of {0:?} is not a valid header value")]
    HeaderValue(String),
    #[error("follow_redirects: {0} is more than 20")]
    TooManyRedirects(u32),
    #[error("expected_status: {0} is not a status code (100 to 599)")]
    ExpectedStatus(u16),
    #[error("body_contains: is empty (leave it unset to check nothing)")]
    BodyContainsEmpty,
    #[error("body_regex: {0}")]
    BodyRegex(String),
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
    #[error("body_limit: {0} bytes is out of range (1 byte to 64 MiB)")]
    BodyLimitOutOfRange(usize),
    #[error("cert_critical_days: {critical} is more than cert_warning_days ({warning})")]
    CertDays { warning: u32, critical: u32 },
    #[error("tls_trust_ca: only an https URL uses it")]
    TrustCaWithoutHttps,
    #[error("tls_trust_ca: {0:?} is not an absolute path")]
    TrustCaNotAbsolute(PathBuf),
    #[error("tls_trust_ca: {0:?}: {1}")]
    TrustCa(PathBuf, String),
}

impl HttpCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Url(..) => "url",
            Self::HeaderName(_) | Self::HeaderValue(_) => "headers",
            Self::TooManyRedirects(_) => "follow_redirects",
            Self::ExpectedStatus(_) => "expected_status",
            Self::BodyContainsEmpty => "body_contains",
            Self::BodyRegex(_) => "body_regex",
            Self::TimeoutOutOfRange(_) => "timeout",
            Self::BodyLimitOutOfRange(_) => "body_limit",
            Self::CertDays { .. } => "cert_critical_days",
            Self::TrustCaWithoutHttps | Self::TrustCaNotAbsolute(_) | Self::TrustCa(..) => {
                "tls_trust_ca"
            }
        }
    }
}

/// What the recording verifier saw: the chain the server sent and whether it verified.
#[derive(Debug)]
struct Recorded {
    chain: Vec<CertificateDer<'static>>,
    verdict: Result<(), rustls::Error>,
}

/// A verifier that never fails a handshake on the certificate: it records the chain and what
/// the webpki verifier thought of it. Handshake signatures are still checked.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    record: Arc<OnceLock<Recorded>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        let _ = self.record.set(Recorded { chain, verdict });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The parts of a certificate inspection the verdict is made of.
#[derive(Clone, Debug, PartialEq)]
struct Inspection {
    /// Why the chain does not verify for the host, if it does not.
    chain_error: Option<String>,
    /// `None` when the leaf could not be parsed (the reason is in `chain_error`).
    leaf: Option<Leaf>,
}

#[derive(Clone, Debug, PartialEq)]
struct Leaf {
    /// `notAfter`, in seconds since the Unix epoch.
    not_after: i64,
    /// `notAfter` as a UTC date, `2026-12-04`.
    not_after_date: String,
    subject: String,
    issuer: String,
    names: Vec<String>,
}

fn inspect(recorded: &Recorded) -> Inspection {
    let mut chain_error = recorded.verdict.as_ref().err().map(ToString::to_string);
    let leaf = recorded
        .chain
        .first()
        .and_then(|der| match X509Certificate::from_der(der) {
            Ok((_, certificate)) => Some(leaf(&certificate)),
            Err(error) => {
                chain_error.get_or_insert(format!("cannot parse the certificate: {error}"));
                None
            }
        });
    Inspection { chain_error, leaf }
}

fn leaf(certificate: &X509Certificate<'_>) -> Leaf {
    let not_after = certificate.validity().not_after;
    let names = match certificate.subject_alternative_name() {
        Ok(Some(extension)) => extension
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => (*dns).to_owned(),
                GeneralName::IPAddress(bytes) => ip_text(bytes),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Leaf {
        not_after: not_after.timestamp(),
        not_after_date: not_after.to_datetime().date().to_string(),
        subject: certificate.subject().to_string(),
        issuer: certificate.issuer().to_string(),
        names,
    }
}

fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        format!("IP {bytes:?}")
    }
}

/// The certificate's share of the outcome.
#[derive(Clone, Debug, PartialEq)]
struct CertificateVerdict {
    state: State,
    /// For the summary, worst first.
    problems: Vec<String>,
    long_output: Vec<String>,
}

/// Judges an inspection at `now` (nanoseconds since the Unix epoch: whole seconds would make
/// a certificate made this second look a whole day longer-lived). Days left are the floor of
/// whole days until `notAfter`: negative once expired.
fn judge_certificate(
    inspection: &Inspection,
    warning_days: Option<u32>,
    critical_days: Option<u32>,
    now: i128,
) -> CertificateVerdict {
    let mut state = State::Ok;
    let mut problems = Vec::new();
    let mut long_output = Vec::new();
    if let Some(leaf) = &inspection.leaf {
        let nanos_left = i128::from(leaf.not_after) * NANOS_PER_SECOND - now;
        let days_left = nanos_left.div_euclid(NANOS_PER_DAY);
        let date = &leaf.not_after_date;
        let expiry = if nanos_left < 0 {
            let days_ago = (-nanos_left).div_euclid(NANOS_PER_DAY);
            state = State::Critical;
            let text = format!("certificate expired {days_ago} days ago ({date})");
            problems.push(text.clone());
            text
        } else {
            let text = format!("certificate expires in {days_left} days ({date})");
            if critical_days.is_some_and(|days| days_left < i128::from(days)) {
                state = State::Critical;
                problems.push(text.clone());
            } else if warning_days.is_some_and(|days| days_left < i128::from(days)) {
                state = State::Warning;
                problems.push(text.clone());
            }
            text
        };
        long_output.push(format!("{expiry}, {days_left} days left"));
        long_output.push(format!("subject: {}", printable(&leaf.subject)));
        long_output.push(format!("issuer: {}", printable(&leaf.issuer)));
        long_output.push(format!(
            "subject alternative names: {}",
            printable(&leaf.names.join(", "))
        ));
    }
    match &inspection.chain_error {
        Some(reason) => {
            state = State::Critical;
            let text = format!("certificate chain invalid: {}", printable(reason));
            long_output.push(text.clone());
            problems.push(text);
        }
        None => long_output.push("certificate chain: valid".to_owned()),
    }
    CertificateVerdict {
        state,
        problems,
        long_output,
    }
}

fn unknown(summary: String) -> Outcome {
    Outcome::new(State::Unknown, format!("HTTP UNKNOWN - {summary}"))
}

fn critical(summary: String) -> Outcome {
    Outcome::new(State::Critical, format!("HTTP CRITICAL - {summary}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_header_values_and_the_body() {
        let mut check = HttpCheck::new("https://example.com/");
        check.headers = vec![("Authorization".into(), "Bearer s3cr3t".into())];
        check.body = Some("password=hunter2".into());
        let shown = format!("{check:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    /// Regression guard for the shared clients: they must not keep a connection between
    /// runs. A keep-alive server sees one connection per run, and a run after it stopped is
    /// CRITICAL.
    #[tokio::test]
    async fn every_run_connects_anew() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let server = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    // One answer per read, and the connection stays open.
                    let mut buffer = [0; 4096];
                    while let Ok(n) = stream.read(&mut buffer).await
                        && n > 0
                    {
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let check = HttpCheck {
            timeout: Duration::from_secs(3),
            ..HttpCheck::new(format!("http://127.0.0.1:{port}/"))
        };
        for run in 1..=3 {
            let outcome = check.run().await;
            assert_eq!(outcome.state, State::Ok, "{outcome:?}");
            assert_eq!(accepted.load(Ordering::SeqCst), run);
        }
        server.abort();
        let _ = server.await;
        let outcome = check.run().await;
        assert_eq!(outcome.state, State::Critical, "{outcome:?}");
        assert!(
            outcome.summary.contains("connection refused"),
            "{}",
            outcome.summary
        );
    }

    fn inspection(not_after: i64, chain_error: Option<&str>) -> Inspection {
        Inspection {
            chain_error: chain_error.map(str::to_owned),
            leaf: Some(Leaf {
                not_after,
                not_after_date: "2026-12-04".to_owned(),
                subject: "CN=www".to_owned(),
                issuer: "CN=Test CA".to_owned(),
                names: vec!["www.example.net".to_owned(), "127.0.0.1".to_owned()],
            }),
        }
    }

    #[test]
    fn certificate_verdicts() {
        let now = 1_000_000_000;
        let day = 86_400;
        let table = [
            // (seconds left, chain error, state, first problem)
            (40 * day, None, State::Ok, None),
            (
                5 * day,
                None,
                State::Warning,
                Some("certificate expires in 5 days (2026-12-04)"),
            ),
            (
                5 * day - 1,
                None,
                State::Warning,
                Some("certificate expires in 4 days"),
            ),
            (
                3 * day,
                None,
                State::Warning,
                Some("certificate expires in 3 days"),
            ),
            (
                3 * day - 1,
                None,
                State::Critical,
                Some("certificate expires in 2 days"),
            ),
            (
                -1,
                None,
                State::Critical,
                Some("certificate expired 0 days ago"),
            ),
            (
                -2 * day,
                None,
                State::Critical,
                Some("certificate expired 2 days ago"),
            ),
            (
                40 * day,
                Some("invalid peer certificate: UnknownIssuer"),
                State::Critical,
                Some("certificate chain invalid: invalid peer certificate: UnknownIssuer"),
            ),
        ];
        for (left, chain_error, state, problem) in table {
            let verdict = judge_certificate(
                &inspection(now + left, chain_error),
                Some(30),
                Some(3),
                i128::from(now) * NANOS_PER_SECOND,
            );
            assert_eq!(verdict.state, state, "{left} {verdict:?}");
            match problem {
                None => assert!(verdict.problems.is_empty(), "{verdict:?}"),
                Some(problem) => assert!(verdict.problems[0].starts_with(problem), "{verdict:?}"),
            }
            assert!(verdict.long_output.iter().any(|l| l.contains("days left")));
            assert!(
                verdict
                    .long_output
                    .contains(&"issuer: CN=Test CA".to_owned())
            );
        }
    }

    #[test]
    fn validation_names_the_field() {
        let https = |url: &str| HttpCheck::new(url);
        let table: [(HttpCheck, &str); 11] = [
            (https("ftp://example.net/"), "url"),
            (https("not a url"), "url"),
            (https("https://user:secret@example.net/"), "url"),
            (
                HttpCheck {
                    headers: vec![("Bad Name".to_owned(), "x".to_owned())],
                    ..https("http://example.net/")
                },
                "headers",
            ),
            (
                HttpCheck {
                    headers: vec![("X-Ok".to_owned(), "line\nbreak".to_owned())],
                    ..https("http://example.net/")
                },
                "headers",
            ),
            (
                HttpCheck {
                    body_regex: Some("(unclosed".to_owned()),
                    ..https("http://example.net/")
                },
                "body_regex",
            ),
            (
                HttpCheck {
                    expected_status: vec![200, 700],
                    ..https("http://example.net/")
                },
                "expected_status",
            ),
            (
                HttpCheck {
                    timeout: Duration::ZERO,
                    ..https("http://example.net/")
                },
                "timeout",
            ),
            (
                HttpCheck {
                    body_limit: 0,
                    ..https("http://example.net/")
                },
                "body_limit",
            ),
            (
                HttpCheck {
                    cert_warning_days: Some(3),
                    cert_critical_days: Some(7),
                    ..https("https://example.net/")
                },
                "cert_critical_days",
            ),
            (
                HttpCheck {
                    tls_trust_ca: Some(PathBuf::from("relative.pem")),
                    ..https("https://example.net/")
                },
                "tls_trust_ca",
            ),
        ];
        for (check, field) in table {
            let error = check.validate().expect_err(&check.url);
            assert_eq!(error.field(), field, "{error}");
            assert!(error.to_string().starts_with(field), "{error}");
        }
        assert_eq!(https("https://[::1]:8443/x?y").validate(), Ok(()));
    }
}
