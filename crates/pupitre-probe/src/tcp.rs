//! The native TCP probe: connect to a port, optionally send a line and wait for an expected
//! banner (SMTP, SSH, FTP…), and judge the response time, as Debian's `check_tcp` does.
//!
//! One deadline, `timeout` after the run starts, bounds everything: resolving the name,
//! connecting to each of its addresses in turn, sending, and reading. The states follow
//! `check_tcp`:
//!
//! | what happened                                   | state                       |
//! |-------------------------------------------------|-----------------------------|
//! | the name does not resolve                       | UNKNOWN                     |
//! | every address refused the connection            | `refuse_state` (`-r`)       |
//! | another connect error, or a send error          | CRITICAL                    |
//! | the deadline passed with nothing received       | CRITICAL                    |
//! | the peer closed without sending anything        | CRITICAL                    |
//! | the peer answered without the expected text (it closed, sent 64 KiB, or went quiet until the deadline) | `expect_mismatch_state` (`-M`) |
//! | otherwise                                       | `response_time` thresholds  |
//!
//! As with `check_tcp`, only a run that measured a time (a success or an unexpected answer)
//! carries the `time` perfdata item.
//!
//! Unlike `check_tcp`, a name that does not resolve is UNKNOWN, not CRITICAL: the probe never
//! got to look at the service.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, lookup_host};
use tokio::time::{Instant, timeout_at};

use crate::outcome::Outcome;
use crate::text::printable;

/// The most of a response the probe reads while it looks for the expected text.
pub const READ_LIMIT: usize = 64 * 1024;

/// The longest timeout a TCP check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout a TCP check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// How much of what the peer sent after its first line is kept in the long output.
const LONG_OUTPUT_LIMIT: usize = 4 * 1024;

/// A TCP check, as an operator defines it.
///
/// In `send` and `expect`, `\r`, `\n`, `\t` and `\\` stand for a carriage return, a line feed,
/// a tab and a backslash, as with `check_tcp -E`; any other backslash is kept as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpCheck {
    /// A name or an IP address (`db1.example.net`, `192.0.2.7`, `::1`).
    pub host: String,
    pub port: u16,
    /// Written once connected, e.g. `HELO pupitre\r\n`.
    pub send: Option<String>,
    /// Text that must appear in what the peer sends (a substring), e.g. `SSH-`.
    pub expect: Option<String>,
    /// Bounds the whole run, name resolution included.
    pub timeout: Duration,
    /// Warning and critical ranges for the response time, in seconds.
    pub response_time: Thresholds,
    /// The state when the connection is refused; CRITICAL by default, as `check_tcp -r`.
    pub refuse_state: State,
    /// The state when the peer answers without the expected text; WARNING by default, as
    /// `check_tcp -M`.
    pub expect_mismatch_state: State,
}

