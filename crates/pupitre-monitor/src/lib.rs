//! Pupitre's supervision engine: it schedules every stored check, runs it through
//! `pupitre-probe`, applies the result to the check's state machine
//! (`pupitre_core::monitoring::status`) and writes states, outputs and events behind.
//!
//! - **The engine has a thread of its own** ("pupitre-engine") with a single-threaded tokio
//!   runtime: the schedule, every run and the result writer share it. Probes wait on the
//!   network far more than they compute, so one thread keeps up with thousands of checks a
//!   second, and it spares each run the hand-offs between the worker threads of a
//!   multi-threaded runtime (waking another worker, stealing the task, waking the engine
//!   back): a thread's wake-up costs more CPU than a TCP check's own system calls. Requests
//!   keep the server's runtime to themselves; they talk to the engine through
//!   [`EngineHandle`]'s channels.
//! - **It wakes once per tick** ([`EngineConfig::tick`], 20 ms) to start the checks due, not
//!   once per check.
//! - **One task owns the schedule** (a heap of due times) and every check's status, so no lock
//!   guards them and a check can never run twice at once: a check still running when it is
//!   due again skips that slot.
//! - **Runs are tasks** bounded by a global semaphore and one per target host, so a thousand
//!   checks of one switch do not all hit it at once.
//! - **Results are written in batches** by a writer task: one transaction per batch (a
//!   second's results), not per result; a result that "Check now" waits for is written at
//!   once, and answered once written. Acknowledgements and heartbeats are written by
//!   requests; a result never overwrites them.
//! - **The database is read again**, by a task of its own so that runs go on meanwhile: the
//!   checks this server changed ([`EngineHandle::reload_checks`]) or none
//!   ([`EngineHandle::reload_downtimes`]), each time with the downtimes and relations; or
//!   everything ([`EngineHandle::reload`], and every `reload_every`, so changes made by another
//!   server or by the command line take effect without a restart). One read at a time: what is
//!   asked meanwhile is read together next, so a read never applies data older than one
//!   applied before it.
//! - **It stops** when `shutdown` resolves or the last [`EngineHandle`] is dropped, after
//!   writing the results it holds; [`EngineHandle::stopped`] waits for that.
//!
//! The engine's figures (runs, failures and durations per probe kind, lag) are in [`Figures`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pupitre_core::inventory::{AssetId, GraphEdge};
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::{
    Check, CheckId, Downtime, EventKind, HostState, LastResult, behind_down_parents,
    reachability_parents,
};
use pupitre_core::monitoring::definition::ProbeSpec;
use pupitre_core::monitoring::schedule::{first_due, lag_ms, next_due};
use pupitre_core::monitoring::status::{CheckStatus, Context, Interval, Transition};
use pupitre_probe::outcome::Outcome;
use pupitre_probe::ping::{IcmpCapability, icmp_capability};
use pupitre_probe::plugin::PluginRunner;
use pupitre_store::monitoring::{CheckRecord, Heartbeat, NewEvent, ResultWrite};
use pupitre_store::vault::Vault;
use pupitre_store::{Store, StoreError};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};

pub use crate::figures::Figures;
pub use crate::sink::{MetricsSink, NullSink, ResultSample};

pub mod agent_check;
pub mod credentials;
pub mod figures;
pub mod history;
pub mod probes;
pub mod remote_write;
pub mod sink;

use crate::credentials::Credentials;
use crate::probes::{Probes, target_key};

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Runs in flight at once, all checks together.
    pub max_concurrent: usize,
    /// Runs in flight at once against one host.
    pub max_per_target: usize,
    /// Plugin processes at once (each is a fork).
    pub max_plugins: usize,
    /// How often the checks are read again from the database.
    pub reload_every: Duration,
    /// How long results wait to be written together (not those a "Check now" waits for).
    pub flush_every: Duration,
    /// The engine wakes at most once per tick to start the checks due: those due within one
    /// tick start together at its end (at most a tick late, which the lag figure counts).
    /// On the project's 2-core VM a thread's wake-up costs 0.04 to 0.09 ms of CPU, as much as
    /// a TCP check's own system calls (0.05 ms; the floor figures in `BENCHMARKS.md`).
    pub tick: Duration,
    /// The key that opens stored credentials; without it, checks that name one are UNKNOWN.
    pub vault: Option<Arc<Vault>>,
    /// Wakes agents' polls when a plugin check queues a command (shared with the web layer).
    pub agent_waker: Arc<agent_check::AgentWaker>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            max_concurrent: 512,
            max_per_target: 8,
            max_plugins: 32,
            reload_every: Duration::from_secs(30),
            flush_every: Duration::from_secs(1),
            tick: Duration::from_millis(20),
            vault: None,
            agent_waker: Arc::default(),
        }
    }
}

