//! Nagios-compatible plugins: a check definition validated when it is written, macros expanded
//! per run, and a runner that bounds concurrency, caps the output it keeps, and kills the plugin's
//! whole process group when its timeout expires.
//!
//! A plugin is a program that prints one line of status (optionally more lines and perfdata) and
//! exits with 0 OK, 1 WARNING, 2 CRITICAL or 3 UNKNOWN. It runs without a shell: every argument
//! is one argv entry, so quoting and shell metacharacters have no meaning.
//!
//! Every run happens in a process group of its own. When the plugin exits, or when its timeout
//! expires, the runner sends SIGKILL to the whole group, so nothing a plugin forked outlives the
//! run, and then reaps what died. A child that left the group on purpose (`setsid`, `setpgid`) is
//! out of reach, as it is for Nagios itself.

use std::convert::Infallible;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{AccessFlags, Pid, access};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

pub use pupitre_core::monitoring::State;
use pupitre_core::monitoring::output::PluginOutput;

/// The plugin directory of Debian's monitoring-plugins, which `$USER1$` expands to.
pub const PLUGIN_DIR: &str = "/usr/lib/nagios/plugins";

/// How much of each of stdout and stderr a run keeps. The rest is read and thrown away, so a
/// chatty plugin never blocks on a full pipe.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// The whole environment a plugin gets: nothing of ours leaks into it.
const PLUGIN_ENV: [(&str, &str); 3] = [
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("LANG", "C"),
    ("LC_ALL", "C"),
];

/// How long the runner waits, once it has killed a group, for the plugin to be reaped and for
/// its pipes to close. A process stuck in uninterruptible sleep (a hung NFS mount under
/// check_disk) cannot die at once; the run still ends, and tokio reaps the plugin later.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// A run holds its slot until it ends, so a timeout has an upper bound.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// A check that runs a plugin, as an operator defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginCheck {
    /// Absolute path of the plugin, e.g. `/usr/lib/nagios/plugins/check_tcp`.
    pub plugin: PathBuf,
    /// One argv entry each, with macros such as `$HOSTADDRESS$` or `$ARG1$` (see [`MacroValues`]).
    pub arguments: Vec<String>,
    /// After this long the plugin and everything it forked are killed, and the run is UNKNOWN.
    pub timeout: Duration,
}

impl PluginCheck {
    /// Checks the definition when it is written: the plugin is an absolute path to an executable
    /// regular file, every argument uses known macros only, and the timeout is sensible.
    ///
    /// This looks at the file system (the plugin must exist on this machine); the rest needs no IO.
    pub fn validate(&self) -> Result<(), PluginCheckError> {
        self.check_plugin_path()?;
        check_plugin_file(&self.plugin)?;
        for (index, argument) in self.arguments.iter().enumerate() {
            expand(argument, None).map_err(|error| error.at(index))?;
        }
        if self.timeout.is_zero() || self.timeout > LONGEST_TIMEOUT {
            return Err(PluginCheckError::TimeoutOutOfRange(self.timeout));
        }
        Ok(())
    }

    /// The argv entries the plugin gets for these macro values (the program itself not included).
    pub fn expand_arguments(&self, values: &MacroValues) -> Result<Vec<String>, PluginCheckError> {
        self.arguments
            .iter()
            .enumerate()
            .map(|(index, argument)| {
                expand(argument, Some(values)).map_err(|error| error.at(index))
            })
            .collect()
    }

    fn check_plugin_path(&self) -> Result<(), PluginCheckError> {
        if self.plugin.is_absolute() {
            Ok(())
        } else {
            Err(PluginCheckError::PluginNotAbsolute(self.plugin.clone()))
        }
    }
}

fn check_plugin_file(plugin: &Path) -> Result<(), PluginCheckError> {
    let metadata = std::fs::metadata(plugin).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => PluginCheckError::PluginMissing(plugin.to_owned()),
        _ => PluginCheckError::PluginUnreadable {
            path: plugin.to_owned(),
            reason: error.to_string(),
        },
    })?;
    if !metadata.is_file() {
        return Err(PluginCheckError::PluginNotAFile(plugin.to_owned()));
    }
    // access(2) answers for this process as it is (root included), which mode bits alone do not.
    access(plugin, AccessFlags::X_OK)
        .map_err(|_| PluginCheckError::PluginNotExecutable(plugin.to_owned()))
}

