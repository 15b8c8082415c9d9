//! Pupitre's HTTP layer: the REST API under `/api/v1`, the server-rendered web UI, health,
//! readiness and metrics endpoints. Only this crate knows HTTP, JSON and HTML.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod i18n;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod routes;
pub mod state;

pub use state::{AppState, WebConfig};

/// The Content-Security-Policy of every response: no inline scripts, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Builds the application from the route registry.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for def in routes::routes() {
        let (access, kind) = (def.access, def.kind);
        let guarded = def.handler.route_layer(middleware::from_fn_with_state(
            state.clone(),
            move |st: State<AppState>, req: Request, next: Next| {
                auth::guard(st, access, kind, req, next)
            },
        ));
        router = router.route(def.path, guarded);
    }
    let timeout = state.config.request_timeout;
    router
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(state)
}

async fn fallback(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        error::AppError::not_found("route").into_response()
    } else {
        pages::not_found_page(req.headers())
    }
}

async fn method_not_allowed(req: Request) -> Response {
    let e = error::AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    );
    e.into_response()
}

/// Records each request's route, status and latency.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Only standard methods become label values: anything else is "other", so that clients
    // cannot grow the metrics without bound.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    st.metrics
        .observe(&method, &route, resp.status().as_u16(), start.elapsed());
    resp
}
