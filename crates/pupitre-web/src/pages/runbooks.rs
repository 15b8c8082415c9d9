//! The runbook pages: Incidents › Runbooks (the list and a form to write one), one runbook
//! (its markdown, its versions, a form for the next version), the runbook panel of an
//! incident page, and the confirmation step before an action runs on a host. They call the
//! same operations as `/api/v1/runbooks` and `/api/v1/incidents/{id}/actions`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Incidents;
use pupitre_core::permission::Level::{Manage, Operate, Read};
use pupitre_store::incidents::IncidentRecord;
use pupitre_store::runbooks::RunbookRecord;
use serde::Deserialize;

use super::{Done, FormData, Frame, PageResult, entity_names, perr, see_other};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::runbooks::{self as ops, ActionFields, LaunchFields, RunbookFields};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// A runbook as an incident page shows it.
pub struct Panel {
    pub id: i64,
    pub title: String,
    pub version: i64,
    /// The markdown rendered (raw HTML in it shown as text).
    pub html: String,
    /// (name, label, command line, automatic).
    pub actions: Vec<(String, String, String, bool)>,
    pub hosts: Vec<(i64, String)>,
}

/// The runbooks of an incident, for its page.
pub async fn panels(
    st: &AppState,
    caller: &Caller,
    incident: &IncidentRecord,
) -> Result<Vec<Panel>, AppError> {
    Ok(ops::for_incident(st, Some(caller), incident)
        .await?
        .into_iter()
        .map(|a| Panel {
            id: a.runbook.id,
            title: a.runbook.title.clone(),
            version: a.runbook.version,
            html: ops::markdown_html(&a.runbook.body),
            actions: a
                .actions
                .iter()
                .map(|x| {
                    let label = if x.label.is_empty() {
                        x.name.clone()
                    } else {
                        x.label.clone()
                    };
                    (x.name.clone(), label, x.command_line(), x.automatic)
                })
                .collect(),
            hosts: a.hosts,
        })
        .collect())
}

// ---- The confirmation step and the launch --------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "incidents/action_confirm.html")]
struct ConfirmPage {
    f: Frame,
    incident_id: i64,
    incident_title: String,
    runbook_id: i64,
    runbook: String,
    version: i64,
    action: String,
    command: String,
    user: String,
    timeout_s: u64,
    asset_id: i64,
    asset: String,
}

#[derive(Deserialize)]
struct ConfirmParams {
    runbook: Option<i64>,
    action: Option<String>,
    asset: Option<i64>,
}

/// Shows exactly what will run where, with the button that runs it.
async fn confirm(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(p): Query<ConfirmParams>,
) -> PageResult {
    let incident = crate::ops::incidents::get_incident(&st, &caller, id, Operate)
        .await
        .map_err(perr(&caller))?;
    let (Some(runbook), Some(action)) = (p.runbook, p.action.clone()) else {
        // Nothing chosen: the incident's runbooks are on its page.
        return Ok(see_other(&format!("/incidents/{id}#runbooks")));
    };
    let result = async {
        let f = LaunchFields {
            runbook_id: runbook,
            action,
            asset_id: p.asset,
            confirm: false,
            version: None,
        };
        let plan = ops::plan_launch(&st, Some(&caller), &incident, &f).await?;
        Ok::<_, AppError>(ConfirmPage {
            f: Frame::new(&caller, "/incidents", "runbooks.confirm_title"),
            incident_id: incident.id,
            incident_title: incident.title.clone(),
            runbook_id: plan.runbook.id,
            runbook: plan.runbook.title.clone(),
            version: plan.runbook.version,
            action: plan.action.name.clone(),
            command: plan.action.command_line(),
            user: plan.action.user.clone(),
            timeout_s: plan.action.timeout_s,
            asset_id: plan.asset_id,
            asset: plan.asset.clone(),
        })
    }
    .await
    .map_err(perr(&caller))?;
    Ok(result.into_response())
}

async fn launch(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let fields = async {
        Ok::<_, AppError>(LaunchFields {
            runbook_id: form
                .int("runbook_id")?
                .ok_or_else(|| AppError::invalid("runbook_id", "required"))?,
            action: form.get("action"),
            asset_id: form.int("asset_id")?,
            confirm: form.get("confirm") == "yes",
            version: form.int("version")?,
        })
    }
    .await
    .map_err(perr(&caller))?;
    ops::launch(&st, &caller, id, &fields)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other(&format!("/incidents/{id}?done=ran#timeline")))
}

