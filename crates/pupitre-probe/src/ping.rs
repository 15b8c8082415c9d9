//! The native ping probe: send ICMP echo requests (IPv4 or IPv6) to a host and judge the
//! round-trip average and the packet loss, as Debian's `check_ping -w rta,pl% -c rta,pl%` does.
//!
//! ICMP needs a permission that a plain user often lacks: a DGRAM ICMP socket needs the user's
//! group in `net.ipv4.ping_group_range` (Debian's default `1 0` allows nobody), a RAW one needs
//! root or `CAP_NET_RAW`. [`icmp_capability`] finds out which works, and says how to fix it when
//! neither does. Without ICMP, the check falls back to TCP reachability: a host that accepts or
//! refuses a connection on port 22, 80 or 443 is up.
//!
//! One deadline, `timeout` after the run starts, bounds everything: resolving the name, sending
//! `count` packets `interval` apart and waiting for their replies. The states:
//!
//! | what happened                                        | state                           |
//! |------------------------------------------------------|---------------------------------|
//! | the name does not resolve, no ICMP socket can be opened (other than for lack of permission) | UNKNOWN |
//! | no reply at all (100 % loss), or no packet could be sent | CRITICAL                    |
//! | otherwise                                            | the worse of `rta` (average, ms) and `loss` (%) |
//! | ICMP not permitted, a TCP port answers or refuses    | OK (no perfdata: nothing was measured) |
//! | ICMP not permitted, no TCP port answers              | CRITICAL                        |
//!
//! Unlike `check_ping`, thresholds are Nagios ranges: `-w 100,20%` alerts above 100 ms or above
//! 20 % (check_ping alerts *at* 20 % already), and at 100 % loss the `rta` perfdata value is
//! `U` rather than check_ping's stand-in of the critical threshold.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use socket2::{Domain, Protocol, Socket, Type};
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};
use tokio::net::{TcpStream, lookup_host};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::outcome::Outcome;

/// The most packets one run may send.
pub const MOST_PACKETS: u32 = 20;

/// The longest timeout a ping check may have.
pub const LONGEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The shortest timeout a ping check may have.
pub const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// The shortest interval between two packets (what `ping -i` allows a plain user).
pub const SHORTEST_INTERVAL: Duration = Duration::from_millis(2);

/// The ports tried, in this order of preference, when ICMP is not permitted.
pub const FALLBACK_PORTS: [u16; 3] = [22, 80, 443];

/// The payload of every echo request (56 bytes, as `ping` sends).
const PAYLOAD: [u8; 56] = [0; 56];

/// A ping check, as an operator defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct PingCheck {
    /// A name or an IP address (`db1.example.net`, `192.0.2.7`, `::1`). A name is pinged at the
    /// first address it resolves to.
    pub host: String,
    /// How many echo requests to send, 1 to [`MOST_PACKETS`].
    pub count: u32,
    /// The time between two echo requests.
    pub interval: Duration,
    /// Bounds the whole run, name resolution included; replies later than this are lost.
    pub timeout: Duration,
    /// Warning and critical ranges for the round-trip average, in milliseconds (`-w 100,…`).
    pub rta: Thresholds,
    /// Warning and critical ranges for the packet loss, in percent (`-w …,20%`).
    pub loss: Thresholds,
}

/// Which kind of ICMP socket this process may open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpCapability {
    /// An unprivileged `SOCK_DGRAM` ICMP socket (allowed by `net.ipv4.ping_group_range`).
    Dgram,
    /// A `SOCK_RAW` ICMP socket (root or `CAP_NET_RAW`).
    Raw,
    /// Neither: pings fall back to TCP reachability.
    None {
        /// What was refused and how to allow it, for a person.
        diagnostic: String,
    },
}

/// Finds out which ICMP socket this process may open: DGRAM first, then RAW. Opens and closes
/// one or two IPv4 sockets; sends nothing. Cheap enough to call before every run, though an agent
/// calls it once at start-up and logs the diagnostic.
pub fn icmp_capability() -> IcmpCapability {
    let dgram = match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(_) => return IcmpCapability::Dgram,
        Err(error) => error,
    };
    let raw = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
        Ok(_) => return IcmpCapability::Raw,
        Err(error) => error,
    };
    IcmpCapability::None {
        diagnostic: format!(
            "ICMP is not permitted to this process (DGRAM socket: {dgram}; RAW socket: {raw}). \
             To allow it, do one of: `setcap cap_net_raw+ep <binary>` on the Pupitre binary; \
             `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (persist it in \
             /etc/sysctl.d/) to allow unprivileged ping sockets; or run as root."
        ),
    }
}

