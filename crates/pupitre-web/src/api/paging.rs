//! `/api/v1/escalation-policies` and `/api/v1/schedules`: who is paged for incidents and when;
//! the final schedule with its gaps, overrides, the on-call report; and the pages sent for an
//! incident with their delivery.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pupitre_core::permission::Level;
use pupitre_oncall::schedule::Source;
use pupitre_store::incidents::{NotificationRecord, OverrideRecord, PolicyRecord, ScheduleRecord};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api::views::{parse_instant, rfc3339};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::ops::paging::{
    self as ops, PolicyDefinition, ScheduleDefinition, ScheduleFields, StepFields,
};
use crate::state::{AppState, now_ms};

type ApiResult<T> = Result<Json<T>, AppError>;

#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    pub id: i64,
    /// The entity whose incidents it pages for (and those below without a policy).
    pub entity_id: i64,
    pub name: String,
    pub steps: Vec<StepFields>,
    pub repeat: u32,
    pub updated_at: String,
}

impl From<&PolicyRecord> for PolicyView {
    fn from(p: &PolicyRecord) -> PolicyView {
        let d = ops::policy_definition(p).unwrap_or(PolicyDefinition {
            steps: Vec::new(),
            repeat: 0,
        });
        PolicyView {
            id: p.id,
            entity_id: p.entity_id,
            name: p.name.clone(),
            steps: d.steps,
            repeat: d.repeat,
            updated_at: rfc3339(p.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFields {
    pub entity_id: i64,
    pub name: String,
    pub steps: Vec<StepFields>,
    #[serde(default)]
    pub repeat: u32,
}

#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "incidents",
    responses((status = 200, body = Vec<PolicyView>)))]
pub async fn list_policies(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<PolicyView>> {
    let list = ops::list_policies(&st, &caller).await?;
    Ok(Json(list.iter().map(PolicyView::from).collect()))
}

/// Sets the entity's escalation policy (incidents=manage), replacing the one it had. Each
/// step pages its targets (`{"user_id"}`, `{"schedule_id"}` or `{"team_id"}`) and waits
/// `delay_minutes` for an acknowledgement before the next; `repeat` runs it all again.
#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "incidents",
    request_body = PolicyFields, responses((status = 200, body = PolicyView)))]
pub async fn put_policy(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<PolicyFields>,
) -> ApiResult<PolicyView> {
    let definition = PolicyDefinition {
        steps: f.steps,
        repeat: f.repeat,
    };
    let p = ops::put_policy(&st, &caller, f.entity_id, &f.name, &definition).await?;
    Ok(Json(PolicyView::from(&p)))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = PolicyView)))]
pub async fn get_policy(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<PolicyView> {
    let p = ops::get_policy(&st, &caller, id, Level::Read).await?;
    Ok(Json(PolicyView::from(&p)))
}

#[utoipa::path(delete, path = "/api/v1/escalation-policies/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_policy(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::delete_policy(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: i64,
    pub entity_id: i64,
    pub name: String,
    pub time_zone: String,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    pub updated_at: String,
}

impl From<&ScheduleRecord> for ScheduleView {
    fn from(s: &ScheduleRecord) -> ScheduleView {
        ScheduleView {
            id: s.id,
            entity_id: s.entity_id,
            name: s.name.clone(),
            time_zone: s.time_zone.clone(),
            definition: serde_json::from_str(&s.definition).unwrap_or_default(),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    pub entity_id: i64,
    pub name: String,
    /// An IANA time zone (`Europe/Paris`): hand-offs and restrictions are in its local time.
    pub time_zone: String,
    pub layers: Vec<ops::LayerFields>,
    #[serde(default)]
    pub holidays: ops::HolidayFields,
}

impl ScheduleBody {
    fn fields(self) -> ScheduleFields {
        ScheduleFields {
            entity_id: self.entity_id,
            name: self.name,
            time_zone: self.time_zone,
            definition: ScheduleDefinition {
                layers: self.layers,
                holidays: self.holidays,
            },
        }
    }
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "incidents",
    responses((status = 200, body = Vec<ScheduleView>)))]
pub async fn list_schedules(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<ScheduleView>> {
    let list = ops::list_schedules(&st, &caller).await?;
    Ok(Json(list.iter().map(ScheduleView::from).collect()))
}

/// Creates an on-call schedule (incidents=manage): layers of rotations (`daily`, `weekly`, or
/// `hours` with `shift_hours`) handed off at the local time of their `start`, restricted by
/// `daily` (`19:00` → `08:00`), `weekly` (`fri 19:00` → `mon 08:00`) or `holidays`; the last
/// layer wins where several apply.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "incidents",
    request_body = ScheduleBody, responses((status = 201, body = ScheduleView)))]
pub async fn create_schedule(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<(StatusCode, Json<ScheduleView>), AppError> {
    let s = ops::create_schedule(&st, &caller, &body.fields()).await?;
    Ok((StatusCode::CREATED, Json(ScheduleView::from(&s))))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = ScheduleView)))]
