//! `/api/v1/credentials`: the SNMP communities, SNMPv3 users and passwords that checks name.
//! Secrets are write-only: no response carries them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pupitre_core::permission::Level;
use utoipa::OpenApi;

use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, Id};
use crate::ops::credentials::{self, CredentialFields, CredentialView};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

#[utoipa::path(get, path = "/api/v1/credentials", tag = "monitoring",
    responses((status = 200, body = Vec<CredentialView>)))]
pub async fn list_credentials(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<CredentialView>> {
    let list = credentials::list(&st, &caller).await?;
    Ok(Json(list.iter().map(CredentialView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/credentials", tag = "monitoring",
    request_body = CredentialFields, responses((status = 201, body = CredentialView)))]
pub async fn create_credential(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<CredentialFields>,
) -> Result<(StatusCode, Json<CredentialView>), AppError> {
    let created = credentials::create(&st, &caller, f).await?;
    Ok((StatusCode::CREATED, Json(CredentialView::from(&created))))
}

#[utoipa::path(get, path = "/api/v1/credentials/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = CredentialView)))]
pub async fn get_credential(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<CredentialView> {
    let c = credentials::get(&st, &caller, id, Level::Read).await?;
    Ok(Json(CredentialView::from(&c)))
}

/// Secrets left out keep their current value.
#[utoipa::path(put, path = "/api/v1/credentials/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    request_body = CredentialFields, responses((status = 200, body = CredentialView)))]
pub async fn update_credential(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(f): ApiJson<CredentialFields>,
) -> ApiResult<CredentialView> {
    let c = credentials::update(&st, &caller, id, f).await?;
    Ok(Json(CredentialView::from(&c)))
}

/// Refused (409) while checks or templates name the credential.
#[utoipa::path(delete, path = "/api/v1/credentials/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_credential(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    credentials::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(OpenApi)]
#[openapi(paths(
    list_credentials,
    create_credential,
    get_credential,
    update_credential,
    delete_credential,
))]
pub struct CredentialsDoc;