/// What a run found, for a caller of [`EngineHandle::run_now`].
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub state: State,
    pub hard: bool,
    pub output: String,
    pub duration_ms: i64,
}

/// What changed through this server, for the engine to read again.
#[derive(Clone, Copy, Debug)]
pub enum Changed<'a> {
    /// These checks were created, changed, deleted, acknowledged or unacknowledged.
    Checks(&'a [CheckId]),
    /// Downtimes were created or deleted.
    Downtimes,
    /// Anything else, or checks too many to name (templates): everything is read.
    Everything,
}

/// What the rest of the server asks of the engine, through an [`EngineHandle`].
enum Command {
    RunNow(CheckId, Option<oneshot::Sender<RunReport>>),
    Read(Read, Option<oneshot::Sender<()>>),
    Heartbeat(CheckId, Heartbeat),
}

/// What the engine's own tasks bring back. A channel apart from [`Command`], so that the
/// engine sees when the last handle is gone.
enum Internal {
    Loaded(Box<Loaded>),
    Done(Box<Done>),
}

/// What to read from the database. Every read takes the downtimes and relations too.
#[derive(Debug, Default)]
struct Read {
    everything: bool,
    checks: HashSet<CheckId>,
    /// Downtimes (and relations) even if no check is named.
    downtimes: bool,
}

impl Read {
    fn everything() -> Read {
        Read {
            everything: true,
            ..Read::default()
        }
    }

    fn is_empty(&self) -> bool {
        !self.everything && !self.downtimes && self.checks.is_empty()
    }

    fn add(&mut self, other: Read) {
        self.everything |= other.everything;
        self.downtimes |= other.downtimes;
        self.checks.extend(other.checks);
    }
}

/// What a read found (`None`: that part was not read).
struct Loaded {
    /// The checks asked for (every check when `everything`); those not in `checks` are gone.
    asked: Vec<CheckId>,
    everything: bool,
    checks: Vec<CheckRecord>,
    downtimes: Option<Vec<Downtime>>,
    edges: Option<Vec<GraphEdge>>,
}

/// Reads what `read` names, at `now`.
async fn load(store: &dyn Store, read: &Read) -> Result<Loaded, StoreError> {
    let now = now_ms();
    if read.everything {
        let (checks, downtimes, edges) = tokio::try_join!(
            store.all_checks(),
            store.current_downtimes(now),
            store.dependency_edges(),
        )?;
        return Ok(Loaded {
            asked: Vec::new(),
            everything: true,
            checks,
            downtimes: Some(downtimes),
            edges: Some(edges),
        });
    }
    // Downtimes and relations come with every read: two short queries, and relations change
    // in the inventory, which does not tell the engine.
    let mut asked: Vec<CheckId> = read.checks.iter().copied().collect();
    asked.sort_unstable();
    let checks = async {
        if asked.is_empty() {
            Ok(Vec::new())
        } else {
            store.get_checks(&asked).await
        }
    };
    let (checks, downtimes, edges) = tokio::try_join!(
        checks,
        store.current_downtimes(now),
        store.dependency_edges(),
    )?;
    Ok(Loaded {
        asked,
        everything: false,
        checks,
        downtimes: Some(downtimes),
        edges: Some(edges),
    })
}

/// The engine's reads: the one in flight and what was asked since it started.
#[derive(Default)]
struct Reads {
    in_flight: bool,
    /// Answered when the read in flight is applied.
    in_flight_waiters: Vec<oneshot::Sender<()>>,
    next: Read,
    next_waiters: Vec<oneshot::Sender<()>>,
}

struct Done {
    id: CheckId,
    seq: u64,
    started: i64,
    duration_ms: i64,
    outcome: Option<Outcome>,
}

/// The way the rest of the server talks to the engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
    figures: Arc<Figures>,
    probes: Arc<Probes>,
    stopped: watch::Receiver<bool>,
}

impl EngineHandle {
    /// A stored credential was created, changed or deleted: checks use the new ones from
    /// their next run.
    pub fn credentials_changed(&self) {
        self.probes.credentials.changed();
    }

