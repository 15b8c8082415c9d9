//! The Prometheus exporter scrape probe: GET an exporter's metrics (text format 0.0.4 or
//! OpenMetrics, plain or gzip), pick one series with a PromQL selector and judge its value
//! against thresholds, such as the free bytes of `/` from a node exporter.
//!
//! One deadline, `timeout` after the run starts, bounds everything: resolving the name, the
//! request, reading the body, decompressing and parsing it. The states:
//!
//! | what happened                                                      | state             |
//! |--------------------------------------------------------------------|-------------------|
//! | the check is invalid, or `tls_trust_ca` cannot be read             | UNKNOWN           |
//! | the name does not resolve (also when resolving outlasts the deadline) | UNKNOWN        |
//! | the connection is refused or fails (TLS included), reading the body fails, the deadline passes before the body is read | CRITICAL |
//! | a status other than 2xx (redirects are not followed)               | UNKNOWN           |
//! | the body, compressed or decompressed, exceeds `body_limit`         | UNKNOWN           |
//! | an unsupported `Content-Encoding`, a corrupt gzip body             | UNKNOWN           |
//! | the body does not parse (the line and the problem are named), or parsing outlasts the deadline | UNKNOWN |
//! | the selector matches no series, or several, or the value is NaN   | UNKNOWN           |
//! | otherwise                                                          | `thresholds`      |
//!
//! The rule: CRITICAL when the exporter cannot be reached, as the HTTP probe says of a site
//! that cannot be reached (the exporter or its host is down, which a person must look at);
//! UNKNOWN when the exporter, or something in front of it, answered without a value the
//! thresholds can judge, and when the name does not resolve, as the TCP probe says: the probe
//! never got to look. (The HTTP probe makes a name that does not resolve CRITICAL, because for a
//! web site that is the site down for its users; an exporter's name is only the probe's way in.)
//!
//! The request asks for OpenMetrics first and the text format second, and for gzip, as
//! Prometheus does. The probe decompresses gzip itself (flate2), so it can cap both sizes: it
//! stops reading the body once it is longer than `body_limit` bytes (reads none of it when the
//! `Content-Length` says so), and stops decompressing once the result is; either way the run is
//! UNKNOWN and no more than the cap is held. The
//! format comes from the `Content-Type` ([`Format::from_content_type`]); without one, or with
//! one that names neither format, the body is read as text 0.0.4, as Prometheus 2 did.
//!
//! Decompressing, parsing and judging run on tokio's blocking pool: a body of many megabytes
//! takes a while to parse, and a probe's run shares its runtime with others.
//!
//! `scrape_time` runs from sending the request to reading the last byte of the body, as the
//! HTTP probe's response time does. Performance data (the value, `scrape_time`, `samples`) is
//! given only when the body parsed: then the scrape itself worked and its figures mean something
//! to a metrics sink, even when the selector picked no single series.

use std::collections::HashSet;
use std::fmt;
use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::exposition::{
    self, Exposition, Format, Limits, MetricType, Sample, Selector, evaluate_series,
};
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use reqwest::Url;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, HeaderMap, HeaderName, HeaderValue};
use rustls::crypto::ring;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::lookup_host;
use tokio::time::{Instant, timeout_at};

use crate::outcome::Outcome;
use crate::text::{error_chain, printable, printable_lines, trusted_roots};

/// What the request accepts: OpenMetrics first, then the text format.
pub const ACCEPT_HEADER: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

/// The default cap on the body, compressed and decompressed.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The most a check may be told to read of a body.
pub const LARGEST_BODY_LIMIT: usize = 256 * 1024 * 1024;

/// The default cap on the samples of one scrape.
pub const DEFAULT_MAX_SAMPLES: usize = 200_000;

/// The most samples a check may be told to accept.
pub const LARGEST_MAX_SAMPLES: usize = 10_000_000;

/// The default cap on the length of one line of the body.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest timeout a scrape check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout a scrape check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// How much of the body of an answer other than 2xx is read and shown in the long output.
const ERROR_BODY_LIMIT: usize = 4 * 1024;

