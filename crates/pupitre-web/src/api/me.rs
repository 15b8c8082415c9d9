//! The caller's own account over the API.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::views::*;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, Id};
use crate::ops::me::{ChangePassword, CreateToken, UpdateMe};
use crate::ops::{self};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/me", tag = "me", responses((status = 200, body = MeView)))]
pub async fn get_me(State(st): State<AppState>, caller: Caller) -> Result<Json<MeView>, AppError> {
    let assignments = st.store.list_assignments(caller.user.id).await?;
    Ok(Json(MeView {
        user: UserView::from(&caller.user),
        levels: levels_map(&caller.grants.best()),
        assignments: assignments.iter().map(AssignmentView::from).collect(),
    }))
}

#[utoipa::path(patch, path = "/api/v1/me", tag = "me", request_body = UpdateMe, responses((status = 200, body = UserView)))]
pub async fn update_me(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UpdateMe>,
) -> Result<Json<UserView>, AppError> {
    Ok(Json(UserView::from(
        &ops::me::update(&st, &caller, req).await?,
    )))
}

#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = ChangePassword, responses((status = 204)))]
pub async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    ops::me::change_password(&st, &caller, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/me/logout-everywhere", tag = "me", responses((status = 200, body = LoggedOut)))]
pub async fn logout_everywhere(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<LoggedOut>, AppError> {
    let sessions = ops::me::logout_everywhere(&st, &caller).await?;
    Ok(Json(LoggedOut { sessions }))
}

#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "me", responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, AppError> {
    Ok(Json(
        st.store
            .list_tokens(caller.user.id)
            .await?
            .iter()
            .map(TokenView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "me", request_body = CreateToken, responses((status = 201, body = CreatedToken)))]
pub async fn create_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    let (token, secret) = ops::me::create_token(&st, &caller, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: TokenView::from(&token),
            secret,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "me", responses((status = 204)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::me::revoke_token(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
