//! The agents page: every agent the caller may see, with its version, OS, address, last
//! contact, lateness, clock and whether it needs an upgrade, and the enrolment tokens. It reads
//! the same operations and views as `/api/v1/agents` and `/api/v1/agent-enrolments`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::Method;
use axum::response::IntoResponse;
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Monitoring;
use pupitre_core::permission::Level::Read;

use super::{Frame, PageResult, entity_names, perr};
use crate::api::agents::{AgentView, EnrolmentView};
use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::agents;
use crate::routes::{RouteDef, page};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/agents.html")]
struct AgentsPage {
    f: Frame,
    agents: Vec<(AgentView, String)>,
    tokens: Vec<(EnrolmentView, String)>,
}

async fn list(State(st): State<AppState>, caller: Caller) -> PageResult {
    let page = render(&st, &caller).await.map_err(perr(&caller))?;
    Ok(page.into_response())
}

async fn render(st: &AppState, caller: &Caller) -> Result<AgentsPage, AppError> {
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
    Ok(AgentsPage {
        f: Frame::new(caller, "/monitoring", "monitoring.agents"),
        agents,
        tokens,
    })
}

pub fn routes() -> Vec<RouteDef> {
    vec![page(
        Method::GET,
        "/monitoring/agents",
        Access::Domain(Monitoring, Read),
        list,
    )]
}
