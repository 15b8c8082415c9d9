//! The native Zabbix agent probe: a passive check, as `zabbix_get` makes one. It asks a
//! Zabbix agent (port 10050; tested against Debian's `zabbix_agentd` 6.0) for the value of one
//! item key and judges the value against thresholds.
//!
//! The exchange is one request and one reply per connection, both framed with the Zabbix
//! protocol header (<https://www.zabbix.com/documentation/current/en/manual/appendix/protocols/header_datalen>):
//! `ZBXD`, a flags byte, the data length and a reserved field (both little-endian, 4 bytes
//! each, or 8 with the large-packet flag), then the data. The request is the key with flags
//! `0x01` and a reserved field of 0; agents since Zabbix 4.0 read it, and it is byte for byte
//! the older header with its 8-byte length. The reply may set `0x02` (the data is zlib
//! compressed; the reserved field holds its uncompressed length) and `0x04` (large packet).
//!
//! One deadline, `timeout` after the run starts, bounds everything: resolving the name,
//! connecting to each of its addresses in turn, sending the key and reading the reply.
//!
//! | what happened                                                        | state           |
//! |----------------------------------------------------------------------|-----------------|
//! | the check is not valid (see [`ZabbixCheck::validate`])               | UNKNOWN         |
//! | the name does not resolve                                            | UNKNOWN         |
//! | every address refused the connection: no agent listens               | CRITICAL        |
//! | another connect, send or read error; the deadline passed             | CRITICAL        |
//! | the peer closed without answering, as an agent does when its `Server=` does not list the client | UNKNOWN |
//! | the reply has no `ZBXD` header or unknown flags, is cut short, or does not decompress | UNKNOWN |
//! | the reply is larger than [`RESPONSE_LIMIT`], compressed or not       | UNKNOWN         |
//! | the agent answers `ZBX_NOTSUPPORTED` (with its reason) or `ZBX_ERROR` | UNKNOWN        |
//! | a number                                                             | `thresholds`, with perfdata |
//! | text, and a threshold is set                                         | UNKNOWN         |
//! | text, and no threshold                                               | OK, the text in the summary |
//!
//! As for the TCP probe, a name that does not resolve is UNKNOWN: the probe never got to look.
//! A closed connection without an answer is UNKNOWN too: the agent is up, but it would not
//! say how the item is.

use std::io::{self, Read as _};
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

/// The port Zabbix agents listen on.
pub const DEFAULT_PORT: u16 = 10050;

/// The largest reply the probe accepts, before and after decompression. An item value is
/// rarely more than a few kilobytes; the Zabbix server itself accepts up to 1 GiB.
pub const RESPONSE_LIMIT: usize = 1024 * 1024;

/// The longest item key, in characters, as Zabbix stores it (`ITEM_KEY_LEN`).
pub const KEY_LIMIT: usize = 2048;

/// The longest timeout a Zabbix check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout a Zabbix check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// How much of a text value the summary shows, in characters; a longer or multi-line value is
/// shown whole in the long output.
const SUMMARY_VALUE_LIMIT: usize = 200;

/// How much of a text value the long output keeps, in bytes.
const LONG_OUTPUT_LIMIT: usize = 4 * 1024;

/// How much of a reply without a `ZBXD` header the summary quotes, in bytes.
const GARBAGE_PREVIEW: usize = 32;

const MAGIC: &[u8; 4] = b"ZBXD";
const FLAG_PROTOCOL: u8 = 0x01;
const FLAG_COMPRESSED: u8 = 0x02;
const FLAG_LARGE: u8 = 0x04;

/// A Zabbix agent passive check, as an operator defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct ZabbixCheck {
    /// A name or an IP address of the agent (`web1.example.net`, `192.0.2.7`, `::1`).
    pub host: String,
    /// [`DEFAULT_PORT`] unless the agent's `ListenPort` says otherwise.
    pub port: u16,
    /// The item key, sent as it is: `agent.ping`, `system.cpu.load[all,avg1]`,
    /// `vfs.fs.size["/",pfree]`.
    pub key: String,
    /// Warning and critical ranges for a numeric value. A text value with a threshold set is
    /// UNKNOWN.
    pub thresholds: Thresholds,
    /// Bounds the whole run, name resolution included.
    pub timeout: Duration,
}

