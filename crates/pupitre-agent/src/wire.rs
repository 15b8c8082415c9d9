//! What the agent and the server say to each other, as JSON over HTTPS. The agent always opens
//! the connection (so it works behind NAT): it enrols once, then posts its samples and
//! inventory and long-polls for the server's requests. Both sides use these types, so the
//! protocol is written down once.
//!
//! Routes, all under `/api/v1/agent/`:
//! - `POST enrol` ([`EnrolRequest`] → [`EnrolReply`]): with a one-time token, or without one to
//!   wait for an administrator's approval. The reply carries the agent's own credential, sent
//!   from then on as `Authorization: Bearer <credential>`.
//! - `POST samples` ([`Batch`], gzip-compressed): one round of collection, numbered, so a
//!   batch sent twice is stored once. The header [`SENT_AT_HEADER`] carries the agent's clock
//!   at sending time, from which the server measures the clock skew.
//! - `POST poll` ([`PollRequest`] → [`PollReply`]): a new configuration, a rotated
//!   credential and commands to run, as soon as there are some, else after `wait_s` seconds.
//! - `POST progress` ([`Progress`] → [`ProgressReply`]): a command's output and its end.
//! - `POST inventory`: GLPI Agent's JSON inventory format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The header that carries the agent's clock (Unix milliseconds) when it sent the request.
pub const SENT_AT_HEADER: &str = "x-pupitre-sent-at";

/// A clock further off the server's than this (milliseconds) has its samples corrected and
/// is flagged.
pub const SKEW_TOLERANCE_MS: i64 = 2_000;

/// The device id by which a host with this machine id is found among the assets: the same
/// at enrolment and in every inventory.
pub fn device_id(machine_id: &str) -> String {
    format!("pupitre-agent:{machine_id}")
}

/// The most samples one batch may hold.
pub const MAX_BATCH_SAMPLES: usize = 100_000;

/// The longest a poll may wait, in seconds: below common proxies' idle timeouts.
pub const MAX_POLL_WAIT_S: u64 = 55;

/// What an agent says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub hostname: String,
    /// `/etc/machine-id`: stable across reinstalls of the agent, unique per host.
    pub machine_id: String,
    pub version: String,
    pub os: String,
    pub arch: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The one-time token; without it the agent waits for an administrator's approval.
    #[serde(default)]
    pub token: Option<String>,
    pub hello: Hello,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolReply {
    pub agent_id: i64,
    /// The agent's own credential, shown this once.
    pub credential: String,
    /// `active`, or `pending` until an administrator approves the agent.
    pub status: String,
}

/// What the agent collects and how often. The server holds one per agent and pushes changes
/// with the next poll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Seconds between two rounds of collection.
    pub interval_s: u64,
    pub collectors: Collectors,
    /// Processes listed as top consumers (of CPU and of memory), by name.
    pub top_processes: usize,
    /// Log files to follow, each with the pattern whose matching lines are counted.
    pub logs: Vec<LogPattern>,
    /// The most the local buffer keeps while the server cannot be reached, in bytes; beyond
    /// it the oldest samples are dropped and counted.
    pub buffer_max_bytes: u64,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            interval_s: 30,
            collectors: Collectors::default(),
            top_processes: 5,
            logs: Vec::new(),
            buffer_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Which collectors run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Collectors {
    pub cpu: bool,
    /// CPU time per core too, not only the host's total per mode.
    pub per_core: bool,
    pub memory: bool,
    pub filesystems: bool,
    pub disks: bool,
    pub network: bool,
    pub processes: bool,
    pub systemd: bool,
}

impl Default for Collectors {
    fn default() -> Collectors {
        Collectors {
            cpu: true,
            per_core: true,
            memory: true,
            filesystems: true,
            disks: true,
            network: true,
            processes: true,
            systemd: true,
        }
    }
}

/// A log file whose lines matching `pattern` are counted, as `pupitre_log_matches_total`
/// with the label `log="<name>"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPattern {
    pub name: String,
    pub path: String,
    pub pattern: String,
}

