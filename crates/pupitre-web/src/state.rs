//! What every handler can reach: the store, the web settings, metrics and translations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use pupitre_core::password::PasswordPolicy;
use pupitre_core::permission::EntityId;
use pupitre_store::Store;

use crate::metrics::Metrics;

/// Settings of the HTTP layer, resolved by the binary from its configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when Pupitre is served over HTTPS).
    pub secure_cookies: bool,
    /// Idle lifetime of a browser session.
    pub session_idle: Duration,
    /// Absolute lifetime of a browser session, however active (also the cookie's Max-Age).
    pub session_max: Duration,
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
    /// New machines reported by inventory agents wait in quarantine for approval.
    pub inventory_quarantine: bool,
    /// The address people open Pupitre at, for links in e-mails.
    pub public_url: String,
    /// The SMTP server pages go through (`smtp://` or `smtps://`), if any.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// The HTTP gateway SMS pages go through, if any.
    pub sms_gateway: Option<crate::ops::channels::SmsGateway>,
    /// How long a new incident waits before its first page, so that the alerts of one outage
    /// group first (the servers behind a switch fail before the switch is seen down).
    pub page_group_wait: Duration,
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
            session_max: Duration::from_secs(24 * 3600),
            password_policy: PasswordPolicy::default(),
            metrics_token: None,
            public_dir: None,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            login_max_per_account: 5,
            login_max_per_source: 30,
            login_window: Duration::from_secs(15 * 60),
            inventory_quarantine: false,
            public_url: "http://127.0.0.1:8080".to_owned(),
            smtp_url: None,
            smtp_from: "Pupitre <pupitre@localhost>".to_owned(),
            sms_gateway: None,
            page_group_wait: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<WebConfig>,
    pub metrics: Arc<Metrics>,
    tree: Arc<RwLock<Option<(Instant, Tree)>>>,
    /// Serialises login attempts per account.
    pub login_locks: Arc<KeyedLocks>,
    /// Asset imports that outlived their request, for clients to poll.
    pub import_jobs: Arc<crate::api::inventory_csv::ImportJobs>,
    /// The supervision engine, when this server runs it.
    pub engine: Option<pupitre_monitor::EngineHandle>,
    /// The key that seals stored credentials; without it they cannot be saved.
    pub vault: Option<Arc<pupitre_store::vault::Vault>>,
    /// The metric history's writer, when this server records samples.
    pub history: Option<Arc<pupitre_monitor::history::History>>,
    /// The agents' polls waiting on this server.
    pub agents: Arc<crate::ops::agents::AgentHub>,
    /// Wakes this server's incident correlator.
    pub incidents: Arc<crate::ops::incidents::IncidentHub>,
}

/// One async lock per key, created on demand and dropped when nobody holds or waits for it.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while the key is locked; releases (and forgets an idle key) when dropped.
pub struct KeyedGuard<'a> {
    owner: &'a KeyedLocks,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: &str) -> KeyedGuard<'_> {
        let lock = match self.locks.lock() {
            Ok(mut map) => map.entry(key.to_owned()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        let guard = lock.lock_owned().await;
        KeyedGuard {
            owner: self,
            key: key.to_owned(),
            guard: Some(guard),
        }
    }
}

impl Drop for KeyedGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        if let Ok(mut map) = self.owner.locks.lock()
            && map
                .get(&self.key)
                .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}

/// The entity tree as `(id, parent)` pairs.
pub type Tree = Vec<(EntityId, Option<EntityId>)>;

/// How long another server's change to the entity tree may take to be seen here. Changes made
/// through this process are seen at once. Grants themselves are never cached.
const TREE_TTL: Duration = Duration::from_secs(5);

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: WebConfig) -> AppState {
        AppState {
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            tree: Arc::new(RwLock::new(None)),
            login_locks: Arc::new(KeyedLocks::default()),
            import_jobs: Arc::default(),
            engine: None,
            vault: None,
            history: None,
            agents: Arc::default(),
            incidents: Arc::default(),
        }
    }

    /// The same state, with the key that seals stored credentials.
    pub fn with_vault(mut self, vault: Arc<pupitre_store::vault::Vault>) -> AppState {
        self.vault = Some(vault);
        self
    }

    /// The same state, with the supervision engine that runs the checks.
    pub fn with_engine(mut self, engine: pupitre_monitor::EngineHandle) -> AppState {
        self.engine = Some(engine);
        self
    }

    /// The same state, its agents' polls woken through `waker` (the engine's, so that plugin
    /// checks reach agents at once).
    pub fn with_agent_waker(
        mut self,
        waker: Arc<pupitre_monitor::agent_check::AgentWaker>,
    ) -> AppState {
        self.agents = Arc::new(crate::ops::agents::AgentHub::new(waker));
        self
    }

    /// The same state, with the metric history's writer.
    pub fn with_history(mut self, history: Arc<pupitre_monitor::history::History>) -> AppState {
        self.history = Some(history);
        self
    }

    /// Tells the engine that checks, acknowledgements or downtimes changed, and waits until
    /// it has read them, so that the next request sees them applied.
    pub async fn engine_changed(&self, changed: pupitre_monitor::Changed<'_>) {
        if let Some(engine) = &self.engine {
            engine.changed(changed).await;
        }
    }

    /// The entity tree, read from the database at most every few seconds.
    pub async fn entity_tree(&self) -> Result<Tree, pupitre_store::StoreError> {
        if let Ok(guard) = self.tree.read()
            && let Some((at, tree)) = guard.as_ref()
            && at.elapsed() < TREE_TTL
        {
            return Ok(tree.clone());
        }
        let tree: Tree = self
            .store
            .list_entities()
            .await?
            .iter()
            .map(|e| (e.id, e.parent_id))
            .collect();
        if let Ok(mut guard) = self.tree.write() {
            *guard = Some((Instant::now(), tree.clone()));
        }
        Ok(tree)
    }

    /// Forgets the cached tree after this process changed it.
    pub fn entity_tree_changed(&self) {
        if let Ok(mut guard) = self.tree.write() {
            *guard = None;
        }
    }
}

/// Milliseconds since the Unix epoch: the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