pub async fn get_schedule(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<ScheduleView> {
    let s = ops::get_schedule(&st, &caller, id, Level::Read).await?;
    Ok(Json(ScheduleView::from(&s)))
}

#[utoipa::path(put, path = "/api/v1/schedules/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = ScheduleBody, responses((status = 200, body = ScheduleView)))]
pub async fn update_schedule(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<ScheduleView> {
    let s = ops::update_schedule(&st, &caller, id, &body.fields()).await?;
    Ok(Json(ScheduleView::from(&s)))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_schedule(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::delete_schedule(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideFields {
    pub user_id: i64,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct OverrideView {
    pub id: i64,
    pub user_id: i64,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<&OverrideRecord> for OverrideView {
    fn from(o: &OverrideRecord) -> OverrideView {
        OverrideView {
            id: o.id,
            user_id: o.user_id,
            starts_at: rfc3339(o.starts_at),
            ends_at: rfc3339(o.ends_at),
            created_by: o.created_by.clone(),
            created_at: rfc3339(o.created_at),
        }
    }
}

/// One person takes the duty for a while (incidents=operate); where overrides overlap, the
/// most recent wins.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = OverrideFields, responses((status = 201, body = OverrideView)))]
pub async fn add_override(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<OverrideFields>,
) -> Result<(StatusCode, Json<OverrideView>), AppError> {
    let (from, to) = (
        parse_instant("starts_at", &f.starts_at)?,
        parse_instant("ends_at", &f.ends_at)?,
    );
    let o = ops::add_override(&st, &caller, id, f.user_id, from, to).await?;
    Ok((StatusCode::CREATED, Json(OverrideView::from(&o))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    /// RFC 3339; default now.
    pub from: Option<String>,
    /// RFC 3339; default 14 days after `from`; at most 92 days after it.
    pub to: Option<String>,
}

impl WindowParams {
    fn window(&self) -> Result<(i64, i64), AppError> {
        let from = match &self.from {
            Some(t) => parse_instant("from", t)?,
            None => now_ms(),
        };
        let to = match &self.to {
            Some(t) => parse_instant("to", t)?,
            None => from + 14 * 86_400_000,
        };
        Ok((from, to))
    }
}

#[derive(Serialize, ToSchema)]
pub struct SegmentView {
    pub start: String,
    pub end: String,
    /// `None`: nobody on call.
    pub user_id: Option<i64>,
    /// `layer`, `override` or `nobody`.
    pub source: String,
    /// The layer's name, for a layer's segment.
    pub layer: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FinalScheduleView {
    pub segments: Vec<SegmentView>,
    /// The gaps, "nobody on call", one warning each.
    pub warnings: Vec<String>,
}

/// Who is on call when, over a window: the layers, their restrictions and the overrides laid
/// over each other, with every gap reported.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/final", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id"),
        ("from" = Option<String>, Query, description = "RFC 3339; now by default"),
        ("to" = Option<String>, Query, description = "RFC 3339; 14 days later by default")),
    responses((status = 200, body = FinalScheduleView)))]
pub async fn final_schedule(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<FinalScheduleView> {
    let (from, to) = p.window()?;
    let (record, segments) = ops::final_schedule(&st, &caller, id, from, to).await?;
    let layers: Vec<String> = serde_json::from_str::<ScheduleDefinition>(&record.definition)
        .map(|d| d.layers.into_iter().map(|l| l.name).collect())
        .unwrap_or_default();
    let warnings = pupitre_oncall::schedule::gaps(&segments)
        .map(|g| format!("nobody on call from {} to {}", g.start, g.end))
        .collect();
    Ok(Json(FinalScheduleView {
        segments: segments
            .iter()
            .map(|g| SegmentView {
                start: g.start.to_string(),
                end: g.end.to_string(),
                user_id: g.user,
                source: match g.source {
                    Source::Layer(_) => "layer",
                    Source::Override(_) => "override",
                    Source::Nobody => "nobody",
                }
                .to_owned(),
                layer: match g.source {
                    Source::Layer(i) => layers.get(i).cloned(),
                    _ => None,
                },
            })
            .collect(),
        warnings,
    }))
}

/// Hours on duty per person and month over the window, split into weekday days, weekday
/// nights (20:00–08:00), weekends and public holidays, as CSV.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/report", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id"),
        ("from" = Option<String>, Query, description = "RFC 3339"),
        ("to" = Option<String>, Query, description = "RFC 3339")),
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn report(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Response, AppError> {
    let (from, to) = p.window()?;
    let csv = ops::report_csv(&st, &caller, id, from, to).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"on-call-report.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub user_id: Option<i64>,
    pub channel: String,
    pub address: String,
    pub step: i64,
    pub round: i64,
    /// `queued`, `sent`, `failed` or `cancelled` (acknowledged or resolved before its time).
    pub state: String,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: String,
    /// When it goes (or went) out: after a rule's delay, at the end of quiet hours, or
    /// held for a digest.
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
    /// Sent inside a digest carried by notification `message_id`.
    pub in_digest: bool,
}

impl From<&NotificationRecord> for NotificationView {
    fn from(n: &NotificationRecord) -> NotificationView {
        NotificationView {
            id: n.id,
            user_id: n.user_id,
            channel: n.channel.clone(),
            address: n.address.clone(),
            step: n.step,
            round: n.round,
            state: n.state.clone(),
            attempts: n.attempts,
            last_error: n.last_error.clone(),
            created_at: rfc3339(n.created_at),
            next_attempt_at: rfc3339(n.next_attempt_at),
            sent_at: n.sent_at.map(rfc3339),
            in_digest: n.message_id.is_some_and(|m| m != n.id),
        }
    }
}

/// The pages sent for an incident and how their delivery went.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/notifications", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<NotificationView>)))]
pub async fn notifications(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<NotificationView>> {
    crate::ops::incidents::get_incident(&st, &caller, id, Level::Read).await?;
    let list = st.store.incident_notifications(id).await?;
    Ok(Json(list.iter().map(NotificationView::from).collect()))
}

#[derive(OpenApi)]
#[openapi(paths(
    list_policies,
    put_policy,
    get_policy,
    delete_policy,
    list_schedules,
    create_schedule,
    get_schedule,
    update_schedule,
    delete_schedule,
    add_override,
    final_schedule,
    report,
    notifications,
))]
pub struct PagingDoc;