impl PingCheck {
    /// A check of `host` with `check_ping`'s defaults: 5 packets one second apart, a 10 s
    /// timeout, no thresholds (so only 100 % loss is a problem).
    pub fn new(host: impl Into<String>) -> PingCheck {
        PingCheck {
            host: host.into(),
            count: 5,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            rta: Thresholds::default(),
            loss: Thresholds::default(),
        }
    }

    /// Checks the definition when it is written, without IO.
    pub fn validate(&self) -> Result<(), PingCheckError> {
        if self.host.is_empty() {
            return Err(PingCheckError::HostEmpty);
        }
        if self.host.contains(char::is_whitespace) {
            return Err(PingCheckError::HostWithSpace(self.host.clone()));
        }
        if !(1..=MOST_PACKETS).contains(&self.count) {
            return Err(PingCheckError::CountOutOfRange(self.count));
        }
        if self.interval < SHORTEST_INTERVAL {
            return Err(PingCheckError::IntervalTooShort(self.interval));
        }
        if !(SHORTEST_TIMEOUT..=LONGEST_TIMEOUT).contains(&self.timeout) {
            return Err(PingCheckError::TimeoutOutOfRange(self.timeout));
        }
        let sending = self.interval.saturating_mul(self.count - 1);
        if sending >= self.timeout {
            return Err(PingCheckError::TimeoutShorterThanSending {
                timeout: self.timeout,
                sending,
            });
        }
        Ok(())
    }

    /// Runs the check once, with whatever ICMP socket [`icmp_capability`] finds. Never panics
    /// and never fails: every problem is an [`Outcome`].
    pub async fn run(&self) -> Outcome {
        self.run_with(&icmp_capability()).await
    }

