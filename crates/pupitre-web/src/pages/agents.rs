//! The agents page: every agent the caller may see, with its version, OS, address, last
//! contact, lateness, clock and whether it needs an upgrade, and the enrolment tokens; and the
//! forms that approve, rotate and revoke agents and create and revoke tokens. One agent's page
//! edits its configuration and runs commands on its host; a command's page follows its output.
//! They call the same operations as `/api/v1/agents`, `/api/v1/agent-enrolments` and
//! `/api/v1/agent-commands`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use pupitre_agent::wire::{AgentConfig, Collectors, CommandSpec, LogPattern};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::{Jobs, Monitoring};
use pupitre_core::permission::Level::{Manage, Operate, Read};

use super::{
    Done, FieldErrors, FormData, Frame, PageError, PageResult, entity_names, perr, see_other,
};
use crate::api::agents::{AgentView, CommandView, EnrolmentView};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::agents::{self, EnrolmentInput};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/agents.html")]
struct AgentsPage {
    f: Frame,
    agents: Vec<(AgentView, String)>,
    tokens: Vec<(EnrolmentView, String)>,
    /// Entities an agent may be approved into or a token may enrol into: (id, name).
    entities: Vec<(i64, String)>,
    can_manage: bool,
    /// A token just created, shown this once.
    new_token: Option<String>,
    error: Option<String>,
}

async fn list(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    render(&st, &caller, d.done.as_deref(), None, None)
        .await
        .map_err(perr(&caller))
}

