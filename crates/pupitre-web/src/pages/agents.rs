//! The agents page: every agent the caller may see, with its version, OS, address, last
//! contact, lateness, clock and whether it needs an upgrade, and the enrolment tokens; and the
//! forms that approve, rotate and revoke agents and create and revoke tokens. They call the
//! same operations as `/api/v1/agents` and `/api/v1/agent-enrolments`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Monitoring;
use pupitre_core::permission::Level::{Manage, Read};

use super::{Done, FormData, Frame, PageError, PageResult, entity_names, perr, see_other};
use crate::api::agents::{AgentView, EnrolmentView};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::agents::{self, EnrolmentInput};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/agents.html")]
struct AgentsPage {
    f: Frame,
    agents: Vec<(AgentView, String)>,
    tokens: Vec<(EnrolmentView, String)>,
    /// Entities an agent may be approved into or a token may enrol into: (id, name).
    entities: Vec<(i64, String)>,
    can_manage: bool,
    /// A token just created, shown this once.
    new_token: Option<String>,
    error: Option<String>,
}

async fn list(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    render(&st, &caller, d.done.as_deref(), None, None)
        .await
        .map_err(perr(&caller))
}

async fn render(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    new_token: Option<String>,
    error: Option<AppError>,
) -> Result<axum::response::Response, AppError> {
    let entities = entity_names(st).await?;
    let name = |id: i64| {
        entities
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    };
    let agents = agents::list_agents(st, caller)
        .await?
        .iter()
        .map(|a| (AgentView::from(a), name(a.entity_id)))
        .collect();
    let tokens = agents::list_enrolments(st, caller)
        .await?
        .iter()
        .map(|e| (EnrolmentView::from(e), name(e.entity_id)))
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = AgentsPage {
        f: Frame::new(caller, "/monitoring", "monitoring.agents").with_flash(done),
        agents,
        tokens,
        entities: entities
            .iter()
            .filter(|(id, _)| caller.grants.allows(Monitoring, Manage, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        can_manage: caller.grants.allows_somewhere(Monitoring, Manage),
        new_token,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

/// A number typed in a form; the field's error otherwise.
fn number(form: &FormData, field: &str) -> Result<i64, AppError> {
    form.get(field)
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(field, "must be a whole number"))
}

async fn create_enrolment(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let input = EnrolmentInput {
            entity_id: number(&form, "entity_id")?,
            label: form.get("label"),
            max_uses: number(&form, "max_uses")?,
            valid_hours: number(&form, "valid_hours")?,
        };
        agents::create_enrolment(&st, &caller, &input).await
    }
    .await;
    match result {
        // The token is shown on the page that answers the form, once; never in a URL.
        Ok((_, token)) => render(&st, &caller, Some("created"), Some(token), None).await,
        Err(e) => render(&st, &caller, None, None, Some(e)).await,
    }
    .map_err(perr(&caller))
}

async fn revoke_enrolment(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::revoke_enrolment(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/agents?done=revoked"))
}

async fn approve(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = match number(&form, "entity_id") {
        Ok(entity) => agents::approve(&st, &caller, id, entity).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/monitoring/agents?done=saved")),
        Err(e)
            if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT =>
        {
            render(&st, &caller, None, None, Some(e))
                .await
                .map_err(perr(&caller))
        }
        Err(e) => Err(PageError(caller, e)),
    }
}

async fn rotate(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::rotate(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/agents?done=saved"))
}

async fn revoke(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    agents::revoke(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/monitoring/agents?done=revoked"))
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Monitoring, Read);
    let manage = Access::Domain(Monitoring, Manage);
    vec![
        page(Method::GET, "/monitoring/agents", read, list),
        page(
            Method::POST,
            "/monitoring/agents/{id}/approve",
            manage,
            approve,
        ),
        page(
            Method::POST,
            "/monitoring/agents/{id}/rotate",
            manage,
            rotate,
        ),
        page(
            Method::POST,
            "/monitoring/agents/{id}/revoke",
            manage,
            revoke,
        ),
        page(
            Method::POST,
            "/monitoring/agent-enrolments",
            manage,
            create_enrolment,
        ),
        page(
            Method::POST,
            "/monitoring/agent-enrolments/{id}/revoke",
            manage,
            revoke_enrolment,
        ),
    ]
}