    /// Runs the check once with a capability found earlier (an agent finds it at start-up).
    /// With [`IcmpCapability::None`] the check tests TCP reachability instead.
    pub async fn run_with(&self, capability: &IcmpCapability) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let address = match self.resolve(deadline).await {
            Ok(address) => address,
            Err(outcome) => return outcome,
        };
        let socket_type = match capability {
            IcmpCapability::Dgram => Type::DGRAM,
            IcmpCapability::Raw => Type::RAW,
            IcmpCapability::None { diagnostic } => {
                return self.tcp_reachability(address, diagnostic, deadline).await;
            }
        };
        let config = Config::builder()
            .kind(match address {
                IpAddr::V4(_) => ICMP::V4,
                IpAddr::V6(_) => ICMP::V6,
            })
            .sock_type_hint(socket_type)
            .build();
        let client = match Client::new(&config) {
            Ok(client) => client,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                let diagnostic = match icmp_capability() {
                    IcmpCapability::None { diagnostic } => diagnostic,
                    _ => format!("ICMP is not permitted for {address}: {error}"),
                };
                return self.tcp_reachability(address, &diagnostic, deadline).await;
            }
            Err(error) => {
                return unknown(format!("cannot open an ICMP socket for {address}: {error}"));
            }
        };
        let replies = self.echo(&client, address, deadline).await;
        self.judge(address, &replies)
    }

    async fn resolve(&self, deadline: Instant) -> Result<IpAddr, Outcome> {
        if let Ok(address) = self.host.parse::<IpAddr>() {
            return Ok(address);
        }
        match timeout_at(deadline, lookup_host((self.host.as_str(), 0))).await {
            Ok(Ok(mut addresses)) => match addresses.next() {
                Some(address) => Ok(address.ip()),
                None => Err(unknown(format!("cannot resolve {}: no address", self.host))),
            },
            Ok(Err(error)) => Err(unknown(format!("cannot resolve {}: {error}", self.host))),
            Err(_) => Err(unknown(format!(
                "cannot resolve {}: timed out after {} s",
                self.host,
                self.timeout.as_secs_f64()
            ))),
        }
    }

    /// Sends `count` echo requests `interval` apart, each waiting for its reply until the
    /// deadline, and returns what became of each, in order.
    async fn echo(&self, client: &Client, address: IpAddr, deadline: Instant) -> Vec<Reply> {
        let ident = PingIdentifier(next_identifier());
        let start = Instant::now();
        let mut tasks = JoinSet::new();
        for seq in 0..self.count {
            let mut pinger = client.pinger(address, ident).await;
            let send_at = start + self.interval.saturating_mul(seq);
            tasks.spawn(async move {
                sleep_until(send_at).await;
                let wait = deadline.saturating_duration_since(Instant::now());
                if wait.is_zero() {
                    return (seq, Reply::Lost);
                }
                pinger.timeout(wait);
                // `count` is at most MOST_PACKETS, so the sequence number fits.
                let sequence = PingSequence(u16::try_from(seq).unwrap_or(u16::MAX));
                // Timed here, from before the send to the hand-over of the reply: surge-ping's
                // own figure starts after the send returns and reads 0 for fast loopback replies.
                let sent = Instant::now();
                let reply = match pinger.ping(sequence, &PAYLOAD).await {
                    Ok(_) => Reply::Received(sent.elapsed()),
                    Err(SurgeError::Timeout { .. }) => Reply::Lost,
                    Err(error) => Reply::Failed(error.to_string()),
                };
                (seq, reply)
            });
        }
        let mut replies = vec![Reply::Lost; self.count as usize];
        // A task that panicked inside the ping library leaves its packet counted as lost.
        while let Some(joined) = tasks.join_next().await {
            if let Ok((seq, reply)) = joined
                && let Some(slot) = replies.get_mut(seq as usize)
            {
                *slot = reply;
            }
        }
        replies
    }

    /// The outcome for these replies to the echo requests sent to `address`.
    fn judge(&self, address: IpAddr, replies: &[Reply]) -> Outcome {
        let sent = replies.len();
        let rtts: Vec<f64> = replies
            .iter()
            .filter_map(|r| match r {
                Reply::Received(rtt) => Some(rtt.as_secs_f64() * 1000.0),
                _ => None,
            })
            .collect();
        let failure = replies.iter().find_map(|r| match r {
            Reply::Failed(error) => Some(error.as_str()),
            _ => None,
        });
        let stats = PingStats::new(sent, &rtts);
        let state = stats.state(&self.rta, &self.loss);
        let mut summary = format!("PING {state} - Packet loss = {}%", stats.loss_percent);
        if let Some(rta) = stats.rta_ms {
            summary.push_str(&format!(", RTA = {rta:.2} ms"));
        } else if let Some(error) = failure {
            summary.push_str(&format!(" ({error})"));
        }
        let mut long_output = format!(
            "{} packets sent to {address}, {} received",
            sent,
            rtts.len()
        );
        if let (Some(min), Some(rta), Some(max)) = (stats.min_ms, stats.rta_ms, stats.max_ms) {
            long_output.push_str(&format!(
                "\nrtt min/avg/max = {min:.3}/{rta:.3}/{max:.3} ms"
            ));
        }
        if let Some(error) = failure {
            long_output.push_str(&format!("\nfirst error: {error}"));
        }
        Outcome::new(state, summary)
            .with_long_output(long_output)
            .with_perfdatum(PerfDatum {
                label: "rta".to_owned(),
                value: stats.rta_ms,
                uom: Uom::Milliseconds,
                warning: self.rta.warning,
                critical: self.rta.critical,
                min: Some(0.0),
                max: None,
            })
            .with_perfdatum(PerfDatum {
                label: "pl".to_owned(),
                value: Some(f64::from(stats.loss_percent)),
                uom: Uom::Percent,
                warning: self.loss.warning,
                critical: self.loss.critical,
                min: Some(0.0),
                max: None,
            })
    }

    /// Without ICMP: connects to [`FALLBACK_PORTS`] at once; the first that accepts or refuses
    /// shows the host is up.
    async fn tcp_reachability(
        &self,
        address: IpAddr,
        diagnostic: &str,
        deadline: Instant,
    ) -> Outcome {
        let mut tasks = JoinSet::new();
        for port in FALLBACK_PORTS {
            tasks.spawn(async move {
                let started = Instant::now();
                let result =
                    timeout_at(deadline, TcpStream::connect(SocketAddr::new(address, port))).await;
                (port, started.elapsed(), result)
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((port, elapsed, result)) = joined else {
                continue;
            };
            let how = match result {
                Ok(Ok(_)) => "accepted the connection",
                Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    "refused the connection"
                }
                Ok(Err(error)) => {
                    failures.push(format!("port {port}: {error}"));
                    continue;
                }
                Err(_) => {
                    failures.push(format!("port {port}: no answer"));
                    continue;
                }
            };
            return Outcome::ok(format!(
                "PING OK - ICMP not permitted, host reachable by TCP: {address} port {port} {how} \
                 in {:.3} s",
                elapsed.as_secs_f64()
            ))
            .with_long_output(diagnostic);
        }
        failures.sort();
        Outcome::critical(format!(
            "PING CRITICAL - ICMP not permitted, and {address} did not answer on TCP ports \
             22, 80, 443 within {} s ({})",
            self.timeout.as_secs_f64(),
            failures.join("; ")
        ))
        .with_long_output(diagnostic)
    }
}

