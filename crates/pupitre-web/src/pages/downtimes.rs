//! Downtime pages: the current and upcoming downtimes, the form that schedules one on an
//! asset or a check (one-off, or weekly within a period), and deletion. They call the same
//! operations as `/api/v1/downtimes` (`ops::checks::*_downtime`), which validate everything.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pupitre_core::monitoring::check::Downtime;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Monitoring;
use pupitre_core::permission::Level::{Operate, Read};
use serde::Deserialize;

use super::{FieldErrors, FormData, Frame, PageResult, optional_number, perr, see_other};
use crate::api::monitoring::DowntimeView;
use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::checks::{self, DowntimeFields};
use crate::routes::{RouteDef, page};
use crate::state::{AppState, now_ms};

/// The days of a weekly downtime, in the API's keys and order.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One downtime as a table row.
pub struct Row {
    pub id: i64,
    /// `asset` or `check`.
    pub kind: &'static str,
    pub href: String,
    pub target: String,
    pub starts_at: String,
    pub ends_at: String,
    /// For a weekly downtime: its days, start (in its time zone) and length, for a person.
    pub weekly: Option<String>,
    pub comment: String,
    pub author: String,
    /// In effect right now.
    pub active: bool,
    pub can_delete: bool,
}

/// The form as typed: the API's fields, kept as text so that a refused form comes back as
/// it was sent.
#[derive(Default)]
pub struct DowntimeForm {
    pub asset_id: String,
    pub check_id: String,
    pub starts_at: String,
    pub ends_at: String,
    pub weekdays: Vec<String>,
    pub start_time: String,
    pub duration_minutes: String,
    pub time_zone: String,
    pub comment: String,
}

impl DowntimeForm {
    fn read(form: &FormData) -> DowntimeForm {
        DowntimeForm {
            asset_id: form.get("asset_id"),
            check_id: form.get("check_id"),
            starts_at: form.get("starts_at"),
            ends_at: form.get("ends_at"),
            weekdays: form.all("weekdays"),
            start_time: form.get("start_time"),
            duration_minutes: form.get("duration_minutes"),
            time_zone: form.get("time_zone"),
            comment: form.get("comment"),
        }
    }

    /// A blank form on the asset or check given, for two hours from the current minute, in
    /// the caller's time zone.
    fn blank(asset_id: Option<i64>, check_id: Option<i64>, time_zone: &str) -> DowntimeForm {
        let start = now_ms() / 60_000 * 60_000;
        DowntimeForm {
            asset_id: asset_id.map(|a| a.to_string()).unwrap_or_default(),
            check_id: check_id.map(|c| c.to_string()).unwrap_or_default(),
            starts_at: rfc3339(start),
            ends_at: rfc3339(start + 2 * 3_600_000),
            time_zone: time_zone.to_owned(),
            ..DowntimeForm::default()
        }
    }

    fn fields(&self) -> Result<DowntimeFields, AppError> {
        Ok(DowntimeFields {
            asset_id: optional_number("asset_id", &self.asset_id)?,
            check_id: optional_number("check_id", &self.check_id)?,
            starts_at: self.starts_at.clone(),
            ends_at: self.ends_at.clone(),
            weekdays: self.weekdays.clone(),
            start_time: Some(self.start_time.trim().to_owned()).filter(|s| !s.is_empty()),
            duration_minutes: optional_number("duration_minutes", &self.duration_minutes)?,
            time_zone: Some(self.time_zone.trim().to_owned()).filter(|s| !s.is_empty()),
            comment: self.comment.clone(),
        })
    }

