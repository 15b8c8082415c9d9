//! `/api/v1/incidents`, `/api/v1/alerts` and `/api/v1/alert-sources`: incidents with their
//! alerts, assets and timeline, and what people do with them; the alert sources; and the
//! receivers that Alertmanager and other tools post alerts to, with a source's token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use pupitre_core::incident::AlertSource;
use pupitre_store::incidents::{
    AlertRecord, AlertSourceRecord, IncidentAction, IncidentAsset, IncidentFilter, IncidentRecord,
    Link, TimelineEntry,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::api::views::{parse_instant, rfc3339};
use crate::auth::{Caller, source_of};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::ops::incidents::{self as ops, AlertSourceInput};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

/// The largest alert payload a receiver reads.
const MAX_ALERT_BODY: usize = 2 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    pub id: i64,
    pub entity_id: i64,
    pub title: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    /// `high` or `low`.
    pub urgency: String,
    /// Assets affected: those broken and those that depend on them.
    pub impact: i64,
    /// 1 (the most urgent) to 5.
    pub priority: u8,
    pub cause_asset_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// The incident this one was merged into.
    pub merged_into: Option<i64>,
    pub reopened: i64,
    pub created_at: String,
    pub updated_at: String,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
}

impl From<&IncidentRecord> for IncidentView {
    fn from(i: &IncidentRecord) -> IncidentView {
        IncidentView {
            id: i.id,
            entity_id: i.entity_id,
            title: i.title.clone(),
            status: i.status.key().to_owned(),
            urgency: i.urgency.key().to_owned(),
            impact: i.impact,
            priority: i.priority,
            cause_asset_id: i.cause_asset_id,
            assignee_id: i.assignee_id,
            merged_into: i.merged_into,
            reopened: i.reopened,
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
            acknowledged_at: i.acknowledged_at.map(rfc3339),
            acknowledged_by: i.acknowledged_by.clone(),
            resolved_at: i.resolved_at.map(rfc3339),
            resolved_by: i.resolved_by.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub entity_id: i64,
    /// `monitoring`, `alertmanager` or `webhook`.
    pub source: String,
    pub source_id: Option<i64>,
    pub dedup_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub severity: String,
    pub summary: String,
    #[schema(value_type = Object)]
    pub details: Value,
    #[schema(value_type = Vec<Object>)]
    pub links: Vec<Link>,
    pub asset_id: Option<i64>,
    pub check_id: Option<i64>,
    pub service: String,
    pub incident_id: Option<i64>,
    /// Why it opened no incident, if it did not.
    pub suppressed: String,
    /// How many times its source reported it.
    pub updates: i64,
    pub first_at: String,
    pub last_at: String,
    pub resolved_at: Option<String>,
}

impl From<&AlertRecord> for AlertView {
    fn from(a: &AlertRecord) -> AlertView {
        AlertView {
            id: a.id,
            entity_id: a.entity_id,
            source: a.source.key().to_owned(),
            source_id: a.source_id,
            dedup_key: a.dedup_key.clone(),
            status: if a.firing { "firing" } else { "resolved" }.to_owned(),
            severity: a.severity.key().to_owned(),
            summary: a.summary.clone(),
            details: serde_json::from_str(&a.details).unwrap_or(Value::Null),
            links: serde_json::from_str(&a.links).unwrap_or_default(),
            asset_id: a.asset_id,
            check_id: a.check_id,
            service: a.service.clone(),
            incident_id: a.incident_id,
            suppressed: a.suppressed.clone(),
            updates: a.updates,
            first_at: rfc3339(a.first_at),
            last_at: rfc3339(a.last_at),
            resolved_at: a.resolved_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentAssetView {
    pub asset_id: i64,
    pub name: String,
    /// `cause` or `impacted`.
    pub role: String,
}

impl From<&IncidentAsset> for IncidentAssetView {
    fn from(a: &IncidentAsset) -> IncidentAssetView {
        IncidentAssetView {
            asset_id: a.asset_id,
            name: a.name.clone(),
            role: a.role.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TimelineView {
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub text: String,
    pub alert_id: Option<i64>,
}

impl From<&TimelineEntry> for TimelineView {
    fn from(t: &TimelineEntry) -> TimelineView {
        TimelineView {
            at: rfc3339(t.at),
            kind: t.kind.clone(),
            actor: t.actor.clone(),
            text: t.text.clone(),
            alert_id: t.alert_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentDetailView {
    #[serde(flatten)]
    pub incident: IncidentView,
    pub assignee: Option<String>,
    /// Seconds from opening to acknowledgement and to resolution, once they happened.
    pub time_to_acknowledge_s: Option<i64>,
    pub time_to_resolve_s: Option<i64>,
    pub review: Option<crate::ops::incidents::Review>,
    pub reviewed_by: Option<String>,
    pub alerts: Vec<AlertView>,
    pub assets: Vec<IncidentAssetView>,
    pub timeline: Vec<TimelineView>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertSourceView {
    pub id: i64,
    pub entity_id: i64,
    pub name: String,
    /// `alertmanager` or `webhook`.
    pub kind: String,
    /// The token's first characters.
    pub prefix: String,
    pub revoked: bool,
    pub last_used_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
}

impl From<&AlertSourceRecord> for AlertSourceView {
    fn from(s: &AlertSourceRecord) -> AlertSourceView {
        AlertSourceView {
            id: s.id,
            entity_id: s.entity_id,
            name: s.name.clone(),
            kind: s.kind.key().to_owned(),
            prefix: s.prefix.clone(),
            revoked: s.revoked_at.is_some(),
            last_used_at: s.last_used_at.map(rfc3339),
            created_by: s.created_by.clone(),
            created_at: rfc3339(s.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentListParams {
    /// `open` (default), `all`, `triggered`, `acknowledged` or `resolved`.
    #[serde(default)]
    pub status: String,
    pub asset_id: Option<i64>,
    /// Incidents older than this id (the next page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    params(("status" = Option<String>, Query, description = "open (default), all, triggered, acknowledged, resolved"),
        ("asset_id" = Option<i64>, Query, description = "Incidents linked to this asset"),
        ("before" = Option<i64>, Query, description = "Incidents with a smaller id"),
        ("limit" = Option<i64>, Query, description = "At most this many (100)")),
    responses((status = 200, body = Vec<IncidentView>)))]
pub async fn list_incidents(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<IncidentListParams>,
) -> ApiResult<Vec<IncidentView>> {
    let filter = IncidentFilter {
        statuses: ops::statuses(&p.status)?,
        asset_id: p.asset_id,
        before: p.before,
        limit: p.limit.unwrap_or(100),
        ..IncidentFilter::default()
    };
    let list = ops::list_incidents(&st, &caller, filter).await?;
    Ok(Json(list.iter().map(IncidentView::from).collect()))
}

/// The incident with its alerts, linked assets and timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = IncidentDetailView)))]
pub async fn get_incident(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<IncidentDetailView> {
    let d = ops::incident_detail(&st, &caller, id).await?;
    Ok(Json(IncidentDetailView {
        incident: IncidentView::from(&d.incident),
        assignee: d.assignee,
        time_to_acknowledge_s: d
            .incident
            .acknowledged_at
            .map(|a| (a - d.incident.created_at) / 1000),
        time_to_resolve_s: d
            .incident
            .resolved_at
            .map(|r| (r - d.incident.created_at) / 1000),
        review: ops::review_of(&d.incident),
        reviewed_by: d.incident.reviewed_by.clone(),
        alerts: d.alerts.iter().map(AlertView::from).collect(),
        assets: d.assets.iter().map(IncidentAssetView::from).collect(),
        timeline: d.timeline.iter().map(TimelineView::from).collect(),
    }))
}

async fn act(
    st: &AppState,
    caller: &Caller,
    id: i64,
    action: IncidentAction,
) -> ApiResult<IncidentView> {
    let i = ops::act(st, caller, id, action).await?;
    Ok(Json(IncidentView::from(&i)))
}

/// Acknowledges the incident: someone is on it (incidents=operate).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = IncidentView)))]
pub async fn acknowledge(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<IncidentView> {
    act(&st, &caller, id, IncidentAction::Acknowledge).await
}

/// Resolves the incident by hand.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = IncidentView)))]
pub async fn resolve(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<IncidentView> {
    act(&st, &caller, id, IncidentAction::Resolve).await
}

/// Reopens a resolved incident.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/reopen", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = IncidentView)))]
pub async fn reopen(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<IncidentView> {
    act(&st, &caller, id, IncidentAction::Reopen).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteFields {
    pub text: String,
}

/// Adds a note to the incident's timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = NoteFields, responses((status = 200, body = IncidentView)))]
pub async fn add_note(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<NoteFields>,
) -> ApiResult<IncidentView> {
    act(&st, &caller, id, IncidentAction::Note(f.text)).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignFields {
    /// The user; `null` unassigns.
    pub assignee_id: Option<i64>,
}

/// Assigns the incident to a user, or unassigns it.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/assignee", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = AssignFields, responses((status = 200, body = IncidentView)))]
pub async fn assign(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<AssignFields>,
) -> ApiResult<IncidentView> {
    act(&st, &caller, id, IncidentAction::Assign(f.assignee_id)).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertListParams {
    /// Only firing alerts.
    #[serde(default)]
    pub firing: bool,
    pub limit: Option<i64>,
}

/// Alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "incidents",
    params(("firing" = Option<bool>, Query, description = "Only firing alerts"),
        ("limit" = Option<i64>, Query, description = "At most this many (200)")),
    responses((status = 200, body = Vec<AlertView>)))]
pub async fn list_alerts(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AlertListParams>,
) -> ApiResult<Vec<AlertView>> {
    let list = ops::list_alerts(&st, &caller, p.firing, p.limit.unwrap_or(200)).await?;
    Ok(Json(list.iter().map(AlertView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/alert-sources", tag = "incidents",
    responses((status = 200, body = Vec<AlertSourceView>)))]
pub async fn list_sources(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<AlertSourceView>> {
    let list = ops::list_sources(&st, &caller).await?;
    Ok(Json(list.iter().map(AlertSourceView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSourceFields {
    pub name: String,
    pub entity_id: i64,
    /// `alertmanager` or `webhook`.
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAlertSource {
    pub source: AlertSourceView,
    /// The token, shown this once: the sender's `Authorization: Bearer TOKEN`.
    pub token: String,
}

/// Creates an alert source (incidents=manage); its token is in the answer, this once.
#[utoipa::path(post, path = "/api/v1/alert-sources", tag = "incidents",
    request_body = AlertSourceFields, responses((status = 201, body = CreatedAlertSource)))]
pub async fn create_source(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<AlertSourceFields>,
) -> Result<(StatusCode, Json<CreatedAlertSource>), AppError> {
    let input = AlertSourceInput {
        entity_id: f.entity_id,
        name: f.name,
        kind: f.kind,
    };
    let (source, token) = ops::create_source(&st, &caller, &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAlertSource {
            source: AlertSourceView::from(&source),
            token,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/alert-sources/{id}/revoke", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AlertSourceView)))]
pub async fn revoke_source(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<AlertSourceView> {
    let s = ops::revoke_source(&st, &caller, id).await?;
    Ok(Json(AlertSourceView::from(&s)))
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// The alerts queued for the correlator.
    pub accepted: usize,
}

/// What both receivers do: authenticate the source by its token, read the JSON, turn it into
/// signals, queue them; a refusal is logged with the source.
async fn receive(
    st: &AppState,
    kind: AlertSource,
    address: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    let source = ops::authenticate_source(st, headers, kind, address).await?;
    let result = async {
        if body.len() > MAX_ALERT_BODY {
            return Err(AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the payload is larger than {MAX_ALERT_BODY} bytes"),
            ));
        }
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| AppError::bad_request(format!("the payload is not JSON: {e}")))?;
        let signals = match kind {
            AlertSource::Alertmanager => ops::alertmanager_signals(st, &source, &json).await?,
            _ => ops::webhook_signals(st, &source, &json).await?,
        };
        ops::receive(st, &signals).await?;
        Ok(signals.len())
    }
    .await;
    match result {
        Ok(accepted) => Ok((StatusCode::ACCEPTED, Json(Accepted { accepted }))),
        Err(e) => Err(ops::refused(&source, address, e)),
    }
}

/// Prometheus Alertmanager's webhook receiver (payload version 4). In `alertmanager.yml`:
/// `webhook_configs: [{url: …/api/v1/alerts/alertmanager, send_resolved: true,
/// http_config: {authorization: {credentials: TOKEN}}}]`.
#[utoipa::path(post, path = "/api/v1/alerts/alertmanager", tag = "incidents",
    request_body(content = Object), responses((status = 202, body = Accepted)))]
pub async fn receive_alertmanager(
    State(st): State<AppState>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    let address = source_of(req.extensions());
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, MAX_ALERT_BODY + 1)
        .await
        .map_err(|_| AppError::bad_request("the payload could not be read"))?;
    receive(
        &st,
        AlertSource::Alertmanager,
        &address,
        &parts.headers,
        &body,
    )
    .await
}

/// The generic JSON webhook: one event or `{"events": [...]}`, each with `dedup_key`,
/// `action` (`trigger`/`resolve`), `severity`, `summary`, and optionally `details`, `links`,
/// `host`, `asset_id`, `service`, `timestamp`.
#[utoipa::path(post, path = "/api/v1/alerts/webhook", tag = "incidents",
    request_body(content = Object), responses((status = 202, body = Accepted)))]
pub async fn receive_webhook(
    State(st): State<AppState>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    let address = source_of(req.extensions());
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, MAX_ALERT_BODY + 1)
        .await
        .map_err(|_| AppError::bad_request("the payload could not be read"))?;
    receive(&st, AlertSource::Webhook, &address, &parts.headers, &body).await
}

/// Writes the post-incident review of a resolved incident (incidents=operate).
#[utoipa::path(put, path = "/api/v1/incidents/{id}/review", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = crate::ops::incidents::Review, responses((status = 200, body = IncidentView)))]
pub async fn write_review(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(review): ApiJson<crate::ops::incidents::Review>,
) -> ApiResult<IncidentView> {
    let i = ops::write_review(&st, &caller, id, &review).await?;
    Ok(Json(IncidentView::from(&i)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    /// RFC 3339; 30 days before `to` by default.
    pub from: Option<String>,
    /// RFC 3339; now by default.
    pub to: Option<String>,
}

/// Incident figures over a period: how many opened (by priority), the mean times to
/// acknowledge and to resolve, and each touched asset's availability.
#[utoipa::path(get, path = "/api/v1/incidents/figures", tag = "incidents",
    params(("from" = Option<String>, Query, description = "RFC 3339"),
        ("to" = Option<String>, Query, description = "RFC 3339")),
    responses((status = 200, body = crate::ops::incidents::Figures)))]
pub async fn figures(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<PeriodParams>,
) -> ApiResult<crate::ops::incidents::Figures> {
    let to = match &p.to {
        Some(t) => parse_instant("to", t)?,
        None => crate::state::now_ms(),
    };
    let from = match &p.from {
        Some(t) => parse_instant("from", t)?,
        None => to - 30 * 86_400_000,
    };
    Ok(Json(ops::figures(&st, &caller, from, to).await?))
}

#[derive(Serialize, ToSchema)]
pub struct SilenceView {
    pub id: i64,
    pub entity_id: i64,
    pub matchers: Vec<crate::ops::silences::Matcher>,
    pub starts_at: String,
    pub ends_at: String,
    pub author: String,
    pub comment: String,
    /// In force now.
    pub active: bool,
}

impl From<&pupitre_store::incidents::SilenceRecord> for SilenceView {
    fn from(s: &pupitre_store::incidents::SilenceRecord) -> SilenceView {
        let now = crate::state::now_ms();
        SilenceView {
            id: s.id,
            entity_id: s.entity_id,
            matchers: serde_json::from_str(&s.matchers).unwrap_or_default(),
            starts_at: rfc3339(s.starts_at),
            ends_at: rfc3339(s.ends_at),
            author: s.author.clone(),
            comment: s.comment.clone(),
            active: s.starts_at <= now && now < s.ends_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceFields {
    pub entity_id: i64,
    /// All must match: `[{"name": "alertname", "op": "=", "value": "DiskFull"}]`; `op` is
    /// `=`, `!=`, `=~` or `!~` (regular expressions anchored at both ends).
    pub matchers: Vec<crate::ops::silences::Matcher>,
    /// RFC 3339; now by default.
    pub starts_at: Option<String>,
    /// RFC 3339.
    pub ends_at: String,
    /// Why (required).
    pub comment: String,
}

/// Silences that have not ended, in force or to come.
#[utoipa::path(get, path = "/api/v1/silences", tag = "incidents",
    responses((status = 200, body = Vec<SilenceView>)))]
pub async fn list_silences(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<SilenceView>> {
    let list = crate::ops::silences::list(&st, &caller).await?;
    Ok(Json(list.iter().map(SilenceView::from).collect()))
}

/// Silences the alerts that match (incidents=operate): recorded, no incident, no page.
#[utoipa::path(post, path = "/api/v1/silences", tag = "incidents",
    request_body = SilenceFields, responses((status = 201, body = SilenceView)))]
pub async fn create_silence(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<SilenceFields>,
) -> Result<(StatusCode, Json<SilenceView>), AppError> {
    let starts_at = f
        .starts_at
        .as_deref()
        .map(|t| parse_instant("starts_at", t))
        .transpose()?;
    let ends_at = parse_instant("ends_at", &f.ends_at)?;
    let s = crate::ops::silences::create(
        &st,
        &caller,
        f.entity_id,
        &f.matchers,
        starts_at,
        ends_at,
        &f.comment,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(SilenceView::from(&s))))
}

/// Ends a silence now; problems it held back open their incidents.
#[utoipa::path(post, path = "/api/v1/silences/{id}/expire", tag = "incidents",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = SilenceView)))]
pub async fn expire_silence(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<SilenceView> {
    let s = crate::ops::silences::expire(&st, &caller, id).await?;
    Ok(Json(SilenceView::from(&s)))
}

#[derive(OpenApi)]
#[openapi(paths(
    write_review,
    figures,
    list_silences,
    create_silence,
    expire_silence,
    list_incidents,
    get_incident,
    acknowledge,
    resolve,
    reopen,
    add_note,
    assign,
    list_alerts,
    list_sources,
    create_source,
    revoke_source,
    receive_alertmanager,
    receive_webhook,
))]
pub struct IncidentsDoc;
