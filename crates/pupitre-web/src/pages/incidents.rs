//! The incidents pages: the open incidents, most urgent first, refreshed every 30 s; one
//! incident with its alerts, linked assets and timeline, and the buttons that acknowledge,
//! resolve, reopen, take and annotate it; and the alert sources with their tokens. They call
//! the same operations as `/api/v1/incidents` and `/api/v1/alert-sources`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Incidents;
use pupitre_core::permission::Level::{Manage, Operate, Read};
use pupitre_store::incidents::{IncidentAction, IncidentFilter, Link};
use serde::Deserialize;

use super::monitoring::age;
use super::{Done, FormData, Frame, PageError, PageResult, entity_names, perr, see_other};
use crate::api::incidents::{AlertSourceView, AlertView, IncidentAssetView, IncidentView};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::incidents::{self as ops, AlertSourceInput};
use crate::ops::paging as ops_paging;
use crate::routes::{RouteDef, page};
use crate::state::{AppState, now_ms};

/// One incident as a row of the list.
pub struct Row {
    pub i: IncidentView,
    pub status: String,
    pub entity: String,
    pub age: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/list.html")]
struct ListPage {
    f: Frame,
    rows: Vec<Row>,
    /// The status filter: `open`, `all`, or a status.
    status: String,
    statuses: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    status: String,
    done: Option<String>,
}

async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> PageResult {
    let result = async {
        let filter = IncidentFilter {
            statuses: ops::statuses(&p.status)?,
            limit: 200,
            ..IncidentFilter::default()
        };
        let mut incidents = ops::list_incidents(&st, &caller, filter).await?;
        // The most urgent first, then the newest.
        incidents.sort_by_key(|i| (!i.status.is_open(), i.priority, std::cmp::Reverse(i.id)));
        let entities = entity_names(&st).await?;
        let now = now_ms();
        let f = Frame::new(&caller, "/incidents", "incidents.title").with_flash(p.done.as_deref());
        let statuses = ["open", "triggered", "acknowledged", "resolved", "all"]
            .into_iter()
            .map(|s| (s, f.t(&format!("incidents.filter.{s}"))))
            .collect();
        Ok::<_, AppError>(ListPage {
            rows: incidents
                .iter()
                .map(|i| Row {
                    i: IncidentView::from(i),
                    status: f.t(&format!("incidents.state.{}", i.status.key())),
                    entity: entities.get(&i.entity_id).cloned().unwrap_or_default(),
                    age: age(Some(i.created_at), now),
                })
                .collect(),
            status: if p.status.is_empty() {
                "open".to_owned()
            } else {
                p.status.clone()
            },
            statuses,
            f,
        })
    }
    .await;
    result
        .map(IntoResponse::into_response)
        .map_err(perr(&caller))
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/show.html")]
struct ShowPage {
    f: Frame,
    i: IncidentView,
    status: String,
    urgency: String,
    entity: String,
    assignee: Option<String>,
    alerts: Vec<(AlertView, Vec<Link>)>,
    causes: Vec<IncidentAssetView>,
    impacted: Vec<IncidentAssetView>,
    timeline: Vec<(String, String, String, String)>,
    can_operate: bool,
    mine: bool,
    error: Option<String>,
    /// The linked assets' checks in trouble: (asset id, asset, check id, check, state,
    /// output, for how long).
    problems: Vec<(i64, String, i64, String, String, String, String)>,
    /// Around the probable cause: (asset id, name, hops, problems).
    upstream: Vec<(i64, String, u32, usize)>,
    downstream: Vec<(i64, String, u32, usize)>,
    /// Changes on the linked assets in the last 24 h: (when, who, what, which).
    changes: Vec<(String, String, String, String)>,
    related: Vec<IncidentView>,
    /// The post-incident review, as written (or empty), and who wrote it.
    review: ops::Review,
    reviewed_by: Option<String>,
    /// Opening to acknowledgement, and to resolution, for a person.
    time_to_ack: String,
    time_to_resolve: String,
    runbooks: Vec<super::runbooks::Panel>,
}

async fn show(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    render(&st, &caller, id, d.done.as_deref(), None)
        .await
        .map_err(perr(&caller))
}

async fn render(
    st: &AppState,
    caller: &Caller,
    id: i64,
    done: Option<&str>,
    error: Option<AppError>,
) -> Result<axum::response::Response, AppError> {
    let d = ops::incident_detail(st, caller, id).await?;
    let entities = entity_names(st).await?;
    let (causes, impacted) = d
        .assets
        .iter()
        .map(IncidentAssetView::from)
        .partition(|a| a.role == "cause");
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let f = Frame::new(caller, "/incidents", "incidents.title").with_flash(done);
    let diag = ops::diagnosis(st, caller, &d.incident, &d.assets).await?;
    let now = now_ms();
    let around = |list: &[ops::Neighbour]| {
        list.iter()
            .map(|n| (n.asset_id, n.name.clone(), n.depth, n.problems))
            .collect::<Vec<_>>()
    };
    let runbooks = super::runbooks::panels(st, caller, &d.incident).await?;
    let page = ShowPage {
        runbooks,
        problems: diag
            .problems
            .iter()
            .map(|p| {
                (
                    p.asset_id,
                    p.asset.clone(),
                    p.check_id,
                    p.check.clone(),
                    p.state.clone(),
                    p.output.clone(),
                    age(p.since, now),
                )
            })
            .collect(),
        upstream: around(&diag.upstream),
        downstream: around(&diag.downstream),
        changes: diag
            .changes
            .iter()
            .map(|r| {
                (
                    crate::api::views::rfc3339(r.at),
                    r.actor_login.clone(),
                    r.event.action.clone(),
                    r.event.object_label.clone(),
                )
            })
            .collect(),
        related: diag.related.iter().map(IncidentView::from).collect(),
        review: ops::review_of(&d.incident).unwrap_or_default(),
        reviewed_by: d.incident.reviewed_by.clone(),
        time_to_ack: d
            .incident
            .acknowledged_at
            .map(|a| age(Some(d.incident.created_at), a))
            .unwrap_or_default(),
        time_to_resolve: d
            .incident
            .resolved_at
            .map(|r| age(Some(d.incident.created_at), r))
            .unwrap_or_default(),
        status: f.t(&format!("incidents.state.{}", d.incident.status.key())),
        urgency: f.t(&format!("incidents.urgency.{}", d.incident.urgency.key())),
        entity: entities
            .get(&d.incident.entity_id)
            .cloned()
            .unwrap_or_default(),
        can_operate: caller
            .grants
            .allows(Incidents, Operate, d.incident.entity_id),
        mine: d.incident.assignee_id == Some(caller.user.id),
        assignee: d.assignee,
        alerts: d
            .alerts
            .iter()
            .map(|a| {
                let v = AlertView::from(a);
                let links = v.links.clone();
                (v, links)
            })
            .collect(),
        causes,
        impacted,
        timeline: d
            .timeline
            .iter()
            .map(|t| {
                (
                    crate::api::views::rfc3339(t.at),
                    f.t(&format!("incidents.event.{}", t.kind)),
                    t.actor.clone(),
                    t.text.clone(),
                )
            })
            .collect(),
        i: IncidentView::from(&d.incident),
        error: error.map(|e| e.to_string()),
        f,
    };
    Ok((status, page).into_response())
}

/// Runs a person's action and comes back to the incident; a refused one is shown on it.
async fn act(st: &AppState, caller: Caller, id: i64, action: IncidentAction) -> PageResult {
    match ops::act(st, &caller, id, action).await {
        Ok(_) => Ok(see_other(&format!("/incidents/{id}?done=saved"))),
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            render(st, &caller, id, None, Some(e))
                .await
                .map_err(perr(&caller))
        }
        Err(e) => Err(PageError(caller, e)),
    }
}

async fn acknowledge(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    act(&st, caller, id, IncidentAction::Acknowledge).await
}

async fn resolve(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    act(&st, caller, id, IncidentAction::Resolve).await
}

async fn reopen(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    act(&st, caller, id, IncidentAction::Reopen).await
}

/// Takes the incident (assigns it to the caller) or, with `release`, unassigns it.
async fn take(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let user = (!form.checked("release")).then_some(caller.user.id);
    act(&st, caller, id, IncidentAction::Assign(user)).await
}

async fn review(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let review = ops::Review {
        cause: form.get("cause"),
        impact: form.get("impact"),
        actions: form.get("actions"),
    };
    match ops::write_review(&st, &caller, id, &review).await {
        Ok(_) => Ok(see_other(&format!("/incidents/{id}?done=saved"))),
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            render(&st, &caller, id, None, Some(e))
                .await
                .map_err(perr(&caller))
        }
        Err(e) => Err(PageError(caller, e)),
    }
}