async fn render(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    new_token: Option<String>,
    error: Option<AppError>,
) -> Result<axum::response::Response, AppError> {
    let entities = entity_names(st).await?;
    let name = |id: i64| {
        entities
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    };
    let agents = agents::list_agents(st, caller)
        .await?
        .iter()
        .map(|a| (AgentView::from(a), name(a.entity_id)))
        .collect();
    let tokens = agents::list_enrolments(st, caller)
        .await?
        .iter()
        .map(|e| (EnrolmentView::from(e), name(e.entity_id)))
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = AgentsPage {
        f: Frame::new(caller, "/monitoring", "monitoring.agents").with_flash(done),
        agents,
        tokens,
        entities: entities
            .iter()
            .filter(|(id, _)| caller.grants.allows(Monitoring, Manage, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        can_manage: caller.grants.allows_somewhere(Monitoring, Manage),
        new_token,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

/// A number typed in a form; the field's error otherwise.
fn number(form: &FormData, field: &str) -> Result<i64, AppError> {
    form.get(field)
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(field, "must be a whole number"))
}

async fn create_enrolment(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let input = EnrolmentInput {
            entity_id: number(&form, "entity_id")?,
            label: form.get("label"),
            max_uses: number(&form, "max_uses")?,
            valid_hours: number(&form, "valid_hours")?,
        };
        agents::create_enrolment(&st, &caller, &input).await
    }
    .await;
    match result {
        // The token is shown on the page that answers the form, once; never in a URL.
        Ok((_, token)) => render(&st, &caller, Some("created"), Some(token), None).await,
        Err(e) => render(&st, &caller, None, None, Some(e)).await,
    }
    .map_err(perr(&caller))
}

async fn revoke_enrolment(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::revoke_enrolment(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/agents?done=revoked"))
}

async fn approve(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = match number(&form, "entity_id") {
        Ok(entity) => agents::approve(&st, &caller, id, entity).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/monitoring/agents?done=saved")),
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            render(&st, &caller, None, None, Some(e))
                .await
                .map_err(perr(&caller))
        }
        Err(e) => Err(PageError(caller, e)),
    }
}

async fn rotate(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::rotate(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/agents?done=saved"))
}

async fn revoke(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::revoke(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/agents?done=revoked"))
}

// ---- One agent: its configuration and its commands ----------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/agent.html")]
struct AgentPage {
    f: Frame,
    a: AgentView,
    entity: String,
    /// The configuration as saved, or as typed when the form was refused.
    config: AgentConfig,
    /// The log rows of the form: the configured ones and two empty ones.
    logs: Vec<LogPattern>,
    commands: Vec<(CommandView, String)>,
    can_configure: bool,
    can_see_commands: bool,
    can_run: bool,
    run: RunForm,
    errors: FieldErrors,
}

/// The command form as typed, kept when it is refused.
#[derive(Default)]
struct RunForm {
    argv: String,
    user: String,
    cwd: String,
    timeout_s: String,
    env: String,
    stdin: String,
}

impl RunForm {
    fn of(form: &FormData) -> RunForm {
        RunForm {
            argv: form.get("argv"),
            user: form.get("user").trim().to_owned(),
            cwd: form.get("cwd").trim().to_owned(),
            timeout_s: form.get("timeout_s").trim().to_owned(),
            env: form.get("env"),
            stdin: form.get("stdin"),
        }
    }

    /// The command: one argument per line (no shell), `NAME=value` per line of environment.
    fn spec(&self) -> Result<CommandSpec, AppError> {
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut env = std::collections::BTreeMap::new();
        for (i, line) in lines(&self.env).iter().enumerate() {
            let Some((name, value)) = line.split_once('=') else {
                return Err(AppError::invalid(
                    "env",
                    format!("line {}: must read NAME=value", i + 1),
                ));
            };
            env.insert(name.trim().to_owned(), value.to_owned());
        }
        let timeout_s = if self.timeout_s.is_empty() {
            300
        } else {
            self.timeout_s
                .parse()
                .map_err(|_| AppError::invalid("timeout_s", "must be a whole number of seconds"))?
        };
        Ok(CommandSpec {
            argv: lines(&self.argv),
            plugin: String::new(),
            arguments: Vec::new(),
            user: self.user.clone(),
            env,
            cwd: self.cwd.clone(),
            timeout_s,
            stdin: self.stdin.clone(),
            max_output_bytes: 1024 * 1024,
        })
    }
}

/// The configuration the form describes; the numbers' errors name their field.
fn config_of_form(form: &FormData) -> Result<AgentConfig, AppError> {
    let unsigned = |field: &str| -> Result<u64, AppError> {
        form.get(field)
            .trim()
            .parse()
            .map_err(|_| AppError::invalid(field, "must be a whole number"))
    };
    let logs = form
        .all("log_name")
        .into_iter()
        .zip(form.all("log_path"))
        .zip(form.all("log_pattern"))
        .map(|((name, path), pattern)| LogPattern {
            name: name.trim().to_owned(),
            path: path.trim().to_owned(),
            pattern,
        })
        .filter(|l| !(l.name.is_empty() && l.path.is_empty() && l.pattern.is_empty()))
        .collect();
    Ok(AgentConfig {
        interval_s: unsigned("interval_s")?,
        collectors: Collectors {
            cpu: form.checked("cpu"),
            per_core: form.checked("per_core"),
            memory: form.checked("memory"),
            filesystems: form.checked("filesystems"),
            disks: form.checked("disks"),
            network: form.checked("network"),
            processes: form.checked("processes"),
            systemd: form.checked("systemd"),
        },
        top_processes: usize::try_from(unsigned("top_processes")?).unwrap_or(usize::MAX),
        logs,
        buffer_max_bytes: unsigned("buffer_mib")?.saturating_mul(1024 * 1024),
    })
}

/// How a command reads in a list: its program and arguments, quoted where needed.
fn command_line(spec: &str) -> String {
    let Ok(spec) = serde_json::from_str::<CommandSpec>(spec) else {
        return String::new();
    };
    let quote = |a: &String| {
        if !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    if spec.plugin.is_empty() {
        spec.argv.iter().map(quote).collect::<Vec<_>>().join(" ")
    } else {
        std::iter::once(format!("[{}]", spec.plugin))
            .chain(spec.arguments.iter().map(quote))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

async fn show(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    render_agent(
        &st,
        &caller,
        id,
        d.done.as_deref(),
        None,
        RunForm::default(),
        None,
    )
    .await
    .map_err(perr(&caller))
}

async fn render_agent(
    st: &AppState,
    caller: &Caller,
    id: i64,
    done: Option<&str>,
    typed: Option<AgentConfig>,
    run: RunForm,
    error: Option<AppError>,
) -> Result<axum::response::Response, AppError> {
    let agent = agents::get_agent(st, caller, id, Read).await?;
    let entities = entity_names(st).await?;
    let can_see_commands = caller.grants.allows(Jobs, Read, agent.entity_id);
    let commands = if can_see_commands {
        agents::list_commands(st, caller, id)
            .await?
            .iter()
            .map(|c| (CommandView::from(c), command_line(&c.spec)))
            .collect()
    } else {
        Vec::new()
    };
    let config = typed.unwrap_or_else(|| agents::config_of(&agent));
    let mut logs = config.logs.clone();
    logs.extend(std::iter::repeat_n(
        LogPattern {
            name: String::new(),
            path: String::new(),
            pattern: String::new(),
        },
        2,
    ));
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = AgentPage {
        f: Frame::new(caller, "/monitoring", "monitoring.agents").with_flash(done),
        entity: entities
            .get(&agent.entity_id)
            .cloned()
            .unwrap_or_else(|| format!("#{}", agent.entity_id)),
        can_configure: caller.grants.allows(Monitoring, Manage, agent.entity_id),
        can_run: caller.grants.allows(Jobs, Manage, agent.entity_id),
        can_see_commands,
        a: AgentView::from(&agent),
        config,
        logs,
        commands,
        run,
        errors: error.as_ref().map(FieldErrors::of).unwrap_or_default(),
    };
    Ok((status, page).into_response())
}

/// Re-renders the agent's page with a refused form's error; other errors go to the error page.
async fn refused(
    st: &AppState,
    caller: Caller,
    id: i64,
    typed: Option<AgentConfig>,
    run: RunForm,
    e: AppError,
) -> PageResult {
    if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT {
        render_agent(st, &caller, id, None, typed, run, Some(e))
            .await
            .map_err(perr(&caller))
    } else {
        Err(PageError(caller, e))
    }
}

async fn configure(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let config = match config_of_form(&form) {
        Ok(config) => config,
        Err(e) => return refused(&st, caller, id, None, RunForm::default(), e).await,
    };
    match agents::configure(&st, &caller, id, &config).await {
        Ok(_) => Ok(see_other(&format!("/monitoring/agents/{id}?done=saved"))),
        Err(e) => refused(&st, caller, id, Some(config), RunForm::default(), e).await,
    }
}

async fn run_command(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let run = RunForm::of(&FormData::parse(&body));
    let queued = match run.spec() {
        Ok(spec) => agents::queue_command(&st, &caller, id, &spec).await,
        Err(e) => Err(e),
    };
    match queued {
        Ok(c) => Ok(see_other(&format!("/monitoring/agent-commands/{}", c.id))),
        Err(e) => refused(&st, caller, id, None, run, e).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/agent_command.html")]
struct CommandPage {
    f: Frame,
    c: CommandView,
    line: String,
    spec: Option<CommandSpec>,
    agent: String,
    can_cancel: bool,
}

async fn show_command(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let result = async {
        let command = agents::get_command(&st, &caller, id, Read).await?;
        let agent = st.store.get_agent(command.agent_id).await?;
        Ok::<_, AppError>(CommandPage {
            f: Frame::new(&caller, "/monitoring", "monitoring.agents"),
            line: command_line(&command.spec),
            spec: serde_json::from_str(&command.spec).ok(),
            agent: agent.facts.name.clone(),
            can_cancel: caller.grants.allows(Jobs, Operate, agent.entity_id),
            c: CommandView::from(&command),
        })
    }
    .await;
    result
        .map(IntoResponse::into_response)
        .map_err(perr(&caller))
}

async fn cancel_command(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::cancel_command(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other(&format!("/monitoring/agent-commands/{id}")))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Monitoring, Read);
    let manage = Access::Domain(Monitoring, Manage);
    vec![
        page(Method::GET, "/monitoring/agents", read, list),
        page(Method::GET, "/monitoring/agents/{id}", read, show),
        page(
            Method::POST,
            "/monitoring/agents/{id}/config",
            manage,
            configure,
        ),
        page(
            Method::POST,
            "/monitoring/agents/{id}/commands",
            Access::Domain(Jobs, Manage),
            run_command,
        ),
        page(
            Method::GET,
            "/monitoring/agent-commands/{id}",
            Access::Domain(Jobs, Read),
            show_command,
        ),
        page(
            Method::POST,
            "/monitoring/agent-commands/{id}/cancel",
            Access::Domain(Jobs, Operate),
            cancel_command,
        ),
        page(
            Method::POST,
            "/monitoring/agents/{id}/approve",
            manage,
            approve,
        ),
        page(
            Method::POST,
            "/monitoring/agents/{id}/rotate",
            manage,
            rotate,
        ),
        page(
            Method::POST,
            "/monitoring/agents/{id}/revoke",
            manage,
            revoke,
        ),
        page(
            Method::POST,
            "/monitoring/agent-enrolments",
            manage,
            create_enrolment,
        ),
        page(
            Method::POST,
            "/monitoring/agent-enrolments/{id}/revoke",
            manage,
            revoke_enrolment,
        ),
    ]
}
