//! Check template pages: the list, one template with its rule and its checks, and the form
//! that creates or changes one. Saving applies the templates at once (as the API does, through
//! `ops::check_templates`); the template's page then shows what that changed.
//!
//! A template's checks are edited as JSON, in exactly the API's format (`checks` of
//! `/api/v1/check-templates`): the probes have too many shapes for a form to be simpler.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pupitre_core::inventory::{AssetType, OsFamily, Status};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Monitoring;
use pupitre_core::permission::Level::{Edit, Read};
use serde::Deserialize;

use super::{
    Choice, Done, FieldErrors, FormData, Frame, PageResult, choices, entity_names, optional_number,
    perr, see_other,
};
use crate::api::monitoring::TemplateView;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::check_templates::{self, TemplateCheckFields, TemplateFields};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// What a new template's check list starts with: one ping, to show the format.
const EXAMPLE_CHECKS: &str = r#"[
  {
    "name": "Ping",
    "probe": {
      "kind": "ping"
    },
    "interval": 60,
    "max_attempts": 3,
    "warning": "100",
    "critical": "500",
    "host_check": true
  }
]"#;

/// A template's rule for a person, as (label, value) lines.
fn rule_lines(
    f: &Frame,
    t: &TemplateView,
    entities: &BTreeMap<i64, String>,
) -> Vec<(String, String)> {
    let any = f.t("common.any");
    let list = |keys: &[String], label: &dyn Fn(&str) -> String| {
        if keys.is_empty() {
            any.clone()
        } else {
            keys.iter().map(|k| label(k)).collect::<Vec<_>>().join(", ")
        }
    };
    let os_label =
        |k: &str| OsFamily::from_key(k).map_or_else(|| k.to_owned(), |o| o.label().to_owned());
    let scope = match t.asset_entity_id {
        None => any.clone(),
        Some(e) => {
            let name = entities.get(&e).cloned().unwrap_or_else(|| format!("#{e}"));
            if t.recursive {
                format!("{name} {}", f.t("monitoring.and_below"))
            } else {
                name
            }
        }
    };
    let statuses = if t.statuses.is_empty() {
        f.t("status.in_production")
    } else {
        list(&t.statuses, &|k| f.t(&format!("status.{k}")))
    };
    vec![
        (
            f.t("monitoring.asset_types"),
            list(&t.asset_types, &|k| f.t(&format!("asset_type.{k}"))),
        ),
        (
            f.t("monitoring.os_families"),
            list(&t.os_families, &os_label),
        ),
        (
            f.t("monitoring.tags"),
            if t.tags.is_empty() {
                any.clone()
            } else {
                t.tags.join(", ")
            },
        ),
        (f.t("monitoring.asset_entity"), scope),
        (f.t("monitoring.statuses"), statuses),
    ]
}

