//! Checks on what a host's Pupitre agent reports: the latest value of one of its series against
//! the check's thresholds, or, without a selector, whether the agent is still in touch. Both
//! read the database (the metric history, the agent's last contact), not the host, so they
//! run on whichever server holds the check, wherever the agent connects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pupitre_agent::wire::CommandSpec;
use pupitre_core::monitoring::State;
use pupitre_core::monitoring::check::Check;
use pupitre_core::monitoring::exposition::{Sample, Selector, evaluate_series};
use pupitre_core::monitoring::output::PluginOutput;
use pupitre_core::monitoring::perfdata::{PerfDatum, Uom};
use pupitre_core::monitoring::range::Thresholds;
use pupitre_probe::outcome::Outcome;
use pupitre_store::Store;
use pupitre_store::agents::{AgentStatus, CommandState};
use pupitre_store::metrics::{SeriesFilter, SeriesRecord, SourceKind};

/// The agents' long polls waiting on this server, so that whatever queues a command for an
/// agent (the engine for a plugin check, a request for a remote command) wakes its poll at once.
#[derive(Debug, Default)]
pub struct AgentWaker {
    waiting: Mutex<HashMap<i64, Arc<tokio::sync::Notify>>>,
}

impl AgentWaker {
    /// What agent `id`'s poll waits on.
    pub fn notify_for(&self, id: i64) -> Arc<tokio::sync::Notify> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.entry(id).or_default().clone()
    }

    /// Wakes agent `id`'s poll if it waits on this server; otherwise the agent sees the news
    /// at its next poll.
    pub fn wake(&self, id: i64) {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = waiting.get(&id) {
            notify.notify_one();
        }
    }
}

/// Runs an agent check of `check` (whose probe is `ProbeSpec::Agent`) at `now`.
pub async fn run(
    store: &dyn Store,
    check: &Check,
    selector: &str,
    max_age_s: u32,
    now: i64,
) -> Outcome {
    let max_age_ms = i64::from(max_age_s) * 1000;
    if selector.is_empty() {
        return contact(store, check, max_age_s, now).await;
    }
    let selector = match Selector::parse(selector) {
        Ok(s) => s,
        Err(e) => return Outcome::unknown(format!("AGENT UNKNOWN - selector: {e}")),
    };
    let series = match agent_series(store, check, selector.name()).await {
        Ok(series) => series,
        Err(e) => return Outcome::unknown(format!("AGENT UNKNOWN - database: {e}")),
    };
    let candidates: Vec<_> = series
        .iter()
        .filter(|s| {
            selector.matches(&Sample {
                name: s.key.name().to_owned(),
                labels: s.key.labels().to_vec(),
                value: 0.0,
                timestamp_ms: None,
            })
        })
        .collect();
    let ids: Vec<i64> = candidates.iter().map(|s| s.id).collect();
    let read = match store.read_samples(&ids, now - max_age_ms, now).await {
        Ok(read) => read,
        Err(e) => return Outcome::unknown(format!("AGENT UNKNOWN - database: {e}")),
    };
    let samples: Vec<Sample> = read
        .iter()
        .filter_map(|r| {
            let record = candidates.iter().find(|s| s.id == r.series)?;
            let (&at, &value) = r.timestamps.last().zip(r.values.last())?;
            Some(Sample {
                name: record.key.name().to_owned(),
                labels: record.key.labels().to_vec(),
                value,
                timestamp_ms: Some(at),
            })
        })
        .collect();
    if samples.is_empty() {
        let why = if candidates.is_empty() {
            "the agent never sent a series matching it"
        } else {
            "the agent sent no value of it"
        };
        return Outcome::unknown(format!(
            "AGENT UNKNOWN - {selector}: {why} within {max_age_s} s"
        ));
    }
    let thresholds: Thresholds = check.definition.thresholds;
    let verdict = evaluate_series(&samples, &selector, &thresholds);
    let mut outcome = Outcome::new(
        verdict.state,
        format!("AGENT {} - {}", verdict.state, verdict.summary),
    );
    outcome.long_output = verdict.detail;
    if let Some(series) = verdict.series {
        outcome.perfdata.push(PerfDatum {
            label: series.name.clone(),
            value: Some(series.value),
            uom: Uom::Count,
            warning: thresholds.warning,
            critical: thresholds.critical,
            min: None,
            max: None,
        });
    }
    outcome
}