    /// Runs the check as soon as a slot is free and waits for the result (at most `wait`).
    /// `None` when the engine does not know the check or the wait ran out.
    pub async fn run_now(&self, id: CheckId, wait: Duration) -> Option<RunReport> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::RunNow(id, Some(tx))).ok()?;
        tokio::time::timeout(wait, rx).await.ok()?.ok()
    }

    /// Reads every check, downtime and relation again from the database and waits until the
    /// engine has them.
    pub async fn reload(&self) {
        self.read(Read::everything()).await;
    }

    /// Reads these checks again (a deleted one is dropped), the downtimes and the relations,
    /// and waits until the engine has them. Other checks are left as they are until the next
    /// full read.
    pub async fn reload_checks(&self, ids: &[CheckId]) {
        self.read(Read {
            checks: ids.iter().copied().collect(),
            ..Read::default()
        })
        .await;
    }

    /// Reads the downtimes and relations again and waits until the engine has them.
    pub async fn reload_downtimes(&self) {
        self.read(Read {
            downtimes: true,
            ..Read::default()
        })
        .await;
    }

    /// Reads what `changed` names again, and waits until the engine has it.
    pub async fn changed(&self, changed: Changed<'_>) {
        match changed {
            Changed::Checks(ids) => self.reload_checks(ids).await,
            Changed::Downtimes => self.reload_downtimes().await,
            Changed::Everything => self.reload().await,
        }
    }

    async fn read(&self, read: Read) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Read(read, Some(tx))).is_ok() {
            let _ = rx.await;
        }
    }

    /// A heartbeat arrived for `id`: evaluate the check now.
    pub fn heartbeat(&self, id: CheckId, beat: Heartbeat) {
        let _ = self.commands.send(Command::Heartbeat(id, beat));
    }

    pub fn figures(&self) -> &Figures {
        &self.figures
    }

    /// Waits until the engine has stopped (its `shutdown` resolved) and written the results
    /// it held.
    pub async fn stopped(&self) {
        let mut stopped = self.stopped.clone();
        // An error is the engine's thread gone without a word: stopped all the same.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }
}

/// Says "stopped" when dropped: at the end of the engine's thread, even by a panic.
struct StoppedOnDrop(watch::Sender<bool>);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

struct Entry {
    /// What a run reads, shared with the run's task: made again when the check or its asset
    /// changes, not copied for every run.
    spec: Arc<RunSpec>,
    status: CheckStatus,
    heartbeat: Option<Heartbeat>,
    due: i64,
    /// Bumped whenever `due` changes, so stale heap items are skipped.
    seq: u64,
    running: bool,
    waiters: Vec<oneshot::Sender<RunReport>>,
}

/// What a run needs of its check.
struct RunSpec {
    check: Check,
    asset_name: String,
    asset_address: String,
}

impl Entry {
    fn new(record: CheckRecord, due: i64) -> Entry {
        Entry {
            spec: Arc::new(RunSpec {
                check: record.check,
                asset_name: record.asset_name,
                asset_address: record.asset_address,
            }),
            status: record.status,
            heartbeat: record.heartbeat,
            due,
            seq: 0,
            running: false,
            waiters: Vec::new(),
        }
    }
}

/// Starts the engine on a thread of its own; it stops when `shutdown` resolves or the last
/// handle is dropped. Logs, once, whether ICMP is permitted and how to permit it. Fails only
/// when the thread or its runtime cannot be made.
pub fn start(
    store: Arc<dyn Store>,
    config: EngineConfig,
    sink: Arc<dyn MetricsSink>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<EngineHandle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let icmp = icmp_capability();
    if let IcmpCapability::None { diagnostic } = &icmp {
        tracing::warn!("{diagnostic} Until then, ping checks test TCP reachability instead.");
    }
    let mut probes = Probes::new(
        PluginRunner::new(config.max_plugins),
        icmp,
        Credentials::new(store.clone(), config.vault.clone()),
        store.clone(),
    );
    probes.agent_waker = config.agent_waker.clone();
    let probes = Arc::new(probes);
    let (commands, receiver) = mpsc::unbounded_channel();
    let (internal, internal_rx) = mpsc::unbounded_channel();
    let figures = Arc::new(Figures::default());
    let (results, results_rx) = mpsc::channel(10_000);
    let urgent = Arc::new(Notify::new());
    let writer = write_results(
        store.clone(),
        results_rx,
        config.flush_every,
        urgent.clone(),
        figures.clone(),
    );
    let engine = Engine {
        store,
        global: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
        per_target: HashMap::new(),
        config,
        probes: probes.clone(),
        sink,
        figures: figures.clone(),
        internal,
        results,
        urgent,
        entries: HashMap::new(),
        queue: BinaryHeap::new(),
        seq: 0,
        downtimes: Vec::new(),
        parents: HashMap::new(),
        blocking_hosts: HashSet::new(),
        behind: HashSet::new(),
        reads: Reads::default(),
    };
    let (stopped, stopped_rx) = watch::channel(false);
    std::thread::Builder::new()
        .name("pupitre-engine".to_owned())
        .spawn(move || {
            let _stopped = StoppedOnDrop(stopped);
            runtime.block_on(async move {
                let writer = tokio::spawn(writer);
                engine.run(receiver, internal_rx, shutdown).await;
                // The engine and its sender are gone: the writer writes what it holds and ends.
                let _ = writer.await;
            });
        })?;
    Ok(EngineHandle {
        commands,
        figures,
        probes,
        stopped: stopped_rx,
    })
}

