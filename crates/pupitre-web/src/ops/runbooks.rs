//! Runbooks and corrective actions (issue #7).
//!
//! - **Runbooks** are markdown, versioned (each change appends a version; older ones stay
//!   readable), attached to an asset (a server, a service, an application…), a check template
//!   or an alert's service name. Writing one is incidents=manage on its entity; declaring
//!   actions in it (commands a host will run) also takes jobs=manage there.
//! - **Actions** are commands on the host's agent: a program and its arguments (no shell), a
//!   local user, a timeout. An engineer launches one from an incident the runbook applies to,
//!   confirming it (`confirm: true`: the command and the host are shown first), with
//!   incidents=operate on the incident and jobs=operate on the agent. The launch and, when the
//!   agent reports the end, the exit code and the output go into the incident's timeline.
//! - **Automatic first-line action**: an action marked `automatic` runs once, as Pupitre,
//!   when an incident it applies to opens, before anyone is paged; the pages wait for it (at
//!   most its timeout). If the problem clears, the incident resolves and nobody is paged. It
//!   does not run again on the same asset within an hour (no restart loops).
//!
//! Running a job from the scheduler waits for the scheduler issue; so far actions are agent
//! commands.

use std::collections::BTreeSet;

use pupitre_agent::wire::CommandSpec;
use pupitre_core::audit::{Actor, Field};
use pupitre_core::incident::IncidentId;
use pupitre_core::inventory::AssetId;
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_store::agents::{AgentStatus, CommandRecord, CommandState};
use pupitre_store::incidents::IncidentRecord;
use pupitre_store::runbooks::{
    IncidentActionRecord, NewIncidentAction, RunbookInput, RunbookRecord,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::{AppState, now_ms};

/// What a runbook is attached to.
pub const TARGET_KINDS: [&str; 3] = ["asset", "check_template", "service"];

/// How long an automatic action keeps it from running again on the same asset.
const AUTOMATIC_QUIET_MS: i64 = 3600 * 1000;

/// A corrective action a runbook declares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionFields {
    /// `restart-nginx`: letters, digits, `-`, `_`, `.`; unique in the runbook.
    pub name: String,
    /// What the button says; empty: the name.
    #[serde(default)]
    pub label: String,
    /// The program and its arguments; no shell.
    pub argv: Vec<String>,
    /// The local user to run as; empty: the agent's own.
    #[serde(default)]
    pub user: String,
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// Run once, as Pupitre, when an incident it applies to opens, before paging.
    #[serde(default)]
    pub automatic: bool,
}

fn default_timeout() -> u64 {
    60
}

impl ActionFields {
    /// The agent command it runs: output kept up to 64 KiB a stream.
    fn spec(&self) -> Result<CommandSpec, AppError> {
        serde_json::from_value(serde_json::json!({
            "argv": self.argv,
            "user": self.user,
            "timeout_s": self.timeout_s,
            "max_output_bytes": 64 * 1024,
        }))
        .map_err(|_| AppError::internal())
    }

    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }
}

/// A runbook to write (a new one, or a new version).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookFields {
    pub entity_id: EntityId,
    /// `asset`, `check_template` or `service`.
    pub target_kind: String,
    /// The asset's or check template's id (as text), or the service's name.
    pub target: String,
    /// The runbook's title.
    pub name: String,
    /// Markdown.
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub actions: Vec<ActionFields>,
    /// What this version changes.
    #[serde(default)]
    pub note: String,
}

/// The actions stored with a runbook version.
pub fn actions_of(r: &RunbookRecord) -> Vec<ActionFields> {
    serde_json::from_str(&r.actions).unwrap_or_default()
}