/// What became of one echo request.
#[derive(Clone, Debug, PartialEq)]
enum Reply {
    Received(Duration),
    /// No reply before the deadline.
    Lost,
    /// The request could not be sent (no route, for instance); it counts as lost.
    Failed(String),
}

/// The figures of one run, from the number of packets sent and the round-trip times (ms) of
/// those answered.
#[derive(Clone, Debug, PartialEq)]
struct PingStats {
    /// Rounded down, as `ping` prints it.
    loss_percent: u32,
    rta_ms: Option<f64>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
}

impl PingStats {
    fn new(sent: usize, rtts: &[f64]) -> PingStats {
        let received = rtts.len().min(sent);
        let loss_percent = ((sent - received) * 100)
            .checked_div(sent)
            .map_or(100, |loss| u32::try_from(loss).unwrap_or(100));
        // To the microsecond, as `ping` prints it, so the printed perfdata reads back the same.
        let rta_ms = (!rtts.is_empty())
            .then(|| (rtts.iter().sum::<f64>() / rtts.len() as f64 * 1000.0).round() / 1000.0);
        PingStats {
            loss_percent,
            rta_ms,
            min_ms: rtts.iter().copied().reduce(f64::min),
            max_ms: rtts.iter().copied().reduce(f64::max),
        }
    }

    /// 100 % loss is CRITICAL whatever the thresholds; otherwise the worse of the two.
    fn state(&self, rta: &Thresholds, loss: &Thresholds) -> State {
        let Some(rta_ms) = self.rta_ms else {
            return State::Critical;
        };
        if self.loss_percent >= 100 {
            return State::Critical;
        }
        let by_rta = rta.evaluate(rta_ms);
        let by_loss = loss.evaluate(f64::from(self.loss_percent));
        if by_loss.severity() > by_rta.severity() {
            by_loss
        } else {
            by_rta
        }
    }
}

/// An identifier for the next run's echo requests, distinct between runs of this process and
/// likely distinct from other processes' (it only matters for RAW sockets; the kernel assigns
/// it for DGRAM ones).
fn next_identifier() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let pid = std::process::id() as u16;
    pid.wrapping_mul(31)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn unknown(summary: String) -> Outcome {
    Outcome::unknown(format!("PING UNKNOWN - {summary}"))
}

/// Why a [`PingCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PingCheckError {
    #[error("host: is empty")]
    HostEmpty,
    #[error("host: {0:?} contains a space")]
    HostWithSpace(String),
    #[error("count: must be 1 to 20, not {0}")]
    CountOutOfRange(u32),
    #[error("interval: {0:?} is shorter than 2 ms")]
    IntervalTooShort(Duration),
    #[error("timeout: {0:?} is out of range (1 ms to 300 s)")]
    TimeoutOutOfRange(Duration),
    #[error(
        "timeout: {timeout:?} leaves no time for replies after sending every packet ({sending:?})"
    )]
    TimeoutShorterThanSending {
        timeout: Duration,
        sending: Duration,
    },
}

