//! One HTTP/1.1 request and its answer on a connection the probe opened itself (plain TCP, or
//! TLS after the certificate inspection), with hyper's connection-level client.
//!
//! The probe sends one request per connection and never keeps one, so it needs none of a
//! general client's machinery (a pool, a connector service, a task per connection): the
//! connection is driven on the caller's task, alongside the request ([`alongside`]), and
//! dropped with it. Owning the connection is what lets an `https://` check inspect the
//! certificate and send its request in one TLS handshake (reqwest's client made a second
//! one). For a plain `http://` check the CPU cost is the same as with reqwest (measured:
//! it is in the kernel's connection handling and in waking for the answer, not in the client).

use std::future::Future;
use std::pin::pin;

use http_body_util::BodyExt;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout_at};

use crate::text::error_chain;

/// What the server answered.
#[derive(Debug)]
pub(super) struct Answer {
    /// `HTTP/1.1 200 OK`.
    pub status_line: String,
    pub code: u16,
    /// The `Location` header, as sent.
    pub location: Option<String>,
    /// At most the body limit.
    pub body: Vec<u8>,
    /// More body came than the limit; the rest was not read.
    pub truncated: bool,
}

/// Why an exchange ended without an answer (or with part of one).
#[derive(Debug)]
pub(super) enum Failure {
    /// The deadline passed while doing this.
    TimedOut(&'static str),
    /// The request could not be made or sent, or no response came.
    Request(String),
    /// The response came but its body broke off.
    Body { status_line: String, error: String },
}

/// The request line and headers of one hop.
pub(super) struct Hop<'a> {
    pub method: Method,
    pub url: &'a Url,
    /// Sent as given; a `User-Agent`, `Host` or `Accept` here replaces Pupitre's.
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    /// `Authorization`, `Cookie` and `Proxy-Authorization` from `headers` are sent (not after
    /// a redirect to another origin).
    pub credentials: bool,
}

/// The headers a redirect to another origin does not carry over.
const SENSITIVE: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

const USER_AGENT: &str = concat!("Pupitre/", env!("CARGO_PKG_VERSION"), " (HTTP probe)");

impl Hop<'_> {
    fn request(&self) -> Result<Request<String>, Failure> {
        let mut target = self.url.path().to_owned();
        if let Some(query) = self.url.query() {
            target.push('?');
            target.push_str(query);
        }
        let uri = target
            .parse::<Uri>()
            .map_err(|error| Failure::Request(format!("cannot request {target}: {error}")))?;
        let host = self.url.host_str().unwrap_or_default();
        let host = match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut request = Request::new(self.body.unwrap_or_default().to_owned());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        for (name, value) in self.headers {
            // `validate` has checked both; a bad one here is skipped rather than trusted.
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                continue;
            };
            if self.credentials || !SENSITIVE.contains(&name) {
                headers.append(name, value);
            }
        }
        let defaults = [
            (header::HOST, host),
            (header::USER_AGENT, USER_AGENT.to_owned()),
            (header::ACCEPT, "*/*".to_owned()),
        ];
        for (name, value) in defaults {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.entry(name).or_insert(value);
            }
        }
        if let Some(body) = self.body {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(request)
    }
}

/// Sends `hop` on `stream` and reads the answer, its body up to `body_limit`, all before
/// `deadline`. The connection is closed when this returns.
pub(super) async fn exchange<S>(
    stream: S,
    hop: &Hop<'_>,
    body_limit: usize,
    deadline: Instant,
) -> Result<Answer, Failure>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let request = hop.request()?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(stream))
            .await
            .map_err(|error| Failure::Request(error_chain(&error)))?;
    alongside(connection, async move {
        let response = match timeout_at(deadline, sender.send_request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(Failure::Request(error_chain(&error))),
            Err(_) => return Err(Failure::TimedOut("waiting for the response")),
        };
        let (head, mut incoming) = response.into_parts();
        let status_line = format!(
            "{:?} {} {}",
            head.version,
            head.status.as_u16(),
            head.status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned();
        let location = head
            .headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            let frame = match timeout_at(deadline, incoming.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => break,
                Ok(Some(Err(error))) => {
                    return Err(Failure::Body {
                        status_line,
                        error: error_chain(&error),
                    });
                }
                Err(_) => return Err(Failure::TimedOut("reading the body")),
            };
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            let room = body_limit - body.len();
            if chunk.len() >= room {
                body.extend_from_slice(&chunk[..room]);
                truncated = chunk.len() > room;
                break; // the rest is not read: the connection closes on return
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status_line,
            code: head.status.as_u16(),
            location,
            body,
            truncated,
        })
    })
    .await
}

/// Polls `work` to its end, and `connection` alongside it until the connection ends: hyper's
/// connection does the reading and writing and hands the response to `work`. Its own errors
/// reach `work` as the request's or the body's. No task is spawned.
async fn alongside<C: Future, W: Future>(connection: C, work: W) -> W::Output {
    let mut connection = pin!(connection);
    let mut work = pin!(work);
    let mut connection_ended = false;
    std::future::poll_fn(|cx| {
        if !connection_ended && connection.as_mut().poll(cx).is_ready() {
            connection_ended = true;
        }
        work.as_mut().poll(cx)
    })
    .await
}