/// A scrape check, as an operator defines it. Its `Debug` hides header values, which may carry
/// credentials.
#[derive(Clone, PartialEq)]
pub struct ScrapeCheck {
    /// The exporter's metrics, `http://…` or `https://…` (`http://db1:9100/metrics`).
    pub url: String,
    /// Picks the one series judged, e.g. `node_filesystem_avail_bytes{mountpoint="/"}`.
    pub selector: Selector,
    /// Warning and critical ranges for the series' value.
    pub thresholds: Thresholds,
    /// Sent as given (an `Authorization`, say), after Pupitre's `User-Agent`, `Accept` and
    /// `Accept-Encoding`, which a header of the same name here replaces.
    pub headers: Vec<(String, String)>,
    /// Bounds the whole run.
    pub timeout: Duration,
    /// The most bytes of the body read, and the most bytes it may decompress to.
    pub body_limit: usize,
    /// The most samples the body may hold.
    pub max_samples: usize,
    /// The longest line of the body, in bytes.
    pub max_line_bytes: usize,
    /// https only: a PEM file of CA certificates trusted besides the Mozilla roots.
    pub tls_trust_ca: Option<PathBuf>,
}

impl fmt::Debug for ScrapeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "<hidden>"))
            .collect();
        f.debug_struct("ScrapeCheck")
            .field("url", &self.url)
            .field("selector", &self.selector.to_string())
            .field("thresholds", &self.thresholds)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("max_samples", &self.max_samples)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("tls_trust_ca", &self.tls_trust_ca)
            .finish()
    }
}

/// What a run found: the outcome, and the samples the selector matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Scrape {
    pub outcome: Outcome,
    /// In body order: the one series judged, or the none or several that made the run
    /// UNKNOWN; empty too when the scrape itself failed.
    pub selected: Vec<Sample>,
}