fn valid_name(name: &str) -> bool {
    (1..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

async fn check_fields(
    st: &AppState,
    caller: &Caller,
    f: &RunbookFields,
) -> Result<RunbookInput, AppError> {
    caller.target_entity(Domain::Incidents, Level::Manage, f.entity_id, "entity_id")?;
    let title = f.name.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(AppError::invalid("name", "must be 1 to 200 characters"));
    }
    if f.body.len() > 100 * 1024 {
        return Err(AppError::invalid("body", "must be at most 100 KiB"));
    }
    if f.note.chars().count() > 500 {
        return Err(AppError::invalid("note", "must be at most 500 characters"));
    }
    let target = f.target.trim();
    match f.target_kind.as_str() {
        "asset" => {
            let id: AssetId = target
                .parse()
                .map_err(|_| AppError::invalid("target", "must be an asset's id"))?;
            crate::ops::assets::get(st, caller, id, Level::Read)
                .await
                .map_err(|_| AppError::invalid("target", format!("no asset {id}")))?;
        }
        "check_template" => {
            let id: i64 = target
                .parse()
                .map_err(|_| AppError::invalid("target", "must be a check template's id"))?;
            crate::ops::check_templates::get(st, caller, id, Level::Read)
                .await
                .map_err(|_| AppError::invalid("target", format!("no check template {id}")))?;
        }
        "service" => {
            if target.is_empty() || target.chars().count() > 100 {
                return Err(AppError::invalid(
                    "target",
                    "a service's name, 1 to 100 characters",
                ));
            }
        }
        _ => {
            return Err(AppError::invalid(
                "target_kind",
                "must be asset, check_template or service",
            ));
        }
    }
    if f.actions.len() > 20 {
        return Err(AppError::invalid("actions", "at most 20 actions"));
    }
    let mut names = BTreeSet::new();
    for (i, a) in f.actions.iter().enumerate() {
        let field = |part: &str| format!("actions[{i}].{part}");
        if !valid_name(&a.name) {
            return Err(AppError::invalid(
                field("name"),
                "1 to 50 letters, digits, '-', '_' or '.'",
            ));
        }
        if !names.insert(a.name.as_str()) {
            return Err(AppError::invalid(
                field("name"),
                "already used by an action",
            ));
        }
        if a.label.chars().count() > 100 {
            return Err(AppError::invalid(field("label"), "at most 100 characters"));
        }
        if !(1..=3600).contains(&a.timeout_s) {
            return Err(AppError::invalid(field("timeout_s"), "must be 1 to 3600"));
        }
        if a.argv.len() > 64 {
            return Err(AppError::invalid(field("argv"), "at most 64 arguments"));
        }
        a.spec()?
            .validate()
            .map_err(|e| AppError::invalid(field(&e.field), e.message))?;
    }
    if f.actions.iter().filter(|a| a.automatic).count() > 1 {
        return Err(AppError::invalid(
            "actions",
            "at most one automatic first-line action",
        ));
    }
    if !f.actions.is_empty() {
        // Declaring what a host will run is for those who may run anything there.
        caller.check(Domain::Jobs, Level::Manage, f.entity_id, "entity")?;
    }
    Ok(RunbookInput {
        entity_id: f.entity_id,
        target_kind: f.target_kind.clone(),
        target: target.to_owned(),
        title: title.to_owned(),
        body: f.body.clone(),
        actions: serde_json::to_string(&f.actions).map_err(|_| AppError::internal())?,
        note: f.note.trim().to_owned(),
    })
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    f: &RunbookFields,
) -> Result<RunbookRecord, AppError> {
    let input = check_fields(st, caller, f).await?;
    Ok(st.store.create_runbook(&caller.actor(), &input).await?)
}

/// The runbook (at `version`, or its newest) if the caller holds `level` on it.
pub async fn get(
    st: &AppState,
    caller: &Caller,
    id: i64,
    version: Option<i64>,
    level: Level,
) -> Result<RunbookRecord, AppError> {
    let r = st
        .store
        .get_runbook(id, version)
        .await
        .map_err(|e| AppError::from_store("runbook", e))?;
    caller.check(Domain::Incidents, level, r.entity_id, "runbook")?;
    Ok(r)
}

/// Writes a new version.
pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    f: &RunbookFields,
) -> Result<RunbookRecord, AppError> {
    let before = get(st, caller, id, None, Level::Manage).await?;
    if !actions_of(&before).is_empty() {
        // Removing or changing what a host runs takes the same right as declaring it.
        caller.check(Domain::Jobs, Level::Manage, before.entity_id, "runbook")?;
    }
    let input = check_fields(st, caller, f).await?;
    Ok(st.store.update_runbook(&caller.actor(), id, &input).await?)
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    let before = get(st, caller, id, None, Level::Manage).await?;
    if !actions_of(&before).is_empty() {
        caller.check(Domain::Jobs, Level::Manage, before.entity_id, "runbook")?;
    }
    Ok(st.store.delete_runbook(&caller.actor(), id).await?)
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<RunbookRecord>, AppError> {
    Ok(st
        .store
        .list_runbooks(&caller.visible(Domain::Incidents))
        .await?)
}

pub async fn versions(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Vec<RunbookRecord>, AppError> {
    get(st, caller, id, None, Level::Read).await?;
    Ok(st.store.runbook_versions(id).await?)
}

// ---- Runbooks of an incident ----------------------------------------------------------------

/// What an incident's runbooks are attached to: its assets, the templates of their checks,
/// its alerts' services.
async fn targets(st: &AppState, incident: IncidentId) -> Result<Vec<(String, String)>, AppError> {
    let mut out = BTreeSet::new();
    let assets = st.store.incident_assets(incident).await?;
    let everywhere: Vec<EntityId> = st.entity_tree().await?.iter().map(|(e, _)| *e).collect();
    for a in assets.iter().take(25) {
        out.insert(("asset".to_owned(), a.asset_id.to_string()));
        let filter = pupitre_store::monitoring::CheckFilter {
            visible: everywhere.clone(),
            asset_id: Some(a.asset_id),
            ..Default::default()
        };
        let page = pupitre_store::Page {
            after: None,
            limit: 500,
        };
        for c in st.store.list_checks(&filter, page).await? {
            if let Some((template, _)) = c.check.template {
                out.insert(("check_template".to_owned(), template.to_string()));
            }
        }
    }
    for alert in st.store.incident_alerts(incident).await? {
        if !alert.service.is_empty() {
            out.insert(("service".to_owned(), alert.service.clone()));
        }
    }
    Ok(out.into_iter().collect())
}

/// The runbooks that apply to an incident, with the assets its actions may run on: the
/// runbook's own asset, or the incident's assets that have an agent.
pub struct Applicable {
    pub runbook: RunbookRecord,
    pub actions: Vec<ActionFields>,
    /// (asset, its name) an action may run on.
    pub hosts: Vec<(AssetId, String)>,
}

/// The runbooks of an incident the caller may read (all of them for Pupitre itself).
pub async fn for_incident(
    st: &AppState,
    caller: Option<&Caller>,
    incident: &IncidentRecord,
) -> Result<Vec<Applicable>, AppError> {
    let targets = targets(st, incident.id).await?;
    let runbooks = st.store.runbooks_for(&targets).await?;
    let assets = st.store.incident_assets(incident.id).await?;
    let mut with_agent = Vec::new();
    for a in &assets {
        if let Some(agent) = st.store.agent_of_asset(a.asset_id).await?
            && agent.status == AgentStatus::Active
        {
            with_agent.push((a.asset_id, a.name.clone()));
        }
    }
    // The cause first: it is where a fix usually runs.
    with_agent.sort_by_key(|(id, _)| Some(*id) != incident.cause_asset_id);
    Ok(runbooks
        .into_iter()
        .filter(|r| {
            caller.is_none_or(|c| c.grants.allows(Domain::Incidents, Level::Read, r.entity_id))
        })
        .map(|runbook| {
            let hosts = if runbook.target_kind == "asset" {
                with_agent
                    .iter()
                    .filter(|(id, _)| id.to_string() == runbook.target)
                    .cloned()
                    .collect()
            } else {
                with_agent.clone()
            };
            Applicable {
                actions: actions_of(&runbook),
                runbook,
                hosts,
            }
        })
        .collect())
}

/// An action to launch from an incident.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchFields {
    pub runbook_id: i64,
    pub action: String,
    /// The host to run on; default: the incident's probable cause, else its only host.
    #[serde(default)]
    pub asset_id: Option<AssetId>,
    /// Must be true: the command and the host were shown and confirmed.
    #[serde(default)]
    pub confirm: bool,
    /// The runbook's version that was shown; a launch from another one is refused (the
    /// command may have changed since it was confirmed).
    #[serde(default)]
    pub version: Option<i64>,
}

/// What a launch will do, checked: shown for confirmation, then run.
pub struct Planned {
    pub runbook: RunbookRecord,
    pub action: ActionFields,
    pub asset_id: AssetId,
    pub asset: String,
    pub agent_id: i64,
    pub agent_entity: EntityId,
}

/// Checks a launch without running it.
pub async fn plan_launch(
    st: &AppState,
    caller: Option<&Caller>,
    incident: &IncidentRecord,
    f: &LaunchFields,
) -> Result<Planned, AppError> {
    let applicable = for_incident(st, caller, incident).await?;
    let Some(found) = applicable
        .into_iter()
        .find(|a| a.runbook.id == f.runbook_id)
    else {
        return Err(AppError::invalid(
            "runbook_id",
            "not a runbook of this incident",
        ));
    };
    if let Some(v) = f.version
        && v != found.runbook.version
    {
        return Err(AppError::conflict(format!(
            "the runbook changed since version {v} was shown (now version {}): look at it again",
            found.runbook.version
        )));
    }
    let Some(action) = found.actions.iter().find(|a| a.name == f.action).cloned() else {
        return Err(AppError::invalid(
            "action",
            format!(
                "runbook {} declares no action {:?}",
                found.runbook.title, f.action
            ),
        ));
    };
    let host = match f.asset_id {
        Some(id) => found.hosts.iter().find(|(a, _)| *a == id),
        None => found.hosts.first(),
    };
    let Some((asset_id, asset)) = host.cloned() else {
        return Err(AppError::invalid(
            "asset_id",
            "no host of this incident where the action applies has an active agent",
        ));
    };
    let agent = st
        .store
        .agent_of_asset(asset_id)
        .await?
        .ok_or_else(|| AppError::invalid("asset_id", "the host has no agent"))?;
    Ok(Planned {
        runbook: found.runbook,
        action,
        asset_id,
        asset,
        agent_id: agent.id,
        agent_entity: agent.entity_id,
    })
}

/// Launches a runbook's action from an incident, confirmed.
pub async fn launch(
    st: &AppState,
    caller: &Caller,
    incident: IncidentId,
    f: &LaunchFields,
) -> Result<(IncidentActionRecord, CommandRecord), AppError> {
    let incident =
        crate::ops::incidents::get_incident(st, caller, incident, Level::Operate).await?;
    let plan = plan_launch(st, Some(caller), &incident, f).await?;
    caller.check(Domain::Jobs, Level::Operate, plan.agent_entity, "agent")?;
    if !f.confirm {
        return Err(AppError::invalid(
            "confirm",
            format!(
                "send confirm: true to run `{}` on {}",
                plan.action.command_line(),
                plan.asset
            ),
        ));
    }
    let text = format!(
        "{} launched {} on {}: {}",
        caller.user.login,
        plan.action.name,
        plan.asset,
        plan.action.command_line()
    );
    start(st, &caller.actor(), &incident, &plan, false, text).await
}

async fn start(
    st: &AppState,
    actor: &Actor,
    incident: &IncidentRecord,
    plan: &Planned,
    automatic: bool,
    text: String,
) -> Result<(IncidentActionRecord, CommandRecord), AppError> {
    let spec = serde_json::to_string(&plan.action.spec()?).map_err(|_| AppError::internal())?;
    let extra = vec![
        Field::new("runbook_id", plan.runbook.id.to_string()),
        Field::new("action", &plan.action.name),
        Field::new("asset_id", plan.asset_id.to_string()),
        Field::new("incident_id", incident.id.to_string()),
    ];
    let started = st
        .store
        .start_incident_action(
            actor,
            &NewIncidentAction {
                incident_id: incident.id,
                runbook_id: plan.runbook.id,
                runbook_version: plan.runbook.version,
                action: plan.action.name.clone(),
                asset_id: plan.asset_id,
                agent_id: plan.agent_id,
                automatic,
                spec,
                text,
            },
            extra,
        )
        .await
        .map_err(|e| AppError::from_store("agent", e))?;
    st.agents.wake(plan.agent_id);
    Ok(started)
}

pub async fn incident_actions(
    st: &AppState,
    caller: &Caller,
    incident: IncidentId,
) -> Result<Vec<(IncidentActionRecord, Option<CommandRecord>)>, AppError> {
    crate::ops::incidents::get_incident(st, caller, incident, Level::Read).await?;
    let mut out = Vec::new();
    for a in st.store.incident_actions(incident).await? {
        let mut command = st.store.get_command(a.command_id).await.ok();
        // The whole output is the agent's commands' to show (jobs=read); the incident's
        // readers have the timeline's tail.
        if let Some(c) = &mut command {
            let agent = st.store.get_agent(c.agent_id).await?;
            if !caller
                .grants
                .allows(Domain::Jobs, Level::Read, agent.entity_id)
            {
                c.stdout.clear();
                c.stderr.clear();
            }
        }
        out.push((a, command));
    }
    Ok(out)
}

// ---- Follow-up: outcomes into the timeline, automatic first-line actions -------------------

/// The last `max` bytes of an output, on a character boundary.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Writes the outcome of every finished action into its incident's timeline.
pub async fn follow_actions(st: &AppState) -> Result<(), AppError> {
    for a in st.store.running_incident_actions().await? {
        let Ok(command) = st.store.get_command(a.command_id).await else {
            continue;
        };
        if command.state != CommandState::Finished {
            continue;
        }
        let asset = st
            .store
            .get_asset(a.asset_id)
            .await
            .map(|x| x.name)
            .unwrap_or_else(|_| format!("#{}", a.asset_id));
        let how = match (command.exit_code, command.outcome.as_deref()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(outcome)) => outcome.to_owned(),
            (None, None) => "ended".to_owned(),
        };
        let mut text = format!("{} on {asset}: {how}", a.action);
        if !command.message.is_empty() {
            text.push_str(&format!(" ({})", command.message));
        }
        for (name, out) in [("stdout", &command.stdout), ("stderr", &command.stderr)] {
            if !out.trim().is_empty() {
                text.push_str(&format!("\n{name}:\n{}", tail(out, 2000).trim_end()));
            }
        }
        st.store
            .finish_incident_action(a.id, &text, now_ms())
            .await?;
    }
    Ok(())
}

