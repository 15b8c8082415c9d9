//! The native DNS probe: ask one server (address and port) for one name and record type, check
//! that every expected answer is there, and judge the response time, as Debian's `check_dns`
//! and `check_dig` do.
//!
//! It talks to the server directly over UDP with hickory's client (pinned, and used only in this
//! file), so nothing is cached, no other server is tried, and the response code is seen as the
//! server sent it. One deadline, `timeout` after the run starts, bounds the run. The states:
//!
//! | what happened                                            | state                      |
//! |----------------------------------------------------------|----------------------------|
//! | no answer before the deadline, or a network error        | CRITICAL                   |
//! | NXDOMAIN, REFUSED, SERVFAIL or another error code        | CRITICAL                   |
//! | no record of the type asked for                          | CRITICAL                   |
//! | an expected answer is missing (the summary lists what was found) | CRITICAL           |
//! | otherwise                                                | `response_time` thresholds |
//!
//! Every run that got a response carries `time=…s;warn;crit;0`, as `check_dns` prints it.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use tokio::time::{Instant, timeout_at};

use crate::outcome::Outcome;
use crate::text::printable;

/// The longest timeout a DNS check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout a DNS check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// The record types a DNS check can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DnsRecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
    Soa,
    /// For a PTR check, the name may be an IP address: it is turned into its reverse name.
    Ptr,
}

impl DnsRecordType {
    pub const ALL: [DnsRecordType; 8] = [
        DnsRecordType::A,
        DnsRecordType::Aaaa,
        DnsRecordType::Cname,
        DnsRecordType::Mx,
        DnsRecordType::Txt,
        DnsRecordType::Ns,
        DnsRecordType::Soa,
        DnsRecordType::Ptr,
    ];

    /// The type as DNS writes it: `A`, `AAAA`, `CNAME`…
    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecordType::A => "A",
            DnsRecordType::Aaaa => "AAAA",
            DnsRecordType::Cname => "CNAME",
            DnsRecordType::Mx => "MX",
            DnsRecordType::Txt => "TXT",
            DnsRecordType::Ns => "NS",
            DnsRecordType::Soa => "SOA",
            DnsRecordType::Ptr => "PTR",
        }
    }

    fn record_type(self) -> RecordType {
        match self {
            DnsRecordType::A => RecordType::A,
            DnsRecordType::Aaaa => RecordType::AAAA,
            DnsRecordType::Cname => RecordType::CNAME,
            DnsRecordType::Mx => RecordType::MX,
            DnsRecordType::Txt => RecordType::TXT,
            DnsRecordType::Ns => RecordType::NS,
            DnsRecordType::Soa => RecordType::SOA,
            DnsRecordType::Ptr => RecordType::PTR,
        }
    }
}

impl fmt::Display for DnsRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads `A`, `aaaa`, `Cname`… (any case).
impl FromStr for DnsRecordType {
    type Err = DnsCheckError;

    fn from_str(text: &str) -> Result<DnsRecordType, DnsCheckError> {
        DnsRecordType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| DnsCheckError::UnknownRecordType(text.to_owned()))
    }
}

/// A DNS check, as an operator defines it.
///
/// Expected answers are written as `dig +short` prints them: `192.0.2.7`, `::1`,
/// `target.example.net` (a final dot and the case of names do not matter), `10 mx.example.net`
/// for MX, the text for TXT, `mname rname serial refresh retry expire minimum` for SOA.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsCheck {
    /// The server to ask, with its port (`127.0.0.1:53`, `[::1]:5353`).
    pub server: SocketAddr,
    /// The name to look up (`www.example.net`), or an IP address for PTR.
    pub name: String,
    pub record_type: DnsRecordType,
    /// Answers that must all be present; others may be there too. Empty: any answer will do.
    pub expected: BTreeSet<String>,
    /// Warning and critical ranges for the response time, in seconds.
    pub response_time: Thresholds,
    pub timeout: Duration,
}

