//! Administration endpoints: users, account templates, teams, profiles, entities, audit log.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use pupitre_core::permission::Level;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::*;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id, body_bytes};
use crate::ops::audit::AuditParams;
use crate::ops::entities::{CreateEntity, UpdateEntity};
use crate::ops::profiles::{CreateProfile, UpdateProfile};
use crate::ops::teams::{CreateTeam, UpdateTeam};
use crate::ops::templates::{CreateUserTemplate, UpdateUserTemplate};
use crate::ops::users::{AssignmentInput, CreateUser, ImportReport, UpdateUser, UserListParams};
use crate::ops::{self};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListParams),
    responses((status = 200, body = UserList)))]
pub async fn list_users(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<UserListParams>,
) -> ApiResult<UserList> {
    let (users, next_cursor) = ops::users::list(&st, &caller, &p).await?;
    Ok(Json(UserList {
        items: users.iter().map(UserView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = CreatedUser)))]
pub async fn create_user(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<CreatedUser>), AppError> {
    let (user, initial_password) = ops::users::create(&st, &caller, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: UserView::from(&user),
            initial_password,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", responses((status = 200, body = UserView)))]
pub async fn get_user(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<UserView> {
    Ok(Json(UserView::from(
        &ops::users::get(&st, &caller, id, Level::Read).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", request_body = UpdateUser,
    responses((status = 200, body = UserView)))]
pub async fn update_user(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<UserView> {
    Ok(Json(UserView::from(
        &ops::users::update(&st, &caller, id, req).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", responses((status = 204)))]
pub async fn delete_user(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::users::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The new password; when absent a random one is generated and returned once.
    pub password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/password", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", request_body = ResetPassword,
    responses((status = 200, body = PasswordReset)))]
pub async fn reset_password(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(req): ApiJson<ResetPassword>,
) -> ApiResult<PasswordReset> {
    let password = ops::users::reset_password(&st, &caller, id, req.password).await?;
    Ok(Json(PasswordReset { password }))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/assignments", params(("id" = i64, Path, description = "The object's id")),
    tag = "users",
    responses((status = 200, body = Vec<AssignmentView>)))]
pub async fn get_assignments(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<AssignmentView>> {
    let user = ops::users::get(&st, &caller, id, Level::Read).await?;
    // Assignments on entities the caller cannot read are not shown.
    let list: Vec<_> = st
        .store
        .list_assignments(user.id)
        .await?
        .into_iter()
        .filter(|a| {
            caller.grants.allows(
                pupitre_core::permission::Domain::Administration,
                Level::Read,
                a.entity_id,
            )
        })
        .collect();
    Ok(Json(list.iter().map(AssignmentView::from).collect()))
}

#[utoipa::path(put, path = "/api/v1/users/{id}/assignments", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", request_body = Vec<AssignmentInput>,
    responses((status = 200, body = Vec<AssignmentView>)))]
pub async fn set_assignments(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(list): ApiJson<Vec<AssignmentInput>>,
) -> ApiResult<Vec<AssignmentView>> {
    let all = ops::users::set_assignments(&st, &caller, id, &list).await?;
    Ok(Json(all.iter().map(AssignmentView::from).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Validate every row and report, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[utoipa::path(post, path = "/api/v1/users/import", tag = "users", params(ImportParams),
    request_body(content = String, content_type = "text/csv",
        description = "UTF-8 CSV with a header row; columns: login, display_name (required), email, phone, language, time_zone, active, entity_id, template_id, profile_id, recursive, team_ids, password"),
    responses((status = 200, body = ImportReport)))]
pub async fn import_users(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ImportParams>,
    req: Request,
) -> ApiResult<ImportReport> {
    let bytes = body_bytes(req, &st).await?;
    Ok(Json(
        ops::users::import_csv(&st, &caller, &bytes, p.dry_run).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/user-templates", tag = "users", responses((status = 200, body = Vec<UserTemplateView>)))]
pub async fn list_templates(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<UserTemplateView>> {
    Ok(Json(
        ops::templates::list(&st, &caller)
            .await?
            .iter()
            .map(UserTemplateView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/user-templates", tag = "users", request_body = CreateUserTemplate,
    responses((status = 201, body = UserTemplateView)))]
pub async fn create_template(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUserTemplate>,
) -> Result<(StatusCode, Json<UserTemplateView>), AppError> {
    let t = ops::templates::create(&st, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(UserTemplateView::from(&t))))
}

#[utoipa::path(get, path = "/api/v1/user-templates/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", responses((status = 200, body = UserTemplateView)))]
pub async fn get_template(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<UserTemplateView> {
    Ok(Json(UserTemplateView::from(
        &ops::templates::get(&st, &caller, id, Level::Read).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/user-templates/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", request_body = UpdateUserTemplate,
    responses((status = 200, body = UserTemplateView)))]
pub async fn update_template(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(req): ApiJson<UpdateUserTemplate>,
) -> ApiResult<UserTemplateView> {
    Ok(Json(UserTemplateView::from(
        &ops::templates::update(&st, &caller, id, req).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/user-templates/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "users", responses((status = 204)))]
pub async fn delete_template(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::templates::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", responses((status = 200, body = Vec<TeamView>)))]
pub async fn list_teams(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<TeamView>> {
    Ok(Json(
        ops::teams::list(&st, &caller)
            .await?
            .iter()
            .map(TeamView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeam, responses((status = 201, body = TeamView)))]
pub async fn create_team(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTeam>,
) -> Result<(StatusCode, Json<TeamView>), AppError> {
    let t = ops::teams::create(&st, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(TeamView::from(&t))))
}

#[utoipa::path(get, path = "/api/v1/teams/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "teams", responses((status = 200, body = TeamView)))]
pub async fn get_team(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<TeamView> {
    Ok(Json(TeamView::from(
        &ops::teams::get(&st, &caller, id, Level::Read).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/teams/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "teams", request_body = UpdateTeam, responses((status = 200, body = TeamView)))]
pub async fn update_team(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(req): ApiJson<UpdateTeam>,
) -> ApiResult<TeamView> {
    Ok(Json(TeamView::from(
        &ops::teams::update(&st, &caller, id, req).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "teams", responses((status = 204)))]
pub async fn delete_team(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::teams::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles", responses((status = 200, body = Vec<ProfileView>)))]
pub async fn list_profiles(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<ProfileView>> {
    Ok(Json(
        ops::profiles::list(&st, &caller)
            .await?
            .iter()
            .map(ProfileView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/profiles", tag = "profiles", request_body = CreateProfile, responses((status = 201, body = ProfileView)))]
pub async fn create_profile(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateProfile>,
) -> Result<(StatusCode, Json<ProfileView>), AppError> {
    let p = ops::profiles::create(&st, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(ProfileView::from(&p))))
}

#[utoipa::path(get, path = "/api/v1/profiles/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "profiles", responses((status = 200, body = ProfileView)))]
pub async fn get_profile(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<ProfileView> {
    Ok(Json(ProfileView::from(
        &ops::profiles::get(&st, &caller, id, Level::Read).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/profiles/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "profiles", request_body = UpdateProfile, responses((status = 200, body = ProfileView)))]
pub async fn update_profile(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(req): ApiJson<UpdateProfile>,
) -> ApiResult<ProfileView> {
    Ok(Json(ProfileView::from(
        &ops::profiles::update(&st, &caller, id, req).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/profiles/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "profiles", responses((status = 204)))]
pub async fn delete_profile(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::profiles::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/entities", tag = "entities", responses((status = 200, body = Vec<EntityView>)))]
pub async fn list_entities(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Vec<EntityView>> {
    Ok(Json(
        ops::entities::list(&st, &caller)
            .await?
            .iter()
            .map(EntityView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/entities", tag = "entities", request_body = CreateEntity, responses((status = 201, body = EntityView)))]
pub async fn create_entity(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateEntity>,
) -> Result<(StatusCode, Json<EntityView>), AppError> {
    let e = ops::entities::create(&st, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(EntityView::from(&e))))
}

#[utoipa::path(get, path = "/api/v1/entities/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "entities", responses((status = 200, body = EntityView)))]
pub async fn get_entity(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<EntityView> {
    Ok(Json(EntityView::from(
        &ops::entities::get(&st, &caller, id, Level::Read).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/entities/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "entities", request_body = UpdateEntity, responses((status = 200, body = EntityView)))]
pub async fn update_entity(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(req): ApiJson<UpdateEntity>,
) -> ApiResult<EntityView> {
    Ok(Json(EntityView::from(
        &ops::entities::update(&st, &caller, id, req).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/entities/{id}", params(("id" = i64, Path, description = "The object's id")),
    tag = "entities", responses((status = 204)))]
pub async fn delete_entity(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    ops::entities::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), responses((status = 200, body = AuditList)))]
pub async fn list_audit(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<AuditList> {
    let (records, next_cursor) = ops::audit::list(&st, &caller, &p).await?;
    Ok(Json(AuditList {
        items: records.iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}
