//! Configuration in two steps: `RawConfig` is parsed and merged without IO (file, then
//! environment, then flags: later wins), then [`RawConfig::resolve`] reads secret files and
//! derives defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Every key, as written in `pupitre.toml`; the environment variable is `PUPITRE_` + the key
/// in upper case. Keys ending in `_file` name a file holding a secret.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub database_url_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub public_dir: Option<PathBuf>,
    pub admin_password: Option<String>,
    pub admin_password_file: Option<PathBuf>,
    pub metrics_token: Option<String>,
    pub metrics_token_file: Option<PathBuf>,
    pub log: Option<String>,
    pub session_idle_minutes: Option<u64>,
    pub session_max_hours: Option<u64>,
    pub password_min_length: Option<usize>,
    pub login_max_per_account: Option<i64>,
    pub login_max_per_source: Option<i64>,
    pub login_window_minutes: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub request_timeout_seconds: Option<u64>,
    pub inventory_quarantine: Option<bool>,
    pub monitoring_engine: Option<bool>,
    pub monitoring_max_concurrent: Option<usize>,
    pub history_series_per_source: Option<u64>,
    pub history_raw_days: Option<u64>,
    pub history_minute_days: Option<u64>,
    pub history_hour_days: Option<u64>,
    pub history_remote_write_url: Option<String>,
    pub history_remote_write_token: Option<String>,
    pub history_remote_write_token_file: Option<PathBuf>,
    pub history_remote_write_ca_file: Option<PathBuf>,
    pub history_remote_write_buffer_samples: Option<usize>,
    pub credentials_key: Option<String>,
    pub credentials_key_file: Option<PathBuf>,
    pub smtp_url: Option<String>,
    pub smtp_url_file: Option<PathBuf>,
    pub smtp_from: Option<String>,
    pub page_group_wait_seconds: Option<u64>,
    pub sms_gateway_url: Option<String>,
    pub sms_gateway_url_file: Option<PathBuf>,
    pub sms_gateway_body: Option<String>,
    pub sms_gateway_content_type: Option<String>,
}

/// Every configuration key.
const KEYS: &[&str] = &[
    "data_dir",
    "listen",
    "database_url",
    "database_url_file",
    "public_url",
    "public_dir",
    "admin_password",
    "admin_password_file",
    "metrics_token",
    "metrics_token_file",
    "log",
    "session_idle_minutes",
    "session_max_hours",
    "password_min_length",
    "login_max_per_account",
    "login_max_per_source",
    "login_window_minutes",
    "max_body_bytes",
    "request_timeout_seconds",
    "inventory_quarantine",
    "monitoring_engine",
    "monitoring_max_concurrent",
    "history_series_per_source",
    "history_raw_days",
    "history_minute_days",
    "history_hour_days",
    "history_remote_write_url",
    "history_remote_write_token",
    "history_remote_write_token_file",
    "history_remote_write_ca_file",
    "history_remote_write_buffer_samples",
    "credentials_key",
    "credentials_key_file",
    "smtp_url",
    "smtp_url_file",
    "smtp_from",
    "page_group_wait_seconds",
    "sms_gateway_url",
    "sms_gateway_url_file",
    "sms_gateway_body",
    "sms_gateway_content_type",
];

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never shown, set or not.
        f.debug_struct("RawConfig")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// Keys whose values are numbers (all others are strings).
const NUMERIC: &[&str] = &[
    "session_idle_minutes",
    "session_max_hours",
    "password_min_length",
    "login_max_per_account",
    "login_max_per_source",
    "login_window_minutes",
    "max_body_bytes",
    "request_timeout_seconds",
    "monitoring_max_concurrent",
    "history_series_per_source",
    "history_raw_days",
    "history_minute_days",
    "history_hour_days",
    "history_remote_write_buffer_samples",
    "page_group_wait_seconds",
];

/// Keys whose values are `true` or `false`.
const BOOLEAN: &[&str] = &["inventory_quarantine", "monitoring_engine"];

