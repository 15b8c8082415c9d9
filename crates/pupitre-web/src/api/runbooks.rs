//! `/api/v1/runbooks`, and an incident's runbooks and actions: versioned markdown with the
//! corrective actions it declares, launched from incidents with a confirmation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pupitre_core::permission::Level;
use pupitre_store::agents::CommandRecord;
use pupitre_store::runbooks::{IncidentActionRecord, RunbookRecord};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::ops::runbooks::{self as ops, ActionFields, LaunchFields, RunbookFields};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

#[derive(Serialize, ToSchema)]
pub struct RunbookView {
    pub id: i64,
    pub entity_id: i64,
    pub target_kind: String,
    pub target: String,
    /// The version shown, and the newest.
    pub version: i64,
    pub latest: i64,
    /// The runbook's title.
    pub name: String,
    /// Markdown.
    pub body: String,
    pub actions: Vec<ActionFields>,
    /// What this version changed.
    pub note: String,
    /// Who wrote this version, and when.
    pub author: String,
    pub written_at: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<&RunbookRecord> for RunbookView {
    fn from(r: &RunbookRecord) -> RunbookView {
        RunbookView {
            id: r.id,
            entity_id: r.entity_id,
            target_kind: r.target_kind.clone(),
            target: r.target.clone(),
            version: r.version,
            latest: r.latest,
            name: r.title.clone(),
            body: r.body.clone(),
            actions: ops::actions_of(r),
            note: r.note.clone(),
            author: r.author.clone(),
            written_at: rfc3339(r.written_at),
            created_by: r.created_by.clone(),
            created_at: rfc3339(r.created_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/runbooks", tag = "incidents",
    responses((status = 200, body = Vec<RunbookView>)))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<RunbookView>> {
    let list = ops::list(&st, &caller).await?;
    Ok(Json(list.iter().map(RunbookView::from).collect()))
}

/// Writes a runbook (version 1). Declaring actions takes jobs=manage on its entity.
#[utoipa::path(post, path = "/api/v1/runbooks", tag = "incidents",
    request_body = RunbookFields, responses((status = 201, body = RunbookView)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<RunbookFields>,
) -> Result<(StatusCode, Json<RunbookView>), AppError> {
    let r = ops::create(&st, &caller, &f).await?;
    Ok((StatusCode::CREATED, Json(RunbookView::from(&r))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionParam {
    /// An older version; default the newest.
    pub version: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/runbooks/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id"),
        ("version" = Option<i64>, Query, description = "An older version; the newest by default")),
    responses((status = 200, body = RunbookView)))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiQuery(p): ApiQuery<VersionParam>,
) -> ApiResult<RunbookView> {
    let r = ops::get(&st, &caller, id, p.version, Level::Read).await?;
    Ok(Json(RunbookView::from(&r)))
}

/// Writes a new version (the older ones stay readable).
#[utoipa::path(put, path = "/api/v1/runbooks/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = RunbookFields, responses((status = 200, body = RunbookView)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<RunbookFields>,
) -> ApiResult<RunbookView> {
    let r = ops::update(&st, &caller, id, &f).await?;
    Ok(Json(RunbookView::from(&r)))
}

#[utoipa::path(delete, path = "/api/v1/runbooks/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")), responses((status = 204)))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version, newest first.
#[utoipa::path(get, path = "/api/v1/runbooks/{id}/versions", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<RunbookView>)))]
pub async fn versions(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<RunbookView>> {
    let list = ops::versions(&st, &caller, id).await?;
    Ok(Json(list.iter().map(RunbookView::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct HostView {
    pub asset_id: i64,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApplicableView {
    pub runbook: RunbookView,
    /// The incident's hosts its actions may run on (with an active agent), the cause first.
    pub hosts: Vec<HostView>,
}

/// The runbooks that apply to the incident: those of its assets, of its checks' templates
/// and of its alerts' services.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/runbooks", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<ApplicableView>)))]
pub async fn for_incident(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<ApplicableView>> {
    let incident = crate::ops::incidents::get_incident(&st, &caller, id, Level::Read).await?;
    let list = ops::for_incident(&st, Some(&caller), &incident).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| ApplicableView {
                runbook: RunbookView::from(&a.runbook),
                hosts: a
                    .hosts
                    .into_iter()
                    .map(|(asset_id, name)| HostView { asset_id, name })
                    .collect(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ActionView {
    pub id: i64,
    pub runbook_id: Option<i64>,
    pub runbook_version: i64,
    pub action: String,
    pub asset_id: i64,
    pub command_id: i64,
    pub automatic: bool,
    /// `running` or `done`.
    pub state: String,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
}

impl ActionView {
    fn new(a: &IncidentActionRecord, c: Option<&CommandRecord>) -> ActionView {
        ActionView {
            id: a.id,
            runbook_id: a.runbook_id,
            runbook_version: a.runbook_version,
            action: a.action.clone(),
            asset_id: a.asset_id,
            command_id: a.command_id,
            automatic: a.automatic,
            state: a.state.clone(),
            started_by: a.started_by.clone(),
            started_at: rfc3339(a.started_at),
            finished_at: a.finished_at.map(rfc3339),
            exit_code: c.and_then(|c| c.exit_code),
            stdout: c.map(|c| c.stdout.clone()).unwrap_or_default(),
            stderr: c.map(|c| c.stderr.clone()).unwrap_or_default(),
        }
    }
}

/// Launches one of the incident's runbooks' actions on a host's agent. Without
/// `confirm: true` it runs nothing and says what it would run where.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/actions", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = LaunchFields, responses((status = 202, body = ActionView)))]
pub async fn launch(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<LaunchFields>,
) -> Result<(StatusCode, Json<ActionView>), AppError> {
    let (action, command) = ops::launch(&st, &caller, id, &f).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ActionView::new(&action, Some(&command))),
    ))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/actions", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<ActionView>)))]
pub async fn actions(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<ActionView>> {
    let list = ops::incident_actions(&st, &caller, id).await?;
    Ok(Json(
        list.iter()
            .map(|(a, c)| ActionView::new(a, c.as_ref()))
            .collect(),
    ))
}

#[derive(OpenApi)]
#[openapi(paths(
    list,
    create,
    get,
    update,
    delete,
    versions,
    for_incident,
    launch,
    actions
))]
pub struct RunbooksDoc;
