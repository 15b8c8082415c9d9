//! Commands the server asks the agent to run: as a given local user, with an environment, a
//! working directory, a timeout and standard input; standard output and error streamed back
//! within a size cap; the whole process tree killed at the timeout or on request.
//!
//! A command is written to the state directory before it starts and with its outcome when it
//! ends, and forgotten only once the server has its outcome. So a command is never run twice
//! (a poll that delivers it again finds its file), an outcome survives a server restart (it is
//! sent when the server is back), and a command lost with the agent (killed, host rebooted)
//! is reported as failed when the agent starts again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};

use crate::buffer::write_atomically;
use crate::now_ms;
use crate::wire::{CommandSpec, End, Progress};

/// One stream's text, what of it the server has, and how much was written in all.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stream {
    pub text: String,
    pub sent: usize,
    pub bytes: u64,
    /// Bytes of a character cut between two reads, completed by the next.
    #[serde(skip)]
    partial: Vec<u8>,
}

impl Stream {
    /// Appends raw output, keeping at most `cap` bytes of text.
    fn push(&mut self, raw: &[u8], cap: usize) {
        self.bytes += raw.len() as u64;
        self.partial.extend_from_slice(raw);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Not UTF-8: shown with replacement characters.
            Err(_) => self.partial.len(),
        };
        let text = String::from_utf8_lossy(&self.partial[..valid]).into_owned();
        self.partial.drain(..valid);
        let room = cap.saturating_sub(self.text.len());
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&text[..cut]);
    }

    fn unsent(&self) -> (&str, u64) {
        (&self.text[self.sent..], self.sent as u64)
    }
}

/// A command the agent started, as kept on disk.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Record {
    pub id: i64,
    pub started_at: i64,
    pub stdout: Stream,
    pub stderr: Stream,
    pub end: Option<End>,
    /// The server knows the command started.
    #[serde(default)]
    pub announced: bool,
}

/// The commands of this agent, running or waiting to report.
pub struct Runner {
    dir: PathBuf,
    /// The allowlist of plugins the server may name (NRPE's syntax).
    plugins: PathBuf,
    records: Mutex<BTreeMap<i64, Record>>,
    cancels: Mutex<BTreeMap<i64, oneshot::Sender<()>>>,
    /// Wakes the reporter: new output, or an end.
    pub changed: Notify,
}

impl Runner {
    /// Opens the commands directory; a command that was running when the agent stopped is
    /// reported as failed.
    pub fn open(dir: &Path, plugins: &Path) -> std::io::Result<Runner> {
        std::fs::create_dir_all(dir)?;
        let mut records = BTreeMap::new();
        for item in std::fs::read_dir(dir)? {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(mut record) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
                .ok_or(())
            else {
                tracing::warn!(path = %path.display(), "unreadable command record, removed");
                std::fs::remove_file(&path)?;
                continue;
            };
            if record.end.is_none() {
                record.end = Some(End {
                    outcome: "failed".to_owned(),
                    exit_code: None,
                    message: "the agent stopped while the command ran; its outcome is unknown"
                        .to_owned(),
                });
            }
            records.insert(record.id, record);
        }
        let runner = Runner {
            dir: dir.to_owned(),
            plugins: plugins.to_owned(),
            records: Mutex::new(records),
            cancels: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
        };
        for record in runner.lock().values() {
            runner.save(record);
        }
        Ok(runner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, record: &Record) {
        let path = self.dir.join(format!("{}.json", record.id));
        let written = serde_json::to_vec(record)
            .map_err(std::io::Error::other)
            .and_then(|body| write_atomically(&path, &body));
        if let Err(e) = written {
            tracing::error!(id = record.id, error = %e, "cannot save a command's record");
        }
    }

    /// True when the agent knows the command: started now or earlier.
    pub fn knows(&self, id: i64) -> bool {
        self.lock().contains_key(&id)
    }

    /// The commands running now or not fully reported yet.
    pub fn running(&self) -> Vec<i64> {
        self.lock().keys().copied().collect()
    }

    /// Stops a running command (its whole process group); nothing when it is not running.
    pub fn cancel(&self, id: i64) {
        let sender = self
            .cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }

    /// Starts `spec` as command `id`, recorded on disk first; returns at once.
    pub fn start(self: &Arc<Runner>, id: i64, spec: CommandSpec) {
        let record = Record {
            id,
            started_at: now_ms(),
            ..Record::default()
        };
        self.save(&record);
        self.lock().insert(id, record);
        let (cancel, cancelled) = oneshot::channel();
        self.cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, cancel);
        let runner = self.clone();
        tokio::spawn(async move {
            let end = match spec.validate() {
                Ok(()) => execute(&runner, id, &spec, cancelled).await,
                Err(e) => End {
                    outcome: "failed".to_owned(),
                    exit_code: None,
                    message: format!("{}: {}", e.field, e.message),
                },
            };
            tracing::info!(id, outcome = %end.outcome, exit_code = ?end.exit_code, "command ended");
            runner
                .cancels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            let mut records = runner.lock();
            if let Some(record) = records.get_mut(&id) {
                record.end = Some(end);
                runner.save(record);
            }
            drop(records);
            runner.changed.notify_one();
        });
    }

