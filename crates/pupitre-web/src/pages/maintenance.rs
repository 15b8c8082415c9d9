//! Maintenance: the maintenance windows with their next occurrence, what they cover and the
//! intervention they are for; a form to plan one or change it, and a button to delete one.
//! They call the same operations as `/api/v1/maintenance-windows`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Maintenance;
use pupitre_core::permission::Level::{Edit, Read};
use pupitre_store::incidents::{WindowRecord, WindowScope};

use super::{Done, FormData, Frame, PageResult, entity_names, perr, see_other};
use crate::api::maintenance::WindowView;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::maintenance::{self as ops, Intervention, WindowFields};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// The form's fields, as text.
#[derive(Default)]
pub struct Form {
    pub name: String,
    pub entity_id: i64,
    /// `YYYY-MM-DDTHH:MM`, local to `time_zone`.
    pub starts_at: String,
    pub time_zone: String,
    pub duration: String,
    pub rrule: String,
    pub asset_ids: String,
    pub check_ids: String,
    pub tags: String,
    pub whole_entity: bool,
    pub who: String,
    pub what: String,
    pub vendor: String,
    pub description: String,
}

fn joined<T: ToString>(list: &[T]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Form {
    fn blank(caller: &Caller) -> Form {
        Form {
            time_zone: caller.user.time_zone.clone(),
            duration: "60".to_owned(),
            ..Form::default()
        }
    }

    fn of(w: &WindowRecord) -> Form {
        let scope: WindowScope = serde_json::from_str(&w.scope).unwrap_or_default();
        let n: Intervention = serde_json::from_str(&w.intervention).unwrap_or_default();
        let local = TimeZone::get(&w.time_zone)
            .ok()
            .zip(jiff::Timestamp::from_millisecond(w.starts_at).ok())
            .map(|(tz, t)| {
                t.to_zoned(tz)
                    .datetime()
                    .strftime("%Y-%m-%dT%H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        Form {
            name: w.title.clone(),
            entity_id: w.entity_id,
            starts_at: local,
            time_zone: w.time_zone.clone(),
            duration: w.duration_minutes.to_string(),
            rrule: w.rrule.clone(),
            asset_ids: joined(&scope.asset_ids),
            check_ids: joined(&scope.check_ids),
            tags: scope.tags.join(", "),
            whole_entity: scope.entity_ids.contains(&w.entity_id),
            who: n.who,
            what: n.what,
            vendor: n.vendor,
            description: n.description,
        }
    }

    fn typed(form: &FormData) -> Form {
        Form {
            name: form.get("name"),
            entity_id: form.get("entity_id").parse().unwrap_or(0),
            starts_at: form.get("starts_at"),
            time_zone: form.get("time_zone"),
            duration: form.get("duration_minutes"),
            rrule: form.get("rrule"),
            asset_ids: form.get("asset_ids"),
            check_ids: form.get("check_ids"),
            tags: form.get("tags"),
            whole_entity: form.checked("whole_entity"),
            who: form.get("who"),
            what: form.get("what"),
            vendor: form.get("vendor"),
            description: form.get("description"),
        }
    }

    /// The window it describes; the error names the field.
    fn fields(&self) -> Result<WindowFields, AppError> {
        let ids = |field: &str, text: &str| -> Result<Vec<i64>, AppError> {
            text.split([',', ' '])
                .filter(|t| !t.is_empty())
                .map(|t| {
                    t.parse()
                        .map_err(|_| AppError::invalid(field, format!("{t:?} is not an id")))
                })
                .collect()
        };
        let tz = TimeZone::get(self.time_zone.trim()).map_err(|_| {
            AppError::invalid("time_zone", "is not a known time zone (Europe/Paris)")
        })?;
        let starts_at = DateTime::strptime("%Y-%m-%dT%H:%M", self.starts_at.trim())
            .ok()
            .and_then(|dt| dt.to_zoned(tz).ok())
            .ok_or_else(|| AppError::invalid("starts_at", "must be a date and time"))?
            .timestamp()
            .to_string();
        let duration_minutes =
            self.duration.trim().parse().map_err(|_| {
                AppError::invalid("duration_minutes", "must be a number of minutes")
            })?;
        Ok(WindowFields {
            entity_id: self.entity_id,
            title: self.name.clone(),
            starts_at,
            duration_minutes,
            time_zone: self.time_zone.trim().to_owned(),
            rrule: self.rrule.trim().to_owned(),
            scope: WindowScope {
                asset_ids: ids("asset_ids", &self.asset_ids)?,
                check_ids: ids("check_ids", &self.check_ids)?,
                tags: self
                    .tags
                    .split(',')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect(),
                entity_ids: if self.whole_entity {
                    vec![self.entity_id]
                } else {
                    Vec::new()
                },
            },
            intervention: Intervention {
                who: self.who.trim().to_owned(),
                what: self.what.trim().to_owned(),
                vendor: self.vendor.trim().to_owned(),
                description: self.description.clone(),
            },
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "maintenance.html")]
struct MaintenancePage {
    f: Frame,
    /// (window, what it covers as text, may the caller change it).
    windows: Vec<(WindowView, String, bool)>,
    entities: Vec<(i64, String)>,
    editing: Option<i64>,
    form: Form,
    error: Option<String>,
}

async fn render(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    editing: Option<i64>,
    form: Form,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let names = entity_names(st).await?;
    let windows = ops::list(st, caller)
        .await?
        .iter()
        .map(|w| {
            let v = WindowView::from(w);
            let s = &v.scope;
            let mut parts = Vec::new();
            if !s.asset_ids.is_empty() {
                parts.push(format!("{} asset(s)", s.asset_ids.len()));
            }
            if !s.check_ids.is_empty() {
                parts.push(format!("{} check(s)", s.check_ids.len()));
            }
            if !s.tags.is_empty() {
                parts.push(format!("tags {}", s.tags.join(", ")));
            }
            for e in &s.entity_ids {
                parts.push(names.get(e).cloned().unwrap_or_else(|| format!("#{e}")));
            }
            let may = caller.grants.allows(Maintenance, Edit, w.entity_id);
            (v, parts.join(" · "), may)
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = MaintenancePage {
        f: Frame::new(caller, "/maintenance", "nav.maintenance").with_flash(done),
        windows,
        entities: names
            .iter()
            .filter(|(id, _)| caller.grants.allows(Maintenance, Edit, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        editing,
        form,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn list(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    render(
        &st,
        &caller,
        d.done.as_deref(),
        None,
        Form::blank(&caller),
        None,
    )
    .await
    .map_err(perr(&caller))
}

async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let result = async {
        let w = ops::get(&st, &caller, id, Read).await?;
        render(&st, &caller, None, Some(id), Form::of(&w), None).await
    }
    .await;
    result.map_err(perr(&caller))
}

async fn save(st: &AppState, caller: &Caller, id: Option<i64>, body: &[u8]) -> PageResult {
    let form = Form::typed(&FormData::parse(body));
    let outcome = async {
        let mut f = form.fields()?;
        match id {
            None => ops::create(st, caller, &f).await,
            Some(id) => {
                // The form names only the window's own entity: other entities it covers
                // (set through the API) stay covered.
                let before = ops::get(st, caller, id, Edit).await?;
                let scope: WindowScope = serde_json::from_str(&before.scope).unwrap_or_default();
                for e in scope.entity_ids {
                    if e != before.entity_id && !f.scope.entity_ids.contains(&e) {
                        f.scope.entity_ids.push(e);
                    }
                }
                ops::update(st, caller, id, &f).await
            }
        }
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/maintenance?done=saved")),
        Err(e) => render(st, caller, None, id, form, Some(e))
            .await
            .map_err(perr(caller)),
    }
}

async fn create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    save(&st, &caller, None, &body).await
}

async fn update(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    save(&st, &caller, Some(id), &body).await
}

async fn delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::delete(&st, &caller, id).await.map_err(perr(&caller))?;
    Ok(see_other("/maintenance?done=deleted"))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Maintenance, Read);
    let edit = Access::Domain(Maintenance, Edit);
    vec![
        page(Method::GET, "/maintenance", read, list),
        page(Method::POST, "/maintenance", edit, create),
        page(Method::GET, "/maintenance/{id}", read, show),
        page(Method::POST, "/maintenance/{id}", edit, update),
        page(Method::POST, "/maintenance/{id}/delete", edit, delete),
    ]
}