impl ZabbixCheck {
    /// A check of `key` on the agent at `host`, port 10050, with a 10 s timeout and no
    /// thresholds.
    pub fn new(host: impl Into<String>, key: impl Into<String>) -> ZabbixCheck {
        ZabbixCheck {
            host: host.into(),
            port: DEFAULT_PORT,
            key: key.into(),
            thresholds: Thresholds::default(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Checks the definition when it is written, without IO. The key must follow Zabbix's item
    /// key syntax (see [`KeyProblem`]).
    pub fn validate(&self) -> Result<(), ZabbixCheckError> {
        if self.host.is_empty() {
            return Err(ZabbixCheckError::HostEmpty);
        }
        if self.host.contains(char::is_whitespace) {
            return Err(ZabbixCheckError::HostWithSpace(self.host.clone()));
        }
        if self.port == 0 {
            return Err(ZabbixCheckError::PortZero);
        }
        check_key(&self.key).map_err(ZabbixCheckError::Key)?;
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(ZabbixCheckError::TimeoutOutOfRange(self.timeout));
        }
        Ok(())
    }

    /// Runs the check once. Never panics and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        if let Err(error) = self.validate() {
            return self.unknown(format!("invalid check: {error}"));
        }
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
        let mut stream = match self.connect(&addresses, deadline).await {
            Ok(stream) => stream,
            Err(outcome) => return outcome,
        };
        let body = match timeout_at(deadline, self.exchange(&mut stream)).await {
            Ok(Ok(body)) => body,
            Ok(Err(outcome)) => return outcome,
            Err(_) => {
                return self.critical(format!(
                    "timed out after {} s waiting for the agent at {} port {} to answer {}",
                    self.timeout.as_secs_f64(),
                    self.host,
                    self.port,
                    printable(&self.key)
                ));
            }
        };
        self.judge(&body)
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
            return Err(self.critical(format!("connection refused to {}", refused.join(", "))));
        }
        let mut reasons = failed;
        reasons.extend(
            refused
                .into_iter()
                .map(|a| format!("{a}: connection refused")),
        );
        Err(self.critical(format!("cannot connect: {}", reasons.join("; "))))
    }

    /// Sends the key and reads the reply's data, decompressed.
    async fn exchange(&self, stream: &mut TcpStream) -> Result<Vec<u8>, Outcome> {
        if let Err(error) = stream.write_all(&request(&self.key)).await {
            return Err(self.critical(format!(
                "cannot send to {} port {}: {error}",
                self.host, self.port
            )));
        }
        let mut reply = Reply {
            stream,
            received: Vec::new(),
        };
        match reply.read().await {
            Ok(body) => Ok(body),
            Err(ReplyError::Io(error)) => Err(self.critical(format!(
                "cannot read from {} port {}: {error}",
                self.host, self.port
            ))),
            Err(ReplyError::Invalid(problem)) => Err(self.unknown(problem)),
        }
    }

    /// Turns the agent's answer into an outcome.
    fn judge(&self, body: &[u8]) -> Outcome {
        let key = printable(&self.key);
        if let Some(rest) = body.strip_prefix(b"ZBX_NOTSUPPORTED")
            && (rest.is_empty() || rest.starts_with(b"\0"))
        {
            let reason = String::from_utf8_lossy(trim_nul(rest));
            let reason = printable(reason.trim());
            return if reason.is_empty() {
                self.unknown(format!("{key}: not supported by the agent"))
            } else {
                self.unknown(format!("{key}: not supported by the agent: {reason}"))
            };
        }
        if body == b"ZBX_ERROR" {
            return self.unknown(format!("{key}: the agent answered ZBX_ERROR"));
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if let Some(value) = number(text) {
            let state = self.thresholds.evaluate(value);
            return self
                .outcome(state, format!("{key} = {}", printable(text)))
                .with_perfdatum(PerfDatum {
                    label: perfdata_label(&self.key),
                    value: Some(value),
                    uom: Uom::Count,
                    warning: self.thresholds.warning,
                    critical: self.thresholds.critical,
                    min: None,
                    max: None,
                });
        }
        let (shown, long_output) = show_text(text);
        let thresholds_set =
            self.thresholds.warning.is_some() || self.thresholds.critical.is_some();
        let outcome = if thresholds_set {
            self.unknown(format!(
                "{key} = {shown}: not a number, so the thresholds cannot apply"
            ))
        } else {
            self.outcome(State::Ok, format!("{key} = {shown}"))
        };
        outcome.with_long_output(long_output)
    }

    fn unknown(&self, summary: String) -> Outcome {
        self.outcome(State::Unknown, summary)
    }

    fn critical(&self, summary: String) -> Outcome {
        self.outcome(State::Critical, summary)
    }

    fn outcome(&self, state: State, summary: String) -> Outcome {
        Outcome::new(state, format!("ZABBIX {state} - {summary}"))
    }
}