impl ScrapeCheck {
    /// A scrape of `url` judged on the series `selector` picks, with no thresholds (always OK
    /// when one series matches), a 10 s timeout, a 16 MiB body limit, at most 200 000 samples
    /// and lines of at most 64 KiB.
    pub fn new(url: impl Into<String>, selector: Selector) -> ScrapeCheck {
        ScrapeCheck {
            url: url.into(),
            selector,
            thresholds: Thresholds::default(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            body_limit: DEFAULT_BODY_LIMIT,
            max_samples: DEFAULT_MAX_SAMPLES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            tls_trust_ca: None,
        }
    }

    /// Checks the definition when it is written, without IO (see [`ScrapeCheck::check_files`]).
    pub fn validate(&self) -> Result<(), ScrapeCheckError> {
        let url = self.parse_url()?;
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ScrapeCheckError::HeaderName(name.clone()));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(ScrapeCheckError::HeaderValue(name.clone()));
            }
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(ScrapeCheckError::TimeoutOutOfRange(self.timeout));
        }
        if !(1..=LARGEST_BODY_LIMIT).contains(&self.body_limit) {
            return Err(ScrapeCheckError::BodyLimitOutOfRange(self.body_limit));
        }
        if !(1..=LARGEST_MAX_SAMPLES).contains(&self.max_samples) {
            return Err(ScrapeCheckError::MaxSamplesOutOfRange(self.max_samples));
        }
        if !(1..=self.body_limit).contains(&self.max_line_bytes) {
            return Err(ScrapeCheckError::MaxLineBytesOutOfRange(
                self.max_line_bytes,
            ));
        }
        if let Some(path) = &self.tls_trust_ca {
            if url.scheme() != "https" {
                return Err(ScrapeCheckError::TrustCaWithoutHttps);
            }
            if !path.is_absolute() {
                return Err(ScrapeCheckError::TrustCaNotAbsolute(path.clone()));
            }
        }
        Ok(())
    }

    /// The second step of validation, with IO: reads `tls_trust_ca` and checks that it holds
    /// CA certificates. Run it when the check is defined, after [`ScrapeCheck::validate`].
    pub fn check_files(&self) -> Result<(), ScrapeCheckError> {
        self.roots().map(|_| ())
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        self.scrape().await.outcome
    }

    /// Runs the check once, as [`ScrapeCheck::run`], and also returns the samples the selector
    /// matched.
    pub async fn scrape(&self) -> Scrape {
        let deadline = Instant::now() + self.timeout;
        match self.fetch(deadline).await {
            Ok(fetched) => self.judge(fetched, deadline).await,
            Err(outcome) => Scrape {
                outcome,
                selected: Vec::new(),
            },
        }
    }

    /// Resolves, connects, sends the request and reads the body, within the deadline.
    async fn fetch(&self, deadline: Instant) -> Result<Fetched, Outcome> {
        if let Err(error) = self.validate() {
            return Err(unknown(format!("invalid check: {error}")));
        }
        let url = self
            .parse_url()
            .map_err(|error| unknown(format!("invalid check: {error}")))?;
        let roots = self.roots().map_err(|error| unknown(error.to_string()))?;
        let (host, port) = match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => (host.trim_matches(['[', ']']).to_owned(), port),
            _ => return Err(unknown(format!("invalid check: url: {url} has no host"))),
        };

        let addresses = match timeout_at(deadline, lookup_host((host.as_str(), port))).await {
            Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
            Ok(Err(error)) => return Err(unknown(format!("cannot resolve {host}: {error}"))),
            Err(_) => {
                return Err(unknown(format!(
                    "cannot resolve {host}: {}",
                    self.timed_out("resolving the name")
                )));
            }
        };
        if addresses.is_empty() {
            return Err(unknown(format!("cannot resolve {host}: no address")));
        }

        let client = self
            .client(roots, &host, &addresses)
            .map_err(|error| unknown(format!("cannot set up the HTTP client: {error}")))?;
        let request = client.get(url).headers(self.request_headers());
        let started = Instant::now();
        let mut response = match timeout_at(deadline, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(critical(request_error(&error, &host, port))),
            Err(_) => return Err(critical(self.timed_out("waiting for the response"))),
        };
        let status = response.status();
        let status_line = format!(
            "{:?} {} {}",
            response.version(),
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned();

        if !status.is_success() {
            let mut summary = format!("the exporter answered {status_line}");
            if status.is_redirection()
                && let Some(location) = header_text(response.headers(), "location")
            {
                let _ = write!(
                    summary,
                    " (redirects are not followed; point url at {location})"
                );
            }
            // Best effort: exporters say what went wrong in the body.
            let body = read_body(&mut response, ERROR_BODY_LIMIT, deadline).await;
            let text = match body {
                Ok(Body::Complete(bytes) | Body::Exceeded(bytes)) => {
                    String::from_utf8_lossy(&bytes).trim().to_owned()
                }
                Ok(Body::TooLong(_)) | Err(_) => String::new(),
            };
            return Err(unknown(summary).with_long_output(printable_lines(&text)));
        }

        let body = match read_body(&mut response, self.body_limit, deadline).await {
            Ok(Body::Complete(bytes)) => bytes,
            Ok(Body::Exceeded(_)) => {
                return Err(unknown(format!(
                    "the body exceeded {} bytes (body_limit); stopped reading",
                    self.body_limit
                )));
            }
            Ok(Body::TooLong(length)) => {
                return Err(unknown(format!(
                    "the body exceeded {} bytes (body_limit): Content-Length is {length}; \
                     not read",
                    self.body_limit
                )));
            }
            Err(ReadError::Timeout) => {
                return Err(critical(self.timed_out("reading the body")));
            }
            Err(ReadError::Failed(error)) => {
                return Err(critical(format!(
                    "{status_line} - cannot read the body: {error}"
                )));
            }
        };
        let scrape_time = started.elapsed().as_secs_f64();
        Ok(Fetched {
            content_type: header_text(response.headers(), "content-type"),
            content_encoding: header_text(response.headers(), "content-encoding"),
            body,
            scrape_time,
        })
    }

    /// Decompresses, parses and judges the body on the blocking pool, within the deadline.
    async fn judge(&self, fetched: Fetched, deadline: Instant) -> Scrape {
        let failed = |outcome| Scrape {
            outcome,
            selected: Vec::new(),
        };
        let job = Job {
            selector: self.selector.clone(),
            thresholds: self.thresholds,
            body_limit: self.body_limit,
            limits: Limits {
                max_samples: self.max_samples,
                max_line_bytes: self.max_line_bytes,
            },
        };
        let scrape_time = fetched.scrape_time;
        let judged = match timeout_at(
            deadline,
            tokio::task::spawn_blocking(move || job.run(fetched)),
        )
        .await
        {
            Ok(Ok(Ok(judged))) => judged,
            Ok(Ok(Err(problem))) => return failed(unknown(problem)),
            Ok(Err(error)) => return failed(unknown(format!("the parser failed: {error}"))),
            Err(_) => return failed(unknown(self.timed_out("parsing the body"))),
        };

        let verdict = judged.verdict;
        let state = verdict.state;
        let mut long_output = Vec::new();
        if !verdict.detail.is_empty() {
            long_output.push(printable_lines(&verdict.detail));
        }
        long_output.push(judged.description);
        let mut outcome = Outcome::new(
            state,
            format!("PROMETHEUS {state} - {}", printable(&verdict.summary)),
        )
        .with_long_output(long_output.join("\n"));
        if let Some(series) = &verdict.series {
            outcome = outcome.with_perfdatum(PerfDatum {
                label: series.to_string(),
                value: Some(series.value).filter(|v| !v.is_nan()),
                uom: judged.uom,
                warning: self.thresholds.warning,
                critical: self.thresholds.critical,
                min: None,
                max: None,
            });
        }
        let outcome = outcome
            .with_perfdatum(PerfDatum {
                label: "scrape_time".to_owned(),
                value: Some(scrape_time),
                uom: Uom::Seconds,
                warning: None,
                critical: None,
                min: Some(0.0),
                max: Some(self.timeout.as_secs_f64()),
            })
            .with_perfdatum(PerfDatum {
                label: "samples".to_owned(),
                value: Some(judged.samples as f64),
                uom: Uom::Count,
                warning: None,
                critical: None,
                min: Some(0.0),
                max: None,
            });
        Scrape {
            outcome,
            selected: judged.selected,
        }
    }

    /// Pupitre's headers, then the check's: a name given here replaces Pupitre's.
    fn request_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_HEADER));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let mut replaced = HashSet::new();
        for (name, value) in &self.headers {
            // validate() has checked both; a bad one is skipped rather than panicking.
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                continue;
            };
            if replaced.insert(name.clone()) {
                headers.remove(&name);
            }
            headers.append(name, value);
        }
        headers
    }

    /// A client that trusts `roots`, follows no redirect, uses no proxy, decompresses nothing
    /// itself and connects `host` to the addresses already resolved.
    fn client(
        &self,
        roots: RootCertStore,
        host: &str,
        addresses: &[std::net::SocketAddr],
    ) -> Result<reqwest::Client, String> {
        let tls = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .resolve_to_addrs(host, addresses)
            .user_agent(concat!(
                "Pupitre/",
                env!("CARGO_PKG_VERSION"),
                " (Prometheus probe)"
            ))
            .build()
            .map_err(|error| error_chain(&error))
    }

    fn timed_out(&self, doing: &str) -> String {
        format!("timed out after {} s {doing}", self.timeout.as_secs_f64())
    }

    fn parse_url(&self) -> Result<Url, ScrapeCheckError> {
        let error = |reason: &str| ScrapeCheckError::Url(self.url.clone(), reason.to_owned());
        if self.url.contains(char::is_whitespace) {
            return Err(error("contains a space"));
        }
        let url = Url::parse(&self.url).map_err(|e| error(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(error(&format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(error("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(error("holds credentials (use an Authorization header)"));
        }
        Ok(url)
    }

    /// The Mozilla roots, plus `tls_trust_ca`.
    fn roots(&self) -> Result<RootCertStore, ScrapeCheckError> {
        trusted_roots(self.tls_trust_ca.as_deref()).map_err(|reason| {
            ScrapeCheckError::TrustCa(self.tls_trust_ca.clone().unwrap_or_default(), reason)
        })
    }
}

/// Why a [`ScrapeCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeCheckError {
    #[error("url: {0:?} {1}")]
    Url(String, String),
    #[error("headers: {0:?} is not a valid header name")]
    HeaderName(String),
    #[error("headers: the value of {0:?} is not a valid header value")]
    HeaderValue(String),
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
    #[error("body_limit: {0} bytes is out of range (1 byte to 256 MiB)")]
    BodyLimitOutOfRange(usize),
    #[error("max_samples: {0} is out of range (1 to 10 000 000)")]
    MaxSamplesOutOfRange(usize),
    #[error("max_line_bytes: {0} is out of range (1 byte to body_limit)")]
    MaxLineBytesOutOfRange(usize),
    #[error("tls_trust_ca: only an https URL uses it")]
    TrustCaWithoutHttps,
    #[error("tls_trust_ca: {0:?} is not an absolute path")]
    TrustCaNotAbsolute(PathBuf),
    #[error("tls_trust_ca: {0:?}: {1}")]
    TrustCa(PathBuf, String),
}

impl ScrapeCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Url(..) => "url",
            Self::HeaderName(_) | Self::HeaderValue(_) => "headers",
            Self::TimeoutOutOfRange(_) => "timeout",
            Self::BodyLimitOutOfRange(_) => "body_limit",
            Self::MaxSamplesOutOfRange(_) => "max_samples",
            Self::MaxLineBytesOutOfRange(_) => "max_line_bytes",
            Self::TrustCaWithoutHttps | Self::TrustCaNotAbsolute(_) | Self::TrustCa(..) => {
                "tls_trust_ca"
            }
        }
    }
}