// ---- Runbooks list and editor ---------------------------------------------------------------

/// An action as a row of the form.
pub struct ActionRow {
    pub name: String,
    pub label: String,
    /// One argument per line.
    pub argv: String,
    pub user: String,
    pub timeout_s: String,
    pub automatic: bool,
}

impl From<&ActionFields> for ActionRow {
    fn from(a: &ActionFields) -> ActionRow {
        ActionRow {
            name: a.name.clone(),
            label: a.label.clone(),
            argv: a.argv.join("\n"),
            user: a.user.clone(),
            timeout_s: a.timeout_s.to_string(),
            automatic: a.automatic,
        }
    }
}

/// What the form shows: a runbook's fields as text.
pub struct Form {
    pub entity_id: i64,
    pub target_kind: String,
    pub target: String,
    pub title: String,
    pub body: String,
    pub note: String,
    pub actions: Vec<ActionRow>,
}

impl Form {
    fn of(r: Option<&RunbookRecord>) -> Form {
        let mut actions: Vec<ActionRow> = r
            .map(|r| ops::actions_of(r).iter().map(ActionRow::from).collect())
            .unwrap_or_default();
        actions.push(ActionRow {
            name: String::new(),
            label: String::new(),
            argv: String::new(),
            user: String::new(),
            timeout_s: "60".to_owned(),
            automatic: false,
        });
        Form {
            entity_id: r.map_or(0, |r| r.entity_id),
            target_kind: r.map_or_else(|| "asset".to_owned(), |r| r.target_kind.clone()),
            target: r.map(|r| r.target.clone()).unwrap_or_default(),
            title: r.map(|r| r.title.clone()).unwrap_or_default(),
            body: r.map(|r| r.body.clone()).unwrap_or_default(),
            note: String::new(),
            actions,
        }
    }

    /// What was typed, shown again with the error.
    fn typed(form: &FormData) -> Form {
        let names = form.all("action_name");
        let labels = form.all("action_label");
        let argvs = form.all("action_argv");
        let users = form.all("action_user");
        let timeouts = form.all("action_timeout_s");
        let automatic = form.all("action_automatic");
        let at = |list: &[String], i: usize| list.get(i).cloned().unwrap_or_default();
        Form {
            entity_id: form.get("entity_id").parse().unwrap_or(0),
            target_kind: form.get("target_kind"),
            target: form.get("target"),
            title: form.get("name"),
            body: form.get("body"),
            note: form.get("note"),
            actions: (0..names.len())
                .map(|i| ActionRow {
                    name: at(&names, i),
                    label: at(&labels, i),
                    argv: at(&argvs, i),
                    user: at(&users, i),
                    timeout_s: at(&timeouts, i),
                    automatic: at(&automatic, i) == "yes",
                })
                .collect(),
        }
    }
}