/// Why a [`ZabbixCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZabbixCheckError {
    #[error("host: is empty")]
    HostEmpty,
    #[error("host: {0:?} contains a space")]
    HostWithSpace(String),
    #[error("port: must be 1 to 65535, not 0")]
    PortZero,
    #[error("key: {0}")]
    Key(KeyProblem),
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
}

impl ZabbixCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::HostEmpty | Self::HostWithSpace(_) => "host",
            Self::PortZero => "port",
            Self::Key(_) => "key",
            Self::TimeoutOutOfRange(_) => "timeout",
        }
    }
}

/// What is wrong with an item key. Positions count characters from 1.
///
/// The syntax is Zabbix's (<https://www.zabbix.com/documentation/current/en/manual/config/items/item/key>,
/// and `zbx_parse_key` in its sources): a name of ASCII letters, digits, `_`, `-` and `.`,
/// optionally followed by parameters in `[]`, separated by commas. A parameter is empty, quoted
/// (`"…"`, any character, `\"` for a quote, so it cannot end with `\`), unquoted (anything
/// but `,` and `]`, not starting with `[`), or an array of such parameters in `[]`, one level
/// deep. Spaces before a parameter and after a closing quote or array are ignored.
///
/// Stricter than Zabbix in one way: control characters are refused anywhere. Zabbix lets them
/// through inside parameters, but the agent reads the key as a C string, so a NUL would cut it
/// short, and no item key needs a line break or a tab.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("is empty")]
    Empty,
    #[error("is {0} characters long, more than 2048")]
    TooLong(usize),
    #[error("character {at} is a control character")]
    ControlCharacter { at: usize },
    #[error("the name is missing before `[`")]
    NameMissing,
    #[error(
        "character {at} ({found:?}) cannot be in a key name, which is made of letters, digits, \
         `_`, `-` and `.` (parameters go in `[]`)"
    )]
    NameCharacter { at: usize, found: char },
    #[error("the `[` at character {at} has no closing `]`")]
    Unclosed { at: usize },
    #[error("the quote at character {at} has no closing quote")]
    UnclosedQuote { at: usize },
    #[error("character {at} ({found:?}) follows a closing quote, where only `,` or `]` may")]
    AfterQuote { at: usize, found: char },
    #[error("character {at}: arrays of parameters cannot be nested")]
    NestedArray { at: usize },
    #[error("character {at} ({found:?}) follows the `]` of an array, where only `,` or `]` may")]
    AfterArray { at: usize, found: char },
    #[error("character {at} ({found:?}) follows the closing `]` of the parameters")]
    AfterParameters { at: usize, found: char },
}