/// A body read whole, and what the response said about it.
struct Fetched {
    content_type: Option<String>,
    content_encoding: Option<String>,
    body: Vec<u8>,
    scrape_time: f64,
}

/// What the blocking pool needs to judge a body.
struct Job {
    selector: Selector,
    thresholds: Thresholds,
    body_limit: usize,
    limits: Limits,
}

/// A body judged.
struct Judged {
    verdict: exposition::SeriesVerdict,
    selected: Vec<Sample>,
    samples: usize,
    uom: Uom,
    /// One line for the long output: the format, the sizes.
    description: String,
}

impl Job {
    /// Decompresses, parses and judges; an error is the summary of an UNKNOWN outcome.
    fn run(self, fetched: Fetched) -> Result<Judged, String> {
        let encoding = fetched
            .content_encoding
            .as_deref()
            .map(|e| e.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let compressed = fetched.body.len();
        let (body, gzip) = match encoding.as_str() {
            "" | "identity" => (fetched.body, false),
            "gzip" | "x-gzip" => (gunzip(&fetched.body, self.body_limit)?, true),
            other => {
                return Err(format!(
                    "unsupported Content-Encoding {:?} (gzip or none)",
                    printable(other)
                ));
            }
        };
        let (format, read_as) = match &fetched.content_type {
            Some(content_type) => match Format::from_content_type(content_type) {
                Some(format) => (format, format_name(format).to_owned()),
                None => (
                    Format::Text004,
                    format!(
                        "text 0.0.4 (Content-Type {:?} names no text format)",
                        printable(content_type)
                    ),
                ),
            },
            None => (Format::Text004, "text 0.0.4 (no Content-Type)".to_owned()),
        };
        let parsed = exposition::parse(&body, format, self.limits).map_err(|error| {
            format!(
                "cannot parse the body as {read_as}: {}",
                printable(&error.to_string())
            )
        })?;

        let verdict = evaluate_series(&parsed.samples, &self.selector, &self.thresholds);
        let selected = self
            .selector
            .select(&parsed.samples)
            .into_iter()
            .cloned()
            .collect();
        let uom = verdict
            .series
            .as_ref()
            .map_or(Uom::Count, |series| unit(&parsed, series));
        let mut description = format!(
            "{} samples in {} bytes of {read_as}",
            parsed.samples.len(),
            body.len()
        );
        if gzip {
            let _ = write!(description, ", {compressed} bytes gzip");
        }
        let _ = write!(description, ", read in {:.3} s", fetched.scrape_time);
        Ok(Judged {
            verdict,
            selected,
            samples: parsed.samples.len(),
            uom,
            description,
        })
    }
}

/// The body, or why reading it stopped.
enum Body {
    Complete(Vec<u8>),
    /// More than the limit came: the first `limit` bytes.
    Exceeded(Vec<u8>),
    /// The `Content-Length` says more than the limit; nothing was read.
    TooLong(u64),
}

enum ReadError {
    Timeout,
    Failed(String),
}

/// Reads the body up to `limit` bytes. Past that, it stops: dropping the response closes the
/// connection, so the rest is never downloaded.
async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
    deadline: Instant,
) -> Result<Body, ReadError> {
    if let Some(length) = response.content_length()
        && length > limit as u64
    {
        return Ok(Body::TooLong(length));
    }
    let mut body = Vec::new();
    loop {
        match timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return Ok(Body::Exceeded(body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Ok(None)) => return Ok(Body::Complete(body)),
            Ok(Err(error)) => return Err(ReadError::Failed(error_chain(&error))),
            Err(_) => return Err(ReadError::Timeout),
        }
    }
}