    fn output(&self, id: i64, stderr: bool, raw: &[u8], cap: usize) {
        if let Some(record) = self.lock().get_mut(&id) {
            let stream = if stderr {
                &mut record.stderr
            } else {
                &mut record.stdout
            };
            stream.push(raw, cap);
        }
        self.changed.notify_one();
    }

    /// What the server does not have yet, one report per command.
    pub fn reports(&self) -> Vec<Progress> {
        self.lock()
            .values()
            .filter(|r| {
                !r.announced
                    || r.end.is_some()
                    || r.stdout.sent < r.stdout.text.len()
                    || r.stderr.sent < r.stderr.text.len()
            })
            .map(|r| {
                let (stdout, stdout_from) = r.stdout.unsent();
                let (stderr, stderr_from) = r.stderr.unsent();
                Progress {
                    id: r.id,
                    stdout: stdout.to_owned(),
                    stdout_from,
                    stderr: stderr.to_owned(),
                    stderr_from,
                    stdout_bytes: r.stdout.bytes,
                    stderr_bytes: r.stderr.bytes,
                    started_at: Some(r.started_at),
                    end: r.end.clone(),
                }
            })
            .collect()
    }

    /// The server has `report`: its output counts as sent; with its end, the command is
    /// forgotten. `accepted` false: the server wants no more of it (stopped if running).
    pub fn reported(&self, report: &Progress, accepted: bool) {
        let mut records = self.lock();
        let Some(record) = records.get_mut(&report.id) else {
            return;
        };
        record.announced = true;
        record.stdout.sent =
            (report.stdout_from as usize + report.stdout.len()).min(record.stdout.text.len());
        record.stderr.sent =
            (report.stderr_from as usize + report.stderr.len()).min(record.stderr.text.len());
        if report.end.is_some() || !accepted {
            if report.end.is_none() {
                drop(records);
                self.cancel(report.id);
                return;
            }
            records.remove(&report.id);
            let path = self.dir.join(format!("{}.json", report.id));
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, "cannot remove a reported command's record");
            }
        }
    }
}

/// The environment every command starts from; the spec's variables are added to it.
fn base_env(user: Option<&nix::unistd::User>) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        ),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
    ];
    if let Some(user) = user {
        env.push(("USER".to_owned(), user.name.clone()));
        env.push(("LOGNAME".to_owned(), user.name.clone()));
        env.push(("HOME".to_owned(), user.dir.to_string_lossy().into_owned()));
        env.push((
            "SHELL".to_owned(),
            user.shell.to_string_lossy().into_owned(),
        ));
    }
    env
}

fn failed(message: String) -> End {
    End {
        outcome: "failed".to_owned(),
        exit_code: None,
        message,
    }
}

