//! What every handler can reach: the store, the web settings, metrics and translations.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pupitre_core::password::PasswordPolicy;
use pupitre_store::Store;

use crate::metrics::Metrics;

/// Settings of the HTTP layer, resolved by the binary from its configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when Pupitre is served over HTTPS).
    pub secure_cookies: bool,
    /// Idle lifetime of a browser session.
    pub session_idle: Duration,
    pub password_policy: PasswordPolicy,
    /// Bearer token that `/metrics` requires; `None` leaves it open to loopback callers only.
    pub metrics_token: Option<String>,
    /// A directory served read-only under `/public/` (logos, documents).
    pub public_dir: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Failed logins allowed per account, and per source address, within `login_window`.
    pub login_max_per_account: i64,
    pub login_max_per_source: i64,
    pub login_window: Duration,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("secure_cookies", &self.secure_cookies)
            .field("session_idle", &self.session_idle)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("public_dir", &self.public_dir)
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Settings for tests and for the defaults documented in the README.
    pub fn standard() -> WebConfig {
        WebConfig {
            secure_cookies: false,
            session_idle: Duration::from_secs(12 * 3600),
            password_policy: PasswordPolicy::default(),
            metrics_token: None,
            public_dir: None,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            login_max_per_account: 5,
            login_max_per_source: 30,
            login_window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<WebConfig>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: WebConfig) -> AppState {
        AppState {
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// Milliseconds since the Unix epoch: the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