/// Why a [`PluginCheck`] is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginCheckError {
    #[error("plugin: {} is not an absolute path", .0.display())]
    PluginNotAbsolute(PathBuf),
    #[error("plugin: {} does not exist", .0.display())]
    PluginMissing(PathBuf),
    #[error("plugin: {} is not a regular file", .0.display())]
    PluginNotAFile(PathBuf),
    #[error("plugin: {} is not executable by this process", .0.display())]
    PluginNotExecutable(PathBuf),
    #[error("plugin: cannot inspect {}: {reason}", .path.display())]
    PluginUnreadable { path: PathBuf, reason: String },
    #[error(
        "arguments[{index}]: unknown macro ${name}$ (known: $HOSTADDRESS$, $HOSTNAME$, \
         $ARG1$ to $ARG32$, $USER1$; write $$ for a dollar sign)"
    )]
    UnknownMacro { index: usize, name: String },
    #[error(
        "arguments[{index}]: a $ opens a macro that is never closed (write $$ for a dollar sign)"
    )]
    UnclosedMacro { index: usize },
    #[error("timeout: {0:?} is out of range (more than zero, at most 24 hours)")]
    TimeoutOutOfRange(Duration),
}

impl PluginCheckError {
    /// The field at fault, as named at the start of the message (`plugin`, `arguments[2]`, …).
    pub fn field(&self) -> String {
        match self {
            Self::PluginNotAbsolute(_)
            | Self::PluginMissing(_)
            | Self::PluginNotAFile(_)
            | Self::PluginNotExecutable(_)
            | Self::PluginUnreadable { .. } => "plugin".to_owned(),
            Self::UnknownMacro { index, .. } | Self::UnclosedMacro { index } => {
                format!("arguments[{index}]")
            }
            Self::TimeoutOutOfRange(_) => "timeout".to_owned(),
        }
    }
}

/// The values macros expand to in one run.
///
/// `$USER1$` is always [`PLUGIN_DIR`]; `$$` is a dollar sign. A macro with no value expands to
/// the empty string, as in Nagios: `$ARG3$` when `args` has two entries, or `$HOSTNAME$` left empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MacroValues {
    /// `$HOSTADDRESS$`
    pub host_address: String,
    /// `$HOSTNAME$`
    pub host_name: String,
    /// `$ARG1$` is `args[0]`, up to `$ARG32$`.
    pub args: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Macro {
    HostAddress,
    HostName,
    /// 1 to 32.
    Arg(usize),
    User1,
}

impl Macro {
    const MAX_ARG: usize = 32;

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "HOSTADDRESS" => Some(Self::HostAddress),
            "HOSTNAME" => Some(Self::HostName),
            "USER1" => Some(Self::User1),
            _ => {
                let digits = name.strip_prefix("ARG")?;
                // Plain decimal only: no sign, no leading zero, so `$ARG+1$` and `$ARG01$` are unknown.
                if digits.starts_with('0') || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                    return None;
                }
                let number = digits.parse().ok()?;
                (1..=Self::MAX_ARG)
                    .contains(&number)
                    .then_some(Self::Arg(number))
            }
        }
    }

    fn value(self, values: &MacroValues) -> &str {
        match self {
            Self::HostAddress => &values.host_address,
            Self::HostName => &values.host_name,
            Self::Arg(number) => values.args.get(number - 1).map_or("", String::as_str),
            Self::User1 => PLUGIN_DIR,
        }
    }
}

enum MacroError {
    Unknown(String),
    Unclosed,
}

impl MacroError {
    fn at(self, index: usize) -> PluginCheckError {
        match self {
            Self::Unknown(name) => PluginCheckError::UnknownMacro { index, name },
            Self::Unclosed => PluginCheckError::UnclosedMacro { index },
        }
    }
}