/// Environment variables with the `PUPITRE_` prefix that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["CONFIG"];

impl RawConfig {
    pub fn from_toml(text: &str) -> anyhow::Result<RawConfig> {
        toml::from_str(text).map_err(|e| {
            anyhow::anyhow!("{}", e.message().trim()).context(span_hint(text, e.span()))
        })
    }

    /// Reads `PUPITRE_*` variables. An unknown name is an error naming it.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<RawConfig> {
        let mut table = toml::Table::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("PUPITRE_") else {
                continue;
            };
            if ENV_NOT_KEYS.contains(&key) || key.starts_with("TEST_") {
                continue;
            }
            let key = key.to_lowercase();
            if !KEYS.contains(&key.as_str()) {
                bail!(
                    "environment variable {name} is not a Pupitre setting (see the configuration reference in the README)"
                );
            }
            let v = if NUMERIC.contains(&key.as_str()) {
                toml::Value::Integer(value.trim().parse().with_context(|| {
                    format!("environment variable {name}: `{value}` is not a whole number")
                })?)
            } else if BOOLEAN.contains(&key.as_str()) {
                toml::Value::Boolean(value.trim().parse().with_context(|| {
                    format!("environment variable {name}: `{value}` is not true or false")
                })?)
            } else {
                toml::Value::String(value)
            };
            table.insert(key, v);
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("environment: {}", e.message().trim()))
    }

    /// `other`'s keys win over `self`'s.
    pub fn overlay(self, other: RawConfig) -> RawConfig {
        macro_rules! pick { ($($f:ident),*) => { RawConfig { $($f: other.$f.or(self.$f)),* } } }
        pick!(
            data_dir,
            listen,
            database_url,
            database_url_file,
            public_url,
            public_dir,
            admin_password,
            admin_password_file,
            metrics_token,
            metrics_token_file,
            log,
            session_idle_minutes,
            session_max_hours,
            password_min_length,
            login_max_per_account,
            login_max_per_source,
            login_window_minutes,
            max_body_bytes,
            request_timeout_seconds,
            inventory_quarantine,
            monitoring_engine,
            monitoring_max_concurrent,
            history_series_per_source,
            history_raw_days,
            history_minute_days,
            history_hour_days,
            history_remote_write_url,
            history_remote_write_token,
            history_remote_write_token_file,
            history_remote_write_ca_file,
            history_remote_write_buffer_samples,
            credentials_key,
            credentials_key_file,
            smtp_url,
            smtp_url_file,
            smtp_from,
            page_group_wait_seconds,
            sms_gateway_url,
            sms_gateway_url_file,
            sms_gateway_body,
            sms_gateway_content_type
        )
    }

    /// Checks values and reads secret files.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let data_dir = self
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./pupitre-data"));
        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("listen: `{listen_text}` is not an address:port such as 127.0.0.1:8080")
        })?;
        let database_url = secret("database_url", self.database_url, self.database_url_file)?
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("pupitre.db").display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!("database_url: must start with sqlite:// or postgres://");
        }
        let secure_cookies = match &self.public_url {
            Some(u) if u.starts_with("https://") => true,
            Some(u) if u.starts_with("http://") => false,
            Some(u) => bail!("public_url: `{u}` must start with http:// or https://"),
            None => false,
        };
        let default = pupitre_store::metrics::Retention::default();
        let days = |key: &str, value: Option<u64>, default: i64| -> anyhow::Result<i64> {
            let ms = pupitre_store::metrics::DAY;
            match value {
                None => Ok(default),
                Some(d) if (1..=36_500).contains(&d) => Ok(d as i64 * ms),
                Some(_) => bail!("{key}: must be between 1 and 36500 days"),
            }
        };
        let history_retention = pupitre_store::metrics::Retention {
            raw: days("history_raw_days", self.history_raw_days, default.raw)?,
            minute: days(
                "history_minute_days",
                self.history_minute_days,
                default.minute,
            )?,
            hour: days("history_hour_days", self.history_hour_days, default.hour)?,
        };
        let min_len = self.password_min_length.unwrap_or(12);
        if !(8..=128).contains(&min_len) {
            bail!("password_min_length: must be between 8 and 128");
        }
        Ok(Config {
            data_dir,
            listen,
            database_url,
            secure_cookies,
            public_dir: self.public_dir,
            admin_password: secret(
                "admin_password",
                self.admin_password,
                self.admin_password_file,
            )?,
            metrics_token: secret("metrics_token", self.metrics_token, self.metrics_token_file)?,
            log: self.log.unwrap_or_else(|| "info".to_owned()),
            session_idle: Duration::from_secs(60 * self.session_idle_minutes.unwrap_or(720).max(1)),
            session_max: Duration::from_secs(3600 * self.session_max_hours.unwrap_or(24).max(1)),
            password_min_length: min_len,
            login_max_per_account: self.login_max_per_account.unwrap_or(5).max(1),
            login_max_per_source: self.login_max_per_source.unwrap_or(30).max(1),
            login_window: Duration::from_secs(60 * self.login_window_minutes.unwrap_or(15).max(1)),
            max_body_bytes: self.max_body_bytes.unwrap_or(2 * 1024 * 1024).max(1024),
            request_timeout: Duration::from_secs(self.request_timeout_seconds.unwrap_or(30).max(1)),
            inventory_quarantine: self.inventory_quarantine.unwrap_or(false),
            monitoring_engine: self.monitoring_engine.unwrap_or(true),
            monitoring_max_concurrent: self.monitoring_max_concurrent.unwrap_or(512).max(1),
            history_series_per_source: self.history_series_per_source.unwrap_or(10_000).max(1),
            history_retention,
            history_remote_write: match self.history_remote_write_url {
                None => None,
                Some(url) => {
                    let mut remote = pupitre_monitor::remote_write::RemoteWriteConfig::new(&url);
                    remote.bearer_token = secret(
                        "history_remote_write_token",
                        self.history_remote_write_token,
                        self.history_remote_write_token_file,
                    )?;
                    remote.ca_file = self.history_remote_write_ca_file;
                    if let Some(n) = self.history_remote_write_buffer_samples {
                        if n == 0 {
                            bail!("history_remote_write_buffer_samples: must be at least 1");
                        }
                        remote.buffer_samples = n;
                    }
                    Some(remote)
                }
            },
            credentials_key: secret(
                "credentials_key",
                self.credentials_key,
                self.credentials_key_file,
            )?,
            public_url: self
                .public_url
                .clone()
                .map(|u| u.trim_end_matches('/').to_owned())
                .unwrap_or_else(|| format!("http://{listen}")),
            smtp_url: match secret("smtp_url", self.smtp_url, self.smtp_url_file)? {
                Some(u) if u.starts_with("smtp://") || u.starts_with("smtps://") => Some(u),
                Some(_) => bail!("smtp_url: must start with smtp:// or smtps://"),
                None => None,
            },
            smtp_from: self
                .smtp_from
                .unwrap_or_else(|| "Pupitre <pupitre@localhost>".to_owned()),
            page_group_wait: match self.page_group_wait_seconds {
                None => Duration::from_secs(30),
                Some(s) if s <= 3600 => Duration::from_secs(s),
                Some(_) => bail!("page_group_wait_seconds: must be at most 3600"),
            },
            sms_gateway: match secret(
                "sms_gateway_url",
                self.sms_gateway_url,
                self.sms_gateway_url_file,
            )? {
                None => None,
                Some(url) => {
                    let gateway = pupitre_web::ops::channels::SmsGateway {
                        url,
                        body: self.sms_gateway_body.unwrap_or_default(),
                        content_type: self
                            .sms_gateway_content_type
                            .unwrap_or_else(|| "application/x-www-form-urlencoded".to_owned()),
                    };
                    // A template that cannot render a message is a configuration error now,
                    // not a failed page at night.
                    pupitre_web::ops::channels::sms_request(&gateway, "+33612345678", "test")
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Some(gateway)
                }
            },
        })
    }
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(s) => format!(
            "configuration file, line {}",
            text[..s.start.min(text.len())].lines().count().max(1)
        ),
        None => "configuration file".to_owned(),
    }
}

