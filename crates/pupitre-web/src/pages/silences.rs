//! Incidents › Silences: the silences in force and recent ones, a form to silence what
//! matchers describe for a while (prefilled from an alert's "Silence" link), and a button to
//! end one. They call the same operations as `/api/v1/silences`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Incidents;
use pupitre_core::permission::Level::{Operate, Read};
use serde::Deserialize;

use super::{FormData, Frame, PageResult, entity_names, perr, see_other};
use crate::api::incidents::SilenceView;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::silences::{self as ops, Matcher};
use crate::routes::{RouteDef, page};
use crate::state::{AppState, now_ms};

/// How long a silence made here lasts, in hours, and how the menu says it.
const DURATIONS: [(i64, &str); 7] = [
    (1, "1 h"),
    (2, "2 h"),
    (4, "4 h"),
    (8, "8 h"),
    (24, "24 h"),
    (72, "3 days"),
    (168, "7 days"),
];

#[derive(Template, WebTemplate)]
#[template(path = "incidents/silences.html")]
struct SilencesPage {
    f: Frame,
    /// (silence, its matchers as text, may the caller end it).
    silences: Vec<(SilenceView, String, bool)>,
    entities: Vec<(i64, String)>,
    ops: [&'static str; 4],
    durations: Vec<(i64, &'static str)>,
    form_entity: i64,
    form_matchers: Vec<(String, String, String)>,
    form_hours: i64,
    form_comment: String,
    error: Option<String>,
}

/// What the form shows: typed, or prefilled.
struct Typed {
    entity: i64,
    matchers: Vec<(String, String, String)>,
    hours: i64,
    comment: String,
}

#[derive(Deserialize)]
struct Prefill {
    /// `label=value` matchers to start from (an alert's key).
    #[serde(default)]
    entity_id: Option<i64>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    value: Option<String>,
    done: Option<String>,
}

async fn render(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    typed: Typed,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let names = entity_names(st).await?;
    let silences = ops::list(st, caller)
        .await?
        .iter()
        .map(|s| {
            let v = SilenceView::from(s);
            let text = v
                .matchers
                .iter()
                .map(|m| format!("{}{}{:?}", m.name, m.op, m.value))
                .collect::<Vec<_>>()
                .join(", ");
            let may = caller.grants.allows(Incidents, Operate, s.entity_id);
            (v, text, may)
        })
        .collect();
    let mut matchers = typed.matchers;
    while matchers.len() < 3 {
        matchers.push((String::new(), "=".to_owned(), String::new()));
    }
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = SilencesPage {
        f: Frame::new(caller, "/incidents", "silences.title").with_flash(done),
        silences,
        entities: names
            .iter()
            .filter(|(id, _)| caller.grants.allows(Incidents, Operate, **id))
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
        ops: ["=", "!=", "=~", "!~"],
        durations: DURATIONS.to_vec(),
        form_entity: typed.entity,
        form_matchers: matchers,
        form_hours: typed.hours,
        form_comment: typed.comment,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn list(State(st): State<AppState>, caller: Caller, Query(p): Query<Prefill>) -> PageResult {
    let matchers = match (p.label, p.value) {
        (Some(label), Some(value)) => vec![(label, "=".to_owned(), value)],
        _ => Vec::new(),
    };
    let typed = Typed {
        entity: p.entity_id.unwrap_or(0),
        matchers,
        hours: 2,
        comment: String::new(),
    };
    render(&st, &caller, p.done.as_deref(), typed, None)
        .await
        .map_err(perr(&caller))
}

async fn create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let rows: Vec<(String, String, String)> = form
        .all("matcher_name")
        .into_iter()
        .zip(form.all("matcher_op"))
        .zip(form.all("matcher_value"))
        .map(|((n, o), v)| (n.trim().to_owned(), o, v))
        .collect();
    let typed = Typed {
        entity: form.get("entity_id").parse().unwrap_or(0),
        matchers: rows.clone(),
        hours: form.get("hours").parse().unwrap_or(2),
        comment: form.get("comment"),
    };
    let matchers: Vec<Matcher> = rows
        .into_iter()
        .filter(|(name, _, _)| !name.is_empty())
        .map(|(name, op, value)| Matcher { name, op, value })
        .collect();
    let outcome = async {
        let entity = form
            .int("entity_id")?
            .ok_or_else(|| AppError::invalid("entity_id", "choose an entity"))?;
        if !DURATIONS.iter().any(|(h, _)| *h == typed.hours) {
            return Err(AppError::invalid("hours", "choose a duration"));
        }
        let ends_at = now_ms() + typed.hours * 3_600_000;
        ops::create(
            &st,
            &caller,
            entity,
            &matchers,
            None,
            ends_at,
            &typed.comment,
        )
        .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(see_other("/incidents/silences?done=created")),
        Err(e) => render(&st, &caller, None, typed, Some(e))
            .await
            .map_err(perr(&caller)),
    }
}

async fn expire(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::expire(&st, &caller, id).await.map_err(perr(&caller))?;
    Ok(see_other("/incidents/silences?done=saved"))
}

pub fn routes() -> Vec<RouteDef> {
    vec![
        page(
            Method::GET,
            "/incidents/silences",
            Access::Domain(Incidents, Read),
            list,
        ),
        page(
            Method::POST,
            "/incidents/silences",
            Access::Domain(Incidents, Operate),
            create,
        ),
        page(
            Method::POST,
            "/incidents/silences/{id}/expire",
            Access::Domain(Incidents, Operate),
            expire,
        ),
    ]
}