/// Decompresses a gzip body (of one or more members, as Go's reader accepts), stopping once the
/// result is longer than `limit` bytes.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(compressed)
        .take(cap)
        .read_to_end(&mut body)
        .map_err(|error| format!("cannot decompress the gzip body: {error}"))?;
    if body.len() > limit {
        return Err(format!(
            "the decompressed body exceeded {limit} bytes (body_limit); stopped decompressing"
        ));
    }
    Ok(body)
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text004 => "text 0.0.4",
        Format::OpenMetrics => "OpenMetrics",
    }
}

/// The perfdata unit of a series: `c` for a counter (a metrics sink takes its rate), else
/// bytes or seconds by the name's base-unit suffix, as Prometheus names them.
fn unit(parsed: &Exposition, series: &Sample) -> Uom {
    let counter = parsed
        .family_of(&series.name)
        .is_some_and(|family| family.metric_type == Some(MetricType::Counter));
    if counter {
        Uom::Counter
    } else if series.name.ends_with("_bytes") {
        Uom::Bytes
    } else if series.name.ends_with("_seconds") {
        Uom::Seconds
    } else {
        Uom::Count
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// A failed request: a refused connection is said plainly, anything else with its causes.
fn request_error(error: &reqwest::Error, host: &str, port: u16) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::ConnectionRefused
        {
            return format!("connection refused by {host} port {port}");
        }
        source = current.source();
    }
    error_chain(error)
}