/// One template as a row of the list.
pub struct ListRow {
    pub id: i64,
    pub name: String,
    pub entity: String,
    /// The rule on one line.
    pub matches: String,
    pub checks: usize,
    pub applied: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/templates.html")]
struct ListPage {
    f: Frame,
    rows: Vec<ListRow>,
    can_edit: bool,
}

async fn list(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    let err = perr(&caller);
    let templates = check_templates::list(&st, &caller).await.map_err(&err)?;
    let entities = entity_names(&st).await.map_err(&err)?;
    let f =
        Frame::new(&caller, "/monitoring", "monitoring.templates").with_flash(d.done.as_deref());
    let rows = templates
        .iter()
        .map(|r| {
            let t = TemplateView::from(r);
            ListRow {
                id: t.id,
                matches: rule_lines(&f, &t, &entities)
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(" · "),
                entity: entities.get(&t.entity_id).cloned().unwrap_or_default(),
                checks: t.checks.len(),
                applied: t.applied_checks,
                name: t.name,
            }
        })
        .collect();
    Ok(ListPage {
        rows,
        can_edit: caller.grants.allows_somewhere(Monitoring, Edit),
        f,
    }
    .into_response())
}

/// One check of a template, for its page.
pub struct CheckRow {
    pub name: String,
    pub kind: String,
    pub probe: String,
    pub schedule: String,
    pub thresholds: String,
    pub notifications: bool,
    pub host_check: bool,
}

impl CheckRow {
    fn of(c: &TemplateCheckFields) -> CheckRow {
        let probe = serde_json::to_value(&c.probe).unwrap_or_default();
        let kind = probe["kind"].as_str().unwrap_or_default().to_owned();
        let mut params = probe;
        if let Some(map) = params.as_object_mut() {
            map.remove("kind");
        }
        CheckRow {
            name: c.name.clone(),
            kind,
            probe: params.to_string(),
            schedule: format!(
                "{} s / {} s · {} s · ×{}",
                c.interval,
                c.retry_interval.unwrap_or(c.interval.min(60)),
                c.timeout,
                c.max_attempts
            ),
            thresholds: [
                Some(&c.warning)
                    .filter(|w| !w.is_empty())
                    .map(|w| format!("w {w}")),
                Some(&c.critical)
                    .filter(|w| !w.is_empty())
                    .map(|c| format!("c {c}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            notifications: c.notifications,
            host_check: c.host_check,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/template.html")]
struct ShowPage {
    f: Frame,
    id: i64,
    entity: String,
    rules: Vec<(String, String)>,
    checks: Vec<CheckRow>,
    applied: i64,
    updated_at: String,
    can_edit: bool,
}

/// What saving changed, carried by the redirect to the template's page. Only numbers travel
/// in the URL, so that a crafted link cannot put words on the page.
#[derive(Debug, Default, Deserialize)]
struct ShowQuery {
    done: Option<String>,
    created: Option<usize>,
    updated: Option<usize>,
    deleted: Option<usize>,
    skipped: Option<usize>,
}

async fn show(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    let err = perr(&caller);
    let r = check_templates::get(&st, &caller, id, Read)
        .await
        .map_err(&err)?;
    let entities = entity_names(&st).await.map_err(&err)?;
    let t = TemplateView::from(&r);
    let mut f =
        Frame::new(&caller, "/monitoring", "monitoring.template").with_flash(q.done.as_deref());
    if q.done.as_deref() == Some("applied") {
        f.flash = Some(format!(
            "{} {} {} · {} {} · {} {} · {} {}",
            f.t("monitoring.applied"),
            f.t("monitoring.applied_created"),
            q.created.unwrap_or_default(),
            f.t("monitoring.applied_updated"),
            q.updated.unwrap_or_default(),
            f.t("monitoring.applied_deleted"),
            q.deleted.unwrap_or_default(),
            f.t("monitoring.applied_skipped"),
            q.skipped.unwrap_or_default(),
        ));
    }
    f.title = format!("{} — {}", f.t("monitoring.template"), t.name);
    Ok(ShowPage {
        id,
        entity: entities.get(&t.entity_id).cloned().unwrap_or_default(),
        rules: rule_lines(&f, &t, &entities),
        checks: t.checks.iter().map(CheckRow::of).collect(),
        applied: t.applied_checks,
        updated_at: t.updated_at.clone(),
        can_edit: caller.grants.allows(Monitoring, Edit, r.entity_id),
        f,
    }
    .into_response())
}

/// The form as typed, kept as text so that a refused form comes back as it was sent.
pub struct TemplateForm {
    pub name: String,
    pub entity_id: String,
    pub asset_types: Vec<String>,
    pub os_families: Vec<String>,
    pub tags: String,
    pub asset_entity_id: String,
    pub recursive: bool,
    pub statuses: Vec<String>,
    /// The checks as JSON, in the API's format.
    pub checks: String,
}

impl TemplateForm {
    fn blank(caller: &Caller) -> TemplateForm {
        TemplateForm {
            name: String::new(),
            entity_id: caller.user.entity_id.to_string(),
            asset_types: Vec::new(),
            os_families: Vec::new(),
            tags: String::new(),
            asset_entity_id: String::new(),
            recursive: true,
            statuses: Vec::new(),
            checks: EXAMPLE_CHECKS.to_owned(),
        }
    }

    fn of(t: &TemplateView) -> TemplateForm {
        TemplateForm {
            name: t.name.clone(),
            entity_id: t.entity_id.to_string(),
            asset_types: t.asset_types.clone(),
            os_families: t.os_families.clone(),
            tags: t.tags.join(", "),
            asset_entity_id: t.asset_entity_id.map(|e| e.to_string()).unwrap_or_default(),
            recursive: t.recursive,
            statuses: t.statuses.clone(),
            checks: serde_json::to_string_pretty(&t.checks).unwrap_or_default(),
        }
    }

    fn read(form: &FormData) -> TemplateForm {
        TemplateForm {
            name: form.get("name"),
            entity_id: form.get("entity_id"),
            asset_types: form.all("asset_types"),
            os_families: form.all("os_families"),
            tags: form.get("tags"),
            asset_entity_id: form.get("asset_entity_id"),
            recursive: form.checked("recursive"),
            statuses: form.all("statuses"),
            checks: form.get("checks"),
        }
    }

    fn fields(&self) -> Result<TemplateFields, AppError> {
        Ok(TemplateFields {
            name: self.name.clone(),
            entity_id: optional_number("entity_id", &self.entity_id)?,
            asset_types: self.asset_types.clone(),
            os_families: self.os_families.clone(),
            tags: self
                .tags
                .split([',', ' '])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            asset_entity_id: optional_number("asset_entity_id", &self.asset_entity_id)?,
            recursive: self.recursive,
            statuses: self.statuses.clone(),
            checks: parse_checks(&self.checks)?,
        })
    }
}

/// The checks' JSON, read as the API reads it; an error names the place in `checks`
/// (`checks[0].probe.port`).
fn parse_checks(text: &str) -> Result<Vec<TemplateCheckFields>, AppError> {
    crate::extract::parse_json(text.as_bytes()).map_err(|e| {
        let field = match e.field.as_deref() {
            None | Some("body") => "checks".to_owned(),
            Some(path) if path.starts_with('[') => format!("checks{path}"),
            Some(path) => format!("checks.{path}"),
        };
        AppError::invalid(field, e.message)
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/template_form.html")]
struct FormPage {
    f: Frame,
    /// Where the form posts; also where "cancel" goes (the list, or the template's page).
    action: String,
    v: TemplateForm,
    entities: Vec<Choice>,
    scopes: Vec<Choice>,
    asset_types: Vec<Choice>,
    os_families: Vec<Choice>,
    statuses: Vec<Choice>,
    errors: FieldErrors,
}

fn pick(all: impl IntoIterator<Item = (String, String)>, chosen: &[String]) -> Vec<Choice> {
    choices(all, |v| chosen.iter().any(|c| c == v))
}

async fn form_page(
    st: &AppState,
    caller: &Caller,
    id: Option<i64>,
    v: TemplateForm,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let names = entity_names(st).await?;
    let mut f = Frame::new(
        caller,
        "/monitoring",
        if id.is_some() {
            "monitoring.edit_template"
        } else {
            "monitoring.new_template"
        },
    );
    if id.is_some() {
        f.title = format!("{} — {}", f.t("monitoring.edit_template"), v.name);
    }
    let visible = caller.visible(Monitoring);
    let named = |ids: Vec<i64>| -> Vec<(String, String)> {
        ids.into_iter()
            .map(|e| {
                (
                    e.to_string(),
                    names.get(&e).cloned().unwrap_or_else(|| format!("#{e}")),
                )
            })
            .collect()
    };
    let editable = visible
        .iter()
        .copied()
        .filter(|e| caller.grants.allows(Monitoring, Edit, *e))
        .collect();
    let mut scopes = vec![(String::new(), f.t("common.any"))];
    scopes.extend(named(visible));
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = FormPage {
        action: id.map_or_else(
            || "/monitoring/templates".to_owned(),
            |id| format!("/monitoring/templates/{id}"),
        ),
        entities: pick(named(editable), std::slice::from_ref(&v.entity_id)),
        scopes: pick(scopes, std::slice::from_ref(&v.asset_entity_id)),
        asset_types: pick(
            AssetType::ALL
                .iter()
                .map(|t| (t.key().to_owned(), f.t(&format!("asset_type.{}", t.key())))),
            &v.asset_types,
        ),
        os_families: pick(
            OsFamily::ALL
                .iter()
                .map(|o| (o.key().to_owned(), o.label().to_owned())),
            &v.os_families,
        ),
        statuses: pick(
            Status::ALL
                .iter()
                .map(|s| (s.key().to_owned(), f.t(&format!("status.{}", s.key())))),
            &v.statuses,
        ),
        errors: error.as_ref().map(FieldErrors::of).unwrap_or_default(),
        v,
        f,
    };
    Ok((status, page).into_response())
}

/// The template's page after a save, with what applying it changed.
fn applied(id: i64, report: &pupitre_store::monitoring::ApplyReport) -> Response {
    see_other(&format!(
        "/monitoring/templates/{id}?done=applied&created={}&updated={}&deleted={}&skipped={}",
        report.created,
        report.updated,
        report.deleted,
        report.skipped.len()
    ))
}

async fn new_form(State(st): State<AppState>, caller: Caller) -> PageResult {
    form_page(&st, &caller, None, TemplateForm::blank(&caller), None)
        .await
        .map_err(perr(&caller))
}

async fn create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let v = TemplateForm::read(&FormData::parse(&body));
    let result = match v.fields() {
        Ok(fields) => check_templates::create(&st, &caller, fields).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((t, report)) => Ok(applied(t.template.id, &report)),
        Err(e) => form_page(&st, &caller, None, v, Some(e))
            .await
            .map_err(perr(&caller)),
    }
}

async fn edit_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let r = check_templates::get(&st, &caller, id, Edit)
        .await
        .map_err(perr(&caller))?;
    let v = TemplateForm::of(&TemplateView::from(&r));
    form_page(&st, &caller, Some(id), v, None)
        .await
        .map_err(perr(&caller))
}

async fn update(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    // A template the caller may not change is an error page, not a form.
    check_templates::get(&st, &caller, id, Edit)
        .await
        .map_err(perr(&caller))?;
    let v = TemplateForm::read(&FormData::parse(&body));
    let result = match v.fields() {
        Ok(fields) => check_templates::update(&st, &caller, id, fields).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((_, report)) => Ok(applied(id, &report)),
        Err(e) => form_page(&st, &caller, Some(id), v, Some(e))
            .await
            .map_err(perr(&caller)),
    }
}

async fn delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    check_templates::delete(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/templates?done=deleted"))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Monitoring, Read);
    let edit = Access::Domain(Monitoring, Edit);
    vec![
        page(Method::GET, "/monitoring/templates", read, list),
        page(Method::POST, "/monitoring/templates", edit, create),
        page(Method::GET, "/monitoring/templates/new", edit, new_form),
        page(Method::GET, "/monitoring/templates/{id}", read, show),
        page(Method::POST, "/monitoring/templates/{id}", edit, update),
        page(
            Method::GET,
            "/monitoring/templates/{id}/edit",
            edit,
            edit_form,
        ),
        page(
            Method::POST,
            "/monitoring/templates/{id}/delete",
            edit,
            delete,
        ),
    ]
}