struct Engine {
    store: Arc<dyn Store>,
    config: EngineConfig,
    probes: Arc<Probes>,
    sink: Arc<dyn MetricsSink>,
    figures: Arc<Figures>,
    global: Arc<Semaphore>,
    per_target: HashMap<String, Arc<Semaphore>>,
    internal: mpsc::UnboundedSender<Internal>,
    results: mpsc::Sender<Pending>,
    /// Wakes the writer for a result someone waits for.
    urgent: Arc<Notify>,
    entries: HashMap<CheckId, Entry>,
    queue: BinaryHeap<Reverse<(i64, CheckId, u64)>>,
    seq: u64,
    downtimes: Vec<Downtime>,
    /// Reachability parents of each asset, from the inventory's relations.
    parents: HashMap<AssetId, Vec<AssetId>>,
    /// Assets whose host check is hard DOWN or UNREACHABLE.
    blocking_hosts: HashSet<AssetId>,
    /// Assets behind a blocking host.
    behind: HashSet<AssetId>,
    reads: Reads,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Engine {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        // The first read happens before any command is taken, so that a request never finds
        // the engine without its checks.
        match load(&*self.store, &Read::everything()).await {
            Ok(loaded) => self.apply(loaded),
            Err(e) => tracing::error!(error = %e, "supervision: reading the checks failed"),
        }
        let mut reload = tokio::time::interval(self.config.reload_every);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reload.reset();
        tokio::pin!(shutdown);
        // One timer, moved only when the next wake-up moves: not a new one for every message.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<i64> = None;
        let tick = i64::try_from(self.config.tick.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        loop {
            let wake = self
                .queue
                .peek()
                .map(|Reverse((due, _, _))| due.saturating_add(tick - 1) / tick * tick);
            if wake != armed {
                if let Some(wake) = wake {
                    let wait = u64::try_from(wake - now_ms()).unwrap_or(0);
                    timer
                        .as_mut()
                        .reset(tokio::time::Instant::now() + Duration::from_millis(wait));
                }
                armed = wake;
            }
            tokio::select! {
                () = &mut shutdown => break,
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break, // no handle left
                },
                // The engine holds a sender: never `None`.
                Some(back) = internal.recv() => self.take_back(back),
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.dispatch_due();
                }
                _ = reload.tick() => self.ask(Read::everything(), None),
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::RunNow(id, waiter) => {
                if let Some(entry) = self.entries.get_mut(&id) {
                    if let Some(waiter) = waiter {
                        entry.waiters.push(waiter);
                    }
                    if !entry.running {
                        self.start_run(id, now_ms());
                    }
                }
            }
            Command::Read(read, done) => self.ask(read, done),
            Command::Heartbeat(id, beat) => {
                if let Some(entry) = self.entries.get_mut(&id) {
                    entry.heartbeat = Some(beat);
                    if !entry.running {
                        self.start_run(id, now_ms());
                    }
                }
            }
        }
    }

    fn take_back(&mut self, back: Internal) {
        match back {
            Internal::Loaded(loaded) => {
                self.apply(*loaded);
                self.reads.in_flight = false;
                for done in std::mem::take(&mut self.reads.in_flight_waiters) {
                    let _ = done.send(());
                }
                self.start_read();
            }
            Internal::Done(done) => self.finish(*done),
        }
    }