/// Checks `key` against Zabbix's item key syntax.
fn check_key(key: &str) -> Result<(), KeyProblem> {
    let chars = key.chars().collect::<Vec<_>>();
    if chars.is_empty() {
        return Err(KeyProblem::Empty);
    }
    if chars.len() > KEY_LIMIT {
        return Err(KeyProblem::TooLong(chars.len()));
    }
    if let Some(index) = chars.iter().position(|c| c.is_control()) {
        return Err(KeyProblem::ControlCharacter { at: index + 1 });
    }
    let name_len = chars
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .unwrap_or(chars.len());
    let Some(&after_name) = chars.get(name_len) else {
        return Ok(());
    };
    if after_name != '[' {
        return Err(KeyProblem::NameCharacter {
            at: name_len + 1,
            found: after_name,
        });
    }
    if name_len == 0 {
        return Err(KeyProblem::NameMissing);
    }
    let end = parameters(&chars, name_len)?;
    match chars.get(end) {
        None => Ok(()),
        Some(&found) => Err(KeyProblem::AfterParameters { at: end + 1, found }),
    }
}

/// Reads the parameters that start with the `[` at `open`, as `zbx_parse_key` does, and returns
/// the index just after their closing `]`.
fn parameters(chars: &[char], open: usize) -> Result<usize, KeyProblem> {
    #[derive(Clone, Copy)]
    enum Within {
        /// Before a parameter, or after a `,`.
        Between,
        /// Inside a quoted parameter that starts at this index.
        Quoted(usize),
        Unquoted,
    }
    /// The index of the first character after `from` that is not a space.
    fn skip_spaces(chars: &[char], from: usize) -> usize {
        (from..chars.len())
            .find(|&i| chars[i] != ' ')
            .unwrap_or(chars.len())
    }
    let mut within = Within::Between;
    // The index of the `[` of the array the parser is in, if it is in one.
    let mut array: Option<usize> = None;
    let mut i = open + 1;
    while let Some(&c) = chars.get(i) {
        match within {
            Within::Between => match c {
                ',' | ' ' => {}
                '"' => within = Within::Quoted(i),
                '[' if array.is_some() => return Err(KeyProblem::NestedArray { at: i + 1 }),
                '[' => array = Some(i),
                ']' if array.is_none() => return Ok(i + 1),
                ']' => {
                    array = None;
                    let next = skip_spaces(chars, i + 1);
                    match chars.get(next) {
                        Some(']') => return Ok(next + 1),
                        // The `,` is read as the next character, Between.
                        Some(',') => i = next - 1,
                        Some(&found) => {
                            return Err(KeyProblem::AfterArray {
                                at: next + 1,
                                found,
                            });
                        }
                        None => return Err(KeyProblem::Unclosed { at: open + 1 }),
                    }
                }
                _ => within = Within::Unquoted,
            },
            Within::Quoted(_) => {
                if c == '"' {
                    let next = skip_spaces(chars, i + 1);
                    match chars.get(next) {
                        Some(']') if array.is_none() => return Ok(next + 1),
                        // The `,` or the array's `]` is read next, Between.
                        Some(',' | ']') => {
                            within = Within::Between;
                            i = next - 1;
                        }
                        Some(&found) => {
                            return Err(KeyProblem::AfterQuote {
                                at: next + 1,
                                found,
                            });
                        }
                        None => {
                            return Err(KeyProblem::Unclosed {
                                at: array.unwrap_or(open) + 1,
                            });
                        }
                    }
                } else if c == '\\' && chars.get(i + 1) == Some(&'"') {
                    i += 1;
                }
            }
            Within::Unquoted => match c {
                ']' if array.is_none() => return Ok(i + 1),
                // Read again, Between.
                ',' | ']' => {
                    within = Within::Between;
                    continue;
                }
                _ => {}
            },
        }
        i += 1;
    }
    Err(match within {
        Within::Quoted(from) => KeyProblem::UnclosedQuote { at: from + 1 },
        _ => KeyProblem::Unclosed {
            at: array.unwrap_or(open) + 1,
        },
    })
}

/// The request packet for `key`: the header with flags `0x01`, then the key.
fn request(key: &str) -> Vec<u8> {
    let data = key.as_bytes();
    // A valid key has at most 2048 characters, 8 KiB of UTF-8: its length fits in 4 bytes.
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut packet = Vec::with_capacity(13 + data.len());
    packet.extend_from_slice(MAGIC);
    packet.push(FLAG_PROTOCOL);
    packet.extend_from_slice(&length.to_le_bytes());
    packet.extend_from_slice(&0u32.to_le_bytes());
    packet.extend_from_slice(data);
    packet
}

