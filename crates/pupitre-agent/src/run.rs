//! The running agent: it enrols once, then collects on its interval into the disk buffer, sends
//! the buffer oldest first, and long-polls the server for its configuration, a rotated
//! credential and commands. Every loop survives the server's absence: failures are retried
//! with exponential backoff and jitter, and the buffer keeps what could not be sent.
//!
//! Everything runs on one thread (a current-thread runtime), to keep the agent small.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::buffer::{DiskBuffer, gzip_json, write_atomically};
use crate::collect::{self, Metric};
use crate::exec::Runner;
use crate::logwatch::LogWatch;
use crate::now_ms;
use crate::wire::{
    AgentConfig, Batch, BatchReply, EnrolReply, EnrolRequest, Hello, LogPattern, PollReply,
    PollRequest, ProgressReply, SENT_AT_HEADER, Sample,
};

/// How the agent was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server's base URL (`https://pupitre.example.org`).
    pub server: String,
    /// Where the agent keeps its credential, configuration and buffer.
    pub state_dir: PathBuf,
    /// A one-time enrolment token, used only when the agent has no credential yet.
    pub token: Option<String>,
    /// Trust only this CA (PEM) for the server's certificate; else the system's store.
    pub ca_file: Option<PathBuf>,
    /// An HTTP proxy for every request; else `HTTPS_PROXY`/`HTTP_PROXY` apply.
    pub proxy: Option<String>,
    /// What the agent reports as its host name and machine id; else the host's.
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    /// The longest the poll waits on the server (seconds).
    pub poll_wait_s: u64,
    /// The allowlist of plugins the server may run here (NRPE's `command[name]=…` lines).
    pub plugins: PathBuf,
    /// A program that writes the inventory to its standard output when run with
    /// [`crate::inventory::HELPER_ARG`], the device id and the host name: the agent's own
    /// binary. Reading the package database takes about 1.5 MiB of heap for a moment; in a
    /// process of its own that memory goes back to the system instead of staying in the
    /// agent's heap for good. `None` builds the inventory in this process.
    pub inventory_helper: Option<PathBuf>,
}

impl Options {
    pub fn new(server: &str, state_dir: &Path) -> Options {
        Options {
            server: server.trim_end_matches('/').to_owned(),
            state_dir: state_dir.to_owned(),
            token: None,
            ca_file: None,
            proxy: None,
            hostname: None,
            machine_id: None,
            poll_wait_s: 25,
            plugins: PathBuf::from("/etc/pupitre/agent-plugins.cfg"),
            inventory_helper: None,
        }
    }
}

/// What the agent keeps between runs: who it is to the server.
#[derive(Clone, Serialize, Deserialize)]
struct Identity {
    server: String,
    agent_id: i64,
    credential: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("server", &self.server)
            .field("agent_id", &self.agent_id)
            .field("credential", &"<redacted>")
            .finish()
    }
}

/// The configuration last received, kept so a restart without the server collects as told.
#[derive(Clone, Default, Serialize, Deserialize)]
struct SavedConfig {
    version: i64,
    config: AgentConfig,
}

/// Why a request did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The server could not be reached, or answered 5xx or 429: try again later.
    Unreachable(String),
    /// The credential is refused (401): revoked, or forged.
    Unauthorized(String),
    /// The agent waits for an administrator's approval (403 `pending`).
    Pending,
    /// The request itself is refused (another 4xx), with the server's reason.
    Refused(u16, String),
}

impl Failure {
    /// How long to wait before trying again: the backoff while the server is away, longer
    /// for a refusal that only an administrator can lift.
    fn wait(&self, backoff: &mut Backoff) -> Duration {
        match self {
            Failure::Unreachable(_) => backoff.next_wait(),
            Failure::Pending => Duration::from_secs(15),
            Failure::Refused(..) => Duration::from_secs(30),
            Failure::Unauthorized(_) => Duration::from_secs(60),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(e) => write!(f, "server unreachable: {e}"),
            Failure::Unauthorized(e) => write!(f, "credential refused: {e}"),
            Failure::Pending => write!(f, "waiting for an administrator's approval"),
            Failure::Refused(status, reason) => write!(f, "refused ({status}): {reason}"),
        }
    }
}

/// Exponential backoff with full jitter, from `min` doubling up to `max`.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            current: min,
        }
    }

    /// The next wait: a random time between half the current step and the step, which then
    /// doubles.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = step / 2;
        half + step.mul_f64(rand::random::<f64>() / 2.0)
    }

    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

