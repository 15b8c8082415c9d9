//! Supervision endpoints: checks, "check now", acknowledgements, events, problems, the
//! tactical overview, downtimes, and the heartbeat URL that jobs call.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pupitre_core::monitoring::check::{CheckEvent, Downtime, HostState};
use pupitre_core::permission::Level;
use pupitre_store::monitoring::{ApplyReport, CheckRecord, StateCount, TemplateRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::ops::PageParams;
use crate::ops::check_templates::{self, TemplateCheckFields, TemplateFields};
use crate::ops::checks::{
    self, AckFields, CheckFields, CheckListParams, DowntimeFields, ProbeFields, Problem,
};
use crate::state::{AppState, now_ms};

type ApiResult<T> = Result<Json<T>, AppError>;

#[derive(Serialize, ToSchema)]
pub struct AckView {
    pub author: String,
    pub comment: String,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CheckView {
    pub id: i64,
    pub asset_id: i64,
    pub asset_name: String,
    pub entity_id: i64,
    pub name: String,
    pub probe: ProbeFields,
    pub interval: u32,
    pub retry_interval: u32,
    pub timeout: u32,
    pub max_attempts: u32,
    pub warning: String,
    pub critical: String,
    pub notifications: bool,
    pub host_check: bool,
    pub template_id: Option<i64>,
    /// `pending` before the first result, else `ok`, `warning`, `critical` or `unknown`.
    pub state: String,
    pub hard: bool,
    pub attempt: u32,
    /// For a host check: `pending`, `up`, `down` or `unreachable`.
    pub host_state: Option<String>,
    pub unreachable: bool,
    pub flapping: bool,
    pub flap_percent: f64,
    pub acknowledgement: Option<AckView>,
    pub last_change_at: Option<String>,
    pub last_hard_change_at: Option<String>,
    pub last_run_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub output: String,
    pub long_output: String,
    pub perfdata: String,
    pub last_heartbeat_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) fn state_key(record: &CheckRecord) -> &'static str {
    if record.status.is_pending() {
        "pending"
    } else {
        record.status.state.key()
    }
}

impl From<&CheckRecord> for CheckView {
    fn from(r: &CheckRecord) -> CheckView {
        let d = &r.check.definition;
        let s = &r.status;
        let last = r.last.as_ref();
        CheckView {
            id: r.check.id,
            asset_id: r.check.asset_id,
            asset_name: r.asset_name.clone(),
            entity_id: d.entity_id,
            name: d.name.clone(),
            probe: ProbeFields::from(&d.probe),
            interval: d.interval_s,
            retry_interval: d.retry_interval_s,
            timeout: d.timeout_s,
            max_attempts: d.max_attempts,
            warning: d.thresholds.warning_text(),
            critical: d.thresholds.critical_text(),
            notifications: d.notifications_enabled,
            host_check: r.check.host_check,
            template_id: r.check.template.map(|(t, _)| t),
            state: state_key(r).to_owned(),
            hard: s.hard,
            attempt: s.attempt,
            host_state: r
                .check
                .host_check
                .then(|| HostState::of(s).key().to_owned()),
            unreachable: s.unreachable,
            flapping: s.flapping,
            flap_percent: (s.flap_percent() * 10.0).round() / 10.0,
            acknowledgement: s.acknowledgement.as_ref().map(|a| AckView {
                author: a.author.clone(),
                comment: a.comment.clone(),
                expires_at: a.expires_at.map(rfc3339),
            }),
            last_change_at: s.last_change_at.map(rfc3339),
            last_hard_change_at: s.last_hard_change_at.map(rfc3339),
            last_run_at: last.map(|l| rfc3339(l.at)),
            duration_ms: last.map(|l| l.duration_ms),
            output: last.map(|l| l.output.clone()).unwrap_or_default(),
            long_output: last.map(|l| l.long_output.clone()).unwrap_or_default(),
            perfdata: last.map(|l| l.perfdata.clone()).unwrap_or_default(),
            last_heartbeat_at: r.heartbeat.as_ref().map(|h| rfc3339(h.at)),
            created_at: rfc3339(r.check.created_at),
            updated_at: rfc3339(r.check.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CheckList {
    pub items: Vec<CheckView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedCheck {
    #[serde(flatten)]
    pub check: CheckView,
    /// For a heartbeat check: the path to call (`GET` or `POST`), shown only now.
    pub heartbeat_path: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/checks", tag = "monitoring", params(CheckListParams),
    responses((status = 200, body = CheckList)))]
pub async fn list_checks(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<CheckListParams>,
) -> ApiResult<CheckList> {
    let (checks, next_cursor) = checks::list(&st, &caller, &p).await?;
    Ok(Json(CheckList {
        items: checks.iter().map(CheckView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v1/checks", tag = "monitoring", request_body = CheckFields,
    responses((status = 201, body = CreatedCheck)))]
pub async fn create_check(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<CheckFields>,
) -> Result<(StatusCode, Json<CreatedCheck>), AppError> {
    let created = checks::create(&st, &caller, f).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedCheck {
            check: CheckView::from(&created.record),
            heartbeat_path: created
                .heartbeat_token
                .map(|t| format!("/api/v1/heartbeat/{t}")),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/checks/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = CheckView)))]
pub async fn get_check(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<CheckView> {
    let record = checks::get(&st, &caller, id, Level::Read).await?;
    Ok(Json(CheckView::from(&record)))
}

#[utoipa::path(put, path = "/api/v1/checks/{id}", tag = "monitoring", request_body = CheckFields,
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = CheckView)))]
pub async fn update_check(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<CheckFields>,
) -> ApiResult<CheckView> {
    let record = checks::update(&st, &caller, id, f).await?;
    Ok(Json(CheckView::from(&record)))
}

#[utoipa::path(delete, path = "/api/v1/checks/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_check(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    checks::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RunView {
    pub state: String,
    pub hard: bool,
    pub output: String,
    pub duration_ms: i64,
}

#[utoipa::path(post, path = "/api/v1/checks/{id}/run", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = RunView)))]
pub async fn run_check(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<RunView> {
    let report = checks::run_now(&st, &caller, id).await?;
    Ok(Json(RunView {
        state: report.state.key().to_owned(),
        hard: report.hard,
        output: report.output,
        duration_ms: report.duration_ms,
    }))
}

#[utoipa::path(post, path = "/api/v1/checks/{id}/acknowledgement", tag = "monitoring",
    request_body = AckFields, params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = CheckView)))]