enum ReplyError {
    /// The connection failed while reading.
    Io(io::Error),
    /// The peer sent something that is not a usable Zabbix reply; the text says what.
    Invalid(String),
}

/// The agent's reply, read as it arrives.
struct Reply<'a> {
    stream: &'a mut TcpStream,
    received: Vec<u8>,
}

impl Reply<'_> {
    /// Reads and checks the header, then the data, and decompresses it.
    async fn read(&mut self) -> Result<Vec<u8>, ReplyError> {
        let invalid = |text: String| Err(ReplyError::Invalid(text));
        // The magic and the flags, looked at as soon as they arrive, so that a peer that
        // sends something else is told apart at once.
        while self.received.len() < 5 {
            match self.read_more().await {
                Ok(true) => {}
                Ok(false) => break,
                // An agent that turns a client away closes without reading the request, so
                // the client often sees a reset rather than an end of stream.
                Err(ReplyError::Io(error))
                    if self.received.is_empty()
                        && error.kind() == io::ErrorKind::ConnectionReset =>
                {
                    break;
                }
                Err(error) => return Err(error),
            }
            let start = &self.received[..self.received.len().min(MAGIC.len())];
            if !MAGIC.starts_with(start) {
                return invalid(format!(
                    "not a Zabbix agent: the reply has no ZBXD header ({})",
                    preview(&self.received)
                ));
            }
        }
        if self.received.is_empty() {
            return invalid(
                "the agent closed the connection without answering (does its Server= list \
                 this address?)"
                    .to_owned(),
            );
        }
        if self.received.len() < 5 {
            return invalid(format!(
                "the reply was cut short: {} bytes of a header",
                self.received.len()
            ));
        }
        let flags = self.received[4];
        if flags & FLAG_PROTOCOL == 0
            || flags & !(FLAG_PROTOCOL | FLAG_COMPRESSED | FLAG_LARGE) != 0
        {
            return invalid(format!("unsupported ZBXD flags 0x{flags:02x}"));
        }
        let field = if flags & FLAG_LARGE == 0 { 4 } else { 8 };
        let header = 5 + 2 * field;
        if !self.fill(header).await? {
            return invalid(format!(
                "the reply was cut short: {} bytes of a {header}-byte header",
                self.received.len()
            ));
        }
        let length = little_endian(&self.received[5..5 + field]);
        let reserved = little_endian(&self.received[5 + field..header]);
        let limit = RESPONSE_LIMIT as u64;
        if length > limit {
            return invalid(format!(
                "the reply announces {length} bytes, more than the {limit}-byte limit"
            ));
        }
        let compressed = flags & FLAG_COMPRESSED != 0;
        if compressed && reserved > limit {
            return invalid(format!(
                "the reply announces {reserved} bytes once decompressed, more than the \
                 {limit}-byte limit"
            ));
        }
        // Both are at most RESPONSE_LIMIT, so they fit in usize.
        let length = usize::try_from(length).unwrap_or(RESPONSE_LIMIT);
        if !self.fill(header + length).await? {
            return invalid(format!(
                "the reply was cut short: {} of the {length} bytes it announces",
                self.received.len() - header
            ));
        }
        let data = &self.received[header..header + length];
        if !compressed {
            return Ok(data.to_vec());
        }
        let mut body = Vec::new();
        let decoded = flate2::read::ZlibDecoder::new(data)
            .take(limit + 1)
            .read_to_end(&mut body);
        match decoded {
            Err(error) => invalid(format!("cannot decompress the reply: {error}")),
            Ok(_) if body.len() as u64 != reserved => invalid(format!(
                "the reply decompresses to {}{} bytes, not the {reserved} it announces",
                if body.len() > RESPONSE_LIMIT {
                    "more than "
                } else {
                    ""
                },
                body.len().min(RESPONSE_LIMIT)
            )),
            Ok(_) => Ok(body),
        }
    }

    /// Reads until `want` bytes are in, and says whether they are (false: the peer closed).
    async fn fill(&mut self, want: usize) -> Result<bool, ReplyError> {
        while self.received.len() < want {
            if !self.read_more().await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads what has arrived, at most 64 KiB; false when the peer has closed.
    async fn read_more(&mut self) -> Result<bool, ReplyError> {
        let mut chunk = vec![0; 64 * 1024];
        let read = self.stream.read(&mut chunk).await.map_err(ReplyError::Io)?;
        self.received.extend_from_slice(&chunk[..read]);
        Ok(read > 0)
    }
}

/// `bytes` without its leading and trailing NUL bytes.
fn trim_nul(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&b| b != 0).map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn little_endian(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |value, &byte| (value << 8) | u64::from(byte))
}