/// The agent series of the check's asset, named `name` when given.
async fn agent_series(
    store: &dyn Store,
    check: &Check,
    name: Option<&str>,
) -> Result<Vec<SeriesRecord>, pupitre_store::StoreError> {
    let visible = store.list_entities().await?.iter().map(|e| e.id).collect();
    let filter = SeriesFilter {
        visible,
        name: name.map(str::to_owned),
        asset_id: Some(check.asset_id),
        limit: 10_000,
        ..SeriesFilter::default()
    };
    Ok(store
        .find_series(&filter)
        .await?
        .into_iter()
        .filter(|s| s.source.kind == SourceKind::Agent)
        .collect())
}

/// How long after a reboot the contact check says so.
const REBOOT_NOTICE_MS: i64 = 15 * 60 * 1000;

/// When the host last rebooted, if its boot time changed within [`REBOOT_NOTICE_MS`] (the
/// agent reports `node_boot_time_seconds` every round).
async fn recent_reboot(store: &dyn Store, check: &Check, now: i64) -> Option<i64> {
    let series = agent_series(store, check, Some("node_boot_time_seconds"))
        .await
        .ok()?;
    let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
    let read = store
        .read_samples(&ids, now - 2 * REBOOT_NOTICE_MS, now)
        .await
        .ok()?;
    let samples = read.first()?;
    // The boot time is whole seconds from /proc/stat: a change of more than a few seconds is a
    // reboot, not the clock being adjusted.
    let changed = samples
        .values
        .windows(2)
        .zip(samples.timestamps.iter().skip(1))
        .filter(|(pair, _)| (pair[1] - pair[0]).abs() > 5.0)
        .map(|(_, &at)| at)
        .next_back()?;
    (now - changed <= REBOOT_NOTICE_MS).then(|| {
        samples
            .values
            .last()
            .map_or(changed, |boot| (*boot * 1000.0) as i64)
    })
}

/// Whether the host's agent is in touch: its last contact within `max_age_s`, and no reboot in
/// the last quarter of an hour (a WARNING that says when).
async fn contact(store: &dyn Store, check: &Check, max_age_s: u32, now: i64) -> Outcome {
    let agent = match store.agent_of_asset(check.asset_id).await {
        Ok(Some(agent)) => agent,
        Ok(None) => return Outcome::unknown("AGENT UNKNOWN - no agent reports for this host"),
        Err(e) => return Outcome::unknown(format!("AGENT UNKNOWN - database: {e}")),
    };
    let name = &agent.facts.name;
    match agent.status {
        AgentStatus::Revoked => {
            return Outcome::new(
                State::Critical,
                format!("AGENT CRITICAL - the agent of {name} is revoked"),
            );
        }
        AgentStatus::Pending => {
            return Outcome::new(
                State::Warning,
                format!("AGENT WARNING - the agent of {name} waits for approval"),
            );
        }
        AgentStatus::Active => {}
    }
    let Some(seen) = agent.last_seen_at else {
        return Outcome::new(
            State::Critical,
            format!("AGENT CRITICAL - the agent of {name} never called"),
        );
    };
    let age_s = ((now - seen).max(0) as f64) / 1000.0;
    let state = if age_s > f64::from(max_age_s) {
        State::Critical
    } else {
        State::Ok
    };
    let summary = match state {
        State::Ok => format!(
            "AGENT OK - {name} ({} {}) in touch {age_s:.0} s ago",
            agent.facts.os, agent.facts.version
        ),
        _ => format!("AGENT CRITICAL - {name} silent for {age_s:.0} s (more than {max_age_s} s)"),
    };
    let mut outcome = Outcome::new(state, summary);
    if state == State::Ok
        && let Some(booted) = recent_reboot(store, check, now).await
    {
        outcome = Outcome::new(
            State::Warning,
            format!(
                "AGENT WARNING - {name} rebooted {} min ago",
                (now - booted).max(0) / 60_000
            ),
        );
    }
    outcome.perfdata.push(PerfDatum {
        label: "silence".to_owned(),
        value: Some(age_s),
        uom: Uom::Seconds,
        warning: None,
        critical: None,
        min: Some(0.0),
        max: None,
    });
    if agent.clock_skew_ms.abs() > pupitre_agent::wire::SKEW_TOLERANCE_MS {
        outcome.long_output = format!(
            "The agent's clock is {:+.1} s off the server's; its samples are corrected.",
            agent.clock_skew_ms as f64 / 1000.0
        );
    }
    outcome
}

