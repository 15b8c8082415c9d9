//! `/api/v1/shift-log` and `/api/v1/handovers`: the shift log's entries, and the handovers
//! between shifts with their generated summary.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pupitre_core::permission::Level;
use pupitre_store::incidents::{Handover, ShiftEntry};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::ops::shiftlog::{self as ops, Summary};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub id: i64,
    pub entity_id: i64,
    pub at: String,
    pub author: String,
    pub category: String,
    pub text: String,
    pub asset_ids: Vec<i64>,
    pub incident_ids: Vec<i64>,
}

impl From<&ShiftEntry> for EntryView {
    fn from(e: &ShiftEntry) -> EntryView {
        EntryView {
            id: e.id,
            entity_id: e.entity_id,
            at: rfc3339(e.at),
            author: e.author.clone(),
            category: e.category.clone(),
            text: e.text.clone(),
            asset_ids: e.asset_ids.clone(),
            incident_ids: e.incident_ids.clone(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryFields {
    pub entity_id: i64,
    /// note, intervention, call, incident, maintenance or other.
    pub category: String,
    pub text: String,
    #[serde(default)]
    pub asset_ids: Vec<i64>,
    #[serde(default)]
    pub incident_ids: Vec<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryListParams {
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/shift-log", tag = "incidents",
    params(("before" = Option<i64>, Query, description = "Entries with a smaller id"),
        ("limit" = Option<i64>, Query, description = "At most this many (100)")),
    responses((status = 200, body = Vec<EntryView>)))]
pub async fn list_entries(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<EntryListParams>,
) -> ApiResult<Vec<EntryView>> {
    let list = ops::entries(&st, &caller, p.before, p.limit.unwrap_or(100)).await?;
    Ok(Json(list.iter().map(EntryView::from).collect()))
}

/// Writes an entry in the shift log, timestamped now (incidents=operate).
#[utoipa::path(post, path = "/api/v1/shift-log", tag = "incidents",
    request_body = EntryFields, responses((status = 201, body = EntryView)))]
pub async fn add_entry(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<EntryFields>,
) -> Result<(StatusCode, Json<EntryView>), AppError> {
    let e = ops::add_entry(
        &st,
        &caller,
        f.entity_id,
        &f.category,
        &f.text,
        &f.asset_ids,
        &f.incident_ids,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(EntryView::from(&e))))
}

#[derive(Serialize, ToSchema)]
pub struct HandoverView {
    pub id: i64,
    pub entity_id: i64,
    pub since: String,
    pub summary: Summary,
    pub note: String,
    pub created_by: String,
    pub created_at: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
}

impl From<&Handover> for HandoverView {
    fn from(h: &Handover) -> HandoverView {
        HandoverView {
            id: h.id,
            entity_id: h.entity_id,
            since: rfc3339(h.since),
            summary: serde_json::from_str(&h.summary).unwrap_or_default(),
            note: h.note.clone(),
            created_by: h.created_by.clone(),
            created_at: rfc3339(h.created_at),
            acknowledged_by: h.acknowledged_by.clone(),
            acknowledged_at: h.acknowledged_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverFields {
    pub entity_id: i64,
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(get, path = "/api/v1/handovers", tag = "incidents",
    responses((status = 200, body = Vec<HandoverView>)))]
pub async fn list_handovers(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<HandoverView>> {
    let list = ops::handovers(&st, &caller, 20).await?;
    Ok(Json(list.iter().map(HandoverView::from).collect()))
}

/// Hands over to the next shift (incidents=operate): Pupitre writes the summary (open
/// incidents, acknowledged problems, maintenance under way, entries and incidents since the
/// last handover) with the note.
#[utoipa::path(post, path = "/api/v1/handovers", tag = "incidents",
    request_body = HandoverFields, responses((status = 201, body = HandoverView)))]
pub async fn hand_over(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<HandoverFields>,
) -> Result<(StatusCode, Json<HandoverView>), AppError> {
    let h = ops::hand_over(&st, &caller, f.entity_id, &f.note).await?;
    Ok((StatusCode::CREATED, Json(HandoverView::from(&h))))
}

#[utoipa::path(get, path = "/api/v1/handovers/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = HandoverView)))]
pub async fn get_handover(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<HandoverView> {
    let h = ops::get_handover(&st, &caller, id, Level::Read).await?;
    Ok(Json(HandoverView::from(&h)))
}

/// The incoming operator takes the shift.
#[utoipa::path(post, path = "/api/v1/handovers/{id}/acknowledge", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = HandoverView)))]
pub async fn acknowledge_handover(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<HandoverView> {
    let h = ops::acknowledge(&st, &caller, id).await?;
    Ok(Json(HandoverView::from(&h)))
}

#[derive(OpenApi)]
#[openapi(paths(
    list_entries,
    add_entry,
    list_handovers,
    hand_over,
    get_handover,
    acknowledge_handover
))]
pub struct ShiftLogDoc;