/// Runs one command to its end.
async fn execute(
    runner: &Arc<Runner>,
    id: i64,
    spec: &CommandSpec,
    cancelled: oneshot::Receiver<()>,
) -> End {
    let me = nix::unistd::Uid::effective();
    let user = if spec.user.is_empty() {
        nix::unistd::User::from_uid(me).ok().flatten()
    } else {
        match nix::unistd::User::from_name(&spec.user) {
            Ok(Some(user)) => Some(user),
            Ok(None) => return failed(format!("no local user {}", spec.user)),
            Err(e) => return failed(format!("user {}: {e}", spec.user)),
        }
    };
    let argv = if spec.plugin.is_empty() {
        spec.argv.clone()
    } else {
        match crate::plugins::Allowlist::read(&runner.plugins)
            .and_then(|list| list.argv(&spec.plugin, &spec.arguments))
        {
            Ok(argv) => argv,
            Err(e) => return failed(e),
        }
    };
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .envs(base_env(user.as_ref()))
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that the timeout or a kill reaches everything it started.
        .process_group(0)
        .kill_on_drop(true);
    let cwd = if !spec.cwd.is_empty() {
        PathBuf::from(&spec.cwd)
    } else {
        user.as_ref()
            .map(|u| u.dir.clone())
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| PathBuf::from("/"))
    };
    command.current_dir(&cwd);
    if let Some(user) = &user
        && user.uid != me
    {
        if !me.is_root() {
            return failed(format!(
                "the agent runs as uid {me} and cannot run commands as {}",
                user.name
            ));
        }
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return failed(format!("cannot start {}: {e}", argv[0])),
    };
    let pgid = child.id().map(|pid| nix::unistd::Pid::from_raw(pid as i32));
    if let Some(mut stdin) = child.stdin.take() {
        let input = spec.stdin.clone().into_bytes();
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    let cap = spec.max_output_bytes as usize;
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_into(runner.clone(), id, false, out, cap)));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_into(runner.clone(), id, true, err, cap)));
    }
    let timeout = Duration::from_secs(spec.timeout_s);
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => End {
                outcome: "exited".to_owned(),
                exit_code: status
                    .code()
                    .map(i64::from)
                    .or_else(|| std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + i64::from(s))),
                message: String::new(),
            },
            Err(e) => failed(format!("waiting for the command: {e}")),
        },
        () = tokio::time::sleep(timeout) => End {
            outcome: "timeout".to_owned(),
            exit_code: None,
            message: format!("killed after its timeout of {} s", spec.timeout_s),
        },
        _ = cancelled => End {
            outcome: "killed".to_owned(),
            exit_code: None,
            message: "killed on request".to_owned(),
        },
    };
    // Whatever is left of the tree goes too: at the timeout, on request, and what the command
    // left running behind it when it exited.
    if let Some(pgid) = pgid {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.wait().await;
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
    end
}

async fn read_into(
    runner: Arc<Runner>,
    id: i64,
    stderr: bool,
    mut pipe: impl AsyncRead + Unpin,
    cap: usize,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => runner.output(id, stderr, &buffer[..n], cap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_keep_whole_characters_within_their_cap_and_count_everything() {
        let mut s = Stream::default();
        let text = "héllo wörld".as_bytes();
        // Cut inside the "é".
        s.push(&text[..2], 100);
        assert_eq!(s.text, "h");
        s.push(&text[2..], 100);
        assert_eq!(s.text, "héllo wörld");
        let mut capped = Stream::default();
        capped.push("ééé".as_bytes(), 3);
        assert_eq!(
            capped.text, "é",
            "3 bytes hold one é and not half of the next"
        );
        assert_eq!(capped.bytes, 6);
    }

    #[tokio::test]
    async fn a_command_runs_once_reports_its_output_and_a_lost_one_is_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runner = Arc::new(Runner::open(dir.path(), Path::new("/nonexistent")).expect("opens"));
        let spec: CommandSpec = serde_json::from_value(serde_json::json!({
            "argv": ["/bin/sh", "-c", "read x; echo got $x; echo oops >&2; exit 3"],
            "stdin": "input\n",
        }))
        .expect("spec");
        runner.start(7, spec);
        assert!(runner.knows(7));
        for _ in 0..100 {
            if runner.reports().iter().any(|r| r.end.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let reports = runner.reports();
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!(r.stdout, "got input\n");
        assert_eq!(r.stderr, "oops\n");
        let end = r.end.clone().expect("ended");
        assert_eq!((end.outcome.as_str(), end.exit_code), ("exited", Some(3)));
        // Not acknowledged yet: still there after a restart, with its end.
        drop(runner);
        let runner = Runner::open(dir.path(), Path::new("/nonexistent")).expect("reopens");
        assert!(runner.knows(7));
        let report = runner.reports().remove(0);
        assert_eq!(
            report.end.as_ref().map(|e| e.outcome.as_str()),
            Some("exited")
        );
        runner.reported(&report, true);
        assert!(!runner.knows(7));
        assert!(!dir.path().join("7.json").exists());
        // A command whose agent died mid-run is reported failed.
        let lost = Record {
            id: 8,
            started_at: 1,
            ..Record::default()
        };
        std::fs::write(
            dir.path().join("8.json"),
            serde_json::to_vec(&lost).expect("json"),
        )
        .expect("writes");
        let runner = Runner::open(dir.path(), Path::new("/nonexistent")).expect("reopens");
        let end = runner.reports().remove(0).end.expect("an end");
        assert_eq!(end.outcome, "failed");
    }
}