/// A secret given directly or through `<key>_file`; both at once is an error.
fn secret(
    key: &str,
    value: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    match (value, file) {
        (Some(_), Some(_)) => bail!("{key} and {key}_file are both set; keep one"),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{key}_file: cannot read {}", path.display()))?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// The resolved configuration. Secrets are redacted from `Debug`.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: String,
    pub secure_cookies: bool,
    pub public_dir: Option<PathBuf>,
    pub admin_password: Option<String>,
    pub metrics_token: Option<String>,
    pub log: String,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub password_min_length: usize,
    pub login_max_per_account: i64,
    pub login_max_per_source: i64,
    pub login_window: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub inventory_quarantine: bool,
    /// Run the supervision engine in this server. With several servers on one PostgreSQL
    /// database, exactly one should.
    pub monitoring_engine: bool,
    /// Check runs in flight at once.
    pub monitoring_max_concurrent: usize,
    /// Series one source (a check, an agent) may write; beyond, new series are refused.
    pub history_series_per_source: u64,
    /// How long raw samples, 1-minute points and 1-hour points are kept.
    pub history_retention: pupitre_store::metrics::Retention,
    /// Where the history's samples are also sent (Prometheus remote write), if anywhere.
    pub history_remote_write: Option<pupitre_monitor::remote_write::RemoteWriteConfig>,
    /// The key that seals stored credentials (64 hex digits); `None`: the data directory's
    /// `credentials.key`, created at the first start.
    pub credentials_key: Option<String>,
    /// The address people open Pupitre at, for links in e-mails (`public_url`; else
    /// `http://` and the listen address).
    pub public_url: String,
    /// Where pages are sent by e-mail: `smtp://host:port` (STARTTLS when offered; add
    /// `?tls=required` to insist), `smtps://host:port` (TLS from the start), with
    /// `user:password@` when the server asks for it; `None`: e-mail pages fail, visibly.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// How long a new incident waits before its first page (alerts of one outage group).
    pub page_group_wait: Duration,
    /// The HTTP gateway SMS pages go through (its URL may hold a key: redacted).
    pub sms_gateway: Option<pupitre_web::ops::channels::SmsGateway>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("secure_cookies", &self.secure_cookies)
            .field("public_dir", &self.public_dir)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_from", &self.smtp_from)
            .finish_non_exhaustive()
    }
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:<redacted>{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Config {
    pub fn web(&self) -> pupitre_web::WebConfig {
        let mut web = pupitre_web::WebConfig::standard();
        web.secure_cookies = self.secure_cookies;
        web.session_idle = self.session_idle;
        web.session_max = self.session_max;
        web.password_policy.min_length = self.password_min_length;
        web.metrics_token = self.metrics_token.clone();
        web.public_dir = self.public_dir.clone();
        web.max_body_bytes = self.max_body_bytes;
        web.request_timeout = self.request_timeout;
        web.login_max_per_account = self.login_max_per_account;
        web.login_max_per_source = self.login_max_per_source;
        web.login_window = self.login_window;
        web.inventory_quarantine = self.inventory_quarantine;
        web.public_url = self.public_url.clone();
        web.smtp_url = self.smtp_url.clone();
        web.smtp_from = self.smtp_from.clone();
        web.page_group_wait = self.page_group_wait;
        web.sms_gateway = self.sms_gateway.clone();
        web
    }
}

/// Builds the raw configuration from its three sources.
pub fn load(
    file: Option<&std::path::Path>,
    env: BTreeMap<String, String>,
    flags: RawConfig,
) -> anyhow::Result<RawConfig> {
    let from_file = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the configuration file {}", path.display())
            })?;
            RawConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => RawConfig::default(),
    };
    Ok(from_file.overlay(RawConfig::from_env(env)?).overlay(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        let file = RawConfig::from_toml(
            "listen = \"127.0.0.1:1000\"\nlog = \"debug\"\ndata_dir = \"/srv/a\"\n",
        )
        .unwrap();
        let e = RawConfig::from_env(env(&[
            ("PUPITRE_LISTEN", "127.0.0.1:2000"),
            ("PUPITRE_SESSION_IDLE_MINUTES", "5"),
        ]))
        .unwrap();
        let flags = RawConfig {
            listen: Some("127.0.0.1:3000".into()),
            ..RawConfig::default()
        };
        let c = file.clone().overlay(e.clone()).resolve().unwrap();
        assert_eq!(c.listen.port(), 2000, "env beats file");
        assert_eq!(c.log, "debug", "file beats default");
        assert_eq!(c.session_idle, Duration::from_secs(300));
        let c = file.overlay(e).overlay(flags).resolve().unwrap();
        assert_eq!(c.listen.port(), 3000, "flags beat env");
        assert_eq!(c.database_url, "sqlite:///srv/a/pupitre.db");
        let d = RawConfig::default().resolve().unwrap();
        assert_eq!(d.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(d.data_dir, PathBuf::from("./pupitre-data"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = RawConfig::from_toml("listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap_err();
        assert!(format!("{e:#}").contains("listen_port"), "{e:#}");
        let e = RawConfig::from_env(env(&[("PUPITRE_LISTN", "x")])).unwrap_err();
        assert!(e.to_string().contains("PUPITRE_LISTN"), "{e}");
        let e = RawConfig::from_env(env(&[("PUPITRE_MAX_BODY_BYTES", "lots")])).unwrap_err();
        assert!(e.to_string().contains("PUPITRE_MAX_BODY_BYTES"), "{e}");
        assert!(
            RawConfig::from_env(env(&[
                ("PUPITRE_TEST_DATABASE_URL", "x"),
                ("HOME", "/root")
            ]))
            .is_ok()
        );
    }

    #[test]
    fn secrets_come_from_files_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let raw = RawConfig {
            metrics_token_file: Some(path.clone()),
            database_url: Some("postgres://u:pw@db/x".into()),
            ..RawConfig::default()
        };
        let c = raw.resolve().unwrap();
        assert_eq!(c.metrics_token.as_deref(), Some("s3cret"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains(":pw@"),
            "{shown}"
        );
        let both = RawConfig {
            metrics_token: Some("a".into()),
            metrics_token_file: Some(path),
            ..RawConfig::default()
        };
        assert!(both.resolve().is_err());
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = RawConfig {
            listen: Some("everywhere".into()),
            ..RawConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().starts_with("listen:"), "{e}");
        let e = RawConfig {
            database_url: Some("mysql://x".into()),
            ..RawConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().starts_with("database_url:"), "{e}");
        let e = RawConfig {
            sms_gateway_url: Some("https://sms.example/send?to={{ to".into()),
            ..RawConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().starts_with("sms_gateway_url:"), "{e}");
        let e = RawConfig {
            sms_gateway_url: Some("{{ to }}".into()),
            ..RawConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            e.to_string().starts_with("sms_gateway_url:"),
            "not a URL: {e}"
        );
        let c = RawConfig {
            sms_gateway_url: Some("https://k:s3cret@sms.example/send?to={{ to|urlencode }}".into()),
            sms_gateway_body: Some("text={{ text|urlencode }}".into()),
            ..RawConfig::default()
        }
        .resolve()
        .unwrap();
        assert!(c.sms_gateway.is_some());
        assert!(!format!("{c:?}").contains("s3cret"), "redacted");
    }
}