impl DnsCheck {
    /// A check asking `server` for the A records of `name`, expecting nothing in particular,
    /// with no thresholds and `check_dns`'s 10 s timeout.
    pub fn new(server: SocketAddr, name: impl Into<String>) -> DnsCheck {
        DnsCheck {
            server,
            name: name.into(),
            record_type: DnsRecordType::A,
            expected: BTreeSet::new(),
            response_time: Thresholds::default(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), DnsCheckError> {
        if self.server.port() == 0 {
            return Err(DnsCheckError::ServerPortZero);
        }
        if self.name.is_empty() {
            return Err(DnsCheckError::NameEmpty);
        }
        self.query_name()?;
        if let Some(answer) = self.expected.iter().find(|a| a.trim().is_empty()) {
            return Err(DnsCheckError::ExpectedEmpty(answer.clone()));
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(DnsCheckError::TimeoutOutOfRange(self.timeout));
        }
        Ok(())
    }

    /// The name asked for: the reverse name of an address for PTR, else the name as written.
    fn query_name(&self) -> Result<Name, DnsCheckError> {
        if self.record_type == DnsRecordType::Ptr
            && let Ok(address) = self.name.parse::<IpAddr>()
        {
            return Ok(Name::from(address));
        }
        Name::from_utf8(&self.name)
            .map_err(|error| DnsCheckError::BadName(self.name.clone(), error.to_string()))
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let name = match self.query_name() {
            Ok(name) => name,
            Err(error) => return Outcome::unknown(format!("DNS UNKNOWN - {error}")),
        };
        let stream = UdpClientStream::builder(self.server, TokioRuntimeProvider::default())
            .with_timeout(Some(self.timeout))
            .build();
        let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        let background = tokio::spawn(background);
        let started = Instant::now();
        let query = client.query(name, DNSClass::IN, self.record_type.record_type());
        let response = timeout_at(deadline, query).await;
        // To the microsecond, as check_dns prints it, so the printed perfdata reads back the same.
        let elapsed = (started.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        drop(client);
        background.abort();

        let response = match response {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                return self.critical(format!("no response from DNS {}: {error}", self.server));
            }
            Err(_) => {
                return self.critical(format!(
                    "no response from DNS {} within {} s",
                    self.server,
                    self.timeout.as_secs_f64()
                ));
            }
        };
        let code = response.metadata.response_code;
        if code != ResponseCode::NoError {
            let what = match code {
                ResponseCode::NXDomain => format!("{} does not exist (NXDOMAIN)", self.name),
                ResponseCode::Refused => format!("DNS {} refused the query (REFUSED)", self.server),
                code => format!("DNS {} answered {code} for {}", self.server, self.name),
            };
            return self
                .critical(what)
                .with_perfdatum(self.time_perfdatum(elapsed));
        }
        let found = answers(&response.answers, self.record_type);
        let state = self.state(&found, elapsed);
        let shown = if found.is_empty() {
            "nothing".to_owned()
        } else {
            found.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        let missing = self.missing(&found);
        let summary = if found.is_empty() {
            format!("no {} record for {}", self.record_type, self.name)
        } else if !missing.is_empty() {
            format!(
                "expected {} for {} {} not found; found {shown}",
                missing.join(", "),
                self.name,
                self.record_type
            )
        } else {
            format!(
                "{elapsed:.3} seconds response time. {} {} returns {shown}",
                self.name, self.record_type
            )
        };
        Outcome::new(state, format!("DNS {state} - {}", printable(&summary)))
            .with_perfdatum(self.time_perfdatum(elapsed))
    }

    /// The expected answers not among `found`, as the operator wrote them.
    fn missing(&self, found: &BTreeSet<String>) -> Vec<String> {
        self.expected
            .iter()
            .filter(|answer| !found.contains(&normalize(self.record_type, answer)))
            .cloned()
            .collect()
    }

    /// CRITICAL without an answer of the type asked for or with an expected one missing, else
    /// what the response time gives.
    fn state(&self, found: &BTreeSet<String>, elapsed: f64) -> State {
        if found.is_empty() || !self.missing(found).is_empty() {
            State::Critical
        } else {
            self.response_time.evaluate(elapsed)
        }
    }

    fn critical(&self, summary: String) -> Outcome {
        Outcome::critical(format!("DNS CRITICAL - {}", printable(&summary)))
    }

    /// `time=0.057427s;<warn>;<crit>;0.000000`, as `check_dns` prints it.
    fn time_perfdatum(&self, seconds: f64) -> PerfDatum {
        PerfDatum {
            label: "time".to_owned(),
            value: Some(seconds),
            uom: Uom::Seconds,
            warning: self.response_time.warning,
            critical: self.response_time.critical,
            min: Some(0.0),
            max: None,
        }
    }
}

/// The answers of type `record_type`, each normalized as [`normalize`] does.
fn answers(records: &[Record], record_type: DnsRecordType) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.record_type() == record_type.record_type())
        .map(|r| normalize(record_type, &r.data.to_string()))
        .collect()
}

/// One answer in a form to compare: addresses in their canonical form, TXT as it is, and for
/// the types made of names, each word lower-cased and without its final dot.
fn normalize(record_type: DnsRecordType, answer: &str) -> String {
    let answer = answer.trim();
    match record_type {
        DnsRecordType::A | DnsRecordType::Aaaa => answer
            .parse::<IpAddr>()
            .map_or_else(|_| answer.to_owned(), |a| a.to_string()),
        DnsRecordType::Txt => answer.to_owned(),
        _ => answer
            .split_whitespace()
            .map(|word| word.strip_suffix('.').unwrap_or(word).to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Why a [`DnsCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsCheckError {
    #[error("server: the port must be 1 to 65535, not 0")]
    ServerPortZero,
    #[error("name: is empty")]
    NameEmpty,
    #[error("name: {0:?} is not a valid DNS name: {1}")]
    BadName(String, String),
    #[error("record_type: {0:?} is not one of A, AAAA, CNAME, MX, TXT, NS, SOA, PTR")]
    UnknownRecordType(String),
    #[error("expected: {0:?} is empty")]
    ExpectedEmpty(String),
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
}

impl DnsCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ServerPortZero => "server",
            Self::NameEmpty | Self::BadName(..) => "name",
            Self::UnknownRecordType(_) => "record_type",
            Self::ExpectedEmpty(_) => "expected",
            Self::TimeoutOutOfRange(_) => "timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_answers() {
        use DnsRecordType::*;
        let table = [
            (A, " 127.0.0.1 ", "127.0.0.1"),
            (Aaaa, "0:0::1", "::1"),
            (Cname, "Target.Peer.Test.", "target.peer.test"),
            (Mx, "10 Mail.peer.test.", "10 mail.peer.test"),
            (Txt, "Hello World.", "Hello World."),
            (Ptr, "host.peer.test.", "host.peer.test"),
        ];
        for (record_type, answer, normalized) in table {
            assert_eq!(normalize(record_type, answer), normalized, "{answer}");
        }
    }

    #[test]
    fn record_types_read_back() {
        for record_type in DnsRecordType::ALL {
            let lower = record_type.as_str().to_ascii_lowercase();
            assert_eq!(lower.parse(), Ok(record_type));
        }
        let error = "SRV".parse::<DnsRecordType>().expect_err("SRV");
        assert_eq!(error.field(), "record_type");
    }

    #[test]
    fn ptr_of_an_address_asks_the_reverse_name() {
        let server = SocketAddr::from(([127, 0, 0, 1], 53));
        let mut check = DnsCheck::new(server, "192.0.2.7");
        check.record_type = DnsRecordType::Ptr;
        assert_eq!(
            check.query_name().map(|n| n.to_string()),
            Ok("7.2.0.192.in-addr.arpa.".to_owned())
        );
    }
}
