//! Health, readiness, Prometheus metrics and the OpenAPI document.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::source_of;
use crate::error::AppError;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers and every migration is applied.
pub async fn readyz(State(st): State<AppState>) -> Response {
    match st.store.ready().await {
        Ok(true) => (StatusCode::OK, "ready\n").into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}

/// Prometheus metrics. With `metrics_token` configured the scraper must send it as a bearer
/// token; without, only loopback callers are answered.
pub async fn metrics(State(st): State<AppState>, req: Request) -> Response {
    let allowed = match &st.config.metrics_token {
        Some(token) => req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes())),
        None => {
            let source = source_of(req.extensions());
            source == "local"
                || source
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    };
    if !allowed {
        return AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send the metrics token as a bearer token",
        )
        .into_response();
    }
    let mut body = st.metrics.render(st.store.backend(), st.store.pool_stats());
    if let Some(engine) = &st.engine {
        engine.figures().render(&mut body);
    }
    if let Some(history) = &st.history {
        history.render_figures(&mut body);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn openapi_json() -> Json<serde_json::Value> {
    Json(document())
}

/// The OpenAPI document: what utoipa generates from the handlers, plus the error envelope
/// that every operation may answer with (`4XX`, `5XX`).
pub fn document() -> serde_json::Value {
    let mut api = ApiDoc::openapi();
    api.merge(super::inventory::InventoryDoc::openapi());
    api.merge(super::monitoring::MonitoringDoc::openapi());
    api.merge(super::metrics::MetricsDoc::openapi());
    api.merge(super::credentials::CredentialsDoc::openapi());
    api.merge(super::agents::AgentsDoc::openapi());
    api.merge(super::incidents::IncidentsDoc::openapi());
    api.merge(super::paging::PagingDoc::openapi());
    api.merge(super::notify::NotifyDoc::openapi());
    api.merge(super::runbooks::RunbooksDoc::openapi());
    api.merge(super::maintenance::MaintenanceDoc::openapi());
    api.merge(super::shiftlog::ShiftLogDoc::openapi());
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    doc["components"]["schemas"]["Error"] = serde_json::json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable: invalid, not_found, forbidden, conflict, unauthenticated, throttled, …"},
                "message": {"type": "string", "description": "What is wrong, for a person."},
                "field": {"type": ["string", "null"], "description": "The input field at fault, when there is one."}
            }
        }}
    });
    let error = serde_json::json!({
        "description": "The error envelope",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                    for (status, r) in responses.iter_mut() {
                        if r.get("description").is_none() {
                            r["description"] = serde_json::Value::from(match status.as_str() {
                                "201" => "Created",
                                "204" => "Done; no content",
                                _ => "OK",
                            });
                        }
                    }
                    responses.insert("4XX".to_owned(), error.clone());
                    responses.insert("5XX".to_owned(), error.clone());
                }
            }
        }
    }
    doc
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Pupitre API", description = "The REST API of Pupitre, the IT operations console. \
        Authenticate with `Authorization: Bearer <token>` (create tokens in Settings or with \
        `pupitre admin tokens create`). Errors use one envelope: \
        `{\"error\": {\"code\", \"message\", \"field\"}}`. Lists are paginated with `limit` and \
        the opaque `cursor` returned as `next_cursor`."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        super::admin::list_users, super::admin::create_user, super::admin::get_user,
        super::admin::update_user, super::admin::delete_user, super::admin::reset_password,
        super::admin::get_assignments, super::admin::set_assignments, super::admin::import_users,
        super::admin::list_templates, super::admin::create_template, super::admin::get_template,
        super::admin::update_template, super::admin::delete_template,
        super::admin::list_teams, super::admin::create_team, super::admin::get_team,
        super::admin::update_team, super::admin::delete_team,
        super::admin::list_profiles, super::admin::create_profile, super::admin::get_profile,
        super::admin::update_profile, super::admin::delete_profile,
        super::admin::list_entities, super::admin::create_entity, super::admin::get_entity,
        super::admin::update_entity, super::admin::delete_entity,
        super::admin::list_audit,
        super::me::get_me, super::me::update_me, super::me::change_password,
        super::me::logout_everywhere, super::me::list_tokens, super::me::create_token,
        super::me::revoke_token,
    )
)]
pub struct ApiDoc;