/// How long after an automatic action that exited 0 the pages still wait, for the checks to
/// see the fix and resolve the incident.
const FIX_GRACE_MS: i64 = 120_000;

/// An agent heard from this recently is taken to be reachable.
const AGENT_FRESH_MS: i64 = 120_000;

/// Whether an automatic action still holds the pages at `now`, and if not, whether its
/// command should be withdrawn (it never started: the host is unreachable).
fn still_holding(
    a: &IncidentActionRecord,
    command: Option<&CommandRecord>,
    now: i64,
) -> (bool, bool) {
    let timeout = command
        .and_then(|c| serde_json::from_str::<CommandSpec>(&c.spec).ok())
        .map_or(60, |s| s.timeout_s);
    let limit = a.started_at + i64::try_from(timeout).unwrap_or(60) * 1000 + 30_000;
    match command {
        Some(c) if c.state == CommandState::Finished => {
            // A fix that worked gets time to show; one that failed pages at once.
            let ok = c.exit_code == Some(0);
            let done = c.finished_at.unwrap_or(a.started_at);
            (ok && now < done + FIX_GRACE_MS, false)
        }
        Some(c) if now >= limit => (false, c.state == CommandState::Queued),
        Some(_) => (true, false),
        None => (false, false),
    }
}

/// Before an incident's first page: runs its automatic first-line action if it has one, and
/// says whether the pages must wait (the action runs, or it just fixed the problem and the
/// checks have not seen it yet). While they wait, the escalation's start moves with them, so
/// that its steps count from the release rather than all fire at once.
pub async fn first_line(
    st: &AppState,
    incident: &IncidentRecord,
    now: i64,
) -> Result<bool, AppError> {
    let hold = hold_for_first_line(st, incident, now).await?;
    if hold {
        let wait = i64::try_from(st.config.page_group_wait.as_millis()).unwrap_or(0);
        st.store.hold_escalation(incident.id, now - wait).await?;
    }
    Ok(hold)
}