    fn schedule(&mut self, id: CheckId, due: i64) {
        self.seq += 1;
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.due = due;
            entry.seq = self.seq;
            self.queue.push(Reverse((due, id, self.seq)));
        }
    }

    fn dispatch_due(&mut self) {
        let now = now_ms();
        while let Some(Reverse((due, id, seq))) = self.queue.peek().copied() {
            if due > now {
                break;
            }
            self.queue.pop();
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            if entry.seq != seq {
                continue;
            }
            // A running check has no live slot (`start_run` made them stale), so it is never
            // started twice; the slots its run outlasted are counted in `finish`.
            self.start_run(id, due);
        }
    }

    /// Spawns a run of `id`, due at `due` (for the lag). A heartbeat check is judged at once.
    fn start_run(&mut self, id: CheckId, due: i64) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.running = true;
        self.seq += 1;
        entry.seq = self.seq; // any queued slot of this check is now stale
        let seq = self.seq;
        let spec = entry.spec.clone();
        if let ProbeSpec::Heartbeat { grace_s } = spec.check.definition.probe {
            let started = now_ms();
            self.figures.record_lag(lag_ms(due, started));
            let outcome =
                heartbeat_outcome(&spec.check, entry.heartbeat.as_ref(), grace_s, started);
            if let Some(outcome) = &outcome {
                self.figures.record_run(
                    spec.check.definition.probe.kind(),
                    outcome.state == State::Unknown,
                    0,
                );
            }
            self.finish(Done {
                id,
                seq,
                started,
                duration_ms: 0,
                outcome,
            });
            return;
        }
        let target = target_key(&spec.check, &spec.asset_address).map(|key| {
            let limit = self.config.max_per_target.max(1);
            self.per_target
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(limit)))
                .clone()
        });
        let global = self.global.clone();
        let probes = self.probes.clone();
        let figures = self.figures.clone();
        let internal = self.internal.clone();
        tokio::spawn(async move {
            // The host's slot first: runs queued behind one busy host must not hold global
            // slots that other hosts' checks could use.
            let _target = match target {
                Some(t) => t.acquire_owned().await.ok(),
                None => None,
            };
            let _global = global.acquire_owned().await;
            figures.running.fetch_add(1, Ordering::Relaxed);
            let started = now_ms();
            figures.record_lag(lag_ms(due, started));
            let clock = Instant::now();
            let outcome = probes
                .run(&spec.check, &spec.asset_name, &spec.asset_address)
                .await;
            let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
            figures.running.fetch_sub(1, Ordering::Relaxed);
            figures.record_run(
                spec.check.definition.probe.kind(),
                outcome.state == State::Unknown,
                u64::try_from(duration_ms).unwrap_or(0),
            );
            let _ = internal.send(Internal::Done(Box::new(Done {
                id,
                seq,
                started,
                duration_ms,
                outcome: Some(outcome),
            })));
        });
    }

    fn finish(&mut self, done: Done) {
        let now = now_ms();
        let Some(entry) = self.entries.get_mut(&done.id) else {
            return; // deleted while it ran
        };
        entry.running = false;
        let waiters = std::mem::take(&mut entry.waiters);
        let spec = entry.spec.clone();
        let check = &spec.check;
        let definition = &check.definition;
        let Some(outcome) = done.outcome else {
            // A heartbeat still waiting for its first call: no result, try again later.
            let due = next_due(done.started, definition.interval_ms(Interval::Normal), now);
            if entry.seq == done.seq {
                self.schedule(done.id, due);
            }
            return;
        };
        let ctx = Context {
            in_downtime: self
                .downtimes
                .iter()
                .any(|d| d.applies_to(check.id, check.asset_id) && d.covers(done.started)),
            parent_down: self.behind.contains(&check.asset_id),
        };
        let status = &mut entry.status;
        let previous_state = (!status.is_pending()).then_some(status.state);
        let transition = status.apply(outcome.state, done.started, &ctx);
        let last = LastResult {
            at: done.started,
            duration_ms: done.duration_ms,
            output: outcome.summary.clone(),
            long_output: outcome.long_output.clone(),
            perfdata: outcome.perfdata_text(),
        };
        let events = events_of(&transition, previous_state, &outcome, done.started);
        let write = ResultWrite {
            check_id: done.id,
            status: status.clone(),
            last,
            acknowledgement_removed: transition.acknowledgement_removed,
            events,
        };
        if !outcome.perfdata.is_empty() {
            self.sink.record(&ResultSample {
                check_id: done.id,
                asset_id: check.asset_id,
                at: done.started,
                perfdata: outcome.perfdata.clone(),
            });
        }
        let report = (!waiters.is_empty()).then(|| RunReport {
            state: outcome.state,
            hard: transition.hard,
            output: outcome.summary.clone(),
            duration_ms: done.duration_ms,
        });
        let host_check = check.host_check.then_some(check.asset_id);
        let blocks = HostState::blocks_children(status);
        let interval = definition.interval_ms(transition.next_interval);
        let awaited = report.is_some();
        let pending = Pending {
            write,
            waiters: report.map(|report| (report, waiters)),
        };
        match self.results.try_send(pending) {
            Ok(()) if awaited => self.urgent.notify_one(),
            Ok(()) => {}
            Err(
                mpsc::error::TrySendError::Full(pending)
                | mpsc::error::TrySendError::Closed(pending),
            ) => {
                self.figures.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("check results are written more slowly than they come; one dropped");
                answer(pending.waiters);
            }
        }
        let due = next_due(done.started, interval, now);
        // Slots that passed while this run went on (or waited for a slot) were skipped.
        let skipped = (due - done.started) / interval.max(1) - 1;
        if skipped > 0 {
            self.figures
                .skipped_overlap
                .fetch_add(u64::try_from(skipped).unwrap_or(0), Ordering::Relaxed);
        }
        self.schedule(done.id, due);
        if let Some(asset) = host_check {
            let changed = if blocks {
                self.blocking_hosts.insert(asset)
            } else {
                self.blocking_hosts.remove(&asset)
            };
            if changed {
                self.behind = behind_down_parents(&self.parents, &self.blocking_hosts);
            }
        }
    }

    /// Asks for a read; `done` is answered once a read that started after this call is
    /// applied.
    fn ask(&mut self, read: Read, done: Option<oneshot::Sender<()>>) {
        self.reads.next.add(read);
        self.reads.next_waiters.extend(done);
        self.start_read();
    }

    /// Starts the next read in a task of its own, unless one is in flight; it comes back as
    /// [`Command::Loaded`].
    fn start_read(&mut self) {
        if self.reads.in_flight || self.reads.next.is_empty() {
            return;
        }
        let mut read = std::mem::take(&mut self.reads.next);
        if read.everything {
            read.checks.clear();
            read.downtimes = false;
        }
        self.reads.in_flight = true;
        self.reads.in_flight_waiters = std::mem::take(&mut self.reads.next_waiters);
        let store = self.store.clone();
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let loaded = match load(&*store, &read).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    tracing::error!(error = %e, "supervision: reading the checks failed");
                    // Nothing to apply; the waiters are answered all the same.
                    Loaded {
                        asked: Vec::new(),
                        everything: false,
                        checks: Vec::new(),
                        downtimes: None,
                        edges: None,
                    }
                }
            };
            let _ = internal.send(Internal::Loaded(Box::new(loaded)));
        });
    }

    /// Applies what a read found. Statuses stay those in memory (the engine wrote them);
    /// acknowledgements and heartbeats come from the database. A full read drops the checks it
    /// did not find; a read of some checks drops those of them it did not find.
    fn apply(&mut self, loaded: Loaded) {
        let now = now_ms();
        if let Some(downtimes) = loaded.downtimes {
            self.downtimes = downtimes;
        }
        if let Some(edges) = &loaded.edges {
            self.parents = reachability_parents(edges);
        }
        let mut hosts_changed = loaded.edges.is_some();
        let mut seen = HashSet::with_capacity(loaded.checks.len());
        let mut to_schedule = Vec::new();
        for record in loaded.checks {
            seen.insert(record.check.id);
            hosts_changed |= record.check.host_check;
            if let Some(due) = self.upsert(record, now) {
                to_schedule.push(due);
            }
        }
        if loaded.everything {
            self.entries.retain(|id, _| seen.contains(id));
            self.probes.retain(|id| seen.contains(&id));
        } else {
            for id in loaded.asked.iter().filter(|id| !seen.contains(id)) {
                if let Some(gone) = self.entries.remove(id) {
                    hosts_changed |= gone.spec.check.host_check;
                }
            }
        }
        for (id, due) in to_schedule {
            self.schedule(id, due);
        }
        if self.queue.len() > 4 * self.entries.len() + 1024 {
            let live: Vec<_> = self
                .entries
                .iter()
                .filter(|(_, e)| !e.running)
                .map(|(id, e)| Reverse((e.due, *id, e.seq)))
                .collect();
            self.queue = live.into();
        }
        if hosts_changed {
            self.blocking_hosts = self
                .entries
                .values()
                .filter(|e| e.spec.check.host_check && HostState::blocks_children(&e.status))
                .map(|e| e.spec.check.asset_id)
                .collect();
            self.behind = behind_down_parents(&self.parents, &self.blocking_hosts);
        }
        if loaded.everything {
            self.per_target
                .retain(|_, s| s.available_permits() < self.config.max_per_target.max(1));
        }
        self.figures.checks.store(
            i64::try_from(self.entries.len()).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Takes a check as read from the database; returns its first slot when it is new or its
    /// interval changed.
    fn upsert(&mut self, record: CheckRecord, now: i64) -> Option<(CheckId, i64)> {
        let id = record.check.id;
        let Some(entry) = self.entries.get_mut(&id) else {
            let interval = record.check.definition.interval_ms(Interval::Normal);
            let due = match &record.last {
                Some(last) => next_due(last.at, interval, now),
                None => first_due(id, interval, now),
            };
            self.entries.insert(id, Entry::new(record, due));
            return Some((id, due));
        };
        let spec = &entry.spec;
        let changed = spec.check.updated_at != record.check.updated_at;
        let interval_changed =
            spec.check.definition.interval_s != record.check.definition.interval_s;
        entry.status.acknowledgement = record.status.acknowledgement;
        entry.status.max_attempts = record.status.max_attempts;
        entry.status.notifications_enabled = record.status.notifications_enabled;
        if record.heartbeat.as_ref().map(|b| b.at) > entry.heartbeat.as_ref().map(|b| b.at) {
            entry.heartbeat = record.heartbeat;
        }
        if changed
            || spec.asset_name != record.asset_name
            || spec.asset_address != record.asset_address
        {
            entry.spec = Arc::new(RunSpec {
                check: record.check,
                asset_name: record.asset_name,
                asset_address: record.asset_address,
            });
        }
        if changed && interval_changed && !entry.running {
            let interval = entry.spec.check.definition.interval_ms(Interval::Normal);
            return Some((id, first_due(id, interval, now)));
        }
        None
    }
}

/// The events a transition leaves: a hard change (with its output), flapping starting or
/// stopping, an acknowledgement removed by a recovery or an expiry.
fn events_of(
    t: &Transition,
    previous_state: Option<State>,
    outcome: &Outcome,
    at: i64,
) -> Vec<NewEvent> {
    let event = |kind: EventKind, notify: bool| NewEvent {
        at,
        kind,
        state: t.state,
        previous_state,
        unreachable: t.unreachable,
        notify,
        output: outcome.summary.clone(),
    };
    let mut events = Vec::new();
    if t.hard_change {
        events.push(event(EventKind::State, t.notify));
    }
    if t.flapping_started {
        events.push(event(EventKind::FlappingStarted, false));
    }
    if t.flapping_stopped {
        events.push(event(EventKind::FlappingStopped, false));
    }
    if t.acknowledgement_removed {
        events.push(event(EventKind::AcknowledgementRemoved, false));
    }
    events
}

/// A heartbeat check's state at `now`: CRITICAL when the last call (or the check's creation)
/// is older than the interval plus the grace; otherwise what the last call said (OK when it
/// said nothing). `None` while the first call is still awaited within its time.
fn heartbeat_outcome(
    check: &Check,
    heartbeat: Option<&Heartbeat>,
    grace_s: u32,
    now: i64,
) -> Option<Outcome> {
    let interval_s = check.definition.interval_s;
    let since = heartbeat.map_or(check.created_at, |b| b.at);
    let age_s = (now - since).max(0) / 1000;
    if age_s > i64::from(interval_s) + i64::from(grace_s) {
        let what = if heartbeat.is_some() {
            format!("no heartbeat for {age_s} s")
        } else {
            format!("no heartbeat received in the {age_s} s since the check was created")
        };
        return Some(Outcome::critical(format!(
            "HEARTBEAT CRITICAL - {what} (expected every {interval_s} s, grace {grace_s} s)"
        )));
    }
    let beat = heartbeat?;
    let state = beat.state.unwrap_or(State::Ok);
    let message = if beat.message.is_empty() {
        "heartbeat received".to_owned()
    } else {
        beat.message.clone()
    };
    Some(Outcome::new(
        state,
        format!(
            "HEARTBEAT {} - {message} ({age_s} s ago)",
            state.key().to_uppercase()
        ),
    ))
}

/// A result on its way to the database, and who asked for the run ("Check now"): they are
/// answered once it is written, so that what they read next shows it.
struct Pending {
    write: ResultWrite,
    waiters: Waiters,
}

/// The report of a run and who waits for it.
type Waiters = Option<(RunReport, Vec<oneshot::Sender<RunReport>>)>;

fn answer(waiters: Waiters) {
    if let Some((report, waiters)) = waiters {
        for waiter in waiters {
            let _ = waiter.send(report.clone());
        }
    }
}

/// Writes results in batches: whatever arrived within `flush_every` of the first, at most
/// [`BATCH`]. The task sleeps through that time and then takes what came all at once, instead of
/// waking for every result. A batch is written at once when it is full, or when someone waits
/// for one of its results (`urgent` wakes the task for that).
async fn write_results(
    store: Arc<dyn Store>,
    mut results: mpsc::Receiver<Pending>,
    flush_every: Duration,
    urgent: Arc<Notify>,
    figures: Arc<Figures>,
) {
    const BATCH: usize = 1000;
    let mut batch = Vec::with_capacity(BATCH);
    while results.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH && batch.iter().all(|p| p.waiters.is_none()) {
            tokio::select! {
                () = tokio::time::sleep(flush_every) => {}
                () = urgent.notified() => {}
            }
            while batch.len() < BATCH
                && let Ok(pending) = results.try_recv()
            {
                batch.push(pending);
            }
        }
        let (writes, waiting): (Vec<ResultWrite>, Vec<Waiters>) =
            batch.drain(..).map(|p| (p.write, p.waiters)).unzip();
        match store.save_results(&writes).await {
            Ok(()) => {
                figures
                    .results_written
                    .fetch_add(writes.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                figures.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, results = writes.len(), "supervision: writing check results failed");
            }
        }
        waiting.into_iter().for_each(answer);
    }
}