/// A configuration the server refuses: the field and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl AgentConfig {
    /// The bounds every configuration keeps; the server checks them before pushing one.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |field: &str, message: String| {
            Err(Invalid {
                field: field.to_owned(),
                message,
            })
        };
        if !(1..=3600).contains(&self.interval_s) {
            return invalid(
                "interval_s",
                format!("must be 1 to 3600 seconds, not {}", self.interval_s),
            );
        }
        if self.top_processes > 50 {
            return invalid(
                "top_processes",
                format!("must be at most 50, not {}", self.top_processes),
            );
        }
        if !(1024 * 1024..=16 * 1024 * 1024 * 1024).contains(&self.buffer_max_bytes) {
            return invalid("buffer_max_bytes", "must be 1 MiB to 16 GiB".to_owned());
        }
        if self.logs.len() > 50 {
            return invalid("logs", "at most 50 log files".to_owned());
        }
        let mut names = std::collections::HashSet::new();
        for (i, log) in self.logs.iter().enumerate() {
            let valid_name = !log.name.is_empty()
                && log.name.len() <= 64
                && log
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if !valid_name {
                return invalid(
                    &format!("logs[{i}].name"),
                    "1 to 64 letters, digits, '.', '_' or '-'".to_owned(),
                );
            }
            if !names.insert(&log.name) {
                return invalid(&format!("logs[{i}].name"), "names a log twice".to_owned());
            }
            if !log.path.starts_with('/') || log.path.len() > 4096 {
                return invalid(
                    &format!("logs[{i}].path"),
                    "must be an absolute path".to_owned(),
                );
            }
            if let Err(e) = regex::RegexBuilder::new(&log.pattern)
                .size_limit(1 << 20)
                .build()
            {
                return invalid(&format!("logs[{i}].pattern"), e.to_string());
            }
        }
        Ok(())
    }
}

/// One round of collection, numbered by the agent from 1 upwards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub seq: i64,
    /// When the round was collected, on the agent's clock (Unix milliseconds).
    pub at: i64,
    pub samples: Vec<Sample>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// One value of one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// JSON has no NaN: `null` stands for it.
    #[serde(with = "nan_as_null")]
    pub value: f64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counter: bool,
}

mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            s.serialize_f64(*value)
        } else if value.is_nan() {
            s.serialize_none()
        } else {
            // ±Inf have no JSON number either: they travel as strings.
            s.serialize_str(if *value > 0.0 { "+Inf" } else { "-Inf" })
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Value {
            Number(f64),
            Text(String),
            Null(()),
        }
        match Value::deserialize(d)? {
            Value::Number(v) => Ok(v),
            Value::Null(()) => Ok(f64::NAN),
            Value::Text(t) if t == "+Inf" => Ok(f64::INFINITY),
            Value::Text(t) if t == "-Inf" => Ok(f64::NEG_INFINITY),
            Value::Text(t) => Err(serde::de::Error::custom(format!("{t:?} is not a number"))),
        }
    }
}

/// What a batch became on the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReply {
    /// `stored`, or `duplicate` for a batch already stored.
    pub result: String,
    /// Samples stored.
    pub samples: u64,
    /// The agent's clock minus the server's, as measured on this request (milliseconds).
    pub clock_skew_ms: i64,
}

/// A poll: what the agent holds, and how long it may wait for news.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollRequest {
    pub config_version: i64,
    pub wait_s: u64,
    /// Sent with the first poll after the agent starts: the server records what it runs.
    #[serde(default)]
    pub hello: Option<Hello>,
    /// The commands the agent has started and not fully reported yet: the server does not send
    /// them again.
    #[serde(default)]
    pub running: Vec<i64>,
}

/// The server's answer to a poll.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollReply {
    /// The server's clock (Unix milliseconds).
    pub server_time: i64,
    pub config_version: i64,
    /// Sent when newer than the version the agent holds.
    #[serde(default)]
    pub config: Option<AgentConfig>,
    /// A rotated credential: the agent saves it and uses it from now on.
    #[serde(default)]
    pub credential: Option<String>,
    /// The server is newer than the agent: an administrator should upgrade it.
    #[serde(default)]
    pub upgrade_needed: bool,
    #[serde(default)]
    pub commands: Vec<Command>,
}

/// A command for the agent, or the cancellation of one it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub id: i64,
    pub spec: CommandSpec,
    #[serde(default)]
    pub cancel: bool,
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The program and its arguments; no shell. Empty for a plugin.
    #[serde(default)]
    pub argv: Vec<String>,
    /// A plugin the host's allowlist names (see [`crate::plugins`]), instead of `argv`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin: String,
    /// The plugin's `$ARGn$`, where the allowlist accepts arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// The local user to run as; empty: the agent's own.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The working directory; empty: the user's home, else `/`.
    #[serde(default)]
    pub cwd: String,
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// Written to the command's standard input, which is then closed.
    #[serde(default)]
    pub stdin: String,
    /// The most of each stream sent back; the rest is counted, not kept.
    #[serde(default = "default_output")]
    pub max_output_bytes: u64,
}

fn default_timeout() -> u64 {
    300
}

fn default_output() -> u64 {
    1024 * 1024
}