/// The running agent's shared parts.
struct Agent {
    http: reqwest::Client,
    server: String,
    state_dir: PathBuf,
    hello: Hello,
    identity: Mutex<Identity>,
    buffer: Mutex<DiskBuffer>,
    config: watch::Sender<SavedConfig>,
    wake_sender: Notify,
    poll_wait_s: u64,
    runner: Arc<Runner>,
    inventory_helper: Option<PathBuf>,
}

/// Runs the agent until `shutdown` completes. Fails only when it cannot start: no usable
/// state directory, an enrolment refused, a bad option.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    std::fs::create_dir_all(&options.state_dir)
        .map_err(|e| format!("state directory {}: {e}", options.state_dir.display()))?;
    let http = client(&options)?;
    let hello = hello(&options);
    let identity = match load_identity(&options.state_dir, &options.server)? {
        Some(identity) => identity,
        None => enrol(&http, &options, &hello).await?,
    };
    tracing::info!(agent = identity.agent_id, server = %options.server, "agent started");
    let saved: SavedConfig = std::fs::read(options.state_dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let buffer = DiskBuffer::open(
        &options.state_dir.join("buffer"),
        saved.config.buffer_max_bytes,
    )
    .map_err(|e| format!("buffer: {e}"))?;
    let runner = Runner::open(&options.state_dir.join("commands"), &options.plugins)
        .map_err(|e| format!("commands: {e}"))?;
    let agent = Arc::new(Agent {
        http,
        server: options.server.clone(),
        state_dir: options.state_dir.clone(),
        hello,
        identity: Mutex::new(identity),
        buffer: Mutex::new(buffer),
        config: watch::Sender::new(saved),
        wake_sender: Notify::new(),
        poll_wait_s: options.poll_wait_s.min(crate::wire::MAX_POLL_WAIT_S),
        runner: Arc::new(runner),
        inventory_helper: options.inventory_helper.clone(),
    });
    tokio::select! {
        () = collect_loop(agent.clone()) => {}
        () = send_loop(agent.clone()) => {}
        () = poll_loop(agent.clone()) => {}
        () = inventory_loop(agent.clone()) => {}
        () = report_loop(agent.clone()) => {}
        () = shutdown => {}
    }
    tracing::info!("agent stopped");
    Ok(())
}

fn client(options: &Options) -> Result<reqwest::Client, String> {
    let roots = trusted_roots(options.ca_file.as_deref())?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(
            options.poll_wait_s.min(crate::wire::MAX_POLL_WAIT_S) + 30,
        ))
        .user_agent(concat!("pupitre-agent/", env!("CARGO_PKG_VERSION")));
    if let Some(proxy) = &options.proxy {
        builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(|e| format!("--proxy: {e}"))?);
    }
    builder.build().map_err(|e| e.to_string())
}

/// The CAs the agent trusts: only `pinned` when given; else the system's bundle, else the
/// Mozilla roots built in.
fn trusted_roots(pinned: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let load = |path: &Path, roots: &mut rustls::RootCertStore| -> Result<usize, String> {
        let mut added = 0;
        for certificate in
            CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?
        {
            let certificate = certificate.map_err(|e| format!("{}: {e}", path.display()))?;
            if roots.add(certificate).is_ok() {
                added += 1;
            }
        }
        Ok(added)
    };
    if let Some(path) = pinned {
        if load(path, &mut roots)? == 0 {
            return Err(format!(
                "--ca-file {}: holds no certificate",
                path.display()
            ));
        }
        return Ok(roots);
    }
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        );
    for path in system {
        if path.is_file() && load(&path, &mut roots).unwrap_or(0) > 0 {
            return Ok(roots);
        }
    }
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(roots)
}

fn hello(options: &Options) -> Hello {
    let hostname = options.hostname.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_owned())
    });
    let machine_id = options.machine_id.clone().unwrap_or_else(|| {
        ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| hostname.clone())
    });
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    Hello {
        hostname,
        machine_id,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        os,
        arch: std::env::consts::ARCH.to_owned(),
    }
}

fn load_identity(dir: &Path, server: &str) -> Result<Option<Identity>, String> {
    let path = dir.join("agent.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let identity: Identity =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if identity.server != server {
        return Err(format!(
            "{} belongs to the server {}, not {server}: remove it to enrol anew",
            path.display(),
            identity.server
        ));
    }
    Ok(Some(identity))
}