impl PingCheckError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            Self::HostEmpty | Self::HostWithSpace(_) => "host",
            Self::CountOutOfRange(_) => "count",
            Self::IntervalTooShort(_) => "interval",
            Self::TimeoutOutOfRange(_) | Self::TimeoutShorterThanSending { .. } => "timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds(warning: &str, critical: &str) -> Thresholds {
        Thresholds::parse(warning, critical).expect("thresholds")
    }

    /// The state logic, including 100 % loss, which no loopback address can produce (every
    /// 127.0.0.0/8 address answers) and which must not be tested against an outside address.
    #[test]
    fn states() {
        let rta = thresholds("100", "500");
        let loss = thresholds("20", "60");
        #[rustfmt::skip]
        /// Packets sent, round-trip times (ms), then the loss, average and state expected.
        type Row<'a> = (usize, &'a [f64], u32, Option<f64>, State);
        let table: &[Row] = &[
            // sent, rtts (ms),               loss %, rta,         state
            (5, &[0.1, 0.2, 0.3, 0.2, 0.2], 0, Some(0.2), State::Ok),
            (2, &[0.0401, 0.0402], 0, Some(0.04), State::Ok),
            (5, &[150.0; 5], 0, Some(150.0), State::Warning),
            (5, &[600.0; 5], 0, Some(600.0), State::Critical),
            (5, &[0.1; 4], 20, Some(0.1), State::Ok),
            (3, &[0.1; 2], 33, Some(0.1), State::Warning),
            (5, &[0.1], 80, Some(0.1), State::Critical),
            (5, &[150.0], 80, Some(150.0), State::Critical),
            (3, &[600.0, 600.0], 33, Some(600.0), State::Critical),
            (5, &[], 100, None, State::Critical),
            (1, &[], 100, None, State::Critical),
        ];
        for (sent, rtts, loss_percent, rta_ms, state) in table {
            let stats = PingStats::new(*sent, rtts);
            assert_eq!(stats.loss_percent, *loss_percent, "{sent} {rtts:?}");
            assert_eq!(stats.rta_ms, *rta_ms, "{sent} {rtts:?}");
            assert_eq!(stats.state(&rta, &loss), *state, "{sent} {rtts:?}");
        }
        // Without thresholds, only total loss is a problem.
        let none = Thresholds::default();
        assert_eq!(PingStats::new(5, &[9e9]).state(&none, &none), State::Ok);
        assert_eq!(PingStats::new(5, &[]).state(&none, &none), State::Critical);
    }

    /// The outcome of a run whose every request went unanswered: CRITICAL, `rta=U`, `pl=100%`.
    #[test]
    fn total_loss_outcome() {
        let mut check = PingCheck::new("192.0.2.1");
        check.count = 2;
        check.rta = thresholds("100", "500");
        check.loss = thresholds("20", "60");
        let address: IpAddr = "192.0.2.1".parse().expect("address");
        let outcome = check.judge(address, &[Reply::Lost, Reply::Lost]);
        assert_eq!(outcome.state, State::Critical);
        assert_eq!(outcome.summary, "PING CRITICAL - Packet loss = 100%");
        assert_eq!(
            outcome.to_plugin_output().split_once('|').map(|(_, p)| p),
            Some(
                "rta=U;100;500;0.000000; pl=100.000000%;20;60;0.000000;\n2 packets sent to 192.0.2.1, 0 received"
            )
        );
        let failed = check.judge(
            address,
            &[Reply::Failed("Network is unreachable".into()), Reply::Lost],
        );
        assert_eq!(failed.state, State::Critical);
        assert_eq!(
            failed.summary,
            "PING CRITICAL - Packet loss = 100% (Network is unreachable)"
        );
    }

    #[test]
    fn validation() {
        let good = PingCheck::new("db1");
        assert_eq!(good.validate(), Ok(()));
        /// A change that makes the check invalid, and the field the error names.
        type Row = (fn(&mut PingCheck), &'static str);
        let table: [Row; 7] = [
            (|c| c.host.clear(), "host"),
            (|c| c.host = "a b".into(), "host"),
            (|c| c.count = 0, "count"),
            (|c| c.count = 21, "count"),
            (|c| c.interval = Duration::from_millis(1), "interval"),
            (|c| c.timeout = Duration::ZERO, "timeout"),
            (|c| c.timeout = Duration::from_secs(4), "timeout"),
        ];
        for (change, field) in table {
            let mut check = good.clone();
            change(&mut check);
            let error = check.validate().expect_err(field);
            assert_eq!(error.field(), field);
            assert!(
                error.to_string().starts_with(&format!("{field}: ")),
                "{error}"
            );
        }
    }
}