impl TcpCheck {
    /// A check of `host` and `port` with `check_tcp`'s defaults: no send, no expect, a 10 s
    /// timeout, no thresholds, CRITICAL when refused, WARNING on an unexpected answer.
    pub fn new(host: impl Into<String>, port: u16) -> TcpCheck {
        TcpCheck {
            host: host.into(),
            port,
            send: None,
            expect: None,
            timeout: Duration::from_secs(10),
            response_time: Thresholds::default(),
            refuse_state: State::Critical,
            expect_mismatch_state: State::Warning,
        }
    }

    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), TcpCheckError> {
        if self.host.is_empty() {
            return Err(TcpCheckError::HostEmpty);
        }
        if self.host.contains(char::is_whitespace) {
            return Err(TcpCheckError::HostWithSpace(self.host.clone()));
        }
        if self.port == 0 {
            return Err(TcpCheckError::PortZero);
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(TcpCheckError::TimeoutOutOfRange(self.timeout));
        }
        if self.expect.as_deref() == Some("") {
            return Err(TcpCheckError::ExpectEmpty);
        }
        Ok(())
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let addresses =
            match timeout_at(deadline, lookup_host((self.host.as_str(), self.port))).await {
                Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
                Ok(Err(error)) => {
                    return self.unknown(format!("cannot resolve {}: {error}", self.host));
                }
                Err(_) => {
                    return self.unknown(format!(
                        "cannot resolve {}: timed out after {} s",
                        self.host,
                        self.timeout.as_secs_f64()
                    ));
                }
            };
        if addresses.is_empty() {
            return self.unknown(format!("cannot resolve {}: no address", self.host));
        }

        let started = Instant::now();
        let mut stream = match self.connect(&addresses, deadline).await {
            Ok(stream) => stream,
            Err(outcome) => return outcome,
        };
        if let Some(send) = &self.send
            && let Err(outcome) = self.send(&mut stream, send, deadline).await
        {
            return outcome;
        }
        let banner = match &self.expect {
            None => None,
            Some(expect) => match self
                .read_until(&mut stream, expect, started, deadline)
                .await
            {
                Ok(received) => Some(received),
                Err(outcome) => return outcome,
            },
        };
        let elapsed = started.elapsed().as_secs_f64();

        let state = self.response_time.evaluate(elapsed);
        let mut summary = format!(
            "TCP {state} - {elapsed:.3} second response time on {} port {}",
            self.host, self.port
        );
        let mut long_output = String::new();
        if let Some(received) = &banner {
            let (first, rest) = split_response(received);
            summary.push_str(&format!(" [{first}]"));
            long_output = rest;
        }
        Outcome::new(state, summary)
            .with_long_output(long_output)
            .with_perfdatum(self.time_perfdatum(elapsed))
    }

    /// Tries each address in turn until one accepts.
    async fn connect(
        &self,
        addresses: &[SocketAddr],
        deadline: Instant,
    ) -> Result<TcpStream, Outcome> {
        let mut refused = Vec::new();
        let mut failed = Vec::new();
        for address in addresses {
            match timeout_at(deadline, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    refused.push(address.to_string());
                }
                Ok(Err(error)) => failed.push(format!("{address}: {error}")),
                Err(_) => {
                    return Err(self.critical(format!(
                        "connection timed out after {} s ({} port {})",
                        self.timeout.as_secs_f64(),
                        self.host,
                        self.port
                    )));
                }
            }
        }
        if failed.is_empty() {
            let state = self.refuse_state;
            let summary = format!("connection refused to {}", refused.join(", "));
            return Err(self.outcome(state, summary));
        }
        let mut reasons = failed;
        reasons.extend(
            refused
                .into_iter()
                .map(|a| format!("{a}: connection refused")),
        );
        Err(self.critical(format!("cannot connect: {}", reasons.join("; "))))
    }

    async fn send(
        &self,
        stream: &mut TcpStream,
        send: &str,
        deadline: Instant,
    ) -> Result<(), Outcome> {
        match timeout_at(deadline, stream.write_all(&unescape(send))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.critical(format!(
                "cannot send to {} port {}: {error}",
                self.host, self.port
            ))),
            Err(_) => Err(self.timed_out("sending")),
        }
    }

    /// Reads until the expected text shows up, and returns everything received.
    async fn read_until(
        &self,
        stream: &mut TcpStream,
        expect: &str,
        started: Instant,
        deadline: Instant,
    ) -> Result<Vec<u8>, Outcome> {
        let expect = unescape(expect);
        let mut received = Vec::new();
        let mut chunk = vec![0; 8 * 1024];
        loop {
            let room = (READ_LIMIT - received.len()).min(chunk.len());
            let read = match timeout_at(deadline, stream.read(&mut chunk[..room])).await {
                Ok(Ok(read)) => read,
                Ok(Err(error)) => {
                    return Err(self.critical(format!(
                        "cannot read from {} port {}: {error}",
                        self.host, self.port
                    )));
                }
                // The peer answered, just not what was expected: a mismatch, as for check_tcp.
                Err(_) if !received.is_empty() => return Err(self.mismatch(&received, started)),
                Err(_) => return Err(self.timed_out("waiting for a response")),
            };
            if read == 0 && received.is_empty() {
                return Err(self.critical(format!(
                    "no data received from {} port {}",
                    self.host, self.port
                )));
            }
            // Only the new bytes, and the end of the old ones a match could start in, are searched.
            let from = received
                .len()
                .saturating_sub(expect.len().saturating_sub(1));
            received.extend_from_slice(&chunk[..read]);
            if contains(&received[from..], &expect) {
                return Ok(received);
            }
            if read == 0 || received.len() >= READ_LIMIT {
                return Err(self.mismatch(&received, started));
            }
        }
    }

    /// The peer sent `received`, which lacks the expected text. Like check_tcp, this reports the
    /// time taken.
    fn mismatch(&self, received: &[u8], started: Instant) -> Outcome {
        let (first, rest) = split_response(received);
        let summary = format!(
            "unexpected response from {} port {}: {first}",
            self.host, self.port
        );
        let elapsed = started.elapsed().as_secs_f64();
        self.outcome(self.expect_mismatch_state, summary)
            .with_long_output(rest)
            .with_perfdatum(self.time_perfdatum(elapsed))
    }

    fn timed_out(&self, doing: &str) -> Outcome {
        self.critical(format!(
            "connection timed out after {} s {doing} from {} port {}",
            self.timeout.as_secs_f64(),
            self.host,
            self.port,
        ))
    }

    fn unknown(&self, summary: String) -> Outcome {
        Outcome::new(State::Unknown, format!("TCP UNKNOWN - {summary}"))
    }

    fn critical(&self, summary: String) -> Outcome {
        self.outcome(State::Critical, summary)
    }

    /// A run that got no response time. Like check_tcp, it has no perfdata.
    fn outcome(&self, state: State, summary: String) -> Outcome {
        Outcome::new(state, format!("TCP {state} - {summary}"))
    }

    /// `time=0.000112s;<warn>;<crit>;0.000000;<timeout>`, as `check_tcp` prints it.
    fn time_perfdatum(&self, seconds: f64) -> PerfDatum {
        PerfDatum {
            label: "time".to_owned(),
            value: Some(seconds),
            uom: Uom::Seconds,
            warning: self.response_time.warning,
            critical: self.response_time.critical,
            min: Some(0.0),
            max: Some(self.timeout.as_secs_f64()),
        }
    }
}