/// Saves the identity readable by the agent's user only.
fn save_identity(dir: &Path, identity: &Identity) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("agent.json");
    let tmp = dir.join("agent.json.tmp");
    let body = serde_json::to_vec_pretty(identity).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

async fn enrol(
    http: &reqwest::Client,
    options: &Options,
    hello: &Hello,
) -> Result<Identity, String> {
    let request = EnrolRequest {
        token: options.token.clone(),
        hello: hello.clone(),
    };
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let sent = http
            .post(format!("{}/api/v1/agent/enrol", options.server))
            .json(&request)
            .send()
            .await;
        match answer::<EnrolReply>(sent).await {
            Ok(reply) => {
                let identity = Identity {
                    server: options.server.clone(),
                    agent_id: reply.agent_id,
                    credential: reply.credential,
                };
                save_identity(&options.state_dir, &identity)?;
                tracing::info!(agent = reply.agent_id, status = %reply.status, "enrolled");
                return Ok(identity);
            }
            Err(Failure::Unreachable(e)) => {
                let wait = backoff.next_wait();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "enrolment failed");
                tokio::time::sleep(wait).await;
            }
            Err(other) => return Err(format!("enrolment: {other}")),
        }
    }
}

/// Reads a reply: the JSON body on success, else what went wrong.
async fn answer<T: for<'de> Deserialize<'de>>(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, Failure> {
    let response = sent.map_err(|e| Failure::Unreachable(error_chain(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::Unreachable(error_chain(&e)))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| Failure::Refused(status.as_u16(), format!("unreadable reply: {e}")));
    }
    // The server's error envelope: {"error": {"code", "message", "field"}}.
    let envelope = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let text = |key: &str| envelope.pointer(key).and_then(|v| v.as_str());
    let reason = text("/error/message")
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
    let code = text("/error/code");
    Err(match status.as_u16() {
        401 => Failure::Unauthorized(reason),
        403 if code == Some("pending") => Failure::Pending,
        429 | 500..=599 => Failure::Unreachable(format!("{status}: {reason}")),
        other => Failure::Refused(other, reason),
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Agent {
    fn credential(&self) -> String {
        self.identity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .credential
            .clone()
    }

    fn request(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/v1/agent/{path}", self.server))
            .bearer_auth(self.credential())
            .header(SENT_AT_HEADER, now_ms().to_string())
    }
}

/// One round of collection every interval, into the buffer.
async fn collect_loop(agent: Arc<Agent>) {
    let mut config = agent.config.subscribe();
    let mut logs: Vec<(LogPattern, LogWatch)> = Vec::new();
    let mut systemd: (Option<Instant>, Vec<Metric>) = (None, Vec::new());
    loop {
        let current = config.borrow_and_update().config.clone();
        sync_log_watches(&mut logs, &current.logs);
        let started = tokio::time::Instant::now();
        let at = now_ms();
        let mut metrics = collect::host_with(&current.collectors, current.top_processes);
        if current.collectors.systemd {
            // systemctl costs a process: at most once a minute.
            if systemd
                .0
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
            {
                systemd = (Some(Instant::now()), collect::read_systemd());
            }
            metrics.extend(systemd.1.iter().cloned());
        }
        let mut samples: Vec<Sample> = metrics.into_iter().map(sample).collect();
        for (pattern, watch) in &mut logs {
            if let Err(e) = watch.poll() {
                tracing::debug!(log = %pattern.path, error = %e, "log file not read");
            }
            samples.push(Sample {
                name: "pupitre_log_matches_total".to_owned(),
                labels: [("log".to_owned(), pattern.name.clone())].into(),
                value: watch.matches() as f64,
                counter: true,
            });
        }
        {
            let mut buffer = agent.buffer.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = buffer.set_max_bytes(current.buffer_max_bytes) {
                tracing::warn!(error = %e, "buffer");
            }
            samples.push(Sample {
                name: "pupitre_agent_buffer_dropped_samples_total".to_owned(),
                labels: Default::default(),
                value: buffer.dropped() as f64,
                counter: true,
            });
            samples.push(Sample {
                name: "pupitre_agent_buffer_bytes".to_owned(),
                labels: Default::default(),
                value: buffer.bytes() as f64,
                counter: false,
            });
            let batch = Batch {
                seq: buffer.next_seq(),
                at,
                samples,
            };
            if let Err(e) = buffer.push(&batch) {
                tracing::error!(error = %e, "cannot write the buffer; this round is lost");
            }
        }
        agent.wake_sender.notify_one();
        let next = started + Duration::from_secs(current.interval_s);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            changed = config.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new interval applies from now.
            }
        }
    }
}

fn sample(m: Metric) -> Sample {
    Sample {
        name: m.name,
        labels: m.labels.into_iter().collect(),
        value: m.value,
        counter: m.counter,
    }
}

/// Keeps one watch per configured log, keeping the position of those that did not change.
fn sync_log_watches(watches: &mut Vec<(LogPattern, LogWatch)>, wanted: &[LogPattern]) {
    if watches.len() == wanted.len() && watches.iter().zip(wanted).all(|((a, _), b)| a == b) {
        return;
    }
    let mut old = std::mem::take(watches);
    for pattern in wanted {
        if let Some(i) = old.iter().position(|(p, _)| p == pattern) {
            watches.push(old.swap_remove(i));
            continue;
        }
        match LogWatch::new(Path::new(&pattern.path), &pattern.pattern) {
            Ok(watch) => watches.push((pattern.clone(), watch)),
            Err(e) => tracing::warn!(log = %pattern.name, error = %e, "log pattern refused"),
        }
    }
}

/// Sends the buffer, oldest round first, whenever there is one.
async fn send_loop(agent: Arc<Agent>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut failing = false;
    loop {
        let next = agent
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .oldest();
        let (seq, body) = match next {
            Ok(Some(round)) => round,
            Ok(None) => {
                agent.wake_sender.notified().await;
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the buffer");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let sent = agent
            .request("samples")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await;
        let wait = match answer::<BatchReply>(sent).await {
            Ok(reply) => {
                if failing {
                    tracing::info!("server reachable again; sending what was buffered");
                    failing = false;
                }
                if reply.clock_skew_ms.abs() > crate::wire::SKEW_TOLERANCE_MS {
                    tracing::warn!(
                        skew_ms = reply.clock_skew_ms,
                        "this host's clock differs from the server's"
                    );
                }
                backoff.reset();
                remove(&agent, seq);
                continue;
            }
            Err(Failure::Refused(status, reason)) => {
                tracing::warn!(seq, status, %reason, "round refused by the server, dropped");
                remove(&agent, seq);
                continue;
            }
            Err(failure) => {
                match &failure {
                    Failure::Unauthorized(reason) => tracing::error!(
                        %reason,
                        "the server refuses this agent's credential; buffering"
                    ),
                    Failure::Unreachable(e) if !failing => {
                        tracing::warn!(error = %e, "cannot send; buffering and retrying");
                        failing = true;
                    }
                    _ => {}
                }
                failure.wait(&mut backoff)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn remove(agent: &Agent, seq: i64) {
    let mut buffer = agent.buffer.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = buffer.remove(seq) {
        tracing::error!(error = %e, seq, "cannot remove a sent round from the buffer");
    }
}

/// Long-polls the server for configuration, credentials and commands.
async fn poll_loop(agent: Arc<Agent>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut hello_sent = false;
    let mut upgrade_told = false;
    loop {
        let request = PollRequest {
            config_version: agent.config.borrow().version,
            wait_s: agent.poll_wait_s,
            hello: (!hello_sent).then(|| agent.hello.clone()),
            running: agent.runner.running(),
        };
        let sent = agent.request("poll").json(&request).send().await;
        let wait = match answer::<PollReply>(sent).await {
            Ok(reply) => {
                hello_sent = true;
                backoff.reset();
                if let Some(credential) = reply.credential {
                    rotate(&agent, credential);
                }
                if let Some(config) = reply.config {
                    apply_config(&agent, reply.config_version, config);
                }
                for command in reply.commands {
                    if command.cancel {
                        agent.runner.cancel(command.id);
                    } else if !agent.runner.knows(command.id) {
                        let program = match command.spec.argv.first() {
                            Some(program) => program.as_str(),
                            None => command.spec.plugin.as_str(),
                        };
                        tracing::info!(id = command.id, %program, "command started");
                        agent.runner.start(command.id, command.spec);
                    }
                }
                if reply.upgrade_needed && !upgrade_told {
                    tracing::warn!("the server is newer than this agent: upgrade it");
                    upgrade_told = true;
                }
                continue;
            }
            Err(failure) => {
                if let Failure::Refused(status, reason) = &failure {
                    tracing::warn!(status, %reason, "poll refused");
                }
                failure.wait(&mut backoff)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Streams the commands' output and reports their ends, until the server has them.
async fn report_loop(agent: Arc<Agent>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let reports = agent.runner.reports();
        if reports.is_empty() {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), agent.runner.changed.notified()).await;
            continue;
        }
        let mut failed = false;
        for report in reports {
            let sent = agent.request("progress").json(&report).send().await;
            match answer::<ProgressReply>(sent).await {
                Ok(reply) => {
                    agent.runner.reported(&report, reply.accepted);
                    if reply.cancel {
                        agent.runner.cancel(report.id);
                    }
                }
                Err(Failure::Refused(status, reason)) => {
                    // The server will never take it (an unknown command): forget it.
                    tracing::warn!(id = report.id, status, %reason, "command report refused");
                    agent.runner.reported(&report, false);
                    let mut ended = report.clone();
                    ended.end.get_or_insert(crate::wire::End {
                        outcome: "failed".to_owned(),
                        exit_code: None,
                        message: reason,
                    });
                    agent.runner.reported(&ended, false);
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            tokio::time::sleep(backoff.next_wait()).await;
        } else {
            backoff.reset();
            // Output is streamed in pieces of a few hundred milliseconds.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Sends the host's inventory at start and once a day. A failed send is retried with backoff;
/// one the server refuses waits for the next day.
async fn inventory_loop(agent: Arc<Agent>) {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let device_id = crate::wire::device_id(&agent.hello.machine_id);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
    loop {
        let body = match inventory_body(
            agent.inventory_helper.as_deref(),
            &device_id,
            &agent.hello.hostname,
        )
        .await
        {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the inventory");
                tokio::time::sleep(DAY).await;
                continue;
            }
        };
        let sent = agent
            .request("inventory")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body)
            .send()
            .await;
        let wait = match answer::<serde_json::Value>(sent).await {
            Ok(reply) => {
                backoff.reset();
                tracing::info!(asset = %reply["asset_id"], software = %reply["software"], "inventory sent");
                DAY
            }
            Err(Failure::Refused(status, reason)) => {
                tracing::warn!(status, %reason, "inventory refused");
                DAY
            }
            Err(failure) => failure.wait(&mut backoff),
        };
        tokio::time::sleep(wait).await;
    }
}

/// The inventory, as JSON compressed with gzip: from `helper` when there is one, else built
/// here.
async fn inventory_body(
    helper: Option<&Path>,
    device_id: &str,
    hostname: &str,
) -> Result<Vec<u8>, String> {
    let Some(helper) = helper else {
        return gzip_json(&crate::inventory::host_inventory(device_id, hostname))
            .map_err(|e| e.to_string());
    };
    let output = tokio::process::Command::new(helper)
        .args([crate::inventory::HELPER_ARG, device_id, hostname])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", helper.display()))?;
    if !output.status.success() || output.stdout.is_empty() {
        return Err(format!(
            "{} {}: {}",
            helper.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

fn rotate(agent: &Agent, credential: String) {
    let mut identity = agent.identity.lock().unwrap_or_else(|e| e.into_inner());
    let rotated = Identity {
        credential,
        ..identity.clone()
    };
    // Saved before use: if the agent stops now, it restarts with the new credential, which
    // the server accepts alongside the old one until it is used.
    match save_identity(&agent.state_dir, &rotated) {
        Ok(()) => {
            *identity = rotated;
            tracing::info!("credential rotated");
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot save the rotated credential; keeping the old one")
        }
    }
}

fn apply_config(agent: &Agent, version: i64, config: AgentConfig) {
    if let Err(e) = config.validate() {
        tracing::warn!(field = %e.field, message = %e.message, "configuration refused");
        return;
    }
    let saved = SavedConfig { version, config };
    match serde_json::to_vec(&saved) {
        Ok(body) => {
            if let Err(e) = write_atomically(&agent.state_dir.join("config.json"), &body) {
                tracing::warn!(error = %e, "cannot save the configuration");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot save the configuration"),
    }
    tracing::info!(version, "configuration applied");
    agent.config.send_replace(saved);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_its_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let waits: Vec<Duration> = (0..6).map(|_| b.next_wait()).collect();
        for (wait, step) in waits.iter().zip([100u64, 200, 400, 800, 800, 800]) {
            assert!(
                *wait >= Duration::from_millis(step / 2) && *wait <= Duration::from_millis(step),
                "{wait:?} outside [{}, {step}] ms",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(100));
    }
}