async fn note(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    act(&st, caller, id, IncidentAction::Note(form.get("text"))).await
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/sources.html")]
struct SourcesPage {
    f: Frame,
    sources: Vec<(AlertSourceView, String)>,
    entities: Vec<(i64, String)>,
    can_manage: bool,
    /// A token just created, shown this once, with the source's kind.
    new_token: Option<(String, String)>,
    error: Option<String>,
}

async fn sources(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    render_sources(&st, &caller, d.done.as_deref(), None, None)
        .await
        .map_err(perr(&caller))
}

async fn render_sources(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    new_token: Option<(String, String)>,
    error: Option<AppError>,
) -> Result<axum::response::Response, AppError> {
    let entities = entity_names(st).await?;
    let sources = ops::list_sources(st, caller)
        .await?
        .iter()
        .map(|s| {
            let entity = entities.get(&s.entity_id).cloned().unwrap_or_default();
            (AlertSourceView::from(s), entity)
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = SourcesPage {
        f: Frame::new(caller, "/incidents", "incidents.sources").with_flash(done),
        sources,
        entities: entities
            .iter()
            .filter(|(id, _)| caller.grants.allows(Incidents, Manage, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        can_manage: caller.grants.allows_somewhere(Incidents, Manage),
        new_token,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn create_source(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let input = AlertSourceInput {
            entity_id: form
                .get("entity_id")
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("entity_id", "must be a whole number"))?,
            name: form.get("name"),
            kind: form.get("kind"),
        };
        ops::create_source(&st, &caller, &input).await
    }
    .await;
    match result {
        // The token is shown on the page that answers the form, once; never in a URL.
        Ok((source, token)) => {
            let kind = source.kind.key().to_owned();
            render_sources(&st, &caller, Some("created"), Some((token, kind)), None).await
        }
        Err(e) => render_sources(&st, &caller, None, None, Some(e)).await,
    }
    .map_err(perr(&caller))
}

async fn revoke_source(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::revoke_source(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/incidents/sources?done=revoked"))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Incidents, Read);
    let operate = Access::Domain(Incidents, Operate);
    let manage = Access::Domain(Incidents, Manage);
    vec![
        page(Method::GET, "/incidents", read, list),
        page(Method::GET, "/incidents/sources", read, sources),
        page(Method::POST, "/incidents/sources", manage, create_source),
        page(
            Method::POST,
            "/incidents/sources/{id}/revoke",
            manage,
            revoke_source,
        ),
        page(Method::GET, "/incidents/{id}", read, show),
        page(
            Method::POST,
            "/incidents/{id}/acknowledge",
            operate,
            acknowledge,
        ),
        page(Method::POST, "/incidents/{id}/resolve", operate, resolve),
        page(Method::POST, "/incidents/{id}/reopen", operate, reopen),
        page(Method::POST, "/incidents/{id}/take", operate, take),
        page(Method::POST, "/incidents/{id}/notes", operate, note),
        page(Method::POST, "/incidents/{id}/review", operate, review),
    ]
}

// ---- Links from pages (e-mails) ------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "incidents/link.html")]
struct LinkPage {
    incident: i64,
    title: Option<String>,
    login: String,
    /// The button's label.
    action: String,
    confirm: bool,
    done: Option<String>,
    error: Option<String>,
}

fn link_error(e: &AppError) -> axum::response::Response {
    let page = LinkPage {
        incident: 0,
        title: None,
        login: String::new(),
        action: String::new(),
        confirm: false,
        done: None,
        error: Some(e.message.clone()),
    };
    (e.status, page).into_response()
}

fn action_label(action: &IncidentAction) -> &'static str {
    match action {
        IncidentAction::Acknowledge => "Acknowledge",
        IncidentAction::Resolve => "Resolve",
        _ => "Confirm",
    }
}

/// A link from a page: shows what it does and a button (a mail scanner following the link
/// changes nothing).
async fn link(
    State(st): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> axum::response::Response {
    let grant = match ops_paging::read_link(&st, &token) {
        Ok(g) => g,
        Err(e) => return link_error(&e),
    };
    let title = st
        .store
        .get_incident(grant.incident)
        .await
        .ok()
        .map(|i| i.title);
    let login = st
        .store
        .get_user(grant.user)
        .await
        .map(|u| u.login)
        .unwrap_or_default();
    LinkPage {
        incident: grant.incident,
        title,
        login,
        action: action_label(&grant.action).to_owned(),
        confirm: true,
        done: None,
        error: None,
    }
    .into_response()
}

/// The button of a link: does it, as the person the link was sent to.
async fn follow_link(
    State(st): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let source = crate::auth::source_of(req.extensions());
    let grant = match ops_paging::read_link(&st, &token) {
        Ok(g) => g,
        Err(e) => return link_error(&e),
    };
    match ops_paging::follow_link(&st, &grant, source).await {
        Ok(incident) => LinkPage {
            incident: incident.id,
            title: Some(incident.title.clone()),
            login: String::new(),
            action: String::new(),
            confirm: false,
            done: Some(format!("The incident is {}.", incident.status.key())),
            error: None,
        }
        .into_response(),
        Err(e) => link_error(&e),
    }
}

pub fn link_routes() -> Vec<RouteDef> {
    vec![
        page(Method::GET, "/a/{token}", Access::Public, link),
        page(Method::POST, "/a/{token}", Access::Public, follow_link),
    ]
}

// ---- The shift log --------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "incidents/shiftlog.html")]
struct ShiftLogPage {
    f: Frame,
    handover: Option<crate::api::shiftlog::HandoverView>,
    entries: Vec<crate::api::shiftlog::EntryView>,
    entities: Vec<(i64, String)>,
    categories: Vec<(&'static str, String)>,
    can_operate: bool,
    error: Option<String>,
}

async fn shift_log(
    State(st): State<AppState>,
    caller: Caller,
    Query(d): Query<Done>,
) -> PageResult {
    render_shift_log(&st, &caller, d.done.as_deref(), None)
        .await
        .map_err(perr(&caller))
}

async fn render_shift_log(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    error: Option<AppError>,
) -> Result<axum::response::Response, AppError> {
    use pupitre_core::permission::Domain::Incidents as Inc;
    let f = Frame::new(caller, "/shiftlog", "nav.shiftlog").with_flash(done);
    let entities = entity_names(st).await?;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = ShiftLogPage {
        handover: crate::ops::shiftlog::handovers(st, caller, 1)
            .await?
            .first()
            .map(crate::api::shiftlog::HandoverView::from),
        entries: crate::ops::shiftlog::entries(st, caller, None, 100)
            .await?
            .iter()
            .map(crate::api::shiftlog::EntryView::from)
            .collect(),
        entities: entities
            .iter()
            .filter(|(id, _)| caller.grants.allows(Inc, Operate, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        categories: crate::ops::shiftlog::CATEGORIES
            .iter()
            .map(|c| (*c, f.t(&format!("shiftlog.category.{c}"))))
            .collect(),
        can_operate: caller.grants.allows_somewhere(Inc, Operate),
        error: error.map(|e| e.to_string()),
        f,
    };
    Ok((status, page).into_response())
}

/// Re-renders the shift log with a refused form's error; other errors go to the error page.
async fn shift_log_refused(st: &AppState, caller: Caller, e: AppError) -> PageResult {
    if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT {
        render_shift_log(st, &caller, None, Some(e))
            .await
            .map_err(perr(&caller))
    } else {
        Err(PageError(caller, e))
    }
}

fn form_entity(form: &FormData) -> Result<i64, AppError> {
    form.get("entity_id")
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("entity_id", "must be a whole number"))
}

async fn write_entry(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = match form_entity(&form) {
        Ok(entity) => {
            crate::ops::shiftlog::add_entry(
                &st,
                &caller,
                entity,
                &form.get("category"),
                &form.get("text"),
                &[],
                &[],
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/shiftlog?done=saved")),
        Err(e) => shift_log_refused(&st, caller, e).await,
    }
}

async fn hand_over(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = match form_entity(&form) {
        Ok(entity) => {
            crate::ops::shiftlog::hand_over(&st, &caller, entity, &form.get("note")).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/shiftlog?done=saved")),
        Err(e) => shift_log_refused(&st, caller, e).await,
    }
}

async fn take_shift(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match crate::ops::shiftlog::acknowledge(&st, &caller, id).await {
        Ok(_) => Ok(see_other("/shiftlog?done=saved")),
        Err(e) => shift_log_refused(&st, caller, e).await,
    }
}

pub fn shift_log_routes() -> Vec<RouteDef> {
    let read = Access::Domain(Incidents, Read);
    let operate = Access::Domain(Incidents, Operate);
    vec![
        page(Method::GET, "/shiftlog", read, shift_log),
        page(Method::POST, "/shiftlog", operate, write_entry),
        page(Method::POST, "/shiftlog/handover", operate, hand_over),
        page(
            Method::POST,
            "/shiftlog/handovers/{id}/acknowledge",
            operate,
            take_shift,
        ),
    ]
}

// ---- On-call --------------------------------------------------------------------------------

/// A stretch of a day in the calendar: (from, to, who, is a gap).
type DayPart = (String, String, String, bool);

/// A schedule as the on-call page shows it: who is on call now, and the next seven days.
struct ScheduleCalendar {
    id: i64,
    name: String,
    time_zone: String,
    now: Option<String>,
    /// Gaps in the seven days: warned about.
    gaps: usize,
    /// Each local day with its parts: (from, to, who, is a gap).
    days: Vec<(String, Vec<DayPart>)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/oncall.html")]
struct OnCallPage {
    f: Frame,
    schedules: Vec<ScheduleCalendar>,
    /// (id, entity id, name, entity, steps in words).
    policies: Vec<(i64, i64, String, String, String)>,
    /// May change schedules and policies (somewhere), and override shifts.
    can_manage: bool,
    can_operate: bool,
}

async fn oncall(State(st): State<AppState>, caller: Caller) -> PageResult {
    let result = async {
        let f = Frame::new(&caller, "/oncall", "nav.oncall");
        let nobody = f.t("oncall.nobody");
        let entities = entity_names(&st).await?;
        let mut logins: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
        let mut schedules = Vec::new();
        for record in ops_paging::list_schedules(&st, &caller).await? {
            let Ok(tz) = jiff::tz::TimeZone::get(&record.time_zone) else {
                continue;
            };
            let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
            let start = pupitre_oncall::schedule::local(
                &tz,
                today.to_datetime(jiff::civil::Time::midnight()),
            );
            let end = start + jiff::SignedDuration::from_hours(7 * 24 + 1);
            let Ok((_, segments)) = ops_paging::final_schedule(
                &st,
                &caller,
                record.id,
                start.as_millisecond(),
                end.as_millisecond(),
            )
            .await
            else {
                continue;
            };
            let now = jiff::Timestamp::now();
            let mut days: Vec<(String, Vec<DayPart>)> = Vec::new();
            for seg in &segments {
                let who = match seg.user {
                    Some(u) => login_of(&st, &mut logins, u).await,
                    None => nobody.clone(),
                };
                // Cut at local midnights, so each day lists its own hours.
                let mut cursor = seg.start;
                while cursor < seg.end {
                    let z = cursor.to_zoned(tz.clone());
                    let next_day = z
                        .date()
                        .checked_add(jiff::Span::new().days(1))
                        .unwrap_or(z.date());
                    let midnight = pupitre_oncall::schedule::local(
                        &tz,
                        next_day.to_datetime(jiff::civil::Time::midnight()),
                    );
                    let part_end = seg.end.min(midnight);
                    let label = |t: jiff::Timestamp| {
                        let z = t.to_zoned(tz.clone());
                        if t == midnight {
                            "24:00".to_owned()
                        } else {
                            format!("{:02}:{:02}", z.hour(), z.minute())
                        }
                    };
                    let day = z.date().to_string();
                    if days.last().is_none_or(|(d, _)| *d != day) {
                        days.push((day, Vec::new()));
                    }
                    if let Some((_, parts)) = days.last_mut() {
                        parts.push((
                            label(cursor),
                            label(part_end),
                            who.clone(),
                            seg.user.is_none(),
                        ));
                    }
                    cursor = part_end;
                }
            }
            days.truncate(7);
            schedules.push(ScheduleCalendar {
                id: record.id,
                now: segments
                    .iter()
                    .find(|s| s.start <= now && now < s.end)
                    .and_then(|s| s.user)
                    .map(|u| logins.get(&u).cloned().unwrap_or_else(|| format!("#{u}"))),
                gaps: pupitre_oncall::schedule::gaps(&segments).count(),
                name: record.name,
                time_zone: record.time_zone,
                days,
            });
        }
        let policies = ops_paging::list_policies(&st, &caller)
            .await?
            .iter()
            .map(|p| {
                let steps = ops_paging::policy_definition(p)
                    .map(|d| {
                        d.steps
                            .iter()
                            .enumerate()
                            .map(|(i, s)| {
                                let who: Vec<String> = s
                                    .targets
                                    .iter()
                                    .map(|t| match (t.user_id, t.schedule_id, t.team_id) {
                                        (Some(u), _, _) => logins
                                            .get(&u)
                                            .cloned()
                                            .unwrap_or_else(|| format!("user #{u}")),
                                        (_, Some(s), _) => format!("schedule #{s}"),
                                        (_, _, Some(t)) => format!("team #{t}"),
                                        _ => String::new(),
                                    })
                                    .collect();
                                format!("{}. {} ({} min)", i + 1, who.join(", "), s.delay_minutes)
                            })
                            .collect::<Vec<_>>()
                            .join(" → ")
                    })
                    .unwrap_or_default();
                (
                    p.id,
                    p.entity_id,
                    p.name.clone(),
                    entities.get(&p.entity_id).cloned().unwrap_or_default(),
                    steps,
                )
            })
            .collect();
        Ok::<_, AppError>(OnCallPage {
            f,
            schedules,
            policies,
            can_manage: caller.grants.allows_somewhere(Incidents, Manage),
            can_operate: caller.grants.allows_somewhere(Incidents, Operate),
        })
    }
    .await;
    result
        .map(IntoResponse::into_response)
        .map_err(perr(&caller))
}

/// A user's login, read once per page.
async fn login_of(
    st: &AppState,
    cache: &mut std::collections::HashMap<i64, String>,
    id: i64,
) -> String {
    if let Some(l) = cache.get(&id) {
        return l.clone();
    }
    let l = st
        .store
        .get_user(id)
        .await
        .map(|u| u.login)
        .unwrap_or_else(|_| format!("#{id}"));
    cache.insert(id, l.clone());
    l
}

pub fn oncall_routes() -> Vec<RouteDef> {
    vec![page(
        Method::GET,
        "/oncall",
        Access::Domain(Incidents, Read),
        oncall,
    )]
}