impl CommandSpec {
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |field: &str, message: &str| {
            Err(Invalid {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        };
        if !self.plugin.is_empty() {
            if !self.argv.is_empty() {
                return invalid("argv", "a command runs either argv or a plugin, not both");
            }
            crate::plugins::check_name(&self.plugin).map_err(|m| Invalid {
                field: "plugin".to_owned(),
                message: m,
            })?;
            crate::plugins::check_arguments(&self.arguments).map_err(|m| Invalid {
                field: "arguments".to_owned(),
                message: m,
            })?;
        } else {
            if !self.arguments.is_empty() {
                return invalid("arguments", "only a plugin takes arguments");
            }
            match self.argv.first() {
                None => return invalid("argv", "names no program"),
                Some(p) if p.is_empty() => return invalid("argv", "names no program"),
                Some(_) => {}
            }
        }
        if self.argv.iter().any(|a| a.contains('\0')) {
            return invalid("argv", "contains a NUL byte");
        }
        if self.argv.iter().map(String::len).sum::<usize>() > 128 * 1024 {
            return invalid("argv", "longer than 128 KiB");
        }
        if !self.cwd.is_empty() && !self.cwd.starts_with('/') {
            return invalid("cwd", "must be an absolute path");
        }
        if !(1..=7 * 86_400).contains(&self.timeout_s) {
            return invalid("timeout_s", "must be 1 second to 7 days");
        }
        if self.max_output_bytes > 16 * 1024 * 1024 {
            return invalid("max_output_bytes", "must be at most 16 MiB");
        }
        if self.stdin.len() > 1024 * 1024 {
            return invalid("stdin", "longer than 1 MiB");
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return invalid("env", "a variable name is empty or holds '=' or NUL");
            }
        }
        if self.user.contains(['/', '\0', ':']) {
            return invalid("user", "is not a user name");
        }
        Ok(())
    }
}

/// A command's new output, and its end once it ended. Each piece says where it starts in its
/// stream (in bytes of the text sent), so a piece sent twice is appended once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub id: i64,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stdout_from: u64,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub stderr_from: u64,
    /// Bytes written so far in all, sent or not.
    #[serde(default)]
    pub stdout_bytes: u64,
    #[serde(default)]
    pub stderr_bytes: u64,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub end: Option<End>,
}

/// The server's answer to a progress report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressReply {
    /// False when the server already holds the command's end (or cancelled it before it
    /// started): the agent stops it and forgets it.
    pub accepted: bool,
    /// Someone asked to stop the command.
    #[serde(default)]
    pub cancel: bool,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// `exited`, `timeout` (killed at its timeout), `killed` (on request) or `failed` (did
    /// not start, or its outcome was lost).
    pub outcome: String,
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_without_a_json_number_travel_and_come_back() {
        let batch = Batch {
            seq: 1,
            at: 0,
            samples: [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5]
                .into_iter()
                .map(|value| Sample {
                    name: "x".to_owned(),
                    labels: BTreeMap::new(),
                    value,
                    counter: false,
                })
                .collect(),
        };
        let text = serde_json::to_string(&batch).expect("encodes");
        assert!(text.contains(r#""value":null"#), "{text}");
        let back: Batch = serde_json::from_str(&text).expect("decodes");
        assert!(back.samples[0].value.is_nan());
        assert_eq!(back.samples[1].value, f64::INFINITY);
        assert_eq!(back.samples[2].value, f64::NEG_INFINITY);
        assert_eq!(back.samples[3].value, 1.5);
        let bad = serde_json::from_str::<Sample>(r#"{"name":"x","value":"lots"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn configurations_out_of_bounds_name_their_field() {
        assert_eq!(AgentConfig::default().validate(), Ok(()));
        let mut c = AgentConfig {
            interval_s: 0,
            ..AgentConfig::default()
        };
        assert_eq!(c.validate().map_err(|e| e.field), Err("interval_s".into()));
        c.interval_s = 10;
        c.logs.push(LogPattern {
            name: "auth".into(),
            path: "/var/log/auth.log".into(),
            pattern: "(unclosed".into(),
        });
        assert_eq!(
            c.validate().map_err(|e| e.field),
            Err("logs[0].pattern".into())
        );
        let unknown = serde_json::from_str::<AgentConfig>(r#"{"intervall_s": 5}"#);
        assert!(unknown.is_err(), "a misspelt key is refused, not ignored");
    }

    #[test]
    fn commands_are_checked_before_they_are_sent() {
        let spec: CommandSpec = serde_json::from_str(r#"{"argv": ["/bin/true"]}"#).expect("parses");
        assert_eq!(spec.timeout_s, 300);
        assert_eq!(spec.validate(), Ok(()));
        let empty = CommandSpec {
            argv: vec![],
            ..spec.clone()
        };
        assert_eq!(empty.validate().map_err(|e| e.field), Err("argv".into()));
        let relative = CommandSpec {
            cwd: "tmp".into(),
            ..spec
        };
        assert_eq!(relative.validate().map_err(|e| e.field), Err("cwd".into()));
    }
}