    /// Whether `day` is ticked.
    pub fn has_day(&self, day: &str) -> bool {
        self.weekdays.iter().any(|d| d == day)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/downtimes.html")]
struct DowntimesPage {
    f: Frame,
    rows: Vec<Row>,
    /// The caller may schedule downtimes somewhere: the form is shown.
    can_operate: bool,
    v: DowntimeForm,
    errors: FieldErrors,
    days: Vec<(&'static str, String)>,
}

/// The names of what the downtimes cover, by (`asset` or `check`, id).
async fn targets(
    st: &AppState,
    caller: &Caller,
    list: &[Downtime],
) -> Result<BTreeMap<(&'static str, i64), String>, AppError> {
    let mut names = BTreeMap::new();
    let mut asset_ids: Vec<i64> = list.iter().filter_map(|d| d.asset_id).collect();
    asset_ids.sort_unstable();
    asset_ids.dedup();
    // A downtime's entity is visible to the caller in supervision, which shows asset names
    // with their checks: the name goes with it, as on the other supervision pages.
    if !asset_ids.is_empty() {
        for a in st.store.get_assets(&asset_ids).await? {
            names.insert(("asset", a.id), a.name);
        }
    }
    for id in list.iter().filter_map(|d| d.check_id) {
        if names.contains_key(&("check", id)) {
            continue;
        }
        if let Ok(r) = checks::get(st, caller, id, Read).await {
            names.insert(
                ("check", id),
                format!("{} — {}", r.asset_name, r.check.definition.name),
            );
        }
    }
    Ok(names)
}

async fn render(
    st: &AppState,
    caller: &Caller,
    v: DowntimeForm,
    error: Option<AppError>,
    done: Option<&str>,
) -> Result<Response, AppError> {
    let list = checks::list_downtimes(st, caller).await?;
    let names = targets(st, caller, &list).await?;
    let f = Frame::new(caller, "/monitoring", "monitoring.downtimes").with_flash(done);
    let day = |d: &str| f.t(&format!("monitoring.day.{d}"));
    let rows = list
        .iter()
        .map(|d| {
            let view = DowntimeView::from(d);
            let (kind, id, href) = match (d.check_id, d.asset_id) {
                (Some(c), _) => ("check", c, format!("/monitoring/checks/{c}")),
                (None, a) => {
                    let a = a.unwrap_or_default();
                    ("asset", a, format!("/monitoring/hosts/{a}"))
                }
            };
            Row {
                id: d.id,
                kind,
                href,
                target: names
                    .get(&(kind, id))
                    .cloned()
                    .unwrap_or_else(|| format!("#{id}")),
                starts_at: view.starts_at,
                ends_at: view.ends_at,
                weekly: view.start_time.map(|start| {
                    format!(
                        "{} · {start} {} · {} min",
                        view.weekdays
                            .iter()
                            .map(|d| day(d))
                            .collect::<Vec<_>>()
                            .join(", "),
                        view.time_zone,
                        view.duration_minutes.unwrap_or_default()
                    )
                }),
                comment: view.comment,
                author: view.author,
                active: view.active,
                can_delete: caller.grants.allows(Monitoring, Operate, d.entity_id),
            }
        })
        .collect();
    let days = DAYS.iter().map(|d| (*d, day(d))).collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = DowntimesPage {
        rows,
        can_operate: caller.grants.allows_somewhere(Monitoring, Operate),
        v,
        errors: error.as_ref().map(FieldErrors::of).unwrap_or_default(),
        days,
        f,
    };
    Ok((status, page).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    done: Option<String>,
    /// Prefills the form (the links from a host's and a check's page).
    asset_id: Option<i64>,
    check_id: Option<i64>,
}

async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let v = DowntimeForm::blank(q.asset_id, q.check_id, &caller.user.time_zone);
    render(&st, &caller, v, None, q.done.as_deref())
        .await
        .map_err(perr(&caller))
}

async fn create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let v = DowntimeForm::read(&FormData::parse(&body));
    let result = match v.fields() {
        Ok(fields) => checks::create_downtime(&st, &caller, fields).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/monitoring/downtimes?done=created")),
        Err(e) => render(&st, &caller, v, Some(e), None)
            .await
            .map_err(perr(&caller)),
    }
}

async fn delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    checks::delete_downtime(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/downtimes?done=deleted"))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Monitoring, Read);
    let operate = Access::Domain(Monitoring, Operate);
    vec![
        page(Method::GET, "/monitoring/downtimes", read, list),
        page(Method::POST, "/monitoring/downtimes", operate, create),
        page(
            Method::POST,
            "/monitoring/downtimes/{id}/delete",
            operate,
            delete,
        ),
    ]
}