fn unknown(summary: String) -> Outcome {
    Outcome::new(State::Unknown, format!("PROMETHEUS UNKNOWN - {summary}"))
}

fn critical(summary: String) -> Outcome {
    Outcome::new(State::Critical, format!("PROMETHEUS CRITICAL - {summary}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn selector() -> Selector {
        Selector::parse(r#"node_filesystem_avail_bytes{mountpoint="/"}"#).expect("selector")
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).expect("compress");
        encoder.finish().expect("compress")
    }

    #[test]
    fn validation_names_the_field() {
        let check = |url: &str| ScrapeCheck::new(url, selector());
        let table: [(ScrapeCheck, &str); 12] = [
            (check("ftp://example.net/metrics"), "url"),
            (check("not a url"), "url"),
            (check("http://user:secret@example.net:9100/metrics"), "url"),
            (
                ScrapeCheck {
                    headers: vec![("Bad Name".to_owned(), "x".to_owned())],
                    ..check("http://example.net:9100/metrics")
                },
                "headers",
            ),
            (
                ScrapeCheck {
                    headers: vec![("X-Ok".to_owned(), "line\nbreak".to_owned())],
                    ..check("http://example.net:9100/metrics")
                },
                "headers",
            ),
            (
                ScrapeCheck {
                    timeout: Duration::ZERO,
                    ..check("http://example.net:9100/metrics")
                },
                "timeout",
            ),
            (
                ScrapeCheck {
                    body_limit: 0,
                    ..check("http://example.net:9100/metrics")
                },
                "body_limit",
            ),
            (
                ScrapeCheck {
                    body_limit: LARGEST_BODY_LIMIT + 1,
                    ..check("http://example.net:9100/metrics")
                },
                "body_limit",
            ),
            (
                ScrapeCheck {
                    max_samples: 0,
                    ..check("http://example.net:9100/metrics")
                },
                "max_samples",
            ),
            (
                ScrapeCheck {
                    body_limit: 1024,
                    max_line_bytes: 4096,
                    ..check("http://example.net:9100/metrics")
                },
                "max_line_bytes",
            ),
            (
                ScrapeCheck {
                    tls_trust_ca: Some(PathBuf::from("/etc/ca.pem")),
                    ..check("http://example.net:9100/metrics")
                },
                "tls_trust_ca",
            ),
            (
                ScrapeCheck {
                    tls_trust_ca: Some(PathBuf::from("relative.pem")),
                    ..check("https://example.net:9100/metrics")
                },
                "tls_trust_ca",
            ),
        ];
        for (check, field) in table {
            let error = check.validate().expect_err(&check.url);
            assert_eq!(error.field(), field, "{error}");
            assert!(error.to_string().starts_with(field), "{error}");
        }
        assert_eq!(check("https://[::1]:9100/metrics").validate(), Ok(()));
        assert_eq!(check("http://db1:9100/metrics").validate(), Ok(()));
    }

    #[test]
    fn debug_hides_header_values() {
        let check = ScrapeCheck {
            headers: vec![("Authorization".into(), "Bearer s3cr3t".into())],
            ..ScrapeCheck::new("https://db1:9100/metrics", selector())
        };
        let shown = format!("{check:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(shown.contains(r#"mountpoint=\"/\""#), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn check_headers_replace_pupitre_headers() {
        let check = ScrapeCheck {
            headers: vec![
                ("accept-encoding".into(), "identity".into()),
                ("X-Scope".into(), "a".into()),
                ("X-Scope".into(), "b".into()),
            ],
            ..ScrapeCheck::new("http://db1:9100/metrics", selector())
        };
        let headers = check.request_headers();
        let values = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or("?").to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(values("accept"), [ACCEPT_HEADER]);
        assert_eq!(values("accept-encoding"), ["identity"]);
        assert_eq!(values("x-scope"), ["a", "b"]);
    }

    #[test]
    fn gunzip_caps_the_result() {
        let text = b"up 1\n".repeat(1000);
        let compressed = gzip(&text);
        assert_eq!(gunzip(&compressed, text.len()), Ok(text.clone()));
        assert_eq!(
            gunzip(&compressed, text.len() - 1),
            Err(format!(
                "the decompressed body exceeded {} bytes (body_limit); stopped decompressing",
                text.len() - 1
            ))
        );
        // Two members read as one body, as Go's reader does.
        let mut two = gzip(b"a 1\n");
        two.extend(gzip(b"b 2\n"));
        assert_eq!(gunzip(&two, 100), Ok(b"a 1\nb 2\n".to_vec()));
        let truncated = &compressed[..compressed.len() / 2];
        let error = gunzip(truncated, 1 << 20).expect_err("a truncated body");
        assert!(
            error.starts_with("cannot decompress the gzip body: "),
            "{error}"
        );
    }

    fn job() -> Job {
        Job {
            selector: selector(),
            thresholds: Thresholds::parse("", "@0:1000").expect("thresholds"),
            body_limit: 1 << 20,
            limits: Limits {
                max_samples: 100,
                max_line_bytes: 1024,
            },
        }
    }

    fn fetched(content_type: Option<&str>, encoding: Option<&str>, body: &[u8]) -> Fetched {
        Fetched {
            content_type: content_type.map(str::to_owned),
            content_encoding: encoding.map(str::to_owned),
            body: body.to_vec(),
            scrape_time: 0.25,
        }
    }

    /// Decoding and judging a body: (Content-Type, Content-Encoding, body, what comes out).
    #[test]
    fn bodies() {
        let text = "# TYPE node_filesystem_avail_bytes gauge\n\
                    node_filesystem_avail_bytes{mountpoint=\"/\"} 1.2e10\n\
                    node_filesystem_avail_bytes{mountpoint=\"/boot\"} 5e8\n";
        let openmetrics = format!("{text}# EOF\n");
        let gzipped = gzip(text.as_bytes());
        let nan = b"node_filesystem_avail_bytes{mountpoint=\"/\"} NaN\n";
        /// Content-Type, Content-Encoding, body, and the state and the start of the
        /// description, or the start of the problem.
        type Row<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            &'a [u8],
            Result<(State, &'a str), &'a str>,
        );
        let table: [Row<'_>; 9] = [
            (
                Some("text/plain; version=0.0.4; charset=utf-8"),
                None,
                text.as_bytes(),
                Ok((State::Ok, "2 samples in 144 bytes of text 0.0.4, read in")),
            ),
            (
                None,
                None,
                text.as_bytes(),
                Ok((
                    State::Ok,
                    "2 samples in 144 bytes of text 0.0.4 (no Content-Type)",
                )),
            ),
            (
                Some("text/plain"),
                Some("gzip"),
                &gzipped,
                Ok((State::Ok, "2 samples in 144 bytes of text 0.0.4, ")),
            ),
            (
                Some("application/openmetrics-text; version=1.0.0"),
                None,
                openmetrics.as_bytes(),
                Ok((State::Ok, "2 samples in 150 bytes of OpenMetrics")),
            ),
            (None, None, nan, Ok((State::Unknown, "1 samples in "))),
            // OpenMetrics must end with `# EOF`: proof that the format came from the header.
            (
                Some("application/openmetrics-text; version=1.0.0"),
                None,
                text.as_bytes(),
                Err(
                    "cannot parse the body as OpenMetrics: line 4: the body does not end with `# EOF`",
                ),
            ),
            (
                Some("text/html"),
                None,
                b"<html>no|metrics</html>\n",
                Err(
                    "cannot parse the body as text 0.0.4 (Content-Type \"text/html\" names no text \
                     format): line 1: expected a metric name, found `<html>no\\x7cmetrics</html>`",
                ),
            ),
            (
                Some("text/plain"),
                Some("br"),
                b"x",
                Err("unsupported Content-Encoding \"br\" (gzip or none)"),
            ),
            (
                Some("text/plain"),
                Some("gzip"),
                text.as_bytes(),
                Err("cannot decompress the gzip body: "),
            ),
        ];
        for (content_type, encoding, body, expected) in table {
            let result = job().run(fetched(content_type, encoding, body));
            match (result, expected) {
                (Ok(judged), Ok((state, description))) => {
                    assert_eq!(judged.verdict.state, state, "{content_type:?}");
                    assert!(
                        judged.description.starts_with(description),
                        "{}",
                        judged.description
                    );
                    assert_eq!(judged.selected.len(), 1);
                    // By series: a NaN value is not equal to itself.
                    assert_eq!(
                        judged.verdict.series.as_ref().map(Sample::to_string),
                        judged.selected.first().map(Sample::to_string)
                    );
                }
                (Err(problem), Err(start)) => assert!(problem.starts_with(start), "{problem}"),
                (result, _) => panic!("{content_type:?} {encoding:?}: {:?}", result.err()),
            }
        }
        let judged = job()
            .run(fetched(Some("text/plain"), None, text.as_bytes()))
            .unwrap_or_else(|problem| panic!("{problem}"));
        assert_eq!(
            judged.verdict.summary,
            "node_filesystem_avail_bytes{mountpoint=\"/\"} = 12000000000 (OK)"
        );
        assert_eq!(judged.uom, Uom::Bytes);
    }

    #[test]
    fn gzip_description_gives_both_sizes() {
        let text = "up 1\n";
        let judged = Job {
            selector: Selector::parse("up").expect("selector"),
            ..job()
        }
        .run(fetched(
            Some("text/plain"),
            Some("GZIP"),
            &gzip(text.as_bytes()),
        ))
        .unwrap_or_else(|problem| panic!("{problem}"));
        assert!(
            judged
                .description
                .starts_with("1 samples in 5 bytes of text 0.0.4, ")
                && judged.description.ends_with(" bytes gzip, read in 0.250 s"),
            "{}",
            judged.description
        );
    }

    #[test]
    fn units() {
        let body = "# TYPE node_network_receive_bytes_total counter\n\
                    node_network_receive_bytes_total 10\n\
                    node_filesystem_avail_bytes 1\n\
                    node_time_seconds 2\n\
                    node_load1 0.5\n";
        let parsed = exposition::parse(
            body.as_bytes(),
            Format::Text004,
            Limits {
                max_samples: 10,
                max_line_bytes: 100,
            },
        )
        .expect("a body");
        let units: Vec<Uom> = parsed
            .samples
            .iter()
            .map(|sample| unit(&parsed, sample))
            .collect();
        assert_eq!(units, [Uom::Counter, Uom::Bytes, Uom::Seconds, Uom::Count]);
    }
}
