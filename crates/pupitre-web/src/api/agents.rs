//! `/api/v1/agents` and `/api/v1/agent-enrolments`: the agents, their enrolment tokens,
//! approval, revocation, credential rotation and configuration; and `/api/v1/agent/*`, what
//! the agents themselves call with their own credential (see `pupitre_agent::wire`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pupitre_agent::wire::{AgentConfig, Batch, CommandSpec, EnrolRequest, PollRequest, Progress};
use pupitre_core::permission::Level;
use pupitre_store::agents::{AgentRecord, CommandRecord, Enrolment};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::api::views::rfc3339;
use crate::auth::{Caller, source_of};
use crate::error::AppError;
use crate::extract::{ApiJson, Id};
use crate::ops::agents::{self, EnrolmentInput};
use crate::state::{AppState, now_ms};

type ApiResult<T> = Result<Json<T>, AppError>;

/// The largest request body an agent may send once decompressed.
const MAX_AGENT_BODY: usize = 16 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct AgentView {
    pub id: i64,
    pub name: String,
    pub entity_id: i64,
    /// The asset of the agent's host.
    pub asset_id: Option<i64>,
    /// `pending`, `active` or `revoked`.
    pub status: String,
    pub machine_id: String,
    pub version: String,
    pub os: String,
    pub arch: String,
    /// The address of its last request.
    pub address: String,
    pub last_seen_at: Option<String>,
    /// Not heard from within three intervals.
    pub late: bool,
    /// The agent's clock minus the server's (ms); its samples are corrected when off by more
    /// than 2 s.
    pub clock_skew_ms: i64,
    pub clock_skew_flagged: bool,
    pub upgrade_needed: bool,
    pub rotation_pending: bool,
    pub config_version: i64,
    #[schema(value_type = Object)]
    pub config: AgentConfig,
    pub created_at: String,
}