fn pupitre_actor(incident: &IncidentRecord, now: i64) -> Actor {
    Actor {
        user_id: None,
        login: "pupitre".to_owned(),
        source: format!("automatic action, incident #{}", incident.id),
        at: now,
    }
}

async fn hold_for_first_line(
    st: &AppState,
    incident: &IncidentRecord,
    now: i64,
) -> Result<bool, AppError> {
    let done = st.store.incident_actions(incident.id).await?;
    if let Some(a) = done.iter().find(|a| a.automatic) {
        let command = st.store.get_command(a.command_id).await.ok();
        let (hold, withdraw) = still_holding(a, command.as_ref(), now);
        if withdraw
            && let Some(c) = &command
            && st
                .store
                .cancel_command(&pupitre_actor(incident, now), c.id)
                .await
                .is_ok()
        {
            // The host never took it: it must not run hours later when it comes back.
            let text = format!(
                "{} was not taken by the host's agent within its timeout: withdrawn",
                a.action
            );
            st.store.finish_incident_action(a.id, &text, now).await?;
        }
        return Ok(hold);
    }
    if !done.is_empty() {
        // Someone already acted by hand: page as usual.
        return Ok(false);
    }
    let tree = st.entity_tree().await?;
    for found in for_incident(st, None, incident).await? {
        let Some(action) = found.actions.iter().find(|a| a.automatic) else {
            continue;
        };
        // Unattended commands run only within the runbook's own entity (its author holds
        // jobs=manage there), on a host whose agent was heard from lately.
        let within = pupitre_core::permission::subtree(found.runbook.entity_id, &tree);
        let mut host = None;
        for (asset_id, _) in &found.hosts {
            if let Some(agent) = st.store.agent_of_asset(*asset_id).await?
                && within.contains(&agent.entity_id)
                && agent.last_seen_at.is_some_and(|t| now - t < AGENT_FRESH_MS)
            {
                host = Some(*asset_id);
                break;
            }
        }
        let Some(asset_id) = host else {
            continue;
        };
        if st
            .store
            .last_automatic_action(asset_id, &action.name, now - AUTOMATIC_QUIET_MS)
            .await?
            .is_some()
        {
            continue;
        }
        let f = LaunchFields {
            runbook_id: found.runbook.id,
            action: action.name.clone(),
            asset_id: Some(asset_id),
            confirm: true,
            version: None,
        };
        let plan = plan_launch(st, None, incident, &f).await?;
        let text = format!(
            "automatic first-line action {} on {} before paging: {}",
            plan.action.name,
            plan.asset,
            plan.action.command_line()
        );
        let actor = pupitre_actor(incident, now);
        return match start(st, &actor, incident, &plan, true, text).await {
            Ok(_) => Ok(true),
            // Another server started it a moment ago.
            Err(e) if e.status == axum::http::StatusCode::CONFLICT => Ok(true),
            Err(e) => {
                tracing::warn!(incident = incident.id, error = %e, "automatic action not started");
                Ok(false)
            }
        };
    }
    Ok(false)
}