/// Why a [`TcpCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TcpCheckError {
    #[error("host: is empty")]
    HostEmpty,
    #[error("host: {0:?} contains a space")]
    HostWithSpace(String),
    #[error("port: must be 1 to 65535, not 0")]
    PortZero,
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
    #[error("expect: is empty (leave it unset to expect nothing)")]
    ExpectEmpty,
}

impl TcpCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::HostEmpty | Self::HostWithSpace(_) => "host",
            Self::PortZero => "port",
            Self::TimeoutOutOfRange(_) => "timeout",
            Self::ExpectEmpty => "expect",
        }
    }
}

/// Turns `\r`, `\n`, `\t` and `\\` into the characters they stand for.
fn unescape(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buffer = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        match chars.clone().next() {
            Some(escaped @ ('r' | 'n' | 't' | '\\')) => {
                chars.next();
                bytes.push(match escaped {
                    'r' => b'\r',
                    'n' => b'\n',
                    't' => b'\t',
                    _ => b'\\',
                });
            }
            _ => bytes.push(b'\\'),
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// The first line of a response, for the summary, and the rest, for the long output (at most
/// [`LONG_OUTPUT_LIMIT`] bytes). Invalid UTF-8 is replaced; control characters and `|` (which
/// would start performance data) are shown escaped.
fn split_response(received: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(received);
    let text = text.trim_end_matches(['\r', '\n']);
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = printable(first.trim_end_matches('\r'));
    let mut rest = rest.lines().map(printable).collect::<Vec<_>>().join("\n");
    if rest.len() > LONG_OUTPUT_LIMIT {
        let mut cut = LONG_OUTPUT_LIMIT;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        rest.truncate(cut);
        rest.push('…');
    }
    (first, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let table: [(&str, &[u8]); 7] = [
            ("HELO x\\r\\n", b"HELO x\r\n"),
            ("a\\tb", b"a\tb"),
            ("a\\\\n", b"a\\n"),
            ("a\\q", b"a\\q"),
            ("trailing\\", b"trailing\\"),
            ("été", "été".as_bytes()),
            ("", b""),
        ];
        for (text, bytes) in table {
            assert_eq!(unescape(text), bytes, "{text}");
        }
    }

    #[test]
    fn responses() {
        let table = [
            (&b"SSH-2.0-OpenSSH_9.2\r\n"[..], "SSH-2.0-OpenSSH_9.2", ""),
            (
                b"220 mx ESMTP\r\n250-mx\r\n250 OK\r\n",
                "220 mx ESMTP",
                "250-mx\n250 OK",
            ),
            (b"a|b\x00\xff", "a\\x7cb\\u{0}\u{fffd}", ""),
            (b"", "", ""),
        ];
        for (received, first, rest) in table {
            assert_eq!(
                split_response(received),
                (first.to_owned(), rest.to_owned()),
                "{received:?}"
            );
        }
    }
}