/// The start of a reply that is not Zabbix's, for the summary: `"HTTP/1.1 400 Bad Re…"`.
fn preview(received: &[u8]) -> String {
    let shown = &received[..received.len().min(GARBAGE_PREVIEW)];
    let mut text = printable(&String::from_utf8_lossy(shown));
    if received.len() > GARBAGE_PREVIEW {
        text.push('…');
    }
    format!("it starts with \"{text}\"")
}

/// A value that reads as a decimal number: `1`, `-3`, `0.120000`, `1e+20`. Not `inf`, `nan`,
/// hexadecimal or anything with a unit.
fn number(text: &str) -> Option<f64> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The text value as the summary shows it, and the long output: the whole value when the
/// summary could not hold it.
fn show_text(text: &str) -> (String, String) {
    if text.is_empty() {
        return ("\"\"".to_owned(), String::new());
    }
    let first = text.lines().next().unwrap_or_default();
    let fits = first.len() == text.len() && first.chars().count() <= SUMMARY_VALUE_LIMIT;
    if fits {
        return (printable(text), String::new());
    }
    let mut shown = printable(&first.chars().take(SUMMARY_VALUE_LIMIT).collect::<String>());
    shown.push('…');
    let mut long_output = text.lines().map(printable).collect::<Vec<_>>().join("\n");
    if long_output.len() > LONG_OUTPUT_LIMIT {
        let mut cut = LONG_OUTPUT_LIMIT;
        while !long_output.is_char_boundary(cut) {
            cut -= 1;
        }
        long_output.truncate(cut);
        long_output.push('…');
    }
    (shown, long_output)
}