pub async fn acknowledge(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<AckFields>,
) -> ApiResult<CheckView> {
    let record = checks::acknowledge(&st, &caller, id, f).await?;
    Ok(Json(CheckView::from(&record)))
}

#[utoipa::path(delete, path = "/api/v1/checks/{id}/acknowledgement", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn unacknowledge(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    checks::unacknowledge(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub at: String,
    /// `state`, `flapping_started`, `flapping_stopped`, `acknowledged`,
    /// `acknowledgement_removed`.
    pub kind: String,
    pub state: String,
    pub previous_state: Option<String>,
    pub unreachable: bool,
    pub notify: bool,
    pub output: String,
}

impl From<&CheckEvent> for EventView {
    fn from(e: &CheckEvent) -> EventView {
        EventView {
            id: e.id,
            at: rfc3339(e.at),
            kind: e.kind.key().to_owned(),
            state: e.state.key().to_owned(),
            previous_state: e.previous_state.map(|s| s.key().to_owned()),
            unreachable: e.unreachable,
            notify: e.notify,
            output: e.output.clone(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/checks/{id}/events", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id"), PageParams),
    responses((status = 200, body = Vec<EventView>)))]
pub async fn check_events(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Vec<EventView>> {
    let events = checks::events(&st, &caller, id, &p).await?;
    Ok(Json(events.iter().map(EventView::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct ProblemView {
    #[serde(flatten)]
    pub check: CheckView,
    pub acknowledged: bool,
    pub in_downtime: bool,
}

impl From<&Problem> for ProblemView {
    fn from(p: &Problem) -> ProblemView {
        ProblemView {
            check: CheckView::from(&p.record),
            acknowledged: p.acknowledged,
            in_downtime: p.in_downtime,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/problems", tag = "monitoring",
    responses((status = 200, body = Vec<ProblemView>)))]
pub async fn problems(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<ProblemView>> {
    let problems = checks::problems(&st, &caller).await?;
    Ok(Json(problems.iter().map(ProblemView::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct CountView {
    pub entity_id: i64,
    pub site_id: Option<i64>,
    /// `pending`, `ok`, `warning`, `critical` or `unknown`.
    pub state: String,
    pub acknowledged: bool,
    pub count: i64,
}

impl From<&StateCount> for CountView {
    fn from(c: &StateCount) -> CountView {
        CountView {
            entity_id: c.entity_id,
            site_id: c.site_id,
            state: c.state.map_or("pending", |s| s.key()).to_owned(),
            acknowledged: c.acknowledged,
            count: c.count,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/monitoring/overview", tag = "monitoring",
    responses((status = 200, body = Vec<CountView>)))]
pub async fn overview(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<CountView>> {
    let counts = checks::overview(&st, &caller).await?;
    Ok(Json(counts.iter().map(CountView::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct DowntimeView {
    pub id: i64,
    pub entity_id: i64,
    pub asset_id: Option<i64>,
    pub check_id: Option<i64>,
    pub starts_at: String,
    pub ends_at: String,
    /// `mon`…`sun`, for a weekly downtime.
    pub weekdays: Vec<String>,
    pub start_time: Option<String>,
    pub duration_minutes: Option<u32>,
    /// The time zone of `weekdays` and `start_time`.
    pub time_zone: String,
    pub author: String,
    pub comment: String,
    /// In effect right now.
    pub active: bool,
}

impl From<&Downtime> for DowntimeView {
    fn from(d: &Downtime) -> DowntimeView {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let r = d.recurrence;
        DowntimeView {
            id: d.id,
            entity_id: d.entity_id,
            asset_id: d.asset_id,
            check_id: d.check_id,
            starts_at: rfc3339(d.starts_at),
            ends_at: rfc3339(d.ends_at),
            weekdays: r
                .map(|r| {
                    DAYS.iter()
                        .enumerate()
                        .filter(|(i, _)| r.weekdays & (1 << i) != 0)
                        .map(|(_, d)| (*d).to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            start_time: r.map(|r| format!("{:02}:{:02}", r.start_minute / 60, r.start_minute % 60)),
            duration_minutes: r.map(|r| r.duration_minutes),
            time_zone: d.time_zone.clone(),
            author: d.author.clone(),
            comment: d.comment.clone(),
            active: d.covers(now_ms()),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/downtimes", tag = "monitoring",
    responses((status = 200, body = Vec<DowntimeView>)))]
pub async fn list_downtimes(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<DowntimeView>> {
    let list = checks::list_downtimes(&st, &caller).await?;
    Ok(Json(list.iter().map(DowntimeView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/downtimes", tag = "monitoring", request_body = DowntimeFields,
    responses((status = 201, body = DowntimeView)))]
pub async fn create_downtime(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<DowntimeFields>,
) -> Result<(StatusCode, Json<DowntimeView>), AppError> {
    let d = checks::create_downtime(&st, &caller, f).await?;
    Ok((StatusCode::CREATED, Json(DowntimeView::from(&d))))
}

#[utoipa::path(delete, path = "/api/v1/downtimes/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_downtime(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    checks::delete_downtime(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a heartbeat call may say.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeartbeatParams {
    /// `ok`, `warning`, `critical`, `unknown`, or an exit code 0–3 (default: ok).
    pub status: Option<String>,
    /// Shown as the check's output (at most 1,000 characters).
    pub message: Option<String>,
}

/// The URL a cron job or a script calls when it has run; the secret in the path is the only
/// credential. Answers 204, or 404 for an unknown secret. `GET` does the same, for clients
/// that can only fetch a URL.
#[utoipa::path(post, path = "/api/v1/heartbeat/{token}", tag = "monitoring",
    params(("token" = String, Path, description = "The secret of the heartbeat URL"), HeartbeatParams),
    responses((status = 204), (status = 404)))]
pub async fn heartbeat(
    State(st): State<AppState>,
    Path(token): Path<String>,
    ApiQuery(p): ApiQuery<HeartbeatParams>,
) -> Result<StatusCode, AppError> {
    checks::heartbeat(&st, &token, p.status.as_deref(), p.message.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The heartbeat URL, fetched with `GET`.
#[utoipa::path(get, path = "/api/v1/heartbeat/{token}", tag = "monitoring",
    params(("token" = String, Path, description = "The secret of the heartbeat URL"), HeartbeatParams),
    responses((status = 204), (status = 404)))]
pub async fn heartbeat_get(
    st: State<AppState>,
    token: Path<String>,
    params: ApiQuery<HeartbeatParams>,
) -> Result<StatusCode, AppError> {
    heartbeat(st, token, params).await
}

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub id: i64,
    pub name: String,
    pub entity_id: i64,
    pub asset_types: Vec<String>,
    pub os_families: Vec<String>,
    pub tags: Vec<String>,
    pub asset_entity_id: Option<i64>,
    pub recursive: bool,
    pub statuses: Vec<String>,
    pub checks: Vec<TemplateCheckFields>,
    /// Checks that exist because of this template.
    pub applied_checks: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&TemplateRecord> for TemplateView {
    fn from(r: &TemplateRecord) -> TemplateView {
        let t = &r.template;
        TemplateView {
            id: t.id,
            name: t.name.clone(),
            entity_id: r.entity_id,
            asset_types: t
                .rule
                .asset_types
                .iter()
                .map(|a| a.key().to_owned())
                .collect(),
            os_families: t
                .rule
                .os_families
                .iter()
                .map(|o| o.key().to_owned())
                .collect(),
            tags: t.rule.tags.clone(),
            asset_entity_id: t.rule.entity.map(|e| e.entity_id),
            recursive: t.rule.entity.is_none_or(|e| e.recursive),
            statuses: t.rule.statuses.iter().map(|s| s.key().to_owned()).collect(),
            checks: t
                .checks
                .iter()
                .enumerate()
                .map(|(i, d)| TemplateCheckFields {
                    name: d.name.clone(),
                    probe: ProbeFields::from(&d.probe),
                    interval: i64::from(d.interval_s),
                    retry_interval: Some(i64::from(d.retry_interval_s)),
                    timeout: i64::from(d.timeout_s),
                    max_attempts: i64::from(d.max_attempts),
                    warning: d.thresholds.warning_text(),
                    critical: d.thresholds.critical_text(),
                    notifications: d.notifications_enabled,
                    host_check: t.host_check == Some(i),
                })
                .collect(),
            applied_checks: r.applied_checks,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApplyView {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Checks not created, and why (a manual check of the same name on the asset).
    pub skipped: Vec<String>,
}

impl From<&ApplyReport> for ApplyView {
    fn from(r: &ApplyReport) -> ApplyView {
        ApplyView {
            created: r.created,
            updated: r.updated,
            deleted: r.deleted,
            skipped: r.skipped.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AppliedTemplate {
    #[serde(flatten)]
    pub template: TemplateView,
    /// What saving the template changed on the matching assets.
    pub applied: ApplyView,
}

#[utoipa::path(get, path = "/api/v1/check-templates", tag = "monitoring",
    responses((status = 200, body = Vec<TemplateView>)))]
pub async fn list_templates(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<TemplateView>> {
    let list = check_templates::list(&st, &caller).await?;
    Ok(Json(list.iter().map(TemplateView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/check-templates", tag = "monitoring",
    request_body = TemplateFields, responses((status = 201, body = AppliedTemplate)))]
pub async fn create_template(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<TemplateFields>,
) -> Result<(StatusCode, Json<AppliedTemplate>), AppError> {
    let (t, report) = check_templates::create(&st, &caller, f).await?;
    Ok((
        StatusCode::CREATED,
        Json(AppliedTemplate {
            template: TemplateView::from(&t),
            applied: ApplyView::from(&report),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/check-templates/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = TemplateView)))]
pub async fn get_template(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<TemplateView> {
    let t = check_templates::get(&st, &caller, id, Level::Read).await?;
    Ok(Json(TemplateView::from(&t)))
}

#[utoipa::path(put, path = "/api/v1/check-templates/{id}", tag = "monitoring",
    request_body = TemplateFields, params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AppliedTemplate)))]
pub async fn update_template(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<TemplateFields>,
) -> ApiResult<AppliedTemplate> {
    let (t, report) = check_templates::update(&st, &caller, id, f).await?;
    Ok(Json(AppliedTemplate {
        template: TemplateView::from(&t),
        applied: ApplyView::from(&report),
    }))
}

#[utoipa::path(delete, path = "/api/v1/check-templates/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_template(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    check_templates::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(OpenApi)]
#[openapi(paths(
    list_templates,
    create_template,
    get_template,
    update_template,
    delete_template,
    list_checks,
    create_check,
    get_check,
    update_check,
    delete_check,
    run_check,
    acknowledge,
    unacknowledge,
    check_events,
    problems,
    overview,
    list_downtimes,
    create_downtime,
    delete_downtime,
    heartbeat,
    heartbeat_get,
))]
pub struct MonitoringDoc;
