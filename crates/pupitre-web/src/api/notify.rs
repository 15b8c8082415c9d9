//! `/api/v1/me/contact-methods`, `/api/v1/me/notification-rules` and
//! `/api/v1/notification-templates`: how the caller is notified, and the messages' templates.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, Id};
use crate::ops::notify::{
    self as ops, ContactMethodFields, ContactMethodView, NotificationRules, Rendered,
    TemplateFields, TemplateKind, TemplateView,
};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

#[utoipa::path(get, path = "/api/v1/me/contact-methods", tag = "me",
    responses((status = 200, body = Vec<ContactMethodView>)))]
pub async fn list_contact_methods(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<ContactMethodView>> {
    let list = ops::list_contact_methods(&st, &caller).await?;
    Ok(Json(list.iter().map(ContactMethodView::from).collect()))
}

/// Adds a way to reach the caller. A webhook's URL is kept sealed and shown by its origin.
#[utoipa::path(post, path = "/api/v1/me/contact-methods", tag = "me",
    request_body = ContactMethodFields, responses((status = 201, body = ContactMethodView)))]
pub async fn add_contact_method(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<ContactMethodFields>,
) -> Result<(StatusCode, Json<ContactMethodView>), AppError> {
    let m = ops::add_contact_method(&st, &caller, &f).await?;
    Ok((StatusCode::CREATED, Json(ContactMethodView::from(&m))))
}

/// Deletes one of the caller's contact methods; the rules that used it no longer apply.
#[utoipa::path(delete, path = "/api/v1/me/contact-methods/{id}", tag = "me",
    params(("id" = i64, Path, description = "The object's id")), responses((status = 204)))]
pub async fn delete_contact_method(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::delete_contact_method(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TestOutcome {
    pub delivered: bool,
    /// Why it did not go.
    pub error: Option<String>,
}

/// Sends a test message through one of the caller's contact methods, now.
#[utoipa::path(post, path = "/api/v1/me/contact-methods/{id}/test", tag = "me",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = TestOutcome)))]
pub async fn test_contact_method(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<TestOutcome> {
    let outcome = ops::test_contact_method(&st, &caller, id).await?;
    Ok(Json(TestOutcome {
        delivered: outcome.is_ok(),
        error: outcome.err(),
    }))
}

#[utoipa::path(get, path = "/api/v1/me/notification-rules", tag = "me",
    responses((status = 200, body = NotificationRules)))]
pub async fn get_rules(State(st): State<AppState>, caller: Caller) -> ApiResult<NotificationRules> {
    Ok(Json(ops::rules_of(&st, caller.user.id).await?))
}

/// Replaces the caller's rules: which contact methods each urgency reaches and after what
/// delay, quiet hours for low urgency, and the storm limit (messages a minute before a
/// digest).
#[utoipa::path(put, path = "/api/v1/me/notification-rules", tag = "me",
    request_body = NotificationRules, responses((status = 200, body = NotificationRules)))]
pub async fn put_rules(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(rules): ApiJson<NotificationRules>,
) -> ApiResult<NotificationRules> {
    Ok(Json(ops::put_rules(&st, &caller, &rules).await?))
}

fn template_kind(kind: &str) -> Result<TemplateKind, AppError> {
    TemplateKind::parse(kind).ok_or_else(|| AppError::not_found("notification template"))
}

#[utoipa::path(get, path = "/api/v1/notification-templates", tag = "incidents",
    responses((status = 200, body = Vec<TemplateView>)))]
pub async fn list_templates(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<TemplateView>> {
    Ok(Json(ops::list_templates(&st, &caller).await?))
}

/// Saves a template (minijinja) after rendering it with a sample page and a sample digest.
#[utoipa::path(put, path = "/api/v1/notification-templates/{kind}", tag = "incidents",
    params(("kind" = String, Path, description = "email, chat, sms or webhook")),
    request_body = TemplateFields, responses((status = 200, body = TemplateView)))]
pub async fn put_template(
    State(st): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    ApiJson(f): ApiJson<TemplateFields>,
) -> ApiResult<TemplateView> {
    let kind = template_kind(&kind)?;
    Ok(Json(ops::put_template(&st, &caller, kind, &f).await?))
}

/// Goes back to the built-in template.
#[utoipa::path(delete, path = "/api/v1/notification-templates/{kind}", tag = "incidents",
    params(("kind" = String, Path, description = "email, chat, sms or webhook")),
    responses((status = 204)))]
pub async fn reset_template(
    State(st): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
) -> Result<StatusCode, AppError> {
    let kind = template_kind(&kind)?;
    ops::reset_template(&st, &caller, kind).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Renders a template without saving it: with a sample page and a sample digest, or with
/// `incident_id`.
#[utoipa::path(post, path = "/api/v1/notification-templates/{kind}/preview", tag = "incidents",
    params(("kind" = String, Path, description = "email, chat, sms or webhook")),
    request_body = TemplateFields, responses((status = 200, body = Vec<Rendered>)))]
pub async fn preview_template(
    State(st): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    ApiJson(f): ApiJson<TemplateFields>,
) -> ApiResult<Vec<Rendered>> {
    let kind = template_kind(&kind)?;
    Ok(Json(ops::preview(&st, &caller, kind, &f).await?))
}

#[derive(OpenApi)]
#[openapi(paths(
    list_contact_methods,
    add_contact_method,
    delete_contact_method,
    test_contact_method,
    get_rules,
    put_rules,
    list_templates,
    put_template,
    reset_template,
    preview_template,
))]
pub struct NotifyDoc;