impl From<&AgentRecord> for AgentView {
    fn from(a: &AgentRecord) -> AgentView {
        let config = agents::config_of(a);
        let late = a.status == pupitre_store::agents::AgentStatus::Active
            && a.last_seen_at
                .is_none_or(|seen| now_ms() - seen > 3 * 1000 * config.interval_s.max(30) as i64);
        AgentView {
            id: a.id,
            name: a.facts.name.clone(),
            entity_id: a.entity_id,
            asset_id: a.asset_id,
            status: a.status.key().to_owned(),
            machine_id: a.facts.machine_id.clone(),
            version: a.facts.version.clone(),
            os: a.facts.os.clone(),
            arch: a.facts.arch.clone(),
            address: a.facts.address.clone(),
            last_seen_at: a.last_seen_at.map(rfc3339),
            late,
            clock_skew_ms: a.clock_skew_ms,
            clock_skew_flagged: a.clock_skew_ms.abs() > pupitre_agent::wire::SKEW_TOLERANCE_MS,
            upgrade_needed: agents::upgrade_needed(a),
            rotation_pending: a.rotate,
            config_version: a.config_version,
            config,
            created_at: rfc3339(a.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    pub id: i64,
    pub entity_id: i64,
    pub label: String,
    /// The token's first characters.
    pub prefix: String,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at: String,
    pub revoked: bool,
    /// Still enrols: not revoked, not expired, uses left.
    pub usable: bool,
    pub created_by: String,
    pub created_at: String,
}

impl From<&Enrolment> for EnrolmentView {
    fn from(e: &Enrolment) -> EnrolmentView {
        EnrolmentView {
            id: e.id,
            entity_id: e.entity_id,
            label: e.label.clone(),
            prefix: e.prefix.clone(),
            max_uses: e.max_uses,
            uses: e.uses,
            expires_at: rfc3339(e.expires_at),
            revoked: e.revoked_at.is_some(),
            usable: e.revoked_at.is_none() && e.expires_at > now_ms() && e.uses < e.max_uses,
            created_by: e.created_by.clone(),
            created_at: rfc3339(e.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentFields {
    pub entity_id: i64,
    pub label: String,
    /// How many agents the token may enrol (default 1).
    #[serde(default = "one")]
    pub max_uses: i64,
    /// How long the token enrols (default 24 hours).
    #[serde(default = "day")]
    pub valid_hours: i64,
}

fn one() -> i64 {
    1
}

fn day() -> i64 {
    24
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEnrolment {
    pub enrolment: EnrolmentView,
    /// The token, shown this once: `pupitre agent --server URL --token TOKEN`.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveFields {
    /// The entity the agent's host joins.
    pub entity_id: i64,
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, body = Vec<AgentView>)))]
pub async fn list_agents(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<AgentView>> {
    let list = agents::list_agents(&st, &caller).await?;
    Ok(Json(list.iter().map(AgentView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AgentView)))]
pub async fn get_agent(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<AgentView> {
    let a = agents::get_agent(&st, &caller, id, Level::Read).await?;
    Ok(Json(AgentView::from(&a)))
}

/// A pending agent (enrolled without a token) becomes active in the entity given.
#[utoipa::path(post, path = "/api/v1/agents/{id}/approve", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = ApproveFields, responses((status = 200, body = AgentView)))]
pub async fn approve_agent(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<ApproveFields>,
) -> ApiResult<AgentView> {
    let a = agents::approve(&st, &caller, id, f.entity_id).await?;
    Ok(Json(AgentView::from(&a)))
}

/// The agent's credential stops opening anything, at once.
#[utoipa::path(post, path = "/api/v1/agents/{id}/revoke", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AgentView)))]
pub async fn revoke_agent(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<AgentView> {
    let a = agents::revoke(&st, &caller, id).await?;
    Ok(Json(AgentView::from(&a)))
}

/// The agent gets a new credential at its next poll; the old one works until it uses it.
#[utoipa::path(post, path = "/api/v1/agents/{id}/rotate", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AgentView)))]
pub async fn rotate_agent(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<AgentView> {
    let a = agents::rotate(&st, &caller, id).await?;
    Ok(Json(AgentView::from(&a)))
}

/// Replaces the agent's configuration (interval, collectors, log patterns, buffer bound);
/// the agent applies it at once.
#[utoipa::path(put, path = "/api/v1/agents/{id}/config", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body(content = Object), responses((status = 200, body = AgentView)))]
pub async fn configure_agent(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(config): ApiJson<AgentConfig>,
) -> ApiResult<AgentView> {
    let a = agents::configure(&st, &caller, id, &config).await?;
    Ok(Json(AgentView::from(&a)))
}

#[utoipa::path(get, path = "/api/v1/agent-enrolments", tag = "agents",
    responses((status = 200, body = Vec<EnrolmentView>)))]
pub async fn list_enrolments(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<EnrolmentView>> {
    let list = agents::list_enrolments(&st, &caller).await?;
    Ok(Json(list.iter().map(EnrolmentView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/agent-enrolments", tag = "agents",
    request_body = EnrolmentFields, responses((status = 201, body = CreatedEnrolment)))]
pub async fn create_enrolment(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<EnrolmentFields>,
) -> Result<(StatusCode, Json<CreatedEnrolment>), AppError> {
    let (e, token) = agents::create_enrolment(
        &st,
        &caller,
        &EnrolmentInput {
            entity_id: f.entity_id,
            label: f.label,
            max_uses: f.max_uses,
            valid_hours: f.valid_hours,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEnrolment {
            enrolment: EnrolmentView::from(&e),
            token,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/agent-enrolments/{id}/revoke", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = EnrolmentView)))]
pub async fn revoke_enrolment(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<EnrolmentView> {
    let e = agents::revoke_enrolment(&st, &caller, id).await?;
    Ok(Json(EnrolmentView::from(&e)))
}

#[derive(Serialize, ToSchema)]
pub struct CommandView {
    pub id: i64,
    pub agent_id: i64,
    #[schema(value_type = Object)]
    pub spec: Value,
    /// `queued`, `running` or `finished`.
    pub state: String,
    pub cancel_requested: bool,
    /// `exited`, `timeout`, `killed` or `failed`, once finished.
    pub outcome: Option<String>,
    pub exit_code: Option<i64>,
    /// What was kept of each stream (up to the command's `max_output_bytes`).
    pub stdout: String,
    pub stderr: String,
    /// Bytes written in all, kept or not.
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
    pub message: String,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl From<&CommandRecord> for CommandView {
    fn from(c: &CommandRecord) -> CommandView {
        CommandView {
            id: c.id,
            agent_id: c.agent_id,
            spec: serde_json::from_str(&c.spec).unwrap_or(Value::Null),
            state: c.state.key().to_owned(),
            cancel_requested: c.cancel_requested,
            outcome: c.outcome.clone(),
            exit_code: c.exit_code,
            stdout: c.stdout.clone(),
            stderr: c.stderr.clone(),
            stdout_bytes: c.stdout_bytes,
            stderr_bytes: c.stderr_bytes,
            message: c.message.clone(),
            created_by: c.created_by.clone(),
            created_at: rfc3339(c.created_at),
            started_at: c.started_at.map(rfc3339),
            finished_at: c.finished_at.map(rfc3339),
        }
    }
}

/// Runs a command on the agent's host (jobs=manage): `argv` (no shell), `user`, `env`, `cwd`,
/// `timeout_s` (default 300), `stdin`, `max_output_bytes` (default 1 MiB per stream).
#[utoipa::path(post, path = "/api/v1/agents/{id}/commands", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body(content = Object), responses((status = 201, body = CommandView)))]
pub async fn create_command(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(spec): ApiJson<CommandSpec>,
) -> Result<(StatusCode, Json<CommandView>), AppError> {
    let c = agents::queue_command(&st, &caller, id, &spec).await?;
    Ok((StatusCode::CREATED, Json(CommandView::from(&c))))
}

/// The agent's last 100 commands, newest first.
#[utoipa::path(get, path = "/api/v1/agents/{id}/commands", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<CommandView>)))]
pub async fn list_commands(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<CommandView>> {
    let list = agents::list_commands(&st, &caller, id).await?;
    Ok(Json(list.iter().map(CommandView::from).collect()))
}

/// A command with its output so far.
#[utoipa::path(get, path = "/api/v1/agent-commands/{id}", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = CommandView)))]
pub async fn get_command(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<CommandView> {
    let c = agents::get_command(&st, &caller, id, Level::Read).await?;
    Ok(Json(CommandView::from(&c)))
}

/// Stops the command and every process it started (jobs=operate).
#[utoipa::path(post, path = "/api/v1/agent-commands/{id}/cancel", tag = "agents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = CommandView)))]
pub async fn cancel_command(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<CommandView> {
    let c = agents::cancel_command(&st, &caller, id).await?;
    Ok(Json(CommandView::from(&c)))
}

// ---- What agents call --------------------------------------------------------------------

/// Reads an agent's body (gzip or plain), bounded.
async fn agent_bytes(body: axum::body::Body, what: &str) -> Result<Vec<u8>, AppError> {
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the {what} is larger than {MAX_AGENT_BODY} bytes"),
        )
    };
    let raw: Bytes = axum::body::to_bytes(body, MAX_AGENT_BODY)
        .await
        .map_err(|_| too_large())?;
    let (_, plain) =
        pupitre_intake::decode::decompress(&raw, MAX_AGENT_BODY).map_err(|e| match e {
            pupitre_intake::IntakeError::TooLarge { .. } => too_large(),
            other => AppError::bad_request(format!("{what}: {other}")),
        })?;
    Ok(plain)
}

/// Reads an agent's body and decodes it as JSON; errors name the problem.
async fn agent_body<T: serde::de::DeserializeOwned>(
    body: axum::body::Body,
    what: &str,
) -> Result<T, AppError> {
    let plain = agent_bytes(body, what).await?;
    let mut de = serde_json::Deserializer::from_slice(&plain);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        AppError::invalid(
            if path == "." { what.to_owned() } else { path },
            e.into_inner().to_string(),
        )
    })
}

/// Logs a refusal with the agent and its reason, and answers it.
fn refused(e: AppError, source: &str, agent: Option<&AgentRecord>, what: &str) -> Response {
    tracing::warn!(
        %source,
        agent = agent.map(|a| a.id),
        name = agent.map(|a| a.facts.name.as_str()),
        status = e.status.as_u16(),
        error = %e.message,
        "agent {what} refused"
    );
    e.into_response()
}

/// An agent enrols (no credential yet; the token is in the body).
#[utoipa::path(post, path = "/api/v1/agent/enrol", tag = "agents",
    request_body(content = Object), responses((status = 201, body = Object)))]
pub async fn agent_enrol(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    let source = source_of(req.extensions());
    let result = async {
        let request: EnrolRequest = agent_body(req.into_body(), "enrolment").await?;
        agents::enrol(&st, &request, &source).await
    }
    .await;
    match result {
        Ok(reply) => (StatusCode::CREATED, Json(reply)).into_response(),
        Err(e) => refused(e, &source, None, "enrolment"),
    }
}

/// What every agent route does around its own work: authenticate the agent by its
/// credential, record its contact (time, address, measured clock skew), hand the body to
/// `handle`, answer its result as JSON, and log a refusal with the agent and its reason.
async fn as_agent<T: Serialize>(
    st: &AppState,
    req: axum::extract::Request,
    what: &str,
    handle: impl AsyncFnOnce(&AgentRecord, axum::body::Body) -> Result<T, AppError>,
) -> Response {
    let source = source_of(req.extensions());
    let mut agent = match agents::authenticate(st, req.headers(), &source).await {
        Ok(agent) => agent,
        Err(e) => return refused(e, &source, None, what),
    };
    agent.facts.address = source.clone();
    agent.clock_skew_ms = agents::clock_skew(req.headers(), now_ms());
    let result = match agents::record_contact(st, &agent).await {
        Ok(()) => handle(&agent, req.into_body()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => refused(e, &source, Some(&agent), what),
    }
}

/// One round of an agent's samples.
#[utoipa::path(post, path = "/api/v1/agent/samples", tag = "agents",
    request_body(content = Object), responses((status = 200, body = Object)))]
pub async fn agent_samples(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    as_agent(&st, req, "samples", async |agent, body| {
        let batch: Batch = agent_body(body, "batch").await?;
        agents::receive_samples(&st, agent, &batch).await
    })
    .await
}

/// The agent's long poll.
#[utoipa::path(post, path = "/api/v1/agent/poll", tag = "agents",
    request_body(content = Object), responses((status = 200, body = Object)))]
pub async fn agent_poll(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    as_agent(&st, req, "poll", async |agent, body| {
        let request: PollRequest = agent_body(body, "poll").await?;
        agents::poll(&st, agent.clone(), &request).await
    })
    .await
}

/// A command's output and end.
#[utoipa::path(post, path = "/api/v1/agent/progress", tag = "agents",
    request_body(content = Object), responses((status = 200, body = Object)))]
pub async fn agent_progress(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    as_agent(&st, req, "progress", async |agent, body| {
        let progress: Progress = agent_body(body, "progress").await?;
        agents::receive_progress(&st, agent, &progress).await
    })
    .await
}

/// The host's inventory, in GLPI Agent's JSON format.
#[utoipa::path(post, path = "/api/v1/agent/inventory", tag = "agents",
    request_body(content = Object), responses((status = 200, body = Object)))]
pub async fn agent_inventory(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    as_agent(&st, req, "inventory", async |agent, body| {
        let body = agent_bytes(body, "inventory").await?;
        agents::receive_inventory(&st, agent, &body).await
    })
    .await
}

#[derive(OpenApi)]
#[openapi(paths(
    list_agents,
    get_agent,
    approve_agent,
    revoke_agent,
    rotate_agent,
    configure_agent,
    list_enrolments,
    create_enrolment,
    revoke_enrolment,
    agent_enrol,
    agent_samples,
    agent_poll,
    agent_inventory,
    agent_progress,
    create_command,
    list_commands,
    get_command,
    cancel_command,
))]
pub struct AgentsDoc;