#[cfg(test)]
mod tests {
    use pupitre_core::audit::Actor;
    use pupitre_core::inventory::{AssetInput, AssetType};
    use pupitre_core::model::ROOT_ENTITY;
    use pupitre_core::monitoring::definition::{CheckDefinitionInput, check_definition};
    use pupitre_store::monitoring::NewCheck;
    use pupitre_store::testing::TestDb;

    use super::*;

    fn actor() -> Actor {
        Actor {
            user_id: None,
            login: "test".into(),
            source: "127.0.0.1".into(),
            at: now_ms(),
        }
    }

    async fn create(store: &dyn Store, asset_id: AssetId, name: &str, port: u16) -> CheckId {
        let definition = check_definition(CheckDefinitionInput {
            name: name.into(),
            probe: ProbeSpec::Tcp {
                host: "127.0.0.1".into(),
                port: u32::from(port),
                send: String::new(),
                expect: String::new(),
            },
            interval_s: 3600,
            retry_interval_s: 3600,
            timeout_s: 5,
            max_attempts: 1,
            warning: String::new(),
            critical: String::new(),
            notifications_enabled: false,
            entity_id: ROOT_ENTITY,
        })
        .unwrap();
        let new = NewCheck {
            asset_id,
            definition,
            host_check: false,
            heartbeat_hash: None,
        };
        store.create_check(&actor(), &new).await.unwrap().check.id
    }