// ---- Markdown -------------------------------------------------------------------------------

/// A runbook's markdown as HTML: raw HTML in it is shown as text, and only http(s), mailto
/// and relative links are kept.
pub fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
    let safe = |url: &CowStr| {
        let u = url.trim_start().to_ascii_lowercase();
        u.starts_with("http://")
            || u.starts_with("https://")
            || u.starts_with("mailto:")
            || u.starts_with('/')
            || u.starts_with('#')
            || !u.contains(':')
    };
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |event| match event {
            Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe(&dest_url) => Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe(&dest_url) => Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            other => other,
        },
    );
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(started_at: i64) -> IncidentActionRecord {
        IncidentActionRecord {
            id: 1,
            incident_id: 1,
            runbook_id: Some(1),
            runbook_version: 1,
            action: "restart".to_owned(),
            asset_id: 1,
            command_id: 1,
            automatic: true,
            state: "running".to_owned(),
            started_by: "pupitre".to_owned(),
            started_at,
            finished_at: None,
        }
    }

    fn command(
        state: CommandState,
        exit_code: Option<i64>,
        finished_at: Option<i64>,
    ) -> CommandRecord {
        CommandRecord {
            id: 1,
            agent_id: 1,
            kind: "exec".to_owned(),
            spec: r#"{"argv":["/bin/true"],"timeout_s":30}"#.to_owned(),
            state,
            cancel_requested: false,
            outcome: None,
            exit_code,
            stdout: String::new(),
            stderr: String::new(),
            stdout_bytes: 0,
            stderr_bytes: 0,
            message: String::new(),
            created_by: "pupitre".to_owned(),
            created_at: 0,
            started_at: None,
            finished_at,
        }
    }

    #[test]
    fn an_automatic_action_holds_the_pages_while_it_runs_and_while_its_fix_shows() {
        let a = action(0);
        // Running: held until its timeout (30 s) and a margin (30 s).
        let running = command(CommandState::Running, None, None);
        assert_eq!(still_holding(&a, Some(&running), 59_000), (true, false));
        assert_eq!(still_holding(&a, Some(&running), 60_000), (false, false));
        // Never taken by the host: released at the limit, and withdrawn.
        let queued = command(CommandState::Queued, None, None);
        assert_eq!(still_holding(&a, Some(&queued), 10_000), (true, false));
        assert_eq!(still_holding(&a, Some(&queued), 60_000), (false, true));
        // It worked: two more minutes for the checks to see it.
        let fixed = command(CommandState::Finished, Some(0), Some(5_000));
        assert_eq!(still_holding(&a, Some(&fixed), 124_000), (true, false));
        assert_eq!(still_holding(&a, Some(&fixed), 125_000), (false, false));
        // It failed: page at once.
        let failed = command(CommandState::Finished, Some(1), Some(5_000));
        assert_eq!(still_holding(&a, Some(&failed), 6_000), (false, false));
        assert_eq!(still_holding(&a, None, 6_000), (false, false));
    }

    #[test]
    fn markdown_keeps_no_html_and_no_script_links() {
        let html = markdown_html(
            "# Disk full\n\n<script>alert(1)</script>\n\nSee [the wiki](https://wiki/x) \
             and [this](javascript:alert(1)).\n\n```\ndf -h\n```\n",
        );
        assert!(html.contains("<h1>Disk full</h1>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains(r#"<a href="https://wiki/x">"#), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<code>df -h\n</code>"), "{html}");
    }
}