/// The runbook typed in the form; rows without a name are ignored.
fn fields_of(form: &FormData) -> Result<RunbookFields, AppError> {
    let typed = Form::typed(form);
    let mut actions = Vec::new();
    for (i, row) in typed.actions.iter().enumerate() {
        if row.name.trim().is_empty() {
            continue;
        }
        let timeout_s = match row.timeout_s.trim() {
            "" => 60,
            t => t.parse().map_err(|_| {
                AppError::invalid(
                    format!("actions[{i}].timeout_s"),
                    "must be a number of seconds",
                )
            })?,
        };
        actions.push(ActionFields {
            name: row.name.trim().to_owned(),
            label: row.label.trim().to_owned(),
            argv: row
                .argv
                .lines()
                .map(|l| l.trim_end_matches('\r').to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
            user: row.user.trim().to_owned(),
            timeout_s,
            automatic: row.automatic,
        });
    }
    Ok(RunbookFields {
        entity_id: form
            .int("entity_id")?
            .ok_or_else(|| AppError::invalid("entity_id", "choose an entity"))?,
        target_kind: typed.target_kind,
        target: typed.target,
        name: typed.title,
        body: typed.body,
        actions,
        note: typed.note,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/runbooks.html")]
struct ListPage {
    f: Frame,
    /// (id, title, target kind, target, version, author, entity).
    runbooks: Vec<(i64, String, String, String, i64, String, String)>,
    entities: Vec<(i64, String)>,
    form: Form,
    error: Option<String>,
}

async fn render_list(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    form: Form,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let names = entity_names(st).await?;
    let runbooks = ops::list(st, caller)
        .await?
        .into_iter()
        .map(|r| {
            let entity = names.get(&r.entity_id).cloned().unwrap_or_default();
            (
                r.id,
                r.title,
                r.target_kind,
                r.target,
                r.version,
                r.author,
                entity,
            )
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = ListPage {
        f: Frame::new(caller, "/incidents", "runbooks.title").with_flash(done),
        runbooks,
        entities: names
            .iter()
            .filter(|(id, _)| caller.grants.allows(Incidents, Manage, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        form,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn list(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    render_list(&st, &caller, d.done.as_deref(), Form::of(None), None)
        .await
        .map_err(perr(&caller))
}

async fn create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let outcome = match fields_of(&form) {
        Ok(f) => ops::create(&st, &caller, &f).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(r) => Ok(see_other(&format!(
            "/incidents/runbooks/{}?done=created",
            r.id
        ))),
        Err(e) => render_list(&st, &caller, None, Form::typed(&form), Some(e))
            .await
            .map_err(perr(&caller)),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "incidents/runbook.html")]
struct ShowPage {
    f: Frame,
    r: RunbookRecord,
    html: String,
    actions: Vec<ActionFields>,
    /// (version, author, when, note).
    versions: Vec<(i64, String, String, String)>,
    entities: Vec<(i64, String)>,
    can_manage: bool,
    form: Form,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ShowParams {
    version: Option<i64>,
    done: Option<String>,
}

async fn render_show(
    st: &AppState,
    caller: &Caller,
    id: i64,
    version: Option<i64>,
    done: Option<&str>,
    typed: Option<Form>,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let r = ops::get(st, caller, id, version, Read).await?;
    let versions = ops::versions(st, caller, id)
        .await?
        .into_iter()
        .map(|v| {
            (
                v.version,
                v.author,
                crate::api::views::rfc3339(v.written_at),
                v.note,
            )
        })
        .collect();
    let names = entity_names(st).await?;
    let newest = ops::get(st, caller, id, None, Read).await?;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = ShowPage {
        f: Frame::new(caller, "/incidents", "runbooks.title").with_flash(done),
        html: ops::markdown_html(&r.body),
        actions: ops::actions_of(&r),
        versions,
        entities: names
            .iter()
            .filter(|(e, _)| caller.grants.allows(Incidents, Manage, **e))
            .map(|(e, n)| (*e, n.clone()))
            .collect(),
        can_manage: caller.grants.allows(Incidents, Manage, r.entity_id),
        form: typed.unwrap_or_else(|| Form::of(Some(&newest))),
        r,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn show(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(p): Query<ShowParams>,
) -> PageResult {
    render_show(&st, &caller, id, p.version, p.done.as_deref(), None, None)
        .await
        .map_err(perr(&caller))
}

async fn update(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let outcome = match fields_of(&form) {
        Ok(f) => ops::update(&st, &caller, id, &f).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Ok(see_other(&format!("/incidents/runbooks/{id}?done=saved"))),
        Err(e) => render_show(
            &st,
            &caller,
            id,
            None,
            None,
            Some(Form::typed(&form)),
            Some(e),
        )
        .await
        .map_err(perr(&caller)),
    }
}

async fn delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::delete(&st, &caller, id).await.map_err(perr(&caller))?;
    Ok(see_other("/incidents/runbooks?done=deleted"))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Incidents, Read);
    let operate = Access::Domain(Incidents, Operate);
    let manage = Access::Domain(Incidents, Manage);
    vec![
        page(Method::GET, "/incidents/runbooks", read, list),
        page(Method::POST, "/incidents/runbooks", manage, create),
        page(Method::GET, "/incidents/runbooks/{id}", read, show),
        page(Method::POST, "/incidents/runbooks/{id}", manage, update),
        page(
            Method::POST,
            "/incidents/runbooks/{id}/delete",
            manage,
            delete,
        ),
        page(
            Method::GET,
            "/incidents/{id}/actions/confirm",
            operate,
            confirm,
        ),
        page(Method::POST, "/incidents/{id}/actions", operate, launch),
    ]
}