    /// `reload_checks` makes the engine know a new check and forget a deleted one, without a
    /// full read; the checks it was not asked about stay as they were.
    #[tokio::test]
    async fn a_read_of_some_checks_adds_and_drops_just_those() {
        let db = TestDb::sqlite().await;
        let store = db.store.clone();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let input = AssetInput::new(ROOT_ENTITY, AssetType::Server, "web1");
        let asset = store.create_asset(&actor(), &input).await.unwrap().id;
        let first = create(&*store, asset, "first", port).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let engine = start(
            store.clone(),
            EngineConfig {
                reload_every: Duration::from_secs(3600),
                ..EngineConfig::default()
            },
            Arc::new(NullSink),
            async move {
                let _ = stopped.await;
            },
        )
        .unwrap();
        let wait = Duration::from_secs(10);
        let report = engine.run_now(first, wait).await.unwrap();
        assert_eq!(report.state, State::Ok, "{report:?}");

        let second = create(&*store, asset, "second", port).await;
        assert_eq!(engine.run_now(second, wait).await, None, "not read yet");
        engine.reload_checks(&[second]).await;
        assert!(engine.run_now(second, wait).await.is_some());

        store.delete_check(&actor(), first).await.unwrap();
        engine.reload_checks(&[first]).await;
        assert_eq!(engine.run_now(first, wait).await, None, "deleted");
        assert!(engine.run_now(second, wait).await.is_some());
        assert_eq!(engine.figures().checks.load(Ordering::Relaxed), 1);
        let _ = stop.send(());
        tokio::time::timeout(wait, engine.stopped())
            .await
            .expect("the engine stops when asked");
        // Its last results are written: both checks' states are in the database.
        let states = store.get_checks(&[second]).await.unwrap();
        assert!(states[0].last.is_some(), "{:?}", states[0].last);
    }
}