/// Expands the macros of one argument; without values, only checks them.
fn expand(template: &str, values: Option<&MacroValues>) -> Result<String, MacroError> {
    let mut expanded = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('$') {
        expanded.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('$').ok_or(MacroError::Unclosed)?;
        let name = &after[..close];
        if name.is_empty() {
            expanded.push('$');
        } else {
            let found =
                Macro::from_name(name).ok_or_else(|| MacroError::Unknown(name.to_owned()))?;
            if let Some(values) = values {
                expanded.push_str(found.value(values));
            }
        }
        rest = &after[close + 1..];
    }
    expanded.push_str(rest);
    Ok(expanded)
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The plugin exited with this code.
    Code(i32),
    /// The plugin was killed by this signal, not by us.
    Signal(i32),
    /// The plugin was still running after its timeout; its process group was killed.
    TimedOut { after: Duration },
    /// The plugin did not run, or the runner lost track of it: a missing or non-executable file,
    /// a macro that does not expand. The text says what went wrong, with the OS error if any.
    Failed(String),
}

/// What one run of a plugin gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginResult {
    pub exit: Exit,
    /// What the plugin printed on stdout, at most [`OUTPUT_LIMIT`] bytes, invalid UTF-8 replaced.
    pub stdout: String,
    /// The same for stderr.
    pub stderr: String,
    /// Whether stdout or stderr went past [`OUTPUT_LIMIT`] and lost its end.
    pub truncated: bool,
    /// From the spawn to the end of the run, the kill and the reaping included.
    pub duration: Duration,
    /// How long the run waited for a free slot before the plugin was started.
    pub waited: Duration,
}

impl PluginResult {
    /// The state, mapped from the exit as Nagios does: anything but exit codes 0 to 2 is UNKNOWN.
    pub fn state(&self) -> State {
        match self.exit {
            Exit::Code(code) => State::from_exit_code(code),
            Exit::Signal(_) | Exit::TimedOut { .. } | Exit::Failed(_) => State::Unknown,
        }
    }

    /// The plugin's output split as Nagios does (summary, long output, performance data),
    /// or, when the run itself failed, [`message`](Self::message) as the summary.
    pub fn output(&self) -> PluginOutput {
        match &self.exit {
            Exit::Code(0..=3) => PluginOutput::parse(&self.stdout, OUTPUT_LIMIT),
            _ => PluginOutput::parse(&self.message(), OUTPUT_LIMIT),
        }
    }

    /// What to show a person: the plugin's own output, or what went wrong with the run.
    pub fn message(&self) -> String {
        match &self.exit {
            Exit::Code(0..=3) => self.printed(),
            Exit::Code(code) => format!(
                "plugin exited with code {code}, not 0 to 3: {}",
                self.printed()
            ),
            Exit::Signal(number) => match Signal::try_from(*number) {
                Ok(name) => format!("plugin was killed by signal {number} ({name})"),
                Err(_) => format!("plugin was killed by signal {number}"),
            },
            Exit::TimedOut { after } => format!("plugin timed out after {} s", after.as_secs_f64()),
            Exit::Failed(reason) => reason.clone(),
        }
    }

    fn printed(&self) -> String {
        let stdout = self.stdout.trim_end();
        let stderr = self.stderr.trim_end();
        match (stdout.is_empty(), stderr.is_empty()) {
            (false, _) => stdout.to_owned(),
            (true, false) => format!("(nothing on stdout; stderr: {stderr})"),
            (true, true) => "(no output)".to_owned(),
        }
    }

    fn failed(reason: String, duration: Duration, waited: Duration) -> Self {
        Self {
            exit: Exit::Failed(reason),
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
            duration,
            waited,
        }
    }
}

/// Runs plugins, at most `max_concurrent` at a time.
///
/// Cloning gives another handle on the same slots. Dropping a [`PluginRunner::run`] future kills
/// the plugin's process group at once.
#[derive(Clone, Debug)]
pub struct PluginRunner {
    slots: Arc<Semaphore>,
}

