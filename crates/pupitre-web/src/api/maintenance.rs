//! `/api/v1/maintenance-windows`: one-off and recurring maintenance windows, their scope and
//! their planned intervention.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pupitre_core::permission::Level;
use pupitre_store::incidents::{WindowRecord, WindowScope};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, Id};
use crate::ops::maintenance::{self as ops, Intervention, WindowFields};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

#[derive(Serialize, ToSchema)]
pub struct WindowView {
    pub id: i64,
    pub entity_id: i64,
    pub name: String,
    pub starts_at: String,
    pub duration_minutes: i64,
    pub time_zone: String,
    /// RFC 5545; empty for a one-off window.
    pub rrule: String,
    #[schema(value_type = Object)]
    pub scope: WindowScope,
    pub intervention: Intervention,
    /// The next occurrences, `[start, end]`, at most 5.
    pub next: Vec<[String; 2]>,
    pub created_by: String,
    pub updated_at: String,
}

impl From<&WindowRecord> for WindowView {
    fn from(w: &WindowRecord) -> WindowView {
        WindowView {
            id: w.id,
            entity_id: w.entity_id,
            name: w.title.clone(),
            starts_at: rfc3339(w.starts_at),
            duration_minutes: w.duration_minutes,
            time_zone: w.time_zone.clone(),
            rrule: w.rrule.clone(),
            scope: serde_json::from_str(&w.scope).unwrap_or_default(),
            intervention: serde_json::from_str(&w.intervention).unwrap_or_default(),
            next: ops::next_occurrences(w, 5)
                .into_iter()
                .map(|(s, e)| [rfc3339(s), rfc3339(e)])
                .collect(),
            created_by: w.created_by.clone(),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

fn europe_paris() -> String {
    "Europe/Paris".to_owned()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    pub entity_id: i64,
    pub name: String,
    /// The first occurrence's start, RFC 3339.
    pub starts_at: String,
    pub duration_minutes: i64,
    /// The zone a recurrence's local times are in (default `Europe/Paris`).
    #[serde(default = "europe_paris")]
    pub time_zone: String,
    /// An RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=SU`); empty or absent for a one-off window.
    #[serde(default)]
    pub rrule: String,
    /// `asset_ids`, `check_ids`, `tags`, `entity_ids` (with those below): at least one.
    #[schema(value_type = Object)]
    pub scope: WindowScope,
    #[serde(default)]
    pub intervention: Intervention,
}

impl WindowBody {
    fn fields(self) -> WindowFields {
        WindowFields {
            entity_id: self.entity_id,
            title: self.name,
            starts_at: self.starts_at,
            duration_minutes: self.duration_minutes,
            time_zone: self.time_zone,
            rrule: self.rrule,
            scope: self.scope,
            intervention: self.intervention,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/maintenance-windows", tag = "maintenance",
    responses((status = 200, body = Vec<WindowView>)))]
pub async fn list_windows(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<WindowView>> {
    let list = ops::list(&st, &caller).await?;
    Ok(Json(list.iter().map(WindowView::from).collect()))
}

/// Creates a maintenance window (maintenance=edit): its checks keep running, their problems
/// open no incident and page nobody while it lasts; a problem still there when it ends opens
/// its incident then.
#[utoipa::path(post, path = "/api/v1/maintenance-windows", tag = "maintenance",
    request_body = WindowBody, responses((status = 201, body = WindowView)))]
pub async fn create_window(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<WindowBody>,
) -> Result<(StatusCode, Json<WindowView>), AppError> {
    let w = ops::create(&st, &caller, &body.fields()).await?;
    Ok((StatusCode::CREATED, Json(WindowView::from(&w))))
}

#[utoipa::path(get, path = "/api/v1/maintenance-windows/{id}", tag = "maintenance",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = WindowView)))]
pub async fn get_window(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<WindowView> {
    let w = ops::get(&st, &caller, id, Level::Read).await?;
    Ok(Json(WindowView::from(&w)))
}

#[utoipa::path(put, path = "/api/v1/maintenance-windows/{id}", tag = "maintenance",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = WindowBody, responses((status = 200, body = WindowView)))]
pub async fn update_window(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(body): ApiJson<WindowBody>,
) -> ApiResult<WindowView> {
    let w = ops::update(&st, &caller, id, &body.fields()).await?;
    Ok(Json(WindowView::from(&w)))
}

#[utoipa::path(delete, path = "/api/v1/maintenance-windows/{id}", tag = "maintenance",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_window(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(OpenApi)]
#[openapi(paths(list_windows, create_window, get_window, update_window, delete_window))]
pub struct MaintenanceDoc;