/// The perfdata label for `key`: the key, with every character but ASCII letters, digits and
/// `_ . - [ ] , / :` turned into `_`, so that it never needs quoting (`vfs.fs.size[/,pfree]`
/// stays as it is; `vfs.fs.size["/var log",pfree]` becomes `vfs.fs.size[_/var_log_,pfree]`).
fn perfdata_label(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric()
                || matches!(c, '_' | '.' | '-' | '[' | ']' | ',' | '/' | ':')
            {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        use KeyProblem::*;
        let long = "a".repeat(KEY_LIMIT + 1);
        #[rustfmt::skip]
        let table: &[(&str, Result<(), KeyProblem>)] = &[
            ("agent.ping", Ok(())),
            ("system.cpu.load[all,avg1]", Ok(())),
            ("vfs.fs.size[/,pfree]", Ok(())),
            ("vfs.fs.size[\"/\",pfree]", Ok(())),
            ("icmpping[,,200,,500]", Ok(())),
            ("Key_9-x.y[]", Ok(())),
            ("key[ a , \"b\" ]", Ok(())),
            ("key[\"a,b]\",\"say \\\"hi\\\"\"]", Ok(())),
            ("key[\"C:\\dir\\file\"]", Ok(())),
            ("key[[a,\"b\"],c]", Ok(())),
            ("key[[a,b] ]", Ok(())),
            ("key[[a,b] , c]", Ok(())),
            ("key[a[b]", Ok(())),
            ("key[a\"b]", Ok(())),
            ("system.run[cat /etc/passwd | wc -l]", Ok(())),
            ("net.if.in[\"eth0\" ,bytes]", Ok(())),
            ("vfs.file.contents[/tmp/été]", Ok(())),
            ("", Err(Empty)),
            (&long, Err(TooLong(KEY_LIMIT + 1))),
            ("agent.ping\n", Err(ControlCharacter { at: 11 })),
            ("key[a\0b]", Err(ControlCharacter { at: 6 })),
            ("[a]", Err(NameMissing)),
            ("agent ping", Err(NameCharacter { at: 6, found: ' ' })),
            ("agent.ping ", Err(NameCharacter { at: 11, found: ' ' })),
            ("clé", Err(NameCharacter { at: 3, found: 'é' })),
            ("key(a)", Err(NameCharacter { at: 4, found: '(' })),
            ("key[a", Err(Unclosed { at: 4 })),
            ("key[", Err(Unclosed { at: 4 })),
            ("key[\"a\"", Err(Unclosed { at: 4 })),
            ("key[a,[b", Err(Unclosed { at: 7 })),
            ("key[[a]", Err(Unclosed { at: 4 })),
            ("key[\"a]", Err(UnclosedQuote { at: 5 })),
            ("key[\"a\\\"]", Err(UnclosedQuote { at: 5 })),
            // As in Zabbix, `\"` is always a quote, so a quoted parameter cannot end with `\`.
            ("key[\"C:\\dir\\\"]", Err(UnclosedQuote { at: 5 })),
            ("key[\"a\"b]", Err(AfterQuote { at: 8, found: 'b' })),
            ("key[\"a\"  x]", Err(AfterQuote { at: 10, found: 'x' })),
            ("key[[a,[b]]]", Err(NestedArray { at: 8 })),
            ("key[[a]b]", Err(AfterArray { at: 8, found: 'b' })),
            ("key[a]b", Err(AfterParameters { at: 7, found: 'b' })),
            ("key[a] ", Err(AfterParameters { at: 7, found: ' ' })),
            ("key[a][b]", Err(AfterParameters { at: 7, found: '[' })),
        ];
        for (key, expected) in table {
            assert_eq!(&check_key(key), expected, "{key:?}");
        }
    }

    #[test]
    fn numbers() {
        let table = [
            ("1", Some(1.0)),
            ("0.120000", Some(0.12)),
            ("-3", Some(-3.0)),
            ("18446744073709551615", Some(18446744073709551615.0)),
            ("1e+20", Some(1e20)),
            (".5", Some(0.5)),
            ("6.0.14", None),
            ("inf", None),
            ("NaN", None),
            ("0x10", None),
            ("1e999", None),
            ("12 MB", None),
            ("", None),
            ("-", None),
        ];
        for (text, value) in table {
            assert_eq!(number(text), value, "{text:?}");
        }
    }

    #[test]
    fn labels() {
        let table = [
            ("agent.ping", "agent.ping"),
            ("system.cpu.load[all,avg1]", "system.cpu.load[all,avg1]"),
            ("vfs.fs.size[/,pfree]", "vfs.fs.size[/,pfree]"),
            (
                "vfs.fs.size[\"/var log\",pfree]",
                "vfs.fs.size[_/var_log_,pfree]",
            ),
            ("key[a=b|c'd]", "key[a_b_c_d]"),
            ("vfs.file.contents[/tmp/été]", "vfs.file.contents[/tmp/_t_]"),
        ];
        for (key, label) in table {
            assert_eq!(perfdata_label(key), label, "{key}");
        }
    }

    #[test]
    fn requests() {
        assert_eq!(
            request("agent.ping"),
            b"ZBXD\x01\x0a\x00\x00\x00\x00\x00\x00\x00agent.ping"
        );
    }

    #[test]
    fn text_values() {
        let long = "x".repeat(SUMMARY_VALUE_LIMIT + 1);
        let table = [
            ("6.0.14", "6.0.14", ""),
            ("", "\"\"", ""),
            ("a|b", "a\\x7cb", ""),
            ("one\ntwo", "one…", "one\ntwo"),
        ];
        for (text, shown, long_output) in table {
            assert_eq!(
                show_text(text),
                (shown.to_owned(), long_output.to_owned()),
                "{text:?}"
            );
        }
        let (shown, long_output) = show_text(&long);
        assert_eq!(shown, format!("{}…", &long[..SUMMARY_VALUE_LIMIT]));
        assert_eq!(long_output, long);
    }
}