impl PluginRunner {
    /// A runner with `max_concurrent` slots (at least one).
    ///
    /// On Linux this makes the current process a child subreaper (`PR_SET_CHILD_SUBREAPER`): the
    /// children a plugin forked are re-parented to us, not to PID 1, when the plugin dies, so the
    /// runner can reap them. Without it they would stay zombies wherever PID 1 does not reap
    /// (containers whose PID 1 is not an init). The cost: a process that escaped a plugin's group
    /// and outlives the run becomes our zombie when it finally exits.
    pub fn new(max_concurrent: usize) -> Self {
        #[cfg(target_os = "linux")]
        {
            // It cannot fail on Linux 3.4 and later; if it did, orphans would go to PID 1 instead.
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
        let slots = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Runs `check` once with `values` for its macros: waits for a slot, starts the plugin,
    /// collects its output and ends it. Never panics and never outlives the timeout by more
    /// than a few seconds; every failure is an UNKNOWN result that says what happened.
    pub async fn run(&self, check: &PluginCheck, values: &MacroValues) -> PluginResult {
        let argv = check
            .check_plugin_path()
            .and_then(|()| check.expand_arguments(values));
        let argv = match argv {
            Ok(argv) => argv,
            Err(error) => {
                return PluginResult::failed(error.to_string(), Duration::ZERO, Duration::ZERO);
            }
        };

        let queued = Instant::now();
        // The semaphore is never closed, so acquiring cannot fail; without a permit we would
        // still run, only unbounded.
        let permit = Arc::clone(&self.slots).acquire_owned().await.ok();
        let waited = queued.elapsed();
        let launch = Launch {
            plugin: check.plugin.clone(),
            argv,
            timeout: check.timeout.min(LONGEST_TIMEOUT),
        };

        // The run lives in a task of its own, so the plugin is killed and reaped even when the
        // caller stops waiting: dropping `_caller_waits` tells the task to kill it now.
        let (_caller_waits, caller_gone) = oneshot::channel::<Infallible>();
        let started = Instant::now();
        let supervised = tokio::spawn(async move {
            let supervised = supervise(launch, caller_gone).await;
            drop(permit);
            supervised
        })
        .await;
        match supervised {
            Ok(supervised) => PluginResult {
                exit: supervised.exit,
                stdout: String::from_utf8_lossy(&supervised.stdout.kept).into_owned(),
                stderr: String::from_utf8_lossy(&supervised.stderr.kept).into_owned(),
                truncated: supervised.stdout.truncated || supervised.stderr.truncated,
                duration: supervised.duration,
                waited,
            },
            Err(error) => PluginResult::failed(
                format!(
                    "the task running {} failed: {error}",
                    check.plugin.display()
                ),
                started.elapsed(),
                waited,
            ),
        }
    }
}

/// What a run starts, macros expanded.
struct Launch {
    plugin: PathBuf,
    argv: Vec<String>,
    timeout: Duration,
}

struct Supervised {
    exit: Exit,
    stdout: Capture,
    stderr: Capture,
    duration: Duration,
}

enum Ending {
    Exited(io::Result<ExitStatus>),
    TimedOut,
    CallerGone,
}

async fn supervise(launch: Launch, mut caller_gone: oneshot::Receiver<Infallible>) -> Supervised {
    let started = Instant::now();
    let deadline = started + launch.timeout;
    let mut stdout = Capture::default();
    let mut stderr = Capture::default();

    let mut command = Command::new(&launch.plugin);
    command
        .args(&launch.argv)
        .env_clear()
        .envs(PLUGIN_ENV)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let spawned = command.spawn().and_then(|child| {
        let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
        let pid = pid.ok_or_else(|| io::Error::other("the plugin has no process id"))?;
        Ok((child, Group::new(Pid::from_raw(pid))))
    });
    let (mut child, mut group) = match spawned {
        Ok(spawned) => spawned,
        Err(error) => {
            return Supervised {
                exit: Exit::Failed(format!("cannot start {}: {error}", launch.plugin.display())),
                stdout,
                stderr,
                duration: started.elapsed(),
            };
        }
    };
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();

    let (ending, leader_reaped) = {
        let reading = async {
            tokio::join!(stdout.fill(stdout_pipe), stderr.fill(stderr_pipe));
        };
        tokio::pin!(reading);
        let mut read_all = false;
        let ending = {
            let waiting = async {
                tokio::select! {
                    status = child.wait() => Ending::Exited(status),
                    () = sleep_until(deadline) => Ending::TimedOut,
                    _ = &mut caller_gone => Ending::CallerGone,
                }
            };
            tokio::pin!(waiting);
            loop {
                tokio::select! {
                    () = &mut reading, if !read_all => read_all = true,
                    ending = &mut waiting => break ending,
                }
            }
        };
        // The plugin is gone or must go: kill its whole group, so that what it forked dies too.
        group.kill();
        let leader_reaped = match ending {
            Ending::Exited(_) => true,
            Ending::TimedOut | Ending::CallerGone => {
                timeout(KILL_GRACE, child.wait()).await.is_ok()
            }
        };
        if !read_all {
            // Pipes close once every writer is dead; one held by a process that escaped the
            // group would stay open, hence the bound.
            let _ = timeout(KILL_GRACE, &mut reading).await;
        }
        (ending, leader_reaped)
    };
    if leader_reaped {
        // Only now: reaping the group before tokio reaped the leader would steal its status.
        group.reap(Instant::now() + KILL_GRACE).await;
    }

    let exit = match ending {
        Ending::Exited(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(number)) => Exit::Signal(number),
            (None, None) => {
                Exit::Failed(format!("{} ended with {status}", launch.plugin.display()))
            }
        },
        Ending::Exited(Err(error)) => Exit::Failed(format!(
            "lost track of {}: {error}",
            launch.plugin.display()
        )),
        Ending::TimedOut => Exit::TimedOut {
            after: launch.timeout,
        },
        Ending::CallerGone => Exit::Failed("the caller stopped waiting".to_owned()),
    };
    Supervised {
        exit,
        stdout,
        stderr,
        duration: started.elapsed(),
    }
}

/// The process group of one run, whose id is the plugin's pid. Dropping it kills the group,
/// should the run end in a way `supervise` did not foresee (a panic, a runtime shutting down).
struct Group {
    id: Pid,
    killed: bool,
}

impl Group {
    fn new(id: Pid) -> Self {
        Self { id, killed: false }
    }

