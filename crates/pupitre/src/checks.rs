//! `pupitre checks …`: list checks and problems, run one check once in this process, and
//! acknowledge problems, directly in the database as the local administrator (audited as
//! `system` from `local`), through the same `ops::checks` operations as the API.

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail};
use clap::{Subcommand, ValueEnum};
use pupitre_core::monitoring::check::CheckId;
use pupitre_core::monitoring::definition::ProbeSpec;
use pupitre_core::permission::Level;
use pupitre_monitor::credentials::Credentials;
use pupitre_monitor::probes::Probes;
use pupitre_probe::ping::{IcmpCapability, icmp_capability};
use pupitre_probe::plugin::PluginRunner;
use pupitre_store::monitoring::CheckRecord;
use pupitre_web::AppState;
use pupitre_web::api::monitoring::ProblemView;
use pupitre_web::api::views::rfc3339;
use pupitre_web::auth::Caller;
use pupitre_web::error::AppError;
use pupitre_web::ops::checks::{self, AckFields, CheckListParams, Problem};
use pupitre_web::ops::{MAX_LIMIT, PageParams};
use pupitre_web::state::now_ms;

/// The width a table must fit in.
const TABLE_WIDTH: usize = 120;

#[derive(Subcommand, Debug)]
pub enum ChecksCommand {
    /// List checks: id, asset, name, probe, state, time since the last change, last output.
    ///
    /// Filters are ANDed. `--format json` prints one JSON object per line (JSON Lines), each
    /// the API's check view (`GET /api/v1/checks/{id}`) with `acknowledged` and `in_downtime`,
    /// as `GET /api/v1/problems` gives them.
    List {
        /// Only problems (not OK, pending excluded), hard first, worst first, oldest first;
        /// acknowledged ones and those in downtime are marked.
        #[arg(long)]
        problems: bool,
        /// States, comma-separated: ok, warning, critical, unknown.
        #[arg(long, value_name = "STATE,…")]
        state: Option<String>,
        /// Checks of this asset only.
        #[arg(long, value_name = "ID")]
        asset: Option<i64>,
        /// Probe kind: ping, tcp, http, dns, snmp, plugin, prometheus, database, zabbix, heartbeat.
        #[arg(long, value_name = "KIND")]
        probe: Option<String>,
        /// Part of the check's or the asset's name.
        #[arg(long, value_name = "TEXT")]
        query: Option<String>,
        /// `table`: aligned, within 120 columns, the output cut. `json`: one object a line.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Run a check once here and print its result as a Nagios plugin does.
    ///
    /// The check runs in this process through the engine's own probe code, against the same
    /// target, and the command exits with the plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN (also when the check cannot be run: not found, a heartbeat check). The result
    /// is NOT stored: the server's engine owns the check's state, and its next run decides it.
    /// Heartbeat checks cannot be run: the engine evaluates them from the calls of their URL.
    Run {
        /// The check's id.
        id: CheckId,
        /// `text`: `summary|perfdata`, then the long output. `json`: one object.
        #[arg(long, value_enum, default_value_t = RunFormat::Text)]
        format: RunFormat,
    },
    /// Acknowledge a hard problem, or remove its acknowledgement (`--remove`).
    ///
    /// Only a hard problem (not OK, retries exhausted) can be acknowledged; a recovery to OK
    /// removes the acknowledgement. Audited as `system` from `local`. A running server's engine
    /// reads acknowledgements again within 30 s; until then it may still notify.
    Ack {
        /// The check's id.
        id: CheckId,
        /// Why, for the other operators (1–2000 characters).
        #[arg(long, required_unless_present = "remove")]
        comment: Option<String>,
        /// The acknowledgement lapses after this many minutes [default: at the recovery].
        #[arg(long, value_name = "MINUTES")]
        expires_in: Option<i64>,
        /// Remove the check's acknowledgement instead.
        #[arg(long, conflicts_with_all = ["comment", "expires_in"])]
        remove: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    Text,
    Json,
}

impl ChecksCommand {
    /// The exit code of a failure: 1, as every other command, except for `run`, whose
    /// caller may read exit codes as a plugin's, where 1 would mean WARNING: 3 (UNKNOWN).
    pub fn failure_code(&self) -> ExitCode {
        match self {
            ChecksCommand::Run { .. } => ExitCode::from(3),
            _ => ExitCode::FAILURE,
        }
    }
}

pub async fn run(
    st: &AppState,
    system: &Caller,
    command: ChecksCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ChecksCommand::List {
            problems,
            state,
            asset,
            probe,
            query,
            format,
        } => {
            let filters = Filters {
                state,
                asset,
                probe,
                query,
            };
            list(st, system, problems, &filters, format).await?;
            Ok(ExitCode::SUCCESS)
        }
        ChecksCommand::Run { id, format } => run_once(st, system, id, format).await,
        ChecksCommand::Ack {
            id,
            comment,
            expires_in,
            remove,
        } => {
            ack(st, system, id, comment, expires_in, remove).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The list's filters, as `CheckListParams` takes them.
struct Filters {
    state: Option<String>,
    asset: Option<i64>,
    probe: Option<String>,
    query: Option<String>,
}

impl Filters {
    fn any(&self) -> bool {
        self.state.is_some() || self.asset.is_some() || self.probe.is_some() || self.query.is_some()
    }
}

/// An operation's error for a person at a terminal: the API's field names become the
/// command's arguments, and a missing check is named by its id.
fn cli_error(e: AppError, id: Option<CheckId>) -> anyhow::Error {
    if e.code == "not_found" {
        return match id {
            Some(id) => anyhow!("check {id} not found"),
            None => anyhow!("{}", e.message),
        };
    }
    let field = e.field.as_deref().map(|f| match f {
        "state" => "--state",
        "probe" => "--probe",
        "q" => "--query",
        "asset_id" => "--asset",
        "comment" => "--comment",
        "expires_in_minutes" => "--expires-in",
        other => other,
    });
    match (field, id) {
        (Some(field), _) => anyhow!("{field}: {}", e.message),
        (None, Some(id)) => anyhow!("check {id}: {}", e.message),
        (None, None) => anyhow!("{}", e.message),
    }
}

/// Every check the filters select, all pages of `ops::checks::list`.
async fn matching(st: &AppState, system: &Caller, f: &Filters) -> anyhow::Result<Vec<CheckRecord>> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let params = CheckListParams {
            asset_id: f.asset,
            state: f.state.clone(),
            probe: f.probe.clone(),
            q: f.query.clone(),
            page: PageParams {
                limit: Some(MAX_LIMIT),
                cursor,
            },
        };
        let (page, next) = checks::list(st, system, &params)
            .await
            .map_err(|e| cli_error(e, None))?;
        all.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

async fn list(
    st: &AppState,
    system: &Caller,
    problems: bool,
    filters: &Filters,
    format: ListFormat,
) -> anyhow::Result<()> {
    let now = now_ms();
    // Every row has the problems list's shape (the check, acknowledged, in downtime).
    let rows: Vec<Problem> = if problems {
        let mut rows = checks::problems(st, system)
            .await
            .map_err(|e| cli_error(e, None))?;
        if filters.any() {
            // The list operation applies (and validates) the filters as the API does.
            let ids: HashSet<CheckId> = matching(st, system, filters)
                .await?
                .iter()
                .map(|r| r.check.id)
                .collect();
            rows.retain(|p| ids.contains(&p.record.check.id));
        }
        rows
    } else {
        let records = matching(st, system, filters).await?;
        let downtimes = checks::list_downtimes(st, system)
            .await
            .map_err(|e| cli_error(e, None))?;
        records
            .into_iter()
            .map(|record| Problem {
                in_downtime: downtimes
                    .iter()
                    .any(|d| d.applies_to(record.check.id, record.check.asset_id) && d.covers(now)),
                acknowledged: record.status.is_acknowledged(now),
                record,
            })
            .collect()
    };
    let text = match format {
        ListFormat::Json => {
            let mut text = String::new();
            for row in &rows {
                text.push_str(&serde_json::to_string(&ProblemView::from(row))?);
                text.push('\n');
            }
            text
        }
        ListFormat::Table if rows.is_empty() => {
            eprintln!(
                "{}",
                if problems {
                    "no problems"
                } else {
                    "no check matches"
                }
            );
            String::new()
        }
        ListFormat::Table => table(&rows, now),
    };
    emit(&text)
}

/// Writes `text` to standard output; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `critical HARD`, `warning soft 2/3`, `ok`, `pending`.
fn state_text(record: &CheckRecord) -> String {
    let s = &record.status;
    if s.is_pending() {
        "pending".to_owned()
    } else if s.state == pupitre_core::monitoring::State::Ok {
        "ok".to_owned()
    } else if s.hard {
        format!("{} HARD", s.state.key())
    } else {
        format!("{} soft {}/{}", s.state.key(), s.attempt, s.max_attempts)
    }
}

fn flags_text(row: &Problem) -> String {
    let s = &row.record.status;
    [
        (row.acknowledged, "ack"),
        (row.in_downtime, "downtime"),
        (s.flapping, "flapping"),
        (s.unreachable, "unreachable"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(",")
}

/// How long ago `at` was, for a person: `42s`, `17m`, `3h05m`, `12d04h`; `-` for never.
fn since(now: i64, at: Option<i64>) -> String {
    let Some(at) = at else {
        return "-".to_owned();
    };
    let s = (now - at).max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// `text` on one line (control characters as spaces) in at most `width` characters, cut
/// with `…`.
fn cell(text: &str, width: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= width {
        clean
    } else {
        let mut cut: String = clean.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The rows as an aligned table that fits [`TABLE_WIDTH`] columns: each column as wide as its
/// widest cell up to a cap, and the last output's first line in what is left.
fn table(rows: &[Problem], now: i64) -> String {
    const HEADERS: [&str; 8] = [
        "ID", "ASSET", "CHECK", "PROBE", "STATE", "SINCE", "FLAGS", "OUTPUT",
    ];
    // The caps of every column but the last; the widest state is `critical soft 10/10`.
    const CAPS: [usize; 7] = [8, 18, 22, 10, 19, 7, 12];
    const GAP: &str = "  ";
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            let r = &row.record;
            let output = r
                .last
                .as_ref()
                .and_then(|l| l.output.lines().next())
                .unwrap_or_default()
                .to_owned();
            [
                r.check.id.to_string(),
                r.asset_name.clone(),
                r.check.definition.name.clone(),
                r.check.definition.probe.kind().to_owned(),
                state_text(r),
                since(now, r.status.last_change_at),
                flags_text(row),
                output,
            ]
        })
        .collect();
    let mut widths = [0usize; 8];
    for (i, cap) in CAPS.iter().enumerate() {
        let widest = cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([HEADERS[i].len()])
            .max()
            .unwrap_or_default();
        widths[i] = widest.min(*cap);
    }
    let used: usize = widths[..7].iter().sum::<usize>() + GAP.len() * 7;
    widths[7] = TABLE_WIDTH.saturating_sub(used).max(8);
    let mut text = String::new();
    let header = HEADERS.map(str::to_owned);
    for line in std::iter::once(&header).chain(&cells) {
        let mut out = String::new();
        for (i, value) in line.iter().enumerate() {
            let value = cell(value, widths[i]);
            if i == 0 {
                out.push_str(&format!("{value:>width$}", width = widths[0]));
            } else if i == 7 {
                out.push_str(&value);
            } else {
                out.push_str(&format!("{value:<width$}", width = widths[i]));
            }
            if i < 7 {
                out.push_str(GAP);
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    }
    text
}

async fn run_once(
    st: &AppState,
    system: &Caller,
    id: CheckId,
    format: RunFormat,
) -> anyhow::Result<ExitCode> {
    let record = checks::get(st, system, id, Level::Operate)
        .await
        .map_err(|e| cli_error(e, Some(id)))?;
    let check = &record.check;
    if let ProbeSpec::Heartbeat { .. } = check.definition.probe {
        bail!(
            "check {id} is a heartbeat check: the engine evaluates it from the calls of its \
             URL, and it cannot be run"
        );
    }
    let icmp = icmp_capability();
    if let (ProbeSpec::Ping { .. }, IcmpCapability::None { diagnostic }) =
        (&check.definition.probe, &icmp)
    {
        eprintln!("note: {diagnostic} This run tests TCP reachability instead.");
    }
    let probes = Probes::new(
        PluginRunner::new(4),
        icmp,
        Credentials::new(st.store.clone(), st.vault.clone()),
        st.store.clone(),
    );
    let clock = Instant::now();
    let outcome = probes
        .run(check, &record.asset_name, &record.asset_address)
        .await;
    let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    let plugin_output = outcome.to_plugin_output();
    let code = outcome.state.exit_code();
    let text = match format {
        RunFormat::Text => format!("{plugin_output}\n"),
        RunFormat::Json => {
            // The perfdata as the engine stores it: the first line after the `|`.
            let perfdata = plugin_output
                .split_once('|')
                .map(|(_, p)| p.lines().next().unwrap_or_default())
                .unwrap_or_default();
            let value = serde_json::json!({
                "check_id": id,
                "name": check.definition.name,
                "asset_id": check.asset_id,
                "asset_name": record.asset_name,
                "state": outcome.state.key(),
                "exit_code": code,
                "summary": outcome.summary,
                "long_output": outcome.long_output,
                "perfdata": perfdata,
                "duration_ms": duration_ms,
            });
            format!("{value}\n")
        }
    };
    emit(&text)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(3)))
}

async fn ack(
    st: &AppState,
    system: &Caller,
    id: CheckId,
    comment: Option<String>,
    expires_in: Option<i64>,
    remove: bool,
) -> anyhow::Result<()> {
    if remove {
        let record = checks::get(st, system, id, Level::Operate)
            .await
            .map_err(|e| cli_error(e, Some(id)))?;
        checks::unacknowledge(st, system, id)
            .await
            .map_err(|e| cli_error(e, Some(id)))?;
        println!("{}: acknowledgement removed", label(&record));
        return Ok(());
    }
    let fields = AckFields {
        comment: comment.unwrap_or_default(),
        expires_in_minutes: expires_in,
    };
    let record = checks::acknowledge(st, system, id, fields)
        .await
        .map_err(|e| cli_error(e, Some(id)))?;
    let until = record
        .status
        .acknowledgement
        .as_ref()
        .and_then(|a| a.expires_at)
        .map_or_else(
            || "until it recovers".to_owned(),
            |at| format!("until {}", rfc3339(at)),
        );
    println!(
        "{}: {} acknowledged by {} {until}",
        label(&record),
        state_text(&record),
        system.user.login
    );
    Ok(())
}

/// `check 3 "HTTP" on web01`.
fn label(record: &CheckRecord) -> String {
    format!(
        "check {} {:?} on {}",
        record.check.id, record.check.definition.name, record.asset_name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        let now = 10_000_000_000;
        for (ago_ms, want) in [
            (0, "0s"),
            (59_999, "59s"),
            (60_000, "1m"),
            (3_599_000, "59m"),
            (3_600_000, "1h00m"),
            (3_900_000, "1h05m"),
            (86_400_000, "1d00h"),
            (13 * 86_400_000 + 4 * 3_600_000, "13d04h"),
            (-5_000, "0s"),
        ] {
            assert_eq!(since(now, Some(now - ago_ms)), want, "{ago_ms} ms ago");
        }
        assert_eq!(since(now, None), "-");
    }

    #[test]
    fn cells_are_one_line_and_cut() {
        for (text, width, want) in [
            ("short", 10, "short"),
            ("exactly10!", 10, "exactly10!"),
            ("much longer than that", 10, "much long…"),
            ("tab\there\nnext", 20, "tab here next"),
            ("éèàùç-long", 5, "éèàù…"),
        ] {
            assert_eq!(cell(text, width), want);
        }
    }
}