/// Runs a plugin through the host's agent, as NRPE would: queues the command, waits for its
/// outcome within the check's timeout (plus the agent's pickup), and reads the plugin's
/// output and exit code as a local plugin's.
pub async fn run_plugin(
    store: &dyn Store,
    waker: &AgentWaker,
    check: &Check,
    plugin: &str,
    arguments: &[String],
    timeout: std::time::Duration,
) -> Outcome {
    let agent = match store.agent_of_asset(check.asset_id).await {
        Ok(Some(agent)) if agent.status == AgentStatus::Active => agent,
        Ok(Some(agent)) => {
            return Outcome::unknown(format!(
                "AGENT PLUGIN UNKNOWN - the agent of {} is {}",
                agent.facts.name,
                agent.status.key()
            ));
        }
        Ok(None) => {
            return Outcome::unknown("AGENT PLUGIN UNKNOWN - no agent reports for this host");
        }
        Err(e) => return Outcome::unknown(format!("AGENT PLUGIN UNKNOWN - database: {e}")),
    };
    let spec = CommandSpec {
        argv: Vec::new(),
        plugin: plugin.to_owned(),
        arguments: arguments.to_vec(),
        user: String::new(),
        env: Default::default(),
        cwd: String::new(),
        timeout_s: timeout.as_secs().max(1),
        stdin: String::new(),
        max_output_bytes: PLUGIN_OUTPUT_LIMIT,
    };
    let spec = match serde_json::to_string(&spec) {
        Ok(spec) => spec,
        Err(e) => return Outcome::unknown(format!("AGENT PLUGIN UNKNOWN - {e}")),
    };
    let command = match store
        .queue_check_command(agent.id, "plugin", &spec, crate::now_ms())
        .await
    {
        Ok(command) => command,
        Err(e) => return Outcome::unknown(format!("AGENT PLUGIN UNKNOWN - database: {e}")),
    };
    waker.wake(agent.id);
    // The agent picks the command up at its next poll (within a few seconds when it waits on
    // another server), then the plugin has its own timeout.
    let deadline = tokio::time::Instant::now() + timeout + PICKUP;
    let finished = loop {
        match store.get_command(command.id).await {
            Ok(c) if c.state == CommandState::Finished => break Some(c),
            Ok(_) if tokio::time::Instant::now() >= deadline => break None,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            Err(e) => {
                let _ = store.forget_command(command.id).await;
                return Outcome::unknown(format!("AGENT PLUGIN UNKNOWN - database: {e}"));
            }
        }
    };
    let _ = store.forget_command(command.id).await;
    let Some(done) = finished else {
        return Outcome::unknown(format!(
            "AGENT PLUGIN UNKNOWN - the agent of {} did not run {plugin} within {} s",
            agent.facts.name,
            (timeout + PICKUP).as_secs()
        ));
    };
    match (done.outcome.as_deref(), done.exit_code) {
        (Some("exited"), Some(code)) => {
            let code = i32::try_from(code).unwrap_or(3);
            let output = PluginOutput::parse(&done.stdout, PLUGIN_OUTPUT_LIMIT as usize);
            let summary = if output.summary.is_empty() {
                format!("{plugin} printed nothing (exit code {code})")
            } else {
                output.summary
            };
            Outcome {
                state: State::from_exit_code(code),
                summary,
                long_output: output.long_output,
                perfdata: output.perfdata,
            }
        }
        (Some("timeout"), _) => Outcome::unknown(format!(
            "AGENT PLUGIN UNKNOWN - {plugin} timed out after {} s",
            timeout.as_secs()
        )),
        _ => Outcome::unknown(format!("AGENT PLUGIN UNKNOWN - {}", done.message)),
    }
}

/// The most of a plugin's output read back (Nagios keeps 8 KB; plugins rarely print more).
const PLUGIN_OUTPUT_LIMIT: u64 = 64 * 1024;

/// How long an agent may take to pick a command up.
pub const PICKUP: std::time::Duration = std::time::Duration::from_secs(10);