    fn kill(&mut self) {
        self.killed = true;
        // ESRCH means the group is already empty: the usual case for a plugin that exited.
        let _ = killpg(self.id, Signal::SIGKILL);
    }

    /// Reaps the members of the group that are our children (re-parented to us when the plugin
    /// died, see [`PluginRunner::new`]), until none is left or `until`.
    async fn reap(&self, until: Instant) {
        // Listen before the first waitpid, so a member that dies in between still wakes us.
        let mut child_signals = signal(SignalKind::child()).ok();
        let group = Pid::from_raw(-self.id.as_raw());
        loop {
            match waitpid(group, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    let Some(signals) = child_signals.as_mut() else {
                        return;
                    };
                    if timeout_at(until, signals.recv()).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(Errno::EINTR) => {}
                // ECHILD: no child of ours is left in the group.
                Err(_) => return,
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.killed {
            let _ = killpg(self.id, Signal::SIGKILL);
        }
    }
}

/// One output stream of a run: the first [`OUTPUT_LIMIT`] bytes, and whether more came.
#[derive(Default)]
struct Capture {
    kept: Vec<u8>,
    truncated: bool,
}

impl Capture {
    /// Reads `pipe` to its end, keeping what fits. Stops at the first read error.
    async fn fill(&mut self, pipe: Option<impl AsyncRead + Unpin>) {
        let Some(mut pipe) = pipe else { return };
        let mut chunk = vec![0; 16 * 1024];
        loop {
            match pipe.read(&mut chunk).await {
                Ok(0) => return,
                Ok(read) => {
                    let room = OUTPUT_LIMIT.saturating_sub(self.kept.len());
                    let keep = read.min(room);
                    self.kept.extend_from_slice(&chunk[..keep]);
                    self.truncated |= keep < read;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}
